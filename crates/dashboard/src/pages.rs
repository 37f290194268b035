//! The pages: each reads what it shows from the registry, turns it into text and chart
//! geometry (every string a run or plugin controls through [`shown`]), and renders its
//! `askama` template, which escapes HTML. The statistics are the registry's
//! ([`RunDiff::between`], [`drift::watch`]); nothing is computed twice.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::path::{Path, PathBuf};

use askama::Template;
use jiff::civil::Date;
use livelab_host::trial::stats::Proportion;
use livelab_registry::diff::{Changed, Measures, PairedFigures, RunDiff};
use livelab_registry::drift::{self, DriftOptions, DriftPoint, Flag, SeriesDrift};
use livelab_registry::{Registry, RunFilter, RunId, RunRow, Series, SeriesFilter, StoredRun};
use serde::Deserialize;

use crate::chart::{Chart, ChartValue, Mark, chart};
use crate::error::PageError;
use crate::view::{href, plugin_href, run_href, share, short_hash, shown, with_interval};

/// The file a run's page links to, inside the run's report directory.
pub const REPORT_FILE: &str = "report.html";

/// An option of a filter's `<select>`.
pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

fn choices(values: BTreeSet<String>, selected: &str) -> Vec<Choice> {
    values
        .into_iter()
        .map(|value| Choice {
            label: shown(&value),
            selected: value == selected,
            value,
        })
        .collect()
}

/// A query parameter: absent and empty are the same (an empty form field).
fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}

fn parse_date(name: &str, value: &Option<String>) -> Result<Option<Date>, PageError> {
    given(value)
        .map(|text| {
            text.parse::<Date>().map_err(|_| {
                PageError::BadRequest(format!(
                    "{name}={}: not a date; give it as YYYY-MM-DD",
                    shown(text)
                ))
            })
        })
        .transpose()
}

fn parse_run(name: &str, value: &Option<String>) -> Result<RunId, PageError> {
    let text = given(value).ok_or_else(|| {
        PageError::BadRequest(format!(
            "no run {name}: choose two runs on the runs list, or open /compare?a=RUN&b=RUN"
        ))
    })?;
    text.parse::<RunId>().map_err(|_| {
        PageError::BadRequest(format!(
            "{name}={}: not a run number (the runs list shows them as #12)",
            shown(text)
        ))
    })
}

/// A missing run is a 404 with the registry's message; other registry errors stay 500s.
async fn stored_run(registry: &Registry, id: RunId) -> Result<StoredRun, PageError> {
    match registry.run(id).await {
        Err(e @ livelab_registry::RegistryError::NoRun { .. }) => {
            Err(PageError::NotFound(e.to_string()))
        }
        other => Ok(other?),
    }
}

// ------------------------------------------------------------------ runs

/// `/`'s query string: the runs list's filters.
#[derive(Debug, Default, Deserialize)]
pub struct RunsQuery {
    pub region: Option<String>,
    pub plugin: Option<String>,
    pub version: Option<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The filters as the form shows them again.
pub struct FilterForm {
    pub version: String,
    pub from: String,
    pub to: String,
}

pub struct PluginChip {
    pub label: String,
    pub href: String,
}

pub struct RunLine {
    pub id: RunId,
    pub href: String,
    pub trial: String,
    pub region: String,
    pub drift_href: String,
    pub date: Date,
    pub plugins: Vec<PluginChip>,
    pub records: u64,
    pub errors: u64,
    pub recorded: String,
}

#[derive(Template)]
#[template(path = "runs.html")]
pub struct RunsPage {
    pub registry: String,
    pub regions: Vec<Choice>,
    pub plugins: Vec<Choice>,
    pub filter: FilterForm,
    pub filtered: bool,
    pub runs: Vec<RunLine>,
}

pub async fn runs(registry: &Registry, query: &RunsQuery) -> Result<String, PageError> {
    let filter = RunFilter {
        region: given(&query.region).map(str::to_owned),
        plugin: given(&query.plugin).map(str::to_owned),
        version: given(&query.version).map(str::to_owned),
        from: parse_date("from", &query.from)?,
        to: parse_date("to", &query.to)?,
    };
    let all = registry.list(&RunFilter::default()).await?;
    let regions = all.iter().map(|r| r.region.clone()).collect();
    let plugin_ids = all
        .iter()
        .flat_map(|r| r.plugins.iter().map(|p| p.plugin.clone()))
        .collect();
    let filtered = filter != RunFilter::default();
    let rows = if filtered {
        registry.list(&filter).await?
    } else {
        all
    };
    let page = RunsPage {
        registry: registry.url().to_string(),
        regions: choices(regions, given(&query.region).unwrap_or_default()),
        plugins: choices(plugin_ids, given(&query.plugin).unwrap_or_default()),
        filter: FilterForm {
            version: query.version.clone().unwrap_or_default(),
            from: query.from.clone().unwrap_or_default(),
            to: query.to.clone().unwrap_or_default(),
        },
        filtered,
        runs: rows.iter().map(run_line).collect(),
    };
    Ok(page.render()?)
}

fn run_line(row: &RunRow) -> RunLine {
    RunLine {
        id: row.id,
        href: run_href(row.id),
        trial: shown(&row.trial),
        region: shown(&row.region),
        drift_href: href("/drift", &[("region", &row.region)]),
        date: row.evaluation_date,
        plugins: row
            .plugins
            .iter()
            .map(|p| PluginChip {
                label: shown(&format!("{} {}", p.plugin, p.version)),
                href: plugin_href(&p.plugin),
            })
            .collect(),
        records: row.records_read,
        errors: row.record_errors,
        recorded: row.recorded_at.strftime("%Y-%m-%d %H:%M UTC").to_string(),
    }
}

// ------------------------------------------------------------------ one run

pub struct PluginLine {
    pub id: String,
    pub href: String,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub sha256_short: String,
    pub signature: String,
    pub pinned: &'static str,
}

pub struct EffectivenessLine {
    pub plugin: String,
    pub topic: String,
    pub tp: u64,
    pub fp: u64,
    pub fn_: u64,
    pub tn: u64,
    pub sensitivity: String,
    pub specificity: String,
    pub ppv: String,
    pub npv: String,
    pub alert_rate: String,
}

pub struct ComparisonLine {
    pub baseline: String,
    pub candidate: String,
    pub topic: String,
    pub patients: u64,
    pub sensitivity: String,
    pub sensitivity_p: String,
    pub specificity: String,
    pub specificity_p: String,
}

#[derive(Template)]
#[template(path = "run.html")]
pub struct RunPage {
    pub registry: String,
    pub id: RunId,
    pub trial: String,
    pub facts: Vec<(&'static str, String)>,
    pub report: Option<String>,
    pub report_dir: String,
    pub plugins: Vec<PluginLine>,
    pub effectiveness: Vec<EffectivenessLine>,
    pub comparisons: Vec<ComparisonLine>,
    pub case_mix: Vec<(&'static str, &'static str, u64)>,
    pub errors: Vec<(String, &'static str, u64)>,
}

/// Where run `id`'s report would be, if its directory still holds one.
pub fn report_path(row: &RunRow) -> PathBuf {
    Path::new(&row.report_dir).join(REPORT_FILE)
}

pub async fn run(registry: &Registry, id: RunId) -> Result<String, PageError> {
    let stored = stored_run(registry, id).await?;
    let (row, summary) = (&stored.row, &stored.summary);
    let report = report_path(row)
        .is_file()
        .then(|| format!("{}/{REPORT_FILE}", run_href(id)));
    let mut facts = vec![
        ("region", shown(&row.region)),
        ("evaluation date", row.evaluation_date.to_string()),
        ("records", shown(&row.records_source)),
        (
            "records sha256",
            row.records_sha256.as_deref().map_or("–".into(), shown),
        ),
        ("trial file", shown(&summary.trial.file)),
        ("trial file sha256", shown(&summary.trial.sha256)),
        ("records read", row.records_read.to_string()),
        ("records evaluated", row.records_evaluated.to_string()),
        ("record errors", row.record_errors.to_string()),
        ("livelab version", shown(&summary.run.livelab_version)),
        (
            "recorded",
            row.recorded_at
                .strftime("%Y-%m-%d %H:%M:%S UTC")
                .to_string(),
        ),
    ];
    if let Some(shards) = &row.shards {
        facts.push(("shards", shown(shards)));
    }
    let effectiveness = summary.effectiveness.as_ref();
    let page = RunPage {
        registry: registry.url().to_string(),
        id,
        trial: shown(&row.trial),
        facts,
        report,
        report_dir: shown(&row.report_dir),
        plugins: row
            .plugins
            .iter()
            .map(|p| PluginLine {
                id: shown(&p.plugin),
                href: plugin_href(&p.plugin),
                name: shown(&p.name),
                version: shown(&p.version),
                sha256: shown(&p.sha256),
                sha256_short: short_hash(&p.sha256),
                signature: match &p.signer {
                    Some(signer) => format!("{} ({})", p.signature.as_str(), shown(signer)),
                    None => p.signature.as_str().to_owned(),
                },
                pinned: if p.pinned { "yes" } else { "no" },
            })
            .collect(),
        effectiveness: effectiveness
            .into_iter()
            .flat_map(|e| &e.plugins)
            .map(|e| EffectivenessLine {
                plugin: shown(&e.plugin),
                topic: shown(&e.topic),
                tp: e.confusion.tp,
                fp: e.confusion.fp,
                fn_: e.confusion.fn_,
                tn: e.confusion.tn,
                sensitivity: with_interval(&e.metrics.sensitivity),
                specificity: with_interval(&e.metrics.specificity),
                ppv: with_interval(&e.metrics.ppv),
                npv: with_interval(&e.metrics.npv),
                alert_rate: with_interval(&e.metrics.alert_rate),
            })
            .collect(),
        comparisons: effectiveness
            .into_iter()
            .flat_map(|e| &e.comparisons)
            .map(|c| ComparisonLine {
                baseline: shown(&c.baseline),
                candidate: shown(&c.candidate),
                topic: shown(&c.topic),
                patients: c.patients,
                sensitivity: c.sensitivity_difference.to_string(),
                sensitivity_p: format!("{:.3}", c.sensitivity_mcnemar.p_value),
                specificity: c.specificity_difference.to_string(),
                specificity_p: format!("{:.3}", c.specificity_mcnemar.p_value),
            })
            .collect(),
        case_mix: summary
            .run
            .case_mix
            .iter()
            .map(|(group, n)| (group.dimension().as_str(), group.value(), *n))
            .collect(),
        errors: summary
            .run
            .plugins
            .iter()
            .flat_map(|p| {
                p.errors
                    .iter()
                    .map(|(cause, seen)| (shown(&p.plugin.id), cause.as_str(), seen.count))
            })
            .collect(),
    };
    Ok(page.render()?)
}

// ------------------------------------------------------------------ comparison

/// `/compare`'s query string.
#[derive(Debug, Default, Deserialize)]
pub struct CompareQuery {
    pub a: Option<String>,
    pub b: Option<String>,
}

pub struct Side {
    pub id: RunId,
    pub href: String,
    pub trial: String,
    pub date: Date,
}

pub struct DiffRow {
    pub key: String,
    pub a: String,
    pub b: String,
    /// A change beyond noise (95 % intervals apart): highlighted.
    pub notable: bool,
}

/// One kind of difference: a table with a row per thing that differs.
pub struct DiffSection {
    pub id: &'static str,
    pub title: &'static str,
    pub key: &'static str,
    pub rows: Vec<DiffRow>,
}

#[derive(Template)]
#[template(path = "compare.html")]
pub struct ComparePage {
    pub registry: String,
    pub a: Side,
    pub b: Side,
    pub same: bool,
    pub sections: Vec<DiffSection>,
}

fn side(run: &StoredRun) -> Side {
    Side {
        id: run.row.id,
        href: run_href(run.row.id),
        trial: shown(&run.row.trial),
        date: run.row.evaluation_date,
    }
}

/// Whether two 95 % intervals are apart: a change beyond sampling noise.
fn apart(a: Option<(f64, f64)>, b: Option<(f64, f64)>) -> bool {
    matches!((a, b), (Some((a_lo, a_hi)), Some((b_lo, b_hi))) if a_hi < b_lo || b_hi < a_lo)
}

/// One aspect of a changed thing, a row of its own: its name, how one side reads, and the
/// 95 % interval whose separation marks the row (`None`: never marked).
struct Aspect<'a, T> {
    name: &'static str,
    describe: Box<dyn Fn(&T) -> String + 'a>,
    interval: Option<Interval<'a, T>>,
}

/// Where an aspect's 95 % interval is (`None`: it has none).
type Interval<'a, T> = Box<dyn Fn(&T) -> Option<(f64, f64)> + 'a>;

impl<'a, T> Aspect<'a, T> {
    fn plain(name: &'static str, describe: impl Fn(&T) -> String + 'a) -> Self {
        Aspect {
            name,
            describe: Box::new(describe),
            interval: None,
        }
    }

    fn with_interval(
        name: &'static str,
        describe: impl Fn(&T) -> String + 'a,
        interval: impl Fn(&T) -> Option<(f64, f64)> + 'a,
    ) -> Self {
        Aspect {
            name,
            describe: Box::new(describe),
            interval: Some(Box::new(interval)),
        }
    }
}

/// `key: aspect` rows, one per aspect whose text differs, for each changed thing ("–" on the
/// side where it is absent); an aspect whose intervals no longer overlap is marked.
fn aspect_rows<T, K: Display>(items: &[Changed<T, K>], aspects: &[Aspect<'_, T>]) -> Vec<DiffRow> {
    let mut rows = Vec::new();
    for c in items {
        let key = shown(&c.key.to_string());
        for aspect in aspects {
            let text = |value: &Option<T>| {
                value
                    .as_ref()
                    .map_or_else(|| "–".into(), |v| (aspect.describe)(v))
            };
            let (a, b) = (text(&c.a), text(&c.b));
            if a == b {
                continue;
            }
            let notable = match (&c.a, &c.b, &aspect.interval) {
                (Some(x), Some(y), Some(interval)) => apart(interval(x), interval(y)),
                _ => false,
            };
            rows.push(DiffRow {
                key: format!("{key}: {}", aspect.name),
                a,
                b,
                notable,
            });
        }
    }
    rows
}

/// One row per measure that differs, for each plugin whose effectiveness differs; a
/// proportion whose intervals no longer overlap is marked.
fn measure_rows(items: &[Changed<Measures>]) -> Vec<DiffRow> {
    type Get = fn(&Measures) -> &Proportion;
    let proportions: [(&'static str, Get); 4] = [
        ("sensitivity", |m| &m.sensitivity),
        ("specificity", |m| &m.specificity),
        ("PPV", |m| &m.ppv),
        ("alert rate", |m| &m.alert_rate),
    ];
    let mut aspects = vec![Aspect::plain("topic", |m: &Measures| shown(&m.topic))];
    aspects.extend(proportions.map(|(name, get)| {
        Aspect::with_interval(name, move |m| with_interval(get(m)), move |m| get(m).ci95)
    }));
    aspects.push(Aspect::plain("TP FP FN TN", |m: &Measures| {
        let c = &m.confusion;
        format!("{} {} {} {}", c.tp, c.fp, c.fn_, c.tn)
    }));
    aspect_rows(items, &aspects)
}

/// One row per figure that differs, for each paired comparison that differs: the patients,
/// and the sensitivity and specificity differences (candidate minus baseline, Newcombe's
/// interval) with McNemar's test; a difference whose intervals no longer overlap is marked.
fn paired_rows<K: Display>(items: &[Changed<PairedFigures, K>]) -> Vec<DiffRow> {
    let mut aspects = vec![Aspect::plain("patients", |p: &PairedFigures| {
        format!("{} ({} excluded)", p.patients, p.excluded)
    })];
    aspects.extend(PairedFigures::MEASURES.map(|(name, figures)| {
        Aspect::with_interval(
            name,
            move |p: &PairedFigures| {
                let (difference, test) = figures(p);
                format!("{difference} · {test}")
            },
            move |p| figures(p).0.ci95,
        )
    }));
    aspect_rows(items, &aspects)
}

/// Rows of a per-plugin difference: `describe` writes one side, "–" where the plugin is absent.
fn changed<T, K: Display>(
    items: &[Changed<T, K>],
    describe: impl Fn(&T) -> String,
) -> Vec<DiffRow> {
    let side = |value: &Option<T>| value.as_ref().map_or_else(|| "–".into(), &describe);
    items
        .iter()
        .map(|c| DiffRow {
            key: shown(&c.key.to_string()),
            a: side(&c.a),
            b: side(&c.b),
            notable: false,
        })
        .collect()
}

pub async fn compare(registry: &Registry, query: &CompareQuery) -> Result<String, PageError> {
    let (a, b) = (parse_run("a", &query.a)?, parse_run("b", &query.b)?);
    let (a, b) = (
        stored_run(registry, a).await?,
        stored_run(registry, b).await?,
    );
    let diff = RunDiff::between(&a, &b);
    let sections = vec![
        DiffSection {
            id: "diff-fields",
            title: "The runs",
            key: "fact",
            rows: diff
                .fields
                .iter()
                .map(|f| DiffRow {
                    key: f.field.as_str().to_owned(),
                    a: shown(&f.a.to_string()),
                    b: shown(&f.b.to_string()),
                    notable: false,
                })
                .collect(),
        },
        DiffSection {
            id: "diff-plugins",
            title: "Plugins",
            key: "plugin",
            rows: changed(&diff.plugins, |p| {
                let signer = p.signer.as_deref().map(shown).unwrap_or_default();
                format!(
                    "{} · {} · {} {signer}",
                    shown(&p.version),
                    short_hash(&p.sha256),
                    p.signature.as_str()
                )
            }),
        },
        DiffSection {
            id: "diff-effectiveness",
            title: "Effectiveness",
            key: "plugin: measure",
            rows: measure_rows(&diff.effectiveness),
        },
        DiffSection {
            id: "diff-alerts",
            title: "Alerts",
            key: "plugin",
            rows: changed(&diff.alerts, |a| {
                format!(
                    "{} patients with cards; cards: {} critical, {} warning, {} info",
                    a.patients_with_cards, a.cards.critical, a.cards.warning, a.cards.info
                )
            }),
        },
        DiffSection {
            id: "diff-comparisons",
            title: "Paired comparisons (candidate − baseline)",
            key: "baseline → candidate (topic): figure",
            rows: paired_rows(&diff.paired),
        },
        DiffSection {
            id: "diff-case-mix",
            title: "Case mix (records)",
            key: "subgroup",
            rows: diff
                .case_mix
                .iter()
                .map(|c| DiffRow {
                    key: c.subgroup.to_string(),
                    a: c.a.to_string(),
                    b: c.b.to_string(),
                    notable: false,
                })
                .collect(),
        },
        DiffSection {
            id: "diff-errors",
            title: "Errors (evaluations)",
            key: "plugin: cause",
            rows: diff
                .errors
                .iter()
                .map(|e| DiffRow {
                    key: format!("{}: {}", shown(&e.plugin), e.cause.as_str()),
                    a: e.a.to_string(),
                    b: e.b.to_string(),
                    notable: false,
                })
                .collect(),
        },
    ];
    let page = ComparePage {
        registry: registry.url().to_string(),
        same: diff.is_empty(),
        a: side(&a),
        b: side(&b),
        sections: sections
            .into_iter()
            .filter(|s| !s.rows.is_empty())
            .collect(),
    };
    Ok(page.render()?)
}

// ------------------------------------------------------------------ series: plugin and drift

/// What a series is called on a page: plugin, region, and the topic when it is not the
/// plugin's own id.
fn heading(plugin: &str, topic: &str, region: &str) -> String {
    if plugin == topic {
        shown(&format!("{plugin} · {region}"))
    } else {
        shown(&format!("{plugin} (topic {topic}) · {region}"))
    }
}

/// A stable anchor for series `index` of a page.
fn anchor(index: usize) -> String {
    format!("series-{}", index + 1)
}

fn interval(p: &Proportion) -> Option<(f64, f64)> {
    p.ci95
}

pub struct MeasureRow {
    pub id: RunId,
    pub href: String,
    pub date: Date,
    pub sensitivity: String,
    pub specificity: String,
    pub alert_rate: String,
}

pub struct PluginSeries {
    pub anchor: String,
    pub heading: String,
    pub version: String,
    pub sha256: String,
    pub sha256_short: String,
    pub runs: usize,
    pub drift_href: String,
    pub charts: Vec<Chart>,
    pub rows: Vec<MeasureRow>,
}

#[derive(Template)]
#[template(path = "plugin.html")]
pub struct PluginPage {
    pub registry: String,
    pub plugin: String,
    pub runs_href: String,
    pub series: Vec<PluginSeries>,
}

/// A series' measures: the sensitivity, specificity and alert rate of each run, as the drift
/// watch computes them (so the plugin page and the drift page show the same figures).
fn judged(series: &Series) -> SeriesDrift {
    drift::watch(series, &DriftOptions::default())
}

fn measure_chart(
    title: String,
    points: &[DriftPoint],
    measure: impl Fn(&DriftPoint) -> &Proportion,
) -> Chart {
    let values: Vec<ChartValue> = points
        .iter()
        .map(|p| {
            let m = measure(p);
            ChartValue {
                label: p.evaluation_date.to_string(),
                href: run_href(p.run),
                estimate: m.estimate,
                interval: interval(m),
                limits: None,
                mark: Mark::Plain,
                title: format!(
                    "run #{} ({}): {}",
                    p.run,
                    p.evaluation_date,
                    with_interval(m)
                ),
            }
        })
        .collect();
    chart(title, &values)
}

pub async fn plugin(registry: &Registry, plugin: &str) -> Result<String, PageError> {
    let all = registry
        .series(&SeriesFilter {
            region: None,
            plugin: Some(plugin.to_owned()),
        })
        .await?;
    if all.is_empty()
        && registry
            .list(&RunFilter {
                plugin: Some(plugin.to_owned()),
                ..RunFilter::default()
            })
            .await?
            .is_empty()
    {
        return Err(PageError::NotFound(format!(
            "no run in this registry has a plugin {}; the runs list links every plugin",
            shown(plugin)
        )));
    }
    let series = all
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let judged = judged(s);
            let k = &s.key;
            let name = heading(&k.plugin, &k.topic, &k.region);
            PluginSeries {
                anchor: anchor(i),
                version: shown(&s.version),
                sha256: shown(&k.sha256),
                sha256_short: short_hash(&k.sha256),
                runs: s.points.len(),
                drift_href: href("/drift", &[("region", &k.region)]),
                charts: vec![
                    measure_chart(format!("Sensitivity, {name}"), &judged.points, |p| {
                        &p.sensitivity
                    }),
                    measure_chart(format!("Specificity, {name}"), &judged.points, |p| {
                        &p.specificity
                    }),
                    measure_chart(format!("Alert rate, {name}"), &judged.points, |p| {
                        &p.alert_rate
                    }),
                ],
                rows: judged
                    .points
                    .iter()
                    .map(|p| MeasureRow {
                        id: p.run,
                        href: run_href(p.run),
                        date: p.evaluation_date,
                        sensitivity: with_interval(&p.sensitivity),
                        specificity: with_interval(&p.specificity),
                        alert_rate: with_interval(&p.alert_rate),
                    })
                    .collect(),
                heading: name,
            }
        })
        .collect();
    let page = PluginPage {
        registry: registry.url().to_string(),
        plugin: shown(plugin),
        runs_href: href("/", &[("plugin", plugin)]),
        series,
    };
    Ok(page.render()?)
}

/// `/drift`'s query string.
#[derive(Debug, Default, Deserialize)]
pub struct DriftQuery {
    pub region: Option<String>,
}

pub struct DriftRow {
    pub id: RunId,
    pub href: String,
    pub date: Date,
    pub alert_rate: String,
    pub limits: String,
    pub sensitivity: String,
    pub specificity: String,
    pub case_mix: String,
    pub flags: Vec<String>,
}

pub struct DriftSeries {
    pub anchor: String,
    /// The runs flagged, `#4, #5`.
    pub flagged_runs: String,
    pub heading: String,
    pub flagged: bool,
    pub version: String,
    pub sha256: String,
    pub sha256_short: String,
    pub plugin_href: String,
    pub charts: Vec<Chart>,
    pub rows: Vec<DriftRow>,
}

#[derive(Template)]
#[template(path = "drift.html")]
pub struct DriftPage {
    pub registry: String,
    pub regions: Vec<Choice>,
    pub flagged: usize,
    pub series: Vec<DriftSeries>,
}

/// Why a run was flagged, in words.
fn flag_text(flag: &Flag) -> String {
    let direction = |d: drift::Direction| match d {
        drift::Direction::Up => "above",
        drift::Direction::Down => "below",
    };
    match flag {
        Flag::AlertRate {
            direction: d,
            rate,
            limits,
        } => format!(
            "alert rate {} {} the control limits {}–{}",
            share(*rate),
            direction(*d),
            share(limits.lower),
            share(limits.upper)
        ),
        Flag::Sensitivity {
            direction: d,
            run,
            baseline,
        } => format!(
            "sensitivity {} {} the baseline's {}",
            with_interval(run),
            direction(*d),
            with_interval(baseline)
        ),
        Flag::Specificity {
            direction: d,
            run,
            baseline,
        } => format!(
            "specificity {} {} the baseline's {}",
            with_interval(run),
            direction(*d),
            with_interval(baseline)
        ),
        Flag::CaseMix { dimension, psi } => {
            format!(
                "case mix by {}: stability index {psi:.2}",
                dimension.as_str()
            )
        }
    }
}

fn drift_series(index: usize, judged: &SeriesDrift) -> DriftSeries {
    let k = &judged.key;
    let name = heading(&k.plugin, &k.topic, &k.region);
    let values: Vec<ChartValue> = judged
        .points
        .iter()
        .map(|p| {
            let mark = if !p.flags.is_empty() {
                Mark::Flagged
            } else if p.limits.is_none() {
                Mark::Unjudged
            } else {
                Mark::Plain
            };
            let mut title = format!(
                "run #{} ({}): alert rate {}",
                p.run,
                p.evaluation_date,
                with_interval(&p.alert_rate)
            );
            for flag in &p.flags {
                title.push_str("; FLAG ");
                title.push_str(&flag_text(flag));
            }
            ChartValue {
                label: p.evaluation_date.to_string(),
                href: run_href(p.run),
                estimate: p.alert_rate.estimate,
                interval: interval(&p.alert_rate),
                limits: p.limits.map(|l| (l.centre, l.lower, l.upper)),
                mark,
                title,
            }
        })
        .collect();
    DriftSeries {
        anchor: anchor(index),
        flagged_runs: judged
            .points
            .iter()
            .filter(|p| !p.flags.is_empty())
            .map(|p| format!("#{}", p.run))
            .collect::<Vec<_>>()
            .join(", "),
        flagged: judged.flagged(),
        version: shown(&judged.version),
        sha256: shown(&k.sha256),
        sha256_short: short_hash(&k.sha256),
        plugin_href: plugin_href(&k.plugin),
        charts: vec![chart(format!("Alert rate p-chart, {name}"), &values)],
        rows: judged
            .points
            .iter()
            .map(|p| DriftRow {
                id: p.run,
                href: run_href(p.run),
                date: p.evaluation_date,
                alert_rate: with_interval(&p.alert_rate),
                limits: p.limits.map_or_else(
                    || "no baseline yet".into(),
                    |l| {
                        format!(
                            "{}–{} (centre {})",
                            share(l.lower),
                            share(l.upper),
                            share(l.centre)
                        )
                    },
                ),
                sensitivity: with_interval(&p.sensitivity),
                specificity: with_interval(&p.specificity),
                case_mix: if p.case_mix.is_empty() {
                    "–".into()
                } else {
                    p.case_mix
                        .iter()
                        .map(|c| format!("{} {:.2}", c.dimension.as_str(), c.psi))
                        .collect::<Vec<_>>()
                        .join(", ")
                },
                flags: p.flags.iter().map(flag_text).collect(),
            })
            .collect(),
        heading: name,
    }
}

pub async fn drift(registry: &Registry, query: &DriftQuery) -> Result<String, PageError> {
    let region = given(&query.region);
    let regions = registry
        .list(&RunFilter::default())
        .await?
        .into_iter()
        .map(|r| r.region)
        .collect();
    let all = registry
        .series(&SeriesFilter {
            region: region.map(str::to_owned),
            plugin: None,
        })
        .await?;
    let mut judged: Vec<SeriesDrift> = all.iter().map(judged).collect();
    // Flagged series first: what an evaluator opens the page for.
    judged.sort_by_key(|s| !s.flagged());
    let page = DriftPage {
        registry: registry.url().to_string(),
        regions: choices(regions, region.unwrap_or_default()),
        flagged: judged.iter().filter(|s| s.flagged()).count(),
        series: judged
            .iter()
            .enumerate()
            .map(|(i, s)| drift_series(i, s))
            .collect(),
    };
    Ok(page.render()?)
}

// ------------------------------------------------------------------ errors

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    pub registry: String,
    pub status: String,
    pub message: String,
}
