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
    no              INTEGER NOT NULL PRIMARY KEY,
    id              BLOB    NOT NULL UNIQUE,
    currency        INTEGER NOT NULL,
    kind            INTEGER NOT NULL,
    flags           INTEGER NOT NULL,
    debits_pending  INTEGER NOT NULL,
    debits_posted   INTEGER NOT NULL,
    credits_pending INTEGER NOT NULL,
    credits_posted  INTEGER NOT NULL,
    reference       BLOB,
    ts              INTEGER NOT NULL,
    head            INTEGER NOT NULL
);

CREATE TABLE ledger_transfers (
    ts                INTEGER NOT NULL PRIMARY KEY,
    id                BLOB    NOT NULL UNIQUE,
    debit_account_id  BLOB    NOT NULL,
    credit_account_id BLOB    NOT NULL,
    amount            INTEGER NOT NULL,
    pending_id        BLOB,
    timeout_secs      INTEGER NOT NULL,
    currency          INTEGER NOT NULL,
    code              INTEGER NOT NULL,
    flags             INTEGER NOT NULL,
    reference         BLOB,
    result            INTEGER NOT NULL,
    pending_status    INTEGER NOT NULL,
    debit_prev        INTEGER NOT NULL,
    credit_prev       INTEGER NOT NULL
);

CREATE INDEX ledger_transfers_unresolved ON ledger_transfers (ts) WHERE pending_status = 1;

-- Expiries move balances without a transfer row; recovery replays the ones after the last
-- balance checkpoint. ts is the ledger timestamp of the expiry; pending_ts the pending
-- transfer's.
CREATE TABLE ledger_expiries (
    ts         INTEGER NOT NULL PRIMARY KEY,
    pending_ts INTEGER NOT NULL
);

-- balances_ts: the ledger timestamp of the last balance checkpoint. Account rows hold the
-- balances and heads as of then; the transfers and expiries after it are replayed on start-up.
CREATE TABLE ledger_meta (
    name  TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO ledger_meta (name, value) VALUES ('balances_ts', 0);
