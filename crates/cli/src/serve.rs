//! `cashless serve`: the platform on one port.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use cashless_kernel::Secrets;
use cashless_outbox::{Outbox, OutboxConfig, PlatformKey};
use cashless_partners::{
    SimulatedBank, SimulatedBankConfig, SimulatedFx, SimulatedSms, SimulatedSmsConfig,
};
use cashless_payments::{MerchantRecipients, Payments, PaymentsConfig};
use cashless_server::{AppState, OperatorToken};
use cashless_store::{Location, Store, StoreConfig};
use cashless_wallet::{Partners, Wallet, WalletConfig};
use clap::Args;

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "CASHLESS_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Where the embedded SQLite database and the generated operator token live.
    #[arg(long, env = "CASHLESS_DATA_DIR", default_value = "./cashless-data")]
    data_dir: PathBuf,
    /// Run on PostgreSQL instead of the embedded SQLite file, e.g.
    /// postgres://postgres@127.0.0.1:5432/cashless
    #[arg(long, env = "CASHLESS_DATABASE_URL")]
    database_url: Option<String>,
    /// The operator's bearer token for /v1/ledger (at least 24 characters). Without it, one
    /// is generated once and kept in <data-dir>/operator-token.
    #[arg(long, env = "CASHLESS_OPERATOR_TOKEN", hide_env_values = true)]
    operator_token: Option<String>,
    /// Production mode: the simulated SMS gateway's outbox is not readable over the API, and
    /// merchants' notify URLs must be https to public hosts (no localhost or private
    /// addresses: see the payments crate's `destination` module).
    #[arg(long, env = "CASHLESS_PRODUCTION")]
    production: bool,
    /// Seed the demo city (a dozen Hangzhou merchants, three consumers) if
    /// <data-dir>/demo-city.json does not exist yet, and print the demo logins.
    #[arg(long, env = "CASHLESS_DEMO", conflicts_with = "production")]
    demo: bool,
    /// With --production: run even though the SMS gateway, the bank and the FX rates are this
    /// build's simulators (nothing is really texted or paid): a staging system. Without it,
    /// --production refuses to start.
    #[arg(
        long,
        env = "CASHLESS_ALLOW_SIMULATED_PARTNERS",
        requires = "production"
    )]
    allow_simulated_partners: bool,
    /// Seconds a client has to send a request's headers (also the longest a kept-alive
    /// connection waits for its next request).
    #[arg(long, env = "CASHLESS_HEADER_READ_TIMEOUT", default_value_t = 10)]
    header_read_timeout: u64,
    /// Seconds without a byte read or written before a connection is closed.
    #[arg(long, env = "CASHLESS_IDLE_TIMEOUT", default_value_t = 60)]
    idle_timeout: u64,
    /// Connections open at once; past it new ones are closed unread (logged). Default: the
    /// process's file-descriptor limit less 256, at most 16,384.
    #[arg(long, env = "CASHLESS_CONNECTIONS_MAX")]
    connections_max: Option<usize>,
    /// Which requests get an access-log line: `errors` (refusals, failures and requests
    /// slower than a second), `sample:N` (those and one in N), `all`, or `off`.
    #[arg(long, env = "CASHLESS_ACCESS_LOG", default_value = "errors")]
    access_log: cashless_server::access_log::AccessLog,
    /// Connections open at once from one client address (behind a proxy, raise it).
    #[arg(
        long,
        env = "CASHLESS_CONNECTIONS_PER_ADDRESS_MAX",
        default_value_t = 256
    )]
    connections_per_address_max: usize,
}

impl ServeArgs {
    fn limits(&self) -> cashless_server::listen::Limits {
        let defaults = cashless_server::listen::Limits::default();
        cashless_server::listen::Limits {
            header_read: std::time::Duration::from_secs(self.header_read_timeout.max(1)),
            idle: std::time::Duration::from_secs(self.idle_timeout.max(1)),
            connections_max: self
                .connections_max
                .unwrap_or(defaults.connections_max)
                .max(1),
            connections_per_address_max: self.connections_per_address_max.max(1),
        }
    }
}

/// Refuses what must never run: demo data on a public address, production on simulated
/// partners (unless said so), production on a demo city's data directory.
fn refuse_unsafe(args: &ServeArgs) -> anyhow::Result<()> {
    // Demo mode hands out sign-in codes and the demo merchants' keys to whoever asks: only on
    // this machine. And demo data (known keys, known PINs) never goes live.
    if args.demo {
        let loopback = args
            .listen
            .parse::<std::net::SocketAddr>()
            .map(|address| address.ip().is_loopback())
            .unwrap_or(false);
        if !loopback {
            anyhow::bail!(
                "--demo shows sign-in codes and merchant keys to anyone who asks: listen on a loopback address (127.0.0.1 or [::1]), not {}",
                args.listen
            );
        }
    }
    // The only partners this build has are simulators: production on them is a staging
    // system, and must be said so, not found out.
    if args.production && !args.allow_simulated_partners {
        anyhow::bail!(
            "--production handles real people's money, but this build's SMS gateway, bank and FX \
             rates are simulators (SimulatedSms, SimulatedBank, SimulatedFx): no text would be \
             sent and no money would move. For a staging system, add --allow-simulated-partners."
        );
    }
    if args.production {
        eprintln!(
            "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
             !!  PRODUCTION MODE ON SIMULATED PARTNERS (--allow-simulated-partners):        !!\n\
             !!  no SMS is really sent and no bank really moves money. Staging only.        !!\n\
             !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
        );
    }
    if args.production && args.data_dir.join("demo-city.json").exists() {
        anyhow::bail!(
            "{} holds a demo city (known keys and PINs): production needs a data directory of its own",
            args.data_dir.display()
        );
    }
    Ok(())
}

/// Background tasks the services run.
type Tasks = Vec<tokio::task::JoinHandle<()>>;

/// The services on the store, their simulated partners, and the state handlers share.
fn services(
    args: &ServeArgs,
    store: &Store,
    operator_token: OperatorToken,
) -> anyhow::Result<(
    AppState,
    Arc<SimulatedSms>,
    tokio::task::JoinHandle<()>,
    Tasks,
)> {
    let secrets = Secrets::load_or_create(&args.data_dir.join("pepper"))
        .with_context(|| format!("reading the pepper in {}", args.data_dir.display()))?;
    let sms = Arc::new(SimulatedSms::new(SimulatedSmsConfig::default()));
    let bank = SimulatedBank::open(
        SimulatedBankConfig {
            journal: Some(args.data_dir.join("bank-simulator.jsonl")),
            ..SimulatedBankConfig::default()
        },
        sms.clone(),
    )
    .context("opening the bank simulator's journal")?;
    tracing::warn!("partners are simulated: SimulatedSms, SimulatedBank, SimulatedFx");
    let wallet = Wallet::new(
        store.clone(),
        WalletConfig::default(),
        secrets,
        Partners {
            sms: sms.clone(),
            bank: Arc::new(bank),
            fx: Arc::new(SimulatedFx::default()),
        },
    );
    let reconciler = wallet.spawn_reconciler();
    let platform_key = PlatformKey::load_or_create(&args.data_dir.join("platform-signing-key"))
        .with_context(|| {
            format!(
                "reading the platform signing key in {}",
                args.data_dir.display()
            )
        })?;
    let outbox_config = OutboxConfig {
        private_allowed: !args.production,
        ..OutboxConfig::default()
    };
    let outbox = Outbox::new(
        store.clone(),
        outbox_config,
        platform_key,
        Arc::new(MerchantRecipients),
    )
    .context("building the notification client")?;
    let payments = Payments::new(wallet.clone(), PaymentsConfig::default(), outbox.clone());
    let rides = cashless_rides::Rides::new(wallet.clone(), cashless_rides::RidesConfig::default());
    let mut background = outbox.spawn_background();
    background.extend(payments.spawn_background());
    background.extend(rides.spawn_background());
    let state = AppState {
        store: store.clone(),
        operator_token: Arc::new(operator_token),
        wallet,
        payments,
        rides,
        sms_outbox: (!args.production).then_some(sms.clone()),
        demo: args.demo,
        production: args.production,
        access_log: args.access_log,
        demo_city: Default::default(),
    };
    Ok((state, sms, reconciler, background))
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let location = Location::from_args(args.database_url.as_deref(), &args.data_dir)?;
    refuse_unsafe(&args)?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("creating the data directory {}", args.data_dir.display()))?;
    let token = operator_token(args.operator_token.as_deref(), &args.data_dir)?;
    let store = Store::open(StoreConfig::new(location.clone()))
        .await
        .with_context(|| format!("opening {}", location.describe()))?;
    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    tracing::info!(%address, database = %location.describe(), "cashless is serving");
    println!(
        "Cashless is listening on http://{address}  (database: {})",
        location.describe()
    );
    println!("{}", token.1);
    let (state, sms, reconciler, background) = services(&args, &store, token.0)?;
    if args.demo {
        let city = cashless_server::demo::seed(&state, &sms, &args.data_dir)
            .await
            .map_err(|error| anyhow::anyhow!("seeding the demo city: {}", error.message))?;
        print_demo(&city, &args.data_dir);
        println!("  tills: http://{address}/pos");
        let _ = state.demo_city.set(city);
    }
    let stats = tokio::spawn(log_writer_stats(
        store.clone(),
        Arc::clone(state.wallet.signatures()),
    ));
    let limits = args.limits();
    tracing::info!(
        connections_max = limits.connections_max,
        connections_per_address_max = limits.connections_per_address_max,
        header_read_secs = limits.header_read.as_secs(),
        idle_secs = limits.idle.as_secs(),
        "connection limits"
    );
    cashless_server::serve(listener, state, limits, shutdown_signal()).await?;
    stats.abort();
    reconciler.abort();
    background.iter().for_each(tokio::task::JoinHandle::abort);
    tracing::info!("shutting down: finishing queued writes");
    store.shutdown().await;
    Ok(())
}

fn print_demo(city: &cashless_server::demo::DemoCity, data_dir: &Path) {
    println!(
        "\nDemo city (Hangzhou), details and merchant keys in {}:",
        data_dir.join("demo-city.json").display()
    );
    println!(
        "  consumers (sign in with the phone; the SMS code is in the operator's SMS outbox; PIN {}):",
        cashless_server::demo::DEMO_PIN
    );
    for consumer in &city.consumers {
        println!(
            "    {:<12} {}  {} (topped up {})",
            consumer.name, consumer.phone, consumer.kind, consumer.balance
        );
    }
    println!("  till staff (sign in at /pos with the phone; the code shows on the page):");
    for staff in &city.staff {
        println!(
            "    {:<12} {}  {} at {}",
            staff.name, staff.phone, staff.role, staff.merchant
        );
    }
    println!("  merchants:");
    for merchant in &city.merchants {
        println!(
            "    {:<24} {:<8} {:<18} {} ({} store{})",
            merchant.display_name,
            merchant.chinese_name,
            merchant.kind,
            merchant.id,
            merchant.stores.len(),
            if merchant.stores.len() == 1 { "" } else { "s" }
        );
    }
}

/// Every 10 s, at debug level (`--log info,cashless::serve=debug`), what the group-commit
/// writer did (batches, operations per batch, and where its time went) and how many
/// signatures were verified per batch.
async fn log_writer_stats(
    store: cashless_store::Store,
    signatures: Arc<cashless_kernel::signatures::Verifier>,
) {
    let mut last = store.writer_stats();
    let mut last_signatures = signatures.stats();
    let mut ticks = tokio::time::interval(std::time::Duration::from_secs(10));
    loop {
        ticks.tick().await;
        let now = store.writer_stats();
        let batches = now.batches_committed - last.batches_committed;
        if let Some(per_batch) = (now.operations - last.operations).checked_div(batches) {
            let ms = |a: std::time::Duration, b: std::time::Duration| (a - b).as_millis();
            tracing::debug!(
                batches,
                operations = now.operations - last.operations,
                per_batch,
                apply_ms = ms(now.apply, last.apply),
                persist_ms = ms(now.persist, last.persist),
                commit_ms = ms(now.commit, last.commit),
                syncs = now.syncs - last.syncs,
                sync_ms = ms(now.sync, last.sync),
                "writer, last 10 s"
            );
        }
        let (batches, checked) = signatures.stats();
        if let Some(per_batch) =
            (checked - last_signatures.1).checked_div(batches - last_signatures.0)
        {
            tracing::debug!(
                batches = batches - last_signatures.0,
                signatures = checked - last_signatures.1,
                per_batch,
                "signatures verified, last 10 s"
            );
        }
        last_signatures = (batches, checked);
        last = now;
    }
}

/// The operator token, and a line telling the operator where it comes from (never the token).
fn operator_token(given: Option<&str>, data_dir: &Path) -> anyhow::Result<(OperatorToken, String)> {
    if let Some(token) = given {
        let token = OperatorToken::new(token).map_err(anyhow::Error::msg)?;
        return Ok((
            token,
            "Operator token: as given by --operator-token / CASHLESS_OPERATOR_TOKEN".into(),
        ));
    }
    let path = data_dir.join("operator-token");
    let token = match std::fs::read_to_string(&path) {
        Ok(text) => text.trim().to_owned(),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let token = random_token();
            write_secret(&path, &token)?;
            token
        }
        Err(error) => return Err(error).with_context(|| format!("reading {}", path.display())),
    };
    let token = OperatorToken::new(&token).map_err(anyhow::Error::msg)?;
    Ok((
        token,
        format!(
            "Operator token: in {} (send it as Authorization: Bearer …)",
            path.display()
        ),
    ))
}

/// 32 random bytes from the operating system's CSPRNG, as hex.
fn random_token() -> String {
    use rand::RngExt;
    let bytes: [u8; 32] = rand::rng().random();
    cashless_kernel::secrets::hex(&bytes)
}

/// Writes a secret readable by its owner only.
fn write_secret(path: &Path, secret: &str) -> anyhow::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(file, "{secret}")?;
    file.sync_all()?;
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
