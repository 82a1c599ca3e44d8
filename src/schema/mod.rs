//! The event schemas, one per kind of event data store, loaded from `schemas/*.json` (the
//! schema is data, not code), and everything derived from them: the Arrow schema of an event
//! data store and the lookup tables the decoder uses to map JSON keys onto columns.

pub mod event_text;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use datafusion::arrow::datatypes::{DataType, Field, Fields, Schema, SchemaRef, TimeUnit};
use serde::Deserialize;

/// The schema files, compiled in so the binary is self-contained.
const CLOUDTRAIL_SCHEMA_JSON: &str = include_str!("../../schemas/cloudtrail.json");
const INSIGHTS_SCHEMA_JSON: &str = include_str!("../../schemas/insights.json");
const CONFIG_SCHEMA_JSON: &str = include_str!("../../schemas/config.json");
const ACTIVITY_SCHEMA_JSON: &str = include_str!("../../schemas/activityauditlog.json");
const EVIDENCE_SCHEMA_JSON: &str = include_str!("../../schemas/evidence.json");

/// The day partition every event data store is split by (the day of `eventtime`).
pub const PARTITION_COLUMN: &str = "calendarday";

/// Columns whose min/max statistics are kept per file for data skipping, where a kind has them.
const STATS_COLUMNS: &[&str] = &[
    "eventtime",
    "eventid",
    "eventname",
    "eventsource",
    "awsregion",
    "recipientaccountid",
    "errorcode",
    "sourceipaddress",
    "eventcategory",
    "useridentity.accesskeyid",
    "useridentity.arn",
    "insighteventsource",
    "insighteventname",
    "eventdata.resourcetype",
    "eventdata.resourceid",
    "eventdata.eventsource",
    "eventdata.eventname",
];

/// The kinds of event data store (Lake's event categories), each with its own schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// CloudTrail management, data and network activity events.
    #[default]
    Cloudtrail,
    /// CloudTrail Insights events (Lake's category `Insight`).
    Insights,
    /// AWS Config configuration items (`ConfigurationItem`).
    Config,
    /// Events from outside AWS (`ActivityAuditLog`, sent with `PutAuditEvents`).
    #[serde(alias = "activityauditlog")]
    Audit,
    /// AWS Audit Manager evidence (`Evidence`).
    Evidence,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Cloudtrail, Kind::Insights, Kind::Config, Kind::Audit, Kind::Evidence];

    /// The schema of stores of this kind.
    pub fn schema(self) -> &'static EventSchema {
        static SCHEMAS: OnceLock<Vec<EventSchema>> = OnceLock::new();
        let all = SCHEMAS.get_or_init(|| {
            Kind::ALL
                .iter()
                .map(|k| {
                    // The files are compiled in and covered by tests; failing here is a build defect.
                    EventSchema::parse(k.schema_json())
                        .unwrap_or_else(|e| panic!("built-in schema of {} is invalid: {e}", k.name()))
                })
                .collect()
        });
        &all[self as usize]
    }

    fn schema_json(self) -> &'static str {
        match self {
            Kind::Cloudtrail => CLOUDTRAIL_SCHEMA_JSON,
            Kind::Insights => INSIGHTS_SCHEMA_JSON,
            Kind::Config => CONFIG_SCHEMA_JSON,
            Kind::Audit => ACTIVITY_SCHEMA_JSON,
            Kind::Evidence => EVIDENCE_SCHEMA_JSON,
        }
    }

    /// The name `eds create --kind` takes.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Cloudtrail => "cloudtrail",
            Kind::Insights => "insights",
            Kind::Config => "config",
            Kind::Audit => "audit",
            Kind::Evidence => "evidence",
        }
    }

    /// Lake's `eventCategory` of the events (CloudTrail stores hold several).
    pub fn event_category(self) -> &'static str {
        match self {
            Kind::Cloudtrail => "Management",
            Kind::Insights => "Insight",
            Kind::Config => "ConfigurationItem",
            Kind::Audit => "ActivityAuditLog",
            Kind::Evidence => "Evidence",
        }
    }

    /// Lake's `eventType` of the events (CloudTrail events have several).
    pub fn event_type(self) -> Option<&'static str> {
        match self {
            Kind::Cloudtrail => None,
            Kind::Insights => Some("AwsCloudTrailInsight"),
            Kind::Config => Some("AwsConfigurationItem"),
            Kind::Audit => Some("ActivityLog"),
            Kind::Evidence => Some("AwsAuditManagerEvidence"),
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;

    /// Our names, and Lake's event categories (`Insight`, `ConfigurationItem`, …), any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let folded = s.to_ascii_lowercase();
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == folded || k.event_category().eq_ignore_ascii_case(s))
            .or(match folded.as_str() {
                "insight" => Some(Kind::Insights),
                "configurationitem" | "configurationitems" => Some(Kind::Config),
                "activityauditlog" | "activitylog" => Some(Kind::Audit),
                "management" | "data" | "networkactivity" => Some(Kind::Cloudtrail),
                _ => None,
            })
            .ok_or_else(|| format!("unknown kind `{s}`: expected cloudtrail, insights, config, audit or evidence"))
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Timezone of every timestamp column: CloudTrail times are UTC.
pub const UTC: &str = "UTC";

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("not a valid schema description: {0}")]
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
    /// 64-bit float (Insights statistics).
    Double,
    /// 32-bit integer (Insights durations in minutes).
    Integer,
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
    /// The event's `eventContext` (Lake's enriched events: `requestContext`, `tagContext`) as a
    /// map of its top-level keys, read from `eventjson` when queried: rare, and not stored, so
    /// stores made before it existed answer it too.
    EventContext,
}

/// The column holding each event's text, in the stored encoding (`event_text`).
pub const EVENT_TEXT_COLUMN: &str = "eventjson";
/// The column holding `Derived::EventJsonSha256` (computed on read; stored by tables created
/// before that).
pub const CHECKSUM_COLUMN: &str = "eventjsonchecksum";
/// The column holding `Derived::EventContext` (computed on read).
pub const EVENT_CONTEXT_COLUMN: &str = "eventcontext";

impl Derived {
    /// Whether the column is computed when read rather than stored.
    pub fn is_computed_on_read(self) -> bool {
        matches!(self, Derived::EventJsonSha256 | Derived::EventContext)
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
        if spec.partition.name != PARTITION_COLUMN {
            return Err(SchemaError::Invalid(
                spec.partition.name.clone(),
                format!("the partition must be `{PARTITION_COLUMN}`"),
            ));
        }
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

    /// Whether the schema has the column at `path` (`useridentity.arn`).
    pub fn has_path(&self, path: &str) -> bool {
        let mut fields = &self.spec.fields;
        let mut parts = path.split('.').peekable();
        while let Some(part) = parts.next() {
            let Some(f) = fields.iter().find(|f| f.name == part) else { return false };
            if parts.peek().is_none() {
                return true;
            }
            match &f.ty {
                FieldType::Struct { fields: inner } => fields = inner,
                _ => return false,
            }
        }
        false
    }

    /// The columns whose min/max statistics each file keeps, comma-separated (Delta's
    /// `dataSkippingStatsColumns`).
    pub fn stats_columns(&self) -> String {
        STATS_COLUMNS.iter().filter(|c| self.has_path(c)).copied().collect::<Vec<_>>().join(",")
    }

    /// Whether the events keep their original text (`eventjson`; CloudTrail stores only).
    pub fn keeps_event_text(&self) -> bool {
        self.spec.fields.iter().any(|f| f.derived == Some(Derived::EventJson))
    }
}

/// The CloudTrail event schema, parsed once.
pub fn cloudtrail() -> &'static EventSchema {
    Kind::Cloudtrail.schema()
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
        FieldType::Double => DataType::Float64,
        FieldType::Integer => DataType::Int32,
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
                r#"{{"name":"x","partition":{{"name":"calendarday","from":"t"}},"fields":[{{"name":"t","source":"t","type":"timestamp"}},{field}]}}"#
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
        let bad = r#"{"name":"x","partition":{"name":"calendarday","from":"t"},"fields":[{"name":"eventTime","source":"eventTime","type":"timestamp"}]}"#;
        assert!(matches!(EventSchema::parse(bad), Err(SchemaError::Invalid(..))));
    }
}
