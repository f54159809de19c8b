//! The payment PIN.
//!
//! - Six digits, never a trivial sequence (see `cashless_consumer::check_new_pin`).
//! - Stored as argon2id with a random salt AND the platform's pepper as argon2's secret input:
//!   six digits are only a million guesses, so a stolen database alone must not be enough.
//! - Hashing and verifying run on the blocking pool, never on the writer's thread.
//! - Five wrong PINs in a row lock PIN payments for three hours. Changing the PIN needs the old
//!   PIN or an SMS code; the SMS route also lifts a lock (the "forgot PIN" path).

use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use cashless_consumer::{Phone, check_new_pin, china_time, rfc3339};
use cashless_store::Param;
use serde_json::json;

use crate::auth::{CodePurpose, CodeSent, Session, check_code};
use crate::users::{self, int};
use crate::{ErrorKind, ServiceError, ServiceResult, Wallet, duration_ns};

/// How the caller proves they may change the PIN. `Debug` never shows the secret.
#[derive(Clone)]
pub enum PinProof {
    OldPin(String),
    SmsCode(String),
}

impl std::fmt::Debug for PinProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PinProof::OldPin(_) => "OldPin(***)",
            PinProof::SmsCode(_) => "SmsCode(***)",
        })
    }
}

impl Wallet {
    fn argon2(&self) -> ServiceResult<Argon2<'_>> {
        let params = Params::new(
            self.config.pin_hash_memory_kib,
            self.config.pin_hash_passes,
            1,
            None,
        )
        .map_err(|error| ServiceError::internal(format!("argon2 parameters: {error}")))?;
        Argon2::new_with_secret(
            self.secrets.pepper(),
            Algorithm::Argon2id,
            Version::V0x13,
            params,
        )
        .map_err(|error| ServiceError::internal(format!("argon2 secret: {error}")))
    }

    async fn hash_pin(self: &std::sync::Arc<Self>, pin: String) -> ServiceResult<String> {
        let _permit = self.pin_hashing.acquire().await.map_err(|_| {
            ServiceError::unavailable("shutting_down", "the service is shutting down")
        })?;
        let wallet = std::sync::Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            let hash = wallet
                .argon2()?
                .hash_password(pin.as_bytes())
                .map_err(|error| ServiceError::internal(format!("argon2: {error}")))?;
            Ok(hash.to_string())
        })
        .await
        .map_err(|error| ServiceError::internal(error.to_string()))?
    }

    async fn pin_matches(
        self: &std::sync::Arc<Self>,
        pin: String,
        hash: String,
    ) -> ServiceResult<bool> {
        let _permit = self.pin_hashing.acquire().await.map_err(|_| {
            ServiceError::unavailable("shutting_down", "the service is shutting down")
        })?;
        let wallet = std::sync::Arc::clone(self);
        tokio::task::spawn_blocking(move || {
            match wallet
                .argon2()?
                .verify_password(pin.as_bytes(), hash.as_str())
            {
                Ok(()) => Ok(true),
                Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
                Err(error) => Err(ServiceError::internal(format!("argon2: {error}"))),
            }
        })
        .await
        .map_err(|error| ServiceError::internal(error.to_string()))?
    }

    /// Sets the first PIN.
    pub async fn set_pin(
        self: &std::sync::Arc<Self>,
        session: &Session,
        pin: &str,
    ) -> ServiceResult<()> {
        new_pin(pin)?;
        let hash = self.hash_pin(pin.to_owned()).await?;
        let user_id = session.user_id.clone();
        self.store
            .write(move |tx| {
                let changed = tx.conn()?.execute(
                    "UPDATE users SET pin_hash = $2, pin_failures = 0, pin_locked_until_ns = 0 \
                     WHERE id = $1 AND pin_hash IS NULL",
                    &[Param::Text(&user_id), Param::Text(&hash)],
                )?;
                if changed == 0 {
                    return Err(ServiceError::conflict(
                        "pin_already_set",
                        "a PIN is already set; change it with the old PIN or an SMS code",
                    ));
                }
                Ok(())
            })
            .await
    }

    /// Checks the PIN for a payment or a change, counting failures and locking after too many.
    pub async fn verify_pin(
        self: &std::sync::Arc<Self>,
        session: &Session,
        pin: &str,
    ) -> ServiceResult<()> {
        // Nothing typed is not a try: it neither counts nor reaches the hash.
        if pin.trim().is_empty() {
            return Err(ServiceError::invalid(
                "pin_missing",
                "type the 6-digit payment PIN",
            ));
        }
        let user = self.user(session).await?;
        let hash = user
            .pin_hash
            .clone()
            .ok_or_else(|| ServiceError::conflict("pin_not_set", "set a payment PIN first"))?;
        let now = crate::now_ns();
        if user.pin_locked_until_ns > now {
            return Err(locked(user.pin_locked_until_ns));
        }
        // Anything not PIN-shaped is simply wrong: it still counts as an attempt.
        let matches =
            cashless_consumer::is_pin_shaped(pin) && self.pin_matches(pin.to_owned(), hash).await?;
        let user_id = session.user_id.clone();
        let attempts_max = i64::from(self.config.pin_attempts_max);
        let lock_ns = duration_ns(self.config.pin_lock);
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let user = users::require(conn, &user_id)?;
                if user.pin_locked_until_ns > now {
                    return Ok(Err(locked(user.pin_locked_until_ns)));
                }
                if matches {
                    if user.pin_failures > 0 {
                        conn.execute(
                            "UPDATE users SET pin_failures = 0 WHERE id = $1",
                            &[Param::Text(&user_id)],
                        )?;
                    }
                    return Ok(Ok(()));
                }
                let failures = i64::from(user.pin_failures) + 1;
                if failures >= attempts_max {
                    let until = now.saturating_add(lock_ns);
                    conn.execute(
                        "UPDATE users SET pin_failures = 0, pin_locked_until_ns = $2 WHERE id = $1",
                        &[Param::Text(&user_id), int(until)],
                    )?;
                    tracing::warn!(user = %user_id, "PIN locked after repeated failures");
                    return Ok(Err(locked(until)));
                }
                conn.execute(
                    "UPDATE users SET pin_failures = $2 WHERE id = $1",
                    &[Param::Text(&user_id), Param::Int(failures)],
                )?;
                let left = attempts_max - failures;
                Ok::<_, ServiceError>(Err(ServiceError::forbidden(
                    "pin_incorrect",
                    format!("the PIN is wrong; {left} attempts left before PIN payments lock"),
                )
                .with_details(json!({ "attempts_left": left }))))
            })
            .await?
    }

    /// Texts a code that allows changing the PIN without the old one; answers where it went
    /// too (E.164), for demo mode to show it.
    pub async fn send_pin_reset_code(&self, session: &Session) -> ServiceResult<(CodeSent, Phone)> {
        let user = self.user(session).await?;
        let phone = Phone::parse(&user.phone)
            .map_err(|error| ServiceError::internal(format!("stored phone: {error}")))?;
        let sent = self.send_code(phone.clone(), CodePurpose::ResetPin).await?;
        Ok((sent, phone))
    }

    /// Changes the PIN, proven by the old PIN or a reset code.
    pub async fn change_pin(
        self: &std::sync::Arc<Self>,
        session: &Session,
        proof: PinProof,
        new: &str,
    ) -> ServiceResult<()> {
        new_pin(new)?;
        let code_hash = match &proof {
            PinProof::OldPin(old) => {
                self.verify_pin(session, old).await?;
                if old == new {
                    return Err(ServiceError::unprocessable(
                        "pin_unchanged",
                        "the new PIN must differ from the old one",
                    ));
                }
                None
            }
            PinProof::SmsCode(code) => {
                let user = self.user(session).await?;
                Some((
                    user.phone.clone(),
                    self.code_hash(&user.phone, CodePurpose::ResetPin, code),
                ))
            }
        };
        let hash = self.hash_pin(new.to_owned()).await?;
        let user_id = session.user_id.clone();
        let attempts_max = self.config.sms_attempts_max;
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let user = users::require(conn, &user_id)?;
                if user.pin_hash.is_none() {
                    return Ok(Err(ServiceError::conflict(
                        "pin_not_set",
                        "set a payment PIN first",
                    )));
                }
                if let Some((phone, code_hash)) = &code_hash
                    && let Err(refused) = check_code(
                        conn,
                        phone,
                        CodePurpose::ResetPin,
                        code_hash,
                        now,
                        attempts_max,
                    )?
                {
                    return Ok(Err(refused));
                }
                conn.execute(
                    "UPDATE users SET pin_hash = $2, pin_failures = 0, pin_locked_until_ns = 0 \
                     WHERE id = $1",
                    &[Param::Text(&user_id), Param::Text(&hash)],
                )?;
                Ok::<_, ServiceError>(Ok(()))
            })
            .await?
    }
}

fn new_pin(pin: &str) -> ServiceResult<()> {
    check_new_pin(pin).map_err(|error| ServiceError::unprocessable(error.code(), error.to_string()))
}

fn locked(until_ns: u64) -> ServiceError {
    ServiceError::new(
        ErrorKind::Locked,
        "pin_locked",
        format!(
            "too many wrong PINs: PIN payments are locked until {}; reset the PIN with an SMS code to unlock now",
            china_time(until_ns)
        ),
    )
    .with_details(json!({ "locked_until": rfc3339(until_ns) }))
}
