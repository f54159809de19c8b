-- Transit operators (a metro, a bus company): their gates verify the platform's ride codes.
CREATE TABLE transit_operators (
    id   BIGINT NOT NULL PRIMARY KEY,
    name TEXT   NOT NULL
);
INSERT INTO transit_operators (id, name) VALUES (1, 'Hangzhou Metro'), (2, 'Hangzhou Bus');

-- The platform's transit issuer keys: the newest signs passes, gates hold the newest two.
-- The Ed25519 seed is sealed with a keystream derived from the platform's pepper.
CREATE TABLE transit_issuer_keys (
    id          BIGINT NOT NULL PRIMARY KEY,
    public_key  TEXT   NOT NULL,
    sealed_seed TEXT   NOT NULL,
    created_ns  BIGINT NOT NULL
);

-- A rider's opaque reference at an operator: random, stable across renewals.
CREATE TABLE transit_accounts (
    user_id     TEXT   NOT NULL,
    operator    BIGINT NOT NULL,
    account_ref BYTEA   NOT NULL,
    created_ns  BIGINT NOT NULL,
    PRIMARY KEY (user_id, operator)
);
CREATE UNIQUE INDEX transit_accounts_by_ref ON transit_accounts (operator, account_ref);

-- Every pass issued (serial as decimal text: u64 does not fit a signed 64-bit column).
CREATE TABLE transit_passes (
    serial        TEXT   NOT NULL PRIMARY KEY,
    user_id       TEXT   NOT NULL,
    device_id     TEXT   NOT NULL,
    operator      BIGINT NOT NULL,
    account_ref   BYTEA   NOT NULL,
    issuer_key_id BIGINT NOT NULL,
    not_before    BIGINT NOT NULL,
    not_after     BIGINT NOT NULL,
    created_ns    BIGINT NOT NULL
);
CREATE INDEX transit_passes_by_user ON transit_passes (user_id, created_ns);

-- Riders who owe a fare: gates refuse their codes until it is paid. The list's version is the
-- newest change.
CREATE TABLE transit_blacklist (
    operator    BIGINT NOT NULL,
    account_ref BYTEA   NOT NULL,
    listed_ns   BIGINT NOT NULL,
    cleared_ns  BIGINT,
    changed_ns  BIGINT NOT NULL,
    PRIMARY KEY (operator, account_ref)
);
