//! The sandbox's ordinary behaviour: limits on the command line are checked against the
//! host's ceiling, and a plugin's log reaches its results. What the sandbox does to plugins
//! that misbehave is the hostile-plugin suite, `hostile.rs`.

use std::path::Path;

use crate::support::*;

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
fn plugin_log_lines_reach_the_results() {
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
    assert!(log[1].starts_with("debug: age "), "{log:?}");
    assert_eq!(log[2], "warn: no rule here");
}
