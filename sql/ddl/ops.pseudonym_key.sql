-- the fingerprint of the key the warehouse's person keys were made with (an HMAC of a fixed text, not the key):
-- a run under another key is refused, as its keys would never match these (src/union_stats/pseudonym.py)
create table if not exists ops.pseudonym_key (
    fingerprint varchar not null,
    first_used_at timestamptz not null,
    run_id varchar not null
)
