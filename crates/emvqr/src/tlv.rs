//! The ID/length/value layer: two-digit id, two-digit length in characters, value.

use serde::{Serialize, Serializer};

use crate::error::ParseError;
use crate::path::FieldPath;

/// Ids print as the two digits of the wire format ("05", not 5).
pub(crate) fn serialize_id<S: Serializer>(id: &u8, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(&format_args!("{id:02}"))
}

/// One data object, kept so that re-encoding reproduces the payload it came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct DataObject {
    #[serde(serialize_with = "serialize_id")]
    pub id: u8,
    #[serde(flatten)]
    pub value: Value,
}

/// A data object's value: text, or nested data objects for templates.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Value {
    #[serde(rename = "value")]
    Primitive(String),
    #[serde(rename = "objects")]
    Template(Vec<DataObject>),
}

impl DataObject {
    pub fn primitive(id: u8, value: impl Into<String>) -> Self {
        Self {
            id,
            value: Value::Primitive(value.into()),
        }
    }

    pub fn template(id: u8, objects: Vec<DataObject>) -> Self {
        Self {
            id,
            value: Value::Template(objects),
        }
    }

    /// The text of a primitive, `None` for a template.
    pub fn as_primitive(&self) -> Option<&str> {
        match &self.value {
            Value::Primitive(text) => Some(text),
            Value::Template(_) => None,
        }
    }

    /// The value as it appears on the wire.
    pub fn value_text(&self) -> String {
        match &self.value {
            Value::Primitive(text) => text.clone(),
            Value::Template(objects) => encode_objects(objects),
        }
    }

    /// Appends id, length and value. The caller guarantees the value is 1..=99 characters:
    /// parsed objects are by construction, built ones are checked by the builder.
    pub(crate) fn encode_into(&self, out: &mut String) {
        let value = self.value_text();
        out.push_str(&format!("{:02}{:02}", self.id, value.chars().count()));
        out.push_str(&value);
    }
}

pub(crate) fn encode_objects(objects: &[DataObject]) -> String {
    let mut out = String::new();
    for object in objects {
        object.encode_into(&mut out);
    }
    out
}

/// A data object as found in the text, before interpretation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawObject<'a> {
    pub id: u8,
    pub value: &'a str,
    /// Character offset of the object's header within the whole payload.
    pub position: usize,
    /// Byte offset of the value within the tokenized text.
    pub value_byte: usize,
}

impl RawObject<'_> {
    pub fn path(&self, template: Option<u8>) -> FieldPath {
        FieldPath {
            template,
            id: self.id,
        }
    }

    /// Character offset of the value within the whole payload (the header is 4 ASCII digits).
    pub fn value_position(&self) -> usize {
        self.position + HEADER_CHARS
    }
}

const HEADER_CHARS: usize = 4;

/// Splits `text` into data objects. `base_position` is the character offset of `text` in
/// the payload and `template` the enclosing root template, both only for error reports.
/// Ids must be unique within one level (4.3.1.2).
pub(crate) fn tokenize(
    text: &str,
    base_position: usize,
    template: Option<u8>,
) -> Result<Vec<RawObject<'_>>, ParseError> {
    let mut objects = Vec::new();
    let mut seen = [false; 100];
    let mut rest = text;
    let mut position = base_position;
    let mut byte = 0;
    while !rest.is_empty() {
        let (id, declared) = read_header(rest, position, template)?;
        let path = FieldPath { template, id };
        let after_header = &rest[HEADER_CHARS..];
        let Some((value, next)) = split_chars(after_header, declared) else {
            return Err(ParseError::LengthMismatch {
                id: path,
                position,
                declared,
                available: after_header.chars().count(),
            });
        };
        let slot = &mut seen[usize::from(id)];
        if *slot {
            return Err(ParseError::DuplicateField { id: path });
        }
        *slot = true;
        objects.push(RawObject {
            id,
            value,
            position,
            value_byte: byte + HEADER_CHARS,
        });
        byte += HEADER_CHARS + value.len();
        position += HEADER_CHARS + declared;
        rest = next;
    }
    Ok(objects)
}

/// Reads the 4-digit header. On success the first 4 bytes of `rest` are ASCII digits, so
/// slicing `rest[4..]` is on a character boundary.
fn read_header(
    rest: &str,
    position: usize,
    template: Option<u8>,
) -> Result<(u8, usize), ParseError> {
    let mut chars = rest.chars();
    let (Some(i0), Some(i1), Some(l0), Some(l1)) =
        (chars.next(), chars.next(), chars.next(), chars.next())
    else {
        return Err(ParseError::Truncated { template, position });
    };
    let Some(id) = two_digits(i0, i1) else {
        return Err(ParseError::BadId {
            template,
            position,
            found: [i0, i1].iter().collect(),
        });
    };
    match two_digits(l0, l1) {
        Some(declared) if declared > 0 => Ok((id, usize::from(declared))),
        _ => Err(ParseError::BadLength {
            id: FieldPath { template, id },
            position,
            found: [l0, l1].iter().collect(),
        }),
    }
}

fn two_digits(tens: char, ones: char) -> Option<u8> {
    let tens = u8::try_from(tens.to_digit(10)?).ok()?;
    let ones = u8::try_from(ones.to_digit(10)?).ok()?;
    Some(tens * 10 + ones)
}

/// Splits after `count` characters, `None` if `text` is shorter.
fn split_chars(text: &str, count: usize) -> Option<(&str, &str)> {
    let mut seen = 0;
    for (index, _) in text.char_indices() {
        if seen == count {
            return Some(text.split_at(index));
        }
        seen += 1;
    }
    (seen == count).then_some((text, ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_count_characters_not_bytes() {
        let objects = tokenize("0104最佳运输0202北京", 10, Some(64)).unwrap();
        assert_eq!(objects.len(), 2);
        assert_eq!(objects[0].value, "最佳运输");
        assert_eq!(objects[1].value, "北京");
        assert_eq!(objects[1].position, 18);
        assert_eq!(objects[1].value_byte, 16 + 4);
    }

    #[test]
    fn header_errors() {
        assert!(matches!(
            tokenize("630", 0, None),
            Err(ParseError::Truncated { position: 0, .. })
        ));
        assert!(matches!(
            tokenize("AA0212", 0, None),
            Err(ParseError::BadId { .. })
        ));
        assert!(matches!(
            tokenize("000A01", 0, None),
            Err(ParseError::BadLength { .. })
        ));
        assert!(matches!(
            tokenize("0000", 0, None),
            Err(ParseError::BadLength { .. })
        ));
        assert!(matches!(
            tokenize("0105abc", 0, None),
            Err(ParseError::LengthMismatch {
                declared: 5,
                available: 3,
                ..
            })
        ));
        assert!(matches!(
            tokenize("01011010102", 0, None),
            Err(ParseError::DuplicateField { .. })
        ));
    }

    #[test]
    fn split_chars_edges() {
        assert_eq!(split_chars("abc", 0), Some(("", "abc")));
        assert_eq!(split_chars("abc", 3), Some(("abc", "")));
        assert_eq!(split_chars("北京x", 2), Some(("北京", "x")));
        assert_eq!(split_chars("ab", 3), None);
    }

    #[test]
    fn encode_reproduces_tokenized_text() {
        let object = DataObject::template(
            64,
            vec![
                DataObject::primitive(0, "ZH"),
                DataObject::primitive(1, "最佳运输"),
            ],
        );
        let mut out = String::new();
        object.encode_into(&mut out);
        assert_eq!(out, "64140002ZH0104最佳运输");
        assert_eq!(FieldPath::sub(62, 5).to_string(), "62.05");
        assert_eq!(FieldPath::root(9).to_string(), "09");
    }
}
