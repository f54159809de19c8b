//! The demo city: seeded through the real code paths, once.

use std::sync::Arc;
use std::time::Duration;

use cashless_server::AppState;
use cashless_server::auth::OperatorToken;
use cashless_server::demo;
use cashless_testkit::{TestDb, both_backends};
use serde_json::json;

use crate::{TOKEN, TestApp};

async fn demo_city_is_seeded_once_and_usable(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let state = AppState {
        store: app.store.clone(),
        operator_token: Arc::new(OperatorToken::new(TOKEN).unwrap()),
        wallet: app.wallet.clone(),
        payments: app.payments.clone(),
        rides: app.rides.clone(),
        sms_outbox: Some(app.sms.clone()),
        demo: false,
        production: false,
        access_log: cashless_server::access_log::AccessLog::All,
        demo_city: Default::default(),
    };
    let dir = std::env::temp_dir().join(format!("cashless_demo_{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    let city = demo::seed(&state, &app.sms, &dir).await.unwrap();
    assert_eq!(city.merchants.len(), 12);
    assert_eq!(city.consumers.len(), 3);
    assert!(city.merchants.iter().all(|m| !m.stores.is_empty()));
    assert!(city.consumers.iter().any(|c| c.kind.contains("visitor")));

    // Seeding again reads the city back; nothing is doubled.
    let again = demo::seed(&state, &app.sms, &dir).await.unwrap();
    assert_eq!(again.merchants[0].id, city.merchants[0].id);
    // Without the marker, existing demo merchants are refused rather than doubled.
    std::fs::remove_file(dir.join("demo-city.json")).unwrap();
    let error = demo::seed(&state, &app.sms, &dir).await.unwrap_err();
    assert_eq!(error.code, "demo_city_incomplete");

    // A demo consumer can sign in and pay a demo merchant's poster once the top-up settles.
    let li_na = &city.consumers[0];
    let body = app.sign_in(&li_na.phone, "test phone").await;
    let token = body["token"].as_str().unwrap().to_owned();
    let mut balance = String::new();
    for _ in 0..100 {
        let (_, me) = app.get_as(&token, "/v1/me").await;
        balance = me["balance"]["available"]["amount"]
            .as_str()
            .unwrap()
            .to_owned();
        if balance == "2000.00" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(balance, "2000.00");
    let poster = &city.merchants[1].stores[0].static_code;
    let (status, paid) = app
        .money(
            &token,
            "/v1/me/payments",
            "demo-1",
            &json!({ "payload": poster, "amount": "12.00" }),
        )
        .await;
    assert_eq!(
        (status, paid["merchant_name"].as_str()),
        (200, Some("Grandma Wu Noodle Stall")),
        "{paid}"
    );
    let _ = std::fs::remove_dir_all(&dir);
    app.stop().await;
}

both_backends!(demo_city_is_seeded_once_and_usable);

/// The web app's pages and scripts come with a policy that allows only our own code and no
/// HTML sinks at all (Trusted Types with no policy), and only our pages may use the camera.
#[tokio::test]
async fn web_pages_are_served_under_a_strict_policy() {
    let app = TestApp::spawn(TestDb::sqlite()).await;
    for path in [
        "/", "/app.js", "/ui.js", "/qr.js", "/pos", "/pos.js", "/app.css",
    ] {
        let response = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let csp = header("content-security-policy");
        for directive in [
            "script-src 'self'",
            "object-src 'none'",
            "frame-ancestors 'none'",
            "require-trusted-types-for 'script'",
            "trusted-types 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe"), "{path}: {csp}");
        let permissions = header("permissions-policy");
        assert!(
            permissions.contains("camera=(self)"),
            "{path}: {permissions}"
        );
        assert!(
            permissions.contains("microphone=()"),
            "{path}: {permissions}"
        );
        assert_eq!(header("x-content-type-options"), "nosniff");
    }
    // The scripts never write HTML: no sink Trusted Types would have to allow.
    for path in ["/app.js", "/ui.js", "/qr.js", "/pos.js"] {
        let text = app
            .client
            .get(format!("{}{path}", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!text.contains(sink), "{path} uses {sink}");
        }
    }
    app.stop().await;
}
