//! The operator ledger API, both backends.

use cashless_testkit::{Ids, TestDb};
use serde_json::{Value, json};

use crate::{TOKEN, TestApp, read};

cashless_testkit::both_backends!(
    health_and_readiness,
    every_ledger_route_requires_the_operator_token,
    accounts_and_transfers_round_trip,
    resubmitting_is_idempotent,
    bad_transfers_are_refused_and_change_nothing,
    malformed_or_oversized_requests_are_refused_and_change_nothing,
    a_batch_with_one_bad_transfer_writes_nothing,
    two_phase_transfers_over_http,
    history_pages_with_a_cursor,
    the_operator_audits_the_books,
);

const BANK: &str = "00000000-0000-0000-0000-0000000000b1";
const ALICE: &str = "00000000-0000-0000-0000-0000000000a1";
const SHOP: &str = "00000000-0000-0000-0000-0000000000c1";
const DOLLARS: &str = "00000000-0000-0000-0000-0000000000d1";

fn id(ids: &mut Ids) -> String {
    cashless_ledger::TransferId(ids.new_id()).to_string()
}

fn transfer(id: &str, debit: &str, credit: &str, amount: &str) -> Value {
    json!({ "id": id, "debit_account_id": debit, "credit_account_id": credit, "amount": amount, "currency": "CNY", "code": 1 })
}

/// Bank (clearing), Alice (a wallet that cannot go negative), a shop, and a dollar wallet;
/// Alice starts with 100.00.
async fn books(app: &TestApp, ids: &mut Ids) {
    let accounts = json!([
        { "id": BANK, "currency": "CNY", "kind": "clearing" },
        { "id": ALICE, "currency": "CNY", "kind": "wallet", "flags": ["debits_must_not_exceed_credits"] },
        { "id": SHOP, "currency": "CNY", "kind": "merchant" },
        { "id": DOLLARS, "currency": "USD", "kind": "wallet" },
    ]);
    let (status, body) = app.post("/v1/ledger/accounts", &accounts).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = app
        .post(
            "/v1/ledger/transfers",
            &json!([transfer(&id(ids), BANK, ALICE, "100.00")]),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn balances(app: &TestApp) -> Vec<Value> {
    let mut all = Vec::new();
    for account in [BANK, ALICE, SHOP, DOLLARS] {
        let (status, body) = app.get(&format!("/v1/ledger/accounts/{account}")).await;
        assert_eq!(status, 200, "{body}");
        all.push(body["balances"].clone());
    }
    all
}

async fn health_and_readiness(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let (status, body) = read(
        app.client
            .get(format!("{}/healthz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
    let (status, body) = read(
        app.client
            .get(format!("{}/readyz", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ready")));
    let (status, body) = read(
        app.client
            .get(format!("{}/nowhere", app.base))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    app.stop().await;
}

async fn every_ledger_route_requires_the_operator_token(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let routes = [
        ("POST", "/v1/ledger/accounts"),
        ("POST", "/v1/ledger/transfers"),
        ("GET", &format!("/v1/ledger/accounts/{ALICE}")),
        ("GET", &format!("/v1/ledger/accounts/{ALICE}/transfers")),
        ("GET", &format!("/v1/ledger/transfers/{ALICE}")),
    ];
    for (method, path) in routes {
        for token in [
            None,
            Some("wrong-token-wrong-token-wrong"),
            Some(&TOKEN[1..]),
        ] {
            let mut request = app
                .client
                .request(method.parse().unwrap(), format!("{}{path}", app.base));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            let (status, body) = read(request.json(&json!([])).send().await.unwrap()).await;
            assert_eq!(status, 401, "{method} {path} with {token:?}");
            assert_eq!(body["error"]["code"], "unauthorized");
        }
    }
    app.stop().await;
}

async fn accounts_and_transfers_round_trip(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut ids = Ids::new();
    books(&app, &mut ids).await;
    let pay = id(&mut ids);
    let (status, body) = app
        .post(
            "/v1/ledger/transfers",
            &json!([transfer(&pay, ALICE, SHOP, "12.34")]),
        )
        .await;
    assert_eq!(
        (status, body["results"][0]["result"].as_str()),
        (200, Some("ok")),
        "{body}"
    );
    let (_, alice) = app.get(&format!("/v1/ledger/accounts/{ALICE}")).await;
    assert_eq!(alice["balances"]["credits_posted"], "100.00");
    assert_eq!(alice["balances"]["debits_posted"], "12.34");
    assert_eq!(alice["kind"], "wallet");
    assert_eq!(alice["flags"], json!(["debits_must_not_exceed_credits"]));
    let (status, stored) = app.get(&format!("/v1/ledger/transfers/{pay}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        (stored["amount"].as_str(), stored["currency"].as_str()),
        (Some("12.34"), Some("CNY"))
    );
    assert_eq!(stored["result"], "ok");
    assert!(stored["timestamp"].as_str().unwrap().ends_with('Z'));
    let (status, body) = app
        .get(&format!("/v1/ledger/transfers/{}", id(&mut ids)))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    app.stop().await;
}

async fn resubmitting_is_idempotent(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut ids = Ids::new();
    books(&app, &mut ids).await;
    let pay = transfer(&id(&mut ids), ALICE, SHOP, "10.00");
    assert_eq!(app.post("/v1/ledger/transfers", &json!([pay])).await.0, 200);
    let (status, body) = app.post("/v1/ledger/transfers", &json!([pay])).await;
    assert_eq!(
        (status, body["results"][0]["result"].as_str()),
        (200, Some("exists"))
    );
    let mut changed = pay.clone();
    changed["amount"] = json!("10.01");
    let (status, body) = app.post("/v1/ledger/transfers", &json!([changed])).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("exists_with_different_amount")),
        "{body}"
    );
    let (_, alice) = app.get(&format!("/v1/ledger/accounts/{ALICE}")).await;
    assert_eq!(alice["balances"]["debits_posted"], "10.00", "moved once");
    app.stop().await;
}

/// A batch of one transfer of `amount` from `debit` to `credit`.
fn batch_of(ids: &mut Ids, debit: &str, credit: &str, amount: &str) -> Value {
    json!([transfer(&id(ids), debit, credit, amount)])
}

/// A batch of one transfer of 1.00 from Alice to the shop, with `field` set to `value`.
fn batch_with(field: &str, value: Value) -> Value {
    let mut t = transfer(
        &cashless_ledger::TransferId(rand::random::<u128>() >> 1).to_string(),
        ALICE,
        SHOP,
        "1.00",
    );
    t[field] = value;
    json!([t])
}

/// Batches the ledger refuses whole, with the status and the code of the refusal.
fn refused_batches(ids: &mut Ids) -> Vec<(Value, u16, &'static str)> {
    let unknown = "00000000-0000-0000-0000-00000000ffff";
    vec![
        (
            batch_of(ids, unknown, SHOP, "1.00"),
            422,
            "debit_account_not_found",
        ),
        (
            batch_of(ids, ALICE, unknown, "1.00"),
            422,
            "credit_account_not_found",
        ),
        (
            batch_of(ids, ALICE, DOLLARS, "1.00"),
            422,
            "accounts_must_have_the_same_currency",
        ),
        (
            batch_with("currency", json!("USD")),
            422,
            "transfer_must_have_the_same_currency_as_accounts",
        ),
        (
            batch_with("currency", json!("XYZ")),
            422,
            "unknown_currency",
        ),
        (
            batch_with("amount", json!("0")),
            422,
            "amount_must_not_be_zero",
        ),
        (batch_with("amount", json!("-5.00")), 422, "amount_negative"),
        (
            batch_with("amount", json!("99999999999999999999")),
            422,
            "amount_too_large",
        ),
        (
            batch_with("amount", json!("1.001")),
            422,
            "amount_too_many_decimals",
        ),
        (batch_with("amount", json!("98,73")), 422, "amount_syntax"),
        (batch_with("amount", json!(5)), 400, "invalid_request"),
        (batch_with("id", json!("not-a-uuid")), 422, "invalid_id"),
        (
            batch_with("flags", json!(["sideways"])),
            422,
            "unknown_flag",
        ),
        (batch_with("surprise", json!(1)), 400, "invalid_request"),
        (batch_of(ids, ALICE, SHOP, "100.01"), 422, "exceeds_credits"),
        (
            batch_of(ids, ALICE, ALICE, "1.00"),
            422,
            "accounts_must_be_different",
        ),
        (json!([]), 422, "batch_empty"),
        (json!({ "not": "a list" }), 400, "invalid_request"),
    ]
}

async fn bad_transfers_are_refused_and_change_nothing(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut ids = Ids::new();
    books(&app, &mut ids).await;
    let before = balances(&app).await;
    for (body, status, code) in refused_batches(&mut ids) {
        let (got_status, got) = app.post("/v1/ledger/transfers", &body).await;
        assert_eq!(
            (got_status, got["error"]["code"].as_str()),
            (status, Some(code)),
            "{body} -> {got}"
        );
        assert!(
            got["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    assert_eq!(balances(&app).await, before, "nothing was written");
    app.stop().await;
}

async fn malformed_or_oversized_requests_are_refused_and_change_nothing(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut ids = Ids::new();
    books(&app, &mut ids).await;
    let before = balances(&app).await;
    let (status, body) = app.post_raw("/v1/ledger/transfers", "[{\"id\": ").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_json"))
    );
    let too_many: Vec<Value> = (0..8_191)
        .map(|_| transfer(&id(&mut ids), BANK, SHOP, "0.01"))
        .collect();
    let (status, body) = app
        .post("/v1/ledger/transfers", &Value::Array(too_many))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("batch_too_large"))
    );
    let response = declare_huge_body(&app).await;
    assert!(response.starts_with("HTTP/1.1 413"), "{response}");
    assert!(response.contains("body_too_large"), "{response}");
    let (status, body) = app
        .post(
            "/v1/ledger/accounts",
            &json!([{ "id": BANK, "currency": "CNY", "kind": "nonsense" }]),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("unknown_account_kind"))
    );
    let (status, body) = app.get("/v1/ledger/accounts/123").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("invalid_id"))
    );
    assert_eq!(balances(&app).await, before, "nothing was written");
    app.stop().await;
}

async fn a_batch_with_one_bad_transfer_writes_nothing(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut ids = Ids::new();
    books(&app, &mut ids).await;
    let before = balances(&app).await;
    let (good, bad) = (id(&mut ids), id(&mut ids));
    let batch = json!([
        transfer(&good, ALICE, SHOP, "1.00"),
        transfer(&bad, ALICE, SHOP, "500.00")
    ]);
    let (status, body) = app.post("/v1/ledger/transfers", &batch).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("exceeds_credits")),
        "{body}"
    );
    assert_eq!(body["error"]["results"][0]["result"], "not_applied");
    assert_eq!(body["error"]["results"][1]["result"], "exceeds_credits");
    assert_eq!(
        app.get(&format!("/v1/ledger/transfers/{good}")).await.0,
        404
    );
    assert_eq!(balances(&app).await, before);
    // Only the refusal is remembered: the refused id answers the same forever (a retry after
    // Alice is funded must not move money she was told did not move), the other id is free.
    let (status, body) = app
        .post(
            "/v1/ledger/transfers",
            &json!([transfer(&bad, ALICE, SHOP, "500.00")]),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("id_already_failed")),
        "{body}"
    );
    let fixed = json!([
        transfer(&good, ALICE, SHOP, "1.00"),
        transfer(&id(&mut ids), ALICE, SHOP, "5.00")
    ]);
    assert_eq!(app.post("/v1/ledger/transfers", &fixed).await.0, 200);
    // A conflict inside a batch is reported as the conflict (409), not as the items it took down.
    let (status, body) = app
        .post(
            "/v1/ledger/transfers",
            &json!([
                transfer(&id(&mut ids), BANK, SHOP, "1.00"),
                transfer(&good, ALICE, SHOP, "2.00")
            ]),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (409, Some("exists_with_different_amount")),
        "{body}"
    );
    assert_eq!(body["error"]["results"][0]["result"], "not_applied");
    app.stop().await;
}

async fn two_phase_transfers_over_http(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut ids = Ids::new();
    books(&app, &mut ids).await;
    let hold = id(&mut ids);
    let mut pending = transfer(&hold, ALICE, SHOP, "60.00");
    pending["flags"] = json!(["pending"]);
    pending["timeout_secs"] = json!(3600);
    assert_eq!(
        app.post("/v1/ledger/transfers", &json!([pending])).await.0,
        200
    );
    let (_, alice) = app.get(&format!("/v1/ledger/accounts/{ALICE}")).await;
    assert_eq!(alice["balances"]["debits_pending"], "60.00");
    let post = json!({ "id": id(&mut ids), "pending_id": hold, "amount": "45.00", "currency": "CNY", "flags": ["post_pending"] });
    let (status, body) = app.post("/v1/ledger/transfers", &json!([post])).await;
    assert_eq!(status, 200, "{body}");
    let (_, alice) = app.get(&format!("/v1/ledger/accounts/{ALICE}")).await;
    assert_eq!(
        (
            alice["balances"]["debits_pending"].as_str(),
            alice["balances"]["debits_posted"].as_str()
        ),
        (Some("0.00"), Some("45.00"))
    );
    let (_, stored) = app.get(&format!("/v1/ledger/transfers/{hold}")).await;
    assert_eq!(stored["pending_status"], "posted");
    let void = json!({ "id": id(&mut ids), "pending_id": hold, "currency": "CNY", "flags": ["void_pending"] });
    let (status, body) = app.post("/v1/ledger/transfers", &json!([void])).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (422, Some("pending_transfer_already_posted"))
    );
    app.stop().await;
}

async fn history_pages_with_a_cursor(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut ids = Ids::new();
    books(&app, &mut ids).await;
    let mut expected = Vec::new();
    for _ in 0..7 {
        let pay = id(&mut ids);
        assert_eq!(
            app.post(
                "/v1/ledger/transfers",
                &json!([transfer(&pay, ALICE, SHOP, "1.00")])
            )
            .await
            .0,
            200
        );
        expected.push(pay);
    }
    expected.reverse();
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let path = match &cursor {
            Some(cursor) => format!("/v1/ledger/accounts/{SHOP}/transfers?limit=3&cursor={cursor}"),
            None => format!("/v1/ledger/accounts/{SHOP}/transfers?limit=3"),
        };
        let (status, page) = app.get(&path).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(
            page["transfers"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, expected);
    // A cursor from another account's history walks nothing of that account.
    // (Alice's funding from the bank does not touch the shop.)
    let (_, bank) = app
        .get(&format!("/v1/ledger/accounts/{BANK}/transfers?limit=1"))
        .await;
    let funding = &bank["transfers"][0];
    assert_eq!(funding["credit_account_id"], ALICE);
    let foreign = funding["timestamp_ns"].as_str().unwrap();
    let (status, page) = app
        .get(&format!(
            "/v1/ledger/accounts/{SHOP}/transfers?cursor={foreign}"
        ))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        page["transfers"],
        json!([]),
        "the shop's history showed another account's transfer"
    );
    for bad in ["limit=0", "limit=1001", "cursor=abc", "cursor=0", "bogus=1"] {
        let (status, _) = app
            .get(&format!("/v1/ledger/accounts/{SHOP}/transfers?{bad}"))
            .await;
        let shape = if bad.starts_with("bogus") { 400 } else { 422 };
        assert_eq!(status, shape, "{bad}");
    }
    let (status, _) = app
        .get("/v1/ledger/accounts/00000000-0000-0000-0000-00000000ffff/transfers")
        .await;
    assert_eq!(status, 404);
    app.stop().await;
}

/// Declares a 9 MiB body and sends none: the server must refuse from the header alone. (A real
/// 9 MiB upload races the server closing the connection, which makes a flaky test.)
async fn declare_huge_body(app: &TestApp) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let address = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    let request = format!(
        "POST /v1/ledger/transfers HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        9 * 1024 * 1024
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut buffer = vec![0u8; 4096];
    let read = tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut buffer))
        .await
        .expect("the server answered without waiting for the body")
        .unwrap();
    String::from_utf8_lossy(&buffer[..read]).into_owned()
}

/// `GET /v1/operator/audit` checks the books from storage: here, a payment and a hold.
async fn the_operator_audits_the_books(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let mut ids = Ids::new();
    books(&app, &mut ids).await;
    let mut hold = transfer(&id(&mut ids), ALICE, SHOP, "10.00");
    hold["flags"] = json!(["pending"]);
    let transfers = json!([transfer(&id(&mut ids), ALICE, SHOP, "25.00"), hold]);
    assert_eq!(app.post("/v1/ledger/transfers", &transfers).await.0, 200);
    let (status, report) = app.get("/v1/operator/audit").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["passed"], true, "{report}");
    assert_eq!(report["ledger"]["accounts"], 4);
    assert_eq!(report["ledger"]["transfers"], 3);
    assert_eq!(report["ledger"]["pending"], 1);
    let cny = &report["ledger"]["currencies"][0];
    assert_eq!(cny["currency"], "CNY");
    assert_eq!(
        (&cny["debits_posted"], &cny["credits_posted"]),
        (&json!("12500"), &json!("12500"))
    );
    assert_eq!(
        (&cny["debits_pending"], &cny["credits_pending"]),
        (&json!("1000"), &json!("1000"))
    );
    assert_eq!(report["outbox"]["pending"], 0);
    app.stop().await;
}
