-- Orders join their per-merchant indexes only when the writer folds them, as statement lines
-- (0012) and events (0013) do: until then they are indexed by time alone, appended, so a
-- payment no longer dirties a leaf of its merchant's in `orders_by_merchant_time` and
-- `orders_by_merchant_paid` (the merchant's order list and takings read both, see payments'
-- `reports.rs`). An order paid after its fold joins `orders_by_merchant_paid` when it is paid.
ALTER TABLE orders ADD COLUMN folded INTEGER NOT NULL DEFAULT 0;
UPDATE orders SET folded = 1;
DROP INDEX orders_by_merchant_time;
CREATE INDEX orders_by_merchant_time ON orders (merchant_id, created_ns) WHERE folded = 1;
DROP INDEX orders_by_merchant_paid;
CREATE INDEX orders_by_merchant_paid ON orders (merchant_id, paid_ns) WHERE paid_ns IS NOT NULL AND folded = 1;
CREATE INDEX orders_unfolded ON orders (created_ns) WHERE folded = 0;
