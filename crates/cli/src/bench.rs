//! `cashless bench …`: benchmarks against the real, durable store. Never timed assertions in
//! tests: numbers belong here and in BENCHMARKS.md.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use cashless_ledger::{
    Account, AccountFlags, AccountId, AccountKind, CreateAccountResult, CreateTransferResult,
    Currency, TimeOrderedIds, Transfer, TransferId,
};
use cashless_store::{Location, Store, StoreConfig, WriterStats};
use clap::{Args, Subcommand};
use hdrhistogram::Histogram;
use rand::{RngExt, SeedableRng};

#[derive(Debug, Subcommand)]
pub enum BenchCommand {
    /// Durable ledger throughput: create accounts, then drive transfers through the store's
    /// group-commit writer and print transfers/s and request latency.
    Ledger(LedgerArgs),
    /// Consumers paying merchants by dynamic QR code over HTTP, against a running server:
    /// prints paid orders/s, latency, and the server's /healthz requests/s as the ceiling.
    Pay(crate::bench_pay::PayArgs),
    /// Offline transit gate decisions on one core: ride codes parsed, signatures checked,
    /// freshness, blacklist and replays; prints decisions/s and p50/p99 latency.
    Gate(crate::bench_gate::GateArgs),
}

#[derive(Debug, Args)]
pub struct LedgerArgs {
    /// Accounts to create before the run.
    #[arg(long, default_value_t = 10_000)]
    accounts: u32,
    /// Transfers to submit in total.
    #[arg(long, default_value_t = 1_000_000)]
    transfers: u64,
    /// Transfers per request.
    #[arg(long, default_value_t = 8_190)]
    batch: u32,
    /// Concurrent submitters, each waiting for its request before sending the next.
    #[arg(long, default_value_t = 1)]
    clients: u32,
    /// Fraction (0 to 1) of transfers that credit one hot merchant account.
    #[arg(long, default_value_t = 0.0)]
    hot_share: f64,
    /// PostgreSQL URL; without it the bench uses a fresh SQLite file.
    #[arg(long, env = "CASHLESS_DATABASE_URL")]
    database_url: Option<String>,
    /// Directory for the SQLite file (default: a fresh ./cashless-bench-<pid>, removed after).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Keep the SQLite directory after the run.
    #[arg(long)]
    keep: bool,
    /// Random seed, for repeatable workloads.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
}

/// The largest request the benchmark sends: the operator API's batch limit.
const BATCH_TRANSFERS_MAX: u32 = 8_190;

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ledger(args) => ledger(args).await,
        BenchCommand::Pay(args) => crate::bench_pay::run(args).await,
        BenchCommand::Gate(args) => crate::bench_gate::run(args),
    }
}

struct Workload {
    accounts: Vec<AccountId>,
    transfers: Vec<Transfer>,
}

fn workload(args: &LedgerArgs) -> Workload {
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut ids = TimeOrderedIds::new();
    let mut next_id = |rng: &mut rand::rngs::StdRng| ids.next(unix_ms(), rng.random());
    let accounts: Vec<AccountId> = (0..args.accounts)
        .map(|_| AccountId(next_id(&mut rng)))
        .collect();
    // Hot share as parts per million: an integer comparison per transfer.
    let hot_ppm = (args.hot_share.clamp(0.0, 1.0) * 1_000_000.0) as u32;
    let count = accounts.len();
    let transfers = (0..args.transfers)
        .map(|_| {
            let credit = if rng.random_range(0..1_000_000) < hot_ppm {
                0
            } else {
                rng.random_range(0..count)
            };
            let mut debit = rng.random_range(0..count - 1);
            if debit >= credit {
                debit += 1;
            }
            Transfer::new(
                TransferId(next_id(&mut rng)),
                accounts[debit],
                accounts[credit],
                rng.random_range(1..=1_000),
                Currency::CNY,
                1,
            )
        })
        .collect();
    Workload {
        accounts,
        transfers,
    }
}

fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn ledger(args: LedgerArgs) -> anyhow::Result<()> {
    if args.accounts < 2 {
        bail!("--accounts must be at least 2");
    }
    if args.batch == 0 || args.batch > BATCH_TRANSFERS_MAX {
        bail!("--batch must be between 1 and {BATCH_TRANSFERS_MAX}");
    }
    if args.clients == 0 {
        bail!("--clients must be at least 1");
    }
    let (location, scratch) = match (&args.database_url, &args.data_dir) {
        (Some(url), _) => (Location::from_args(Some(url), ".".as_ref())?, None),
        (None, Some(dir)) => (Location::from_args(None, dir)?, None),
        (None, None) => {
            let dir = PathBuf::from(format!("cashless-bench-{}", std::process::id()));
            (
                Location::from_args(None, &dir)?,
                (!args.keep).then_some(dir),
            )
        }
    };
    eprintln!(
        "preparing {} accounts and {} transfers on {}",
        args.accounts,
        args.transfers,
        location.describe()
    );
    let Workload {
        accounts,
        transfers,
    } = workload(&args);
    let store = Store::open(StoreConfig::new(location.clone()))
        .await
        .context("opening the store")?;
    create_accounts(&store, &accounts).await?;
    let before = store.writer_stats();
    let outcome = drive(&store, transfers, &args).await;
    let after = store.writer_stats();
    let writer = WriterStats {
        batches_committed: after.batches_committed - before.batches_committed,
        batches_failed: after.batches_failed - before.batches_failed,
        operations: after.operations - before.operations,
        apply: after.apply - before.apply,
        persist: after.persist - before.persist,
        commit: after.commit - before.commit,
        syncs: after.syncs - before.syncs,
        sync: after.sync - before.sync,
    };
    store.shutdown().await;
    drop(store);
    if let Some(dir) = scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    let outcome = outcome?;
    report(&args, &location, &outcome, &writer);
    Ok(())
}

async fn create_accounts(store: &Store, ids: &[AccountId]) -> anyhow::Result<()> {
    for chunk in ids.chunks(BATCH_TRANSFERS_MAX as usize) {
        let accounts = chunk
            .iter()
            .map(|id| Account::new(*id, Currency::CNY, AccountKind::Wallet, AccountFlags::NONE))
            .collect();
        let results = store.create_accounts(accounts).await?;
        if let Some(bad) = results.iter().find(|r| **r != CreateAccountResult::Ok) {
            bail!("creating accounts failed: {bad}");
        }
    }
    Ok(())
}

struct Outcome {
    seconds: f64,
    transfers: u64,
    latency_us: Histogram<u64>,
}

async fn drive(
    store: &Store,
    transfers: Vec<Transfer>,
    args: &LedgerArgs,
) -> anyhow::Result<Outcome> {
    let total = transfers.len() as u64;
    let transfers = Arc::new(transfers);
    let next = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let progress = progress_bar(total, Arc::clone(&done));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..args.clients {
        let (store, transfers, next, done) = (
            store.clone(),
            Arc::clone(&transfers),
            Arc::clone(&next),
            Arc::clone(&done),
        );
        let batch = args.batch as usize;
        tasks.push(tokio::spawn(async move {
            let mut latency = Histogram::<u64>::new(3)?;
            loop {
                let start = next.fetch_add(batch, Ordering::Relaxed);
                if start >= transfers.len() {
                    break;
                }
                let chunk = transfers[start..(start + batch).min(transfers.len())].to_vec();
                let count = chunk.len() as u64;
                let sent = Instant::now();
                let results = store.create_transfers(chunk).await?;
                latency.record(sent.elapsed().as_micros() as u64)?;
                if let Some(bad) = results.iter().find(|r| **r != CreateTransferResult::Ok) {
                    bail!("a transfer was rejected: {bad}");
                }
                done.fetch_add(count, Ordering::Relaxed);
            }
            Ok::<_, anyhow::Error>(latency)
        }));
    }
    let mut latency_us = Histogram::<u64>::new(3)?;
    for task in tasks {
        latency_us.add(task.await??)?;
    }
    let seconds = started.elapsed().as_secs_f64();
    progress.abort();
    Ok(Outcome {
        seconds,
        transfers: total,
        latency_us,
    })
}

/// A progress bar on stderr when it is a terminal; nothing otherwise.
fn progress_bar(total: u64, done: Arc<AtomicU64>) -> tokio::task::JoinHandle<()> {
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} transfers  {per_sec}  eta {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    tokio::spawn(async move {
        loop {
            bar.set_position(done.load(Ordering::Relaxed));
            if bar.position() >= total {
                bar.finish_and_clear();
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

fn report(args: &LedgerArgs, location: &Location, outcome: &Outcome, writer: &WriterStats) {
    let batches = writer.batches_committed;
    let per_sec = outcome.transfers as f64 / outcome.seconds;
    let ms = |q: f64| outcome.latency_us.value_at_quantile(q) as f64 / 1000.0;
    if args.json {
        let json = serde_json::json!({
            "benchmark": "ledger",
            "backend": location.backend().to_string(),
            "accounts": args.accounts,
            "transfers": outcome.transfers,
            "batch": args.batch,
            "clients": args.clients,
            "hot_share": args.hot_share,
            "seconds": outcome.seconds,
            "transfers_per_sec": per_sec.round(),
            "p50_ms": ms(0.50),
            "p99_ms": ms(0.99),
            "max_ms": outcome.latency_us.max() as f64 / 1000.0,
            "requests": outcome.latency_us.len(),
            "commits": batches,
            "writer_apply_s": writer.apply.as_secs_f64(),
            "writer_persist_s": writer.persist.as_secs_f64(),
            "writer_commit_s": writer.commit.as_secs_f64(),
            "syncs": writer.syncs,
            "sync_s": writer.sync.as_secs_f64(),
        });
        println!("{json}");
    } else {
        println!("backend          {}", location.backend());
        println!(
            "workload         {} transfers, {} accounts, {} per request, {} client(s), hot share {}",
            outcome.transfers, args.accounts, args.batch, args.clients, args.hot_share
        );
        println!("elapsed          {:.3} s", outcome.seconds);
        println!("throughput       {:.0} transfers/s", per_sec);
        println!(
            "request latency  p50 {:.3} ms   p99 {:.3} ms   max {:.3} ms",
            ms(0.5),
            ms(0.99),
            outcome.latency_us.max() as f64 / 1000.0
        );
        println!(
            "commits          {batches} ({:.1} transfers per commit)",
            outcome.transfers as f64 / batches.max(1) as f64
        );
        println!(
            "writer time      ledger+ops {:.3} s   persist {:.3} s   commit {:.3} s",
            writer.apply.as_secs_f64(),
            writer.persist.as_secs_f64(),
            writer.commit.as_secs_f64()
        );
        if writer.syncs > 0 {
            println!(
                "log syncs        {} taking {:.3} s, overlapped with the writer",
                writer.syncs,
                writer.sync.as_secs_f64()
            );
        }
    }
}
