//! The run registry on the command line: registering a finished trial or merge, and
//! `livelab runs` (list, `diff A B`, `drift`). The work is `livelab_registry`'s; this file
//! parses, opens the registry and prints.

use std::fmt::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use jiff::civil::Date;
use livelab_host::text::{escape_hidden, is_hidden};
use livelab_host::trial::TrialSummary;
use livelab_registry::diff::{Changed, PairedFigures, RunDiff};
use livelab_registry::drift::{self, DriftOptions, Flag, SeriesDrift};
use livelab_registry::{
    NewRun, RegistryUrl, RunFilter, RunId, RunRow, SeriesFilter, blocking::Registry, export_sha256,
};

/// Which registry a command uses.
#[derive(Args)]
pub struct RegistryUrlArg {
    /// The run registry: sqlite://FILE or postgres://USER@HOST:PORT/DATABASE. Default:
    /// $LIVELAB_REGISTRY, else registry.sqlite in the platform's data directory.
    #[arg(long, value_name = "URL")]
    registry: Option<String>,
}

impl RegistryUrlArg {
    fn open(&self) -> anyhow::Result<Registry> {
        let url = RegistryUrl::resolve(self.registry.as_deref())?;
        Ok(Registry::open(&url)?)
    }
}

/// What `trial` and `merge` take to register their run.
#[derive(Args)]
pub struct RegisterArgs {
    #[command(flatten)]
    url: RegistryUrlArg,
    /// Do not record this run in the registry.
    #[arg(long, conflicts_with = "registry")]
    no_registry: bool,
}

/// Records a finished run whose files are in `out`. Called after every file is written,
/// so that a registry that cannot be reached costs the registration, not the results.
pub fn register(args: &RegisterArgs, summary: &TrialSummary, out: &Path) -> anyhow::Result<()> {
    if args.no_registry {
        return Ok(());
    }
    let kept = || {
        format!(
            "registering the run in the registry (its files are written and kept in {}; \
             `--no-registry` skips registering)",
            out.display()
        )
    };
    let report_dir = std::path::absolute(out).unwrap_or_else(|_| out.to_owned());
    let records = Path::new(&summary.run.records_source);
    let records_sha256 = match export_sha256(records) {
        Ok(hash) => Some(hash),
        Err(e) => {
            eprintln!(
                "note: the export {} could not be hashed for the registry ({e}); the run is \
                 registered without its content hash",
                records.display()
            );
            None
        }
    };
    let registry = args.url.open().with_context(kept)?;
    let id = registry
        .record(&NewRun {
            summary,
            report_dir: report_dir.display().to_string(),
            records_sha256,
            recorded_at: jiff::Timestamp::now(),
        })
        .with_context(kept)?;
    println!("registered as run {id} in {}", registry.url());
    Ok(())
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct RunsArgs {
    #[command(subcommand)]
    action: Option<RunsAction>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Subcommand)]
enum RunsAction {
    /// Compare two runs: only what differs (plugins, versions and hashes, effectiveness
    /// with 95 % intervals, alert counts, paired comparisons, case mix, errors).
    Diff(DiffArgs),
    /// Per plugin and topic across successive runs of a region: alert rate on a p-chart
    /// (3-sigma limits), sensitivity and specificity (Wilson intervals), case-mix shift
    /// (population stability index). Exits 1 when a run is flagged.
    Drift(DriftArgs),
}

#[derive(Args)]
struct ListArgs {
    #[command(flatten)]
    url: RegistryUrlArg,
    /// Print the runs as JSON.
    #[arg(long)]
    json: bool,
    #[arg(long)]
    region: Option<String>,
    /// Runs in which this plugin (id) took part.
    #[arg(long)]
    plugin: Option<String>,
    /// Runs with a plugin at this version (with --plugin: that plugin's version).
    #[arg(long)]
    version: Option<String>,
    /// Runs evaluated on or after this date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    from: Option<Date>,
    /// Runs evaluated on or before this date.
    #[arg(long, value_name = "YYYY-MM-DD")]
    to: Option<Date>,
}

#[derive(Args)]
struct DiffArgs {
    a: RunId,
    b: RunId,
    #[command(flatten)]
    url: RegistryUrlArg,
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct DriftArgs {
    #[command(flatten)]
    url: RegistryUrlArg,
    #[arg(long)]
    region: Option<String>,
    #[arg(long)]
    plugin: Option<String>,
    #[arg(long)]
    json: bool,
}

pub fn runs(args: RunsArgs) -> anyhow::Result<ExitCode> {
    match args.action {
        None => list(args.list),
        Some(RunsAction::Diff(args)) => diff(args),
        Some(RunsAction::Drift(args)) => drift(args),
    }
}

fn list(args: ListArgs) -> anyhow::Result<ExitCode> {
    let registry = args.url.open()?;
    let runs = registry.list(&RunFilter {
        region: args.region,
        plugin: args.plugin,
        version: args.version,
        from: args.from,
        to: args.to,
    })?;
    if args.json {
        println!("{}", json(&runs)?);
    } else {
        print!("{}", runs_table(&runs));
    }
    Ok(ExitCode::SUCCESS)
}

/// JSON for a terminal or a pipe: every hidden character inside a string written as a `\u`
/// escape, which a JSON reader reads back as the same character and a terminal shows inert.
/// (serde_json escapes ASCII control characters itself; the only raw ones left are its
/// own line breaks and indentation.)
fn json(value: &impl serde::Serialize) -> anyhow::Result<String> {
    let text = serde_json::to_string_pretty(value)?;
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if !c.is_ascii() && is_hidden(c) {
            let mut units = [0; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(out, "\\u{unit:04x}").expect("writing to a String");
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// What a run, a plugin or a stored summary names can hold anything: escaped, always.
fn shown(text: &str) -> std::borrow::Cow<'_, str> {
    escape_hidden(text)
}

/// The first 12 characters of a hash, as a stored run holds it (which may be anything).
fn short_hash(hash: &str) -> String {
    escape_hidden(&hash.chars().take(12).collect::<String>()).into_owned()
}

fn runs_table(runs: &[RunRow]) -> String {
    let mut out = String::new();
    if runs.is_empty() {
        out.push_str("no runs\n");
        return out;
    }
    writeln!(
        out,
        "{:>5}  {:<10}  {:<16}  {:<24}  {:>7}  plugins",
        "run", "evaluated", "region", "trial", "records"
    )
    .unwrap();
    for run in runs {
        let plugins: Vec<String> = run
            .plugins
            .iter()
            .map(|p| format!("{}@{}", shown(&p.plugin), shown(&p.version)))
            .collect();
        writeln!(
            out,
            "{:>5}  {:<10}  {:<16}  {:<24}  {:>7}  {}",
            run.id,
            run.evaluation_date,
            shown(&run.region),
            shown(&run.trial),
            run.records_read,
            plugins.join(", ")
        )
        .unwrap();
        writeln!(out, "{:>5}  report: {}", "", shown(&run.report_dir)).unwrap();
    }
    out
}

fn diff(args: DiffArgs) -> anyhow::Result<ExitCode> {
    let registry = args.url.open()?;
    let (a, b) = (registry.run(args.a)?, registry.run(args.b)?);
    let diff = RunDiff::between(&a, &b);
    if args.json {
        println!("{}", json(&diff)?);
    } else {
        print!("{}", diff_text(&diff));
    }
    Ok(ExitCode::SUCCESS)
}

fn diff_text(d: &RunDiff) -> String {
    let mut out = String::new();
    let (a, b) = (d.a, d.b);
    if d.is_empty() {
        writeln!(out, "runs {a} and {b} do not differ").unwrap();
        return out;
    }
    writeln!(out, "run {a} → run {b}, what differs:").unwrap();
    for f in &d.fields {
        writeln!(
            out,
            "  {}: {} → {}",
            f.field.as_str(),
            shown(&f.a.to_string()),
            shown(&f.b.to_string())
        )
        .unwrap();
    }
    section(&mut out, "plugins", &d.plugins, |p| {
        format!(
            "{} {} ({})",
            shown(&p.version),
            short_hash(&p.sha256),
            p.signature.as_str()
        )
    });
    section(&mut out, "effectiveness", &d.effectiveness, |m| {
        format!(
            "{}: sensitivity {} · specificity {} · PPV {} · alert rate {}",
            shown(&m.topic),
            m.sensitivity,
            m.specificity,
            m.ppv,
            m.alert_rate
        )
    });
    section(&mut out, "alerts", &d.alerts, |a| {
        format!(
            "{} patients with cards; cards {} info, {} warning, {} critical",
            a.patients_with_cards, a.cards.info, a.cards.warning, a.cards.critical
        )
    });
    section(&mut out, "paired comparisons", &d.paired, |p| {
        let measures: Vec<String> = PairedFigures::MEASURES
            .iter()
            .map(|(name, figures)| {
                let (difference, test) = figures(p);
                format!("{name} {difference}, {test}")
            })
            .collect();
        format!(
            "{} patients ({} excluded); {}",
            p.patients,
            p.excluded,
            measures.join(" · ")
        )
    });
    if !d.case_mix.is_empty() {
        writeln!(out, "case mix (records):").unwrap();
        for c in &d.case_mix {
            writeln!(out, "  {}: {} → {}", c.subgroup, c.a, c.b).unwrap();
        }
    }
    if !d.errors.is_empty() {
        writeln!(out, "errors:").unwrap();
        for e in &d.errors {
            writeln!(
                out,
                "  {} {}: {} → {}",
                shown(&e.plugin),
                e.cause.as_str(),
                e.a,
                e.b
            )
            .unwrap();
        }
    }
    out
}

/// A section of things keyed by plugin or by pair: the key (escaped), then each run's value
/// as `show` writes it (which escapes what it takes from the run).
fn section<T, K: std::fmt::Display>(
    out: &mut String,
    title: &str,
    changes: &[Changed<T, K>],
    show: impl Fn(&T) -> String,
) {
    if changes.is_empty() {
        return;
    }
    writeln!(out, "{title}:").unwrap();
    for c in changes {
        let side = |v: &Option<T>| v.as_ref().map_or("(absent)".to_owned(), &show);
        writeln!(out, "  {}", shown(&c.key.to_string())).unwrap();
        writeln!(out, "    a: {}", side(&c.a)).unwrap();
        writeln!(out, "    b: {}", side(&c.b)).unwrap();
    }
}

fn drift(args: DriftArgs) -> anyhow::Result<ExitCode> {
    let registry = args.url.open()?;
    let series = registry.series(&SeriesFilter {
        region: args.region,
        plugin: args.plugin,
    })?;
    let options = DriftOptions::default();
    let judged: Vec<SeriesDrift> = series.iter().map(|s| drift::watch(s, &options)).collect();
    if args.json {
        println!("{}", json(&judged)?);
    } else {
        print!("{}", drift_text(&judged));
    }
    Ok(if judged.iter().any(SeriesDrift::flagged) {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn percent(p: f64) -> String {
    format!("{:.1}", p * 100.0)
}

fn drift_text(judged: &[SeriesDrift]) -> String {
    let mut out = String::new();
    if judged.is_empty() {
        out.push_str("no series: no registered run has effectiveness figures\n");
        return out;
    }
    let mut flagged = 0;
    for s in judged {
        let k = &s.key;
        writeln!(
            out,
            "{} · {} {} ({}) · topic {}",
            shown(&k.region),
            shown(&k.plugin),
            shown(&s.version),
            short_hash(&k.sha256),
            shown(&k.topic)
        )
        .unwrap();
        writeln!(
            out,
            "  {:>5}  {:<10}  {:<22}  {:<19}  {:<22}  {:<22}  flags",
            "run",
            "evaluated",
            "alert rate %",
            "p-chart limits %",
            "sensitivity %",
            "specificity %"
        )
        .unwrap();
        for p in &s.points {
            let limits = p.limits.map_or("–".to_owned(), |l| {
                format!("{}–{}", percent(l.lower), percent(l.upper))
            });
            let flags: Vec<String> = p.flags.iter().map(flag_text).collect();
            flagged += usize::from(!flags.is_empty());
            writeln!(
                out,
                "  {:>5}  {:<10}  {:<22}  {:<19}  {:<22}  {:<22}  {}",
                p.run,
                p.evaluation_date,
                p.alert_rate.to_string(),
                limits,
                p.sensitivity.to_string(),
                p.specificity.to_string(),
                if flags.is_empty() {
                    "–".to_owned()
                } else {
                    format!("FLAG {}", flags.join("; "))
                }
            )
            .unwrap();
        }
    }
    writeln!(
        out,
        "\n{} series, {flagged} flagged run{}",
        judged.len(),
        if flagged == 1 { "" } else { "s" }
    )
    .unwrap();
    out
}

fn flag_text(flag: &Flag) -> String {
    let dir = |d: drift::Direction| match d {
        drift::Direction::Up => "above",
        drift::Direction::Down => "below",
    };
    match flag {
        Flag::AlertRate {
            direction,
            rate,
            limits,
        } => format!(
            "alert rate {} % {} the limits {}–{} %",
            percent(*rate),
            dir(*direction),
            percent(limits.lower),
            percent(limits.upper)
        ),
        Flag::Sensitivity {
            direction,
            baseline,
            ..
        } => format!("sensitivity {} the baseline's {baseline}", dir(*direction)),
        Flag::Specificity {
            direction,
            baseline,
            ..
        } => format!("specificity {} the baseline's {baseline}", dir(*direction)),
        Flag::CaseMix { dimension, psi } => {
            format!("case mix by {} shifted (PSI {psi:.2})", dimension.as_str())
        }
    }
}
