-- every file ever received, by content: where it was seen and where its archived copy is kept
create table if not exists ops.ledger (
    sha256 varchar primary key,
    file_name varchar not null,
    period varchar not null,
    size_bytes bigint,
    first_seen_at timestamptz not null,
    archived_path varchar not null
)
