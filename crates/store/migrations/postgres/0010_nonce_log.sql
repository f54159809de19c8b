-- Signed requests' nonces are checked in memory (see payments' `nonces.rs`); this table only
-- logs them, in the order they come, so the check survives a restart. No key on
-- (merchant_id, nonce): with random nonces it put every claim on a random page.
ALTER TABLE merchant_nonces DROP CONSTRAINT merchant_nonces_pkey;
