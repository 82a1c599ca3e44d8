//! Decoding one event's JSON text into Arrow column builders, driven by the schema in
//! `schemas/`. Each record is tokenized once (`tape`); columns read its values where they lie,
//! so nothing is copied that does not end up in a column.
//!
//! Type drift is normal in real trails: a value that does not fit its column (an object where a
//! string is expected, a string where an object is expected, …) is stored as well as it can be
//! (its compact JSON text for strings, NULL otherwise) and the event is never dropped for it;
//! the original is always kept in `eventjson` (stored with references to the values other
//! columns hold verbatim, see `schema::event_text`; every read gives it back whole).

use rustc_hash::FxHashMap as HashMap;
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::NullBufferBuilder;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanBuilder, Date32Array, Float64Builder, Int32Builder, ListArray, MapBuilder,
    MapFieldNames, StringArray, StringBuilder, StructArray, TimestampMicrosecondBuilder,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Fields};
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;

use super::kinds;
use super::time::{parse_event_time, MICROS_PER_DAY};
use crate::schema::event_text::{write_stored, Reference};
use crate::schema::{self, Derived, EventSchema, FieldSpec, FieldType};
use crate::tape::{Doc, Kind, Tape, Value};

/// Why an event could not be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    InvalidJson(String),
    NotAnObject,
    NotCloudTrail,
    NoEventTime(String),
    /// Refused as CloudTrail Lake refuses it (`PutAuditEvents` error codes: `FieldNotFound`,
    /// `InvalidChecksum`, `InvalidData`, `InvalidRecipient`, `FieldTooLong`).
    Lake {
        code: &'static str,
        message: String,
    },
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::InvalidJson(e) => write!(f, "invalid JSON: {e}"),
            Rejection::NotAnObject => write!(f, "record is not a JSON object"),
            Rejection::NotCloudTrail => {
                write!(f, "not a CloudTrail event: it has none of eventVersion, eventID, eventName, eventSource")
            }
            Rejection::NoEventTime(why) => write!(f, "no parseable eventTime: {why}"),
            Rejection::Lake { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

/// What happened to one record.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Stored,
    /// A record of another kind (a CloudTrail Insights record in a CloudTrail store, a
    /// CloudTrail event in an Insights store): counted, never mixed into this store.
    OtherKind(schema::Kind),
    Rejected(Rejection),
}

/// Most fields one object level of the schema may have (checked when the schema is loaded).
pub const MAX_FIELDS: usize = crate::schema::MAX_FIELDS_PER_LEVEL;

/// Maps JSON keys of one object level onto field slots.
#[derive(Debug)]
struct KeyIndex {
    /// The exact keys, by length: a key is found by comparing it with the one to three keys of
    /// its length, 8 bytes at a time, without hashing it (this runs for every key of every event).
    by_len: Vec<Vec<ExactKey>>,
    folded: HashMap<String, (usize, u8)>,
}

/// A key of the schema, with its first and last 8 bytes as numbers (keys of up to 16 bytes,
/// most of CloudTrail's, then compare in two steps).
#[derive(Debug)]
struct ExactKey {
    head: u64,
    tail: u64,
    name: Box<str>,
    hit: (usize, u8),
}

/// The first and the last 8 bytes of `b` (overlapping, or zero-padded when shorter), as numbers.
fn head_tail(b: &[u8]) -> (u64, u64) {
    if b.len() >= 8 {
        let word = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or_default());
        (word(0), word(b.len() - 8))
    } else {
        let mut padded = [0u8; 8];
        padded[..b.len()].copy_from_slice(b);
        (u64::from_le_bytes(padded), 0)
    }
}

impl KeyIndex {
    fn new(fields: &[FieldSpec]) -> Self {
        let mut exact = HashMap::default();
        let mut folded = HashMap::default();
        for (i, f) in fields.iter().enumerate() {
            let names = f.source.iter().chain(f.aliases.iter());
            for (prio, name) in names.enumerate() {
                let prio = prio as u8;
                exact.entry(name.clone()).or_insert((i, prio));
                folded.entry(name.to_ascii_lowercase()).or_insert((i, prio));
            }
        }
        let mut by_len: Vec<Vec<ExactKey>> = Vec::new();
        for (name, &hit) in &exact {
            if by_len.len() <= name.len() {
                by_len.resize_with(name.len() + 1, Vec::new);
            }
            let (head, tail) = head_tail(name.as_bytes());
            by_len[name.len()].push(ExactKey { head, tail, name: name.as_str().into(), hit });
        }
        Self { by_len, folded }
    }

    /// Field slot and priority (0 = the primary key, higher = an alias).
    fn lookup(&self, key: &str) -> Option<(usize, u8)> {
        if let Some(same_len) = self.by_len.get(key.len()) {
            let (head, tail) = head_tail(key.as_bytes());
            for k in same_len {
                if k.head == head && k.tail == tail && (key.len() <= 16 || *k.name == *key) {
                    return Some(k.hit);
                }
            }
        }
        // Keys differing only in case (hand-made exports) still land in their column.
        self.folded.get(&key.to_ascii_lowercase()).copied()
    }

    /// Picks, for every field, the value of its highest-priority key present in the object.
    /// (Fixed-size arrays on the stack: this runs for every object level of every event.)
    fn slots<'a>(&self, n: usize, object: Value<'a>) -> Slots<'a> {
        debug_assert!(n <= MAX_FIELDS);
        let mut slots = Slots { doc: object.doc(), at: [0; MAX_FIELDS] };
        let mut prios = [u8::MAX; MAX_FIELDS];
        for (k, v) in object.entries() {
            if let Some((i, p)) = self.lookup(&k) {
                if v.is_null() {
                    // A JSON null never hides another key with a value (e.g. `@timestamp`).
                    if slots.at[i] == 0 {
                        slots.at[i] = v.index() as u32;
                    }
                } else if p < prios[i] {
                    slots.at[i] = v.index() as u32;
                    prios[i] = p;
                }
            }
        }
        slots
    }
}

/// The value of each field of one object level, as token indices into the record (0, the
/// record's root, is never a member: it marks a field the object lacks). Four bytes a field
/// rather than a 40-byte `Option<Value>`: the array is made for every object of every event.
struct Slots<'a> {
    doc: Doc<'a>,
    at: [u32; MAX_FIELDS],
}

impl<'a> Slots<'a> {
    /// Whether the object has field `i` (a JSON null counts: the key is there).
    fn has(&self, i: usize) -> bool {
        self.at[i] != 0
    }

    fn get(&self, i: usize) -> Option<Value<'a>> {
        match self.at[i] {
            0 => None,
            idx => Some(self.doc.value(idx as usize)),
        }
    }
}

/// Where the values a column holds verbatim are noted, for the stored event text to refer to
/// them (`schema::event_text`).
struct TextRefs<'t, 'r> {
    text: &'t str,
    code: u8,
    refs: &'r mut Vec<Reference>,
}

impl TextRefs<'_, '_> {
    fn note(&mut self, value: &str, stored: &str, index: Option<u32>) {
        self.refs.extend(Reference::to(self.text, value, stored, self.code, index));
    }
}

/// A column under construction, and the nulls it is owed.
///
/// Most fields are absent from most events (error fields, Insights and network-activity fields,
/// whole identity sub-objects): a row without the field only counts here, and the builder takes
/// the count in one bulk append before its next value or when the batch is finished. A null
/// row then costs an increment instead of an offset and a validity bit (and, for a struct, a
/// null in each of its children, recursively).
struct Column {
    values: Values,
    owed_nulls: usize,
}

/// The builder of a column's values.
enum Values {
    Str(StringBuilder),
    Ts(TimestampMicrosecondBuilder),
    Bool(BooleanBuilder),
    F64(Float64Builder),
    I32(Int32Builder),
    Map(MapBuilder<StringBuilder, StringBuilder>),
    Struct(StructColumn),
    List(ListColumn),
}

struct StructColumn {
    fields: Fields,
    specs: Vec<FieldSpec>,
    index: KeyIndex,
    children: Vec<Column>,
    nulls: NullBufferBuilder,
}

struct ListColumn {
    item_field: FieldRef,
    /// The items of all lists, one after another (struct items keep their key index there).
    item: Box<Column>,
    /// Where each list's items start in `item`, then where the last one ends.
    offsets: Vec<i32>,
    nulls: NullBufferBuilder,
}

impl Column {
    fn new(ty: &FieldType) -> Self {
        let values = match ty {
            FieldType::String => Values::Str(StringBuilder::new()),
            FieldType::Timestamp => Values::Ts(TimestampMicrosecondBuilder::new().with_timezone(schema::UTC)),
            FieldType::Boolean => Values::Bool(BooleanBuilder::new()),
            FieldType::Double => Values::F64(Float64Builder::new()),
            FieldType::Integer => Values::I32(Int32Builder::new()),
            FieldType::Map => Values::Map(map_builder(0, StringBuilder::new(), StringBuilder::new())),
            FieldType::Struct { fields } => Values::Struct(StructColumn::new(fields)),
            FieldType::List { item } => Values::List(ListColumn {
                item_field: Arc::new(Field::new("element", schema::type_to_arrow(&item.ty), true)),
                item: Box::new(Column::new(&item.ty)),
                offsets: vec![0],
                nulls: NullBufferBuilder::new(0),
            }),
        };
        Column { values, owed_nulls: 0 }
    }

    /// Appends the nulls owed, in one go.
    fn pay_nulls(&mut self) {
        let n = std::mem::take(&mut self.owed_nulls);
        if n == 0 {
            return;
        }
        match &mut self.values {
            Values::Str(b) => b.append_nulls(n),
            Values::Ts(b) => b.append_nulls(n),
            Values::Bool(b) => b.append_nulls(n),
            Values::F64(b) => b.append_nulls(n),
            Values::I32(b) => b.append_nulls(n),
            Values::Map(b) => {
                // Cannot fail: keys and values are appended in pairs.
                let _ = b.append_nulls(n);
            }
            Values::Struct(s) => s.append_nulls(n),
            Values::List(l) => {
                let last = *l.offsets.last().unwrap_or(&0);
                l.offsets.extend(std::iter::repeat_n(last, n));
                l.nulls.append_n_nulls(n);
            }
        }
    }

    fn append(&mut self, v: Option<Value<'_>>) {
        self.append_noting(v, None)
    }

    /// `append`, noting in `refs.refs` the values this column now holds exactly as the event
    /// text has them, so the stored text can refer to them (top-level string and map columns).
    fn append_noting(&mut self, v: Option<Value<'_>>, refs: Option<&mut TextRefs<'_, '_>>) {
        // A value of the wrong kind (type drift: a string where an object belongs) is stored as
        // null here; the event text keeps it.
        let fits = |v: &Value<'_>| match &self.values {
            Values::Map(_) | Values::Struct(_) => v.kind() == Kind::Object,
            Values::List(_) => v.kind() == Kind::Array,
            _ => !v.is_null(),
        };
        let Some(v) = v.filter(fits) else {
            self.owed_nulls += 1;
            return;
        };
        self.pay_nulls();
        match &mut self.values {
            Values::Str(b) => {
                let stored = v.text();
                if let Some(r) = refs {
                    r.note(v.raw(), &stored, None);
                }
                b.append_value(stored.as_ref());
            }
            Values::Ts(b) => b.append_option(time_of(v)),
            Values::Bool(b) => b.append_option(bool_of(v)),
            Values::F64(b) => b.append_option(number_of(v)),
            Values::I32(b) => b.append_option(
                number_of(v).filter(|n| n.fract() == 0.0 && n.abs() <= i32::MAX as f64).map(|n| n as i32),
            ),
            Values::Map(b) => {
                let mut refs = refs;
                for (i, (k, val)) in v.entries().enumerate() {
                    b.keys().append_value(k.as_ref());
                    if val.is_null() {
                        b.values().append_null();
                    } else {
                        let stored = val.text();
                        if let Some(r) = refs.as_deref_mut() {
                            r.note(val.raw(), &stored, Some(i as u32));
                        }
                        b.values().append_value(stored.as_ref());
                    }
                }
                // Cannot fail: keys and values were appended in pairs.
                let _ = b.append(true);
            }
            Values::Struct(s) => s.append_object(v),
            Values::List(l) => {
                let mut n = 0;
                for item in v.items() {
                    l.item.append(Some(item));
                    n += 1;
                }
                let last = *l.offsets.last().unwrap_or(&0);
                l.offsets.push(last + n);
                l.nulls.append_non_null();
            }
        }
    }

    /// Finishes the rows so far and makes the builder ready for a next batch sized like this
    /// one, so it does not grow by repeated copies (each copy also touches fresh memory).
    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        self.pay_nulls();
        Ok(match &mut self.values {
            Values::Str(b) => {
                let a = b.finish();
                *b = sized_strings(&a);
                Arc::new(a)
            }
            Values::Ts(b) => {
                let a = b.finish();
                *b = TimestampMicrosecondBuilder::with_capacity(room(a.len())).with_timezone(schema::UTC);
                Arc::new(a)
            }
            Values::Bool(b) => {
                let a = b.finish();
                *b = BooleanBuilder::with_capacity(room(a.len()));
                Arc::new(a)
            }
            Values::F64(b) => {
                let a = b.finish();
                *b = Float64Builder::with_capacity(room(a.len()));
                Arc::new(a)
            }
            Values::I32(b) => {
                let a = b.finish();
                *b = Int32Builder::with_capacity(room(a.len()));
                Arc::new(a)
            }
            Values::Map(b) => {
                let a = b.finish();
                let keys = sized_strings(a.keys().as_string::<i32>());
                let values = sized_strings(a.values().as_string::<i32>());
                *b = map_builder(room(a.len()), keys, values);
                Arc::new(a)
            }
            Values::Struct(s) => Arc::new(s.finish()?),
            Values::List(l) => {
                let values = l.item.finish()?;
                let mut next = Vec::with_capacity(room(l.offsets.len()));
                next.push(0);
                let offsets = OffsetBuffer::new(std::mem::replace(&mut l.offsets, next).into());
                let nulls = std::mem::replace(&mut l.nulls, NullBufferBuilder::new(room(offsets.len()))).finish();
                Arc::new(ListArray::try_new(l.item_field.clone(), offsets, values, nulls)?)
            }
        })
    }
}

impl StructColumn {
    fn new(specs: &[FieldSpec]) -> Self {
        Self {
            fields: Fields::from(specs.iter().map(schema::field_to_arrow).collect::<Vec<_>>()),
            specs: specs.to_vec(),
            index: KeyIndex::new(specs),
            children: specs.iter().map(|f| Column::new(&f.ty)).collect(),
            nulls: NullBufferBuilder::new(0),
        }
    }

    fn append_object(&mut self, obj: Value<'_>) {
        let slots = self.index.slots(self.specs.len(), obj);
        for (i, child) in self.children.iter_mut().enumerate() {
            child.append(slots.get(i));
        }
        self.nulls.append_non_null();
    }

    /// `n` null rows: owed to the children, appended to the struct's own validity.
    fn append_nulls(&mut self, n: usize) {
        for child in &mut self.children {
            child.owed_nulls += n;
        }
        self.nulls.append_n_nulls(n);
    }

    fn finish(&mut self) -> Result<StructArray, ArrowError> {
        let arrays = self.children.iter_mut().map(Column::finish).collect::<Result<Vec<_>, _>>()?;
        let rows = self.nulls.len();
        let nulls = std::mem::replace(&mut self.nulls, NullBufferBuilder::new(room(rows))).finish();
        StructArray::try_new(self.fields.clone(), arrays, nulls)
    }
}

/// Capacity for a next batch like one of `n` (items or bytes): a little more, so a slightly
/// larger batch still fits without a copy.
fn room(n: usize) -> usize {
    n + n / 8 + 16
}

/// An empty string builder with room for a batch like `like`.
fn sized_strings(like: &StringArray) -> StringBuilder {
    StringBuilder::with_capacity(room(like.len()), room(like.values().len()))
}

/// A map builder with Lake's field names and room for `rows` maps.
fn map_builder(rows: usize, keys: StringBuilder, values: StringBuilder) -> MapBuilder<StringBuilder, StringBuilder> {
    let names = MapFieldNames { entry: "key_value".into(), key: "key".into(), value: "value".into() };
    MapBuilder::with_capacity(Some(names), keys, values, rows).with_values_field(Field::new(
        "value",
        DataType::Utf8,
        true,
    ))
}

fn time_of(v: Value<'_>) -> Option<i64> {
    match v.kind() {
        Kind::String => return parse_event_time(&v.text()),
        Kind::Number => {}
        _ => return None,
    }
    // Epoch numbers: milliseconds when large (CloudWatch Logs), else seconds.
    let n: f64 = v.raw().parse().ok()?;
    if !n.is_finite() {
        return None;
    }
    let micros = if n.abs() >= 1e11 { n * 1e3 } else { n * 1e6 };
    Some(micros as i64)
}

/// A JSON number, or a string holding one (exports write numbers as text too).
fn number_of(v: Value<'_>) -> Option<f64> {
    let n: f64 = match v.kind() {
        Kind::Number => v.raw().parse().ok()?,
        Kind::String => v.text().trim().parse().ok()?,
        _ => return None,
    };
    n.is_finite().then_some(n)
}

fn bool_of(v: Value<'_>) -> Option<bool> {
    match v.kind() {
        Kind::True => Some(true),
        Kind::False => Some(false),
        Kind::String => {
            let t = v.text();
            if t.eq_ignore_ascii_case("true") {
                Some(true)
            } else if t.eq_ignore_ascii_case("false") {
                Some(false)
            } else {
                None
            }
        }
        _ => None,
    }
}

/// Accumulates decoded events into Arrow columns of the stored schema (Lake columns + day).
/// A batch may hold several days; the writer files each row under its day.
pub struct EventBatchBuilder {
    kind: schema::Kind,
    schema: &'static EventSchema,
    index: KeyIndex,
    /// One builder per schema field (none for fields derived when read).
    columns: Vec<Option<Column>>,
    eventjson: StringBuilder,
    /// Each row's event day (days since the epoch, UTC).
    days: Vec<i32>,
    time_slot: usize,
    type_slot: Option<usize>,
    /// Slots whose presence marks a CloudTrail event.
    identity_slots: Vec<usize>,
    /// Reference code of each top-level slot whose values the stored text refers to.
    text_refs: [Option<u8>; MAX_FIELDS],
    /// The current event's references (a reused buffer).
    refs: Vec<Reference>,
    /// The current event's tokens (a reused buffer).
    tape: Tape,
    /// Tokens of a record rewritten into Lake's shape (`kinds::to_lake_shape`).
    reshaped: Tape,
    /// What shaping records for this store needs (the channel of events from outside AWS).
    shape: kinds::ShapeContext,
    json_bytes: usize,
}

impl EventBatchBuilder {
    /// A builder for the events of a store of `kind`.
    pub fn new(kind: schema::Kind) -> Self {
        let schema = kind.schema();
        let fields = &schema.spec.fields;
        let slot = |n: &str| fields.iter().position(|f| f.name == n);
        let time_slot = slot(&schema.spec.partition.from).unwrap_or(0);
        let identity_slots =
            ["eventversion", "eventid", "eventname", "eventsource"].iter().filter_map(|n| slot(n)).collect();
        let mut text_refs = [None; MAX_FIELDS];
        for &(i, code) in &schema.text_refs {
            text_refs[i] = Some(code);
        }
        Self {
            kind,
            schema,
            index: KeyIndex::new(fields),
            columns: fields.iter().map(|f| f.derived.is_none().then(|| Column::new(&f.ty))).collect(),
            eventjson: StringBuilder::new(),
            days: Vec::new(),
            time_slot,
            type_slot: slot("eventtype"),
            identity_slots,
            text_refs,
            refs: Vec::new(),
            tape: Tape::default(),
            reshaped: Tape::default(),
            shape: kinds::ShapeContext::default(),
            json_bytes: 0,
        }
    }

    /// The builder, shaping events from outside AWS as arriving on `shape`'s channel.
    pub fn with_shape(self, shape: kinds::ShapeContext) -> Self {
        Self { shape, ..self }
    }

    pub fn rows(&self) -> usize {
        self.days.len()
    }

    /// Bytes of event text held (the bulk of the batch's memory).
    pub fn json_bytes(&self) -> usize {
        self.json_bytes
    }

    /// Decodes one event and appends it unless it is rejected or of another kind.
    pub fn push(&mut self, raw: &[u8]) -> Outcome {
        self.push_tokens(raw, None)
    }

    /// [`push`](Self::push), given the record's tokens when the splitter already read them.
    pub fn push_tokens(&mut self, raw: &[u8], tokens: Option<Doc<'_>>) -> Outcome {
        if let Some(doc) = tokens {
            return self.store(doc);
        }
        let text = match std::str::from_utf8(raw) {
            Ok(t) => t,
            Err(e) => {
                return Outcome::Rejected(Rejection::InvalidJson(format!(
                    "invalid UTF-8 at byte {} of the record",
                    e.valid_up_to()
                )))
            }
        };
        // The tape is lent out while the event is stored from it.
        let mut tape = std::mem::take(&mut self.tape);
        let outcome = match tape.parse(text) {
            Ok(doc) => self.store(doc),
            Err(e) => Outcome::Rejected(Rejection::InvalidJson(e.to_string())),
        };
        self.tape = tape;
        outcome
    }

    /// Appends one tokenized event.
    fn store(&mut self, doc: Doc<'_>) -> Outcome {
        let obj = doc.root();
        if obj.kind() != Kind::Object {
            return Outcome::Rejected(Rejection::NotAnObject);
        }
        let n = self.schema.spec.fields.len();
        let slots = self.index.slots(n, obj);
        let kind = kinds::kind_of(obj, self.type_slot.and_then(|i| slots.get(i)));
        if kind != self.kind {
            if kind == schema::Kind::Cloudtrail && !self.identity_slots.iter().any(|&i| slots.has(i)) {
                // Not of any kind: say so rather than count it as a CloudTrail event.
                return Outcome::Rejected(Rejection::NotCloudTrail);
            }
            return Outcome::OtherKind(kind);
        }
        match kinds::to_lake_shape(kind, obj, &self.shape) {
            Err(why) => Outcome::Rejected(why),
            Ok(None) => self.store_slots(doc, slots),
            Ok(Some(shaped)) => {
                // The rewritten record is decoded instead.
                let mut tape = std::mem::take(&mut self.reshaped);
                let outcome = match tape.parse(&shaped) {
                    Ok(doc) => self.store_slots(doc, self.index.slots(n, doc.root())),
                    Err(e) => Outcome::Rejected(Rejection::InvalidJson(e.to_string())),
                };
                self.reshaped = tape;
                outcome
            }
        }
    }

    /// Appends one event whose fields are in `slots`.
    fn store_slots(&mut self, doc: Doc<'_>, slots: Slots<'_>) -> Outcome {
        if !self.identity_slots.iter().any(|&i| slots.has(i)) {
            return Outcome::Rejected(Rejection::NotCloudTrail);
        }
        let text = doc.text();
        let time = match slots.get(self.time_slot) {
            None => return Outcome::Rejected(Rejection::NoEventTime("the event has no eventTime".into())),
            Some(v) => match time_of(v) {
                Some(t) => t,
                None => return Outcome::Rejected(Rejection::NoEventTime(format!("cannot read {} as a time", v.raw()))),
            },
        };
        self.refs.clear();
        for (i, (col, code)) in self.columns.iter_mut().zip(&self.text_refs).enumerate() {
            if let Some(col) = col {
                let slot = slots.get(i);
                match code {
                    Some(code) => {
                        col.append_noting(slot, Some(&mut TextRefs { text, code: *code, refs: &mut self.refs }))
                    }
                    None => col.append(slot),
                }
            }
        }
        if self.refs.is_empty() {
            self.eventjson.append_value(text);
        } else {
            // Written straight into the column; `append_value("")` ends the row (writing to a
            // string builder cannot fail).
            let _ = write_stored(text, &mut self.refs, &mut self.eventjson);
            self.eventjson.append_value("");
        }
        self.days.push(time.div_euclid(MICROS_PER_DAY) as i32);
        self.json_bytes += text.len();
        Outcome::Stored
    }

    /// Finishes the rows so far as a batch of the stored schema (Lake columns + day). The
    /// builders stay sized for a next batch like this one.
    pub fn finish(&mut self) -> Result<RecordBatch, ArrowError> {
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.columns.len() + 1);
        for (spec, col) in self.schema.spec.fields.iter().zip(self.columns.iter_mut()) {
            arrays.push(match (spec.derived, col) {
                (Some(Derived::EventJson), _) => {
                    let text = self.eventjson.finish();
                    self.eventjson = sized_strings(&text);
                    Arc::new(text)
                }
                // Computed from eventjson when read (see `Derived`).
                (Some(Derived::EventJsonSha256 | Derived::EventContext), _) => continue,
                (None, Some(col)) => col.finish()?,
                (None, None) => unreachable!("every non-derived field has a column"),
            });
        }
        let rows = self.days.len();
        arrays.push(Arc::new(Date32Array::from(std::mem::replace(&mut self.days, Vec::with_capacity(room(rows))))));
        self.json_bytes = 0;
        RecordBatch::try_new(self.schema.stored.clone(), arrays)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, AsArray};
    use datafusion::arrow::datatypes::{Date32Type, TimestampMicrosecondType};

    fn build(events: &[&str]) -> (Vec<Outcome>, RecordBatch) {
        let mut b = EventBatchBuilder::new(schema::Kind::Cloudtrail);
        let out = events.iter().map(|e| b.push(e.as_bytes())).collect();
        (out, b.finish().expect("batch"))
    }

    fn col_str(batch: &RecordBatch, name: &str, row: usize) -> Option<String> {
        let c = batch.column_by_name(name)?;
        let c = c.as_string::<i32>();
        c.is_valid(row).then(|| c.value(row).to_string())
    }

    #[test]
    fn every_key_and_alias_finds_its_field_and_near_misses_find_none() {
        let schema = schema::cloudtrail();
        let index = KeyIndex::new(&schema.spec.fields);
        for (i, f) in schema.spec.fields.iter().enumerate() {
            for name in f.source.iter().chain(f.aliases.iter()) {
                let (slot, _) = index.lookup(name).unwrap_or_else(|| panic!("{name} not found"));
                assert_eq!(slot, i, "{name}");
                assert_eq!(index.lookup(&name.to_ascii_uppercase()).map(|h| h.0), Some(i), "{name} in capitals");
            }
        }
        // Same length, first and last 8 bytes as a real key, another middle (over 16 bytes).
        assert!(index.lookup("sessionCredentialFromConsole").is_some());
        assert_eq!(index.lookup("sessionCredentialXXXXConsole"), None);
        for near in ["eventNam", "eventNamee", "eventname_", "", "e", "userIdentitY_"] {
            assert_eq!(index.lookup(near), None, "{near}");
        }
    }

    #[test]
    fn type_drift_is_stored_not_dropped() {
        let (out, batch) = build(&[
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventName":42,"requestParameters":"oops","readOnly":"true","userIdentity":"weird","resources":[{"ARN":"arn:a","accountId":"1"},{"ARNPrefix":"arn:p/"}],"sessionCredentialFromConsole":"true"}"#,
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:01.123Z","requestParameters":{"a":{"b" : [1, 2]},"c":"d","n":null,"x":5},"readOnly":false}"#,
        ]);
        assert_eq!(out, vec![Outcome::Stored, Outcome::Stored]);
        assert_eq!(col_str(&batch, "eventname", 0).as_deref(), Some("42"));
        assert!(batch.column_by_name("requestparameters").is_some_and(|c| c.is_null(0)));
        assert!(batch.column_by_name("useridentity").is_some_and(|c| c.is_null(0)));
        let ro = batch.column_by_name("readonly").map(|c| c.as_boolean().clone());
        assert_eq!(ro.map(|r| (r.value(0), r.value(1))), Some((true, false)));
        let rp = batch.column_by_name("requestparameters").map(|c| c.as_map().clone());
        let rp = rp.expect("map");
        let entries = rp.value(1);
        let keys = entries.column(0).as_string::<i32>();
        let vals = entries.column(1).as_string::<i32>();
        assert_eq!(keys.value(0), "a");
        assert_eq!(vals.value(0), r#"{"b":[1,2]}"#);
        assert_eq!(vals.value(1), "d");
        assert!(vals.is_null(2));
        assert_eq!(vals.value(3), "5");
        let ts = batch.column_by_name("eventtime").map(|c| c.as_primitive::<TimestampMicrosecondType>().value(1));
        assert_eq!(ts, Some(1_714_557_601_123_000));
        assert_eq!(col_str(&batch, "sessioncredentialfromconsole", 0).as_deref(), Some("true"));
        let res = batch.column_by_name("resources").map(|c| c.as_list::<i32>().value(0));
        assert_eq!(res.map(|r| r.len()), Some(2));
    }

    #[test]
    fn builders_reused_after_a_batch_give_the_same_columns_and_each_row_its_day() {
        // The second batch is built by the builders the first one left sized (maps, lists of
        // structs, nested structs, nulls); it must equal a batch built from scratch.
        let events = [
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T23:59:59Z","eventID":"a","userIdentity":{"type":"IAMUser","sessionContext":{"attributes":{"mfaAuthenticated":"true"}}},"requestParameters":{"bucketName":"b","n":null},"resources":[{"ARN":"arn:1","type":"T"}]}"#,
            r#"{"eventVersion":"1.08","eventTime":"2024-05-02T00:00:00Z","eventID":"b","resources":null,"readOnly":true}"#,
            r#"{"eventVersion":"1.08","eventTime":"2024-05-02T00:00:01Z","eventID":"c","userIdentity":null,"responseElements":{"x":{"y":1}},"resources":[{"ARN":"arn:2"},{"ARN":"arn:3","accountId":"9"}]}"#,
        ];
        let mut reused = EventBatchBuilder::new(schema::Kind::Cloudtrail);
        for e in events.iter().rev() {
            assert_eq!(reused.push(e.as_bytes()), Outcome::Stored);
        }
        let first = reused.finish().expect("first batch");
        assert_eq!(first.num_rows(), 3);
        for e in &events {
            assert_eq!(reused.push(e.as_bytes()), Outcome::Stored);
        }
        let second = reused.finish().expect("second batch");
        let (_, fresh) = build(&events);
        assert_eq!(second, fresh);
        let days =
            second.column_by_name(schema::PARTITION_COLUMN).map(|c| c.as_primitive::<Date32Type>().values().to_vec());
        assert_eq!(days, Some(vec![19844, 19845, 19845]));
        let third = reused.finish().expect("an empty batch");
        assert_eq!(third.num_rows(), 0);
    }

    /// The strings at a nested path of each row (None where the value or any parent is null).
    fn path_strs(batch: &RecordBatch, path: &[&str]) -> Vec<Option<String>> {
        let mut col = batch.column_by_name(path[0]).expect("column").clone();
        let mut valid: Vec<bool> = (0..batch.num_rows()).map(|i| col.is_valid(i)).collect();
        for name in &path[1..] {
            col = col.as_struct().column_by_name(name).expect("field").clone();
            valid.iter_mut().enumerate().for_each(|(i, v)| *v &= col.is_valid(i));
        }
        let strs = col.as_string::<i32>();
        (0..batch.num_rows()).map(|i| valid[i].then(|| strs.value(i).to_string())).collect()
    }

    #[test]
    fn absent_fields_are_null_in_their_own_rows_however_many_in_a_row() {
        // Nulls are owed and appended in bulk: runs of absent fields, at the start and at the
        // end of a batch, in structs (nested) and lists, must still land in their own rows.
        let events = [
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"arn":"i0"}}}}"#,
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:01Z"}"#,
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:02Z","errorCode":"E2","userIdentity":{"type":"IAMUser"},"tlsDetails":{"tlsVersion":"TLSv1.3"}}"#,
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:03Z","userIdentity":{"type":"AssumedRole","sessionContext":{"sessionIssuer":{"arn":"i3"}}},"resources":[{"ARN":"arn:r"}]}"#,
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:04Z","resources":"drift"}"#,
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:05Z"}"#,
        ];
        let s = |v: &str| Some(v.to_string());
        let mut b = EventBatchBuilder::new(schema::Kind::Cloudtrail);
        for round in 0..2 {
            for e in &events {
                assert_eq!(b.push(e.as_bytes()), Outcome::Stored);
            }
            let batch = b.finish().expect("batch");
            assert_eq!(batch.num_rows(), events.len(), "round {round}");
            assert_eq!(path_strs(&batch, &["errorcode"]), [None, None, s("E2"), None, None, None]);
            assert_eq!(
                path_strs(&batch, &["useridentity", "sessioncontext", "sessionissuer", "arn"]),
                [s("i0"), None, None, s("i3"), None, None]
            );
            assert_eq!(
                path_strs(&batch, &["useridentity", "type"]),
                [s("AssumedRole"), None, s("IAMUser"), s("AssumedRole"), None, None]
            );
            assert_eq!(path_strs(&batch, &["tlsdetails", "tlsversion"]), [None, None, s("TLSv1.3"), None, None, None]);
            let resources = batch.column_by_name("resources").expect("resources").as_list::<i32>().clone();
            let present: Vec<bool> = (0..resources.len()).map(|i| resources.is_valid(i)).collect();
            assert_eq!(present, [false, false, false, true, false, false]);
            assert_eq!(resources.value(3).len(), 1);
        }
        assert_eq!(b.finish().expect("an empty batch").num_rows(), 0);
    }

    #[test]
    fn alias_time_and_rejections() {
        let (out, batch) = build(&[
            r#"{"eventVersion":"1.05","@timestamp":"2020-09-14T00:44:23.000Z","eventID":"x"}"#,
            r#"{"eventVersion":"1.05","eventID":"y"}"#,
            r#"{"hello":"world","time":"2020-01-01T00:00:00Z"}"#,
            r#"{"eventVersion":"1.08","eventTime":"2022-04-12T16:10:00Z","eventType":"AwsCloudTrailInsight"}"#,
            r#"[1,2]"#,
            r#"{"eventVersion":"1.0", bad}"#,
        ]);
        assert_eq!(out[0], Outcome::Stored);
        assert!(matches!(out[1], Outcome::Rejected(Rejection::NoEventTime(_))));
        assert_eq!(out[2], Outcome::Rejected(Rejection::NotCloudTrail));
        assert_eq!(out[3], Outcome::OtherKind(schema::Kind::Insights));
        assert_eq!(out[4], Outcome::Rejected(Rejection::NotAnObject));
        assert!(matches!(out[5], Outcome::Rejected(Rejection::InvalidJson(_))));
        assert_eq!(batch.num_rows(), 1);
        assert_eq!(batch.schema(), schema::cloudtrail().stored);
    }

    #[test]
    fn stored_text_refers_to_column_values_and_restores_exactly() {
        use crate::schema::event_text::{has_references, original, Referenced};
        let id = "5e2676f8-0b3c-4e8e-9d2a-7d3c1f9a0e11";
        let events = [
            // Ids, a string and a nested object of a map, a number in a map.
            format!(r#"{{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:00Z","eventID":"{id}","requestID":"REQ-0123456789-abcdefghijkl","responseElements":{{"credentials":{{"accessKeyId":"ASIA1234567890ABCDEF","sessionToken":"IQoJb3JpZ2luX2VjEPr//////////wEaCXVzLWVhc3QtMSJHMEUCIQ"}},"n":123456789012345678901234567890,"s":"a value that is long enough"}}}}"#),
            // Escapes, whitespace inside nested values, unicode, duplicate keys, a map that is a
            // string: these stay in the text where putting them back would not be exact.
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:01Z","eventID":"dup-first-0000000000000000000000","eventID":"dup-second-000000000000000000000","requestParameters":{"policy":"{\"Version\":\"2012-10-17\",\"Statement\":[]}","pretty": { "a" : [ 1, 2 ], "b": "ccccccccccccccccccccc" },"name":"résumé-ünïcödé-long-enough-value","k":"k","k":"second value of a duplicate key"},"responseElements":"a string where an object belongs to be"}"#.to_string(),
            // Nothing long: stored unchanged.
            r#"{"eventVersion":"1.08","eventTime":"2024-05-01T10:00:02Z","eventID":"short"}"#.to_string(),
        ];
        let refs: Vec<&str> = events.iter().map(String::as_str).collect();
        let (out, batch) = build(&refs);
        assert!(out.iter().all(|o| *o == Outcome::Stored), "{out:?}");
        let stored = batch.column_by_name("eventjson").map(|c| c.as_string::<i32>().clone()).expect("text");
        assert!(!stored.value(0).contains(id) && !stored.value(0).contains("IQoJ"), "{}", stored.value(0));
        assert!(stored.value(1).contains("dup-second") && stored.value(1).contains(r#"\"Version\""#));
        assert!(!has_references(stored.value(2)));
        let cols = Referenced::of_batch(schema::cloudtrail(), &batch);
        for (row, text) in events.iter().enumerate() {
            assert_eq!(original(stored.value(row), row, &cols).as_deref(), Ok(text.as_str()), "row {row}");
        }
    }

    #[test]
    fn raw_control_bytes_are_invalid_json_so_stored_text_never_holds_a_reference_mark() {
        // References start with the byte 0x01 (`schema::event_text`): no stored event may hold
        // one of its own, in a value the decoder reads or in one it only skips over.
        let (out, batch) = build(&[
            "{\"eventVersion\":\"1.08\",\"eventTime\":\"2024-05-01T10:00:00Z\",\"eventName\":\"a\u{1}b\"}",
            "{\"eventVersion\":\"1.08\",\"eventTime\":\"2024-05-01T10:00:00Z\",\"unknownField\":{\"x\":\"a\u{1}b\"}}",
            "{\"eventVersion\":\"1.08\",\"eventTime\":\"2024-05-01T10:00:00Z\",\"eventName\":\"a\\u0001b\"}",
        ]);
        assert!(matches!(out[0], Outcome::Rejected(Rejection::InvalidJson(_))), "{out:?}");
        assert!(matches!(out[1], Outcome::Rejected(Rejection::InvalidJson(_))), "{out:?}");
        // Escaped, the character is fine: the text holds `\u0001`, not the byte.
        assert_eq!(out[2], Outcome::Stored);
        assert_eq!(col_str(&batch, "eventname", 0).as_deref(), Some("a\u{1}b"));
        assert!(!col_str(&batch, "eventjson", 0).is_some_and(|t| t.contains('\u{1}')));
    }
}
