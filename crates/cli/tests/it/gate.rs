//! `cashless gate` as a gate would run it: a configuration file, codes on stdin, one JSON
//! line per decision, taps kept for upload.

use std::io::Write;
use std::process::{Command, Stdio};

use cashless_transit::gate::hex;
use cashless_transit::{Certificate, CertificateBody};
use ed25519_dalek::SigningKey;
use serde_json::{Value, json};

const NOW: u32 = 1_800_000_000;

/// A gate's world: a directory, an issuer and a rider's device key, and the gate's
/// configuration file trusting that issuer (operator 1, one debtor blacklisted).
struct Gate {
    dir: std::path::PathBuf,
    issuer: SigningKey,
    device: SigningKey,
    config: std::path::PathBuf,
}

impl Gate {
    fn new() -> Gate {
        let dir =
            std::env::temp_dir().join(format!("cashless-gate-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let issuer = SigningKey::from_bytes(&[3; 32]);
        let config = dir.join("gate-config.json");
        std::fs::write(
            &config,
            json!({
                "operator": 1,
                "issuer_keys": [{ "id": 5, "public_key": hex(issuer.verifying_key().as_bytes()) }],
                "blacklist_version": 7,
                "blacklist": [hex(b"DEBTOR01")],
            })
            .to_string(),
        )
        .unwrap();
        Gate {
            dir,
            issuer,
            device: SigningKey::from_bytes(&[4; 32]),
            config,
        }
    }

    /// A day's certificate for `account` on the rider's device.
    fn certificate(&self, account: &[u8; 8]) -> Certificate {
        CertificateBody {
            issuer_key_id: 5,
            serial: 1,
            account_ref: *account,
            device_key: self.device.verifying_key().to_bytes(),
            credit_limit: 5_000,
            not_before: NOW - 60,
            not_after: NOW + 86_340,
            operator: 1,
        }
        .issue(&self.issuer)
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn the_gate_command_decides_codes_from_stdin_and_keeps_the_taps() {
    let gate = Gate::new();
    let good = gate
        .certificate(b"RIDER001")
        .ride_code(&gate.device, NOW - 2)
        .to_text();
    let debtor = gate
        .certificate(b"DEBTOR01")
        .ride_code(&gate.device, NOW)
        .to_text();
    let taps = gate.dir.join("taps.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_cashless"))
        .args(["gate", "--config"])
        .arg(&gate.config)
        .args([
            "--gate-id",
            "G-7",
            "--station",
            "Longxiangqiao",
            "--direction",
            "exit",
        ])
        .args(["--now", &NOW.to_string(), "--taps"])
        .arg(&taps)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    writeln!(
        child.stdin.as_mut().unwrap(),
        "{good}\n{good}\n{debtor}\nhello"
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let lines: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    assert_eq!(lines[0]["open"], true);
    assert_eq!(lines[0]["tap"]["station"], "Longxiangqiao");
    assert_eq!(lines[0]["tap"]["direction"], "exit");
    let reasons: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l["reason"].as_str().unwrap())
        .collect();
    assert_eq!(reasons, ["replay", "blacklisted", "malformed"]);
    let kept = std::fs::read_to_string(&taps).unwrap();
    assert_eq!(kept.lines().count(), 1, "only the opened code is a tap");
    assert!(kept.contains(&good));
}

#[test]
fn a_configuration_for_another_operator_is_refused() {
    let gate = Gate::new();
    let good = gate
        .certificate(b"RIDER001")
        .ride_code(&gate.device, NOW - 2)
        .to_text();
    // A configuration for another operator is refused, with a reason and exit status 1.
    let output = Command::new(env!("CARGO_BIN_EXE_cashless"))
        .args(["gate", "--operator", "2", "--config"])
        .arg(&gate.config)
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("operator"));
}

#[test]
fn the_ride_code_command_makes_what_the_phone_makes() {
    let gate = Gate::new();
    // `gate ride-code` makes what the phone makes, from a saved pass and the phone's key; the
    // gate opens for it, with the network's ids as its defaults.
    let key = gate.dir.join("rider.key");
    std::fs::write(&key, format!("{}\n", hex(gate.device.as_bytes()))).unwrap();
    let pass = gate.dir.join("pass.json");
    let pass_json = json!({ "certificate": hex(gate.certificate(b"RIDER002").as_bytes()) });
    std::fs::write(&pass, pass_json.to_string()).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cashless"))
        .args(["gate", "ride-code", "--key"])
        .arg(&key)
        .arg("--pass")
        .arg(&pass)
        .args(["--at", &NOW.to_string()])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let made: Value = serde_json::from_slice(&output.stdout).unwrap();
    let code = made["code"].as_str().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cashless"))
        .args(["gate", "--config"])
        .arg(&gate.config)
        .args(["--now", &(NOW + 1).to_string(), code])
        .output()
        .unwrap();
    let decision: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(decision["open"], true, "{decision}");
    assert_eq!(decision["tap"]["line"], "1");
    assert_eq!(decision["tap"]["station"], "wulin-square");
    // Another device's key is refused before a code is made.
    std::fs::write(&key, format!("{}\n", hex(&[9; 32]))).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_cashless"))
        .args(["gate", "ride-code", "--key"])
        .arg(&key)
        .arg("--pass")
        .arg(&pass)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("another device key"));
}
