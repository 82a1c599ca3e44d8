//! One pass over an event record: a validating JSON tokenizer that lays every value out on a
//! flat tape (kind, byte span, where its subtree ends), so the decoder reads nested objects,
//! maps and lists without scanning their bytes again.
//!
//! Why not serde_json: reading a record as borrowed `(key, raw value)` pairs and then parsing
//! each nested value again scanned the bytes of a typical event three to four times (skip as a
//! raw value, parse the struct, check strings for escapes, check nested JSON for whitespace).
//! The tape notes while scanning what those later checks need: whether a string has escapes,
//! whether a container holds insignificant whitespace.
//!
//! It accepts exactly RFC 8259 JSON (as serde_json does; a test holds them to agreement):
//! control characters in strings, bad escapes, malformed numbers and trailing characters are
//! errors naming the byte where they occur. Duplicate keys are kept, in order.

use std::borrow::Cow;

/// What a value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    True,
    False,
    Number,
    String,
    Object,
    Array,
}

/// One value or object key: bytes `start..end` of the text.
#[derive(Debug, Clone, Copy)]
struct Node {
    start: u32,
    end: u32,
    /// Index of the first node after this value's subtree (itself + 1 for scalars).
    next: u32,
    kind: Kind,
    flags: u8,
}

/// A string with at least one backslash escape (its text is not its content).
const ESCAPED: u8 = 1;
/// A container with insignificant whitespace somewhere inside (its text is not compact).
const SPACED: u8 = 2;

/// Why a record is not JSON: what was wrong, at which byte of the record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} at byte {at} of the record")]
pub struct TapeError {
    pub at: usize,
    pub what: &'static str,
}

fn fail<T>(at: usize, what: &'static str) -> Result<T, TapeError> {
    Err(TapeError { at, what })
}

/// Reusable buffers: one tape per decoder, refilled for every record.
#[derive(Debug, Default)]
pub struct Tape {
    nodes: Vec<Node>,
    /// Open containers (node indices), innermost last.
    open: Vec<u32>,
}

impl Tape {
    /// Tokenizes `text`, which must be one JSON value with nothing but whitespace around it.
    pub fn parse<'a>(&'a mut self, text: &'a str) -> Result<Doc<'a>, TapeError> {
        self.run(text.as_bytes(), true)?;
        Ok(Doc { text, nodes: &self.nodes })
    }

    /// Tokenizes the JSON value at the start of `b` (bytes after it are not looked at) and
    /// returns where it ends; [`Tape::doc`] then reads it. An error at `b.len()` means the value
    /// may just continue past `b`.
    pub fn parse_prefix(&mut self, b: &[u8]) -> Result<usize, TapeError> {
        self.run(b, false)
    }

    /// The value [`Tape::parse_prefix`] read, given its bytes as text (checked UTF-8).
    pub fn doc<'a>(&'a self, text: &'a str) -> Doc<'a> {
        Doc { text, nodes: &self.nodes }
    }

    /// Tokenizes one value; `whole`: nothing but whitespace may follow it.
    fn run(&mut self, b: &[u8], whole: bool) -> Result<usize, TapeError> {
        if u32::try_from(b.len()).is_err() {
            return fail(0, "record larger than 4 GiB");
        }
        self.nodes.clear();
        self.open.clear();
        let mut i = skip_ws(b, 0);
        'value: loop {
            // A value starts at `i`.
            let Some(&c) = b.get(i) else { return fail(i, "expected a value") };
            match c {
                b'{' | b'[' => {
                    let (kind, close) = if c == b'{' { (Kind::Object, b'}') } else { (Kind::Array, b']') };
                    self.open.push(self.nodes.len() as u32);
                    self.nodes.push(Node { start: i as u32, end: 0, next: 0, kind, flags: 0 });
                    i = self.skip_ws_inside(b, i + 1);
                    if b.get(i) == Some(&close) {
                        i = self.close(i);
                    } else if kind == Kind::Object {
                        i = self.key(b, i)?;
                        continue 'value;
                    } else {
                        continue 'value;
                    }
                }
                b'"' => i = self.string(b, i)?,
                b'-' | b'0'..=b'9' => i = self.number(b, i)?,
                b't' => i = self.literal(b, i, b"true", Kind::True)?,
                b'f' => i = self.literal(b, i, b"false", Kind::False)?,
                b'n' => i = self.literal(b, i, b"null", Kind::Null)?,
                _ => return fail(i, "expected a value"),
            }
            // After a value: a separator, the end of its container, or the end of the text.
            loop {
                let Some(&top) = self.open.last() else {
                    if !whole {
                        return Ok(i);
                    }
                    let end = skip_ws(b, i);
                    if end != b.len() {
                        return fail(end, "trailing characters after the JSON value");
                    }
                    return Ok(end);
                };
                i = self.skip_ws_inside(b, i);
                let in_object = self.nodes[top as usize].kind == Kind::Object;
                match (b.get(i), in_object) {
                    (Some(b','), true) => {
                        i = self.skip_ws_inside(b, i + 1);
                        i = self.key(b, i)?;
                        continue 'value;
                    }
                    (Some(b','), false) => {
                        i = self.skip_ws_inside(b, i + 1);
                        continue 'value;
                    }
                    (Some(b'}'), true) | (Some(b']'), false) => i = self.close(i),
                    (_, true) => return fail(i, "expected ',' or '}' after an object member"),
                    (_, false) => return fail(i, "expected ',' or ']' after an array element"),
                }
            }
        }
    }

    /// Skips whitespace inside the innermost open container, noting that it is not compact.
    fn skip_ws_inside(&mut self, b: &[u8], i: usize) -> usize {
        let j = skip_ws(b, i);
        if j != i {
            if let Some(&top) = self.open.last() {
                self.nodes[top as usize].flags |= SPACED;
            }
        }
        j
    }

    /// Closes the innermost container at its closing bracket `i`; returns the position after it.
    fn close(&mut self, i: usize) -> usize {
        let next = self.nodes.len() as u32;
        if let Some(top) = self.open.pop() {
            let node = &mut self.nodes[top as usize];
            node.end = i as u32 + 1;
            node.next = next;
            let spaced = node.flags & SPACED;
            if let Some(&parent) = self.open.last() {
                self.nodes[parent as usize].flags |= spaced;
            }
        }
        i + 1
    }

    /// An object key and its colon; returns where the value starts.
    fn key(&mut self, b: &[u8], i: usize) -> Result<usize, TapeError> {
        if b.get(i) != Some(&b'"') {
            return fail(i, "expected a string key");
        }
        let i = self.string(b, i)?;
        let i = self.skip_ws_inside(b, i);
        if b.get(i) != Some(&b':') {
            return fail(i, "expected ':' after an object key");
        }
        Ok(self.skip_ws_inside(b, i + 1))
    }

    fn push(&mut self, start: usize, end: usize, kind: Kind, flags: u8) {
        let next = self.nodes.len() as u32 + 1;
        self.nodes.push(Node { start: start as u32, end: end as u32, next, kind, flags });
    }

    /// A string starting at its opening quote `i`; returns the position after its closing quote.
    fn string(&mut self, b: &[u8], i: usize) -> Result<usize, TapeError> {
        let mut j = i + 1;
        let mut flags = 0;
        loop {
            j = find_string_special(b, j);
            match b.get(j) {
                None => return fail(i, "unterminated string"),
                Some(b'"') => break,
                Some(b'\\') => {
                    flags = ESCAPED;
                    match b.get(j + 1) {
                        Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => j += 2,
                        Some(b'u') => {
                            let hex = b.get(j + 2..j + 6).filter(|h| h.iter().all(u8::is_ascii_hexdigit));
                            if hex.is_none() {
                                return fail(j, "invalid \\u escape in a string");
                            }
                            j += 6;
                        }
                        _ => return fail(j, "invalid escape in a string"),
                    }
                }
                Some(_) => return fail(j, "control character in a string (it must be escaped)"),
            }
        }
        self.push(i, j + 1, Kind::String, flags);
        Ok(j + 1)
    }

    /// A number (RFC 8259 grammar) starting at `i`; returns the position after it.
    fn number(&mut self, b: &[u8], i: usize) -> Result<usize, TapeError> {
        let digits = |mut j: usize| {
            while b.get(j).is_some_and(u8::is_ascii_digit) {
                j += 1;
            }
            j
        };
        let mut j = i;
        if b[j] == b'-' {
            j += 1;
        }
        match b.get(j) {
            Some(b'0') => j += 1,
            Some(b'1'..=b'9') => j = digits(j + 1),
            _ => return fail(j, "invalid number"),
        }
        if b.get(j) == Some(&b'.') {
            let k = digits(j + 1);
            if k == j + 1 {
                return fail(k, "invalid number: no digit after the decimal point");
            }
            j = k;
        }
        if matches!(b.get(j), Some(b'e' | b'E')) {
            j += 1;
            if matches!(b.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let k = digits(j);
            if k == j {
                return fail(k, "invalid number: no digit in the exponent");
            }
            j = k;
        }
        self.push(i, j, Kind::Number, 0);
        Ok(j)
    }

    fn literal(&mut self, b: &[u8], i: usize, word: &[u8], kind: Kind) -> Result<usize, TapeError> {
        if b.get(i..i + word.len()) != Some(word) {
            return fail(i, "expected a value");
        }
        self.push(i, i + word.len(), kind, 0);
        Ok(i + word.len())
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\n' | b'\r' | b'\t')) {
        i += 1;
    }
    i
}

/// Position of the first `"`, `\` or control character at or after `i` (or `b.len()`), sixteen
/// bytes at a time: string contents are most of an event's bytes, and most strings (keys,
/// names, Regions) end within one step.
#[cfg(target_arch = "x86_64")]
fn find_string_special(b: &[u8], mut i: usize) -> usize {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    // SAFETY: SSE2 is part of every x86_64 CPU; each unaligned 16-byte load lies within `b`.
    unsafe {
        let quote = _mm_set1_epi8(b'"' as i8);
        let backslash = _mm_set1_epi8(b'\\' as i8);
        let control_max = _mm_set1_epi8(0x1f);
        while i + 16 <= b.len() {
            let x = _mm_loadu_si128(b.as_ptr().add(i).cast());
            // A byte is a control character when it is (unsigned) at most 0x1f.
            let control = _mm_cmpeq_epi8(_mm_min_epu8(x, control_max), x);
            let special = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, quote), _mm_cmpeq_epi8(x, backslash)), control);
            let mask = _mm_movemask_epi8(special) as u32;
            if mask != 0 {
                return i + mask.trailing_zeros() as usize;
            }
            i += 16;
        }
    }
    find_string_special_swar(b, i)
}

#[cfg(not(target_arch = "x86_64"))]
fn find_string_special(b: &[u8], i: usize) -> usize {
    find_string_special_swar(b, i)
}

/// [`find_string_special`] eight bytes at a time in plain integer arithmetic (other CPUs, and
/// the last bytes of the text).
fn find_string_special_swar(b: &[u8], mut i: usize) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    while let Some(chunk) = b.get(i..i + 8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        let x = u64::from_le_bytes(word);
        // Each term flags (at least) its lowest matching byte exactly; false flags only appear
        // above a true one, so the lowest flag overall is the first special byte.
        let quote = x ^ (ONES * u64::from(b'"'));
        let backslash = x ^ (ONES * u64::from(b'\\'));
        let found = (quote.wrapping_sub(ONES) & !quote)
            | (backslash.wrapping_sub(ONES) & !backslash)
            | (x.wrapping_sub(ONES * 0x20) & !x);
        let found = found & HIGH;
        if found != 0 {
            return i + (found.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&c) = b.get(i) {
        if c == b'"' || c == b'\\' || c < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

/// A tokenized record.
#[derive(Debug, Clone, Copy)]
pub struct Doc<'a> {
    text: &'a str,
    nodes: &'a [Node],
}

impl<'a> Doc<'a> {
    pub fn root(self) -> Value<'a> {
        Value { doc: self, idx: 0 }
    }

    /// The record's whole text.
    pub fn text(self) -> &'a str {
        self.text
    }

    /// The value at token `idx` (as [`Value::index`] gives it).
    pub fn value(self, idx: usize) -> Value<'a> {
        Value { doc: self, idx }
    }
}

/// One value of a tokenized record.
#[derive(Debug, Clone, Copy)]
pub struct Value<'a> {
    doc: Doc<'a>,
    idx: usize,
}

impl<'a> Value<'a> {
    /// The record this value is part of.
    pub fn doc(&self) -> Doc<'a> {
        self.doc
    }

    /// Where this value's token lies in its record (0 is the record's root).
    pub fn index(&self) -> usize {
        self.idx
    }

    fn node(&self) -> &'a Node {
        &self.doc.nodes[self.idx]
    }

    pub fn kind(&self) -> Kind {
        self.node().kind
    }

    pub fn is_null(&self) -> bool {
        self.kind() == Kind::Null
    }

    /// The value's JSON text, exactly as the record has it.
    pub fn raw(&self) -> &'a str {
        let n = self.node();
        &self.doc.text[n.start as usize..n.end as usize]
    }

    /// The text a string column stores for this value: a string's content (unescaped),
    /// anything else as compact JSON. Borrowed from the record whenever that is exact.
    pub fn text(&self) -> Cow<'a, str> {
        let n = self.node();
        let raw = self.raw();
        match n.kind {
            Kind::String => string_content(raw, n.flags),
            Kind::Object | Kind::Array if n.flags & SPACED != 0 => compact_json(raw),
            _ => Cow::Borrowed(raw),
        }
    }

    /// An object's members in document order (nothing for other kinds).
    pub fn entries(&self) -> Entries<'a> {
        let n = self.node();
        let end = if n.kind == Kind::Object { n.next as usize } else { self.idx + 1 };
        Entries { doc: self.doc, at: self.idx + 1, end }
    }

    /// An array's elements in order (nothing for other kinds).
    pub fn items(&self) -> Items<'a> {
        let n = self.node();
        let end = if n.kind == Kind::Array { n.next as usize } else { self.idx + 1 };
        Items { doc: self.doc, at: self.idx + 1, end }
    }
}

/// Content of a JSON string token (`raw` includes the quotes).
fn string_content(raw: &str, flags: u8) -> Cow<'_, str> {
    let inner = &raw[1..raw.len() - 1];
    if flags & ESCAPED == 0 {
        return Cow::Borrowed(inner);
    }
    // Rare: let serde_json unescape. A lone surrogate (`\ud800`) cannot become UTF-8; the
    // string is then kept as written rather than altered.
    serde_json::from_str::<String>(raw).map(Cow::Owned).unwrap_or(Cow::Borrowed(inner))
}

/// Members of an object: (key, value).
#[derive(Debug, Clone)]
pub struct Entries<'a> {
    doc: Doc<'a>,
    at: usize,
    end: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = (Cow<'a, str>, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let key = &self.doc.nodes[self.at];
        let key = string_content(&self.doc.text[key.start as usize..key.end as usize], key.flags);
        let value = Value { doc: self.doc, idx: self.at + 1 };
        self.at = value.node().next as usize;
        Some((key, value))
    }
}

/// Elements of an array.
#[derive(Debug, Clone)]
pub struct Items<'a> {
    doc: Doc<'a>,
    at: usize,
    end: usize,
}

impl<'a> Iterator for Items<'a> {
    type Item = Value<'a>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.at >= self.end {
            return None;
        }
        let value = Value { doc: self.doc, idx: self.at };
        self.at = value.node().next as usize;
        Some(value)
    }
}

/// Removes insignificant whitespace from valid JSON so nested values compare and `LIKE`-match
/// the same whether the trail was minified (as CloudTrail delivers it) or pretty-printed.
pub fn compact_json(raw: &str) -> Cow<'_, str> {
    let bytes = raw.as_bytes();
    let has_ws = {
        let mut in_str = false;
        let mut esc = false;
        bytes.iter().any(|&b| {
            if in_str {
                if esc {
                    esc = false;
                } else if b == b'\\' {
                    esc = true;
                } else if b == b'"' {
                    in_str = false;
                }
                false
            } else if b == b'"' {
                in_str = true;
                false
            } else {
                matches!(b, b' ' | b'\n' | b'\r' | b'\t')
            }
        })
    };
    if !has_ws {
        return Cow::Borrowed(raw);
    }
    let mut out = String::with_capacity(raw.len());
    let mut in_str = false;
    let mut esc = false;
    for c in raw.chars() {
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
        } else if c == '"' {
            in_str = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\n' | '\r' | '\t') {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    /// What serde_json (which decoded records before the tape) accepts as one JSON value.
    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<IgnoredAny>(text).is_ok()
    }

    /// The tape read back as a serde_json value (later duplicate keys win, as in serde_json).
    fn to_value(v: Value<'_>) -> serde_json::Value {
        match v.kind() {
            Kind::Null => serde_json::Value::Null,
            Kind::True => serde_json::Value::Bool(true),
            Kind::False => serde_json::Value::Bool(false),
            Kind::Number => serde_json::from_str(v.raw()).unwrap_or(serde_json::Value::Null),
            Kind::String => serde_json::Value::String(v.text().into_owned()),
            Kind::Object => {
                serde_json::Value::Object(v.entries().map(|(k, v)| (k.into_owned(), to_value(v))).collect())
            }
            Kind::Array => serde_json::Value::Array(v.items().map(to_value).collect()),
        }
    }

    /// Every value of the tape, depth first.
    fn all_values(v: Value<'_>, out: &mut Vec<(String, String)>) {
        out.push((v.raw().to_string(), v.text().into_owned()));
        for (_, child) in v.entries() {
            all_values(child, out);
        }
        for item in v.items() {
            all_values(item, out);
        }
    }

    /// The column text serde_json gave before: unescaped strings, other values compacted.
    fn expected_text(raw: &str) -> String {
        if raw.starts_with('"') {
            return serde_json::from_str::<String>(raw).unwrap_or_else(|_| raw[1..raw.len() - 1].to_string());
        }
        compact_json(raw).into_owned()
    }

    /// Checks the tape against serde_json on one text: same verdict; when valid, the same
    /// values, and every value's column text as before.
    fn check(tape: &mut Tape, text: &str) {
        let ours = tape.parse(text);
        assert_eq!(ours.is_ok(), serde_accepts(text), "verdicts differ on {text:?}: {:?}", ours.err());
        let Ok(doc) = ours else { return };
        if let Ok(expected) = serde_json::from_str::<serde_json::Value>(text) {
            assert_eq!(to_value(doc.root()), expected, "{text:?}");
        }
        let mut values = Vec::new();
        all_values(doc.root(), &mut values);
        for (raw, text) in values {
            assert_eq!(text, expected_text(&raw), "column text of {raw:?}");
        }
    }

    const SEEDS: &[&str] = &[
        r#"{"eventVersion":"1.08","userIdentity":{"type":"AssumedRole","arn":"arn:aws:sts::1:assumed-role/r/s","sessionContext":{"attributes":{"mfaAuthenticated":"false"}}},"eventTime":"2024-05-01T10:00:00Z","requestParameters":{"policy":"{\"Version\":\"2012-10-17\"}","n":-12.5e+3,"list":[1,2.0,true,false,null,{"a":[]},{}],"u":"\u00e9\ud83d\ude00 résumé"},"resources":[{"ARN":"arn:a"}],"readOnly":true}"#,
        "{ \"a\" : [ 1 , { \"b\" : \"c d\" } ] ,\n\t\"e\":{\"f\" :null}, \"g\": \"tab\\tquote\\\" slash\\/\" }",
        r#"[0,-0,0.5,1E9,2e-3,"x",[[[]]],{"":""}]"#,
        r#""just a string""#,
        "  42  ",
        r#"{"k":"v","k":"second"}"#,
    ];

    #[test]
    fn agrees_with_serde_json_on_valid_and_invalid_text() {
        let mut tape = Tape::default();
        for text in SEEDS {
            check(&mut tape, text);
        }
        let invalid = [
            "",
            " ",
            "{",
            "}",
            "[",
            "[1,]",
            "{,}",
            r#"{"a":}"#,
            r#"{"a" 1}"#,
            r#"{a:1}"#,
            r#"{"a":1,}"#,
            "01",
            "-",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "--1",
            "0x10",
            "tru",
            "nul",
            "falsey",
            "NaN",
            r#""\x""#,
            r#""\u12G4""#,
            r#""\u12""#,
            "\"a\u{1}b\"",
            "\"tab\there\"",
            "\"open",
            r#"{"a":1} x"#,
            r#"{"a":1}{"b":2}"#,
            "[1 2]",
            r#"{"a":1 "b":2}"#,
            "[}",
            "{]",
            r#"{"a":[1}"#,
        ];
        for text in invalid {
            assert!(!serde_accepts(text), "serde_json accepts {text:?}: the case is wrong");
            check(&mut tape, text);
        }
    }

    #[test]
    fn agrees_with_serde_json_on_mutated_events() {
        // Deterministic single and double mutations of realistic records: each must get the
        // same verdict as serde_json and, when valid, the same values and column texts.
        let alphabet = b"{}[]\":,\\ \n0123456789.eE+-tnfaxu\x01\x1f/";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rand = move |n: usize| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state % n as u64) as usize
        };
        let mut tape = Tape::default();
        for round in 0..40_000 {
            let seed = SEEDS[round % SEEDS.len()];
            let mut bytes = seed.as_bytes().to_vec();
            for _ in 0..1 + rand(2) {
                if bytes.is_empty() {
                    break;
                }
                let at = rand(bytes.len());
                if !bytes[at].is_ascii() {
                    continue; // keep the text UTF-8 (the decoder checks that before the tape)
                }
                let c = alphabet[rand(alphabet.len())];
                match rand(3) {
                    0 => bytes[at] = c,
                    1 => bytes.insert(at, c),
                    _ => {
                        bytes.remove(at);
                    }
                }
            }
            let Ok(text) = std::str::from_utf8(&bytes) else { continue };
            check(&mut tape, text);
        }
    }

    #[test]
    fn string_scan_finds_the_first_special_byte() {
        let mut state: u32 = 12345;
        // Dense and sparse special bytes, at every position of texts shorter and longer than
        // one or several 16-byte steps.
        for sparse in [false, true] {
            for len in 0..70 {
                for _ in 0..100 {
                    let bytes: Vec<u8> = (0..len)
                        .map(|_| {
                            state = state.wrapping_mul(1_103_515_245).wrapping_add(12345);
                            let r = (state >> 16) as usize;
                            if sparse && !r.is_multiple_of(16) {
                                return [b'a', 0x20, 0x7f, 0x80, 0xff, b'!', b'~'][r / 16 % 7];
                            }
                            [b'a', b'"', b'\\', 0x1f, 0x20, 0x7f, 0x80, 0xff, 0x00, b'!'][r % 10]
                        })
                        .collect();
                    for from in 0..=len {
                        let naive =
                            (from..len).find(|&i| matches!(bytes[i], b'"' | b'\\') || bytes[i] < 0x20).unwrap_or(len);
                        assert_eq!(find_string_special(&bytes, from), naive, "{bytes:?} from {from}");
                        assert_eq!(find_string_special_swar(&bytes, from), naive, "{bytes:?} from {from}");
                    }
                }
            }
        }
    }

    #[test]
    fn notes_escapes_and_whitespace_where_they_are() {
        let mut tape = Tape::default();
        let doc = tape.parse(r#"{"a":{"b":[1, 2]},"c":{"d":"e"},"f":"g\"h","i":"j"}"#).expect("valid");
        let values: Vec<(String, Value<'_>)> = doc.root().entries().map(|(k, v)| (k.into_owned(), v)).collect();
        assert_eq!(values.len(), 4);
        // Whitespace deep inside makes the outer object need compaction too.
        assert!(matches!(values[0].1.text(), Cow::Owned(t) if t == r#"{"b":[1,2]}"#));
        assert!(matches!(values[1].1.text(), Cow::Borrowed(r#"{"d":"e"}"#)));
        assert!(matches!(values[2].1.text(), Cow::Owned(t) if t == "g\"h"));
        assert!(matches!(values[3].1.text(), Cow::Borrowed("j")));
        let err = tape.parse(r#"{"a":"x","b":tru}"#).expect_err("invalid");
        assert_eq!(err, TapeError { at: 13, what: "expected a value" });
        assert_eq!(err.to_string(), "expected a value at byte 13 of the record");
    }

    #[test]
    fn compacts_only_outside_strings() {
        assert_eq!(compact_json("{ \"a b\" : [ 1 , \"x \\\" y\" ] }"), "{\"a b\":[1,\"x \\\" y\"]}");
        assert!(matches!(compact_json("{\"a\":1}"), Cow::Borrowed(_)));
    }
}
