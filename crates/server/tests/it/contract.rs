//! The API's contract as a whole, walked from its own description: `/openapi.json` lists every
//! route truthfully (parameters, security), every error of every route is
//! `{"error": {"code", "message"}}` JSON (a bad query, a bad path, an oversized body, no
//! credentials), and every secured route refuses a caller without credentials.

use cashless_testkit::{TestDb, both_backends};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::payments::{staff_phone, staff_sign_in};
use crate::{TOKEN, TestApp, read};

const METHODS: [&str; 4] = ["get", "post", "put", "delete"];

async fn document(app: &TestApp) -> Value {
    let response = app
        .client
        .get(format!("{}/openapi.json", app.base))
        .send()
        .await
        .unwrap();
    let (status, doc) = read(response).await;
    assert_eq!(status, 200);
    doc
}

/// Every (path, method, operation) of the document.
fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut found = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if let Some(operation) = item.get(method) {
                found.push((path.clone(), method.to_owned(), operation.clone()));
            }
        }
    }
    found
}

/// The schemes a route needs (empty: public).
fn schemes(operation: &Value) -> Vec<String> {
    operation["security"]
        .as_array()
        .unwrap_or_else(|| panic!("no security declared: {operation}"))
        .iter()
        .flat_map(|requirement| requirement.as_object().unwrap().keys().cloned())
        .collect()
}

fn assert_error_shape(what: &str, status: u16, body: &Value) {
    assert!(
        (400..500).contains(&status),
        "{what}: {status} is not a client error: {body}"
    );
    let error = &body["error"];
    assert!(
        error["code"].as_str().is_some_and(|code| !code.is_empty())
            && error["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{what}: not the error shape: {body}"
    );
}

async fn openapi_document_describes_the_api(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let doc = document(&app).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    assert_eq!(doc["info"]["title"], "Cashless API");
    for scheme in [
        "consumer",
        "staff",
        "operator",
        "merchant_signature",
        "gate_id",
        "gate_signature",
    ] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "{scheme}"
        );
    }
    // The routes the integrator reaches first, and those that were missing.
    for path in [
        "/healthz",
        "/readyz",
        "/v1/auth/sign-in",
        "/v1/me/topups/quote",
        "/v1/ledger/transfers",
        "/v1/ledger/accounts/{id}/transfers",
        "/v1/operator/sms",
        "/v1/demo/merchants",
        "/v1/merchant/orders/{out_trade_no}/refunds/{out_request_no}",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing");
    }
    for (path, method, operation) in operations(&doc) {
        // Every path parameter is declared.
        for name in path
            .split('/')
            .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        {
            let declared = operation["parameters"].as_array().is_some_and(|ps| {
                ps.iter()
                    .any(|p| p["name"] == name && p["in"] == "path" && p["required"] == true)
            });
            assert!(declared, "{method} {path}: {{{name}}} not declared");
        }
        // And nothing else is (a query parameter declared in the path is never sent).
        for parameter in operation["parameters"].as_array().into_iter().flatten() {
            if parameter["in"] == "path" {
                let name = parameter["name"].as_str().unwrap();
                assert!(
                    path.contains(&format!("{{{name}}}")),
                    "{method} {path}: {name} is declared in the path"
                );
            }
        }
        // Pictures are bytes, not arrays of numbers.
        if let Some(content) = operation["requestBody"]["content"].as_object() {
            for (kind, body) in content {
                if kind.starts_with("image/") {
                    assert_eq!(body["schema"]["format"], "binary", "{method} {path}");
                }
            }
        }
        // Every route says who may call it, and answers errors in the one shape.
        schemes(&operation);
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.contains_key("400") && responses.contains_key("503"),
            "{method} {path}"
        );
        for (status, response) in responses {
            if status.starts_with('4') || status.starts_with('5') {
                assert_eq!(
                    response["content"]["application/json"]["schema"]["$ref"],
                    "#/components/schemas/ErrorBody",
                    "{method} {path} {status}"
                );
            }
        }
    }
    // List answers are described as they are: objects holding the list.
    for (path, field) in [
        ("/v1/me/cards", "cards"),
        ("/v1/me/devices", "devices"),
        ("/v1/me/payments/pending", "payments"),
    ] {
        let schema = &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
            ["schema"]["$ref"];
        let name = schema.as_str().unwrap().rsplit('/').next().unwrap();
        let properties = &doc["components"]["schemas"][name]["properties"];
        assert!(properties[field].is_object(), "{path}: {schema}");
    }
    app.stop().await;
}

/// A request as it leaves a client: method, path and query exactly as given (no re-encoding),
/// a bearer token, and a body.
async fn raw(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> (u16, Value) {
    let url = reqwest::Url::parse(&format!("{}{path}", app.base)).unwrap();
    let method_upper = method.to_uppercase();
    let mut request = app.client.request(method_upper.parse().unwrap(), url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    if text.is_empty() {
        return (status, Value::Null);
    }
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|_| panic!("{method} {path}: not JSON ({status}): {text}"));
    (status, body)
}

/// Sends a body of `bytes` zeros to `path` over a raw connection, chunked (no declared length)
/// or with its length declared, and reads the answer whatever happened to the upload.
async fn oversized(app: &TestApp, method: &str, path: &str, chunked: bool) -> (u16, Value) {
    const BYTES: usize = 8 * 1024 * 1024 + 1;
    let address = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
    let length = if chunked {
        "transfer-encoding: chunked".to_owned()
    } else {
        format!("content-length: {BYTES}")
    };
    let head = format!(
        "{} {path} HTTP/1.1\r\nhost: {address}\r\nauthorization: Bearer {TOKEN}\r\n\
         content-type: application/json\r\nconnection: close\r\n{length}\r\n\r\n",
        method.to_uppercase()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let chunk = vec![b' '; 64 * 1024];
    let mut sent = 0;
    while sent < BYTES {
        let piece = &chunk[..chunk.len().min(BYTES - sent)];
        let written = if chunked {
            let mut framed = format!("{:x}\r\n", piece.len()).into_bytes();
            framed.extend_from_slice(piece);
            framed.extend_from_slice(b"\r\n");
            stream.write_all(&framed).await
        } else {
            stream.write_all(piece).await
        };
        // The server may answer and close before the body is all sent.
        if written.is_err() {
            break;
        }
        sent += piece.len();
    }
    if chunked {
        let _ = stream.write_all(b"0\r\n\r\n").await;
    }
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    let status: u16 = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("{method} {path}: no answer: {answer:?}"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or("");
    let body = serde_json::from_str(body)
        .unwrap_or_else(|_| panic!("{method} {path}: not JSON ({status}): {body:?}"));
    (status, body)
}

/// Who calls in the checks: the operator, a consumer, and a merchant's manager (for the
/// merchant's routes and the staff's).
struct Callers {
    consumer: String,
    manager: String,
}

impl Callers {
    async fn sign_up(app: &TestApp) -> Callers {
        let consumer = app.consumer().await;
        let merchant = app.merchant(None).await;
        let phone = staff_phone();
        let (status, added) = app
            .signed(
                &merchant,
                "POST",
                "/v1/merchant/staff",
                Some(&json!({ "phone": phone, "name": "Manager Liu", "role": "manager" })),
            )
            .await;
        assert_eq!(status, 201, "{added}");
        let manager = staff_sign_in(app, &phone).await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        Callers { consumer, manager }
    }

    /// The token for a route needing `schemes` (none: we hold no such credential).
    fn token_for(&self, schemes: &[String]) -> Option<String> {
        match schemes.first().map(String::as_str) {
            Some("operator") => Some(TOKEN.to_owned()),
            Some("consumer") => Some(self.consumer.clone()),
            Some("merchant_signature" | "staff") => Some(self.manager.clone()),
            _ => None,
        }
    }
}

async fn every_route_answers_errors_as_json(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let doc = document(&app).await;
    let callers = Callers::sign_up(&app).await;
    let operations = operations(&doc);
    assert!(operations.len() > 80, "{} operations", operations.len());
    for (path, method, operation) in &operations {
        route_answers_errors_as_json(&app, &callers, path, method, operation).await;
    }
    app.stop().await;
}

/// An object body sent as an array is refused, not read field by field in order.
async fn an_object_body_sent_as_an_array_is_refused(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let consumer = app.consumer().await;
    let (status, body) = raw(
        &app,
        "post",
        "/v1/me/pin",
        Some(&consumer),
        Some(&json!(["258036"])),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("invalid_request")),
        "{body}"
    );
    let (_, me) = raw(&app, "get", "/v1/me", Some(&consumer), None).await;
    assert_eq!(me["pin_set"], false, "{me}");
    app.stop().await;
}

/// One route of the document, asked without credentials, with a path and a query that are
/// not UTF-8, and with a body over the limit: every error is the one JSON shape.
async fn route_answers_errors_as_json(
    app: &TestApp,
    callers: &Callers,
    path: &str,
    method: &str,
    operation: &Value,
) {
    let schemes = schemes(operation);
    let concrete = path
        .split('/')
        .map(|s| if s.starts_with('{') { "x0" } else { s })
        .collect::<Vec<_>>()
        .join("/");
    let what = format!("{method} {path}");

    // Without credentials: a secured route refuses with 401; a public one does not.
    let (status, body) = raw(app, method, &concrete, None, None).await;
    if schemes.is_empty() {
        assert_ne!(status, 401, "{what} is public but refused: {body}");
    } else {
        assert_eq!(status, 401, "{what} is secured but answered: {body}");
    }
    if status >= 400 {
        assert_error_shape(&what, status, &body);
    }

    // With credentials (where we have them), a path parameter that is not UTF-8.
    let token = callers.token_for(&schemes);
    if path.contains('{') && (schemes.is_empty() || token.is_some()) {
        let bad = path
            .split('/')
            .map(|s| if s.starts_with('{') { "%ff%fe" } else { s })
            .collect::<Vec<_>>()
            .join("/");
        let (status, body) = raw(app, method, &bad, token.as_deref(), None).await;
        assert_error_shape(&format!("{what} (bad path)"), status, &body);
    }

    // A query string whose values are not UTF-8: refused where the route reads a query.
    let query: Vec<String> = operation["parameters"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|p| p["in"] == "query")
        .map(|p| format!("{}=%ff%fe", p["name"].as_str().unwrap()))
        .collect();
    if !query.is_empty() && (schemes.is_empty() || token.is_some()) {
        let (status, body) = raw(
            app,
            method,
            &format!("{concrete}?{}", query.join("&")),
            token.as_deref(),
            None,
        )
        .await;
        assert!(matches!(status, 400 | 422), "{what} (bad query): {body}");
        assert_error_shape(&format!("{what} (bad query)"), status, &body);
    }

    // A body over the limit, declared or chunked.
    if operation["requestBody"].is_object() {
        for chunked in [false, true] {
            let (status, body) = oversized(app, method, &concrete, chunked).await;
            let what = format!("{what} (oversized body, chunked: {chunked})");
            // Refused as too large, or for want of credentials before the body is read.
            assert!(
                status == 413 || (status == 401 && !schemes.is_empty()),
                "{what}: {status} {body}"
            );
            assert_error_shape(&what, status, &body);
        }
    }
}

/// Answers that carry tokens or personal data are never cached nor sniffed; production adds
/// HSTS.
async fn answers_are_not_cached_nor_sniffed(db: TestDb) {
    let app = TestApp::spawn_with(
        db,
        crate::Setup {
            production: true,
            ..crate::Setup::default()
        },
    )
    .await;
    let token = app.consumer().await;
    let headers = |response: &reqwest::Response, name: &str| {
        response
            .headers()
            .get(name)
            .map(|value| value.to_str().unwrap().to_owned())
    };
    for (path, bearer) in [
        ("/v1/me", Some(token.as_str())),
        ("/v1/me", None),
        ("/v1/operator/sms", Some(TOKEN)),
        ("/healthz", None),
    ] {
        let mut request = app.client.get(format!("{}{path}", app.base));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            headers(&response, "cache-control").as_deref(),
            Some("no-store"),
            "{path}"
        );
        assert_eq!(
            headers(&response, "x-content-type-options").as_deref(),
            Some("nosniff"),
            "{path}"
        );
        assert!(
            headers(&response, "strict-transport-security").is_some_and(|v| v.contains("max-age=")),
            "{path}"
        );
    }
    // Every answer names its request; a client's own sensible id is kept.
    let answer = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "till-7:order-42")
        .send()
        .await
        .unwrap();
    assert_eq!(
        headers(&answer, "x-request-id").as_deref(),
        Some("till-7:order-42")
    );
    let answer = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "no spaces or { allowed }")
        .send()
        .await
        .unwrap();
    let made = headers(&answer, "x-request-id").unwrap();
    assert!(made.len() > 8 && !made.contains(' '), "{made}");
    app.stop().await;
}

both_backends!(
    openapi_document_describes_the_api,
    every_route_answers_errors_as_json,
    an_object_body_sent_as_an_array_is_refused,
    answers_are_not_cached_nor_sniffed,
);
