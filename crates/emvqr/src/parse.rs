//! Payload text to [`Mpm`]: structure, CRC, then the meaning of each data object.

use crate::amount::{Amount, FeePercentage, currency_exponent};
use crate::crc::{crc_hex, crc16_ccitt_false, parse_crc_hex};
use crate::error::{AmountError, ParseError};
use crate::fields::{
    AdditionalData, FormatIndicator, LanguageTemplate, MerchantAccount, PointOfInitiation,
    SubField, Tip,
};
use crate::limits::{
    ADDITIONAL_DATA_CHARS_MAX, CONSUMER_DATA_REQUEST_CHARS_MAX, GUI_CHARS_MAX,
    MERCHANT_CITY_READ_CHARS_MAX, MERCHANT_NAME_CHARS_MAX, PAYLOAD_BYTES_MAX,
    POSTAL_CODE_CHARS_MAX,
};
use crate::mpm::Mpm;
use crate::path::FieldPath;
use crate::scheme::{Omissions, Scheme};
use crate::tlv::{DataObject, RawObject, tokenize};

const FORMAT_INDICATOR_ID: u8 = 0;
const CRC_ID: u8 = 63;
const ADDITIONAL_DATA_ID: u8 = 62;
const LANGUAGE_ID: u8 = 64;

/// Parses and validates a merchant-presented payload.
///
/// Checks, in order: size, ID/length/value structure (lengths in characters, ids unique per
/// level), 00 first and 63 last, the CRC, then each known field and the mandatory set.
/// National deviations documented by the schemes are tolerated: payload format indicator
/// "02" (DuitNow), no 52/59/60 under PromptPay and VietQR, no 52 under QRIS, cities longer
/// than 15 characters, and templates 80-99 used as primitives (TrueMoney).
pub fn parse(payload: &str) -> Result<Mpm, ParseError> {
    if payload.len() > PAYLOAD_BYTES_MAX {
        return Err(ParseError::TooLong {
            bytes: payload.len(),
            max: PAYLOAD_BYTES_MAX,
        });
    }
    let objects = tokenize(payload, 0, None)?;
    let crc = check_frame(payload, &objects)?;
    // `check_frame` proved the last object is the CRC.
    let body = objects.split_last().map_or(&[][..], |(_, body)| body);
    let mut root = Root::default();
    let data_objects = body
        .iter()
        .map(|object| interpret(object, &mut root))
        .collect::<Result<Vec<_>, _>>()?;
    root.finish(crc, data_objects)
}

/// 00 first, 63 last, and the CRC over everything through "6304" matches.
fn check_frame(payload: &str, objects: &[RawObject<'_>]) -> Result<u16, ParseError> {
    let (Some(first), Some(last)) = (objects.first(), objects.last()) else {
        return Err(missing(FORMAT_INDICATOR_ID));
    };
    if first.id != FORMAT_INDICATOR_ID {
        return Err(ParseError::FormatIndicatorNotFirst {
            found: first.path(None),
        });
    }
    if last.id != CRC_ID {
        let crc_index = objects.iter().position(|object| object.id == CRC_ID);
        return Err(match crc_index.and_then(|index| objects.get(index + 1)) {
            Some(after) => ParseError::CrcNotLast {
                found: after.path(None),
            },
            None => missing(CRC_ID),
        });
    }
    let covered = payload.get(..last.value_byte).unwrap_or(payload);
    let expected = crc16_ccitt_false(covered.as_bytes());
    match parse_crc_hex(last.value) {
        Some(found) if found == expected => Ok(expected),
        _ => Err(ParseError::BadCrc {
            expected: crc_hex(expected),
            found: last.value.to_owned(),
        }),
    }
}

/// Root fields as they are read; checked together in [`Root::finish`] because some rules
/// span several objects (amount decimals depend on the currency, 56/57 on 55).
#[derive(Default)]
struct Root<'a> {
    format: Option<FormatIndicator>,
    point_of_initiation: Option<PointOfInitiation>,
    accounts: Vec<MerchantAccount>,
    category_code: Option<String>,
    currency: Option<u16>,
    amount: Option<&'a str>,
    tip_indicator: Option<&'a str>,
    fixed_fee: Option<&'a str>,
    percentage_fee: Option<&'a str>,
    country: Option<String>,
    name: Option<String>,
    city: Option<String>,
    postal_code: Option<String>,
    additional_data: Option<AdditionalData>,
    language: Option<LanguageTemplate>,
    unreserved: Vec<DataObject>,
}

/// Reads one root object into `root` and returns it as kept for re-encoding.
fn interpret<'a>(object: &RawObject<'a>, root: &mut Root<'a>) -> Result<DataObject, ParseError> {
    let path = FieldPath::root(object.id);
    let text = object.value;
    match object.id {
        FORMAT_INDICATOR_ID => {
            let found = || ParseError::BadFormatIndicator { found: text.into() };
            root.format = Some(FormatIndicator::from_wire(text).ok_or_else(found)?);
        }
        1 => {
            let found = || ParseError::BadPointOfInitiation { found: text.into() };
            root.point_of_initiation = Some(PointOfInitiation::from_wire(text).ok_or_else(found)?);
        }
        2..=25 => root.accounts.push(MerchantAccount::Network {
            id: object.id,
            value: text.to_owned(),
        }),
        26..=51 => {
            let (account, kept) = account_template(object)?;
            root.accounts.push(account);
            return Ok(kept);
        }
        52 => root.category_code = Some(digits(path, text, 4, "4 digits (ISO 18245)")?),
        53 => root.currency = Some(currency(path, text)?),
        54 => root.amount = Some(text),
        55 => root.tip_indicator = Some(text),
        56 => root.fixed_fee = Some(text),
        57 => root.percentage_fee = Some(text),
        58 => root.country = Some(alpha2(path, text, "ISO 3166-1 alpha-2")?),
        59 => root.name = Some(at_most(path, text, MERCHANT_NAME_CHARS_MAX)?),
        60 => root.city = Some(at_most(path, text, MERCHANT_CITY_READ_CHARS_MAX)?),
        61 => root.postal_code = Some(at_most(path, text, POSTAL_CODE_CHARS_MAX)?),
        ADDITIONAL_DATA_ID => {
            let (data, kept) = additional_data(object)?;
            root.additional_data = Some(data);
            return Ok(kept);
        }
        // `check_frame` and the duplicate check leave 63 only at the end, outside the body.
        CRC_ID => return Err(ParseError::CrcNotLast { found: path }),
        LANGUAGE_ID => {
            let (language, kept) = language_template(object)?;
            root.language = Some(language);
            return Ok(kept);
        }
        80..=99 => {
            let kept = lenient_template(object);
            root.unreserved.push(kept.clone());
            return Ok(kept);
        }
        // 65-79: reserved for EMVCo, kept as read.
        _ => {}
    }
    Ok(DataObject::primitive(object.id, text))
}

impl Root<'_> {
    fn finish(self, crc: u16, data_objects: Vec<DataObject>) -> Result<Mpm, ParseError> {
        let payload_format_indicator = self.format.ok_or(missing(FORMAT_INDICATOR_ID))?;
        if self.accounts.is_empty() {
            return Err(ParseError::MissingMerchantAccount);
        }
        let currency = self.currency.ok_or(missing(53))?;
        let country = self.country.ok_or(missing(58))?;
        let schemes = schemes_of(&self.accounts);
        let omissions = schemes.iter().fold(Omissions::default(), |all, scheme| {
            all.union(scheme.omissions())
        });
        require(self.category_code.is_some() || omissions.category_code, 52)?;
        require(self.name.is_some() || omissions.name_and_city, 59)?;
        require(self.city.is_some() || omissions.name_and_city, 60)?;
        let amount = self
            .amount
            .map(|text| amount(FieldPath::root(54), text, currency))
            .transpose()?;
        let tip = tip(
            self.tip_indicator,
            self.fixed_fee,
            self.percentage_fee,
            currency,
        )?;
        Ok(Mpm {
            payload_format_indicator,
            point_of_initiation: self.point_of_initiation,
            merchant_accounts: self.accounts,
            schemes,
            merchant_category_code: self.category_code,
            currency,
            amount,
            tip,
            country,
            merchant_name: self.name,
            merchant_city: self.city,
            postal_code: self.postal_code,
            additional_data: self.additional_data,
            language: self.language,
            unreserved: self.unreserved,
            crc,
            data_objects,
        })
    }
}

fn schemes_of(accounts: &[MerchantAccount]) -> Vec<Scheme> {
    let mut schemes = Vec::new();
    for scheme in accounts.iter().filter_map(MerchantAccount::scheme) {
        if !schemes.contains(&scheme) {
            schemes.push(scheme);
        }
    }
    schemes
}

fn missing(id: u8) -> ParseError {
    ParseError::MissingField {
        id: FieldPath::root(id),
    }
}

fn require(present: bool, id: u8) -> Result<(), ParseError> {
    if present { Ok(()) } else { Err(missing(id)) }
}

/// 55-57 agree: 56 only (and always) with 55 = "02", 57 only (and always) with "03".
fn tip(
    indicator: Option<&str>,
    fixed_fee: Option<&str>,
    percentage_fee: Option<&str>,
    currency: u16,
) -> Result<Option<Tip>, ParseError> {
    let tip = match indicator {
        None => None,
        Some("01") => Some(Tip::Prompt),
        Some("02") => {
            let text = fixed_fee.ok_or(missing(56))?;
            Some(Tip::FixedFee(amount(FieldPath::root(56), text, currency)?))
        }
        Some("03") => {
            let text = percentage_fee.ok_or(missing(57))?;
            let bad = || ParseError::BadFeePercentage { found: text.into() };
            Some(Tip::PercentageFee(
                FeePercentage::parse(text).ok_or_else(bad)?,
            ))
        }
        Some(other) => {
            return Err(ParseError::BadTipIndicator {
                found: other.into(),
            });
        }
    };
    if fixed_fee.is_some() && !matches!(tip, Some(Tip::FixedFee(_))) {
        return Err(ParseError::UnexpectedField {
            id: FieldPath::root(56),
            allowed_when: "when 55 is \"02\" (fixed convenience fee)",
        });
    }
    if percentage_fee.is_some() && !matches!(tip, Some(Tip::PercentageFee(_))) {
        return Err(ParseError::UnexpectedField {
            id: FieldPath::root(57),
            allowed_when: "when 55 is \"03\" (percentage convenience fee)",
        });
    }
    Ok(tip)
}

/// An amount (54, 56) with no more decimals than the currency has.
fn amount(id: FieldPath, text: &str, currency: u16) -> Result<Amount, ParseError> {
    let amount = Amount::parse(text).map_err(|reason| ParseError::BadAmount { id, reason })?;
    let max = currency_exponent(currency);
    if amount.decimals() > usize::from(max) {
        let reason = AmountError::TooManyDecimals {
            decimals: amount.decimals(),
            max,
        };
        return Err(ParseError::BadAmount { id, reason });
    }
    Ok(amount)
}

fn currency(id: FieldPath, text: &str) -> Result<u16, ParseError> {
    let numeric = digits(id, text, 3, "3 digits (ISO 4217 numeric)")?;
    numeric.parse().map_err(|_| ParseError::BadValue {
        id,
        expected: "3 digits (ISO 4217 numeric)",
        found: text.into(),
    })
}

fn digits(
    id: FieldPath,
    text: &str,
    count: usize,
    expected: &'static str,
) -> Result<String, ParseError> {
    if text.len() == count && text.bytes().all(|byte| byte.is_ascii_digit()) {
        Ok(text.to_owned())
    } else {
        Err(ParseError::BadValue {
            id,
            expected,
            found: text.into(),
        })
    }
}

fn alpha2(id: FieldPath, text: &str, expected: &'static str) -> Result<String, ParseError> {
    if text.len() == 2 && text.bytes().all(|byte| byte.is_ascii_alphabetic()) {
        Ok(text.to_owned())
    } else {
        Err(ParseError::BadValue {
            id,
            expected,
            found: text.into(),
        })
    }
}

fn at_most(id: FieldPath, text: &str, max: usize) -> Result<String, ParseError> {
    let len = text.chars().count();
    if len > max {
        return Err(ParseError::ValueTooLong { id, len, max });
    }
    Ok(text.to_owned())
}

fn tokenize_template<'a>(object: &RawObject<'a>) -> Result<Vec<RawObject<'a>>, ParseError> {
    tokenize(object.value, object.value_position(), Some(object.id))
}

fn kept_template(id: u8, children: &[RawObject<'_>]) -> DataObject {
    let kept = children
        .iter()
        .map(|child| DataObject::primitive(child.id, child.value))
        .collect();
    DataObject::template(id, kept)
}

/// 26-51: sub-field 00 (the GUI) is mandatory; 01-99 are the network's business.
fn account_template(object: &RawObject<'_>) -> Result<(MerchantAccount, DataObject), ParseError> {
    let children = tokenize_template(object)?;
    let mut gui = None;
    let mut fields = Vec::new();
    for child in &children {
        if child.id == 0 {
            let path = child.path(Some(object.id));
            gui = Some(at_most(path, child.value, GUI_CHARS_MAX)?);
        } else {
            fields.push(SubField::new(child.id, child.value));
        }
    }
    let gui = gui.ok_or(ParseError::MissingField {
        id: FieldPath::sub(object.id, 0),
    })?;
    let account = MerchantAccount::Template {
        id: object.id,
        gui,
        fields,
    };
    Ok((account, kept_template(object.id, &children)))
}

/// 62: 01-08 up to 25 characters, 09 a set of A/M/E, 50-99 payment system templates.
fn additional_data(object: &RawObject<'_>) -> Result<(AdditionalData, DataObject), ParseError> {
    let children = tokenize_template(object)?;
    let mut data = AdditionalData::default();
    let mut kept = Vec::with_capacity(children.len());
    for child in &children {
        let path = child.path(Some(ADDITIONAL_DATA_ID));
        let child_kept = match child.id {
            50..=99 => lenient_template(child),
            _ => DataObject::primitive(child.id, child.value),
        };
        match (child.id, data.named_mut(child.id)) {
            (9, Some(slot)) => *slot = Some(consumer_data_request(path, child.value)?),
            (_, Some(slot)) => *slot = Some(at_most(path, child.value, ADDITIONAL_DATA_CHARS_MAX)?),
            (_, None) => data.other.push(child_kept.clone()),
        }
        kept.push(child_kept);
    }
    Ok((data, DataObject::template(object.id, kept)))
}

/// 62/09: any of "A" (address), "M" (mobile), "E" (email), each at most once.
fn consumer_data_request(id: FieldPath, text: &str) -> Result<String, ParseError> {
    let mut seen = Vec::with_capacity(CONSUMER_DATA_REQUEST_CHARS_MAX);
    for letter in text.chars() {
        if !matches!(letter, 'A' | 'M' | 'E') || seen.contains(&letter) {
            return Err(ParseError::BadValue {
                id,
                expected: "any of A, M, E, each at most once",
                found: text.into(),
            });
        }
        seen.push(letter);
    }
    Ok(text.to_owned())
}

/// 64: 00 language and 01 name are mandatory, 02 city optional, 03-99 reserved.
fn language_template(object: &RawObject<'_>) -> Result<(LanguageTemplate, DataObject), ParseError> {
    let children = tokenize_template(object)?;
    let (mut language, mut name, mut city) = (None, None, None);
    let mut other = Vec::new();
    for child in &children {
        let path = child.path(Some(LANGUAGE_ID));
        match child.id {
            0 => language = Some(alpha2(path, child.value, "ISO 639 alpha-2")?),
            1 => name = Some(at_most(path, child.value, MERCHANT_NAME_CHARS_MAX)?),
            2 => city = Some(at_most(path, child.value, MERCHANT_CITY_READ_CHARS_MAX)?),
            _ => other.push(DataObject::primitive(child.id, child.value)),
        }
    }
    let missing_sub = |id| ParseError::MissingField {
        id: FieldPath::sub(LANGUAGE_ID, id),
    };
    let template = LanguageTemplate {
        language: language.ok_or_else(|| missing_sub(0))?,
        merchant_name: name.ok_or_else(|| missing_sub(1))?,
        merchant_city: city,
        other,
    };
    Ok((template, kept_template(object.id, &children)))
}

/// 80-99 and 62/50-99 should be templates, but some schemes put raw text there (TrueMoney
/// writes a UTF-16 hex message in 81); keep such values as primitives instead of refusing.
fn lenient_template(object: &RawObject<'_>) -> DataObject {
    match tokenize(object.value, object.value_position(), Some(object.id)) {
        Ok(children) => kept_template(object.id, &children),
        Err(_) => DataObject::primitive(object.id, object.value),
    }
}
