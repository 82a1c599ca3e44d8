//! Sigma rules (YAML, `logsource: product: aws, service: cloudtrail`) compiled to a Lake SQL
//! condition over a CloudTrail event data store.
//!
//! Fields map to the store's columns through the CloudTrail schema (`userIdentity.arn` →
//! `useridentity.arn`, `requestParameters.bucketName` → `element_at(requestparameters,
//! 'bucketName')`); a field the schema does not hold is read from the event text
//! (`json_extract_scalar(eventjson, '$.…')`). Values match as the Sigma specification says:
//! strings case-insensitively with `*` and `?` wildcards, lists as alternatives; modifiers
//! `contains`, `startswith`, `endswith`, `all`, `re` (with `i`, `m`, `s`), `cidr` (IPv4),
//! `exists`, `cased`, `fieldref`, `gt`/`gte`/`lt`/`lte`. Conditions: `and`, `or`, `not`,
//! parentheses, `1 of x*`, `all of x*`, `them`. Anything else (keyword lists, aggregations,
//! `base64`, `windash`, …) makes the rule unsupported, with the reason — never ignored.
//! Every test is two-valued (`COALESCE(…, false)`): `not filter` holds when the filter's
//! field is absent, as Sigma means it.

use serde_json::Value as Json;

use crate::schema::{self, FieldSpec, FieldType};

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct SigmaRule {
    pub title: String,
    pub id: Option<String>,
    pub level: Option<String>,
    pub status: Option<String>,
    pub tags: Vec<String>,
    /// The SQL condition over the store's columns.
    pub condition: String,
}

/// Why a rule cannot be compiled.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct Unsupported(pub String);

/// Compiles one rule's YAML text.
pub fn compile(yaml: &str) -> Result<SigmaRule, Unsupported> {
    let doc: Json = yaml_serde::from_str(yaml).map_err(|e| Unsupported(format!("not a YAML document: {e}")))?;
    let text = |k: &str| doc.get(k).and_then(Json::as_str).map(str::to_string);
    let title = text("title").ok_or_else(|| Unsupported("no title".into()))?;
    let logsource = doc.get("logsource").ok_or_else(|| Unsupported("no logsource".into()))?;
    let (product, service) =
        (logsource.get("product").and_then(Json::as_str), logsource.get("service").and_then(Json::as_str));
    if product != Some("aws") || service.is_some_and(|s| s != "cloudtrail") {
        return Err(Unsupported(format!(
            "logsource product {} service {} is not AWS CloudTrail",
            product.unwrap_or("-"),
            service.unwrap_or("-")
        )));
    }
    let detection = doc.get("detection").and_then(Json::as_object).ok_or_else(|| Unsupported("no detection".into()))?;
    let condition = match detection.get("condition") {
        Some(Json::String(c)) => c.clone(),
        Some(Json::Array(list)) if list.len() == 1 => list[0].as_str().unwrap_or_default().to_string(),
        Some(Json::Array(_)) => return Err(Unsupported("several conditions in one rule".into())),
        _ => return Err(Unsupported("no condition".into())),
    };
    let mut selections = Vec::new();
    for (name, body) in detection {
        if name != "condition" && name != "timeframe" {
            selections.push((name.clone(), selection(name, body)?));
        }
    }
    if detection.contains_key("timeframe") {
        return Err(Unsupported("timeframe (correlation) is not supported".into()));
    }
    let condition = Condition::parse(&condition, &selections)?;
    let tags = doc
        .get("tags")
        .and_then(Json::as_array)
        .map(|t| t.iter().filter_map(Json::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    Ok(SigmaRule { title, id: text("id"), level: text("level"), status: text("status"), tags, condition })
}

/// A selection: maps of field tests (all must hold), any of which may match.
fn selection(name: &str, body: &Json) -> Result<String, Unsupported> {
    let at = |why: String| Unsupported(format!("selection {name}: {why}"));
    match body {
        Json::Object(map) => field_tests(map).map_err(at),
        Json::Array(items) if items.iter().all(Json::is_object) && !items.is_empty() => {
            let alternatives: Result<Vec<String>, String> =
                items.iter().filter_map(Json::as_object).map(field_tests).collect();
            Ok(format!("({})", alternatives.map_err(at)?.join(" OR ")))
        }
        Json::Array(_) => Err(at("keyword searches (values without a field) are not supported".into())),
        _ => Err(at("expected a map of fields or a list of maps".into())),
    }
}

fn field_tests(map: &serde_json::Map<String, Json>) -> Result<String, String> {
    if map.is_empty() {
        return Err("an empty selection".into());
    }
    let tests: Result<Vec<String>, String> = map.iter().map(|(k, v)| field_test(k, v)).collect();
    Ok(format!("({})", tests?.join(" AND ")))
}

/// `field|mod|mod: value(s)`.
fn field_test(key: &str, value: &Json) -> Result<String, String> {
    let mut parts = key.split('|');
    let field = parts.next().unwrap_or_default();
    let mut m = Modifiers::default();
    for modifier in parts {
        match modifier {
            "contains" | "startswith" | "endswith" | "re" | "cidr" | "exists" | "fieldref" | "gt" | "gte" | "lt"
            | "lte" => {
                if let Some(previous) = m.op.replace(modifier.to_string()) {
                    return Err(format!("{key}: modifiers {previous} and {modifier} together"));
                }
            }
            "all" => m.all = true,
            "cased" => m.cased = true,
            "i" | "m" | "s" => m.re_flags.push_str(modifier),
            other => return Err(format!("{key}: the modifier {other} is not supported")),
        }
    }
    if field.is_empty() {
        return Err(format!("{key}: keyword searches (no field) are not supported"));
    }
    let expr = field_expr(field);
    let values: Vec<&Json> = match value {
        Json::Array(list) if list.is_empty() => return Err(format!("{key}: an empty list")),
        Json::Array(list) => list.iter().collect(),
        v => vec![v],
    };
    let tests: Result<Vec<String>, String> = values.iter().map(|v| value_test(&expr, &m, v, key)).collect();
    let joiner = if m.all { " AND " } else { " OR " };
    Ok(format!("({})", tests?.join(joiner)))
}

#[derive(Debug, Default)]
struct Modifiers {
    op: Option<String>,
    all: bool,
    cased: bool,
    re_flags: String,
}

/// One value's test, two-valued.
fn value_test(expr: &str, m: &Modifiers, v: &Json, key: &str) -> Result<String, String> {
    let text = match v {
        Json::String(s) => s.clone(),
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => n.to_string(),
        Json::Null => return Ok(format!("({expr} IS NULL)")),
        _ => return Err(format!("{key}: values must be strings, numbers, booleans or null")),
    };
    let as_text = format!("CAST({expr} AS VARCHAR)");
    let test = match m.op.as_deref() {
        Some("exists") => {
            return match v {
                Json::Bool(true) => Ok(format!("({expr} IS NOT NULL)")),
                Json::Bool(false) => Ok(format!("({expr} IS NULL)")),
                _ => Err(format!("{key}: exists takes true or false")),
            }
        }
        Some("fieldref") => format!("{as_text} = CAST({} AS VARCHAR)", field_expr(&text)),
        Some(op @ ("gt" | "gte" | "lt" | "lte")) => {
            let n: f64 = text.parse().map_err(|_| format!("{key}: {op} takes a number"))?;
            let sym = match op {
                "gt" => ">",
                "gte" => ">=",
                "lt" => "<",
                _ => "<=",
            };
            format!("TRY_CAST({as_text} AS DOUBLE) {sym} {n}")
        }
        Some("re") => {
            let flags = if m.re_flags.is_empty() { String::new() } else { format!("(?{})", m.re_flags) };
            regex::Regex::new(&format!("{flags}{text}"))
                .map_err(|e| format!("{key}: not a regular expression: {e}"))?;
            format!("regexp_like({as_text}, {})", quote(&format!("{flags}{text}")))
        }
        Some("cidr") => {
            let prefixes = cidr_prefixes(&text).ok_or_else(|| format!("{key}: {text} is not an IPv4 network"))?;
            let likes: Vec<String> =
                prefixes.iter().map(|p| format!("{as_text} LIKE {} ESCAPE '\\'", quote(&format!("{p}%")))).collect();
            format!("({})", likes.join(" OR "))
        }
        op => {
            let pattern = like_pattern(&text);
            let pattern = match op {
                Some("contains") => format!("%{pattern}%"),
                Some("startswith") => format!("{pattern}%"),
                Some("endswith") => format!("%{pattern}"),
                _ => pattern,
            };
            match m.cased {
                true => format!("{as_text} LIKE {} ESCAPE '\\'", quote(&pattern)),
                false => format!("lower({as_text}) LIKE {} ESCAPE '\\'", quote(&pattern.to_lowercase())),
            }
        }
    };
    Ok(format!("COALESCE({test}, false)"))
}

/// A Sigma value as a LIKE pattern: `*` and `?` are wildcards (`\*`, `\?` literal), `%` and
/// `_` literal.
fn like_pattern(value: &str) -> String {
    let mut out = String::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if matches!(chars.peek(), Some('*' | '?' | '\\')) => {
                let next = chars.next().unwrap_or('\\');
                if next == '\\' {
                    out.push_str("\\\\");
                } else {
                    out.push(next);
                }
            }
            '\\' => out.push_str("\\\\"),
            '*' => out.push('%'),
            '?' => out.push('_'),
            '%' | '_' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The text prefixes of the addresses of an IPv4 network, whole octets at a time
/// (`10.0.0.0/8` → `10.`; `/12` → sixteen `/16` prefixes).
fn cidr_prefixes(net: &str) -> Option<Vec<String>> {
    let (addr, bits) = net.split_once('/').unwrap_or((net, "32"));
    let addr: std::net::Ipv4Addr = addr.parse().ok()?;
    let bits: u32 = bits.parse().ok().filter(|b| *b <= 32)?;
    let octets = bits.div_ceil(8).max(1) as usize;
    let span = 1u32 << (octets as u32 * 8 - bits.min(octets as u32 * 8));
    let base = u32::from(addr) & (u32::MAX.checked_shl(32 - bits).unwrap_or(0));
    let step = 1u32 << (32 - octets as u32 * 8).min(31);
    (0..span)
        .map(|i| {
            let a = std::net::Ipv4Addr::from(base.wrapping_add(i.wrapping_mul(step))).octets();
            let head: Vec<String> = a[..octets].iter().map(u8::to_string).collect();
            Some(match octets {
                4 => head.join("."),
                _ => format!("{}.", head.join(".")),
            })
        })
        .collect()
}

/// The SQL expression of a Sigma field over a CloudTrail store.
pub fn field_expr(field: &str) -> String {
    let parts: Vec<&str> = field.split('.').collect();
    let mut fields: &[FieldSpec] = &schema::cloudtrail().spec.fields;
    let mut column = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        let Some(f) = fields.iter().find(|f| f.source.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(part))) else {
            break;
        };
        column.push(f.name.clone());
        let last = i + 1 == parts.len();
        match (&f.ty, last) {
            (FieldType::Struct { fields: inner }, false) => fields = inner,
            (FieldType::Map, false) if i + 2 == parts.len() => {
                return format!("element_at({}, {})", column.join("."), quote(parts[i + 1]));
            }
            (FieldType::Map | FieldType::List { .. } | FieldType::Struct { .. }, true) => {
                // The whole object or list, as its JSON text.
                return format!("json_extract({}, {})", schema::EVENT_TEXT_COLUMN, quote(&json_path(&parts)));
            }
            (_, true) => return column.join("."),
            _ => break,
        }
    }
    format!("json_extract_scalar({}, {})", schema::EVENT_TEXT_COLUMN, quote(&json_path(&parts)))
}

fn json_path(parts: &[&str]) -> String {
    let mut p = String::from("$");
    for part in parts {
        if part.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            p.push('.');
            p.push_str(part);
        } else {
            p.push_str(&format!("[\"{}\"]", part.replace('"', "\\\"")));
        }
    }
    p
}

/// A parsed condition.
enum Condition {}

impl Condition {
    /// `condition` over the named selections, as SQL.
    fn parse(text: &str, selections: &[(String, String)]) -> Result<String, Unsupported> {
        if text.contains('|') {
            return Err(Unsupported(format!("aggregations in conditions are not supported: {text}")));
        }
        let tokens = tokenize(text);
        let mut p = Parser { tokens: &tokens, at: 0, selections };
        let sql = p.or().map_err(|e| Unsupported(format!("condition {text:?}: {e}")))?;
        if p.at != tokens.len() {
            return Err(Unsupported(format!("condition {text:?}: unexpected {:?}", tokens[p.at])));
        }
        Ok(sql)
    }
}

fn tokenize(text: &str) -> Vec<String> {
    let spaced = text.replace('(', " ( ").replace(')', " ) ");
    spaced.split_whitespace().map(str::to_string).collect()
}

struct Parser<'a> {
    tokens: &'a [String],
    at: usize,
    selections: &'a [(String, String)],
}

impl Parser<'_> {
    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> Option<&str> {
        self.at += 1;
        self.tokens.get(self.at - 1).map(String::as_str)
    }

    fn or(&mut self) -> Result<String, String> {
        let mut parts = vec![self.and()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("or")) {
            self.at += 1;
            parts.push(self.and()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { format!("({})", parts.join(" OR ")) })
    }

    fn and(&mut self) -> Result<String, String> {
        let mut parts = vec![self.not()?];
        while self.peek().is_some_and(|t| t.eq_ignore_ascii_case("and")) {
            self.at += 1;
            parts.push(self.not()?);
        }
        Ok(if parts.len() == 1 { parts.remove(0) } else { format!("({})", parts.join(" AND ")) })
    }

    fn not(&mut self) -> Result<String, String> {
        if self.peek().is_some_and(|t| t.eq_ignore_ascii_case("not")) {
            self.at += 1;
            return Ok(format!("(NOT {})", self.not()?));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<String, String> {
        let Some(token) = self.next().map(str::to_string) else { return Err("ends too early".into()) };
        match token.to_ascii_lowercase().as_str() {
            "(" => {
                let inner = self.or()?;
                match self.next() {
                    Some(")") => Ok(inner),
                    _ => Err("a parenthesis is not closed".into()),
                }
            }
            "1" | "all" | "any" => {
                let quantifier = token.to_ascii_lowercase();
                if !self.next().is_some_and(|t| t.eq_ignore_ascii_case("of")) {
                    return Err(format!("expected `of` after {token}"));
                }
                let target = self.next().ok_or("expected selections after `of`")?.to_string();
                let chosen: Vec<&String> = self
                    .selections
                    .iter()
                    .filter(|(name, _)| target == "them" || glob(&target, name))
                    .map(|(_, sql)| sql)
                    .collect();
                if chosen.is_empty() {
                    return Err(format!("no selection matches {target}"));
                }
                let joiner = if quantifier == "all" { " AND " } else { " OR " };
                Ok(format!("({})", chosen.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(joiner)))
            }
            _ => self
                .selections
                .iter()
                .find(|(name, _)| *name == token)
                .map(|(_, sql)| sql.clone())
                .ok_or_else(|| format!("no selection named {token}")),
        }
    }
}

/// Sigma's selection-name wildcard (`filter_main_*`): `*` any run of characters.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, rest)) => {
            let Some(after) = name.strip_prefix(head) else { return false };
            after.char_indices().map(|(i, _)| i).chain([after.len()]).any(|i| glob(rest, &after[i..]))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_map_to_columns_map_keys_and_event_text() {
        assert_eq!(field_expr("eventName"), "eventname");
        assert_eq!(
            field_expr("userIdentity.sessionContext.sessionIssuer.type"),
            "useridentity.sessioncontext.sessionissuer.type"
        );
        assert_eq!(field_expr("requestParameters.bucketName"), "element_at(requestparameters, 'bucketName')");
        assert_eq!(field_expr("requestParameters"), "json_extract(eventjson, '$.requestParameters')");
        assert_eq!(
            field_expr("requestParameters.containerDefinitions.command"),
            "json_extract_scalar(eventjson, '$.requestParameters.containerDefinitions.command')"
        );
        assert_eq!(field_expr("status"), "json_extract_scalar(eventjson, '$.status')");
    }

    #[test]
    fn values_and_modifiers_compile_as_sigma_means_them() {
        let rule = compile(
            "title: t\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  sel:\n    eventName|startswith: [Get, 'List*']\n    \
             errorCode: null\n    userAgent|contains|all: [a_b, 'c']\n  filter_x:\n    sourceIPAddress|cidr: 10.16.0.0/12\n  condition: sel and not 1 of filter_*\n",
        )
        .expect("compiles");
        let c = &rule.condition;
        assert!(c.contains(r"lower(CAST(eventname AS VARCHAR)) LIKE 'get%'"), "{c}");
        assert!(c.contains(r"LIKE 'list%%'"), "{c}");
        assert!(c.contains("(errorcode IS NULL)"), "{c}");
        assert!(c.contains(r"LIKE '%a\_b%' ESCAPE '\', false) AND"), "{c}");
        assert!(c.contains("LIKE '10.16.%'") && c.contains("LIKE '10.31.%'") && !c.contains("10.32."), "{c}");
        assert!(c.contains("(NOT "), "{c}");
    }

    #[test]
    fn what_cannot_be_compiled_says_why() {
        let e = |yaml: &str| compile(yaml).expect_err("unsupported").0;
        let head = "title: t\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n";
        assert!(e(&format!("{head}  sel: [a, b]\n  condition: sel\n")).contains("keyword searches"));
        assert!(e(&format!("{head}  sel:\n    x|base64: a\n  condition: sel\n")).contains("modifier base64"));
        assert!(e(&format!("{head}  sel:\n    x: a\n  condition: sel | count() > 5\n")).contains("aggregations"));
        assert!(e(&format!("{head}  sel:\n    x: a\n  condition: nope\n")).contains("no selection named nope"));
        assert!(e("title: t\nlogsource: {product: windows}\ndetection: {sel: {x: a}, condition: sel}\n")
            .contains("not AWS CloudTrail"));
    }

    #[test]
    fn selection_names_match_wildcards() {
        assert!(glob("filter_main_*", "filter_main_aws"));
        assert!(glob("selection_*", "selection_status_1") && !glob("selection_*", "filter"));
        assert!(glob("*", "x") && glob("a*c", "abc") && !glob("a*c", "abd"));
    }
}
