-- A merchant's staff: cashiers and managers who sign in to the till with their phone and an
-- SMS code instead of holding a key. A phone is on one merchant's staff at a time.
CREATE TABLE merchant_staff (
    id          TEXT    NOT NULL PRIMARY KEY,
    merchant_id TEXT    NOT NULL,
    phone       TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    role        TEXT    NOT NULL,
    created_ns  BIGINT NOT NULL,
    removed_ns  BIGINT
);
CREATE UNIQUE INDEX merchant_staff_one_merchant ON merchant_staff (phone) WHERE removed_ns IS NULL;
CREATE INDEX merchant_staff_by_merchant ON merchant_staff (merchant_id, created_ns);

-- Staff sessions (a shift): bearer tokens kept as keyed fingerprints, like consumers'.
CREATE TABLE staff_sessions (
    token_hash  TEXT    NOT NULL PRIMARY KEY,
    staff_id    TEXT    NOT NULL,
    merchant_id TEXT    NOT NULL,
    created_ns  BIGINT NOT NULL,
    expires_ns  BIGINT NOT NULL,
    revoked_ns  BIGINT
);
CREATE INDEX staff_sessions_by_staff ON staff_sessions (staff_id);

-- Who refunded: `key:<key id>` for a signed request, `staff:<staff id>` for a manager at a till.
ALTER TABLE refunds ADD COLUMN actor TEXT;
