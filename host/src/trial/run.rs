//! A trial from file to summary, in-process: plan it from the trial file, execute it, judge
//! it against its labels, write `summary.json` (and `shard.json` for one shard of N); and
//! merge the shards of a trial into the summary one run would have made, from what the shards
//! wrote (no component is loaded again). The command line adds the report and the terminal
//! table; a test or a server calls these directly.

use std::fs::File;
use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;

use super::effectiveness::{EffectivenessCounts, LabelError, Labels, TopicSpec};
use super::execute::{ExecuteError, Judging, OpenFile, Progress, execute};
use super::{SHARD_SCHEMA, ShardState, TRIAL_SUMMARY_SCHEMA, Trial, TrialError, TrialSummary};
use crate::ingest::IngestOptions;
use crate::ingest::terminology::{Terminology, TerminologyError};
use crate::package::signing::{SigningError, TrustPolicy};
use crate::plugin::cache::ArtifactCache;
use crate::plugin::{LoadOptions, Plugin};
use crate::run::plan::{Plan, PlannedPlugin, Shard};
use crate::run::{PluginIdentity, RunFacts, SummaryBuilder};
use crate::sandbox::{LimitError, Limits};

/// How to run a trial besides what its file says.
pub struct TrialOptions<'a> {
    /// Output directory; default: the trial's `output`, else `livelab-trial-out`.
    pub out: Option<PathBuf>,
    pub shard: Option<Shard>,
    pub workers: Option<usize>,
    pub cache: ArtifactCache,
    /// Resolves `sample:<id>` plugin paths (the command line knows where it built them).
    pub samples: &'a dyn Fn(&str) -> Option<PathBuf>,
}

/// Why a trial did not run or did not complete.
#[derive(Debug, thiserror::Error)]
pub enum TrialRunError {
    #[error(transparent)]
    Trial(#[from] TrialError),
    #[error(transparent)]
    Labels(#[from] LabelError),
    #[error(transparent)]
    Trust(#[from] SigningError),
    #[error(transparent)]
    Terminology(#[from] TerminologyError),
    #[error("{path}: [limits]: {source}")]
    Limits { path: PathBuf, source: LimitError },
    #[error(transparent)]
    Execute(#[from] ExecuteError),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("reading {path}: {source} (is {dir} the output of `livelab trial --shard i/N`?)", dir = .path.parent().unwrap_or(Path::new(".")).display())]
    ShardRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a shard state: {message}")]
    ShardInvalid { path: PathBuf, message: String },
    #[error("the shards do not make one whole run: {0}")]
    ShardsIncomplete(String),
    #[error("merging {dir}: {message}")]
    ShardMismatch { dir: PathBuf, message: String },
}

/// A trial that ran.
pub struct TrialRun {
    pub out: PathBuf,
    pub summary: TrialSummary,
    pub decision_log: Option<PathBuf>,
}

impl Trial {
    /// The run's limits and the plugins of the trial with the options each is loaded under.
    pub fn planned_plugins(
        &self,
        samples: &dyn Fn(&str) -> Option<PathBuf>,
    ) -> Result<(Limits, Vec<PlannedPlugin>), TrialRunError> {
        let spec = &self.spec;
        let limits =
            Limits::default()
                .with(&spec.limits)
                .map_err(|source| TrialRunError::Limits {
                    path: self.file.clone(),
                    source,
                })?;
        let trust = Arc::new(TrustPolicy::load_or_empty(spec.trust.as_deref())?);
        let plugins = spec
            .plugins
            .iter()
            .map(|p| {
                Ok(PlannedPlugin {
                    path: self.plugin_path(p, samples)?,
                    options: LoadOptions {
                        limits: limits.clone(),
                        overrides: p.limits.clone(),
                        expected_sha256: p.sha256.clone(),
                        trust: trust.clone(),
                        allow_unsigned: spec.allow_unsigned,
                    },
                })
            })
            .collect::<Result<_, TrialError>>()?;
        Ok((limits, plugins))
    }

    /// Each loaded plugin's topic and alert threshold (in plugin order), and the comparisons
    /// as (baseline, candidate) indices; `Err` names the `[[compare]]` that cannot be paired.
    pub fn judging(
        &self,
        plugins: &[Plugin],
        labels: Option<Labels>,
    ) -> Result<Judging, TrialError> {
        let specs: Vec<Option<TopicSpec>> = self
            .spec
            .plugins
            .iter()
            .zip(plugins)
            .map(|(p, plugin)| {
                Some(TopicSpec {
                    plugin: plugin.info.id.clone(),
                    topic: p.topic.clone().unwrap_or_else(|| plugin.info.id.clone()),
                    alert_from: p.alert_from,
                })
            })
            .collect();
        let index = |id: &str| {
            plugins
                .iter()
                .position(|p| p.info.id == id)
                .ok_or_else(|| TrialError::Invalid {
                    path: self.file.clone(),
                    message: format!(
                        "[[compare]] names plugin {id:?}, but the trial's plugins are {}",
                        plugins
                            .iter()
                            .map(|p| p.info.id.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                })
        };
        let mut pairs = Vec::new();
        for c in &self.spec.comparisons {
            let (a, b) = (index(&c.baseline)?, index(&c.candidate)?);
            let topic = |i: usize| specs[i].as_ref().map(|s| s.topic.clone());
            if topic(a) != topic(b) {
                return Err(TrialError::Invalid {
                    path: self.file.clone(),
                    message: format!(
                        "[[compare]] {} against {}: they answer different topics ({:?} and {:?}); a paired comparison needs the same labels",
                        c.baseline,
                        c.candidate,
                        topic(a).unwrap_or_default(),
                        topic(b).unwrap_or_default()
                    ),
                });
            }
            pairs.push((a, b));
        }
        Ok(Judging {
            specs,
            labels,
            pairs,
        })
    }
}

/// Runs a trial: loads and verifies its plugins, evaluates its records, judges every
/// evaluation against the labels, and writes `results.jsonl`, `results.csv`, the decision log,
/// `summary.json` and, for a shard, `shard.json`.
pub fn run_trial(
    trial: &Trial,
    options: TrialOptions<'_>,
    open: OpenFile<'_>,
    progress: &dyn Progress,
) -> Result<TrialRun, TrialRunError> {
    let spec = &trial.spec;
    let out = options
        .out
        .or_else(|| spec.output.clone())
        .unwrap_or_else(|| PathBuf::from("livelab-trial-out"));
    let labels = spec.labels.as_deref().map(Labels::load).transpose()?;
    let (limits, plugins) = trial.planned_plugins(options.samples)?;
    let plan = Plan {
        records: spec.records.clone(),
        date: trial.evaluation_date,
        seed: spec.seed,
        workers: options.workers,
        ingest: IngestOptions {
            terminology: Arc::new(Terminology::load(true, &spec.terminology)?),
            allow_identifiers: spec.allow_identifiers,
            ..IngestOptions::default()
        },
        limits,
        plugins,
        cache: options.cache,
        out: out.clone(),
        decision_log: spec.decision_log.clone(),
        shard: options.shard,
        results_csv: true,
    };
    let executed = execute(
        plan,
        |plugins| trial.judging(plugins, labels),
        open,
        progress,
    )?;
    let mut info = trial.info();
    info.shards = options.shard.map(|s| s.to_string());
    let summary = TrialSummary {
        schema: TRIAL_SUMMARY_SCHEMA.into(),
        trial: info,
        run: executed.summary,
        effectiveness: executed
            .effectiveness
            .as_ref()
            .map(EffectivenessCounts::report),
        live: None,
    };
    if let Some(shard) = options.shard {
        let state = ShardState {
            schema: SHARD_SCHEMA.into(),
            shard,
            summary: summary.clone(),
            tallies: executed.tallies,
            effectiveness: executed.effectiveness,
        };
        write_json(&out.join("shard.json"), &state)?;
    }
    write_json(&out.join("summary.json"), &summary)?;
    Ok(TrialRun {
        out,
        summary,
        decision_log: executed.decision_log_path,
    })
}

/// Merges the outputs of `livelab trial --shard i/N` (all N of them) into `out`: the summary
/// one run would have made (counts add up exactly), and `results.jsonl` / `results.csv`
/// concatenated in shard order. The plugins are named from the shards' summaries.
pub fn merge(shard_dirs: &[PathBuf], out: &Path) -> Result<TrialSummary, TrialRunError> {
    let mut states = Vec::new();
    for dir in shard_dirs {
        let path = dir.join("shard.json");
        let text = std::fs::read_to_string(&path).map_err(|source| TrialRunError::ShardRead {
            path: path.clone(),
            source,
        })?;
        let state: ShardState =
            serde_json::from_str(&text).map_err(|e| TrialRunError::ShardInvalid {
                path: path.clone(),
                message: match serde_json::from_str::<serde_json::Value>(&text) {
                    Ok(v) if v["schema"] != SHARD_SCHEMA => {
                        format!("schema {}, this livelab merges {SHARD_SCHEMA}", v["schema"])
                    }
                    _ => e.to_string(),
                },
            })?;
        states.push((dir.clone(), state));
    }
    states.sort_by_key(|(_, s)| s.shard.index);
    let Some((_, first)) = states.first() else {
        return Err(TrialRunError::ShardsIncomplete("no shard given".into()));
    };
    let count = first.shard.count;
    let indices: Vec<u64> = states.iter().map(|(_, s)| s.shard.index).collect();
    if indices != (1..=count).collect::<Vec<_>>()
        || states.iter().any(|(_, s)| {
            s.shard.count != count || s.summary.trial.sha256 != first.summary.trial.sha256
        })
    {
        return Err(TrialRunError::ShardsIncomplete(format!(
            "expected shards 1..={count} of the same trial file, got {}",
            states
                .iter()
                .map(|(dir, s)| format!(
                    "{} of {} ({})",
                    s.shard,
                    s.summary.trial.file,
                    dir.display()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let identities: Vec<PluginIdentity> = first
        .summary
        .run
        .plugins
        .iter()
        .map(|p| p.plugin.clone())
        .collect();
    let mut tallies: Option<SummaryBuilder> = None;
    let mut effectiveness: Option<EffectivenessCounts> = None;
    let mut wall_ms: f64 = 0.0;
    let mut workers = 0;
    for (dir, state) in &states {
        let mismatch = |message: String| TrialRunError::ShardMismatch {
            dir: dir.clone(),
            message,
        };
        let theirs: Vec<&PluginIdentity> = state
            .summary
            .run
            .plugins
            .iter()
            .map(|p| &p.plugin)
            .collect();
        if theirs
            .iter()
            .map(|p| &p.sha256)
            .ne(identities.iter().map(|p| &p.sha256))
        {
            return Err(mismatch(
                "its plugins are not those of the first shard (ids and component hashes differ)"
                    .into(),
            ));
        }
        match &mut tallies {
            None => tallies = Some(state.tallies.clone()),
            Some(t) => t
                .merge(state.tallies.clone())
                .map_err(|e| mismatch(e.to_string()))?,
        }
        match (&mut effectiveness, &state.effectiveness) {
            (None, Some(e)) => effectiveness = Some(e.clone()),
            (Some(mine), Some(e)) => mine.merge(e.clone()).map_err(|e| mismatch(e.to_string()))?,
            _ => {}
        }
        // Shards run side by side: the merged run took as long as the slowest.
        wall_ms = wall_ms.max(state.summary.run.wall_ms);
        workers += state.summary.run.workers;
    }
    let run = &first.summary.run;
    let merged_run = tallies.expect("at least one shard").finish(
        &identities,
        RunFacts {
            evaluation_date: run.evaluation_date,
            seed: run.seed,
            records_source: run.records_source.clone(),
            ingest: run.ingest.clone(),
            terminology: run.terminology.clone(),
            identifiers_allowed: run.identifiers_allowed,
            limits: run.limits.clone(),
            workers,
            wall: std::time::Duration::from_secs_f64(wall_ms / 1e3),
        },
    );
    let mut info = first.summary.trial.clone();
    info.shards = Some(format!("merged {count} shards"));
    let summary = TrialSummary {
        schema: TRIAL_SUMMARY_SCHEMA.into(),
        trial: info,
        run: merged_run,
        effectiveness: effectiveness.as_ref().map(EffectivenessCounts::report),
        live: None,
    };
    std::fs::create_dir_all(out).map_err(|source| TrialRunError::Write {
        path: out.to_owned(),
        source,
    })?;
    for name in ["results.jsonl", "results.csv"] {
        concatenate(&states, name, &out.join(name))?;
    }
    write_json(&out.join("summary.json"), &summary)?;
    Ok(summary)
}

/// Concatenates a per-shard results file in shard order (a CSV keeps one header).
fn concatenate(
    states: &[(PathBuf, ShardState)],
    name: &str,
    to: &Path,
) -> Result<(), TrialRunError> {
    let write_error = |source| TrialRunError::Write {
        path: to.to_owned(),
        source,
    };
    let mut out = BufWriter::new(File::create(to).map_err(write_error)?);
    for (i, (dir, _)) in states.iter().enumerate() {
        let path = dir.join(name);
        let read_error = |source| TrialRunError::ShardRead {
            path: path.clone(),
            source,
        };
        let file = File::open(&path).map_err(read_error)?;
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = line.map_err(read_error)?;
            if name.ends_with(".csv") && n == 0 && i > 0 {
                continue;
            }
            writeln!(out, "{line}").map_err(write_error)?;
        }
    }
    out.flush().map_err(write_error)
}

/// Writes pretty JSON and a newline.
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<(), TrialRunError> {
    let json = serde_json::to_string_pretty(value).expect("summaries serialise");
    std::fs::write(path, json + "\n").map_err(|source| TrialRunError::Write {
        path: path.to_owned(),
        source,
    })
}
