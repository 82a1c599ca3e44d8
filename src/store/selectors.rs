//! Advanced event selectors, in AWS's JSON shape, validated as CloudTrail validates them for an
//! event data store of CloudTrail events, and evaluated at ingest with AWS's rules:
//!
//! - within one field, the Equals/StartsWith/EndsWith conditions are OR'd, the
//!   NotEquals/NotStartsWith/NotEndsWith conditions AND'd, and the two groups AND'd;
//! - the fields of a selector are AND'd; the selectors are OR'd;
//! - `resources.type` and `resources.ARN` match when any element of `resources` matches.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, BooleanBuilder, RecordBatch, StringArray};
use arrow::datatypes::DataType;
use arrow::error::ArrowError;
use serde::{Deserialize, Serialize};

/// CloudTrail's limits (UG "Quotas").
pub const MAX_SELECTORS: usize = 5;
pub const MAX_VALUES: usize = 500;
pub const MAX_VALUE_CHARS: usize = 2048;

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("invalid advanced event selectors: {0}")]
pub struct SelectorError(pub String);

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct AdvancedEventSelector {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub field_selectors: Vec<FieldSelector>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", deny_unknown_fields)]
pub struct FieldSelector {
    pub field: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ends_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_equals: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_starts_with: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_ends_with: Vec<String>,
}

/// The fields an event data store of CloudTrail events can filter on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    EventCategory,
    EventSource,
    EventName,
    EventType,
    ReadOnly,
    ResourcesType,
    ResourcesArn,
    UserIdentityArn,
    SessionCredentialFromConsole,
    ErrorCode,
    VpcEndpointId,
}

const FIELDS: [(&str, Field); 11] = [
    ("eventCategory", Field::EventCategory),
    ("eventSource", Field::EventSource),
    ("eventName", Field::EventName),
    ("eventType", Field::EventType),
    ("readOnly", Field::ReadOnly),
    ("resources.type", Field::ResourcesType),
    ("resources.ARN", Field::ResourcesArn),
    ("userIdentity.arn", Field::UserIdentityArn),
    ("sessionCredentialFromConsole", Field::SessionCredentialFromConsole),
    ("errorCode", Field::ErrorCode),
    ("vpcEndpointId", Field::VpcEndpointId),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Management,
    Data,
    NetworkActivity,
}

/// Fields allowed per event category (API reference, AdvancedFieldSelector).
fn allowed(category: Category, field: Field) -> bool {
    use Field::*;
    match category {
        Category::Management => matches!(
            field,
            EventCategory
                | EventSource
                | ReadOnly
                | EventName
                | EventType
                | SessionCredentialFromConsole
                | UserIdentityArn
        ),
        Category::Data => matches!(
            field,
            EventCategory
                | ResourcesType
                | EventName
                | EventSource
                | EventType
                | ResourcesArn
                | ReadOnly
                | SessionCredentialFromConsole
                | UserIdentityArn
        ),
        Category::NetworkActivity => {
            matches!(field, EventCategory | EventSource | EventName | ErrorCode | VpcEndpointId)
        }
    }
}

impl FieldSelector {
    fn operators(&self) -> [(&'static str, &Vec<String>); 6] {
        [
            ("Equals", &self.equals),
            ("StartsWith", &self.starts_with),
            ("EndsWith", &self.ends_with),
            ("NotEquals", &self.not_equals),
            ("NotStartsWith", &self.not_starts_with),
            ("NotEndsWith", &self.not_ends_with),
        ]
    }

    fn used(&self) -> Vec<&'static str> {
        self.operators().iter().filter(|(_, v)| !v.is_empty()).map(|(n, _)| *n).collect()
    }

    fn value_count(&self) -> usize {
        self.operators().iter().map(|(_, v)| v.len()).sum()
    }

    /// Whether one value satisfies this field's conditions (`None`: the event has no value).
    fn matches(&self, v: Option<&str>) -> bool {
        let selects = !self.equals.is_empty() || !self.starts_with.is_empty() || !self.ends_with.is_empty();
        let selected = !selects
            || v.is_some_and(|v| {
                self.equals.iter().any(|e| e == v)
                    || self.starts_with.iter().any(|p| v.starts_with(p.as_str()))
                    || self.ends_with.iter().any(|s| v.ends_with(s.as_str()))
            });
        let excluded = v.is_some_and(|v| {
            self.not_equals.iter().any(|e| e == v)
                || self.not_starts_with.iter().any(|p| v.starts_with(p.as_str()))
                || self.not_ends_with.iter().any(|s| v.ends_with(s.as_str()))
        });
        selected && !excluded
    }
}

/// Parses and validates selectors given as JSON text.
pub fn parse(json: &str) -> Result<Vec<AdvancedEventSelector>, SelectorError> {
    let selectors: Vec<AdvancedEventSelector> = serde_json::from_str(json).map_err(|e| {
        SelectorError(format!(
            "{e} (expected [{{\"Name\": …, \"FieldSelectors\": [{{\"Field\": …, \"Equals\": [ … ]}}]}}])"
        ))
    })?;
    validate(&selectors)?;
    Ok(selectors)
}

/// Checks selectors as CloudTrail does for an event data store of CloudTrail events.
pub fn validate(selectors: &[AdvancedEventSelector]) -> Result<(), SelectorError> {
    if selectors.is_empty() {
        return Err(SelectorError("give at least one selector (or none at all, to keep every event)".into()));
    }
    if selectors.len() > MAX_SELECTORS {
        return Err(SelectorError(format!(
            "{} selectors; an event data store takes at most {MAX_SELECTORS}",
            selectors.len()
        )));
    }
    let total: usize = selectors.iter().flat_map(|s| &s.field_selectors).map(FieldSelector::value_count).sum();
    if total > MAX_VALUES {
        return Err(SelectorError(format!("{total} values in all; at most {MAX_VALUES} across all selectors")));
    }
    for (i, s) in selectors.iter().enumerate() {
        let at = match &s.name {
            Some(n) => format!("selector {} ({n:?})", i + 1),
            None => format!("selector {}", i + 1),
        };
        let err = |m: String| SelectorError(format!("{at}: {m}"));
        let mut fields = Vec::new();
        for fs in &s.field_selectors {
            let Some(field) = FIELDS.iter().find(|(n, _)| *n == fs.field).map(|(_, f)| *f) else {
                let hint = FIELDS
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&fs.field))
                    .map(|(n, _)| format!(" (field names are case-sensitive: {n})"))
                    .unwrap_or_else(|| {
                        format!("; fields are {}", FIELDS.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", "))
                    });
                return Err(err(format!("unknown field {:?}{hint}", fs.field)));
            };
            if fields.iter().any(|(f, _)| *f == field) {
                return Err(err(format!(
                    "field {} appears twice; put all its conditions in one field selector",
                    fs.field
                )));
            }
            let used = fs.used();
            if used.is_empty() {
                return Err(err(format!("field {} has no condition", fs.field)));
            }
            for (op, values) in fs.operators() {
                for v in values {
                    if v.is_empty() || v.chars().count() > MAX_VALUE_CHARS {
                        return Err(err(format!("{}.{op}: values are 1 to {MAX_VALUE_CHARS} characters", fs.field)));
                    }
                }
            }
            let only = |ops: &[&str]| used.iter().all(|u| ops.contains(u));
            match field {
                Field::EventCategory | Field::ReadOnly | Field::ResourcesType if !only(&["Equals"]) => {
                    return Err(err(format!("{} takes only Equals", fs.field)));
                }
                Field::ReadOnly if !fs.equals.iter().all(|v| v == "true" || v == "false") => {
                    return Err(err("readOnly takes \"true\" or \"false\"".into()));
                }
                Field::SessionCredentialFromConsole
                    if !only(&["Equals", "NotEquals"])
                        || !fs.equals.iter().chain(&fs.not_equals).all(|v| v == "true") =>
                {
                    return Err(err(
                        "sessionCredentialFromConsole takes Equals or NotEquals with the value \"true\"".into()
                    ));
                }
                _ => {}
            }
            fields.push((field, fs));
        }
        let Some((_, cat)) = fields.iter().find(|(f, _)| *f == Field::EventCategory) else {
            return Err(err("eventCategory is required (Equals Management, Data or NetworkActivity)".into()));
        };
        let category = match cat.equals.as_slice() {
            [one] => match one.as_str() {
                "Management" => Category::Management,
                "Data" => Category::Data,
                "NetworkActivity" => Category::NetworkActivity,
                other => {
                    return Err(err(format!(
                        "eventCategory {other:?} is not one of CloudTrail events' categories: Management, Data, NetworkActivity"
                    )))
                }
            },
            _ => return Err(err("eventCategory takes exactly one value".into())),
        };
        for (field, fs) in &fields {
            if !allowed(category, *field) {
                return Err(err(format!("{} cannot filter {category:?} events", fs.field)));
            }
        }
        let single_equals = |f: Field, what: &str| -> Result<(), SelectorError> {
            match fields.iter().find(|(x, _)| *x == f) {
                Some((_, fs)) if fs.equals.len() == 1 && fs.used() == ["Equals"] => Ok(()),
                Some(_) => Err(err(format!("{what} takes Equals with exactly one value"))),
                None => Err(err(format!("{category:?} selectors require {what}"))),
            }
        };
        match category {
            Category::Data => single_equals(Field::ResourcesType, "resources.type")?,
            Category::NetworkActivity => single_equals(Field::EventSource, "eventSource")?,
            Category::Management => {}
        }
        if let Some((_, fs)) = fields.iter().find(|(f, _)| *f == Field::ErrorCode) {
            if fs.used() != ["Equals"] || fs.equals.iter().any(|v| v != "VpceAccessDenied") {
                return Err(err("errorCode takes Equals \"VpceAccessDenied\"".into()));
            }
        }
    }
    Ok(())
}

/// Which rows of a batch of events the selectors keep.
pub fn mask(selectors: &[AdvancedEventSelector], batch: &RecordBatch) -> Result<BooleanArray, ArrowError> {
    let cols = Columns::of(batch)?;
    let mut out = BooleanBuilder::with_capacity(batch.num_rows());
    for row in 0..batch.num_rows() {
        let keep = selectors.iter().any(|s| s.field_selectors.iter().all(|fs| cols.field_matches(fs, row)));
        out.append_value(keep);
    }
    Ok(out.finish())
}

/// The columns selectors read, as plain string arrays.
struct Columns {
    category: StringArray,
    source: StringArray,
    name: StringArray,
    event_type: StringArray,
    read_only: BooleanArray,
    user_arn: StringArray,
    console: StringArray,
    error_code: StringArray,
    vpc_endpoint: StringArray,
    /// `resources`: offsets into the element arrays below.
    resource_offsets: Vec<usize>,
    resource_valid: Vec<bool>,
    resource_type: StringArray,
    resource_arn: StringArray,
}

impl Columns {
    fn of(batch: &RecordBatch) -> Result<Self, ArrowError> {
        let col = |name: &str| {
            batch.column_by_name(name).cloned().ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))
        };
        let text = |a: &ArrayRef| -> Result<StringArray, ArrowError> {
            Ok(arrow::compute::cast(a, &DataType::Utf8)?.as_string::<i32>().clone())
        };
        let useridentity = col("useridentity")?;
        let user_arn = useridentity
            .as_struct_opt()
            .and_then(|s| s.column_by_name("arn").cloned())
            .ok_or_else(|| ArrowError::SchemaError("useridentity has no arn".into()))?;
        let resources = col("resources")?;
        let list =
            resources.as_list_opt::<i32>().ok_or_else(|| ArrowError::SchemaError("resources is not a list".into()))?;
        let items = list.values().as_struct_opt().ok_or_else(|| ArrowError::SchemaError("resources items".into()))?;
        let item = |n: &str| {
            items.column_by_name(n).cloned().ok_or_else(|| ArrowError::SchemaError(format!("resources has no {n}")))
        };
        let read_only = arrow::compute::cast(&col("readonly")?, &DataType::Boolean)?.as_boolean().clone();
        Ok(Self {
            category: text(&col("eventcategory")?)?,
            source: text(&col("eventsource")?)?,
            name: text(&col("eventname")?)?,
            event_type: text(&col("eventtype")?)?,
            read_only,
            user_arn: text(&user_arn)?,
            console: text(&col("sessioncredentialfromconsole")?)?,
            error_code: text(&col("errorcode")?)?,
            vpc_endpoint: text(&col("vpcendpointid")?)?,
            resource_offsets: list.value_offsets().iter().map(|&o| o as usize).collect(),
            resource_valid: (0..list.len()).map(|i| list.is_valid(i)).collect(),
            resource_type: text(&item("type")?)?,
            resource_arn: text(&item("arn")?)?,
        })
    }

    fn field_matches(&self, fs: &FieldSelector, row: usize) -> bool {
        fn get(a: &StringArray, row: usize) -> Option<&str> {
            a.is_valid(row).then(|| a.value(row))
        }
        let field = FIELDS.iter().find(|(n, _)| *n == fs.field).map(|(_, f)| *f);
        match field {
            // Events written before eventCategory existed are management events.
            Some(Field::EventCategory) => fs.matches(Some(get(&self.category, row).unwrap_or("Management"))),
            Some(Field::EventSource) => fs.matches(get(&self.source, row)),
            Some(Field::EventName) => fs.matches(get(&self.name, row)),
            Some(Field::EventType) => fs.matches(get(&self.event_type, row)),
            Some(Field::ReadOnly) => {
                let v = self.read_only.is_valid(row).then(|| if self.read_only.value(row) { "true" } else { "false" });
                fs.matches(v)
            }
            Some(Field::UserIdentityArn) => fs.matches(get(&self.user_arn, row)),
            Some(Field::SessionCredentialFromConsole) => fs.matches(get(&self.console, row)),
            Some(Field::ErrorCode) => fs.matches(get(&self.error_code, row)),
            Some(Field::VpcEndpointId) => fs.matches(get(&self.vpc_endpoint, row)),
            Some(Field::ResourcesType) => self.any_resource(&self.resource_type, fs, row),
            Some(Field::ResourcesArn) => self.any_resource(&self.resource_arn, fs, row),
            // Validated selectors name known fields only.
            None => false,
        }
    }

    /// A resources field matches when one element does; an event without resources is judged
    /// as having no value.
    fn any_resource(&self, values: &StringArray, fs: &FieldSelector, row: usize) -> bool {
        let (a, b) = (self.resource_offsets[row], self.resource_offsets[row + 1]);
        if !self.resource_valid[row] || a == b {
            return fs.matches(None);
        }
        (a..b).any(|i| fs.matches(if values.is_valid(i) { Some(values.value(i)) } else { None }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        parse(json).expect_err("should be refused").0
    }

    #[test]
    fn valid_selectors_parse() {
        let s = parse(
            r#"[{"Name":"S3 writes","FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]},
                {"Field":"resources.type","Equals":["AWS::S3::Object"]},{"Field":"readOnly","Equals":["false"]},
                {"Field":"resources.ARN","StartsWith":["arn:aws:s3:::prod-"],"NotEndsWith":[".tmp"]}]},
               {"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},
                {"Field":"eventSource","NotEquals":["kms.amazonaws.com"]}]}]"#,
        )
        .expect("valid");
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].name.as_deref(), Some("S3 writes"));
    }

    #[test]
    fn invalid_selectors_are_explained() {
        assert!(err("{}").contains("expected ["));
        assert!(
            err(r#"[{"FieldSelectors":[{"Field":"eventName","Equals":["x"]}]}]"#).contains("eventCategory is required")
        );
        assert!(err(r#"[{"FieldSelectors":[{"Field":"eventcategory","Equals":["Management"]}]}]"#)
            .contains("case-sensitive: eventCategory"));
        assert!(err(r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"readOnly","StartsWith":["t"]}]}]"#)
            .contains("readOnly takes only Equals"));
        assert!(err(r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"resources.ARN","Equals":["a"]}]}]"#)
            .contains("cannot filter Management events"));
        assert!(err(r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Data"]}]}]"#)
            .contains("require resources.type"));
        assert!(err(r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Insight"]}]}]"#)
            .contains("Management, Data, NetworkActivity"));
        assert!(err(r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"sessionCredentialFromConsole","Equals":["false"]}]}]"#)
            .contains("\"true\""));
        assert!(err(r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"eventName","Equals":[""]}]}]"#)
            .contains("1 to 2048"));
        assert!(err(r#"[{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]},{"Field":"eventName","Equls":["x"]}]}]"#)
            .contains("unknown field"));
        let one = r#"{"FieldSelectors":[{"Field":"eventCategory","Equals":["Management"]}]}"#;
        assert!(err(&format!("[{}]", [one; 6].join(","))).contains("at most 5"));
        let many: Vec<String> = (0..500).map(|i| format!("\"E{i}\"")).collect();
        let big = format!(
            r#"[{{"FieldSelectors":[{{"Field":"eventCategory","Equals":["Management"]}},{{"Field":"eventName","Equals":[{}]}}]}}]"#,
            many.join(",")
        );
        assert!(err(&big).contains("at most 500"));
    }

    #[test]
    fn one_field_ors_selections_and_ands_exclusions() {
        let fs = FieldSelector {
            field: "eventName".into(),
            equals: vec!["GetObject".into()],
            starts_with: vec!["Put".into()],
            ends_with: vec![],
            not_equals: vec!["PutBucketAcl".into()],
            not_starts_with: vec![],
            not_ends_with: vec!["Tagging".into()],
        };
        assert!(fs.matches(Some("GetObject")));
        assert!(fs.matches(Some("PutObject")));
        assert!(!fs.matches(Some("PutBucketAcl")), "a NotEquals excludes even a selected value");
        assert!(!fs.matches(Some("PutObjectTagging")));
        assert!(!fs.matches(Some("DeleteObject")));
        assert!(!fs.matches(None));
        let only_not = FieldSelector { equals: vec![], starts_with: vec![], ..fs };
        assert!(only_not.matches(Some("DeleteObject")), "exclusions alone keep everything else");
        assert!(only_not.matches(None));
    }
}
