//! The CloudTrail event schema, loaded from `schemas/cloudtrail.json` (the schema is data, not
//! code), and everything derived from it: the Arrow schema of an event data store and the
//! lookup tables the decoder uses to map trail JSON keys onto columns.

pub mod event_text;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

/// The schema file, compiled in so the binary is self-contained.
const CLOUDTRAIL_SCHEMA_JSON: &str = include_str!("../../schemas/cloudtrail.json");

/// Timezone of every timestamp column: CloudTrail times are UTC.
pub const UTC: &str = "UTC";

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("schemas/cloudtrail.json is not a valid schema description: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("schema field `{0}`: {1}")]
    Invalid(String, String),
}

/// One field of the event schema as written in `schemas/`.
#[derive(Debug, Clone, Deserialize)]
pub struct FieldSpec {
    /// Physical (lowercase) column name.
    pub name: String,
    /// Key in the trail JSON; absent for derived columns.
    #[serde(default)]
    pub source: Option<String>,
    /// Other keys that carry the same value in exports (e.g. Logstash's `@timestamp`).
    #[serde(default)]
    pub aliases: Vec<String>,
    #[serde(flatten)]
    pub ty: FieldType,
    /// An event without a usable value here cannot be stored.
    #[serde(default)]
    pub required: bool,
    /// Columns computed by the ingestor rather than read from a key.
    #[serde(default)]
    pub derived: Option<Derived>,
    /// The letter by which the stored event text refers to this column's values instead of
    /// repeating them (top-level string and map columns only; see `event_text`).
    #[serde(default)]
    pub text_ref: Option<char>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum FieldType {
    String,
    Timestamp,
    Boolean,
    /// `map<string,string>` of an object's top-level keys.
    Map,
    Struct {
        fields: Vec<FieldSpec>,
    },
    List {
        item: Box<ItemSpec>,
    },
}

/// The element type of a list.
#[derive(Debug, Clone, Deserialize)]
pub struct ItemSpec {
    #[serde(flatten)]
    pub ty: FieldType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Derived {
    /// The original event text.
    EventJson,
    /// SHA-256 (hex) of the original event text. Computed from `eventjson` when queried, not
    /// stored: 32 incompressible bytes per event would cost a fifth of the store for a value
    /// that is a function of another column.
    EventJsonSha256,
}

/// The column holding `Derived::EventJsonSha256` (computed on read; stored by tables created
/// before that).
pub const CHECKSUM_COLUMN: &str = "eventjsonchecksum";

impl Derived {
    /// Whether the column is computed when read rather than stored.
    pub fn is_computed_on_read(self) -> bool {
        matches!(self, Derived::EventJsonSha256)
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct PartitionSpec {
    pub name: String,
    pub from: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventSchemaSpec {
    pub name: String,
    pub partition: PartitionSpec,
    pub fields: Vec<FieldSpec>,
}

/// The loaded event schema plus its derived Arrow forms.
#[derive(Debug)]
pub struct EventSchema {
    pub spec: EventSchemaSpec,
    /// Columns users see (the Lake schema).
    pub arrow: SchemaRef,
    /// What the data files hold: the Lake columns except those computed on read.
    pub files: SchemaRef,
    /// What the Delta table holds: the file columns plus the day partition column.
    pub stored: SchemaRef,
    /// The columns the stored event text refers to: (top-level field index, reference code).
    pub text_refs: Vec<(usize, u8)>,
}

impl EventSchema {
    pub fn parse(json: &str) -> Result<Self, SchemaError> {
        let spec: EventSchemaSpec = serde_json::from_str(json)?;
        validate(&spec.fields, false)?;
        let text_refs = text_refs(&spec.fields)?;
        let fields: Vec<Field> = spec.fields.iter().map(field_to_arrow).collect();
        let arrow = Arc::new(Schema::new(fields));
        let file_fields: Vec<Field> = spec
            .fields
            .iter()
            .filter(|f| !f.derived.is_some_and(Derived::is_computed_on_read))
            .map(field_to_arrow)
            .collect();
        let files = Arc::new(Schema::new(file_fields.clone()));
        let mut stored_fields = file_fields;
        stored_fields.push(Field::new(&spec.partition.name, DataType::Date32, false));
        let stored = Arc::new(Schema::new(stored_fields));
        Ok(Self { spec, arrow, files, stored, text_refs })
    }

    /// Index of a top-level column by physical name.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.spec.fields.iter().position(|f| f.name == name)
    }

    /// The columns the stored event text refers to, by name, with their reference codes.
    pub fn text_ref_columns(&self) -> impl Iterator<Item = (&str, u8)> + '_ {
        self.text_refs.iter().map(|&(i, code)| (self.spec.fields[i].name.as_str(), code))
    }

    pub fn partition_column(&self) -> &str {
        &self.spec.partition.name
    }
}

/// The CloudTrail event schema, parsed once.
pub fn cloudtrail() -> &'static EventSchema {
    static SCHEMA: OnceLock<EventSchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        // The file is compiled in and covered by tests; failing here is a build defect.
        EventSchema::parse(CLOUDTRAIL_SCHEMA_JSON).unwrap_or_else(|e| panic!("built-in schema is invalid: {e}"))
    })
}

/// Most fields one object level may have (the decoder keeps a level's values on the stack).
pub const MAX_FIELDS_PER_LEVEL: usize = 48;

fn validate(fields: &[FieldSpec], nested: bool) -> Result<(), SchemaError> {
    if fields.len() > MAX_FIELDS_PER_LEVEL {
        return Err(SchemaError::Invalid(
            fields.first().map(|f| f.name.clone()).unwrap_or_default(),
            format!("more than {MAX_FIELDS_PER_LEVEL} fields at one level"),
        ));
    }
    let mut seen = HashMap::new();
    for f in fields {
        if f.name != f.name.to_ascii_lowercase() {
            return Err(SchemaError::Invalid(f.name.clone(), "physical names must be lowercase".into()));
        }
        if seen.insert(f.name.as_str(), ()).is_some() {
            return Err(SchemaError::Invalid(f.name.clone(), "duplicate name".into()));
        }
        if nested && f.text_ref.is_some() {
            return Err(SchemaError::Invalid(f.name.clone(), "`text_ref` is for top-level columns only".into()));
        }
        if f.source.is_none() && f.derived.is_none() {
            return Err(SchemaError::Invalid(f.name.clone(), "needs a `source` key or `derived`".into()));
        }
        match &f.ty {
            FieldType::Struct { fields } => validate(fields, true)?,
            FieldType::List { item } => {
                if let FieldType::Struct { fields } = &item.ty {
                    validate(fields, true)?
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// The top-level columns the stored event text may refer to, with their codes. Only string and
/// map columns qualify (their values are text that can be put back byte for byte); nested fields
/// are refused by `validate`.
fn text_refs(fields: &[FieldSpec]) -> Result<Vec<(usize, u8)>, SchemaError> {
    let mut out: Vec<(usize, u8)> = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        let Some(c) = f.text_ref else { continue };
        let invalid = |why: &str| Err(SchemaError::Invalid(f.name.clone(), why.into()));
        if !c.is_ascii_alphabetic() {
            return invalid("`text_ref` must be one ASCII letter");
        }
        if !matches!(f.ty, FieldType::String | FieldType::Map) || f.derived.is_some() {
            return invalid("`text_ref` is for string and map columns read from the event");
        }
        if out.iter().any(|&(_, seen)| seen == c as u8) {
            return invalid("`text_ref` letter used twice");
        }
        out.push((i, c as u8));
    }
    Ok(out)
}

pub fn field_to_arrow(f: &FieldSpec) -> Field {
    // Every column is nullable: CloudTrail omits fields freely and type drift stores NULL.
    Field::new(&f.name, type_to_arrow(&f.ty), true)
}

pub fn type_to_arrow(ty: &FieldType) -> DataType {
    match ty {
        FieldType::String => DataType::Utf8,
        FieldType::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into())),
        FieldType::Boolean => DataType::Boolean,
        FieldType::Map => map_type(),
        FieldType::Struct { fields } => {
            DataType::Struct(Fields::from(fields.iter().map(field_to_arrow).collect::<Vec<_>>()))
        }
        FieldType::List { item } => DataType::List(Arc::new(Field::new("element", type_to_arrow(&item.ty), true))),
    }
}

/// `map<string,string>` laid out as Delta and Parquet expect (`key_value` entries).
pub fn map_type() -> DataType {
    DataType::Map(Arc::new(map_entries_field()), false)
}

pub fn map_entries_field() -> Field {
    Field::new(
        "key_value",
        DataType::Struct(Fields::from(vec![
            Field::new("key", DataType::Utf8, false),
            Field::new("value", DataType::Utf8, true),
        ])),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_schema_derives_lake_types() {
        let s = cloudtrail();
        let f = |n: &str| s.arrow.field_with_name(n).map(|f| f.data_type().clone()).ok();
        assert_eq!(f("eventtime"), Some(DataType::Timestamp(TimeUnit::Microsecond, Some(UTC.into()))));
        assert_eq!(f("readonly"), Some(DataType::Boolean));
        assert_eq!(f("requestparameters"), Some(map_type()));
        assert!(matches!(f("resources"), Some(DataType::List(_))));
        assert!(s.stored.field_with_name("calendarday").is_ok());
        assert!(s.arrow.field_with_name("calendarday").is_err());
        // The checksum is a Lake column but is computed from eventjson when read.
        assert_eq!(f("eventjsonchecksum"), Some(DataType::Utf8));
        assert!(s.files.field_with_name("eventjsonchecksum").is_err());
        assert!(s.stored.field_with_name("eventjsonchecksum").is_err());
        assert!(s.files.field_with_name("eventjson").is_ok());
        for field in s.arrow.fields() {
            assert_eq!(field.name(), &field.name().to_ascii_lowercase());
        }
    }

    #[test]
    fn text_refs_are_top_level_strings_and_maps_with_distinct_letters() {
        let s = cloudtrail();
        let named: Vec<(&str, u8)> = s.text_ref_columns().collect();
        assert!(named.contains(&("eventid", b'e')) && named.contains(&("responseelements", b'o')), "{named:?}");
        assert!(named.contains(&("useragent", b'u')), "{named:?}");
        let with = |field: &str| {
            format!(
                r#"{{"name":"x","partition":{{"name":"d","from":"t"}},"fields":[{{"name":"t","source":"t","type":"timestamp"}},{field}]}}"#
            )
        };
        let ok = with(
            r#"{"name":"a","source":"a","type":"map","text_ref":"a"},{"name":"b","source":"b","type":"string","text_ref":"b"}"#,
        );
        assert_eq!(EventSchema::parse(&ok).map(|s| s.text_refs).ok(), Some(vec![(1, b'a'), (2, b'b')]));
        for bad in [
            r#"{"name":"a","source":"a","type":"boolean","text_ref":"a"}"#,
            r#"{"name":"a","source":"a","type":"string","text_ref":"1"}"#,
            r#"{"name":"a","source":"a","type":"string","text_ref":"a"},{"name":"b","source":"b","type":"map","text_ref":"a"}"#,
            r#"{"name":"s","source":"s","type":"struct","fields":[{"name":"a","source":"a","type":"string","text_ref":"a"}]}"#,
        ] {
            assert!(matches!(EventSchema::parse(&with(bad)), Err(SchemaError::Invalid(..))), "{bad}");
        }
    }

    #[test]
    fn rejects_uppercase_names() {
        let bad = r#"{"name":"x","partition":{"name":"d","from":"t"},"fields":[{"name":"eventTime","source":"eventTime","type":"timestamp"}]}"#;
        assert!(matches!(EventSchema::parse(bad), Err(SchemaError::Invalid(..))));
    }
}
