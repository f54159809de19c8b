//! `cashless bench gate`: offline gate decisions on one core.
//!
//! It plays a morning rush at one gate: `--riders` commuters, each holding a day's certificate
//! from the platform's issuer key, show freshly made ride codes (each code once, as phones
//! make a new one every 30–60 s); one in `--bad-every` codes is forged (a changed byte), to
//! keep the refusal path honest. The codes are made before the clock starts: only the gate's
//! work is timed — parsing the QR text, both signatures (the certificate's only the first
//! time a rider is seen), validity, freshness, blacklist and replay memory — one decision at
//! a time on the calling thread.

use std::time::Instant;

use anyhow::bail;
use cashless_transit::{
    Blacklist, CertificateBody, Decision, Direction, Freshness, Gate, GatePlace, RideCode,
};
use clap::Args;
use ed25519_dalek::SigningKey;
use hdrhistogram::Histogram;
use rand::{RngExt, SeedableRng};

#[derive(Debug, Args)]
pub struct GateArgs {
    /// Riders, each with a certificate (the gate verifies each certificate once).
    #[arg(long, default_value_t = 20_000)]
    riders: u32,
    /// Decisions to time.
    #[arg(long, default_value_t = 200_000)]
    decisions: u32,
    /// One code in this many is forged (0: none).
    #[arg(long, default_value_t = 100)]
    bad_every: u32,
    /// Accounts on the blacklist the gate holds.
    #[arg(long, default_value_t = 10_000)]
    blacklisted: u32,
    /// Random seed, for repeatable workloads.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

const NOW: u32 = 1_800_000_000;

pub fn run(args: GateArgs) -> anyhow::Result<()> {
    if args.riders == 0 || args.decisions == 0 {
        bail!("--riders and --decisions must be at least 1");
    }
    let (issuer, codes) = ride_codes(&args);

    let mut gate = Gate::new(
        GatePlace {
            gate_id: "BENCH-GATE".into(),
            operator: 1,
            line: "Line 1".into(),
            station: "Wulin Square".into(),
            direction: Direction::Entry,
        },
        Freshness::default(),
    );
    gate.set_issuer_keys([(1, issuer.verifying_key())]);
    gate.set_blacklist(Blacklist {
        version: 1,
        accounts: (0..args.blacklisted)
            .map(|n| (u64::from(n) + u64::from(args.riders)).to_be_bytes())
            .collect(),
    });

    let mut latency_ns = Histogram::<u64>::new(3)?;
    let (mut opened, mut refused, mut forged_opened) = (0u64, 0u64, 0u64);
    let started = Instant::now();
    for (text, at, forged) in &codes {
        let t0 = Instant::now();
        let decision = gate.decide(text, *at);
        latency_ns.record(t0.elapsed().as_nanos() as u64)?;
        match decision {
            Decision::Open(_) => {
                opened += 1;
                forged_opened += u64::from(*forged);
            }
            Decision::Refuse(_) => refused += 1,
        }
    }
    let elapsed = started.elapsed();
    if forged_opened > 0 {
        bail!("{forged_opened} forged codes opened the gate");
    }
    report(&args, &latency_ns, elapsed, (opened, refused));
    Ok(())
}

/// A signed certificate per rider and the codes the gate will read, in order: (text, the
/// second it is shown, whether it was forged).
fn ride_codes(args: &GateArgs) -> (SigningKey, Vec<(String, u32, bool)>) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let issuer = SigningKey::from_bytes(&rng.random());
    let progress = indicatif::ProgressBar::new(u64::from(args.riders + args.decisions));
    if args.json {
        progress.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    progress.set_message("issuing certificates");
    let riders: Vec<(cashless_transit::Certificate, SigningKey)> = (0..args.riders)
        .map(|n| {
            progress.inc(1);
            let device = SigningKey::from_bytes(&rng.random());
            let body = CertificateBody {
                issuer_key_id: 1,
                serial: u64::from(n),
                account_ref: u64::from(n).to_be_bytes(),
                device_key: device.verifying_key().to_bytes(),
                credit_limit: 5_000,
                not_before: NOW - 3_600,
                not_after: NOW - 3_600 + 86_400,
                operator: 1,
            };
            (body.issue(&issuer), device)
        })
        .collect();
    progress.set_message("making ride codes");
    // Decision i happens at NOW + i / 100 (a hundred riders a second); each code is made a
    // few seconds before it is shown.
    let codes: Vec<(String, u32, bool)> = (0..args.decisions)
        .map(|i| {
            progress.inc(1);
            let (certificate, device) = &riders[rng.random_range(0..riders.len())];
            let at = NOW + i / 100;
            let code = certificate.ride_code(device, at - rng.random_range(0..20) - i % 7);
            let forged = args.bad_every > 0 && i % args.bad_every == args.bad_every - 1;
            let text = if forged {
                let mut bytes = *code.as_bytes();
                bytes[150] ^= 0x10;
                RideCode::from_bytes(&bytes).map_or_else(|_| code.to_text(), |c| c.to_text())
            } else {
                code.to_text()
            };
            (text, at, forged)
        })
        .collect();
    progress.finish_and_clear();
    (issuer, codes)
}

/// Prints what the run measured (as JSON with `--json`).
fn report(
    args: &GateArgs,
    latency_ns: &Histogram<u64>,
    elapsed: std::time::Duration,
    (opened, refused): (u64, u64),
) {
    let per_sec = f64::from(args.decisions) / elapsed.as_secs_f64();
    let ms = |q: f64| latency_ns.value_at_quantile(q) as f64 / 1e6;
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "decisions_per_sec": per_sec.round(),
                "p50_ms": ms(0.50),
                "p99_ms": ms(0.99),
                "max_ms": latency_ns.max() as f64 / 1e6,
                "decisions": args.decisions,
                "opened": opened,
                "refused": refused,
                "riders": args.riders,
                "threads": 1,
            })
        );
    } else {
        println!(
            "{} decisions on one core in {:.2} s: {:.0} decisions/s",
            args.decisions,
            elapsed.as_secs_f64(),
            per_sec
        );
        println!(
            "latency per decision: p50 {:.3} ms, p99 {:.3} ms, max {:.3} ms",
            ms(0.50),
            ms(0.99),
            latency_ns.max() as f64 / 1e6
        );
        println!(
            "{opened} opened, {refused} refused (forged codes and codes seen twice), {} riders",
            args.riders
        );
    }
}
