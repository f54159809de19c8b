//! Know-your-customer levels and the outflow limits that depend on them.

use std::fmt;

use cashless_ledger::{Currency, format_amount};

/// How well the platform knows a consumer.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug)]
pub enum KycLevel {
    /// Phone number only: can receive money and look around, cannot pay.
    L0 = 0,
    /// Real name verified: pays from the balance.
    L1 = 1,
    /// Real name and a linked bank card: higher limits.
    L2 = 2,
}

impl KycLevel {
    pub fn as_i64(self) -> i64 {
        self as i64
    }

    pub fn from_i64(value: i64) -> Option<KycLevel> {
        [KycLevel::L0, KycLevel::L1, KycLevel::L2]
            .into_iter()
            .find(|level| level.as_i64() == value)
    }

    pub fn name(self) -> &'static str {
        match self {
            KycLevel::L0 => "L0",
            KycLevel::L1 => "L1",
            KycLevel::L2 => "L2",
        }
    }
}

/// Outflow limits in CNY minor units (fen), per China day (UTC+8). Configuration.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Limits {
    pub l1_daily: u64,
    pub l1_single: u64,
    pub l2_daily: u64,
    pub l2_single: u64,
}

impl Default for Limits {
    /// L1: 5,000 CNY a day; L2: 50,000 CNY a day and 20,000 CNY a payment.
    fn default() -> Limits {
        Limits {
            l1_daily: 500_000,
            l1_single: 500_000,
            l2_daily: 5_000_000,
            l2_single: 2_000_000,
        }
    }
}

/// An outflow the limits refuse, with the numbers the consumer needs to know.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum LimitError {
    /// L0: verify a real name first.
    NotVerified,
    SingleLimit {
        limit: u64,
    },
    DailyLimit {
        limit: u64,
        remaining: u64,
    },
}

impl LimitError {
    pub fn code(self) -> &'static str {
        match self {
            LimitError::NotVerified => "real_name_required",
            LimitError::SingleLimit { .. } => "single_limit_exceeded",
            LimitError::DailyLimit { .. } => "daily_limit_exceeded",
        }
    }
}

impl fmt::Display for LimitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cny = |minor: u64| format!("{} CNY", format_amount(minor, Currency::CNY));
        match self {
            LimitError::NotVerified => {
                f.write_str("verify your real name before paying or withdrawing")
            }
            LimitError::SingleLimit { limit } => {
                write!(f, "one payment may be at most {}", cny(*limit))
            }
            LimitError::DailyLimit { limit, remaining } => {
                write!(
                    f,
                    "this exceeds your daily limit of {}: {} left today",
                    cny(*limit),
                    cny(*remaining)
                )
            }
        }
    }
}

impl std::error::Error for LimitError {}

impl Limits {
    /// The daily limit of `level` (0 for L0).
    pub fn daily(&self, level: KycLevel) -> u64 {
        match level {
            KycLevel::L0 => 0,
            KycLevel::L1 => self.l1_daily,
            KycLevel::L2 => self.l2_daily,
        }
    }

    pub fn single(&self, level: KycLevel) -> u64 {
        match level {
            KycLevel::L0 => 0,
            KycLevel::L1 => self.l1_single,
            KycLevel::L2 => self.l2_single,
        }
    }

    /// The most any verified consumer may pay at once: orders above it could never be paid.
    pub fn largest_single(&self) -> u64 {
        self.l1_single.max(self.l2_single)
    }

    /// What is left today after `spent_today`.
    pub fn remaining(&self, level: KycLevel, spent_today: u64) -> u64 {
        self.daily(level).saturating_sub(spent_today)
    }

    /// May a consumer at `level` who spent `spent_today` send `amount` more?
    pub fn check_outflow(
        &self,
        level: KycLevel,
        amount: u64,
        spent_today: u64,
    ) -> Result<(), LimitError> {
        if level == KycLevel::L0 {
            return Err(LimitError::NotVerified);
        }
        let single = self.single(level);
        if amount > single {
            return Err(LimitError::SingleLimit { limit: single });
        }
        let remaining = self.remaining(level, spent_today);
        if amount > remaining {
            return Err(LimitError::DailyLimit {
                limit: self.daily(level),
                remaining,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_by_level() {
        let limits = Limits::default();
        assert_eq!(
            limits.check_outflow(KycLevel::L0, 1, 0),
            Err(LimitError::NotVerified)
        );
        assert_eq!(limits.check_outflow(KycLevel::L1, 500_000, 0), Ok(()));
        assert_eq!(
            limits.check_outflow(KycLevel::L1, 1, 500_000),
            Err(LimitError::DailyLimit {
                limit: 500_000,
                remaining: 0
            })
        );
        assert_eq!(
            limits.check_outflow(KycLevel::L2, 2_000_001, 0),
            Err(LimitError::SingleLimit { limit: 2_000_000 })
        );
        assert_eq!(
            limits.check_outflow(KycLevel::L2, 2_000_000, 3_500_000),
            Err(LimitError::DailyLimit {
                limit: 5_000_000,
                remaining: 1_500_000
            })
        );
        let message = LimitError::DailyLimit {
            limit: 500_000,
            remaining: 12_345,
        }
        .to_string();
        assert!(
            message.contains("5000.00 CNY") && message.contains("123.45 CNY"),
            "{message}"
        );
    }
}
