//! JSON Lines rows: one object per line, keys are the column names.
//!
//! Deserialised by hand (no intermediate `serde_json::Value`) so strings without escapes are
//! borrowed from the line, unknown and duplicate keys are named in the error, and values
//! may be a string, `null` or, for list columns, an array of strings.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::columns::Column;
use crate::record::{Cell, RawRow};

/// Parses one JSON Lines row.
pub(crate) fn parse_json_row(line: &str) -> Result<RawRow<'_>, String> {
    serde_json::from_str::<JsonRow<'_>>(line)
        .map(|r| r.0)
        .map_err(|e| e.to_string())
}

struct JsonRow<'a>(RawRow<'a>);

impl<'de> Deserialize<'de> for JsonRow<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = JsonRow<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a json object with fleet file keys")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut row = RawRow::default();
        while let Some(Key(column)) = map.next_key()? {
            let JsonCell(cell) = map.next_value()?;
            // A null still counts as given, so `{"imsi":null,"imsi":"1"}` is a duplicate too.
            let cell = cell.unwrap_or(Cell::Text(Cow::Borrowed("")));
            if !row.set(column, cell) {
                return Err(de::Error::custom(format_args!(
                    "duplicate key {:?}",
                    column.name()
                )));
            }
        }
        Ok(JsonRow(row))
    }
}

struct Key(Column);

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a fleet file key")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Column::from_name(v).map(Key).ok_or_else(|| {
                    let shown: String = v.chars().take(64).collect();
                    E::custom(format_args!(
                        "unknown key {shown:?} (expected one of {})",
                        Column::expected_names()
                    ))
                })
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

/// A value: `None` for null.
struct JsonCell<'a>(Option<Cell<'a>>);

impl<'de> Deserialize<'de> for JsonCell<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct CellVisitor;
        impl<'de> Visitor<'de> for CellVisitor {
            type Value = JsonCell<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, an array of strings or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(JsonCell(Some(Cell::Text(Cow::Borrowed(v)))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(JsonCell(Some(Cell::Text(Cow::Owned(v.to_owned())))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(JsonCell(Some(Cell::Text(Cow::Owned(v)))))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonCell(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(JsonCell(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
                while let Some(Item(s)) = seq.next_element()? {
                    items.push(s);
                }
                Ok(JsonCell(Some(Cell::List(items))))
            }
        }
        d.deserialize_any(CellVisitor)
    }
}

/// One string in an array.
struct Item<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Item<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ItemVisitor;
        impl<'de> Visitor<'de> for ItemVisitor {
            type Value = Item<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Item(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Item(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Item(Cow::Owned(v)))
            }
        }
        d.deserialize_str(ItemVisitor)
    }
}
