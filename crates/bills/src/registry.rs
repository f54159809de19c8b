//! What a biller's registry entry says, as BBPS and Alipay's bill APIs describe billers: how a
//! bill is found, which amounts it takes, whether it is paid before or after use, and what the
//! customer must tell it — each parameter checked here, before any biller is asked.

use cashless_ledger::Money;

/// Whether a bill must be looked up at the biller before it is paid.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum BillLookup {
    /// Only a bill the biller answered with can be paid (a water bill, a fine).
    Mandatory,
    /// A bill may be looked up, or an amount paid straight away (a mobile top-up).
    Optional,
    /// Nothing to look up: the customer says the amount (a donation).
    NotSupported,
}

/// Which amounts a bill of `due` takes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AmountRule {
    /// Exactly what is due.
    Exact,
    /// What is due or more (the rest is credit with the biller).
    ExactUp,
    /// What is due or less (part payments).
    ExactDown,
    /// Any positive amount.
    Adhoc,
}

/// Why an amount does not fit a biller's rule.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AmountRefusal {
    /// Zero or negative.
    NotPositive,
    /// Not the bill's currency.
    OtherCurrency,
    /// The rule wants exactly what is due.
    NotExact,
    /// The rule wants at least what is due.
    BelowDue,
    /// The rule wants at most what is due.
    AboveDue,
}

impl AmountRefusal {
    /// A stable code for the API.
    pub fn code(self) -> &'static str {
        match self {
            AmountRefusal::NotPositive => "amount_invalid",
            AmountRefusal::OtherCurrency => "currency_not_supported",
            AmountRefusal::NotExact => "amount_not_exact",
            AmountRefusal::BelowDue => "amount_below_due",
            AmountRefusal::AboveDue => "amount_above_due",
        }
    }
}

impl AmountRule {
    /// Whether `paid` may settle a bill of `due` (`None`: no bill was looked up, so only a
    /// positive amount is asked for).
    pub fn check(self, due: Option<Money>, paid: Money) -> Result<(), AmountRefusal> {
        if paid.is_negative() || paid.is_zero() {
            return Err(AmountRefusal::NotPositive);
        }
        let Some(due) = due else {
            return Ok(());
        };
        if due.currency() != paid.currency() {
            return Err(AmountRefusal::OtherCurrency);
        }
        match self {
            AmountRule::Exact if paid != due => Err(AmountRefusal::NotExact),
            AmountRule::ExactUp if paid < due => Err(AmountRefusal::BelowDue),
            AmountRule::ExactDown if paid > due => Err(AmountRefusal::AboveDue),
            _ => Ok(()),
        }
    }
}

/// Paid before use (a top-up) or after (a bill).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Billing {
    Prepaid,
    Postpaid,
}

/// The characters a customer parameter may hold.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParamKind {
    /// Digits only (an account number, a decision number).
    Digits,
    /// Letters and digits, upper case (a patient id).
    Alphanumeric,
    /// A mainland China mobile number: 11 digits starting with 1.
    Phone,
    /// A Chinese licence plate: a province character, a letter, then 5 or 6 letters and digits
    /// (浙A12345, 浙AD12345 for a new-energy car).
    LicencePlate,
}

/// One thing the customer tells the biller.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct CustomerParam {
    /// Stable, for the API (`account_number`, `plate`, `decision_number` …).
    pub name: &'static str,
    pub label_en: &'static str,
    pub label_zh: &'static str,
    pub kind: ParamKind,
    /// Inclusive bounds on the number of characters.
    pub min_chars: usize,
    pub max_chars: usize,
}

/// Why a customer parameter was refused (the parameter's name is in the error).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ParamRefusal {
    Missing,
    Length {
        min: usize,
        max: usize,
    },
    Characters,
    /// A parameter the biller does not ask for (a typo is refused, not dropped).
    Unknown,
}

/// The provinces' one-character abbreviations that begin a plate.
const PLATE_PROVINCES: &str = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼";

impl CustomerParam {
    /// Checks a value the customer typed (surrounding blanks ignored).
    pub fn check(&self, value: &str) -> Result<(), ParamRefusal> {
        let value = value.trim();
        if value.is_empty() {
            return Err(ParamRefusal::Missing);
        }
        let chars = value.chars().count();
        if chars < self.min_chars || chars > self.max_chars {
            return Err(ParamRefusal::Length {
                min: self.min_chars,
                max: self.max_chars,
            });
        }
        let fits = match self.kind {
            ParamKind::Digits => value.bytes().all(|b| b.is_ascii_digit()),
            ParamKind::Alphanumeric => value
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
            ParamKind::Phone => {
                chars == 11 && value.starts_with('1') && value.bytes().all(|b| b.is_ascii_digit())
            }
            ParamKind::LicencePlate => is_plate(value),
        };
        if fits {
            Ok(())
        } else {
            Err(ParamRefusal::Characters)
        }
    }
}

fn is_plate(value: &str) -> bool {
    let mut chars = value.chars();
    let (Some(province), Some(letter)) = (chars.next(), chars.next()) else {
        return false;
    };
    let rest: Vec<char> = chars.collect();
    PLATE_PROVINCES.contains(province)
        && letter.is_ascii_uppercase()
        && (5..=6).contains(&rest.len())
        && rest
            .iter()
            .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
}

/// A biller's entry: who it is, what it serves, and its rules.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct BillerEntry {
    /// Stable, for the API (`hz-water`, `state-grid-zj` …).
    pub id: &'static str,
    pub name_en: &'static str,
    pub name_zh: &'static str,
    /// The [`crate::catalogue::ServiceType::id`] it serves.
    pub service_type: &'static str,
    pub lookup: BillLookup,
    pub amount_rule: AmountRule,
    pub billing: Billing,
    pub params: &'static [CustomerParam],
}

impl BillerEntry {
    /// Checks every parameter the biller asks for, in order, before it is asked anything:
    /// the first refused (its name and why), or none. Parameters it does not ask for are
    /// refused too, so a typo is not silently dropped.
    pub fn check_params(&self, given: &[(&str, &str)]) -> Result<(), (String, ParamRefusal)> {
        if let Some((name, _)) = given
            .iter()
            .find(|(name, _)| self.params.iter().all(|param| param.name != *name))
        {
            return Err(((*name).to_owned(), ParamRefusal::Unknown));
        }
        for param in self.params {
            let value = given
                .iter()
                .find(|(name, _)| *name == param.name)
                .map_or("", |(_, value)| value);
            param
                .check(value)
                .map_err(|refusal| (param.name.to_owned(), refusal))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use cashless_ledger::Currency;

    use super::*;

    fn cny(minor: i64) -> Money {
        Money::new(minor, Currency::CNY)
    }

    #[test]
    fn amount_rules_take_what_they_say() {
        let due = Some(cny(10_000));
        assert_eq!(AmountRule::Exact.check(due, cny(10_000)), Ok(()));
        assert_eq!(
            AmountRule::Exact.check(due, cny(9_999)),
            Err(AmountRefusal::NotExact)
        );
        assert_eq!(AmountRule::ExactUp.check(due, cny(12_000)), Ok(()));
        assert_eq!(
            AmountRule::ExactUp.check(due, cny(9_999)),
            Err(AmountRefusal::BelowDue)
        );
        assert_eq!(AmountRule::ExactDown.check(due, cny(5_000)), Ok(()));
        assert_eq!(
            AmountRule::ExactDown.check(due, cny(10_001)),
            Err(AmountRefusal::AboveDue)
        );
        assert_eq!(AmountRule::Adhoc.check(due, cny(1)), Ok(()));
        assert_eq!(AmountRule::Adhoc.check(None, cny(1)), Ok(()));
        for rule in [
            AmountRule::Exact,
            AmountRule::ExactUp,
            AmountRule::ExactDown,
            AmountRule::Adhoc,
        ] {
            assert_eq!(rule.check(due, cny(0)), Err(AmountRefusal::NotPositive));
            assert_eq!(rule.check(None, cny(-1)), Err(AmountRefusal::NotPositive));
            assert_eq!(
                rule.check(due, Money::new(10_000, Currency::USD)),
                Err(AmountRefusal::OtherCurrency)
            );
        }
    }

    const ACCOUNT: CustomerParam = CustomerParam {
        name: "account_number",
        label_en: "Account number",
        label_zh: "户号",
        kind: ParamKind::Digits,
        min_chars: 8,
        max_chars: 12,
    };

    const PLATE: CustomerParam = CustomerParam {
        name: "plate",
        label_en: "Licence plate",
        label_zh: "车牌号",
        kind: ParamKind::LicencePlate,
        min_chars: 7,
        max_chars: 8,
    };

    #[test]
    fn parameters_are_checked_by_kind_and_length() {
        assert_eq!(ACCOUNT.check(" 31000123 "), Ok(()));
        assert_eq!(ACCOUNT.check(""), Err(ParamRefusal::Missing));
        assert_eq!(
            ACCOUNT.check("1234"),
            Err(ParamRefusal::Length { min: 8, max: 12 })
        );
        assert_eq!(ACCOUNT.check("3100012A"), Err(ParamRefusal::Characters));
        assert_eq!(PLATE.check("浙A12345"), Ok(()));
        assert_eq!(PLATE.check("浙AD12345"), Ok(()));
        assert_eq!(PLATE.check("浙a12345"), Err(ParamRefusal::Characters));
        assert_eq!(PLATE.check("XA123456"), Err(ParamRefusal::Characters));
        let phone = CustomerParam {
            kind: ParamKind::Phone,
            min_chars: 11,
            max_chars: 11,
            ..ACCOUNT
        };
        assert_eq!(phone.check("13800138000"), Ok(()));
        assert_eq!(phone.check("23800138000"), Err(ParamRefusal::Characters));
    }

    #[test]
    fn a_biller_checks_every_parameter_it_asks_for_and_no_other() {
        let police = BillerEntry {
            id: "hz-traffic-police",
            name_en: "Hangzhou traffic police",
            name_zh: "杭州交警",
            service_type: "traffic_fines",
            lookup: BillLookup::Mandatory,
            amount_rule: AmountRule::Exact,
            billing: Billing::Postpaid,
            params: &[
                PLATE,
                CustomerParam {
                    name: "decision_number",
                    ..ACCOUNT
                },
            ],
        };
        let good = [("plate", "浙A12345"), ("decision_number", "33010012345")];
        assert_eq!(police.check_params(&good), Ok(()));
        assert_eq!(
            police.check_params(&[("plate", "浙A12345")]),
            Err(("decision_number".to_owned(), ParamRefusal::Missing))
        );
        assert_eq!(
            police.check_params(&[("plate", "浙A1"), ("decision_number", "33010012345")]),
            Err(("plate".to_owned(), ParamRefusal::Length { min: 7, max: 8 }))
        );
        assert_eq!(
            police.check_params(&[good[0], good[1], ("plates", "x")]),
            Err(("plates".to_owned(), ParamRefusal::Unknown))
        );
    }
}
