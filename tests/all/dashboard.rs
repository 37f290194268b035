//! `livelab dashboard` over a real socket, on a temporary SQLite registry filled by real
//! `livelab trial` runs on generated monthly series (one whose eGFR unit changes, one
//! stable control), read in headless Chromium: the runs list and a filter, one run and its
//! report, the comparison of two runs (and of two runs of a two-version trial, whose paired
//! comparison changed), the drift watch with its flagged runs, and a run whose trial name and
//! region hold markup and a bidi override, which stay text.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use livelab_host::trial::TrialSummary;
use livelab_host::trial::effectiveness::ComparisonReport;

use crate::browser;
use crate::support::{METFORMIN_PAIR, assert_success, livelab, temp_dir, trial_run};

const DRIFTING: &str = "Driftregio";
const STABLE: &str = "Stabielregio";
/// Exports per series, and the first whose eGFR arrives in mL/min.
const EXPORTS: usize = 4;
const DRIFT_FROM: usize = 3;
const HOSTILE_TRIAL: &str = "<script>alert(1)</script>Maand \u{202e}fdp.exe";
const HOSTILE_REGION: &str = "Regio <b>vet</b>";
/// [`HOSTILE_REGION`] form-encoded, as the drift page's region filter sends it.
const HOSTILE_REGION_QUERY: &str = "Regio+%3Cb%3Evet%3C%2Fb%3E";
/// The region of the two runs of the two-version trial (its own, so the drift series are
/// those of the generated ones alone).
const PAIRED_REGION: &str = "Paarregio";

/// `livelab dashboard --addr 127.0.0.1:0`, stopped on drop.
struct Dashboard {
    child: Child,
    base: String,
}

impl Dashboard {
    fn start(registry: &str) -> Dashboard {
        let mut child = Command::new(env!("CARGO_BIN_EXE_livelab"))
            .args(["dashboard", "--addr", "127.0.0.1:0", "--registry", registry])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting livelab dashboard");
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut first = String::new();
            let _ = out.read_line(&mut first);
            let _ = tx.send(first);
        });
        let first = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_default();
        let mut dashboard = Dashboard {
            child,
            base: first.trim().to_owned(),
        };
        if !dashboard.base.starts_with("http://127.0.0.1:") {
            dashboard.stop();
            panic!("livelab dashboard did not print its address (got {first:?})");
        }
        dashboard
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn dom(&self, path: &str) -> String {
        let dom = browser::dom(&self.url(path));
        for needle in [
            "<script", "http://", "https://", " src=", "<link", "<img", "<iframe",
        ] {
            assert!(
                !dom.contains(needle),
                "{path}: the page holds {needle:?} (it must load nothing and run no script)"
            );
        }
        dom
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes a series with `livelab generate` and runs each export's trial into `registry`;
/// returns the run ids in export order.
fn series(dir: &Path, region: &str, drift: Option<&str>, registry: &str) -> Vec<i64> {
    let out = dir.join(region);
    let exports = EXPORTS.to_string();
    let mut args = vec![
        "generate",
        "--out",
        out.to_str().unwrap(),
        "--series",
        &exports,
        "--patients",
        "150",
        "--seed",
        "3",
        "--as-of",
        "2026-01-01",
        "--region",
        region,
    ];
    let drift = drift.map(|d| format!("{d}:{DRIFT_FROM}"));
    if let Some(drift) = &drift {
        args.extend(["--drift", drift]);
    }
    assert_success(&livelab(&args));
    (1..=EXPORTS)
        .map(|k| {
            let trial = out.join(format!("export-{k:02}.toml"));
            trial_run(&trial, &out.join(format!("export-{k:02}-out")), registry)
        })
        .collect()
}

/// A trial of one export whose name and region are markup and a bidi override.
fn hostile_trial(dir: &Path, export: &Path) -> PathBuf {
    let path = dir.join("hostile.toml");
    let text = format!(
        "name = \"{HOSTILE_TRIAL}\"\nregion = \"{HOSTILE_REGION}\"\nrecords = {records:?}\n\
         labels = {labels:?}\nallow_unsigned = true\n\n[[plugin]]\npath = \"sample:metformin-egfr\"\n",
        records = export.display().to_string(),
        labels = export.join("labels.csv").display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// A trial of the two metformin versions, compared pairwise, on one export and its labels,
/// in [`PAIRED_REGION`], evaluated on `date`.
fn paired_trial(dir: &Path, name: &str, export: &Path, date: &str) -> PathBuf {
    let path = dir.join(format!("{name}.toml"));
    let text = format!(
        "name = {name:?}\nregion = {PAIRED_REGION:?}\nevaluation_date = {date:?}\n\
         records = {records:?}\nlabels = {labels:?}\nallow_unsigned = true\n\n{METFORMIN_PAIR}",
        records = export.display().to_string(),
        labels = export.join("labels.csv").display().to_string(),
    );
    std::fs::write(&path, text).unwrap();
    path
}

/// The paired comparison a trial recorded in `out/summary.json`.
fn recorded_comparison(out: &Path) -> ComparisonReport {
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let summary: TrialSummary = serde_json::from_str(&text).unwrap();
    summary.effectiveness.unwrap().comparisons.remove(0)
}

/// The `<section>` of a series page whose heading starts with `heading`.
fn series_section<'a>(dom: &'a str, heading: &str) -> &'a str {
    dom.split("<section class=\"series")
        .skip(1)
        .find(|s| {
            let h2 = &s[s.find("<h2>").expect("a series has a heading")..];
            h2.replace("<span class=\"flag\">FLAGGED</span> ", "")
                .starts_with(&format!("<h2>{heading}"))
        })
        .unwrap_or_else(|| panic!("no series {heading:?} on the page"))
}

/// The run ids of the rows marked flagged in a drift section.
fn flagged_runs(section: &str) -> Vec<i64> {
    section
        .match_indices("<tr data-run=\"")
        .filter_map(|(i, m)| {
            let rest = &section[i + m.len()..];
            let id: i64 = rest[..rest.find('"')?].parse().ok()?;
            rest[..rest.find('>')?]
                .contains("flagged-run")
                .then_some(id)
        })
        .collect()
}

fn rows(dom: &str) -> usize {
    dom.matches("<tr data-run=").count()
}

#[test]
fn dashboard_shows_runs_comparison_and_drift_in_a_browser_and_keeps_names_escaped() {
    let dir = temp_dir();
    let registry = format!("sqlite://{}", dir.path().join("registry.sqlite").display());
    let drifting = series(dir.path(), DRIFTING, Some("egfr-unit"), &registry);
    let stable = series(dir.path(), STABLE, None, &registry);
    let hostile = trial_run(
        &hostile_trial(dir.path(), &dir.path().join(STABLE).join("export-01")),
        &dir.path().join("hostile-out"),
        &registry,
    );
    // The two-version trial on the first stable export and on the last drifting one: other
    // records and labels, so its paired comparison differs.
    let paired_outs = [
        dir.path().join("paired-a-out"),
        dir.path().join("paired-b-out"),
    ];
    let paired_exports = [
        dir.path().join(STABLE).join("export-01"),
        dir.path()
            .join(DRIFTING)
            .join(format!("export-{EXPORTS:02}")),
    ];
    let paired: Vec<i64> = ["paired-a", "paired-b"]
        .iter()
        .zip(&paired_exports)
        .zip(&paired_outs)
        // Each export's own date (monthly from 2026-01-01), outside the March filter below.
        .zip(["2026-01-01", "2026-04-01"])
        .map(|(((name, export), out), date)| {
            trial_run(
                &paired_trial(dir.path(), name, export, date),
                out,
                &registry,
            )
        })
        .collect();
    let dashboard = Dashboard::start(&registry);

    // The runs list: every run, one row each; the region filter keeps only its region's.
    let all = dashboard.dom("/");
    assert_eq!(rows(&all), 2 * EXPORTS + 3, "runs listed on /");
    let filtered = dashboard.dom(&format!("/?region={STABLE}"));
    assert_eq!(rows(&filtered), EXPORTS, "runs listed on /?region={STABLE}");
    for id in &stable {
        assert!(
            filtered.contains(&format!("<tr data-run=\"{id}\">")),
            "run {id} missing from the {STABLE} filter"
        );
    }
    assert!(
        !filtered.contains(&format!(
            "<td class=\"region\"><a href=\"/drift?region={DRIFTING}\">"
        )),
        "the {STABLE} filter lists a {DRIFTING} run"
    );
    let by_date = dashboard.dom("/?from=2026-03-01&to=2026-03-31");
    assert_eq!(
        rows(&by_date),
        2,
        "runs evaluated in March 2026 (one per series)"
    );

    // One run: its facts, its effectiveness and its report, served while the file exists.
    let run = dashboard.dom(&format!("/runs/{}", drifting[0]));
    assert!(
        run.contains("<table id=\"effectiveness\">"),
        "run page without effectiveness"
    );
    let report_href = format!("/runs/{}/report.html", drifting[0]);
    assert!(
        run.contains(&format!("href=\"{report_href}\"")),
        "run page does not link its report"
    );
    let report = browser::dom(&dashboard.url(&report_href));
    assert!(
        report.contains("<section id=\"effectiveness\">"),
        "the served report is not the trial's report.html"
    );

    // The comparison of the last stable export with the first drifting one shows what
    // differs (metformin-egfr's sensitivity) and not what is equal (the region).
    let (a, b) = (drifting[DRIFT_FROM - 2], drifting[DRIFT_FROM - 1]);
    let compare = dashboard.dom(&format!("/compare?a={a}&b={b}"));
    let effectiveness = &compare[compare
        .find("<table id=\"diff-effectiveness\"")
        .expect("the comparison has an effectiveness table")..];
    let row = &effectiveness[effectiveness
        .find("<tr class=\"notable\"><th>metformin-egfr: sensitivity")
        .expect("metformin-egfr's sensitivity differs between the two runs, beyond noise")..];
    let row = &row[..row.find("</tr>").unwrap()];
    assert!(
        row.contains("<td class=\"side-a\">100.0 %") && row.contains("<td class=\"side-b\">0.0 %"),
        "metformin-egfr sensitivity: expected 100.0 % in run {a} and 0.0 % in run {b}, got {row}"
    );
    assert_eq!(
        effectiveness[..effectiveness.find("</table>").unwrap()]
            .matches("class=\"notable\"")
            .count(),
        2,
        "only metformin-egfr's sensitivity and alert rate changed beyond noise"
    );
    let facts = &compare[compare.find("<table id=\"diff-fields\"").unwrap()..];
    let facts = &facts[..facts.find("</table>").unwrap()];
    assert!(
        facts.contains("<th>evaluation date</th>"),
        "the dates differ: {facts}"
    );
    assert!(
        !facts.contains("<th>region</th>"),
        "the regions are equal but listed: {facts}"
    );
    let same = dashboard.dom(&format!("/compare?a={a}&b={a}"));
    assert!(
        same.contains("id=\"no-difference\""),
        "a run compared with itself shows differences"
    );
    assert!(
        !compare.contains("id=\"diff-comparisons\""),
        "runs without a paired comparison list one"
    );

    // The two runs of the two-version trial: their paired comparison changed, and each side
    // shows the figures its run recorded (difference, interval and McNemar's test).
    let (pa, pb) = (paired[0], paired[1]);
    let compare_paired = dashboard.dom(&format!("/compare?a={pa}&b={pb}"));
    let comparisons = &compare_paired[compare_paired
        .find("<table id=\"diff-comparisons\" class=\"diff\">")
        .expect("the comparison of the two-version runs has a paired comparisons table")..];
    let comparisons = &comparisons[..comparisons.find("</table>").unwrap()];
    let [x, y] = paired_outs.each_ref().map(|out| recorded_comparison(out));
    assert_ne!(
        (x.label_positive, x.label_negative),
        (y.label_positive, y.label_negative),
        "the two exports give different paired tables"
    );
    let pair = "metformin-egfr → metformin-egfr-ema (topic metformin-egfr)";
    let mut shown_rows = 0;
    for (measure, d_a, t_a, d_b, t_b) in [
        (
            "sensitivity",
            x.sensitivity_difference,
            x.sensitivity_mcnemar,
            y.sensitivity_difference,
            y.sensitivity_mcnemar,
        ),
        (
            "specificity",
            x.specificity_difference,
            x.specificity_mcnemar,
            y.specificity_difference,
            y.specificity_mcnemar,
        ),
    ] {
        let (side_a, side_b) = (format!("{d_a} · {t_a}"), format!("{d_b} · {t_b}"));
        let Some(at) = comparisons.find(&format!("{pair}: {measure}")) else {
            assert_eq!(
                side_a, side_b,
                "{measure} differs but has no row: {comparisons}"
            );
            continue;
        };
        let row = &comparisons[at..];
        let row = &row[..row.find("</tr>").unwrap()];
        assert!(
            row.contains(&format!("<td class=\"side-a\">{side_a}</td>"))
                && row.contains(&format!("<td class=\"side-b\">{side_b}</td>")),
            "{measure}: expected {side_a:?} in run {pa} and {side_b:?} in run {pb}, got {row}"
        );
        shown_rows += 1;
    }
    assert!(
        shown_rows > 0,
        "neither difference is listed as changed: {comparisons}"
    );

    // The drift watch: metformin-egfr is flagged exactly from the drifting export on, marked
    // on its p-chart; in the stable control it is not flagged.
    let watch = dashboard.dom(&format!("/drift?region={DRIFTING}"));
    let metformin = series_section(&watch, &format!("metformin-egfr · {DRIFTING}"));
    assert!(
        metformin.starts_with(" flagged-series"),
        "metformin-egfr is not flagged in {DRIFTING}"
    );
    assert_eq!(
        flagged_runs(metformin),
        drifting[DRIFT_FROM - 1..],
        "metformin-egfr's flagged runs in {DRIFTING} (runs {drifting:?}, drift from export {DRIFT_FROM})"
    );
    assert_eq!(
        metformin.matches("<a class=\"point flagged\"").count(),
        EXPORTS - DRIFT_FROM + 1,
        "flagged points on metformin-egfr's p-chart"
    );
    assert!(
        metformin.contains("<line class=\"limit\""),
        "the p-chart has no control limits"
    );
    assert!(
        metformin.contains("alert rate 0.0 % below the control limits"),
        "the flag does not say why"
    );
    let control = dashboard.dom(&format!("/drift?region={STABLE}"));
    let metformin = series_section(&control, &format!("metformin-egfr · {STABLE}"));
    assert!(
        flagged_runs(metformin).is_empty(),
        "metformin-egfr is flagged in the stable control {STABLE}"
    );
    assert!(
        !metformin.contains("point flagged"),
        "a flagged point in the stable control"
    );

    // The plugin's page: a chart per measure with Wilson whiskers, a row per run.
    let plugin = dashboard.dom("/plugins/metformin-egfr");
    let section = series_section(&plugin, &format!("metformin-egfr · {DRIFTING}"));
    assert_eq!(
        section.matches("<svg").count(),
        3,
        "sensitivity, specificity and alert-rate charts"
    );
    assert!(
        section.contains("<line class=\"whisker\""),
        "no interval whiskers"
    );

    // Hostile names stay text, with the bidi override shown as an escape, on every page.
    let hostile_pages = [
        "/".to_owned(),
        format!("/runs/{hostile}"),
        format!("/compare?a={hostile}&b={}", stable[0]),
        format!("/drift?region={HOSTILE_REGION_QUERY}"),
    ];
    for path in &hostile_pages {
        let dom = dashboard.dom(path);
        assert!(
            !dom.contains('\u{202e}'),
            "{path}: the bidi override reached the page"
        );
        assert!(
            !dom.contains("<b>vet"),
            "{path}: the region's markup became an element"
        );
        if path != hostile_pages.last().unwrap() {
            assert!(
                dom.contains("&lt;script&gt;alert(1)&lt;/script&gt;Maand \\u{202e}fdp.exe"),
                "{path}: the trial name is not shown as escaped text"
            );
        }
        assert!(
            dom.contains("Regio &lt;b&gt;vet&lt;/b&gt;"),
            "{path}: the region is not shown as text"
        );
    }

    // Screenshots of the comparison and the drift watch, to look at (the report describes them).
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    browser::screenshot(
        &dashboard.url(&format!("/compare?a={a}&b={b}")),
        &shots.join("compare.png"),
    );
    browser::screenshot(
        &dashboard.url(&format!("/compare?a={pa}&b={pb}")),
        &shots.join("compare-paired.png"),
    );
    browser::screenshot(
        &dashboard.url(&format!("/drift?region={DRIFTING}")),
        &shots.join("drift.png"),
    );
    eprintln!("screenshots in {}", shots.display());

    // A report that is gone: the page says so; the report URL is a 404 page.
    std::fs::remove_file(
        dir.path()
            .join(DRIFTING)
            .join("export-01-out")
            .join("report.html"),
    )
    .unwrap();
    let run = dashboard.dom(&format!("/runs/{}", drifting[0]));
    assert!(
        run.contains("The report file is no longer at"),
        "the run page does not say its report is gone"
    );
    let gone = dashboard.dom(&report_href);
    assert!(gone.contains("404"), "a missing report is not a 404 page");
}
