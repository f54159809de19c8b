-- The ledger: accounts and transfers (see ARCHITECTURE.md, "Ledger storage").
--
-- Transfers are keyed by their ledger timestamp (ns, strictly increasing) so inserts append.
-- There is no (account, time) index: each transfer row links to the previous transfer of its
-- debit and of its credit account (debit_prev, credit_prev) and each account row points at its
-- newest transfer (head). An account's history is that linked list, newest first.
--
-- Accounts have an integer key (no) so that the balance updates of every batch find their
-- rows by integer rather than by 16-byte id. (Keying transfers by id alone, in a WITHOUT ROWID
-- table, was measured slower: its rows are too wide for a clustered blob-keyed tree.)

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
