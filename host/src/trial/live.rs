//! A live trial judged like a batch one: the decision log of a CDS Hooks session
//! (`livelab serve`) read back into record outcomes and handed to the same
//! [`OutcomeWriter`] a batch trial uses, so the effectiveness tables, intervals, subgroups,
//! paired comparisons and `report.html` are those of a batch trial; the session's feedback
//! (accepted and overridden cards) is counted beside them.
//!
//! Which decision is judged: per patient and plugin, the **last** `patient-view` decision of
//! the log (the record as the clinician last opened it). Earlier ones are counted as
//! superseded; order-hook decisions (about draft orders, not the patient) are counted, not
//! judged. A patient some plugin of the trial never decided on is a record error naming those
//! plugins, so every patient in the log is accounted for and paired comparisons stay paired.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use jiff::civil::Date;

use super::effectiveness::{EffectivenessCounts, Labels};
use super::execute::{OpenFile, OutcomeWriter};
use super::run::{TrialRun, TrialRunError, write_json};
use super::{TRIAL_SUMMARY_SCHEMA, Trial, TrialSummary};
use crate::ingest::record::{CodingOrigin, Position, SourceLocation};
use crate::ingest::terminology::Terminology;
use crate::ingest::{IngestStats, RecordError};
use crate::plugin::cache::ArtifactCache;
use crate::plugin::{Failure, Fuel, Outcome, Plugin};
use crate::run::decision_log::{self, DecisionLogError, LoggedDecision, read_output};
use crate::run::outcome::{RecordOutcome, RecordProfile};
use crate::run::plan::{load_plugins, sandbox};
use crate::run::{PluginIdentity, RunFacts};
use crate::wit::{Card, Hook, Patient};

pub use super::session::{FeedbackTally, LivePlugin, LiveSummary};

/// Where a live trial's inputs are.
pub struct LiveOptions<'a> {
    /// The session's decision log.
    pub decisions: PathBuf,
    /// The session's feedback, counted by plugin SHA-256, and the file it came from.
    pub feedback: Option<(PathBuf, HashMap<String, FeedbackTally>)>,
    pub out: Option<PathBuf>,
    pub cache: ArtifactCache,
    pub samples: &'a dyn Fn(&str) -> Option<PathBuf>,
}

/// Why a decision log cannot be judged.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Run(#[from] TrialRunError),
    #[error(transparent)]
    DecisionLog(#[from] DecisionLogError),
    #[error(
        "{path}:{line}: the decision was made by plugin {id} {version} (sha256 {sha256}), which is not one of the trial's plugins; judge a session's log with the trial file it was served from"
    )]
    UnknownPlugin {
        path: PathBuf,
        line: usize,
        id: String,
        version: String,
        sha256: String,
    },
    #[error(
        "{path}:{line}: the decision log omits `{field}` (the trial's decision_log.omit); a live trial needs the record, input and output of every decision"
    )]
    Omitted {
        path: PathBuf,
        line: usize,
        field: &'static str,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{path}: holds no decisions")]
    Empty { path: PathBuf },
}

/// A patient's judged decisions, one per plugin, and their profile.
struct Patient1 {
    key: String,
    /// The line of the patient's first decision (where the record is named).
    line: usize,
    last: Vec<Option<Judged>>,
}

/// A decision and its output read back.
#[derive(Clone)]
struct Judged {
    logged: LoggedDecision,
    result: Result<Vec<Card>, Failure>,
}

/// Judges the decision log of a `serve` session of `trial` against the trial's labels:
/// writes `results.jsonl`, `results.csv` and `summary.json` (with [`LiveSummary`]) in the
/// output directory, as `livelab trial` does.
pub fn judge_session(
    trial: &Trial,
    options: LiveOptions<'_>,
    open: OpenFile<'_>,
) -> Result<TrialRun, LiveError> {
    let started = Instant::now();
    let spec = &trial.spec;
    let out = options
        .out
        .clone()
        .or_else(|| spec.output.clone())
        .unwrap_or_else(|| PathBuf::from("livelab-trial-out"));
    let labels = spec
        .labels
        .as_deref()
        .map(Labels::load)
        .transpose()
        .map_err(TrialRunError::from)?;
    let (limits, planned) = trial.planned_plugins(options.samples)?;
    let sandbox = sandbox(1).map_err(|e| TrialRunError::Execute(e.into()))?;
    let plugins = load_plugins(&sandbox, &options.cache, &planned)
        .map_err(|e| TrialRunError::Execute(e.into()))?;
    let judging = trial
        .judging(&plugins, labels)
        .map_err(TrialRunError::from)?;
    let path = &options.decisions;
    let decisions = decision_log::read(path)?;
    let (first, last) = match (decisions.first(), decisions.last()) {
        (Some(first), Some(last)) => (first, last),
        _ => return Err(LiveError::Empty { path: path.clone() }),
    };
    let date = |d: &LoggedDecision| {
        d.decision
            .evaluation_date
            .parse::<Date>()
            .map_err(|e| LiveError::Invalid {
                path: path.clone(),
                line: d.line,
                message: format!("evaluation_date is not a date ({e})"),
            })
    };
    let (first_date, last_date) = (date(first)?, date(last)?);

    let mut live: Vec<LivePlugin> = plugins
        .iter()
        .map(|p| LivePlugin {
            plugin: p.info.id.clone(),
            sha256: p.sha256.clone(),
            cards_issued: 0,
            feedback: options
                .feedback
                .as_ref()
                .and_then(|(_, tallies)| tallies.get(&p.sha256).cloned())
                .unwrap_or_default(),
        })
        .collect();
    let mut patients: Vec<Patient1> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let (mut superseded, mut order_decisions) = (0, 0);
    for logged in decisions.iter() {
        let omitted = |field| LiveError::Omitted {
            path: path.clone(),
            line: logged.line,
            field,
        };
        let index = plugins
            .iter()
            .position(|p| p.sha256 == logged.plugin.sha256)
            .ok_or_else(|| LiveError::UnknownPlugin {
                path: path.clone(),
                line: logged.line,
                id: logged.plugin.id.clone(),
                version: logged.plugin.version.clone(),
                sha256: logged.plugin.sha256.clone(),
            })?;
        let decision = &logged.decision;
        let key = decision.record.as_ref().ok_or_else(|| omitted("record"))?;
        let input = decision.input.as_ref().ok_or_else(|| omitted("input"))?;
        let output = decision.output.as_ref().ok_or_else(|| omitted("output"))?;
        let result = read_output(output).map_err(|message| LiveError::Invalid {
            path: path.clone(),
            line: logged.line,
            message: format!("output: {message}"),
        })?;
        live[index].cards_issued += result.as_ref().map_or(0, |cards| cards.len() as u64);
        if input.hook != Hook::PatientView {
            order_decisions += 1;
            continue;
        }
        let at = *by_key.entry(key.clone()).or_insert_with(|| {
            patients.push(Patient1 {
                key: key.clone(),
                line: logged.line,
                last: vec![None; plugins.len()],
            });
            patients.len() - 1
        });
        let judged = Judged {
            logged: logged.clone(),
            result,
        };
        if patients[at].last[index].replace(judged).is_some() {
            superseded += 1;
        }
    }

    let mut writer = OutcomeWriter::create(
        &out_dir(&out)?,
        &plugins,
        judging,
        true,
        None,
        last_date,
        open,
    )
    .map_err(TrialRunError::from)?;
    for (seq, patient) in patients.iter().enumerate() {
        let outcome = record_outcome(seq as u64, patient, &plugins, path);
        writer
            .write(&outcome)
            .map_err(|failure| TrialRunError::Execute(failure.stopped_after(seq as u64)))?;
    }
    let written = writer.finish().map_err(TrialRunError::from)?;
    let identities: Vec<PluginIdentity> = plugins.iter().map(PluginIdentity::of).collect();
    let run = written.tallies.clone().finish(
        &identities,
        RunFacts {
            evaluation_date: last_date,
            seed: spec.seed,
            records_source: path.display().to_string(),
            ingest: IngestStats::default(),
            terminology: Terminology::load(true, &spec.terminology)
                .map_err(TrialRunError::from)?
                .maps()
                .to_vec(),
            identifiers_allowed: spec.allow_identifiers,
            limits,
            workers: 1,
            wall: started.elapsed(),
        },
    );
    let summary = TrialSummary {
        schema: TRIAL_SUMMARY_SCHEMA.into(),
        trial: trial.info(),
        run,
        effectiveness: written
            .effectiveness
            .as_ref()
            .map(EffectivenessCounts::report),
        live: Some(LiveSummary {
            decision_log: path.display().to_string(),
            feedback_log: options
                .feedback
                .as_ref()
                .map(|(p, _)| p.display().to_string()),
            decisions: decisions.len() as u64,
            superseded,
            order_decisions,
            first_date,
            last_date,
            plugins: live,
        }),
    };
    write_json(&out.join("summary.json"), &summary)?;
    Ok(TrialRun {
        out,
        summary,
        decision_log: None,
    })
}

fn out_dir(out: &Path) -> Result<PathBuf, TrialRunError> {
    std::fs::create_dir_all(out).map_err(|source| TrialRunError::Write {
        path: out.to_owned(),
        source,
    })?;
    Ok(out.to_owned())
}

/// A patient's judged decisions as the record outcome a batch run would have made. What the
/// log does not hold is left out: coverage, instantiation time, and the coding origin of the
/// parts of the record no plugin was given (the origin is that of what the plugins saw).
fn record_outcome(seq: u64, patient: &Patient1, plugins: &[Plugin], path: &Path) -> RecordOutcome {
    let location = SourceLocation {
        file: path.to_owned(),
        position: Some(Position::Line(patient.line)),
    };
    let missing: Vec<&str> = plugins
        .iter()
        .zip(&patient.last)
        .filter(|(_, d)| d.is_none())
        .map(|(p, _)| p.info.id.as_str())
        .collect();
    if !missing.is_empty() {
        return RecordOutcome {
            seq,
            record: Err(RecordError {
                location,
                key: Some(patient.key.clone()),
                message: format!(
                    "no patient-view decision of {} for this patient in the session (the clinical system did not call those services), so the patient is not judged",
                    missing.join(", ")
                ),
            }),
            evaluations: Vec::new(),
            coverage: Vec::new(),
            profile: None,
        };
    }
    let decisions: Vec<&Judged> = patient.last.iter().flatten().collect();
    let inputs: Vec<&Patient> = decisions
        .iter()
        .filter_map(|d| d.logged.decision.input.as_ref().map(|i| &i.patient))
        .collect();
    let coding = inputs.iter().fold(CodingOrigin::None, |origin, p| {
        let concepts = (p.conditions.iter().map(|c| &c.code[..]))
            .chain(p.observations.iter().map(|o| &o.code[..]))
            .chain(p.medications.iter().map(|m| &m.code[..]))
            .chain(p.allergies.iter().map(|a| &a.code[..]));
        concepts.fold(origin, |origin, concept| origin.with(concept))
    });
    let profile = inputs.first().map(|p| RecordProfile {
        age_years: p.age_years,
        sex: p.sex,
        coding,
    });
    RecordOutcome {
        seq,
        record: Ok((patient.key.clone(), location)),
        evaluations: decisions
            .iter()
            .map(|judged| {
                let d = &judged.logged.decision;
                Outcome {
                    result: judged.result.clone(),
                    latency_ns: d.latency_ns,
                    instantiate_ns: 0,
                    peak_memory_bytes: d.peak_memory_bytes,
                    fuel: match (d.fuel, d.fuel_at_least) {
                        (Some(fuel), _) => Fuel::Exact(fuel),
                        (None, at_least) => Fuel::AtLeast(at_least.unwrap_or_default()),
                    },
                    log: d.log.clone(),
                    input: None,
                    setup: None,
                }
            })
            .collect(),
        coverage: vec![Default::default(); plugins.len()],
        profile,
    }
}
