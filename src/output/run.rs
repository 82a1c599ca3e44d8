//! Running one statement to a sink: plan it, stream its batches into the chosen format, and
//! close with the footer. Every front end that prints results — `query`, `queries run`, the
//! demo's tour and the REPL — goes through `run`, so a format, footer or limit is changed once.

use std::io::Write;
use std::time::Instant;

use futures::TryStreamExt;

use super::{footer, for_display, Format, Sink};
use crate::engine::{Engine, QueryStats};
use crate::error::Error;

/// How a result is shown.
#[derive(Debug, Clone, Copy)]
pub struct RunOptions {
    pub format: Format,
    /// A person reads the table on a screen: cut its cells and stop after some rows.
    pub screen: Option<Screen>,
    /// The footer gives the elapsed time too.
    pub timing: bool,
}

impl RunOptions {
    /// Every row in full, the footer timed: for files, pipes and scripts.
    pub fn whole(format: Format) -> Self {
        Self { format, screen: None, timing: true }
    }
}

/// Limits of a table shown on a screen.
#[derive(Debug, Clone, Copy)]
pub struct Screen {
    /// Rows printed; the rest are counted.
    pub max_rows: usize,
    /// Characters a cell shows before it is cut with `…`.
    pub max_cell: usize,
    /// Said after "N shown" when rows were left out (how to get them all).
    pub more_hint: &'static str,
}

/// What a run hands back once the output is complete.
pub struct Ran<W> {
    pub stats: QueryStats,
    pub out: W,
    /// "N rows · elapsed" (and what was left out); printed under a table already.
    pub footer: String,
}

/// Plans and runs `sql`, writing its result to `out` as `opts` says.
pub async fn run<W: Write + Send>(engine: &Engine, sql: &str, opts: &RunOptions, out: W) -> Result<Ran<W>, Error> {
    let started = Instant::now();
    let query = engine.plan(sql).await?;
    let mut stream = query.execute().await?;
    let schema = stream.schema();
    let screen = opts.screen.filter(|_| opts.format == Format::Table);
    let shown_schema = match screen {
        Some(s) => for_display(&arrow::array::RecordBatch::new_empty(schema.clone()), s.max_cell)?.schema(),
        None => schema,
    };
    let mut sink = Sink::new(opts.format, out, &shown_schema)?;
    let mut shown = 0usize;
    while let Some(batch) = stream.try_next().await? {
        match screen {
            Some(s) if shown >= s.max_rows => {}
            Some(s) => {
                let take = batch.num_rows().min(s.max_rows - shown);
                sink.write(&for_display(&batch.slice(0, take), s.max_cell)?)?;
                shown += take;
            }
            None => sink.write(&batch)?,
        }
    }
    let stats = stream.stats();
    let rows = stats.rows_returned as usize;
    let mut text = match opts.timing {
        true => footer(rows, started.elapsed()),
        false => format!("{rows} {}", if rows == 1 { "row" } else { "rows" }),
    };
    if let Some(s) = screen.filter(|_| rows > shown) {
        text.push_str(&format!(" ({shown} shown; {})", s.more_hint));
    }
    let table_footer = (opts.format == Format::Table).then_some(text.as_str());
    let out = sink.finish(table_footer)?;
    Ok(Ran { stats, out, footer: text })
}
