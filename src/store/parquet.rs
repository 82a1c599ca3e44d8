//! How event data store files are encoded: the Parquet writer settings every writer of a
//! store's files uses (ingest, and compaction in `maintain`), so a compacted day is encoded
//! exactly as a freshly ingested one.

use datafusion::parquet::arrow::ArrowSchemaConverter;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::metadata::SortingColumn;
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties, WriterVersion};
use datafusion::parquet::schema::types::ColumnPath;

use crate::schema::{EventSchema, CHECKSUM_COLUMN};

/// The batches of some columns (by name) of one data file, read as they are needed.
pub async fn read_columns(
    store: &std::sync::Arc<dyn object_store::ObjectStore>,
    path: &object_store::path::Path,
    names: &[&str],
) -> Result<
    datafusion::parquet::arrow::async_reader::ParquetRecordBatchStream<
        impl datafusion::parquet::arrow::async_reader::AsyncFileReader + Unpin + 'static,
    >,
    datafusion::parquet::errors::ParquetError,
> {
    use datafusion::parquet::arrow::{ParquetRecordBatchStreamBuilder, ProjectionMask};
    // Deprecated upstream in favour of hand-written readers; still the simplest correct one.
    #[allow(deprecated)]
    let reader =
        datafusion::parquet::arrow::async_reader::ParquetObjectReader::new(std::sync::Arc::clone(store), path.clone());
    let builder = ParquetRecordBatchStreamBuilder::new(reader).await?;
    let mask = ProjectionMask::columns(builder.parquet_schema(), names.iter().copied());
    builder.with_projection(mask).build()
}

/// Rows per row group at most (the encoder holds a row group's pages, compressed, until it is
/// complete).
const ROW_GROUP_ROWS: usize = 128 * 1024;

/// What a caller may choose about the encoding.
#[derive(Debug, Clone, Copy)]
pub struct ParquetSettings {
    /// zstd level, 1–22.
    pub zstd_level: i32,
    /// Bloom filters on eventid, access key id and source IP.
    pub bloom_filters: bool,
}

impl Default for ParquetSettings {
    fn default() -> Self {
        Self { zstd_level: 1, bloom_filters: false }
    }
}

/// Parquet settings: zstd, dictionaries only where values repeat, page statistics on
/// `eventtime` (files are sorted by it), sorted-by metadata.
pub fn writer_properties(config: &ParquetSettings, s: &EventSchema) -> WriterProperties {
    let level = ZstdLevel::try_new(config.zstd_level).unwrap_or_default();
    let mut b = WriterProperties::builder()
        .set_compression(Compression::ZSTD(level))
        // Version 2 data pages: values are compressed straight into the page, where version 1
        // copies each page once more (and the copy doubles the fresh memory an encoder
        // touches). The encodings stay version 1's: plain where there is no dictionary.
        .set_writer_version(WriterVersion::PARQUET_2_0)
        .set_encoding(Encoding::PLAIN)
        .set_created_by(format!("traillake {}", env!("CARGO_PKG_VERSION")))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        // Min/max only where they serve data skipping (the Delta stats columns): computing them
        // for every 1 KB event text or map value costs a string comparison per value.
        .set_statistics_enabled(EnabledStatistics::None)
        .set_column_statistics_enabled(ColumnPath::from("eventtime"), EnabledStatistics::Page);
    for col in s.stats_columns().split(',').filter(|c| *c != "eventtime") {
        let path = ColumnPath::new(col.split('.').map(str::to_string).collect());
        b = b.set_column_statistics_enabled(path, EnabledStatistics::Chunk);
    }
    if let Some(i) = s.index_of("eventtime") {
        b = b.set_sorting_columns(Some(vec![SortingColumn {
            column_idx: i as i32,
            descending: false,
            nulls_first: false,
        }]));
    }
    // Dictionaries only pay where values repeat; for unique-per-event columns they are pure cost.
    let unique = ["eventjson", CHECKSUM_COLUMN, "eventid", "requestid", "sharedeventid", "eventtime", "errormessage"];
    for col in unique {
        b = b.set_column_dictionary_enabled(ColumnPath::from(col), false);
    }
    // The other single-valued columns (names, Regions, account ids, ARNs, flags) are dictionary
    // indices: zstd shrinks them by 1.0–1.3× (the bench trail: 0.7 MiB in all), yet costs a
    // compressor per column and file. They stay uncompressed; text, ids, maps and lists do not.
    if let Ok(leaves) = ArrowSchemaConverter::new().convert(&s.files) {
        for leaf in leaves.columns() {
            let path = leaf.path();
            let top = path.parts().first().map(String::as_str).unwrap_or_default();
            if leaf.max_rep_level() == 0 && !unique.contains(&top) {
                b = b.set_column_compression(path.clone(), Compression::UNCOMPRESSED);
            }
        }
    }
    for map in ["requestparameters", "responseelements", "additionaleventdata", "serviceeventdetails"] {
        let path = ColumnPath::new(vec![map.into(), "key_value".into(), "value".into()]);
        b = b.set_column_dictionary_enabled(path, false);
    }
    // Sorted times: deltas are tiny.
    b = b.set_column_encoding(ColumnPath::from("eventtime"), Encoding::DELTA_BINARY_PACKED);
    if config.bloom_filters {
        for col in ["eventid", "sourceipaddress"] {
            b = b.set_column_bloom_filter_enabled(ColumnPath::from(col), true);
        }
        b = b.set_column_bloom_filter_enabled(ColumnPath::new(vec!["useridentity".into(), "accesskeyid".into()]), true);
    }
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_ids_maps_and_lists_are_compressed_dictionary_columns_are_not() {
        let props = writer_properties(&ParquetSettings::default(), crate::schema::cloudtrail());
        let path = |p: &str| ColumnPath::new(p.split('.').map(str::to_string).collect());
        let zstd = Compression::ZSTD(ZstdLevel::default());
        for col in ["eventjson", "eventid", "requestid", "errormessage", "eventtime", CHECKSUM_COLUMN] {
            assert_eq!(props.compression(&path(col)), zstd, "{col}");
        }
        for col in ["requestparameters.key_value.value", "responseelements.key_value.key", "resources.list.element.arn"]
        {
            assert_eq!(props.compression(&path(col)), zstd, "{col}");
        }
        for col in ["eventname", "awsregion", "useridentity.arn", "useridentity.sessioncontext.sessionissuer.arn"] {
            assert_eq!(props.compression(&path(col)), Compression::UNCOMPRESSED, "{col}");
        }
        assert_eq!(props.writer_version(), WriterVersion::PARQUET_2_0);
        assert_eq!(props.encoding(&path("eventname")), Some(Encoding::PLAIN), "version 1's fallback encoding");
    }
}
