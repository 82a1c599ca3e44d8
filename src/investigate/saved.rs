//! Saved query files: plain `.sql` with a comment header and `{{NAME}}` placeholders.
//!
//! ```sql
//! -- name: console-logins-without-mfa
//! -- description: Console sign-ins that did not use MFA.
//! -- param: days 7 How many days back to look
//! -- param: user 'alice' The IAM user name
//! SELECT … FROM {{eds}} WHERE eventTime > date_add('day', -{{days}}, now()) AND userIdentity.userName = {{user}}
//! ```
//!
//! Placeholders become properly quoted literals, never pasted text: a parameter whose default is
//! a number takes numbers only; any other value becomes a string literal with its quotes
//! escaped. `{{eds}}` names the event data store (a quoted identifier), the default one unless
//! `eds=` is given. A placeholder inside a string literal or comment is an error, as are
//! unknown and missing parameters.

use std::collections::BTreeMap;

use crate::schema::Kind;

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum SavedQueryError {
    #[error("{file}: line {line}: {message}")]
    Header { file: String, line: usize, message: String },
    #[error("{0}")]
    Param(String),
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Param {
    pub name: String,
    /// None: the caller must give a value.
    pub default: Option<String>,
    pub description: String,
    /// Takes numbers only: its default is an unquoted number (`'10.'` quoted is text).
    pub numeric: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SavedQuery {
    pub name: Option<String>,
    pub description: String,
    pub params: Vec<Param>,
    /// The whole file (header comments included; they are comments to SQL).
    pub sql: String,
}

/// The placeholder that names the event data store.
pub const EDS_PARAM: &str = "eds";
/// The stores the built-in placeholders name when no `--param` does (ids): `{{eds}}`, and a
/// store of each other kind, `{{insights_eds}}`, `{{config_eds}}`, `{{audit_eds}}`,
/// `{{evidence_eds}}`.
#[derive(Debug, Clone, Default)]
pub struct DefaultStores {
    /// `{{eds}}`: the default CloudTrail store.
    pub eds: Option<String>,
    /// `{{<kind>_eds}}`: the Insights destination of the default store, else the only store of
    /// that kind.
    pub by_kind: std::collections::BTreeMap<Kind, String>,
}

impl DefaultStores {
    /// Only `{{eds}}`, as `eds`.
    pub fn eds(eds: Option<&str>) -> Self {
        Self { eds: eds.map(str::to_string), by_kind: Default::default() }
    }

    /// The defaults of `store`.
    pub async fn of(store: &crate::store::Store) -> Result<Self, crate::store::StoreError> {
        let eds = store.default_eds().await?;
        let mut by_kind = std::collections::BTreeMap::new();
        for kind in Kind::ALL.into_iter().filter(|k| *k != Kind::Cloudtrail) {
            if let Some(r) = store.default_eds_of_kind(kind, eds.as_ref()).await? {
                by_kind.insert(kind, r.id.to_string());
            }
        }
        Ok(Self { eds: eds.map(|r| r.id.to_string()), by_kind })
    }
}

/// The kind a store placeholder names (`insights_eds` → insights), if it is one.
fn placeholder_kind(name: &str) -> Option<Kind> {
    let kind = name.to_ascii_lowercase().strip_suffix("_eds")?.parse::<Kind>().ok()?;
    (kind != Kind::Cloudtrail).then_some(kind)
}

impl SavedQuery {
    /// Reads the header of `text`; `file` names it in errors.
    pub fn parse(file: &str, text: &str) -> Result<Self, SavedQueryError> {
        let mut q = SavedQuery { name: None, description: String::new(), params: Vec::new(), sql: text.to_string() };
        let mut in_description = false;
        for (i, line) in text.lines().enumerate() {
            let t = line.trim();
            if t.is_empty() {
                in_description = false;
                continue;
            }
            let Some(comment) = t.strip_prefix("--") else { break };
            let err = |message: String| SavedQueryError::Header { file: file.to_string(), line: i + 1, message };
            let c = comment.trim();
            if let Some(v) = c.strip_prefix("name:") {
                q.name = Some(v.trim().to_string());
                in_description = false;
            } else if let Some(v) = c.strip_prefix("description:") {
                q.description = v.trim().to_string();
                in_description = true;
            } else if let Some(v) = c.strip_prefix("param:") {
                in_description = false;
                let p = parse_param(v.trim()).map_err(err)?;
                if q.params.iter().any(|x| x.name.eq_ignore_ascii_case(&p.name)) {
                    return Err(err(format!("parameter `{}` is declared twice", p.name)));
                }
                q.params.push(p);
            } else if in_description && comment.starts_with("  ") {
                // An indented comment line continues the description.
                q.description.push(' ');
                q.description.push_str(c);
            } else {
                in_description = false;
            }
        }
        Ok(q)
    }

    /// The SQL with every placeholder replaced. `values` override defaults; `stores` names
    /// the stores `{{eds}}` and `{{insights_eds}}` mean by default.
    pub fn render(&self, values: &BTreeMap<String, String>, stores: &DefaultStores) -> Result<String, SavedQueryError> {
        for k in values.keys() {
            let known = k.eq_ignore_ascii_case(EDS_PARAM)
                || placeholder_kind(k).is_some()
                || self.params.iter().any(|p| p.name.eq_ignore_ascii_case(k));
            if !known {
                let names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(SavedQueryError::Param(format!(
                    "unknown parameter `{k}`; {} takes: {}",
                    self.name.as_deref().unwrap_or("this query"),
                    if names.is_empty() { "no parameters".to_string() } else { names.join(", ") }
                )));
            }
        }
        let value_of = |name: &str| -> Result<String, SavedQueryError> {
            let given = values.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
            if name.eq_ignore_ascii_case(EDS_PARAM) {
                let id = given.or(stores.eds.as_deref()).ok_or_else(|| {
                    SavedQueryError::Param("no event data store: give `--param eds=NAME` or create one".into())
                })?;
                return Ok(quote_identifier(id));
            }
            if let Some(kind) = placeholder_kind(name) {
                let id = given.or(stores.by_kind.get(&kind).map(String::as_str)).ok_or_else(|| {
                    SavedQueryError::Param(format!(
                        "no event data store of kind {kind}: give `--param {kind}_eds=NAME`, or create one \
                         (`traillake eds create NAME --kind {kind}`)"
                    ))
                })?;
                return Ok(quote_identifier(id));
            }
            let Some(p) = self.params.iter().find(|p| p.name.eq_ignore_ascii_case(name)) else {
                return Err(SavedQueryError::Param(format!(
                    "placeholder {{{{{name}}}}} has no `-- param: {name} DEFAULT description` line"
                )));
            };
            let v = given.or(p.default.as_deref()).ok_or_else(|| {
                SavedQueryError::Param(format!("parameter `{name}` has no default: give `--param {name}=VALUE`"))
            })?;
            literal(p, v)
        };
        substitute(&self.sql, value_of)
    }
}

/// `NAME DEFAULT description`; DEFAULT may be quoted ('two words') or `-` for none.
fn parse_param(v: &str) -> Result<Param, String> {
    let (name, rest) = v.split_once(char::is_whitespace).unwrap_or((v, ""));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(format!("`-- param:` needs NAME DEFAULT description, got `{v}`"));
    }
    let rest = rest.trim_start();
    let (default, description, numeric) = match rest.chars().next() {
        Some(q @ ('\'' | '"')) => {
            let body = &rest[1..];
            let end = body.find(q).ok_or_else(|| format!("unclosed quote in the default of `{name}`"))?;
            (Some(body[..end].to_string()), body[end + 1..].trim(), false)
        }
        Some(_) => {
            let (d, desc) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
            ((d != "-").then(|| d.to_string()), desc.trim(), is_number(d))
        }
        None => (None, "", false),
    };
    Ok(Param { name: name.to_string(), default, description: description.to_string(), numeric })
}

fn is_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.chars().filter(|&c| c == '.').count() <= 1
        && s.chars().any(|c| c.is_ascii_digit())
}

/// A value as a SQL literal: numbers for numeric parameters, otherwise a quoted string.
fn literal(p: &Param, v: &str) -> Result<String, SavedQueryError> {
    if p.numeric {
        if is_number(v) {
            return Ok(v.to_string());
        }
        return Err(SavedQueryError::Param(format!("parameter `{}` takes a number, got `{v}`", p.name)));
    }
    Ok(format!("'{}'", v.replace('\'', "''")))
}

fn quote_identifier(id: &str) -> String {
    format!("\"{}\"", id.replace('"', "\"\""))
}

/// Replaces `{{NAME}}` outside string literals and comments; one inside them is an error.
fn substitute(
    sql: &str,
    mut value_of: impl FnMut(&str) -> Result<String, SavedQueryError>,
) -> Result<String, SavedQueryError> {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut last = 0;
    let in_literal_error = |name: &str| {
        SavedQueryError::Param(format!(
            "placeholder {{{{{name}}}}} is inside quotes or a comment; write it bare — it becomes a quoted literal"
        ))
    };
    while i < b.len() {
        match b[i] {
            b'\'' | b'"' => {
                let q = b[i];
                let start = i;
                i += 1;
                while i < b.len() && !(b[i] == q && b.get(i + 1) != Some(&q)) {
                    i += if b[i] == q { 2 } else { 1 };
                }
                i += 1;
                if let Some(name) = find_placeholder(&sql[start..i.min(sql.len())]) {
                    return Err(in_literal_error(&name));
                }
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                let start = i;
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
                // Header lines mention parameters by name only; `{{x}}` in a comment is a mistake.
                if let Some(name) = find_placeholder(&sql[start..i]) {
                    return Err(in_literal_error(&name));
                }
            }
            b'{' if b.get(i + 1) == Some(&b'{') => {
                let close = sql[i..].find("}}").map(|c| i + c);
                let Some(close) = close else {
                    return Err(SavedQueryError::Param("unclosed `{{` placeholder".into()));
                };
                let name = sql[i + 2..close].trim();
                out.push_str(&sql[last..i]);
                out.push_str(&value_of(name)?);
                i = close + 2;
                last = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[last..]);
    Ok(out)
}

fn find_placeholder(s: &str) -> Option<String> {
    let open = s.find("{{")?;
    let close = s[open..].find("}}")? + open;
    Some(s[open + 2..close].trim().to_string())
}

/// Parses `k=v` command-line parameters.
pub fn parse_assignments(items: &[String]) -> Result<BTreeMap<String, String>, SavedQueryError> {
    let mut m = BTreeMap::new();
    for it in items {
        let (k, v) = it
            .split_once('=')
            .ok_or_else(|| SavedQueryError::Param(format!("parameters are NAME=VALUE, got `{it}`")))?;
        m.insert(k.trim().to_string(), v.to_string());
    }
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "-- name: logins\n-- description: Console logins\n--   without MFA.\n-- param: days 7 How far back\n-- param: user 'alice smith' Who\n-- param: region - Required region\nSELECT * FROM {{eds}} WHERE d > {{days}} AND u = {{user}} AND r = {{ region }}\n";

    fn vals(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn header_is_read() {
        let q = SavedQuery::parse("f.sql", FILE).expect("parse");
        assert_eq!(q.name.as_deref(), Some("logins"));
        assert_eq!(q.description, "Console logins without MFA.");
        assert_eq!(
            q.params[1],
            Param {
                name: "user".into(),
                default: Some("alice smith".into()),
                description: "Who".into(),
                numeric: false
            }
        );
        assert!(q.params[0].numeric);
        assert_eq!(q.params[2].default, None);
    }

    #[test]
    fn values_become_quoted_literals() {
        let q = SavedQuery::parse("f.sql", FILE).expect("parse");
        let sql =
            q.render(&vals(&[("region", "x'); DROP TABLE t; --")]), &DefaultStores::eds(Some("abc"))).expect("render");
        assert!(
            sql.ends_with("FROM \"abc\" WHERE d > 7 AND u = 'alice smith' AND r = 'x''); DROP TABLE t; --'\n"),
            "{sql}"
        );
        assert!(q.render(&vals(&[("region", "r"), ("days", "1; DROP")]), &DefaultStores::eds(Some("abc"))).is_err());
        assert!(q.render(&vals(&[("region", "r"), ("nope", "1")]), &DefaultStores::eds(Some("abc"))).is_err());
        assert!(q.render(&vals(&[]), &DefaultStores::eds(Some("abc"))).is_err(), "region has no default");
        let other =
            q.render(&vals(&[("region", "r"), ("eds", "prod")]), &DefaultStores::eds(Some("abc"))).expect("render");
        assert!(other.contains("FROM \"prod\""));
    }

    #[test]
    fn placeholders_inside_literals_are_refused() {
        let q = SavedQuery::parse("f.sql", "-- param: u a x\nSELECT '{{u}}'").expect("parse");
        assert!(q.render(&vals(&[]), &DefaultStores::default()).is_err());
        let undeclared = SavedQuery::parse("f.sql", "SELECT {{u}}").expect("parse");
        assert!(undeclared.render(&vals(&[]), &DefaultStores::default()).is_err());
        // A quoted default that looks like a number is text.
        let prefix = SavedQuery::parse("f.sql", "-- param: net '10.' x\nSELECT {{net}}").expect("parse");
        assert_eq!(
            prefix.render(&vals(&[]), &DefaultStores::default()).expect("render"),
            "-- param: net '10.' x\nSELECT '10.'"
        );
        assert!(SavedQuery::parse("f.sql", "-- param: a 1 x\n-- param: A 2 y\nSELECT 1").is_err());
    }
}
