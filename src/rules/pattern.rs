//! EventBridge event patterns: the JSON pattern language of `aws events put-rule
//! --event-pattern`, matched against an event as EventBridge presents it.
//!
//! A pattern is an object; each key names a field of the event (nested objects name nested
//! fields); a leaf is a list of matchers, any of which may match (a field holding a list matches
//! when any element does); every key of an object must match; `$or` holds alternative patterns.
//! Matchers: exact values (strings, numbers compared numerically, booleans, null), `prefix`,
//! `suffix`, `equals-ignore-case`, `wildcard` (`*` any run of characters), `anything-but` (a
//! value, a list, or `prefix`/`suffix`/`equals-ignore-case`), `numeric` (`[">", 0, "<=", 5]`),
//! `exists`, `cidr`. A field the event lacks matches only `{"exists": false}`.

use serde_json::{Map, Value as Json};

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid event pattern at {path}: {reason}")]
pub struct PatternError {
    pub path: String,
    pub reason: String,
}

/// A checked pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct Pattern(Map<String, Json>);

impl Pattern {
    /// Parses and checks a pattern (JSON text, as `put-rule --event-pattern` takes it).
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        let json: Json = serde_json::from_str(text).map_err(|e| err("$", &format!("not JSON: {e}")))?;
        Self::from_json(&json)
    }

    pub fn from_json(json: &Json) -> Result<Self, PatternError> {
        let Json::Object(map) = json else { return Err(err("$", "a pattern is a JSON object")) };
        check_object(map, "$")?;
        Ok(Self(map.clone()))
    }

    /// Whether `event` matches.
    pub fn matches(&self, event: &Json) -> bool {
        object_matches(&self.0, event)
    }
}

fn err(path: &str, reason: &str) -> PatternError {
    PatternError { path: path.to_string(), reason: reason.to_string() }
}

fn check_object(map: &Map<String, Json>, path: &str) -> Result<(), PatternError> {
    if map.is_empty() {
        return Err(err(path, "an empty object matches nothing"));
    }
    for (key, value) in map {
        let at = format!("{path}.{key}");
        match (key.as_str(), value) {
            ("$or", Json::Array(alternatives)) if alternatives.len() >= 2 => {
                for (i, a) in alternatives.iter().enumerate() {
                    let Json::Object(m) = a else {
                        return Err(err(&format!("{at}[{i}]"), "each alternative is an object"));
                    };
                    check_object(m, &format!("{at}[{i}]"))?;
                }
            }
            ("$or", _) => return Err(err(&at, "$or takes a list of at least two patterns")),
            (_, Json::Object(m)) => check_object(m, &at)?,
            (_, Json::Array(matchers)) if !matchers.is_empty() => {
                for (i, m) in matchers.iter().enumerate() {
                    check_matcher(m, &format!("{at}[{i}]"))?;
                }
            }
            (_, Json::Array(_)) => return Err(err(&at, "an empty list matches nothing")),
            _ => return Err(err(&at, "a field's values are given as a list (e.g. [\"value\"])")),
        }
    }
    Ok(())
}

fn check_matcher(m: &Json, path: &str) -> Result<(), PatternError> {
    let Json::Object(o) = m else { return Ok(()) };
    let [(op, arg)] = o.iter().collect::<Vec<_>>()[..] else {
        return Err(err(path, "a matcher object has exactly one key"));
    };
    let text = |a: &Json| {
        a.is_string()
            || matches!(a, Json::Object(x) if x.len() == 1 && x.get("equals-ignore-case").is_some_and(Json::is_string))
    };
    let ok = match op.as_str() {
        "prefix" | "suffix" => text(arg),
        "equals-ignore-case" | "wildcard" => arg.is_string(),
        "exists" => arg.is_boolean(),
        "cidr" => arg.as_str().and_then(parse_cidr).is_some(),
        "numeric" => numeric_checks(arg).is_some(),
        "anything-but" => match arg {
            Json::Object(x) => {
                x.len() == 1
                    && x.iter()
                        .all(|(k, v)| matches!(k.as_str(), "prefix" | "suffix" | "equals-ignore-case") && v.is_string())
            }
            Json::Array(values) => values.iter().all(|v| !v.is_object() && !v.is_array()),
            _ => true,
        },
        other => return Err(err(path, &format!("unknown matcher `{other}`"))),
    };
    if ok {
        Ok(())
    } else {
        Err(err(path, &format!("`{op}` does not take {arg}")))
    }
}

/// `[">", 0, "<=", 5]` as (operator, bound) pairs.
fn numeric_checks(arg: &Json) -> Option<Vec<(&str, f64)>> {
    let list = arg.as_array()?;
    if list.is_empty() || list.len() % 2 != 0 {
        return None;
    }
    list.chunks(2)
        .map(|c| {
            let op = c[0].as_str().filter(|o| matches!(*o, "=" | "<" | "<=" | ">" | ">="))?;
            Some((op, c[1].as_f64()?))
        })
        .collect()
}

fn object_matches(pattern: &Map<String, Json>, event: &Json) -> bool {
    pattern.iter().all(|(key, expected)| match (key.as_str(), expected) {
        ("$or", Json::Array(alternatives)) => {
            alternatives.iter().any(|a| a.as_object().is_some_and(|m| object_matches(m, event)))
        }
        (_, Json::Object(nested)) => event.get(key).is_some_and(|v| object_matches(nested, v)),
        (_, Json::Array(matchers)) => field_matches(matchers, event.get(key)),
        _ => false,
    })
}

fn field_matches(matchers: &[Json], value: Option<&Json>) -> bool {
    matchers.iter().any(|m| match (m, value) {
        (Json::Object(o), _) if o.contains_key("exists") => o["exists"].as_bool() == Some(value.is_some()),
        (_, None) => false,
        // A list in the event matches when any of its elements does.
        (_, Some(Json::Array(items))) => items.iter().any(|item| matcher_matches(m, item)),
        (_, Some(v)) => matcher_matches(m, v),
    })
}

fn matcher_matches(m: &Json, v: &Json) -> bool {
    let Json::Object(o) = m else { return same_value(m, v) };
    let Some((op, arg)) = o.iter().next() else { return false };
    let s = v.as_str();
    match op.as_str() {
        "prefix" => s.is_some_and(|s| text_test(arg, s, |s, p| s.starts_with(p))),
        "suffix" => s.is_some_and(|s| text_test(arg, s, |s, p| s.ends_with(p))),
        "equals-ignore-case" => s.zip(arg.as_str()).is_some_and(|(s, a)| s.to_lowercase() == a.to_lowercase()),
        "wildcard" => s.zip(arg.as_str()).is_some_and(|(s, a)| wildcard(a, s)),
        "numeric" => v.as_f64().zip(numeric_checks(arg)).is_some_and(|(n, checks)| {
            checks.iter().all(|(op, b)| match *op {
                "=" => n == *b,
                "<" => n < *b,
                "<=" => n <= *b,
                ">" => n > *b,
                _ => n >= *b,
            })
        }),
        "cidr" => s
            .and_then(|s| s.parse::<std::net::IpAddr>().ok())
            .zip(arg.as_str().and_then(parse_cidr))
            .is_some_and(|(ip, (net, bits))| in_network(ip, net, bits)),
        "anything-but" => match arg {
            Json::Array(values) => !values.iter().any(|x| same_value(x, v)),
            Json::Object(x) => !x
                .iter()
                .next()
                .is_some_and(|(k, a)| matcher_matches(&Json::Object(Map::from_iter([(k.clone(), a.clone())])), v)),
            other => !same_value(other, v),
        },
        _ => false,
    }
}

/// `prefix`/`suffix` with a plain string or `{"equals-ignore-case": …}`.
fn text_test(arg: &Json, s: &str, test: fn(&str, &str) -> bool) -> bool {
    match arg {
        Json::String(p) => test(s, p),
        Json::Object(o) => o
            .get("equals-ignore-case")
            .and_then(Json::as_str)
            .is_some_and(|p| test(&s.to_lowercase(), &p.to_lowercase())),
        _ => false,
    }
}

/// Exact equality, numbers by value (`5` matches `5.0`).
fn same_value(expected: &Json, actual: &Json) -> bool {
    match (expected, actual) {
        (Json::Number(a), Json::Number(b)) => a.as_f64() == b.as_f64(),
        (a, b) => a == b,
    }
}

/// `*` matches any run of characters (none included); everything else literally.
fn wildcard(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !s.starts_with(first) || s.len() < first.len() + last.len() || !s.ends_with(last) {
        return false;
    }
    let mut rest = &s[first.len()..s.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    let (ip, bits) = s.split_once('/')?;
    let ip: std::net::IpAddr = ip.parse().ok()?;
    let bits: u8 = bits.parse().ok()?;
    (bits <= if ip.is_ipv4() { 32 } else { 128 }).then_some((ip, bits))
}

fn in_network(ip: std::net::IpAddr, net: std::net::IpAddr, bits: u8) -> bool {
    use std::net::IpAddr::{V4, V6};
    match (ip, net) {
        (V4(a), V4(b)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(b) & mask
        }
        (V6(a), V6(b)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(b) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn m(pattern: Json, event: &Json) -> bool {
        Pattern::from_json(&pattern).unwrap_or_else(|e| panic!("{e}")).matches(event)
    }

    fn event() -> Json {
        json!({
            "detail-type": "AWS API Call via CloudTrail", "source": "aws.iam", "account": "222222222222",
            "region": "us-east-1",
            "detail": {
                "eventName": "CreateAccessKey", "eventSource": "iam.amazonaws.com", "sourceIPAddress": "203.0.113.50",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::222222222222:user/mallory"},
                "requestParameters": {"userName": "backup-svc"}, "readOnly": false, "errorCode": null,
                "tags": ["a", "b"], "bytes": 5242880
            }
        })
    }

    #[test]
    fn each_matcher_matches_as_eventbridge_does() {
        let e = event();
        assert!(m(json!({"source": ["aws.iam"], "detail": {"eventName": ["CreateUser", "CreateAccessKey"]}}), &e));
        assert!(!m(json!({"source": ["aws.s3"]}), &e));
        assert!(m(json!({"detail": {"userIdentity": {"type": ["IAMUser"]}}}), &e));
        assert!(m(json!({"detail": {"eventName": [{"prefix": "Create"}]}}), &e));
        assert!(m(json!({"detail": {"eventName": [{"prefix": {"equals-ignore-case": "create"}}]}}), &e));
        assert!(m(json!({"detail": {"eventName": [{"suffix": "Key"}]}}), &e));
        assert!(m(json!({"detail": {"eventSource": [{"equals-ignore-case": "IAM.AMAZONAWS.COM"}]}}), &e));
        assert!(m(json!({"detail": {"userIdentity": {"arn": [{"wildcard": "arn:aws:iam::*:user/mal*"}]}}}), &e));
        assert!(!m(json!({"detail": {"userIdentity": {"arn": [{"wildcard": "*:role/*"}]}}}), &e));
        assert!(m(json!({"detail": {"eventName": [{"anything-but": ["DeleteUser", "GetUser"]}]}}), &e));
        assert!(!m(json!({"detail": {"eventName": [{"anything-but": "CreateAccessKey"}]}}), &e));
        assert!(!m(json!({"detail": {"eventName": [{"anything-but": {"prefix": "Create"}}]}}), &e));
        assert!(m(json!({"detail": {"bytes": [{"numeric": [">", 1000000, "<=", 5242880]}]}}), &e));
        assert!(!m(json!({"detail": {"bytes": [{"numeric": ["<", 10]}]}}), &e));
        assert!(m(json!({"detail": {"bytes": [5242880.0]}}), &e), "numbers by value");
        assert!(m(json!({"detail": {"readOnly": [false]}}), &e));
        assert!(m(json!({"detail": {"errorCode": [null]}}), &e), "an explicit null");
        assert!(m(json!({"detail": {"errorMessage": [{"exists": false}]}}), &e));
        assert!(!m(json!({"detail": {"errorMessage": [{"exists": true}]}}), &e));
        assert!(m(json!({"detail": {"eventName": [{"exists": true}]}}), &e));
        assert!(
            !m(json!({"detail": {"errorMessage": [{"anything-but": "x"}]}}), &e),
            "absent fields match only exists:false"
        );
        assert!(m(json!({"detail": {"tags": ["b"]}}), &e), "any element of a list");
        assert!(m(json!({"detail": {"sourceIPAddress": [{"cidr": "203.0.113.0/24"}]}}), &e));
        assert!(!m(json!({"detail": {"sourceIPAddress": [{"cidr": "10.0.0.0/8"}]}}), &e));
        assert!(m(json!({"$or": [{"source": ["aws.s3"]}, {"detail": {"eventName": ["CreateAccessKey"]}}]}), &e));
        assert!(!m(json!({"source": ["aws.iam"], "$or": [{"account": ["1"]}, {"region": ["eu-west-1"]}]}), &e));
    }

    #[test]
    fn malformed_patterns_say_where() {
        for (bad, at) in [
            (json!({"source": "aws.iam"}), "$.source"),
            (json!({"detail": {"eventName": []}}), "$.detail.eventName"),
            (json!({"detail": {"eventName": [{"begins": "x"}]}}), "$.detail.eventName[0]"),
            (json!({"detail": {"bytes": [{"numeric": [">"]}]}}), "$.detail.bytes[0]"),
            (json!({"$or": [{"a": ["x"]}]}), "$.$or"),
            (json!({"ip": [{"cidr": "10.0.0.0/40"}]}), "$.ip[0]"),
            (json!([1]), "$"),
        ] {
            let e = Pattern::from_json(&bad).expect_err("refused");
            assert_eq!(e.path, at, "{bad}: {e}");
        }
        assert!(Pattern::parse(r#"{"source": ["aws.iam"]}"#).is_ok());
        assert!(
            wildcard("*.png", "a.png") && wildcard("a*b*c", "abbbc") && !wildcard("a*b", "ba") && wildcard("*", "")
        );
    }
}
