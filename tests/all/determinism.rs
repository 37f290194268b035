//! The same inputs give the same outputs, byte for byte apart from timing, whatever the
//! number of worker threads.

use crate::support::*;

#[test]
fn two_runs_give_identical_results_apart_from_latency() {
    runs_agree("bundles");
}

/// A Bulk export's patients are assembled in the workers, one unit per patient (issue 15).
#[test]
fn two_runs_of_a_bulk_export_give_identical_results_apart_from_latency() {
    runs_agree("ndjson");
}

/// Two runs with two workers and one with one, on a cohort written as `format`, give the
/// same lines in the same order apart from timing.
fn runs_agree(format: &str) {
    let tmp = temp_dir();
    let records = cohort(tmp.path(), "cohort", 60, format);
    let mut plugins: Vec<&str> = SAMPLE_PLUGINS.iter().map(|(_, p)| *p).collect();
    plugins.push(test_guests::ECHO);
    let strip = |lines: Vec<serde_json::Value>| -> Vec<_> {
        lines.into_iter().map(without_timing).collect()
    };
    let first = strip(run(&records, &plugins, &tmp.path().join("a"), &["-j", "2"]));
    let second = strip(run(&records, &plugins, &tmp.path().join("b"), &["-j", "2"]));
    let single = strip(run(&records, &plugins, &tmp.path().join("c"), &["-j", "1"]));
    assert_eq!(first.len(), 60 * plugins.len());
    let whole = |lines: &[serde_json::Value]| per_evaluation(lines, Clone::clone);
    assert_same_per_evaluation(
        &format!("{format}: two runs"),
        &whole(&first),
        &whole(&second),
    );
    assert_same_per_evaluation(
        &format!("{format}: one worker against two"),
        &whole(&first),
        &whole(&single),
    );
    // And in the same order, line by line.
    assert!(
        first == second && first == single,
        "{format}: the same lines in another order"
    );
}

#[test]
fn bundles_and_bulk_ndjson_of_the_same_cohort_give_the_same_cards() {
    let tmp = temp_dir();
    let bundles = cohort(tmp.path(), "bundles", 80, "bundles");
    let ndjson = cohort(tmp.path(), "ndjson", 80, "ndjson");
    let plugins: Vec<&str> = SAMPLE_PLUGINS.iter().map(|(_, p)| *p).collect();
    // What an evaluation gave: its status, cards or error, and its cost in fuel (the source
    // file differs between the formats, and timing between any two runs).
    let outcomes = |records, out: &str| {
        per_evaluation(&run(records, &plugins, &tmp.path().join(out), &[]), |l| {
            serde_json::json!({
                "status": l["status"],
                "cards": l["cards"],
                "error": l["error"],
                "fuel": l["fuel"],
            })
        })
    };
    let from_bundles = outcomes(&bundles, "out-b");
    assert_eq!(from_bundles.len(), 80 * plugins.len());
    assert_same_per_evaluation(
        "Bundles against Bulk NDJSON of the same cohort",
        &from_bundles,
        &outcomes(&ndjson, "out-n"),
    );
}
