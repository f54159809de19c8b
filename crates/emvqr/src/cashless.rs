//! Our own codes: merchant account template 26 with GUI [`CASHLESS_GUI`].

use serde::Serialize;

use crate::amount::Amount;
use crate::encode::MpmBuilder;
use crate::error::EncodeError;
use crate::fields::{
    AdditionalData, LanguageTemplate, MerchantAccount, PointOfInitiation, SubField,
};
use crate::mpm::Mpm;

/// Sub-field 00 of our merchant account template: marks a code as one of ours.
pub use crate::scheme::CASHLESS_GUI;
/// The root id of our merchant account template (the first template id, 26).
pub const CASHLESS_TEMPLATE_ID: u8 = 26;
/// Sub-field of our template holding the merchant id.
const MERCHANT_ID_FIELD: u8 = 1;
/// Optional sub-field of our template holding the store id.
const STORE_ID_FIELD: u8 = 2;
/// Language preference (64/00) of the alternate merchant name we write.
const CHINESE_LANGUAGE: &str = "ZH";
/// What 62/01-08 hold when the app must ask the payer; never an order reference of ours.
const PROMPT_MARKER: &str = "***";

/// A merchant as printed on our codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashlessMerchant {
    pub merchant_id: String,
    pub store_id: Option<String>,
    /// ID 59, at most 25 characters.
    pub name: String,
    /// ID 60, at most 15 characters.
    pub city: String,
    /// ID 52, ISO 18245.
    pub category_code: String,
    /// ID 53, ISO 4217 numeric.
    pub currency: u16,
    /// ID 58, ISO 3166-1 alpha-2.
    pub country: String,
    /// 64/01 with language "ZH", at most 25 characters.
    pub chinese_name: Option<String>,
    /// 64/02, at most 15 characters; only written with a Chinese name.
    pub chinese_city: Option<String>,
}

/// The platform's home market: Chinese yuan.
const DEFAULT_CURRENCY: u16 = 156;
const DEFAULT_COUNTRY: &str = "CN";

impl CashlessMerchant {
    /// A merchant in China paid in CNY, without store or Chinese name.
    pub fn new(
        merchant_id: impl Into<String>,
        name: impl Into<String>,
        city: impl Into<String>,
        category_code: impl Into<String>,
    ) -> Self {
        Self {
            merchant_id: merchant_id.into(),
            store_id: None,
            name: name.into(),
            city: city.into(),
            category_code: category_code.into(),
            currency: DEFAULT_CURRENCY,
            country: DEFAULT_COUNTRY.to_owned(),
            chinese_name: None,
            chinese_city: None,
        }
    }

    fn builder(&self, point: PointOfInitiation) -> MpmBuilder {
        let mut fields = vec![SubField::new(MERCHANT_ID_FIELD, &self.merchant_id)];
        if let Some(store_id) = &self.store_id {
            fields.push(SubField::new(STORE_ID_FIELD, store_id));
        }
        let builder = MpmBuilder::new()
            .point_of_initiation(point)
            .merchant_account(MerchantAccount::Template {
                id: CASHLESS_TEMPLATE_ID,
                gui: CASHLESS_GUI.to_owned(),
                fields,
            })
            .merchant_category_code(&self.category_code)
            .currency(self.currency)
            .country(&self.country)
            .merchant_name(&self.name)
            .merchant_city(&self.city);
        match &self.chinese_name {
            Some(name) => builder.language(LanguageTemplate {
                language: CHINESE_LANGUAGE.to_owned(),
                merchant_name: name.clone(),
                merchant_city: self.chinese_city.clone(),
                other: Vec::new(),
            }),
            None => builder,
        }
    }
}

/// What a dynamic code asks the payer to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashlessOrder {
    pub amount: Amount,
    /// 62/05, at most 25 characters.
    pub reference: String,
    /// 62/07, at most 25 characters.
    pub terminal: Option<String>,
}

/// A static code ("11"): printed once, the payer enters the amount.
pub fn encode_static(merchant: &CashlessMerchant) -> Result<Mpm, EncodeError> {
    merchant.builder(PointOfInitiation::Static).build()
}

/// A dynamic code ("12") for one order: amount, reference label and optional terminal.
pub fn encode_dynamic(
    merchant: &CashlessMerchant,
    order: &CashlessOrder,
) -> Result<Mpm, EncodeError> {
    dynamic_builder(merchant, order).build()
}

/// The payload text of [`encode_dynamic`]'s code, without parsing it back (see
/// [`MpmBuilder::payload`]): what a merchant's precreate answers with. Only for a merchant
/// whose static code [`encode_static`] accepted, and a reference and terminal label of
/// letters, digits and dashes: the order adds nothing else to the code.
pub fn dynamic_payload(
    merchant: &CashlessMerchant,
    order: &CashlessOrder,
) -> Result<String, EncodeError> {
    dynamic_builder(merchant, order).payload()
}

fn dynamic_builder(merchant: &CashlessMerchant, order: &CashlessOrder) -> MpmBuilder {
    let data = AdditionalData {
        reference_label: Some(order.reference.clone()),
        terminal_label: order.terminal.clone(),
        ..AdditionalData::default()
    };
    merchant
        .builder(PointOfInitiation::Dynamic)
        .amount(order.amount.clone())
        .additional_data(data)
}

/// Where a payment for one of our codes goes. Plain strings: the payment service turns
/// them into its own id types at its edge.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CashlessTarget {
    pub merchant_id: String,
    pub store_id: Option<String>,
    /// 62/05 of a dynamic code; `None` for static codes or the "***" prompt marker.
    pub order_reference: Option<String>,
    /// ID 54; `None` means the payer enters the amount.
    pub amount: Option<Amount>,
    /// ID 53, ISO 4217 numeric: the amount means nothing without it.
    pub currency: u16,
}

/// The target of one of our codes, `None` for a foreign scheme (see [`Mpm::schemes`]).
/// A code is ours when any template 26-51 carries [`CASHLESS_GUI`] and a merchant id.
pub fn cashless_target(mpm: &Mpm) -> Option<CashlessTarget> {
    let account = mpm.merchant_accounts().iter().find(|account| {
        account
            .gui()
            .is_some_and(|gui| gui.eq_ignore_ascii_case(CASHLESS_GUI))
    })?;
    let merchant_id = account.field(MERCHANT_ID_FIELD)?.to_owned();
    let order_reference = mpm
        .additional_data()
        .and_then(|data| data.reference_label.as_deref())
        .filter(|reference| *reference != PROMPT_MARKER)
        .map(str::to_owned);
    Some(CashlessTarget {
        merchant_id,
        store_id: account.field(STORE_ID_FIELD).map(str::to_owned),
        order_reference,
        amount: mpm.amount().cloned(),
        currency: mpm.currency(),
    })
}
