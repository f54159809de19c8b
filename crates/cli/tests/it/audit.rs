//! `cashless audit` on the data directory of a server that ran: the demo city's books pass;
//! a tampered balance fails, with exit status 1.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

#[test]
fn the_audit_passes_on_the_demo_city_and_fails_on_a_tampered_balance() {
    let dir = std::env::temp_dir().join(format!("cashless-audit-{:016x}", rand::random::<u64>()));
    let mut server = Command::new(env!("CARGO_BIN_EXE_cashless"))
        .args([
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "error",
            "--data-dir",
        ])
        .arg(&dir)
        .env_remove("CASHLESS_DATABASE_URL")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Read its standard output to the end (a closed pipe would fail its next line), and say
    // when the demo city is there.
    let stdout = server.stdout.take().unwrap();
    let (seeded, seeded_seen) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.contains("Demo city") {
                let _ = seeded.send(());
            }
        }
    });
    seeded_seen
        .recv_timeout(Duration::from_secs(120))
        .expect("the demo city never came");
    // The seeding's last top-ups settle in the background: let them; then stop as an operator
    // would (SIGTERM: the writer's last checkpoint writes the balances to their rows).
    std::thread::sleep(Duration::from_secs(2));
    let stopped = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(stopped.success());
    assert!(server.wait().unwrap().success());
    reader.join().unwrap();

    let audit = || {
        Command::new(env!("CARGO_BIN_EXE_cashless"))
            .args(["audit", "--json", "--data-dir"])
            .arg(&dir)
            .env_remove("CASHLESS_DATABASE_URL")
            .output()
            .unwrap()
    };
    let output = audit();
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(output.status.success(), "{report:#}");
    assert_eq!(report["passed"], true);
    assert!(
        report["ledger"]["transfers"].as_u64().unwrap() >= 6,
        "{report:#}"
    );
    assert!(
        report["ledger"]["checkpoint_ts"].as_u64().unwrap() > 0,
        "{report:#}"
    );
    assert_eq!(report["ledger"]["currencies"][0]["currency"], "CNY");

    let mut conn = cashless_store::Location::Sqlite(dir.join("cashless.db"))
        .open()
        .unwrap();
    conn.execute(
        "UPDATE ledger_accounts SET credits_posted = credits_posted + 100 \
         WHERE no = (SELECT MAX(no) FROM ledger_accounts WHERE credits_posted > 0)",
        &[],
    )
    .unwrap();
    drop(conn);
    let output = audit();
    assert_eq!(output.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["passed"], false);
    assert_eq!(
        report["ledger"]["breaks"]["balance_mismatch"]["count"], 1,
        "{report:#}"
    );
    assert!(report["ledger"]["breaks"]["unbalanced_currency"]["count"].as_u64() >= Some(1));
    // Without --json, the summary says it in words.
    let output = Command::new(env!("CARGO_BIN_EXE_cashless"))
        .args(["audit", "--data-dir"])
        .arg(&dir)
        .env_remove("CASHLESS_DATABASE_URL")
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(summary.contains("BREAK balance_mismatch: 1"), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}
