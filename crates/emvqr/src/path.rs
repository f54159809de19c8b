//! Where a data object sits in a payload, for errors and for encoding.

use std::fmt;

use serde::{Serialize, Serializer};

/// Where a data object sits: a root id ("59") or a sub-id inside a root template ("62.05").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldPath {
    /// The root template holding the object, `None` for a root object.
    pub template: Option<u8>,
    pub id: u8,
}

impl FieldPath {
    pub const fn root(id: u8) -> Self {
        Self { template: None, id }
    }

    pub const fn sub(template: u8, id: u8) -> Self {
        Self {
            template: Some(template),
            id,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.template {
            None => write!(f, "{:02}", self.id),
            Some(template) => write!(f, "{template:02}.{:02}", self.id),
        }
    }
}

impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}
