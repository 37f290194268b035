//! What `livelab run` and `livelab trial` share: load and verify every plugin, stream the
//! records through the sandbox, and write `results.jsonl`, `summary.json` and the decision
//! log. A `run` is a trial without a trial file.

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::Date;
use livelab_host::decision_log::{DecisionLog, DecisionLogConfig};
use livelab_host::fhir::{IngestOptions, SourceFormat};
use livelab_host::run::{RecordOutcome, RunFacts, RunSummary, SummaryBuilder};
use livelab_host::{
    ArtifactCache, EvaluationContext, Limits, LoadOptions, Plugin, RecordReader, Sandbox,
    SandboxConfig,
};

/// One plugin of a run, with how it must be loaded.
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
    pub workers: Option<usize>,
    pub ingest: IngestOptions,
    pub limits: Limits,
    pub plugins: Vec<PlannedPlugin>,
    pub cache: ArtifactCache,
    pub out: PathBuf,
    pub decision_log: Option<DecisionLogConfig>,
    pub shard: Option<Shard>,
}

/// `--shard i/N`: the i-th of N deterministic slices of the records (1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    fn contains(self, position: u64) -> bool {
        position % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Shard, String> {
        let bad = || format!("{s:?} is not a shard; write i/N with 1 <= i <= N (e.g. 2/8)");
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

pub struct Executed {
    pub summary: RunSummary,
    /// The counts the summary was made from, for merging shards.
    pub tallies: SummaryBuilder,
    pub results_path: PathBuf,
    pub decision_log_path: Option<PathBuf>,
}

pub fn sandbox(workers: usize) -> anyhow::Result<Sandbox> {
    Sandbox::new(&SandboxConfig::new(workers))
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")
}

/// Loads and verifies every plugin (in parallel: compiling is the slow part of a first
/// run). Every refusal is reported, not just the first, and nothing runs unless all load:
/// a trial must not silently compare a subset.
pub fn load_plugins(
    sandbox: &Sandbox,
    cache: &ArtifactCache,
    planned: &[PlannedPlugin],
) -> anyhow::Result<Vec<Plugin>> {
    let loaded: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = planned
            .iter()
            .map(|p| scope.spawn(|| Plugin::load(sandbox, cache, &p.path, &p.options)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("plugin loading does not panic"))
            .collect()
    });
    let mut plugins = Vec::new();
    let mut refusals = Vec::new();
    for result in loaded {
        match result {
            Ok(plugin) => {
                announce_compilation(&plugin, cache);
                plugins.push(plugin);
            }
            Err(e) => refusals.push(e.to_string()),
        }
    }
    match refusals.len() {
        0 => {}
        1 => bail!("{}", refusals[0]),
        n => bail!("{n} plugins were refused:\n  - {}", refusals.join("\n  - ")),
    }
    for (i, plugin) in plugins.iter().enumerate() {
        if let Some(other) = plugins[..i].iter().find(|p| p.info.id == plugin.info.id) {
            bail!(
                "two plugins share the id `{}`: {} and {}; results would be ambiguous",
                plugin.info.id,
                other.path.display(),
                plugin.path.display()
            );
        }
        // A run opens each patient's record: the patient-view hook. (order-sign needs
        // draft orders, which records do not carry.)
        if !plugin
            .info
            .hooks
            .contains(&livelab_host::wit::HookKind::PatientView)
        {
            bail!(
                "{} ({}) does not serve the patient-view hook that a run evaluates; it serves: {}",
                plugin.info.id,
                plugin.path.display(),
                plugin
                    .info
                    .hooks
                    .iter()
                    .map(|h| h.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        }
    }
    Ok(plugins)
}

/// The precompiled-artifact cache in `dir` (`None`: compile every time), announcing each
/// compilation of a large component before it starts.
pub fn cache(dir: Option<PathBuf>) -> ArtifactCache {
    ArtifactCache::new(dir).announcing(|bytes, sha256| {
        // Rust components compile in milliseconds; JavaScript and Python ones embed their
        // runtime (10–20 MB) and take seconds.
        if bytes >= 1 << 20 {
            eprintln!(
                "livelab: compiling component {} ({:.1} MB) for its first use; this takes a few seconds, and later runs load it from the cache",
                &sha256[..12],
                bytes as f64 / 1e6
            );
        }
    })
}

/// Says so when a plugin had to be compiled (seconds for JavaScript or Python components),
/// and why the next run will be faster.
pub fn announce_compilation(plugin: &Plugin, cache: &ArtifactCache) {
    if let livelab_host::cache::Obtained::Compiled(took) = plugin.obtained
        && took.as_millis() >= 200
    {
        let next = match cache.dir() {
            Some(dir) => format!("the next run loads it precompiled from {}", dir.display()),
            None => "the cache is off, so every run compiles it".into(),
        };
        eprintln!(
            "livelab: compiled {} in {:.1} s (first use of this component; {next})",
            plugin.info.id,
            took.as_secs_f64()
        );
    }
}

/// The evaluation date: as given, else the cohort's own date, else today.
pub fn evaluation_date(given: Option<Date>, records: &Path) -> anyhow::Result<(Date, String)> {
    if let Some(date) = given {
        return Ok((date, "given".into()));
    }
    let cohort = records.join("cohort.json");
    if cohort.is_file() {
        let text = std::fs::read_to_string(&cohort)
            .with_context(|| format!("reading {}", cohort.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", cohort.display()))?;
        if let Some(as_of) = json.get("as_of").and_then(|v| v.as_str()) {
            let date = as_of.parse().with_context(|| {
                format!(
                    "{}: as_of {as_of:?} is not a YYYY-MM-DD date",
                    cohort.display()
                )
            })?;
            return Ok((date, format!("as_of of {}", cohort.display())));
        }
    }
    Ok((jiff::Zoned::now().date(), "today".into()))
}

/// Sees every record's outcome, in source order, after it is written.
pub type Observer<'a> = Box<dyn FnMut(&RecordOutcome, &[Plugin]) + 'a>;

/// Runs the plan. `observe` is called once the plugins are loaded (before any record is
/// read) and returns the observer of the outcomes (trials tally labels there).
pub fn execute<'a>(
    plan: Plan,
    observe: impl FnOnce(&[Plugin]) -> anyhow::Result<Observer<'a>>,
) -> anyhow::Result<Executed> {
    let (date, date_source) = evaluation_date(plan.date, &plan.records)?;
    let workers = plan
        .workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let sandbox = sandbox(workers)?;
    let plugins = load_plugins(&sandbox, &plan.cache, &plan.plugins)?;
    let mut observer = observe(&plugins)?;
    let terminology = plan.ingest.terminology.maps().to_vec();
    let identifiers_allowed = plan.ingest.allow_identifiers;
    let mut reader = RecordReader::open_with(&plan.records, date, plan.ingest)?;
    let shard = plan.shard;
    let format = reader.format();

    let out = &plan.out;
    std::fs::create_dir_all(out)
        .with_context(|| format!("creating the output directory {}", out.display()))?;
    let results_path = out.join("results.jsonl");
    let mut results = BufWriter::new(
        File::create(&results_path)
            .with_context(|| format!("creating {}", results_path.display()))?,
    );
    let mut decision_log = match &plan.decision_log {
        Some(config) => {
            let path = out.join(&config.path);
            Some((DecisionLog::open(&path, config.omit.clone(), date)?, path))
        }
        None => None,
    };

    eprintln!(
        "livelab: {} plugin(s) on {} ({:?}), evaluation date {date} ({date_source}), {workers} worker(s)",
        plugins.len(),
        plan.records.display(),
        format
    );
    let progress = ProgressBar::new(reader.file_count() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files · {per_sec} · eta {eta}")
            .expect("a valid progress template"),
    );
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: plan.seed,
        keep_inputs: decision_log.is_some(),
    };
    let mut summary = SummaryBuilder::new(plugins.len());
    let mut write_error: Option<anyhow::Error> = None;
    // Borrowed, so its stats can be read once the workers are done.
    // A shard evaluates every N-th record (by position in the source); the others are
    // read but not evaluated, so each record lands in exactly one shard.
    let records = reader
        .by_ref()
        .enumerate()
        .filter(move |(i, _)| shard.is_none_or(|s| s.contains(*i as u64)))
        .map(|(_, record)| record);
    let wall = livelab_host::run::run(&sandbox, &plugins, records, &ctx, workers, |outcome| {
        summary.add(&outcome);
        if write_error.is_none()
            && let Err(e) = write_outcome(
                &outcome,
                &plugins,
                &ctx,
                &mut results,
                decision_log.as_mut().map(|(log, _)| log),
            )
        {
            write_error = Some(e);
        }
        observer(&outcome, &plugins);
        if matches!(format, SourceFormat::Bundles) {
            progress.inc(1);
        }
    });
    progress.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e.context(format!("writing {}", results_path.display())));
    }
    results
        .flush()
        .with_context(|| format!("writing {}", results_path.display()))?;
    let decision_log_path = match decision_log {
        Some((log, path)) => {
            log.finish()?;
            Some(path)
        }
        None => None,
    };

    let tallies = summary.clone();
    let summary = summary.finish(
        &plugins,
        RunFacts {
            ctx: &ctx,
            records_source: plan.records.display().to_string(),
            ingest: reader.stats().clone(),
            terminology,
            identifiers_allowed,
            limits: plan.limits.clone(),
            workers,
            wall,
        },
    );
    Ok(Executed {
        summary,
        tallies,
        results_path,
        decision_log_path,
    })
}

fn write_outcome(
    outcome: &RecordOutcome,
    plugins: &[Plugin],
    ctx: &EvaluationContext,
    results: &mut impl std::io::Write,
    decision_log: Option<&mut DecisionLog>,
) -> anyhow::Result<()> {
    for line in outcome.lines(plugins) {
        serde_json::to_writer(&mut *results, &line)?;
        results.write_all(b"\n")?;
    }
    if let (Some(log), Ok((key, _))) = (decision_log, &outcome.record) {
        for (plugin, evaluation) in plugins.iter().zip(&outcome.evaluations) {
            log.append(plugin, key, &plugin.store_setup(ctx, key), evaluation)?;
        }
    }
    Ok(())
}

/// Writes pretty JSON and a newline.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> anyhow::Result<()> {
    let json = serde_json::to_string_pretty(value).expect("output types serialise");
    std::fs::write(path, json + "\n").with_context(|| format!("writing {}", path.display()))
}
