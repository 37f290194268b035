//! `livelab trial [FILE]` and `livelab merge`: the commands around the library's trial run
//! (`livelab_host::trial::run`); this file parses their arguments, writes `report.html`,
//! and prints the tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use livelab_host::ArtifactCache;
use livelab_host::run::plan::Shard;
use livelab_host::trial::execute::create_file;
use livelab_host::trial::live::{LiveOptions, judge_session};
use livelab_host::trial::run::{TrialOptions, merge as merge_shards, run_trial};
use livelab_host::trial::{TRIAL_SUMMARY_SCHEMA, Trial, TrialSummary};
use livelab_serve::FEEDBACK_FILE;

use crate::args::CacheArgs;
use crate::runs::{RegisterArgs, register};
use crate::terminal::{progress, table, verdict};
use crate::{artifacts, report};

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
    /// Judge a `livelab serve` session of this trial instead of reading records: its decision
    /// log (each patient's last patient-view decision per plugin), against the trial's labels,
    /// with the session's feedback rates beside it.
    #[arg(long, value_name = "LOG", conflicts_with_all = ["shard", "jobs"])]
    decisions: Option<PathBuf>,
    /// The session's feedback log. Default: feedback.jsonl beside the decision log, if there.
    #[arg(long, value_name = "FILE", requires = "decisions")]
    feedback: Option<PathBuf>,
    #[command(flatten)]
    cache: CacheArgs,
    #[command(flatten)]
    registry: RegisterArgs,
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
    registry: RegisterArgs,
}

pub fn load_trial(file: Option<&Path>) -> anyhow::Result<Trial> {
    Ok(match file {
        Some(path) => Trial::load(path)?,
        None => Trial::parse(Path::new(SAMPLE_TRIAL_PATH), SAMPLE_TRIAL.as_bytes())?,
    })
}

/// `sample:<id>` in a trial file: a sample or candidate package `build.rs` made.
pub fn sample_package(id: &str) -> Option<PathBuf> {
    artifacts::SAMPLE_PACKAGES
        .iter()
        .chain(artifacts::CANDIDATE_PACKAGES)
        .find(|(name, _)| *name == id)
        .map(|(_, path)| PathBuf::from(path))
}

pub fn trial(args: TrialArgs) -> anyhow::Result<ExitCode> {
    let trial = load_trial(args.file.as_deref())?;
    let cache = args.cache.cache();
    if let Some(decisions) = args.decisions {
        return live_trial(
            &trial,
            decisions,
            args.feedback,
            args.out,
            cache,
            &args.registry,
        );
    }
    let terminal = progress::Terminal::new(&cache);
    let run = run_trial(
        &trial,
        TrialOptions {
            out: args.out,
            shard: args.shard,
            workers: args.jobs,
            cache,
            samples: &sample_package,
        },
        &create_file,
        &terminal,
    )?;
    write_report(&run.out, &run.summary)?;
    print_tables(&run.summary);
    println!(
        "\nwrote {}: report.html, summary.json, results.csv, results.jsonl{}",
        run.out.display(),
        if run.decision_log.is_some() {
            ", and the decision log"
        } else {
            ""
        }
    );
    // A shard is one slice of a run: `merge` registers the whole.
    if args.shard.is_none() {
        register(&args.registry, &run.summary, &run.out)?;
    }
    Ok(verdict::run_status(&run.summary.run, args.shard.is_none()))
}

/// `livelab trial FILE --decisions LOG`: a serve session judged as a trial.
fn live_trial(
    trial: &Trial,
    decisions: PathBuf,
    feedback: Option<PathBuf>,
    out: Option<PathBuf>,
    cache: ArtifactCache,
    registry: &RegisterArgs,
) -> anyhow::Result<ExitCode> {
    let feedback = feedback.or_else(|| {
        let beside = decisions.with_file_name(FEEDBACK_FILE);
        beside.exists().then_some(beside)
    });
    let feedback = match feedback {
        Some(path) => {
            let tallies = livelab_serve::tally_feedback(&path)?;
            Some((path, tallies))
        }
        None => None,
    };
    let run = judge_session(
        trial,
        LiveOptions {
            decisions,
            feedback,
            out,
            cache,
            samples: &sample_package,
        },
        &create_file,
    )?;
    write_report(&run.out, &run.summary)?;
    print_tables(&run.summary);
    println!(
        "\nwrote {}: report.html, summary.json, results.csv, results.jsonl",
        run.out.display()
    );
    // A live session is registered like a batch trial (its summary says it is live).
    register(registry, &run.summary, &run.out)?;
    Ok(verdict::run_status(&run.summary.run, true))
}

pub fn merge(args: MergeArgs) -> anyhow::Result<ExitCode> {
    let summary = merge_shards(&args.shards, &args.out)?;
    write_report(&args.out, &summary)?;
    print_tables(&summary);
    println!(
        "\nmerged {} shards into {}: report.html, summary.json, results.csv, results.jsonl",
        args.shards.len(),
        args.out.display()
    );
    register(&args.registry, &summary, &args.out)?;
    Ok(verdict::run_status(&summary.run, true))
}

#[derive(Args)]
pub struct ReportArgs {
    /// A trial's summary.json.
    summary: PathBuf,
    /// Where to write the report. Default: report.html beside the summary.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn report(args: ReportArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&args.summary)
        .with_context(|| format!("reading {}", args.summary.display()))?;
    let summary: TrialSummary = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a trial summary (schema {TRIAL_SUMMARY_SCHEMA}, written by `livelab trial`)",
            args.summary.display()
        )
    })?;
    let out = args.out.unwrap_or_else(|| {
        args.summary
            .parent()
            .unwrap_or(Path::new("."))
            .join("report.html")
    });
    std::fs::write(&out, report::render(&summary))
        .with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}", out.display());
    Ok(ExitCode::SUCCESS)
}

fn write_report(out: &Path, summary: &TrialSummary) -> anyhow::Result<()> {
    let path = out.join("report.html");
    std::fs::write(&path, report::render(summary))
        .with_context(|| format!("writing {}", path.display()))
}

fn print_tables(summary: &TrialSummary) {
    print!("{}", table::render(&summary.run));
    if let Some(e) = &summary.effectiveness {
        print!("\n{}", table::effectiveness(e));
    }
    if let Some(live) = &summary.live {
        print!("\n{}", table::live(live));
    }
}
