//! Backslash commands: parsing (here) and the help text. The session carries them out.

use std::path::PathBuf;

use crate::output::Format;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Meta {
    Help,
    Quit,
    /// `\d`: the event data stores; `\d NAME`: one store's schema as a tree.
    Describe(Option<String>),
    /// `\timing [on|off]` (no argument toggles).
    Timing(Option<bool>),
    /// `\stats [on|off]`.
    Stats(Option<bool>),
    Format(Format),
    /// `\o FILE` sends results to a file; `\o` alone back to the terminal.
    Output(Option<PathBuf>),
    /// `\i FILE.sql`, with `k=v` values for its placeholders.
    Include {
        file: PathBuf,
        params: Vec<String>,
    },
    /// `\queries`: the saved investigations.
    Queries,
    /// `\run NAME k=v…`.
    Run {
        name: String,
        params: Vec<String>,
    },
    /// `\refresh`: reopen the event data stores (see what was ingested since the session began).
    Refresh,
}

pub const HELP: &str = "\
Statements end with `;` and may span lines. Ctrl-C cancels a running query (or clears the line);
Ctrl-D, `\\q`, `quit` or `exit` leaves. Tab completes keywords, functions, event data stores,
column paths (userIdentity.sessionContext.sessionIssuer.userName) and map keys
(element_at(requestParameters, '<Tab>).

  \\?                   this help
  \\d                   event data stores: id, name, events, time range
  \\d NAME              the schema of one event data store, as a tree
  \\timing [on|off]     show elapsed time under results
  \\stats [on|off]      show query statistics (events matched/scanned, bytes, Lake price)
  \\format FORMAT       table, csv, json, ndjson (parquet needs \\o FILE)
  \\o [FILE]            send results to FILE; without FILE, back to the terminal
  \\i FILE.sql [k=v…]   run the statements of a file ({{NAME}} placeholders filled from k=v)
  \\queries             list saved investigations
  \\run NAME [k=v…]     run a saved investigation
  \\refresh             reload event data stores (after an ingest in another terminal)
  \\q                   quit";

/// Parses one backslash command line.
pub fn parse(line: &str) -> Result<Meta, String> {
    let line = line.trim().trim_end_matches(';').trim_end();
    let (cmd, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
    let rest = rest.trim();
    let args: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
    let none = |m: Meta| if rest.is_empty() { Ok(m) } else { Err(format!("{cmd} takes no argument")) };
    match cmd {
        "\\?" | "\\h" | "\\help" => none(Meta::Help),
        "\\q" | "\\quit" => none(Meta::Quit),
        "\\d" => Ok(Meta::Describe((!rest.is_empty()).then(|| rest.to_string()))),
        "\\timing" => Ok(Meta::Timing(on_off(cmd, rest)?)),
        "\\stats" => Ok(Meta::Stats(on_off(cmd, rest)?)),
        "\\format" => {
            use clap::ValueEnum;
            Format::from_str(rest, true)
                .map(Meta::Format)
                .map_err(|_| format!("\\format takes table, csv, json, ndjson or parquet, not `{rest}`"))
        }
        "\\o" => Ok(Meta::Output((!rest.is_empty()).then(|| PathBuf::from(rest)))),
        "\\i" => match args.split_first() {
            Some((file, params)) => Ok(Meta::Include { file: PathBuf::from(file), params: params.to_vec() }),
            None => Err("\\i needs a file: \\i FILE.sql".into()),
        },
        "\\queries" => none(Meta::Queries),
        "\\run" => match args.split_first() {
            Some((name, params)) => Ok(Meta::Run { name: name.clone(), params: params.to_vec() }),
            None => Err("\\run needs the name of a saved query (see \\queries)".into()),
        },
        "\\refresh" => none(Meta::Refresh),
        other => Err(format!("unknown command {other} (\\? lists them)")),
    }
}

fn on_off(cmd: &str, arg: &str) -> Result<Option<bool>, String> {
    match arg.to_ascii_lowercase().as_str() {
        "" => Ok(None),
        "on" | "true" | "1" => Ok(Some(true)),
        "off" | "false" | "0" => Ok(Some(false)),
        other => Err(format!("{cmd} takes on or off, not `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse() {
        assert_eq!(parse("\\?"), Ok(Meta::Help));
        assert_eq!(parse("\\q"), Ok(Meta::Quit));
        assert_eq!(parse("\\d"), Ok(Meta::Describe(None)));
        assert_eq!(parse("\\d  demo "), Ok(Meta::Describe(Some("demo".into()))));
        assert_eq!(parse("\\timing"), Ok(Meta::Timing(None)));
        assert_eq!(parse("\\stats off"), Ok(Meta::Stats(Some(false))));
        assert_eq!(parse("\\format CSV"), Ok(Meta::Format(Format::Csv)));
        assert_eq!(parse("\\o out.csv"), Ok(Meta::Output(Some("out.csv".into()))));
        assert_eq!(parse("\\o"), Ok(Meta::Output(None)));
        assert_eq!(
            parse("\\run root-activity days=3"),
            Ok(Meta::Run { name: "root-activity".into(), params: vec!["days=3".into()] })
        );
        assert_eq!(parse("\\i q.sql;"), Ok(Meta::Include { file: "q.sql".into(), params: vec![] }));
    }

    #[test]
    fn mistakes_are_explained() {
        assert!(parse("\\format xml").unwrap_err().contains("table, csv"));
        assert!(parse("\\timing maybe").unwrap_err().contains("on or off"));
        assert!(parse("\\x").unwrap_err().contains("\\?"));
        assert!(parse("\\run").unwrap_err().contains("\\queries"));
        assert!(parse("\\q now").is_err());
    }
}
