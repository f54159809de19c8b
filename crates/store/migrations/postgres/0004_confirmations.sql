-- Stronger ways to confirm a payment than the PIN alone, and paying by card.
--
-- A device's Ed25519 key (registered at sign-in) may confirm payments in place of the PIN
-- ("pay with fingerprint / face": the key lives in the phone's secure hardware and signs once
-- the owner is recognised) only after the owner enabled it on that device with the PIN:
-- a stolen SMS code must not let a new phone pay.
ALTER TABLE devices ADD COLUMN pay_enabled_ns BIGINT;

-- The linked card a payment falls back to when the wallet balance is short, if the owner
-- chose one. NULL: no fallback (the payment is refused for the balance).
ALTER TABLE users ADD COLUMN fallback_card_id TEXT;
