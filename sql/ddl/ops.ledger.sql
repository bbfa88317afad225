-- every file ever received, by content: where it was seen, where its archived copy is kept, and when it arrived
-- (first_seen_at: its first sighting by a run, or the period folder's receipts.csv; never changed afterwards)
create table if not exists ops.ledger (
    sha256 varchar primary key,
    file_name varchar not null,
    period varchar not null,
    size_bytes bigint,
    first_seen_at timestamptz not null,
    archived_path varchar not null
)
