//! Signing in with a phone number and an SMS code; sessions and devices.
//!
//! - A code is 6 random digits, valid for 5 minutes, 5 wrong entries, only the newest code of a
//!   phone and purpose counts. A phone may ask again after 60 s and 10 times a China day.
//! - Codes and session tokens are stored as keyed fingerprints (HMAC with the pepper): a
//!   database leak reveals neither, and a leaked code table cannot be brute-forced offline.
//! - Signing in registers (or refreshes) a device and opens a session for it. Tokens live 30
//!   days and can be revoked one at a time, per device, or everywhere.

use cashless_consumer::{Phone, china_day_start_ns, rfc3339};
use cashless_ledger::{Account, AccountFlags, AccountId, AccountKind, Currency};
use cashless_store::{Conn, Param};
use serde::Serialize;
use serde_json::json;

use crate::ids::DeviceId;
use crate::secrets::{random_digits, random_hex, same};
use crate::users::{self, int};
use crate::{ServiceError, ServiceResult, Wallet, duration_ns, secs_ceil};

/// Why a code was sent: a code for one purpose never works for another.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum CodePurpose {
    SignIn,
    ResetPin,
    /// A merchant's cashier or manager signing in to the till.
    StaffSignIn,
}

impl CodePurpose {
    fn name(self) -> &'static str {
        match self {
            CodePurpose::SignIn => "sign_in",
            CodePurpose::ResetPin => "reset_pin",
            CodePurpose::StaffSignIn => "staff_sign_in",
        }
    }

    fn text(self, code: &str, minutes: u64) -> String {
        let what = match self {
            CodePurpose::SignIn => "sign-in",
            CodePurpose::ResetPin => "PIN reset",
            CodePurpose::StaffSignIn => "till sign-in",
        };
        format!(
            "[Cashless] Your {what} code is {code}. It expires in {minutes} minutes. \
             Cashless staff will never ask for it."
        )
    }
}

/// When a code's text message goes out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Delivery {
    /// Before answering: a gateway failure is the caller's error (and the code is withdrawn).
    Now,
    /// After answering, so how long the gateway takes tells the caller nothing.
    Background,
    /// Never: the code is recorded (and limited) like any other, but no one receives it.
    /// For answers that must not tell whether a number is known.
    Never,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CodeSent {
    /// The number the code went to, masked.
    pub phone: String,
    pub expires_in_secs: u64,
    /// When the phone may ask for another code.
    pub resend_after_secs: u64,
    /// Demo mode only (`cashless serve --demo`): the code itself, since the simulated SMS
    /// gateway reaches no phone. Never present otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo_code: Option<String>,
}

/// The device a sign-in comes from.
#[derive(Clone, Debug, Default)]
pub struct DeviceInput {
    /// A device id from an earlier sign-in, to refresh that device rather than add one.
    pub device_id: Option<String>,
    pub name: Option<String>,
    /// The device's Ed25519 public key, 64 hex digits: it will sign payment and transit codes.
    pub public_key: Option<String>,
}

#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct SignedIn {
    /// The session's bearer token. Shown once; the platform keeps only its fingerprint.
    pub token: String,
    pub expires_at: String,
    pub user_id: String,
    pub device_id: String,
    /// This sign-in created the account.
    pub new_user: bool,
    #[schema(example = "L0")]
    pub kyc_level: String,
}

impl std::fmt::Debug for SignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignedIn")
            .field("token", &"***")
            .field("user_id", &self.user_id)
            .field("device_id", &self.device_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct DeviceView {
    pub id: String,
    pub name: String,
    pub public_key: Option<String>,
    pub created_at: String,
    pub last_seen_at: String,
    /// The device this request comes from.
    pub current: bool,
}

/// A signed-in caller.
#[derive(Clone, Debug)]
pub struct Session {
    pub user_id: String,
    pub device_id: String,
    token_hash: String,
}

/// A session as [`Wallet::authenticate`] keeps it in memory: unrevoked when read, live until
/// `expires_ns`.
#[derive(Clone, Debug)]
pub(crate) struct LiveSession {
    user_id: String,
    device_id: String,
    expires_ns: i64,
}

/// Session tokens: a prefix that secret scanners can recognise, then 256 random bits.
const TOKEN_PREFIX: &str = "cls_";
const TOKEN_HEX_LEN: usize = 64;
const DEVICE_NAME_CHARS_MAX: usize = 64;

impl Wallet {
    /// Texts a sign-in code to `phone`.
    pub async fn send_sign_in_code(&self, phone: &str) -> ServiceResult<CodeSent> {
        let phone = parse_phone(phone)?;
        self.send_code(phone, CodePurpose::SignIn).await
    }

    /// Texts a code for `purpose` to `phone`: at most one a minute and a few a day per phone
    /// and purpose.
    pub async fn send_code(&self, phone: Phone, purpose: CodePurpose) -> ServiceResult<CodeSent> {
        self.send_code_by(phone, purpose, Delivery::Now).await
    }

    /// [`Wallet::send_code`], delivered as `delivery` says.
    pub async fn send_code_by(
        &self,
        phone: Phone,
        purpose: CodePurpose,
        delivery: Delivery,
    ) -> ServiceResult<CodeSent> {
        let code = random_digits(6);
        let hash = self.code_hash(phone.as_str(), purpose, &code);
        let id = self.new_id_string();
        let validity_ns = duration_ns(self.config.sms_code_validity);
        let resend_ns = duration_ns(self.config.sms_resend_after);
        let daily_max = i64::from(self.config.sms_daily_max);
        let number = phone.as_str().to_owned();
        let row_id = id.clone();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                check_code_allowed(conn, &number, purpose, now, resend_ns, daily_max)?;
                // Only the newest code counts.
                conn.execute(
                    "UPDATE sms_codes SET consumed = 1 \
                     WHERE phone = $1 AND purpose = $2 AND consumed = 0",
                    &[Param::Text(&number), Param::Text(purpose.name())],
                )?;
                conn.execute(
                    "INSERT INTO sms_codes \
                     (id, phone, purpose, code_hash, created_ns, expires_ns, attempts, consumed) \
                     VALUES ($1, $2, $3, $4, $5, $6, 0, 0)",
                    &[
                        Param::Text(&row_id),
                        Param::Text(&number),
                        Param::Text(purpose.name()),
                        Param::Text(&hash),
                        int(now),
                        int(now.saturating_add(validity_ns)),
                    ],
                )?;
                Ok::<_, ServiceError>(())
            })
            .await?;
        let minutes = self.config.sms_code_validity.as_secs().div_ceil(60);
        let text = purpose.text(&code, minutes);
        let (sms, store, to) = (self.partners.sms.clone(), self.store.clone(), phone.clone());
        let send = async move {
            let sent = sms.send(to.as_str(), &text).await;
            if let Err(error) = &sent {
                tracing::warn!(%error, phone = %to.masked(), "SMS not sent");
                // The code never arrived: do not count it against the phone.
                let _ = store
                    .write(move |tx| {
                        tx.conn()?
                            .execute("DELETE FROM sms_codes WHERE id = $1", &[Param::Text(&id)])?;
                        Ok::<_, ServiceError>(())
                    })
                    .await;
            }
            sent.is_ok()
        };
        match delivery {
            Delivery::Now => {
                if !send.await {
                    return Err(ServiceError::unavailable(
                        "sms_unavailable",
                        "the text message could not be sent; try again in a moment",
                    ));
                }
            }
            Delivery::Background => {
                tokio::spawn(send);
            }
            Delivery::Never => {}
        }
        Ok(CodeSent {
            demo_code: None,
            phone: phone.masked(),
            expires_in_secs: self.config.sms_code_validity.as_secs(),
            resend_after_secs: self.config.sms_resend_after.as_secs(),
        })
    }

    /// The fingerprint a code is kept as; [`check_code`] compares it.
    pub fn code_hash(&self, phone: &str, purpose: CodePurpose, code: &str) -> String {
        self.secrets
            .fingerprint(&["sms", phone, purpose.name(), code.trim()])
    }

    /// Signs in (or up) with the code sent to `phone`, registering the device.
    pub async fn sign_in(
        &self,
        phone: &str,
        code: &str,
        device: DeviceInput,
    ) -> ServiceResult<SignedIn> {
        let phone = parse_phone(phone)?;
        let device_name = device_name(device.name.as_deref())?;
        let public_key = device
            .public_key
            .as_deref()
            .map(device_public_key)
            .transpose()?;
        let hash = self.code_hash(phone.as_str(), CodePurpose::SignIn, code);
        let attempts_max = self.config.sms_attempts_max;
        let token = format!("{TOKEN_PREFIX}{}", random_hex(TOKEN_HEX_LEN / 2));
        let token_hash = self.token_hash(&token);
        let lifetime_ns = duration_ns(self.config.session_lifetime);
        let new_user_id = self.new_id_string();
        let new_wallet = AccountId(self.new_id());
        let new_device_id = self.new_id_string();
        let number = phone.as_str().to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                if let Err(refused) = check_code(
                    tx.conn()?,
                    &number,
                    CodePurpose::SignIn,
                    &hash,
                    now,
                    attempts_max,
                )? {
                    return Ok::<_, ServiceError>(Err(refused));
                }
                let existing = users::by_phone(tx.conn()?, &number)?;
                let new_user = existing.is_none();
                let user = match existing {
                    Some(user) => user,
                    None => create_user(tx, &number, &new_user_id, new_wallet, now)?,
                };
                let conn = tx.conn()?;
                let device = SigningInDevice {
                    known_id: device.device_id.as_deref(),
                    new_id: &new_device_id,
                    name: &device_name,
                    public_key: public_key.as_deref(),
                };
                let device_id = register_device(conn, &user.id, &device, now)?;
                let expires_ns = now.saturating_add(lifetime_ns);
                conn.execute(
                    "INSERT INTO sessions (token_hash, user_id, device_id, created_ns, expires_ns) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        Param::Text(&token_hash),
                        Param::Text(&user.id),
                        Param::Text(&device_id),
                        int(now),
                        int(expires_ns),
                    ],
                )?;
                Ok(Ok(SignedIn {
                    token,
                    expires_at: rfc3339(expires_ns),
                    user_id: user.id,
                    device_id,
                    new_user,
                    kyc_level: user.kyc_level.name().to_owned(),
                }))
            })
            .await?
    }

    fn token_hash(&self, token: &str) -> String {
        self.secrets.fingerprint(&["session", token])
    }

    /// The session a bearer token opens, if it is live.
    pub async fn authenticate(&self, token: &str) -> ServiceResult<Session> {
        let well_formed = token.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
            rest.len() == TOKEN_HEX_LEN && rest.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !well_formed {
            return Err(ServiceError::unauthorized());
        }
        let token_hash = self.token_hash(token);
        let lookup = token_hash.clone();
        let live = self
            .store
            .read_credential(&self.sessions, token_hash.clone(), move |conn| {
                conn.query_opt(
                    "SELECT user_id, device_id, expires_ns FROM sessions \
                     WHERE token_hash = $1 AND revoked_ns IS NULL",
                    &[Param::Text(&lookup)],
                )?
                .map(|row| {
                    Ok(LiveSession {
                        user_id: row.text(0)?.to_owned(),
                        device_id: row.text(1)?.to_owned(),
                        expires_ns: row.int(2)?,
                    })
                })
                .transpose()
            })
            .await?
            .filter(|live| live.expires_ns > crate::now_ns() as i64)
            .ok_or_else(ServiceError::unauthorized)?;
        Ok(Session {
            user_id: live.user_id,
            device_id: live.device_id,
            token_hash,
        })
    }

    /// Ends this session.
    pub async fn sign_out(&self, session: &Session) -> ServiceResult<()> {
        let token_hash = session.token_hash.clone();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                tx.conn()?.execute(
                    "UPDATE sessions SET revoked_ns = $2 WHERE token_hash = $1 AND revoked_ns IS NULL",
                    &[Param::Text(&token_hash), int(now)],
                )?;
                Ok::<_, ServiceError>(())
            })
            .await
    }

    /// Ends every session of the user, on every device. Answers how many were open.
    pub async fn sign_out_everywhere(&self, session: &Session) -> ServiceResult<u64> {
        let user_id = session.user_id.clone();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let revoked = tx.conn()?.execute(
                    "UPDATE sessions SET revoked_ns = $2 WHERE user_id = $1 AND revoked_ns IS NULL",
                    &[Param::Text(&user_id), int(now)],
                )?;
                Ok::<_, ServiceError>(revoked)
            })
            .await
    }

    pub async fn devices(&self, session: &Session) -> ServiceResult<Vec<DeviceView>> {
        let user_id = session.user_id.clone();
        let rows = self
            .store
            .read(move |conn| {
                conn.query(
                    "SELECT id, name, public_key, created_ns, last_seen_ns FROM devices \
                     WHERE user_id = $1 ORDER BY created_ns",
                    &[Param::Text(&user_id)],
                )
            })
            .await?;
        rows.iter()
            .map(|row| {
                let id = row.text(0)?.to_owned();
                Ok(DeviceView {
                    current: id == session.device_id,
                    id,
                    name: row.text(1)?.to_owned(),
                    public_key: row.opt_text(2)?.map(str::to_owned),
                    created_at: rfc3339(row.int(3)? as u64),
                    last_seen_at: rfc3339(row.int(4)? as u64),
                })
            })
            .collect::<Result<_, cashless_store::DbError>>()
            .map_err(ServiceError::from)
    }

    /// Forgets a device and ends its sessions (a lost phone).
    pub async fn remove_device(
        &self,
        session: &Session,
        device_id: &DeviceId,
    ) -> ServiceResult<()> {
        let user_id = session.user_id.clone();
        let device_id = device_id.as_str().to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let removed = conn.execute(
                    "DELETE FROM devices WHERE id = $1 AND user_id = $2",
                    &[Param::Text(&device_id), Param::Text(&user_id)],
                )?;
                if removed == 0 {
                    return Err(DeviceId::not_found());
                }
                conn.execute(
                    "UPDATE sessions SET revoked_ns = $3 \
                     WHERE user_id = $1 AND device_id = $2 AND revoked_ns IS NULL",
                    &[Param::Text(&user_id), Param::Text(&device_id), int(now)],
                )?;
                Ok(())
            })
            .await
    }
}

/// Checks a code against the newest one sent to `phone` for `purpose`. A wrong code counts an
/// attempt; the right one is consumed. The outer error is the database's; the inner one the
/// caller's, and the attempt it counted must still commit.
pub fn check_code(
    conn: &mut Conn,
    phone: &str,
    purpose: CodePurpose,
    hash: &str,
    now: u64,
    attempts_max: u32,
) -> ServiceResult<Result<(), ServiceError>> {
    let row = conn.query_opt(
        "SELECT id, code_hash, expires_ns, attempts, consumed FROM sms_codes \
         WHERE phone = $1 AND purpose = $2 ORDER BY created_ns DESC LIMIT 1",
        &[Param::Text(phone), Param::Text(purpose.name())],
    )?;
    let Some(row) = row else {
        return Ok(Err(ServiceError::invalid(
            "sms_code_invalid",
            "the code is wrong; ask for a code first",
        )));
    };
    let id = row.text(0)?;
    let attempts = row.int(3)?;
    if row.int(4)? != 0 {
        return Ok(Err(ServiceError::invalid(
            "sms_code_used",
            "this code was already used; ask for a new one",
        )));
    }
    if now >= row.int(2)? as u64 {
        return Ok(Err(ServiceError::invalid(
            "sms_code_expired",
            "the code has expired; ask for a new one",
        )));
    }
    if attempts >= i64::from(attempts_max) {
        return Ok(Err(ServiceError::too_many(
            "sms_code_attempts_exceeded",
            "too many wrong codes; ask for a new one",
        )));
    }
    if !same(row.text(1)?, hash) {
        conn.execute(
            "UPDATE sms_codes SET attempts = attempts + 1 WHERE id = $1",
            &[Param::Text(id)],
        )?;
        let left = i64::from(attempts_max) - attempts - 1;
        return Ok(Err(ServiceError::invalid(
            "sms_code_invalid",
            format!("the code is wrong; {left} attempts left"),
        )
        .with_details(json!({ "attempts_left": left }))));
    }
    conn.execute(
        "UPDATE sms_codes SET consumed = 1 WHERE id = $1",
        &[Param::Text(id)],
    )?;
    Ok(Ok(()))
}

fn parse_phone(text: &str) -> ServiceResult<Phone> {
    Phone::parse(text).map_err(|error| ServiceError::invalid(error.code(), error.to_string()))
}

fn device_name(name: Option<&str>) -> ServiceResult<String> {
    let name = name
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .unwrap_or("phone");
    if name.chars().count() > DEVICE_NAME_CHARS_MAX || name.chars().any(char::is_control) {
        return Err(ServiceError::invalid(
            "device_name_invalid",
            format!("a device name has at most {DEVICE_NAME_CHARS_MAX} printable characters"),
        ));
    }
    Ok(name.to_owned())
}

fn device_public_key(text: &str) -> ServiceResult<String> {
    let key = text.trim().to_ascii_lowercase();
    let point = crate::secrets::decode_hex(&key)
        .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
        .and_then(|bytes| ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok());
    // A small-order key would accept signatures anyone can make.
    if point.is_none_or(|point| point.is_weak()) {
        return Err(ServiceError::invalid(
            "device_public_key_invalid",
            "the device public key must be a raw Ed25519 key (64 hex digits), not a weak one",
        ));
    }
    Ok(key)
}
/// Refuses a new code too soon after the last unused one (flooding a phone), or past the
/// phone's daily number of codes.
fn check_code_allowed(
    conn: &mut Conn,
    number: &str,
    purpose: CodePurpose,
    now: u64,
    resend_ns: u64,
    daily_max: i64,
) -> ServiceResult<()> {
    // The wait between codes guards against flooding a phone; once the last code has been
    // used to sign in, the owner may ask again at once (another device).
    let last = conn.query_opt(
        "SELECT created_ns FROM sms_codes WHERE phone = $1 AND purpose = $2 \
         AND consumed = 0 ORDER BY created_ns DESC LIMIT 1",
        &[Param::Text(number), Param::Text(purpose.name())],
    )?;
    if let Some(last) = last {
        let next_allowed = (last.int(0)? as u64).saturating_add(resend_ns);
        if now < next_allowed {
            let wait = secs_ceil(next_allowed - now);
            return Err(ServiceError::too_many(
                "sms_too_soon",
                format!("a code was just sent; ask again in {wait} s"),
            )
            .with_details(json!({ "retry_after_secs": wait })));
        }
    }
    let sent_today = conn
        .query_opt(
            "SELECT COUNT(*) FROM sms_codes WHERE phone = $1 AND purpose = $2 \
             AND created_ns >= $3",
            &[
                Param::Text(number),
                Param::Text(purpose.name()),
                int(china_day_start_ns(now)),
            ],
        )?
        .map_or(Ok(0), |row| row.int(0))?;
    if sent_today >= daily_max {
        return Err(ServiceError::too_many(
            "sms_daily_limit",
            format!("this number received {daily_max} codes today; try again tomorrow"),
        ));
    }
    Ok(())
}

/// Makes a user and their wallet account at their first sign-in.
fn create_user(
    tx: &mut cashless_store::WriteTx<'_, '_>,
    number: &str,
    user_id: &str,
    wallet_id: AccountId,
    now: u64,
) -> ServiceResult<users::UserRow> {
    let mut wallet = Account::new(
        wallet_id,
        Currency::CNY,
        AccountKind::Wallet,
        AccountFlags::DEBITS_MUST_NOT_EXCEED_CREDITS,
    );
    wallet.reference = wallet_id.0;
    let created = tx.create_accounts(&[wallet]);
    if !created.first().is_some_and(|result| result.is_success()) {
        return Err(ServiceError::internal(format!(
            "cannot create a wallet account: {created:?}"
        )));
    }
    tx.conn()?.execute(
        "INSERT INTO users (id, phone, created_ns, kyc_level, wallet_account_id, \
         pin_failures, pin_locked_until_ns) VALUES ($1, $2, $3, 0, $4, 0, 0)",
        &[
            Param::Text(user_id),
            Param::Text(number),
            int(now),
            Param::Blob(&wallet_id.to_bytes()),
        ],
    )?;
    users::require(tx.conn()?, user_id)
}

/// The device signing in: one the user named (if it is theirs), or a new one.
struct SigningInDevice<'a> {
    known_id: Option<&'a str>,
    new_id: &'a str,
    name: &'a str,
    public_key: Option<&'a str>,
}

/// Refreshes the user's known device, or registers a new one; answers its id.
fn register_device(
    conn: &mut Conn,
    user_id: &str,
    device: &SigningInDevice<'_>,
    now: u64,
) -> ServiceResult<String> {
    let known = match device.known_id.filter(|id| crate::wire::is_id(id)) {
        Some(id) => conn
            .query_opt(
                "SELECT id FROM devices WHERE id = $1 AND user_id = $2",
                &[Param::Text(id), Param::Text(user_id)],
            )?
            .map(|row| row.text(0).map(str::to_owned))
            .transpose()?,
        None => None,
    };
    if let Some(id) = known {
        conn.execute(
            // A new key turns paying with the device off until the PIN turns it on.
            "UPDATE devices SET name = $2, \
             pay_enabled_ns = CASE WHEN CAST($3 AS TEXT) IS NULL \
                 OR CAST($3 AS TEXT) = public_key \
                 THEN pay_enabled_ns ELSE NULL END, \
             public_key = COALESCE(CAST($3 AS TEXT), public_key), \
             last_seen_ns = $4 WHERE id = $1",
            &[
                Param::Text(&id),
                Param::Text(device.name),
                Param::opt_text(device.public_key),
                int(now),
            ],
        )?;
        return Ok(id);
    }
    conn.execute(
        "INSERT INTO devices (id, user_id, name, public_key, created_ns, last_seen_ns) \
         VALUES ($1, $2, $3, $4, $5, $5)",
        &[
            Param::Text(device.new_id),
            Param::Text(user_id),
            Param::Text(device.name),
            Param::opt_text(device.public_key),
            int(now),
        ],
    )?;
    Ok(device.new_id.to_owned())
}
