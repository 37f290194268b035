//! A run: every plugin on every record, on all cores, with each record accounted for.
//!
//! Records stream from the reader to worker threads; each worker evaluates one record with
//! every plugin (each evaluation in a fresh instance) and hands the outcomes back. The
//! caller's sink sees them in record order whatever the thread timing, so two runs on the
//! same inputs write the same results file.

pub mod cards;
pub mod decision_log;
pub mod outcome;
pub mod plan;

pub use cards::CdsCard;
pub use outcome::{RecordCause, RecordOutcome, RecordProfile, Status};

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::ingest::record::Record;
use crate::ingest::terminology::MapInfo;
use crate::ingest::{IngestStats, RecordError, Unit};
use crate::plugin::{Cause, EvaluationContext, Failure, Fuel, Plugin};
use crate::sandbox::Sandbox;
use crate::wit::{Hook, Indicator};

/// Why the counts of two shards cannot be added up (they ran different plugins or trials).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct MergeError(pub String);

/// The run stopped early because the sink failed (a full disk): the error, and how many
/// records the sink had completed before it.
#[derive(Debug)]
pub struct Stopped<E> {
    pub error: E,
    pub completed: u64,
}

/// What [`run`] did: its wall time, and what reading the units counted (merged in source
/// order, so the same export always gives the same counts).
#[derive(Debug)]
pub struct Ran {
    pub wall: Duration,
    pub ingest: IngestStats,
}

/// Reads the `units` and evaluates every plugin on every record they hold, with `workers`
/// threads, calling `sink` with each record's outcomes in source order. `select` says which
/// records to evaluate, by [`place`] (a shard's; the others are read and skipped).
///
/// A worker takes a unit under the source's lock (cheap: naming a file), then reads it
/// (parsing: about as costly as evaluating it with three plugins) and evaluates its records
/// outside the lock; before issue 15 the records were parsed under the lock, and two workers
/// barely beat one.
///
/// When `sink` fails, no further unit is taken or record handed to it: the workers finish
/// the unit in hand and stop, and the error comes back with the count of completed records.
///
/// Memory stays bounded whatever the plugins return: a worker takes a unit only while it is
/// fewer than [`AHEAD_PER_WORKER`] × `workers` units ahead of the oldest one the sink has not
/// completed, so outcomes waiting to be written (each up to the output limits) never pile up
/// behind a slow sink. Before this bound, plugins whose large output the writer was slower to
/// write than the workers to produce grew the host to 4.6 GiB (issue 12, item 5).
pub fn run<E>(
    sandbox: &Sandbox,
    plugins: &[Plugin],
    units: impl Iterator<Item = Unit> + Send,
    select: impl Fn(u64) -> bool + Sync,
    ctx: &EvaluationContext,
    workers: usize,
    mut sink: impl FnMut(RecordOutcome) -> Result<(), E>,
) -> Result<Ran, Stopped<E>> {
    let start = Instant::now();
    let workers = workers.max(1);
    let window = (workers * AHEAD_PER_WORKER) as u64;
    // The units and the sequence number of the next one.
    let source = Mutex::new((units, 0u64));
    let stop = AtomicBool::new(false);
    // The number of units the sink has completed, and a signal when it moves (or stops).
    let written = (Mutex::new(0u64), Condvar::new());
    let (tx, rx) = mpsc::sync_channel::<UnitDone>(window as usize);
    let mut failed = None;
    let mut completed = 0u64;
    let mut ingest = IngestStats::default();
    let select = &select;
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let tx = tx.clone();
            let (source, stop, written) = (&source, &stop, &written);
            scope.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let mut source = source.lock().expect("unit source lock");
                    // The next unit's sequence number is the count taken so far; wait
                    // (holding the source, so no other worker takes past the window either)
                    // until it is inside the window or the run stops.
                    let (count, moved) = written;
                    let mut done = count.lock().expect("written count lock");
                    while source.1 >= *done + window && !stop.load(Ordering::Relaxed) {
                        done = moved.wait(done).expect("written count lock");
                    }
                    drop(done);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let Some(unit) = source.0.next() else { break };
                    let seq = source.1;
                    source.1 += 1;
                    drop(source);
                    let (records, stats) = unit.read();
                    let outcomes = records
                        .into_iter()
                        .enumerate()
                        .filter(|(i, _)| select(place(seq, *i)))
                        .map(|(_, item)| {
                            evaluate_record(sandbox, plugins, 0, item, &Hook::PatientView, ctx)
                        })
                        .collect();
                    if tx
                        .send(UnitDone {
                            seq,
                            outcomes,
                            stats,
                        })
                        .is_err()
                    {
                        break;
                    }
                }
            });
        }
        drop(tx);
        // Reorder: hand outcomes to the sink strictly in source order.
        let mut waiting = BTreeMap::new();
        let mut next_unit = 0u64;
        for done in rx {
            if failed.is_some() {
                continue; // drain what the workers finish after the stop
            }
            waiting.insert(done.seq, done);
            'units: while let Some(done) = waiting.remove(&next_unit) {
                ingest.merge(done.stats);
                for mut outcome in done.outcomes {
                    outcome.seq = completed;
                    if let Err(error) = sink(outcome) {
                        stop.store(true, Ordering::Relaxed);
                        failed = Some(error);
                        break 'units;
                    }
                    completed += 1;
                }
                next_unit += 1;
            }
            let (count, moved) = &written;
            *count.lock().expect("written count lock") = next_unit;
            moved.notify_all();
        }
        debug_assert!(
            failed.is_some() || waiting.is_empty(),
            "every unit reaches the sink"
        );
    });
    match failed {
        Some(error) => Err(Stopped { error, completed }),
        None => Ok(Ran {
            wall: start.elapsed(),
            ingest,
        }),
    }
}

/// The number a shard is chosen by: the record's unit's position in the source plus the
/// record's own in the unit. A Bundle file usually holds one patient and a Bulk unit one
/// patient (beside any error its unreadable Patient lines make), so in most exports this is
/// the record's position; in every export each record has exactly one place, known before
/// any unit is read, so shards by place split the records without overlap however the units
/// are spread over workers.
pub fn place(unit: u64, index: usize) -> u64 {
    unit + index as u64
}

/// One unit, read and evaluated by a worker.
struct UnitDone {
    seq: u64,
    outcomes: Vec<RecordOutcome>,
    stats: IngestStats,
}

/// How many units each worker may run ahead of the oldest record not yet written.
pub const AHEAD_PER_WORKER: usize = 4;

/// One record through every plugin, each in a fresh instance: what [`run`] does for each
/// record, for a caller that has one record at a time (a CDS Hooks service answering a
/// request, at the hook it was called for; a batch run is `patient-view`). `seq` is the
/// record's position in the caller's own order.
pub fn evaluate_record(
    sandbox: &Sandbox,
    plugins: &[Plugin],
    seq: u64,
    item: Result<Record, RecordError>,
    hook: &Hook,
    ctx: &EvaluationContext,
) -> RecordOutcome {
    match item {
        Ok(record) => RecordOutcome {
            seq,
            profile: Some(RecordProfile {
                age_years: record.patient.age_years,
                sex: record.patient.sex,
                coding: record.coding,
            }),
            evaluations: plugins
                .iter()
                .map(|plugin| plugin.evaluate_hook(sandbox, &record, hook, ctx))
                .collect(),
            coverage: plugins
                .iter()
                .map(|plugin| record.coverage(&plugin.info.data_needs))
                .collect(),
            record: Ok((record.key, record.source)),
        },
        Err(error) => RecordOutcome {
            seq,
            record: Err(error),
            evaluations: Vec::new(),
            coverage: Vec::new(),
            profile: None,
        },
    }
}

// ------------------------------------------------------------------------------------------
// results.jsonl: one line per evaluation, plus one per record that could not be read.

/// One line of `results.jsonl`.
#[derive(Debug, Serialize)]
pub struct ResultLine<'a> {
    /// The record's pseudonym (absent when the record could not be read far enough).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<&'a str>,
    pub source: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plugin_sha256: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cards: Option<Vec<CdsCard<'a>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<LineError<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instantiate_ns: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub peak_memory_bytes: Option<u64>,
    /// Present when exact; otherwise `fuel_at_least` holds what was counted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fuel_at_least: Option<u64>,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub log: &'a [String],
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum LineError<'a> {
    Evaluation {
        #[serde(flatten)]
        failure: &'a Failure,
        message: String,
    },
    Record {
        cause: RecordCause,
        message: &'a str,
    },
}

impl RecordOutcome {
    /// The results lines of this record, in plugin order.
    pub fn lines<'a>(&'a self, plugins: &'a [Plugin]) -> Vec<ResultLine<'a>> {
        let (key, source) = match &self.record {
            Ok((key, source)) => (key, source),
            Err(error) => {
                return vec![ResultLine {
                    record: error.key.as_deref(),
                    source: error.location.to_string(),
                    status: Status::RecordError,
                    plugin: None,
                    plugin_sha256: None,
                    cards: None,
                    error: Some(LineError::Record {
                        cause: RecordCause::UnreadableRecord,
                        message: &error.message,
                    }),
                    latency_ns: None,
                    instantiate_ns: None,
                    peak_memory_bytes: None,
                    fuel: None,
                    fuel_at_least: None,
                    log: &[],
                }];
            }
        };
        plugins
            .iter()
            .zip(&self.evaluations)
            .map(|(plugin, outcome)| {
                let (status, cards, error) = match &outcome.result {
                    Ok(cards) => (
                        Status::Ok,
                        Some(cards.iter().map(CdsCard::from).collect()),
                        None,
                    ),
                    Err(failure) => (
                        Status::Error,
                        None,
                        Some(LineError::Evaluation {
                            failure,
                            message: failure.to_string(),
                        }),
                    ),
                };
                ResultLine {
                    record: Some(key),
                    source: source.to_string(),
                    status,
                    plugin: Some(&plugin.info.id),
                    plugin_sha256: Some(&plugin.sha256),
                    cards,
                    error,
                    latency_ns: Some(outcome.latency_ns),
                    instantiate_ns: Some(outcome.instantiate_ns),
                    peak_memory_bytes: Some(outcome.peak_memory_bytes),
                    fuel: outcome.fuel.exact(),
                    fuel_at_least: outcome.fuel.at_least(),
                    log: &outcome.log,
                }
            })
            .collect()
    }
}

// ------------------------------------------------------------------------------------------
// summary.json

/// The schema of `summary.json`; bump on any incompatible change.
pub const SUMMARY_SCHEMA: &str = "livelab.run-summary/2";

/// Accumulates a run's summary from its record outcomes. It serialises (histograms as
/// their recorded buckets) and merges exactly, so shards of a run can be combined into the
/// summary a single run would have made.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SummaryBuilder {
    records_read: u64,
    record_errors: Vec<RecordErrorSummary>,
    plugins: Vec<PluginTally>,
    #[serde(default, with = "outcome::subgroup_keys")]
    case_mix: BTreeMap<outcome::Subgroup, u64>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
struct PluginTally {
    evaluations: u64,
    ok: u64,
    errors: BTreeMap<Cause, CauseSummary>,
    cards: CardCounts,
    patients_with_cards: u64,
    #[serde(with = "histogram_buckets")]
    latency: Histogram<u64>,
    #[serde(with = "histogram_buckets")]
    instantiate: Histogram<u64>,
    #[serde(with = "histogram_buckets")]
    peak_memory: Histogram<u64>,
    #[serde(with = "histogram_buckets")]
    fuel: Histogram<u64>,
    fuel_lower_bounds: u64,
    #[serde(default)]
    coverage: CoverageSummary,
}

/// What a plugin's declared needs could not reach, summed over a run's records (see
/// [`crate::ingest::record::Coverage`]): what a region reads to see which of its data a
/// plugin never saw.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CoverageSummary {
    /// Items of a section the plugin declares, inside its look-back, that none of its filters
    /// can reach because no coding (original or mapped) is in a system it declares: by
    /// `"<section> coded in <system>"`.
    pub unreachable: BTreeMap<String, u64>,
    /// Items the plugin was given only through a terminology map, by
    /// `"<section> <system>|<code>"` (the source's coding).
    pub through_map: BTreeMap<String, u64>,
    /// Values the plugin would have been given but that were withheld (a unit that cannot be
    /// converted, an implausible value: [`crate::ingest::units`]), by reason, with the first.
    pub withheld: BTreeMap<String, CauseSummary>,
}

impl CoverageSummary {
    fn add(&mut self, record: &crate::ingest::record::Coverage) {
        for key in &record.unreachable {
            *self.unreachable.entry(key.clone()).or_default() += 1;
        }
        for key in &record.through_map {
            *self.through_map.entry(key.clone()).or_default() += 1;
        }
        for (reason, example) in &record.withheld {
            self.withheld
                .entry(reason.clone())
                .or_insert_with(|| CauseSummary {
                    count: 0,
                    example: example.clone(),
                })
                .count += 1;
        }
    }

    fn merge(&mut self, other: CoverageSummary) {
        for (key, n) in other.unreachable {
            *self.unreachable.entry(key).or_default() += n;
        }
        for (key, n) in other.through_map {
            *self.through_map.entry(key).or_default() += n;
        }
        for (reason, seen) in other.withheld {
            self.withheld
                .entry(reason)
                .or_insert_with(|| CauseSummary {
                    count: 0,
                    example: seen.example,
                })
                .count += seen.count;
        }
    }
}

/// A histogram as `[value, count]` pairs of its non-empty buckets. Re-recording each pair
/// into a histogram of the same bounds and precision rebuilds it exactly (every value of a
/// bucket is equivalent), which is what makes merged percentiles exact.
mod histogram_buckets {
    use hdrhistogram::Histogram;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(h: &Histogram<u64>, s: S) -> Result<S::Ok, S::Error> {
        let buckets: Vec<(u64, u64)> = h
            .iter_recorded()
            .map(|v| (v.value_iterated_to(), v.count_at_value()))
            .collect();
        buckets.serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Histogram<u64>, D::Error> {
        let buckets = Vec::<(u64, u64)>::deserialize(d)?;
        let mut h = super::histogram();
        for (value, count) in buckets {
            h.record_n(value, count).map_err(serde::de::Error::custom)?;
        }
        Ok(h)
    }
}

/// Three significant digits from 1 to 2^42 (73 minutes in ns, 4 TiB in bytes).
fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 1 << 42, 3).expect("valid histogram bounds and precision")
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CardCounts {
    pub info: u64,
    pub warning: u64,
    pub critical: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CauseSummary {
    pub count: u64,
    /// The first message of this cause, so a reader sees what it looks like.
    pub example: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordErrorSummary {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    pub message: String,
}

/// Distribution of a per-evaluation measure, from an HDR histogram (3 significant digits).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
    pub mean: f64,
}

impl Distribution {
    fn of(h: &Histogram<u64>) -> Option<Distribution> {
        (!h.is_empty()).then(|| Distribution {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            max: h.max(),
            mean: (h.mean() * 10.0).round() / 10.0,
        })
    }
}

/// Which plugin ran, as summaries name it: enough to tell versions apart and to merge shards
/// without loading any component again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginIdentity {
    pub id: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub path: String,
    /// SHA-256 of the package's `plugin.toml`; absent for a bare component.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_sha256: Option<String>,
    pub signature: crate::package::signing::SignatureStatus,
    /// Whether the trial pinned the component's hash.
    pub pinned: bool,
    /// The granted read-only data directory, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_grant: Option<String>,
    /// The limits this plugin ran under (the run's, its manifest's request, the trial's
    /// per-plugin changes).
    pub limits: crate::sandbox::Limits,
    /// What the plugin declared it reads, beside age and sex: all it was given.
    pub data_needs: Vec<crate::package::manifest::ManifestDataNeed>,
}

impl PluginIdentity {
    pub fn of(plugin: &Plugin) -> PluginIdentity {
        PluginIdentity {
            id: plugin.info.id.clone(),
            name: plugin.info.name.clone(),
            version: plugin.info.version.clone(),
            sha256: plugin.sha256.clone(),
            path: plugin.path.display().to_string(),
            manifest_sha256: plugin.manifest.as_ref().map(|m| m.sha256.clone()),
            signature: plugin.signature.clone(),
            pinned: plugin.pinned,
            data_grant: plugin.data_dir.as_ref().map(|d| d.display().to_string()),
            limits: plugin.limits.clone(),
            data_needs: plugin
                .info
                .data_needs
                .iter()
                .map(crate::package::manifest::ManifestDataNeed::from_wit)
                .collect(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PluginSummary {
    #[serde(flatten)]
    pub plugin: PluginIdentity,
    pub evaluations: u64,
    pub ok: u64,
    pub errors: BTreeMap<Cause, CauseSummary>,
    pub cards: CardCounts,
    pub patients_with_cards: u64,
    /// Per evaluation: fresh instance, lowering, call, lifting and teardown, in nanoseconds.
    pub latency_ns: Option<Distribution>,
    /// The latency distribution as `[quantile, ns]` points (minimum, every 5 %, 99 %,
    /// 99.9 %, maximum), for charts.
    pub latency_cdf: Vec<(f64, u64)>,
    pub instantiate_ns: Option<Distribution>,
    pub peak_memory_bytes: Option<Distribution>,
    /// Fuel per evaluation (deterministic CPU work; about one unit per wasm instruction),
    /// of the evaluations whose fuel is exact.
    pub fuel: Option<Distribution>,
    /// Evaluations a trap stopped, whose fuel is only a lower bound (`fuel_at_least` in
    /// `results.jsonl`): left out of `fuel`.
    pub fuel_lower_bounds: u64,
    /// 1 / mean latency: what one core sustains for this plugin alone.
    pub evaluations_per_second_per_core: f64,
    /// What of the records its declared needs could not reach, and what was withheld.
    #[serde(default)]
    pub coverage: CoverageSummary,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordCounts {
    pub read: u64,
    pub evaluated: u64,
    pub errors: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    pub schema: String,
    pub livelab_version: String,
    pub evaluation_date: jiff::civil::Date,
    pub seed: u64,
    pub records_source: String,
    pub records: RecordCounts,
    pub record_errors: Vec<RecordErrorSummary>,
    pub ingest: IngestStats,
    /// The terminology maps codings were translated with.
    pub terminology: Vec<MapInfo>,
    /// True when the run admitted records that still carry direct identifiers
    /// (`--allow-identifiers`); `ingest.identified_records_admitted` says how many.
    pub identifiers_allowed: bool,
    pub limits: crate::sandbox::Limits,
    pub workers: usize,
    pub wall_ms: f64,
    /// The host process's peak resident memory, where the platform reports it (Linux).
    pub host_peak_rss_bytes: Option<u64>,
    /// All evaluations of the run divided by its wall time.
    pub evaluations_per_second: f64,
    pub plugins: Vec<PluginSummary>,
    /// The records read, by subgroup (`sex=female`, `age=40-64`, `coding=dutch`): the
    /// export's case mix, which a drift watch compares between runs. Absent in summaries
    /// written before it was kept.
    #[serde(default, with = "outcome::subgroup_keys")]
    pub case_mix: BTreeMap<outcome::Subgroup, u64>,
}

impl RunSummary {
    /// Why this run, though it completed and wrote its files, did not do what it was run for,
    /// in one line: no record could be evaluated, or records were refused because they carry
    /// direct identifiers (the export was not anonymised). A scheduled job that checks only
    /// the exit status must not read such a run as a success.
    pub fn unusable(&self) -> Option<String> {
        let refused = self.ingest.identified_records_refused;
        if refused > 0 {
            return Some(format!(
                "{refused} of {} records were refused because they carry direct identifiers; \
                 run `livelab anonymise` on the export first",
                self.records.read
            ));
        }
        (self.records.evaluated == 0).then(|| {
            format!(
                "no record could be evaluated ({} read, {} unreadable); see the record errors \
                 in summary.json",
                self.records.read, self.records.errors
            )
        })
    }
}

/// What a summary says about the run besides the outcomes.
pub struct RunFacts {
    pub evaluation_date: jiff::civil::Date,
    pub seed: u64,
    pub records_source: String,
    pub ingest: IngestStats,
    pub terminology: Vec<MapInfo>,
    pub identifiers_allowed: bool,
    pub limits: crate::sandbox::Limits,
    pub workers: usize,
    pub wall: Duration,
}

impl SummaryBuilder {
    pub fn new(plugin_count: usize) -> Self {
        SummaryBuilder {
            records_read: 0,
            record_errors: Vec::new(),
            plugins: (0..plugin_count)
                .map(|_| PluginTally {
                    evaluations: 0,
                    ok: 0,
                    errors: BTreeMap::new(),
                    cards: CardCounts::default(),
                    patients_with_cards: 0,
                    latency: histogram(),
                    instantiate: histogram(),
                    peak_memory: histogram(),
                    fuel: histogram(),
                    fuel_lower_bounds: 0,
                    coverage: CoverageSummary::default(),
                })
                .collect(),
            case_mix: BTreeMap::new(),
        }
    }

    /// Records handed to the builder so far (read, evaluated or not).
    pub fn records_read(&self) -> u64 {
        self.records_read
    }

    /// Adds another shard's tallies of the same plugins.
    pub fn merge(&mut self, other: SummaryBuilder) -> Result<(), MergeError> {
        if self.plugins.len() != other.plugins.len() {
            return Err(MergeError(format!(
                "one shard ran {} plugins, another {}",
                self.plugins.len(),
                other.plugins.len()
            )));
        }
        self.records_read += other.records_read;
        for (group, n) in other.case_mix {
            *self.case_mix.entry(group).or_default() += n;
        }
        self.record_errors.extend(other.record_errors);
        self.record_errors
            .sort_by(|a, b| (&a.source, &a.record).cmp(&(&b.source, &b.record)));
        for (mine, theirs) in self.plugins.iter_mut().zip(other.plugins) {
            mine.evaluations += theirs.evaluations;
            mine.ok += theirs.ok;
            for (cause, summary) in theirs.errors {
                let entry = mine.errors.entry(cause).or_insert(CauseSummary {
                    count: 0,
                    example: summary.example,
                });
                entry.count += summary.count;
            }
            mine.cards.info += theirs.cards.info;
            mine.cards.warning += theirs.cards.warning;
            mine.cards.critical += theirs.cards.critical;
            mine.patients_with_cards += theirs.patients_with_cards;
            mine.fuel_lower_bounds += theirs.fuel_lower_bounds;
            mine.coverage.merge(theirs.coverage);
            for (h, t) in [
                (&mut mine.latency, &theirs.latency),
                (&mut mine.instantiate, &theirs.instantiate),
                (&mut mine.peak_memory, &theirs.peak_memory),
                (&mut mine.fuel, &theirs.fuel),
            ] {
                h.add(t)
                    .map_err(|e| MergeError(format!("merging histograms: {e}")))?;
            }
        }
        Ok(())
    }

    pub fn add(&mut self, outcome: &RecordOutcome) {
        self.records_read += 1;
        if let Err(error) = &outcome.record {
            self.record_errors.push(RecordErrorSummary {
                source: error.location.to_string(),
                record: error.key.clone(),
                message: error.message.clone(),
            });
            return;
        }
        if let Some(profile) = &outcome.profile {
            for group in profile.subgroups() {
                *self.case_mix.entry(group).or_default() += 1;
            }
        }
        for (tally, coverage) in self.plugins.iter_mut().zip(&outcome.coverage) {
            tally.coverage.add(coverage);
        }
        for (tally, evaluation) in self.plugins.iter_mut().zip(&outcome.evaluations) {
            tally.evaluations += 1;
            tally.latency.saturating_record(evaluation.latency_ns);
            tally
                .instantiate
                .saturating_record(evaluation.instantiate_ns);
            tally
                .peak_memory
                .saturating_record(evaluation.peak_memory_bytes);
            match evaluation.fuel {
                Fuel::Exact(fuel) => tally.fuel.saturating_record(fuel),
                Fuel::AtLeast(_) => tally.fuel_lower_bounds += 1,
            }
            match &evaluation.result {
                Ok(cards) => {
                    tally.ok += 1;
                    if !cards.is_empty() {
                        tally.patients_with_cards += 1;
                    }
                    for card in cards {
                        match card.indicator {
                            Indicator::Info => tally.cards.info += 1,
                            Indicator::Warning => tally.cards.warning += 1,
                            Indicator::Critical => tally.cards.critical += 1,
                        }
                    }
                }
                Err(failure) => {
                    tally
                        .errors
                        .entry(failure.cause())
                        .or_insert_with(|| CauseSummary {
                            count: 0,
                            example: failure.to_string(),
                        })
                        .count += 1;
                }
            }
        }
    }

    pub fn finish(self, plugins: &[PluginIdentity], facts: RunFacts) -> RunSummary {
        let record_errors = self.record_errors.len() as u64;
        let evaluations: u64 = self.plugins.iter().map(|t| t.evaluations).sum();
        let wall_secs = facts.wall.as_secs_f64();
        RunSummary {
            schema: SUMMARY_SCHEMA.into(),
            livelab_version: env!("CARGO_PKG_VERSION").into(),
            evaluation_date: facts.evaluation_date,
            seed: facts.seed,
            records_source: facts.records_source,
            records: RecordCounts {
                read: self.records_read,
                evaluated: self.records_read - record_errors,
                errors: record_errors,
            },
            record_errors: self.record_errors,
            ingest: facts.ingest,
            terminology: facts.terminology,
            identifiers_allowed: facts.identifiers_allowed,
            limits: facts.limits,
            workers: facts.workers,
            wall_ms: (wall_secs * 1e4).round() / 10.0,
            host_peak_rss_bytes: peak_rss_bytes(),
            evaluations_per_second: if wall_secs > 0.0 {
                (evaluations as f64 / wall_secs).round()
            } else {
                0.0
            },
            plugins: plugins
                .iter()
                .zip(self.plugins)
                .map(|(plugin, tally)| {
                    let latency = Distribution::of(&tally.latency);
                    PluginSummary {
                        plugin: plugin.clone(),
                        evaluations: tally.evaluations,
                        ok: tally.ok,
                        errors: tally.errors,
                        cards: tally.cards,
                        patients_with_cards: tally.patients_with_cards,
                        evaluations_per_second_per_core: latency
                            .as_ref()
                            .filter(|d| d.mean > 0.0)
                            .map_or(0.0, |d| (1e9 / d.mean).round()),
                        latency_ns: latency,
                        latency_cdf: cdf(&tally.latency),
                        instantiate_ns: Distribution::of(&tally.instantiate),
                        peak_memory_bytes: Distribution::of(&tally.peak_memory),
                        fuel: Distribution::of(&tally.fuel),
                        fuel_lower_bounds: tally.fuel_lower_bounds,
                        coverage: tally.coverage,
                    }
                })
                .collect(),
            case_mix: self.case_mix,
        }
    }
}

/// `[quantile, value]` points of a histogram: the minimum, every 5 %, 99 %, 99.9 % and the
/// maximum.
fn cdf(h: &Histogram<u64>) -> Vec<(f64, u64)> {
    if h.is_empty() {
        return Vec::new();
    }
    let mut points = vec![(0.0, h.min())];
    points.extend((1..20).map(|i| {
        let q = f64::from(i) * 0.05;
        ((q * 100.0).round() / 100.0, h.value_at_quantile(q))
    }));
    points.extend([0.99, 0.999].map(|q| (q, h.value_at_quantile(q))));
    points.push((1.0, h.max()));
    points
}

/// The process's peak resident set size (`VmHWM`), on Linux; `None` elsewhere.
pub fn peak_rss_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}
