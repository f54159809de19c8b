//! The public vectors: every valid one parses and re-encodes to itself, every invalid one
//! is rejected with the expected code.

use cashless_emvqr::{
    Amount, FormatIndicator, MerchantAccount, PointOfInitiation, Scheme, SubField, Tip,
    cashless_target, parse,
};

use crate::fixtures::{INVALID, VALID};

fn valid(id: &str) -> &'static str {
    VALID
        .iter()
        .find(|(vector, _, _)| *vector == id)
        .map(|(_, _, payload)| *payload)
        .unwrap()
}

#[test]
fn valid_vectors_parse_and_reencode_faithfully() {
    for (id, what, payload) in VALID {
        let mpm = parse(payload).unwrap_or_else(|error| panic!("{id} ({what}): {error}"));
        // E01 writes its CRC in lowercase; we always write uppercase.
        assert!(
            mpm.payload().eq_ignore_ascii_case(payload),
            "{id} re-encodes differently"
        );
        assert_eq!(parse(&mpm.payload()).unwrap(), mpm, "{id}");
        assert_eq!(cashless_target(&mpm), None, "{id} is foreign");
    }
}

#[test]
fn invalid_vectors_are_rejected_with_their_code() {
    for (id, why, payload, code) in INVALID {
        match parse(payload) {
            Ok(_) => panic!("{id} ({why}) was accepted"),
            Err(error) => assert_eq!(error.code(), *code, "{id} ({why}): {error}"),
        }
    }
}

#[test]
fn emvco_spec_example_with_chinese_language_template() {
    let mpm = parse(valid("V01")).unwrap();
    assert_eq!(mpm.payload_format_indicator(), FormatIndicator::V01);
    assert_eq!(mpm.point_of_initiation(), Some(PointOfInitiation::Dynamic));
    assert_eq!(
        mpm.merchant_accounts()[0],
        MerchantAccount::Template {
            id: 29,
            gui: "D15600000000".into(),
            fields: vec![SubField::new(5, "A93FO3230Q")],
        }
    );
    assert_eq!(mpm.merchant_accounts().len(), 2);
    assert_eq!(mpm.schemes(), [Scheme::UnionPay]);
    assert_eq!(mpm.merchant_category_code(), Some("4111"));
    assert_eq!(mpm.currency(), 156);
    assert_eq!(mpm.amount(), Some(&Amount::parse("23.72").unwrap()));
    assert_eq!(mpm.amount_minor_units(), Some(Ok(2372)));
    assert_eq!(mpm.tip(), Some(&Tip::Prompt));
    assert_eq!(mpm.country(), "CN");
    assert_eq!(mpm.merchant_name(), Some("BEST TRANSPORT"));
    assert_eq!(mpm.merchant_city(), Some("BEIJING"));
    let language = mpm.language().unwrap();
    assert_eq!(language.language, "ZH");
    assert_eq!(language.merchant_name, "最佳运输");
    assert_eq!(language.merchant_city.as_deref(), Some("北京"));
    let data = mpm.additional_data().unwrap();
    assert_eq!(data.store_label.as_deref(), Some("1234"));
    assert_eq!(data.customer_label.as_deref(), Some("***"));
    assert_eq!(data.terminal_label.as_deref(), Some("A6008667"));
    assert_eq!(data.consumer_data_request.as_deref(), Some("ME"));
    assert_eq!(mpm.unreserved().len(), 1);
    assert_eq!(mpm.crc(), 0xA13A);
    // Root order is kept (64 before 54 and 53 in this payload).
    let ids: Vec<u8> = mpm.data_objects().iter().map(|object| object.id).collect();
    assert_eq!(ids, [0, 1, 29, 31, 52, 58, 59, 60, 64, 54, 53, 55, 62, 91]);
}

#[test]
fn pix_promptpay_sgqr_duitnow_vietqr() {
    let pix = parse(valid("V03")).unwrap();
    assert_eq!(pix.schemes(), [Scheme::Pix]);
    assert_eq!(
        pix.merchant_accounts()[0].field(25),
        Some("bx.com.br/pix/8b3da2f3-9a41-40d1-a91a-bd93113bd441")
    );
    let reference = pix.additional_data().unwrap().reference_label.as_deref();
    assert_eq!(reference, Some("RP12345678-2019"));

    let promptpay = parse(valid("V06")).unwrap();
    assert_eq!(promptpay.schemes(), [Scheme::PromptPay]);
    assert_eq!(promptpay.merchant_name(), None);
    assert_eq!(promptpay.merchant_category_code(), None);

    let sgqr = parse(valid("V12")).unwrap();
    assert!(
        sgqr.payload().chars().count() > 512,
        "long SGQR codes are read"
    );
    assert!(sgqr.schemes().contains(&Scheme::PayNow));
    assert!(sgqr.schemes().contains(&Scheme::Sgqr));
    assert_eq!(
        sgqr.merchant_account(36).unwrap().field(2),
        Some("+621234567890123")
    );
    let dash = &sgqr.additional_data().unwrap().other[0];
    assert_eq!(dash.id, 50);
    assert!(dash.as_primitive().is_none(), "62/50 is read as a template");

    let duitnow = parse(valid("V16")).unwrap();
    assert_eq!(duitnow.payload_format_indicator(), FormatIndicator::V02);
    assert_eq!(duitnow.schemes(), [Scheme::DuitNow]);
    assert_eq!(duitnow.amount_minor_units(), Some(Ok(1000)));

    let vietqr = parse(valid("V18")).unwrap();
    assert_eq!(vietqr.schemes(), [Scheme::VietQr]);
    assert_eq!(
        vietqr.amount_minor_units(),
        Some(Ok(1000)),
        "VND has no decimals"
    );

    let qris = parse(valid("V22")).unwrap();
    assert_eq!(qris.merchant_category_code(), None);
}

#[test]
fn deviations_kept_raw() {
    // TrueMoney puts a hex message in 81, which should be a template.
    let truemoney = parse(valid("E02")).unwrap();
    let message = truemoney.unreserved()[0].as_primitive();
    assert_eq!(
        message,
        Some("00480065006C006C006F00200057006F0072006C00640021")
    );
    // A real Cambodian city name longer than 15 characters.
    let cambodia = parse(valid("V23")).unwrap();
    assert_eq!(cambodia.merchant_city(), Some("Banteay Meanchey"));
    // Lowercase CRC is accepted, written back in uppercase.
    let mbbank = parse(valid("E01")).unwrap();
    assert!(mbbank.payload().ends_with("79DB"));
}

#[test]
fn serializes_with_named_fields() {
    let json = serde_json::to_value(parse(valid("V01")).unwrap()).unwrap();
    assert_eq!(json["payload_format_indicator"], "01");
    assert_eq!(json["point_of_initiation"], "dynamic");
    assert_eq!(json["merchant_accounts"][0]["id"], "29");
    assert_eq!(json["merchant_accounts"][0]["gui"], "D15600000000");
    assert_eq!(json["merchant_accounts"][0]["fields"][0]["id"], "05");
    assert_eq!(json["schemes"][0], "union_pay");
    assert_eq!(json["currency"], 156);
    assert_eq!(json["amount"], "23.72");
    assert_eq!(json["tip"]["kind"], "prompt");
    assert_eq!(json["language"]["merchant_name"], "最佳运输");
    assert_eq!(json["additional_data"]["terminal_label"], "A6008667");
    assert_eq!(json["crc"], "A13A");
    assert_eq!(json["data_objects"][0]["id"], "00");
    assert_eq!(json["data_objects"][0]["value"], "01");
    assert_eq!(
        json["data_objects"][2]["objects"][0]["value"],
        "D15600000000"
    );
}

/// The shared vector file, when this checkout has it beside the repository.
#[test]
fn shared_vector_file_if_present() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/vectors/emvco-mpm.jsonl"
    );
    let Ok(text) = std::fs::read_to_string(path) else {
        return;
    };
    let mut checked = 0;
    for line in text.lines().filter(|line| !line.trim().is_empty()) {
        let vector: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = vector["id"].as_str().unwrap();
        let payload = vector["payload"].as_str().unwrap();
        let result = parse(payload);
        match vector["expect"].as_str().unwrap() {
            "valid" => {
                let mpm = result.unwrap_or_else(|error| panic!("{id}: {error}"));
                assert!(mpm.payload().eq_ignore_ascii_case(payload), "{id}");
            }
            "invalid" => assert!(result.is_err(), "{id} was accepted"),
            other => panic!("{id}: unknown expectation {other}"),
        }
        checked += 1;
    }
    assert!(checked > 0);
}
