-- Consumers: people, their sign-in, identity, devices, cards, money in and out, statement.
-- Ids are UUID strings; money is integer minor units with its currency; times are ns since
-- the Unix epoch. Secrets are never stored: PINs as argon2id hashes, session tokens and SMS
-- codes as hashes, identity and card numbers as keyed fingerprints plus a masked form.

CREATE TABLE users (
    id                  TEXT    NOT NULL PRIMARY KEY,
    phone               TEXT    NOT NULL UNIQUE,
    created_ns          BIGINT NOT NULL,
    kyc_level           BIGINT NOT NULL,
    real_name           TEXT,
    id_kind             TEXT,
    id_masked           TEXT,
    nationality         TEXT,
    wallet_account_id   BYTEA   NOT NULL,
    pin_hash            TEXT,
    pin_failures        BIGINT NOT NULL,
    pin_locked_until_ns BIGINT NOT NULL
);

-- An identity document verifies at most one account.
CREATE TABLE identities (
    fingerprint TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL UNIQUE,
    created_ns  BIGINT NOT NULL
);

CREATE TABLE sms_codes (
    id         TEXT    NOT NULL PRIMARY KEY,
    phone      TEXT    NOT NULL,
    purpose    TEXT    NOT NULL,
    code_hash  TEXT    NOT NULL,
    created_ns BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL,
    attempts   BIGINT NOT NULL,
    consumed   BIGINT NOT NULL
);
CREATE INDEX sms_codes_by_phone ON sms_codes (phone, purpose, created_ns);

CREATE TABLE devices (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    public_key   TEXT,
    created_ns   BIGINT NOT NULL,
    last_seen_ns BIGINT NOT NULL
);
CREATE INDEX devices_by_user ON devices (user_id);

CREATE TABLE sessions (
    token_hash TEXT    NOT NULL PRIMARY KEY,
    user_id    TEXT    NOT NULL,
    device_id  TEXT    NOT NULL,
    created_ns BIGINT NOT NULL,
    expires_ns BIGINT NOT NULL,
    revoked_ns BIGINT
);
CREATE INDEX sessions_by_user ON sessions (user_id);

-- A card being linked: waiting for the bank's one-time code.
CREATE TABLE card_bindings (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    bank_binding_id TEXT    NOT NULL,
    fingerprint     TEXT    NOT NULL,
    last4           TEXT    NOT NULL,
    network         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    issuer_code     TEXT,
    issuer_name     TEXT,
    holder_name     TEXT    NOT NULL,
    created_ns      BIGINT NOT NULL,
    card_id         TEXT
);

CREATE TABLE cards (
    id          TEXT    NOT NULL PRIMARY KEY,
    user_id     TEXT    NOT NULL,
    token       TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    last4       TEXT    NOT NULL,
    network     TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    issuer_code TEXT,
    issuer_name TEXT,
    holder_name TEXT    NOT NULL,
    created_ns  BIGINT NOT NULL,
    removed_ns  BIGINT
);
CREATE INDEX cards_by_user ON cards (user_id);
-- A card is linked to an account at most once at a time.
CREATE UNIQUE INDEX cards_linked_once ON cards (user_id, fingerprint) WHERE removed_ns IS NULL;

-- Top-ups and withdrawals: money between a card and the wallet, confirmed by the bank.
CREATE TABLE funding (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    card_id         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    amount          BIGINT NOT NULL,
    card_amount     BIGINT NOT NULL,
    card_currency   TEXT    NOT NULL,
    rate_micros     BIGINT,
    transfer_ids    TEXT    NOT NULL,
    failure_reason  TEXT,
    created_ns      BIGINT NOT NULL,
    updated_ns      BIGINT NOT NULL
);
CREATE INDEX funding_processing ON funding (status, created_ns);

CREATE TABLE idempotency (
    user_id     TEXT    NOT NULL,
    key         TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    resource_id TEXT    NOT NULL,
    created_ns  BIGINT NOT NULL,
    PRIMARY KEY (user_id, key)
);

-- The consumer's statement: one row per movement, updated as it completes.
CREATE TABLE activity (
    id           TEXT    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    status       TEXT    NOT NULL,
    amount       BIGINT NOT NULL,
    currency     TEXT    NOT NULL,
    counterparty TEXT    NOT NULL,
    details      TEXT    NOT NULL,
    created_ns   BIGINT NOT NULL,
    updated_ns   BIGINT NOT NULL
);
CREATE INDEX activity_by_user ON activity (user_id, created_ns);

-- Money sent per China day, for the daily limits.
CREATE TABLE outflows (
    user_id TEXT    NOT NULL,
    day     TEXT    NOT NULL,
    total   BIGINT NOT NULL,
    PRIMARY KEY (user_id, day)
);
