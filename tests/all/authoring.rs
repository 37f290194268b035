//! The author's checks: `livelab test` against expected cards (with `--bless` and a readable
//! diff) and `livelab bench` beside a reference plugin.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// A package of the metformin sample with two fixture records from the sample cohort: one
/// with a warning card, one without cards.
fn package_with_fixtures(dir: &Path) -> PathBuf {
    let pkg = dir.join("pkg");
    assert_success(&livelab(&[
        "package",
        METFORMIN_EGFR,
        "--out",
        pkg.to_str().unwrap(),
        "--publisher",
        "test",
    ]));
    let fixtures = pkg.join("fixtures");
    std::fs::create_dir(&fixtures).unwrap();
    for file in [
        "cohort.json",
        "pt-0686dd96c2da.json",
        "pt-005a98e1cd5f.json",
    ] {
        std::fs::copy(Path::new(SAMPLE_RECORDS).join(file), fixtures.join(file)).unwrap();
    }
    pkg
}

#[test]
fn test_blesses_expected_cards_then_passes_and_shows_a_diff_when_they_change() {
    let tmp = temp_dir();
    let pkg = package_with_fixtures(tmp.path());
    let pkg_arg = pkg.to_str().unwrap();

    let first = livelab(&["test", pkg_arg]);
    assert!(!first.status.success(), "no expected files yet");
    assert!(
        stdout(&first).contains("run with --bless"),
        "{}",
        stdout(&first)
    );

    assert_success(&livelab(&["test", pkg_arg, "--bless"]));
    let expected = pkg.join("expected/pt-0686dd96c2da.json");
    let cards: Value = serde_json::from_str(&std::fs::read_to_string(&expected).unwrap()).unwrap();
    assert_eq!(cards[0]["indicator"], "warning", "{cards}");
    let passed = livelab(&["test", pkg_arg]);
    assert_success(&passed);
    assert!(
        stdout(&passed).contains("2 passed, 0 failed"),
        "{}",
        stdout(&passed)
    );

    // An expectation the plugin does not meet: a readable line diff, and a failing exit.
    let text = std::fs::read_to_string(&expected).unwrap();
    std::fs::write(&expected, text.replace("\"warning\"", "\"critical\"")).unwrap();
    let failed = livelab(&["test", pkg_arg]);
    assert!(!failed.status.success());
    let out = stdout(&failed);
    assert!(out.contains("FAIL pt-0686dd96c2da"), "{out}");
    assert!(out.contains("-     \"indicator\": \"critical\","), "{out}");
    assert!(out.contains("+     \"indicator\": \"warning\","), "{out}");
    assert!(out.contains("1 passed, 1 failed"), "{out}");
}

#[test]
fn test_with_sample_reports_sensitivity_and_specificity_on_the_labels() {
    let tmp = temp_dir();
    let pkg = package_with_fixtures(tmp.path());
    assert_success(&livelab(&["test", pkg.to_str().unwrap(), "--bless"]));
    let output = livelab(&["test", pkg.to_str().unwrap(), "--sample"]);
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.contains("topic metformin-egfr"), "{out}");
    assert!(out.contains("FN 0"), "{out}");
    assert!(out.contains("sensitivity 100.0 %"), "{out}");
}

#[test]
fn bench_measures_the_plugin_beside_the_reference() {
    let output = livelab(&["bench", METFORMIN_EGFR, "--rounds", "1", "--json"]);
    assert_success(&output);
    let costs: Value = serde_json::from_str(&stdout(&output)).unwrap();
    for id in ["metformin-egfr", "home-bp"] {
        let cost = &costs[id];
        assert_eq!(cost["evaluations"], 300, "{id}: {cost}");
        assert_eq!(cost["errors"], 0, "{id}: {cost}");
        let p50 = cost["latency_us"]["p50"].as_f64().unwrap();
        let instantiate = cost["instantiate_us"]["p50"].as_f64().unwrap();
        assert!(
            p50 > 0.0 && instantiate > 0.0 && instantiate < p50,
            "{id}: {cost}"
        );
        assert!(cost["fuel"]["p50"].as_f64().unwrap() > 0.0, "{id}: {cost}");
        assert!(cost["compile_ms"].as_f64().unwrap() > 0.0, "{id}: {cost}");
    }
}
