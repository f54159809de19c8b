//! `cashless audit`: checks the books from storage (see `cashless_store::audit`), on the
//! embedded database of a data directory or on PostgreSQL, with the server running or not.
//! Prints a summary (or `--json`); exits 1 on any break.

use std::path::PathBuf;

use anyhow::Context;
use cashless_store::Location;
use clap::Args;

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// The data directory of the embedded SQLite database.
    #[arg(long, env = "CASHLESS_DATA_DIR", default_value = "./cashless-data")]
    data_dir: PathBuf,
    /// PostgreSQL instead, e.g. postgres://postgres@127.0.0.1:5432/cashless
    #[arg(long, env = "CASHLESS_DATABASE_URL")]
    database_url: Option<String>,
    /// One JSON object on stdout instead of the summary.
    #[arg(long)]
    json: bool,
}

pub fn run(args: &AuditArgs) -> anyhow::Result<()> {
    let location = Location::from_args(args.database_url.as_deref(), &args.data_dir)?;
    if let Location::Sqlite(path) = &location
        && !path.exists()
    {
        anyhow::bail!("no database at {}: is --data-dir right?", path.display());
    }
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "auditing {bar:40} {pos}/{len} transfers ({per_sec}, {eta} left)",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = cashless_server::ledger_api::run_audit(&location, &mut |done, total| {
        bar.set_length(total);
        bar.set_position(done);
    })
    .with_context(|| format!("auditing {}", location.describe()))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_summary(&report);
    }
    if !report.passed {
        std::process::exit(1);
    }
    Ok(())
}

fn print_summary(report: &cashless_server::ledger_api::AuditReport) {
    let ledger = &report.ledger;
    println!(
        "ledger: {} accounts, {} transfers, {} expiries, {} pending",
        ledger.accounts, ledger.transfers, ledger.expiries, ledger.pending
    );
    for totals in &ledger.currencies {
        println!(
            "  {}: {} accounts; posted debits {} = credits {}; pending debits {} = credits {} (minor units)",
            totals.currency,
            totals.accounts,
            totals.debits_posted,
            totals.credits_posted,
            totals.debits_pending,
            totals.credits_pending
        );
    }
    let outbox = &report.outbox;
    println!(
        "outbox owes: {} pending, {} failed, {} waiting for a notify URL{}",
        outbox.pending,
        outbox.failed,
        outbox.no_notify_url,
        outbox
            .oldest_at
            .as_deref()
            .map_or_else(String::new, |at| format!(" (oldest {at})"))
    );
    if report.passed {
        println!("PASSED: no break");
        return;
    }
    for (kind, breaks) in &ledger.breaks {
        println!("BREAK {kind}: {}", breaks.count);
        for detail in &breaks.listed {
            println!("  {detail}");
        }
    }
}
