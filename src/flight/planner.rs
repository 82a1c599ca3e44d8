//! Every Flight SQL metadata command through one planner (InfluxDB 3's Flight SQL planner is
//! the model): a command knows its ticket and its result schema without running, and answers
//! with one batch built from the engine's catalog. The service's trait methods only wrap the
//! command (`GetFlightInfo` → `describe`, `DoGet` → `answer`), so adding a command is one
//! match arm here, not two trait methods with their own logic.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use arrow_flight::sql::metadata::{SqlInfoData, XdbcTypeInfoData};
use arrow_flight::sql::{
    CommandGetCatalogs, CommandGetCrossReference, CommandGetDbSchemas, CommandGetExportedKeys, CommandGetImportedKeys,
    CommandGetPrimaryKeys, CommandGetSqlInfo, CommandGetTableTypes, CommandGetTables, CommandGetXdbcTypeInfo,
    ProstMessageExt,
};
use prost::Message;
use tonic::Status;

use super::metadata::{self, TABLE_TYPES};
use super::wire::Compat;
use crate::engine::Engine;

/// A metadata request.
pub(crate) enum Metadata {
    Catalogs(CommandGetCatalogs),
    Schemas(CommandGetDbSchemas),
    Tables(CommandGetTables),
    TableTypes(CommandGetTableTypes),
    SqlInfo(CommandGetSqlInfo),
    PrimaryKeys(CommandGetPrimaryKeys),
    ExportedKeys(CommandGetExportedKeys),
    ImportedKeys(CommandGetImportedKeys),
    CrossReference(CommandGetCrossReference),
    XdbcTypeInfo(CommandGetXdbcTypeInfo),
}

/// What the answers are built from, besides the engine.
pub(crate) struct Server<'a> {
    pub(crate) sql_info: &'a SqlInfoData,
    pub(crate) xdbc: &'a XdbcTypeInfoData,
    pub(crate) compat: Compat,
}

impl Metadata {
    /// The ticket `DoGet` brings back: the command itself.
    pub(crate) fn ticket(&self) -> Vec<u8> {
        match self {
            Metadata::Catalogs(c) => c.as_any().encode_to_vec(),
            Metadata::Schemas(c) => c.as_any().encode_to_vec(),
            Metadata::Tables(c) => c.as_any().encode_to_vec(),
            Metadata::TableTypes(c) => c.as_any().encode_to_vec(),
            Metadata::SqlInfo(c) => c.as_any().encode_to_vec(),
            Metadata::PrimaryKeys(c) => c.as_any().encode_to_vec(),
            Metadata::ExportedKeys(c) => c.as_any().encode_to_vec(),
            Metadata::ImportedKeys(c) => c.as_any().encode_to_vec(),
            Metadata::CrossReference(c) => c.as_any().encode_to_vec(),
            Metadata::XdbcTypeInfo(c) => c.as_any().encode_to_vec(),
        }
    }

    /// The result schema, without running anything (what `GetFlightInfo` advertises).
    pub(crate) fn schema(&self, server: &Server<'_>) -> Result<SchemaRef, Status> {
        Ok(match self {
            Metadata::Catalogs(c) => c.into_builder().schema(),
            Metadata::Schemas(c) => c.clone().into_builder().schema(),
            Metadata::Tables(c) => c.clone().into_builder().schema(),
            Metadata::TableTypes(c) => c.into_builder().schema(),
            Metadata::SqlInfo(c) => c.clone().into_builder(server.sql_info).schema(),
            Metadata::PrimaryKeys(_) => metadata::primary_keys_batch()?.schema(),
            Metadata::ExportedKeys(_) | Metadata::ImportedKeys(_) | Metadata::CrossReference(_) => {
                metadata::foreign_keys_batch()?.schema()
            }
            Metadata::XdbcTypeInfo(c) => c.into_builder(server.xdbc).schema(),
        })
    }

    /// The answer, as one batch.
    pub(crate) async fn answer(self, engine: &Engine, server: &Server<'_>) -> Result<RecordBatch, Status> {
        match self {
            Metadata::Catalogs(c) => {
                let mut b = c.into_builder();
                let mut names = engine.context().catalog_names();
                names.sort();
                for n in names {
                    b.append(n);
                }
                built(b.build())
            }
            Metadata::Schemas(c) => {
                let mut b = c.into_builder();
                let mut catalogs = engine.context().catalog_names();
                catalogs.sort();
                for catalog in catalogs {
                    for (schema, _) in metadata::schemas(engine, &catalog) {
                        b.append(&catalog, schema);
                    }
                }
                built(b.build())
            }
            Metadata::Tables(c) => {
                let mut b = c.into_builder();
                for t in metadata::tables(engine, server.compat).await? {
                    b.append(&t.catalog, &t.schema, &t.name, t.table_type, &t.arrow_schema)
                        .map_err(|e| Status::internal(e.to_string()))?;
                }
                built(b.build())
            }
            Metadata::TableTypes(c) => {
                let mut b = c.into_builder();
                for t in TABLE_TYPES {
                    b.append(t);
                }
                built(b.build())
            }
            Metadata::SqlInfo(c) => built(c.into_builder(server.sql_info).build()),
            Metadata::PrimaryKeys(_) => metadata::primary_keys_batch(),
            Metadata::ExportedKeys(_) | Metadata::ImportedKeys(_) | Metadata::CrossReference(_) => {
                metadata::foreign_keys_batch()
            }
            Metadata::XdbcTypeInfo(c) => built(c.into_builder(server.xdbc).build()),
        }
    }
}

fn built<E: std::fmt::Display>(batch: Result<RecordBatch, E>) -> Result<RecordBatch, Status> {
    batch.map_err(|e| Status::internal(format!("building a metadata result: {e}")))
}
