//! `cashless gate`: a transit gate on the command line, deciding offline.
//!
//! It holds only what a gate holds: the issuer public keys and the blacklist from the
//! platform's `GET /v1/transit/gate-config` (saved to a file with `--fetch`, or read from one
//! with `--config`), its place (gate, line, station, entry or exit) and its clock. Each code
//! (an argument, or one per line on stdin, as a scanner types them) gets one JSON line: the
//! tap when it opens, the reason when it does not. Taps are appended to `--taps` (JSON
//! lines) for the later upload.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use cashless_transit::{Blacklist, Decision, Direction, Freshness, Gate, GatePlace};
use cashless_wallet::secrets::decode_hex;
use clap::{Args, ValueEnum};
use ed25519_dalek::VerifyingKey;
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Way {
    Entry,
    Exit,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The gate configuration (issuer keys, blacklist) as the platform publishes it.
    #[arg(long)]
    config: PathBuf,
    /// Download the configuration first from this server (e.g. http://127.0.0.1:8080) and
    /// save it to --config; without it the gate runs on the file it has.
    #[arg(long)]
    fetch: Option<String>,
    /// The transit operator whose gate this is.
    #[arg(long, default_value_t = 1)]
    operator: u16,
    #[arg(long, default_value = "GATE-1")]
    gate_id: String,
    #[arg(long, default_value = "Line 1")]
    line: String,
    #[arg(long, default_value = "Wulin Square")]
    station: String,
    #[arg(long, value_enum, default_value_t = Way::Entry)]
    direction: Way,
    /// The gate's clock (Unix seconds); the system clock by default.
    #[arg(long)]
    now: Option<u32>,
    /// Append the taps of opened codes here (JSON lines), for upload.
    #[arg(long)]
    taps: Option<PathBuf>,
    /// Ride codes (`CT1:…`); without any, one per line from stdin.
    codes: Vec<String>,
}

pub fn run(args: GateArgs) -> anyhow::Result<()> {
    if let Some(url) = &args.fetch {
        let text = fetch(url, args.operator)?;
        std::fs::write(&args.config, &text)
            .with_context(|| format!("writing {}", args.config.display()))?;
    }
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config: Value =
        serde_json::from_str(&text).context("the gate configuration is not JSON")?;
    let mut gate = Gate::new(
        GatePlace {
            gate_id: args.gate_id.clone(),
            operator: args.operator,
            line: args.line.clone(),
            station: args.station.clone(),
            direction: match args.direction {
                Way::Entry => Direction::Entry,
                Way::Exit => Direction::Exit,
            },
        },
        Freshness::default(),
    );
    load(&mut gate, &config, args.operator)?;
    let mut taps = match &args.taps {
        Some(path) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening {}", path.display()))?,
        ),
        None => None,
    };
    let mut decide = |code: &str| -> anyhow::Result<()> {
        let code = code.trim();
        if code.is_empty() {
            return Ok(());
        }
        let now = args.now.unwrap_or_else(unix_now);
        let line = match gate.decide(code, now) {
            Decision::Open(tap) => {
                if let Some(file) = taps.as_mut() {
                    writeln!(file, "{}", serde_json::to_string(&tap)?)?;
                }
                json!({ "open": true, "tap": tap })
            }
            Decision::Refuse(refusal) => json!({
                "open": false,
                "reason": refusal.code(),
                "message": refusal.message(),
            }),
        };
        println!("{line}");
        Ok(())
    };
    if args.codes.is_empty() {
        for line in std::io::stdin().lock().lines() {
            decide(&line?)?;
        }
    } else {
        for code in &args.codes {
            decide(code)?;
        }
    }
    Ok(())
}

fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
}

/// Takes the platform's gate configuration: issuer keys and blacklist.
fn load(gate: &mut Gate, config: &Value, operator: u16) -> anyhow::Result<()> {
    if config["operator"].as_u64() != Some(u64::from(operator)) {
        bail!(
            "the configuration is for operator {}, not {operator}",
            config["operator"]
        );
    }
    let mut keys = Vec::new();
    for key in config["issuer_keys"].as_array().context("no issuer_keys")? {
        let id = key["id"]
            .as_u64()
            .and_then(|id| u16::try_from(id).ok())
            .context("an issuer key without an id")?;
        let bytes: [u8; 32] = key["public_key"]
            .as_str()
            .and_then(decode_hex)
            .and_then(|bytes| bytes.try_into().ok())
            .context("an issuer key is not 64 hex digits")?;
        keys.push((
            id,
            VerifyingKey::from_bytes(&bytes).context("a bad issuer key")?,
        ));
    }
    gate.set_issuer_keys(keys);
    let mut accounts = std::collections::HashSet::new();
    for entry in config["blacklist"].as_array().context("no blacklist")? {
        let bytes: [u8; 8] = entry
            .as_str()
            .and_then(decode_hex)
            .and_then(|bytes| bytes.try_into().ok())
            .context("a blacklist entry is not 16 hex digits")?;
        accounts.insert(bytes);
    }
    gate.set_blacklist(Blacklist {
        version: config["blacklist_version"].as_u64().unwrap_or(0),
        accounts,
    });
    Ok(())
}

fn fetch(url: &str, operator: u16) -> anyhow::Result<String> {
    let authority = crate::http1::authority(url)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client = crate::http1::Client::connect(&authority).await?;
        let response = client
            .send(
                "GET",
                &format!("/v1/transit/gate-config?operator={operator}"),
                &[],
                b"",
            )
            .await?;
        Ok(response.ok_json("the gate configuration")?.to_string())
    })
}
