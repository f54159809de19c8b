-- Merchants and QR payments: merchants with their stores, terminals and API keys, orders and
-- refunds, consumers' payment-code devices, and the notification outbox. Ids are UUID
-- strings; money is integer minor units; times are ns since the Unix epoch.

CREATE TABLE merchants (
    id                  TEXT    NOT NULL PRIMARY KEY,
    legal_name          TEXT    NOT NULL,
    display_name        TEXT    NOT NULL,
    chinese_name        TEXT,
    mcc                 TEXT    NOT NULL,
    city                TEXT    NOT NULL,
    licence_number      TEXT    NOT NULL UNIQUE,
    settlement_bank     TEXT    NOT NULL,
    settlement_account  TEXT    NOT NULL,
    fee_rate_bps        INTEGER NOT NULL,
    notify_url          TEXT,
    account_id          BLOB    NOT NULL,
    created_ns          INTEGER NOT NULL
);

CREATE TABLE stores (
    id          TEXT    NOT NULL PRIMARY KEY,
    merchant_id TEXT    NOT NULL,
    name        TEXT    NOT NULL,
    address     TEXT    NOT NULL,
    created_ns  INTEGER NOT NULL
);
CREATE INDEX stores_by_merchant ON stores (merchant_id);

CREATE TABLE terminals (
    id          TEXT    NOT NULL PRIMARY KEY,
    merchant_id TEXT    NOT NULL,
    store_id    TEXT    NOT NULL,
    label       TEXT    NOT NULL,
    created_ns  INTEGER NOT NULL
);
CREATE INDEX terminals_by_merchant ON terminals (merchant_id);

-- A merchant's Ed25519 request-signing keys. A rotated-out key keeps working until
-- expires_ns (the overlap period).
CREATE TABLE merchant_keys (
    id          TEXT    NOT NULL PRIMARY KEY,
    merchant_id TEXT    NOT NULL,
    public_key  TEXT    NOT NULL,
    created_ns  INTEGER NOT NULL,
    expires_ns  INTEGER
);
CREATE INDEX merchant_keys_by_merchant ON merchant_keys (merchant_id);

-- Nonces of signed requests seen in the last signature window: a replay is refused.
CREATE TABLE merchant_nonces (
    merchant_id TEXT    NOT NULL,
    nonce       TEXT    NOT NULL,
    seen_ns     INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, nonce)
);
CREATE INDEX merchant_nonces_by_time ON merchant_nonces (seen_ns);

CREATE TABLE orders (
    id               TEXT    NOT NULL PRIMARY KEY,
    merchant_id      TEXT    NOT NULL,
    store_id         TEXT,
    terminal_id      TEXT,
    out_trade_no     TEXT    NOT NULL,
    qr_token         TEXT,
    kind             TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    amount           INTEGER NOT NULL,
    currency         TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    fee              INTEGER NOT NULL,
    refunded         INTEGER NOT NULL,
    payer_user_id    TEXT,
    fingerprint      TEXT    NOT NULL,
    transfer_id      BLOB,
    expires_ns       INTEGER NOT NULL,
    paid_ns          INTEGER,
    created_ns       INTEGER NOT NULL,
    updated_ns       INTEGER NOT NULL
);
CREATE UNIQUE INDEX orders_by_out_trade_no ON orders (merchant_id, out_trade_no);
CREATE UNIQUE INDEX orders_by_qr_token ON orders (qr_token);
CREATE INDEX orders_open ON orders (status, expires_ns);
CREATE INDEX orders_by_payer ON orders (payer_user_id, status);

CREATE TABLE refunds (
    id            TEXT    NOT NULL PRIMARY KEY,
    order_id      TEXT    NOT NULL,
    merchant_id   TEXT    NOT NULL,
    out_request_no TEXT   NOT NULL,
    amount        INTEGER NOT NULL,
    fee_returned  INTEGER NOT NULL,
    reason        TEXT    NOT NULL,
    transfer_id   BLOB    NOT NULL,
    created_ns    INTEGER NOT NULL
);
CREATE UNIQUE INDEX refunds_by_request ON refunds (order_id, out_request_no);

-- A device enrolled for the consumer-presented payment code: a number in the code (slot) and
-- the shared secret the device derives its codes from (encrypted is not needed: it is a MAC
-- key the platform must hold; it is kept out of responses after enrolment).
CREATE TABLE paycode_devices (
    slot           INTEGER NOT NULL PRIMARY KEY,
    user_id        TEXT    NOT NULL,
    device_id      TEXT    NOT NULL UNIQUE,
    secret         TEXT    NOT NULL,
    failures       INTEGER NOT NULL,
    locked_until_ns INTEGER NOT NULL,
    created_ns     INTEGER NOT NULL
);

-- Payment codes already used: each (slot, time step, variant) pays at most once.
CREATE TABLE paycode_uses (
    slot     INTEGER NOT NULL,
    step     INTEGER NOT NULL,
    variant  INTEGER NOT NULL,
    order_id TEXT    NOT NULL,
    PRIMARY KEY (slot, step, variant)
);

-- Password-free payments per China day (the daily count of the password-free limit).
ALTER TABLE outflows ADD COLUMN password_free INTEGER NOT NULL DEFAULT 0;

-- The transactional outbox: written in the same transaction as the order change it reports,
-- delivered at least once by the dispatcher, with the same event id on every attempt.
CREATE TABLE events (
    id              TEXT    NOT NULL PRIMARY KEY,
    merchant_id     TEXT    NOT NULL,
    order_id        TEXT    NOT NULL,
    kind            TEXT    NOT NULL,
    payload         TEXT    NOT NULL,
    created_ns      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    next_attempt_ns INTEGER,
    delivered_ns    INTEGER,
    last_error      TEXT
);
CREATE INDEX events_due ON events (next_attempt_ns);
CREATE INDEX events_by_merchant ON events (merchant_id, created_ns);
