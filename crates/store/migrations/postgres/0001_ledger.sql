-- The ledger: accounts and transfers (see ARCHITECTURE.md, "Ledger storage").
--
-- Transfers are keyed by their ledger timestamp (ns, strictly increasing) so inserts append.
-- There is no (account, time) index: each transfer row links to the previous transfer of its
-- debit and of its credit account (debit_prev, credit_prev) and each account row points at its
-- newest transfer (head). An account's history is that linked list, newest first.
--
-- Account rows hold balances as of the last balance checkpoint (see ledger_meta), not after
-- every batch: rewriting thousands of account rows per batch cost as much as inserting the
-- transfers. Memory holds the live balances; the transfer log makes them recoverable.
-- Accounts have an integer key (no) so checkpoints update rows by integer, not by 16-byte id.
-- (Keying transfers by id alone, in a WITHOUT ROWID table, was measured slower: its rows are
-- too wide for a clustered blob-keyed tree.)

CREATE TABLE ledger_accounts (
    no              BIGINT   NOT NULL PRIMARY KEY,
    id              BYTEA    NOT NULL UNIQUE,
    currency        SMALLINT NOT NULL,
    kind            SMALLINT NOT NULL,
    flags           SMALLINT NOT NULL,
    debits_pending  BIGINT   NOT NULL,
    debits_posted   BIGINT   NOT NULL,
    credits_pending BIGINT   NOT NULL,
    credits_posted  BIGINT   NOT NULL,
    reference       BYTEA,
    ts              BIGINT   NOT NULL,
    head            BIGINT   NOT NULL
) WITH (fillfactor = 70);

CREATE TABLE ledger_transfers (
    ts                BIGINT   NOT NULL PRIMARY KEY,
    id                BYTEA    NOT NULL UNIQUE,
    debit_account_id  BYTEA    NOT NULL,
    credit_account_id BYTEA    NOT NULL,
    amount            BIGINT   NOT NULL,
    pending_id        BYTEA,
    timeout_secs      BIGINT   NOT NULL,
    currency          SMALLINT NOT NULL,
    code              INTEGER  NOT NULL,
    flags             SMALLINT NOT NULL,
    reference         BYTEA,
    result            SMALLINT NOT NULL,
    pending_status    SMALLINT NOT NULL,
    debit_prev        BIGINT   NOT NULL,
    credit_prev       BIGINT   NOT NULL
);

CREATE INDEX ledger_transfers_unresolved ON ledger_transfers (ts) WHERE pending_status = 1;

-- Expiries move balances without a transfer row; recovery replays the ones after the last
-- balance checkpoint. ts is the ledger timestamp of the expiry; pending_ts the pending
-- transfer's.
CREATE TABLE ledger_expiries (
    ts         BIGINT NOT NULL PRIMARY KEY,
    pending_ts BIGINT NOT NULL
);

-- balances_ts: the ledger timestamp of the last balance checkpoint. Account rows hold the
-- balances and heads as of then; the transfers and expiries after it are replayed on start-up.
CREATE TABLE ledger_meta (
    name  TEXT    NOT NULL PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO ledger_meta (name, value) VALUES ('balances_ts', 0);
