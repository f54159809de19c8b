//! Ids as types. An id from outside (a path, a body, a scanned code) is checked where it enters
//! and from there on names only its kind of thing: a `StoreId` cannot be passed where a
//! `TerminalId` is expected, and a service never sees a string that is not shaped like an id
//! this platform issues.
//!
//! Each service declares its kinds (`IdKind`: the refusal when no such thing exists), so this
//! crate knows no store, card or event by name.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use crate::ServiceError;

/// A kind of thing that has ids, and how its absence is told.
pub trait IdKind {
    /// The stable code of "no such one", e.g. `store_not_found`.
    const NOT_FOUND: &'static str;
    /// Its message in plain words, e.g. "no such store of this merchant".
    const NOT_FOUND_MESSAGE: &'static str;
}

/// The id of one `K`: a UUID as this platform issues them, in the text it arrived in.
pub struct Id<K> {
    text: String,
    kind: PhantomData<fn() -> K>,
}

impl<K: IdKind> Id<K> {
    /// Checks an id from outside: anything not shaped like one of ours cannot name a `K`,
    /// and is answered "not found" before any service or database is asked.
    pub fn parse(text: &str) -> Result<Id<K>, ServiceError> {
        if crate::wire::is_id(text) {
            Ok(Id {
                text: text.to_owned(),
                kind: PhantomData,
            })
        } else {
            Err(Id::<K>::not_found())
        }
    }

    /// An optional id from outside.
    pub fn parse_opt(text: Option<&str>) -> Result<Option<Id<K>>, ServiceError> {
        text.map(Id::parse).transpose()
    }

    /// A fresh id for a new `K`.
    pub fn new(ids: &crate::Ids) -> Id<K> {
        Id {
            text: ids.new_id_string(),
            kind: PhantomData,
        }
    }

    /// The refusal for a `K` that does not exist (or is not the caller's).
    pub fn not_found() -> ServiceError {
        ServiceError::not_found(K::NOT_FOUND, K::NOT_FOUND_MESSAGE)
    }
}

impl<K> Id<K> {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn into_string(self) -> String {
        self.text
    }
}

impl<K> Clone for Id<K> {
    fn clone(&self) -> Id<K> {
        Id {
            text: self.text.clone(),
            kind: PhantomData,
        }
    }
}

impl<K> PartialEq for Id<K> {
    fn eq(&self, other: &Id<K>) -> bool {
        self.text == other.text
    }
}

impl<K> Eq for Id<K> {}

impl<K> Hash for Id<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.text.hash(state);
    }
}

impl<K> fmt::Debug for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<K> fmt::Display for Id<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<K> AsRef<str> for Id<K> {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

/// Declares id kinds: `id_kinds! { Store(StoreId) = ("store_not_found", "no such store"); }`
/// makes the marker `Store`, its [`IdKind`] and the alias `StoreId = Id<Store>`.
#[macro_export]
macro_rules! id_kinds {
    ($($(#[$doc:meta])* $kind:ident($alias:ident) = ($code:literal, $message:literal);)*) => {
        $(
            $(#[$doc])*
            #[derive(Debug)]
            pub enum $kind {}

            impl $crate::ids::IdKind for $kind {
                const NOT_FOUND: &'static str = $code;
                const NOT_FOUND_MESSAGE: &'static str = $message;
            }

            $(#[$doc])*
            pub type $alias = $crate::ids::Id<$kind>;
        )*
    };
}

#[cfg(test)]
mod tests {

    crate::id_kinds! {
        Thing(ThingId) = ("thing_not_found", "no such thing");
        Other(OtherId) = ("other_not_found", "no such other");
    }

    #[test]
    fn only_ids_of_ours_parse_and_the_refusal_is_the_kinds() {
        let text = "0190a4b2-7c1e-7a3b-9f00-123456789abc";
        let id = ThingId::parse(text).unwrap();
        assert_eq!(id.as_str(), text);
        for bad in [
            "",
            "12",
            "not-an-id",
            "0190a4b2-7c1e-7a3b-9f00-123456789abcdef",
            "\0",
        ] {
            let refusal = ThingId::parse(bad).unwrap_err();
            assert_eq!(refusal.code, "thing_not_found");
            assert_eq!(refusal.message, "no such thing");
            assert_eq!(OtherId::parse(bad).unwrap_err().code, "other_not_found");
        }
        assert_eq!(ThingId::parse_opt(None).unwrap(), None);
        assert!(ThingId::parse_opt(Some("x")).is_err());
    }
}
