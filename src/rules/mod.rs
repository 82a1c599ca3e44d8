//! Rules over CloudTrail events: EventBridge event patterns (`pattern`) matched against a
//! CloudTrail record presented the way EventBridge delivers it (`eventbridge_event`), and Sigma
//! rules compiled to Lake SQL (`sigma`).

pub mod pattern;
pub mod sigma;

use serde_json::{json, Value as Json};

pub use pattern::{Pattern, PatternError};

/// A CloudTrail record as EventBridge delivers it: `detail-type` from the event type,
/// `source` `aws.<service>` from the event source, `detail` the record (moved in, not copied:
/// every stored event passes through here when rules run on ingest).
pub fn eventbridge_event(record: Json) -> Json {
    let detail_type = match record["eventType"].as_str() {
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        Some("AwsCloudTrailInsight") => "AWS Insight via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    };
    let service = record["eventSource"].as_str().map(|s| s.trim_end_matches(".amazonaws.com")).unwrap_or_default();
    let source = format!("aws.{service}");
    json!({
        "version": "0",
        "id": record["eventID"].clone(),
        "detail-type": detail_type,
        "source": source,
        "account": record["recipientAccountId"].clone(),
        "time": record["eventTime"].clone(),
        "region": record["awsRegion"].clone(),
        "resources": [],
        "detail": record,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cloudtrail_records_are_presented_as_eventbridge_delivers_them() {
        let record = json!({"eventSource": "signin.amazonaws.com", "eventType": "AwsConsoleSignIn", "eventName": "ConsoleLogin",
            "recipientAccountId": "222222222222", "awsRegion": "us-east-1", "eventTime": "2026-11-15T02:13:00Z", "eventID": "e1"});
        let e = eventbridge_event(record);
        assert_eq!(e["source"], "aws.signin");
        assert_eq!(e["detail-type"], "AWS Console Sign In via CloudTrail");
        let p = Pattern::parse(r#"{"source":["aws.signin"],"detail-type":["AWS Console Sign In via CloudTrail"],"detail":{"eventName":["ConsoleLogin"]}}"#)
            .expect("pattern");
        assert!(p.matches(&e));
        assert_eq!(
            eventbridge_event(json!({"eventSource": "iam.amazonaws.com"}))["detail-type"],
            "AWS API Call via CloudTrail"
        );
    }
}
