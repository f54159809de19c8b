//! Transit on the platform's side: issuing a phone's transit pass (the certificate its ride
//! codes carry), the transit issuer keys and their rotation, and what gates download (the
//! issuer public keys and the blacklist). The code format and the gate itself are in
//! `cashless_transit`.
//!
//! - A pass needs a real name (L1) and a device key registered at sign-in: the certificate
//!   binds that key, so only that phone can make codes from it. It lasts a day; the app
//!   renews it whenever it is online.
//! - The account reference in a certificate is random and stable per rider and operator (so a
//!   blacklist entry outlives renewals) and means nothing outside the platform.
//! - Issuer keys have small integer ids. The newest signs; gates hold the newest two, so a
//!   rotation leaves a day's certificates working until the next one. A key's Ed25519 seed is
//!   stored sealed: XORed with a keystream only the platform's pepper yields.

use std::time::Duration;

use cashless_consumer::rfc3339;
use cashless_kernel::{ServiceError, ServiceResult, secrets};
use cashless_store::{Conn, DbError, Param};
use cashless_transit::{Certificate, CertificateBody};
use cashless_wallet::{Session, Wallet};
use ed25519_dalek::SigningKey;
use serde::Serialize;

use crate::Rides;

/// How long a pass lasts.
pub const PASS_LIFETIME: Duration = Duration::from_secs(24 * 3600);
/// What a rider may owe an operator before the platform has debited the fare (CNY fen).
pub const CREDIT_LIMIT: u32 = 5_000;
/// How many issuer keys gates hold: the current one and the previous one.
pub const GATE_KEYS: i64 = 2;

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct TransitPass {
    /// The certificate's 129 bytes as hex: the app puts it in every ride code it makes.
    pub certificate: String,
    pub serial: String,
    pub operator: u16,
    pub operator_name: String,
    pub issuer_key_id: u16,
    /// CNY the operator lets the rider owe before the fare is debited.
    pub credit_limit: cashless_kernel::wire::Amount,
    pub valid_from: String,
    pub valid_until: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct IssuerKeyView {
    pub id: u16,
    /// Ed25519 public key, 64 hex digits.
    pub public_key: String,
}

/// What a gate downloads: whom to trust and whom to refuse.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct GateConfig {
    pub operator: u16,
    /// The newest first: the current key and the one before it.
    pub issuer_keys: Vec<IssuerKeyView>,
    pub blacklist_version: u64,
    /// Account references (16 hex digits) whose codes no gate opens for.
    pub blacklist: Vec<String>,
}

pub(crate) fn unknown_operator() -> ServiceError {
    ServiceError::not_found("transit_operator_unknown", "no such transit operator")
}

pub(crate) fn operator_name(conn: &mut Conn, operator: u16) -> Result<Option<String>, DbError> {
    conn.query_opt(
        "SELECT name FROM transit_operators WHERE id = $1",
        &[Param::Int(i64::from(operator))],
    )?
    .map(|row| row.text(0).map(str::to_owned))
    .transpose()
}

/// The keystream that seals issuer key `id`'s seed.
fn issuer_seal(wallet: &Wallet, id: i64) -> [u8; 32] {
    let hex = wallet
        .secrets()
        .fingerprint(&["transit-issuer-key", &id.to_string()]);
    let mut out = [0u8; 32];
    if let Some(bytes) = secrets::decode_hex(&hex) {
        out.copy_from_slice(&bytes[..32]);
    }
    out
}

fn seal(wallet: &Wallet, id: i64, seed: &[u8; 32]) -> String {
    let stream = issuer_seal(wallet, id);
    let sealed: Vec<u8> = seed.iter().zip(stream).map(|(a, b)| a ^ b).collect();
    secrets::hex(&sealed)
}

fn unseal(wallet: &Wallet, id: i64, sealed: &str) -> ServiceResult<SigningKey> {
    let bytes = secrets::decode_hex(sealed)
        .ok_or_else(|| ServiceError::internal("sealed issuer key is not hex"))?;
    let stream = issuer_seal(wallet, id);
    let seed: Vec<u8> = bytes.iter().zip(stream).map(|(a, b)| a ^ b).collect();
    let seed: [u8; 32] = seed
        .try_into()
        .map_err(|_| ServiceError::internal("sealed issuer key of the wrong size"))?;
    Ok(SigningKey::from_bytes(&seed))
}

/// Makes the next issuer key. Answers its id and key.
fn add_issuer_key(wallet: &Wallet, conn: &mut Conn, now: u64) -> ServiceResult<(i64, SigningKey)> {
    let id = conn
        .query_opt("SELECT COALESCE(MAX(id), 0) FROM transit_issuer_keys", &[])?
        .map_or(Ok(0), |row| row.int(0))?
        + 1;
    if id > i64::from(u16::MAX) {
        return Err(ServiceError::internal("transit issuer key ids are used up"));
    }
    let seed: [u8; 32] = rand::random();
    let key = SigningKey::from_bytes(&seed);
    conn.execute(
        "INSERT INTO transit_issuer_keys (id, public_key, sealed_seed, created_ns) VALUES ($1, $2, $3, $4)",
        &[
            Param::Int(id),
            Param::Text(&secrets::hex(key.verifying_key().as_bytes())),
            Param::Text(&seal(wallet, id, &seed)),
            Param::Int(now as i64),
        ],
    )?;
    Ok((id, key))
}

impl Rides {
    /// Rotates the transit issuer key (operator): new passes are signed with a new key;
    /// gates keep accepting the previous one, so passes already issued still work.
    pub async fn rotate_issuer_key(&self) -> ServiceResult<IssuerKeyView> {
        let wallet = self.wallet.clone();
        let (id, key) = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                add_issuer_key(&wallet, tx.conn()?, now)
            })
            .await?;
        Ok(IssuerKeyView {
            id: u16::try_from(id)
                .map_err(|_| ServiceError::internal("issuer key id out of range"))?,
            public_key: secrets::hex(key.verifying_key().as_bytes()),
        })
    }

    /// The issuer keys gates should hold, newest first. The first is made here if no pass was
    /// issued yet, so a gate that fetches its configuration before the first rider does not
    /// hold an empty key list (and refuse every code until it fetches again).
    pub async fn issuer_keys(&self) -> ServiceResult<Vec<IssuerKeyView>> {
        let keys = self.issuer_keys_stored().await?;
        if !keys.is_empty() {
            return Ok(keys);
        }
        let wallet = self.wallet.clone();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                // The writer is serial: a concurrent first fetch finds this one's key.
                if conn
                    .query_opt("SELECT 1 FROM transit_issuer_keys", &[])?
                    .is_none()
                {
                    add_issuer_key(&wallet, conn, now)?;
                }
                Ok::<_, ServiceError>(())
            })
            .await?;
        self.issuer_keys_stored().await
    }

    async fn issuer_keys_stored(&self) -> ServiceResult<Vec<IssuerKeyView>> {
        let rows = self
            .store
            .read(|conn| {
                conn.query(
                    "SELECT id, public_key FROM transit_issuer_keys ORDER BY id DESC LIMIT $1",
                    &[Param::Int(GATE_KEYS)],
                )?
                .iter()
                .map(|row| Ok((row.int(0)?, row.text(1)?.to_owned())))
                .collect::<Result<Vec<_>, DbError>>()
            })
            .await?;
        rows.into_iter()
            .map(|(id, public_key)| {
                Ok(IssuerKeyView {
                    id: u16::try_from(id)
                        .map_err(|_| ServiceError::internal("issuer key id out of range"))?,
                    public_key,
                })
            })
            .collect()
    }

    /// Issues (or renews) the caller's transit pass for `operator`, bound to this device's key.
    pub async fn transit_pass(
        &self,
        session: &Session,
        operator: u16,
    ) -> ServiceResult<TransitPass> {
        let (user_id, device_id) = (session.user_id.clone(), session.device_id.clone());
        let serial: u64 = rand::random();
        let fresh_ref: [u8; 8] = rand::random();
        let wallet = self.wallet.clone();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let operator_name = operator_name(conn, operator)?.ok_or_else(unknown_operator)?;
                let device_key = rider_device_key(conn, &user_id, &device_id)?;
                let account_ref = account_ref(conn, &user_id, operator, fresh_ref, now)?;
                let signer = conn.query_opt(
                    "SELECT id, sealed_seed FROM transit_issuer_keys ORDER BY id DESC LIMIT 1",
                    &[],
                )?;
                let (key_id, key) = match signer {
                    Some(row) => {
                        let id = row.int(0)?;
                        (id, unseal(&wallet, id, row.text(1)?)?)
                    }
                    None => add_issuer_key(&wallet, conn, now)?,
                };
                let not_before = u32::try_from(now / 1_000_000_000)
                    .map_err(|_| ServiceError::internal("the clock is past 2106"))?;
                let body = CertificateBody {
                    issuer_key_id: u16::try_from(key_id)
                        .map_err(|_| ServiceError::internal("issuer key id out of range"))?,
                    serial,
                    account_ref,
                    device_key,
                    credit_limit: CREDIT_LIMIT,
                    not_before,
                    not_after: not_before.saturating_add(PASS_LIFETIME.as_secs() as u32),
                    operator,
                };
                let certificate: Certificate = body.issue(&key);
                conn.execute(
                    "INSERT INTO transit_passes (serial, user_id, device_id, operator, account_ref, issuer_key_id, \
                     not_before, not_after, created_ns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                    &[
                        Param::Text(&serial.to_string()),
                        Param::Text(&user_id),
                        Param::Text(&device_id),
                        Param::Int(i64::from(operator)),
                        Param::Blob(&account_ref),
                        Param::Int(key_id),
                        Param::Int(i64::from(body.not_before)),
                        Param::Int(i64::from(body.not_after)),
                        Param::Int(now as i64),
                    ],
                )?;
                Ok(TransitPass {
                    certificate: secrets::hex(certificate.as_bytes()),
                    serial: serial.to_string(),
                    operator,
                    operator_name,
                    issuer_key_id: body.issuer_key_id,
                    credit_limit: cashless_kernel::wire::Amount::new(
                        u64::from(CREDIT_LIMIT),
                        cashless_ledger::Currency::CNY,
                    ),
                    valid_from: rfc3339(u64::from(body.not_before) * 1_000_000_000),
                    valid_until: rfc3339(u64::from(body.not_after) * 1_000_000_000),
                })
            })
            .await
    }

    /// What a gate of `operator` downloads.
    pub async fn gate_config(&self, operator: u16) -> ServiceResult<GateConfig> {
        let (known, version, blacklist) = self
            .store
            .read(move |conn| {
                let known = operator_name(conn, operator)?.is_some();
                let version = conn
                    .query_opt(
                        "SELECT COALESCE(MAX(changed_ns), 0) FROM transit_blacklist WHERE operator = $1",
                        &[Param::Int(i64::from(operator))],
                    )?
                    .map_or(Ok(0), |row| row.int(0))?;
                let listed = conn
                    .query(
                        "SELECT account_ref FROM transit_blacklist WHERE operator = $1 AND cleared_ns IS NULL \
                         ORDER BY account_ref",
                        &[Param::Int(i64::from(operator))],
                    )?
                    .iter()
                    .map(|row| row.blob(0).map(secrets::hex))
                    .collect::<Result<Vec<_>, DbError>>()?;
                Ok((known, version, listed))
            })
            .await?;
        if !known {
            return Err(unknown_operator());
        }
        Ok(GateConfig {
            operator,
            issuer_keys: self.issuer_keys().await?,
            blacklist_version: version as u64,
            blacklist,
        })
    }
}
/// The key of the rider's phone a pass binds to; refused before real-name verification.
fn rider_device_key(conn: &mut Conn, user_id: &str, device_id: &str) -> ServiceResult<[u8; 32]> {
    let level = conn
        .query_opt(
            "SELECT kyc_level FROM users WHERE id = $1",
            &[Param::Text(user_id)],
        )?
        .map_or(Ok(0), |row| row.int(0))?;
    if level < 1 {
        return Err(ServiceError::forbidden(
            "kyc_required",
            "verify your real name first: the transit code needs it",
        ));
    }
    conn.query_opt(
        "SELECT public_key FROM devices WHERE id = $1 AND user_id = $2",
        &[Param::Text(device_id), Param::Text(user_id)],
    )?
    .and_then(|row| row.text(0).ok().map(str::to_owned))
    .and_then(|hex| secrets::decode_hex(&hex))
    .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
    .ok_or_else(|| {
        ServiceError::conflict(
            "device_key_required",
            "this phone has no key: sign in again from the app, which registers one",
        )
    })
}

/// The rider's stable reference at `operator`, made (as `fresh`) on their first pass.
fn account_ref(
    conn: &mut Conn,
    user_id: &str,
    operator: u16,
    fresh: [u8; 8],
    now: u64,
) -> ServiceResult<[u8; 8]> {
    let existing = conn.query_opt(
        "SELECT account_ref FROM transit_accounts WHERE user_id = $1 AND operator = $2",
        &[Param::Text(user_id), Param::Int(i64::from(operator))],
    )?;
    if let Some(row) = existing {
        return <[u8; 8]>::try_from(row.blob(0)?)
            .map_err(|_| ServiceError::internal("account reference of the wrong size"));
    }
    conn.execute(
        "INSERT INTO transit_accounts (user_id, operator, account_ref, created_ns) VALUES ($1, $2, $3, $4)",
        &[
            Param::Text(user_id),
            Param::Int(i64::from(operator)),
            Param::Blob(&fresh),
            Param::Int(i64::try_from(now).unwrap_or(i64::MAX)),
        ],
    )?;
    Ok(fresh)
}
