//! A deliberately simple, independent model of the ledger's rules: ordered maps, linear scans,
//! and a whole-state clone to undo a failed linked chain. No cache, no undo log, no watermark.
//! The real ledger must agree with it on every result and every balance.

use std::collections::BTreeMap;

use cashless_ledger::{
    AMOUNT_MAX, Account, AccountFlags, CreateAccountResult as AR, CreateTransferResult as R,
    PendingStatus, Transfer, TransferFlags, TransferRecord,
};

const NANOS: u64 = 1_000_000_000;

#[derive(Clone, Debug, Default)]
pub struct Model {
    pub accounts: BTreeMap<u128, Account>,
    pub records: BTreeMap<u128, TransferRecord>,
    pub timestamp: u64,
}

fn expires_at(record: &TransferRecord) -> Option<u64> {
    let t = &record.transfer;
    (t.flags.contains(TransferFlags::PENDING) && t.timeout_secs > 0)
        .then(|| t.timestamp + u64::from(t.timeout_secs) * NANOS)
}

impl Model {
    fn tick(&mut self, now: u64) -> u64 {
        self.timestamp = now.max(self.timestamp + 1);
        self.timestamp
    }

    fn peek(&self, now: u64) -> u64 {
        now.max(self.timestamp + 1)
    }

    pub fn begin(&mut self, now: u64) {
        let expired: Vec<u128> = self
            .records
            .values()
            .filter(|r| r.pending_status == PendingStatus::Pending)
            .filter(|r| expires_at(r).is_some_and(|at| at <= now))
            .map(|r| r.transfer.id.0)
            .collect();
        for id in expired {
            self.tick(now); // an expiry takes a ledger timestamp, as a transfer does
            let t = self.records[&id].transfer;
            self.accounts
                .get_mut(&t.debit_account_id.0)
                .unwrap()
                .balances
                .debits_pending -= t.amount;
            self.accounts
                .get_mut(&t.credit_account_id.0)
                .unwrap()
                .balances
                .credits_pending -= t.amount;
            self.records.get_mut(&id).unwrap().pending_status = PendingStatus::Expired;
        }
    }

    pub fn create_accounts(&mut self, accounts: &[Account], now: u64) -> Vec<AR> {
        accounts
            .iter()
            .map(|a| self.create_account(a, now))
            .collect()
    }

    fn create_account(&mut self, a: &Account, now: u64) -> AR {
        let both = AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS
            .union(AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS);
        let checks = [
            (a.timestamp != 0, AR::TimestampMustBeZero),
            (a.id.0 == 0, AR::IdMustNotBeZero),
            (a.id.0 == u128::MAX, AR::IdMustNotBeIntMax),
            (a.flags.0 & !0b111 != 0, AR::ReservedFlag),
            (a.flags.0 & both.0 == both.0, AR::FlagsAreMutuallyExclusive),
            (a.balances != Default::default(), AR::BalancesMustBeZero),
        ];
        if let Some((_, r)) = checks.iter().find(|(bad, _)| *bad) {
            return *r;
        }
        if let Some(e) = self.accounts.get(&a.id.0) {
            let differences = [
                (e.flags != a.flags, AR::ExistsWithDifferentFlags),
                (e.currency != a.currency, AR::ExistsWithDifferentCurrency),
                (e.kind != a.kind, AR::ExistsWithDifferentKind),
                (e.reference != a.reference, AR::ExistsWithDifferentReference),
            ];
            return differences
                .iter()
                .find(|(d, _)| *d)
                .map_or(AR::Exists, |(_, r)| *r);
        }
        let timestamp = self.tick(now);
        self.accounts.insert(a.id.0, Account { timestamp, ..*a });
        AR::Ok
    }

    pub fn create_transfers(&mut self, transfers: &[Transfer], now: u64) -> Vec<R> {
        let n = transfers.len();
        let mut results = vec![R::Ok; n];
        let mut i = 0;
        while i < n {
            let linked = |k: usize| transfers[k].flags.0 & 1 == 1;
            if !linked(i) {
                results[i] = self.one_recorded(&transfers[i], now);
                i += 1;
                continue;
            }
            let Some(end) = (i..n).find(|&k| !linked(k)) else {
                for r in &mut results[i..] {
                    *r = R::LinkedEventFailed;
                }
                results[n - 1] = R::LinkedEventChainOpen;
                break;
            };
            let snapshot = self.clone();
            for k in i..=end {
                let r = self.one(&transfers[k], now);
                results[k] = r;
                if r != R::Ok && r != R::Exists {
                    *self = snapshot;
                    for other in &mut results[i..=end] {
                        *other = R::LinkedEventFailed;
                    }
                    results[k] = r;
                    if r.is_transient() {
                        self.record_failure(&transfers[k], r, now);
                    }
                    break;
                }
            }
            i = end + 1;
        }
        results
    }

    /// The whole batch as one chain: all or nothing.
    pub fn create_transfers_atomically(&mut self, transfers: &[Transfer], now: u64) -> Vec<R> {
        let n = transfers.len();
        let mut results = vec![R::Ok; n];
        if n > 0 && transfers[n - 1].flags.0 & 1 == 1 {
            results.fill(R::LinkedEventFailed);
            results[n - 1] = R::LinkedEventChainOpen;
            return results;
        }
        let snapshot = self.clone();
        for (k, t) in transfers.iter().enumerate() {
            let r = self.one(t, now);
            if r != R::Ok && r != R::Exists {
                *self = snapshot;
                results.fill(R::LinkedEventFailed);
                results[k] = r;
                if r.is_transient() {
                    self.record_failure(t, r, now);
                }
                return results;
            }
            results[k] = r;
        }
        results
    }

    fn one_recorded(&mut self, t: &Transfer, now: u64) -> R {
        let r = self.one(t, now);
        if r.is_transient() {
            self.record_failure(t, r, now);
        }
        r
    }

    fn record_failure(&mut self, t: &Transfer, r: R, now: u64) {
        let timestamp = self.tick(now);
        let record = TransferRecord {
            transfer: Transfer { timestamp, ..*t },
            result: r,
            pending_status: PendingStatus::None,
        };
        self.records.insert(t.id.0, record);
    }

    fn one(&mut self, t: &Transfer, now: u64) -> R {
        let f = t.flags.0;
        let (is_pending, is_post, is_void) = (f & 2 != 0, f & 4 != 0, f & 8 != 0);
        let resolving = is_post || is_void;
        let common = [
            (t.timestamp != 0, R::TimestampMustBeZero),
            (t.id.0 == 0, R::IdMustNotBeZero),
            (t.id.0 == u128::MAX, R::IdMustNotBeIntMax),
            (f & !0b1111 != 0, R::ReservedFlag),
            (
                (is_pending as u8 + is_post as u8 + is_void as u8) > 1,
                R::FlagsAreMutuallyExclusive,
            ),
            (t.amount > AMOUNT_MAX, R::AmountTooLarge),
        ];
        if let Some((_, r)) = common.iter().find(|(bad, _)| *bad) {
            return *r;
        }
        let specific: Vec<(bool, R)> = if resolving {
            vec![
                (t.pending_id.0 == 0, R::PendingIdMustNotBeZero),
                (t.pending_id == t.id, R::PendingIdMustBeDifferent),
                (t.timeout_secs != 0, R::TimeoutReservedForPendingTransfer),
                (is_post && t.amount == 0, R::AmountMustNotBeZero),
            ]
        } else {
            vec![
                (t.pending_id.0 != 0, R::PendingIdMustBeZero),
                (
                    t.timeout_secs != 0 && !is_pending,
                    R::TimeoutReservedForPendingTransfer,
                ),
                (t.debit_account_id.0 == 0, R::DebitAccountIdMustNotBeZero),
                (t.credit_account_id.0 == 0, R::CreditAccountIdMustNotBeZero),
                (
                    t.debit_account_id == t.credit_account_id,
                    R::AccountsMustBeDifferent,
                ),
                (t.amount == 0, R::AmountMustNotBeZero),
                (t.code == 0, R::CodeMustNotBeZero),
            ]
        };
        if let Some((_, r)) = specific.iter().find(|(bad, _)| *bad) {
            return *r;
        }
        if let Some(existing) = self.records.get(&t.id.0) {
            return exists_answer(t, existing);
        }
        if resolving {
            self.resolve(t, is_post, now)
        } else {
            self.create(t, is_pending, now)
        }
    }

    fn create(&mut self, t: &Transfer, is_pending: bool, now: u64) -> R {
        let Some(d) = self.accounts.get(&t.debit_account_id.0).copied() else {
            return R::DebitAccountNotFound;
        };
        let Some(c) = self.accounts.get(&t.credit_account_id.0).copied() else {
            return R::CreditAccountNotFound;
        };
        let max = u128::from(AMOUNT_MAX);
        let amount = u128::from(t.amount);
        let (db, cb) = (d.balances, c.balances);
        let debits = u128::from(db.debits_pending) + u128::from(db.debits_posted) + amount;
        let credits = u128::from(cb.credits_pending) + u128::from(cb.credits_posted) + amount;
        let timeout_end =
            u128::from(self.peek(now)) + u128::from(t.timeout_secs) * u128::from(NANOS);
        let checks = [
            (d.currency != c.currency, R::AccountsMustHaveTheSameCurrency),
            (
                t.currency != d.currency,
                R::TransferMustHaveTheSameCurrencyAsAccounts,
            ),
            (d.flags.0 & 4 != 0, R::DebitAccountClosed),
            (c.flags.0 & 4 != 0, R::CreditAccountClosed),
            (
                is_pending && u128::from(db.debits_pending) + amount > max,
                R::OverflowsDebitsPending,
            ),
            (
                is_pending && u128::from(cb.credits_pending) + amount > max,
                R::OverflowsCreditsPending,
            ),
            (
                !is_pending && u128::from(db.debits_posted) + amount > max,
                R::OverflowsDebitsPosted,
            ),
            (
                !is_pending && u128::from(cb.credits_posted) + amount > max,
                R::OverflowsCreditsPosted,
            ),
            (debits > max, R::OverflowsDebits),
            (credits > max, R::OverflowsCredits),
            (is_pending && timeout_end > max, R::OverflowsTimeout),
            (
                d.flags.0 & 1 != 0 && debits > u128::from(db.credits_posted),
                R::ExceedsCredits,
            ),
            (
                c.flags.0 & 2 != 0 && credits > u128::from(cb.debits_posted),
                R::ExceedsDebits,
            ),
        ];
        if let Some((_, r)) = checks.iter().find(|(bad, _)| *bad) {
            return *r;
        }
        let timestamp = self.tick(now);
        let (dm, cm) = (t.debit_account_id.0, t.credit_account_id.0);
        if is_pending {
            self.accounts.get_mut(&dm).unwrap().balances.debits_pending += t.amount;
            self.accounts.get_mut(&cm).unwrap().balances.credits_pending += t.amount;
        } else {
            self.accounts.get_mut(&dm).unwrap().balances.debits_posted += t.amount;
            self.accounts.get_mut(&cm).unwrap().balances.credits_posted += t.amount;
        }
        let pending_status = if is_pending {
            PendingStatus::Pending
        } else {
            PendingStatus::None
        };
        let record = TransferRecord {
            transfer: Transfer { timestamp, ..*t },
            result: R::Ok,
            pending_status,
        };
        self.records.insert(t.id.0, record);
        R::Ok
    }

    fn resolve(&mut self, t: &Transfer, is_post: bool, now: u64) -> R {
        let Some(p) = self.records.get(&t.pending_id.0).copied() else {
            return R::PendingTransferNotFound;
        };
        if p.result != R::Ok || p.transfer.flags.0 & 2 == 0 {
            return R::PendingTransferNotPending;
        }
        match p.pending_status {
            PendingStatus::Posted => return R::PendingTransferAlreadyPosted,
            PendingStatus::Voided => return R::PendingTransferAlreadyVoided,
            PendingStatus::Expired => return R::PendingTransferExpired,
            _ => {}
        }
        let pt = p.transfer;
        let d = self.accounts[&pt.debit_account_id.0];
        let c = self.accounts[&pt.credit_account_id.0];
        let amount = if is_post { t.amount } else { pt.amount };
        let max = u128::from(AMOUNT_MAX);
        let checks = [
            (
                t.debit_account_id.0 != 0 && t.debit_account_id != pt.debit_account_id,
                R::PendingTransferHasDifferentDebitAccountId,
            ),
            (
                t.credit_account_id.0 != 0 && t.credit_account_id != pt.credit_account_id,
                R::PendingTransferHasDifferentCreditAccountId,
            ),
            (
                t.currency != pt.currency,
                R::PendingTransferHasDifferentCurrency,
            ),
            (
                t.code != 0 && t.code != pt.code,
                R::PendingTransferHasDifferentCode,
            ),
            (
                is_post && t.amount > pt.amount,
                R::ExceedsPendingTransferAmount,
            ),
            (
                !is_post && t.amount != 0 && t.amount != pt.amount,
                R::PendingTransferHasDifferentAmount,
            ),
            (
                expires_at(&p).is_some_and(|at| at <= self.peek(now)),
                R::PendingTransferExpired,
            ),
            (is_post && d.flags.0 & 4 != 0, R::DebitAccountClosed),
            (is_post && c.flags.0 & 4 != 0, R::CreditAccountClosed),
            (
                is_post && u128::from(d.balances.debits_posted) + u128::from(amount) > max,
                R::OverflowsDebitsPosted,
            ),
            (
                is_post && u128::from(c.balances.credits_posted) + u128::from(amount) > max,
                R::OverflowsCreditsPosted,
            ),
        ];
        if let Some((_, r)) = checks.iter().find(|(bad, _)| *bad) {
            return *r;
        }
        self.apply_resolution(t, &pt, amount, is_post, now);
        R::Ok
    }

    /// Moves the pending amount out of pending (and `amount` into posted for a post), and
    /// records the resolution.
    fn apply_resolution(
        &mut self,
        t: &Transfer,
        pt: &Transfer,
        amount: u64,
        is_post: bool,
        now: u64,
    ) {
        let timestamp = self.tick(now);
        {
            let d = &mut self
                .accounts
                .get_mut(&pt.debit_account_id.0)
                .unwrap()
                .balances;
            d.debits_pending -= pt.amount;
            if is_post {
                d.debits_posted += amount;
            }
        }
        {
            let c = &mut self
                .accounts
                .get_mut(&pt.credit_account_id.0)
                .unwrap()
                .balances;
            c.credits_pending -= pt.amount;
            if is_post {
                c.credits_posted += amount;
            }
        }
        self.records.get_mut(&pt.id.0).unwrap().pending_status = if is_post {
            PendingStatus::Posted
        } else {
            PendingStatus::Voided
        };
        let stored = Transfer {
            debit_account_id: pt.debit_account_id,
            credit_account_id: pt.credit_account_id,
            amount,
            code: pt.code,
            timestamp,
            ..*t
        };
        self.records.insert(
            t.id.0,
            TransferRecord {
                transfer: stored,
                result: R::Ok,
                pending_status: PendingStatus::None,
            },
        );
    }
}

fn exists_answer(t: &Transfer, e: &TransferRecord) -> R {
    if e.result != R::Ok {
        return R::IdAlreadyFailed;
    }
    let s = &e.transfer;
    let resolving = t.flags.0 & 0b1100 != 0;
    let void = t.flags.0 & 8 != 0;
    let differences = [
        (t.flags != s.flags, R::ExistsWithDifferentFlags),
        (
            t.pending_id != s.pending_id,
            R::ExistsWithDifferentPendingId,
        ),
        (
            t.debit_account_id != s.debit_account_id && !(resolving && t.debit_account_id.0 == 0),
            R::ExistsWithDifferentDebitAccountId,
        ),
        (
            t.credit_account_id != s.credit_account_id
                && !(resolving && t.credit_account_id.0 == 0),
            R::ExistsWithDifferentCreditAccountId,
        ),
        (
            t.amount != s.amount && !(void && t.amount == 0),
            R::ExistsWithDifferentAmount,
        ),
        (
            t.timeout_secs != s.timeout_secs,
            R::ExistsWithDifferentTimeout,
        ),
        (t.currency != s.currency, R::ExistsWithDifferentCurrency),
        (
            t.code != s.code && !(resolving && t.code == 0),
            R::ExistsWithDifferentCode,
        ),
        (t.reference != s.reference, R::ExistsWithDifferentReference),
    ];
    differences
        .iter()
        .find(|(d, _)| *d)
        .map_or(R::Exists, |(_, r)| *r)
}
