//! The scan of one event data store snapshot: a DataFusion table over the Parquet files the
//! Delta log lists, planned as DataFusion's own Parquet scan.
//!
//! Why not delta-rs's provider: it wraps the Parquet scan in a node of its own, and that node
//! stops DataFusion from pushing struct-field projections (`userIdentity.arn`) into the Parquet
//! reader, so every query touching one identity field decoded the whole `useridentity` struct
//! (10× the bytes of the field it needed). Our tables are plain — no deletion vectors, no column
//! mapping, one partition column that is the day of `eventtime` and is not a user column — so
//! the scan needs only what the log lists: file paths, sizes, row counts and `eventtime` ranges.
//! The snapshot is fixed when the engine opens: a query never sees half of a later commit.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, TimestampMicrosecondArray, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use datafusion::catalog::Session;
use datafusion::common::pruning::PruningStatistics;
use datafusion::common::stats::Precision;
use datafusion::common::{Column, ColumnStatistics, DFSchema, ScalarValue, Statistics};
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::file_format::FileFormat;
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::object_store::ObjectStoreUrl;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::{TableProvider, TableType};
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::utils::conjunction;
use datafusion::logical_expr::{Expr, TableProviderFilterPushDown};
use datafusion::physical_expr::expressions::Column as PhysicalColumn;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_optimizer::pruning::PruningPredicateBuilder;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::projection::ProjectionExec;
use datafusion::physical_plan::ExecutionPlan;
use deltalake::DeltaTable;
use object_store::path::Path as ObjectPath;
use object_store::ObjectMeta;

use crate::schema::{self, EventSchema, CHECKSUM_COLUMN, EVENT_CONTEXT_COLUMN};
use crate::store::StoreError;

/// The column whose per-file range the log records and queries prune on.
const TIME_COLUMN: &str = "eventtime";

/// One data file of the snapshot.
#[derive(Debug, Clone)]
struct DataFile {
    location: ObjectPath,
    size: u64,
    modified: DateTime<Utc>,
    rows: Option<u64>,
    /// `eventtime` range in microseconds (inclusive), when the log or the partition knows it.
    time_range: Option<(i64, i64)>,
}

/// A queryable snapshot of one EDS.
#[derive(Debug)]
pub(super) struct LakeTable {
    /// The columns queries see.
    schema: SchemaRef,
    /// The columns the files hold: `schema` without those computed on read.
    file_schema: SchemaRef,
    store_url: ObjectStoreUrl,
    files: Vec<DataFile>,
    /// The columns the stored event text refers to: (name, reference code).
    text_refs: Vec<(String, u8)>,
}

// The columns computed on read (the original event text and `schema::CHECKSUM_COLUMN`) are
// computed from this one.
use crate::schema::EVENT_TEXT_COLUMN as EVENT_JSON_COLUMN;

impl LakeTable {
    /// The snapshot `table` holds, read through the object store registered as `store_url`.
    pub(super) fn from_snapshot(
        table: &DeltaTable,
        s: &EventSchema,
        store_url: ObjectStoreUrl,
    ) -> Result<Self, StoreError> {
        let snap = table.snapshot()?;
        let part = schema::PARTITION_COLUMN;
        let files = snap
            .log_data()
            .iter()
            .map(|f| {
                let from_stats = f.stats().as_deref().and_then(time_range_from_stats);
                let from_day =
                    || f.partition_values_map().get(part).cloned().flatten().as_deref().and_then(time_range_of_day);
                DataFile {
                    location: f.object_store_path(),
                    size: f.size().max(0) as u64,
                    modified: DateTime::from_timestamp_millis(f.modification_time()).unwrap_or_default(),
                    rows: f.num_records().map(|n| n as u64),
                    time_range: from_stats.or_else(from_day),
                }
            })
            .collect();
        // Tables created when the checksum was stored hold it in every file (it is still
        // computed on read, so both kinds of table answer alike).
        let legacy = crate::store::table::stores_checksum(table);
        let file_schema = match legacy {
            true => {
                // The files' columns plus the checksum those tables stored.
                let kept = s.spec.fields.iter().filter(|f| {
                    f.name == CHECKSUM_COLUMN || !f.derived.is_some_and(schema::Derived::is_computed_on_read)
                });
                let fields: Vec<Field> = kept.map(schema::field_to_arrow).collect();
                read_schema(&Arc::new(Schema::new(fields)))
            }
            false => read_schema(&s.files),
        };
        let text_refs = s.text_ref_columns().map(|(name, code)| (name.to_string(), code)).collect();
        Ok(Self { schema: read_schema(&s.arrow), file_schema, store_url, files, text_refs })
    }

    /// The files a query with `filters` must read: those whose `eventtime` range can match.
    fn files_for(&self, state: &dyn Session, filters: &[Expr]) -> DfResult<Vec<&DataFile>> {
        let Some(filter) = conjunction(filters.iter().cloned()) else {
            return Ok(self.files.iter().collect());
        };
        let df_schema = DFSchema::try_from(Arc::clone(&self.schema))?;
        let predicate = state.create_physical_expr(filter, &df_schema)?;
        let Some(pruning) = PruningPredicateBuilder::new().with_file_schema(Arc::clone(&self.schema)).build(predicate)
        else {
            return Ok(self.files.iter().collect());
        };
        let keep = pruning.prune(&FileRanges(&self.files))?;
        Ok(self.files.iter().zip(keep).filter_map(|(f, k)| k.then_some(f)).collect())
    }

    fn time_index(&self) -> Option<usize> {
        self.file_schema.index_of(TIME_COLUMN).ok()
    }

    /// Statistics of one file, in file-schema order: exact row count and the time range.
    fn file_statistics(&self, f: &DataFile) -> Statistics {
        let mut s = Statistics::new_unknown(&self.file_schema);
        s.num_rows = f.rows.map_or(Precision::Absent, |n| Precision::Exact(n as usize));
        s.total_byte_size = Precision::Inexact(f.size as usize);
        if let (Some(i), Some((lo, hi))) = (self.time_index(), f.time_range) {
            s.column_statistics[i] = ColumnStatistics::new_unknown()
                .with_min_value(Precision::Inexact(time_scalar(lo)))
                .with_max_value(Precision::Inexact(time_scalar(hi)));
        }
        s
    }
}

#[async_trait]
impl TableProvider for LakeTable {
    fn schema(&self) -> SchemaRef {
        Arc::clone(&self.schema)
    }

    fn table_type(&self) -> TableType {
        TableType::Base
    }

    /// Filters prune files here and row groups in the Parquet reader; rows are still filtered
    /// above the scan (a file's range matching says nothing about each row).
    fn supports_filters_pushdown(&self, filters: &[&Expr]) -> DfResult<Vec<TableProviderFilterPushDown>> {
        Ok(vec![TableProviderFilterPushDown::Inexact; filters.len()])
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        filters: &[Expr],
        limit: Option<usize>,
    ) -> DfResult<Arc<dyn ExecutionPlan>> {
        let files = self.files_for(state, filters)?;
        if files.is_empty() {
            let schema = match projection {
                Some(p) => Arc::new(self.schema.project(p)?),
                None => Arc::clone(&self.schema),
            };
            return Ok(Arc::new(EmptyExec::new(schema)));
        }

        // The file columns the query needs, and where each output column comes from.
        let wanted: Vec<usize> = projection.cloned().unwrap_or_else(|| (0..self.schema.fields().len()).collect());
        let mut file_columns: Vec<usize> = Vec::new();
        let mut outputs: Vec<Output> = Vec::with_capacity(wanted.len());
        for &i in &wanted {
            outputs.push(match self.schema.field(i).name().as_str() {
                CHECKSUM_COLUMN => Output::Checksum,
                EVENT_JSON_COLUMN => Output::EventJson,
                EVENT_CONTEXT_COLUMN => Output::EventContext,
                name => Output::File(position_of(&mut file_columns, self.file_schema.index_of(name)?)),
            });
        }
        // The event text is stored with references to other columns' values (see
        // `schema::event_text`): restoring it needs those columns too.
        let restore_from = match outputs.iter().any(|o| !matches!(o, Output::File(_))) {
            true => {
                let mut at = vec![position_of(&mut file_columns, self.file_schema.index_of(EVENT_JSON_COLUMN)?)];
                for (name, _) in &self.text_refs {
                    at.push(position_of(&mut file_columns, self.file_schema.index_of(name)?));
                }
                Some(at)
            }
            false => None,
        };

        let per_file: Vec<Statistics> = files.iter().map(|f| self.file_statistics(f)).collect();
        let table_stats = Statistics::try_merge_iter(&per_file, &self.file_schema)?;
        let mut partitioned = Vec::with_capacity(files.len());
        for (f, stats) in files.iter().zip(per_file) {
            let meta = ObjectMeta {
                location: f.location.clone(),
                last_modified: f.modified,
                size: f.size,
                e_tag: None,
                version: None,
            };
            partitioned.push(
                PartitionedFile::new_from_meta(meta)
                    .with_statistics(Arc::new(stats))
                    .with_arrow_schema(Arc::clone(&self.file_schema)),
            );
        }
        let groups = balanced_groups(partitioned, state.config().target_partitions());

        let format = ParquetFormat::default().with_options(state.table_options().parquet.clone());
        let source = Arc::new(ParquetSource::new(Arc::clone(&self.file_schema)));
        let config = FileScanConfigBuilder::new(self.store_url.clone(), source)
            .with_file_groups(groups)
            .with_statistics(table_stats)
            .with_projection_indices(Some(file_columns))?
            .with_limit(limit)
            .build();
        let scan = format.create_physical_plan(state, config).await?;
        let Some(restore_from) = restore_from else {
            if outputs.iter().enumerate().all(|(k, o)| *o == Output::File(k)) {
                return Ok(scan);
            }
            return reorder(scan, &outputs, None);
        };
        // First the scan's columns plus the restored text, then the columns asked for, with the
        // checksum computed from that text: restored once even when both are asked for.
        let scanned = DFSchema::try_from(scan.schema())?;
        let column = |k: usize| datafusion::logical_expr::col(scan.schema().field(k).name());
        let udf = super::event_text::restore_udf(self.text_refs.iter().map(|(_, c)| *c).collect());
        let text = state.create_physical_expr(udf.call(restore_from.iter().map(|&k| column(k)).collect()), &scanned)?;
        let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = scan
            .schema()
            .fields()
            .iter()
            .enumerate()
            .map(|(k, f)| (Arc::new(PhysicalColumn::new(f.name(), k)) as Arc<dyn PhysicalExpr>, f.name().clone()))
            .collect();
        let text_at = exprs.len();
        exprs.push((text, RESTORED_TEXT.to_string()));
        let with_text: Arc<dyn ExecutionPlan> = Arc::new(ProjectionExec::try_new(exprs, scan)?);
        // The checksum is computed from the event text (see `schema::Derived`).
        let digest = datafusion::functions::expr_fn::encode(
            datafusion::functions::expr_fn::sha256(datafusion::logical_expr::col(RESTORED_TEXT)),
            datafusion::logical_expr::lit("hex"),
        );
        let digest = datafusion::logical_expr::cast(digest, DataType::Utf8View);
        // `eventContext`, as a map of its members, from the event text (see `schema::Derived`).
        let function = |name: &str| {
            state.scalar_functions().get(name).cloned().ok_or_else(|| {
                datafusion::error::DataFusionError::Internal(format!("function {name} is not registered"))
            })
        };
        let member = function("json_extract")?
            .call(vec![datafusion::logical_expr::col(RESTORED_TEXT), datafusion::logical_expr::lit("$.eventContext")]);
        let context = function(super::functions::json::CAST_JSON_MAP_JSON)?.call(vec![member]);
        let with_text_schema = DFSchema::try_from(with_text.schema())?;
        let computed = Computed {
            text: Arc::new(PhysicalColumn::new(RESTORED_TEXT, text_at)),
            checksum: state.create_physical_expr(digest, &with_text_schema)?,
            context: state.create_physical_expr(context, &with_text_schema)?,
        };
        reorder(with_text, &outputs, Some(computed))
    }
}

/// Internal name of the restored event text between the two projections of a scan.
const RESTORED_TEXT: &str = "__traillake_restored_eventjson";

/// The columns computed on read, as expressions over the columns below the final projection.
struct Computed {
    text: Arc<dyn PhysicalExpr>,
    checksum: Arc<dyn PhysicalExpr>,
    context: Arc<dyn PhysicalExpr>,
}

/// Where one output column of a scan comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Output {
    /// The file scan's column at this position.
    File(usize),
    /// The event text, restored from the stored text and the columns it refers to.
    EventJson,
    /// The checksum of the event text.
    Checksum,
    /// The event text's `eventContext` as a map.
    EventContext,
}

/// Position of `index` in `columns`, added at the end if absent.
fn position_of(columns: &mut Vec<usize>, index: usize) -> usize {
    match columns.iter().position(|&c| c == index) {
        Some(p) => p,
        None => {
            columns.push(index);
            columns.len() - 1
        }
    }
}

/// The scan's columns in the order (and with the computed columns) the query asked for.
fn reorder(
    scan: Arc<dyn ExecutionPlan>,
    outputs: &[Output],
    computed: Option<Computed>,
) -> DfResult<Arc<dyn ExecutionPlan>> {
    let input = scan.schema();
    let mut exprs: Vec<(Arc<dyn PhysicalExpr>, String)> = Vec::with_capacity(outputs.len());
    for o in outputs {
        exprs.push(match (o, &computed) {
            (Output::File(k), _) => {
                let name = input.field(*k).name().clone();
                (Arc::new(PhysicalColumn::new(&name, *k)), name)
            }
            (Output::EventJson, Some(c)) => (Arc::clone(&c.text), EVENT_JSON_COLUMN.to_string()),
            (Output::Checksum, Some(c)) => (Arc::clone(&c.checksum), CHECKSUM_COLUMN.to_string()),
            (Output::EventContext, Some(c)) => (Arc::clone(&c.context), EVENT_CONTEXT_COLUMN.to_string()),
            (Output::EventJson | Output::Checksum | Output::EventContext, None) => {
                return Err(datafusion::error::DataFusionError::Internal(
                    "computed column without its expression".into(),
                ))
            }
        });
    }
    Ok(Arc::new(ProjectionExec::try_new(exprs, scan)?))
}

/// The columns as the scan reads them: strings — top-level and inside structs — as string
/// views, which the Parquet reader fills by pointing into the decoded pages instead of copying
/// every value, and which grouping and comparison handle faster. Strings inside lists and maps
/// stay plain (the map and JSON functions expect them). Results are turned back into plain
/// strings before they leave the engine. Handing this schema to the reader also spares it
/// decoding the Arrow schema embedded in every file's footer.
fn read_schema(stored: &SchemaRef) -> SchemaRef {
    let fields: Vec<Field> =
        stored.fields().iter().map(|f| f.as_ref().clone().with_data_type(view_type(f.data_type()))).collect();
    Arc::new(Schema::new_with_metadata(fields, stored.metadata().clone()))
}

fn view_type(t: &DataType) -> DataType {
    match t {
        DataType::Utf8 => DataType::Utf8View,
        DataType::Struct(fields) => DataType::Struct(
            fields.iter().map(|f| Arc::new(f.as_ref().clone().with_data_type(view_type(f.data_type())))).collect(),
        ),
        other => other.clone(),
    }
}

/// Spreads files over `n` groups of similar byte size (largest first onto the lightest group),
/// so both cores get the same amount of decoding.
fn balanced_groups(mut files: Vec<PartitionedFile>, n: usize) -> Vec<FileGroup> {
    let n = n.max(1).min(files.len().max(1));
    files.sort_by_key(|f| std::cmp::Reverse(f.object_meta.size));
    let mut groups: Vec<(u64, Vec<PartitionedFile>)> = (0..n).map(|_| (0, Vec::new())).collect();
    for f in files {
        // `groups` is never empty (n ≥ 1).
        if let Some(g) = groups.iter_mut().min_by_key(|g| g.0) {
            g.0 += f.object_meta.size;
            g.1.push(f);
        }
    }
    groups.into_iter().filter(|g| !g.1.is_empty()).map(|g| FileGroup::new(g.1)).collect()
}

/// The log's per-file statistics, as `PruningPredicate` reads them (one container per file).
struct FileRanges<'a>(&'a [DataFile]);

impl FileRanges<'_> {
    fn bound(&self, column: &Column, pick: fn((i64, i64)) -> i64) -> Option<ArrayRef> {
        if column.name != TIME_COLUMN {
            return None;
        }
        let values: TimestampMicrosecondArray = self.0.iter().map(|f| f.time_range.map(pick)).collect();
        Some(Arc::new(values.with_timezone("UTC")))
    }
}

impl PruningStatistics for FileRanges<'_> {
    fn min_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound(column, |r| r.0)
    }

    fn max_values(&self, column: &Column) -> Option<ArrayRef> {
        self.bound(column, |r| r.1)
    }

    fn num_containers(&self) -> usize {
        self.0.len()
    }

    fn null_counts(&self, _column: &Column) -> Option<ArrayRef> {
        None
    }

    fn row_counts(&self) -> Option<ArrayRef> {
        Some(Arc::new(self.0.iter().map(|f| f.rows).collect::<UInt64Array>()))
    }

    fn contained(&self, _column: &Column, _values: &HashSet<ScalarValue>) -> Option<BooleanArray> {
        None
    }
}

fn time_scalar(micros: i64) -> ScalarValue {
    ScalarValue::TimestampMicrosecond(Some(micros), Some("UTC".into()))
}

/// `eventtime`'s range from a file's Delta statistics. The log keeps timestamps truncated to
/// milliseconds, so the maximum is widened by one millisecond to stay an upper bound.
fn time_range_from_stats(stats: &str) -> Option<(i64, i64)> {
    let v: serde_json::Value = serde_json::from_str(stats).ok()?;
    let get = |k: &str| -> Option<i64> {
        let text = v.get(k)?.get(TIME_COLUMN)?.as_str()?;
        let t = DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f").map(|t| t.and_utc()))
            .ok()?;
        Some(t.timestamp_micros())
    };
    Some((get("minValues")?, get("maxValues")? + 999))
}

/// The range a day partition (`YYYY-MM-DD`, UTC) can hold.
fn time_range_of_day(day: &str) -> Option<(i64, i64)> {
    let start = NaiveDate::parse_from_str(day, "%Y-%m-%d").ok()?.and_hms_opt(0, 0, 0)?.and_utc().timestamp_micros();
    Some((start, start + 86_400_000_000 - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_ranges_from_log_statistics_and_days() {
        let stats = r#"{"numRecords":2,"minValues":{"eventtime":"2026-10-18T00:00:15Z"},"maxValues":{"eventtime":"2026-10-18T23:59:28.123Z"}}"#;
        let (lo, hi) = time_range_from_stats(stats).expect("range");
        assert_eq!(lo, DateTime::parse_from_rfc3339("2026-10-18T00:00:15Z").unwrap().timestamp_micros());
        // Truncated to milliseconds in the log: the bound covers the whole millisecond.
        assert_eq!(hi, DateTime::parse_from_rfc3339("2026-10-18T23:59:28.123999Z").unwrap().timestamp_micros());
        assert_eq!(time_range_from_stats(r#"{"numRecords":2}"#), None);
        let (lo, hi) = time_range_of_day("2026-10-18").expect("day");
        assert_eq!(hi - lo + 1, 86_400_000_000);
        assert_eq!(time_range_of_day("not a day"), None);
    }

    #[test]
    fn groups_balance_bytes() {
        let files = [5u64, 4, 3, 3, 1].iter().enumerate().map(|(i, s)| PartitionedFile::new(format!("f{i}"), *s));
        let groups = balanced_groups(files.collect(), 2);
        let sizes: Vec<u64> = groups.iter().map(|g| g.iter().map(|f| f.object_meta.size).sum()).collect();
        assert_eq!(sizes.iter().sum::<u64>(), 16);
        assert!(sizes.iter().all(|s| *s == 8), "{sizes:?}");
        assert_eq!(balanced_groups(vec![PartitionedFile::new("a", 1)], 4).len(), 1);
    }
}
