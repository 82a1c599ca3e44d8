//! Which kind of event data store a record belongs in, and the records whose delivered shape is
//! not Lake's. Each is rewritten into Lake's shape before the schema-driven decoder sees it:
//! - a trail's Insights record carries its details in a nested `insightDetails` object, where
//!   a Lake Insights store has flat `insight*` columns;
//! - an AWS Config configuration item (history and snapshot files, the Config API) becomes a
//!   `ConfigurationItem` event with the item in `eventData`;
//! - an event from outside AWS (a `PutAuditEvents` entry `{id, eventData, eventDataChecksum}`,
//!   or one `eventData` object) is checked as Lake checks it and becomes an `ActivityAuditLog`
//!   event with its channel in `metadata`;
//! - an Audit Manager evidence item becomes an `Evidence` event.
//!
//! Records already in Lake's shape (exports from Lake, Insights traillake detects) pass
//! unchanged. Lake assigns event ids; here they are derived from what identifies the record, so
//! ingesting it again never stores it twice.

use base64::Engine as _;
use serde_json::{json, Map, Value as Json};
use sha2::{Digest, Sha256};

use super::decode::Rejection;
use crate::schema::Kind;
use crate::tape::{Kind as JsonKind, Value};

/// `eventVersion` traillake gives the events it shapes for non-CloudTrail stores.
const SHAPED_EVENT_VERSION: &str = "1.0";
/// Largest `requestParameters`, `responseElements` or `additionalEventData` of an event from
/// outside AWS (Lake: 100 KB).
const MAX_AUDIT_FIELD_BYTES: usize = 100 * 1024;

/// What shaping a record needs beyond the record: where events from outside AWS came from.
#[derive(Debug, Clone)]
pub struct ShapeContext {
    /// The channel events from outside AWS arrive on (`metadata.channelARN`).
    pub channel_arn: String,
    /// When they were ingested (`metadata.ingestionTime`, `yyyy-MM-ddTHH:mm:ssZ`).
    pub ingestion_time: String,
}

impl Default for ShapeContext {
    fn default() -> Self {
        Self::new("default", chrono::Utc::now())
    }
}

impl ShapeContext {
    /// `channel` is a channel ARN, or a name for a local channel.
    pub fn new(channel: &str, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self { channel_arn: channel_arn(channel), ingestion_time: now.format("%Y-%m-%dT%H:%M:%SZ").to_string() }
    }

    /// The channel's Region (the Region Lake records the events in).
    fn region(&self) -> &str {
        self.channel_arn.split(':').nth(3).filter(|r| !r.is_empty()).unwrap_or(crate::store::catalog::LOCAL_REGION)
    }
}

/// A channel ARN as given, or the ARN of a local channel named `name`.
pub fn channel_arn(name: &str) -> String {
    if name.starts_with("arn:") {
        name.to_string()
    } else {
        use crate::store::catalog::{LOCAL_ACCOUNT, LOCAL_REGION};
        format!("arn:aws:cloudtrail:{LOCAL_REGION}:{LOCAL_ACCOUNT}:channel/{name}")
    }
}

/// The kind of store a record belongs in: from its `eventType` when it has one (CloudTrail's
/// records and Lake's exports do), else from the keys that mark a Config item, an event from
/// outside AWS or an evidence item; a CloudTrail event otherwise.
pub fn kind_of(record: Value<'_>, event_type: Option<Value<'_>>) -> Kind {
    if let Some(t) = event_type.filter(|t| t.kind() == JsonKind::String) {
        let t = t.text();
        return Kind::ALL.into_iter().find(|k| k.event_type() == Some(t.as_ref())).unwrap_or(Kind::Cloudtrail);
    }
    let mut kind = Kind::Cloudtrail;
    let (mut id, mut event_data) = (false, false);
    for (key, _) in record.entries() {
        match key.as_ref() {
            "configurationItemCaptureTime" | "configurationItemStatus" => return Kind::Config,
            "evidenceByType" | "evidenceAwsAccountId" | "evidenceFolderId" => return Kind::Evidence,
            "UID" => kind = Kind::Audit,
            "eventID" | "eventVersion" => return Kind::Cloudtrail,
            "id" => id = true,
            "eventData" => event_data = true,
            _ => {}
        }
    }
    if id && event_data {
        Kind::Audit
    } else {
        kind
    }
}

/// The record in Lake's shape for a store of `kind`, when its delivered shape differs; `None`
/// when it can be decoded as it is. A record Lake would refuse is rejected with Lake's reason.
pub fn to_lake_shape(kind: Kind, record: Value<'_>, ctx: &ShapeContext) -> Result<Option<String>, Rejection> {
    let already_lake = || member(record, "eventCategory").is_some() && member(record, "eventID").is_some();
    match kind {
        Kind::Cloudtrail => Ok(None),
        Kind::Insights => Ok(member(record, "insightDetails").filter(|d| d.kind() == JsonKind::Object).map(|_| {
            let parsed: Json = serde_json::from_str(record.raw()).unwrap_or(Json::Null);
            flatten_insight(&parsed).to_string()
        })),
        _ if already_lake() => Ok(None),
        Kind::Config => config_item(&parse(record)?).map(|e| Some(e.to_string())),
        Kind::Audit => audit_event(&parse(record)?, ctx).map(|e| Some(e.to_string())),
        Kind::Evidence => evidence(&parse(record)?).map(|e| Some(e.to_string())),
    }
}

fn parse(record: Value<'_>) -> Result<Json, Rejection> {
    serde_json::from_str(record.raw()).map_err(|e| Rejection::InvalidJson(e.to_string()))
}

/// The value of `key` in an object.
pub fn member<'a>(object: Value<'a>, key: &str) -> Option<Value<'a>> {
    object.entries().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// A trail Insights record (`insightDetails{state, eventSource, …, insightContext{statistics,
/// attributions}}`) as a Lake Insights event (`insightState`, `insightEventSource`, …,
/// `insightContext{baselineAverage, …, attributions}`).
fn flatten_insight(record: &Json) -> Json {
    let mut out = Map::new();
    if let Json::Object(top) = record {
        for (k, v) in top {
            if k != "insightDetails" {
                out.insert(k.clone(), v.clone());
            }
        }
    }
    out.entry("eventCategory").or_insert_with(|| json!("Insight"));
    let details = &record["insightDetails"];
    for (from, to) in [
        ("state", "insightState"),
        ("eventSource", "insightEventSource"),
        ("eventName", "insightEventName"),
        ("errorCode", "insightErrorCode"),
        ("insightType", "insightType"),
    ] {
        if let Some(v) = details.get(from) {
            out.insert(to.into(), v.clone());
        }
    }
    let context = &details["insightContext"];
    let stats = &context["statistics"];
    let mut flat = Map::new();
    for (name, v) in [
        ("baselineAverage", &stats["baseline"]["average"]),
        ("insightAverage", &stats["insight"]["average"]),
        ("baselineDuration", &stats["baselineDuration"]),
        ("insightDuration", &stats["insightDuration"]),
    ] {
        if !v.is_null() {
            flat.insert(name.into(), v.clone());
        }
    }
    if let Some(attributions) = context["attributions"].as_array() {
        let list: Vec<Json> = attributions.iter().map(flatten_attribution).collect();
        flat.insert("attributions".into(), Json::Array(list));
    }
    if !flat.is_empty() {
        out.insert("insightContext".into(), Json::Object(flat));
    }
    Json::Object(out)
}

/// One attribution, with Lake's single-contributor fields filled from the top contributor.
fn flatten_attribution(a: &Json) -> Json {
    let mut out = a.as_object().cloned().unwrap_or_default();
    for (list, value, average) in
        [("insight", "insightValue", "insightAverage"), ("baseline", "baselineValue", "baselineAverage")]
    {
        if let Some(top) = a[list].as_array().and_then(|l| l.first()) {
            out.entry(value).or_insert_with(|| top["value"].clone());
            out.entry(average).or_insert_with(|| top["average"].clone());
        }
    }
    Json::Object(out)
}

/// An AWS Config configuration item as Lake's `ConfigurationItem` event. The Config API gives
/// `configuration` and `supplementaryConfiguration` values as JSON text where delivery files
/// give objects: both become objects (Lake's maps of their top-level keys).
fn config_item(item: &Json) -> Result<Json, Rejection> {
    let field = |k: &str| item.get(k).filter(|v| !v.is_null());
    let time = field("configurationItemCaptureTime")
        .ok_or_else(|| Rejection::NoEventTime("the configuration item has no configurationItemCaptureTime".into()))?;
    let account = field("awsAccountId").or_else(|| field("accountId")).cloned().unwrap_or(Json::Null);
    let mut data = item.as_object().cloned().unwrap_or_default();
    for k in ["configuration", "supplementaryConfiguration"] {
        if let Some(Json::String(text)) = data.get(k) {
            if let Ok(parsed @ Json::Object(_)) = serde_json::from_str::<Json>(text) {
                data.insert(k.into(), parsed);
            }
        }
    }
    if let Some(Json::Object(supplementary)) = data.get_mut("supplementaryConfiguration") {
        // Its values are JSON text in the API and objects in files; Lake keeps text.
        for v in supplementary.values_mut() {
            if let Json::String(text) = v {
                if let Ok(parsed) = serde_json::from_str::<Json>(text) {
                    *v = parsed;
                }
            }
        }
    }
    let text =
        |v: Option<&Json>| v.map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string)).unwrap_or_default();
    let id = derived_id(&[
        "config",
        &text(Some(&account)),
        &text(field("awsRegion")),
        &text(field("resourceType")),
        &text(field("resourceId")),
        &text(field("configurationStateId")),
        &text(Some(time)),
    ]);
    Ok(json!({
        "eventVersion": SHAPED_EVENT_VERSION,
        "eventCategory": Kind::Config.event_category(),
        "eventType": Kind::Config.event_type(),
        "eventID": id,
        "eventTime": time,
        "awsRegion": field("awsRegion"),
        "recipientAccountId": account,
        "eventData": data,
    }))
}

/// An event from outside AWS (a `PutAuditEvents` entry or an `eventData` object), checked as
/// `PutAuditEvents` checks it (Lake's error codes), as Lake's `ActivityAuditLog` event.
pub fn audit_event(record: &Json, ctx: &ShapeContext) -> Result<Json, Rejection> {
    let invalid = |code: &'static str, message: String| Rejection::Lake { code, message };
    // A `PutAuditEvents` entry, or the event data itself.
    let (source_id, data) = match (record.get("eventData"), record.get("id")) {
        (Some(data), id) => {
            let id = id.and_then(Json::as_str).map(str::to_string);
            let data = match data {
                Json::String(text) => {
                    if let Some(sum) = record.get("eventDataChecksum").and_then(Json::as_str) {
                        let actual = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(text.as_bytes()));
                        if actual != sum {
                            return Err(invalid(
                                "InvalidChecksum",
                                format!("eventDataChecksum {sum} does not match the eventData (SHA-256 {actual})"),
                            ));
                        }
                    }
                    serde_json::from_str::<Json>(text)
                        .map_err(|e| invalid("InvalidData", format!("eventData is not JSON: {e}")))?
                }
                other => other.clone(),
            };
            (id, data)
        }
        (None, _) => (None, record.clone()),
    };
    let Json::Object(fields) = &data else {
        return Err(invalid("InvalidData", "eventData is not a JSON object".into()));
    };
    let text_field = |path: &[&str]| -> Result<String, Rejection> {
        let mut v = &data;
        for p in path {
            v = v.get(p).unwrap_or(&Json::Null);
        }
        match v {
            Json::String(s) if !s.is_empty() => Ok(s.clone()),
            Json::Null => Err(invalid("FieldNotFound", format!("eventData.{} is required", path.join(".")))),
            _ => Err(invalid("InvalidData", format!("eventData.{} must be a non-empty string", path.join(".")))),
        }
    };
    for path in [
        &["version"][..],
        &["userIdentity", "type"],
        &["userIdentity", "principalId"],
        &["eventSource"],
        &["eventName"],
        &["UID"],
    ] {
        text_field(path)?;
    }
    let time = text_field(&["eventTime"])?;
    if super::time::parse_event_time(&time).is_none() {
        return Err(invalid(
            "InvalidData",
            format!("eventData.eventTime {time:?} is not a time (yyyy-MM-ddTHH:mm:ssZ)"),
        ));
    }
    let recipient = text_field(&["recipientAccountId"])?;
    if recipient.len() != 12 || !recipient.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid(
            "InvalidRecipient",
            format!("eventData.recipientAccountId {recipient:?} is not an account id"),
        ));
    }
    for k in ["requestParameters", "responseElements", "additionalEventData"] {
        match fields.get(k) {
            None | Some(Json::Null) | Some(Json::Object(_)) => {}
            Some(_) => return Err(invalid("InvalidData", format!("eventData.{k} must be a JSON object"))),
        }
        if fields.get(k).is_some_and(|v| v.to_string().len() > MAX_AUDIT_FIELD_BYTES) {
            return Err(invalid("FieldTooLong", format!("eventData.{k} is longer than 100 KB")));
        }
    }
    let uid = text_field(&["UID"])?;
    let id = derived_id(&["audit", &ctx.channel_arn, source_id.as_deref().unwrap_or(&uid)]);
    Ok(json!({
        "eventVersion": SHAPED_EVENT_VERSION,
        "eventCategory": Kind::Audit.event_category(),
        "eventType": Kind::Audit.event_type(),
        "eventID": id,
        "eventTime": time,
        "awsRegion": ctx.region(),
        "recipientAccountId": recipient,
        "metadata": {"ingestionTime": ctx.ingestion_time, "channelARN": ctx.channel_arn},
        "eventData": data,
    }))
}

/// An Audit Manager evidence item (as `GetEvidence` and the evidence-folder APIs return it) as
/// Lake's `Evidence` event.
fn evidence(item: &Json) -> Result<Json, Rejection> {
    let field = |k: &str| item.get(k).filter(|v| !v.is_null());
    let time = field("time").ok_or_else(|| Rejection::NoEventTime("the evidence has no time".into()))?;
    let evidence_id =
        field("evidenceId").or_else(|| field("id")).map(|v| v.to_string()).unwrap_or_else(|| item.to_string());
    let account = field("awsAccountId").or_else(|| field("evidenceAwsAccountId")).cloned();
    Ok(json!({
        "eventVersion": SHAPED_EVENT_VERSION,
        "eventCategory": Kind::Evidence.event_category(),
        "eventType": Kind::Evidence.event_type(),
        "eventID": derived_id(&["evidence", &evidence_id]),
        "eventTime": time,
        "awsRegion": field("awsRegion"),
        "recipientAccountId": account,
        "eventData": item,
    }))
}

/// A UUID (version 8: made from a hash) of `parts`.
pub fn derived_id(parts: &[&str]) -> String {
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tape::Tape;

    fn shaped(kind: Kind, text: &str) -> Result<Option<Json>, Rejection> {
        let mut tape = Tape::default();
        let doc = tape.parse(text).expect("json");
        let ctx = ShapeContext::new("github", chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default());
        to_lake_shape(kind, doc.root(), &ctx).map(|o| o.map(|s| serde_json::from_str(&s).expect("json")))
    }

    fn kind(text: &str) -> Kind {
        let mut tape = Tape::default();
        let doc = tape.parse(text).expect("json");
        kind_of(doc.root(), member(doc.root(), "eventType"))
    }

    #[test]
    fn trail_insight_records_are_flattened_into_lake_columns() {
        let text = r#"{"eventVersion":"1.08","eventTime":"2022-04-12T16:10:00Z","eventType":"AwsCloudTrailInsight",
            "eventID":"e1","sharedEventID":"s1","insightDetails":{"state":"Start","eventSource":"ec2.amazonaws.com",
            "eventName":"RunInstances","insightType":"ApiCallRateInsight","insightContext":{"statistics":
            {"baseline":{"average":0.5},"insight":{"average":9.0},"insightDuration":3,"baselineDuration":10080},
            "attributions":[{"attribute":"userAgent","insight":[{"value":"aws-cli","average":8.0}],"baseline":[]}]}}}"#;
        assert_eq!(kind(text), Kind::Insights);
        let flat = shaped(Kind::Insights, text).expect("ok").expect("rewritten");
        assert_eq!(flat["insightState"], "Start");
        assert_eq!(flat["insightEventName"], "RunInstances");
        assert_eq!(flat["eventCategory"], "Insight");
        assert_eq!(flat["insightContext"]["baselineDuration"], 10080);
        assert_eq!(flat["insightContext"]["insightAverage"], 9.0);
        assert_eq!(flat["insightContext"]["attributions"][0]["insightValue"], "aws-cli");
        assert!(flat["insightContext"]["attributions"][0].get("baselineValue").is_none());
        assert!(flat.get("insightDetails").is_none());
        let lake = r#"{"eventType":"AwsCloudTrailInsight","insightState":"End"}"#;
        assert_eq!(shaped(Kind::Insights, lake), Ok(None), "already in Lake's shape");
        assert_eq!(kind(r#"{"eventName":"GetObject"}"#), Kind::Cloudtrail);
    }

    #[test]
    fn config_items_become_configuration_item_events() {
        let item = r#"{"configurationItemVersion":"1.3","configurationItemCaptureTime":"2026-11-14T10:00:00.000Z",
            "configurationStateId":1700000000000,"awsAccountId":"222222222222","configurationItemStatus":"OK",
            "resourceType":"AWS::EC2::Instance","resourceId":"i-1","awsRegion":"us-east-1",
            "configuration":"{\"instanceType\":\"t3.micro\",\"state\":{\"name\":\"running\"}}",
            "relationships":[{"resourceType":"AWS::EC2::VPC","resourceId":"vpc-1","name":"Is contained in Vpc"}]}"#;
        assert_eq!(kind(item), Kind::Config);
        let e = shaped(Kind::Config, item).expect("ok").expect("shaped");
        assert_eq!(e["eventCategory"], "ConfigurationItem");
        assert_eq!(e["eventType"], "AwsConfigurationItem");
        assert_eq!(e["eventTime"], "2026-11-14T10:00:00.000Z");
        assert_eq!(e["recipientAccountId"], "222222222222");
        assert_eq!(e["eventData"]["configuration"]["instanceType"], "t3.micro", "JSON text became an object");
        let again = shaped(Kind::Config, item).expect("ok").expect("shaped");
        assert_eq!(e["eventID"], again["eventID"], "ids are derived, not random");
        assert!(matches!(shaped(Kind::Config, r#"{"configurationItemStatus":"OK"}"#), Err(Rejection::NoEventTime(_))));
    }

    #[test]
    fn events_from_outside_aws_are_checked_as_put_audit_events_checks_them() {
        let data = r#"{"version":"1.0","userIdentity":{"type":"User","principalId":"octocat","details":{"org":"acme"}},"eventSource":"github.com","eventName":"repo.create","eventTime":"2026-11-14T10:00:00Z","UID":"u-1","recipientAccountId":"222222222222","sourceIPAddress":"198.51.100.7"}"#;
        let sum = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(data.as_bytes()));
        let entry = json!({"id": "a-1", "eventData": data, "eventDataChecksum": sum}).to_string();
        assert_eq!(kind(&entry), Kind::Audit);
        assert_eq!(kind(data), Kind::Audit, "one eventData object per line");
        let e = shaped(Kind::Audit, &entry).expect("ok").expect("shaped");
        assert_eq!(e["eventCategory"], "ActivityAuditLog");
        assert_eq!(e["eventType"], "ActivityLog");
        assert_eq!(e["metadata"]["channelARN"], "arn:aws:cloudtrail:local:000000000000:channel/github");
        assert_eq!(e["metadata"]["ingestionTime"], "2027-01-15T08:00:00Z");
        assert_eq!(e["awsRegion"], "local");
        assert_eq!(e["eventData"]["userIdentity"]["principalId"], "octocat");
        let bad_sum = json!({"id": "a-1", "eventData": data, "eventDataChecksum": "AAAA"}).to_string();
        let reason = |text: &str| match shaped(Kind::Audit, text) {
            Err(Rejection::Lake { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(reason(&bad_sum), "InvalidChecksum");
        assert_eq!(reason(&json!({"id": "x", "eventData": "{not json"}).to_string()), "InvalidData");
        let without = data.replace(r#""UID":"u-1","#, "");
        assert_eq!(reason(&without), "FieldNotFound");
        assert_eq!(reason(&data.replace("222222222222", "me")), "InvalidRecipient");
        assert_eq!(reason(&data.replace("2026-11-14T10:00:00Z", "yesterday")), "InvalidData");
    }

    #[test]
    fn evidence_items_become_evidence_events() {
        let item = r#"{"dataSource":"AWS Config","evidenceAwsAccountId":"222222222222","time":1794650400,"eventSource":"config.amazonaws.com","evidenceByType":"Compliance check","complianceCheck":"NON_COMPLIANT","awsAccountId":"222222222222","id":"ev-1","attributes":{"findingKey":"x"}}"#;
        assert_eq!(kind(item), Kind::Evidence);
        let e = shaped(Kind::Evidence, item).expect("ok").expect("shaped");
        assert_eq!(e["eventCategory"], "Evidence");
        assert_eq!(e["eventTime"], 1794650400);
        assert_eq!(e["eventData"]["complianceCheck"], "NON_COMPLIANT");
    }
}
