//! Streaming record splitter: turns the decompressed bytes of one source into event records
//! without ever holding more than one record (plus a read buffer) in memory.
//!
//! It understands every container CloudTrail data arrives in, detected by content:
//! `{"Records":[...]}` delivery objects (and the other kinds' containers: AWS Config's
//! `configurationItems`, `PutAuditEvents`' `auditEvents`, Audit Manager's `evidence`), bare
//! arrays of events, one event per line (or
//! concatenated objects), CloudWatch Logs subscription envelopes (`logEvents[].message`),
//! test-harness wrappers (`[{"data":{"Records":[...]}}]`) and digest files (recognised and
//! reported so they can be skipped). It only checks structure; each record is validated when
//! it is decoded, so one bad record never hides the good ones next to it.

use std::io::{self, Read};

use crate::tape::{Doc, Tape};

/// Largest record CloudTrail produces (MaxEventSize `Large`); bigger ones are quarantined.
pub const MAX_RECORD_BYTES: usize = 1024 * 1024;
/// How much of an oversized or broken record is kept in quarantine.
pub const QUARANTINE_PREFIX_BYTES: usize = 64 * 1024;

const READ_CHUNK: usize = 256 * 1024;

/// One thing found in a source.
#[derive(Debug)]
pub enum Piece<'a> {
    /// The raw text of one event object; `tokens` when it was already read as valid JSON.
    Event { raw: &'a [u8], offset: u64, tokens: Option<Doc<'a>> },
    /// An event carried as a JSON string (CloudWatch Logs `message`), already unescaped.
    Message { text: String, offset: u64 },
    /// A CloudTrail digest file object (holds no events).
    Digest { offset: u64 },
    /// Something that is not an event; `raw` holds (a prefix of) its bytes.
    Bad { offset: u64, reason: String, raw: Vec<u8> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ArrayKind {
    /// A top-level array: elements are events or wrappers.
    Units,
    /// `Records`: elements are events.
    Records,
    /// `logEvents`: elements are `{id, timestamp, message}`.
    LogEvents,
}

#[derive(Debug, Clone, Copy)]
enum Frame {
    Array {
        kind: ArrayKind,
        first: bool,
    },
    /// Inside a container object after descending into one of its keys; remaining keys are skipped.
    Object,
}

/// Outcome of scanning for the end of a value.
enum Scan {
    /// Absolute end offset (exclusive) of a complete value.
    Complete(u64),
    /// Value longer than the limit; it was skipped up to this absolute end offset.
    Oversized { end: u64, len: u64 },
    /// The input ended inside the value.
    Truncated,
}

pub struct Splitter<R: Read> {
    reader: R,
    data: Vec<u8>,
    /// Absolute offset of `data[0]`.
    base: u64,
    /// Absolute offset of the next unread byte.
    pos: u64,
    /// Absolute offset one past the last valid byte.
    end: u64,
    eof: bool,
    stack: Vec<Frame>,
    /// Set once the structure is broken beyond recovery: nothing more is read.
    done: bool,
    max_record: usize,
    /// Start of an object that may turn out to be an event: bytes from here are kept.
    pin: Option<u64>,
    /// Tokens of the last event element (handed to the decoder with it).
    tape: Tape,
}

impl<R: Read> Splitter<R> {
    pub fn new(reader: R) -> Self {
        Self::with_limit(reader, MAX_RECORD_BYTES)
    }

    pub fn with_limit(reader: R, max_record: usize) -> Self {
        Self::starting_with(reader, Vec::with_capacity(READ_CHUNK), false, max_record)
    }

    /// A splitter over content already read whole (`reader` is not read).
    pub fn whole(reader: R, data: Vec<u8>) -> Self {
        Self::starting_with(reader, data, true, MAX_RECORD_BYTES)
    }

    fn starting_with(reader: R, data: Vec<u8>, eof: bool, max_record: usize) -> Self {
        Self {
            reader,
            end: data.len() as u64,
            data,
            base: 0,
            pos: 0,
            eof,
            stack: Vec::new(),
            done: false,
            max_record,
            pin: None,
            tape: Tape::default(),
        }
    }

    /// Bytes consumed so far (decompressed).
    pub fn position(&self) -> u64 {
        self.pos
    }

    /// The next piece, `Ok(None)` at the end of the input. I/O errors (including a corrupt
    /// or truncated gzip stream) are returned as `Err`; the caller decides the rest is lost.
    pub fn next_piece(&mut self) -> io::Result<Option<Piece<'_>>> {
        loop {
            if self.done {
                return Ok(None);
            }
            let Some(b) = self.skip_ws()? else {
                return Ok(self.finish_at_eof());
            };
            match self.stack.last().copied() {
                None => match b {
                    b'{' => return self.unit_object(),
                    b'[' => {
                        self.pos += 1;
                        self.stack.push(Frame::Array { kind: ArrayKind::Units, first: true });
                    }
                    _ => {
                        // Not JSON we understand: report this line and resynchronise at the next.
                        let offset = self.pos;
                        let raw = self.take_line()?;
                        return Ok(Some(Piece::Bad {
                            offset,
                            reason: format!(
                                "not a JSON object or array (starts with {:?})",
                                String::from_utf8_lossy(&raw[..raw.len().min(40)])
                            ),
                            raw,
                        }));
                    }
                },
                Some(Frame::Array { kind, first }) => {
                    if b == b']' {
                        self.pos += 1;
                        self.stack.pop();
                        continue;
                    }
                    if !first {
                        if b != b',' {
                            return Ok(Some(self.broken("expected ',' or ']' between records")));
                        }
                        self.pos += 1;
                        let Some(_) = self.skip_ws()? else {
                            return Ok(self.finish_at_eof());
                        };
                    }
                    if let Some(Frame::Array { first, .. }) = self.stack.last_mut() {
                        *first = false;
                    }
                    let b = self.peek()?.unwrap_or(b' ');
                    match kind {
                        ArrayKind::Units if b == b'{' => return self.unit_object(),
                        ArrayKind::Records if b == b'{' => return self.event_element(),
                        ArrayKind::LogEvents if b == b'{' => return self.log_event_element(),
                        _ => return self.non_object_element(),
                    }
                }
                Some(Frame::Object) => {
                    // Keys left in a container object after the descended one: skip them.
                    if b == b'}' {
                        self.pos += 1;
                        self.stack.pop();
                        continue;
                    }
                    if b == b',' {
                        self.pos += 1;
                        continue;
                    }
                    match self.read_key()? {
                        Some(_) => match self.scan_value(self.pos, false)? {
                            Scan::Complete(e) | Scan::Oversized { end: e, .. } => self.pos = e,
                            Scan::Truncated => return Ok(Some(self.truncated(self.pos))),
                        },
                        None => return Ok(Some(self.broken("expected a key in a container object"))),
                    }
                }
            }
        }
    }

    /// At the end of input: fine at top level, a truncation anywhere else.
    fn finish_at_eof(&mut self) -> Option<Piece<'static>> {
        self.done = true;
        if self.stack.is_empty() {
            None
        } else {
            Some(Piece::Bad {
                offset: self.pos,
                reason: format!("truncated: input ends at byte {} inside an unclosed array or object", self.pos),
                raw: Vec::new(),
            })
        }
    }

    /// The structure is broken: report and stop reading this source.
    fn broken(&mut self, what: &str) -> Piece<'static> {
        self.done = true;
        let offset = self.pos;
        let avail = (self.end - self.pos) as usize;
        let start = (self.pos - self.base) as usize;
        let raw = self.data[start..start + avail.min(QUARANTINE_PREFIX_BYTES)].to_vec();
        Piece::Bad { offset, reason: format!("invalid JSON at byte {offset}: {what}"), raw }
    }

    /// A broken object: at top level (one event per line) the rest of its line is reported
    /// and reading resumes on the next line; inside a container the structure is lost.
    fn unit_broken(&mut self, top: bool, start: u64, what: &str) -> io::Result<Option<Piece<'static>>> {
        if !top {
            return Ok(Some(self.broken(what)));
        }
        let at = self.pos;
        let mut raw = self.slice(start.max(self.base), self.pos).to_vec();
        self.pin = None;
        raw.extend(self.take_line()?);
        raw.truncate(QUARANTINE_PREFIX_BYTES);
        Ok(Some(Piece::Bad { offset: start, reason: format!("invalid JSON at byte {at}: {what}"), raw }))
    }

    fn truncated(&mut self, start: u64) -> Piece<'static> {
        self.done = true;
        let s = (start.max(self.base) - self.base) as usize;
        let e = (self.end - self.base) as usize;
        let raw = self.data[s..e.min(s + QUARANTINE_PREFIX_BYTES)].to_vec();
        Piece::Bad {
            offset: start,
            reason: format!("truncated: input ends at byte {} inside the record starting at byte {start}", self.end),
            raw,
        }
    }

    fn oversized(&self, offset: u64, len: u64) -> Piece<'static> {
        Piece::Bad {
            offset,
            reason: format!("record of {len} bytes exceeds the {} byte limit", self.max_record),
            raw: Vec::new(),
        }
    }

    /// An array element that is not an object: report it and move past it.
    fn non_object_element(&mut self) -> io::Result<Option<Piece<'_>>> {
        let start = self.pos;
        match self.scan_value(start, true)? {
            Scan::Complete(e) => {
                self.pos = e;
                let raw = self.slice(start, e).to_vec();
                Ok(Some(Piece::Bad { offset: start, reason: "array element is not a JSON object".to_string(), raw }))
            }
            Scan::Oversized { end, len } => {
                self.pos = end;
                Ok(Some(self.oversized(start, len)))
            }
            Scan::Truncated => Ok(Some(self.truncated(start))),
        }
    }

    fn event_element(&mut self) -> io::Result<Option<Piece<'_>>> {
        let start = self.pos;
        if let Some(len) = self.tokenize(start) {
            self.pos = start + len as u64;
            let raw = self.slice(start, self.pos);
            // Invalid UTF-8 goes to the decoder untokenized, which rejects it with its position.
            let tokens = std::str::from_utf8(raw).ok().map(|text| self.tape.doc(text));
            return Ok(Some(Piece::Event { raw, offset: start, tokens }));
        }
        match self.scan_value(start, true)? {
            Scan::Complete(e) => {
                self.pos = e;
                Ok(Some(Piece::Event { raw: self.slice(start, e), offset: start, tokens: None }))
            }
            Scan::Oversized { end, len } => {
                self.pos = end;
                Ok(Some(self.oversized(start, len)))
            }
            Scan::Truncated => Ok(Some(self.truncated(start))),
        }
    }

    fn log_event_element(&mut self) -> io::Result<Option<Piece<'_>>> {
        #[derive(serde::Deserialize)]
        struct LogEvent {
            message: String,
        }
        let start = self.pos;
        match self.scan_value(start, true)? {
            Scan::Complete(e) => {
                self.pos = e;
                let raw = self.slice(start, e);
                match serde_json::from_slice::<LogEvent>(raw) {
                    Ok(le) => Ok(Some(Piece::Message { text: le.message, offset: start })),
                    Err(err) => {
                        let raw = raw.to_vec();
                        Ok(Some(Piece::Bad {
                            offset: start,
                            reason: format!("CloudWatch Logs event without a string `message`: {err}"),
                            raw,
                        }))
                    }
                }
            }
            Scan::Oversized { end, len } => {
                self.pos = end;
                Ok(Some(self.oversized(start, len)))
            }
            Scan::Truncated => Ok(Some(self.truncated(start))),
        }
    }

    /// Almost always a record is in the buffer whole and valid: then one pass finds its end and
    /// tokenizes it for the decoder; returns its length. Anything else (a record running past
    /// the buffer, invalid JSON, an oversized record) is left to the structural scan.
    fn tokenize(&mut self, start: u64) -> Option<usize> {
        let s = (start - self.base) as usize;
        let e = (self.end - self.base) as usize;
        self.tape.parse_prefix(&self.data[s..e]).ok().filter(|&len| len <= self.max_record)
    }

    /// An object at top level or in a top-level array: a container (descend into it), a
    /// digest, or an event. Keys are read one by one so containers stream.
    fn unit_object(&mut self) -> io::Result<Option<Piece<'_>>> {
        let start = self.pos;
        let top = self.stack.is_empty();
        self.pin = Some(start);
        self.pos += 1; // '{'
        let mut digest = false;
        loop {
            let Some(b) = self.skip_ws()? else {
                return Ok(Some(self.truncated(start)));
            };
            match b {
                b'}' => {
                    self.pos += 1;
                    let end = self.pos;
                    self.pin = None;
                    if digest {
                        return Ok(Some(Piece::Digest { offset: start }));
                    }
                    if end - start > self.max_record as u64 {
                        return Ok(Some(self.oversized(start, end - start)));
                    }
                    return Ok(Some(Piece::Event { raw: self.slice(start, end), offset: start, tokens: None }));
                }
                b',' => {
                    self.pos += 1;
                    continue;
                }
                b'"' => {}
                _ => return self.unit_broken(top, start, "expected a key"),
            }
            let Some(key) = self.read_key()? else {
                return self.unit_broken(top, start, "expected a key");
            };
            let next = self.peek()?;
            let container = match (key.as_str(), next) {
                // CloudTrail deliveries; AWS Config history and snapshot files; `PutAuditEvents`
                // request bodies; Audit Manager evidence listings.
                ("Records" | "configurationItems" | "auditEvents" | "evidence", Some(b'[')) => Some(ArrayKind::Records),
                ("logEvents", Some(b'[')) => Some(ArrayKind::LogEvents),
                ("data", Some(b'{')) => {
                    // Test-harness wrapper: the events live in the nested object.
                    self.stack.push(Frame::Object);
                    return self.unit_object();
                }
                _ => None,
            };
            if let Some(kind) = container {
                self.pin = None;
                self.pos += 1; // '['
                self.stack.push(Frame::Object);
                self.stack.push(Frame::Array { kind, first: true });
                return self.next_piece();
            }
            if matches!(key.as_str(), "digestStartTime" | "digestEndTime" | "digestS3Object" | "logFiles") {
                digest = true;
                self.pin = None;
            }
            // Keep the object pinned (it may be an event) unless it is a digest.
            let keep = (!digest).then_some(start);
            match self.scan(self.pos, keep, 0)? {
                Scan::Complete(e) => self.pos = e,
                Scan::Oversized { end, .. } => {
                    self.pos = end;
                    if !digest {
                        self.pin = None;
                        // Too big to be an event: skip the rest of the object without keeping it.
                        return match self.scan(self.pos, None, 1)? {
                            Scan::Complete(e) | Scan::Oversized { end: e, .. } => {
                                self.pos = e;
                                Ok(Some(self.oversized(start, e - start)))
                            }
                            Scan::Truncated => Ok(Some(self.truncated(start))),
                        };
                    }
                }
                Scan::Truncated => return Ok(Some(self.truncated(start))),
            }
        }
    }

    /// Reads `"key"` and the following `:`; `None` if the next token is not a key.
    fn read_key(&mut self) -> io::Result<Option<String>> {
        if self.skip_ws()? != Some(b'"') {
            return Ok(None);
        }
        let start = self.pos;
        let end = match self.scan_value(start, true)? {
            Scan::Complete(e) => e,
            _ => return Ok(None),
        };
        let raw = self.slice(start, end);
        let key: String = serde_json::from_slice(raw).unwrap_or_default();
        self.pos = end;
        if self.skip_ws()? != Some(b':') {
            return Ok(None);
        }
        self.pos += 1;
        self.skip_ws()?;
        Ok(Some(key))
    }

    fn slice(&self, start: u64, end: u64) -> &[u8] {
        &self.data[(start - self.base) as usize..(end - self.base) as usize]
    }

    fn peek(&mut self) -> io::Result<Option<u8>> {
        if self.pos == self.end && !self.fill(self.pos)? {
            return Ok(None);
        }
        Ok(Some(self.data[(self.pos - self.base) as usize]))
    }

    /// Skips whitespace; returns the next byte without consuming it.
    fn skip_ws(&mut self) -> io::Result<Option<u8>> {
        loop {
            if self.pos == self.end && !self.fill(self.pos)? {
                return Ok(None);
            }
            let b = self.data[(self.pos - self.base) as usize];
            if matches!(b, b' ' | b'\n' | b'\r' | b'\t') || (b == 0xEF || b == 0xBB || b == 0xBF) && self.pos < 3 {
                // Whitespace, or a UTF-8 byte-order mark at the very start.
                self.pos += 1;
            } else {
                return Ok(Some(b));
            }
        }
    }

    /// Consumes up to and including the next newline (for resynchronising line input).
    fn take_line(&mut self) -> io::Result<Vec<u8>> {
        let mut out = Vec::new();
        loop {
            if self.pos == self.end && !self.fill(self.pos)? {
                return Ok(out);
            }
            let s = (self.pos - self.base) as usize;
            let e = (self.end - self.base) as usize;
            match memchr::memchr(b'\n', &self.data[s..e]) {
                Some(i) => {
                    if out.len() < QUARANTINE_PREFIX_BYTES {
                        out.extend_from_slice(&self.data[s..s + i]);
                    }
                    self.pos += i as u64 + 1;
                    out.truncate(QUARANTINE_PREFIX_BYTES);
                    return Ok(out);
                }
                None => {
                    if out.len() < QUARANTINE_PREFIX_BYTES {
                        out.extend_from_slice(&self.data[s..e]);
                    }
                    self.pos = self.end;
                }
            }
        }
    }

    /// Finds the end of the JSON value starting at `start` (or, with `depth` 1, the end of the
    /// object or array that `start` is inside). Bytes from `keep` stay in the buffer so the
    /// caller can borrow them, unless more than the record limit would have to be kept: then
    /// the value is skipped without being kept and reported as oversized.
    fn scan(&mut self, start: u64, keep: Option<u64>, depth: u32) -> io::Result<Scan> {
        let mut keep = keep;
        let mut i = start;
        let mut depth = depth;
        let mut in_string = false;
        let mut need_more = false;
        // Scalars (numbers, literals) end at the first delimiter.
        let mut scalar = false;
        loop {
            if i == self.end || need_more {
                if let Some(k) = keep {
                    if (self.end - k) as usize > self.max_record {
                        keep = None;
                        if self.pin == Some(k) {
                            self.pin = None;
                        }
                    }
                }
                if !self.fill(keep.unwrap_or(i))? {
                    if scalar && depth == 0 && !in_string {
                        return Ok(self.complete(keep, start, i));
                    }
                    return Ok(Scan::Truncated);
                }
                need_more = false;
            }
            let s = (i - self.base) as usize;
            let e = (self.end - self.base) as usize;
            let bytes = &self.data[s..e];
            let mut k = 0;
            while k < bytes.len() {
                if in_string {
                    match memchr::memchr2(b'"', b'\\', &bytes[k..]) {
                        None => k = bytes.len(),
                        Some(j) => {
                            k += j;
                            if bytes[k] == b'\\' {
                                if k + 1 >= bytes.len() {
                                    // Escape split across reads: resume at the backslash.
                                    need_more = true;
                                    break;
                                }
                                k += 2;
                            } else {
                                in_string = false;
                                k += 1;
                                if depth == 0 {
                                    return Ok(self.complete(keep, start, i + k as u64));
                                }
                            }
                        }
                    }
                    continue;
                }
                let b = bytes[k];
                if scalar {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                        return Ok(self.complete(keep, start, i + k as u64));
                    }
                    k += 1;
                    continue;
                }
                match b {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        if depth == 0 {
                            // A closing bracket where a value should start: an empty value.
                            return Ok(self.complete(keep, start, i + k as u64));
                        }
                        depth -= 1;
                        if depth == 0 {
                            return Ok(self.complete(keep, start, i + k as u64 + 1));
                        }
                    }
                    b' ' | b'\n' | b'\r' | b'\t' | b',' | b':' => {}
                    _ => {
                        if depth == 0 {
                            scalar = true;
                        }
                    }
                }
                k += 1;
            }
            i += k as u64;
        }
    }

    fn scan_value(&mut self, start: u64, pin: bool) -> io::Result<Scan> {
        self.scan(start, pin.then_some(start), 0)
    }

    fn complete(&self, keep: Option<u64>, start: u64, end: u64) -> Scan {
        match keep {
            Some(k) if ((end - k) as usize) <= self.max_record => Scan::Complete(end),
            None if (end - start) as usize <= self.max_record && start >= self.base => Scan::Complete(end),
            _ => Scan::Oversized { end, len: end - keep.unwrap_or(start).min(start) },
        }
    }

    /// Reads more input, first dropping bytes before `keep_from`. Returns false at EOF.
    fn fill(&mut self, keep_from: u64) -> io::Result<bool> {
        if self.eof {
            return Ok(false);
        }
        let keep = keep_from.min(self.pin.unwrap_or(u64::MAX)).max(self.base);
        let drop = (keep - self.base) as usize;
        if drop > 0 {
            let valid = (self.end - self.base) as usize;
            self.data.copy_within(drop..valid, 0);
            self.data.truncate(valid - drop);
            self.base = keep;
        }
        let old = self.data.len();
        // Appends without zero-filling the buffer first (the bulk of the bytes pass through here).
        let n = match self.reader.by_ref().take(READ_CHUNK as u64).read_to_end(&mut self.data) {
            Ok(n) => n,
            Err(e) => {
                self.data.truncate(old);
                return Err(e);
            }
        };
        self.data.truncate(old + n);
        self.end = self.base + self.data.len() as u64;
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Collects (kind, text) for every piece; reads through a 7-byte reader to exercise refills.
    fn pieces(input: &[u8], limit: usize) -> Vec<(String, String)> {
        struct Slow<'a>(&'a [u8]);
        impl Read for Slow<'_> {
            fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
                let n = self.0.len().min(buf.len()).min(7);
                buf[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut s = Splitter::with_limit(Slow(input), limit);
        let mut out = Vec::new();
        while let Some(p) = s.next_piece().expect("io") {
            out.push(match p {
                Piece::Event { raw, .. } => ("event".into(), String::from_utf8_lossy(raw).into_owned()),
                Piece::Message { text, .. } => ("message".into(), text),
                Piece::Digest { .. } => ("digest".into(), String::new()),
                Piece::Bad { reason, .. } => ("bad".into(), reason),
            });
        }
        out
    }

    fn events(v: &[(String, String)]) -> Vec<&str> {
        v.iter().filter(|(k, _)| k == "event" || k == "message").map(|(_, t)| t.as_str()).collect()
    }

    #[test]
    fn records_object() {
        let p = pieces(br#"{"Records":[{"a":1},{"b":"x}"} , {"c":[1,{"d":2}]}]}"#, 1 << 20);
        assert_eq!(events(&p), vec![r#"{"a":1}"#, r#"{"b":"x}"}"#, r#"{"c":[1,{"d":2}]}"#]);
        assert_eq!(p.len(), 3);
    }

    #[test]
    fn records_are_tokenized_once_and_found_across_refills_and_when_invalid() {
        // ~700 KB of records: several buffer refills, so some records straddle two reads and
        // take the structural scan; invalid ones must be split out untokenized all the same.
        let records: Vec<String> = (0..3000)
            .map(|i| match i % 97 {
                13 => format!(r#"{{"n":{i},"bad":tru}}"#),
                14 => format!("{{\"n\":{i},\"ctl\":\"a{}b\"}}", '\u{1}'),
                _ => format!(r#"{{"n":{i},"s":"{}","o":{{"k":[1,2,"}}]"]}}}}"#, "x".repeat(i % 400)),
            })
            .collect();
        let input = format!(r#"{{"Records":[{}]}}"#, records.join(","));
        let mut s = Splitter::new(input.as_bytes());
        let (mut seen, mut tokenized) = (Vec::new(), 0);
        while let Some(p) = s.next_piece().expect("io") {
            let Piece::Event { raw, tokens, .. } = p else { panic!("only events expected") };
            let raw = String::from_utf8_lossy(raw).into_owned();
            if let Some(doc) = tokens {
                assert_eq!(doc.text(), raw);
                assert!(!raw.contains("tru}") && !raw.contains('\u{1}'), "invalid record tokenized: {raw}");
                tokenized += 1;
            }
            seen.push(raw);
        }
        assert_eq!(seen, records);
        assert!(tokenized > 2900, "{tokenized} of 3000 tokenized");
    }

    #[test]
    fn records_after_other_keys_and_trailing_keys() {
        let p = pieces(br#"{"x":{"y":[1]},"Records":[{"a":"\"]"}],"z":"q"}"#, 1 << 20);
        assert_eq!(events(&p), vec![r#"{"a":"\"]"}"#]);
    }

    #[test]
    fn bare_array_and_ndjson_and_concatenated() {
        assert_eq!(events(&pieces(b"[{\"a\":1},\n{\"b\":2}]", 1 << 20)), vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(events(&pieces(b"{\"a\":1}\n{\"b\":2}\n", 1 << 20)), vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(events(&pieces(b"{\"a\":1}{\"b\":2}", 1 << 20)), vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn cloudwatch_envelope() {
        let input =
            br#"{"messageType":"DATA_MESSAGE","logEvents":[{"id":"1","timestamp":1,"message":"{\"eventID\":\"e\"}"}]}"#;
        assert_eq!(events(&pieces(input, 1 << 20)), vec![r#"{"eventID":"e"}"#]);
    }

    #[test]
    fn harness_wrapper() {
        let input = br#"[{"data":{"Records":[{"e":1}]},"description":"d"},{"data":{"Records":[{"e":2}]}}]"#;
        assert_eq!(events(&pieces(input, 1 << 20)), vec![r#"{"e":1}"#, r#"{"e":2}"#]);
    }

    #[test]
    fn digest_is_recognised() {
        let p = pieces(br#"{"awsAccountId":"1","digestStartTime":"x","logFiles":[{"s3Object":"k"}]}"#, 1 << 20);
        assert_eq!(p, vec![("digest".to_string(), String::new())]);
    }

    #[test]
    fn truncated_input_keeps_earlier_records() {
        let p = pieces(br#"{"Records":[{"a":1},{"b":"#, 1 << 20);
        assert_eq!(events(&p), vec![r#"{"a":1}"#]);
        assert_eq!(p.last().map(|x| x.0.as_str()), Some("bad"));
        assert!(p.last().is_some_and(|x| x.1.contains("truncated")));
    }

    #[test]
    fn oversized_record_is_reported_and_skipped() {
        let big = format!(r#"{{"Records":[{{"a":"{}"}},{{"b":2}}]}}"#, "x".repeat(100));
        let p = pieces(big.as_bytes(), 50);
        assert_eq!(p[0].0, "bad");
        assert!(p[0].1.contains("exceeds"));
        assert_eq!(events(&p), vec![r#"{"b":2}"#]);
        let p = pieces(format!("{{\"a\":\"{}\"}}\n{{\"b\":2}}", "y".repeat(100)).as_bytes(), 50);
        assert_eq!(p[0].0, "bad");
        assert_eq!(events(&p), vec![r#"{"b":2}"#]);
    }

    #[test]
    fn garbage_line_is_reported_and_next_line_read() {
        let p = pieces(b"hello world\n{\"a\":1}\n", 1 << 20);
        assert_eq!(p[0].0, "bad");
        assert_eq!(events(&p), vec!["{\"a\":1}"]);
    }

    #[test]
    fn broken_line_does_not_lose_the_next_lines() {
        let p = pieces(b"{\"a\":1}\n{\"b\":1, oops}\n{\"c\":1}\n", 1 << 20);
        assert_eq!(p[1].0, "bad");
        assert_eq!(events(&p), vec!["{\"a\":1}", "{\"c\":1}"]);
    }

    #[test]
    fn non_object_elements() {
        let p = pieces(b"{\"Records\":[1,{\"a\":1}]}", 1 << 20);
        assert_eq!(p[0].0, "bad");
        assert_eq!(events(&p), vec!["{\"a\":1}"]);
    }
}
