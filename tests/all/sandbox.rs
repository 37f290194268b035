//! Containment: a plugin that traps, loops forever or allocates without bound gets an error
//! result for each of its evaluations; the run completes and the other plugins' results are
//! exactly what they are without it.

use std::path::Path;

use serde_json::Value;

use crate::support::*;

const PATIENTS: usize = 6;

/// Runs metformin-egfr beside `hostile`; returns the hostile plugin's lines after checking
/// that metformin's lines equal a run of metformin alone.
fn contained(hostile: &str, extra: &[&str]) -> (Vec<Value>, Value) {
    let tmp = temp_dir();
    let records = cohort(tmp.path(), "cohort", PATIENTS, "bundles");
    let alone = run(
        &records,
        &[METFORMIN_EGFR],
        &tmp.path().join("alone"),
        extra,
    );
    let out = tmp.path().join("beside");
    let beside = run(&records, &[METFORMIN_EGFR, hostile], &out, extra);
    assert_eq!(
        beside.len(),
        2 * PATIENTS,
        "every evaluation is accounted for"
    );
    let (metformin, hostile): (Vec<Value>, Vec<Value>) = beside
        .into_iter()
        .partition(|l| l["plugin"] == "metformin-egfr");
    let strip =
        |lines: Vec<Value>| -> Vec<Value> { lines.into_iter().map(without_timing).collect() };
    assert!(
        strip(metformin) == strip(alone),
        "the well-behaved plugin was affected"
    );
    assert_eq!(hostile.len(), PATIENTS);
    (hostile, summary(&out))
}

fn assert_all_failed(lines: &[Value], cause: &str, message: &str) {
    for line in lines {
        assert_eq!(line["status"], "error", "{line}");
        assert_eq!(line["error"]["cause"], cause, "{line}");
        let text = line["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "message {text:?} lacks {message:?}");
    }
}

fn hostile_summary(summary: &Value, id: &str) -> Value {
    summary["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == id)
        .cloned()
        .unwrap()
}

#[test]
fn a_panicking_plugin_is_a_trap_with_its_panic_message() {
    let (lines, summary) = contained(test_guests::TRAP, &[]);
    assert_all_failed(&lines, "trap", "deliberate panic in trap guest");
    let trap = hostile_summary(&summary, "trap");
    assert_eq!(trap["errors"]["trap"]["count"], PATIENTS);
    assert_eq!(trap["ok"], 0);
}

#[test]
fn an_endless_loop_hits_the_deadline() {
    let (lines, _) = contained(test_guests::SPIN, &["--deadline-ms", "40"]);
    assert_all_failed(&lines, "deadline-exceeded", "longer than 40 ms");
    for line in &lines {
        let ms = line["latency_ns"].as_u64().unwrap() / 1_000_000;
        assert!((40..2_000).contains(&ms), "stopped after {ms} ms");
    }
}

#[test]
fn unbounded_allocation_hits_the_memory_cap() {
    let (lines, _) = contained(test_guests::HOG, &["--memory-mib", "16"]);
    assert_all_failed(&lines, "memory-limit", "the cap is 16777216");
    for line in &lines {
        assert!(
            line["peak_memory_bytes"].as_u64().unwrap() <= 16 << 20,
            "{line}"
        );
    }
}

#[test]
fn limits_above_the_host_ceiling_are_refused() {
    let output = livelab(&[
        "run",
        "--memory-mib",
        "100000",
        "--records",
        Path::new(SAMPLE_RECORDS).to_str().unwrap(),
    ]);
    assert_error(&output, &["--memory-mib 100000", "ceiling"]);
}

#[test]
fn plugin_log_lines_reach_the_results_and_are_bounded() {
    let tmp = temp_dir();
    let records = cohort(tmp.path(), "cohort", 2, "bundles");
    let lines = run(
        &records,
        &[test_guests::CHATTY],
        &tmp.path().join("ok"),
        &[],
    );
    assert_eq!(lines[0]["status"], "ok");
    let log: Vec<&str> = lines[0]["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[0], "info: evaluation started");
    let (lines, _) = contained(test_guests::CHATTY, &["--max-log-lines", "2"]);
    assert_all_failed(&lines, "log-limit", "more than 2 lines");
}
