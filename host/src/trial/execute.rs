//! Executing a plan: load the plugins, stream the records through the sandbox, and hand every
//! record's outcome to the one [`OutcomeWriter`], which judges each evaluation once (alert,
//! label, subgroups) and writes `results.jsonl`, `results.csv`, the decision log, the run's
//! tallies and the effectiveness counts from that one judgement. `livelab run` is this with
//! no labels and no CSV; `livelab trial` adds them; a server calls the same writer per record.
//!
//! A write error (a full disk) stops the run at once: no further record is read, and the
//! error names the file and how many records were completed.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::Serialize;

use super::effectiveness::{
    EffectivenessBuilder, EffectivenessCounts, Judgement, Labels, TopicSpec,
};
use crate::ingest::record::CodingOrigin;
use crate::ingest::{RecordReader, SourceError, SourceFormat};
use crate::plugin::{Cause, EvaluationContext, Plugin};
use crate::run::decision_log::{DecisionLog, DecisionLogError};
use crate::run::outcome::{AgeBand, RecordCause, RecordOutcome, SexGroup, Status};
use crate::run::plan::{DateSource, Plan, PlanError, evaluation_date, load_plugins, sandbox};
use crate::run::{PluginIdentity, RunFacts, RunSummary, Stopped, SummaryBuilder};
use crate::wit::Indicator;

/// What a run judges its evaluations against: each plugin's topic (in plugin order, `None`
/// for a plugin that answers none), the reference labels, and the paired comparisons as
/// (baseline, candidate) plugin indices.
#[derive(Clone, Debug, Default)]
pub struct Judging {
    pub specs: Vec<Option<TopicSpec>>,
    pub labels: Option<Labels>,
    pub pairs: Vec<(usize, usize)>,
}

/// What a run tells whoever watches it (the command line draws a progress bar). Every method
/// has a default that does nothing.
pub trait Progress: Sync {
    /// Every plugin loaded and verified, before any record is read.
    fn loaded(&self, _plugins: &[Plugin]) {}
    /// The records are open and the run begins.
    fn started(&self, _start: &RunStart<'_>) {}
    /// One more record was written.
    fn record_done(&self, _format: SourceFormat) {}
    /// The run is over (written or stopped).
    fn finished(&self) {}
}

/// A [`Progress`] that shows nothing.
pub struct Quiet;
impl Progress for Quiet {}

/// What a run starts with, for [`Progress::started`].
pub struct RunStart<'a> {
    pub plugins: usize,
    pub records: &'a Path,
    pub format: SourceFormat,
    pub files: usize,
    pub date: Date,
    pub date_source: &'a DateSource,
    pub workers: usize,
}

/// How the output files are opened: the real file system, or (in tests) a writer that fails.
pub type OpenFile<'a> = &'a (dyn Fn(&Path) -> io::Result<Box<dyn Write + Send>> + Sync);

/// Creates (truncates) the file, buffered.
pub fn create_file(path: &Path) -> io::Result<Box<dyn Write + Send>> {
    Ok(Box::new(BufWriter::new(File::create(path)?)))
}

/// Why a run did not complete. Each message names the file or plugin.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Judging(#[from] super::TrialError),
    #[error("creating {path}: {source}")]
    Create { path: PathBuf, source: io::Error },
    #[error(transparent)]
    DecisionLog(#[from] DecisionLogError),
    #[error(
        "writing {path}: {source}; the run stopped after {completed} record(s) were written completely (the outputs may hold part of the next); free space or choose another --out and run again"
    )]
    Write {
        path: PathBuf,
        completed: u64,
        source: io::Error,
    },
}

/// What a completed run produced.
pub struct Executed {
    pub summary: RunSummary,
    /// The counts the summary was made from, for merging shards.
    pub tallies: SummaryBuilder,
    pub effectiveness: Option<EffectivenessCounts>,
    pub results_path: PathBuf,
    pub csv_path: Option<PathBuf>,
    pub decision_log_path: Option<PathBuf>,
}

/// Runs the plan. `judging` is called once the plugins are loaded (before any record is
/// read) and says what to judge their evaluations against.
pub fn execute(
    plan: Plan,
    judging: impl FnOnce(&[Plugin]) -> Result<Judging, super::TrialError>,
    open: OpenFile<'_>,
    progress: &dyn Progress,
) -> Result<Executed, ExecuteError> {
    let (date, date_source) = evaluation_date(plan.date, &plan.records)?;
    let workers = plan.worker_count();
    let sandbox = sandbox(workers)?;
    let plugins = load_plugins(&sandbox, &plan.cache, &plan.plugins)?;
    progress.loaded(&plugins);
    let judging = judging(&plugins)?;
    let terminology = plan.ingest.terminology.maps().to_vec();
    let identifiers_allowed = plan.ingest.allow_identifiers;
    let mut reader = RecordReader::open_with(&plan.records, date, plan.ingest)?;
    let format = reader.format();
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: plan.seed,
        keep_inputs: plan.decision_log.is_some(),
    };
    let out = &plan.out;
    std::fs::create_dir_all(out).map_err(|source| ExecuteError::Create {
        path: out.clone(),
        source,
    })?;
    let mut writer = OutcomeWriter::create(
        out,
        &plugins,
        judging,
        plan.results_csv,
        plan.decision_log
            .as_ref()
            .map(|config| (out.join(&config.path), config)),
        date,
        open,
    )?;
    progress.started(&RunStart {
        plugins: plugins.len(),
        records: &plan.records,
        format,
        files: reader.file_count(),
        date,
        date_source: &date_source,
        workers,
    });
    // A shard evaluates every N-th record (by place in the source); the others are read
    // but not evaluated, so each record lands in exactly one shard.
    let shard = plan.shard;
    let select = move |place: u64| shard.is_none_or(|s| s.contains(place));
    let units = std::iter::from_fn(|| reader.next_unit());
    let ran = crate::run::run(
        &sandbox,
        &plugins,
        units,
        select,
        &ctx,
        workers,
        |outcome| {
            writer.write(&outcome)?;
            progress.record_done(format);
            Ok(())
        },
    );
    progress.finished();
    let ran = ran.map_err(|Stopped { error, completed }: Stopped<WriteFailure>| {
        error.stopped_after(completed)
    })?;
    let mut ingest = reader.stats().clone();
    ingest.merge(ran.ingest);
    let written = writer.finish()?;
    let identities: Vec<PluginIdentity> = plugins.iter().map(PluginIdentity::of).collect();
    let summary = written.tallies.clone().finish(
        &identities,
        RunFacts {
            evaluation_date: date,
            seed: plan.seed,
            records_source: plan.records.display().to_string(),
            ingest,
            terminology,
            identifiers_allowed,
            limits: plan.limits.clone(),
            workers,
            wall: ran.wall,
        },
    );
    Ok(Executed {
        summary,
        tallies: written.tallies,
        effectiveness: written.effectiveness,
        results_path: written.results_path,
        csv_path: written.csv_path,
        decision_log_path: written.decision_log_path,
    })
}

/// A write that failed, before the count of completed records is known.
#[derive(Debug)]
pub struct WriteFailure {
    path: PathBuf,
    source: io::Error,
}

impl WriteFailure {
    pub fn stopped_after(self, completed: u64) -> ExecuteError {
        ExecuteError::Write {
            path: self.path,
            completed,
            source: self.source,
        }
    }
}

/// A file being written, with its name for errors.
struct Named<W> {
    path: PathBuf,
    out: W,
}

impl<W> Named<W> {
    fn fail(&self, source: impl Into<io::Error>) -> WriteFailure {
        WriteFailure {
            path: self.path.clone(),
            source: source.into(),
        }
    }
}

/// The one writer of a run's outcomes.
pub struct OutcomeWriter<'p> {
    plugins: &'p [Plugin],
    specs: Vec<Option<TopicSpec>>,
    labels: Option<Labels>,
    effectiveness: Option<EffectivenessBuilder>,
    results: Named<Box<dyn Write + Send>>,
    csv: Option<Named<csv::Writer<Box<dyn Write + Send>>>>,
    decision_log: Option<DecisionLog>,
    tallies: SummaryBuilder,
}

/// What the writer leaves when it is done.
pub struct Written {
    pub tallies: SummaryBuilder,
    pub effectiveness: Option<EffectivenessCounts>,
    pub results_path: PathBuf,
    pub csv_path: Option<PathBuf>,
    pub decision_log_path: Option<PathBuf>,
}

impl<'p> OutcomeWriter<'p> {
    /// Opens the outputs in `out`: `results.jsonl`, and `results.csv` when asked, and the
    /// decision log (appended to) when configured.
    pub fn create(
        out: &Path,
        plugins: &'p [Plugin],
        judging: Judging,
        results_csv: bool,
        decision_log: Option<(PathBuf, &crate::run::decision_log::DecisionLogConfig)>,
        evaluation_date: Date,
        open: OpenFile<'_>,
    ) -> Result<OutcomeWriter<'p>, ExecuteError> {
        let create = |name: &str| {
            let path = out.join(name);
            match open(&path) {
                Ok(out) => Ok(Named { path, out }),
                Err(source) => Err(ExecuteError::Create { path, source }),
            }
        };
        let results = create("results.jsonl")?;
        let csv = match results_csv {
            true => {
                let file = create("results.csv")?;
                let mut writer = csv::WriterBuilder::new()
                    .has_headers(false)
                    .from_writer(file.out);
                writer
                    .write_record(CsvRow::HEADER)
                    .map_err(|e| ExecuteError::Create {
                        path: file.path.clone(),
                        source: e.into(),
                    })?;
                Some(Named {
                    path: file.path,
                    out: writer,
                })
            }
            false => None,
        };
        let decision_log = match decision_log {
            Some((path, config)) => Some(DecisionLog::open(
                &path,
                config.omit.clone(),
                evaluation_date,
            )?),
            None => None,
        };
        let mut specs = judging.specs;
        specs.resize(plugins.len(), None);
        let effectiveness = judging
            .labels
            .as_ref()
            .map(|labels| EffectivenessBuilder::new(labels, specs.clone(), judging.pairs));
        Ok(OutcomeWriter {
            plugins,
            specs,
            labels: judging.labels,
            effectiveness,
            results,
            csv,
            decision_log,
            tallies: SummaryBuilder::new(plugins.len()),
        })
    }

    /// Writes one record's outcome everywhere it goes.
    pub fn write(&mut self, outcome: &RecordOutcome) -> Result<(), WriteFailure> {
        self.tallies.add(outcome);
        for line in outcome.lines(self.plugins) {
            serde_json::to_writer(&mut self.results.out, &line)
                .map_err(|e| self.results.fail(e))?;
            self.results
                .out
                .write_all(b"\n")
                .map_err(|e| self.results.fail(e))?;
        }
        let (key, source) = match &outcome.record {
            Ok(read) => read,
            Err(error) => {
                if let Some(csv) = &mut self.csv {
                    let row = CsvRow {
                        record: error.key.as_deref().unwrap_or_default(),
                        source: error.location.to_string(),
                        status: Status::RecordError,
                        cause: Some(CsvCause::Record(RecordCause::UnreadableRecord)),
                        message: &error.message,
                        ..CsvRow::default()
                    };
                    csv.out.serialize(row).map_err(|e| csv.fail(e))?;
                }
                return Ok(());
            }
        };
        let judged: Vec<Judgement> = self
            .specs
            .iter()
            .zip(&outcome.evaluations)
            .map(|(spec, e)| Judgement::of(spec.as_ref(), self.labels.as_ref(), key, &e.result))
            .collect();
        let groups = outcome.profile.as_ref().map(|p| p.subgroups());
        if let (Some(builder), Some(groups)) = (&mut self.effectiveness, &groups) {
            builder.add(key, source, groups, &judged);
        }
        if let Some(csv) = &mut self.csv {
            let source = source.to_string();
            let profile = outcome.profile.as_ref();
            for (((plugin, evaluation), spec), judgement) in self
                .plugins
                .iter()
                .zip(&outcome.evaluations)
                .zip(&self.specs)
                .zip(&judged)
            {
                let count = |indicator| match &evaluation.result {
                    Ok(cards) => cards.iter().filter(|c| c.indicator == indicator).count(),
                    Err(_) => 0,
                };
                let message = match &evaluation.result {
                    Ok(_) => String::new(),
                    Err(failure) => failure.to_string(),
                };
                let row = CsvRow {
                    record: key,
                    source: source.clone(),
                    sex: profile.map(|p| p.sex.into()),
                    age_band: profile.map(|p| AgeBand::of(p.age_years)),
                    coding: profile.map(|p| p.coding),
                    plugin: &plugin.info.id,
                    plugin_sha256: &plugin.sha256,
                    status: match evaluation.result {
                        Ok(_) => Status::Ok,
                        Err(_) => Status::Error,
                    },
                    cause: evaluation
                        .result
                        .as_ref()
                        .err()
                        .map(|f| CsvCause::Evaluation(f.cause())),
                    cards: evaluation.result.as_ref().ok().map(Vec::len),
                    info: Some(count(Indicator::Info)),
                    warning: Some(count(Indicator::Warning)),
                    critical: Some(count(Indicator::Critical)),
                    topic: spec.as_ref().map(|s| s.topic.as_str()),
                    alert: judgement.alert.map(u8::from),
                    label: judgement.label.map(u8::from),
                    latency_ns: Some(evaluation.latency_ns),
                    instantiate_ns: Some(evaluation.instantiate_ns),
                    // Empty when only a lower bound is known (results.jsonl has it).
                    fuel: evaluation.fuel.exact(),
                    peak_memory_bytes: Some(evaluation.peak_memory_bytes),
                    message: &message,
                };
                csv.out.serialize(row).map_err(|e| csv.fail(e))?;
            }
        }
        if let Some(log) = &mut self.decision_log {
            for (plugin, evaluation) in self.plugins.iter().zip(&outcome.evaluations) {
                log.append(plugin, key, evaluation).map_err(|e| match e {
                    DecisionLogError::Io { path, source } => WriteFailure { path, source },
                    other => WriteFailure {
                        path: log.path().to_owned(),
                        source: io::Error::other(other.to_string()),
                    },
                })?;
            }
        }
        Ok(())
    }

    /// Flushes every output.
    pub fn finish(mut self) -> Result<Written, ExecuteError> {
        let completed = self.tallies.records_read();
        let results_path = self.results.path.clone();
        self.results
            .out
            .flush()
            .map_err(|e| self.results.fail(e).stopped_after(completed))?;
        let csv_path = match &mut self.csv {
            Some(csv) => {
                csv.out
                    .flush()
                    .map_err(|e| csv.fail(e).stopped_after(completed))?;
                Some(csv.path.clone())
            }
            None => None,
        };
        let decision_log_path = match self.decision_log {
            Some(log) => {
                let path = log.path().to_owned();
                log.finish()?;
                Some(path)
            }
            None => None,
        };
        Ok(Written {
            tallies: self.tallies,
            effectiveness: self.effectiveness.map(EffectivenessBuilder::finish),
            results_path,
            csv_path,
            decision_log_path,
        })
    }
}

/// A failure's cause or a record's, in the `cause` column.
#[derive(Clone, Copy, Debug, Serialize)]
#[serde(untagged)]
enum CsvCause {
    Evaluation(Cause),
    Record(RecordCause),
}

/// One row of `results.csv`: one per evaluation, and one per record that could not be read.
/// Empty cells are values that do not apply (no label, no topic, an unreadable record).
#[derive(Debug, Default, Serialize)]
struct CsvRow<'a> {
    record: &'a str,
    source: String,
    sex: Option<SexGroup>,
    age_band: Option<AgeBand>,
    coding: Option<CodingOrigin>,
    plugin: &'a str,
    plugin_sha256: &'a str,
    status: Status,
    cause: Option<CsvCause>,
    cards: Option<usize>,
    info: Option<usize>,
    warning: Option<usize>,
    critical: Option<usize>,
    topic: Option<&'a str>,
    alert: Option<u8>,
    label: Option<u8>,
    latency_ns: Option<u64>,
    instantiate_ns: Option<u64>,
    fuel: Option<u64>,
    peak_memory_bytes: Option<u64>,
    message: &'a str,
}

impl CsvRow<'_> {
    /// The header, written first even when no row follows; a test checks it against the
    /// field names serde writes.
    const HEADER: [&'static str; 21] = [
        "record",
        "source",
        "sex",
        "age_band",
        "coding",
        "plugin",
        "plugin_sha256",
        "status",
        "cause",
        "cards",
        "info",
        "warning",
        "critical",
        "topic",
        "alert",
        "label",
        "latency_ns",
        "instantiate_ns",
        "fuel",
        "peak_memory_bytes",
        "message",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_csv_header_is_the_rows_field_names() {
        let mut writer = csv::Writer::from_writer(Vec::new());
        writer.serialize(CsvRow::default()).unwrap();
        let text = String::from_utf8(writer.into_inner().unwrap()).unwrap();
        assert_eq!(text.lines().next().unwrap(), CsvRow::HEADER.join(","));
    }
}
