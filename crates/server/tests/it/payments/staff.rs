//! Staff over HTTP: till sign-in by SMS code, roles and what each may do.

use super::*;

async fn merchants_add_staff_one_merchant_at_a_time(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let other = app.merchant(None).await;
    let (cashier_phone, manager_phone) = (staff_phone(), staff_phone());
    for (phone, name, role) in [
        (&cashier_phone, "Xiao Zhang", "cashier"),
        (&manager_phone, "Manager Liu", "manager"),
    ] {
        let (status, added) = app
            .signed(
                &merchant,
                "POST",
                "/v1/merchant/staff",
                Some(&json!({ "phone": phone, "name": name, "role": role })),
            )
            .await;
        assert_eq!(
            (status, added["role"].as_str()),
            (201, Some(role)),
            "{added}"
        );
        assert!(
            !added.to_string().contains(&phone[4..]),
            "the number is masked: {added}"
        );
    }
    // One merchant's staff at a time; bad input changes nothing.
    for (who, body, status, code) in [
        (
            &merchant,
            json!({ "phone": cashier_phone, "name": "Again", "role": "cashier" }),
            409,
            "staff_exists",
        ),
        (
            &other,
            json!({ "phone": cashier_phone, "name": "Poached", "role": "manager" }),
            409,
            "staff_phone_taken",
        ),
        (
            &merchant,
            json!({ "phone": "12345", "name": "Nobody", "role": "cashier" }),
            422,
            "invalid_phone",
        ),
        (
            &merchant,
            json!({ "phone": staff_phone(), "name": " ", "role": "cashier" }),
            422,
            "field_invalid",
        ),
        (
            &merchant,
            json!({ "phone": staff_phone(), "name": "Boss", "role": "owner" }),
            400,
            "invalid_request",
        ),
    ] {
        let (got, error) = app
            .signed(who, "POST", "/v1/merchant/staff", Some(&body))
            .await;
        assert_eq!(
            (got, error["error"]["code"].as_str()),
            (status, Some(code)),
            "{body}: {error}"
        );
    }
    let (status, list) = app
        .signed(&merchant, "GET", "/v1/merchant/staff", None)
        .await;
    assert_eq!(
        (status, list["staff"].as_array().map(Vec::len)),
        (200, Some(2)),
        "{list}"
    );
    app.stop().await;
}

async fn a_stranger_is_answered_as_staff_and_a_consumer_code_opens_no_till(db: TestDb) {
    // A real wait between codes, to see that a stranger's number is limited alike.
    let mut setup = Setup::default();
    setup.wallet.sms_resend_after = Duration::from_secs(60);
    let app = TestApp::spawn_with(db, setup).await;
    let merchant = app.merchant(None).await;
    let (cashier_phone, _) = app.staff_by(&merchant, "cashier").await;

    // A number on no one's staff is answered exactly as a staff member's, limits included,
    // and nothing is texted to it.
    let stranger = staff_phone();
    let mut answers = Vec::new();
    for phone in [&stranger, &cashier_phone] {
        let (first, mut sent) = app
            .post("/v1/staff/sms-codes", &json!({ "phone": phone }))
            .await;
        sent["phone"] = Value::Null;
        let (again, error) = app
            .post("/v1/staff/sms-codes", &json!({ "phone": phone }))
            .await;
        let (wrong, refused) = app
            .post(
                "/v1/staff/sessions",
                &json!({ "phone": phone, "code": "000000" }),
            )
            .await;
        answers.push((
            first,
            sent,
            again,
            error["error"]["code"].clone(),
            wrong,
            refused,
        ));
    }
    assert_eq!(
        answers[0], answers[1],
        "a stranger and a cashier look alike"
    );
    assert_eq!((answers[0].0, answers[0].2, answers[0].4), (200, 429, 422));
    assert_eq!(answers[0].5["error"]["code"], "staff_code_invalid");
    assert!(
        answers[0].5["error"].get("details").is_none(),
        "no attempts count"
    );
    assert!(app.sms.messages_to(&stranger).is_empty());
    // The staff code was texted (in the background) …
    let right = till_code(&app, &cashier_phone, 0).await;
    // … and a consumer's sign-in code for the same number opens no till.
    let (status, _) = app
        .post("/v1/auth/sms-codes", &json!({ "phone": cashier_phone }))
        .await;
    assert_eq!(status, 200, "consumer codes have their own limits");
    let consumer_code = app.sms.newest_code_to(&cashier_phone).unwrap();
    let (status, _) = app
        .post(
            "/v1/staff/sessions",
            &json!({ "phone": cashier_phone, "code": consumer_code }),
        )
        .await;
    assert_eq!(status, 422);
    let (status, cashier) = app
        .post(
            "/v1/staff/sessions",
            &json!({ "phone": cashier_phone, "code": right }),
        )
        .await;
    assert_eq!(status, 201, "{cashier}");
    let cashier = cashier["token"].as_str().unwrap().to_owned();
    assert!(cashier.starts_with("clst_"));
    let (status, me) = as_staff(&app, &cashier, "GET", "/v1/staff/me", None).await;
    assert_eq!(
        (
            status,
            me["staff"]["role"].as_str(),
            me["merchant_id"].as_str()
        ),
        (200, Some("cashier"), Some(merchant.id.as_str())),
        "{me}"
    );
    app.stop().await;
}

/// A staff member of `merchant` in `role`, signed in: (phone, id, session token).
async fn signed_in_staff(
    app: &TestApp,
    merchant: &Merchant,
    role: &str,
) -> (String, String, String) {
    let (phone, id) = app.staff_by(merchant, role).await;
    let session = staff_sign_in(app, &phone).await;
    assert_eq!(session["staff"]["role"], role, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    (phone, id, token)
}

async fn a_cashier_takes_payments_and_does_nothing_else(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let (_, _, cashier) = signed_in_staff(&app, &merchant, "cashier").await;

    // The cashier takes a payment and looks it up …
    let (status, order) = as_staff(
        &app,
        &cashier,
        "POST",
        "/v1/merchant/orders",
        Some(&json!({ "out_trade_no": "STAFF-1", "amount": "20.00", "subject": "noodles" })),
    )
    .await;
    assert_eq!(status, 200, "{order}");
    let payer = app.payer("高远", "100.00").await;
    let (status, paid) = app
        .pay_code(&payer, order["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(status, 200, "{paid}");
    let (status, order) =
        as_staff(&app, &cashier, "GET", "/v1/merchant/orders/STAFF-1", None).await;
    assert_eq!(
        (status, order["status"].as_str()),
        (200, Some("SUCCESS")),
        "{order}"
    );
    // … and can do nothing else.
    for (method, path, body) in [
        (
            "POST",
            "/v1/merchant/orders/STAFF-1/refunds",
            Some(json!({ "out_request_no": "R1", "amount": "5.00" })),
        ),
        ("POST", "/v1/merchant/orders/STAFF-1/cancel", None),
        ("GET", "/v1/merchant/events", None),
        ("GET", "/v1/merchant/staff", None),
        (
            "POST",
            "/v1/merchant/staff",
            Some(json!({ "phone": staff_phone(), "name": "Friend", "role": "manager" })),
        ),
        (
            "PUT",
            "/v1/merchant/notify-url",
            Some(json!({ "notify_url": "http://127.0.0.1:9/n" })),
        ),
    ] {
        let (status, error) = as_staff(&app, &cashier, method, path, body.as_ref()).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (403, Some("key_scope")),
            "{method} {path}: {error}"
        );
    }
    app.stop().await;
}

/// Order STAFF-1 of 20.00, made by `merchant` and paid by a payer who had 100.00: the payer.
async fn paid_order(app: &TestApp, merchant: &Merchant) -> String {
    let (status, order) = app
        .signed(
            merchant,
            "POST",
            "/v1/merchant/orders",
            Some(&json!({ "out_trade_no": "STAFF-1", "amount": "20.00", "subject": "noodles" })),
        )
        .await;
    assert_eq!(status, 200, "{order}");
    let payer = app.payer("高远", "100.00").await;
    let (status, paid) = app
        .pay_code(&payer, order["qr_code"].as_str().unwrap(), json!({}))
        .await;
    assert_eq!(status, 200, "{paid}");
    payer
}

async fn a_manager_refunds_and_sees_the_staff_but_manages_neither(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let other = app.merchant(None).await;
    let payer = paid_order(&app, &merchant).await;

    // A manager refunds, and sees the staff, but manages neither staff nor settings.
    let (_, _, manager) = signed_in_staff(&app, &merchant, "manager").await;
    let (status, refund) = as_staff(
        &app,
        &manager,
        "POST",
        "/v1/merchant/orders/STAFF-1/refunds",
        Some(&json!({ "out_request_no": "R1", "amount": "5.00" })),
    )
    .await;
    assert_eq!(status, 200, "{refund}");
    assert_eq!(app.available(&payer).await, "85.00");
    // The refund says who made it.
    let (status, me) = as_staff(&app, &manager, "GET", "/v1/staff/me", None).await;
    assert_eq!(status, 200);
    let manager_id = me["staff"]["id"].as_str().unwrap().to_owned();
    let actor = app
        .store
        .read(|conn| {
            conn.query_opt("SELECT actor FROM refunds WHERE out_request_no = 'R1'", &[])?
                .map(|row| row.text(0).map(str::to_owned))
                .transpose()
        })
        .await
        .unwrap();
    assert_eq!(actor, Some(format!("staff:{manager_id}")));
    // A till sees the shop, not the business.
    let (status, profile) = as_staff(&app, &manager, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(status, 200);
    assert_eq!(profile["keys"], json!([]));
    assert_eq!(profile["settlement_account"], "");
    assert!(profile["stores"].as_array().is_some_and(|s| !s.is_empty()));
    let (status, _) = as_staff(&app, &manager, "GET", "/v1/merchant/staff", None).await;
    assert_eq!(status, 200);
    let (_, other_key) = MerchantSigner::generate_key();
    for (method, path, body) in [
        (
            "POST",
            "/v1/merchant/staff",
            Some(json!({ "phone": staff_phone(), "name": "Friend", "role": "cashier" })),
        ),
        (
            "POST",
            "/v1/merchant/keys",
            Some(json!({ "public_key": other_key })),
        ),
        (
            "POST",
            "/v1/merchant/till-keys",
            Some(json!({ "public_key": other_key })),
        ),
        (
            "DELETE",
            "/v1/merchant/staff/00000000-0000-0000-0000-000000000000",
            None,
        ),
        (
            "PUT",
            "/v1/merchant/notify-url",
            Some(json!({ "notify_url": "http://127.0.0.1:9/n" })),
        ),
    ] {
        let (status, error) = as_staff(&app, &manager, method, path, body.as_ref()).await;
        assert_eq!(
            (status, error["error"]["code"].as_str()),
            (403, Some("key_scope")),
            "{method} {path}: {error}"
        );
    }
    // Another merchant's orders stay out of reach.
    let (status, _) = app
        .signed(
            &other,
            "POST",
            "/v1/merchant/orders",
            Some(&json!({ "out_trade_no": "OTHER-1", "amount": "1.00", "subject": "x" })),
        )
        .await;
    assert_eq!(status, 200);
    let (status, _) = as_staff(&app, &manager, "GET", "/v1/merchant/orders/OTHER-1", None).await;
    assert_eq!(status, 404);
    app.stop().await;
}

async fn removed_or_signed_out_staff_and_a_revoked_key_open_no_till(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let merchant = app.merchant(None).await;
    let (_, cashier_id, cashier) = signed_in_staff(&app, &merchant, "cashier").await;
    let (manager_phone, _, manager) = signed_in_staff(&app, &merchant, "manager").await;
    let payer = app.verified("高远").await;
    // Removing the cashier ends their session at once; no more codes reach them.
    let (_, list) = app
        .signed(&merchant, "GET", "/v1/merchant/staff", None)
        .await;
    assert!(
        list["staff"]
            .as_array()
            .unwrap()
            .iter()
            .any(|person| person["role"] == "cashier" && person["id"] == cashier_id.as_str()),
        "{list}"
    );
    let (status, _) = app
        .signed(
            &merchant,
            "DELETE",
            &format!("/v1/merchant/staff/{cashier_id}"),
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = as_staff(&app, &cashier, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(status, 401);
    let (status, again) = app
        .signed(
            &merchant,
            "DELETE",
            &format!("/v1/merchant/staff/{cashier_id}"),
            None,
        )
        .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (404, Some("staff_not_found"))
    );
    // Signing out ends the manager's session; made-up tokens, a consumer's session and the
    // operator's token open nothing.
    let (status, _) = as_staff(&app, &manager, "POST", "/v1/staff/sign-out", None).await;
    assert_eq!(status, 204);
    for token in [
        manager.as_str(),
        "clst_0000",
        "cls_nonsense",
        payer.as_str(),
        crate::TOKEN,
    ] {
        let (status, _) = as_staff(&app, token, "GET", "/v1/merchant/profile", None).await;
        assert_eq!(status, 401, "{token}");
    }
    // A staff endpoint refuses a key.
    let (status, error) = app.signed(&merchant, "GET", "/v1/staff/me", None).await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (403, Some("not_staff")),
        "{error}"
    );
    // The operator revokes the merchant's (leaked) key: staff sessions end, and no one signs
    // in to its tills until it has a key again.
    let manager = staff_sign_in(&app, &manager_phone).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .client
        .delete(format!(
            "{}/v1/operator/merchants/{}/keys/{}",
            app.base, merchant.id, merchant.signer.key_id
        ))
        .bearer_auth(crate::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (status, _) = as_staff(&app, &manager, "GET", "/v1/merchant/profile", None).await;
    assert_eq!(status, 401);
    app.stop().await;
}

both_backends!(
    merchants_add_staff_one_merchant_at_a_time,
    a_stranger_is_answered_as_staff_and_a_consumer_code_opens_no_till,
    a_cashier_takes_payments_and_does_nothing_else,
    a_manager_refunds_and_sees_the_staff_but_manages_neither,
    removed_or_signed_out_staff_and_a_revoked_key_open_no_till,
);
