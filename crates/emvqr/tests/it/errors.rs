//! One test per rejection: each error variant, its code and its message.

use cashless_emvqr::{AmountError, FieldPath, ParseError, parse};

use crate::fixtures::INVALID;
use crate::support::{base_with, tlv, with_crc};

fn invalid(id: &str) -> &'static str {
    INVALID
        .iter()
        .find(|(vector, ..)| *vector == id)
        .map(|(_, _, payload, _)| *payload)
        .unwrap()
}

fn rejected(payload: &str) -> ParseError {
    let error = parse(payload).expect_err("payload should be rejected");
    assert!(!error.to_string().is_empty());
    let _: &dyn std::error::Error = &error;
    error
}

#[test]
fn base_payload_is_valid() {
    parse(&base_with(&[])).unwrap();
}

#[test]
fn too_long() {
    let error = rejected(&"0".repeat(3000));
    assert_eq!(
        error,
        ParseError::TooLong {
            bytes: 3000,
            max: 2953
        }
    );
    assert_eq!(error.code(), "too_long");
}

#[test]
fn truncated() {
    let error = rejected(invalid("I11"));
    assert_eq!(
        error,
        ParseError::Truncated {
            template: None,
            position: 47
        }
    );
    assert_eq!(error.code(), "truncated");
    let inside = rejected(&base_with(&[("26", Some("0011com.example01"))]));
    assert!(matches!(
        inside,
        ParseError::Truncated {
            template: Some(26),
            ..
        }
    ));
}

#[test]
fn bad_id() {
    let error = rejected(invalid("I19"));
    assert_eq!(
        error,
        ParseError::BadId {
            template: None,
            position: 40,
            found: "AA".into()
        }
    );
    assert_eq!(error.code(), "bad_id");
}

#[test]
fn bad_length() {
    let error = rejected(invalid("I10"));
    assert_eq!(
        error,
        ParseError::BadLength {
            id: FieldPath::root(0),
            position: 0,
            found: "0A".into()
        }
    );
    assert_eq!(error.code(), "bad_length");
    assert_eq!(rejected(&with_crc("000201520000")).code(), "bad_length");
}

#[test]
fn length_mismatch() {
    // 62 declares 08 but holds 7 characters: the reader runs into 63.
    let error = rejected(invalid("I08"));
    assert_eq!(error.code(), "length_mismatch");
    let error = rejected(invalid("I09"));
    assert_eq!(
        error,
        ParseError::LengthMismatch {
            id: FieldPath::root(63),
            position: 47,
            declared: 5,
            available: 4,
        }
    );
    // Lengths counted in UTF-8 bytes instead of characters.
    assert!(parse(invalid("I23")).is_err());
}

#[test]
fn duplicate_field() {
    let error = rejected(invalid("I18"));
    assert_eq!(
        error,
        ParseError::DuplicateField {
            id: FieldPath::root(53)
        }
    );
    assert_eq!(error.code(), "duplicate_field");
    let inside = rejected(&base_with(&[(
        "62",
        Some(&(tlv("05", "A") + &tlv("05", "B"))),
    )]));
    assert_eq!(
        inside,
        ParseError::DuplicateField {
            id: FieldPath::sub(62, 5)
        }
    );
}

#[test]
fn format_indicator_not_first() {
    let error = rejected(invalid("I12"));
    assert_eq!(
        error,
        ParseError::FormatIndicatorNotFirst {
            found: FieldPath::root(1)
        }
    );
    assert_eq!(error.code(), "format_indicator_not_first");
}

#[test]
fn crc_not_last() {
    let payload = format!("{}{}", base_with(&[]), tlv("99", "x"));
    let error = rejected(&payload);
    assert_eq!(
        error,
        ParseError::CrcNotLast {
            found: FieldPath::root(99)
        }
    );
    assert_eq!(error.code(), "crc_not_last");
}

#[test]
fn missing_field() {
    assert_eq!(
        rejected(invalid("I06")),
        ParseError::MissingField {
            id: FieldPath::root(63)
        }
    );
    assert_eq!(
        rejected(invalid("I15")),
        ParseError::MissingField {
            id: FieldPath::root(60)
        }
    );
    for id in ["52", "53", "58", "59", "60"] {
        let error = rejected(&base_with(&[(id, None)]));
        assert_eq!(error.code(), "missing_field", "{id}");
        assert_eq!(
            error.to_string(),
            format!("mandatory data object {id} is missing")
        );
    }
    let no_gui = rejected(&base_with(&[("26", Some(&tlv("01", "acct-1")))]));
    assert_eq!(
        no_gui,
        ParseError::MissingField {
            id: FieldPath::sub(26, 0)
        }
    );
    let no_name = rejected(&base_with(&[("64", Some(&tlv("00", "ZH")))]));
    assert_eq!(
        no_name,
        ParseError::MissingField {
            id: FieldPath::sub(64, 1)
        }
    );
    assert_eq!(rejected("").code(), "missing_field");
}

#[test]
fn missing_merchant_account() {
    let error = rejected(&base_with(&[("26", None)]));
    assert_eq!(error, ParseError::MissingMerchantAccount);
    assert_eq!(error.code(), "missing_merchant_account");
}

#[test]
fn bad_crc() {
    let error = rejected(invalid("I01"));
    assert_eq!(
        error,
        ParseError::BadCrc {
            expected: "A13A".into(),
            found: "A13B".into()
        }
    );
    assert_eq!(error.code(), "bad_crc");
    assert_eq!(rejected(invalid("I07")).code(), "bad_crc");
    let valid = base_with(&[]);
    let body = &valid[..valid.len() - "6304XXXX".len()];
    let short = rejected(&format!("{body}6303ABC"));
    assert!(matches!(short, ParseError::BadCrc { found, .. } if found == "ABC"));
}

#[test]
fn bad_format_indicator() {
    let error = rejected(&base_with(&[("00", Some("03"))]));
    assert_eq!(error, ParseError::BadFormatIndicator { found: "03".into() });
    assert_eq!(error.code(), "bad_format_indicator");
}

#[test]
fn bad_point_of_initiation() {
    let error = rejected(&base_with(&[("01", Some("13"))]));
    assert_eq!(
        error,
        ParseError::BadPointOfInitiation { found: "13".into() }
    );
    assert_eq!(error.code(), "bad_point_of_initiation");
}

#[test]
fn bad_tip_indicator() {
    let error = rejected(&base_with(&[("55", Some("04"))]));
    assert_eq!(error, ParseError::BadTipIndicator { found: "04".into() });
    assert_eq!(error.code(), "bad_tip_indicator");
}

#[test]
fn tip_fees_must_match_the_indicator() {
    // I17 without its bad 62/09: 55 = "01" but a fixed fee (56) is present.
    let error = rejected(&base_with(&[("55", Some("01")), ("56", Some("500"))]));
    assert_eq!(error.code(), "unexpected_field");
    assert!(matches!(error, ParseError::UnexpectedField { id, .. } if id == FieldPath::root(56)));
    let error = rejected(&base_with(&[("55", Some("02")), ("57", Some("5"))]));
    assert!(matches!(error, ParseError::MissingField { id } if id == FieldPath::root(56)));
    let error = rejected(&base_with(&[
        ("55", Some("02")),
        ("56", Some("1")),
        ("57", Some("5")),
    ]));
    assert!(matches!(error, ParseError::UnexpectedField { id, .. } if id == FieldPath::root(57)));
    let error = rejected(&base_with(&[("57", Some("5"))]));
    assert_eq!(error.code(), "unexpected_field");
    assert_eq!(
        rejected(&base_with(&[("55", Some("03"))])).code(),
        "missing_field"
    );
    let fixed = parse(&base_with(&[("55", Some("02")), ("56", Some("1.50"))])).unwrap();
    assert!(fixed.tip().is_some());
}

#[test]
fn bad_amount() {
    let cases = [
        (invalid("I16"), AmountError::Zero),
        (invalid("I25"), AmountError::BadCharacter { found: ',' }),
    ];
    for (payload, reason) in cases {
        let error = rejected(payload);
        assert_eq!(
            error,
            ParseError::BadAmount {
                id: FieldPath::root(54),
                reason
            }
        );
        assert_eq!(error.code(), "bad_amount");
    }
    let reasons = [
        ("-5", AmountError::BadCharacter { found: '-' }),
        ("0.00", AmountError::Zero),
        (".50", AmountError::LeadingDot),
        ("1.2.3", AmountError::MultipleDots),
        (
            "10.005",
            AmountError::TooManyDecimals {
                decimals: 3,
                max: 2,
            },
        ),
    ];
    for (amount, reason) in reasons {
        let result = parse(&base_with(&[("54", Some(amount))]));
        assert_eq!(
            result,
            Err(ParseError::BadAmount {
                id: FieldPath::root(54),
                reason
            }),
            "{amount}"
        );
    }
    parse(&base_with(&[("54", Some("12345678901.2"))])).expect("13 characters are allowed");
    let too_long = rejected(&base_with(&[("54", Some("123456789012.3"))]));
    assert_eq!(
        too_long,
        ParseError::BadAmount {
            id: FieldPath::root(54),
            reason: AmountError::TooLong { len: 14, max: 13 }
        }
    );
    let vnd = rejected(&base_with(&[("53", Some("704")), ("54", Some("1000.5"))]));
    assert_eq!(vnd.code(), "bad_amount");
    let fee = rejected(&base_with(&[("55", Some("02")), ("56", Some("0"))]));
    assert!(matches!(fee, ParseError::BadAmount { id, .. } if id == FieldPath::root(56)));
}

#[test]
fn bad_fee_percentage() {
    let error = rejected(&base_with(&[("55", Some("03")), ("57", Some("100"))]));
    assert_eq!(
        error,
        ParseError::BadFeePercentage {
            found: "100".into()
        }
    );
    assert_eq!(error.code(), "bad_fee_percentage");
}

#[test]
fn bad_value() {
    let cases = [("52", "41A1"), ("53", "15"), ("58", "C1")];
    for (id, value) in cases {
        let error = rejected(&base_with(&[(id, Some(value))]));
        assert_eq!(error.code(), "bad_value", "{id}");
    }
    let error = rejected(invalid("I17"));
    assert!(matches!(error, ParseError::BadValue { id, .. } if id == FieldPath::sub(62, 9)));
    let repeated = rejected(&base_with(&[("62", Some(&tlv("09", "AA")))]));
    assert_eq!(repeated.code(), "bad_value");
    parse(&base_with(&[("62", Some(&tlv("09", "AME")))])).unwrap();
}

#[test]
fn value_too_long() {
    let error = rejected(invalid("I24"));
    assert_eq!(
        error,
        ParseError::ValueTooLong {
            id: FieldPath::root(59),
            len: 26,
            max: 25
        }
    );
    assert_eq!(error.code(), "value_too_long");
    let gui = tlv("00", &"G".repeat(33));
    let error = rejected(&base_with(&[("26", Some(&gui))]));
    assert_eq!(
        error,
        ParseError::ValueTooLong {
            id: FieldPath::sub(26, 0),
            len: 33,
            max: 32
        }
    );
    let reference = tlv("05", &"R".repeat(26));
    let error = rejected(&base_with(&[("62", Some(&reference))]));
    assert_eq!(
        error,
        ParseError::ValueTooLong {
            id: FieldPath::sub(62, 5),
            len: 26,
            max: 25
        }
    );
    let name = tlv("00", "ZH") + &tlv("01", &"名".repeat(26));
    let error = rejected(&base_with(&[("64", Some(&name))]));
    assert_eq!(
        error,
        ParseError::ValueTooLong {
            id: FieldPath::sub(64, 1),
            len: 26,
            max: 25
        }
    );
    assert_eq!(
        rejected(&base_with(&[("61", Some("12345678901"))])).code(),
        "value_too_long"
    );
}

#[test]
fn amount_error_codes_are_distinct() {
    let all = [
        AmountError::Empty,
        AmountError::TooLong { len: 14, max: 13 },
        AmountError::BadCharacter { found: ',' },
        AmountError::LeadingDot,
        AmountError::MultipleDots,
        AmountError::Zero,
        AmountError::TooManyDecimals {
            decimals: 3,
            max: 2,
        },
        AmountError::Overflow,
    ];
    let mut codes: Vec<_> = all.iter().map(AmountError::code).collect();
    codes.sort_unstable();
    codes.dedup();
    assert_eq!(codes.len(), all.len());
    assert!(all.iter().all(|error| !error.to_string().is_empty()));
}
