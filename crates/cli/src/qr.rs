//! `cashless qr …`: read, write and scan EMVCo merchant-presented QR payloads.
//!
//! Wiring (in main.rs): `mod qr;` and a `Qr { #[command(subcommand)] command: qr::QrCommand }`
//! variant calling `qr::run(command)`. Needs `cashless-emvqr` with the `images` feature.
//!
//! Output is JSON on stdout; a rejection prints `{"error": {"code", "message"}}` there too
//! and returns an error, so the process exits with status 1.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::Context;
use cashless_emvqr::images::{self, PNG_MODULE_PIXELS_DEFAULT};
use cashless_emvqr::{
    Amount, CashlessMerchant, CashlessOrder, Mpm, cashless_target, encode_dynamic, encode_static,
    parse,
};
use clap::{Args, Subcommand};
use serde_json::{Value, json};

/// Image files larger than this are refused before decoding (a phone photo is ~5 MB).
const IMAGE_FILE_BYTES_MAX: u64 = 32 * 1024 * 1024;

#[derive(Debug, Subcommand)]
pub enum QrCommand {
    /// Parses a payload and prints its fields as JSON.
    Parse {
        /// The payload text, e.g. "000201010211…6304ABCD".
        payload: String,
    },
    /// Writes one of our merchant codes: static, or dynamic with --amount and --reference.
    Encode(Box<EncodeArgs>),
    /// Reads the QR codes in a PNG or JPEG image and prints each payload with its fields.
    Decode {
        /// Path of a PNG or JPEG image.
        image: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct EncodeArgs {
    /// Our merchant id (sub-field 01 of template 26).
    #[arg(long)]
    merchant_id: String,
    /// Our store id (sub-field 02 of template 26).
    #[arg(long)]
    store_id: Option<String>,
    /// Merchant name (ID 59), at most 25 characters.
    #[arg(long)]
    name: String,
    /// Merchant city (ID 60), at most 15 characters.
    #[arg(long)]
    city: String,
    /// Merchant category code (ID 52, ISO 18245); 5812 is "eating places, restaurants".
    #[arg(long, default_value = "5812")]
    mcc: String,
    /// Amount in CNY as a decimal, e.g. 12.50; makes a dynamic code for one order.
    #[arg(long, requires = "reference")]
    amount: Option<String>,
    /// Order reference (62/05) of a dynamic code, at most 25 characters.
    #[arg(long, requires = "amount")]
    reference: Option<String>,
    /// Terminal label (62/07) of a dynamic code, at most 25 characters.
    #[arg(long, requires = "amount")]
    terminal: Option<String>,
    /// Merchant name in Chinese (64/01 with language ZH), at most 25 characters.
    #[arg(long)]
    chinese_name: Option<String>,
    /// Also write the QR symbol as a PNG to this file.
    #[arg(long)]
    png: Option<PathBuf>,
    /// Also write the QR symbol as an SVG to this file.
    #[arg(long)]
    svg: Option<PathBuf>,
}

pub fn run(command: QrCommand) -> anyhow::Result<()> {
    match command {
        QrCommand::Parse { payload } => parse_payload(payload.trim()),
        QrCommand::Encode(args) => encode(*args),
        QrCommand::Decode { image } => decode(&image),
    }
}

fn parse_payload(payload: &str) -> anyhow::Result<()> {
    match parse(payload) {
        Ok(mpm) => print_json(&described(&mpm)),
        Err(error) => rejected(error.code(), &error.to_string()),
    }
}

/// The parsed fields, plus where a payment would go if the code is one of ours.
fn described(mpm: &Mpm) -> Value {
    let mut fields = serde_json::to_value(mpm).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut fields {
        map.insert("cashless_target".into(), json!(cashless_target(mpm)));
    }
    fields
}

fn encode(args: EncodeArgs) -> anyhow::Result<()> {
    let merchant = CashlessMerchant {
        store_id: args.store_id,
        chinese_name: args.chinese_name,
        ..CashlessMerchant::new(args.merchant_id, args.name, args.city, args.mcc)
    };
    let encoded = match (args.amount, args.reference) {
        (Some(amount), Some(reference)) => {
            let amount = match Amount::parse(&amount) {
                Ok(amount) => amount,
                Err(error) => return rejected(error.code(), &error.to_string()),
            };
            let order = CashlessOrder {
                amount,
                reference,
                terminal: args.terminal,
            };
            encode_dynamic(&merchant, &order)
        }
        // clap's `requires` makes --amount and --reference come together.
        _ => encode_static(&merchant),
    };
    let payload = match encoded {
        Ok(mpm) => mpm.payload(),
        Err(error) => return rejected(error.code(), &error.to_string()),
    };
    if let Some(path) = &args.png {
        let png = images::render_png(&payload, PNG_MODULE_PIXELS_DEFAULT)?;
        std::fs::write(path, png).with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.svg {
        let svg = images::render_svg(&payload)?;
        std::fs::write(path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    println!("{payload}");
    Ok(())
}

/// Prints every QR code found, each parsed or with its rejection. Exits 1 only when the
/// image cannot be read or holds no readable QR code.
fn decode(path: &Path) -> anyhow::Result<()> {
    let bytes = read_bounded(path)?;
    let payloads = match images::decode_image(&bytes) {
        Ok(payloads) => payloads,
        Err(error) => return rejected(error.code(), &error.to_string()),
    };
    let found: Vec<Value> = payloads
        .iter()
        .map(|payload| match parse(payload) {
            Ok(mpm) => json!({ "payload": payload, "parsed": described(&mpm) }),
            Err(error) => {
                json!({ "payload": payload, "error": error_body(error.code(), &error.to_string()) })
            }
        })
        .collect();
    print_json(&Value::Array(found))
}

fn read_bounded(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut bytes = Vec::new();
    file.take(IMAGE_FILE_BYTES_MAX + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() as u64 > IMAGE_FILE_BYTES_MAX {
        anyhow::bail!(
            "{} is larger than {IMAGE_FILE_BYTES_MAX} bytes",
            path.display()
        );
    }
    Ok(bytes)
}

fn error_body(code: &str, message: &str) -> Value {
    json!({ "code": code, "message": message })
}

/// Prints the JSON error shape on stdout and fails with the code, for exit status 1.
fn rejected(code: &str, message: &str) -> anyhow::Result<()> {
    print_json(&json!({ "error": error_body(code, message) }))?;
    anyhow::bail!("{code}: {message}")
}

fn print_json(value: &Value) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}
