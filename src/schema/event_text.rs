//! The event text as stored. `eventjson` gives every event back whole, but most of its bytes
//! are values that other columns of the same row already hold verbatim: the event and request
//! ids, the user agent, the request, response and additional-data maps. Kept twice they cost about 0.7× the
//! gzipped trail, so the stored text holds a short reference in their place and the scan puts
//! the values back: queries, the checksum and the dedup all see the original text, byte for byte.
//!
//! A reference is `\x01 CODE [INDEX] ["] \x02`: CODE is the letter the schema gives the column
//! (`text_ref`), INDEX the entry's position in the row's map (map columns only), and `"` says the
//! column holds the content of a JSON string that the text had quoted. Valid JSON never holds the
//! byte 0x01, so text stored by older versions (without references) reads unchanged.
//!
//! A value is referenced only when putting it back gives the original bytes exactly: strings
//! without escapes (the column holds exactly what was between the quotes) and other JSON values
//! written without whitespace (the column holds them as written).

use std::borrow::Cow;

use datafusion::arrow::array::{Array, AsArray, LargeStringArray, MapArray, StringArray, StringViewArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::record_batch::RecordBatch;

use super::EventSchema;

/// First and last byte of a reference.
const REF_START: u8 = 0x01;
const REF_END: u8 = 0x02;

/// Values shorter than this stay in the text: a reference costs four to six bytes, and short
/// values compress to almost nothing where they are.
pub const MIN_REFERENCED_LEN: usize = 24;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EventTextError {
    #[error("stored event text has a malformed reference at byte {0}")]
    Malformed(usize),
    #[error("stored event text refers to column `{0}`, which this scan does not have")]
    UnknownColumn(char),
    #[error("stored event text refers to a value the row does not have (column `{0}`, entry {1:?})")]
    MissingValue(char, Option<u32>),
}

/// A value of an event's text that one of its columns holds: bytes `start..end` of the text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reference {
    pub start: usize,
    pub end: usize,
    pub code: u8,
    /// Entry position in a map column's row.
    pub index: Option<u32>,
    /// The column holds the content of a JSON string (the text has it quoted).
    pub quoted: bool,
}

impl Reference {
    /// A reference to `value` — a slice of `text` — if it is long enough to be worth it and the
    /// column's `stored` form of it is the text's own bytes: the value itself, or for a JSON
    /// string the bytes between its quotes (not an unescaped or compacted copy).
    pub fn to(text: &str, value: &str, stored: &str, code: u8, index: Option<u32>) -> Option<Self> {
        if value.len() < MIN_REFERENCED_LEN {
            return None;
        }
        let start = (value.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
        let end = start + value.len();
        if end > text.len() {
            return None;
        }
        let quoted = value.starts_with('"');
        let inner = if quoted { value.get(1..value.len() - 1)? } else { value };
        let same_bytes = std::ptr::eq(stored.as_ptr(), inner.as_ptr()) && stored.len() == inner.len();
        same_bytes.then_some(Self { start, end, code, index, quoted })
    }
}

/// Writes `text` to `out` with the ranges of `refs` replaced by references. `refs` may come in
/// any order but must not overlap (they are values of distinct fields or entries).
pub fn write_stored<W: std::fmt::Write>(text: &str, refs: &mut [Reference], out: &mut W) -> std::fmt::Result {
    refs.sort_unstable_by_key(|r| r.start);
    let mut at = 0;
    for r in refs.iter() {
        if r.start < at {
            continue; // Overlap cannot happen; keeping the text whole is the safe answer if it did.
        }
        out.write_str(&text[at..r.start])?;
        out.write_char(REF_START as char)?;
        out.write_char(r.code as char)?;
        if let Some(i) = r.index {
            write!(out, "{i}")?;
        }
        if r.quoted {
            out.write_char('"')?;
        }
        out.write_char(REF_END as char)?;
        at = r.end;
    }
    out.write_str(&text[at..])
}

/// String values of one column, whichever string layout the reader produced.
#[derive(Debug, Clone, Copy)]
enum Strings<'a> {
    Plain(&'a StringArray),
    Large(&'a LargeStringArray),
    View(&'a StringViewArray),
}

impl<'a> Strings<'a> {
    fn of(a: &'a dyn Array) -> Option<Self> {
        match a.data_type() {
            DataType::Utf8 => Some(Self::Plain(a.as_string::<i32>())),
            DataType::LargeUtf8 => Some(Self::Large(a.as_string::<i64>())),
            DataType::Utf8View => Some(Self::View(a.as_string_view())),
            _ => None,
        }
    }

    fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            Self::Plain(a) => a.is_valid(i).then(|| a.value(i)),
            Self::Large(a) => a.is_valid(i).then(|| a.value(i)),
            Self::View(a) => a.is_valid(i).then(|| a.value(i)),
        }
    }
}

/// A column references can point at.
#[derive(Debug)]
enum Values<'a> {
    Strings(Strings<'a>),
    Map { map: &'a MapArray, values: Strings<'a> },
}

/// The referenced columns of one batch, by code.
#[derive(Debug, Default)]
pub struct Referenced<'a> {
    columns: Vec<(u8, Values<'a>)>,
}

impl<'a> Referenced<'a> {
    /// Adds the column `code` refers to. Columns of another type are ignored (their references
    /// then fail to resolve, loudly).
    pub fn add(&mut self, code: u8, column: &'a dyn Array) {
        let values = match column.data_type() {
            DataType::Map(..) => {
                let map = column.as_map();
                match Strings::of(map.values().as_ref()) {
                    Some(values) => Values::Map { map, values },
                    None => return,
                }
            }
            _ => match Strings::of(column) {
                Some(s) => Values::Strings(s),
                None => return,
            },
        };
        self.columns.push((code, values));
    }

    /// The referenced columns `batch` holds, found by their schema names.
    pub fn of_batch(schema: &EventSchema, batch: &'a RecordBatch) -> Self {
        let mut r = Self::default();
        for (name, code) in schema.text_ref_columns() {
            if let Some(c) = batch.column_by_name(name) {
                r.add(code, c.as_ref());
            }
        }
        r
    }

    fn value(&self, row: usize, code: u8, index: Option<u32>) -> Result<&'a str, EventTextError> {
        let missing = || EventTextError::MissingValue(code as char, index);
        let Some((_, values)) = self.columns.iter().find(|(c, _)| *c == code) else {
            return Err(EventTextError::UnknownColumn(code as char));
        };
        match (values, index) {
            (Values::Strings(s), None) => s.get(row).ok_or_else(missing),
            (Values::Map { map, values }, Some(k)) => {
                if map.is_null(row) {
                    return Err(missing());
                }
                let offsets = map.value_offsets();
                let (lo, hi) = (offsets[row] as usize, offsets[row + 1] as usize);
                let at = lo + k as usize;
                if at >= hi {
                    return Err(missing());
                }
                values.get(at).ok_or_else(missing)
            }
            _ => Err(missing()),
        }
    }
}

/// Whether a stored text holds references (else it is the original text).
pub fn has_references(stored: &str) -> bool {
    memchr::memchr(REF_START, stored.as_bytes()).is_some()
}

/// Appends the original text of row `row` to `out`: `stored` with its references resolved
/// against the row's columns.
pub fn restore(stored: &str, row: usize, columns: &Referenced<'_>, out: &mut String) -> Result<(), EventTextError> {
    let bytes = stored.as_bytes();
    let mut at = 0;
    while let Some(p) = memchr::memchr(REF_START, &bytes[at..]) {
        let start = at + p;
        out.push_str(&stored[at..start]);
        let end =
            memchr::memchr(REF_END, &bytes[start..]).map(|e| start + e).ok_or(EventTextError::Malformed(start))?;
        // Between the markers: the code letter, optional digits, optional quote (all ASCII).
        let body = &bytes[start + 1..end];
        let (&code, rest) = body.split_first().ok_or(EventTextError::Malformed(start))?;
        let (digits, quoted) = match rest.split_last() {
            Some((b'"', d)) => (d, true),
            _ => (rest, false),
        };
        let index = match digits {
            [] => None,
            d => Some(
                std::str::from_utf8(d)
                    .ok()
                    .and_then(|d| d.parse::<u32>().ok())
                    .ok_or(EventTextError::Malformed(start))?,
            ),
        };
        let value = columns.value(row, code, index)?;
        if quoted {
            out.push('"');
            out.push_str(value);
            out.push('"');
        } else {
            out.push_str(value);
        }
        at = end + 1;
    }
    out.push_str(&stored[at..]);
    Ok(())
}

/// The original text of row `row` of a batch holding `eventjson` (as stored) and the columns
/// it refers to. Borrowed when the stored text has no references.
pub fn original<'t>(stored: &'t str, row: usize, columns: &Referenced<'_>) -> Result<Cow<'t, str>, EventTextError> {
    if !has_references(stored) {
        return Ok(Cow::Borrowed(stored));
    }
    let mut out = String::with_capacity(stored.len() * 4);
    restore(stored, row, columns, &mut out)?;
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{MapBuilder, StringBuilder};
    use std::sync::Arc;

    fn map_of(rows: &[&[(&str, Option<&str>)]]) -> MapArray {
        let mut b = MapBuilder::new(None, StringBuilder::new(), StringBuilder::new());
        for row in rows {
            for (k, v) in row.iter() {
                b.keys().append_value(k);
                b.values().append_option(*v);
            }
            b.append(true).expect("row");
        }
        b.finish()
    }

    #[test]
    fn references_resolve_to_the_original_bytes() {
        let long_id = "3f1c2b4a-0000-4000-8000-0123456789ab";
        let nested = r#"{"accessKeyId":"ASIAXXXXXXXXXXXXXXXX","expiration":"soon"}"#;
        let text = format!(r#"{{"eventID":"{long_id}","responseElements":{{"short":"x","credentials":{nested}}}}}"#);
        let id_at = text.find(long_id).expect("id") - 1;
        let id_raw = &text[id_at..id_at + long_id.len() + 2];
        let nested_at = text.find(nested).expect("nested");
        let nested_raw = &text[nested_at..nested_at + nested.len()];
        let mut refs = vec![
            Reference::to(&text, nested_raw, nested_raw, b'o', Some(1)).expect("nested ref"),
            Reference::to(&text, id_raw, &id_raw[1..id_raw.len() - 1], b'e', None).expect("id ref"),
        ];
        // Too short, or a copy the column made (unescaped, compacted): stays in the text.
        assert!(Reference::to(&text, &text[1..3], &text[2..3], b'e', None).is_none());
        assert!(Reference::to(&text, id_raw, long_id.to_string().as_str(), b'e', None).is_none());
        assert!(Reference::to(&text, id_raw, id_raw, b'e', None).is_none(), "the quotes are not the column's");
        let mut stored = String::new();
        write_stored(&text, &mut refs, &mut stored).expect("write");
        assert!(!stored.contains(long_id) && !stored.contains("ASIA"), "{stored:?}");
        assert!(has_references(&stored));

        let ids = StringArray::from(vec![Some("other"), Some(long_id)]);
        let maps = map_of(&[&[], &[("short", Some("x")), ("credentials", Some(nested))]]);
        let mut cols = Referenced::default();
        cols.add(b'e', &ids);
        cols.add(b'o', &maps);
        assert_eq!(original(&stored, 1, &cols).as_deref(), Ok(text.as_str()));
        // The wrong row has no such entry: an error, never a wrong text.
        assert_eq!(original(&stored, 0, &cols), Err(EventTextError::MissingValue('o', Some(1))));
        // Views (as the scan reads strings) resolve alike.
        let views = StringViewArray::from(vec![Some("other"), Some(long_id)]);
        let mut cols = Referenced::default();
        cols.add(b'e', &views);
        cols.add(b'o', &maps);
        assert_eq!(original(&stored, 1, &cols).as_deref(), Ok(text.as_str()));
        // Text without references (older stores) is returned as is.
        assert!(matches!(original(&text, 0, &cols), Ok(Cow::Borrowed(_))));
    }

    #[test]
    fn malformed_or_unknown_references_are_errors() {
        let cols = Referenced::default();
        let mut out = String::new();
        assert_eq!(restore("{\"a\":\u{1}e", 0, &cols, &mut out), Err(EventTextError::Malformed(5)));
        assert_eq!(restore("{\"a\":\u{1}\u{2}}", 0, &cols, &mut out), Err(EventTextError::Malformed(5)));
        assert_eq!(restore("{\"a\":\u{1}px\u{2}}", 0, &cols, &mut out), Err(EventTextError::Malformed(5)));
        assert_eq!(restore("{\"a\":\u{1}z\"\u{2}}", 0, &cols, &mut out), Err(EventTextError::UnknownColumn('z')));
        let ids: Arc<dyn Array> = Arc::new(StringArray::from(vec![None::<&str>]));
        let mut cols = Referenced::default();
        cols.add(b'e', ids.as_ref());
        assert_eq!(restore("\u{1}e\"\u{2}", 0, &cols, &mut out), Err(EventTextError::MissingValue('e', None)));
    }
}
