//! `cashless merchant …`: tools for integrators of the signed merchant API.

use std::path::PathBuf;

use anyhow::Context;
use cashless_payments::signing::{self, MerchantSigner};
use clap::{Args, Subcommand};

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Makes a new Ed25519 key pair for signing requests (register the public key).
    Keygen,
    /// Signs a request and prints the exact string-to-sign, the body's SHA-256, the
    /// Authorization header and a curl command: compare them with yours to find a mismatch.
    Sign(Box<SignArgs>),
}

#[derive(Debug, Args)]
pub struct SignArgs {
    #[arg(long)]
    pub merchant_id: String,
    /// The key id the platform gave when the key was registered.
    #[arg(long)]
    pub key_id: String,
    /// The secret key (64 hex digits) in a file; or set CASHLESS_MERCHANT_SECRET_KEY.
    #[arg(long, env = "CASHLESS_MERCHANT_SECRET_KEY_FILE")]
    pub secret_key_file: Option<PathBuf>,
    #[arg(long, default_value = "GET")]
    pub method: String,
    /// Path and query exactly as sent, e.g. /v1/merchant/orders/T1
    #[arg(long)]
    pub path: String,
    /// The exact body bytes (JSON); omit for none.
    #[arg(long)]
    pub body: Option<String>,
    /// Unix seconds; default now.
    #[arg(long)]
    pub timestamp: Option<i64>,
    /// Default: 16 random hex digits.
    #[arg(long)]
    pub nonce: Option<String>,
    /// The server, for the printed curl command.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    pub url: String,
}

pub fn run(command: MerchantCommand) -> anyhow::Result<()> {
    match command {
        MerchantCommand::Keygen => {
            let (secret, public) = MerchantSigner::generate_key();
            println!("secret_key: {secret}\npublic_key: {public}");
            println!(
                "Keep the secret key on your server; register the public key with the platform."
            );
            Ok(())
        }
        MerchantCommand::Sign(args) => sign(*args),
    }
}

fn sign(args: SignArgs) -> anyhow::Result<()> {
    let secret = match (
        &args.secret_key_file,
        std::env::var("CASHLESS_MERCHANT_SECRET_KEY"),
    ) {
        (Some(path), _) => {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        }
        (None, Ok(secret)) => secret,
        (None, Err(_)) => anyhow::bail!(
            "give the secret key with --secret-key-file or CASHLESS_MERCHANT_SECRET_KEY"
        ),
    };
    let signer = MerchantSigner::new(&args.merchant_id, &args.key_id, &secret)?;
    let timestamp = args
        .timestamp
        .unwrap_or_else(|| (cashless_partners::unix_ms() / 1000) as i64);
    let nonce = args
        .nonce
        .unwrap_or_else(|| format!("{:016x}", rand::random::<u64>()));
    let body = args.body.unwrap_or_default();
    let parts = signer.sign(&args.method, &args.path, timestamp, &nonce, body.as_bytes());
    println!("public key:      {}", signer.public_key_hex());
    println!("body sha256:     {}", signing::sha256_hex(body.as_bytes()));
    println!("string-to-sign (between the lines, lines joined by \\n, no trailing newline):");
    println!("----\n{}\n----", parts.string_to_sign);
    println!("Authorization: {}", parts.authorization);
    let data = if body.is_empty() {
        String::new()
    } else {
        format!(
            " -H 'Content-Type: application/json' --data-raw '{}'",
            body.replace('\'', "'\\''")
        )
    };
    println!(
        "\ncurl -X {} '{}{}' -H '{}'{data}",
        args.method.to_ascii_uppercase(),
        args.url.trim_end_matches('/'),
        args.path,
        format_args!("Authorization: {}", parts.authorization)
    );
    Ok(())
}
