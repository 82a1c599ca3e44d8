//! The rustyline helper: the validator (run at `;`), the completer, and the sampler that learns
//! map keys from the store the first time they are asked for.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use arrow::array::AsArray;
use datafusion::execution::context::SessionContext;
use rustyline::completion::{Completer, Pair};
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};

use super::complete::{self, Context, Vocabulary};
use super::input::{self, Buffer};

/// Rows read to learn a map column's keys: enough to see the common keys, cheap on any store.
const KEY_SAMPLE_ROWS: usize = 20_000;
/// Completion never waits longer than this for the store.
const KEY_SAMPLE_TIMEOUT: Duration = Duration::from_secs(2);

pub struct LakeHelper {
    pub vocab: Vocabulary,
    pub keys: MapKeySampler,
}

impl rustyline::Helper for LakeHelper {}

impl Validator for LakeHelper {
    fn validate(&self, ctx: &mut ValidationContext<'_>) -> rustyline::Result<ValidationResult> {
        Ok(match input::classify(ctx.input()) {
            Buffer::Incomplete => ValidationResult::Incomplete,
            _ => ValidationResult::Valid(None),
        })
    }
}

impl Completer for LakeHelper {
    type Candidate = Pair;

    fn complete(&self, line: &str, pos: usize, _ctx: &rustyline::Context<'_>) -> rustyline::Result<(usize, Vec<Pair>)> {
        let (start, candidates) = match complete::context(line, pos) {
            Context::Word { start, word } => (start, complete::words(&self.vocab, word)),
            Context::MapKey { start, column, prefix } => match self.vocab.map_column(column) {
                Some(column) => {
                    let table = self.table_in(line);
                    let keys = self.keys.keys(table.as_deref(), column);
                    (start, complete::map_keys(&keys, prefix))
                }
                None => (start, Vec::new()),
            },
            Context::Literal => (pos, Vec::new()),
        };
        let pairs = candidates.into_iter().map(|c| Pair { display: c.clone(), replacement: c }).collect();
        Ok((start, pairs))
    }
}

impl LakeHelper {
    /// The event data store the statement reads (the first one named in it), else the default.
    fn table_in(&self, line: &str) -> Option<String> {
        let lower = line.to_ascii_lowercase();
        self.vocab
            .tables
            .iter()
            .filter_map(|t| lower.find(&t.to_ascii_lowercase()).map(|i| (i, t)))
            .min_by_key(|(i, _)| *i)
            .map(|(_, t)| t.clone())
    }
}

impl Hinter for LakeHelper {
    type Hint = String;
}

impl Highlighter for LakeHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        Cow::Borrowed(line)
    }
}

/// Learns the keys of a map column from a sample of the store, once per (store, column).
pub struct MapKeySampler {
    ctx: SessionContext,
    /// The store used when the statement names none.
    pub default_table: Option<String>,
    runtime: tokio::runtime::Handle,
    cache: Mutex<HashMap<(String, String), Vec<String>>>,
}

impl MapKeySampler {
    pub fn new(ctx: SessionContext, default_table: Option<String>, runtime: tokio::runtime::Handle) -> Self {
        Self { ctx, default_table, runtime, cache: Mutex::new(HashMap::new()) }
    }

    /// Keys of `column` seen in `table` (or the default store), most frequent first. Runs on the
    /// editor's thread, which is outside the async runtime (`block_in_place`), so it may block.
    pub fn keys(&self, table: Option<&str>, column: &str) -> Vec<String> {
        let Some(table) = table.or(self.default_table.as_deref()) else { return Vec::new() };
        let key = (table.to_string(), column.to_ascii_lowercase());
        if let Some(k) = self.cache.lock().ok().and_then(|c| c.get(&key).cloned()) {
            return k;
        }
        let sql = format!(
            "SELECT k, count(*) AS n FROM (SELECT unnest(map_keys({col})) AS k FROM \
             (SELECT {col} FROM \"{table}\" WHERE {col} IS NOT NULL LIMIT {KEY_SAMPLE_ROWS})) \
             GROUP BY k ORDER BY n DESC, k LIMIT 1000",
            col = key.1,
            table = table.replace('"', "\"\""),
        );
        let ctx = self.ctx.clone();
        let fetch = async move {
            let batches = ctx.sql(&sql).await?.collect().await?;
            let mut keys = Vec::new();
            for b in &batches {
                let col = b.column(0);
                if let Some(s) = col.as_string_opt::<i32>() {
                    keys.extend(s.iter().flatten().map(str::to_string));
                } else if let Some(s) = col.as_string_view_opt() {
                    keys.extend(s.iter().flatten().map(str::to_string));
                }
            }
            Ok::<_, datafusion::error::DataFusionError>(keys)
        };
        let keys = match self.runtime.block_on(async { tokio::time::timeout(KEY_SAMPLE_TIMEOUT, fetch).await }) {
            Ok(Ok(k)) => k,
            Ok(Err(e)) => {
                tracing::debug!("sampling keys of {column} in {table}: {e}");
                Vec::new()
            }
            // Too slow this time: not cached, so a later Tab tries again.
            Err(_) => return Vec::new(),
        };
        if let Ok(mut c) = self.cache.lock() {
            c.insert(key, keys.clone());
        }
        keys
    }
}
