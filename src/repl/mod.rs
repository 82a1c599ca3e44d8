//! `traillake repl`: the interactive SQL session. The editor (rustyline) runs on a blocking
//! thread; queries run on the async runtime and race Ctrl-C, which cancels them by dropping
//! their stream (DataFusion stops its tasks) and leaves the session as it was.

pub mod complete;
pub mod describe;
pub mod helper;
pub mod input;
pub mod meta;

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{Config, Editor};

use crate::engine::{lake_sql, Engine};
use crate::error::Error;
use crate::investigate::library::Library;
use crate::investigate::saved::{self, DefaultStores, SavedQuery};
use crate::output::{self, Format, RunOptions, Screen};
use crate::store::{EdsRecord, Store};
use complete::Vocabulary;
use helper::{LakeHelper, MapKeySampler};
use input::Buffer;
use meta::Meta;

/// Rows a table shows; the rest are counted, not printed (write them with `\o` or another format).
const TABLE_MAX_ROWS: usize = 1000;
/// Characters a table cell shows before it is cut with `…`.
const TABLE_MAX_CELL: usize = 60;

pub struct ReplOptions {
    /// The investigation library for `\queries` and `\run` (default: the built-in one).
    pub queries_dir: Option<PathBuf>,
    /// History file; default `$XDG_STATE_HOME/traillake/history`.
    pub history: Option<PathBuf>,
}

/// Runs the session until Ctrl-D or `\q`; returns the exit code.
pub async fn run(store: &Store, opts: ReplOptions) -> Result<i32, Error> {
    let engine = Engine::open(store).await?;
    let default_eds = store.default_eds().await?;
    let library = Library::open(opts.queries_dir.as_deref()).map_err(|e| Error::Usage(e.to_string()))?;
    let config = Config::builder()
        .max_history_size(10_000)
        .map_err(|e| Error::Internal(e.to_string()))?
        .history_ignore_dups(true)
        .map_err(|e| Error::Internal(e.to_string()))?
        .history_ignore_space(true)
        .completion_type(rustyline::CompletionType::List)
        .build();
    let mut editor: Editor<LakeHelper, FileHistory> =
        Editor::with_config(config).map_err(|e| Error::Internal(format!("cannot start the line editor: {e}")))?;
    let history = opts.history.or_else(default_history_path);
    if let Some(h) = &history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // A first session has no history yet.
        let _ = editor.load_history(h);
    }
    let mut session = Session {
        store,
        engine,
        default_eds,
        library,
        queries_dir: opts.queries_dir,
        timing: true,
        stats: false,
        format: Format::Table,
        output: None,
    };
    editor.set_helper(Some(session.helper()));
    // Take over SIGINT now (polling once installs the handler): from here on Ctrl-C never kills
    // the session, whether it lands during a query or between two.
    let _ = futures::FutureExt::now_or_never(tokio::signal::ctrl_c());
    eprintln!("{}", session.banner());

    loop {
        let line = tokio::task::block_in_place(|| editor.readline("traillake> "));
        let text = match line {
            Ok(t) => t,
            // Ctrl-C at the prompt clears the line, as in a shell.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(Error::Internal(format!("line editor: {e}"))),
        };
        if !text.trim().is_empty() {
            let _ = editor.add_history_entry(text.trim_end());
            if let Some(h) = &history {
                if let Err(e) = editor.append_history(h) {
                    tracing::debug!("history {}: {e}", h.display());
                }
            }
        }
        match input::classify(&text) {
            Buffer::Empty | Buffer::Incomplete => {}
            Buffer::Meta(m) => match meta::parse(m) {
                Ok(Meta::Quit) => break,
                Ok(Meta::Refresh) => match session.refresh().await {
                    Ok(()) => {
                        editor.set_helper(Some(session.helper()));
                        eprintln!("{}", session.banner());
                    }
                    Err(e) => report(&e),
                },
                Ok(cmd) => {
                    if let Err(e) = session.meta(cmd).await {
                        report(&e);
                    }
                }
                Err(msg) => report(&Error::Usage(msg)),
            },
            Buffer::Statements(statements) => {
                for sql in statements {
                    if !session.run_cancellable(sql).await {
                        break;
                    }
                }
            }
        }
    }
    Ok(0)
}

/// `$XDG_STATE_HOME/traillake/history`, else `~/.local/state/traillake/history`.
fn default_history_path() -> Option<PathBuf> {
    let state = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local").join("state")))?;
    Some(state.join("traillake").join("history"))
}

/// Errors are one line on stderr; the session goes on.
fn report(e: &Error) {
    let msg = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
    eprintln!("error: {msg}");
}

struct Session<'s> {
    store: &'s Store,
    engine: Engine,
    default_eds: Option<EdsRecord>,
    library: Library,
    queries_dir: Option<PathBuf>,
    timing: bool,
    stats: bool,
    format: Format,
    /// `\o FILE`: results go here instead of the terminal.
    output: Option<(PathBuf, io::BufWriter<std::fs::File>)>,
}

impl Session<'_> {
    fn banner(&self) -> String {
        let n = self.engine.event_data_stores().len();
        let default = match &self.default_eds {
            Some(d) => format!(", default {} ({})", d.name, d.id),
            None => String::new(),
        };
        format!(
            "traillake {} · {} event data store{}{} · \\? help, \\d stores, \\q quit",
            env!("CARGO_PKG_VERSION"),
            n,
            if n == 1 { "" } else { "s" },
            default
        )
    }

    fn helper(&self) -> LakeHelper {
        let state = self.engine.context().state();
        let functions = state
            .scalar_functions()
            .keys()
            .chain(state.aggregate_functions().keys())
            .chain(state.window_functions().keys())
            .cloned()
            .chain(lake_sql::REWRITTEN_FUNCTIONS.iter().map(|f| f.to_string()))
            .filter(|f| !f.starts_with("__"));
        let tables = self.engine.event_data_stores().iter().flat_map(|r| [r.id.to_string(), r.name.clone()]);
        let default_table =
            self.default_eds.as_ref().or(self.engine.event_data_stores().first()).map(|r| r.id.to_string());
        LakeHelper {
            vocab: Vocabulary::new(functions, tables, self.engine.event_data_stores().iter().map(|r| r.kind)),
            keys: MapKeySampler::new(self.engine.context().clone(), default_table, tokio::runtime::Handle::current()),
        }
    }

    async fn refresh(&mut self) -> Result<(), Error> {
        self.engine = Engine::open(self.store).await?;
        self.default_eds = self.store.default_eds().await?;
        self.library = Library::open(self.queries_dir.as_deref()).map_err(|e| Error::Usage(e.to_string()))?;
        Ok(())
    }

    /// Runs one statement; Ctrl-C cancels it. Returns false when the user cancelled (so the
    /// statements after it in the same input do not run).
    async fn run_cancellable(&mut self, sql: &str) -> bool {
        // Events committed since the last statement (a running `ingest --follow`) are seen.
        match self.engine.is_current(self.store).await {
            Ok(true) => {}
            Ok(false) => {
                if let Err(e) = self.refresh().await {
                    report(&e);
                }
            }
            Err(e) => report(&e.into()),
        }
        let result = tokio::select! {
            r = self.run_sql(sql) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        };
        match result {
            Some(Ok(())) => true,
            Some(Err(e)) => {
                report(&e);
                true
            }
            None => {
                eprintln!("query cancelled");
                false
            }
        }
    }

    async fn run_sql(&mut self, sql: &str) -> Result<(), Error> {
        let to_terminal = self.output.is_none();
        if self.format == Format::Parquet && to_terminal {
            return Err(Error::Usage("Parquet is binary: send results to a file first with \\o FILE".into()));
        }
        let out: Box<dyn Write + Send + '_> = match &mut self.output {
            Some((_, f)) => Box::new(f),
            None => Box::new(io::BufWriter::new(io::stdout())),
        };
        // A table is for reading: cut long cells and stop printing rows after a screenful of
        // screens (still counting them); files get every row in full.
        let screen = to_terminal.then_some(Screen {
            max_rows: TABLE_MAX_ROWS,
            max_cell: TABLE_MAX_CELL,
            more_hint: "\\o FILE or \\format csv for all",
        });
        let opts = RunOptions { format: self.format, screen, timing: self.timing };
        let mut ran = output::run(&self.engine, sql, &opts, out).await?;
        ran.out.flush()?;
        drop(ran.out);
        if self.format != Format::Table || !to_terminal {
            // Other formats carry no footer of their own: say what happened on stderr.
            eprintln!("{}", ran.footer);
        }
        if self.stats {
            eprintln!("{}", ran.stats.summary());
        }
        Ok(())
    }

    async fn meta(&mut self, cmd: Meta) -> Result<(), Error> {
        match cmd {
            Meta::Help => println!("{}", meta::HELP),
            Meta::Quit | Meta::Refresh => {}
            Meta::Describe(None) => println!("{}", describe::stores(&self.engine.figures()?)),
            Meta::Describe(Some(name)) => {
                let figures = self.engine.figures()?;
                let found = figures.iter().find(|(r, _)| r.is_named(&name));
                match found {
                    Some((rec, fig)) => println!("{}", describe::schema_tree(rec, fig)),
                    None => return Err(Error::Usage(format!("no event data store named `{name}` (\\d lists them)"))),
                }
            }
            Meta::Timing(v) => {
                self.timing = v.unwrap_or(!self.timing);
                eprintln!("timing {}", on_off(self.timing));
            }
            Meta::Stats(v) => {
                self.stats = v.unwrap_or(!self.stats);
                eprintln!("statistics {}", on_off(self.stats));
            }
            Meta::Format(f) => {
                self.format = f;
                eprintln!("format {}", format!("{f:?}").to_ascii_lowercase());
            }
            Meta::Output(None) => {
                if let Some((path, mut f)) = self.output.take() {
                    f.flush()?;
                    eprintln!("results back to the terminal ({} written)", path.display());
                }
            }
            Meta::Output(Some(path)) => {
                let f = std::fs::File::create(&path)
                    .map_err(|e| Error::Usage(format!("cannot write {}: {e}", path.display())))?;
                if let Some((_, mut old)) = self.output.replace((path.clone(), io::BufWriter::new(f))) {
                    old.flush()?;
                }
                eprintln!("results go to {} (\\o alone to stop)", path.display());
            }
            Meta::Include { file, params } => {
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| Error::Usage(format!("cannot read {}: {e}", file.display())))?;
                let sql = self.render(&file.display().to_string(), &text, &params).await?;
                self.run_script(&file, &sql).await?;
            }
            Meta::Queries => {
                if self.library.is_empty() {
                    let dir =
                        self.queries_dir.as_ref().map_or("the built-in library".into(), |d| d.display().to_string());
                    eprintln!("no saved queries in {dir}");
                }
                let mut list = output::Listing::new();
                for e in self.library.entries() {
                    let params: Vec<String> = e
                        .query
                        .params
                        .iter()
                        .map(|p| match &p.default {
                            Some(d) => format!("{}={d}", p.name),
                            None => p.name.clone(),
                        })
                        .collect();
                    list.row(&[e.name.clone(), e.query.description.clone()]);
                    if !params.is_empty() {
                        list.row(&[String::new(), format!("  params: {}", params.join(" "))]);
                    }
                }
                print!("{list}");
            }
            Meta::Run { name, params } => {
                let entry = self.library.get(&name).map_err(|e| Error::Usage(e.to_string()))?;
                let (origin, text) = (entry.origin.clone(), entry.query.sql.clone());
                let sql = self.render(&origin, &text, &params).await?;
                self.run_script(Path::new(&origin), &sql).await?;
            }
        }
        Ok(())
    }

    /// A saved query's text with its placeholders filled in.
    async fn render(&self, origin: &str, text: &str, params: &[String]) -> Result<String, Error> {
        let q = SavedQuery::parse(origin, text).map_err(|e| Error::Usage(e.to_string()))?;
        if params.is_empty() && !text.contains("{{") {
            return Ok(text.to_string());
        }
        let values = saved::parse_assignments(params).map_err(|e| Error::Usage(e.to_string()))?;
        let stores = DefaultStores::of(self.store).await?;
        q.render(&values, &stores).map_err(|e| Error::Usage(e.to_string()))
    }

    async fn run_script(&mut self, origin: &Path, sql: &str) -> Result<(), Error> {
        let statements = input::split_script(sql).map_err(|e| Error::Usage(format!("{}: {e}", origin.display())))?;
        for s in statements {
            if !self.run_cancellable(s).await {
                break;
            }
        }
        Ok(())
    }
}

fn on_off(v: bool) -> &'static str {
    if v {
        "on"
    } else {
        "off"
    }
}
