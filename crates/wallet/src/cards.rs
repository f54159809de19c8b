//! Linking bank cards ("quick pay"): the card number is checked (Luhn, BIN), the holder's
//! name must match the verified real name, and the bank confirms with a one-time code it
//! texts to the holder. The platform keeps the bank's token and the last four digits only.
//! The first linked card raises the account to L2; removing the last one returns it to L1.

use cashless_consumer::{CardNumber, KycLevel, names_match, rfc3339};
use cashless_partners::BankError;
use cashless_store::{Conn, DbError, Param, Row};
use serde::Serialize;

use crate::auth::Session;
use crate::ids::{BindingId, CardId};
use crate::users::{self, int};
use crate::{ServiceError, ServiceResult, Wallet};

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CardView {
    pub id: String,
    pub last4: String,
    #[schema(example = "unionpay")]
    pub network: String,
    #[schema(example = "debit")]
    pub kind: String,
    #[schema(example = "icbc")]
    pub issuer_code: Option<String>,
    pub issuer_name: Option<String>,
    pub holder_name: String,
    /// For screens: `ICBC debit ••••1234`.
    pub display: String,
    /// Whether top-ups may be in a foreign currency (international networks), converted to CNY.
    pub foreign_currency_top_up: bool,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CardBinding {
    /// Confirm with `POST /v1/me/cards/bindings/{binding_id}/confirm` and the bank's code.
    pub binding_id: String,
    #[schema(example = "otp_sent")]
    pub status: String,
    pub last4: String,
    pub network: String,
    pub kind: String,
    pub issuer_name: Option<String>,
    /// Demo mode only (`cashless serve --demo`): the code the simulated bank texted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub demo_code: Option<String>,
}

/// A linked card, as the funding module needs it.
#[derive(Clone, Debug)]
pub(crate) struct CardRow {
    pub view: CardView,
}

const CARD_COLUMNS: &str = "id, token, last4, network, kind, issuer_code, issuer_name, \
                            holder_name, created_ns";

fn decode_card(row: &Row) -> Result<CardRow, DbError> {
    let network = row.text(3)?.to_owned();
    let kind = row.text(4)?.to_owned();
    let last4 = row.text(2)?.to_owned();
    let issuer_code = row.opt_text(5)?.map(str::to_owned);
    let issuer_name = row.opt_text(6)?.map(str::to_owned);
    let bank = issuer_code
        .as_deref()
        .map_or_else(|| network_label(&network), str::to_ascii_uppercase);
    let display = format!("{bank} {kind} ••••{last4}");
    Ok(CardRow {
        view: CardView {
            id: row.text(0)?.to_owned(),
            foreign_currency_top_up: network != "unionpay",
            last4,
            network,
            kind,
            issuer_code,
            issuer_name,
            holder_name: row.text(7)?.to_owned(),
            display,
            created_at: rfc3339(row.int(8)? as u64),
        },
    })
}

fn network_label(network: &str) -> String {
    match network {
        "unionpay" => "UnionPay".to_owned(),
        "visa" => "Visa".to_owned(),
        "mastercard" => "Mastercard".to_owned(),
        "jcb" => "JCB".to_owned(),
        "amex" => "American Express".to_owned(),
        other => other.to_owned(),
    }
}

/// The user's linked card `card_id`, if it is theirs and still linked.
pub(crate) fn active_card(
    conn: &mut Conn,
    user_id: &str,
    card_id: &str,
) -> Result<Option<CardRow>, DbError> {
    let sql = format!(
        "SELECT {CARD_COLUMNS} FROM cards WHERE id = $1 AND user_id = $2 AND removed_ns IS NULL"
    );
    conn.query_opt(&sql, &[Param::Text(card_id), Param::Text(user_id)])?
        .as_ref()
        .map(decode_card)
        .transpose()
}

fn already_linked() -> ServiceError {
    ServiceError::conflict(
        "card_already_linked",
        "this card is already linked to your account",
    )
}

pub(crate) fn card_not_found() -> ServiceError {
    ServiceError::not_found("card_not_found", "no such card linked to this account")
}

fn bank_error(error: BankError) -> ServiceError {
    match error {
        BankError::Unavailable => ServiceError::unavailable(
            "bank_unavailable",
            "the bank did not answer; try again in a moment",
        ),
        BankError::Declined(reason) => {
            ServiceError::unprocessable("bank_declined", format!("the bank declined: {reason}"))
        }
        BankError::InvalidOtp => {
            ServiceError::invalid("otp_invalid", "the bank's verification code is wrong")
        }
        BankError::BindingExpired => ServiceError::invalid(
            "otp_expired",
            "the bank's verification code expired or was tried too often; link the card again",
        ),
        BankError::Conflict => ServiceError::internal("bank request id reused"),
    }
}

impl Wallet {
    /// Starts linking a card: the bank texts the holder a code.
    pub async fn start_card_binding(
        &self,
        session: &Session,
        number: &str,
        holder_name: &str,
    ) -> ServiceResult<CardBinding> {
        let card = CardNumber::parse(number)
            .map_err(|error| ServiceError::invalid(error.code(), error.to_string()))?;
        let user_id = session.user_id.clone();
        let fingerprint = self.secrets.fingerprint(&["card", card.expose()]);
        let lookup = fingerprint.clone();
        let (user, linked) = self
            .store
            .read(move |conn| {
                let user = users::by_id(conn, &user_id)?;
                let linked = conn
                    .query_opt(
                        "SELECT id FROM cards WHERE user_id = $1 AND fingerprint = $2 \
                         AND removed_ns IS NULL",
                        &[Param::Text(&user_id), Param::Text(&lookup)],
                    )?
                    .is_some();
                Ok((user, linked))
            })
            .await?;
        let user = user.ok_or_else(ServiceError::unauthorized)?;
        let Some(real_name) = user
            .real_name
            .as_deref()
            .filter(|_| user.kyc_level >= KycLevel::L1)
        else {
            return Err(ServiceError::forbidden(
                "real_name_required",
                "verify your real name before linking a card",
            ));
        };
        if !names_match(holder_name, real_name) {
            return Err(ServiceError::unprocessable(
                "card_holder_mismatch",
                "the cardholder's name must be the account's verified real name",
            ));
        }
        if linked {
            return Err(already_linked());
        }
        let started = self
            .partners
            .bank
            .start_binding(&card, real_name, &user.phone)
            .await
            .map_err(bank_error)?;
        let bin = card.bin();
        let binding = CardBinding {
            demo_code: None,
            binding_id: self.new_id_string(),
            status: "otp_sent".to_owned(),
            last4: card.last4().to_owned(),
            network: bin.network.name().to_owned(),
            kind: bin.kind.name().to_owned(),
            issuer_name: bin.issuer.map(|issuer| issuer.name.to_owned()),
        };
        let row = binding.clone();
        let user_id = session.user_id.clone();
        let holder = real_name.to_owned();
        let issuer_code = bin.issuer.map(|issuer| issuer.code);
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                tx.conn()?.execute(
                    "INSERT INTO card_bindings (id, user_id, bank_binding_id, fingerprint, last4, \
                     network, kind, issuer_code, issuer_name, holder_name, created_ns) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    &[
                        Param::Text(&row.binding_id),
                        Param::Text(&user_id),
                        Param::Text(&started.binding_id),
                        Param::Text(&fingerprint),
                        Param::Text(&row.last4),
                        Param::Text(&row.network),
                        Param::Text(&row.kind),
                        Param::opt_text(issuer_code),
                        Param::opt_text(row.issuer_name.as_deref()),
                        Param::Text(&holder),
                        int(now),
                    ],
                )?;
                Ok::<_, ServiceError>(())
            })
            .await?;
        Ok(binding)
    }

    /// Completes a binding with the bank's code. Confirming a completed binding again answers
    /// the same card.
    pub async fn confirm_card_binding(
        &self,
        session: &Session,
        binding_id: &BindingId,
        otp: &str,
    ) -> ServiceResult<CardView> {
        let user_id = session.user_id.clone();
        let id = binding_id.as_str().to_owned();
        let binding = self
            .store
            .read(move |conn| {
                conn.query_opt(
                    "SELECT bank_binding_id, card_id FROM card_bindings WHERE id = $1 AND user_id = $2",
                    &[Param::Text(&id), Param::Text(&user_id)],
                )
            })
            .await?
            .ok_or_else(BindingId::not_found)?;
        if let Some(card_id) = binding.opt_text(1)? {
            return self.card(session, &CardId::parse(card_id)?).await;
        }
        let token = self
            .partners
            .bank
            .confirm_binding(binding.text(0)?, otp.trim())
            .await
            .map_err(bank_error)?;
        let user_id = session.user_id.clone();
        let binding_id = binding_id.to_owned();
        let card_id = self.new_id_string();
        let card = self
            .store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                let existing = conn.query_opt(
                    "SELECT card_id FROM card_bindings WHERE id = $1",
                    &[Param::Text(binding_id.as_str())],
                )?;
                if let Some(card_id) = existing
                    .as_ref()
                    .and_then(|row| row.opt_text(0).ok().flatten())
                {
                    return active_card(conn, &user_id, card_id)?.ok_or_else(card_not_found);
                }
                let inserted = conn.execute(
                    "INSERT INTO cards (id, user_id, token, fingerprint, last4, network, kind, \
                     issuer_code, issuer_name, holder_name, created_ns) \
                     SELECT $1, user_id, $2, fingerprint, last4, network, kind, issuer_code, \
                     issuer_name, holder_name, $3 FROM card_bindings WHERE id = $4",
                    &[
                        Param::Text(&card_id),
                        Param::Text(&token.0),
                        int(now),
                        Param::Text(binding_id.as_str()),
                    ],
                );
                match inserted {
                    Ok(_) => {}
                    Err(error) if error.is_unique_violation() => return Err(already_linked()),
                    Err(error) => return Err(error.into()),
                }
                conn.execute(
                    "UPDATE card_bindings SET card_id = $2 WHERE id = $1",
                    &[Param::Text(binding_id.as_str()), Param::Text(&card_id)],
                )?;
                let user = users::require(conn, &user_id)?;
                if user.kyc_level == KycLevel::L1 {
                    users::set_kyc_level(conn, &user_id, KycLevel::L2)?;
                }
                active_card(conn, &user_id, &card_id)?.ok_or_else(card_not_found)
            })
            .await?;
        Ok(card.view)
    }

    pub async fn cards(&self, session: &Session) -> ServiceResult<Vec<CardView>> {
        let user_id = session.user_id.clone();
        let rows = self
            .store
            .read(move |conn| {
                let sql = format!(
                    "SELECT {CARD_COLUMNS} FROM cards WHERE user_id = $1 AND removed_ns IS NULL \
                     ORDER BY created_ns"
                );
                conn.query(&sql, &[Param::Text(&user_id)])?
                    .iter()
                    .map(decode_card)
                    .collect::<Result<Vec<_>, _>>()
            })
            .await?;
        Ok(rows.into_iter().map(|card| card.view).collect())
    }

    pub async fn card(&self, session: &Session, card_id: &CardId) -> ServiceResult<CardView> {
        let user_id = session.user_id.clone();
        let card_id = card_id.as_str().to_owned();
        self.store
            .read(move |conn| active_card(conn, &user_id, &card_id))
            .await?
            .map(|card| card.view)
            .ok_or_else(card_not_found)
    }

    /// Unlinks a card. Refused while a top-up or withdrawal on it is in flight.
    pub async fn remove_card(&self, session: &Session, card_id: &CardId) -> ServiceResult<()> {
        let user_id = session.user_id.clone();
        let card_id = card_id.as_str().to_owned();
        self.store
            .write(move |tx| {
                let now = tx.now_ns();
                let conn = tx.conn()?;
                if active_card(conn, &user_id, &card_id)?.is_none() {
                    return Err(card_not_found());
                }
                let in_flight = conn
                    .query_opt(
                        "SELECT id FROM funding WHERE card_id = $1 AND status = 'processing' LIMIT 1",
                        &[Param::Text(&card_id)],
                    )?
                    .is_some();
                if in_flight {
                    return Err(ServiceError::conflict(
                        "card_in_use",
                        "a top-up or withdrawal with this card is still in progress",
                    ));
                }
                conn.execute(
                    "UPDATE cards SET removed_ns = $2 WHERE id = $1",
                    &[Param::Text(&card_id), int(now)],
                )?;
                let left = conn
                    .query_opt(
                        "SELECT COUNT(*) FROM cards WHERE user_id = $1 AND removed_ns IS NULL",
                        &[Param::Text(&user_id)],
                    )?
                    .map_or(Ok(0), |row| row.int(0))?;
                let user = users::require(conn, &user_id)?;
                if left == 0 && user.kyc_level == KycLevel::L2 {
                    users::set_kyc_level(conn, &user_id, KycLevel::L1)?;
                }
                Ok(())
            })
            .await
    }
}
