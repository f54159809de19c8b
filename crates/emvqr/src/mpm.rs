//! The parsed payload.

use serde::{Serialize, Serializer};

use crate::amount::{Amount, currency_exponent};
use crate::crc::{crc_hex, crc16_ccitt_false};
use crate::error::AmountError;
use crate::fields::{
    AdditionalData, FormatIndicator, LanguageTemplate, MerchantAccount, PointOfInitiation, Tip,
};
use crate::scheme::Scheme;
use crate::tlv::{DataObject, encode_objects};

/// Header of the CRC object: id 63, length 04. The CRC covers it.
pub(crate) const CRC_HEADER: &str = "6304";

/// A valid merchant-presented payload. Only [`crate::parse`] and [`crate::MpmBuilder`]
/// make one, so every field has passed validation and [`Mpm::payload`] cannot fail.
///
/// The typed fields are views of `data_objects`, which keeps every root object except the
/// CRC in payload order (unknown ids included) for faithful re-encoding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Mpm {
    pub(crate) payload_format_indicator: FormatIndicator,
    pub(crate) point_of_initiation: Option<PointOfInitiation>,
    pub(crate) merchant_accounts: Vec<MerchantAccount>,
    /// Schemes recognised among the merchant accounts, in order, without repeats.
    pub(crate) schemes: Vec<Scheme>,
    pub(crate) merchant_category_code: Option<String>,
    pub(crate) currency: u16,
    pub(crate) amount: Option<Amount>,
    pub(crate) tip: Option<Tip>,
    pub(crate) country: String,
    pub(crate) merchant_name: Option<String>,
    pub(crate) merchant_city: Option<String>,
    pub(crate) postal_code: Option<String>,
    pub(crate) additional_data: Option<AdditionalData>,
    pub(crate) language: Option<LanguageTemplate>,
    /// Templates 80-99 (kept raw when a code misuses one as a primitive).
    pub(crate) unreserved: Vec<DataObject>,
    #[serde(serialize_with = "serialize_crc")]
    pub(crate) crc: u16,
    pub(crate) data_objects: Vec<DataObject>,
}

fn serialize_crc<S: Serializer>(crc: &u16, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&crc_hex(*crc))
}

impl Mpm {
    /// ID 00.
    pub fn payload_format_indicator(&self) -> FormatIndicator {
        self.payload_format_indicator
    }

    /// ID 01; `None` when absent.
    pub fn point_of_initiation(&self) -> Option<PointOfInitiation> {
        self.point_of_initiation
    }

    /// IDs 02-51 in payload order; never empty.
    pub fn merchant_accounts(&self) -> &[MerchantAccount] {
        &self.merchant_accounts
    }

    /// The first merchant account with this id.
    pub fn merchant_account(&self, id: u8) -> Option<&MerchantAccount> {
        self.merchant_accounts
            .iter()
            .find(|account| account.id() == id)
    }

    /// Schemes recognised among the merchant accounts, in order, without repeats.
    pub fn schemes(&self) -> &[Scheme] {
        &self.schemes
    }

    /// ID 52, four digits; absent only under a scheme that omits it (PromptPay, VietQR, QRIS).
    pub fn merchant_category_code(&self) -> Option<&str> {
        self.merchant_category_code.as_deref()
    }

    /// ID 53, ISO 4217 numeric.
    pub fn currency(&self) -> u16 {
        self.currency
    }

    /// ID 54; `None` means the payer enters the amount.
    pub fn amount(&self) -> Option<&Amount> {
        self.amount.as_ref()
    }

    /// ID 54 in minor units of the currency (ID 53).
    pub fn amount_minor_units(&self) -> Option<Result<u64, AmountError>> {
        let exponent = currency_exponent(self.currency);
        self.amount
            .as_ref()
            .map(|amount| amount.to_minor_units(exponent))
    }

    /// IDs 55-57.
    pub fn tip(&self) -> Option<&Tip> {
        self.tip.as_ref()
    }

    /// ID 58, ISO 3166-1 alpha-2.
    pub fn country(&self) -> &str {
        &self.country
    }

    /// ID 59; absent only under PromptPay and VietQR.
    pub fn merchant_name(&self) -> Option<&str> {
        self.merchant_name.as_deref()
    }

    /// ID 60; absent only under PromptPay and VietQR.
    pub fn merchant_city(&self) -> Option<&str> {
        self.merchant_city.as_deref()
    }

    /// ID 61.
    pub fn postal_code(&self) -> Option<&str> {
        self.postal_code.as_deref()
    }

    /// ID 62.
    pub fn additional_data(&self) -> Option<&AdditionalData> {
        self.additional_data.as_ref()
    }

    /// ID 64.
    pub fn language(&self) -> Option<&LanguageTemplate> {
        self.language.as_ref()
    }

    /// IDs 80-99.
    pub fn unreserved(&self) -> &[DataObject] {
        &self.unreserved
    }

    /// ID 63 as read (and as it will be written).
    pub fn crc(&self) -> u16 {
        self.crc
    }

    /// Every root data object except the CRC, in payload order.
    pub fn data_objects(&self) -> &[DataObject] {
        &self.data_objects
    }

    /// A root data object by id, including ones this crate does not interpret (65-79).
    pub fn data_object(&self, id: u8) -> Option<&DataObject> {
        self.data_objects.iter().find(|object| object.id == id)
    }

    /// The payload text: the data objects in their order, then the CRC in uppercase hex.
    pub fn payload(&self) -> String {
        let mut out = encode_objects(&self.data_objects);
        out.push_str(CRC_HEADER);
        let crc = crc16_ccitt_false(out.as_bytes());
        debug_assert_eq!(crc, self.crc, "data objects and CRC went out of step");
        out.push_str(&crc_hex(crc));
        out
    }
}
