-- The payment path's rows, laid out so a payment dirties as few database pages as it can:
-- every page a commit touches is written whole to the log (and again by the checkpoint), so
-- each index a payment updates at a random place costs a page per payment.

-- Tables looked up only by their primary key keep their rows in that key's B-tree
-- (WITHOUT ROWID): one tree per insert instead of the row's tree plus the key's index.
CREATE TABLE idempotency_clustered (
    user_id     TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    created_ns  INTEGER NOT NULL,
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
INSERT INTO idempotency_clustered SELECT user_id, key, fingerprint, resource_id, created_ns FROM idempotency;
DROP TABLE idempotency;
ALTER TABLE idempotency_clustered RENAME TO idempotency;

CREATE TABLE outflows_clustered (
    user_id       TEXT    NOT NULL,
    day           TEXT    NOT NULL,
    total         INTEGER NOT NULL,
    password_free INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user_id, day)
) WITHOUT ROWID;
INSERT INTO outflows_clustered SELECT user_id, day, total, password_free FROM outflows;
DROP TABLE outflows;
ALTER TABLE outflows_clustered RENAME TO outflows;

CREATE TABLE merchant_nonces_clustered (
    merchant_id TEXT    NOT NULL,
    nonce       TEXT    NOT NULL,
    seen_ns     INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, nonce)
) WITHOUT ROWID;
INSERT INTO merchant_nonces_clustered SELECT merchant_id, nonce, seen_ns FROM merchant_nonces;
DROP TABLE merchant_nonces;
ALTER TABLE merchant_nonces_clustered RENAME TO merchant_nonces;
CREATE INDEX merchant_nonces_by_time ON merchant_nonces (seen_ns);

-- Orders waiting for their payer's PIN, by payer: the only use of the payer index, so only
-- those orders are in it (a paid order no longer moves an entry).
DROP INDEX orders_by_payer;
CREATE INDEX orders_userpaying ON orders (payer_user_id, created_ns) WHERE status = 'USERPAYING';

-- A merchant's takings by payment time: unpaid orders have no place in it.
DROP INDEX orders_by_merchant_paid;
CREATE INDEX orders_by_merchant_paid ON orders (merchant_id, paid_ns) WHERE paid_ns IS NOT NULL;
