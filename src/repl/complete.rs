//! Tab completion: what may follow the cursor, from what the session knows (SQL keywords,
//! function names, event data store ids and names, column paths as CloudTrail spells them, map
//! keys seen in the store). Pure functions over a `Vocabulary`, so they are unit-tested without
//! a terminal.

use std::collections::BTreeSet;

use crate::schema::{self, FieldSpec, FieldType};

/// Everything completion can offer, gathered once when the session starts.
#[derive(Debug, Default, Clone)]
pub struct Vocabulary {
    /// SQL keywords, uppercase.
    pub keywords: BTreeSet<String>,
    /// Function names, lowercase.
    pub functions: BTreeSet<String>,
    /// Event data store ids and names.
    pub tables: BTreeSet<String>,
    /// Column paths in CloudTrail's spelling (`userIdentity.sessionContext.sessionIssuer.userName`).
    pub columns: Vec<String>,
    /// Top-level map columns (`requestParameters`), whose keys can be completed.
    pub map_columns: Vec<String>,
}

impl Vocabulary {
    /// Column paths of the schemas of the stores open (each kind once); keywords from the SQL
    /// parser.
    pub fn new(
        functions: impl IntoIterator<Item = String>,
        tables: impl IntoIterator<Item = String>,
        kinds: impl IntoIterator<Item = schema::Kind>,
    ) -> Self {
        let mut columns = Vec::new();
        let mut map_columns = Vec::new();
        let mut seen = Vec::new();
        for kind in kinds {
            if seen.contains(&kind) {
                continue;
            }
            seen.push(kind);
            for f in &kind.schema().spec.fields {
                collect_paths(f, "", &mut columns);
                if matches!(f.ty, FieldType::Map) {
                    map_columns.push(display_name(f));
                }
            }
        }
        // Kinds share names (eventTime, awsRegion): each once, first spelling first.
        let mut unique = std::collections::HashSet::new();
        columns.retain(|c| unique.insert(c.clone()));
        let mut unique = std::collections::HashSet::new();
        map_columns.retain(|c| unique.insert(c.clone()));
        let keywords = datafusion::sql::sqlparser::keywords::ALL_KEYWORDS
            .iter()
            .filter(|k| k.chars().all(|c| c.is_ascii_alphabetic() || c == '_'))
            .map(|k| k.to_string())
            .collect();
        Self {
            keywords,
            functions: functions.into_iter().map(|f| f.to_ascii_lowercase()).collect(),
            tables: tables.into_iter().collect(),
            columns,
            map_columns,
        }
    }

    /// The map column `name` refers to (any case, either spelling), in CloudTrail's spelling.
    pub fn map_column(&self, name: &str) -> Option<&str> {
        self.map_columns.iter().find(|c| c.eq_ignore_ascii_case(name)).map(String::as_str)
    }
}

/// How a field is written in queries: its trail JSON key (`userIdentity`), else its column name.
fn display_name(f: &FieldSpec) -> String {
    f.source.clone().unwrap_or_else(|| f.name.clone())
}

fn collect_paths(f: &FieldSpec, prefix: &str, out: &mut Vec<String>) {
    let path = format!("{prefix}{}", display_name(f));
    if let FieldType::Struct { fields } = &f.ty {
        let nested = format!("{path}.");
        for child in fields {
            collect_paths(child, &nested, out);
        }
    }
    out.push(path);
}

/// What the cursor is in the middle of.
#[derive(Debug, PartialEq, Eq)]
pub enum Context<'a> {
    /// A word (possibly a dotted path) that starts at byte `start`.
    Word { start: usize, word: &'a str },
    /// A string literal that names a key of map column `column`: `element_at(requestParameters, 'buc`
    /// or `requestParameters['buc`. `start` is where the key text begins.
    MapKey { start: usize, column: &'a str, prefix: &'a str },
    /// Inside some other string literal: nothing to offer.
    Literal,
}

/// Finds what is being completed in `line` at byte `pos`.
pub fn context(line: &str, pos: usize) -> Context<'_> {
    let before = &line[..pos];
    if let Some(ctx) = map_key_context(before) {
        return ctx;
    }
    if before.matches('\'').count() % 2 == 1 {
        return Context::Literal;
    }
    let start = before
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.' | '-' | '$'))
        .last()
        .map_or(pos, |(i, _)| i);
    Context::Word { start, word: &before[start..] }
}

fn map_key_context(before: &str) -> Option<Context<'_>> {
    // The cursor must be inside an open quote: the last `'` opens a literal.
    let quote = before.rfind('\'')?;
    if !before[..quote].matches('\'').count().is_multiple_of(2) {
        return None;
    }
    let prefix = &before[quote + 1..];
    let head = before[..quote].trim_end();
    let column = if let Some(h) = head.strip_suffix('[') {
        trailing_identifier(h.trim_end())
    } else {
        let h = head.strip_suffix(',')?.trim_end();
        let column = trailing_identifier(h)?;
        let call = h[..h.len() - column.len()].trim_end().strip_suffix('(')?.trim_end();
        if !call.to_ascii_lowercase().ends_with("element_at") {
            return None;
        }
        Some(column)
    }?;
    // `t.requestParameters` → `requestParameters`.
    let column = column.rsplit('.').next().unwrap_or(column);
    Some(Context::MapKey { start: quote + 1, column, prefix })
}

fn trailing_identifier(s: &str) -> Option<&str> {
    let start =
        s.char_indices().rev().take_while(|(_, c)| c.is_alphanumeric() || matches!(c, '_' | '.' | '"')).last()?.0;
    Some(s[start..].trim_matches('"'))
}

/// Candidates for a word: dotted words complete column paths; others, keywords (in the case the
/// user is typing), functions, event data stores and top-level columns.
pub fn words(vocab: &Vocabulary, word: &str) -> Vec<String> {
    if word.is_empty() {
        return Vec::new();
    }
    let lower = word.to_ascii_lowercase();
    let matches = |c: &str| c.len() >= word.len() && c.to_ascii_lowercase().starts_with(&lower);
    if word.contains('.') {
        // A table alias before the path (`t.userIdentity.ar`) is kept as typed.
        let mut out: Vec<String> = vocab.columns.iter().filter(|c| matches(c)).cloned().collect();
        if out.is_empty() {
            if let Some((alias, rest)) = word.split_once('.') {
                out = words_in_paths(vocab, rest).into_iter().map(|p| format!("{alias}.{p}")).collect();
            }
        }
        out.sort();
        return out;
    }
    let upper = word.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && word.to_ascii_uppercase() == word;
    let mut out: Vec<String> = Vec::new();
    out.extend(vocab.columns.iter().filter(|c| !c.contains('.') && matches(c)).cloned());
    out.extend(vocab.tables.iter().filter(|t| matches(t)).cloned());
    out.extend(vocab.functions.iter().filter(|f| matches(f)).map(|f| format!("{f}(")));
    out.extend(vocab.keywords.iter().filter(|k| matches(k)).map(|k| {
        if upper {
            k.clone()
        } else {
            k.to_ascii_lowercase()
        }
    }));
    let mut seen = BTreeSet::new();
    out.retain(|c| seen.insert(c.to_ascii_lowercase()));
    out
}

fn words_in_paths(vocab: &Vocabulary, word: &str) -> Vec<String> {
    let lower = word.to_ascii_lowercase();
    vocab.columns.iter().filter(|c| c.to_ascii_lowercase().starts_with(&lower)).cloned().collect()
}

/// Candidates for a map key: known keys with that prefix, each closed with `'`.
pub fn map_keys<'k>(keys: impl IntoIterator<Item = &'k String>, prefix: &str) -> Vec<String> {
    keys.into_iter().filter(|k| k.starts_with(prefix)).map(|k| format!("{k}'")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabulary {
        Vocabulary::new(
            ["element_at".to_string(), "count".to_string(), "date_trunc".to_string()],
            ["5e2676f8-1f3c-4a8a-9b3e-6f0d2c1a7b90".to_string(), "default".to_string()],
            [schema::Kind::Cloudtrail],
        )
    }

    #[test]
    fn column_paths_follow_the_schema_in_cloudtrail_spelling() {
        let v = vocab();
        assert!(v.columns.contains(&"userIdentity.sessionContext.sessionIssuer.userName".to_string()));
        assert!(v.columns.contains(&"eventTime".to_string()));
        assert_eq!(v.map_column("REQUESTPARAMETERS"), Some("requestParameters"));
    }

    #[test]
    fn nested_paths_complete_case_insensitively() {
        let v = vocab();
        assert_eq!(
            words(&v, "useridentity.sessionContext.sessionIssuer.user"),
            vec!["userIdentity.sessionContext.sessionIssuer.userName"]
        );
        let under = words(&v, "userIdentity.sessionC");
        assert!(under.contains(&"userIdentity.sessionContext.attributes.mfaAuthenticated".to_string()), "{under:?}");
        assert_eq!(words(&v, "t.userIdentity.ar"), vec!["t.userIdentity.arn"]);
    }

    #[test]
    fn plain_words_complete_keywords_functions_tables_and_columns() {
        let v = vocab();
        assert!(words(&v, "SEL").contains(&"SELECT".to_string()));
        assert!(words(&v, "sel").contains(&"select".to_string()));
        assert!(words(&v, "eventN").contains(&"eventName".to_string()));
        assert!(words(&v, "element").contains(&"element_at(".to_string()));
        assert_eq!(words(&v, "5e26"), vec!["5e2676f8-1f3c-4a8a-9b3e-6f0d2c1a7b90"]);
        assert!(words(&v, "").is_empty());
    }

    #[test]
    fn the_cursor_context_finds_words_and_map_keys() {
        let line = "SELECT userIdentity.ar";
        assert_eq!(context(line, line.len()), Context::Word { start: 7, word: "userIdentity.ar" });
        let line = "SELECT element_at(requestParameters, 'buck";
        assert_eq!(
            context(line, line.len()),
            Context::MapKey { start: 38, column: "requestParameters", prefix: "buck" }
        );
        let line = "WHERE t.requestparameters['";
        assert_eq!(context(line, line.len()), Context::MapKey { start: 27, column: "requestparameters", prefix: "" });
        // A closed literal is not a key position.
        let line = "WHERE element_at(requestParameters, 'a') = 'x";
        assert_eq!(context(line, line.len()), Context::Literal);
        let line = "WHERE eventName = 'Get";
        assert_eq!(context(line, line.len()), Context::Literal);
        let line = "WHERE eventName = 'GetObject' AND even";
        assert_eq!(context(line, line.len()), Context::Word { start: 34, word: "even" });
    }

    #[test]
    fn map_keys_are_closed_with_a_quote() {
        let keys = ["bucketName".to_string(), "key".to_string(), "bucketPolicy".to_string()];
        assert_eq!(map_keys(&keys, "buck"), vec!["bucketName'", "bucketPolicy'"]);
    }
}
