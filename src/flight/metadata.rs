//! The metadata calls BI tools make before (and instead of) queries: server capabilities
//! (`GetSqlInfo`), type info (`GetXdbcTypeInfo`), the catalog tree (`GetCatalogs`,
//! `GetDbSchemas`, `GetTables`, `GetTableTypes`), and key lookups, which are empty for event data
//! stores but must still have the schema the spec gives.

use std::sync::{Arc, LazyLock};

use arrow::array::{Int32Array, RecordBatch, StringArray, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow_flight::sql::metadata::{
    SqlInfoData, SqlInfoDataBuilder, XdbcTypeInfo, XdbcTypeInfoData, XdbcTypeInfoDataBuilder,
};
use arrow_flight::sql::{
    Nullable, Searchable, SqlInfo, SqlNullOrdering, SqlSupportedCaseSensitivity, SqlSupportedTransaction,
    SupportedSqlGrammar, XdbcDataType, XdbcDatetimeSubcode,
};
use datafusion::catalog::information_schema::{InformationSchemaProvider, INFORMATION_SCHEMA};
use datafusion::catalog::SchemaProvider;
use tonic::Status;

use super::wire::{wire_schema, Compat};
use crate::engine::Engine;

/// The schema event data stores live in (in catalog `traillake`, as `information_schema` shows).
pub(crate) use crate::engine::SCHEMA;
/// Event data stores are reported as base tables; `information_schema` entries as views.
pub(crate) const TABLE_TYPES: [&str; 2] = ["BASE TABLE", "VIEW"];

/// Server capabilities; function lists name only functions the engine has (`functions`).
pub(crate) fn sql_info(statement_timeout_ms: i64, functions: &[String]) -> Result<SqlInfoData, Status> {
    let have = |list: &[&str]| -> Vec<String> {
        list.iter().filter(|f| functions.iter().any(|g| g == *f)).map(|f| f.to_string()).collect()
    };
    let mut b = SqlInfoDataBuilder::new();
    b.append(SqlInfo::FlightSqlServerName, "traillake");
    b.append(SqlInfo::FlightSqlServerVersion, env!("CARGO_PKG_VERSION"));
    b.append(SqlInfo::FlightSqlServerArrowVersion, "59");
    b.append(SqlInfo::FlightSqlServerReadOnly, true);
    b.append(SqlInfo::FlightSqlServerSql, true);
    b.append(SqlInfo::FlightSqlServerSubstrait, false);
    b.append(SqlInfo::FlightSqlServerTransaction, SqlSupportedTransaction::None as i32);
    b.append(SqlInfo::FlightSqlServerCancel, true);
    b.append(SqlInfo::FlightSqlServerBulkIngestion, false);
    b.append(SqlInfo::FlightSqlServerStatementTimeout, statement_timeout_ms as i32);
    b.append(SqlInfo::FlightSqlServerTransactionTimeout, 0i32);
    b.append(SqlInfo::SqlDdlCatalog, false);
    b.append(SqlInfo::SqlDdlSchema, false);
    b.append(SqlInfo::SqlDdlTable, false);
    // Unquoted names are folded to lower case; quoted names keep their case.
    b.append(SqlInfo::SqlIdentifierCase, SqlSupportedCaseSensitivity::SqlCaseSensitivityLowercase as i32);
    b.append(SqlInfo::SqlIdentifierQuoteChar, "\"");
    b.append(SqlInfo::SqlQuotedIdentifierCase, SqlSupportedCaseSensitivity::SqlCaseSensitivityCaseInsensitive as i32);
    b.append(SqlInfo::SqlAllTablesAreSelectable, true);
    b.append(SqlInfo::SqlNullOrdering, SqlNullOrdering::SqlNullsSortedHigh as i32);
    b.append(SqlInfo::SqlKeywords, KEYWORDS);
    b.append(SqlInfo::SqlNumericFunctions, have(NUMERIC_FUNCTIONS));
    b.append(SqlInfo::SqlStringFunctions, have(STRING_FUNCTIONS));
    b.append(SqlInfo::SqlSystemFunctions, have(&["current_date", "now", "version"]));
    b.append(SqlInfo::SqlDatetimeFunctions, have(DATETIME_FUNCTIONS));
    b.append(SqlInfo::SqlSearchStringEscape, "\\");
    b.append(SqlInfo::SqlExtraNameCharacters, "");
    b.append(SqlInfo::SqlSupportsColumnAliasing, true);
    b.append(SqlInfo::SqlNullPlusNullIsNull, true);
    b.append(SqlInfo::SqlSupportsTableCorrelationNames, true);
    b.append(SqlInfo::SqlSupportsDifferentTableCorrelationNames, false);
    b.append(SqlInfo::SqlSupportsExpressionsInOrderBy, true);
    b.append(SqlInfo::SqlSupportsOrderByUnrelated, true);
    b.append(SqlInfo::SqlSupportsLikeEscapeClause, true);
    b.append(SqlInfo::SqlSupportsNonNullableColumns, true);
    b.append(SqlInfo::SqlSupportedGrammar, SupportedSqlGrammar::SqlCoreGrammar as i32);
    b.append(SqlInfo::SqlSupportsIntegrityEnhancementFacility, false);
    b.append(SqlInfo::SqlSchemaTerm, "schema");
    b.append(SqlInfo::SqlProcedureTerm, "procedure");
    b.append(SqlInfo::SqlCatalogTerm, "catalog");
    b.append(SqlInfo::SqlCatalogAtStart, true);
    b.append(SqlInfo::SqlSelectForUpdateSupported, false);
    b.append(SqlInfo::SqlStoredProceduresSupported, false);
    b.append(SqlInfo::SqlCorrelatedSubqueriesSupported, true);
    b.append(SqlInfo::SqlMaxColumnsInTable, 0i64);
    b.append(SqlInfo::SqlMaxStatementLength, 0i64);
    b.append(SqlInfo::SqlMaxStatements, 1i64);
    b.append(SqlInfo::SqlTransactionsSupported, false);
    b.append(SqlInfo::SqlBatchUpdatesSupported, false);
    b.append(SqlInfo::SqlSavepointsSupported, false);
    b.append(SqlInfo::SqlNamedParametersSupported, false);
    b.append(SqlInfo::SqlStoredFunctionsUsingCallSyntaxSupported, false);
    b.build().map_err(|e| Status::internal(format!("building SqlInfo: {e}")))
}

const KEYWORDS: &[&str] = &[
    "ALL",
    "AND",
    "ANY",
    "AS",
    "ASC",
    "BETWEEN",
    "BY",
    "CASE",
    "CAST",
    "CROSS",
    "CUBE",
    "CURRENT_DATE",
    "CURRENT_TIMESTAMP",
    "DESC",
    "DISTINCT",
    "ELSE",
    "END",
    "EXCEPT",
    "EXISTS",
    "FALSE",
    "FETCH",
    "FILTER",
    "FOLLOWING",
    "FROM",
    "FULL",
    "GROUP",
    "GROUPING",
    "HAVING",
    "ILIKE",
    "IN",
    "INNER",
    "INTERSECT",
    "INTERVAL",
    "IS",
    "JOIN",
    "LATERAL",
    "LEFT",
    "LIKE",
    "LIMIT",
    "NATURAL",
    "NOT",
    "NULL",
    "NULLS",
    "OFFSET",
    "ON",
    "OR",
    "ORDER",
    "OUTER",
    "OVER",
    "PARTITION",
    "PRECEDING",
    "RANGE",
    "RIGHT",
    "ROLLUP",
    "ROWS",
    "SELECT",
    "SETS",
    "SIMILAR",
    "THEN",
    "TRUE",
    "TRY_CAST",
    "UNBOUNDED",
    "UNION",
    "UNNEST",
    "USING",
    "VALUES",
    "WHEN",
    "WHERE",
    "WINDOW",
    "WITH",
];
const NUMERIC_FUNCTIONS: &[&str] = &[
    "abs",
    "ceil",
    "floor",
    "round",
    "power",
    "sqrt",
    "ln",
    "log",
    "log10",
    "log2",
    "exp",
    "mod",
    "sign",
    "truncate",
    "random",
    "greatest",
    "least",
    "width_bucket",
];
const STRING_FUNCTIONS: &[&str] = &[
    "concat",
    "length",
    "lower",
    "upper",
    "trim",
    "ltrim",
    "rtrim",
    "substr",
    "substring",
    "replace",
    "split",
    "split_part",
    "strpos",
    "starts_with",
    "reverse",
    "lpad",
    "rpad",
    "regexp_like",
    "regexp_extract",
    "regexp_replace",
    "json_extract",
    "json_extract_scalar",
    "element_at",
    "contains",
    "cardinality",
    "url_extract_host",
];
const DATETIME_FUNCTIONS: &[&str] = &[
    "current_date",
    "current_timestamp",
    "now",
    "date_trunc",
    "date_add",
    "date_diff",
    "date_format",
    "from_iso8601_timestamp",
    "from_unixtime",
    "to_unixtime",
    "year",
    "month",
    "day",
    "hour",
    "minute",
    "day_of_week",
    "from_iso8601_date",
];

/// Name, type, column size, literal prefix, datetime subcode.
type XdbcRow = (&'static str, XdbcDataType, Option<i32>, Option<&'static str>, Option<XdbcDatetimeSubcode>);

pub(crate) fn xdbc_info() -> Result<XdbcTypeInfoData, Status> {
    let mut b = XdbcTypeInfoDataBuilder::new();
    let types: [XdbcRow; 12] = [
        ("VARCHAR", XdbcDataType::XdbcVarchar, Some(i32::MAX), Some("'"), None),
        ("BOOLEAN", XdbcDataType::XdbcBit, Some(1), None, None),
        ("TINYINT", XdbcDataType::XdbcTinyint, Some(3), None, None),
        ("SMALLINT", XdbcDataType::XdbcSmallint, Some(5), None, None),
        ("INTEGER", XdbcDataType::XdbcInteger, Some(10), None, None),
        ("BIGINT", XdbcDataType::XdbcBigint, Some(19), None, None),
        ("REAL", XdbcDataType::XdbcReal, Some(7), None, None),
        ("DOUBLE", XdbcDataType::XdbcDouble, Some(15), None, None),
        ("DECIMAL", XdbcDataType::XdbcDecimal, Some(38), None, None),
        // ODBC numbers SQL_CODE_DATE 1, which the generated enum calls "Year".
        ("DATE", XdbcDataType::XdbcDate, Some(10), Some("DATE '"), Some(XdbcDatetimeSubcode::XdbcSubcodeYear)),
        (
            "TIMESTAMP",
            XdbcDataType::XdbcTimestamp,
            Some(29),
            Some("TIMESTAMP '"),
            Some(XdbcDatetimeSubcode::XdbcSubcodeTimestamp),
        ),
        ("VARBINARY", XdbcDataType::XdbcVarbinary, Some(i32::MAX), None, None),
    ];
    for (name, data_type, size, prefix, subcode) in types {
        let numeric = matches!(
            data_type,
            XdbcDataType::XdbcTinyint
                | XdbcDataType::XdbcSmallint
                | XdbcDataType::XdbcInteger
                | XdbcDataType::XdbcBigint
                | XdbcDataType::XdbcReal
                | XdbcDataType::XdbcDouble
                | XdbcDataType::XdbcDecimal
        );
        b.append(XdbcTypeInfo {
            type_name: name.into(),
            data_type,
            column_size: size,
            literal_prefix: prefix.map(|p| p.into()),
            literal_suffix: prefix.map(|_| "'".into()),
            create_params: (name == "DECIMAL").then(|| vec!["precision".into(), "scale".into()]),
            nullable: Nullable::NullabilityNullable,
            case_sensitive: name == "VARCHAR",
            searchable: Searchable::Full,
            unsigned_attribute: numeric.then_some(false),
            fixed_prec_scale: false,
            auto_increment: numeric.then_some(false),
            local_type_name: Some(name.into()),
            minimum_scale: (name == "DECIMAL").then_some(0),
            maximum_scale: (name == "DECIMAL").then_some(38),
            sql_data_type: data_type,
            datetime_subcode: subcode,
            num_prec_radix: numeric.then_some(10),
            interval_precision: None,
        });
    }
    b.build().map_err(|e| Status::internal(format!("building XdbcTypeInfo: {e}")))
}

/// One row of `GetTables`.
pub(crate) struct TableEntry {
    pub catalog: String,
    pub schema: String,
    pub name: String,
    pub table_type: &'static str,
    pub arrow_schema: SchemaRef,
}

/// The schemas of one catalog, `information_schema` included (DataFusion resolves that one on
/// the fly, so the catalog itself does not list it).
pub(crate) fn schemas(engine: &Engine, catalog_name: &str) -> Vec<(String, Arc<dyn SchemaProvider>)> {
    let ctx = engine.context();
    let Some(catalog) = ctx.catalog(catalog_name) else { return Vec::new() };
    let mut out: Vec<(String, Arc<dyn SchemaProvider>)> =
        catalog.schema_names().into_iter().filter_map(|n| catalog.schema(&n).map(|s| (n, s))).collect();
    let state = ctx.state();
    if state.config().information_schema() && !out.iter().any(|(n, _)| n == INFORMATION_SCHEMA) {
        let info = InformationSchemaProvider::new(Arc::clone(state.catalog_list()));
        out.push((INFORMATION_SCHEMA.to_string(), Arc::new(info)));
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Every table a client lists: each event data store once, by name (its id and ARN still
/// name it in queries), and the `information_schema` views. Schemas are the wire schemas
/// results are sent with.
pub(crate) async fn tables(engine: &Engine, compat: Compat) -> Result<Vec<TableEntry>, Status> {
    let mut out = Vec::new();
    let mut catalogs = engine.context().catalog_names();
    catalogs.sort();
    for catalog_name in catalogs {
        for (schema_name, schema) in schemas(engine, &catalog_name) {
            let mut names = schema.table_names();
            names.sort();
            for name in names {
                let provider = schema.table(&name).await.map_err(|e| Status::internal(e.to_string()))?;
                let Some(provider) = provider else { continue };
                let is_eds = schema_name == SCHEMA;
                out.push(TableEntry {
                    catalog: catalog_name.clone(),
                    schema: schema_name.clone(),
                    table_type: if is_eds { TABLE_TYPES[0] } else { TABLE_TYPES[1] },
                    arrow_schema: wire_schema(&provider.schema(), compat),
                    name,
                });
            }
        }
    }
    Ok(out)
}

/// `GetPrimaryKeys`: no event data store has one.
pub(crate) fn primary_keys_batch() -> Result<RecordBatch, Status> {
    let schema = Arc::new(Schema::new(vec![
        Field::new("catalog_name", DataType::Utf8, true),
        Field::new("db_schema_name", DataType::Utf8, true),
        Field::new("table_name", DataType::Utf8, false),
        Field::new("column_name", DataType::Utf8, false),
        Field::new("key_name", DataType::Utf8, true),
        Field::new("key_sequence", DataType::Int32, false),
    ]));
    empty(schema)
}

/// `GetExportedKeys`, `GetImportedKeys`, `GetCrossReference`: no foreign keys either.
pub(crate) fn foreign_keys_batch() -> Result<RecordBatch, Status> {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let text = |n: &str, nullable| Field::new(n, DataType::Utf8, nullable);
        Arc::new(Schema::new(vec![
            text("pk_catalog_name", true),
            text("pk_db_schema_name", true),
            text("pk_table_name", false),
            text("pk_column_name", false),
            text("fk_catalog_name", true),
            text("fk_db_schema_name", true),
            text("fk_table_name", false),
            text("fk_column_name", false),
            Field::new("key_sequence", DataType::Int32, false),
            text("fk_key_name", true),
            text("pk_key_name", true),
            Field::new("update_rule", DataType::UInt8, false),
            Field::new("delete_rule", DataType::UInt8, false),
        ]))
    });
    empty(Arc::clone(&SCHEMA))
}

fn empty(schema: SchemaRef) -> Result<RecordBatch, Status> {
    let columns = schema
        .fields()
        .iter()
        .map(|f| match f.data_type() {
            DataType::Int32 => Arc::new(Int32Array::from(Vec::<i32>::new())) as _,
            DataType::UInt8 => Arc::new(UInt8Array::from(Vec::<u8>::new())) as _,
            _ => Arc::new(StringArray::from(Vec::<String>::new())) as _,
        })
        .collect();
    RecordBatch::try_new(schema, columns).map_err(|e| Status::internal(e.to_string()))
}
