//! The same inputs give the same outputs, byte for byte apart from timing, whatever the
//! number of worker threads.

use crate::support::*;

#[test]
fn two_runs_give_identical_results_apart_from_latency() {
    let tmp = temp_dir();
    let records = cohort(tmp.path(), "cohort", 60, "bundles");
    let mut plugins: Vec<&str> = SAMPLE_PLUGINS.iter().map(|(_, p)| *p).collect();
    plugins.push(test_guests::ECHO);
    let strip = |lines: Vec<serde_json::Value>| -> Vec<_> {
        lines.into_iter().map(without_timing).collect()
    };
    let first = strip(run(&records, &plugins, &tmp.path().join("a"), &["-j", "2"]));
    let second = strip(run(&records, &plugins, &tmp.path().join("b"), &["-j", "2"]));
    let single = strip(run(&records, &plugins, &tmp.path().join("c"), &["-j", "1"]));
    assert_eq!(first.len(), 60 * plugins.len());
    assert!(first == second, "two runs differ");
    assert!(first == single, "one worker and two workers differ");
}

#[test]
fn bundles_and_bulk_ndjson_of_the_same_cohort_give_the_same_cards() {
    let tmp = temp_dir();
    let bundles = cohort(tmp.path(), "bundles", 80, "bundles");
    let ndjson = cohort(tmp.path(), "ndjson", 80, "ndjson");
    let plugins: Vec<&str> = SAMPLE_PLUGINS.iter().map(|(_, p)| *p).collect();
    let cards = |records, out: &str| -> std::collections::BTreeMap<String, serde_json::Value> {
        run(records, &plugins, &tmp.path().join(out), &[])
            .into_iter()
            .map(|l| {
                (
                    format!("{} {}", l["record"], l["plugin"]),
                    l["cards"].clone(),
                )
            })
            .collect()
    };
    let from_bundles = cards(&bundles, "out-b");
    assert_eq!(from_bundles.len(), 80 * plugins.len());
    assert!(
        from_bundles == cards(&ndjson, "out-n"),
        "the two formats give different cards"
    );
}
