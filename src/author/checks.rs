//! The plugin author's checks: `livelab test` (cards on fixture records against expected
//! files, `--bless` to rewrite them, optionally effectiveness on the sample records) and
//! `livelab bench` (what one evaluation costs, beside a shipped reference plugin).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;
use hdrhistogram::Histogram;
use jiff::civil::Date;
use livelab_host::plugin::cache::Obtained;
use livelab_host::run::CdsCard;
use livelab_host::trial::AlertThreshold;
use livelab_host::trial::effectiveness::{Labels, alerted};
use livelab_host::trial::stats::Confusion;
use livelab_host::{
    ArtifactCache, EvaluationContext, Limits, LoadOptions, Plugin, Record, RecordReader, Sandbox,
};
use serde::Serialize;

use crate::artifacts::{self, SAMPLE_RECORDS};
use crate::terminal::progress;

#[derive(Args)]
pub struct TestArgs {
    /// The plugin: a package directory holding `fixtures/` and `expected/`, or a component.
    plugin: PathBuf,
    /// Fixture records (FHIR Bundles). Default: `<plugin>/fixtures`.
    #[arg(long, value_name = "DIR")]
    fixtures: Option<PathBuf>,
    /// Expected cards, one `<record>.json` per fixture record. Default: `<plugin>/expected`.
    #[arg(long, value_name = "DIR")]
    expected: Option<PathBuf>,
    /// The evaluation date. Default: `as_of` in the fixtures' cohort.json.
    #[arg(long, value_name = "DATE")]
    date: Option<Date>,
    /// Rewrite the expected files from what the plugin returns now (then review the diff).
    #[arg(long)]
    bless: bool,
    /// Also run on the shipped sample records and show sensitivity and specificity against
    /// their labels for this topic (default: the plugin's id).
    #[arg(long, value_name = "TOPIC", num_args = 0..=1, default_missing_value = "")]
    sample: Option<String>,
}

#[derive(Args)]
pub struct BenchArgs {
    /// The plugin: a package directory or a component.
    plugin: PathBuf,
    /// Records to evaluate. Default: the shipped sample records.
    #[arg(long, value_name = "PATH", default_value = SAMPLE_RECORDS)]
    records: PathBuf,
    /// The shipped plugin to measure beside it (`sample:<id>`), or `none`.
    #[arg(long, default_value = "sample:home-bp")]
    reference: String,
    /// Evaluate each record this many times.
    #[arg(long, default_value_t = 3)]
    rounds: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// What to load for an author's directory: a plugin's source directory (its `plugin.toml` is
/// a template with no hash yet) stands for the package `livelab build` made of it.
fn built_package(path: &Path) -> anyhow::Result<PathBuf> {
    let template = path.join("plugin.toml");
    let is_template = std::fs::read_to_string(&template)
        .is_ok_and(|text| text.lines().any(|l| l.trim() == "sha256 = \"\""));
    if !is_template {
        return Ok(path.to_owned());
    }
    let package = path.join("target/package");
    if !package.join("plugin.toml").is_file() {
        bail!(
            "{} is a plugin's source; build it first (`livelab build {}`)",
            path.display(),
            path.display()
        );
    }
    Ok(package)
}

fn load(sandbox: &Sandbox, cache: &ArtifactCache, path: &Path) -> anyhow::Result<Plugin> {
    let path = &built_package(path)?;
    let plugin = Plugin::load(
        sandbox,
        cache,
        path,
        &LoadOptions::authoring(Limits::default()),
    )?;
    progress::announce_compilation(&plugin, cache.dir());
    Ok(plugin)
}

fn read_records(path: &Path, date: Option<Date>) -> anyhow::Result<(Vec<Record>, Date)> {
    let date = match date {
        Some(date) => date,
        None => {
            let cohort = path.join("cohort.json");
            if !cohort.is_file() {
                bail!(
                    "{} has no cohort.json to take the evaluation date from; add one \
                     ({{\"as_of\": \"2026-11-01\"}}) or pass --date",
                    path.display()
                );
            }
            progress::evaluation_date(None, path)?.0
        }
    };
    let mut records = Vec::new();
    for record in RecordReader::open(path, date)? {
        records.push(
            record
                .map_err(|e| anyhow::anyhow!("{}: {} (fix the fixture)", e.location, e.message))?,
        );
    }
    Ok((records, date))
}

fn cards_json(cards: &[livelab_host::wit::Card]) -> String {
    let cards: Vec<CdsCard> = cards.iter().map(CdsCard::from).collect();
    serde_json::to_string_pretty(&cards).expect("cards serialise") + "\n"
}

pub fn test(args: TestArgs) -> anyhow::Result<ExitCode> {
    let fixtures = args
        .fixtures
        .clone()
        .unwrap_or_else(|| args.plugin.join("fixtures"));
    let expected_dir = args
        .expected
        .clone()
        .unwrap_or_else(|| args.plugin.join("expected"));
    let sandbox = progress::sandbox(1)?;
    let cache = progress::cache(ArtifactCache::default_dir());
    let plugin = load(&sandbox, &cache, &args.plugin)?;
    let (records, date) = read_records(&fixtures, args.date)
        .with_context(|| format!("reading the fixtures in {}", fixtures.display()))?;
    if records.is_empty() {
        bail!(
            "{} holds no fixture records; add FHIR Bundles (one patient each)",
            fixtures.display()
        );
    }
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: 0,
        keep_inputs: false,
    };
    let (mut passed, mut failed, mut blessed) = (0, 0, 0);
    for record in &records {
        let outcome = plugin.evaluate(&sandbox, record, &ctx);
        let actual = match &outcome.result {
            Ok(cards) => cards_json(cards),
            Err(failure) => {
                println!("FAIL {}: the evaluation failed: {failure}", record.key);
                failed += 1;
                continue;
            }
        };
        let path = expected_dir.join(format!("{}.json", record.key));
        if args.bless {
            std::fs::create_dir_all(&expected_dir)
                .with_context(|| format!("creating {}", expected_dir.display()))?;
            std::fs::write(&path, &actual)
                .with_context(|| format!("writing {}", path.display()))?;
            blessed += 1;
            continue;
        }
        let expected = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(_) => {
                println!(
                    "FAIL {}: no expected file {} (run with --bless to write it, then review it)",
                    record.key,
                    path.display()
                );
                failed += 1;
                continue;
            }
        };
        // Compare as JSON, so formatting of a hand-written expected file does not matter.
        let same = serde_json::from_str::<serde_json::Value>(&expected).ok()
            == serde_json::from_str::<serde_json::Value>(&actual).ok();
        if same {
            passed += 1;
        } else {
            failed += 1;
            println!("FAIL {} ({}):", record.key, path.display());
            print!("{}", diff(&expected, &actual));
        }
    }
    if args.bless {
        println!(
            "blessed {blessed} expected file(s) in {}; review the diff before committing",
            expected_dir.display()
        );
    } else {
        println!(
            "{} on {} fixture record(s): {passed} passed, {failed} failed",
            plugin.info.id,
            records.len()
        );
    }
    if let Some(topic) = &args.sample {
        let topic = if topic.is_empty() {
            plugin.info.id.clone()
        } else {
            topic.clone()
        };
        print!("{}", sample_effectiveness(&sandbox, &plugin, &topic)?);
    }
    Ok(if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// A line diff of expected and actual cards, `-` expected, `+` actual. Card text is the
/// plugin's: JSON escapes control characters but not bidi or other invisible ones, so each
/// line is made inert before it reaches the terminal (issue 12, item 2).
fn diff(expected: &str, actual: &str) -> String {
    let diff = similar::TextDiff::from_lines(expected, actual);
    let mut out = String::new();
    for change in diff.iter_all_changes() {
        let sign = match change.tag() {
            similar::ChangeTag::Delete => "-",
            similar::ChangeTag::Insert => "+",
            similar::ChangeTag::Equal => " ",
        };
        let line = change.to_string_lossy();
        let line = line.strip_suffix('\n').unwrap_or(&line);
        writeln!(out, "  {sign} {}", livelab_host::text::escape_hidden(line))
            .expect("writing to a String");
    }
    out
}

/// Sensitivity and specificity of the plugin's warning-or-critical cards against the
/// sample labels of `topic`.
fn sample_effectiveness(sandbox: &Sandbox, plugin: &Plugin, topic: &str) -> anyhow::Result<String> {
    let samples = Path::new(SAMPLE_RECORDS);
    let labels = Labels::load(&samples.join("labels.csv"))?;
    if !labels.topics().contains(topic) {
        bail!(
            "the sample labels have no topic {topic:?}; they have {} (pass --sample TOPIC)",
            labels
                .topics()
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let (records, date) = read_records(samples, None)?;
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: 0,
        keep_inputs: false,
    };
    let mut confusion = Confusion::default();
    let mut errors = 0;
    for record in &records {
        let Some(label) = labels.get(&record.key, topic) else {
            continue;
        };
        match plugin.evaluate(sandbox, record, &ctx).result {
            Ok(cards) => confusion.add(alerted(&cards, AlertThreshold::Warning), label),
            Err(_) => errors += 1,
        }
    }
    let m = confusion.metrics();
    // The shared pieces of a proportion, in this command's sentence form.
    let pct = |p: &livelab_host::trial::stats::Proportion| match (p.percent(), p.interval_percent())
    {
        (Some(e), Some(ci)) => format!("{e} % (95 % CI {ci})"),
        _ => "–".into(),
    };
    Ok(format!(
        "on the {} sample records, topic {topic} (alert = a warning or critical card):\n  \
         TP {} FP {} FN {} TN {}, {errors} evaluation error(s)\n  sensitivity {}\n  specificity {}\n",
        records.len(),
        confusion.tp,
        confusion.fp,
        confusion.fn_,
        confusion.tn,
        pct(&m.sensitivity),
        pct(&m.specificity),
    ))
}

/// What one plugin costs on the records.
#[derive(Serialize)]
struct Cost {
    plugin: String,
    sha256: String,
    evaluations: u64,
    errors: u64,
    /// Compiling the component (no cache) and loading it precompiled, in milliseconds.
    compile_ms: f64,
    cached_load_ms: f64,
    /// Per evaluation, in microseconds: the whole evaluation (fresh instance), the
    /// instantiation alone, and the rest (lowering, the call, lifting, teardown).
    latency_us: Percentiles,
    instantiate_us: Percentiles,
    call_us: Percentiles,
    fuel: Percentiles,
    peak_memory_kib: Percentiles,
}

#[derive(Serialize)]
struct Percentiles {
    p50: f64,
    p90: f64,
    p99: f64,
    max: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>, scale: f64) -> Percentiles {
        let at = |q| h.value_at_quantile(q) as f64 / scale;
        Percentiles {
            p50: at(0.5),
            p90: at(0.9),
            p99: at(0.99),
            max: h.max() as f64 / scale,
        }
    }
}

fn measure(
    sandbox: &Sandbox,
    path: &Path,
    records: &[Record],
    ctx: &EvaluationContext,
    rounds: usize,
) -> anyhow::Result<Cost> {
    let path = &built_package(path)?;
    // Compile without a cache, then load through a fresh cache twice: the second load is
    // what every later run pays.
    let uncached = Plugin::load(
        sandbox,
        &progress::cache(None),
        path,
        &LoadOptions::authoring(Limits::default()),
    )?;
    let cache_dir = tempfile::tempdir().context("creating a scratch cache")?;
    let cache = progress::cache(Some(cache_dir.path().to_owned()));
    load(sandbox, &cache, path)?;
    let plugin = load(sandbox, &cache, path)?;
    let ms = |o: Obtained| match o {
        Obtained::Compiled(d) | Obtained::Cached(d) => d.as_secs_f64() * 1e3,
    };
    let new = || Histogram::<u64>::new_with_bounds(1, 1 << 42, 3).expect("valid bounds");
    let (mut latency, mut instantiate, mut call, mut fuel, mut memory) =
        (new(), new(), new(), new(), new());
    let mut errors = 0;
    for _ in 0..rounds.max(1) {
        for record in records {
            let outcome = plugin.evaluate(sandbox, record, ctx);
            if outcome.result.is_err() {
                errors += 1;
            }
            latency.saturating_record(outcome.latency_ns);
            instantiate.saturating_record(outcome.instantiate_ns);
            call.saturating_record(outcome.latency_ns.saturating_sub(outcome.instantiate_ns));
            if let Some(exact) = outcome.fuel.exact() {
                fuel.saturating_record(exact);
            }
            memory.saturating_record(outcome.peak_memory_bytes);
        }
    }
    Ok(Cost {
        plugin: plugin.info.id.clone(),
        sha256: plugin.sha256.clone(),
        evaluations: latency.len(),
        errors,
        compile_ms: ms(uncached.obtained),
        cached_load_ms: ms(plugin.obtained),
        latency_us: Percentiles::of(&latency, 1e3),
        instantiate_us: Percentiles::of(&instantiate, 1e3),
        call_us: Percentiles::of(&call, 1e3),
        fuel: Percentiles::of(&fuel, 1.0),
        peak_memory_kib: Percentiles::of(&memory, 1024.0),
    })
}

pub fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    let sandbox = progress::sandbox(1)?;
    let (date, _) = progress::evaluation_date(None, &args.records)?;
    let (records, date) = read_records(&args.records, Some(date))?;
    let ctx = EvaluationContext {
        evaluation_date: date,
        seed: 0,
        keep_inputs: false,
    };
    let mut paths = vec![args.plugin.clone()];
    if args.reference != "none" {
        let id = args
            .reference
            .strip_prefix("sample:")
            .unwrap_or(&args.reference);
        let reference = artifacts::SAMPLE_PACKAGES
            .iter()
            .find(|(name, _)| *name == id)
            .map(|(_, path)| PathBuf::from(path))
            .with_context(|| format!("there is no sample plugin {id:?} to compare with"))?;
        paths.push(reference);
    }
    let costs = paths
        .iter()
        .map(|path| measure(&sandbox, path, &records, &ctx, args.rounds))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.json {
        let by_plugin: BTreeMap<&str, &Cost> =
            costs.iter().map(|c| (c.plugin.as_str(), c)).collect();
        println!("{}", serde_json::to_string_pretty(&by_plugin)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{} records from {}, {} round(s), one fresh instance per evaluation, 1 thread\n",
        records.len(),
        args.records.display(),
        args.rounds.max(1)
    );
    println!(
        "{:<20} {:>9} {:>9} {:>9} {:>11} {:>9} {:>10} {:>9} {:>10} {:>10}",
        "plugin",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "instant. µs",
        "call µs",
        "fuel p50",
        "peak KiB",
        "compile ms",
        "cached ms"
    );
    for c in &costs {
        println!(
            "{:<20} {:>9.1} {:>9.1} {:>9.1} {:>11.1} {:>9.1} {:>10.0} {:>9.0} {:>10.1} {:>10.1}",
            c.plugin,
            c.latency_us.p50,
            c.latency_us.p90,
            c.latency_us.p99,
            c.instantiate_us.p50,
            c.call_us.p50,
            c.fuel.p50,
            c.peak_memory_kib.max,
            c.compile_ms,
            c.cached_load_ms
        );
    }
    if let [mine, reference] = &costs[..] {
        println!(
            "\n{} costs {:.1}× the reference {} per evaluation (p50); {} of its evaluations failed",
            mine.plugin,
            mine.latency_us.p50 / reference.latency_us.p50.max(f64::MIN_POSITIVE),
            reference.plugin,
            mine.errors
        );
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::diff;

    #[test]
    fn a_card_diff_cannot_act_on_the_terminal() {
        let expected = "{\n  \"summary\": \"ok\"\n}\n";
        // A bidi override and an escape sequence as a plugin could put in its card text
        // (a hand-edited expected file, or JSON a plugin controls).
        let actual = "{\n  \"summary\": \"\u{202e}kO \u{1b}[2J\"\n}\n";
        let shown = diff(expected, actual);
        assert!(
            !shown
                .lines()
                .flat_map(str::chars)
                .any(livelab_host::text::is_hidden),
            "a hidden character reached the diff: {shown:?}"
        );
        assert!(shown.contains("  -   \"summary\": \"ok\"\n"), "{shown}");
        assert!(shown.contains("\\u{202e}kO \\u{1b}[2J"), "{shown}");
    }
}
