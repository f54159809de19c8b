//! Writing payloads: our own codes, the generic builder and its refusals.

use cashless_emvqr::{
    AdditionalData, Amount, CASHLESS_GUI, CashlessMerchant, CashlessOrder, CashlessTarget,
    DataObject, EncodeError, FeePercentage, FieldPath, LanguageTemplate, MerchantAccount,
    MpmBuilder, ParseError, PointOfInitiation, Scheme, SubField, Tip, cashless_target,
    dynamic_payload, encode_dynamic, encode_static, parse,
};

fn noodle_house() -> CashlessMerchant {
    CashlessMerchant::new("M123456", "Noodle House", "Shanghai", "5812")
}

#[test]
fn static_code_with_chinese_name() {
    let merchant = CashlessMerchant {
        store_id: Some("S01".into()),
        chinese_name: Some("面馆".into()),
        chinese_city: Some("上海".into()),
        ..noodle_house()
    };
    let mpm = encode_static(&merchant).unwrap();
    // Layout and CRC checked independently (Python, crc16_ccitt_false from the vectors doc).
    assert_eq!(
        mpm.payload(),
        "00020101021126340012com.cashless0107M1234560203S015204581253031565802CN\
         5912Noodle House6008Shanghai64180002ZH0102面馆0202上海6304FB20"
    );
    assert_eq!(mpm.point_of_initiation(), Some(PointOfInitiation::Static));
    assert_eq!(mpm.schemes(), [Scheme::Cashless]);
    assert_eq!(
        cashless_target(&mpm),
        Some(CashlessTarget {
            merchant_id: "M123456".into(),
            store_id: Some("S01".into()),
            order_reference: None,
            amount: None,
            currency: 156,
        })
    );
}

#[test]
fn dynamic_code_for_one_order() {
    let order = CashlessOrder {
        amount: Amount::parse("12.50").unwrap(),
        reference: "ORD-2024-0001".into(),
        terminal: Some("T7".into()),
    };
    let mpm = encode_dynamic(&noodle_house(), &order).unwrap();
    assert_eq!(
        mpm.payload(),
        "00020101021226270012com.cashless0107M123456520458125303156540512.505802CN\
         5912Noodle House6008Shanghai62230513ORD-2024-00010702T76304CF9B"
    );
    let target = cashless_target(&parse(&mpm.payload()).unwrap()).unwrap();
    assert_eq!(target.merchant_id, "M123456");
    assert_eq!(target.order_reference.as_deref(), Some("ORD-2024-0001"));
    assert_eq!(target.amount.unwrap().to_minor_units(2), Ok(1250));
    // The text alone, as precreate answers with it, is the same code.
    assert_eq!(
        dynamic_payload(&noodle_house(), &order).unwrap(),
        mpm.payload()
    );
}

#[test]
fn our_template_among_others_is_still_ours() {
    let mpm = MpmBuilder::new()
        .merchant_account(MerchantAccount::Network {
            id: 15,
            value: "2500034400010344".into(),
        })
        .merchant_account(MerchantAccount::Template {
            id: 27,
            gui: CASHLESS_GUI.to_uppercase(),
            fields: vec![SubField::new(1, "M9")],
        })
        .merchant_category_code("5411")
        .currency(156)
        .country("CN")
        .merchant_name("Corner Shop")
        .merchant_city("Beijing")
        .additional_data(AdditionalData {
            reference_label: Some("***".into()),
            ..Default::default()
        })
        .build()
        .unwrap();
    let target = cashless_target(&mpm).unwrap();
    assert_eq!(target.merchant_id, "M9");
    assert_eq!(
        target.order_reference, None,
        "\"***\" is a prompt, not a reference"
    );
    assert_eq!(mpm.schemes(), [Scheme::UnionPay, Scheme::Cashless]);
}

#[test]
fn generic_builder_writes_every_field() {
    let mpm = MpmBuilder::new()
        .point_of_initiation(PointOfInitiation::Dynamic)
        .merchant_account(MerchantAccount::Template {
            id: 26,
            gui: "br.gov.bcb.pix".into(),
            fields: vec![SubField::new(1, "fulano@example.com")],
        })
        .merchant_category_code("0000")
        .currency(986)
        .amount(Amount::parse("10.00").unwrap())
        .tip(Tip::PercentageFee(FeePercentage::parse("3.5").unwrap()))
        .country("BR")
        .merchant_name("Fulano de Tal")
        .merchant_city("BRASILIA")
        .postal_code("70074900")
        .additional_data(AdditionalData {
            bill_number: Some("B1".into()),
            consumer_data_request: Some("ME".into()),
            other: vec![DataObject::template(
                50,
                vec![DataObject::primitive(0, "com.example")],
            )],
            ..Default::default()
        })
        .extra(DataObject::template(
            80,
            vec![
                DataObject::primitive(0, "com.example"),
                DataObject::primitive(1, "x"),
            ],
        ))
        .build()
        .unwrap();
    assert_eq!(mpm.schemes(), [Scheme::Pix]);
    assert_eq!(cashless_target(&mpm), None);
    assert_eq!(mpm.postal_code(), Some("70074900"));
    assert!(matches!(mpm.tip(), Some(Tip::PercentageFee(fee)) if fee.basis_points() == 350));
    assert_eq!(parse(&mpm.payload()).unwrap(), mpm);
}

fn merchant_with(change: impl FnOnce(&mut CashlessMerchant)) -> Result<(), EncodeError> {
    let mut merchant = noodle_house();
    change(&mut merchant);
    encode_static(&merchant).map(|_| ())
}

#[test]
fn refuses_values_over_the_limits() {
    let error = merchant_with(|m| m.name = "N".repeat(26)).unwrap_err();
    assert_eq!(
        error,
        EncodeError::ValueTooLong {
            id: FieldPath::root(59),
            len: 26,
            max: 25
        }
    );
    assert_eq!(error.code(), "value_too_long");
    let error = merchant_with(|m| m.city = "Banteay Meanchey".into()).unwrap_err();
    assert_eq!(
        error,
        EncodeError::ValueTooLong {
            id: FieldPath::root(60),
            len: 16,
            max: 15
        }
    );
    let error = merchant_with(|m| m.chinese_name = Some("名".repeat(26))).unwrap_err();
    assert_eq!(
        error,
        EncodeError::ValueTooLong {
            id: FieldPath::sub(64, 1),
            len: 26,
            max: 25
        }
    );
    let error = merchant_with(|m| m.merchant_id = "M".repeat(90)).unwrap_err();
    assert!(matches!(error, EncodeError::ValueTooLong { id, .. } if id == FieldPath::root(26)));
    let order = CashlessOrder {
        amount: Amount::parse("1").unwrap(),
        reference: "R".repeat(26),
        terminal: None,
    };
    let error = encode_dynamic(&noodle_house(), &order).unwrap_err();
    assert_eq!(
        error,
        EncodeError::ValueTooLong {
            id: FieldPath::sub(62, 5),
            len: 26,
            max: 25
        }
    );
}

#[test]
fn refuses_empty_values() {
    let error = merchant_with(|m| m.name = String::new()).unwrap_err();
    assert_eq!(
        error,
        EncodeError::EmptyValue {
            id: FieldPath::root(59)
        }
    );
    assert_eq!(error.code(), "empty_value");
    let error = MpmBuilder::new()
        .additional_data(AdditionalData::default())
        .build()
        .unwrap_err();
    assert_eq!(
        error,
        EncodeError::EmptyValue {
            id: FieldPath::root(62)
        }
    );
}

#[test]
fn refuses_ids_outside_their_range() {
    let network = MerchantAccount::Network {
        id: 30,
        value: "x".into(),
    };
    let error = MpmBuilder::new()
        .merchant_account(network)
        .build()
        .unwrap_err();
    assert!(matches!(error, EncodeError::BadId { id: 30, .. }));
    assert_eq!(error.code(), "bad_id");
    let template = MerchantAccount::Template {
        id: 10,
        gui: "g".into(),
        fields: vec![],
    };
    let error = MpmBuilder::new()
        .merchant_account(template)
        .build()
        .unwrap_err();
    assert!(matches!(error, EncodeError::BadId { id: 10, .. }));
    let error = MpmBuilder::new()
        .extra(DataObject::primitive(59, "x"))
        .build()
        .unwrap_err();
    assert!(matches!(error, EncodeError::BadId { id: 59, .. }));
}

#[test]
fn refuses_payloads_over_512_characters() {
    let mut builder = MpmBuilder::new();
    for id in 80..=85 {
        builder = builder.extra(DataObject::primitive(id, "x".repeat(99)));
    }
    let error = builder.build().unwrap_err();
    assert!(matches!(error, EncodeError::TooLong { max: 512, .. }));
    assert_eq!(error.code(), "too_long");
}

#[test]
fn refuses_what_the_parser_refuses() {
    let mut merchant = noodle_house();
    merchant.category_code = "58A2".into();
    let error = encode_static(&merchant).unwrap_err();
    assert!(matches!(
        error,
        EncodeError::Rejected(ParseError::BadValue { .. })
    ));
    assert_eq!(error.code(), "bad_value");
    let error = MpmBuilder::new()
        .merchant_account(MerchantAccount::Network {
            id: 2,
            value: "4111".into(),
        })
        .build()
        .unwrap_err();
    assert_eq!(error.code(), "missing_field");
    let language = LanguageTemplate {
        language: "Chinese".into(),
        merchant_name: "面馆".into(),
        merchant_city: None,
        other: vec![],
    };
    let error = MpmBuilder::new().language(language).build().unwrap_err();
    assert_eq!(error.code(), "value_too_long");
}
