//! Merchants' keys over HTTP: onboarding, signed requests, rotation and revocation with what a key granted, till keys, nonces.

use super::*;

async fn merchants_onboard_with_checked_input_and_see_a_masked_profile(db: TestDb) {
    let app = TestApp::spawn(db).await;
    // Bad onboarding input is refused with a precise code and changes nothing.
    let good = json!({
        "legal_name": "A", "display_name": "A", "mcc": "5812", "city": "Hangzhou",
        "licence_number": licence(), "settlement_bank": "ICBC", "settlement_account": "6222020123456789",
    });
    for (field, value, code) in [
        ("mcc", json!("58A2"), "mcc_invalid"),
        // 18 bytes of 9 two-byte letters: byte 17 is no place to cut (it panicked once).
        (
            "licence_number",
            json!("ÄÄÄÄÄÄÄÄÄ"),
            "licence_number_invalid",
        ),
        (
            "licence_number",
            json!("91330100799655058C"),
            "licence_number_invalid",
        ),
        ("display_name", json!("西湖面馆"), "field_invalid"),
        ("city", json!("A city name far too long"), "field_invalid"),
        (
            "settlement_account",
            json!("12"),
            "settlement_account_invalid",
        ),
        ("fee_rate_bps", json!(5000), "fee_rate_invalid"),
        ("notify_url", json!("ftp://x"), "notify_url_invalid"),
        ("public_key", json!("abcd"), "public_key_invalid"),
    ] {
        let mut body = good.clone();
        body[field] = value;
        let (status, body) = app.post("/v1/operator/merchants", &body).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (422, Some(code)),
            "{field}: {body}"
        );
    }
    let (status, body) = app.post_anon("/v1/operator/merchants", &good).await;
    assert_eq!(status, 401, "{body}");

    let merchant = app.merchant(None).await;
    let (status, profile) = app
        .signed(&merchant, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["fee_rate"], "0.60%");
    assert_eq!(profile["settlement_account"], "••••6789");
    assert_eq!(profile["stores"][0]["terminals"][0]["label"], "Till 1");
    assert!(
        profile["static_code"]
            .as_str()
            .unwrap()
            .contains("com.cashless")
    );
    app.stop().await;
}

async fn unsigned_tampered_and_replayed_requests_are_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    // Unsigned, tampered, replayed, stale: all refused.
    let (status, body) = app.post_anon("/v1/merchant/orders", &json!({})).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("signature_missing")),
        "{body}"
    );
    let body = json!({ "out_trade_no": "T1", "amount": "1.00", "subject": "tea" });
    let parts = merchant.signer.sign(
        "POST",
        "/v1/merchant/orders",
        now_secs(),
        "nonce-tamper-1",
        body.to_string().as_bytes(),
    );
    let response = app
        .client
        .post(format!("{}/v1/merchant/orders", app.base))
        .header("authorization", &parts.authorization)
        .body(json!({ "out_trade_no": "T1", "amount": "100.00", "subject": "tea" }).to_string())
        .send()
        .await
        .unwrap();
    let (status, error) = read(response).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_invalid")),
        "{error}"
    );
    let (status, order) = app
        .signed_with(
            &merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&body),
            now_secs(),
            "nonce-replay-1",
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let (status, error) = app
        .signed_with(
            &merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&body),
            now_secs(),
            "nonce-replay-1",
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("nonce_reused")),
        "{error}"
    );
    app.stop().await;
}

/// A request refused inside its write still used up its nonce (precreate claims it in the same
/// write), and so did a read.
async fn a_refused_write_or_a_read_still_uses_up_its_nonce(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let body = json!({ "out_trade_no": "T1", "amount": "1.00", "subject": "tea" });
    let (status, order) = app
        .signed(&merchant, "POST", "/v1/merchant/orders", Some(&body))
        .await;
    assert_eq!(status, 200, "{order}");
    let mut conflicting = body.clone();
    conflicting["amount"] = json!("99.00");
    for expected in [(409, "out_trade_no_conflict"), (401, "nonce_reused")] {
        let (status, error) = app
            .signed_with(
                &merchant,
                "POST",
                "/v1/merchant/orders",
                Some(&conflicting),
                now_secs(),
                "nonce-conflict-1",
            )
            .await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (expected.0, Some(expected.1)),
            "{error}"
        );
    }
    for expected in [200, 401] {
        let (status, answer) = app
            .signed_with(
                &merchant,
                "GET",
                "/v1/merchant/profile",
                None,
                now_secs(),
                "nonce-read-1",
            )
            .await;
        assert_eq!(status, expected, "{answer}");
    }
    app.stop().await;
}

async fn stale_or_malformed_signatures_are_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let (status, error) = app
        .signed_with(
            &merchant,
            "GET",
            "/v1/merchant/profile",
            None,
            now_secs() - 301,
            "nonce-stale-1",
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_expired")),
        "{error}"
    );
    let (status, error) = app
        .signed_with(
            &merchant,
            "GET",
            "/v1/merchant/profile",
            None,
            now_secs(),
            "bad nonce!",
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_malformed")),
        "{error}"
    );
    app.stop().await;
}

/// Rotation: the new key works at once, the old one during the overlap; another merchant's key
/// cannot speak for this one; the operator revokes a leaked key at once.
async fn keys_rotate_with_an_overlap_and_the_operator_revokes_a_leaked_one(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let (new_secret, new_public) = MerchantSigner::generate_key();
    let (status, key) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/keys",
            Some(&json!({ "public_key": new_public })),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let rotated = under_key(&merchant, key["id"].as_str().unwrap(), &new_secret);
    let (status, profile) = app
        .signed(&rotated, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(status, 200, "{profile}");
    assert!(profile["keys"][0]["expires_at"].is_string(), "{profile}");
    assert!(profile["keys"][1]["expires_at"].is_null(), "{profile}");
    let (status, _) = app
        .signed(&merchant, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(status, 200);
    // Another merchant's key cannot speak for this one.
    let other = app.merchant(None).await;
    let impostor = Merchant {
        signer: MerchantSigner::new(&merchant.id, &other.signer.key_id, &other.secret).unwrap(),
        ..other
    };
    let (status, error) = app
        .signed(&impostor, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_invalid")),
        "{error}"
    );

    // The operator revokes a leaked key at once, overlap or not; only the operator may.
    let revoke = |key_id: String, token: &'static str| {
        let url = format!(
            "{}/v1/operator/merchants/{}/keys/{key_id}",
            app.base, merchant.id
        );
        let client = app.client.clone();
        async move {
            let response = client.delete(url).bearer_auth(token).send().await.unwrap();
            response.status().as_u16()
        }
    };
    assert_eq!(
        revoke(merchant.signer.key_id.clone(), "not-the-operator-token").await,
        401
    );
    assert_eq!(
        revoke(merchant.signer.key_id.clone(), crate::TOKEN).await,
        200
    );
    let (status, error) = app
        .signed(&merchant, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_invalid")),
        "{error}"
    );
    // Revoking it again takes what it still granted (nothing here); a key never registered
    // is not found.
    assert_eq!(
        revoke(merchant.signer.key_id.clone(), crate::TOKEN).await,
        200
    );
    assert_eq!(revoke("k-never".to_owned(), crate::TOKEN).await, 404);
    let (status, _) = app
        .signed(&rotated, "GET", "/v1/merchant/profile", None)
        .await;
    assert_eq!(status, 200, "the other key still works");
    app.stop().await;
}

/// What a key granted: two till keys and two staff members.
struct Grants {
    kept_till: Merchant,
    lost_till: Merchant,
    kept_manager: String,
    kept_manager_id: String,
    lost_cashier: String,
    lost_cashier_id: String,
}

/// A key rotated out may only do what a till key does until it expires; revoking a key
/// revokes the till keys and removes the staff it granted, except those the merchant's
/// current key re-confirmed.
async fn a_rotated_out_key_only_sells_and_its_grants_go_with_it(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let old = app.merchant(None).await;
    // Granted by the old key while it was current.
    let kept_till = app.till_key(&old).await;
    let lost_till = app.till_key(&old).await;
    let (kept_manager, kept_manager_id) = app.staff_by(&old, "manager").await;
    let (lost_cashier, lost_cashier_id) = app.staff_by(&old, "cashier").await;
    let grants = Grants {
        kept_till,
        lost_till,
        kept_manager,
        kept_manager_id,
        lost_cashier,
        lost_cashier_id,
    };

    let (new_secret, new_public) = MerchantSigner::generate_key();
    let (status, key) = app
        .signed(
            &old,
            "POST",
            "/v1/merchant/keys",
            Some(&json!({ "public_key": new_public })),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    assert_eq!(key["granted_by"], old.signer.key_id.as_str());
    let new = under_key(&old, key["id"].as_str().unwrap(), &new_secret);
    a_rotated_out_key_only_sells(&app, &old, &grants).await;
    let Grants {
        kept_till,
        kept_manager,
        kept_manager_id,
        lost_cashier_id,
        ..
    } = &grants;
    // Till keys and staff cannot confirm either; the current key can.
    for (who, code) in [(kept_till, "key_scope")] {
        let path = format!("/v1/merchant/till-keys/{}/confirm", kept_till.signer.key_id);
        let (status, error) = app.signed(who, "POST", &path, None).await;
        assert_eq!((status, error["error"]["code"].as_str()), (403, Some(code)));
    }
    let manager = staff_sign_in(&app, kept_manager).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/merchant/staff/{kept_manager_id}/confirm");
    let (status, error) = as_staff(&app, &manager, "POST", &path, None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("key_scope"))
    );
    for path in [
        format!("/v1/merchant/till-keys/{}/confirm", kept_till.signer.key_id),
        format!("/v1/merchant/staff/{kept_manager_id}/confirm"),
    ] {
        let (status, body) = app.signed(&new, "POST", &path, None).await;
        assert_eq!(status, 204, "{path}: {body}");
    }
    let newer_till = app.till_key(&new).await;
    let (_, staff) = app.signed(&new, "GET", "/v1/merchant/staff", None).await;
    let granted = |id: &str| {
        staff["staff"]
            .as_array()
            .unwrap()
            .iter()
            .find(|member| member["id"] == id)
            .map(|member| member["granted_by"].clone())
    };
    assert_eq!(granted(kept_manager_id), Some(json!(new.signer.key_id)));
    assert_eq!(granted(lost_cashier_id), Some(json!(old.signer.key_id)));
    revoking_a_key_takes_what_it_granted(&app, &old, &new, &grants, (&newer_till, &manager)).await;
    app.stop().await;
}

/// In its overlap, the old key sells and looks up, and nothing else.
async fn a_rotated_out_key_only_sells(app: &TestApp, old: &Merchant, grants: &Grants) {
    let Grants {
        kept_till,
        lost_till,
        kept_manager_id,
        lost_cashier_id,
        ..
    } = grants;
    assert_eq!(app.sells(old).await, 200);
    let (status, _) = app.signed(old, "GET", "/v1/merchant/orders", None).await;
    assert_eq!(status, 200);
    let (_, public) = MerchantSigner::generate_key();
    for (method, path, body) in [
        (
            "POST",
            "/v1/merchant/till-keys".to_owned(),
            Some(json!({ "public_key": public })),
        ),
        (
            "POST",
            "/v1/merchant/keys".to_owned(),
            Some(json!({ "public_key": public })),
        ),
        (
            "POST",
            "/v1/merchant/staff".to_owned(),
            Some(json!({ "phone": staff_phone(), "name": "Thief", "role": "manager" })),
        ),
        (
            "PUT",
            "/v1/merchant/notify-url".to_owned(),
            Some(json!({ "notify_url": "http://127.0.0.1:9/n" })),
        ),
        (
            "DELETE",
            format!("/v1/merchant/till-keys/{}", kept_till.signer.key_id),
            None,
        ),
        (
            "POST",
            format!("/v1/merchant/till-keys/{}/confirm", lost_till.signer.key_id),
            None,
        ),
        (
            "DELETE",
            format!("/v1/merchant/staff/{kept_manager_id}"),
            None,
        ),
        (
            "POST",
            format!("/v1/merchant/staff/{lost_cashier_id}/confirm"),
            None,
        ),
        ("GET", "/v1/merchant/events".to_owned(), None),
        ("GET", "/v1/merchant/staff".to_owned(), None),
    ] {
        let (status, error) = app.signed(old, method, &path, body.as_ref()).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (403, Some("key_rotated_out")),
            "{method} {path}: {error}"
        );
    }
}

/// The operator revokes the old key: what it granted and nobody re-confirmed goes too; then
/// the successor, with all its grants.
async fn revoking_a_key_takes_what_it_granted(
    app: &TestApp,
    old: &Merchant,
    new: &Merchant,
    grants: &Grants,
    (newer_till, manager): (&Merchant, &str),
) {
    let Grants {
        kept_till,
        lost_till,
        kept_manager,
        kept_manager_id,
        lost_cashier,
        lost_cashier_id,
    } = grants;
    let revoked = app.operator_revokes(old, &old.signer.key_id).await;
    assert_eq!(
        revoked,
        json!({ "till_keys": [lost_till.signer.key_id], "staff": [lost_cashier_id],
                "successors": [new.signer.key_id] })
    );
    assert_eq!(app.sells(old).await, 401);
    assert_eq!(app.sells(lost_till).await, 401);
    assert_eq!(app.sells(kept_till).await, 200);
    assert_eq!(app.sells(newer_till).await, 200);
    assert_eq!(app.sells(new).await, 200);
    // Staff sessions all ended; the kept manager signs in again and refunds, the removed
    // cashier gets no code.
    let (status, _) = as_staff(app, manager, "GET", "/v1/staff/me", None).await;
    assert_eq!(status, 401);
    let manager = staff_sign_in(app, kept_manager).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = as_staff(app, &manager, "GET", "/v1/merchant/events", None).await;
    assert_eq!(status, 200);
    let before = till_texts(app, lost_cashier).len();
    let (status, _) = app
        .post("/v1/staff/sms-codes", &json!({ "phone": lost_cashier }))
        .await;
    assert_eq!(status, 200, "answered alike");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        till_texts(app, lost_cashier).len(),
        before,
        "no code for a removed cashier"
    );

    // Revoking the successor takes its grants, the re-confirmed ones included.
    let revoked = app.operator_revokes(new, &new.signer.key_id).await;
    let mut tills: Vec<String> = serde_json::from_value(revoked["till_keys"].clone()).unwrap();
    tills.sort();
    let mut expected = vec![
        kept_till.signer.key_id.clone(),
        newer_till.signer.key_id.clone(),
    ];
    expected.sort();
    assert_eq!(tills, expected);
    assert_eq!(revoked["staff"], json!([kept_manager_id]));
    assert_eq!(app.sells(kept_till).await, 401);
}

/// A leaked key whose overlap is over can still be revoked, with what it granted; the operator
/// may first ask what would go; staff the operator added stand on no key.
async fn an_expired_key_is_revoked_with_its_grants(db: TestDb) {
    let mut setup = Setup::default();
    setup.payments.key_overlap = Duration::from_millis(500);
    let app = TestApp::spawn_with(db, setup).await;
    let old = app.merchant(None).await;
    let till = app.till_key(&old).await;
    let (new_secret, new_public) = MerchantSigner::generate_key();
    let (status, key) = app
        .signed(
            &old,
            "POST",
            "/v1/merchant/keys",
            Some(&json!({ "public_key": new_public })),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let new = under_key(&old, key["id"].as_str().unwrap(), &new_secret);
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(app.sells(&old).await, 401, "the overlap is over");
    assert_eq!(app.sells(&till).await, 200, "its till key lives on");

    let revoke = |dry_run: bool| {
        let url = format!(
            "{}/v1/operator/merchants/{}/keys/{}?dry_run={dry_run}",
            app.base, old.id, old.signer.key_id
        );
        let client = app.client.clone();
        async move {
            read(
                client
                    .delete(url)
                    .bearer_auth(crate::TOKEN)
                    .send()
                    .await
                    .unwrap(),
            )
            .await
        }
    };
    let (status, would) = revoke(true).await;
    assert_eq!(status, 200, "{would}");
    assert_eq!(would["till_keys"], json!([till.signer.key_id]));
    assert_eq!(would["successors"], json!([new.signer.key_id]));
    assert_eq!(app.sells(&till).await, 200, "a dry run changes nothing");
    let (status, went) = revoke(false).await;
    assert_eq!((status, &went), (200, &would));
    assert_eq!(app.sells(&till).await, 401);
    assert_eq!(app.sells(&new).await, 200);

    // Staff the operator added (the demo city's way) are confirmed by no key.
    let added = app
        .payments
        .add_staff_to(
            new.id.clone(),
            cashless_payments::staff::StaffInput {
                phone: staff_phone(),
                name: "Operator's cashier".to_owned(),
                role: cashless_payments::staff::StaffRole::Cashier,
            },
            None,
        )
        .await
        .unwrap();
    let (status, error) = app
        .signed(
            &new,
            "POST",
            &format!("/v1/merchant/staff/{}/confirm", added.id),
            None,
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (409, Some("staff_granted_by_operator")),
        "{error}"
    );
    app.stop().await;
}

async fn till_keys_take_payments_and_nothing_more(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let (till_secret, till_public) = MerchantSigner::generate_key();
    let (status, key) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/till-keys",
            Some(&json!({ "public_key": till_public })),
        )
        .await;
    assert_eq!(
        (status, key["scope"].as_str()),
        (201, Some("till")),
        "{key}"
    );
    let till = under_key(&merchant, key["id"].as_str().unwrap(), &till_secret);
    // Taking a payment and looking it up: yes.
    let (status, order) = app
        .signed(
            &till,
            "POST",
            "/v1/merchant/orders",
            Some(&json!({ "out_trade_no": "TILL-1", "amount": "12.00", "subject": "tea" })),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let token = app.payer("林峰", "50.00").await;
    let (status, paid) = app
        .pay_code(&token, order["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(status, 200, "{paid}");
    let (status, _) = app
        .signed(&till, "GET", "/v1/merchant/orders/TILL-1", None)
        .await;
    assert_eq!(status, 200);
    // Refunds, cancels, keys and notification settings: no.
    let (_, other) = MerchantSigner::generate_key();
    for (method, path, body) in [
        (
            "POST",
            "/v1/merchant/orders/TILL-1/refunds",
            Some(json!({ "out_request_no": "R1", "amount": "1.00" })),
        ),
        ("POST", "/v1/merchant/orders/TILL-1/cancel", None),
        (
            "PUT",
            "/v1/merchant/notify-url",
            Some(json!({ "notify_url": "http://127.0.0.1:9/n" })),
        ),
        (
            "POST",
            "/v1/merchant/keys",
            Some(json!({ "public_key": other })),
        ),
        (
            "POST",
            "/v1/merchant/till-keys",
            Some(json!({ "public_key": other })),
        ),
    ] {
        let (status, error) = app.signed(&till, method, path, body.as_ref()).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (403, Some("key_scope")),
            "{method} {path}: {error}"
        );
    }
    app.stop().await;
}

/// Rotating the full key leaves tills alone; revoking the till key stops it at once.
async fn a_till_key_outlives_a_rotation_but_not_its_revocation(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let till = app.till_key(&merchant).await;
    let (new_secret, new_public) = MerchantSigner::generate_key();
    let (status, rotated) = app
        .signed(
            &merchant,
            "POST",
            "/v1/merchant/keys",
            Some(&json!({ "public_key": new_public })),
        )
        .await;
    assert_eq!(status, 201, "{rotated}");
    let (status, _) = app.signed(&till, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(
        status, 200,
        "a till key is no full key: rotation does not retire it"
    );
    let full = under_key(&merchant, rotated["id"].as_str().unwrap(), &new_secret);
    let till_key_id = till.signer.key_id.clone();
    let (status, _) = app
        .signed(
            &full,
            "DELETE",
            &format!("/v1/merchant/till-keys/{till_key_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, error) = app.signed(&till, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (401, Some("signature_invalid")),
        "{error}"
    );
    app.stop().await;
}

/// Nonces are checked in memory and logged with the request's work: a restart reloads them,
/// so a request replayed after it is still refused, and the log forgets nothing it should not.
async fn used_nonces_stay_used_across_a_restart(db: TestDb) {
    async fn order(app: &TestApp, merchant: &Merchant, nonce: &str) -> (u16, Value) {
        let body = json!({ "out_trade_no": "R1", "amount": "8.00", "subject": "tea" });
        let path = "/v1/merchant/orders";
        app.signed_with(merchant, "POST", path, Some(&body), now_secs(), nonce)
            .await
    }
    async fn profile(app: &TestApp, merchant: &Merchant, nonce: &str) -> (u16, Value) {
        let path = "/v1/merchant/profile";
        app.signed_with(merchant, "GET", path, None, now_secs(), nonce)
            .await
    }
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    assert_eq!(order(&app, &merchant, "restart-1").await.0, 200);
    assert_eq!(profile(&app, &merchant, "restart-2").await.0, 200);
    let app = app.restart().await;
    for nonce in ["restart-1", "restart-2"] {
        let (status, error) = profile(&app, &merchant, nonce).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (401, Some("nonce_reused")),
            "{nonce}: {error}"
        );
    }
    // A fresh nonce still works, and the same order comes back (its key is out_trade_no).
    let (status, again) = order(&app, &merchant, "restart-3").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(profile(&app, &merchant, "restart-3").await.0, 401);
    app.stop().await;
}

both_backends!(
    merchants_onboard_with_checked_input_and_see_a_masked_profile,
    unsigned_tampered_and_replayed_requests_are_refused,
    a_refused_write_or_a_read_still_uses_up_its_nonce,
    stale_or_malformed_signatures_are_refused,
    keys_rotate_with_an_overlap_and_the_operator_revokes_a_leaked_one,
    a_rotated_out_key_only_sells_and_its_grants_go_with_it,
    an_expired_key_is_revoked_with_its_grants,
    till_keys_take_payments_and_nothing_more,
    a_till_key_outlives_a_rotation_but_not_its_revocation,
    used_nonces_stay_used_across_a_restart,
);
