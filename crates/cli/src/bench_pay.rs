//! `cashless bench pay`: consumers paying merchants by dynamic QR code, over HTTP, against a
//! running server.
//!
//! Set-up goes through the public API like a real integration: the operator onboards
//! merchants (each with its own Ed25519 key); consumers sign up with the SMS code (read from
//! the operator's SMS outbox, since the SMS gateway is simulated), verify a real name, set a
//! PIN, turn on paying with the phone's key, link a card with the bank's one-time code and top
//! up from it. Then every connection loops: the merchant precreates an order (a signed
//! request), the consumer pays its code (a session request confirmed by the device's
//! signature, as "pay with fingerprint" does). A paid order is those two requests, both
//! answered 200 with the order paid. Finally the same connections hit `/healthz` for the
//! server's ceiling on this machine.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cashless_payments::signing::{MerchantSigner, hex};
use cashless_wallet::confirm::device_message;
use clap::Args;
use ed25519_dalek::{Signer, SigningKey};
use hdrhistogram::Histogram;
use serde::Deserialize;
use serde_json::json;

use crate::http1::{self, Client};

#[derive(Debug, Args)]
pub struct PayArgs {
    /// The running server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Concurrent connections, each paying one order after another.
    #[arg(long, default_value_t = 64)]
    connections: u32,
    /// How long to pay orders, e.g. 30s, 2m.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    duration: Duration,
    /// How long to measure /healthz afterwards.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    healthz_duration: Duration,
    /// Merchants to onboard.
    #[arg(long, default_value_t = 8)]
    merchants: u32,
    /// Funded consumers to sign up (default: one per connection).
    #[arg(long)]
    consumers: Option<u32>,
    /// What each order costs, CNY.
    #[arg(long, default_value = "1.00")]
    amount: String,
    /// The operator's token (default: read from <data-dir>/operator-token, as `serve` keeps it).
    #[arg(long, env = "CASHLESS_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// The server's data directory, to find its operator token.
    #[arg(long, default_value = "cashless-data")]
    data_dir: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// Each consumer tops up this much CNY: 20,000 one-yuan orders.
const TOP_UP: &str = "20000.00";
const PIN: &str = "258036";
/// Consumers signed up at the same time.
const SETUP_CONCURRENCY: usize = 16;

fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("{text:?}: expected e.g. 30s, 500ms, 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(number)),
        "s" | "" => Ok(Duration::from_secs(number)),
        "m" => Ok(Duration::from_secs(number * 60)),
        _ => Err(format!("{text:?}: the unit is ms, s or m")),
    }
}

struct Merchant {
    signer: MerchantSigner,
}

struct Consumer {
    token: String,
    device_id: String,
    device_key: SigningKey,
}

/// What the set-up and the run share: where to connect, and the operator's credentials.
struct Target {
    authority: String,
    operator: String,
}

pub async fn run(args: PayArgs) -> anyhow::Result<()> {
    if args.connections == 0 || args.merchants == 0 {
        bail!("--connections and --merchants must be at least 1");
    }
    let operator = operator_token(&args)?;
    let target = Arc::new(Target {
        authority: http1::authority(&args.url)?,
        operator: format!("Bearer {operator}"),
    });
    let consumers_count = args.consumers.unwrap_or(args.connections).max(1);

    let progress = indicatif::ProgressBar::new(u64::from(args.merchants + consumers_count));
    progress.set_style(
        indicatif::ProgressStyle::with_template(
            "set-up {bar:30} {pos}/{len} merchants and funded consumers {elapsed}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let mut merchants = Vec::new();
    let mut client = Client::connect(&target.authority).await?;
    for n in 0..args.merchants {
        merchants.push(onboard_merchant(&mut client, &target, n).await?);
        progress.inc(1);
    }
    let consumers = sign_up_consumers(&target, consumers_count, &progress).await?;
    progress.finish_and_clear();

    let run = rand::random::<u32>();
    let merchants = Arc::new(merchants);
    let consumers = Arc::new(consumers);
    let paid = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for connection in 0..args.connections {
        let worker = Worker {
            connection,
            run,
            amount: args.amount.clone(),
            merchants: Arc::clone(&merchants),
            consumers: Arc::clone(&consumers),
            paid: Arc::clone(&paid),
            stop: Arc::clone(&stop),
        };
        let target = Arc::clone(&target);
        tasks.spawn(async move { worker.run(&target).await });
    }
    let bar = indicatif::ProgressBar::new(args.duration.as_secs());
    bar.set_style(
        indicatif::ProgressStyle::with_template("paying {bar:30} {elapsed}/{duration} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    while started.elapsed() < args.duration {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let seconds = started.elapsed().as_secs_f64();
        bar.set_position(started.elapsed().as_secs());
        bar.set_message(format!(
            "{:.0} paid orders/s",
            paid.load(Ordering::Relaxed) as f64 / seconds
        ));
    }
    stop.store(true, Ordering::Relaxed);
    let mut totals = Totals::new()?;
    while let Some(joined) = tasks.join_next().await {
        totals.add(joined.context("a connection task panicked")??)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();

    let healthz = healthz(&target, args.connections, args.healthz_duration).await?;
    report(&args, &totals, seconds, healthz);
    for (what, count) in &totals.errors {
        eprintln!("  {count} × {what}");
    }
    Ok(())
}

/// The operator's token: given, or read from the server's data directory.
fn operator_token(args: &PayArgs) -> anyhow::Result<String> {
    Ok(match &args.operator_token {
        Some(token) => token.clone(),
        None => {
            let path = args.data_dir.join("operator-token");
            std::fs::read_to_string(&path)
                .with_context(|| {
                    format!(
                        "reading the operator token in {} (or pass --operator-token)",
                        path.display()
                    )
                })?
                .trim()
                .to_owned()
        }
    })
}

/// Prints what the run measured (as JSON with `--json`).
fn report(args: &PayArgs, totals: &Totals, seconds: f64, healthz: f64) {
    let report = json!({
        "connections": args.connections,
        "seconds": round2(seconds),
        "paid_orders": totals.paid,
        "paid_orders_per_sec": round2(totals.paid as f64 / seconds),
        "p50_ms": ms(&totals.order, 0.50),
        "p99_ms": ms(&totals.order, 0.99),
        "create_p50_ms": ms(&totals.create, 0.50),
        "create_p99_ms": ms(&totals.create, 0.99),
        "pay_p50_ms": ms(&totals.pay, 0.50),
        "pay_p99_ms": ms(&totals.pay, 0.99),
        "failed": totals.failed,
        "healthz_per_sec": round2(healthz),
    });
    if args.json {
        println!("{report}");
    } else {
        println!(
            "{} orders paid in {seconds:.1} s over {} connections: {:.0} paid orders/s (each: create order + pay)",
            totals.paid,
            args.connections,
            totals.paid as f64 / seconds
        );
        println!(
            "latency per paid order: p50 {} ms, p99 {} ms (create p50 {} / p99 {} ms, pay p50 {} / p99 {} ms)",
            report["p50_ms"],
            report["p99_ms"],
            report["create_p50_ms"],
            report["create_p99_ms"],
            report["pay_p50_ms"],
            report["pay_p99_ms"]
        );
        println!("failed requests: {}", totals.failed);
        println!(
            "/healthz with the same {} connections: {healthz:.0} requests/s (the HTTP ceiling here)",
            args.connections
        );
    }
}

fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

fn ms(histogram: &Histogram<u64>, quantile: f64) -> f64 {
    round2(histogram.value_at_quantile(quantile) as f64 / 1_000.0)
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs() as i64)
}

/// A valid unified social credit code (the merchant's licence number).
fn licence() -> anyhow::Result<String> {
    let first = format!("9133010{:010}", rand::random::<u64>() % 10_000_000_000);
    let check = cashless_payments::merchants::uscc_check_character(&first)
        .context("licence check character")?;
    Ok(format!("{first}{check}"))
}

async fn onboard_merchant(
    client: &mut Client,
    target: &Target,
    n: u32,
) -> anyhow::Result<Merchant> {
    let (secret, public) = MerchantSigner::generate_key();
    let body = json!({
        "legal_name": format!("Hangzhou Bench Noodles No. {n} Co., Ltd."),
        "display_name": format!("Bench Noodles {n}"),
        "mcc": "5812",
        "city": "Hangzhou",
        "licence_number": licence()?,
        "settlement_bank": "ICBC Hangzhou",
        "settlement_account": "6222020123456789",
        "public_key": public,
    });
    let merchant = client
        .send(
            "POST",
            "/v1/operator/merchants",
            &[("authorization", &target.operator)],
            body.to_string().as_bytes(),
        )
        .await?
        .ok_json("onboarding a merchant")?;
    let id = merchant["id"].as_str().context("merchant id")?;
    let key_id = merchant["keys"][0]["id"].as_str().context("key id")?;
    Ok(Merchant {
        signer: MerchantSigner::new(id, key_id, &secret)?,
    })
}

async fn sign_up_consumers(
    target: &Arc<Target>,
    count: u32,
    progress: &indicatif::ProgressBar,
) -> anyhow::Result<Vec<Consumer>> {
    let semaphore = Arc::new(tokio::sync::Semaphore::new(SETUP_CONCURRENCY));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (target, semaphore) = (Arc::clone(target), Arc::clone(&semaphore));
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await?;
            // A data directory kept from an earlier run holds its phone and ID numbers: a
            // collision with one of those (an ID taken, or a phone already verified) starts
            // again with new ones.
            let mut tries = 0;
            loop {
                match sign_up_consumer(&target).await {
                    Err(error)
                        if tries < SIGN_UP_TRIES_MAX
                            && ["identity_already_used", "already_verified"]
                                .iter()
                                .any(|code| error.to_string().contains(code)) =>
                    {
                        tries += 1;
                    }
                    other => return other,
                }
            }
        });
    }
    let mut consumers = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        consumers.push(joined.context("a set-up task panicked")??);
        progress.inc(1);
    }
    Ok(consumers)
}

/// The newest text to `phone` in the operator's SMS outbox, and the first 6-digit code in it.
async fn last_code(client: &mut Client, target: &Target, phone: &str) -> anyhow::Result<String> {
    let path = format!("/v1/operator/sms?phone={}", phone.replace('+', "%2B"));
    let outbox = client
        .send("GET", &path, &[("authorization", &target.operator)], b"")
        .await?
        .ok_json("reading the SMS outbox")?;
    let text = outbox["messages"][0]["text"]
        .as_str()
        .context("no text message")?;
    cashless_partners::sms::code_in(text)
        .map(str::to_owned)
        .with_context(|| format!("no code in {text:?}"))
}

/// Sign-ups tried again after a collision with an earlier run's consumer.
const SIGN_UP_TRIES_MAX: u32 = 5;

/// A resident ID number (Hangzhou, Xihu district) with a valid check character, unique in this
/// run: the n-th from a random start picks the birth date (1950 to 2004) and the sequence
/// number, so 20 million numbers pass before one repeats.
fn resident_id() -> String {
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU64> = std::sync::OnceLock::new();
    const DAYS: u64 = 20_000;
    let n = NEXT
        .get_or_init(|| std::sync::atomic::AtomicU64::new(rand::random::<u64>() % (DAYS * 1_000)))
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        % (DAYS * 1_000);
    let born = cashless_consumer::Date::from_days_since_epoch(
        -7_305 + i64::try_from(n / 1_000).unwrap_or(0), // 1950-01-01 is day -7,305
    );
    let first = format!(
        "330106{:04}{:02}{:02}{:03}",
        born.year(),
        born.month(),
        born.day(),
        n % 1_000
    );
    let check = cashless_consumer::resident_id::check_character(first.as_bytes());
    format!("{first}{}", check as char)
}

/// An ICBC debit card number with a valid Luhn digit.
fn card_number() -> String {
    let partial = format!("622202{:012}", rand::random::<u64>() % 1_000_000_000_000);
    let check = cashless_consumer::card::luhn_check_digit(&partial);
    format!("{partial}{check}")
}

async fn sign_up_consumer(target: &Target) -> anyhow::Result<Consumer> {
    let mut client = Client::connect(&target.authority).await?;
    let phone = format!("+86139{:08}", rand::random::<u32>() % 100_000_000);
    let device_key = SigningKey::from_bytes(&rand::random::<[u8; 32]>());
    let post =
        async |client: &mut Client, token: Option<&str>, path: &str, body: serde_json::Value| {
            let bearer = token.map(|token| format!("Bearer {token}"));
            let key = format!("bench-{}", rand::random::<u64>());
            let mut headers = vec![("idempotency-key", key.as_str())];
            if let Some(bearer) = &bearer {
                headers.push(("authorization", bearer));
            }
            client
                .send("POST", path, &headers, body.to_string().as_bytes())
                .await?
                .ok_json(path)
        };
    post(
        &mut client,
        None,
        "/v1/auth/sms-codes",
        json!({ "phone": phone }),
    )
    .await?;
    let code = last_code(&mut client, target, &phone).await?;
    let signed_in = post(
        &mut client,
        None,
        "/v1/auth/sign-in",
        json!({ "phone": phone, "code": code,
                "device": { "name": "bench phone", "public_key": hex(device_key.verifying_key().as_bytes()) } }),
    )
    .await?;
    let token = signed_in["token"].as_str().context("token")?.to_owned();
    let device_id = signed_in["device_id"]
        .as_str()
        .context("device")?
        .to_owned();
    let me = Some(token.as_str());
    post(
        &mut client,
        me,
        "/v1/me/identity",
        json!({ "kind": "resident_id", "name": "李娜", "number": resident_id() }),
    )
    .await?;
    post(&mut client, me, "/v1/me/pin", json!({ "pin": PIN })).await?;
    post(&mut client, me, "/v1/me/device-pay", json!({ "pin": PIN })).await?;
    let binding = post(
        &mut client,
        me,
        "/v1/me/cards",
        json!({ "number": card_number(), "holder_name": "李娜" }),
    )
    .await?;
    let otp = last_code(&mut client, target, &phone).await?;
    let binding_id = binding["binding_id"].as_str().context("binding id")?;
    let card = post(
        &mut client,
        me,
        &format!("/v1/me/cards/bindings/{binding_id}/confirm"),
        json!({ "otp": otp }),
    )
    .await?;
    let card_id = card["id"].as_str().context("card id")?;
    let top_up = post(
        &mut client,
        me,
        "/v1/me/topups",
        json!({ "card_id": card_id, "amount": TOP_UP }),
    )
    .await?;
    let path = format!(
        "/v1/me/topups/{}",
        top_up["id"].as_str().context("top-up id")?
    );
    let bearer = format!("Bearer {token}");
    loop {
        let top_up = client
            .send("GET", &path, &[("authorization", &bearer)], b"")
            .await?
            .ok_json("polling a top-up")?;
        match top_up["status"].as_str() {
            Some("processing") => tokio::time::sleep(Duration::from_millis(100)).await,
            Some("succeeded") => break,
            _ => bail!("the top-up did not succeed: {top_up}"),
        }
    }
    Ok(Consumer {
        token,
        device_id,
        device_key,
    })
}

struct Worker {
    connection: u32,
    run: u32,
    amount: String,
    merchants: Arc<Vec<Merchant>>,
    consumers: Arc<Vec<Consumer>>,
    paid: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

/// One connection's results.
struct Totals {
    paid: u64,
    failed: u64,
    /// Microseconds.
    order: Histogram<u64>,
    create: Histogram<u64>,
    pay: Histogram<u64>,
    /// Distinct failures and how often, e.g. "pay: HTTP 422 insufficient_balance".
    errors: Vec<(String, u64)>,
}

impl Totals {
    fn new() -> anyhow::Result<Totals> {
        let histogram = || Histogram::new_with_bounds(1, 60_000_000, 3);
        Ok(Totals {
            paid: 0,
            failed: 0,
            order: histogram()?,
            create: histogram()?,
            pay: histogram()?,
            errors: Vec::new(),
        })
    }

    fn add(&mut self, other: Totals) -> anyhow::Result<()> {
        self.paid += other.paid;
        self.failed += other.failed;
        self.order.add(&other.order)?;
        self.create.add(&other.create)?;
        self.pay.add(&other.pay)?;
        for (what, count) in other.errors {
            self.error(what, count);
        }
        Ok(())
    }

    fn error(&mut self, what: String, count: u64) {
        self.failed += count;
        match self.errors.iter_mut().find(|(known, _)| *known == what) {
            Some((_, seen)) => *seen += count,
            None => self.errors.push((what, count)),
        }
    }

    fn record(histogram: &mut Histogram<u64>, since: Instant) {
        let micros = since.elapsed().as_micros().min(60_000_000) as u64;
        histogram.saturating_record(micros.max(1));
    }
}

/// The fields of an answer the loop reads.
#[derive(Deserialize)]
struct Answer {
    qr_code: Option<String>,
    status: Option<String>,
}

fn failure(what: &str, response: &http1::Response) -> String {
    let code = serde_json::from_slice::<serde_json::Value>(&response.body)
        .ok()
        .and_then(|body| body["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    format!("{what}: HTTP {} {code}", response.status)
}

impl Worker {
    async fn run(self, target: &Target) -> anyhow::Result<Totals> {
        let mut totals = Totals::new()?;
        let mut client = Client::connect(&target.authority).await?;
        let merchant = &self.merchants[self.connection as usize % self.merchants.len()];
        let consumer = &self.consumers[self.connection as usize % self.consumers.len()];
        let bearer = format!("Bearer {}", consumer.token);
        let mut n = 0u64;
        while !self.stop.load(Ordering::Relaxed) {
            n += 1;
            let out_trade_no = format!("B{:08x}-{}-{n}", self.run, self.connection);
            let body = format!(
                r#"{{"out_trade_no":"{out_trade_no}","amount":"{}","subject":"bench noodles"}}"#,
                self.amount
            );
            let nonce = format!("{:016x}", rand::random::<u64>());
            let signed = merchant.signer.sign(
                "POST",
                "/v1/merchant/orders",
                now_secs(),
                &nonce,
                body.as_bytes(),
            );
            let started = Instant::now();
            let response = client
                .send(
                    "POST",
                    "/v1/merchant/orders",
                    &[("authorization", &signed.authorization)],
                    body.as_bytes(),
                )
                .await?;
            Totals::record(&mut totals.create, started);
            let qr_code = match serde_json::from_slice::<Answer>(&response.body) {
                Ok(Answer {
                    qr_code: Some(qr_code),
                    ..
                }) if response.status == 200 => qr_code,
                _ => {
                    totals.error(failure("create order", &response), 1);
                    continue;
                }
            };

            let key = format!("P{:08x}-{}-{n}", self.run, self.connection);
            let signed_at = now_secs();
            let message =
                device_message("pay", &consumer.device_id, signed_at, &[&key, &qr_code, ""]);
            let signature = hex(&consumer.device_key.sign(message.as_bytes()).to_bytes());
            let body = json!({ "payload": qr_code, "device_signature": signature, "signed_at": signed_at })
                .to_string();
            let paying = Instant::now();
            let response = client
                .send(
                    "POST",
                    "/v1/me/payments",
                    &[("authorization", &bearer), ("idempotency-key", &key)],
                    body.as_bytes(),
                )
                .await?;
            Totals::record(&mut totals.pay, paying);
            match serde_json::from_slice::<Answer>(&response.body) {
                Ok(Answer {
                    status: Some(status),
                    ..
                }) if response.status == 200 && status == "SUCCESS" => {
                    Totals::record(&mut totals.order, started);
                    totals.paid += 1;
                    self.paid.fetch_add(1, Ordering::Relaxed);
                }
                _ => totals.error(failure("pay", &response), 1),
            }
        }
        Ok(totals)
    }
}

/// `/healthz` requests per second over `connections` connections.
async fn healthz(
    target: &Arc<Target>,
    connections: u32,
    duration: Duration,
) -> anyhow::Result<f64> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..connections {
        let target = Arc::clone(target);
        tasks.spawn(async move {
            let mut client = Client::connect(&target.authority).await?;
            let mut count = 0u64;
            while started.elapsed() < duration {
                let response = client.send("GET", "/healthz", &[], b"").await?;
                if response.status != 200 {
                    bail!("/healthz answered {}", response.status);
                }
                count += 1;
            }
            Ok::<_, anyhow::Error>(count)
        });
    }
    let mut total = 0;
    while let Some(joined) = tasks.join_next().await {
        total += joined.context("a /healthz task panicked")??;
    }
    Ok(total as f64 / started.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::resident_id;

    #[test]
    fn set_up_id_numbers_are_valid_and_never_repeat_in_a_run() {
        let mut seen = std::collections::HashSet::new();
        let today = cashless_consumer::Date::china_day(1_796_400_000_000_000_000);
        for _ in 0..50_000 {
            let number = resident_id();
            assert!(
                cashless_consumer::ResidentId::parse(&number, today).is_ok(),
                "{number}"
            );
            assert!(seen.insert(number.clone()), "{number} twice");
        }
    }
}
