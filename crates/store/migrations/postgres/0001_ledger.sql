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
