//! A merchant's staff: cashiers and managers who open the till by signing in with their phone
//! and an SMS code, instead of holding a signing key.
//!
//! - The merchant (with its full key) adds a staff member by phone number, name and role, and
//!   removes them; removing ends their sessions at once. A phone is on one merchant's staff at
//!   a time, so a sign-in knows which merchant it is for.
//! - A cashier's session may do what a till key may (take payments, look them up); a
//!   manager's may also refund, cancel and retry notifications. Neither may touch keys, staff
//!   or notification settings: those stay with the merchant's full key.
//! - Sign-in codes are the wallet's SMS codes with their own purpose and limits (a consumer's
//!   sign-in code never opens a till): 6 digits, 5 minutes, 5 attempts. The endpoints tell no
//!   one who works where: a code is recorded and limited for any number, texted only to staff
//!   and after the answer; every refused sign-in gets the same answer, without an attempts
//!   count. (Adding a number another merchant employs does say so: `staff_phone_taken`.)
//! - A merchant with no live full key (the operator revoked it) is locked, staff included; the
//!   revocation also ends every staff session. Refunds record who made them (`refunds.actor`).
//! - Sessions last a shift (12 hours), are bearer tokens with their own prefix, and are kept as
//!   keyed fingerprints.

use std::time::Duration;

use cashless_consumer::{Phone, rfc3339};
use cashless_kernel::secrets::random_hex;
use cashless_kernel::{ServiceError, ServiceResult, duration_ns};
use cashless_store::{Conn, DbError, Param};
use cashless_wallet::auth::{CodePurpose, CodeSent, Delivery, check_code};
use serde::{Deserialize, Serialize};

use crate::Payments;
use crate::ids::StaffId;
use crate::merchants::{KeyScope, MerchantCaller};

/// How long a staff session lasts: one shift.
pub const SHIFT: Duration = Duration::from_secs(12 * 3600);
/// Staff a merchant may have at once.
pub const STAFF_MAX: i64 = 500;
/// Staff session tokens: a prefix secret scanners can recognise, then 256 random bits.
const TOKEN_PREFIX: &str = "clst_";
const TOKEN_HEX_LEN: usize = 64;
const NAME_CHARS_MAX: usize = 32;

/// What a staff member may do at the till.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    /// Takes payments and looks them up.
    Cashier,
    /// Also refunds, cancels and retries notifications.
    Manager,
}

impl StaffRole {
    pub fn name(self) -> &'static str {
        match self {
            StaffRole::Cashier => "cashier",
            StaffRole::Manager => "manager",
        }
    }

    fn parse(text: &str) -> Option<StaffRole> {
        match text {
            "cashier" => Some(StaffRole::Cashier),
            "manager" => Some(StaffRole::Manager),
            _ => None,
        }
    }

    fn scope(self) -> KeyScope {
        match self {
            StaffRole::Cashier => KeyScope::Till,
            StaffRole::Manager => KeyScope::Manager,
        }
    }
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StaffInput {
    /// The staff member's mobile number: they sign in with a code sent to it.
    #[schema(example = "+8613912345678")]
    pub phone: String,
    #[schema(example = "Xiao Zhang")]
    pub name: String,
    pub role: StaffRole,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StaffView {
    pub id: String,
    pub name: String,
    /// Masked: `+86139****5678`.
    pub phone: String,
    pub role: StaffRole,
    pub created_at: String,
    /// The merchant key that added this member or last re-confirmed them; absent when the
    /// operator did. Revoking that key removes them.
    pub granted_by: Option<String>,
}

/// A staff member signed in to the till.
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct StaffSignedIn {
    /// The session's bearer token (`Authorization: Bearer …` on merchant API requests). Shown
    /// once; the platform keeps only its fingerprint.
    pub token: String,
    pub expires_at: String,
    pub staff: StaffView,
    pub merchant_id: String,
    pub merchant_name: String,
}

impl std::fmt::Debug for StaffSignedIn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaffSignedIn")
            .field("token", &"***")
            .field("staff", &self.staff)
            .field("merchant_id", &self.merchant_id)
            .finish_non_exhaustive()
    }
}

/// Who a staff session belongs to (`GET /v1/staff/me`).
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StaffMe {
    pub staff: StaffView,
    pub merchant_id: String,
    pub merchant_name: String,
}

fn parse_phone(text: &str) -> ServiceResult<Phone> {
    Phone::parse(text).map_err(|error| ServiceError::invalid(error.code(), error.to_string()))
}

fn staff_view(row: &cashless_store::Row) -> Result<StaffView, DbError> {
    let phone = row.text(2)?;
    Ok(StaffView {
        id: row.text(0)?.to_owned(),
        name: row.text(1)?.to_owned(),
        phone: Phone::parse(phone).map_or_else(|_| "••••".to_owned(), |phone| phone.masked()),
        role: StaffRole::parse(row.text(3)?)
            .ok_or_else(|| DbError::Decode(format!("staff role {:?}", row.text(3))))?,
        created_at: rfc3339(row.int(4)? as u64),
        granted_by: row.opt_text(5)?.map(str::to_owned),
    })
}

const STAFF_COLUMNS: &str = "id, name, phone, role, created_ns, granted_by";

fn code_refused() -> ServiceError {
    ServiceError::invalid(
        "staff_code_invalid",
        "the code is wrong or has expired; ask for a new one",
    )
}

fn staff_not_found() -> ServiceError {
    ServiceError::not_found("staff_not_found", "no such staff member")
}

fn merchant_name(conn: &mut Conn, merchant_id: &str) -> Result<String, DbError> {
    Ok(conn
        .query_opt(
            "SELECT display_name FROM merchants WHERE id = $1",
            &[Param::Text(merchant_id)],
        )?
        .map(|row| row.text(0).map(str::to_owned))
        .transpose()?
        .unwrap_or_default())
}

impl Payments {
    /// Adds a cashier or manager (the merchant's full key).
    pub async fn add_staff(
        &self,
        caller: MerchantCaller,
        input: StaffInput,
    ) -> ServiceResult<StaffView> {
        let granted_by = caller.granting_key()?;
        self.add_staff_to(caller.merchant_id, input, Some(granted_by))
            .await
    }

    /// Re-confirms a staff member with the merchant's current key, which then stands behind
    /// them: revoking the key that added them no longer removes them.
    pub async fn confirm_staff(
        &self,
        caller: MerchantCaller,
        staff_id: &StaffId,
    ) -> ServiceResult<()> {
        let granted_by = caller.granting_key()?;
        let staff_id = staff_id.as_str().to_owned();
        self.store
            .write(move |tx| {
                let conn = tx.conn()?;
                let row = conn.query_opt(
                    "SELECT granted_by FROM merchant_staff \
                     WHERE id = $1 AND merchant_id = $2 AND removed_ns IS NULL",
                    &[Param::Text(&staff_id), Param::Text(&caller.merchant_id)],
                )?;
                let Some(row) = row else {
                    return Err(staff_not_found());
                };
                // The operator's grants stand on no key: a key confirming one would make a
                // later revocation of that key take it.
                if row.opt_text(0)?.is_none() {
                    return Err(ServiceError::conflict(
                        "staff_granted_by_operator",
                        "the operator added this member: they stand on no key and need no confirming",
                    ));
                }
                conn.execute(
                    "UPDATE merchant_staff SET granted_by = $3 \
                     WHERE id = $1 AND merchant_id = $2 AND removed_ns IS NULL",
                    &[
                        Param::Text(&staff_id),
                        Param::Text(&caller.merchant_id),
                        Param::Text(&granted_by),
                    ],
                )?;
                Ok(())
            })
            .await
    }

    /// Adds a cashier or manager to a merchant: granted by a merchant key (`granted_by`), or
    /// by the operator (and the demo city) with none.
    pub async fn add_staff_to(
        &self,
        merchant_id: String,
        input: StaffInput,
        granted_by: Option<String>,
    ) -> ServiceResult<StaffView> {
        let phone = parse_phone(&input.phone)?;
        let name = input.name.trim().to_owned();
        if name.is_empty()
            || name.chars().count() > NAME_CHARS_MAX
            || name.chars().any(char::is_control)
        {
            return Err(ServiceError::invalid(
                "field_invalid",
                format!("name must be 1 to {NAME_CHARS_MAX} printable characters"),
            ));
        }
        let id = self.wallet.new_id_string();
        let role = input.role;
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let taken = conn.query_opt(
                    "SELECT merchant_id FROM merchant_staff WHERE phone = $1 AND removed_ns IS NULL",
                    &[Param::Text(phone.as_str())],
                )?;
                if let Some(row) = taken {
                    return Err(if row.text(0)? == merchant_id {
                        ServiceError::conflict(
                            "staff_exists",
                            "this number is already on your staff; remove it first to change the role",
                        )
                    } else {
                        ServiceError::conflict(
                            "staff_phone_taken",
                            "this number is on another merchant's staff; they must be removed there first",
                        )
                    });
                }
                let count = conn
                    .query_opt(
                        "SELECT COUNT(*) FROM merchant_staff WHERE merchant_id = $1 AND removed_ns IS NULL",
                        &[Param::Text(&merchant_id)],
                    )?
                    .map_or(Ok(0), |row| row.int(0))?;
                if count >= STAFF_MAX {
                    return Err(ServiceError::unprocessable(
                        "staff_max",
                        format!("at most {STAFF_MAX} staff; remove those who left first"),
                    ));
                }
                let inserted = conn.execute(
                    "INSERT INTO merchant_staff (id, merchant_id, phone, name, role, created_ns, granted_by) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    &[
                        Param::Text(&id),
                        Param::Text(&merchant_id),
                        Param::Text(phone.as_str()),
                        Param::Text(&name),
                        Param::Text(role.name()),
                        Param::Int(now as i64),
                        granted_by.as_deref().map_or(Param::Null, Param::Text),
                    ],
                );
                match inserted {
                    Err(error) if error.is_unique_violation() => {
                        return Err(ServiceError::conflict(
                            "staff_phone_taken",
                            "this number is on another merchant's staff; they must be removed there first",
                        ));
                    }
                    other => other?,
                };
                Ok(StaffView {
                    id,
                    name,
                    phone: phone.masked(),
                    role,
                    created_at: rfc3339(now),
                    granted_by: granted_by.clone(),
                })
            })
            .await
    }

    /// The merchant's staff, oldest first.
    pub async fn staff(&self, caller: MerchantCaller) -> ServiceResult<Vec<StaffView>> {
        caller.require_back_office()?;
        self.store
            .read(move |conn| {
                conn.query(
                    &format!(
                        "SELECT {STAFF_COLUMNS} FROM merchant_staff \
                         WHERE merchant_id = $1 AND removed_ns IS NULL ORDER BY created_ns, id"
                    ),
                    &[Param::Text(&caller.merchant_id)],
                )?
                .iter()
                .map(staff_view)
                .collect()
            })
            .await
            .map_err(ServiceError::from)
    }

    /// Removes a staff member (the merchant's full key): their sessions end at once.
    pub async fn remove_staff(
        &self,
        caller: MerchantCaller,
        staff_id: &StaffId,
    ) -> ServiceResult<()> {
        caller.require_full()?;
        let staff_id = staff_id.as_str().to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let removed = conn.execute(
                    "UPDATE merchant_staff SET removed_ns = $3 \
                     WHERE id = $1 AND merchant_id = $2 AND removed_ns IS NULL",
                    &[
                        Param::Text(&staff_id),
                        Param::Text(&caller.merchant_id),
                        Param::Int(now as i64),
                    ],
                )?;
                if removed == 0 {
                    return Err(staff_not_found());
                }
                conn.execute(
                    "UPDATE staff_sessions SET revoked_ns = $2 WHERE staff_id = $1 AND revoked_ns IS NULL",
                    &[Param::Text(&staff_id), Param::Int(now as i64)],
                )?;
                Ok(())
            })
            .await
    }

    /// Texts a till sign-in code to `phone` if it is on a merchant's staff. Answers the same
    /// either way, limits included; the second value tells the server (for demo mode, which
    /// shows the code) whether one went out. `wait_for_delivery` sends it before answering
    /// (demo mode, where the page shows it); otherwise it goes out in the background.
    pub async fn send_staff_code(
        &self,
        phone: &str,
        wait_for_delivery: bool,
    ) -> ServiceResult<(CodeSent, bool)> {
        let phone = parse_phone(phone)?;
        let number = phone.as_str().to_owned();
        let on_staff = self
            .store
            .read(move |conn| {
                Ok(conn
                    .query_opt(
                        "SELECT 1 FROM merchant_staff WHERE phone = $1 AND removed_ns IS NULL",
                        &[Param::Text(&number)],
                    )?
                    .is_some())
            })
            .await?;
        // Every number gets the same bookkeeping (the same limits, the same answers); only a
        // staff member's code is texted, after the answer, so time tells nothing either.
        let delivery = match (on_staff, wait_for_delivery) {
            (false, _) => Delivery::Never,
            (true, false) => Delivery::Background,
            (true, true) => Delivery::Now,
        };
        let sent = self
            .wallet
            .send_code_by(phone, CodePurpose::StaffSignIn, delivery)
            .await?;
        Ok((sent, on_staff))
    }

    /// Signs a staff member in with the code texted to them: a session for one shift.
    pub async fn staff_sign_in(&self, phone: &str, code: &str) -> ServiceResult<StaffSignedIn> {
        let phone = parse_phone(phone)?;
        let hash = self
            .wallet
            .code_hash(phone.as_str(), CodePurpose::StaffSignIn, code);
        let attempts_max = self.wallet.config().sms_attempts_max;
        let token = format!("{TOKEN_PREFIX}{}", random_hex(TOKEN_HEX_LEN / 2));
        let token_hash = self.staff_token_hash(&token);
        let number = phone.as_str().to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                // One answer for every refusal (wrong, expired, used, too many tries, no code):
                // attempts still count, but the answer does not tell a staff member's number
                // from anyone else's.
                if check_code(
                    conn,
                    &number,
                    CodePurpose::StaffSignIn,
                    &hash,
                    now,
                    attempts_max,
                )?
                .is_err()
                {
                    return Ok(Err(code_refused()));
                }
                let row = conn.query_opt(
                    &format!(
                        "SELECT {STAFF_COLUMNS}, merchant_id FROM merchant_staff \
                         WHERE phone = $1 AND removed_ns IS NULL"
                    ),
                    &[Param::Text(&number)],
                )?;
                // Removed between the code and the sign-in (or never staff: no code reached
                // them, so only a guess gets here).
                let Some(row) = row else {
                    return Ok(Err(code_refused()));
                };
                let merchant_id = row.text(6)?.to_owned();
                // A merchant whose full keys are all revoked is locked, staff included.
                let unlocked = conn.query_opt(
                    "SELECT 1 FROM merchant_keys WHERE merchant_id = $1 AND scope = 'full' \
                     AND (expires_ns IS NULL OR expires_ns > $2)",
                    &[Param::Text(&merchant_id), Param::Int(now as i64)],
                )?;
                if unlocked.is_none() {
                    return Ok(Err(ServiceError::forbidden(
                        "merchant_locked",
                        "this merchant's access is suspended: ask the merchant to contact Cashless",
                    )));
                }
                let staff = staff_view(&row)?;
                let expires_ns = now.saturating_add(duration_ns(SHIFT));
                conn.execute(
                    "INSERT INTO staff_sessions (token_hash, staff_id, merchant_id, created_ns, expires_ns) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[
                        Param::Text(&token_hash),
                        Param::Text(&staff.id),
                        Param::Text(&merchant_id),
                        Param::Int(now as i64),
                        Param::Int(expires_ns as i64),
                    ],
                )?;
                let merchant_name = merchant_name(conn, &merchant_id)?;
                Ok::<_, ServiceError>(Ok(StaffSignedIn {
                    token,
                    expires_at: rfc3339(expires_ns),
                    staff,
                    merchant_id,
                    merchant_name,
                }))
            })
            .await?
    }

    fn staff_token_hash(&self, token: &str) -> String {
        self.wallet.secrets().fingerprint(&["staff_session", token])
    }

    /// The caller a live staff session token stands for.
    pub(crate) async fn staff_caller(&self, token: &str) -> ServiceResult<MerchantCaller> {
        let well_formed = token.strip_prefix(TOKEN_PREFIX).is_some_and(|rest| {
            rest.len() == TOKEN_HEX_LEN && rest.bytes().all(|b| b.is_ascii_hexdigit())
        });
        if !well_formed {
            return Err(ServiceError::unauthorized());
        }
        let token_hash = self.staff_token_hash(token);
        let now = cashless_kernel::now_ns();
        let row = self
            .store
            .read_credentials(move |conn| {
                conn.query_opt(
                    "SELECT s.merchant_id, s.staff_id, m.role FROM staff_sessions s \
                     JOIN merchant_staff m ON m.id = s.staff_id \
                     WHERE s.token_hash = $1 AND s.revoked_ns IS NULL AND s.expires_ns > $2 \
                     AND m.removed_ns IS NULL AND EXISTS (SELECT 1 FROM merchant_keys k \
                       WHERE k.merchant_id = s.merchant_id AND k.scope = 'full' \
                       AND (k.expires_ns IS NULL OR k.expires_ns > $2))",
                    &[Param::Text(&token_hash), Param::Int(now as i64)],
                )?
                .map(|row| {
                    Ok::<_, DbError>((
                        row.text(0)?.to_owned(),
                        row.text(1)?.to_owned(),
                        row.text(2)?.to_owned(),
                    ))
                })
                .transpose()
            })
            .await?;
        let (merchant_id, staff_id, role) = row.ok_or_else(ServiceError::unauthorized)?;
        let role = StaffRole::parse(&role).ok_or_else(ServiceError::unauthorized)?;
        Ok(MerchantCaller::staff(merchant_id, staff_id, role.scope()))
    }

    /// Who the staff session is.
    pub async fn staff_me(&self, caller: MerchantCaller) -> ServiceResult<StaffMe> {
        let staff_id = caller.staff_id.clone().ok_or_else(|| {
            ServiceError::forbidden("not_staff", "this is a staff session endpoint")
        })?;
        self.store
            .read(move |conn| {
                let Some(row) = conn.query_opt(
                    &format!("SELECT {STAFF_COLUMNS} FROM merchant_staff WHERE id = $1"),
                    &[Param::Text(&staff_id)],
                )?
                else {
                    return Ok(None);
                };
                Ok(Some(StaffMe {
                    staff: staff_view(&row)?,
                    merchant_name: merchant_name(conn, &caller.merchant_id)?,
                    merchant_id: caller.merchant_id,
                }))
            })
            .await?
            .ok_or_else(staff_not_found)
    }

    /// Ends a staff session (signing out of the till).
    pub async fn staff_sign_out(&self, token: &str) -> ServiceResult<()> {
        let token_hash = self.staff_token_hash(token);
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                tx.conn()?.execute(
                    "UPDATE staff_sessions SET revoked_ns = $2 WHERE token_hash = $1 AND revoked_ns IS NULL",
                    &[Param::Text(&token_hash), Param::Int(now as i64)],
                )?;
                Ok::<_, ServiceError>(())
            })
            .await
    }
}
