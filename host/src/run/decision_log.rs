//! The decision log: one JSON line per evaluation, so that every card can be traced back to
//! exactly the binary, manifest, signer, input and limits that produced it, and replayed.
//!
//! A plugin's identity (id, version, path, hashes, signer) is written once per run, in a
//! `plugin` line before its first decision; each `decision` line names it by `plugin_ref`.
//! Identity strings come from the plugin's `describe`: repeating them on every line would let
//! a plugin multiply the log's size (issue 12, item 4), and they do not change within a run.
//!
//! With the virtual clocks (the wall clock frozen at the epoch) and the seeded randomness, an
//! evaluation is a pure function of (component, input, limits, seed); the log holds all four,
//! so `livelab replay` re-runs each line and checks that the output hash is the same.
//! Fields a region considers sensitive (the record's pseudonym, the input itself, the cards,
//! the plugin's log) can be left out by configuration; a line without its input cannot be
//! replayed and `replay` says so.

use std::collections::{BTreeSet, HashMap};
use std::fs::{File, OpenOptions};
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::digest::sha256_hex;
use crate::plugin::{Cause, Failure, Outcome, Plugin};
use serde_json::value::RawValue;

use super::cards::CdsCard;
use super::outcome::Status;
use crate::sandbox::Limits;
use crate::wit::{Card, Request};

/// The schema of a decision-log line; bump on any incompatible change.
pub const DECISION_SCHEMA: &str = "livelab.decision/2";

/// `[decision_log]` in a trial file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionLogConfig {
    /// The log file, relative to the trial's output directory. Lines are appended.
    pub path: PathBuf,
    /// Fields to leave out of every line.
    #[serde(default)]
    pub omit: BTreeSet<OmittableField>,
}

/// What a region can keep out of its decision log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OmittableField {
    /// The record's pseudonym.
    Record,
    /// The minimised request the plugin received (its hash is always kept).
    Input,
    /// The cards or error (their hash is always kept).
    Output,
    /// The plugin's log lines.
    Log,
}

/// Who and what produced a decision.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecisionPlugin {
    pub id: String,
    pub version: String,
    /// The path the plugin was loaded from.
    pub path: String,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    /// The signature status as a reviewer reads it.
    pub signer: String,
}

impl DecisionPlugin {
    pub fn of(plugin: &Plugin) -> DecisionPlugin {
        DecisionPlugin {
            id: plugin.info.id.clone(),
            version: plugin.info.version.clone(),
            path: plugin.path.display().to_string(),
            sha256: plugin.sha256.clone(),
            manifest_sha256: plugin.manifest.as_ref().map(|m| m.sha256.clone()),
            signer: plugin.signature.to_string(),
        }
    }
}

/// What a line of the log holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LineKind {
    /// A plugin's identity, once per run, before its first decision.
    Plugin,
    /// One evaluation.
    Decision,
}

/// A `plugin` line.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct PluginLine {
    schema: String,
    kind: LineKind,
    run_started: String,
    /// How the run's decision lines name this plugin.
    plugin_ref: u32,
    plugin: DecisionPlugin,
}

/// What every line starts with: enough to tell which kind to read it as.
#[derive(Deserialize)]
struct LineHead {
    schema: String,
    /// Optional here so that a line of another schema is named as such.
    #[serde(default)]
    kind: Option<LineKind>,
    #[serde(default)]
    plugin_ref: Option<u32>,
}

/// A `decision` line: one evaluation.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Decision {
    pub schema: String,
    pub kind: LineKind,
    /// When the run started (RFC 3339, UTC): the host's clock, never the plugin's.
    pub run_started: String,
    /// The `plugin_ref` of this run's `plugin` line for the plugin that decided.
    pub plugin_ref: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub evaluation_date: String,
    /// The plugin's random seed (its wall clock is always the epoch).
    pub random_seed: u64,
    pub limits: Limits,
    /// SHA-256 of the request as JSON.
    pub input_sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Request>,
    /// SHA-256 of the output (cards or error) as JSON.
    pub output_sha256: String,
    /// The output exactly as hashed (serialised once, embedded as it is).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Box<RawValue>>,
    pub latency_ns: u64,
    /// Present when exact; otherwise `fuel_at_least` holds what was counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel_at_least: Option<u64>,
    pub peak_memory_bytes: u64,
    /// The failure cause (a trap or a limit) that stopped the evaluation, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_by: Option<Cause>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log: Vec<String>,
}

/// The output of an evaluation in the form that is logged and hashed.
#[derive(Serialize)]
struct LoggedOutput<'a> {
    status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    cards: Option<Vec<CdsCard<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Failure>,
}

/// The logged form of a result and its SHA-256 (of exactly those bytes).
pub fn output_json(result: &Result<Vec<Card>, Failure>) -> (Box<RawValue>, String) {
    let output = match result {
        Ok(cards) => LoggedOutput {
            status: Status::Ok,
            cards: Some(cards.iter().map(CdsCard::from).collect()),
            error: None,
        },
        Err(failure) => LoggedOutput {
            status: Status::Error,
            cards: None,
            error: Some(failure),
        },
    };
    let raw = serde_json::value::to_raw_value(&output).expect("an output serialises");
    let sha256 = sha256_hex(raw.get().as_bytes());
    (raw, sha256)
}

/// An output as [`output_json`] logged it, read back: the cards, or the failure.
pub fn read_output(raw: &RawValue) -> Result<Result<Vec<Card>, Failure>, String> {
    #[derive(Deserialize)]
    struct Logged {
        status: Status,
        #[serde(default)]
        cards: Option<Vec<crate::run::cards::LoggedCard>>,
        #[serde(default)]
        error: Option<Failure>,
    }
    let logged: Logged = serde_json::from_str(raw.get()).map_err(|e| e.to_string())?;
    match (logged.status, logged.cards, logged.error) {
        (Status::Ok, Some(cards), None) => Ok(Ok(cards
            .into_iter()
            .map(Card::try_from)
            .collect::<Result<_, _>>()?)),
        (Status::Error, None, Some(error)) => Ok(Err(error)),
        _ => Err("an output is either `ok` with cards or `error` with its failure".into()),
    }
}

/// SHA-256 of a request as JSON.
pub fn input_sha256(request: &Request) -> String {
    sha256_hex(&serde_json::to_vec(request).expect("a request serialises"))
}

/// Why the log cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum DecisionLogError {
    #[error("decision log {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "decision log {path}: the evaluation was run without keeping its input (EvaluationContext::keep_inputs)"
    )]
    NotKept { path: PathBuf },
    #[error("decision log {path}, line {line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// An open decision log, appended to.
pub struct DecisionLog {
    path: PathBuf,
    out: BufWriter<File>,
    omit: BTreeSet<OmittableField>,
    run_started: String,
    evaluation_date: String,
    /// The plugins this run has written a `plugin` line for; the index is the `plugin_ref`.
    plugins: Vec<DecisionPlugin>,
}

/// Opens a JSON-lines log for appending, making its directory first: the decision log and
/// `serve`'s feedback log. Append-only: earlier runs' lines are never rewritten.
pub fn open_append(path: &Path) -> std::io::Result<BufWriter<File>> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let file = OpenOptions::new().create(true).append(true).open(path)?;
    Ok(BufWriter::new(file))
}

impl DecisionLog {
    pub fn open(
        path: &Path,
        omit: BTreeSet<OmittableField>,
        evaluation_date: jiff::civil::Date,
    ) -> Result<DecisionLog, DecisionLogError> {
        let io = |source| DecisionLogError::Io {
            path: path.to_owned(),
            source,
        };
        Ok(DecisionLog {
            path: path.to_owned(),
            out: open_append(path).map_err(io)?,
            omit,
            run_started: jiff::Timestamp::now()
                .round(jiff::Unit::Second)
                .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string()),
            evaluation_date: evaluation_date.to_string(),
            plugins: Vec::new(),
        })
    }

    /// The `plugin_ref` of `plugin` in this run, writing its `plugin` line the first time.
    fn plugin_ref(&mut self, plugin: &Plugin) -> Result<u32, DecisionLogError> {
        let identity = DecisionPlugin::of(plugin);
        if let Some(i) = self.plugins.iter().position(|p| *p == identity) {
            return Ok(i as u32);
        }
        let plugin_ref = self.plugins.len() as u32;
        let line = PluginLine {
            schema: DECISION_SCHEMA.into(),
            kind: LineKind::Plugin,
            run_started: self.run_started.clone(),
            plugin_ref,
            plugin: identity.clone(),
        };
        self.write_line(&line)?;
        self.plugins.push(identity);
        Ok(plugin_ref)
    }

    fn write_line(&mut self, line: &impl Serialize) -> Result<(), DecisionLogError> {
        let io = |source| DecisionLogError::Io {
            path: self.path.clone(),
            source,
        };
        serde_json::to_writer(&mut self.out, line)
            .map_err(std::io::Error::from)
            .map_err(io)?;
        self.out.write_all(b"\n").map_err(io)
    }

    /// Appends the decision of `plugin` on one record.
    pub fn append(
        &mut self,
        plugin: &Plugin,
        record_key: &str,
        outcome: &Outcome,
    ) -> Result<(), DecisionLogError> {
        let Some(setup) = outcome.setup.as_ref() else {
            return Err(DecisionLogError::NotKept {
                path: self.path.clone(),
            });
        };
        let plugin_ref = self.plugin_ref(plugin)?;
        let keep = |field| !self.omit.contains(&field);
        let (output, output_sha256) = output_json(&outcome.result);
        let decision = Decision {
            schema: DECISION_SCHEMA.into(),
            kind: LineKind::Decision,
            run_started: self.run_started.clone(),
            plugin_ref,
            record: keep(OmittableField::Record).then(|| record_key.to_owned()),
            evaluation_date: self.evaluation_date.clone(),
            random_seed: setup.random_seed,
            limits: setup.limits.clone(),
            input_sha256: outcome.input.as_ref().map(input_sha256).unwrap_or_default(),
            input: outcome
                .input
                .clone()
                .filter(|_| keep(OmittableField::Input)),
            output_sha256,
            output: keep(OmittableField::Output).then_some(output),
            latency_ns: outcome.latency_ns,
            fuel: outcome.fuel.exact(),
            fuel_at_least: outcome.fuel.at_least(),
            peak_memory_bytes: outcome.peak_memory_bytes,
            stopped_by: outcome.result.as_ref().err().map(|f| f.cause()),
            log: if keep(OmittableField::Log) {
                outcome.log.clone()
            } else {
                Vec::new()
            },
        };
        self.write_line(&decision)
    }

    /// The log's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes what is buffered to the file (a server does after each request, so that a line
    /// is on disk when its answer leaves).
    pub fn flush(&mut self) -> Result<(), DecisionLogError> {
        self.out.flush().map_err(|source| DecisionLogError::Io {
            path: self.path.clone(),
            source,
        })
    }

    pub fn finish(mut self) -> Result<(), DecisionLogError> {
        self.out.flush().map_err(|source| DecisionLogError::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// A decision as read back, with the identity of the plugin that made it.
#[derive(Clone, Debug)]
pub struct LoggedDecision {
    /// The line of the log it was read from (1-based).
    pub line: usize,
    pub plugin: Arc<DecisionPlugin>,
    pub decision: Decision,
}

/// Reads every decision of a decision log, each with its plugin's identity.
pub fn read(path: &Path) -> Result<Vec<LoggedDecision>, DecisionLogError> {
    let file = File::open(path).map_err(|source| DecisionLogError::Io {
        path: path.to_owned(),
        source,
    })?;
    let invalid = |line: usize, message: String| DecisionLogError::Invalid {
        path: path.to_owned(),
        line,
        message,
    };
    // `plugin_ref`s are per run: a later run's `plugin` line replaces an earlier one's.
    let mut plugins: HashMap<u32, Arc<DecisionPlugin>> = HashMap::new();
    let mut decisions = Vec::new();
    for (i, text) in BufReader::new(file).lines().enumerate() {
        let line = i + 1;
        let text = text.map_err(|source| DecisionLogError::Io {
            path: path.to_owned(),
            source,
        })?;
        if text.trim().is_empty() {
            continue;
        }
        let not_a_line =
            |e: serde_json::Error| invalid(line, format!("not a decision-log line ({e})"));
        let head: LineHead = serde_json::from_str(&text).map_err(not_a_line)?;
        if head.schema != DECISION_SCHEMA {
            return Err(invalid(
                line,
                format!(
                    "schema {:?}, this livelab reads {DECISION_SCHEMA}",
                    head.schema
                ),
            ));
        }
        let Some(kind) = head.kind else {
            return Err(invalid(
                line,
                "has no `kind` (`plugin` or `decision`)".into(),
            ));
        };
        match kind {
            LineKind::Plugin => {
                let entry: PluginLine = serde_json::from_str(&text).map_err(not_a_line)?;
                plugins.insert(entry.plugin_ref, Arc::new(entry.plugin));
            }
            LineKind::Decision => {
                let plugin_ref = head.plugin_ref.unwrap_or_default();
                let Some(plugin) = plugins.get(&plugin_ref) else {
                    return Err(invalid(
                        line,
                        format!(
                            "names plugin_ref {plugin_ref}, which no earlier `plugin` line \
                             introduces (was the log cut or edited?)"
                        ),
                    ));
                };
                let decision: Decision = serde_json::from_str(&text).map_err(not_a_line)?;
                decisions.push(LoggedDecision {
                    line,
                    plugin: plugin.clone(),
                    decision,
                });
            }
        }
    }
    Ok(decisions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_output_reads_back_as_it_was_logged() {
        use crate::wit::{Action, ActionKind, CodeSystem, Coding, Indicator, Source, Suggestion};
        let card = Card {
            summary: "Metformin at eGFR 25".into(),
            detail: Some("**why**".into()),
            indicator: Indicator::Critical,
            source: Source {
                label: "NHG".into(),
                url: Some("https://richtlijnen.nhg.org".into()),
                topic: Some(Coding {
                    system: CodeSystem::Other("urn:livelab:topic".into()),
                    code: "metformin-egfr".into(),
                }),
            },
            suggestions: vec![Suggestion {
                label: "Stop".into(),
                is_recommended: true,
                actions: vec![Action {
                    kind: ActionKind::Delete,
                    description: "Stop metformin".into(),
                }],
            }],
        };
        let plain = Card {
            detail: None,
            indicator: Indicator::Info,
            suggestions: Vec::new(),
            ..card.clone()
        };
        let failure = Failure::Trap {
            trap: "unreachable".into(),
            panic: Some("boom".into()),
        };
        for result in [Ok(vec![card, plain]), Ok(vec![]), Err(failure)] {
            let (raw, _) = output_json(&result);
            assert_eq!(read_output(&raw), Ok(result), "{}", raw.get());
        }
        let odd = RawValue::from_string(r#"{"status":"ok","cards":[{"summary":"s","indicator":"loud","source":{"label":"l"}}]}"#.into()).unwrap();
        assert_eq!(read_output(&odd), Err("unknown indicator \"loud\"".into()));
    }

    fn read_text(text: &str) -> Result<Vec<LoggedDecision>, DecisionLogError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        std::fs::write(&path, text).unwrap();
        read(&path)
    }

    #[test]
    fn a_decision_without_its_plugin_line_or_of_another_schema_is_named() {
        let decision = r#"{"schema":"livelab.decision/2","kind":"decision","plugin_ref":3}"#;
        let error = read_text(&format!("\n{decision}\n"))
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("line 2: names plugin_ref 3, which no earlier `plugin` line"),
            "{error}"
        );
        let old = r#"{"schema":"livelab.decision/1","run_started":"x"}"#;
        let error = read_text(old).unwrap_err().to_string();
        assert!(
            error.contains(
                "line 1: schema \"livelab.decision/1\", this livelab reads livelab.decision/2"
            ),
            "{error}"
        );
    }
}
