//! Idempotency by a caller's key: the key's rules, and the record an earlier request with the
//! same key left (its fingerprint and the movement or payment it made), read outside the writer
//! or inside a write. Shared by top-ups, withdrawals and payments.

use cashless_store::{Conn, DbError, WriteTx};

use crate::{ServiceError, ServiceResult};

/// Idempotency keys: 1 to 128 visible ASCII characters, e.g. a UUID.
pub fn idempotency_key(key: Option<&str>) -> ServiceResult<String> {
    let key = key.map(str::trim).unwrap_or_default();
    if key.is_empty() {
        return Err(ServiceError::invalid(
            "idempotency_key_required",
            "send an Idempotency-Key header (e.g. a UUID) with every request that moves money",
        ));
    }
    if key.len() > 128 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ServiceError::invalid(
            "idempotency_key_invalid",
            "an Idempotency-Key is 1 to 128 visible ASCII characters",
        ));
    }
    Ok(key.to_owned())
}

/// The idempotency record of the user's `key`, for a reader outside the writer: the
/// request's fingerprint and the movement it made.
pub fn idempotency_record(
    conn: &mut Conn,
    user_id: &str,
    key: &str,
) -> Result<Option<(String, String)>, DbError> {
    Ok(cashless_store::idempotency_record(conn, user_id, key)?
        .map(|record| (record.fingerprint, record.resource_id)))
}

/// The idempotency record of the user's `key`, in a write operation (this batch's included).
pub fn idempotency_record_in(
    tx: &mut WriteTx<'_, '_>,
    user_id: &str,
    key: &str,
) -> Result<Option<(String, String)>, DbError> {
    Ok(tx
        .idempotency(user_id, key)?
        .map(|record| (record.fingerprint, record.resource_id)))
}

/// The movement an earlier request with the same key made, if any; an error if that request
/// asked for something else.
pub fn replayed(
    record: Option<(String, String)>,
    fingerprint: &str,
) -> ServiceResult<Option<String>> {
    match record {
        None => Ok(None),
        Some((earlier, id)) if earlier == fingerprint => Ok(Some(id)),
        Some(_) => Err(ServiceError::unprocessable(
            "idempotency_key_reused",
            "this Idempotency-Key was already used for a different request",
        )),
    }
}
