//! The ledger's state machine: accounts, transfers and pending reservations in memory.
//!
//! All changes happen inside a [`Batch`]: every mutation is undo-logged, so a linked chain, one
//! operation of a group commit, or a whole batch whose database commit failed can be rolled
//! back exactly. Nothing here does I/O; transfers the ledger no longer holds in memory are
//! fetched through the caller's [`ColdStore`].
//!
//! Memory is bounded: at most `transfers_cached_max` resolved transfers stay in memory,
//! evicted smallest id first. The *watermark* is one more than the largest id ever evicted, so
//! every stored transfer with an id at or above it is in memory and a new time-ordered id is
//! known to be new without asking storage. Unresolved pending transfers are never evicted.

use std::collections::BTreeSet;

use crate::account::{Account, AccountFlags, Balances, CreateAccountResult};
use crate::hash::IdMap;
use crate::id::{AccountId, TransferId};
use crate::money::{AMOUNT_MAX, Currency};
use crate::transfer::{
    CreateTransferResult, NANOS_PER_SEC, PendingStatus, Transfer, TransferFlags, TransferRecord,
};

/// Where evicted transfers live: the database, for the real store.
pub trait ColdStore {
    type Error;
    /// The stored record for `id`, if there is one.
    fn transfer(&mut self, id: TransferId) -> Result<Option<TransferRecord>, Self::Error>;
}

/// For a ledger that never evicts (its watermark stays 0): nothing is cold.
#[derive(Debug, Default)]
pub struct NoColdStore;

impl ColdStore for NoColdStore {
    type Error = std::convert::Infallible;
    fn transfer(&mut self, _id: TransferId) -> Result<Option<TransferRecord>, Self::Error> {
        Ok(None)
    }
}

#[derive(Clone, Copy, Debug)]
pub struct LedgerConfig {
    /// Resolved transfers kept in memory for fast duplicate checks; older ones are looked up
    /// in the [`ColdStore`].
    pub transfers_cached_max: usize,
}

impl Default for LedgerConfig {
    fn default() -> LedgerConfig {
        LedgerConfig {
            transfers_cached_max: 1 << 20,
        }
    }
}

/// Sums over all accounts of one currency. Debits equal credits, always.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct Totals {
    pub debits_pending: u128,
    pub debits_posted: u128,
    pub credits_pending: u128,
    pub credits_posted: u128,
}

impl Totals {
    fn apply(&mut self, old: &Balances, new: &Balances) {
        fn shift(total: &mut u128, old: u64, new: u64) {
            *total = *total + u128::from(new) - u128::from(old);
        }
        shift(
            &mut self.debits_pending,
            old.debits_pending,
            new.debits_pending,
        );
        shift(
            &mut self.debits_posted,
            old.debits_posted,
            new.debits_posted,
        );
        shift(
            &mut self.credits_pending,
            old.credits_pending,
            new.credits_pending,
        );
        shift(
            &mut self.credits_posted,
            old.credits_posted,
            new.credits_posted,
        );
    }

    pub fn is_balanced(&self) -> bool {
        self.debits_pending == self.credits_pending && self.debits_posted == self.credits_posted
    }
}

#[derive(Debug)]
enum Undo {
    AccountCreated(AccountId),
    Balances(AccountId, Balances),
    TransferCreated(TransferId),
    /// The pending record as it was before it was posted, voided or expired.
    PendingResolved(TransferRecord),
}

/// What a batch changed, for the caller to persist before it commits.
#[derive(Debug, Default)]
struct ChangeLog {
    accounts_created: Vec<AccountId>,
    accounts_touched: Vec<AccountId>,
    /// New records as created; later status changes in the batch are in `pending_resolved`.
    transfers_created: Vec<TransferRecord>,
    /// Pending transfers resolved, with the ledger timestamp of the resolution (the post or
    /// void transfer's, or a fresh one for an expiry).
    pending_resolved: Vec<(TransferId, u64)>,
}

/// A point inside a batch to roll back to.
#[derive(Clone, Copy, Debug)]
pub struct Savepoint {
    undo: usize,
    accounts_created: usize,
    accounts_touched: usize,
    transfers_created: usize,
    pending_resolved: usize,
    timestamp: u64,
}

#[derive(Debug)]
pub struct Ledger {
    config: LedgerConfig,
    accounts: IdMap<AccountId, Account>,
    /// Every transfer in memory: unresolved pending ones (live reservations, never evicted)
    /// and at most `transfers_cached_max` others (see the module docs).
    transfers: IdMap<TransferId, TransferRecord>,
    /// How many of `transfers` are unresolved pending transfers.
    pending_count: usize,
    /// (expires_at, id) of unresolved pending transfers with a timeout.
    expiries: BTreeSet<(u64, TransferId)>,
    /// Ids in memory, smallest first, for eviction. Mostly increasing ids touch only the two
    /// ends of the tree, which stay in the CPU cache (a binary heap's sift-down did not).
    eviction: BTreeSet<TransferId>,
    watermark: u128,
    /// The last timestamp handed out; the next is strictly greater.
    timestamp: u64,
    /// Indexed by [`Currency::index`].
    totals: [Totals; Currency::ALL.len()],
    undo: Vec<Undo>,
    changes: ChangeLog,
    in_batch: bool,
}

impl Ledger {
    pub fn new(config: LedgerConfig) -> Ledger {
        assert!(
            config.transfers_cached_max > 0,
            "the transfer cache needs room for one"
        );
        Ledger {
            config,
            accounts: IdMap::default(),
            transfers: IdMap::default(),
            pending_count: 0,
            expiries: BTreeSet::new(),
            eviction: BTreeSet::new(),
            watermark: 0,
            timestamp: 0,
            totals: [Totals::default(); Currency::ALL.len()],
            undo: Vec::new(),
            changes: ChangeLog::default(),
            in_batch: false,
        }
    }

    // --- Recovery: rebuilding memory from storage. -------------------------------------------

    /// Loads a stored account with its balances.
    pub fn restore_account(&mut self, account: Account) {
        assert!(!self.in_batch);
        let zero = Balances::default();
        self.totals[account.currency.index()].apply(&zero, &account.balances);
        self.timestamp = self.timestamp.max(account.timestamp);
        self.accounts.insert(account.id, account);
    }

    /// Loads a stored transfer record: every unresolved pending one, and as many recent ones
    /// as the cache holds.
    pub fn restore_transfer(&mut self, record: TransferRecord) {
        assert!(!self.in_batch);
        self.timestamp = self.timestamp.max(record.transfer.timestamp);
        self.insert_record(record);
        if record.pending_status != PendingStatus::Pending {
            self.eviction.insert(record.transfer.id);
        }
    }

    /// Ends recovery: `watermark` is the smallest id such that every stored transfer at or
    /// above it was restored (0 when all were); `timestamp` the largest stored timestamp.
    pub fn restore_finish(&mut self, watermark: u128, timestamp: u64) {
        self.watermark = self.watermark.max(watermark);
        self.timestamp = self.timestamp.max(timestamp);
        for totals in &self.totals {
            assert!(
                totals.is_balanced(),
                "restored ledger is unbalanced: {totals:?}"
            );
        }
    }

    // --- Queries. ----------------------------------------------------------------------------

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.accounts.get(&id)
    }

    pub fn accounts(&self) -> impl Iterator<Item = &Account> {
        self.accounts.values()
    }

    /// A transfer held in memory (recent, or pending). Older ones live in the cold store.
    pub fn transfer_cached(&self, id: TransferId) -> Option<&TransferRecord> {
        self.transfers.get(&id)
    }

    /// Resolved and failed transfers in memory (the bounded part of the cache).
    pub fn transfers_cached(&self) -> usize {
        self.transfers.len() - self.pending_count
    }

    pub fn pending_count(&self) -> usize {
        self.pending_count
    }

    pub fn watermark(&self) -> u128 {
        self.watermark
    }

    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// When the next pending transfer expires, if any has a timeout.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiries.first().map(|(at, _)| *at)
    }

    pub fn totals(&self, currency: Currency) -> Totals {
        self.totals[currency.index()]
    }

    // --- Batches. ----------------------------------------------------------------------------

    /// Starts a batch at `now` (nanoseconds since the Unix epoch): first releases every pending
    /// transfer whose timeout has passed. Dropping the batch without [`Batch::commit`] undoes
    /// everything it did.
    pub fn begin(&mut self, now: u64) -> Batch<'_> {
        assert!(!self.in_batch, "one batch at a time");
        assert!(self.undo.is_empty());
        self.evict_excess();
        self.in_batch = true;
        let start = Savepoint {
            undo: 0,
            accounts_created: 0,
            accounts_touched: 0,
            transfers_created: 0,
            pending_resolved: 0,
            timestamp: self.timestamp,
        };
        let mut batch = Batch {
            ledger: self,
            now,
            start,
            committed: false,
        };
        batch.expire_pending(now);
        batch
    }

    fn insert_record(&mut self, record: TransferRecord) {
        let id = record.transfer.id;
        if let Some(replaced) = self.transfers.insert(id, record) {
            self.forget_pending(&replaced);
        }
        if record.pending_status == PendingStatus::Pending {
            if let Some(at) = record.expires_at() {
                self.expiries.insert((at, id));
            }
            self.pending_count += 1;
        }
    }

    fn remove_record(&mut self, id: TransferId) -> Option<TransferRecord> {
        let record = self.transfers.remove(&id)?;
        self.forget_pending(&record);
        Some(record)
    }

    /// Drops the bookkeeping of a record leaving the map, if it was an unresolved pending one.
    fn forget_pending(&mut self, record: &TransferRecord) {
        if record.pending_status == PendingStatus::Pending {
            if let Some(at) = record.expires_at() {
                self.expiries.remove(&(at, record.transfer.id));
            }
            self.pending_count -= 1;
        }
    }

    fn set_balances(&mut self, id: AccountId, balances: Balances) {
        let account = self.accounts.get_mut(&id);
        let Some(account) = account else {
            unreachable!("balances set on an account that was checked to exist")
        };
        let old = account.balances;
        account.balances = balances;
        self.totals[account.currency.index()].apply(&old, &balances);
        self.undo.push(Undo::Balances(id, old));
        self.changes.accounts_touched.push(id);
    }

    /// Evicts resolved transfers beyond `transfers_cached_max`, smallest id first.
    pub fn evict_excess(&mut self) {
        assert!(!self.in_batch, "evict between batches");
        while self.transfers_cached() > self.config.transfers_cached_max {
            let Some(id) = self.eviction.pop_first() else {
                break;
            };
            // Unresolved pending transfers stay; they are queued again once resolved.
            let evictable = self
                .transfers
                .get(&id)
                .is_some_and(|record| record.pending_status != PendingStatus::Pending);
            if evictable {
                self.transfers.remove(&id);
                self.watermark = self.watermark.max(id.0 + 1);
            }
        }
    }
}

/// A batch of changes to the ledger, applied in memory and undone unless committed.
#[derive(Debug)]
pub struct Batch<'a> {
    ledger: &'a mut Ledger,
    now: u64,
    start: Savepoint,
    committed: bool,
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.rollback_to(self.start);
            self.ledger.in_batch = false;
        }
    }
}

impl Batch<'_> {
    pub fn ledger(&self) -> &Ledger {
        self.ledger
    }

    pub fn account(&self, id: AccountId) -> Option<&Account> {
        self.ledger.accounts.get(&id)
    }

    /// The batch's clock: nanoseconds since the Unix epoch.
    pub fn now(&self) -> u64 {
        self.now
    }

    pub fn savepoint(&self) -> Savepoint {
        let changes = &self.ledger.changes;
        Savepoint {
            undo: self.ledger.undo.len(),
            accounts_created: changes.accounts_created.len(),
            accounts_touched: changes.accounts_touched.len(),
            transfers_created: changes.transfers_created.len(),
            pending_resolved: changes.pending_resolved.len(),
            timestamp: self.ledger.timestamp,
        }
    }

    /// Undoes everything done since `savepoint`.
    pub fn rollback_to(&mut self, savepoint: Savepoint) {
        let ledger = &mut *self.ledger;
        while ledger.undo.len() > savepoint.undo {
            let Some(entry) = ledger.undo.pop() else {
                break;
            };
            match entry {
                Undo::AccountCreated(id) => {
                    if let Some(account) = ledger.accounts.remove(&id) {
                        debug_assert_eq!(account.balances, Balances::default());
                    }
                }
                Undo::Balances(id, old) => {
                    if let Some(account) = ledger.accounts.get_mut(&id) {
                        let current = account.balances;
                        account.balances = old;
                        ledger.totals[account.currency.index()].apply(&current, &old);
                    }
                }
                Undo::TransferCreated(id) => {
                    ledger.remove_record(id);
                }
                Undo::PendingResolved(before) => ledger.insert_record(before),
            }
        }
        let changes = &mut ledger.changes;
        changes
            .accounts_created
            .truncate(savepoint.accounts_created);
        changes
            .accounts_touched
            .truncate(savepoint.accounts_touched);
        changes
            .transfers_created
            .truncate(savepoint.transfers_created);
        changes
            .pending_resolved
            .truncate(savepoint.pending_resolved);
        ledger.timestamp = savepoint.timestamp;
    }

    /// Debits equal credits in every currency, pending and posted: check before making the
    /// batch durable ([`Batch::commit`] asserts it again).
    pub fn is_balanced(&self) -> bool {
        self.ledger.totals.iter().all(Totals::is_balanced)
    }

    /// What this batch changed so far, to persist before committing.
    pub fn changes(&self) -> Changes<'_> {
        Changes {
            ledger: self.ledger,
        }
    }

    /// Keeps the batch's changes (call after they are durable). Old transfers are evicted by
    /// [`Ledger::evict_excess`], which the caller may run off its critical path (the next
    /// [`Ledger::begin`] runs it too, so memory stays bounded either way).
    pub fn commit(mut self) {
        let ledger = &mut *self.ledger;
        for totals in &ledger.totals {
            assert!(
                totals.is_balanced(),
                "batch left the ledger unbalanced: {totals:?}"
            );
        }
        ledger.undo.clear();
        let changes = std::mem::take(&mut ledger.changes);
        // Queued for eviction; pending ones are skipped there until resolved (and requeued).
        let created = changes
            .transfers_created
            .iter()
            .map(|record| &record.transfer.id);
        let resolved = changes.pending_resolved.iter().map(|(id, _)| id);
        for id in created.chain(resolved) {
            ledger.eviction.insert(*id);
        }
        ledger.in_batch = false;
        self.committed = true;
    }

    fn next_timestamp(&mut self) -> u64 {
        let timestamp = self.peek_timestamp();
        self.ledger.timestamp = timestamp;
        timestamp
    }

    fn peek_timestamp(&self) -> u64 {
        self.now.max(self.ledger.timestamp + 1)
    }

    // --- Accounts. ---------------------------------------------------------------------------

    pub fn create_accounts(&mut self, accounts: &[Account]) -> Vec<CreateAccountResult> {
        accounts
            .iter()
            .map(|account| self.create_account(account))
            .collect()
    }

    fn create_account(&mut self, account: &Account) -> CreateAccountResult {
        use CreateAccountResult as R;
        if account.timestamp != 0 {
            return R::TimestampMustBeZero;
        }
        if account.id.is_zero() {
            return R::IdMustNotBeZero;
        }
        if account.id.0 == u128::MAX {
            return R::IdMustNotBeIntMax;
        }
        if account.flags.has_unknown_bits() {
            return R::ReservedFlag;
        }
        if account
            .flags
            .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
            && account
                .flags
                .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        {
            return R::FlagsAreMutuallyExclusive;
        }
        if account.balances != Balances::default() {
            return R::BalancesMustBeZero;
        }
        if let Some(existing) = self.ledger.accounts.get(&account.id) {
            return if existing.flags != account.flags {
                R::ExistsWithDifferentFlags
            } else if existing.currency != account.currency {
                R::ExistsWithDifferentCurrency
            } else if existing.kind != account.kind {
                R::ExistsWithDifferentKind
            } else if existing.reference != account.reference {
                R::ExistsWithDifferentReference
            } else {
                R::Exists
            };
        }
        let timestamp = self.next_timestamp();
        let ledger = &mut *self.ledger;
        ledger.accounts.insert(
            account.id,
            Account {
                timestamp,
                ..*account
            },
        );

        ledger.undo.push(Undo::AccountCreated(account.id));
        ledger.changes.accounts_created.push(account.id);
        R::Ok
    }

    // --- Transfers. --------------------------------------------------------------------------

    /// Applies transfers in order and answers each. Linked chains commit all or nothing.
    /// Fails only when the cold store fails; the transfers before the failing one stay applied,
    /// so take a [`Savepoint`] first and roll back to it.
    pub fn create_transfers<C: ColdStore>(
        &mut self,
        transfers: &[Transfer],
        cold: &mut C,
    ) -> Result<Vec<CreateTransferResult>, C::Error> {
        use CreateTransferResult as R;
        let count = transfers.len();
        let mut results = vec![R::Ok; count];
        let mut index = 0;
        while index < count {
            if !transfers[index].flags.is_linked() {
                let result = self.create_transfer(&transfers[index], cold)?;
                if result.is_transient() {
                    self.record_failure(&transfers[index], result);
                }
                results[index] = result;
                index += 1;
                continue;
            }
            let Some(last) = (index..count).find(|&i| !transfers[i].flags.is_linked()) else {
                results[index..].fill(R::LinkedEventFailed);
                results[count - 1] = R::LinkedEventChainOpen;
                break;
            };
            self.create_chain(&transfers[index..=last], &mut results[index..=last], cold)?;
            index = last + 1;
        }
        Ok(results)
    }

    /// Applies `transfers` as one unit, all of them or none: a linked chain spanning the whole
    /// batch. On the first rejection everything is undone, that transfer gets its result
    /// (remembered, if it depended on the ledger's state, so a retry cannot succeed later) and
    /// every other one `linked_event_failed`. `linked` flags inside change nothing; a trailing
    /// one is still an open chain. Fails only when the cold store fails, having undone the
    /// batch's work.
    pub fn create_transfers_atomically<C: ColdStore>(
        &mut self,
        transfers: &[Transfer],
        cold: &mut C,
    ) -> Result<Vec<CreateTransferResult>, C::Error> {
        let mut results = vec![CreateTransferResult::Ok; transfers.len()];
        if transfers.last().is_some_and(|last| last.flags.is_linked()) {
            results.fill(CreateTransferResult::LinkedEventFailed);
            if let Some(last) = results.last_mut() {
                *last = CreateTransferResult::LinkedEventChainOpen;
            }
            return Ok(results);
        }
        let start = self.savepoint();
        match self.create_chain(transfers, &mut results, cold) {
            Ok(()) => Ok(results),
            Err(error) => {
                self.rollback_to(start);
                Err(error)
            }
        }
    }

    fn create_chain<C: ColdStore>(
        &mut self,
        chain: &[Transfer],
        results: &mut [CreateTransferResult],
        cold: &mut C,
    ) -> Result<(), C::Error> {
        let savepoint = self.savepoint();
        for (position, transfer) in chain.iter().enumerate() {
            let result = self.create_transfer(transfer, cold)?;
            if !result.is_success() {
                self.rollback_to(savepoint);
                results.fill(CreateTransferResult::LinkedEventFailed);
                results[position] = result;
                if result.is_transient() {
                    self.record_failure(transfer, result);
                }
                return Ok(());
            }
            results[position] = result;
        }
        Ok(())
    }

    fn create_transfer<C: ColdStore>(
        &mut self,
        transfer: &Transfer,
        cold: &mut C,
    ) -> Result<CreateTransferResult, C::Error> {
        if let Some(rejection) = validate(transfer) {
            return Ok(rejection);
        }
        if let Some(existing) = self.lookup(transfer.id, cold)? {
            return Ok(compare_existing(transfer, &existing));
        }
        if transfer.flags.resolves_pending() {
            self.resolve_pending(transfer, cold)
        } else {
            Ok(self.create_new(transfer))
        }
    }

    fn lookup<C: ColdStore>(
        &self,
        id: TransferId,
        cold: &mut C,
    ) -> Result<Option<TransferRecord>, C::Error> {
        if let Some(record) = self.ledger.transfer_cached(id) {
            return Ok(Some(*record));
        }
        if id.0 >= self.ledger.watermark {
            return Ok(None);
        }
        cold.transfer(id)
    }

    fn create_new(&mut self, transfer: &Transfer) -> CreateTransferResult {
        use CreateTransferResult as R;
        let Some(debit) = self.ledger.accounts.get(&transfer.debit_account_id) else {
            return R::DebitAccountNotFound;
        };
        let Some(credit) = self.ledger.accounts.get(&transfer.credit_account_id) else {
            return R::CreditAccountNotFound;
        };
        if let Some(rejection) = check_new(transfer, debit, credit, self.peek_timestamp()) {
            return rejection;
        }
        let (mut debit_balances, mut credit_balances) = (debit.balances, credit.balances);
        let pending = transfer.flags.is_pending();
        // Checked in `check_new`: none of these additions can exceed AMOUNT_MAX.
        if pending {
            debit_balances.debits_pending += transfer.amount;
            credit_balances.credits_pending += transfer.amount;
        } else {
            debit_balances.debits_posted += transfer.amount;
            credit_balances.credits_posted += transfer.amount;
        }
        let timestamp = self.next_timestamp();
        let ledger = &mut *self.ledger;
        ledger.set_balances(transfer.debit_account_id, debit_balances);
        ledger.set_balances(transfer.credit_account_id, credit_balances);
        let pending_status = if pending {
            PendingStatus::Pending
        } else {
            PendingStatus::None
        };
        ledger.create_record(TransferRecord {
            transfer: Transfer {
                timestamp,
                ..*transfer
            },
            result: R::Ok,
            pending_status,
        });
        R::Ok
    }

    fn resolve_pending<C: ColdStore>(
        &mut self,
        transfer: &Transfer,
        cold: &mut C,
    ) -> Result<CreateTransferResult, C::Error> {
        use CreateTransferResult as R;
        let Some(pending) = self.lookup(transfer.pending_id, cold)? else {
            return Ok(R::PendingTransferNotFound);
        };
        if let Some(rejection) = check_resolution(transfer, &pending, self.peek_timestamp()) {
            return Ok(rejection);
        }
        let p = pending.transfer;
        let ledger = &*self.ledger;
        let (Some(debit), Some(credit)) = (
            ledger.accounts.get(&p.debit_account_id),
            ledger.accounts.get(&p.credit_account_id),
        ) else {
            unreachable!("a pending transfer's accounts exist: accounts are never removed")
        };
        let post = transfer.flags.contains(TransferFlags::POST_PENDING);
        let amount = if post { transfer.amount } else { p.amount };
        if post {
            if debit.flags.contains(AccountFlags::CLOSED) {
                return Ok(R::DebitAccountClosed);
            }
            if credit.flags.contains(AccountFlags::CLOSED) {
                return Ok(R::CreditAccountClosed);
            }
            if u128::from(debit.balances.debits_posted) + u128::from(amount) > AMOUNT_MAX.into() {
                return Ok(R::OverflowsDebitsPosted);
            }
            if u128::from(credit.balances.credits_posted) + u128::from(amount) > AMOUNT_MAX.into() {
                return Ok(R::OverflowsCreditsPosted);
            }
        }
        let (mut debit_balances, mut credit_balances) = (debit.balances, credit.balances);
        debit_balances.debits_pending -= p.amount;
        credit_balances.credits_pending -= p.amount;
        if post {
            debit_balances.debits_posted += amount;
            credit_balances.credits_posted += amount;
        }
        let timestamp = self.next_timestamp();
        let ledger = &mut *self.ledger;
        ledger.set_balances(p.debit_account_id, debit_balances);
        ledger.set_balances(p.credit_account_id, credit_balances);
        let status = if post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        };
        ledger.mark_resolved(pending, status, timestamp);
        let resolved = Transfer {
            debit_account_id: p.debit_account_id,
            credit_account_id: p.credit_account_id,
            amount,
            code: p.code,
            timestamp,
            ..*transfer
        };
        ledger.create_record(TransferRecord {
            transfer: resolved,
            result: R::Ok,
            pending_status: PendingStatus::None,
        });
        Ok(R::Ok)
    }

    /// Remembers a transfer that failed against the ledger's state, so its id answers
    /// `id_already_failed` from now on.
    fn record_failure(&mut self, transfer: &Transfer, result: CreateTransferResult) {
        debug_assert!(result.is_transient());
        let timestamp = self.next_timestamp();
        let ledger = &mut *self.ledger;
        ledger.create_record(TransferRecord {
            transfer: Transfer {
                timestamp,
                ..*transfer
            },
            result,
            pending_status: PendingStatus::None,
        });
    }

    fn expire_pending(&mut self, now: u64) {
        while let Some(&(expires_at, id)) = self.ledger.expiries.first() {
            if expires_at > now {
                break;
            }
            let Some(pending) = self.ledger.transfers.get(&id).copied() else {
                unreachable!("every expiry entry belongs to an unresolved pending transfer")
            };
            // An expiry is an event in the ledger's time like any transfer: recovery replays
            // the ones after the last balance checkpoint.
            let resolved_at = self.next_timestamp();
            let p = pending.transfer;
            let ledger = &mut *self.ledger;
            let (Some(debit), Some(credit)) = (
                ledger.accounts.get(&p.debit_account_id),
                ledger.accounts.get(&p.credit_account_id),
            ) else {
                unreachable!("a pending transfer's accounts exist: accounts are never removed")
            };
            let (mut debit_balances, mut credit_balances) = (debit.balances, credit.balances);
            debit_balances.debits_pending -= p.amount;
            credit_balances.credits_pending -= p.amount;
            ledger.set_balances(p.debit_account_id, debit_balances);
            ledger.set_balances(p.credit_account_id, credit_balances);
            ledger.mark_resolved(pending, PendingStatus::Expired, resolved_at);
        }
    }
}

impl Ledger {
    /// Inserts a new record, undoably, and logs it for persistence.
    fn create_record(&mut self, record: TransferRecord) {
        self.insert_record(record);
        self.undo.push(Undo::TransferCreated(record.transfer.id));
        self.changes.transfers_created.push(record);
    }

    fn mark_resolved(&mut self, pending: TransferRecord, status: PendingStatus, resolved_at: u64) {
        debug_assert_eq!(pending.pending_status, PendingStatus::Pending);
        let id = pending.transfer.id;
        self.insert_record(TransferRecord {
            pending_status: status,
            ..pending
        });
        self.undo.push(Undo::PendingResolved(pending));
        self.changes.pending_resolved.push((id, resolved_at));
    }
}

/// Checks that need only the transfer itself. These rejections are not remembered: the same
/// transfer is rejected the same way every time.
fn validate(transfer: &Transfer) -> Option<CreateTransferResult> {
    use CreateTransferResult as R;
    let flags = transfer.flags;
    if transfer.timestamp != 0 {
        return Some(R::TimestampMustBeZero);
    }
    if transfer.id.is_zero() {
        return Some(R::IdMustNotBeZero);
    }
    if transfer.id.0 == u128::MAX {
        return Some(R::IdMustNotBeIntMax);
    }
    if flags.has_unknown_bits() {
        return Some(R::ReservedFlag);
    }
    let kinds = [
        TransferFlags::PENDING,
        TransferFlags::POST_PENDING,
        TransferFlags::VOID_PENDING,
    ];
    if kinds.iter().filter(|&&kind| flags.contains(kind)).count() > 1 {
        return Some(R::FlagsAreMutuallyExclusive);
    }
    if transfer.amount > AMOUNT_MAX {
        return Some(R::AmountTooLarge);
    }
    if flags.resolves_pending() {
        if transfer.pending_id.is_zero() {
            return Some(R::PendingIdMustNotBeZero);
        }
        if transfer.pending_id == transfer.id {
            return Some(R::PendingIdMustBeDifferent);
        }
        if transfer.timeout_secs != 0 {
            return Some(R::TimeoutReservedForPendingTransfer);
        }
        if flags.contains(TransferFlags::POST_PENDING) && transfer.amount == 0 {
            return Some(R::AmountMustNotBeZero);
        }
        return None;
    }
    if !transfer.pending_id.is_zero() {
        return Some(R::PendingIdMustBeZero);
    }
    if transfer.timeout_secs != 0 && !flags.is_pending() {
        return Some(R::TimeoutReservedForPendingTransfer);
    }
    if transfer.debit_account_id.is_zero() {
        return Some(R::DebitAccountIdMustNotBeZero);
    }
    if transfer.credit_account_id.is_zero() {
        return Some(R::CreditAccountIdMustNotBeZero);
    }
    if transfer.debit_account_id == transfer.credit_account_id {
        return Some(R::AccountsMustBeDifferent);
    }
    if transfer.amount == 0 {
        return Some(R::AmountMustNotBeZero);
    }
    if transfer.code == 0 {
        return Some(R::CodeMustNotBeZero);
    }
    None
}

/// The answer to a transfer whose id the ledger already knows.
fn compare_existing(transfer: &Transfer, existing: &TransferRecord) -> CreateTransferResult {
    use CreateTransferResult as R;
    if existing.result != R::Ok {
        return R::IdAlreadyFailed;
    }
    let stored = &existing.transfer;
    if transfer.flags != stored.flags {
        return R::ExistsWithDifferentFlags;
    }
    // For post and void, zero account ids and code mean "as the pending transfer", and the
    // stored transfer holds those resolved values: a zero matches whatever was resolved.
    let resolves = transfer.flags.resolves_pending();
    let matches_account =
        |given: AccountId, stored: AccountId| given == stored || (resolves && given.is_zero());
    if transfer.pending_id != stored.pending_id {
        return R::ExistsWithDifferentPendingId;
    }
    if !matches_account(transfer.debit_account_id, stored.debit_account_id) {
        return R::ExistsWithDifferentDebitAccountId;
    }
    if !matches_account(transfer.credit_account_id, stored.credit_account_id) {
        return R::ExistsWithDifferentCreditAccountId;
    }
    let void = transfer.flags.contains(TransferFlags::VOID_PENDING);
    if transfer.amount != stored.amount && !(void && transfer.amount == 0) {
        return R::ExistsWithDifferentAmount;
    }
    if transfer.timeout_secs != stored.timeout_secs {
        return R::ExistsWithDifferentTimeout;
    }
    if transfer.currency != stored.currency {
        return R::ExistsWithDifferentCurrency;
    }
    if transfer.code != stored.code && !(resolves && transfer.code == 0) {
        return R::ExistsWithDifferentCode;
    }
    if transfer.reference != stored.reference {
        return R::ExistsWithDifferentReference;
    }
    R::Exists
}

/// Checks of a new single-phase or pending transfer against its two accounts.
fn check_new(
    transfer: &Transfer,
    debit: &Account,
    credit: &Account,
    timestamp: u64,
) -> Option<CreateTransferResult> {
    use CreateTransferResult as R;
    if debit.currency != credit.currency {
        return Some(R::AccountsMustHaveTheSameCurrency);
    }
    if transfer.currency != debit.currency {
        return Some(R::TransferMustHaveTheSameCurrencyAsAccounts);
    }
    if debit.flags.contains(AccountFlags::CLOSED) {
        return Some(R::DebitAccountClosed);
    }
    if credit.flags.contains(AccountFlags::CLOSED) {
        return Some(R::CreditAccountClosed);
    }
    let amount = u128::from(transfer.amount);
    let max = u128::from(AMOUNT_MAX);
    let (d, c) = (&debit.balances, &credit.balances);
    let pending = transfer.flags.is_pending();
    if pending {
        if u128::from(d.debits_pending) + amount > max {
            return Some(R::OverflowsDebitsPending);
        }
        if u128::from(c.credits_pending) + amount > max {
            return Some(R::OverflowsCreditsPending);
        }
    } else {
        if u128::from(d.debits_posted) + amount > max {
            return Some(R::OverflowsDebitsPosted);
        }
        if u128::from(c.credits_posted) + amount > max {
            return Some(R::OverflowsCreditsPosted);
        }
    }
    let debits = u128::from(d.debits_pending) + u128::from(d.debits_posted) + amount;
    let credits = u128::from(c.credits_pending) + u128::from(c.credits_posted) + amount;
    if debits > max {
        return Some(R::OverflowsDebits);
    }
    if credits > max {
        return Some(R::OverflowsCredits);
    }
    if pending {
        let timeout_ns = u128::from(transfer.timeout_secs) * u128::from(NANOS_PER_SEC);
        if u128::from(timestamp) + timeout_ns > u128::from(i64::MAX as u64) {
            return Some(R::OverflowsTimeout);
        }
    }
    if debit
        .flags
        .contains(AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS)
        && debits > u128::from(d.credits_posted)
    {
        return Some(R::ExceedsCredits);
    }
    if credit
        .flags
        .contains(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS)
        && credits > u128::from(c.debits_posted)
    {
        return Some(R::ExceedsDebits);
    }
    None
}

/// Checks of a post or void against the pending transfer it resolves.
fn check_resolution(
    transfer: &Transfer,
    pending: &TransferRecord,
    timestamp: u64,
) -> Option<CreateTransferResult> {
    use CreateTransferResult as R;
    let p = &pending.transfer;
    if pending.result != R::Ok || !p.flags.is_pending() {
        return Some(R::PendingTransferNotPending);
    }
    match pending.pending_status {
        PendingStatus::Posted => return Some(R::PendingTransferAlreadyPosted),
        PendingStatus::Voided => return Some(R::PendingTransferAlreadyVoided),
        PendingStatus::Expired => return Some(R::PendingTransferExpired),
        PendingStatus::Pending | PendingStatus::None => {}
    }
    if !transfer.debit_account_id.is_zero() && transfer.debit_account_id != p.debit_account_id {
        return Some(R::PendingTransferHasDifferentDebitAccountId);
    }
    if !transfer.credit_account_id.is_zero() && transfer.credit_account_id != p.credit_account_id {
        return Some(R::PendingTransferHasDifferentCreditAccountId);
    }
    if transfer.currency != p.currency {
        return Some(R::PendingTransferHasDifferentCurrency);
    }
    if transfer.code != 0 && transfer.code != p.code {
        return Some(R::PendingTransferHasDifferentCode);
    }
    if transfer.flags.contains(TransferFlags::POST_PENDING) {
        if transfer.amount > p.amount {
            return Some(R::ExceedsPendingTransferAmount);
        }
    } else if transfer.amount != 0 && transfer.amount != p.amount {
        return Some(R::PendingTransferHasDifferentAmount);
    }
    if pending.expires_at().is_some_and(|at| at <= timestamp) {
        // Released at the start of the next batch; refused from this instant on.
        return Some(R::PendingTransferExpired);
    }
    None
}

/// What a batch changed so far, read back from the ledger's current state: the caller writes
/// these in one database transaction, then commits the batch.
#[derive(Debug)]
pub struct Changes<'a> {
    ledger: &'a Ledger,
}

impl<'a> Changes<'a> {
    pub fn is_empty(&self) -> bool {
        let changes = &self.ledger.changes;
        changes.accounts_created.is_empty()
            && changes.accounts_touched.is_empty()
            && changes.transfers_created.is_empty()
            && changes.pending_resolved.is_empty()
    }

    /// New accounts, with their balances as they are now.
    pub fn accounts_created(&self) -> impl Iterator<Item = &'a Account> + 'a {
        let ledger = self.ledger;
        ledger
            .changes
            .accounts_created
            .iter()
            .filter_map(move |id| ledger.accounts.get(id))
    }

    /// Accounts that existed before the batch and whose balances it changed, each once, in id
    /// order (a stable lock order for databases that lock rows).
    pub fn accounts_updated(&self) -> Vec<&'a Account> {
        let ledger = self.ledger;
        let created: std::collections::HashSet<&AccountId, crate::hash::IdHashBuilder> =
            ledger.changes.accounts_created.iter().collect();
        let mut ids = ledger.changes.accounts_touched.clone();
        ids.sort_unstable();
        ids.dedup();
        ids.iter()
            .filter(|id| !created.contains(id))
            .filter_map(|id| ledger.accounts.get(id))
            .collect()
    }

    /// New transfer records (successful and remembered failures) in creation order, as they
    /// were created. A pending transfer created and resolved in the same batch is also in
    /// [`Changes::pending_resolved`]: write these first, then apply those.
    pub fn transfers_created(&self) -> impl Iterator<Item = &'a TransferRecord> + 'a {
        self.ledger.changes.transfers_created.iter()
    }

    pub fn transfers_created_count(&self) -> usize {
        self.ledger.changes.transfers_created.len()
    }

    /// Pending transfers this batch posted, voided or expired, with their new status and the
    /// ledger timestamp of the resolution.
    pub fn pending_resolved(&self) -> impl Iterator<Item = (&'a TransferRecord, u64)> + 'a {
        let ledger = self.ledger;
        ledger
            .changes
            .pending_resolved
            .iter()
            .filter_map(move |(id, at)| ledger.transfers.get(id).map(|record| (record, *at)))
    }
}
