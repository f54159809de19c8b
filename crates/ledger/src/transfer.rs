//! Transfers: single-phase, pending (two-phase), post pending, void pending; linked chains.

use std::fmt;

use crate::account::results;
use crate::id::{AccountId, TransferId};
use crate::money::{Currency, Money, MoneyError};

/// Kind and chaining bits of a transfer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TransferFlags(pub u16);

impl TransferFlags {
    pub const NONE: TransferFlags = TransferFlags(0);
    /// This transfer and the next one in the batch commit together or not at all.
    pub const LINKED: TransferFlags = TransferFlags(1 << 0);
    /// Reserve the amount (two-phase); a later post or void resolves it.
    pub const PENDING: TransferFlags = TransferFlags(1 << 1);
    /// Resolve the pending transfer `pending_id` by moving (part of) its amount.
    pub const POST_PENDING: TransferFlags = TransferFlags(1 << 2);
    /// Resolve the pending transfer `pending_id` by releasing its amount.
    pub const VOID_PENDING: TransferFlags = TransferFlags(1 << 3);
    const KNOWN: u16 = 0b1111;

    pub fn contains(self, other: TransferFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: TransferFlags) -> TransferFlags {
        TransferFlags(self.0 | other.0)
    }

    pub fn has_unknown_bits(self) -> bool {
        self.0 & !TransferFlags::KNOWN != 0
    }

    pub fn is_linked(self) -> bool {
        self.contains(TransferFlags::LINKED)
    }

    pub fn is_pending(self) -> bool {
        self.contains(TransferFlags::PENDING)
    }

    /// Post or void: resolves an earlier pending transfer.
    pub fn resolves_pending(self) -> bool {
        self.contains(TransferFlags::POST_PENDING) || self.contains(TransferFlags::VOID_PENDING)
    }

    pub fn names(self) -> Vec<&'static str> {
        TransferFlags::NAMED
            .iter()
            .filter(|(flag, _)| self.contains(*flag))
            .map(|(_, n)| *n)
            .collect()
    }

    pub fn from_name(name: &str) -> Option<TransferFlags> {
        TransferFlags::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(flag, _)| *flag)
    }

    const NAMED: &'static [(TransferFlags, &'static str)] = &[
        (TransferFlags::LINKED, "linked"),
        (TransferFlags::PENDING, "pending"),
        (TransferFlags::POST_PENDING, "post_pending"),
        (TransferFlags::VOID_PENDING, "void_pending"),
    ];
}

impl fmt::Debug for TransferFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TransferFlags({:?})", self.names())
    }
}

/// A movement of `amount` minor units from `debit_account_id` to `credit_account_id`.
///
/// For post and void, the account ids and `code` may be zero ("as the pending transfer");
/// the stored transfer always carries the resolved values.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transfer {
    /// Chosen by the caller; the idempotency key.
    pub id: TransferId,
    pub debit_account_id: AccountId,
    pub credit_account_id: AccountId,
    /// Minor units of `currency`. For a void: 0 or the pending amount (a void is always whole).
    pub amount: u64,
    /// For post and void: the pending transfer being resolved. Otherwise zero.
    pub pending_id: TransferId,
    /// For pending transfers: seconds until the reservation expires by itself; 0 = never.
    pub timeout_secs: u32,
    pub currency: Currency,
    /// What the movement is (payment, refund, top-up …), chosen by the caller; not zero.
    pub code: u16,
    pub flags: TransferFlags,
    /// Opaque reference chosen by the caller (e.g. the order id).
    pub reference: u128,
    /// Nanoseconds since the Unix epoch, assigned by the ledger; 0 on input.
    pub timestamp: u64,
}

impl Transfer {
    /// A single-phase transfer with no reference; set other fields with struct update syntax.
    pub fn new(
        id: TransferId,
        debit_account_id: AccountId,
        credit_account_id: AccountId,
        amount: u64,
        currency: Currency,
        code: u16,
    ) -> Transfer {
        Transfer {
            id,
            debit_account_id,
            credit_account_id,
            amount,
            pending_id: TransferId::ZERO,
            timeout_secs: 0,
            currency,
            code,
            flags: TransferFlags::NONE,
            reference: 0,
            timestamp: 0,
        }
    }

    /// [`Transfer::new`] of an amount of money: its currency is the transfer's, and a negative
    /// amount is refused rather than wrapped.
    pub fn of(
        id: TransferId,
        debit_account_id: AccountId,
        credit_account_id: AccountId,
        amount: Money,
        code: u16,
    ) -> Result<Transfer, MoneyError> {
        Ok(Transfer::new(
            id,
            debit_account_id,
            credit_account_id,
            amount.unsigned()?,
            amount.currency(),
            code,
        ))
    }
}

/// Where a pending transfer stands.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum PendingStatus {
    /// Not a pending transfer (single-phase, post, void, or a failed attempt).
    None = 0,
    Pending = 1,
    Posted = 2,
    Voided = 3,
    Expired = 4,
}

impl PendingStatus {
    pub fn as_u8(self) -> u8 {
        self as u8
    }

    pub fn from_u8(value: u8) -> Option<PendingStatus> {
        [
            PendingStatus::None,
            PendingStatus::Pending,
            PendingStatus::Posted,
            PendingStatus::Voided,
            PendingStatus::Expired,
        ]
        .get(usize::from(value))
        .copied()
    }

    pub fn name(self) -> &'static str {
        match self {
            PendingStatus::None => "none",
            PendingStatus::Pending => "pending",
            PendingStatus::Posted => "posted",
            PendingStatus::Voided => "voided",
            PendingStatus::Expired => "expired",
        }
    }
}

/// A transfer as the ledger remembers it: what was asked (resolved for post and void), how it
/// ended, and, for a pending transfer, where it stands now.
///
/// Failures that depend on the ledger's state (an account not found, insufficient credits …)
/// are remembered too, so that re-submitting the same id answers `id_already_failed` instead of
/// succeeding later: one id, one outcome, forever.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TransferRecord {
    pub transfer: Transfer,
    pub result: CreateTransferResult,
    pub pending_status: PendingStatus,
}

impl TransferRecord {
    pub fn is_success(&self) -> bool {
        self.result == CreateTransferResult::Ok
    }

    /// When this pending transfer expires, in ledger nanoseconds, if it has a timeout.
    pub fn expires_at(&self) -> Option<u64> {
        let transfer = &self.transfer;
        if !transfer.flags.is_pending() || transfer.timeout_secs == 0 {
            return None;
        }
        // Checked when the transfer was created (overflows_timeout), so this cannot overflow
        // for a stored record; saturate defensively for records read back from storage.
        Some(
            transfer
                .timestamp
                .saturating_add(u64::from(transfer.timeout_secs) * NANOS_PER_SEC),
        )
    }
}

pub(crate) const NANOS_PER_SEC: u64 = 1_000_000_000;

results! {
    /// The outcome of creating one transfer. Append new variants at the end: storage keeps the
    /// position ([`CreateTransferResult::as_u16`]).
    CreateTransferResult {
        Ok => "ok",
        LinkedEventFailed => "linked_event_failed",
        LinkedEventChainOpen => "linked_event_chain_open",
        TimestampMustBeZero => "timestamp_must_be_zero",
        IdMustNotBeZero => "id_must_not_be_zero",
        IdMustNotBeIntMax => "id_must_not_be_int_max",
        ReservedFlag => "reserved_flag",
        FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
        DebitAccountIdMustNotBeZero => "debit_account_id_must_not_be_zero",
        CreditAccountIdMustNotBeZero => "credit_account_id_must_not_be_zero",
        AccountsMustBeDifferent => "accounts_must_be_different",
        PendingIdMustBeZero => "pending_id_must_be_zero",
        PendingIdMustNotBeZero => "pending_id_must_not_be_zero",
        PendingIdMustBeDifferent => "pending_id_must_be_different",
        TimeoutReservedForPendingTransfer => "timeout_reserved_for_pending_transfer",
        AmountMustNotBeZero => "amount_must_not_be_zero",
        AmountTooLarge => "amount_too_large",
        CodeMustNotBeZero => "code_must_not_be_zero",
        Exists => "exists",
        ExistsWithDifferentFlags => "exists_with_different_flags",
        ExistsWithDifferentDebitAccountId => "exists_with_different_debit_account_id",
        ExistsWithDifferentCreditAccountId => "exists_with_different_credit_account_id",
        ExistsWithDifferentAmount => "exists_with_different_amount",
        ExistsWithDifferentPendingId => "exists_with_different_pending_id",
        ExistsWithDifferentTimeout => "exists_with_different_timeout",
        ExistsWithDifferentCurrency => "exists_with_different_currency",
        ExistsWithDifferentCode => "exists_with_different_code",
        ExistsWithDifferentReference => "exists_with_different_reference",
        IdAlreadyFailed => "id_already_failed",
        DebitAccountNotFound => "debit_account_not_found",
        CreditAccountNotFound => "credit_account_not_found",
        AccountsMustHaveTheSameCurrency => "accounts_must_have_the_same_currency",
        TransferMustHaveTheSameCurrencyAsAccounts => "transfer_must_have_the_same_currency_as_accounts",
        DebitAccountClosed => "debit_account_closed",
        CreditAccountClosed => "credit_account_closed",
        PendingTransferNotFound => "pending_transfer_not_found",
        PendingTransferNotPending => "pending_transfer_not_pending",
        PendingTransferHasDifferentDebitAccountId => "pending_transfer_has_different_debit_account_id",
        PendingTransferHasDifferentCreditAccountId => "pending_transfer_has_different_credit_account_id",
        PendingTransferHasDifferentCurrency => "pending_transfer_has_different_currency",
        PendingTransferHasDifferentCode => "pending_transfer_has_different_code",
        PendingTransferHasDifferentAmount => "pending_transfer_has_different_amount",
        ExceedsPendingTransferAmount => "exceeds_pending_transfer_amount",
        PendingTransferAlreadyPosted => "pending_transfer_already_posted",
        PendingTransferAlreadyVoided => "pending_transfer_already_voided",
        PendingTransferExpired => "pending_transfer_expired",
        OverflowsDebitsPending => "overflows_debits_pending",
        OverflowsCreditsPending => "overflows_credits_pending",
        OverflowsDebitsPosted => "overflows_debits_posted",
        OverflowsCreditsPosted => "overflows_credits_posted",
        OverflowsDebits => "overflows_debits",
        OverflowsCredits => "overflows_credits",
        OverflowsTimeout => "overflows_timeout",
        ExceedsCredits => "exceeds_credits",
        ExceedsDebits => "exceeds_debits",
    }
}

impl CreateTransferResult {
    /// The transfer is in the ledger as asked (created now, or before with the same fields).
    pub fn is_success(self) -> bool {
        matches!(
            self,
            CreateTransferResult::Ok | CreateTransferResult::Exists
        )
    }

    /// A rejection found after the ledger looked at its state (rather than at the transfer
    /// alone). The ledger remembers these by id so a retry cannot succeed later: the answer to
    /// an id never changes.
    pub fn is_transient(self) -> bool {
        use CreateTransferResult as R;
        matches!(
            self,
            R::DebitAccountNotFound
                | R::CreditAccountNotFound
                | R::AccountsMustHaveTheSameCurrency
                | R::TransferMustHaveTheSameCurrencyAsAccounts
                | R::DebitAccountClosed
                | R::CreditAccountClosed
                | R::PendingTransferNotFound
                | R::PendingTransferNotPending
                | R::PendingTransferAlreadyPosted
                | R::PendingTransferAlreadyVoided
                | R::PendingTransferExpired
                | R::PendingTransferHasDifferentDebitAccountId
                | R::PendingTransferHasDifferentCreditAccountId
                | R::PendingTransferHasDifferentCurrency
                | R::PendingTransferHasDifferentCode
                | R::PendingTransferHasDifferentAmount
                | R::ExceedsPendingTransferAmount
                | R::OverflowsDebitsPending
                | R::OverflowsCreditsPending
                | R::OverflowsDebitsPosted
                | R::OverflowsCreditsPosted
                | R::OverflowsDebits
                | R::OverflowsCredits
                | R::OverflowsTimeout
                | R::ExceedsCredits
                | R::ExceedsDebits
        )
    }
}
