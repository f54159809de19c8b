-- Who granted a merchant key or a staff member: the id of the merchant key that created it or
-- last re-confirmed it (NULL: the operator, or made before grants were recorded). Revoking a
-- key revokes the till keys and removes the staff it granted.
ALTER TABLE merchant_keys ADD COLUMN granted_by TEXT;
ALTER TABLE merchant_staff ADD COLUMN granted_by TEXT;
CREATE INDEX merchant_keys_by_grant ON merchant_keys (granted_by) WHERE granted_by IS NOT NULL;
CREATE INDEX merchant_staff_by_grant ON merchant_staff (granted_by) WHERE granted_by IS NOT NULL;
