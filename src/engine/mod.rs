//! The query engine: one DataFusion `SessionContext` with every queryable event data store
//! registered under its id and its name, the Lake dialect pre-pass, and the read-only guard.
//! Every front end (CLI, REPL, Flight SQL, saved queries) goes through `Engine::query`.

pub mod dialect;

use std::sync::Arc;

use datafusion::dataframe::DataFrame;
use datafusion::execution::context::{SQLOptions, SessionConfig, SessionContext};
use datafusion::logical_expr::col;
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::Statement;

use crate::schema;
use crate::store::{table, EdsRecord, EdsStatus, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("only SELECT queries are allowed (CloudTrail Lake is read-only): {0}")]
    NotReadOnly(String),
    #[error("SQL error: {0}")]
    Sql(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("query failed: {0}")]
    DataFusion(Box<datafusion::error::DataFusionError>),
}

impl From<datafusion::error::DataFusionError> for EngineError {
    fn from(e: datafusion::error::DataFusionError) -> Self {
        match e {
            datafusion::error::DataFusionError::SQL(e, _) => EngineError::Sql(e.to_string()),
            datafusion::error::DataFusionError::Plan(m) => EngineError::Sql(m),
            datafusion::error::DataFusionError::SchemaError(e, _) => EngineError::Sql(e.to_string()),
            datafusion::error::DataFusionError::NotImplemented(m) => EngineError::Sql(format!("not supported: {m}")),
            other => EngineError::DataFusion(Box::new(other)),
        }
    }
}

impl EngineError {
    /// Errors in what the user wrote (as opposed to failures of the engine or storage).
    pub fn is_user_error(&self) -> bool {
        matches!(self, EngineError::NotReadOnly(_) | EngineError::Sql(_))
    }
}

pub struct Engine {
    ctx: SessionContext,
    stores: Vec<EdsRecord>,
}

impl Engine {
    /// Opens every queryable event data store of `store` (a consistent snapshot of each).
    pub async fn open(store: &Store) -> Result<Self, EngineError> {
        let config =
            SessionConfig::new().with_information_schema(true).with_default_catalog_and_schema("traillake", "default");
        let ctx = SessionContext::new_with_config(config);
        let catalog = store.catalog().await?;
        let mut stores = Vec::new();
        for rec in catalog.event_data_stores {
            if rec.status == EdsStatus::PendingDeletion {
                continue;
            }
            let t = table::open(store, &rec).await?;
            t.update_datafusion_session(&ctx.state()).map_err(StoreError::from)?;
            let provider = t.table_provider().await?;
            // Users see the Lake columns; the day partition column stays an implementation detail.
            let lake_cols: Vec<_> =
                schema::cloudtrail().arrow.fields().iter().map(|f| col(f.name().as_str())).collect();
            let view = ctx.read_table(provider)?.select(lake_cols)?.into_view();
            let mut names = vec![rec.id.to_string(), rec.name.clone()];
            if rec.name.to_ascii_lowercase() != rec.name {
                names.push(rec.name.to_ascii_lowercase());
            }
            for n in names {
                ctx.register_table(datafusion::common::TableReference::bare(n), Arc::clone(&view))?;
            }
            stores.push(rec);
        }
        Ok(Self { ctx, stores })
    }

    pub fn event_data_stores(&self) -> &[EdsRecord] {
        &self.stores
    }

    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// Plans a read-only query written in the Lake dialect.
    pub async fn query(&self, sql: &str) -> Result<DataFrame, EngineError> {
        let sql = dialect::quote_bare_identifiers(sql);
        check_read_only(&sql)?;
        let options = SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false);
        let df = self.ctx.sql_with_options(&sql, options).await?;
        Ok(lake_column_names(df)?)
    }
}

/// Names result columns as Lake does for struct paths: `userIdentity.arn` is `arn`, not
/// DataFusion's `<table>.useridentity[arn]`. A name that would then repeat is left as it was.
fn lake_column_names(df: DataFrame) -> Result<DataFrame, datafusion::error::DataFusionError> {
    let schema = df.schema().clone();
    let originals: Vec<&String> = schema.fields().iter().map(|f| f.name()).collect();
    let wanted: Vec<String> = originals.iter().map(|n| last_path_segment(n)).collect();
    if wanted.iter().zip(&originals).all(|(w, o)| w == *o) {
        return Ok(df);
    }
    let mut counts = std::collections::HashMap::new();
    for w in &wanted {
        *counts.entry(w.as_str()).or_insert(0) += 1;
    }
    let exprs: Vec<datafusion::logical_expr::Expr> = schema
        .iter()
        .zip(&wanted)
        .map(|((q, f), w)| {
            let c = datafusion::logical_expr::Expr::Column(datafusion::common::Column::new(q.cloned(), f.name()));
            let name = if counts.get(w.as_str()) == Some(&1) { w.clone() } else { f.name().clone() };
            c.alias(name)
        })
        .collect();
    df.select(exprs)
}

/// `useridentity[sessioncontext][sessionissuer][username]` → `username`.
fn last_path_segment(name: &str) -> String {
    if name.ends_with(']') {
        if let Some(open) = name.rfind('[') {
            let inner = &name[open + 1..name.len() - 1];
            if !inner.is_empty() && !inner.chars().all(|c| c.is_ascii_digit()) {
                return inner.trim_matches(|c| c == '\'' || c == '"').to_string();
            }
        }
    }
    name.to_string()
}

/// Exactly one statement, and it must be a query.
fn check_read_only(sql: &str) -> Result<(), EngineError> {
    let statements = DFParser::parse_sql(sql).map_err(|e| EngineError::Sql(e.to_string()))?;
    if statements.len() != 1 {
        return Err(EngineError::Sql(format!("expected one statement, found {}", statements.len())));
    }
    match &statements[0] {
        DfStatement::Statement(s) if matches!(s.as_ref(), Statement::Query(_)) => Ok(()),
        DfStatement::Statement(s) => Err(EngineError::NotReadOnly(first_words(&s.to_string()))),
        other => Err(EngineError::NotReadOnly(first_words(&other.to_string()))),
    }
}

fn first_words(s: &str) -> String {
    let w: Vec<&str> = s.split_whitespace().take(3).collect();
    format!("`{} …` is not a query", w.join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_paths_are_named_by_their_last_segment() {
        assert_eq!(last_path_segment("useridentity[arn]"), "arn");
        assert_eq!(last_path_segment("useridentity[sessioncontext][sessionissuer][username]"), "username");
        assert_eq!(last_path_segment("resources[1]"), "resources[1]");
        assert_eq!(last_path_segment("eventname"), "eventname");
    }

    #[test]
    fn guard_refuses_everything_but_queries() {
        assert!(check_read_only("SELECT 1").is_ok());
        assert!(check_read_only("WITH a AS (SELECT 1) SELECT * FROM a").is_ok());
        for bad in [
            "CREATE EXTERNAL TABLE t STORED AS PARQUET LOCATION '/etc'",
            "COPY (SELECT 1) TO '/tmp/x.csv'",
            "INSERT INTO t VALUES (1)",
            "SET datafusion.execution.batch_size = 1",
            "DROP TABLE t",
            "CREATE VIEW v AS SELECT 1",
        ] {
            assert!(matches!(check_read_only(bad), Err(EngineError::NotReadOnly(_))), "{bad}");
        }
        assert!(check_read_only("SELECT 1; SELECT 2").is_err());
    }
}
