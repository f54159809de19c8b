//! Named bounds from EMVCo MPM v1.0 (Table 3.6-3.8) and the QR symbol, all in characters
//! (Unicode scalar values) unless the name says bytes.

/// The largest value any data object can declare: the length field has two digits.
pub const VALUE_CHARS_MAX: usize = 99;
/// Payloads we write stay within the spec's "should not exceed 512 characters" (4.1).
pub const PAYLOAD_CHARS_MAX: usize = 512;
/// Payloads we read may exceed 512 (real SGQR codes are over 1000 characters), but nothing
/// longer than a version 40-L QR symbol in byte mode can come from a scan.
pub const PAYLOAD_BYTES_MAX: usize = 2953;
/// Sub-ID 00 of templates 26-51, 80-99 and 62/50-99: the globally unique identifier.
pub const GUI_CHARS_MAX: usize = 32;
/// ID 59, and 64/01 (the merchant name in the alternate language).
pub const MERCHANT_NAME_CHARS_MAX: usize = 25;
/// ID 60, and 64/02. Enforced when writing; see [`MERCHANT_CITY_READ_CHARS_MAX`] for reading.
pub const MERCHANT_CITY_CHARS_MAX: usize = 15;
/// Real codes name cities longer than 15 characters ("Banteay Meanchey", a Cambodian
/// province, in a published KH code), so a reader that honours the 15 would refuse payments
/// the payer's own bank accepts. We read up to the TLV limit and write at most 15.
pub const MERCHANT_CITY_READ_CHARS_MAX: usize = VALUE_CHARS_MAX;
/// ID 61.
pub const POSTAL_CODE_CHARS_MAX: usize = 10;
/// IDs 54 and 56.
pub const AMOUNT_CHARS_MAX: usize = 13;
/// ID 57, "00.01" to "99.99".
pub const FEE_PERCENTAGE_CHARS_MAX: usize = 5;
/// Sub-IDs 01-08 of the additional data template 62.
pub const ADDITIONAL_DATA_CHARS_MAX: usize = 25;
/// Sub-ID 09 of template 62: "A", "M", "E", each at most once.
pub const CONSUMER_DATA_REQUEST_CHARS_MAX: usize = 3;
