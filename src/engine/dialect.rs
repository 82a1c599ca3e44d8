//! The CloudTrail Lake SQL dialect: a pre-pass over the text before it is parsed, and the
//! parser dialect itself (`LakeDialect`). A leaf: the rewriters (`lake_sql`, `unnest`) build
//! on it, it builds on nothing of ours.
//!
//! Lake writes the event data store id bare and unquoted (`FROM 5e2676f8-9fce-46ef-8142-3e36a94e6691`),
//! which no SQL tokenizer reads as one identifier; ARNs (`arn:aws:cloudtrail:…:eventdatastore/<id>`)
//! likewise. Both become a quoted identifier here. Parameter markers `?` (JDBC/ADBC prepared
//! statements) become `$1, $2, …`, the positional placeholders DataFusion binds. String
//! literals, quoted identifiers and comments are left untouched.

use datafusion::sql::sqlparser::dialect::{Dialect, GenericDialect};

/// DataFusion's generic dialect, plus Trino-style lambdas (`x -> x.type = 'AWS::S3::Bucket'`).
#[derive(Debug, Default)]
pub struct LakeDialect;

macro_rules! like_generic {
    ($($m:ident)*) => { $(fn $m(&self) -> bool { GenericDialect.$m() })* };
}

impl Dialect for LakeDialect {
    fn dialect(&self) -> std::any::TypeId {
        // The parser special-cases some syntax by dialect type; read SQL exactly as generic does.
        std::any::TypeId::of::<GenericDialect>()
    }
    fn is_delimited_identifier_start(&self, ch: char) -> bool {
        GenericDialect.is_delimited_identifier_start(ch)
    }
    fn is_identifier_start(&self, ch: char) -> bool {
        GenericDialect.is_identifier_start(ch)
    }
    fn is_identifier_part(&self, ch: char) -> bool {
        GenericDialect.is_identifier_part(ch)
    }
    fn supports_lambda_functions(&self) -> bool {
        true
    }
    like_generic!(supports_unicode_string_literal supports_partition_by_after_order_by supports_array_join_syntax
        supports_group_by_expr supports_group_by_with_modifier supports_left_associative_joins_without_parens
        supports_connect_by supports_match_recognize supports_pipe_operator supports_start_transaction_modifier
        supports_window_function_null_treatment_arg supports_dictionary_syntax
        supports_window_clause_named_window_reference supports_parenthesized_set_variables
        supports_select_wildcard_except support_map_literal_syntax allow_extract_custom allow_extract_single_quotes
        supports_extract_comma_syntax supports_create_view_comment_syntax supports_parens_around_table_factor
        supports_values_as_table_factor supports_create_index_with_clause supports_explain_with_utility_options
        supports_limit_comma supports_update_order_by supports_from_first_select supports_projection_trailing_commas
        supports_asc_desc_in_column_definition supports_try_convert supports_bitwise_shift_operators
        supports_comment_on supports_load_extension supports_named_fn_args_with_assignment_operator
        supports_struct_literal supports_empty_projections supports_nested_comments supports_multiline_comment_hints
        supports_user_host_grantee supports_string_escape_constant supports_array_typedef_with_brackets
        supports_match_against supports_set_names supports_comma_separated_set_assignments
        supports_filter_during_aggregation supports_select_wildcard_exclude supports_data_type_signed_suffix
        supports_interval_options supports_quote_delimited_string supports_select_wildcard_replace
        supports_select_wildcard_ilike supports_select_wildcard_rename supports_optimize_table supports_install
        supports_detach supports_prewhere supports_with_fill supports_limit_by supports_interpolate supports_settings
        supports_select_format supports_comment_optimizer_hint supports_constraint_keyword_without_name
        supports_key_column_option supports_comma_separated_trim supports_cte_without_as
        supports_select_item_multi_column_alias supports_xml_expressions);
}

/// Rewrites bare EDS ids and ARNs into quoted (lowercase) ids and numbers `?` markers.
pub fn preprocess(sql: &str) -> String {
    let b = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut i = 0;
    let mut last = 0;
    let mut markers = 0;
    while i < b.len() {
        match b[i] {
            b'?' => {
                markers += 1;
                out.push_str(&sql[last..i]);
                out.push_str(&format!("${markers}"));
                i += 1;
                last = i;
            }
            b'\'' | b'"' | b'`' => {
                let q = b[i];
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        // A doubled quote is an escaped quote inside the literal.
                        if i + 1 < b.len() && b[i + 1] == q {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
                i += 1;
            }
            b'-' if b.get(i + 1) == Some(&b'-') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i += 2;
                while i + 1 < b.len() && !(b[i] == b'*' && b[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
            }
            _ => {
                let boundary = i == 0 || !is_word(b[i - 1]);
                if boundary {
                    if let Some(len) = arn_at(&b[i..]) {
                        // An ARN names the store by the id at its end.
                        out.push_str(&sql[last..i]);
                        out.push('"');
                        out.push_str(&sql[i + len - 36..i + len].to_ascii_lowercase());
                        out.push('"');
                        i += len;
                        last = i;
                        continue;
                    }
                    if let Some(len) = uuid_at(&b[i..]) {
                        out.push_str(&sql[last..i]);
                        out.push('"');
                        out.push_str(&sql[i..i + len].to_ascii_lowercase());
                        out.push('"');
                        i += len;
                        last = i;
                        continue;
                    }
                }
                i += 1;
            }
        }
    }
    out.push_str(&sql[last.min(sql.len())..]);
    out
}

fn is_word(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'-' || c == b'.'
}

/// Length of a UUID (8-4-4-4-12 hex) at the start of `b`, followed by a non-word byte.
fn uuid_at(b: &[u8]) -> Option<usize> {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut i = 0;
    for (g, n) in GROUPS.iter().enumerate() {
        if g > 0 {
            if b.get(i) != Some(&b'-') {
                return None;
            }
            i += 1;
        }
        for _ in 0..*n {
            if !b.get(i)?.is_ascii_hexdigit() {
                return None;
            }
            i += 1;
        }
    }
    match b.get(i) {
        Some(&c) if is_word(c) && c != b'.' => None,
        _ => Some(i),
    }
}

/// Length of an event data store ARN at the start of `b`.
fn arn_at(b: &[u8]) -> Option<usize> {
    if !b.starts_with(b"arn:") {
        return None;
    }
    let marker = b"eventdatastore/";
    let end = b.iter().position(|c| c.is_ascii_whitespace() || matches!(c, b')' | b',' | b';')).unwrap_or(b.len());
    let s = &b[..end];
    let at = s.windows(marker.len()).position(|w| w == marker)?;
    let id = &s[at + marker.len()..];
    (uuid_at(id) == Some(id.len())).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_bare_ids_only_outside_literals() {
        let sql = "SELECT eventName FROM 5E2676F8-9fce-46ef-8142-3e36a94e6691 WHERE eventid = '5e2676f8-9fce-46ef-8142-3e36a94e6691' -- 5e2676f8-9fce-46ef-8142-3e36a94e6691\n";
        assert_eq!(
            preprocess(sql),
            "SELECT eventName FROM \"5e2676f8-9fce-46ef-8142-3e36a94e6691\" WHERE eventid = '5e2676f8-9fce-46ef-8142-3e36a94e6691' -- 5e2676f8-9fce-46ef-8142-3e36a94e6691\n"
        );
        let q = "SELECT 1 FROM \"5e2676f8-9fce-46ef-8142-3e36a94e6691\"";
        assert_eq!(preprocess(q), q);
    }

    #[test]
    fn quotes_arns_and_aliases() {
        let sql = "select * from arn:aws:cloudtrail:us-east-1:123456789012:eventdatastore/5e2676f8-9fce-46ef-8142-3e36a94e6691 as a";
        assert_eq!(preprocess(sql), "select * from \"5e2676f8-9fce-46ef-8142-3e36a94e6691\" as a");
        let u = "select * from 5e2676f8-9fce-46ef-8142-3e36a94e6691 a join 6e2676f8-9fce-46ef-8142-3e36a94e6691 b on a.x=b.x";
        assert!(preprocess(u).contains("\"6e2676f8-9fce-46ef-8142-3e36a94e6691\" b"));
    }

    #[test]
    fn numbers_parameter_markers_outside_literals() {
        let sql = "SELECT '?' FROM t WHERE a = ? AND \"b?\" > ? -- ?\n";
        assert_eq!(preprocess(sql), "SELECT '?' FROM t WHERE a = $1 AND \"b?\" > $2 -- ?\n");
    }
}
