-- Webhook events join the per-merchant index only when the writer folds them, as statement
-- lines do (0012): until then they are indexed by time alone, appended, so a payment no longer
-- dirties a leaf of its merchant's in `events_by_merchant` (the merchant's event list reads
-- both, see payments' `notify.rs`).
ALTER TABLE events ADD COLUMN folded INTEGER NOT NULL DEFAULT 0;
UPDATE events SET folded = 1;
DROP INDEX events_by_merchant;
CREATE INDEX events_by_merchant ON events (merchant_id, created_ns) WHERE folded = 1;
CREATE INDEX events_unfolded ON events (created_ns) WHERE folded = 0;
