//! `cashless gate`: a transit gate on the command line, deciding offline.
//!
//! It holds only what a gate holds: the issuer public keys and the blacklist from the
//! platform's `GET /v1/transit/gate-config` (saved to a file with `--fetch`, or read from one
//! with `--config`), its place (gate, line, station, entry or exit) and its clock. Each code
//! (an argument, or one per line on stdin, as a scanner types them) gets one JSON line: the
//! tap when it opens, the reason when it does not. Taps are appended to `--taps` (JSON
//! lines) for the later upload.
//!
//! `cashless gate key --key FILE` makes the gate's own Ed25519 key (or shows the public key
//! of the one in FILE) for the operator to register; `cashless gate upload` sends the kept
//! taps in signed batches of up to 1,000 to `POST /v1/transit/taps`. A batch's id is the
//! digest of its taps, so an upload cut short and run again sends the same batches under
//! the same ids and nothing is counted twice.

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::{Context, bail};
use cashless_kernel::secrets::decode_hex;
use cashless_transit::{Blacklist, Decision, Direction, Freshness, Gate, GatePlace};
use clap::{Args, Subcommand, ValueEnum};
use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Way {
    Entry,
    Exit,
}

/// `cashless gate`: decide on codes, or look after the gate's key and uploads.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct GateCommand {
    #[command(subcommand)]
    action: Option<GateAction>,
    #[command(flatten)]
    decide: GateArgs,
}

#[derive(Debug, Subcommand)]
enum GateAction {
    /// Make the gate's signing key in FILE (hex seed, readable by the owner only), or read
    /// it; prints the public key to register (POST /v1/operator/transit/gates).
    Key {
        #[arg(long)]
        key: PathBuf,
    },
    /// Upload the kept taps to the platform in signed batches, then move them to
    /// FILE.uploaded.
    Upload(UploadArgs),
    /// Make a ride code, as a rider's phone does, to try a gate with: from a saved pass and
    /// the phone's key, or (with --url) signing a consumer in first to get the pass.
    RideCode(RideCodeArgs),
}

#[derive(Debug, Args)]
struct RideCodeArgs {
    /// The rider's device key (64 hex digits; made here if the file does not exist). Its
    /// public key is registered at sign-in: the pass is bound to it.
    #[arg(long)]
    key: PathBuf,
    /// The pass (`POST /v1/me/transit/pass`'s answer, as JSON): read, or written with --url.
    #[arg(long)]
    pass: PathBuf,
    /// Get the pass from this server first: sign in as --phone (the SMS code is read from
    /// the operator's simulated outbox), register --key, ask for the pass, save it to --pass.
    #[arg(long, requires_all = ["phone", "operator_token_file"])]
    url: Option<String>,
    /// The rider's phone (a consumer with a real name: the demo city's, say).
    #[arg(long)]
    phone: Option<String>,
    /// The operator token file (`<data-dir>/operator-token`), to read the SMS outbox.
    #[arg(long)]
    operator_token_file: Option<PathBuf>,
    /// The transit operator of the pass (1 Hangzhou Metro, 2 Hangzhou Bus).
    #[arg(long, default_value_t = 1)]
    operator: u16,
    /// When the code is made (Unix seconds); now by default. Gates accept a code for 30 s.
    #[arg(long)]
    at: Option<u32>,
}

#[derive(Debug, Args)]
struct UploadArgs {
    /// The platform, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    url: String,
    #[arg(long)]
    gate_id: String,
    /// The gate's key file (from `cashless gate key`).
    #[arg(long)]
    key: PathBuf,
    /// The taps file the gate kept (JSON lines).
    #[arg(long)]
    taps: PathBuf,
}

#[derive(Debug, Args)]
pub struct GateArgs {
    /// The gate configuration (issuer keys, blacklist) as the platform publishes it.
    #[arg(long, required = true)]
    config: Option<PathBuf>,
    /// Download the configuration first from this server (e.g. http://127.0.0.1:8080) and
    /// save it to --config; without it the gate runs on the file it has.
    #[arg(long)]
    fetch: Option<String>,
    /// The transit operator whose gate this is.
    #[arg(long, default_value_t = 1)]
    operator: u16,
    /// The gate's id, as registered (POST /v1/operator/transit/gates).
    #[arg(long, default_value = "G-1")]
    gate_id: String,
    /// The line's id in the network (GET /v1/transit/network): `1`, `2`, `7`, `Y2` …
    #[arg(long, default_value = "1")]
    line: String,
    /// The station's id in the network: `wulin-square`, `fengqi-road` …
    #[arg(long, default_value = "wulin-square")]
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

pub fn run(command: GateCommand) -> anyhow::Result<()> {
    match command.action {
        Some(GateAction::Key { key }) => {
            let key = gate_key(&key, true)?;
            println!(
                "{}",
                json!({ "public_key": hex(key.verifying_key().as_bytes()) })
            );
            Ok(())
        }
        Some(GateAction::Upload(args)) => upload(&args),
        Some(GateAction::RideCode(args)) => ride_code(&args),
        None => decide(command.decide),
    }
}

fn hex(bytes: &[u8]) -> String {
    cashless_transit::gate::hex(bytes)
}

/// The gate's key from `path`; made there first if `create` and there is none.
fn gate_key(path: &std::path::Path, create: bool) -> anyhow::Result<SigningKey> {
    if create && !path.exists() {
        let seed: [u8; 32] = rand::random();
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options
            .open(path)
            .with_context(|| format!("creating {}", path.display()))?;
        writeln!(file, "{}", hex(&seed))?;
    }
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the gate key {}", path.display()))?;
    let seed: [u8; 32] = decode_hex(text.trim())
        .and_then(|bytes| bytes.try_into().ok())
        .context("a gate key file holds 64 hex digits")?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Prints a ride code made from the pass in `args.pass` (fetched first with `--url`).
fn ride_code(args: &RideCodeArgs) -> anyhow::Result<()> {
    let key = gate_key(&args.key, true)?;
    if let Some(url) = &args.url {
        let pass = fetch_pass(url, args, &key)?;
        std::fs::write(&args.pass, pass.to_string())
            .with_context(|| format!("writing {}", args.pass.display()))?;
    }
    let pass: Value = serde_json::from_str(
        &std::fs::read_to_string(&args.pass)
            .with_context(|| format!("reading the pass {}", args.pass.display()))?,
    )
    .context("the pass file holds the JSON of POST /v1/me/transit/pass")?;
    let certificate = pass["certificate"]
        .as_str()
        .and_then(decode_hex)
        .context("the pass has no certificate")?;
    let certificate = cashless_transit::Certificate::from_bytes(&certificate)
        .map_err(|error| anyhow::anyhow!("the pass's certificate: {error}"))?;
    if certificate.body().device_key != key.verifying_key().to_bytes() {
        bail!(
            "the pass is bound to another device key than {}: get it again with --url",
            args.key.display()
        );
    }
    let at = args.at.unwrap_or_else(unix_now);
    let code = certificate.ride_code(&key, at).to_text();
    println!(
        "{}",
        json!({ "code": code, "made_at": at, "operator": certificate.body().operator })
    );
    Ok(())
}

/// Signs `args.phone` in with `key` as the device and asks for a pass.
fn fetch_pass(url: &str, args: &RideCodeArgs, key: &SigningKey) -> anyhow::Result<Value> {
    let (Some(phone), Some(token_file)) = (&args.phone, &args.operator_token_file) else {
        bail!("--url needs --phone and --operator-token-file");
    };
    let operator_token = std::fs::read_to_string(token_file)
        .with_context(|| format!("reading {}", token_file.display()))?;
    let operator_auth = format!("Bearer {}", operator_token.trim());
    let authority = crate::http1::authority(url)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let mut client = crate::http1::Client::connect(&authority).await?;
        let json = [("content-type", "application/json")];
        let body = json!({ "phone": phone }).to_string();
        client
            .send("POST", "/v1/auth/sms-codes", &json, body.as_bytes())
            .await?
            .ok_json("the sign-in code")?;
        let asked_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |since| since.as_millis())
            .saturating_sub(1_000);
        let mut code = None;
        // The gateway may take a moment: look for a sign-in code sent since we asked.
        for _ in 0..50 {
            let outbox = client
                .send(
                    "GET",
                    &format!("/v1/operator/sms?phone={}", phone.replace('+', "%2B")),
                    &[("authorization", &operator_auth)],
                    b"",
                )
                .await?
                .ok_json("the SMS outbox")?;
            // Newest first: the sign-in code just asked for.
            code = outbox["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|message| {
                    message["sent_at_ms"]
                        .as_u64()
                        .is_some_and(|sent| u128::from(sent) >= asked_ms)
                })
                .filter_map(|message| message["text"].as_str())
                .find(|text| text.contains("sign-in code"))
                .and_then(|text| {
                    text.split(|c: char| !c.is_ascii_digit())
                        .find(|digits| digits.len() == 6)
                })
                .map(str::to_owned);
            if code.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        let code = code.context("no sign-in code reached the SMS outbox")?;
        let body = json!({
            "phone": phone,
            "code": code,
            "device": { "name": "cashless gate ride-code", "public_key": hex(key.verifying_key().as_bytes()) },
        })
        .to_string();
        let signed_in = client
            .send("POST", "/v1/auth/sign-in", &json, body.as_bytes())
            .await?
            .ok_json("signing in")?;
        let session = format!(
            "Bearer {}",
            signed_in["token"].as_str().context("no session token")?
        );
        let body = json!({ "operator": args.operator }).to_string();
        client
            .send(
                "POST",
                "/v1/me/transit/pass",
                &[("content-type", "application/json"), ("authorization", &session)],
                body.as_bytes(),
            )
            .await?
            .ok_json("the transit pass")
    })
}

/// Taps one batch carries (the platform's limit).
const BATCH_TAPS: usize = 1_000;

fn upload(args: &UploadArgs) -> anyhow::Result<()> {
    let key = gate_key(&args.key, false)?;
    let uploading = args.taps.with_extension("uploading");
    // The gate appends to a fresh file while these are sent.
    if args.taps.exists() {
        if uploading.exists() {
            let taps = std::fs::read_to_string(&args.taps)?;
            let mut file = std::fs::OpenOptions::new().append(true).open(&uploading)?;
            file.write_all(taps.as_bytes())?;
            std::fs::remove_file(&args.taps)?;
        } else {
            std::fs::rename(&args.taps, &uploading)
                .with_context(|| format!("moving {}", args.taps.display()))?;
        }
    }
    if !uploading.exists() {
        println!("{}", json!({ "batches": 0, "taps": 0 }));
        return Ok(());
    }
    let text = std::fs::read_to_string(&uploading)?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let authority = crate::http1::authority(&args.url)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let batches = lines.len().div_ceil(BATCH_TAPS);
    runtime.block_on(async {
        let mut client = crate::http1::Client::connect(&authority).await?;
        for (n, chunk) in lines.chunks(BATCH_TAPS).enumerate() {
            let taps = chunk
                .iter()
                .map(|line| serde_json::from_str::<Value>(line))
                .collect::<Result<Vec<_>, _>>()
                .context("a kept tap is not JSON")?;
            let digest = cashless_payments::signing::sha256_hex(chunk.join("\n").as_bytes());
            let batch_id = format!("taps-{}", &digest[..32]);
            let body = serde_json::to_vec(&json!({
                "gate_id": args.gate_id,
                "batch_id": batch_id,
                "taps": taps,
            }))?;
            let mut signed = cashless_rides::rides::BATCH_DOMAIN.to_vec();
            signed.extend_from_slice(&body);
            let signature = hex(&key.sign(&signed).to_bytes());
            let response = client
                .send(
                    "POST",
                    "/v1/transit/taps",
                    &[
                        ("content-type", "application/json"),
                        ("cashless-gate-id", &args.gate_id),
                        ("cashless-gate-signature", &signature),
                    ],
                    &body,
                )
                .await?;
            let result = response.ok_json("the upload")?;
            println!(
                "{}",
                json!({ "batch": n + 1, "of": batches, "result": result })
            );
        }
        anyhow::Ok(())
    })?;
    let done = args.taps.with_extension("uploaded");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&done)?;
    file.write_all(text.as_bytes())?;
    std::fs::remove_file(&uploading)?;
    Ok(())
}

fn decide(args: GateArgs) -> anyhow::Result<()> {
    let config_path = args.config.clone().context("--config is required")?;
    if let Some(url) = &args.fetch {
        let text = fetch(url, args.operator)?;
        std::fs::write(&config_path, &text)
            .with_context(|| format!("writing {}", config_path.display()))?;
    }
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
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
    let mut decide = |code: &str| -> anyhow::Result<()> {
        let code = code.trim();
        if code.is_empty() {
            return Ok(());
        }
        let now = args.now.unwrap_or_else(unix_now);
        let line = match gate.decide(code, now) {
            Decision::Open(tap) => {
                // Opened per tap, so an upload that moved the file away starts a new one.
                if let Some(path) = &args.taps {
                    let mut file = std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(path)
                        .with_context(|| format!("opening {}", path.display()))?;
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
