//! `livelab`: run clinical decision-support plugins (WebAssembly components) on anonymised
//! FHIR records inside a sandbox, and measure what they say and what it costs.

mod artifacts;
mod table;

use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context as _, bail};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use jiff::civil::Date;
use livelab_host::cohort::{CohortFormat, CohortSpec};
use livelab_host::fhir::IngestOptions;
use livelab_host::run::{RunFacts, SummaryBuilder};
use livelab_host::terminology::Terminology;
use livelab_host::{
    ArtifactCache, EvaluationContext, Limits, Plugin, RecordReader, Sandbox, SandboxConfig,
};

/// The sample records shipped with livelab (the default of `--records`).
const SAMPLE_RECORDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-records");

#[derive(Parser)]
#[command(name = "livelab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Evaluate every plugin on every record; write results.jsonl and summary.json.
    ///
    /// With no arguments: all sample plugins on the shipped sample records.
    Run(RunArgs),
    /// Write a seeded synthetic cohort of anonymised FHIR records with reference labels.
    Generate(GenerateArgs),
    /// Turn an identifiable FHIR export into an anonymised one (keyed pseudonyms, direct
    /// identifiers removed, birth date to the year). See docs/ANONYMISATION.md.
    Anonymise(AnonymiseArgs),
    /// Show what a plugin says about itself: identity, hooks and declared data needs.
    Describe {
        /// Plugin components (.wasm).
        #[arg(required = true)]
        plugins: Vec<PathBuf>,
    },
}

#[derive(Args)]
struct RunArgs {
    /// A plugin component (.wasm); repeat for several. Default: the sample plugins.
    #[arg(long = "plugin", value_name = "WASM")]
    plugins: Vec<PathBuf>,
    /// A directory of FHIR Bundles (*.json) or Bulk Data files (*.ndjson), or one file.
    #[arg(long, value_name = "PATH", default_value = SAMPLE_RECORDS)]
    records: PathBuf,
    /// Where results.jsonl and summary.json go.
    #[arg(long, value_name = "DIR", default_value = "livelab-out")]
    out: PathBuf,
    /// The evaluation date (YYYY-MM-DD) ages and day offsets count from. Default: the
    /// `as_of` date of the records' cohort.json, else today.
    #[arg(long, value_name = "DATE")]
    date: Option<Date>,
    /// Seed of the randomness plugins see (the same seed gives the same results).
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads. Default: one per core.
    #[arg(long, short = 'j')]
    jobs: Option<usize>,
    #[command(flatten)]
    ingest: IngestArgs,
    #[command(flatten)]
    limits: LimitArgs,
    #[command(flatten)]
    cache: CacheArgs,
}

#[derive(Args)]
struct IngestArgs {
    /// A directory of FHIR ConceptMap files (*.json) to translate codes with, besides the
    /// shipped maps; repeat for several.
    #[arg(long = "terminology", value_name = "DIR")]
    terminology_dirs: Vec<PathBuf>,
    /// Do not use the maps shipped in sample-records/terminology (only --terminology DIRs).
    #[arg(long)]
    no_shipped_terminology: bool,
    /// Admit records that still carry direct identifiers (names, identifier values,
    /// telecom, address lines). Only for data the region has reviewed; the summary says so.
    #[arg(long)]
    allow_identifiers: bool,
}

impl IngestArgs {
    fn options(&self) -> anyhow::Result<IngestOptions> {
        let mut terminology = if self.no_shipped_terminology {
            Terminology::empty()
        } else {
            Terminology::shipped()
        };
        for dir in &self.terminology_dirs {
            terminology.load_dir(dir)?;
        }
        Ok(IngestOptions {
            terminology: Arc::new(terminology),
            allow_identifiers: self.allow_identifiers,
            partition_bytes: IngestOptions::DEFAULT_PARTITION_BYTES,
        })
    }
}

#[derive(Args)]
struct LimitArgs {
    /// Wall-clock deadline per evaluation, in milliseconds.
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<u64>,
    /// Memory cap per evaluation, in MiB (all memories of the instance together).
    #[arg(long, value_name = "MIB")]
    memory_mib: Option<usize>,
    /// Maximum cards per evaluation.
    #[arg(long, value_name = "N")]
    max_cards: Option<usize>,
    /// Maximum bytes of card text per evaluation.
    #[arg(long, value_name = "BYTES")]
    max_output_bytes: Option<usize>,
    /// Maximum log lines per evaluation.
    #[arg(long, value_name = "N")]
    max_log_lines: Option<usize>,
}

impl LimitArgs {
    fn limits(&self) -> anyhow::Result<Limits> {
        let mut limits = Limits::default();
        if let Some(ms) = self.deadline_ms {
            limits.deadline_ms = ms;
        }
        if let Some(mib) = self.memory_mib {
            let bytes = mib.saturating_mul(1 << 20);
            if bytes > livelab_host::sandbox::MEMORY_CEILING_BYTES {
                bail!(
                    "--memory-mib {mib} is above the host ceiling of {} MiB",
                    livelab_host::sandbox::MEMORY_CEILING_BYTES >> 20
                );
            }
            limits.memory_bytes = bytes;
        }
        if let Some(n) = self.max_cards {
            limits.max_cards = n;
        }
        if let Some(n) = self.max_output_bytes {
            limits.max_output_bytes = n;
        }
        if let Some(n) = self.max_log_lines {
            limits.max_log_lines = n;
        }
        Ok(limits)
    }
}

#[derive(Args)]
struct CacheArgs {
    /// Directory of precompiled plugins. Default: $LIVELAB_CACHE_DIR, else ~/.cache/livelab.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every plugin afresh and keep nothing.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

impl CacheArgs {
    fn cache(&self) -> ArtifactCache {
        if self.no_cache {
            ArtifactCache::new(None)
        } else {
            ArtifactCache::new(self.cache_dir.clone().or_else(ArtifactCache::default_dir))
        }
    }
}

#[derive(Args)]
struct GenerateArgs {
    /// Output directory (created; an earlier cohort there is replaced).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    #[arg(long, default_value_t = 300)]
    patients: usize,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// The date the cohort is current on.
    #[arg(long, value_name = "DATE", default_value = "2026-11-01")]
    as_of: Date,
    /// Bundles: one file per patient. NDJSON (FHIR Bulk Data): one file per resource type,
    /// the layout for large cohorts.
    #[arg(long, value_enum, default_value_t = Format::Bundles)]
    format: Format,
    /// enriched: many positives and threshold cases (the shipped sample; alert rates and
    /// predictive values do not transfer to practice). realistic: a Dutch GP list's ages and
    /// prevalences.
    #[arg(long, default_value = "enriched", value_parser = livelab_host::cohort::CohortMix::NAMES)]
    mix: String,
    /// plain: the patient's own records. synthea: Synthea-like transaction Bundles padded with
    /// encounters, claims, reports, ... (~200–400 KB per patient; the ingest benchmark's input).
    #[arg(long, default_value = "plain", value_parser = livelab_host::cohort::CohortShape::NAMES)]
    shape: String,
}

#[derive(Args)]
struct AnonymiseArgs {
    /// The identifiable export: a directory of Bundles (*.json) or Bulk NDJSON, or one file.
    input: PathBuf,
    /// Where the anonymised export goes (a new or empty directory).
    output: PathBuf,
    /// The region's secret key (at least 32 bytes, e.g. `head -c 32 /dev/urandom > region.key`).
    /// The same key gives the same pseudonyms; keep it out of the export.
    #[arg(long, value_name = "FILE")]
    key_file: PathBuf,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Bundles,
    Ndjson,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => run_plugins(args),
        Command::Generate(args) => generate(args),
        Command::Anonymise(args) => anonymise(args),
        Command::Describe { plugins } => describe(&plugins),
    }
}

fn default_plugins() -> Vec<PathBuf> {
    artifacts::SAMPLE_PLUGINS
        .iter()
        .map(|(_, path)| PathBuf::from(path))
        .collect()
}

/// Loads every plugin (in parallel: compiling is the slow part of a first run).
fn load_plugins(
    sandbox: &Sandbox,
    cache: &ArtifactCache,
    paths: &[PathBuf],
    limits: &Limits,
) -> anyhow::Result<Vec<Plugin>> {
    let loaded: Vec<_> = std::thread::scope(|scope| {
        let handles: Vec<_> = paths
            .iter()
            .map(|path| scope.spawn(|| Plugin::load(sandbox, cache, path, limits.clone())))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("plugin loading does not panic"))
            .collect()
    });
    let plugins = loaded.into_iter().collect::<Result<Vec<_>, _>>()?;
    for (i, plugin) in plugins.iter().enumerate() {
        if let Some(other) = plugins[..i].iter().find(|p| p.info.id == plugin.info.id) {
            bail!(
                "two plugins share the id `{}`: {} and {}; results would be ambiguous",
                plugin.info.id,
                other.path.display(),
                plugin.path.display()
            );
        }
    }
    Ok(plugins)
}

/// The evaluation date: as given, else the cohort's own date, else today.
fn evaluation_date(given: Option<Date>, records: &Path) -> anyhow::Result<(Date, String)> {
    if let Some(date) = given {
        return Ok((date, "--date".into()));
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

fn run_plugins(args: RunArgs) -> anyhow::Result<ExitCode> {
    let limits = args.limits.limits()?;
    let paths = if args.plugins.is_empty() {
        default_plugins()
    } else {
        args.plugins.clone()
    };
    let (date, date_source) = evaluation_date(args.date, &args.records)?;
    let workers = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let sandbox = Sandbox::new(&SandboxConfig {
        concurrency: workers,
    })
    .map_err(anyhow::Error::from)
    .context("creating the wasmtime engine")?;
    let cache = args.cache.cache();
    let plugins = load_plugins(&sandbox, &cache, &paths, &limits)?;
    // A run opens each patient's record: the patient-view hook. (order-sign needs draft
    // orders, which records do not carry.)
    if let Some(plugin) = plugins.iter().find(|p| {
        !p.info
            .hooks
            .contains(&livelab_host::wit::HookKind::PatientView)
    }) {
        bail!(
            "{} ({}) does not serve the patient-view hook that `livelab run` evaluates; it serves: {}",
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
    let options = args.ingest.options()?;
    let terminology = options.terminology.maps().to_vec();
    let mut reader = RecordReader::open_with(&args.records, date, options)?;
    let format = reader.format();

    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating the output directory {}", args.out.display()))?;
    let results_path = args.out.join("results.jsonl");
    let mut results = BufWriter::new(
        File::create(&results_path)
            .with_context(|| format!("creating {}", results_path.display()))?,
    );

    eprintln!(
        "livelab: {} plugin(s) on {} ({:?}), evaluation date {date} ({date_source}), {workers} worker(s)",
        plugins.len(),
        args.records.display(),
        format
    );
    let progress = ProgressBar::new(reader.file_count() as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} files · {per_sec} · eta {eta}")
            .expect("a valid progress template"),
    );
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: args.seed,
    };
    let mut summary = SummaryBuilder::new(plugins.len());
    let mut write_error = None;
    // Borrowed, so its stats can be read once the workers are done.
    let records = reader.by_ref();
    let wall = livelab_host::run::run(&sandbox, &plugins, records, &ctx, workers, |outcome| {
        summary.add(&outcome);
        if write_error.is_none() {
            for line in outcome.lines(&plugins) {
                let written = serde_json::to_writer(&mut results, &line)
                    .map_err(std::io::Error::from)
                    .and_then(|()| results.write_all(b"\n"));
                if let Err(e) = written {
                    write_error = Some(e);
                    break;
                }
            }
        }
        if matches!(format, livelab_host::fhir::SourceFormat::Bundles) {
            progress.inc(1);
        }
    });
    progress.finish_and_clear();
    if let Some(e) = write_error {
        return Err(e).with_context(|| format!("writing {}", results_path.display()));
    }
    results
        .flush()
        .with_context(|| format!("writing {}", results_path.display()))?;

    let summary = summary.finish(
        &plugins,
        RunFacts {
            ctx: &ctx,
            records_source: args.records.display().to_string(),
            ingest: reader.stats().clone(),
            terminology,
            identifiers_allowed: args.ingest.allow_identifiers,
            limits,
            workers,
            wall,
        },
    );
    let summary_path = args.out.join("summary.json");
    let json = serde_json::to_string_pretty(&summary).expect("the summary serialises");
    std::fs::write(&summary_path, json + "\n")
        .with_context(|| format!("writing {}", summary_path.display()))?;

    print!("{}", table::render(&summary));
    println!(
        "\nwrote {} and {}",
        results_path.display(),
        summary_path.display()
    );
    Ok(ExitCode::SUCCESS)
}

fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    use livelab_host::cohort::{CohortMix, CohortShape};
    let spec = CohortSpec {
        seed: args.seed,
        patients: args.patients,
        as_of: args.as_of,
        format: match args.format {
            Format::Bundles => CohortFormat::Bundles,
            Format::Ndjson => CohortFormat::Ndjson,
        },
        shape: CohortShape::from_name(&args.shape)?,
        mix: CohortMix::from_name(&args.mix)?,
    };
    let summary = livelab_host::cohort::write_cohort(&spec, &args.out)?;
    let resources: u64 = summary.resources_by_type.values().sum();
    println!(
        "wrote {} patients ({} US-coded, {} mix, {} shape), {resources} resources and {} labels to {}",
        summary.patients,
        summary.us_coded,
        spec.mix.name(),
        spec.shape.name(),
        summary.labels,
        args.out.display()
    );
    for (topic, positives) in &summary.positives_by_topic {
        println!("  {topic}: {positives} expected alerts");
    }
    if spec.mix == CohortMix::Enriched && summary.patients > 0 {
        println!(
            "  (enriched mix: alert rates and predictive values do not transfer to practice; \
             use --mix realistic for those)"
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn anonymise(args: AnonymiseArgs) -> anyhow::Result<ExitCode> {
    use livelab_host::anonymise::{PseudonymKey, anonymise};
    let key = PseudonymKey::from_file(&args.key_file)?;
    let summary = anonymise(&args.input, &args.output, &key).with_context(|| {
        format!(
            "anonymising {} into {}",
            args.input.display(),
            args.output.display()
        )
    })?;
    println!("anonymised {}: {summary}", args.output.display());
    Ok(ExitCode::SUCCESS)
}

fn describe(paths: &[PathBuf]) -> anyhow::Result<ExitCode> {
    let sandbox = Sandbox::new(&SandboxConfig { concurrency: 1 })
        .map_err(anyhow::Error::from)
        .context("creating the wasmtime engine")?;
    let cache = ArtifactCache::new(ArtifactCache::default_dir());
    for plugin in load_plugins(&sandbox, &cache, paths, &Limits::default())? {
        print!("{}", table::describe(&plugin));
    }
    Ok(ExitCode::SUCCESS)
}
