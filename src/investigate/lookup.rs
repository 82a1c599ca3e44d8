//! `lookup`: CloudTrail Event history (LookupEvents) over an event data store, for people who
//! know the console and the AWS CLI. A lookup is a Lake SQL query built from the request, so it
//! answers exactly what the equivalent SQL answers.

use chrono::{DateTime, Duration, Utc};
use serde_json::{json, Value};

/// The eight attributes LookupEvents filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttributeKey {
    EventId,
    EventName,
    ReadOnly,
    Username,
    ResourceType,
    ResourceName,
    EventSource,
    AccessKeyId,
}

const KEYS: [(&str, AttributeKey); 8] = [
    ("EventId", AttributeKey::EventId),
    ("EventName", AttributeKey::EventName),
    ("ReadOnly", AttributeKey::ReadOnly),
    ("Username", AttributeKey::Username),
    ("ResourceType", AttributeKey::ResourceType),
    ("ResourceName", AttributeKey::ResourceName),
    ("EventSource", AttributeKey::EventSource),
    ("AccessKeyId", AttributeKey::AccessKeyId),
];

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("lookup: {0}")]
pub struct LookupError(pub String);

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub key: AttributeKey,
    pub value: String,
}

/// `AttributeKey=EventName,AttributeValue=ConsoleLogin`, as the AWS CLI takes it (the JSON form
/// `[{"AttributeKey":…,"AttributeValue":…}]` too).
pub fn parse_attribute(arg: &str) -> Result<Attribute, LookupError> {
    let (key, value) = if arg.trim_start().starts_with('[') || arg.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(arg).map_err(|e| LookupError(format!("invalid JSON attribute: {e}")))?;
        let one = match &v {
            Value::Array(a) if a.len() == 1 => &a[0],
            Value::Array(_) => return Err(LookupError("only one lookup attribute is allowed".into())),
            other => other,
        };
        let get = |k: &str| one.get(k).and_then(Value::as_str).map(str::to_string);
        (get("AttributeKey"), get("AttributeValue"))
    } else {
        let mut key = None;
        let mut value = None;
        // The value may itself contain commas (an ARN never does, a user agent might): only
        // the first `,AttributeValue=` splits.
        let (k, v) = match arg.split_once(",AttributeValue=") {
            Some((k, v)) => (k, Some(v)),
            None => (arg, None),
        };
        if let Some(k) = k.strip_prefix("AttributeKey=") {
            key = Some(k.to_string());
        }
        if let Some(v) = v {
            value = Some(v.to_string());
        }
        (key, value)
    };
    let (Some(key), Some(value)) = (key, value) else {
        return Err(LookupError(format!("expected AttributeKey=KEY,AttributeValue=VALUE, got `{arg}`")));
    };
    let Some(k) = KEYS.iter().find(|(n, _)| *n == key).map(|(_, k)| *k) else {
        let names: Vec<&str> = KEYS.iter().map(|(n, _)| *n).collect();
        return Err(LookupError(format!("unknown AttributeKey `{key}`; one of {}", names.join(", "))));
    };
    if k == AttributeKey::ReadOnly && value != "true" && value != "false" {
        return Err(LookupError("ReadOnly takes true or false".into()));
    }
    Ok(Attribute { key: k, value })
}

/// What one lookup asks for.
#[derive(Debug, Clone)]
pub struct LookupRequest {
    pub attribute: Option<Attribute>,
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub max_results: usize,
}

impl LookupRequest {
    /// Event history's default window: the last 90 days.
    pub fn new(
        attribute: Option<Attribute>,
        start: Option<DateTime<Utc>>,
        end: Option<DateTime<Utc>>,
        max_results: usize,
    ) -> Self {
        let end = end.unwrap_or_else(Utc::now);
        let start = start.unwrap_or(end - Duration::days(90));
        Self { attribute, start, end, max_results }
    }
}

/// The user name Event history shows: an IAM user's name, a role session's name, "root", or
/// the calling service.
pub const USERNAME_SQL: &str = "CASE userIdentity.type \
     WHEN 'IAMUser' THEN userIdentity.userName \
     WHEN 'Root' THEN 'root' \
     WHEN 'AssumedRole' THEN split_part(userIdentity.arn, '/', 3) \
     WHEN 'FederatedUser' THEN split_part(userIdentity.arn, '/', 2) \
     WHEN 'AWSService' THEN userIdentity.invokedBy \
     ELSE coalesce(userIdentity.userName, userIdentity.principalId) END";

fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\'', "''"))
}

fn time_literal(t: &DateTime<Utc>) -> String {
    format!("TIMESTAMP '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f"))
}

/// The SQL condition an attribute stands for.
pub fn attribute_condition(a: &Attribute) -> String {
    let v = quote(&a.value);
    match a.key {
        AttributeKey::EventId => format!("eventID = {v}"),
        AttributeKey::EventName => format!("eventName = {v}"),
        AttributeKey::ReadOnly => format!("readOnly = {}", a.value == "true"),
        AttributeKey::Username => format!("({USERNAME_SQL}) = {v}"),
        AttributeKey::ResourceType => format!("any_match(resources, r -> r.type = {v})"),
        // A resource is named by its ARN or by the ARN's last part (bucket, instance id, key…).
        AttributeKey::ResourceName => format!(
            "any_match(resources, r -> r.arn = {v} OR ends_with(r.arn, {}) OR ends_with(r.arn, {}))",
            quote(&format!("/{}", a.value)),
            quote(&format!(":{}", a.value))
        ),
        AttributeKey::EventSource => format!("eventSource = {v}"),
        AttributeKey::AccessKeyId => format!("userIdentity.accessKeyId = {v}"),
    }
}

/// The lookup as Lake SQL over the store `eds` (an id), newest first as Event history lists.
pub fn sql(req: &LookupRequest, eds: &str) -> String {
    let mut conds =
        vec![format!("eventTime >= {}", time_literal(&req.start)), format!("eventTime <= {}", time_literal(&req.end))];
    if let Some(a) = &req.attribute {
        conds.push(attribute_condition(a));
    }
    format!(
        "SELECT eventID AS event_id, eventName AS event_name, readOnly AS read_only, \
         userIdentity.accessKeyId AS access_key_id, eventTime AS event_time, eventSource AS event_source, \
         {USERNAME_SQL} AS username, resources AS resources, eventjson AS cloudtrail_event \
         FROM \"{eds}\" WHERE {} ORDER BY eventTime DESC, eventID LIMIT {}",
        conds.join(" AND "),
        req.max_results
    )
}

/// Rows of `sql()` (as JSON objects) in the AWS CLI's `lookup-events` shape.
pub fn aws_json(rows: &[Value]) -> Value {
    let events: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut e = serde_json::Map::new();
            let s = |k: &str| r.get(k).filter(|v| !v.is_null()).cloned();
            if let Some(v) = s("event_id") {
                e.insert("EventId".into(), v);
            }
            if let Some(v) = s("event_name") {
                e.insert("EventName".into(), v);
            }
            if let Some(v) = s("read_only") {
                e.insert("ReadOnly".into(), json!(v.as_bool().map_or_else(|| v.to_string(), |b| b.to_string())));
            }
            if let Some(v) = s("access_key_id") {
                e.insert("AccessKeyId".into(), v);
            }
            if let Some(t) = r.get("event_time").and_then(Value::as_str) {
                e.insert("EventTime".into(), json!(aws_time(t)));
            }
            if let Some(v) = s("event_source") {
                e.insert("EventSource".into(), v);
            }
            if let Some(v) = s("username") {
                e.insert("Username".into(), v);
            }
            let resources: Vec<Value> = r
                .get("resources")
                .and_then(Value::as_array)
                .map(|a| {
                    a.iter()
                        .map(|x| {
                            json!({
                                "ResourceType": x.get("type").cloned().unwrap_or(Value::Null),
                                "ResourceName": x.get("arn").or_else(|| x.get("arnprefix")).cloned().unwrap_or(Value::Null)
                            })
                        })
                        .collect()
                })
                .unwrap_or_default();
            e.insert("Resources".into(), Value::Array(resources));
            if let Some(v) = s("cloudtrail_event") {
                e.insert("CloudTrailEvent".into(), v);
            }
            Value::Object(e)
        })
        .collect();
    json!({ "Events": events })
}

/// `2026-11-15 02:13:00.000` (Lake) → `2026-11-15T02:13:00+00:00` (the AWS CLI).
fn aws_time(lake: &str) -> String {
    match chrono::NaiveDateTime::parse_from_str(lake, "%Y-%m-%d %H:%M:%S%.f") {
        Ok(t) => t.and_utc().format("%Y-%m-%dT%H:%M:%S+00:00").to_string(),
        Err(_) => lake.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_parse_as_the_aws_cli_writes_them() {
        let a = parse_attribute("AttributeKey=EventName,AttributeValue=ConsoleLogin").expect("parse");
        assert_eq!(a, Attribute { key: AttributeKey::EventName, value: "ConsoleLogin".into() });
        let j = parse_attribute(r#"[{"AttributeKey":"Username","AttributeValue":"alice"}]"#).expect("json");
        assert_eq!(j.key, AttributeKey::Username);
        assert!(parse_attribute("AttributeKey=Region,AttributeValue=x").unwrap_err().0.contains("EventId"));
        assert!(parse_attribute("AttributeKey=ReadOnly,AttributeValue=yes").is_err());
        assert!(parse_attribute("EventName=x").is_err());
        assert!(parse_attribute(
            r#"[{"AttributeKey":"EventName","AttributeValue":"a"},{"AttributeKey":"EventName","AttributeValue":"b"}]"#
        )
        .unwrap_err()
        .0
        .contains("only one"));
    }

    #[test]
    fn values_are_quoted_in_sql() {
        let a = Attribute { key: AttributeKey::EventName, value: "x' OR 1=1 --".into() };
        assert_eq!(attribute_condition(&a), "eventName = 'x'' OR 1=1 --'");
    }

    #[test]
    fn rows_take_the_aws_shape() {
        let rows = vec![
            json!({"event_id": "e1", "event_name": "GetObject", "read_only": true, "event_time": "2026-11-15 02:13:00.000",
            "event_source": "s3.amazonaws.com", "username": "alice", "access_key_id": null,
            "resources": [{"type": "AWS::S3::Bucket", "arn": "arn:aws:s3:::b"}], "cloudtrail_event": "{}"}),
        ];
        let v = aws_json(&rows);
        let e = &v["Events"][0];
        assert_eq!(e["EventTime"], "2026-11-15T02:13:00+00:00");
        assert_eq!(e["ReadOnly"], "true");
        assert!(e.get("AccessKeyId").is_none());
        assert_eq!(e["Resources"][0], json!({"ResourceType": "AWS::S3::Bucket", "ResourceName": "arn:aws:s3:::b"}));
    }
}
