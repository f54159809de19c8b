//! Rejections as values, each with a stable machine-readable code.

use crate::path::FieldPath;

/// Why a payload is not a valid merchant-presented QR payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("payload is {bytes} bytes; a QR symbol holds at most {max}")]
    TooLong { bytes: usize, max: usize },
    #[error("data object header cut off at character {position}{}", within(*template))]
    Truncated {
        template: Option<u8>,
        position: usize,
    },
    #[error("id {found:?} at character {position}{} is not two digits", within(*template))]
    BadId {
        template: Option<u8>,
        position: usize,
        found: String,
    },
    #[error("length {found:?} of {id} at character {position} is not two digits from 01 to 99")]
    BadLength {
        id: FieldPath,
        position: usize,
        found: String,
    },
    #[error(
        "{id} at character {position} declares {declared} characters but only {available} follow"
    )]
    LengthMismatch {
        id: FieldPath,
        position: usize,
        declared: usize,
        available: usize,
    },
    #[error("{id} occurs more than once")]
    DuplicateField { id: FieldPath },
    #[error("the payload must start with the payload format indicator (00), not {found}")]
    FormatIndicatorNotFirst { found: FieldPath },
    #[error("the CRC (63) must be the last data object, but {found} follows it")]
    CrcNotLast { found: FieldPath },
    #[error("mandatory data object {id} is missing")]
    MissingField { id: FieldPath },
    #[error("no merchant account information (IDs 02-51)")]
    MissingMerchantAccount,
    #[error("CRC mismatch: the payload says {found:?}, its content gives {expected}")]
    BadCrc { expected: String, found: String },
    #[error("payload format indicator {found:?} is not \"01\" (or DuitNow's \"02\")")]
    BadFormatIndicator { found: String },
    #[error("point of initiation {found:?} is not \"11\" (static) or \"12\" (dynamic)")]
    BadPointOfInitiation { found: String },
    #[error("tip or convenience indicator {found:?} is not \"01\", \"02\" or \"03\"")]
    BadTipIndicator { found: String },
    #[error("{id} is present but only allowed {allowed_when}")]
    UnexpectedField {
        id: FieldPath,
        allowed_when: &'static str,
    },
    #[error("{id}: {reason}")]
    BadAmount { id: FieldPath, reason: AmountError },
    #[error("convenience fee percentage {found:?} is not from 00.01 to 99.99")]
    BadFeePercentage { found: String },
    #[error("{id} {found:?} is not {expected}")]
    BadValue {
        id: FieldPath,
        expected: &'static str,
        found: String,
    },
    #[error("{id} is {len} characters, at most {max} allowed")]
    ValueTooLong {
        id: FieldPath,
        len: usize,
        max: usize,
    },
}

fn within(template: Option<u8>) -> String {
    template.map_or_else(String::new, |id| format!(" inside template {id:02}"))
}

impl ParseError {
    /// A stable identifier for clients and logs; never changes once published.
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong { .. } => "too_long",
            Self::Truncated { .. } => "truncated",
            Self::BadId { .. } => "bad_id",
            Self::BadLength { .. } => "bad_length",
            Self::LengthMismatch { .. } => "length_mismatch",
            Self::DuplicateField { .. } => "duplicate_field",
            Self::FormatIndicatorNotFirst { .. } => "format_indicator_not_first",
            Self::CrcNotLast { .. } => "crc_not_last",
            Self::MissingField { .. } => "missing_field",
            Self::MissingMerchantAccount => "missing_merchant_account",
            Self::BadCrc { .. } => "bad_crc",
            Self::BadFormatIndicator { .. } => "bad_format_indicator",
            Self::BadPointOfInitiation { .. } => "bad_point_of_initiation",
            Self::BadTipIndicator { .. } => "bad_tip_indicator",
            Self::UnexpectedField { .. } => "unexpected_field",
            Self::BadAmount { .. } => "bad_amount",
            Self::BadFeePercentage { .. } => "bad_fee_percentage",
            Self::BadValue { .. } => "bad_value",
            Self::ValueTooLong { .. } => "value_too_long",
        }
    }
}

/// Why a text is not an EMVCo amount (IDs 54, 56) or does not fit the requested unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    #[error("amount is empty")]
    Empty,
    #[error("amount is {len} characters, at most {max} allowed")]
    TooLong { len: usize, max: usize },
    #[error("amount contains {found:?}; only digits and one \".\" are allowed")]
    BadCharacter { found: char },
    #[error("amount starts with \".\"; write the integer part")]
    LeadingDot,
    #[error("amount has more than one \".\"")]
    MultipleDots,
    #[error("amount is zero")]
    Zero,
    #[error("amount has {decimals} decimals, the currency allows {max}")]
    TooManyDecimals { decimals: usize, max: u8 },
    #[error("amount does not fit in 64-bit minor units")]
    Overflow,
}

impl AmountError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "amount_empty",
            Self::TooLong { .. } => "amount_too_long",
            Self::BadCharacter { .. } => "amount_bad_character",
            Self::LeadingDot => "amount_leading_dot",
            Self::MultipleDots => "amount_multiple_dots",
            Self::Zero => "amount_zero",
            Self::TooManyDecimals { .. } => "amount_too_many_decimals",
            Self::Overflow => "amount_overflow",
        }
    }
}

/// Why a payload could not be written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("id {id:02} is not allowed here; expected {expected}")]
    BadId { id: u8, expected: &'static str },
    #[error("{id} is empty; EMVCo values are 1 to 99 characters")]
    EmptyValue { id: FieldPath },
    #[error("{id} is {len} characters, at most {max} allowed")]
    ValueTooLong {
        id: FieldPath,
        len: usize,
        max: usize,
    },
    #[error("payload would be {chars} characters, at most {max} allowed")]
    TooLong { chars: usize, max: usize },
    /// The assembled payload breaks a rule the parser enforces (e.g. a missing mandatory
    /// field); the parser is the single judge of validity.
    #[error("{0}")]
    Rejected(#[from] ParseError),
}

impl EncodeError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadId { .. } => "bad_id",
            Self::EmptyValue { .. } => "empty_value",
            Self::ValueTooLong { .. } => "value_too_long",
            Self::TooLong { .. } => "too_long",
            Self::Rejected(inner) => inner.code(),
        }
    }
}
