//! Property tests: whatever the builder writes parses back to the same thing, our codes
//! lead back to their target, and the parser never panics on mutated payloads.

use cashless_emvqr::{
    AdditionalData, Amount, CashlessMerchant, CashlessOrder, DataObject, EncodeError,
    FeePercentage, LanguageTemplate, MerchantAccount, MpmBuilder, PointOfInitiation, SubField, Tip,
    cashless_target, currency_exponent, encode_dynamic, encode_static, parse,
};
use proptest::collection::{btree_map, vec};
use proptest::option;
use proptest::prelude::*;

use crate::fixtures::{INVALID, VALID};

/// Printable ASCII and CJK: EMVCo "S" values, what a Chinese merchant's name looks like.
fn text(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[ -~\u{4e00}-\u{9fa5}]{{1,{max}}}")).unwrap()
}

fn cjk(max: usize) -> impl Strategy<Value = String> {
    proptest::string::string_regex(&format!("[\u{4e00}-\u{9fa5}]{{1,{max}}}")).unwrap()
}

fn gui() -> impl Strategy<Value = String> {
    "[A-Za-z0-9.]{1,20}"
}

fn account(id: u8) -> BoxedStrategy<MerchantAccount> {
    if id <= 25 {
        "[A-Za-z0-9*@.-]{1,20}"
            .prop_map(move |value| MerchantAccount::Network { id, value })
            .boxed()
    } else {
        (gui(), btree_map(1u8..=99, text(12), 0..=2))
            .prop_map(move |(gui, fields)| MerchantAccount::Template {
                id,
                gui,
                fields: fields
                    .into_iter()
                    .map(|(id, value)| SubField::new(id, value))
                    .collect(),
            })
            .boxed()
    }
}

fn accounts() -> impl Strategy<Value = Vec<MerchantAccount>> {
    btree_map(2u8..=51, Just(()), 1..=2)
        .prop_flat_map(|ids| ids.into_keys().map(account).collect::<Vec<_>>())
}

fn currency() -> impl Strategy<Value = u16> {
    prop_oneof![Just(156u16), Just(704), Just(48), Just(986), 1u16..=999]
}

fn tip(exponent: u8) -> impl Strategy<Value = Option<Tip>> {
    option::of(prop_oneof![
        Just(Tip::Prompt),
        (1u64..=100_000).prop_map(move |minor| {
            Tip::FixedFee(Amount::from_minor_units(minor, exponent).unwrap())
        }),
        (1u16..=9999).prop_map(|points| {
            let text = format!("{:02}.{:02}", points / 100, points % 100);
            Tip::PercentageFee(FeePercentage::parse(&text).unwrap())
        }),
    ])
}

fn additional_data() -> impl Strategy<Value = Option<AdditionalData>> {
    // Sized so that the whole template stays within 99 characters.
    let label = || option::of("[A-Za-z0-9 *-]{1,15}");
    let request = option::of(prop_oneof![Just("A"), Just("ME"), Just("EMA")]);
    let template = option::of(("[A-Za-z0-9.]{1,10}", text(6)).prop_map(|(gui, value)| {
        DataObject::template(
            50,
            vec![
                DataObject::primitive(0, gui),
                DataObject::primitive(1, value),
            ],
        )
    }));
    (label(), label(), label(), request, template).prop_map(
        |(bill, reference, terminal, request, template)| {
            let data = AdditionalData {
                bill_number: bill,
                reference_label: reference,
                terminal_label: terminal,
                consumer_data_request: request.map(str::to_owned),
                other: template.into_iter().collect(),
                ..AdditionalData::default()
            };
            (data != AdditionalData::default()).then_some(data)
        },
    )
}

fn language() -> impl Strategy<Value = Option<LanguageTemplate>> {
    option::of(
        (
            prop_oneof![Just("ZH"), Just("JA")],
            cjk(25),
            option::of(cjk(15)),
        )
            .prop_map(|(language, name, city)| LanguageTemplate {
                language: language.to_owned(),
                merchant_name: name,
                merchant_city: city,
                other: Vec::new(),
            }),
    )
}

fn unreserved() -> impl Strategy<Value = Vec<DataObject>> {
    option::of((80u8..=99, gui(), text(10)).prop_map(|(id, gui, value)| {
        DataObject::template(
            id,
            vec![
                DataObject::primitive(0, gui),
                DataObject::primitive(1, value),
            ],
        )
    }))
    .prop_map(|object| object.into_iter().collect())
}

#[derive(Debug, Clone)]
struct Input {
    point: PointOfInitiation,
    accounts: Vec<MerchantAccount>,
    category_code: String,
    currency: u16,
    amount: Option<Amount>,
    tip: Option<Tip>,
    name: String,
    city: String,
    postal_code: Option<String>,
    additional_data: Option<AdditionalData>,
    language: Option<LanguageTemplate>,
    unreserved: Vec<DataObject>,
}

fn input() -> impl Strategy<Value = Input> {
    currency().prop_flat_map(|currency| {
        let exponent = currency_exponent(currency);
        let amount = option::of(
            (1u64..=1_000_000_000)
                .prop_map(move |minor| Amount::from_minor_units(minor, exponent).unwrap()),
        );
        let point = prop_oneof![
            Just(PointOfInitiation::Static),
            Just(PointOfInitiation::Dynamic)
        ];
        (
            (point, accounts(), "[0-9]{4}", amount, tip(exponent)),
            (text(25), text(15), option::of("[0-9A-Z-]{1,10}")),
            (additional_data(), language(), unreserved()),
        )
            .prop_map(move |(head, place, tail)| {
                let (point, accounts, category_code, amount, tip) = head;
                let (name, city, postal_code) = place;
                let (additional_data, language, unreserved) = tail;
                Input {
                    point,
                    accounts,
                    category_code,
                    currency,
                    amount,
                    tip,
                    name,
                    city,
                    postal_code,
                    additional_data,
                    language,
                    unreserved,
                }
            })
    })
}

impl Input {
    fn builder(&self) -> MpmBuilder {
        let mut builder = MpmBuilder::new()
            .point_of_initiation(self.point)
            .merchant_category_code(&self.category_code)
            .currency(self.currency)
            .country("CN")
            .merchant_name(&self.name)
            .merchant_city(&self.city);
        for account in &self.accounts {
            builder = builder.merchant_account(account.clone());
        }
        let options = (&self.amount, &self.tip, &self.postal_code);
        if let Some(amount) = options.0 {
            builder = builder.amount(amount.clone());
        }
        if let Some(tip) = options.1 {
            builder = builder.tip(tip.clone());
        }
        if let Some(postal_code) = options.2 {
            builder = builder.postal_code(postal_code);
        }
        if let Some(data) = &self.additional_data {
            builder = builder.additional_data(data.clone());
        }
        if let Some(language) = &self.language {
            builder = builder.language(language.clone());
        }
        for object in &self.unreserved {
            builder = builder.extra(object.clone());
        }
        builder
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn built_payloads_parse_back_equal(input in input()) {
        let built = match input.builder().build() {
            Ok(built) => built,
            // Random inputs can exceed the 512-character guideline; that refusal is tested
            // elsewhere.
            Err(EncodeError::TooLong { .. }) => return Ok(()),
            Err(error) => return Err(TestCaseError::fail(format!("{error}"))),
        };
        let payload = built.payload();
        let parsed = parse(&payload).unwrap();
        prop_assert_eq!(&parsed, &built);
        prop_assert_eq!(parsed.payload(), payload);
        prop_assert_eq!(parsed.merchant_accounts(), &input.accounts[..]);
        prop_assert_eq!(parsed.merchant_name(), Some(input.name.as_str()));
        prop_assert_eq!(parsed.merchant_city(), Some(input.city.as_str()));
        prop_assert_eq!(parsed.currency(), input.currency);
        prop_assert_eq!(parsed.amount(), input.amount.as_ref());
        prop_assert_eq!(parsed.tip(), input.tip.as_ref());
        prop_assert_eq!(parsed.additional_data(), input.additional_data.as_ref());
        prop_assert_eq!(parsed.language(), input.language.as_ref());
        prop_assert_eq!(parsed.unreserved(), &input.unreserved[..]);
    }

    #[test]
    fn our_codes_lead_back_to_their_target(
        merchant_id in "[A-Za-z0-9-]{1,30}",
        store_id in option::of("[A-Za-z0-9-]{1,20}"),
        name in text(25),
        city in text(15),
        chinese_name in option::of(cjk(25)),
        minor in option::of(1u64..=10_000_000_000),
        reference in "[A-Za-z0-9-]{1,25}",
        terminal in option::of("[A-Za-z0-9]{1,25}"),
    ) {
        let merchant = CashlessMerchant {
            store_id: store_id.clone(),
            chinese_name,
            ..CashlessMerchant::new(&merchant_id, name, city, "5812")
        };
        let mpm = match minor {
            None => encode_static(&merchant).unwrap(),
            Some(minor) => {
                let amount = Amount::from_minor_units(minor, 2).unwrap();
                let order = CashlessOrder { amount, reference: reference.clone(), terminal };
                encode_dynamic(&merchant, &order).unwrap()
            }
        };
        let target = cashless_target(&parse(&mpm.payload()).unwrap()).unwrap();
        prop_assert_eq!(target.merchant_id, merchant_id);
        prop_assert_eq!(target.store_id, store_id);
        let minor_back = target.amount.map(|amount| amount.to_minor_units(2).unwrap());
        prop_assert_eq!(minor_back, minor);
        prop_assert_eq!(target.order_reference, minor.map(|_| reference));
    }

    /// A small in-process fuzzer: vectors with random edits never panic the parser, and
    /// whatever it accepts re-encodes and re-parses to the same thing.
    #[test]
    fn mutated_vectors_never_panic(
        index in 0..VALID.len() + INVALID.len(),
        edits in vec((any::<prop::sample::Index>(), prop_oneof![
            Just(None),
            any::<char>().prop_map(Some),
            prop::sample::select(&['0', '1', '6', '3', '北'][..]).prop_map(Some),
        ]), 0..4),
    ) {
        let base = VALID
            .iter()
            .map(|(_, _, payload)| *payload)
            .chain(INVALID.iter().map(|(_, _, payload, _)| *payload))
            .nth(index)
            .unwrap();
        let mut chars: Vec<char> = base.chars().collect();
        for (at, replacement) in edits {
            let at = at.index(chars.len());
            match replacement {
                None => { chars.remove(at); }
                Some(c) => chars[at] = c,
            }
        }
        let text: String = chars.into_iter().collect();
        if let Ok(mpm) = parse(&text) {
            prop_assert!(mpm.payload().eq_ignore_ascii_case(&text));
            let again = parse(&mpm.payload()).unwrap();
            prop_assert_eq!(again, mpm);
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,300}") {
        if let Ok(mpm) = parse(&text) {
            prop_assert_eq!(parse(&mpm.payload()).unwrap(), mpm);
        }
    }
}
