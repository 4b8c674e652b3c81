//! Cursor pagination for every list endpoint.
//!
//! A cursor is the sort key of the last item a page returned, encoded as opaque URL-safe
//! base64 of compact JSON. The next page asks the index for items strictly after that key,
//! so pages neither skip nor repeat items when others are inserted meanwhile (unlike
//! offsets), and each page costs one index range scan whatever its depth.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bson::oid::ObjectId;
use serde::{Deserialize, Serialize};

/// Items per page when `limit` is not given.
pub const DEFAULT_LIMIT: u32 = 20;
/// Largest `limit` accepted.
pub const MAX_LIMIT: u32 = 100;
/// Longest cursor accepted (a real one is far shorter).
const MAX_CURSOR_LEN: usize = 256;

/// The position after the last item of a page, in the list's sort order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// `is_pinned` of the last item, for lists sorted pinned-first.
    #[serde(rename = "p", default, skip_serializing_if = "Option::is_none")]
    pub pinned: Option<bool>,
    /// `created_at` of the last item, in milliseconds since the epoch.
    #[serde(rename = "t")]
    pub created_at_ms: i64,
    /// Id of the last item (breaks ties between equal timestamps).
    #[serde(rename = "i")]
    pub id: ObjectId,
}

/// A cursor that is not one this service issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the cursor is malformed; use the next_cursor of a previous page")]
pub struct BadCursor;

impl Cursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        let json = serde_json::to_vec(self).expect("a cursor always serializes");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses text from a client; anything but a well-formed cursor is an error.
    pub fn decode(text: &str) -> Result<Self, BadCursor> {
        if text.is_empty() || text.len() > MAX_CURSOR_LEN {
            return Err(BadCursor);
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| BadCursor)?;
        serde_json::from_slice::<Self>(&bytes).map_err(|_| BadCursor)
    }
}

/// Clamps a requested page size: `None` → default; values outside 1..=100 are refused.
pub fn page_limit(requested: Option<u32>) -> Result<u32, crate::domain::Invalid> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(crate::domain::Invalid::new(
            "limit",
            format!("must be between 1 and {MAX_LIMIT}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let cursor = Cursor {
            pinned: Some(true),
            created_at_ms: 1_700_000_000_123,
            id: ObjectId::new(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
        let plain = Cursor {
            pinned: None,
            ..cursor
        };
        assert_eq!(Cursor::decode(&plain.encode()), Ok(plain));
    }

    #[test]
    fn rejects_anything_else() {
        let valid = Cursor {
            pinned: None,
            created_at_ms: 1,
            id: ObjectId::new(),
        }
        .encode();
        for bad in [
            "",
            "not base64!",
            "e30",                             // {}
            &URL_SAFE_NO_PAD.encode(b"[1,2]"), // JSON, wrong shape
            &URL_SAFE_NO_PAD.encode(br#"{"t":1,"i":"nothex"}"#),
            &"A".repeat(300),
            &valid[..valid.len() - 3],
        ] {
            assert_eq!(Cursor::decode(bad), Err(BadCursor), "{bad:?} accepted");
        }
    }

    #[test]
    fn limits() {
        assert_eq!(page_limit(None).unwrap(), 20);
        assert_eq!(page_limit(Some(100)).unwrap(), 100);
        assert!(page_limit(Some(0)).is_err());
        assert!(page_limit(Some(101)).is_err());
    }
}
