//! What the benches share: where the sample records are, the date they are evaluated on, and
//! reading them.

use std::path::{Path, PathBuf};

use jiff::civil::Date;
use livelab_host::{Record, RecordReader};

/// Overrides the records directory (default: `sample-records/` of the repository).
pub const RECORDS_ENV: &str = "LIVELAB_BENCH_RECORDS";

/// The evaluation date when the records have no `cohort.json` saying their own.
const FALLBACK_DATE: &str = "2026-11-01";

#[allow(dead_code, reason = "the ingest bench generates its own exports")]
/// The records directory: `$LIVELAB_BENCH_RECORDS`, else `sample-records/`. Panics with what
/// to do when it holds no FHIR files.
pub fn records_dir() -> PathBuf {
    let dir = std::env::var_os(RECORDS_ENV).map_or_else(
        || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/sample-records")),
        PathBuf::from,
    );
    let has_records = livelab_host::ingest::listing::list(&dir).is_ok();
    if !has_records {
        panic!(
            "no FHIR records for the benches in {}: generate a cohort with \
             `./target/release/livelab generate --out sample-records --patients 300`, \
             or point {RECORDS_ENV} at a directory of FHIR Bundles or Bulk NDJSON",
            dir.display()
        );
    }
    dir
}

/// The cohort's `as_of` date from its `cohort.json`, else 2026-11-01 (the generator's default).
pub fn evaluation_date(dir: &Path) -> Date {
    std::fs::read_to_string(dir.join("cohort.json"))
        .ok()
        .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok())
        .and_then(|json| json.get("as_of")?.as_str()?.parse().ok())
        .unwrap_or_else(|| FALLBACK_DATE.parse().expect("a valid date"))
}

/// Every readable record of the directory. Panics if none could be read.
#[allow(dead_code, reason = "the ingest bench does not load records up front")]
pub fn load_records(dir: &Path, date: Date) -> Vec<Record> {
    let reader =
        RecordReader::open(dir, date).unwrap_or_else(|e| panic!("opening the bench records: {e}"));
    let mut records = Vec::new();
    let mut errors = 0;
    for outcome in reader {
        match outcome {
            Ok(record) => records.push(record),
            Err(_) => errors += 1,
        }
    }
    assert!(
        !records.is_empty(),
        "none of the records in {} could be read ({errors} errors)",
        dir.display()
    );
    if errors > 0 {
        eprintln!(
            "bench: {errors} record(s) in {} could not be read and are left out",
            dir.display()
        );
    }
    records
}
