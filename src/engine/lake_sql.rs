//! CloudTrail Lake SQL → DataFusion, on the parsed statement.
//!
//! The text pre-pass (`dialect`) has already quoted bare EDS ids. Here the statement is parsed
//! with a dialect that reads lambdas, checked to be read-only, and rewritten:
//! - Trino functions DataFusion spells differently or lacks (`arbitrary`, `count_if`, `max_by`,
//!   `approx_percentile`, `date`, `regexp_replace`, `split`, `typeof`, `if`, two-argument
//!   `replace`);
//! - lambdas lifted into per-query functions (see `functions::lambda`);
//! - `CROSS JOIN UNNEST(array) AS t(x)` into a select-list unnest DataFusion can run;
//! - output names as Lake gives them: unnamed expressions `_col0`, `_col1`…, aliases spelled
//!   as written (DataFusion lowercases them), struct paths by their last segment.

use std::ops::ControlFlow;
use std::sync::Arc;

use datafusion::execution::{FunctionRegistry, SessionState};
use datafusion::logical_expr::ScalarUDF;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, AccessExpr, BinaryOperator, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Ident,
    Query, SelectItem, SetExpr, Statement, Value, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::dialect::LakeDialect;
use super::functions::lambda::{outer_name, LambdaKind, LambdaUdf, PARAM};
use super::EngineError;

/// Parses exactly one read-only statement: a query, or EXPLAIN of one.
pub fn parse(sql: &str) -> Result<Statement, EngineError> {
    let statements = match Parser::new(&LakeDialect).try_with_sql(sql).and_then(|mut p| p.parse_statements()) {
        Ok(s) => s,
        Err(e) => {
            // Statements the parser does not even know are not queries either.
            let first = sql.split_whitespace().next().unwrap_or("").to_ascii_uppercase();
            const WRITES: [&str; 28] = [
                "CREATE",
                "INSERT",
                "UPDATE",
                "DELETE",
                "DROP",
                "ALTER",
                "COPY",
                "SET",
                "TRUNCATE",
                "MERGE",
                "GRANT",
                "REVOKE",
                "ATTACH",
                "DETACH",
                "INSTALL",
                "LOAD",
                "CALL",
                "EXECUTE",
                "PREPARE",
                "DEALLOCATE",
                "VACUUM",
                "USE",
                "BEGIN",
                "COMMIT",
                "ROLLBACK",
                "REPLACE",
                "UPSERT",
                "PRAGMA",
            ];
            if WRITES.contains(&first.as_str()) {
                return Err(EngineError::NotReadOnly(first_words(sql)));
            }
            return Err(EngineError::Sql(e.to_string()));
        }
    };
    let mut statements = statements.into_iter();
    let (Some(statement), None) = (statements.next(), statements.next()) else {
        return Err(EngineError::Sql("expected exactly one statement".into()));
    };
    let readable = match &statement {
        Statement::Query(_) => true,
        Statement::Explain { statement, .. } => matches!(statement.as_ref(), Statement::Query(_)),
        _ => false,
    };
    if !readable {
        return Err(EngineError::NotReadOnly(first_words(&statement.to_string())));
    }
    Ok(statement)
}

fn first_words(s: &str) -> String {
    let w: Vec<&str> = s.split_whitespace().take(3).collect();
    format!("`{} …` is not a query", w.join(" "))
}

fn parse_expr(text: &str) -> Result<Expr, EngineError> {
    Parser::new(&LakeDialect)
        .try_with_sql(text)
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| EngineError::Sql(format!("internal rewrite produced invalid SQL `{text}`: {e}")))
}

/// Output names the planner cannot give: by result position, the name Lake shows.
pub type OutputNames = Vec<Option<String>>;

/// Rewrites `statement` in place; lambdas are registered on `state` (a per-query session).
pub fn rewrite(statement: &mut Statement, state: &mut SessionState) -> Result<OutputNames, EngineError> {
    // Names first: they describe the query as written.
    let names = match statement {
        Statement::Query(q) => name_outputs(q),
        _ => Vec::new(),
    };
    let mut lambdas = 0usize;
    let mut failure: Option<EngineError> = None;
    let _ = visit_expressions_mut(statement, |e| match rewrite_expr(e, state, &mut lambdas) {
        Ok(()) => ControlFlow::Continue(()),
        Err(err) => {
            failure = Some(err);
            ControlFlow::Break(())
        }
    });
    if let Some(e) = failure {
        return Err(e);
    }
    let mut stray = false;
    let _ = visit_expressions_mut(statement, |e| {
        stray |= matches!(e, Expr::Lambda(_));
        ControlFlow::<()>::Continue(())
    });
    if stray {
        return Err(EngineError::Sql(
            "lambda expressions (x -> …) are only supported in any_match, all_match, none_match, filter and transform"
                .into(),
        ));
    }
    super::unnest::rewrite(statement)?;
    Ok(names)
}

/// `sessionCredentialFromConsole = true`: CloudTrail writes some flags as the text "true" or
/// "false" (`sessionCredentialFromConsole`, `mfaAuthenticated`, `assumedRoot`), Lake's schema
/// keeps them as strings, and Lake still accepts a boolean literal against them (an AWS sample
/// query does exactly this). DataFusion refuses to compare text with a boolean, so the literal
/// becomes its text when the other side names such a column. A real boolean column
/// (`readOnly`, `managementEvent`) is left to compare as a boolean.
fn boolean_as_text(column: &Expr, literal: &mut Expr) {
    let Expr::Value(v) = literal else { return };
    let Value::Boolean(b) = v.value else { return };
    let last = match column {
        Expr::Identifier(i) => Some(i),
        Expr::CompoundIdentifier(parts) => parts.last(),
        Expr::CompoundFieldAccess { access_chain, .. } => match access_chain.last() {
            Some(AccessExpr::Dot(Expr::Identifier(i))) => Some(i),
            _ => None,
        },
        _ => None,
    };
    if last.is_some_and(|i| textual_flags().contains(i.value.to_ascii_lowercase().as_str())) {
        v.value = Value::SingleQuotedString(b.to_string());
    }
}

/// Names of the string columns (at any depth of the CloudTrail schema) that hold "true" or
/// "false", and that no boolean column shares.
fn textual_flags() -> &'static std::collections::HashSet<&'static str> {
    static FLAGS: std::sync::LazyLock<std::collections::HashSet<&'static str>> = std::sync::LazyLock::new(|| {
        use datafusion::arrow::datatypes::{DataType, Fields};
        fn leaves<'a>(fields: &'a Fields, out: &mut Vec<(&'a str, &'a DataType)>) {
            for f in fields {
                match f.data_type() {
                    DataType::Struct(children) => leaves(children, out),
                    t => out.push((f.name().as_str(), t)),
                }
            }
        }
        let schema = crate::schema::cloudtrail();
        let mut all = Vec::new();
        leaves(schema.arrow.fields(), &mut all);
        let boolean: Vec<&str> = all.iter().filter(|(_, t)| **t == DataType::Boolean).map(|(n, _)| *n).collect();
        ["sessioncredentialfromconsole", "mfaauthenticated", "assumedroot"]
            .into_iter()
            .filter(|n| all.iter().any(|(name, t)| name == n && !t.is_nested() && **t != DataType::Boolean))
            .filter(|n| !boolean.contains(n))
            .collect()
    });
    &FLAGS
}

fn function_name(f: &datafusion::sql::sqlparser::ast::Function) -> Option<String> {
    match f.name.0.as_slice() {
        [part] => part.as_ident().map(|i| i.value.to_ascii_lowercase()),
        _ => None,
    }
}

fn plain_args(f: &datafusion::sql::sqlparser::ast::Function) -> Option<Vec<&Expr>> {
    match &f.args {
        FunctionArguments::List(list) if list.clauses.is_empty() && list.duplicate_treatment.is_none() => list
            .args
            .iter()
            .map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e),
                _ => None,
            })
            .collect(),
        FunctionArguments::None => Some(Vec::new()),
        _ => None,
    }
}

fn rewrite_expr(e: &mut Expr, state: &mut SessionState, lambdas: &mut usize) -> Result<(), EngineError> {
    if let Expr::Cast { expr, data_type, .. } = e {
        // Trino's casts of JSON (values are JSON text here): to a map of its members, and a
        // JSON string to its content (`cast(json_extract(x, '$.state') AS varchar)`).
        if let Some(f) = json_cast(expr, data_type) {
            *e = parse_expr(&format!("{f}({expr})"))?;
        }
        return Ok(());
    }
    if let Expr::BinaryOp { left, op: BinaryOperator::Eq | BinaryOperator::NotEq, right } = e {
        boolean_as_text(left, right);
        boolean_as_text(right, left);
        return Ok(());
    }
    if let Expr::CompoundFieldAccess { root, access_chain } = e {
        // `element_at(resources, 1).arn`, `resources[1].arn`: DataFusion only follows dots from
        // a column, and not past a subscript; and a map inside a struct
        // (`eventData.userIdentity.details['org']`) is read by `element_at`, since DataFusion's
        // projection pushdown loses the column under a map subscript there.
        let dots = access_chain.iter().take_while(|a| matches!(a, AccessExpr::Dot(_))).count();
        let dot_after_subscript = access_chain[dots..].iter().any(|a| matches!(a, AccessExpr::Dot(_)));
        let nested_map_key = dots > 0 && access_chain.get(dots).and_then(map_key).is_some();
        if !is_column_path(root) || dot_after_subscript || nested_map_key {
            let from = if is_column_path(root) { dots } else { 0 };
            let mut cur = root.to_string();
            for access in &access_chain[..from] {
                cur.push_str(&access.to_string());
            }
            for access in access_chain[from..].iter() {
                cur = match access {
                    AccessExpr::Dot(Expr::Identifier(i)) => {
                        let field =
                            if i.quote_style.is_none() { i.value.to_ascii_lowercase() } else { i.value.clone() };
                        format!("get_field({cur}, '{}')", field.replace('\'', "''"))
                    }
                    other => match map_key(other) {
                        Some(key) => format!("element_at({cur}, '{}')", key.replace('\'', "''")),
                        None => format!("({cur}){other}"),
                    },
                };
            }
            *e = parse_expr(&cur)?;
        }
        return Ok(());
    }
    let Expr::Function(f) = e else { return Ok(()) };
    let Some(name) = function_name(f) else { return Ok(()) };
    if let Some(kind) = LambdaKind::from_function(&name) {
        if let Some(lifted) = lift_lambda(f, kind, state, lambdas)? {
            *e = lifted;
        }
        return Ok(());
    }
    let Some(args) = plain_args(f) else { return Ok(()) };
    let plain = f.over.is_none() && f.filter.is_none() && f.within_group.is_empty();
    let a: Vec<String> = args.iter().map(|x| x.to_string()).collect();
    let replacement = match (name.as_str(), a.as_slice()) {
        ("arbitrary", [x]) => format!("any_value({x})"),
        ("count_if", [c]) if plain => format!("count(CASE WHEN {c} THEN 1 END)"),
        ("max_by", [x, y]) if plain => format!("first_value({x} ORDER BY {y} DESC) FILTER (WHERE {y} IS NOT NULL)"),
        ("min_by", [x, y]) if plain => format!("first_value({x} ORDER BY {y} ASC) FILTER (WHERE {y} IS NOT NULL)"),
        ("approx_percentile", [x, p]) if plain => format!("approx_percentile_cont({p}) WITHIN GROUP (ORDER BY {x})"),
        ("approx_percentile", [x, w, p]) if plain => {
            format!("approx_percentile_cont_with_weight({w}, {p}) WITHIN GROUP (ORDER BY {x})")
        }
        ("date", [x]) => format!("CAST({x} AS DATE)"),
        // Trino replaces every match; DataFusion only the first unless told 'g'.
        ("regexp_replace", [s, p]) => format!("regexp_replace({s}, {p}, '', 'g')"),
        ("regexp_replace", [s, p, r]) => format!("regexp_replace({s}, {p}, {r}, 'g')"),
        ("split", [s, d]) => format!("string_to_array({s}, {d})"),
        ("typeof", [x]) => format!("arrow_typeof({x})"),
        // Trino's conditional function (Lake dashboards use it); DataFusion has only CASE.
        ("if", [c, t]) => format!("CASE WHEN {c} THEN {t} END"),
        ("if", [c, t, f]) => format!("CASE WHEN {c} THEN {t} ELSE {f} END"),
        // Trino's two-argument replace removes every match.
        ("replace", [s, x]) => format!("replace({s}, {x}, '')"),
        _ => return Ok(()),
    };
    *e = parse_expr(&replacement)?;
    Ok(())
}

/// Functions Lake SQL has that the engine provides by rewriting rather than registering (for
/// completion and `\?` lists): the rewrites above and the lambda functions.
pub const REWRITTEN_FUNCTIONS: [&str; 14] = [
    "arbitrary",
    "count_if",
    "max_by",
    "min_by",
    "approx_percentile",
    "date",
    "split",
    "typeof",
    "regexp_replace",
    "any_match",
    "all_match",
    "none_match",
    "filter",
    "transform",
];

/// `kind(array, x -> body)` → `__lambda_N(array, outer…)`, with `__lambda_N` registered on `state`.
fn lift_lambda(
    f: &datafusion::sql::sqlparser::ast::Function,
    kind: LambdaKind,
    state: &mut SessionState,
    counter: &mut usize,
) -> Result<Option<Expr>, EngineError> {
    let Some(args) = plain_args(f) else { return Ok(None) };
    let [array, Expr::Lambda(lambda)] = args.as_slice() else {
        // `filter(…)` without a lambda is someone else's function (or a clear planner error).
        return Ok(None);
    };
    let params: Vec<&Ident> = match &lambda.params {
        datafusion::sql::sqlparser::ast::OneOrManyWithParens::One(p) => vec![&p.name],
        datafusion::sql::sqlparser::ast::OneOrManyWithParens::Many(ps) => ps.iter().map(|p| &p.name).collect(),
    };
    let [param] = params.as_slice() else {
        return Err(EngineError::Sql(format!("the lambda of {} takes exactly one parameter", f.name)));
    };
    let is_param = |i: &Ident| match i.quote_style {
        None => i.value.eq_ignore_ascii_case(&param.value),
        Some(_) => i.value == param.value,
    };
    let mut body = (*lambda.body).clone();
    let mut outer = OuterRefs { is_param: &is_param, outer: Vec::new() };
    let _ = body.visit(&mut outer);
    let outer = outer.outer;
    let name = format!("__lambda_{}", *counter);
    *counter += 1;
    // The body is planned in a snapshot holding every function so far, inner lambdas included.
    let udf = LambdaUdf::new(name.clone(), kind, body, outer.len(), state.clone());
    state.register_udf(Arc::new(ScalarUDF::new_from_impl(udf))).map_err(EngineError::from)?;
    let mut call = format!("{name}({array}");
    for o in &outer {
        call.push_str(&format!(", {o}"));
    }
    call.push(')');
    Ok(Some(parse_expr(&call)?))
}

/// Rewrites a lambda body top-down: the parameter becomes `__x`; every other column reference
/// (with the dotted path after it, so `t.col` and `col.field` resolve outside) becomes `__oN`.
struct OuterRefs<'a, F: Fn(&Ident) -> bool> {
    is_param: &'a F,
    outer: Vec<Expr>,
}

impl<F: Fn(&Ident) -> bool> OuterRefs<'_, F> {
    fn lift(&mut self, e: Expr) -> Expr {
        let placeholder = Expr::Identifier(Ident::new(outer_name(self.outer.len())));
        self.outer.push(e);
        placeholder
    }
}

fn is_generated(i: &Ident) -> bool {
    i.quote_style.is_none() && (i.value == PARAM || i.value.starts_with("__o"))
}

impl<F: Fn(&Ident) -> bool> VisitorMut for OuterRefs<'_, F> {
    type Break = ();

    fn pre_visit_expr(&mut self, e: &mut Expr) -> ControlFlow<()> {
        match e {
            Expr::Identifier(i) if is_generated(i) => {}
            Expr::Identifier(i) if (self.is_param)(i) => *e = Expr::Identifier(Ident::new(PARAM)),
            Expr::CompoundIdentifier(parts) if parts.first().is_some_and(|p| (self.is_param)(p)) => {
                parts[0] = Ident::new(PARAM)
            }
            Expr::Identifier(_) | Expr::CompoundIdentifier(_) => {
                let original = std::mem::replace(e, Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()));
                *e = self.lift(original);
            }
            Expr::CompoundFieldAccess { root, access_chain } => match root.as_mut() {
                Expr::Identifier(i) if is_generated(i) => {}
                Expr::Identifier(i) if (self.is_param)(i) => **root = Expr::Identifier(Ident::new(PARAM)),
                Expr::Identifier(first) => {
                    // `f.requestparameters['k']`: lift `f.requestparameters`, keep `['k']`.
                    let mut path = vec![first.clone()];
                    let dots =
                        access_chain.iter().take_while(|a| matches!(a, AccessExpr::Dot(Expr::Identifier(_)))).count();
                    for a in access_chain.drain(..dots) {
                        if let AccessExpr::Dot(Expr::Identifier(i)) = a {
                            path.push(i);
                        }
                    }
                    let reference =
                        if path.len() == 1 { Expr::Identifier(path.remove(0)) } else { Expr::CompoundIdentifier(path) };
                    **root = self.lift(reference);
                    if access_chain.is_empty() {
                        let r = std::mem::replace(
                            root.as_mut(),
                            Expr::Value(datafusion::sql::sqlparser::ast::Value::Null.into()),
                        );
                        *e = r;
                    }
                }
                _ => {}
            },
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Aliases unnamed computed columns `_colN` and records aliases whose case DataFusion would lose.
fn name_outputs(q: &mut Query) -> OutputNames {
    let mut body: &mut SetExpr = &mut q.body;
    loop {
        match body {
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(inner) => body = &mut inner.body,
            _ => break,
        }
    }
    let SetExpr::Select(select) = body else { return Vec::new() };
    let mut names = Vec::new();
    for (i, item) in select.projection.iter_mut().enumerate() {
        match item {
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => break,
            SelectItem::UnnamedExpr(expr) => {
                if is_column_path(expr) {
                    names.push(None);
                } else if let Some(field) = dereferenced_field(expr) {
                    // `element_at(resources, 1).arn` is named `arn`, as a struct path is.
                    *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias: field };
                    names.push(None);
                } else {
                    let alias = Ident::new(format!("_col{i}"));
                    *item = SelectItem::ExprWithAlias { expr: expr.clone(), alias };
                    names.push(None);
                }
            }
            SelectItem::ExprWithAlias { alias, .. } => {
                names.push(
                    (alias.quote_style.is_none() && alias.value.chars().any(|c| c.is_uppercase()))
                        .then(|| alias.value.clone()),
                );
            }
            SelectItem::ExprWithAliases { .. } => names.push(None),
        }
    }
    names
}

/// The function a Trino cast of JSON becomes, if `data_type` is one (`MAP(VARCHAR, JSON)`,
/// `MAP(VARCHAR, VARCHAR)`), or a cast of a JSON function's result to text.
fn json_cast(expr: &Expr, data_type: &datafusion::sql::sqlparser::ast::DataType) -> Option<&'static str> {
    use super::functions::json::{CAST_JSON_MAP_JSON, CAST_JSON_MAP_VARCHAR, CAST_JSON_VARCHAR};
    use datafusion::sql::sqlparser::ast::DataType as T;
    let text = |t: &T| matches!(t, T::Varchar(_) | T::String(_) | T::Text | T::CharacterVarying(_));
    let returns_json = |e: &Expr| match e {
        Expr::Function(f) => {
            function_name(f).is_some_and(|n| matches!(n.as_str(), "json_extract" | "json_parse" | "json_array_get"))
        }
        _ => false,
    };
    match data_type {
        T::Map(k, v) if text(k) && matches!(**v, T::JSON) => Some(CAST_JSON_MAP_JSON),
        T::Map(k, v) if text(k) && text(v) => Some(CAST_JSON_MAP_VARCHAR),
        t if text(t) && returns_json(expr) => Some(CAST_JSON_VARCHAR),
        _ => None,
    }
}

/// The key of a map subscript with a string literal (`['org']`).
fn map_key(a: &AccessExpr) -> Option<&str> {
    use datafusion::sql::sqlparser::ast::Subscript;
    match a {
        AccessExpr::Subscript(Subscript::Index { index: Expr::Value(v) }) => match &v.value {
            Value::SingleQuotedString(s) => Some(s.as_str()),
            _ => None,
        },
        _ => None,
    }
}

fn dereferenced_field(e: &Expr) -> Option<Ident> {
    match e {
        Expr::CompoundFieldAccess { access_chain, .. } => match access_chain.last() {
            Some(AccessExpr::Dot(Expr::Identifier(i))) => Some(i.clone()),
            _ => None,
        },
        _ => None,
    }
}

/// Column references keep their own names (a struct path is named by its last segment later).
fn is_column_path(e: &Expr) -> bool {
    match e {
        Expr::Identifier(_) | Expr::CompoundIdentifier(_) => true,
        Expr::Nested(inner) => is_column_path(inner),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_refuses_everything_but_queries() {
        assert!(parse("SELECT 1").is_ok());
        assert!(parse("WITH a AS (SELECT 1) SELECT * FROM a").is_ok());
        assert!(parse("EXPLAIN SELECT 1").is_ok());
        for bad in [
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc'",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "INSERT INTO t VALUES (1)",
            "SET datafusion.execution.batch_size = 1",
            "DROP TABLE t",
            "CREATE VIEW v AS SELECT 1",
            "EXPLAIN CREATE VIEW v AS SELECT 1",
        ] {
            assert!(matches!(parse(bad), Err(EngineError::NotReadOnly(_))), "{bad}");
        }
        assert!(parse("SELECT 1; SELECT 2").is_err());
    }

    #[test]
    fn lambdas_parse() {
        let s = parse("SELECT any_match(resources, r -> r.type = 'AWS::S3::Bucket') FROM t").expect("parse");
        assert!(s.to_string().contains("r -> r.type"));
    }

    #[test]
    fn unnamed_columns_are_numbered() {
        let mut s =
            parse("SELECT eventname, count(*), useridentity.arn, max(eventtime) AS Latest FROM t GROUP BY 1, 3")
                .expect("parse");
        let Statement::Query(q) = &mut s else { panic!("query") };
        let names = name_outputs(q);
        assert_eq!(names, vec![None, None, None, Some("Latest".to_string())]);
        assert!(q.to_string().contains("count(*) AS _col1"), "{q}");
    }
}
