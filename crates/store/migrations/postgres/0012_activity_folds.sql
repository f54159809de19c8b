-- Statement lines join the per-user index only when the writer folds them, in bulk, every
-- second or so: until then they are indexed by time alone, appended, so a payment no longer
-- dirties a leaf of its payer's in `activity_by_user` (see the store's `idempotency.rs`, which
-- folds them, and `Wallet::statement`, which reads both).
ALTER TABLE activity ADD COLUMN folded INTEGER NOT NULL DEFAULT 0;
UPDATE activity SET folded = 1;
DROP INDEX activity_by_user;
CREATE INDEX activity_by_user ON activity (user_id, created_ns) WHERE folded = 1;
CREATE INDEX activity_unfolded ON activity (created_ns) WHERE folded = 0;
