-- The payment path's indexes, kept to what their queries need (see the SQLite migration of
-- the same number, which also clusters small tables by their primary key).

-- Orders waiting for their payer's PIN, by payer: the only use of the payer index.
DROP INDEX orders_by_payer;
CREATE INDEX orders_userpaying ON orders (payer_user_id, created_ns) WHERE status = 'USERPAYING';

-- A merchant's takings by payment time: unpaid orders have no place in it.
DROP INDEX orders_by_merchant_paid;
CREATE INDEX orders_by_merchant_paid ON orders (merchant_id, paid_ns) WHERE paid_ns IS NOT NULL;
