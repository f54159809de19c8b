//! Ledger accounts: a currency, a kind, constraint flags and four balances.

use std::fmt;

use crate::id::AccountId;
use crate::money::Currency;

/// What an account is for. The rules treat every kind alike; the kind tells people and reports
/// which side of the platform's books the account sits on.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
#[repr(u16)]
pub enum AccountKind {
    /// A consumer's stored balance (a liability of the platform).
    Wallet = 1,
    /// What the platform owes a merchant until settlement.
    Merchant = 2,
    /// Money held for an online order until the buyer confirms receipt.
    Escrow = 3,
    /// The mirror of money at a bank: debited on top-up, credited on payout.
    Clearing = 4,
    /// Fee income.
    Fee = 5,
    /// What the platform owes a biller or transit operator.
    Payable = 6,
    /// Currency conversion position.
    Fx = 7,
    /// The operator's own funds and adjustments.
    Operator = 8,
    /// Money parked while an outside party confirms (payouts in flight, disputes).
    Suspense = 9,
}

impl AccountKind {
    pub const ALL: &'static [AccountKind] = &[
        AccountKind::Wallet,
        AccountKind::Merchant,
        AccountKind::Escrow,
        AccountKind::Clearing,
        AccountKind::Fee,
        AccountKind::Payable,
        AccountKind::Fx,
        AccountKind::Operator,
        AccountKind::Suspense,
    ];

    pub fn as_u16(self) -> u16 {
        self as u16
    }

    pub fn from_u16(value: u16) -> Option<AccountKind> {
        AccountKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.as_u16() == value)
    }

    pub fn name(self) -> &'static str {
        match self {
            AccountKind::Wallet => "wallet",
            AccountKind::Merchant => "merchant",
            AccountKind::Escrow => "escrow",
            AccountKind::Clearing => "clearing",
            AccountKind::Fee => "fee",
            AccountKind::Payable => "payable",
            AccountKind::Fx => "fx",
            AccountKind::Operator => "operator",
            AccountKind::Suspense => "suspense",
        }
    }

    pub fn from_name(name: &str) -> Option<AccountKind> {
        AccountKind::ALL
            .iter()
            .copied()
            .find(|kind| kind.name() == name)
    }
}

impl fmt::Display for AccountKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Constraint and state bits of an account.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct AccountFlags(pub u16);

impl AccountFlags {
    pub const NONE: AccountFlags = AccountFlags(0);
    /// debits_pending + debits_posted ≤ credits_posted: a balance that cannot go below zero.
    pub const DEBITS_MUST_NOT_EXCEED_CREDITS: AccountFlags = AccountFlags(1 << 0);
    /// credits_pending + credits_posted ≤ debits_posted.
    pub const CREDITS_MUST_NOT_EXCEED_DEBITS: AccountFlags = AccountFlags(1 << 1);
    /// No new transfers in or out; pending transfers may still be voided.
    pub const CLOSED: AccountFlags = AccountFlags(1 << 2);
    const KNOWN: u16 = 0b111;

    pub fn contains(self, other: AccountFlags) -> bool {
        self.0 & other.0 == other.0
    }

    pub fn union(self, other: AccountFlags) -> AccountFlags {
        AccountFlags(self.0 | other.0)
    }

    pub fn has_unknown_bits(self) -> bool {
        self.0 & !AccountFlags::KNOWN != 0
    }

    /// The names of the set bits, for JSON.
    pub fn names(self) -> Vec<&'static str> {
        let mut names = Vec::new();
        for (flag, name) in AccountFlags::NAMED {
            if self.contains(*flag) {
                names.push(*name);
            }
        }
        names
    }

    pub fn from_name(name: &str) -> Option<AccountFlags> {
        AccountFlags::NAMED
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(flag, _)| *flag)
    }

    const NAMED: &'static [(AccountFlags, &'static str)] = &[
        (
            AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
            "debits_must_not_exceed_credits",
        ),
        (
            AccountFlags::CREDITS_MUST_NOT_EXCEED_DEBITS,
            "credits_must_not_exceed_debits",
        ),
        (AccountFlags::CLOSED, "closed"),
    ];
}

impl fmt::Debug for AccountFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AccountFlags({:?})", self.names())
    }
}

/// The four running totals of an account, in minor units. Each stays ≤ [`crate::AMOUNT_MAX`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, Debug)]
pub struct Balances {
    pub debits_pending: u64,
    pub debits_posted: u64,
    pub credits_pending: u64,
    pub credits_posted: u64,
}

impl Balances {
    /// credits_posted − debits_posted, the balance of a credit-normal account (a wallet).
    pub fn credit_balance_posted(&self) -> i128 {
        i128::from(self.credits_posted) - i128::from(self.debits_posted)
    }

    /// What a credit-normal account can still spend: posted credits less posted and pending
    /// debits.
    pub fn credit_balance_available(&self) -> i128 {
        i128::from(self.credits_posted)
            - i128::from(self.debits_posted)
            - i128::from(self.debits_pending)
    }
}

/// A ledger account.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Account {
    pub id: AccountId,
    pub currency: Currency,
    pub kind: AccountKind,
    pub flags: AccountFlags,
    pub balances: Balances,
    /// Opaque reference chosen by the creator (e.g. the owning user or merchant).
    pub reference: u128,
    /// Nanoseconds since the Unix epoch, assigned by the ledger; 0 on input.
    pub timestamp: u64,
}

impl Account {
    /// A new account with zero balances, as submitted to [`crate::Batch::create_accounts`].
    pub fn new(
        id: AccountId,
        currency: Currency,
        kind: AccountKind,
        flags: AccountFlags,
    ) -> Account {
        Account {
            id,
            currency,
            kind,
            flags,
            balances: Balances::default(),
            reference: 0,
            timestamp: 0,
        }
    }
}

macro_rules! results {
    ($(#[$meta:meta])* $name:ident { $( $variant:ident => $code:literal ),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
        pub enum $name { $( $variant ),* }

        impl $name {
            pub const ALL: &'static [$name] = &[$( $name::$variant ),*];

            /// The stable, machine-readable code (snake_case) used on the wire and in storage.
            pub fn code(self) -> &'static str {
                match self { $( $name::$variant => $code ),* }
            }

            pub fn from_code(code: &str) -> Option<$name> {
                match code { $( $code => Some($name::$variant), )* _ => None }
            }

            /// A stable number for storage: the position in declaration order.
            pub fn as_u16(self) -> u16 {
                self as u16
            }

            pub fn from_u16(value: u16) -> Option<$name> {
                $name::ALL.get(usize::from(value)).copied()
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.code())
            }
        }
    };
}
pub(crate) use results;

results! {
    /// The outcome of creating one account.
    CreateAccountResult {
        Ok => "ok",
        TimestampMustBeZero => "timestamp_must_be_zero",
        IdMustNotBeZero => "id_must_not_be_zero",
        IdMustNotBeIntMax => "id_must_not_be_int_max",
        FlagsAreMutuallyExclusive => "flags_are_mutually_exclusive",
        ReservedFlag => "reserved_flag",
        BalancesMustBeZero => "balances_must_be_zero",
        Exists => "exists",
        ExistsWithDifferentFlags => "exists_with_different_flags",
        ExistsWithDifferentCurrency => "exists_with_different_currency",
        ExistsWithDifferentKind => "exists_with_different_kind",
        ExistsWithDifferentReference => "exists_with_different_reference",
    }
}

impl CreateAccountResult {
    /// The account is in the ledger as asked (created now, or before with the same fields).
    pub fn is_success(self) -> bool {
        matches!(self, CreateAccountResult::Ok | CreateAccountResult::Exists)
    }
}
