//! A traffic fine's late fee, as the road traffic law sets it: a fine not paid within 15 days
//! of the decision grows by 3% of the fine for each further day, and the late fee never exceeds
//! the fine itself. Quoted to the day: a quote made on the last free day and paid before it
//! ends carries no fee.

use cashless_ledger::{Money, MoneyError};

/// Days after the decision within which the fine alone is due.
pub const FREE_DAYS: u32 = 15;

/// The late fee per overdue day, in percent of the fine.
pub const PERCENT_PER_DAY: u32 = 3;

/// The late fee on `fine`, `days` days after the decision (day 0 is the decision's own day):
/// nothing up to day 15, then 3% of the fine per day past it, rounded down to the minor unit
/// (never a fen more than the law says), capped at the fine.
pub fn late_fee(fine: Money, days: u32) -> Result<Money, MoneyError> {
    let overdue = days.saturating_sub(FREE_DAYS);
    let minor = u128::from(fine.unsigned()?);
    let fee = minor * u128::from(PERCENT_PER_DAY) * u128::from(overdue) / 100;
    let fee = Money::from_unsigned(
        u64::try_from(fee.min(minor)).map_err(|_| MoneyError::Overflow)?,
        fine.currency(),
    )?;
    Ok(fee)
}

/// What a fine costs on day `days`: the fine and its late fee.
pub fn amount_due(fine: Money, days: u32) -> Result<Money, MoneyError> {
    fine.checked_add(late_fee(fine, days)?)
}

#[cfg(test)]
mod tests {
    use cashless_ledger::Currency;

    use super::*;

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::CNY)
    }

    #[test]
    fn the_fee_starts_after_fifteen_days_grows_three_percent_a_day_and_stops_at_the_fine() {
        let fine = cny(20_000); // 200.00
        assert_eq!(late_fee(fine, 0), Ok(cny(0)));
        assert_eq!(late_fee(fine, 15), Ok(cny(0)), "the last free day");
        assert_eq!(late_fee(fine, 16), Ok(cny(600)), "3% of 200.00");
        assert_eq!(late_fee(fine, 20), Ok(cny(3_000)));
        assert_eq!(late_fee(fine, 48), Ok(cny(19_800)), "33 days: 99%");
        assert_eq!(
            late_fee(fine, 49),
            Ok(cny(20_000)),
            "34 days would be 102%: capped"
        );
        assert_eq!(late_fee(fine, 400), Ok(cny(20_000)));
        assert_eq!(amount_due(fine, 16), Ok(cny(20_600)));
        assert_eq!(
            amount_due(fine, 400),
            Ok(cny(40_000)),
            "never more than twice the fine"
        );
    }

    #[test]
    fn the_fee_rounds_down_to_the_fen() {
        // 3% of 0.50 is 1.5 fen: 1 fen.
        assert_eq!(late_fee(cny(50), 16), Ok(cny(1)));
        assert!(late_fee(cny(-1), 16).is_err(), "no fine is negative");
    }
}
