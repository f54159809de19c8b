//! Typed views of the data objects EMVCo defines.

use serde::Serialize;

use crate::amount::{Amount, FeePercentage};
use crate::scheme::{Scheme, scheme_for_gui, scheme_for_network_id};
use crate::tlv::{DataObject, serialize_id};

/// ID 00.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum FormatIndicator {
    /// "01", the only value EMVCo defines.
    #[serde(rename = "01")]
    V01,
    /// "02", required by Malaysia's DuitNow QR spec (PayNet v1.5); tolerated on read.
    #[serde(rename = "02")]
    V02,
}

impl FormatIndicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V01 => "01",
            Self::V02 => "02",
        }
    }

    pub(crate) fn from_wire(text: &str) -> Option<Self> {
        match text {
            "01" => Some(Self::V01),
            "02" => Some(Self::V02),
            _ => None,
        }
    }
}

/// ID 01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PointOfInitiation {
    /// "11": the same code for many payments; the payer usually enters the amount.
    Static,
    /// "12": a new code for each payment.
    Dynamic,
}

impl PointOfInitiation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Static => "11",
            Self::Dynamic => "12",
        }
    }

    pub(crate) fn from_wire(text: &str) -> Option<Self> {
        match text {
            "11" => Some(Self::Static),
            "12" => Some(Self::Dynamic),
            _ => None,
        }
    }
}

/// A sub-field of a template, kept as text (network-specific content is not interpreted,
/// e.g. VietQR's 38/01 is itself a template).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct SubField {
    #[serde(serialize_with = "serialize_id")]
    pub id: u8,
    pub value: String,
}

impl SubField {
    pub fn new(id: u8, value: impl Into<String>) -> Self {
        Self {
            id,
            value: value.into(),
        }
    }
}

/// Merchant account information, IDs 02-51.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MerchantAccount {
    /// 02-25: a payment network's primitive value (Visa, Mastercard, UnionPay …), raw.
    Network {
        #[serde(serialize_with = "serialize_id")]
        id: u8,
        value: String,
    },
    /// 26-51: a template led by its globally unique identifier (sub-field 00).
    Template {
        #[serde(serialize_with = "serialize_id")]
        id: u8,
        gui: String,
        /// Sub-fields 01-99 in payload order.
        fields: Vec<SubField>,
    },
}

impl MerchantAccount {
    pub fn id(&self) -> u8 {
        match self {
            Self::Network { id, .. } | Self::Template { id, .. } => *id,
        }
    }

    pub fn gui(&self) -> Option<&str> {
        match self {
            Self::Network { .. } => None,
            Self::Template { gui, .. } => Some(gui),
        }
    }

    /// A template's sub-field by id (01-99).
    pub fn field(&self, id: u8) -> Option<&str> {
        match self {
            Self::Network { .. } => None,
            Self::Template { fields, .. } => fields
                .iter()
                .find(|field| field.id == id)
                .map(|field| field.value.as_str()),
        }
    }

    /// The scheme this account belongs to, when the GUI or network id is one we know.
    pub fn scheme(&self) -> Option<Scheme> {
        match self {
            Self::Network { id, .. } => scheme_for_network_id(*id),
            Self::Template { gui, .. } => scheme_for_gui(gui),
        }
    }
}

/// IDs 55-57: what the payer adds on top of the amount.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Tip {
    /// 55 = "01": the app asks the payer for a tip.
    Prompt,
    /// 55 = "02": a fixed convenience fee in 56.
    FixedFee(Amount),
    /// 55 = "03": a percentage convenience fee in 57.
    PercentageFee(FeePercentage),
}

impl Tip {
    pub(crate) fn indicator(&self) -> &'static str {
        match self {
            Self::Prompt => "01",
            Self::FixedFee(_) => "02",
            Self::PercentageFee(_) => "03",
        }
    }
}

/// ID 62. Sub-fields 01-08 may hold "***": the app must ask the payer for the value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize)]
pub struct AdditionalData {
    /// 01
    pub bill_number: Option<String>,
    /// 02
    pub mobile_number: Option<String>,
    /// 03
    pub store_label: Option<String>,
    /// 04
    pub loyalty_number: Option<String>,
    /// 05: the order reference of our dynamic codes, the txid of Pix.
    pub reference_label: Option<String>,
    /// 06
    pub customer_label: Option<String>,
    /// 07
    pub terminal_label: Option<String>,
    /// 08
    pub purpose: Option<String>,
    /// 09: any of "A" (address), "M" (mobile), "E" (email), each at most once.
    pub consumer_data_request: Option<String>,
    /// 00 and 10-49 (RFU) and 50-99 (payment system templates), in payload order.
    pub other: Vec<DataObject>,
}

impl AdditionalData {
    /// The named sub-fields 01-09 with their ids, in id order.
    pub(crate) fn named(&self) -> [(u8, Option<&str>); 9] {
        [
            (1, self.bill_number.as_deref()),
            (2, self.mobile_number.as_deref()),
            (3, self.store_label.as_deref()),
            (4, self.loyalty_number.as_deref()),
            (5, self.reference_label.as_deref()),
            (6, self.customer_label.as_deref()),
            (7, self.terminal_label.as_deref()),
            (8, self.purpose.as_deref()),
            (9, self.consumer_data_request.as_deref()),
        ]
    }

    pub(crate) fn named_mut(&mut self, id: u8) -> Option<&mut Option<String>> {
        match id {
            1 => Some(&mut self.bill_number),
            2 => Some(&mut self.mobile_number),
            3 => Some(&mut self.store_label),
            4 => Some(&mut self.loyalty_number),
            5 => Some(&mut self.reference_label),
            6 => Some(&mut self.customer_label),
            7 => Some(&mut self.terminal_label),
            8 => Some(&mut self.purpose),
            9 => Some(&mut self.consumer_data_request),
            _ => None,
        }
    }
}

/// ID 64: the merchant's name (and city) in a second language, e.g. Chinese.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LanguageTemplate {
    /// 00: ISO 639 alpha-2, e.g. "ZH".
    pub language: String,
    /// 01
    pub merchant_name: String,
    /// 02
    pub merchant_city: Option<String>,
    /// 03-99 (RFU), in payload order.
    pub other: Vec<DataObject>,
}
