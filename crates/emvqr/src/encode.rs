//! Writing payloads: [`MpmBuilder`] assembles data objects in canonical order, checks the
//! length limits EMVCo sets, appends the CRC, and lets the parser judge the result.

use crate::amount::Amount;
use crate::crc::{crc_hex, crc16_ccitt_false};
use crate::error::EncodeError;
use crate::fields::{
    AdditionalData, FormatIndicator, LanguageTemplate, MerchantAccount, PointOfInitiation, Tip,
};
use crate::limits::{
    ADDITIONAL_DATA_CHARS_MAX, GUI_CHARS_MAX, MERCHANT_CITY_CHARS_MAX, MERCHANT_NAME_CHARS_MAX,
    PAYLOAD_CHARS_MAX, POSTAL_CODE_CHARS_MAX, VALUE_CHARS_MAX,
};
use crate::mpm::{CRC_HEADER, Mpm};
use crate::parse::parse;
use crate::path::FieldPath;
use crate::tlv::{DataObject, Value, encode_objects};

/// Builds a merchant-presented payload. Mandatory fields are whatever [`crate::parse`]
/// demands; `build` refuses (never panics on) anything that would not parse back.
#[derive(Debug, Clone)]
pub struct MpmBuilder {
    format_indicator: FormatIndicator,
    point_of_initiation: Option<PointOfInitiation>,
    merchant_accounts: Vec<MerchantAccount>,
    category_code: Option<String>,
    currency: Option<u16>,
    amount: Option<Amount>,
    tip: Option<Tip>,
    country: Option<String>,
    merchant_name: Option<String>,
    merchant_city: Option<String>,
    postal_code: Option<String>,
    additional_data: Option<AdditionalData>,
    language: Option<LanguageTemplate>,
    extra: Vec<DataObject>,
}

impl Default for MpmBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl MpmBuilder {
    /// Payload format indicator "01", nothing else set.
    pub fn new() -> Self {
        Self {
            format_indicator: FormatIndicator::V01,
            point_of_initiation: None,
            merchant_accounts: Vec::new(),
            category_code: None,
            currency: None,
            amount: None,
            tip: None,
            country: None,
            merchant_name: None,
            merchant_city: None,
            postal_code: None,
            additional_data: None,
            language: None,
            extra: Vec::new(),
        }
    }

    pub fn format_indicator(mut self, indicator: FormatIndicator) -> Self {
        self.format_indicator = indicator;
        self
    }

    pub fn point_of_initiation(mut self, point: PointOfInitiation) -> Self {
        self.point_of_initiation = Some(point);
        self
    }

    /// Adds a merchant account (02-25 network primitive or 26-51 template), in order.
    pub fn merchant_account(mut self, account: MerchantAccount) -> Self {
        self.merchant_accounts.push(account);
        self
    }

    pub fn merchant_category_code(mut self, code: impl Into<String>) -> Self {
        self.category_code = Some(code.into());
        self
    }

    /// ISO 4217 numeric, e.g. 156 for CNY.
    pub fn currency(mut self, numeric: u16) -> Self {
        self.currency = Some(numeric);
        self
    }

    pub fn amount(mut self, amount: Amount) -> Self {
        self.amount = Some(amount);
        self
    }

    pub fn tip(mut self, tip: Tip) -> Self {
        self.tip = Some(tip);
        self
    }

    pub fn country(mut self, alpha2: impl Into<String>) -> Self {
        self.country = Some(alpha2.into());
        self
    }

    pub fn merchant_name(mut self, name: impl Into<String>) -> Self {
        self.merchant_name = Some(name.into());
        self
    }

    pub fn merchant_city(mut self, city: impl Into<String>) -> Self {
        self.merchant_city = Some(city.into());
        self
    }

    pub fn postal_code(mut self, code: impl Into<String>) -> Self {
        self.postal_code = Some(code.into());
        self
    }

    pub fn additional_data(mut self, data: AdditionalData) -> Self {
        self.additional_data = Some(data);
        self
    }

    pub fn language(mut self, language: LanguageTemplate) -> Self {
        self.language = Some(language);
        self
    }

    /// Adds a root object with an id this builder has no setter for: 65-79 (reserved for
    /// EMVCo) or 80-99 (unreserved templates, which should lead with a GUI in 00).
    pub fn extra(mut self, object: DataObject) -> Self {
        self.extra.push(object);
        self
    }

    /// Writes the payload and parses it back, so the result is exactly what a reader sees.
    pub fn build(&self) -> Result<Mpm, EncodeError> {
        Ok(parse(&self.payload()?)?)
    }

    /// Writes the payload text without parsing it back. The builder checks ids, lengths and
    /// emptiness as it writes, but only the parser checks each value's format (a category
    /// code of four digits, say): use this where every value is known good, such as an order's
    /// code for a merchant whose own code [`build`](Self::build) already accepted, and
    /// `build` everywhere else.
    pub fn payload(&self) -> Result<String, EncodeError> {
        let objects = self.data_objects()?;
        let mut payload = encode_objects(&objects);
        payload.push_str(CRC_HEADER);
        let crc = crc16_ccitt_false(payload.as_bytes());
        payload.push_str(&crc_hex(crc));
        let chars = payload.chars().count();
        if chars > PAYLOAD_CHARS_MAX {
            return Err(EncodeError::TooLong {
                chars,
                max: PAYLOAD_CHARS_MAX,
            });
        }
        Ok(payload)
    }

    /// Root objects in canonical (ascending id) order, accounts and extras as given.
    fn data_objects(&self) -> Result<Vec<DataObject>, EncodeError> {
        let mut objects = vec![DataObject::primitive(0, self.format_indicator.as_str())];
        if let Some(point) = self.point_of_initiation {
            objects.push(DataObject::primitive(1, point.as_str()));
        }
        for account in &self.merchant_accounts {
            objects.push(account_object(account)?);
        }
        push_text(
            &mut objects,
            52,
            self.category_code.as_deref(),
            VALUE_CHARS_MAX,
        )?;
        let currency = self.currency.map(|numeric| format!("{numeric:03}"));
        push_text(&mut objects, 53, currency.as_deref(), VALUE_CHARS_MAX)?;
        let amount = self.amount.as_ref().map(Amount::as_str);
        push_text(&mut objects, 54, amount, VALUE_CHARS_MAX)?;
        if let Some(tip) = &self.tip {
            objects.extend(tip_objects(tip));
        }
        push_text(&mut objects, 58, self.country.as_deref(), VALUE_CHARS_MAX)?;
        let name = self.merchant_name.as_deref();
        push_text(&mut objects, 59, name, MERCHANT_NAME_CHARS_MAX)?;
        let city = self.merchant_city.as_deref();
        push_text(&mut objects, 60, city, MERCHANT_CITY_CHARS_MAX)?;
        let postal_code = self.postal_code.as_deref();
        push_text(&mut objects, 61, postal_code, POSTAL_CODE_CHARS_MAX)?;
        if let Some(data) = &self.additional_data {
            objects.push(additional_data_object(data)?);
        }
        if let Some(language) = &self.language {
            objects.push(language_object(language)?);
        }
        for object in &self.extra {
            if !(65..=99).contains(&object.id) {
                return Err(EncodeError::BadId {
                    id: object.id,
                    expected: "65-99 for extra root objects",
                });
            }
            objects.push(checked(None, object.clone())?);
        }
        Ok(objects)
    }
}

fn push_text(
    objects: &mut Vec<DataObject>,
    id: u8,
    text: Option<&str>,
    max: usize,
) -> Result<(), EncodeError> {
    if let Some(text) = text {
        objects.push(text_object(FieldPath::root(id), text, max)?);
    }
    Ok(())
}

/// A primitive of 1..=`max` characters.
fn text_object(path: FieldPath, text: &str, max: usize) -> Result<DataObject, EncodeError> {
    let len = text.chars().count();
    if len == 0 {
        return Err(EncodeError::EmptyValue { id: path });
    }
    if len > max {
        return Err(EncodeError::ValueTooLong { id: path, len, max });
    }
    Ok(DataObject::primitive(path.id, text))
}

/// Passes `object` through once every value in it (and below) is 1 to 99 characters.
fn checked(template: Option<u8>, object: DataObject) -> Result<DataObject, EncodeError> {
    check_lengths(template, &object)?;
    Ok(object)
}

fn check_lengths(template: Option<u8>, object: &DataObject) -> Result<(), EncodeError> {
    let path = FieldPath {
        template,
        id: object.id,
    };
    if let Value::Template(children) = &object.value {
        for child in children {
            check_lengths(Some(template.unwrap_or(object.id)), child)?;
        }
    }
    let len = object.value_text().chars().count();
    if len == 0 {
        return Err(EncodeError::EmptyValue { id: path });
    }
    if len > VALUE_CHARS_MAX {
        return Err(EncodeError::ValueTooLong {
            id: path,
            len,
            max: VALUE_CHARS_MAX,
        });
    }
    Ok(())
}

fn account_object(account: &MerchantAccount) -> Result<DataObject, EncodeError> {
    match account {
        MerchantAccount::Network { id, value } => {
            if !(2..=25).contains(id) {
                return Err(EncodeError::BadId {
                    id: *id,
                    expected: "02-25 for a network primitive",
                });
            }
            text_object(FieldPath::root(*id), value, VALUE_CHARS_MAX)
        }
        MerchantAccount::Template { id, gui, fields } => {
            if !(26..=51).contains(id) {
                return Err(EncodeError::BadId {
                    id: *id,
                    expected: "26-51 for a merchant account template",
                });
            }
            let mut children = vec![text_object(FieldPath::sub(*id, 0), gui, GUI_CHARS_MAX)?];
            for field in fields {
                let path = FieldPath::sub(*id, field.id);
                children.push(text_object(path, &field.value, VALUE_CHARS_MAX)?);
            }
            checked(None, DataObject::template(*id, children))
        }
    }
}

fn tip_objects(tip: &Tip) -> Vec<DataObject> {
    let indicator = DataObject::primitive(55, tip.indicator());
    match tip {
        Tip::Prompt => vec![indicator],
        Tip::FixedFee(fee) => vec![indicator, DataObject::primitive(56, fee.as_str())],
        Tip::PercentageFee(fee) => vec![indicator, DataObject::primitive(57, fee.as_str())],
    }
}

fn additional_data_object(data: &AdditionalData) -> Result<DataObject, EncodeError> {
    const ID: u8 = 62;
    let mut children = Vec::new();
    for (id, text) in data.named() {
        if let Some(text) = text {
            let path = FieldPath::sub(ID, id);
            children.push(text_object(path, text, ADDITIONAL_DATA_CHARS_MAX)?);
        }
    }
    for object in &data.other {
        children.push(checked(Some(ID), object.clone())?);
    }
    checked(None, DataObject::template(ID, children))
}

fn language_object(language: &LanguageTemplate) -> Result<DataObject, EncodeError> {
    const ID: u8 = 64;
    let mut children = vec![
        text_object(FieldPath::sub(ID, 0), &language.language, 2)?,
        text_object(
            FieldPath::sub(ID, 1),
            &language.merchant_name,
            MERCHANT_NAME_CHARS_MAX,
        )?,
    ];
    if let Some(city) = &language.merchant_city {
        let path = FieldPath::sub(ID, 2);
        children.push(text_object(path, city, MERCHANT_CITY_CHARS_MAX)?);
    }
    for object in &language.other {
        children.push(checked(Some(ID), object.clone())?);
    }
    checked(None, DataObject::template(ID, children))
}
