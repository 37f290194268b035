//! Ingest throughput: [`RecordReader`] over whole exports (files warm in the page cache, one
//! thread), in bytes of FHIR read per second, beside the floor any reader has to pay in the
//! same run: `serde_json` validating the same bytes without building anything (`IgnoredAny`).
//!
//! Exports, generated into a temporary directory before measuring (seeded, so every run reads
//! the same bytes):
//! - `synthea-bundles`: Synthea-shaped transaction Bundles (hundreds of resources a plugin never
//!   needs per patient), the shape the ≥ 100 MB/s per core target is stated for;
//! - `plain-bundles`: the sample records' shape (small pretty-printed Bundles);
//! - `bulk-ndjson`: Bulk Data NDJSON in one in-memory partition;
//! - `bulk-ndjson-spilled`: the same export grouped through 1 MiB scratch partitions, the path
//!   a large export takes.
//!
//! For `bulk-ndjson`, two more functions split the files into lines the way the reader did
//! before line-level recovery and the way it does now, so that the recovery's own cost is
//! measured on the same bytes in the same run.
//!
//! `$LIVELAB_BENCH_RECORDS` adds one more group for a directory of your own.

mod common;

use std::fs::File;
use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use livelab_cohort::{CohortFormat, CohortMix, CohortShape, CohortSpec, write_cohort};
use livelab_host::RecordReader;
use livelab_host::ingest::{IngestOptions, listing};

/// The FHIR files the reader reads (listed as the reader lists them), with their total size.
fn fhir_files(dir: &Path) -> (Vec<PathBuf>, u64) {
    let files = listing::list(dir)
        .expect("listing the records directory")
        .files;
    let bytes = files
        .iter()
        .map(|f| f.metadata().expect("file metadata").len())
        .sum();
    (files, bytes)
}

/// Parses every byte of the files as JSON without building values: what any reader pays.
fn validate_json(files: &[PathBuf], ndjson: bool) -> usize {
    let mut values = 0;
    for file in files {
        let bytes = std::fs::read(file).expect("reading a records file");
        if ndjson {
            for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                serde_json::from_slice::<serde::de::IgnoredAny>(line).expect("valid JSON");
                values += 1;
            }
        } else {
            serde_json::from_slice::<serde::de::IgnoredAny>(&bytes).expect("valid JSON");
            values += 1;
        }
    }
    values
}

/// Splits NDJSON files into lines as the Bulk reader does, counting non-empty lines: as it did
/// before line-level recovery (`read_line`, whose UTF-8 check fails the rest of the file at the
/// first bad byte) or as it does now (`read_until`, then a UTF-8 check of each line, so a bad
/// byte is one line's error). The same bytes either way: the difference is the recovery's cost.
fn split_lines(files: &[PathBuf], per_line_utf8: bool) -> usize {
    let mut lines = 0;
    for file in files {
        let mut reader =
            BufReader::with_capacity(1 << 20, File::open(file).expect("opening a records file"));
        if per_line_utf8 {
            let mut raw = Vec::new();
            while reader.read_until(b'\n', &mut raw).expect("reading a line") > 0 {
                let text = std::str::from_utf8(&raw).expect("UTF-8");
                lines += usize::from(!text.trim().is_empty());
                raw.clear();
            }
        } else {
            let mut text = String::new();
            while reader.read_line(&mut text).expect("reading a line") > 0 {
                lines += usize::from(!text.trim().is_empty());
                text.clear();
            }
        }
    }
    lines
}

fn bench_export(c: &mut Criterion, name: &str, dir: &Path, options: IngestOptions) {
    let date = common::evaluation_date(dir);
    let (files, bytes) = fhir_files(dir);
    let ndjson = files
        .iter()
        .any(|f| f.extension().is_some_and(|e| e == "ndjson"));
    let open = || RecordReader::open_with(dir, date, options.clone()).expect("opening the records");
    let records = open().filter(Result::is_ok).count();
    let errors = open().filter(Result::is_err).count();
    assert_eq!(errors, 0, "{name}: every record of the bench export reads");
    eprintln!(
        "bench {name}: {records} records in {} files, {bytes} bytes ({:.0} KB per record)",
        files.len(),
        bytes as f64 / records as f64 / 1e3
    );
    let mut group = c.benchmark_group(format!("ingest/{name}"));
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("record-reader", |b| {
        b.iter(|| {
            let read = open().filter(Result::is_ok).count();
            assert_eq!(read, records);
            black_box(read)
        })
    });
    group.bench_function("baseline-json-validate", |b| {
        b.iter(|| black_box(validate_json(black_box(&files), ndjson)))
    });
    if ndjson && options.partition_bytes == IngestOptions::default().partition_bytes {
        group.bench_function("lines-read_line (before recovery)", |b| {
            b.iter(|| black_box(split_lines(black_box(&files), false)))
        });
        group.bench_function("lines-read_until+utf8 (line-level recovery)", |b| {
            b.iter(|| black_box(split_lines(black_box(&files), true)))
        });
    }
    group.finish();
}

fn generate(
    root: &Path,
    name: &str,
    patients: usize,
    format: CohortFormat,
    shape: CohortShape,
) -> PathBuf {
    let dir = root.join(name);
    let spec = CohortSpec {
        seed: 42,
        patients,
        as_of: "2026-11-01".parse().expect("a valid date"),
        format,
        shape,
        mix: CohortMix::Enriched,
    };
    write_cohort(&spec, &dir).expect("generating the bench export");
    dir
}

fn ingest(c: &mut Criterion) {
    let scratch = tempfile::tempdir().expect("a temporary directory for the bench exports");
    let root = scratch.path();
    let synthea = generate(
        root,
        "synthea",
        100,
        CohortFormat::Bundles,
        CohortShape::Synthea,
    );
    bench_export(c, "synthea-bundles", &synthea, IngestOptions::default());
    let plain = generate(
        root,
        "plain",
        1000,
        CohortFormat::Bundles,
        CohortShape::Plain,
    );
    bench_export(c, "plain-bundles", &plain, IngestOptions::default());
    let bulk = generate(root, "bulk", 3000, CohortFormat::Ndjson, CohortShape::Plain);
    bench_export(c, "bulk-ndjson", &bulk, IngestOptions::default());
    let spilled = IngestOptions {
        partition_bytes: 1 << 20,
        ..IngestOptions::default()
    };
    bench_export(c, "bulk-ndjson-spilled", &bulk, spilled);
    if let Some(own) = std::env::var_os(common::RECORDS_ENV) {
        bench_export(c, "own", Path::new(&own), IngestOptions::default());
    }
}

fn config() -> Criterion {
    // One iteration reads a whole export (tens of milliseconds): fewer, longer samples.
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(8))
        .warm_up_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ingest
}
criterion_main!(benches);
