//! An encoder independent of the crate's, for hand-made payloads.

use cashless_emvqr::crc16_ccitt_false;

/// One data object: id, length in characters, value.
pub fn tlv(id: &str, value: &str) -> String {
    format!("{id}{:02}{value}", value.chars().count())
}

/// Appends "6304" and the CRC over everything before it.
pub fn with_crc(body: &str) -> String {
    let mut payload = format!("{body}6304");
    let crc = crc16_ccitt_false(payload.as_bytes());
    payload.push_str(&format!("{crc:04X}"));
    payload
}

/// A valid body as (id, value) pairs, for tests to change one thing at a time.
pub fn base_objects() -> Vec<(String, String)> {
    [
        ("00", "01".to_owned()),
        ("26", tlv("00", "com.example") + &tlv("01", "acct-1")),
        ("52", "5812".to_owned()),
        ("53", "156".to_owned()),
        ("58", "CN".to_owned()),
        ("59", "BEST TRANSPORT".to_owned()),
        ("60", "BEIJING".to_owned()),
    ]
    .into_iter()
    .map(|(id, value)| (id.to_owned(), value))
    .collect()
}

/// `base_objects` with `id` set to `value` (replaced in place, or appended).
pub fn base_with(changes: &[(&str, Option<&str>)]) -> String {
    let mut objects = base_objects();
    for (id, value) in changes {
        let index = objects.iter().position(|(existing, _)| existing == id);
        match (index, value) {
            (Some(index), Some(value)) => objects[index].1 = (*value).to_owned(),
            (Some(index), None) => {
                objects.remove(index);
            }
            (None, Some(value)) => objects.push(((*id).to_owned(), (*value).to_owned())),
            (None, None) => {}
        }
    }
    let body: String = objects.iter().map(|(id, value)| tlv(id, value)).collect();
    with_crc(&body)
}
