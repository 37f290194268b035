//! `report.html` in a real browser: a trial's report, loaded in headless Chromium, shows every
//! section and the figures of its summary.json, escapes what plugins and data say, and
//! fetches nothing from the network.

use std::path::Path;
use std::time::Instant;

use crate::support::{
    SAMPLE_DATE, SAMPLE_RECORDS, assert_success, copy_dir, livelab, summary, temp_dir,
};

const SECTIONS: [&str; 8] = [
    "trial",
    "plugins",
    "effectiveness",
    "subgroups",
    "comparison",
    "latency",
    "errors",
    "data",
];

/// A file name that is also an XSS attempt: the unreadable record's source is shown.
const HOSTILE_FILE: &str = "<script>alert(1)<b>.json";
/// Another, not FHIR: it is passed over, and named in the report.
const HOSTILE_NOTE: &str = "<i>checksums<i>.sha256";

#[test]
fn trial_report_renders_in_a_browser_with_the_summary_figures() {
    let dir = temp_dir();
    // The sample records plus one unreadable file whose name is markup.
    let records = dir.path().join("records");
    copy_dir(Path::new(SAMPLE_RECORDS), &records);
    std::fs::write(records.join(HOSTILE_FILE), "{not json").unwrap();
    // A file that is not FHIR, whose name is markup: passed over, and named as text.
    std::fs::write(records.join(HOSTILE_NOTE), "0123  pt-1.json\n").unwrap();
    let trial = dir.path().join("trial.toml");
    std::fs::write(
        &trial,
        format!(
            r#"name = "Report test <trial> & co"
region = "Testregio"
evaluation_date = "{SAMPLE_DATE}"
records = "records"
labels = {labels:?}
allow_unsigned = true

[[plugin]]
path = "sample:metformin-egfr"

[[plugin]]
path = "sample:metformin-egfr-ema"
topic = "metformin-egfr"

[[plugin]]
path = "sample:af-anticoagulation"

[[compare]]
baseline = "metformin-egfr"
candidate = "metformin-egfr-ema"
"#,
            labels = Path::new(SAMPLE_RECORDS)
                .join("labels.csv")
                .display()
                .to_string(),
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    assert_success(&livelab(&[
        "trial",
        trial.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]));
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    let summary = summary(&out);

    no_network_fetches(&html);

    let started = Instant::now();
    let dom = crate::browser::dom(&format!("file://{}", out.join("report.html").display()));
    eprintln!(
        "headless Chromium built the report's DOM in {:?}",
        started.elapsed()
    );

    // Every section is an element of the parsed page, once.
    for id in SECTIONS {
        let tag = format!("<section id=\"{id}\">");
        assert_eq!(dom.matches(&tag).count(), 1, "{tag} in the DOM:\n{dom}");
    }
    assert!(dom.contains("<title>Trial report: Report test &lt;trial&gt; &amp; co</title>"));

    // Safety facts.
    let trial_section = section(&dom, "trial");
    assert!(trial_section.contains(
        "unsigned plugins were allowed (local authoring); not valid for a regional decision"
    ));
    let mut coverage_rows = 0;
    for plugin in summary["run"]["plugins"].as_array().unwrap() {
        let id = plugin["id"].as_str().unwrap();
        let identity = row(trial_section, &format!("id=\"identity-{id}\""));
        assert!(
            identity.contains(plugin["sha256"].as_str().unwrap()),
            "{identity}"
        );
        assert!(
            identity.contains("UNSIGNED") && identity.contains("NOT PINNED"),
            "{identity}"
        );
        // What the plugin was given: each declared need, one item each (issue 12, item 3).
        let needs = plugin["data_needs"].as_array().unwrap();
        assert!(!needs.is_empty(), "{id} declares no data needs");
        for need in needs {
            let codes = need["codes"].as_array().unwrap();
            let first = codes
                .first()
                .and_then(|c| c.as_str())
                .unwrap_or("ALL items");
            let item = format!("<li>{}: {first}", need["section"].as_str().unwrap());
            assert!(identity.contains(&item), "{id}: {item} not in {identity}");
        }
        assert_eq!(
            identity.matches("<li>").count(),
            needs.len(),
            "{id}: one line per declared need in {identity}"
        );
        // What its declared codes missed, and what reached it only through a map (issue 13):
        // every entry of its coverage is a row of the coverage table.
        let coverage = block(section(&dom, "data"), "coverage");
        for (kind, what) in [
            ("unreachable", "unreachable"),
            ("through_map", "only through a map"),
        ] {
            for (detail, n) in plugin["coverage"][kind].as_object().unwrap() {
                let cells = format!(
                    "<td>{id}</td><td>{what}</td><td class=\"n\">{n}</td><td>{detail}</td>"
                );
                assert!(coverage.contains(&cells), "{id}: {cells} not in {coverage}");
                coverage_rows += 1;
            }
        }
        // Outcomes and cost.
        let outcomes = row(section(&dom, "plugins"), &format!("id=\"plugin-{id}\""));
        let evaluations = plugin["evaluations"].as_u64().unwrap();
        assert!(
            outcomes.contains(&format!(">{evaluations}<")),
            "{id}: {outcomes}"
        );
        assert!(
            section(&dom, "latency")
                .contains(&format!("{id} {}", plugin["version"].as_str().unwrap()))
        );
    }
    assert!(
        coverage_rows > 0,
        "the sample trial has US-coded records: some item must reach a plugin only through a map"
    );

    // Effectiveness: the confusion matrix and the metrics of each plugin.
    let effectiveness = section(&dom, "effectiveness");
    for p in summary["effectiveness"]["plugins"].as_array().unwrap() {
        let id = p["plugin"].as_str().unwrap();
        let block = block(effectiveness, &format!("effectiveness-{id}"));
        for cell in ["tp", "fp", "fn", "tn"] {
            let count = p["confusion"][cell].as_u64().unwrap();
            assert!(
                block.contains(&format!("data-cell=\"{cell}\">{count}<")),
                "{id}: {cell} = {count} not shown:\n{block}"
            );
        }
        for metric in ["sensitivity", "specificity", "ppv", "npv"] {
            let m = &p["metrics"][metric];
            let row = row(block, &format!("data-metric=\"{metric}\""));
            let text = percent(m["estimate"].as_f64().unwrap());
            assert!(
                row.contains(&format!(">{text}<")),
                "{id} {metric} {text}:\n{row}"
            );
            let (lo, hi) = (
                m["ci95"][0].as_f64().unwrap(),
                m["ci95"][1].as_f64().unwrap(),
            );
            let interval = format!("{:.1}–{:.1}", lo * 100.0, hi * 100.0);
            assert!(row.contains(&interval), "{id} {metric} {interval}:\n{row}");
        }
    }

    // The paired comparison and its discordant patients.
    let comparison = section(&dom, "comparison");
    let c = &summary["effectiveness"]["comparisons"][0];
    assert!(comparison.contains(&format!("<strong>{}</strong> patients", c["patients"])));
    let discordant = c["discordant"].as_array().unwrap();
    assert!(
        !discordant.is_empty(),
        "the sample candidate differs on some patients"
    );
    assert!(comparison.contains(&format!(
        "Discordant patients for clinician review ({})",
        discordant.len()
    )));
    for d in discordant {
        assert!(comparison.contains(d["record"].as_str().unwrap()));
    }
    for measure in ["sensitivity", "specificity"] {
        let test = row(comparison, &format!("data-measure=\"{measure}\""));
        let p = c[format!("{measure}_mcnemar")]["p_value"].as_f64().unwrap();
        let p = if p < 0.001 {
            "p &lt; 0.001".to_string()
        } else {
            format!("p = {p:.3}")
        };
        assert!(test.contains(&p), "{measure}: {test}");
    }

    // The unreadable record is listed, its markup shown as text, never run or parsed.
    assert_eq!(summary["run"]["records"]["errors"], 1);
    let errors = section(&dom, "errors");
    assert!(errors.contains("Unreadable records (1)"));
    assert!(
        errors.contains("&lt;script&gt;alert(1)&lt;b&gt;.json"),
        "{errors}"
    );
    assert!(!dom.contains("<script") && !dom.contains("<b>.json"));

    // Data coverage: the ingest counts.
    let data = section(&dom, "data");
    let resources = summary["run"]["ingest"]["resources"].as_u64().unwrap();
    assert!(data.contains(&format!("<strong>{resources}</strong> FHIR resources")));
    // What was passed over (issue 13): every reason a row with its count, the names as text.
    let passed = block(data, "passed-over");
    let passed_over = summary["run"]["ingest"]["passed_over"].as_object().unwrap();
    for (reason, seen) in passed_over {
        let cells = format!("<td>{reason}</td><td class=\"n\">{}</td>", seen["count"]);
        assert!(passed.contains(&cells), "{cells} not in {passed}");
    }
    for name in [
        "README.md",
        "cohort.json",
        "terminology/",
        "&lt;i&gt;checksums&lt;i&gt;.sha256",
    ] {
        assert!(passed.contains(name), "{name} not in {passed}");
    }
    assert!(!dom.contains("<i>checksums"));
}

/// The page loads nothing: no remote URL, no fetching element or attribute, links only to
/// its own sections.
fn no_network_fetches(html: &str) {
    for needle in [
        "http://", "https://", "//cdn", " src=", "url(", "@import", "<link", "<script", "<img",
        "<iframe", "<object", "<embed", "<base",
    ] {
        assert!(!html.contains(needle), "report.html contains {needle:?}");
    }
    for (i, _) in html.match_indices("href=\"") {
        assert!(
            html[i + 6..].starts_with('#'),
            "a link that leaves the page: {}",
            &html[i..(i + 80).min(html.len())]
        );
    }
    assert!(html.contains("Content-Security-Policy\" content=\"default-src 'none'"));
}

/// The report's percentage format: one decimal.
fn percent(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

/// The `<section id="id">` element's markup.
#[track_caller]
fn section<'a>(dom: &'a str, id: &str) -> &'a str {
    let start = dom
        .find(&format!("<section id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no section {id}"));
    let end = dom[start..].find("</section>").unwrap();
    &dom[start..start + end]
}

/// From the element with `id` to the next block or the end of `within`.
#[track_caller]
fn block<'a>(within: &'a str, id: &str) -> &'a str {
    let start = within
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no element {id}"));
    let rest = &within[start..];
    let end = rest[1..].find("id=\"").map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

/// The table row that starts with `marker`.
#[track_caller]
fn row<'a>(within: &'a str, marker: &str) -> &'a str {
    let start = within
        .find(marker)
        .unwrap_or_else(|| panic!("no row {marker}"));
    let end = within[start..].find("</tr>").unwrap();
    &within[start..start + end]
}
