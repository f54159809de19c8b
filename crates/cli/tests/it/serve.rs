//! `cashless serve`'s refusals at start-up.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn data_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("cashless-serve-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn production_refuses_the_simulated_partners_unless_told() {
    let dir = data_dir();
    let output = Command::new(env!("CARGO_BIN_EXE_cashless"))
        .args([
            "serve",
            "--production",
            "--listen",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(&dir)
        .env_remove("CASHLESS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains("simulators") && said.contains("--allow-simulated-partners"),
        "{said}"
    );

    // Told, it starts, and says so on its standard error in capitals, not in a log line.
    let mut child = Command::new(env!("CARGO_BIN_EXE_cashless"))
        .args([
            "serve",
            "--production",
            "--allow-simulated-partners",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "error",
            "--data-dir",
        ])
        .arg(&dir)
        .env_remove("CASHLESS_DATABASE_URL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let started = Instant::now();
    let mut banner = false;
    for line in stderr.lines() {
        let line = line.unwrap();
        if line.contains("PRODUCTION MODE ON SIMULATED PARTNERS") {
            banner = true;
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no banner");
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(banner);
    std::fs::remove_dir_all(&dir).unwrap();
}
