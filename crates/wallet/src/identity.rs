//! Real-name verification: a resident identity card (GB 11643) or, for foreign visitors, a
//! passport. The document is never stored: a keyed fingerprint makes "one identity verifies at
//! most one account" enforceable, and a masked form is kept for screens.

use cashless_consumer::{Date, KycLevel, Passport, ResidentId, is_plausible_name};
use cashless_store::Param;

use crate::auth::Session;
use crate::users::{self, int};
use crate::{ServiceError, ServiceResult, Wallet};

/// A document as the consumer typed it. `Debug` shows the kind only.
#[derive(Clone)]
pub enum IdentityInput {
    ResidentId {
        name: String,
        number: String,
    },
    Passport {
        name: String,
        country: String,
        number: String,
        nationality: String,
        date_of_birth: String,
    },
}

impl std::fmt::Debug for IdentityInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            IdentityInput::ResidentId { .. } => "ResidentId(***)",
            IdentityInput::Passport { .. } => "Passport(***)",
        })
    }
}

struct Verified {
    name: String,
    kind: &'static str,
    fingerprint: String,
    masked: String,
    nationality: String,
}

impl Wallet {
    /// Verifies the caller's real name, raising them from L0 to L1.
    pub async fn verify_identity(
        &self,
        session: &Session,
        input: IdentityInput,
    ) -> ServiceResult<()> {
        let today = Date::china_day(crate::now_ns());
        let verified = match input {
            IdentityInput::ResidentId { name, number } => {
                let name = real_name(&name)?;
                let id = ResidentId::parse(&number, today).map_err(|error| {
                    ServiceError::unprocessable(error.code(), error.to_string())
                })?;
                Verified {
                    name,
                    kind: "resident_id",
                    fingerprint: self
                        .secrets
                        .fingerprint(&["identity", "CHN-RIC", id.as_str()]),
                    masked: id.masked(),
                    nationality: "CHN".to_owned(),
                }
            }
            IdentityInput::Passport {
                name,
                country,
                number,
                nationality,
                date_of_birth,
            } => {
                let name = real_name(&name)?;
                let passport =
                    Passport::parse(&country, &number, &nationality, &date_of_birth, today)
                        .map_err(|error| {
                            ServiceError::unprocessable(error.code(), error.to_string())
                        })?;
                Verified {
                    name,
                    kind: "passport",
                    fingerprint: self.secrets.fingerprint(&[
                        "identity",
                        "passport",
                        &passport.country,
                        &passport.number,
                    ]),
                    masked: passport.masked(),
                    nationality: passport.nationality.clone(),
                }
            }
        };
        let user_id = session.user_id.clone();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let user = users::require(conn, &user_id)?;
                if user.kyc_level >= KycLevel::L1 {
                    return Err(ServiceError::conflict(
                        "already_verified",
                        "this account's real name is already verified",
                    ));
                }
                let inserted = conn.execute(
                    "INSERT INTO identities (fingerprint, user_id, created_ns) VALUES ($1, $2, $3)",
                    &[Param::Text(&verified.fingerprint), Param::Text(&user_id), int(now)],
                );
                match inserted {
                    Ok(_) => {}
                    Err(error) if error.is_unique_violation() => {
                        return Err(ServiceError::conflict(
                            "identity_already_used",
                            "this identity document already verifies another account",
                        ));
                    }
                    Err(error) => return Err(error.into()),
                }
                conn.execute(
                    "UPDATE users SET kyc_level = $2, real_name = $3, id_kind = $4, id_masked = $5, \
                     nationality = $6 WHERE id = $1",
                    &[
                        Param::Text(&user_id),
                        Param::Int(KycLevel::L1.as_i64()),
                        Param::Text(&verified.name),
                        Param::Text(verified.kind),
                        Param::Text(&verified.masked),
                        Param::Text(&verified.nationality),
                    ],
                )?;
                Ok(())
            })
            .await
    }
}

fn real_name(name: &str) -> ServiceResult<String> {
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    if !is_plausible_name(&name) {
        return Err(ServiceError::unprocessable(
            "name_invalid",
            "write the name exactly as on the document",
        ));
    }
    Ok(name)
}
