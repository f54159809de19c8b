//! `cashless`: the platform in one binary.

mod audit;
mod bench;
mod bench_gate;
mod bench_pay;
mod gate;
mod http1;
mod log_writer;
mod merchant;
mod qr;
mod serve;

use clap::{Parser, Subcommand};

/// mimalloc instead of glibc's malloc: the server allocates small, short-lived buffers on
/// many threads (requests, rows, JSON), where glibc's arenas spent ~10% of a paid order's
/// CPU (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Cashless: a mobile payment platform (wallets, QR payments, transit, bills) on a
/// double-entry ledger.
#[derive(Debug, Parser)]
#[command(name = "cashless", version, about, long_about = None)]
struct Cli {
    /// Log filter, e.g. "info" or "info,cashless_store=debug".
    #[arg(long, env = "CASHLESS_LOG", default_value = "info", global = true)]
    log: String,
    /// How log lines look: `text` (colours only on a terminal) or `json` (one object a line,
    /// with the request id of the request that wrote it).
    #[arg(long, env = "CASHLESS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the platform: the HTTP API on one port, on the embedded SQLite database by default.
    Serve(serve::ServeArgs),
    /// Benchmarks against the real durable store.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// EMVCo merchant-presented QR codes: parse, encode, render (PNG, SVG), decode photos.
    #[command(subcommand)]
    Qr(qr::QrCommand),
    /// Merchant API tools: make a signing key, sign a request (to debug signatures).
    #[command(subcommand)]
    Merchant(merchant::MerchantCommand),
    /// A transit gate, offline: decides on ride codes with only the issuer keys and the
    /// blacklist the platform publishes, prints one JSON line per code, keeps the taps;
    /// `gate key` makes its key, `gate upload` sends the taps.
    Gate(gate::GateCommand),
    /// Checks the books from storage: per currency debits equal credits, every balance equals
    /// its transfers, no limit crossed, no pending transfer past its timeout, what the outbox
    /// owes. Exits 1 on any break.
    Audit(audit::AuditArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    // Offline tools answer without a runtime or logs on stdout.
    let command = match cli.command {
        Command::Qr(command) => return exit_on_error(qr::run(command)),
        Command::Merchant(command) => return exit_on_error(merchant::run(command)),
        Command::Gate(args) => return exit_on_error(gate::run(args)),
        Command::Audit(args) => return exit_on_error(audit::run(&args)),
        other => other,
    };
    let _flush_logs = init_logging(&cli.log, cli.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match command {
            Command::Serve(args) => serve::run(args).await,
            Command::Bench(command) => bench::run(command).await,
            Command::Qr(_) | Command::Merchant(_) | Command::Gate(_) | Command::Audit(_) => Ok(()),
        }
    })
}

/// A tool's failure: one line on stderr and exit status 1 (no backtrace: the error is the
/// answer, e.g. `bad_crc` for `qr parse`).
fn exit_on_error(result: anyhow::Result<()>) -> anyhow::Result<()> {
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
    Ok(())
}

/// Logs to stderr from a thread of its own; the guard writes out what is queued when dropped.
/// Colours only when stderr is a terminal (a log file gets plain text).
fn init_logging(filter: &str, format: LogFormat) -> anyhow::Result<log_writer::FlushGuard> {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let targets: tracing_subscriber::filter::Targets = filter
        .parse()
        .map_err(|error| anyhow::anyhow!("bad --log filter {filter:?}: {error}"))?;
    let (writer, guard) = log_writer::start()?;
    let registry = tracing_subscriber::registry().with(targets);
    match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(writer),
            )
            .try_init()?,
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_current_span(true)
                    .with_span_list(false)
                    .with_writer(writer),
            )
            .try_init()?,
    }
    Ok(guard)
}
