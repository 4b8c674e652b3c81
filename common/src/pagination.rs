//! Cursor pagination for every list endpoint.
//!
//! A cursor is the sort key of the last item a page returned, encoded as opaque URL-safe
//! base64 of compact JSON. The next page asks the index for items strictly after that key,
//! so pages neither skip nor repeat items when others are inserted meanwhile (unlike
//! offsets), and each page costs one index range scan whatever its depth.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use bson::{DateTime, Document, doc, oid::ObjectId};
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
        encode_wire(self)
    }

    /// Parses text from a client; anything but a well-formed cursor is an error.
    pub fn decode(text: &str) -> Result<Self, BadCursor> {
        decode_wire(text)
    }
}

/// A cursor's wire form: URL-safe base64 of its JSON.
fn encode_wire<T: Serialize>(cursor: &T) -> String {
    let json = serde_json::to_vec(cursor).expect("a cursor always serializes");
    URL_SAFE_NO_PAD.encode(json)
}

/// The cursor `text` encodes; anything but the exact text [`encode_wire`] makes of a
/// well-formed cursor is refused (one text per position).
fn decode_wire<T: Serialize + serde::de::DeserializeOwned>(text: &str) -> Result<T, BadCursor> {
    if text.is_empty() || text.len() > MAX_CURSOR_LEN {
        return Err(BadCursor);
    }
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| BadCursor)?;
    let cursor = serde_json::from_slice::<T>(&bytes).map_err(|_| BadCursor)?;
    if encode_wire(&cursor) != text {
        return Err(BadCursor);
    }
    Ok(cursor)
}

/// Where a search goes on: in the user's session `session` (its place in the newest-first
/// order of sessions), after its question `question` (its place in the session's
/// newest-first order), or from the session's newest question when `question` is absent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchCursor {
    /// The session to go on in.
    #[serde(rename = "s")]
    pub session: Cursor,
    /// The last question examined in it.
    #[serde(rename = "q", default, skip_serializing_if = "Option::is_none")]
    pub question: Option<Cursor>,
}

impl SearchCursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        encode_wire(self)
    }

    /// Parses text from a client; anything but a well-formed cursor is an error.
    pub fn decode(text: &str) -> Result<Self, BadCursor> {
        let cursor: Self = decode_wire(text)?;
        if cursor.session.pinned.is_some() || cursor.question.is_some_and(|q| q.pinned.is_some()) {
            return Err(BadCursor);
        }
        Ok(cursor)
    }
}

impl Cursor {
    /// Filter for items strictly after this cursor in newest-first order
    /// (`created_at` desc, `_id` desc). A cursor of a pinned-first list is refused.
    pub fn after_newest(&self) -> Result<Document, BadCursor> {
        if self.pinned.is_some() {
            return Err(BadCursor);
        }
        let t = DateTime::from_millis(self.created_at_ms);
        Ok(doc! { "$or": [
            { "created_at": { "$lt": t } },
            { "created_at": t, "_id": { "$lt": self.id } },
        ] })
    }

    /// Filter for this item and every one after it in newest-first order (`created_at`
    /// desc, `_id` desc).
    pub fn from_newest(&self) -> Document {
        let t = DateTime::from_millis(self.created_at_ms);
        doc! { "$or": [
            { "created_at": { "$lt": t } },
            { "created_at": t, "_id": { "$lte": self.id } },
        ] }
    }

    /// Filter for items strictly after this cursor in pinned-first, then newest order
    /// (`is_pinned` desc, `created_at` desc, `_id` desc). `false` sorts before `true`.
    pub fn after_pinned_newest(&self) -> Result<Document, BadCursor> {
        let p = self.pinned.ok_or(BadCursor)?;
        let t = DateTime::from_millis(self.created_at_ms);
        Ok(doc! { "$or": [
            { "is_pinned": { "$lt": p } },
            { "is_pinned": p, "created_at": { "$lt": t } },
            { "is_pinned": p, "created_at": t, "_id": { "$lt": self.id } },
        ] })
    }
}

/// The position after an item in a list sorted by a unique string key alone, descending
/// (job ids: ULIDs sort by creation time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyCursor(pub String);

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyCursorWire {
    k: String,
}

impl KeyCursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        encode_wire(&KeyCursorWire { k: self.0.clone() })
    }

    /// Parses text from a client; anything but a well-formed cursor is an error.
    pub fn decode(text: &str) -> Result<Self, BadCursor> {
        decode_wire::<KeyCursorWire>(text).map(|wire| Self(wire.k))
    }
}

/// One page of a list, and where the next one starts (`None` on the last page).
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T, C = Cursor> {
    /// The items, in list order.
    pub items: Vec<T>,
    /// The position after the last item, when more items follow.
    pub next: Option<C>,
}

/// A page of a list sorted by a string key.
pub type KeyPage<T> = Page<T, KeyCursor>;

impl<T> KeyPage<T> {
    /// Like [`Page::from_overfetch`], keyed by `key_of`.
    pub fn from_overfetch_keyed(items: Vec<T>, limit: u32, key_of: impl Fn(&T) -> String) -> Self {
        Page::overfetched(items, limit, |t| KeyCursor(key_of(t)))
    }
}

impl<T> Page<T> {
    /// Builds a page from a query that asked for `limit + 1` items: the extra item only
    /// tells that another page exists.
    pub fn from_overfetch(items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> Cursor) -> Self {
        Page::overfetched(items, limit, cursor_of)
    }
}

impl<T, C> Page<T, C> {
    fn overfetched(mut items: Vec<T>, limit: u32, cursor_of: impl Fn(&T) -> C) -> Self {
        let limit = limit as usize;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(cursor_of)
        } else {
            None
        };
        Self { items, next }
    }

    /// The same page with each item transformed.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U, C> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next: self.next,
        }
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
    fn overfetch_decides_whether_a_next_page_exists() {
        let key = |n: &i64| Cursor {
            pinned: None,
            created_at_ms: *n,
            id: ObjectId::from_bytes([0; 12]),
        };
        let full = Page::from_overfetch(vec![5, 4, 3], 2, key);
        assert_eq!(full.items, [5, 4]);
        assert_eq!(full.next.map(|c| c.created_at_ms), Some(4));
        let last = Page::from_overfetch(vec![5, 4], 2, key);
        assert_eq!((last.items.len(), last.next), (2, None));
    }

    #[test]
    fn cursors_belong_to_one_kind_of_list() {
        let plain = Cursor {
            pinned: None,
            created_at_ms: 1,
            id: ObjectId::new(),
        };
        let pinned = Cursor {
            pinned: Some(false),
            ..plain
        };
        assert!(plain.after_newest().is_ok() && plain.after_pinned_newest().is_err());
        assert!(pinned.after_pinned_newest().is_ok() && pinned.after_newest().is_err());
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        fn cursor() -> impl Strategy<Value = Cursor> {
            (
                proptest::option::of(any::<bool>()),
                any::<i64>(),
                any::<[u8; 12]>(),
            )
                .prop_map(|(pinned, created_at_ms, id)| Cursor {
                    pinned,
                    created_at_ms,
                    id: ObjectId::from_bytes(id),
                })
        }

        proptest! {
            /// Every cursor we issue reads back as itself.
            #[test]
            fn issued_cursors_round_trip(c in cursor(), k in "\\PC{0,60}") {
                prop_assert_eq!(Cursor::decode(&c.encode()), Ok(c));
                let key = KeyCursor(k);
                prop_assert_eq!(KeyCursor::decode(&key.encode()), Ok(key));
            }

            /// Arbitrary text never panics, and whatever is accepted is exactly an encoding
            /// we would issue (no second spelling of a position is accepted).
            #[test]
            fn arbitrary_text_is_refused_or_canonical(text in "\\PC{0,300}") {
                if let Ok(c) = Cursor::decode(&text) {
                    prop_assert_eq!(c.encode(), text.clone());
                }
                if let Ok(k) = KeyCursor::decode(&text) {
                    prop_assert_eq!(k.encode(), text);
                }
            }

            /// Base64 of arbitrary bytes (JSON-looking or not) is refused unless canonical.
            #[test]
            fn arbitrary_payloads_are_refused_or_canonical(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
                let text = URL_SAFE_NO_PAD.encode(&bytes);
                if let Ok(c) = Cursor::decode(&text) {
                    prop_assert_eq!(c.encode(), text);
                }
            }

            /// A cursor with one character changed, dropped or added is refused or is
            /// another canonical cursor; never a panic.
            #[test]
            fn corrupted_cursors_are_refused_or_canonical(c in cursor(), at in any::<prop::sample::Index>(), ch in any::<char>(), op in 0..3u8) {
                let mut chars: Vec<char> = c.encode().chars().collect();
                let i = at.index(chars.len());
                match op {
                    0 => chars[i] = ch,
                    1 => { chars.remove(i); }
                    _ => chars.insert(i, ch),
                }
                let text: String = chars.into_iter().collect();
                if let Ok(other) = Cursor::decode(&text) {
                    prop_assert_eq!(other.encode(), text);
                }
            }
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
