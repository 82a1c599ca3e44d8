//! `CROSS JOIN UNNEST(array) AS t(x)` (Athena/Trino style, also `FROM base, UNNEST(…) AS t(x)`).
//!
//! DataFusion 55 plans this join but fails to execute it (upstream issues 13659 and 10048),
//! while a select-list `unnest` works. So the base relation and its unnest become one derived
//! table under the base's own name: `(SELECT b.*, unnest(arr) AS x FROM base AS b) AS b`, and
//! `t.x` is re-qualified `b.x`. Like Trino's, rows whose array is empty or NULL produce no row.
//! Two column names unnest a map into key and value: `UNNEST(m) AS t(k, v)`.

use std::ops::{ControlFlow, DerefMut};

use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, Expr, Ident, JoinOperator, Query, SetExpr, Statement, TableFactor, TableWithJoins, VisitMut,
    VisitorMut,
};
use datafusion::sql::sqlparser::parser::Parser;

use super::dialect::LakeDialect;
use super::EngineError;

pub(super) fn rewrite(statement: &mut Statement) -> Result<(), EngineError> {
    let mut v = Rewriter { failure: None };
    let _ = statement.visit(&mut v);
    match v.failure {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

struct Rewriter {
    failure: Option<EngineError>,
}

impl VisitorMut for Rewriter {
    type Break = ();

    fn post_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Err(e) = rewrite_set_expr(&mut query.body) {
            self.failure = Some(e);
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }
}

fn rewrite_set_expr(body: &mut SetExpr) -> Result<(), EngineError> {
    match body {
        SetExpr::Select(select) => {
            let select = select.deref_mut();
            // `FROM base, UNNEST(…) AS t(x)` is the same as a cross join.
            while select.from.len() > 1 && matches!(select.from[1].relation, TableFactor::UNNEST { .. }) {
                let next = select.from.remove(1);
                select.from[0].joins.insert(
                    0,
                    datafusion::sql::sqlparser::ast::Join {
                        relation: next.relation,
                        global: false,
                        join_operator: JoinOperator::CrossJoin(datafusion::sql::sqlparser::ast::JoinConstraint::None),
                    },
                );
            }
            let mut renames: Vec<(String, Ident)> = Vec::new();
            for twj in select.from.iter_mut() {
                while let Some((unnest_alias, base_alias)) = fold_first_unnest(twj)? {
                    renames.push((unnest_alias, base_alias));
                }
            }
            if !renames.is_empty() {
                let _ = visit_expressions_mut(select, |e| {
                    if let Expr::CompoundIdentifier(parts) = e {
                        if let Some((_, to)) =
                            renames.iter().find(|(from, _)| parts[0].value.eq_ignore_ascii_case(from))
                        {
                            parts[0] = to.clone();
                        }
                    }
                    ControlFlow::<()>::Continue(())
                });
            }
            Ok(())
        }
        SetExpr::SetOperation { left, right, .. } => {
            rewrite_set_expr(left)?;
            rewrite_set_expr(right)
        }
        _ => Ok(()),
    }
}

/// Folds the UNNEST joined right after the base relation into it. Returns the UNNEST's table
/// alias and the base's name, so `t.x` can be re-qualified.
fn fold_first_unnest(twj: &mut TableWithJoins) -> Result<Option<(String, Ident)>, EngineError> {
    let Some(first) = twj.joins.first() else { return Ok(None) };
    let TableFactor::UNNEST { alias, array_exprs, with_offset, with_ordinality, .. } = &first.relation else {
        return Ok(None);
    };
    if !matches!(first.join_operator, JoinOperator::CrossJoin(_)) {
        return Err(EngineError::Sql("UNNEST is supported as CROSS JOIN UNNEST(array) AS t(x)".into()));
    }
    if *with_offset || *with_ordinality {
        return Err(EngineError::Sql("UNNEST … WITH ORDINALITY/OFFSET is not supported".into()));
    }
    let [array] = array_exprs.as_slice() else {
        return Err(EngineError::Sql("UNNEST of several arrays at once is not supported; unnest one per join".into()));
    };
    let Some(alias) = alias else {
        return Err(EngineError::Sql("name the unnested column: CROSS JOIN UNNEST(array) AS t(x)".into()));
    };
    let columns: Vec<&Ident> = alias.columns.iter().map(|c| &c.name).collect();
    let select_list = match columns.as_slice() {
        [x] => format!("unnest({array}) AS {x}"),
        [k, v] => format!("unnest(map_keys({array})) AS {k}, unnest(map_values({array})) AS {v}"),
        [] => format!("unnest({array}) AS {}", alias.name),
        _ => return Err(EngineError::Sql("UNNEST(array) AS t(x) takes one column name (two for a map)".into())),
    };
    let unnest_alias = alias.name.value.clone();

    // The base relation without its alias, and the name it goes by.
    let mut base = twj.relation.clone();
    let base_name = match &mut base {
        TableFactor::Table { name, alias, .. } => match alias.take() {
            Some(a) => a.name,
            None => match name.0.last().and_then(|p| p.as_ident()) {
                Some(i) => i.clone(),
                None => return Ok(None),
            },
        },
        TableFactor::Derived { alias: Some(_), .. } => match &mut base {
            TableFactor::Derived { alias, .. } => alias.take().map(|a| a.name).unwrap_or_else(|| Ident::new("base")),
            _ => return Ok(None),
        },
        _ => {
            return Err(EngineError::Sql(
                "CROSS JOIN UNNEST needs a named table or an aliased subquery before it".into(),
            ))
        }
    };
    let text = format!("SELECT 1 FROM (SELECT {base_name}.*, {select_list} FROM {base} AS {base_name}) AS {base_name}");
    let parsed = Parser::new(&LakeDialect)
        .try_with_sql(&text)
        .and_then(|mut p| p.parse_query())
        .map_err(|e| EngineError::Sql(format!("internal UNNEST rewrite produced invalid SQL `{text}`: {e}")))?;
    let SetExpr::Select(select) = *parsed.body else {
        return Err(EngineError::Sql("internal UNNEST rewrite failed".into()));
    };
    let Some(from) = select.from.into_iter().next() else {
        return Err(EngineError::Sql("internal UNNEST rewrite failed".into()));
    };
    twj.relation = from.relation;
    twj.joins.remove(0);
    Ok(Some((unnest_alias, base_name)))
}
