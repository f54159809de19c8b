-- The largest order a merchant may create, in minor units (NULL: the platform's default).
ALTER TABLE merchants ADD COLUMN order_amount_max BIGINT;
