//! Rules on ingest: EventBridge rules (`[{"Name": …, "EventPattern": …}]`, or what `aws events
//! list-rules` prints) evaluated on every event an ingest commit added, each match one alert —
//! a JSON line `{"rule", "eventID", "eventTime", "event"}` on stdout or in an alerts file, and a
//! POST to a webhook.
//!
//! Exactly once per event and rule, across restarts: each rule's cursor (the table version up
//! to which it has been evaluated) is kept in the store (`detections/<eds id>/rules.json`)
//! with the length of the alerts file the last completed evaluation left. Alerts are written
//! and synced before the cursor moves; a run that died between the two is redone by the next,
//! after cutting the alerts file back to that length. A rule new to a store starts at the
//! store's version when it is first armed: like an EventBridge rule it sees events from then on.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::webhook::{Webhook, WebhookFigures};
use super::{events, DetectError};
use crate::rules::{eventbridge_event, Pattern};
use crate::store::{table, EdsRecord, Store};

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub pattern: Pattern,
}

/// The enabled rules of a rules file.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    pub rules: Vec<Rule>,
    /// Rules whose `State` is `DISABLED`: not evaluated.
    pub disabled: Vec<String>,
}

impl RuleSet {
    pub fn load(path: &Path) -> Result<Self, DetectError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| DetectError::Rules(format!("cannot read rules file {}: {e}", path.display())))?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses a rules file's text: a list of rules, or an object with a `Rules` list (the
    /// output of `aws events list-rules`). Each rule has a `Name` and an `EventPattern`, an
    /// object or a JSON string as `aws events put-rule --event-pattern` takes it.
    pub fn parse(text: &str, origin: &str) -> Result<Self, DetectError> {
        let bad = |what: String| DetectError::Rules(format!("rules file {origin}: {what}"));
        let json: Json = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let list = match &json {
            Json::Array(list) => list,
            Json::Object(o) => match o.get("Rules") {
                Some(Json::Array(list)) => list,
                _ => return Err(bad("expected a list of rules, or an object with a \"Rules\" list".into())),
            },
            _ => return Err(bad("expected a list of rules".into())),
        };
        let mut set = Self::default();
        let mut names = std::collections::HashSet::new();
        for (i, r) in list.iter().enumerate() {
            let at = |what: &str| bad(format!("rule {}: {what}", i + 1));
            let name = match r.get("Name") {
                Some(Json::String(n)) if !n.trim().is_empty() => n.clone(),
                _ => return Err(at("every rule needs a \"Name\" (a non-empty string)")),
            };
            if !names.insert(name.clone()) {
                return Err(at(&format!("the name {name:?} is used twice; alerts are kept by rule name")));
            }
            let pattern = match r.get("EventPattern") {
                Some(Json::String(s)) => Pattern::parse(s),
                Some(p @ Json::Object(_)) => Pattern::from_json(p),
                _ => return Err(at(&format!("{name:?} needs an \"EventPattern\" (an object, or a JSON string)"))),
            }
            .map_err(|e| at(&format!("{name:?}: {e}")))?;
            match r.get("State").and_then(Json::as_str) {
                Some(s) if s.eq_ignore_ascii_case("DISABLED") => set.disabled.push(name),
                _ => set.rules.push(Rule { name, pattern }),
            }
        }
        Ok(set)
    }
}

/// Where alert lines go.
#[derive(Debug, Clone)]
pub enum Output {
    Stdout,
    File(PathBuf),
}

/// What evaluations did.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertReport {
    pub events_evaluated: u64,
    pub alerts: u64,
    /// Alerts per rule.
    pub by_rule: BTreeMap<String, u64>,
    /// Committed files gone before they were read (maintenance rewrote them).
    pub files_gone: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook: Option<WebhookFigures>,
}

impl AlertReport {
    pub fn summary(&self) -> String {
        let mut s = format!("rules: {} events evaluated, {} alerts", self.events_evaluated, self.alerts);
        if !self.by_rule.is_empty() {
            let each: Vec<String> = self.by_rule.iter().map(|(r, n)| format!("{r} {n}")).collect();
            s.push_str(&format!(" ({})", each.join(", ")));
        }
        if let Some(w) = &self.webhook {
            s.push_str(&format!(
                "; webhook: {} delivered, {} failed, {} retries, {} pending",
                w.delivered, w.failed, w.retries, w.pending
            ));
        }
        if self.files_gone > 0 {
            s.push_str(&format!("; {} committed files were gone before they were read", self.files_gone));
        }
        s
    }

    fn add(&mut self, other: &AlertReport) {
        self.events_evaluated += other.events_evaluated;
        self.alerts += other.alerts;
        self.files_gone += other.files_gone;
        for (r, n) in &other.by_rule {
            *self.by_rule.entry(r.clone()).or_default() += n;
        }
    }
}

/// The cursors kept in the store.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    /// Per rule name: the table version up to which it has been evaluated.
    #[serde(default)]
    rules: BTreeMap<String, i64>,
    /// Per alerts file (absolute path): its length after the last completed evaluation.
    #[serde(default)]
    outputs: BTreeMap<String, u64>,
}

/// Rules armed over one event data store.
#[derive(Debug)]
pub struct Alerter {
    rules: RuleSet,
    output: Output,
    webhook: Option<Webhook>,
    eds: EdsRecord,
    state: State,
    total: AlertReport,
}

impl Alerter {
    /// Arms `rules` over `eds`: a rule new to it starts at its current version, and an alerts
    /// file longer than the last completed evaluation left it is cut back (a run died between
    /// writing alerts and recording them; they are made again).
    pub async fn arm(
        store: &Store,
        eds: &EdsRecord,
        rules: RuleSet,
        output: Output,
        webhook: Option<Webhook>,
    ) -> Result<Self, DetectError> {
        let mut state = load_state(store, eds).await?;
        let version = table::open(store, eds).await?.version().map_or(-1, |v| v as i64);
        for r in &rules.rules {
            state.rules.entry(r.name.clone()).or_insert(version);
        }
        if let Output::File(path) = &output {
            let key = output_key(path)?;
            match (state.outputs.get(&key), std::fs::metadata(path)) {
                (Some(&len), Ok(m)) if m.len() > len => {
                    let f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| out_err(path, e))?;
                    f.set_len(len).map_err(|e| out_err(path, e))?;
                    tracing::info!(
                        "alerts file {} cut back to {len} bytes: a run ended before recording its alerts",
                        path.display()
                    );
                }
                (None, Ok(m)) => {
                    state.outputs.insert(key, m.len());
                }
                _ => {}
            }
        }
        save_state(store, eds, &state).await?;
        Ok(Self { rules, output, webhook, eds: eds.clone(), state, total: AlertReport::default() })
    }

    /// Evaluates the rules on every event committed since each rule's cursor; returns what
    /// this evaluation did.
    pub async fn run(&mut self, store: &Store) -> Result<AlertReport, DetectError> {
        let tbl = table::open(store, &self.eds).await?;
        let Some(head) = tbl.version().map(|v| v as i64) else { return Ok(AlertReport::default()) };
        let cursor = |name: &str| self.state.rules.get(name).copied().unwrap_or(head);
        let from = self.rules.rules.iter().map(|r| cursor(&r.name)).min().unwrap_or(head);
        let mut report = AlertReport::default();
        if from < head {
            let commits = table::ingest_commits_after(&tbl, from).await?;
            let mut sink = Sink::open(&self.output)?;
            let schema = self.eds.schema();
            for commit in &commits {
                let due: Vec<&Rule> = self.rules.rules.iter().filter(|r| cursor(&r.name) < commit.version).collect();
                if due.is_empty() {
                    continue;
                }
                report.files_gone += events::for_each_event(&tbl, schema, &commit.files, |text| {
                    report.events_evaluated += 1;
                    let Ok(record) = serde_json::from_str::<Json>(text) else { return Ok(()) };
                    let event = eventbridge_event(record);
                    for rule in due.iter().filter(|r| r.pattern.matches(&event)) {
                        let line = alert_line(&rule.name, &event["detail"], text)?;
                        sink.write(&line)?;
                        if let Some(w) = &self.webhook {
                            w.send(line);
                        }
                        report.alerts += 1;
                        *report.by_rule.entry(rule.name.clone()).or_default() += 1;
                    }
                    Ok(())
                })
                .await?;
            }
            // Written and synced before the cursors move: a crash in between redoes this.
            if let Some((path, len)) = sink.finish()? {
                self.state.outputs.insert(output_key(&path)?, len);
            }
        }
        for r in &self.rules.rules {
            self.state.rules.insert(r.name.clone(), head);
        }
        save_state(store, &self.eds, &self.state).await?;
        self.total.add(&report);
        report.webhook = self.webhook.as_ref().map(Webhook::figures);
        Ok(report)
    }

    /// The webhook's figures so far, if there is one.
    pub fn webhook_figures(&self) -> Option<WebhookFigures> {
        self.webhook.as_ref().map(Webhook::figures)
    }

    /// Ends: waits a little for the webhook's queue; returns the figures of every evaluation.
    pub async fn finish(self) -> AlertReport {
        let mut total = self.total;
        if let Some(w) = self.webhook {
            total.webhook = Some(w.finish(std::time::Duration::from_secs(30)).await);
        }
        total
    }
}

#[derive(Serialize)]
struct Alert<'a> {
    rule: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a Json,
    #[serde(rename = "eventTime")]
    event_time: &'a Json,
    event: &'a serde_json::value::RawValue,
}

/// One alert line; the event is its original text (fields in their order, whitespace removed
/// so the line stays one line).
fn alert_line(rule: &str, record: &Json, text: &str) -> Result<String, DetectError> {
    let compact = crate::tape::compact_json(text);
    let event: &serde_json::value::RawValue =
        serde_json::from_str(&compact).map_err(|e| DetectError::Internal(format!("stored event text: {e}")))?;
    let alert = Alert { rule, event_id: &record["eventID"], event_time: &record["eventTime"], event };
    serde_json::to_string(&alert).map_err(|e| DetectError::Internal(e.to_string()))
}

/// An open alerts destination.
enum Sink {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    File { path: PathBuf, file: std::io::BufWriter<std::fs::File> },
}

impl Sink {
    fn open(output: &Output) -> Result<Self, DetectError> {
        Ok(match output {
            Output::Stdout => Sink::Stdout(std::io::BufWriter::new(std::io::stdout())),
            Output::File(path) => {
                let file =
                    std::fs::OpenOptions::new().create(true).append(true).open(path).map_err(|e| out_err(path, e))?;
                Sink::File { path: path.clone(), file: std::io::BufWriter::new(file) }
            }
        })
    }

    fn write(&mut self, line: &str) -> Result<(), DetectError> {
        let written = match self {
            Sink::Stdout(w) => w.write_all(line.as_bytes()).and_then(|_| w.write_all(b"\n")),
            Sink::File { file, .. } => file.write_all(line.as_bytes()).and_then(|_| file.write_all(b"\n")),
        };
        written.map_err(|e| {
            let path = match self {
                Sink::Stdout(_) => "stdout".to_string(),
                Sink::File { path, .. } => path.display().to_string(),
            };
            DetectError::Output { path, reason: e.to_string() }
        })
    }

    /// Flushes (and syncs a file); a file's path and new length.
    fn finish(self) -> Result<Option<(PathBuf, u64)>, DetectError> {
        match self {
            Sink::Stdout(mut w) => {
                w.flush().map_err(|e| DetectError::Output { path: "stdout".into(), reason: e.to_string() })?;
                Ok(None)
            }
            Sink::File { path, file } => {
                let file = file.into_inner().map_err(|e| out_err(&path, e.into_error()))?;
                file.sync_all().map_err(|e| out_err(&path, e))?;
                let len = file.metadata().map_err(|e| out_err(&path, e))?.len();
                Ok(Some((path, len)))
            }
        }
    }
}

fn out_err(path: &Path, e: std::io::Error) -> DetectError {
    DetectError::Output { path: path.display().to_string(), reason: e.to_string() }
}

/// An alerts file's key in the state: its absolute path.
fn output_key(path: &Path) -> Result<String, DetectError> {
    Ok(std::path::absolute(path).map_err(|e| out_err(path, e))?.display().to_string())
}

fn state_path(eds: &EdsRecord) -> ObjectPath {
    ObjectPath::from(format!("detections/{}/rules.json", eds.id))
}

async fn load_state(store: &Store, eds: &EdsRecord) -> Result<State, DetectError> {
    let path = state_path(eds);
    match store.objects().get(&path).await {
        Ok(r) => {
            let bytes = r.bytes().await.map_err(crate::store::StoreError::from)?;
            serde_json::from_slice(&bytes).map_err(|e| {
                DetectError::Rules(format!(
                    "the rules state {} is damaged ({e}); remove it to start the rules afresh from the store's current events",
                    store.display_path(&path)
                ))
            })
        }
        Err(object_store::Error::NotFound { .. }) => Ok(State::default()),
        Err(e) => Err(crate::store::StoreError::from(e).into()),
    }
}

/// Saved whole in one put (the local store writes a temporary file and renames it).
async fn save_state(store: &Store, eds: &EdsRecord, state: &State) -> Result<(), DetectError> {
    let bytes = serde_json::to_vec_pretty(state).map_err(|e| DetectError::Internal(e.to_string()))?;
    store.objects().put(&state_path(eds), PutPayload::from(bytes)).await.map_err(crate::store::StoreError::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_files_take_lists_list_rules_output_and_patterns_as_strings() {
        let set = RuleSet::parse(
            r#"[{"Name": "iam", "EventPattern": {"source": ["aws.iam"]}},
                {"Name": "s", "EventPattern": "{\"detail\": {\"eventName\": [\"DeleteTrail\"]}}"}]"#,
            "t",
        )
        .expect("rules");
        assert_eq!(set.rules.len(), 2);
        let listed = RuleSet::parse(
            r#"{"Rules": [{"Name": "a", "State": "DISABLED", "EventPattern": "{\"source\":[\"aws.s3\"]}"},
                          {"Name": "b", "State": "ENABLED", "EventPattern": "{\"source\":[\"aws.s3\"]}"}]}"#,
            "t",
        )
        .expect("list-rules output");
        assert_eq!((listed.rules.len(), listed.disabled.clone()), (1, vec!["a".to_string()]));
    }

    #[test]
    fn bad_rules_files_say_which_rule_and_where() {
        let e = |t: &str| RuleSet::parse(t, "r.json").expect_err("refused").to_string();
        assert!(e("{").contains("r.json: not JSON"));
        assert!(e(r#"[{"EventPattern": {"source": ["x"]}}]"#).contains("rule 1: every rule needs a \"Name\""));
        assert!(e(r#"[{"Name": "a", "EventPattern": {"source": "x"}}]"#)
            .contains("rule 1: \"a\": invalid event pattern at $.source"));
        assert!(e(
            r#"[{"Name": "a", "EventPattern": {"source": ["x"]}}, {"Name": "a", "EventPattern": {"source": ["x"]}}]"#
        )
        .contains("rule 2: the name \"a\" is used twice"));
    }

    #[test]
    fn alert_lines_name_the_rule_and_the_event() {
        let text = "{\"eventTime\": \"2026-11-15T02:13:00Z\",\n \"eventID\": \"e1\", \"eventName\": \"DeleteTrail\"}";
        let record: Json = serde_json::from_str(text).expect("json");
        let line = alert_line("logging-stopped", &record, text).expect("line");
        assert_eq!(
            line,
            r#"{"rule":"logging-stopped","eventID":"e1","eventTime":"2026-11-15T02:13:00Z","event":{"eventTime":"2026-11-15T02:13:00Z","eventID":"e1","eventName":"DeleteTrail"}}"#
        );
    }
}
