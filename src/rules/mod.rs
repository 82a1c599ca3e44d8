//! Rules over CloudTrail events as EventBridge sees them: event patterns (`pattern`) matched
//! against a CloudTrail record presented the way EventBridge delivers it (`eventbridge_event`).

pub mod pattern;

use serde_json::{json, Value as Json};

pub use pattern::{Pattern, PatternError};

/// A CloudTrail record as EventBridge delivers it: `detail-type` from the event type,
/// `source` `aws.<service>` from the event source, `detail` the record.
pub fn eventbridge_event(record: &Json) -> Json {
    let detail_type = match record["eventType"].as_str() {
        Some("AwsConsoleSignIn") => "AWS Console Sign In via CloudTrail",
        Some("AwsServiceEvent") => "AWS Service Event via CloudTrail",
        Some("AwsCloudTrailInsight") => "AWS Insight via CloudTrail",
        _ => "AWS API Call via CloudTrail",
    };
    let service = record["eventSource"].as_str().map(|s| s.trim_end_matches(".amazonaws.com")).unwrap_or_default();
    json!({
        "version": "0",
        "id": record["eventID"],
        "detail-type": detail_type,
        "source": format!("aws.{service}"),
        "account": record["recipientAccountId"],
        "time": record["eventTime"],
        "region": record["awsRegion"],
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
        let e = eventbridge_event(&record);
        assert_eq!(e["source"], "aws.signin");
        assert_eq!(e["detail-type"], "AWS Console Sign In via CloudTrail");
        let p = Pattern::parse(r#"{"source":["aws.signin"],"detail-type":["AWS Console Sign In via CloudTrail"],"detail":{"eventName":["ConsoleLogin"]}}"#)
            .expect("pattern");
        assert!(p.matches(&e));
        assert_eq!(
            eventbridge_event(&json!({"eventSource": "iam.amazonaws.com"}))["detail-type"],
            "AWS API Call via CloudTrail"
        );
    }
}
