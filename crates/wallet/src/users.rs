//! The `users` row and the queries every module needs.

use cashless_consumer::KycLevel;
use cashless_ledger::AccountId;
use cashless_store::{Conn, DbError, Param, Row};

use crate::{ServiceError, ServiceResult};

#[derive(Clone, Debug)]
pub(crate) struct UserRow {
    pub id: String,
    pub phone: String,
    pub kyc_level: KycLevel,
    pub real_name: Option<String>,
    pub id_kind: Option<String>,
    pub id_masked: Option<String>,
    pub nationality: Option<String>,
    pub wallet: AccountId,
    pub pin_hash: Option<String>,
    pub pin_failures: u32,
    pub pin_locked_until_ns: u64,
    /// The linked card a payment falls back to when the balance is short.
    pub fallback_card_id: Option<String>,
}

const COLUMNS: &str = "id, phone, kyc_level, real_name, id_kind, id_masked, nationality, \
                       wallet_account_id, pin_hash, pin_failures, pin_locked_until_ns, \
                       fallback_card_id";

fn decode(row: &Row) -> Result<UserRow, DbError> {
    let level = row.int(2)?;
    Ok(UserRow {
        id: row.text(0)?.to_owned(),
        phone: row.text(1)?.to_owned(),
        kyc_level: KycLevel::from_i64(level)
            .ok_or_else(|| DbError::Decode(format!("kyc level {level}")))?,
        real_name: row.opt_text(3)?.map(str::to_owned),
        id_kind: row.opt_text(4)?.map(str::to_owned),
        id_masked: row.opt_text(5)?.map(str::to_owned),
        nationality: row.opt_text(6)?.map(str::to_owned),
        wallet: AccountId(row.u128(7)?),
        pin_hash: row.opt_text(8)?.map(str::to_owned),
        pin_failures: u32::try_from(row.int(9)?).unwrap_or(u32::MAX),
        pin_locked_until_ns: u64::try_from(row.int(10)?).unwrap_or(0),
        fallback_card_id: row.opt_text(11)?.map(str::to_owned),
    })
}

pub(crate) fn by_id(conn: &mut Conn, id: &str) -> Result<Option<UserRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE id = $1");
    conn.query_opt(&sql, &[Param::Text(id)])?
        .as_ref()
        .map(decode)
        .transpose()
}

pub(crate) fn by_phone(conn: &mut Conn, phone: &str) -> Result<Option<UserRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM users WHERE phone = $1");
    conn.query_opt(&sql, &[Param::Text(phone)])?
        .as_ref()
        .map(decode)
        .transpose()
}

/// The signed-in user's row; a session whose user is gone is no session.
pub(crate) fn require(conn: &mut Conn, id: &str) -> ServiceResult<UserRow> {
    by_id(conn, id)?.ok_or_else(ServiceError::unauthorized)
}

pub(crate) fn set_kyc_level(conn: &mut Conn, id: &str, level: KycLevel) -> Result<(), DbError> {
    conn.execute(
        "UPDATE users SET kyc_level = $2 WHERE id = $1",
        &[Param::Text(id), Param::Int(level.as_i64())],
    )?;
    Ok(())
}

pub(crate) fn int(value: u64) -> Param<'static> {
    Param::Int(i64::try_from(value).unwrap_or(i64::MAX))
}
