-- A merchant's orders newest first (the console's order list), and its day's takings.
CREATE INDEX orders_by_merchant_time ON orders (merchant_id, created_ns);
CREATE INDEX orders_by_merchant_paid ON orders (merchant_id, paid_ns);
CREATE INDEX refunds_by_merchant_time ON refunds (merchant_id, created_ns);

-- While a delivery is being attempted: a merchant's "retry now" must not start a second one.
ALTER TABLE events ADD COLUMN leased_until_ns BIGINT;

-- What a key may do: `full` (everything the merchant may) or `till` (take payments and look
-- them up: no refunds, key changes or notification settings), for keys kept on tills.
ALTER TABLE merchant_keys ADD COLUMN scope TEXT NOT NULL DEFAULT 'full';
