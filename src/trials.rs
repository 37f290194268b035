//! `livelab trial [FILE]`: run a trial file (default: the shipped sample trial) and write
//! `results.jsonl`, `results.csv`, `summary.json` and `report.html`; `livelab merge` makes
//! the same from the outputs of `--shard i/N` runs.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::Args;
use livelab_host::effectiveness::{
    EffectivenessBuilder, EffectivenessCounts, Labels, TopicSpec, alerted, subgroups,
};
use livelab_host::run::{RecordOutcome, RunFacts, RunSummary, SummaryBuilder};
use livelab_host::signing::TrustPolicy;
use livelab_host::trial::{
    SHARD_SCHEMA, ShardState, TRIAL_SUMMARY_SCHEMA, Trial, TrialInfo, TrialSummary,
};
use livelab_host::{EvaluationContext, Limits, LoadOptions, Plugin};

use crate::execute::{self, Shard};
use crate::{CacheArgs, artifacts, report, table};

/// The shipped sample trial, compiled in so that `livelab trial` works from anywhere.
const SAMPLE_TRIAL: &str = include_str!("../trials/sample.toml");
const SAMPLE_TRIAL_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/trials/sample.toml");

#[derive(Args)]
pub struct TrialArgs {
    /// The trial file (TOML). Default: the sample trial (trials/sample.toml).
    file: Option<PathBuf>,
    /// Output directory. Default: the trial's `output`, else `livelab-trial-out`.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// Run only the i-th of N deterministic slices of the records (1-based), for a
    /// scheduler's array job; combine the outputs with `livelab merge`.
    #[arg(long, value_name = "i/N")]
    shard: Option<Shard>,
    /// Worker threads. Default: one per core.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Args)]
pub struct MergeArgs {
    /// Output directories of `livelab trial --shard i/N` runs (all N of them).
    #[arg(required = true)]
    shards: Vec<PathBuf>,
    /// Where the merged summary.json, results.csv, results.jsonl and report.html go.
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[command(flatten)]
    cache: CacheArgs,
}

fn load_trial(file: Option<&Path>) -> anyhow::Result<Trial> {
    Ok(match file {
        Some(path) => Trial::load(path)?,
        None => Trial::parse(Path::new(SAMPLE_TRIAL_PATH), SAMPLE_TRIAL.as_bytes())?,
    })
}

fn sample_package(id: &str) -> Option<PathBuf> {
    artifacts::SAMPLE_PACKAGES
        .iter()
        .chain(artifacts::CANDIDATE_PACKAGES)
        .find(|(name, _)| *name == id)
        .map(|(_, path)| PathBuf::from(path))
}

/// The plugins of a trial with the options each must be loaded under.
fn planned_plugins(trial: &Trial) -> anyhow::Result<(Limits, Vec<execute::PlannedPlugin>)> {
    let spec = &trial.spec;
    let limits = Limits::default()
        .with(&spec.limits)
        .with_context(|| format!("{}: [limits]", trial.file.display()))?;
    let trust = Arc::new(match &spec.trust {
        Some(path) => TrustPolicy::load(path)?,
        None => TrustPolicy::empty(),
    });
    let plugins = spec
        .plugins
        .iter()
        .map(|p| {
            Ok(execute::PlannedPlugin {
                path: trial.plugin_path(p, sample_package)?,
                options: LoadOptions {
                    limits: limits.clone(),
                    overrides: p.limits.clone(),
                    expected_sha256: p.sha256.clone(),
                    trust: trust.clone(),
                    allow_unsigned: spec.allow_unsigned,
                },
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok((limits, plugins))
}

/// Each plugin's topic and alert threshold (in plugin order), and the comparisons as
/// (baseline, candidate) plugin indices.
struct Topics {
    specs: Vec<Option<TopicSpec>>,
    pairs: Vec<(usize, usize)>,
}

fn topics(trial: &Trial, plugins: &[Plugin]) -> anyhow::Result<Topics> {
    let specs: Vec<Option<TopicSpec>> = trial
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
            .with_context(|| {
                format!(
                    "{}: [[compare]] names plugin {id:?}, but the trial's plugins are {}",
                    trial.file.display(),
                    plugins
                        .iter()
                        .map(|p| p.info.id.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
    };
    let mut pairs = Vec::new();
    for c in &trial.spec.comparisons {
        let (a, b) = (index(&c.baseline)?, index(&c.candidate)?);
        let topic = |i: usize| specs[i].as_ref().map(|s| s.topic.clone());
        if topic(a) != topic(b) {
            bail!(
                "{}: [[compare]] {} against {}: they answer different topics ({:?} and {:?}); a paired comparison needs the same labels",
                trial.file.display(),
                c.baseline,
                c.candidate,
                topic(a).unwrap_or_default(),
                topic(b).unwrap_or_default()
            );
        }
        pairs.push((a, b));
    }
    Ok(Topics { specs, pairs })
}

pub fn trial(args: TrialArgs) -> anyhow::Result<ExitCode> {
    let trial = load_trial(args.file.as_deref())?;
    let spec = &trial.spec;
    let out = args
        .out
        .clone()
        .or_else(|| spec.output.clone())
        .unwrap_or_else(|| PathBuf::from("livelab-trial-out"));
    let labels = match &spec.labels {
        Some(path) => Some(Labels::load(path)?),
        None => None,
    };
    let (limits, plugins) = planned_plugins(&trial)?;
    let ingest_args = crate::IngestArgs {
        terminology_dirs: spec.terminology.clone(),
        no_shipped_terminology: false,
        allow_identifiers: spec.allow_identifiers,
    };
    let date = spec
        .evaluation_date
        .as_deref()
        .map(str::parse)
        .transpose()
        .expect("checked when the trial was parsed");
    let plan = execute::Plan {
        records: spec.records.clone(),
        date,
        seed: spec.seed,
        workers: args.jobs,
        ingest: ingest_args.options()?,
        limits,
        plugins,
        cache: args.cache.cache(),
        out: out.clone(),
        decision_log: spec.decision_log.clone(),
        shard: args.shard,
    };
    std::fs::create_dir_all(&out)
        .with_context(|| format!("creating the output directory {}", out.display()))?;
    let csv_path = out.join("results.csv");
    let mut csv = ResultsCsv::create(&csv_path)?;
    let mut effectiveness: Option<EffectivenessBuilder> = None;
    let mut csv_error = None;
    let (csv_ref, effectiveness_ref, csv_error_ref) =
        (&mut csv, &mut effectiveness, &mut csv_error);
    let (trial_ref, labels_ref) = (&trial, labels.as_ref());
    let executed = execute::execute(plan, move |plugins| {
        let Topics { specs, pairs } = topics(trial_ref, plugins)?;
        if let Some(labels) = labels_ref {
            *effectiveness_ref = Some(EffectivenessBuilder::new(
                labels.clone(),
                specs.clone(),
                pairs,
            ));
        }
        let (csv, effectiveness, csv_error, labels) =
            (csv_ref, effectiveness_ref, csv_error_ref, labels_ref);
        Ok(Box::new(
            move |outcome: &RecordOutcome, plugins: &[Plugin]| {
                if let Some(builder) = effectiveness.as_mut() {
                    builder.add(outcome);
                }
                if csv_error.is_none()
                    && let Err(e) = csv.write(outcome, plugins, &specs, labels)
                {
                    *csv_error = Some(e);
                }
            },
        ))
    })?;
    if let Some(e) = csv_error {
        return Err(e.context(format!("writing {}", csv_path.display())));
    }
    csv.finish()
        .with_context(|| format!("writing {}", csv_path.display()))?;
    let counts = effectiveness.map(EffectivenessBuilder::finish);
    let mut info = trial.info();
    if let Some(shard) = args.shard {
        info.shards = Some(format!("{}/{}", shard.index, shard.count));
        let state = ShardState {
            schema: SHARD_SCHEMA.into(),
            trial: info.clone(),
            shard: (shard.index, shard.count),
            evaluation_date: executed.summary.evaluation_date.clone(),
            seed: executed.summary.seed,
            records_source: executed.summary.records_source.clone(),
            ingest: executed.summary.ingest.clone(),
            terminology: executed.summary.terminology.clone(),
            identifiers_allowed: executed.summary.identifiers_allowed,
            limits: executed.summary.limits.clone(),
            workers: executed.summary.workers,
            wall_ms: executed.summary.wall_ms,
            tallies: executed.tallies.clone(),
            effectiveness: counts.clone(),
        };
        execute::write_json(&out.join("shard.json"), &state)?;
    }
    let summary = TrialSummary {
        schema: TRIAL_SUMMARY_SCHEMA,
        trial: info,
        run: executed.summary,
        effectiveness: counts.as_ref().map(EffectivenessCounts::report),
    };
    write_outputs(&out, &summary)?;
    print!("{}", table::render(&summary.run));
    if let Some(e) = &summary.effectiveness {
        print!("\n{}", table::effectiveness(e));
    }
    println!(
        "\nwrote {}: report.html, summary.json, results.csv, results.jsonl{}",
        out.display(),
        if executed.decision_log_path.is_some() {
            ", and the decision log"
        } else {
            ""
        }
    );
    Ok(ExitCode::SUCCESS)
}

fn write_outputs(out: &Path, summary: &TrialSummary) -> anyhow::Result<()> {
    execute::write_json(&out.join("summary.json"), summary)?;
    let report_path = out.join("report.html");
    std::fs::write(&report_path, report::render(summary))
        .with_context(|| format!("writing {}", report_path.display()))
}

pub fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let mut states = Vec::new();
    for dir in &args.shards {
        let path = dir.join("shard.json");
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "reading {} (is {} the output of `livelab trial --shard i/N`?)",
                path.display(),
                dir.display()
            )
        })?;
        let state: ShardState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a shard state", path.display()))?;
        if state.schema != SHARD_SCHEMA {
            bail!(
                "{}: schema {:?}, this livelab merges {SHARD_SCHEMA}",
                path.display(),
                state.schema
            );
        }
        states.push((dir.clone(), state));
    }
    states.sort_by_key(|(_, s)| s.shard.0);
    let (first_dir, first) = &states[0];
    let count = first.shard.1;
    let indices: Vec<u64> = states.iter().map(|(_, s)| s.shard.0).collect();
    if indices != (1..=count).collect::<Vec<_>>()
        || states
            .iter()
            .any(|(_, s)| s.shard.1 != count || s.trial.sha256 != first.trial.sha256)
    {
        bail!(
            "the shards do not make one whole run: expected shards 1..={count} of the same trial file, got {}",
            states
                .iter()
                .map(|(dir, s)| format!(
                    "{}/{} of {} ({})",
                    s.shard.0,
                    s.shard.1,
                    s.trial.file,
                    dir.display()
                ))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // The plugins are loaded again (from the cache) only to name them in the summary; their
    // hashes must be those the shards ran.
    let trial = Trial::load(Path::new(&first.trial.file))
        .with_context(|| format!("the trial file named by {}", first_dir.display()))?;
    if trial.sha256 != first.trial.sha256 {
        bail!(
            "{} has changed since the shards ran (sha256 {} now, {} then)",
            trial.file.display(),
            trial.sha256,
            first.trial.sha256
        );
    }
    let (_, planned) = planned_plugins(&trial)?;
    let sandbox = execute::sandbox(1)?;
    let plugins = execute::load_plugins(&sandbox, &args.cache.cache(), &planned)?;

    let mut tallies: Option<SummaryBuilder> = None;
    let mut effectiveness: Option<EffectivenessCounts> = None;
    let mut wall_ms: f64 = 0.0;
    let mut workers = 0;
    for (dir, state) in &states {
        let context = || format!("merging {}", dir.display());
        match &mut tallies {
            None => tallies = Some(state.tallies.clone()),
            Some(t) => t
                .merge(state.tallies.clone())
                .map_err(anyhow::Error::msg)
                .with_context(context)?,
        }
        match (&mut effectiveness, &state.effectiveness) {
            (None, Some(e)) => effectiveness = Some(e.clone()),
            (Some(mine), Some(e)) => mine
                .merge(e.clone())
                .map_err(anyhow::Error::msg)
                .with_context(context)?,
            _ => {}
        }
        // Shards run side by side: the merged run took as long as the slowest.
        wall_ms = wall_ms.max(state.wall_ms);
        workers += state.workers;
    }
    let ctx = EvaluationContext {
        evaluation_date: first.evaluation_date.parse()?,
        seed: first.seed,
        keep_inputs: false,
    };
    let run: RunSummary = tallies.expect("at least one shard").finish(
        &plugins,
        RunFacts {
            ctx: &ctx,
            records_source: first.records_source.clone(),
            ingest: first.ingest.clone(),
            terminology: first.terminology.clone(),
            identifiers_allowed: first.identifiers_allowed,
            limits: first.limits.clone(),
            workers,
            wall: std::time::Duration::from_secs_f64(wall_ms / 1e3),
        },
    );
    let mut info: TrialInfo = first.trial.clone();
    info.shards = Some(format!("merged {count} shards"));
    let summary = TrialSummary {
        schema: TRIAL_SUMMARY_SCHEMA,
        trial: info,
        run,
        effectiveness: effectiveness.as_ref().map(EffectivenessCounts::report),
    };
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    for name in ["results.jsonl", "results.csv"] {
        concatenate(&states, name, &args.out.join(name))?;
    }
    write_outputs(&args.out, &summary)?;
    print!("{}", table::render(&summary.run));
    if let Some(e) = &summary.effectiveness {
        print!("\n{}", table::effectiveness(e));
    }
    println!(
        "\nmerged {count} shards into {}: report.html, summary.json, results.csv, results.jsonl",
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// Concatenates a per-shard results file in shard order (a CSV keeps one header).
fn concatenate(states: &[(PathBuf, ShardState)], name: &str, to: &Path) -> anyhow::Result<()> {
    use std::io::{BufRead as _, BufReader, BufWriter, Write as _};
    let mut out =
        BufWriter::new(File::create(to).with_context(|| format!("creating {}", to.display()))?);
    for (i, (dir, _)) in states.iter().enumerate() {
        let path = dir.join(name);
        let file = File::open(&path).with_context(|| format!("reading {}", path.display()))?;
        for (n, line) in BufReader::new(file).lines().enumerate() {
            let line = line.with_context(|| format!("reading {}", path.display()))?;
            if name.ends_with(".csv") && n == 0 && i > 0 {
                continue;
            }
            writeln!(out, "{line}")?;
        }
    }
    out.flush()
        .with_context(|| format!("writing {}", to.display()))
}

/// `results.csv`: one row per evaluation (and one per unreadable record), for R, pandas or
/// DuckDB.
struct ResultsCsv {
    writer: csv::Writer<File>,
}

impl ResultsCsv {
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

    fn create(path: &Path) -> anyhow::Result<ResultsCsv> {
        let mut writer =
            csv::Writer::from_path(path).with_context(|| format!("creating {}", path.display()))?;
        writer.write_record(Self::HEADER)?;
        Ok(ResultsCsv { writer })
    }

    fn write(
        &mut self,
        outcome: &RecordOutcome,
        plugins: &[Plugin],
        specs: &[Option<TopicSpec>],
        labels: Option<&Labels>,
    ) -> anyhow::Result<()> {
        let (key, source) = match &outcome.record {
            Ok((key, source)) => (key.clone(), source.to_string()),
            Err(error) => {
                let mut row = vec![String::new(); Self::HEADER.len()];
                row[0] = error.key.clone().unwrap_or_default();
                row[1] = error.location.to_string();
                row[7] = "record-error".into();
                row[8] = "unreadable-record".into();
                row[20] = error.message.clone();
                self.writer.write_record(&row)?;
                return Ok(());
            }
        };
        let groups = outcome.profile.as_ref().map(subgroups);
        let group = |i: usize| groups.as_ref().map_or(String::new(), |g| g[i].1.clone());
        for ((plugin, evaluation), spec) in plugins.iter().zip(&outcome.evaluations).zip(specs) {
            let count = |indicator| match &evaluation.result {
                Ok(cards) => cards.iter().filter(|c| c.indicator == indicator).count(),
                Err(_) => 0,
            };
            use livelab_host::wit::Indicator;
            let (status, cause, cards, message) = match &evaluation.result {
                Ok(cards) => ("ok", "", cards.len().to_string(), String::new()),
                Err(f) => ("error", f.cause(), String::new(), f.to_string()),
            };
            let alert = match (&evaluation.result, spec) {
                (Ok(cards), Some(spec)) => (alerted(cards, spec.alert_from) as u8).to_string(),
                _ => String::new(),
            };
            let label = match (spec, labels) {
                (Some(spec), Some(labels)) => labels
                    .get(&key, &spec.topic)
                    .map_or(String::new(), |l| (l as u8).to_string()),
                _ => String::new(),
            };
            self.writer.write_record([
                key.as_str(),
                &source,
                &group(0),
                &group(1),
                &group(2),
                &plugin.info.id,
                &plugin.sha256,
                status,
                cause,
                &cards,
                &count(Indicator::Info).to_string(),
                &count(Indicator::Warning).to_string(),
                &count(Indicator::Critical).to_string(),
                spec.as_ref().map_or("", |s| s.topic.as_str()),
                &alert,
                &label,
                &evaluation.latency_ns.to_string(),
                &evaluation.instantiate_ns.to_string(),
                &evaluation.fuel_used.to_string(),
                &evaluation.peak_memory_bytes.to_string(),
                &message,
            ])?;
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<()> {
        self.writer.flush()?;
        Ok(())
    }
}
