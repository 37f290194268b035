//! What a run is asked to do, before anything runs: the records, the evaluation date, the
//! plugins with the options each is loaded under, the limits, the outputs. `livelab run` builds
//! a [`Plan`] from its flags, `livelab trial` from a trial file; a server builds one for its
//! session. Loading the plugins of a plan is here too: every refusal is collected, and nothing
//! runs unless all load.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use jiff::civil::Date;
use serde::{Deserialize, Serialize};

use super::decision_log::DecisionLogConfig;
use crate::ingest::IngestOptions;
use crate::plugin::cache::ArtifactCache;
use crate::plugin::{LoadError, LoadOptions, Plugin};
use crate::sandbox::{Limits, Sandbox, SandboxConfig};
use crate::wit::HookKind;

/// One plugin of a run, with how it must be loaded.
#[derive(Clone, Debug)]
pub struct PlannedPlugin {
    pub path: PathBuf,
    pub options: LoadOptions,
}

/// Everything a run needs.
pub struct Plan {
    pub records: PathBuf,
    /// The evaluation date as given; else the records' cohort date, else today.
    pub date: Option<Date>,
    pub seed: u64,
    /// Worker threads; `None`: one per core.
    pub workers: Option<usize>,
    pub ingest: IngestOptions,
    pub limits: Limits,
    pub plugins: Vec<PlannedPlugin>,
    pub cache: ArtifactCache,
    pub out: PathBuf,
    pub decision_log: Option<DecisionLogConfig>,
    pub shard: Option<Shard>,
    /// Also write `results.csv` (trials do; a plain run writes `results.jsonl` only).
    pub results_csv: bool,
}

impl Plan {
    /// The worker count: as planned, else one per core.
    pub fn worker_count(&self) -> usize {
        self.workers
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
            .max(1)
    }
}

/// `--shard i/N`: the i-th of N deterministic slices of the records (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Whether the record at `place` ([`crate::run::place`]: its position in most exports)
    /// belongs to this shard.
    pub fn contains(self, place: u64) -> bool {
        place % self.count == self.index - 1
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0:?} is not a shard; write i/N with 1 <= i <= N (e.g. 2/8)")]
pub struct ShardError(String);

impl std::str::FromStr for Shard {
    type Err = ShardError;
    fn from_str(s: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError(s.to_owned());
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let (index, count): (u64, u64) = (
            i.trim().parse().map_err(|_| bad())?,
            n.trim().parse().map_err(|_| bad())?,
        );
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// Where the evaluation date of a run came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DateSource {
    /// The command line or the trial file.
    Given,
    /// The `as_of` of the records' `cohort.json`.
    Cohort(PathBuf),
    /// No date anywhere: the machine's date.
    Today,
}

impl std::fmt::Display for DateSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DateSource::Given => f.write_str("given"),
            DateSource::Cohort(path) => write!(f, "as_of of {}", path.display()),
            DateSource::Today => f.write_str("today"),
        }
    }
}

/// Why a plan cannot run. Each message names the file or plugin and what to do.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error("reading {path}: {source}")]
    CohortRead {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not valid JSON: {source}")]
    CohortJson {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{path}: as_of {value:?} is not a YYYY-MM-DD date")]
    CohortDate { path: PathBuf, value: String },
    #[error("creating the wasmtime engine: {0:#}")]
    Engine(wasmtime::Error),
    #[error("{}", refusals(.0))]
    Refused(Vec<LoadError>),
    #[error("two plugins share the id `{id}`: {} and {}; results would be ambiguous", .first.display(), .second.display())]
    DuplicateId {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },
    #[error("{id} ({}) does not serve the patient-view hook that a run evaluates; it serves: {serves}", .path.display())]
    NoPatientView {
        id: String,
        path: PathBuf,
        serves: String,
    },
}

fn refusals(errors: &[LoadError]) -> String {
    match errors {
        [one] => one.to_string(),
        many => format!(
            "{} plugins were refused:\n  - {}",
            many.len(),
            many.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  - ")
        ),
    }
}

/// The evaluation date: as given, else the cohort's own date (`cohort.json` beside the
/// records), else today.
pub fn evaluation_date(
    given: Option<Date>,
    records: &Path,
) -> Result<(Date, DateSource), PlanError> {
    if let Some(date) = given {
        return Ok((date, DateSource::Given));
    }
    let path = records.join("cohort.json");
    if path.is_file() {
        let text = std::fs::read_to_string(&path).map_err(|source| PlanError::CohortRead {
            path: path.clone(),
            source,
        })?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|source| PlanError::CohortJson {
                path: path.clone(),
                source,
            })?;
        if let Some(as_of) = json.get("as_of").and_then(|v| v.as_str()) {
            let date = as_of.parse().map_err(|_| PlanError::CohortDate {
                path: path.clone(),
                value: as_of.to_owned(),
            })?;
            return Ok((date, DateSource::Cohort(path)));
        }
    }
    Ok((jiff::Zoned::now().date(), DateSource::Today))
}

/// The engine of a run with `workers` threads.
pub fn sandbox(workers: usize) -> Result<Sandbox, PlanError> {
    Sandbox::new(&SandboxConfig::new(workers)).map_err(PlanError::Engine)
}

/// Loads and verifies every plugin (in parallel, on at most [`Sandbox::instance_slots`]
/// threads: compiling is the slow part of a first run). Every refusal is reported, not just
/// the first, and nothing runs unless all load: a trial must not silently compare a subset.
/// A run evaluates records as a clinician opens them, so every plugin must serve the
/// patient-view hook.
pub fn load_plugins(
    sandbox: &Sandbox,
    cache: &ArtifactCache,
    planned: &[PlannedPlugin],
) -> Result<Vec<Plugin>, PlanError> {
    // Each load instantiates its plugin once, for `describe`: no more loads at once than the
    // pool holds instances (with one worker that is 4, fewer than a trial's plugins).
    let next = AtomicUsize::new(0);
    let mut loaded: Vec<(usize, Result<Plugin, LoadError>)> = std::thread::scope(|scope| {
        let take = || {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(p) = planned.get(i) else { break done };
                done.push((i, Plugin::load(sandbox, cache, &p.path, &p.options)));
            }
        };
        let threads = planned.len().min(sandbox.instance_slots());
        let handles: Vec<_> = (0..threads).map(|_| scope.spawn(take)).collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("plugin loading does not panic"))
            .collect()
    });
    // In the planned order, whichever thread loaded each.
    loaded.sort_by_key(|(i, _)| *i);
    let loaded = loaded.into_iter().map(|(_, result)| result);
    let (plugins, refused): (Vec<_>, Vec<_>) = loaded.partition(Result::is_ok);
    if !refused.is_empty() {
        return Err(PlanError::Refused(
            refused.into_iter().filter_map(Result::err).collect(),
        ));
    }
    let plugins: Vec<Plugin> = plugins.into_iter().filter_map(Result::ok).collect();
    for (i, plugin) in plugins.iter().enumerate() {
        if let Some(other) = plugins[..i].iter().find(|p| p.info.id == plugin.info.id) {
            return Err(PlanError::DuplicateId {
                id: plugin.info.id.clone(),
                first: other.path.clone(),
                second: plugin.path.clone(),
            });
        }
        // order-sign needs draft orders, which records do not carry.
        if !plugin.info.hooks.contains(&HookKind::PatientView) {
            return Err(PlanError::NoPatientView {
                id: plugin.info.id.clone(),
                path: plugin.path.clone(),
                serves: plugin
                    .info
                    .hooks
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(plugins)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_partition_positions() {
        let s: Shard = "2/3".parse().unwrap();
        assert_eq!(s, Shard { index: 2, count: 3 });
        assert_eq!(s.to_string(), "2/3");
        assert!(s.contains(1) && s.contains(4) && !s.contains(0) && !s.contains(2));
        for bad in ["0/3", "4/3", "x/3", "3", ""] {
            let err = bad.parse::<Shard>().unwrap_err().to_string();
            assert!(err.contains("i/N"), "{bad}: {err}");
        }
    }

    #[test]
    fn the_date_comes_from_the_cohort_when_not_given() {
        let dir = tempfile::tempdir().unwrap();
        let given: Date = "2025-01-02".parse().unwrap();
        assert_eq!(
            evaluation_date(Some(given), dir.path()).unwrap(),
            (given, DateSource::Given)
        );
        assert_eq!(
            evaluation_date(None, dir.path()).unwrap().1,
            DateSource::Today
        );
        std::fs::write(dir.path().join("cohort.json"), r#"{"as_of":"2026-11-01"}"#).unwrap();
        let (date, source) = evaluation_date(None, dir.path()).unwrap();
        assert_eq!(date.to_string(), "2026-11-01");
        assert!(matches!(source, DateSource::Cohort(_)));
        std::fs::write(dir.path().join("cohort.json"), r#"{"as_of":"1 May"}"#).unwrap();
        let err = evaluation_date(None, dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("cohort.json") && err.contains("YYYY-MM-DD"),
            "{err}"
        );
    }
}
