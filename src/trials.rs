//! `livelab trial [FILE]` and `livelab merge`: the commands around the library's trial run
//! (`livelab_host::trial::run`); this file parses their arguments, writes `report.html`,
//! and prints the tables.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::Args;
use livelab_host::run::plan::Shard;
use livelab_host::trial::execute::create_file;
use livelab_host::trial::run::{TrialOptions, merge as merge_shards, run_trial};
use livelab_host::trial::{TRIAL_SUMMARY_SCHEMA, Trial, TrialSummary};

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
}
