//! `livelab`: run clinical decision-support plugins (WebAssembly components) on anonymised
//! FHIR records inside a sandbox, and measure what they say and what it costs.

mod args;
mod artifacts;
mod author;
mod dashboard;
mod replay;
mod report;
mod runs;
mod serve;
mod supply;
mod terminal;
mod trials;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Parser, Subcommand, ValueEnum};
use jiff::civil::Date;
use livelab_cohort::{CohortFormat, CohortSpec};
use livelab_host::ingest::IngestOptions;
use livelab_host::ingest::terminology::Terminology;
use livelab_host::package::signing::TrustPolicy;
use livelab_host::run::decision_log::DecisionLogConfig;
use livelab_host::run::plan::Plan;
use livelab_host::sandbox::LimitOverrides;
use livelab_host::trial::execute::{Judging, create_file, execute};
use livelab_host::{ArtifactCache, Limits, LoadOptions};

use args::CacheArgs;
use terminal::{progress, table, verdict};

#[derive(Parser)]
#[command(name = "livelab", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    compile: args::CompileArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Run a trial file: every plugin on the records, effectiveness against the labels,
    /// paired comparisons, cost; writes report.html, summary.json, results.csv.
    ///
    /// With no file: the sample trial (all sample plugins on the shipped sample records).
    Trial(trials::TrialArgs),
    /// Combine the outputs of `trial --shard i/N` runs into one summary and report.
    Merge(trials::MergeArgs),
    /// The run registry: list the runs every trial and merge recorded (with filters),
    /// compare two (`runs diff A B`), or watch each plugin for drift (`runs drift`).
    Runs(runs::RunsArgs),
    /// The run registry as web pages: runs with filters, one run, two runs side by side
    /// (only the differences), a plugin's measures over time and the drift watch. Prints
    /// the address it listens on.
    Dashboard(dashboard::DashboardArgs),
    /// Render report.html again from a trial's summary.json (e.g. one kept from an earlier
    /// run, or copied from another machine).
    Report(trials::ReportArgs),
    /// Serve a trial's plugins as CDS Hooks 2.0 services (discovery, patient-view calls),
    /// with the trial's packages, pins, trust policy, limits and decision log.
    ///
    /// With no file: the sample trial. Prints the address it listens on.
    Serve(Box<serve::ServeArgs>),
    /// Evaluate every plugin on every record; write results.jsonl and summary.json.
    ///
    /// With no arguments: all sample plugins on the shipped sample records.
    Run(Box<RunArgs>),
    /// Write a seeded synthetic cohort of anonymised FHIR records with reference labels.
    Generate(GenerateArgs),
    /// Turn an identifiable FHIR export into an anonymised one (keyed pseudonyms, direct
    /// identifiers removed, birth date to the year). See docs/ANONYMISATION.md.
    Anonymise(AnonymiseArgs),
    /// Show what a plugin says about itself: identity, hooks and declared data needs.
    Describe {
        /// Plugin packages or components (.wasm).
        #[arg(required = true)]
        plugins: Vec<PathBuf>,
    },
    /// Review a plugin as a region would: identity and hash, signature, interface and
    /// imports, data needs, grants, limits and a one-evaluation smoke run. Exits non-zero
    /// on anything a trial would refuse.
    Check(supply::CheckArgs),
    /// Package a component for a region: plugin.toml (from what it describes), the
    /// component, and optionally a read-only data directory it is granted.
    Package(supply::PackageArgs),
    /// Make a publisher's Ed25519 signing key; prints the trust-policy entry for regions.
    Keygen(supply::KeygenArgs),
    /// Sign a package's plugin.toml (which pins the component and data by hash).
    Sign(supply::SignArgs),
    /// Check a package's signature against a trust policy.
    Verify(supply::VerifyArgs),
    /// Re-run the evaluations of a decision log and check each gives the same output.
    Replay(replay::ReplayArgs),
    /// Scaffold a working plugin in Rust, JavaScript or Python: an example rule, its
    /// manifest, the WIT, fixtures and their expected cards, and a README.
    New(author::scaffold::NewArgs),
    /// Build a plugin's source (Rust, JavaScript or Python) into a package: the component and
    /// plugin.toml with its SHA-256. Installs the pinned JS/Python toolchain when missing.
    Build(author::build::BuildArgs),
    /// Run a plugin on its fixture records and compare its cards with the expected files
    /// (`--bless` rewrites them); `--sample` adds sensitivity and specificity on the
    /// sample records.
    Test(author::checks::TestArgs),
    /// Measure a plugin's cost per evaluation (latency, instantiation, fuel, memory,
    /// compile time) beside a shipped reference plugin.
    Bench(author::checks::BenchArgs),
    /// The compiler child process (internal): reads a component on stdin, writes the
    /// compiled artifact on stdout, within an address-space limit.
    #[command(name = args::COMPILE_WORKER, hide = true)]
    CompileWorker {
        #[arg(long, action = clap::ArgAction::Set)]
        meter_fuel: bool,
        #[arg(long)]
        address_space_bytes: u64,
    },
}

#[derive(Args)]
struct RunArgs {
    /// A plugin component (.wasm); repeat for several. Default: the sample plugins.
    #[arg(long = "plugin", value_name = "WASM")]
    plugins: Vec<PathBuf>,
    /// A directory of FHIR Bundles (*.json) or Bulk Data files (*.ndjson), or one file.
    #[arg(long, value_name = "PATH", default_value = artifacts::SAMPLE_RECORDS)]
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
    /// A trust policy (publishers' public keys): plugins must then carry a trusted
    /// signature, unless --allow-unsigned.
    #[arg(long, value_name = "FILE")]
    trust: Option<PathBuf>,
    /// With --trust: still admit unsigned plugins (reported as such).
    #[arg(long, requires = "trust")]
    allow_unsigned: bool,
    /// Append one line per evaluation to this decision log (replay it with `livelab replay`).
    #[arg(long, value_name = "FILE")]
    decision_log: Option<PathBuf>,
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
        let terminology = Terminology::load(!self.no_shipped_terminology, &self.terminology_dirs)?;
        Ok(IngestOptions {
            terminology: Arc::new(terminology),
            allow_identifiers: self.allow_identifiers,
            partition_bytes: IngestOptions::DEFAULT_PARTITION_BYTES,
        })
    }
}

#[derive(Args)]
struct LimitArgs {
    /// Wall-clock deadline per evaluation, in milliseconds. Default: 2000, a backstop behind
    /// the fuel budget (set a lower one for a latency bound).
    #[arg(long, value_name = "MS")]
    deadline_ms: Option<u64>,
    /// Fuel budget per evaluation (deterministic CPU work, about one unit per wasm
    /// instruction; at most 10^11). Default: 10^9, the CPU bound, the same on a busy
    /// machine; fuel used is reported either way.
    #[arg(long, value_name = "UNITS")]
    fuel: Option<u64>,
    /// Memory cap per evaluation, in MiB (all memories of the instance together).
    #[arg(long, value_name = "MIB")]
    memory_mib: Option<usize>,
    /// Cap on the elements of any table of the instance (at most 1000000).
    #[arg(long, value_name = "N")]
    table_elements: Option<usize>,
    /// Maximum cards per evaluation.
    #[arg(long, value_name = "N")]
    max_cards: Option<usize>,
    /// Maximum bytes of card output per evaluation: the text, and 64 bytes per card,
    /// coding, suggestion and action.
    #[arg(long, value_name = "BYTES")]
    max_output_bytes: Option<usize>,
    /// Maximum bytes of any one string in a card.
    #[arg(long, value_name = "BYTES")]
    max_string_bytes: Option<usize>,
    /// Maximum log lines per evaluation.
    #[arg(long, value_name = "N")]
    max_log_lines: Option<usize>,
}

impl LimitArgs {
    fn overrides(&self) -> LimitOverrides {
        LimitOverrides {
            deadline_ms: self.deadline_ms,
            fuel: self.fuel,
            memory_mib: self.memory_mib,
            table_elements: self.table_elements,
            max_cards: self.max_cards,
            max_output_bytes: self.max_output_bytes,
            max_string_bytes: self.max_string_bytes,
            max_log_lines: self.max_log_lines,
            ..LimitOverrides::default()
        }
    }

    fn limits(&self) -> anyhow::Result<Limits> {
        use livelab_host::sandbox::LimitError;
        Limits::default()
            .with(&self.overrides())
            .map_err(|e| match e {
                // Name the flag the user typed, not the trial-file field.
                LimitError::AboveCeiling { field, value, max } => anyhow::anyhow!(
                    "--{} {value} is above the host ceiling of {max}; ask for less",
                    field.replace('_', "-")
                ),
                other => anyhow::anyhow!("in the command-line limits: {other}"),
            })
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
    #[arg(long, default_value = "enriched", value_parser = livelab_cohort::CohortMix::NAMES)]
    mix: String,
    /// plain: the patient's own records. synthea: Synthea-like transaction Bundles padded with
    /// encounters, claims, reports, ... (~200–400 KB per patient; the ingest benchmark's input).
    #[arg(long, default_value = "plain", value_parser = livelab_cohort::CohortShape::NAMES)]
    shape: String,
    /// Write N monthly exports of one region instead of one cohort: DIR/export-01, ...
    /// (the first current on --as-of, each a month later, each a fresh draw), and beside each
    /// a trial file of the sample plugins (DIR/export-01.toml).
    #[arg(long, value_name = "N")]
    series: Option<usize>,
    /// With --series: what drifts from export FROM on (1-based; default the middle export):
    /// prevalence, coding, egfr-unit, egfr-code or age (docs/TRIALS.md, "Drifting series").
    #[arg(long, value_name = "KIND[:FROM]", requires = "series")]
    drift: Option<String>,
    /// With --series: the region the trial files name.
    #[arg(
        long,
        value_name = "NAME",
        default_value = "Driftregio (synthetic series)"
    )]
    region: String,
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
    progress::set_compile_bounds(cli.compile.bounds()?);
    match cli.command {
        Command::Trial(args) => trials::trial(args),
        Command::Merge(args) => trials::merge(args),
        Command::Report(args) => trials::report(args),
        Command::Runs(args) => runs::runs(args),
        Command::Dashboard(args) => dashboard::dashboard(args),
        Command::Serve(args) => serve::serve_trial(*args),
        Command::Run(args) => run_plugins(*args),
        Command::Generate(args) => generate(args),
        Command::Anonymise(args) => anonymise(args),
        Command::Describe { plugins } => describe(&plugins),
        Command::Check(args) => supply::check(args),
        Command::Package(args) => supply::package(args),
        Command::Keygen(args) => supply::keygen(args),
        Command::Sign(args) => supply::sign(args),
        Command::Verify(args) => supply::verify(args),
        Command::Replay(args) => replay::replay(args),
        Command::New(args) => author::scaffold::new(args),
        Command::Build(args) => author::build::build(args),
        Command::Test(args) => author::checks::test(args),
        Command::Bench(args) => author::checks::bench(args),
        Command::CompileWorker {
            meter_fuel,
            address_space_bytes,
        } => Ok(ExitCode::from(livelab_host::plugin::compile::worker(
            meter_fuel,
            address_space_bytes,
        ) as u8)),
    }
}

fn default_plugins() -> Vec<PathBuf> {
    artifacts::SAMPLE_PACKAGES
        .iter()
        .map(|(_, path)| PathBuf::from(path))
        .collect()
}

fn run_plugins(args: RunArgs) -> anyhow::Result<ExitCode> {
    let limits = args.limits.limits()?;
    let paths = if args.plugins.is_empty() {
        default_plugins()
    } else {
        args.plugins.clone()
    };
    let trust = Arc::new(TrustPolicy::load_or_empty(args.trust.as_deref())?);
    let cache = args.cache.cache();
    let plan = Plan {
        records: args.records.clone(),
        date: args.date,
        seed: args.seed,
        workers: args.jobs,
        ingest: args.ingest.options()?,
        limits: limits.clone(),
        plugins: paths
            .into_iter()
            .map(|path| progress::PlannedPlugin {
                path,
                options: LoadOptions {
                    limits: limits.clone(),
                    overrides: LimitOverrides::default(),
                    expected_sha256: None,
                    trust: trust.clone(),
                    // `run` is the author's command; `trial` is where a region insists.
                    allow_unsigned: args.trust.is_none() || args.allow_unsigned,
                },
            })
            .collect(),
        cache: cache.clone(),
        out: args.out.clone(),
        decision_log: args.decision_log.as_ref().map(|path| DecisionLogConfig {
            path: std::path::absolute(path).unwrap_or_else(|_| path.clone()),
            omit: Default::default(),
        }),
        shard: None,
        results_csv: false,
    };
    let executed = execute(
        plan,
        |_| Ok(Judging::default()),
        &create_file,
        &progress::Terminal::new(&cache),
    )?;
    let summary_path = args.out.join("summary.json");
    progress::write_json(&summary_path, &executed.summary)?;
    print!("{}", table::render(&executed.summary));
    println!(
        "\nwrote {} and {}",
        executed.results_path.display(),
        summary_path.display()
    );
    if let Some(path) = &executed.decision_log_path {
        println!("appended decisions to {}", path.display());
    }
    Ok(verdict::run_status(&executed.summary, true))
}

fn generate(args: GenerateArgs) -> anyhow::Result<ExitCode> {
    use livelab_cohort::{CohortMix, CohortShape};
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
    if let Some(exports) = args.series {
        return generate_series(
            spec,
            exports,
            args.drift.as_deref(),
            &args.region,
            &args.out,
        );
    }
    let summary = livelab_cohort::write_cohort(&spec, &args.out)?;
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

/// `generate --series`: the exports, then one trial file per export beside it.
fn generate_series(
    cohort: CohortSpec,
    exports: usize,
    drift: Option<&str>,
    region: &str,
    out: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use livelab_cohort::{Drift, SeriesSpec, TOPICS};
    use livelab_host::trial::{TrialFile, TrialPlugin};
    let drift = drift.map(|d| Drift::parse(d, exports)).transpose()?;
    let spec = SeriesSpec {
        cohort,
        exports,
        drift,
    };
    let series = livelab_cohort::write_series(&spec, out)
        .with_context(|| format!("writing a series of {exports} exports to {}", out.display()))?;
    for export in &series.exports {
        let drift_note = match drift {
            None => "a stable control series".to_string(),
            Some(d) if export.drifting => {
                format!("drift {} in force since export {}", d.kind.name(), d.from)
            }
            Some(d) => format!("drift {} from export {}", d.kind.name(), d.from),
        };
        let trial = TrialFile {
            name: format!("Monthly export {}", export.as_of.strftime("%Y-%m")),
            region: region.to_string(),
            description: Some(format!(
                "Export {} of {exports} of a generated series (seed {}, {}; {drift_note}).",
                export.number,
                spec.cohort.seed,
                spec.cohort.mix.name()
            )),
            evaluation_date: Some(export.as_of.to_string()),
            seed: 0,
            records: export.dir_name.clone().into(),
            labels: Some(std::path::Path::new(&export.dir_name).join("labels.csv")),
            output: None,
            pseudonym_key: None,
            trust: None,
            // The sample plugins are built on this machine: nobody signed them.
            allow_unsigned: true,
            allow_identifiers: false,
            terminology: Vec::new(),
            limits: LimitOverrides::default(),
            decision_log: None,
            plugins: TOPICS
                .iter()
                .map(|topic| TrialPlugin {
                    path: format!("sample:{topic}"),
                    sha256: None,
                    topic: Some(topic.to_string()),
                    alert_from: livelab_host::trial::AlertThreshold::Warning,
                    limits: LimitOverrides::default(),
                })
                .collect(),
            comparisons: Vec::new(),
        };
        let path = out.join(format!("{}.toml", export.dir_name));
        let text = toml::to_string(&trial).context("writing a trial file as TOML")?;
        std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))?;
    }
    let first = series.exports.first();
    println!(
        "wrote {} exports of {} patients ({} mix) to {}, from {} monthly, each with its trial file ({}/export-NN.toml)",
        series.exports.len(),
        spec.cohort.patients,
        spec.cohort.mix.name(),
        out.display(),
        first.map(|e| e.as_of.to_string()).unwrap_or_default(),
        out.display()
    );
    match drift {
        Some(d) => println!("  drift: {} from export {} on", d.kind.name(), d.from),
        None => println!("  no drift: a stable control series"),
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
    let sandbox = progress::sandbox(1)?;
    let cache = progress::cache(ArtifactCache::default_dir());
    let planned: Vec<_> = paths
        .iter()
        .map(|path| progress::PlannedPlugin {
            path: path.clone(),
            options: LoadOptions::authoring(Limits::default()),
        })
        .collect();
    for plugin in progress::load_plugins(&sandbox, &cache, &planned)? {
        print!("{}", table::describe(&plugin));
    }
    Ok(ExitCode::SUCCESS)
}
