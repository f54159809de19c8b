//! Property tests: random sequences of account batches, transfer batches, replays, aborted
//! batches, clock jumps and restarts, run against the real ledger (with a tiny transfer cache
//! and a cold store, so eviction and cold lookups are exercised constantly) and against the
//! independent model. They must agree on every result, balance and stored record.

use std::collections::{BTreeMap, HashMap};

use cashless_ledger::{
    AMOUNT_MAX, Account, AccountFlags, AccountId, AccountKind, Balances, ColdStore,
    CreateTransferResult as R, Currency, Ledger, LedgerConfig, PendingStatus, Transfer,
    TransferFlags, TransferId, TransferRecord,
};
use proptest::prelude::*;

use crate::model::Model;

const START_NS: u64 = 1_700_000_000 * 1_000_000_000;

#[derive(Clone, Debug)]
enum Op {
    Accounts(Vec<Account>),
    Transfers(Vec<Transfer>),
    /// The whole batch all or nothing (as the HTTP API submits batches).
    Atomic(Vec<Transfer>),
    /// Applies a batch in memory, then drops it as if the database commit had failed.
    Abort(Vec<Transfer>),
    ReplayLast,
    AdvanceSecs(u64),
    Restart,
}

fn currency() -> impl Strategy<Value = Currency> {
    prop_oneof![4 => Just(Currency::CNY), 1 => Just(Currency::USD)]
}

fn account() -> impl Strategy<Value = Account> {
    let flags = prop_oneof![
        6 => Just(0u16),
        4 => Just(1),
        2 => Just(2),
        1 => Just(4),
        1 => Just(3),
        1 => Just(8),
    ];
    (
        0u128..=6,
        currency(),
        flags,
        0u128..2,
        prop::bool::weighted(0.02),
    )
        .prop_map(|(id, currency, flags, reference, bad_timestamp)| Account {
            id: AccountId(id),
            currency,
            kind: if id % 2 == 0 {
                AccountKind::Wallet
            } else {
                AccountKind::Merchant
            },
            flags: AccountFlags(flags),
            balances: Balances::default(),
            reference,
            timestamp: u64::from(bad_timestamp),
        })
}

fn amount() -> impl Strategy<Value = u64> {
    prop_oneof![
        1 => Just(0u64),
        8 => prop::sample::select(vec![1u64, 2, 3, 5, 10]),
        3 => 1u64..=100,
        1 => Just(AMOUNT_MAX),
        1 => Just(AMOUNT_MAX - 50),
        1 => Just(AMOUNT_MAX + 1),
    ]
}

fn transfer() -> impl Strategy<Value = Transfer> {
    // kind: 0 single-phase, 1 pending, 2 post, 3 void, 4 post+void (invalid), 5 reserved bit
    let kind = prop_oneof![10 => Just(0u8), 5 => Just(1), 4 => Just(2), 3 => Just(3), 1 => Just(4), 1 => Just(5)];
    (
        (1u128..=40, prop::bool::weighted(0.02)),
        (0u128..=7, 0u128..=7),
        amount(),
        kind,
        prop::bool::weighted(0.3),
        (1u128..=40, prop::bool::weighted(0.03)),
        prop_oneof![6 => Just(0u32), 1 => Just(1), 1 => Just(3)],
        (
            currency(),
            prop_oneof![1 => Just(0u16), 8 => Just(1), 2 => Just(2)],
            0u128..2,
        ),
        prop::bool::weighted(0.02),
    )
        .prop_map(
            |(
                (id, zero_id),
                (debit, credit),
                amount,
                kind,
                linked,
                (pending, stray_pending),
                timeout,
                (currency, code, reference),
                bad_ts,
            )| {
                let mut flags = match kind {
                    0 => TransferFlags::NONE,
                    1 => TransferFlags::PENDING,
                    2 => TransferFlags::POST_PENDING,
                    3 => TransferFlags::VOID_PENDING,
                    4 => TransferFlags::POST_PENDING.union(TransferFlags::VOID_PENDING),
                    _ => TransferFlags(1 << 9),
                };
                if linked {
                    flags = flags.union(TransferFlags::LINKED);
                }
                let resolving = kind == 2 || kind == 3;
                Transfer {
                    id: TransferId(if zero_id { 0 } else { id }),
                    debit_account_id: AccountId(debit),
                    credit_account_id: AccountId(credit),
                    amount: if kind == 3 && amount % 2 == 0 {
                        0
                    } else {
                        amount
                    },
                    pending_id: TransferId(if resolving || stray_pending {
                        pending
                    } else {
                        0
                    }),
                    timeout_secs: if kind == 1 || stray_pending {
                        timeout
                    } else {
                        0
                    },
                    currency,
                    code,
                    flags,
                    reference,
                    timestamp: u64::from(bad_ts),
                }
            },
        )
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => prop::collection::vec(account(), 1..6).prop_map(Op::Accounts),
        10 => prop::collection::vec(transfer(), 1..12).prop_map(Op::Transfers),
                1 => prop::collection::vec(transfer(), 1..6).prop_map(Op::Abort),
        3 => prop::collection::vec(transfer(), 1..6).prop_map(Op::Atomic),
        2 => Just(Op::ReplayLast),
        2 => (0u64..=3).prop_map(Op::AdvanceSecs),
        1 => Just(Op::Restart),
    ]
}

/// What a database would hold: exactly what the ledger's `Changes` said to write.
#[derive(Default)]
struct Storage {
    accounts: BTreeMap<AccountId, Account>,
    records: HashMap<TransferId, TransferRecord>,
    /// The latest resolution time seen (expiries take ledger timestamps of their own).
    resolved_at: u64,
}

struct Cold<'a>(&'a HashMap<TransferId, TransferRecord>);

impl ColdStore for Cold<'_> {
    type Error = std::convert::Infallible;
    fn transfer(&mut self, id: TransferId) -> Result<Option<TransferRecord>, Self::Error> {
        Ok(self.0.get(&id).copied())
    }
}

struct Harness {
    ledger: Ledger,
    storage: Storage,
    model: Model,
    now: u64,
    cache_max: usize,
    last: Vec<Transfer>,
}

impl Harness {
    fn new(cache_max: usize) -> Harness {
        Harness {
            ledger: Ledger::new(LedgerConfig {
                transfers_cached_max: cache_max,
            }),
            storage: Storage::default(),
            model: Model::default(),
            now: START_NS,
            cache_max,
            last: Vec::new(),
        }
    }

    fn run(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Accounts(accounts) => self.accounts(accounts),
            Op::Transfers(transfers) => self.transfers(transfers),
            Op::Atomic(transfers) => self.atomic(transfers),
            Op::Abort(transfers) => self.abort(transfers),
            Op::ReplayLast => {
                let last = self.last.clone();
                self.replay(&last)
            }
            Op::AdvanceSecs(secs) => {
                self.now += secs * 1_000_000_000;
                Ok(())
            }
            Op::Restart => {
                self.restart();
                Ok(())
            }
        }?;
        self.check_invariants()
    }

    fn accounts(&mut self, accounts: &[Account]) -> Result<(), TestCaseError> {
        let mut batch = self.ledger.begin(self.now);
        let results = batch.create_accounts(accounts);
        let (created, updated, records, resolved) = collect(&batch);
        batch.commit();
        self.persist(created, updated, records, resolved);
        self.model.begin(self.now);
        prop_assert_eq!(results, self.model.create_accounts(accounts, self.now));
        Ok(())
    }

    fn transfers(&mut self, transfers: &[Transfer]) -> Result<(), TestCaseError> {
        let mut batch = self.ledger.begin(self.now);
        let results = batch
            .create_transfers(transfers, &mut Cold(&self.storage.records))
            .unwrap();
        let (created, updated, records, resolved) = collect(&batch);
        batch.commit();
        // A failed linked chain leaves no trace: its members are not written.
        for (index, result) in results.iter().enumerate() {
            let id = transfers[index].id;
            let elsewhere = transfers
                .iter()
                .enumerate()
                .any(|(i, t)| i != index && t.id == id);
            if matches!(result, R::LinkedEventFailed | R::LinkedEventChainOpen) && !elsewhere {
                prop_assert!(
                    records.iter().all(|r| r.transfer.id != id),
                    "chain member {id:?} written"
                );
            }
        }
        self.persist(created, updated, records, resolved);
        self.model.begin(self.now);
        let expected = self.model.create_transfers(transfers, self.now);
        prop_assert_eq!(&results, &expected, "batch {:?}", transfers);
        if !transfers.is_empty() {
            self.last = transfers.to_vec();
        }
        Ok(())
    }

    fn atomic(&mut self, transfers: &[Transfer]) -> Result<(), TestCaseError> {
        let balances_before = sorted_accounts(&self.ledger);
        let mut batch = self.ledger.begin(self.now);
        let results = batch
            .create_transfers_atomically(transfers, &mut Cold(&self.storage.records))
            .unwrap();
        let (created, updated, records, resolved) = collect(&batch);
        batch.commit();
        if results.iter().any(|r| !r.is_success()) {
            // Nothing but the remembered failure was written (expiries of `begin` aside).
            prop_assert!(records.len() <= 1, "{records:?}");
            prop_assert!(records.iter().all(|r| !r.is_success()));
            if resolved.is_empty() {
                prop_assert_eq!(&balances_before, &sorted_accounts(&self.ledger));
            }
        }
        self.persist(created, updated, records, resolved);
        self.model.begin(self.now);
        let expected = self.model.create_transfers_atomically(transfers, self.now);
        prop_assert_eq!(&results, &expected, "atomic batch {:?}", transfers);
        Ok(())
    }

    fn abort(&mut self, transfers: &[Transfer]) -> Result<(), TestCaseError> {
        let before: Vec<Account> = sorted_accounts(&self.ledger);
        let cached = self.ledger.transfers_cached();
        let pending = self.ledger.pending_count();
        let timestamp = self.ledger.timestamp();
        {
            let mut batch = self.ledger.begin(self.now);
            batch
                .create_transfers(transfers, &mut Cold(&self.storage.records))
                .unwrap();
        }
        prop_assert_eq!(before, sorted_accounts(&self.ledger));
        prop_assert_eq!(cached, self.ledger.transfers_cached());
        prop_assert_eq!(pending, self.ledger.pending_count());
        prop_assert_eq!(timestamp, self.ledger.timestamp());
        Ok(())
    }

    fn replay(&mut self, transfers: &[Transfer]) -> Result<(), TestCaseError> {
        // Let time's own effect (expiries up to now) happen first, in an empty batch.
        self.transfers(&[])?;
        let balances_before = sorted_accounts(&self.ledger);
        let succeeded_before = self.succeeded();
        self.transfers(transfers)?;
        let balances_after = sorted_accounts(&self.ledger);
        prop_assert_eq!(
            succeeded_before,
            self.succeeded(),
            "replay created transfers"
        );
        prop_assert_eq!(balances_before, balances_after, "replay moved money");
        Ok(())
    }

    fn succeeded(&self) -> usize {
        self.storage
            .records
            .values()
            .filter(|r| r.is_success())
            .count()
    }

    fn persist(
        &mut self,
        created: Vec<Account>,
        updated: Vec<Account>,
        records: Vec<TransferRecord>,
        resolved: Vec<(TransferRecord, u64)>,
    ) {
        for account in created.into_iter().chain(updated) {
            self.storage.accounts.insert(account.id, account);
        }
        for record in records {
            self.storage.records.insert(record.transfer.id, record);
        }
        for (record, at) in resolved {
            self.storage.records.insert(record.transfer.id, record);
            self.storage.resolved_at = self.storage.resolved_at.max(at);
        }
    }

    /// Rebuilds the ledger from storage the way the real store does on start-up.
    fn restart(&mut self) {
        let mut ledger = Ledger::new(LedgerConfig {
            transfers_cached_max: self.cache_max,
        });
        for account in self.storage.accounts.values() {
            ledger.restore_account(*account);
        }
        let mut resolved: Vec<&TransferRecord> = Vec::new();
        let mut timestamp = self.storage.resolved_at;
        for record in self.storage.records.values() {
            timestamp = timestamp.max(record.transfer.timestamp);
            if record.pending_status == PendingStatus::Pending {
                ledger.restore_transfer(*record);
            } else {
                resolved.push(record);
            }
        }
        resolved.sort_by_key(|r| std::cmp::Reverse(r.transfer.id));
        let kept = &resolved[..resolved.len().min(self.cache_max)];
        for record in kept {
            ledger.restore_transfer(**record);
        }
        let watermark = if resolved.len() > kept.len() {
            kept.last().map_or(0, |r| r.transfer.id.0)
        } else {
            0
        };
        ledger.restore_finish(watermark, timestamp);
        self.ledger = ledger;
    }

    fn check_invariants(&mut self) -> Result<(), TestCaseError> {
        // The ledger, what it told storage, and the model agree on every account and record.
        let accounts = sorted_accounts(&self.ledger);
        let stored: Vec<Account> = self.storage.accounts.values().copied().collect();
        let modelled: Vec<Account> = self.model.accounts.values().copied().collect();
        prop_assert_eq!(&accounts, &modelled);
        prop_assert_eq!(&stored, &modelled);
        let records: BTreeMap<u128, TransferRecord> = self
            .storage
            .records
            .iter()
            .map(|(id, r)| (id.0, *r))
            .collect();
        prop_assert_eq!(&records, &self.model.records);

        // Σdebits = Σcredits per currency, pending and posted.
        let mut sums: HashMap<Currency, [u128; 4]> = HashMap::new();
        for account in &accounts {
            let b = &account.balances;
            let sum = sums.entry(account.currency).or_default();
            sum[0] += u128::from(b.debits_pending);
            sum[1] += u128::from(b.credits_pending);
            sum[2] += u128::from(b.debits_posted);
            sum[3] += u128::from(b.credits_posted);
        }
        for (currency, sum) in &sums {
            prop_assert_eq!(sum[0], sum[1], "pending unbalanced in {}", currency);
            prop_assert_eq!(sum[2], sum[3], "posted unbalanced in {}", currency);
            let totals = self.ledger.totals(*currency);
            prop_assert_eq!(
                (totals.debits_pending, totals.debits_posted),
                (sum[0], sum[2])
            );
        }

        // No constrained account crosses its limit.
        for account in &accounts {
            let b = &account.balances;
            if account
                .flags
                .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            {
                prop_assert!(
                    u128::from(b.debits_pending) + u128::from(b.debits_posted)
                        <= u128::from(b.credits_posted)
                );
            }
            if account
                .flags
                .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
            {
                prop_assert!(
                    u128::from(b.credits_pending) + u128::from(b.credits_posted)
                        <= u128::from(b.debits_posted)
                );
            }
        }

        // A pending transfer is posted or voided at most once.
        let mut resolutions: HashMap<TransferId, usize> = HashMap::new();
        for record in self.storage.records.values() {
            if record.is_success() && record.transfer.flags.resolves_pending() {
                *resolutions.entry(record.transfer.pending_id).or_default() += 1;
            }
        }
        prop_assert!(resolutions.values().all(|&count| count == 1));

        // Memory stays bounded.
        let mut ledger_cached = self.ledger.transfers_cached();
        if ledger_cached > self.cache_max {
            // Eviction is the caller's next step after committing; then the bound holds.
            self.ledger.evict_excess();
            ledger_cached = self.ledger.transfers_cached();
        }
        prop_assert!(ledger_cached <= self.cache_max);
        Ok(())
    }
}

type Collected = (
    Vec<Account>,
    Vec<Account>,
    Vec<TransferRecord>,
    Vec<(TransferRecord, u64)>,
);

fn collect(batch: &cashless_ledger::Batch<'_>) -> Collected {
    let changes = batch.changes();
    (
        changes.accounts_created().copied().collect(),
        changes.accounts_updated().into_iter().copied().collect(),
        changes.transfers_created().copied().collect(),
        changes
            .pending_resolved()
            .map(|(record, at)| (*record, at))
            .collect(),
    )
}

fn sorted_accounts(ledger: &Ledger) -> Vec<Account> {
    let mut accounts: Vec<Account> = ledger.accounts().copied().collect();
    accounts.sort_by_key(|a| a.id);
    accounts
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn ledger_agrees_with_model(
        cache_max in prop_oneof![Just(1usize), Just(3), Just(1000)],
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let mut harness = Harness::new(cache_max);
        // Seed a few valid accounts so most transfers get past "account not found".
        let seed: Vec<Account> = (1..=5u128)
            .map(|id| {
                let flags = match id {
                    1 => AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
                    5 => AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
                    _ => AccountFlags::NONE,
                };
                let currency = if id == 4 { Currency::USD } else { Currency::CNY };
                Account::new(AccountId(id), currency, AccountKind::Wallet, flags)
            })
            .collect();
        harness.run(&Op::Accounts(seed))?;
        for op in &ops {
            harness.run(op)?;
        }
    }
}
