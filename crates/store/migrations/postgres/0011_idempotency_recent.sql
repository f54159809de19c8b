-- New idempotency records are appended here, with no key, and folded into `idempotency` (keyed
-- by user and key) in sorted bulk by the writer, which holds them in memory meanwhile: a
-- payment then dirties the table's last page, shared by its whole commit, instead of a leaf of
-- its payer's (see the store's `idempotency.rs`).
CREATE TABLE idempotency_recent (
    user_id     TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    created_ns  BIGINT  NOT NULL
);
-- Emptied by DELETE at every fold (TRUNCATE is not MVCC-safe): vacuum its dead rows after a
-- thousand, not after a fifth of a table that is always nearly empty.
ALTER TABLE idempotency_recent SET (autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_scale_factor = 0);
