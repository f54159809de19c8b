-- Signed requests' nonces are checked in memory (see payments' `nonces.rs`); this table only
-- logs them, in the order they come, so the check survives a restart. No key on
-- (merchant_id, nonce): with random nonces it put every claim on a random page.
CREATE TABLE merchant_nonce_log (
    merchant_id TEXT    NOT NULL,
    nonce       TEXT    NOT NULL,
    seen_ns     INTEGER NOT NULL
);
INSERT INTO merchant_nonce_log SELECT merchant_id, nonce, seen_ns FROM merchant_nonces ORDER BY seen_ns;
DROP TABLE merchant_nonces;
ALTER TABLE merchant_nonce_log RENAME TO merchant_nonces;
CREATE INDEX merchant_nonces_by_time ON merchant_nonces (seen_ns);
