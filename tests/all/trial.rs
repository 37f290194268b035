//! Trials: the sample trial's effectiveness against its labels, a paired comparison of two
//! versions of a plugin, and shards merged into the same statistics as one run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// Runs `livelab trial [FILE] --out OUT [extra]`, asserting success.
fn trial(file: Option<&Path>, out: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["trial"];
    if let Some(file) = file {
        args.push(file.to_str().unwrap());
    }
    args.extend(["--out", out.to_str().unwrap()]);
    args.extend(extra);
    assert_success(&livelab(&args));
    summary(out)
}

/// `labels.csv` of the sample records: topic -> record -> expected.
fn sample_labels() -> BTreeMap<String, BTreeMap<String, bool>> {
    let text = std::fs::read_to_string(format!("{SAMPLE_RECORDS}/labels.csv")).unwrap();
    let mut labels: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        labels
            .entry(f[1].to_owned())
            .or_default()
            .insert(f[0].to_owned(), f[2] == "1");
    }
    labels
}

fn plugin<'a>(summary: &'a Value, id: &str) -> &'a Value {
    summary["effectiveness"]["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["plugin"] == id)
        .unwrap_or_else(|| panic!("no effectiveness for {id}"))
}

#[test]
fn the_sample_trial_reproduces_the_label_counts_and_writes_every_output() {
    let tmp = temp_dir();
    let out = tmp.path().join("out");
    let summary = trial(None, &out, &[]);
    assert_eq!(summary["schema"], "livelab.trial-summary/1");
    assert_eq!(summary["trial"]["allow_unsigned"], true);
    let labels = sample_labels();
    for (topic, by_record) in &labels {
        let positives = by_record.values().filter(|&&l| l).count() as u64;
        let p = plugin(&summary, topic);
        let c = &p["confusion"];
        // The sample plugins implement the rules the labels were generated from.
        assert_eq!(c["tp"], positives, "{topic}: {c}");
        assert_eq!(c["fn"], 0, "{topic}: {c}");
        assert_eq!(c["fp"], 0, "{topic}: {c}");
        assert_eq!(c["tn"], 300 - positives, "{topic}: {c}");
        assert_eq!(p["metrics"]["sensitivity"]["estimate"], 1.0);
        // Wilson with x = n: the upper limit is exactly 1, the lower 1 / (1 + z²/n).
        let n = positives as f64;
        let z2 = 1.959963984540054f64.powi(2);
        let lower = p["metrics"]["sensitivity"]["ci95"][0].as_f64().unwrap();
        assert!((lower - n / (n + z2)).abs() < 1e-12, "{topic}: {lower}");
        assert_eq!(p["metrics"]["sensitivity"]["ci95"][1], 1.0);
    }
    // results.csv: a header and one row per evaluation, with label and alert filled in.
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert!(rows[0].starts_with("record,source,sex,age_band,coding,plugin,"));
    assert_eq!(
        rows.len(),
        1 + 7 * 300,
        "six sample plugins and one candidate"
    );
    let comparisons = summary["effectiveness"]["comparisons"].as_array().unwrap();
    assert_eq!(comparisons.len(), 1);
    assert_eq!(comparisons[0]["candidate"], "metformin-egfr-ema");
    assert!(out.join("report.html").is_file());
    assert!(out.join("decisions.jsonl").is_file());
}

/// A trial of the baseline metformin plugin against its EMA-2016 candidate.
fn ab_trial(dir: &Path, extra: &str) -> PathBuf {
    let path = dir.join("ab.toml");
    std::fs::write(
        &path,
        format!(
            r#"name = "metformin A/B"
region = "test"
records = {records:?}
labels = {labels:?}
allow_unsigned = true
{extra}

{METFORMIN_PAIR}"#,
            records = SAMPLE_RECORDS,
            labels = format!("{SAMPLE_RECORDS}/labels.csv"),
        ),
    )
    .unwrap();
    path
}

/// Records on active metformin at most 500 mg a day whose most recent eGFR is in [10, 30):
/// where the NHG dose rule (baseline) and the EMA 2016 contraindication (candidate) part.
/// Computed from the requests the plugin received, as the decision log holds them.
fn expected_discordant(log: &Path) -> BTreeSet<String> {
    let mut records = BTreeSet::new();
    for (_, plugin, d) in decision_lines(log) {
        if plugin["id"] != "metformin-egfr" {
            continue;
        }
        let patient = &d["input"]["patient"];
        let on_low_dose = patient["medications"].as_array().unwrap().iter().any(|m| {
            m["status"] == "Active"
                && m["daily_dose"]["value"]
                    .as_f64()
                    .is_some_and(|mg| mg <= 500.0)
        });
        let latest = patient["observations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|o| {
                Some((
                    o["effective_days_ago"].as_u64()?,
                    o["value"]["Quantity"]["value"].as_f64()?,
                ))
            })
            .min_by_key(|(days, _)| *days);
        if on_low_dose && latest.is_some_and(|(_, egfr)| (10.0..30.0).contains(&egfr)) {
            records.insert(d["record"].as_str().unwrap().to_owned());
        }
    }
    records
}

#[test]
fn a_paired_comparison_finds_exactly_the_records_where_the_versions_part() {
    let tmp = temp_dir();
    let file = ab_trial(tmp.path(), "[decision_log]\npath = \"log.jsonl\"");
    let out = tmp.path().join("out");
    let summary = trial(Some(&file), &out, &[]);
    let comparison = &summary["effectiveness"]["comparisons"][0];
    let found: BTreeSet<String> = comparison["discordant"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            assert_eq!(d["baseline_alert"], false, "{d}");
            assert_eq!(d["candidate_alert"], true, "{d}");
            d["record"].as_str().unwrap().to_owned()
        })
        .collect();
    let expected = expected_discordant(&out.join("log.jsonl"));
    assert!(
        !expected.is_empty(),
        "the sample has patients the versions part on"
    );
    assert_eq!(found, expected);
    // The labels follow the NHG rule: every discordant alert is a false positive, so
    // specificity drops and sensitivity does not move.
    let b = expected.len() as u64;
    assert_eq!(comparison["label_negative"]["only_b"], b);
    assert_eq!(comparison["label_positive"]["only_a"], 0);
    assert_eq!(comparison["label_positive"]["only_b"], 0);
    assert_eq!(comparison["specificity_mcnemar"]["method"], "exact");
    // Exact McNemar with b = 0, c = k: p = 2 · 0.5^k.
    let p = comparison["specificity_mcnemar"]["p_value"]
        .as_f64()
        .unwrap();
    assert!(
        (p - (2.0 * 0.5f64.powi(b as i32)).min(1.0)).abs() < 1e-12,
        "{p}"
    );
    assert!(
        comparison["specificity_difference"]["estimate"]
            .as_f64()
            .unwrap()
            < 0.0
    );
    assert_eq!(comparison["sensitivity_difference"]["estimate"], 0.0);
}

#[test]
fn shards_merged_give_the_statistics_of_one_run() {
    let tmp = temp_dir();
    let file = ab_trial(tmp.path(), "");
    trial(Some(&file), &tmp.path().join("single"), &[]);
    let shards: Vec<PathBuf> = (1..=3)
        .map(|i| {
            let out = tmp.path().join(format!("shard-{i}"));
            trial(
                Some(&file),
                &out,
                &["--shard", &format!("{i}/3"), "-j", "1"],
            );
            out
        })
        .collect();
    let merged_out = tmp.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(shards.iter().map(|s| s.to_str().unwrap()));
    args.extend(["--out", merged_out.to_str().unwrap()]);
    assert_success(&livelab(&args));
    assert_merged_like_single(&merged_out, &tmp.path().join("single"), &shards);
}

#[test]
fn merge_refuses_an_incomplete_set_of_shards() {
    let tmp = temp_dir();
    let file = ab_trial(tmp.path(), "");
    let out = tmp.path().join("shard-1");
    trial(Some(&file), &out, &["--shard", "1/2"]);
    assert_error(
        &livelab(&[
            "merge",
            out.to_str().unwrap(),
            "--out",
            tmp.path().join("m").to_str().unwrap(),
        ]),
        &["do not make one whole run", "1/2"],
    );
}

#[test]
fn trial_files_with_mistakes_get_errors_that_name_them() {
    let tmp = temp_dir();
    let file = tmp.path().join("bad.toml");
    std::fs::write(
        &file,
        format!("name = \"x\"\nregion = \"y\"\nrecords = {SAMPLE_RECORDS:?}\n[[plugin]]\npath = \"sample:nope\"\n"),
    )
    .unwrap();
    let out = tmp.path().join("out");
    assert_error(
        &run_trial(&file, &out),
        &["bad.toml", "no sample plugin \"nope\""],
    );
    let file = ab_trial(tmp.path(), "");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &file,
        text.replace(
            "candidate = \"metformin-egfr-ema\"",
            "candidate = \"home-bp\"",
        ),
    )
    .unwrap();
    assert_error(
        &run_trial(&file, &out),
        &["[[compare]] names plugin \"home-bp\""],
    );
}

/// The sample trial's outputs with what legitimately differs between runs and machines taken
/// out: timings (latency, instantiation, wall time, throughput, worker count, host memory) and absolute paths (the checkout and the build directory).
/// Everything else, every count, card, interval and hash, must stay byte-identical across
/// refactors: the goldens were written by the code before the core was reorganised.
fn normalised_trial_outputs(out: &Path) -> BTreeMap<&'static str, String> {
    const TIMING: &[&str] = &[
        "latency_ns",
        "latency_cdf",
        "instantiate_ns",
        "wall_ms",
        "workers",
        "host_peak_rss_bytes",
        "evaluations_per_second",
        "evaluations_per_second_per_core",
    ];
    let root = env!("CARGO_MANIFEST_DIR");
    // Packages live in the build's target directory (wherever CARGO_TARGET_DIR puts it).
    let packages = Path::new(SAMPLE_PACKAGES[0].1)
        .parent()
        .expect("a package directory has a parent")
        .display()
        .to_string();
    let paths =
        |text: &str| -> String { text.replace(&packages, "$PACKAGES").replace(root, "$ROOT") };
    fn strip(value: &mut Value, keys: &[&str]) {
        match value {
            Value::Object(map) => {
                map.retain(|k, _| !keys.contains(&k.as_str()));
                map.values_mut().for_each(|v| strip(v, keys));
            }
            Value::Array(items) => items.iter_mut().for_each(|v| strip(v, keys)),
            _ => {}
        }
    }
    let json = |text: &str| {
        let mut value: Value = serde_json::from_str(text).unwrap();
        strip(&mut value, TIMING);
        value
    };
    let read = |name: &str| std::fs::read_to_string(out.join(name)).unwrap();
    // Component and manifest hashes change whenever a plugin's code is rebuilt differently
    // (an SDK refactor, a toolchain); the cards they give must not. Name them by plugin.
    let summary: Value = serde_json::from_str(&read("summary.json")).unwrap();
    let mut hashes = Vec::new();
    for p in summary["run"]["plugins"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        hashes.push((
            p["sha256"].as_str().unwrap().to_owned(),
            format!("$COMPONENT_SHA256({id})"),
        ));
        if let Some(m) = p["manifest_sha256"].as_str() {
            hashes.push((m.to_owned(), format!("$MANIFEST_SHA256({id})")));
        }
    }
    let paths = |text: &str| {
        let mut text = paths(text);
        for (hash, name) in &hashes {
            text = text.replace(hash.as_str(), name);
        }
        text
    };
    let mut outputs = BTreeMap::new();
    outputs.insert(
        "summary.json",
        paths(&(serde_json::to_string_pretty(&json(&read("summary.json"))).unwrap() + "\n")),
    );
    let lines: String = read("results.jsonl")
        .lines()
        .map(|l| json(l).to_string() + "\n")
        .collect();
    outputs.insert("results.jsonl", paths(&lines));
    let mut csv = String::new();
    let text = read("results.csv");
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    let timing_columns: Vec<usize> = header
        .iter()
        .enumerate()
        .filter(|(_, h)| TIMING.contains(h))
        .map(|(i, _)| i)
        .collect();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(text.as_bytes());
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in reader.records() {
        let row = row.unwrap();
        let kept: Vec<&str> = row
            .iter()
            .enumerate()
            .filter(|(i, _)| !timing_columns.contains(i))
            .map(|(_, f)| f)
            .collect();
        writer.write_record(&kept).unwrap();
    }
    csv.push_str(&String::from_utf8(writer.into_inner().unwrap()).unwrap());
    outputs.insert("results.csv", paths(&csv));
    outputs
}

#[test]
fn the_sample_trial_outputs_are_those_of_the_golden_run() {
    let tmp = temp_dir();
    trial(None, tmp.path(), &[]);
    for (name, text) in normalised_trial_outputs(tmp.path()) {
        check_golden(&format!("sample-trial/{name}"), &text);
    }
}

#[test]
fn a_report_rendered_from_the_read_back_summary_is_the_report_of_the_run() {
    let tmp = temp_dir();
    trial(None, tmp.path(), &[]);
    let again = tmp.path().join("again.html");
    assert_success(&livelab(&[
        "report",
        tmp.path().join("summary.json").to_str().unwrap(),
        "--out",
        again.to_str().unwrap(),
    ]));
    let original = std::fs::read_to_string(tmp.path().join("report.html")).unwrap();
    let rendered = std::fs::read_to_string(&again).unwrap();
    if original != rendered {
        let line = original
            .lines()
            .zip(rendered.lines())
            .position(|(a, b)| a != b)
            .map_or(
                original.lines().count().min(rendered.lines().count()),
                |i| i,
            );
        panic!(
            "the report from summary.json differs from the run's at line {}:\n  run:       {:?}\n  read back: {:?}",
            line + 1,
            original.lines().nth(line),
            rendered.lines().nth(line)
        );
    }
}

#[test]
fn report_refuses_a_file_that_is_not_a_trial_summary() {
    let tmp = temp_dir();
    let bogus = tmp.path().join("summary.json");
    std::fs::write(&bogus, "{\"schema\": \"something else\"}").unwrap();
    assert_error(
        &livelab(&["report", bogus.to_str().unwrap()]),
        &["summary.json", "is not a trial summary"],
    );
}
