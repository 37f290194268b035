//! The main job: the sample plugins on the shipped sample records.

use std::collections::BTreeMap;
use std::path::Path;

use crate::support::*;

/// Cards per record and plugin, one line each, in results order.
fn card_lines(results: &[serde_json::Value]) -> String {
    let mut out = String::new();
    for line in results {
        let who = format!(
            "{} {}",
            line["record"].as_str().unwrap_or("-"),
            line["plugin"].as_str().unwrap_or("-")
        );
        match line["status"].as_str().unwrap() {
            "ok" => {
                for card in line["cards"].as_array().unwrap() {
                    out += &format!(
                        "{who} {} {}\n",
                        card["indicator"].as_str().unwrap(),
                        card["summary"].as_str().unwrap()
                    );
                }
            }
            status => out += &format!("{who} {status} {}\n", line["error"]["message"]),
        }
    }
    out
}

#[test]
fn sample_run_gives_the_expected_cards() {
    let tmp = temp_dir();
    let plugins: Vec<&str> = SAMPLE_PLUGINS.iter().map(|(_, p)| *p).collect();
    let results = run(Path::new(SAMPLE_RECORDS), &plugins, tmp.path(), &[]);
    check_golden("sample-cards.txt", &card_lines(&results));
}

/// Alerts (warning or critical cards) per (record, plugin) of a run of the sample plugins on
/// the sample records, with `extra` run arguments.
fn sample_alerts(extra: &[&str]) -> BTreeMap<(String, String), bool> {
    let tmp = temp_dir();
    let plugins: Vec<&str> = SAMPLE_PLUGINS.iter().map(|(_, p)| *p).collect();
    let results = run(Path::new(SAMPLE_RECORDS), &plugins, tmp.path(), extra);
    let mut alerted = BTreeMap::new();
    for line in &results {
        assert_eq!(line["status"], "ok", "{line}");
        let alert = line["cards"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["indicator"] != "info");
        let key = (
            line["record"].as_str().unwrap().to_owned(),
            line["plugin"].as_str().unwrap().to_owned(),
        );
        alerted.insert(key, alert);
    }
    alerted
}

/// The sample's reference labels: (record, topic, expected alert, record carries codes the
/// sample plugins do not declare: a US-coded record, or a Dutch one with a SNOMED-coded
/// hospital-letter diagnosis).
fn sample_labels() -> Vec<(String, String, bool, bool)> {
    let labels = std::fs::read_to_string(Path::new(SAMPLE_RECORDS).join("labels.csv")).unwrap();
    labels
        .lines()
        .skip(1)
        .map(|row| {
            let cols: Vec<&str> = row.split(',').collect();
            let bundle = std::fs::read_to_string(
                Path::new(SAMPLE_RECORDS).join(format!("{}.json", cols[0])),
            )
            .unwrap();
            let foreign = !(bundle.contains(ICPC) || bundle.contains(ATC))
                || bundle.contains("http://snomed.info/sct");
            (
                cols[0].to_owned(),
                cols[1].to_owned(),
                cols[2] == "1",
                foreign,
            )
        })
        .collect()
}

/// The generator's labels are its own ground truth, written independently of the plugins.
/// With the shipped terminology, every plugin alerts exactly when the label says a clinician
/// would want it, on Dutch- and US-coded records alike.
#[test]
fn alerts_agree_with_the_reference_labels() {
    let alerted = sample_alerts(&[]);
    let labels = sample_labels();
    let (mut positives, mut foreign_positives) = (0, 0);
    for (record, topic, expected, foreign) in &labels {
        let alert = alerted[&(record.clone(), topic.clone())];
        assert_eq!(
            alert, *expected,
            "{record} {topic} (foreign codes: {foreign}): alert {alert}, label {expected}"
        );
        positives += usize::from(*expected);
        foreign_positives += usize::from(*expected && *foreign);
    }
    assert_eq!(
        labels.len(),
        alerted.len(),
        "one label per record and plugin"
    );
    assert!(positives >= 30, "positives for every plugin ({positives})");
    assert!(
        foreign_positives >= 5,
        "positives in foreign codes exercise the maps ({foreign_positives})"
    );
}

/// Without terminology the sample plugins, which declare Dutch codes, miss the patients whose
/// diagnoses or medications are coded otherwise: the maps are what closes the gap (and they
/// never add an alert a label does not want).
#[test]
fn without_terminology_alerts_in_foreign_codes_are_missed() {
    let alerted = sample_alerts(&["--no-shipped-terminology"]);
    let mut missed = 0;
    for (record, topic, expected, foreign) in sample_labels() {
        let alert = alerted[&(record.clone(), topic.clone())];
        if foreign {
            assert!(
                !alert || expected,
                "{record} {topic}: alert without a label"
            );
            missed += usize::from(expected && !alert);
        } else {
            assert_eq!(alert, expected, "{record} {topic}: Dutch codes need no map");
        }
    }
    assert!(missed > 0, "the gap the maps close is real");
}

/// The README's first command: no arguments at all.
#[test]
fn run_without_arguments_runs_the_sample_plugins_on_the_sample_records() {
    let tmp = temp_dir();
    let output = livelab_in(tmp.path(), &["run"]);
    assert_success(&output);
    let table = stdout(&output);
    for (id, _) in SAMPLE_PLUGINS {
        assert!(table.contains(id), "summary table lists {id}:\n{table}");
    }
    assert!(stderr(&output).contains(&format!("evaluation date {SAMPLE_DATE} (as_of of")));
    let out = tmp.path().join("livelab-out");
    let summary = summary(&out);
    let records = summary["records"]["read"].as_u64().unwrap();
    assert_eq!(summary["records"]["errors"], 0);
    assert_eq!(
        results(&out).len() as u64,
        records * SAMPLE_PLUGINS.len() as u64
    );
    for plugin in summary["plugins"].as_array().unwrap() {
        assert_eq!(plugin["evaluations"].as_u64(), Some(records));
        assert!(plugin["latency_ns"]["p50"].as_u64().unwrap() > 0);
        assert_eq!(plugin["sha256"].as_str().unwrap().len(), 64);
    }
}

/// `sample-records/` is exactly what the seeded generator writes: it can be re-made.
#[test]
fn shipped_sample_records_are_reproducible() {
    let tmp = temp_dir();
    let out = tmp.path().join("cohort");
    let cohort_json: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(Path::new(SAMPLE_RECORDS).join("cohort.json")).unwrap(),
    )
    .unwrap();
    let output = livelab(&[
        "generate",
        "--out",
        out.to_str().unwrap(),
        "--seed",
        &cohort_json["seed"].to_string(),
        "--patients",
        &cohort_json["patients"].to_string(),
        "--as-of",
        cohort_json["as_of"].as_str().unwrap(),
        "--format",
        cohort_json["format"].as_str().unwrap(),
        "--shape",
        cohort_json["shape"].as_str().unwrap(),
        "--mix",
        cohort_json["mix"].as_str().unwrap(),
    ]);
    assert_success(&output);
    let list = |dir: &Path| {
        let mut names: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            // Documentation and the terminology maps are not generated.
            .filter(|n| n != "README.md" && n != "terminology")
            .collect();
        names.sort();
        names
    };
    let shipped = list(Path::new(SAMPLE_RECORDS));
    assert_eq!(shipped, list(&out));
    for name in shipped {
        let a = std::fs::read(Path::new(SAMPLE_RECORDS).join(&name)).unwrap();
        let b = std::fs::read(out.join(&name)).unwrap();
        assert!(a == b, "{name} differs from a fresh `livelab generate`");
    }
}
