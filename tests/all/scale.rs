//! Scale: a cohort far larger than one Bulk partition streams through `livelab run` within the
//! documented memory bound (see `host/src/fhir/bulk.rs`), every record accounted for.

use crate::support::*;

/// The bound `livelab run` must stay under, whatever the size of the export: about one Bulk
/// partition and its records (~100 MiB at the default 32 MiB partitions), plus the engine,
/// the compiled plugins and the run's histograms. The 100k-patient export below is larger
/// than this, so a reader that loaded it whole could not pass.
const PEAK_RSS_BOUND: u64 = 256 << 20;

#[test]
fn a_100k_patient_bulk_export_runs_within_the_memory_bound() {
    let tmp = temp_dir();
    let records = cohort(tmp.path(), "cohort", 100_000, "ndjson");
    let export_bytes: u64 = std::fs::read_dir(&records)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(
        export_bytes > PEAK_RSS_BOUND,
        "the export ({export_bytes} bytes) must exceed the bound for this test to mean anything"
    );
    let out = tmp.path().join("out");
    let output = livelab(&[
        "run",
        "--records",
        records.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
        "--plugin",
        METFORMIN_EGFR,
    ]);
    assert_success(&output);
    let summary = summary(&out);
    assert_eq!(summary["records"]["read"], 100_000);
    assert_eq!(
        summary["records"]["errors"], 0,
        "{}",
        summary["record_errors"]
    );
    assert!(summary["ingest"]["bulk_partitions"].as_u64().unwrap() > 1);
    let rss = summary["host_peak_rss_bytes"]
        .as_u64()
        .expect("Linux reports the peak RSS");
    assert!(
        rss < PEAK_RSS_BOUND,
        "peak RSS {} MiB is over the {} MiB bound",
        rss >> 20,
        PEAK_RSS_BOUND >> 20
    );
    // Every record appears in the results: one line per plugin evaluation.
    let lines = std::fs::read_to_string(out.join("results.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(lines, 100_000);
}
