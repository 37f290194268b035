//! Ingest throughput: [`RecordReader`] over the whole sample records directory (files warm
//! in the page cache), reported in bytes of FHIR read per second.
//!
//! Records: `sample-records/`, or the directory in `$LIVELAB_BENCH_RECORDS`.

mod common;

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use livelab_host::RecordReader;
use livelab_host::fhir::METADATA_FILES;

/// Total size of the files the reader reads: the FHIR files, not the cohort metadata.
fn fhir_bytes(dir: &Path) -> (u64, usize) {
    let mut bytes = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(dir).expect("reading the records directory") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let fhir = path
            .extension()
            .is_some_and(|ext| ext == "json" || ext == "ndjson");
        if path.is_file() && fhir && !METADATA_FILES.contains(&name) {
            bytes += path.metadata().expect("file metadata").len();
            files += 1;
        }
    }
    (bytes, files)
}

fn ingest(c: &mut Criterion) {
    let dir = common::records_dir();
    let date = common::evaluation_date(&dir);
    let (bytes, files) = fhir_bytes(&dir);
    let records = RecordReader::open(&dir, date)
        .expect("opening the records")
        .filter(Result::is_ok)
        .count();
    eprintln!(
        "bench: {records} records in {files} files, {bytes} bytes, from {}",
        dir.display()
    );

    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("record-reader", |b| {
        b.iter(|| {
            let reader = RecordReader::open(black_box(&dir), date).expect("opening the records");
            let read = reader.filter(Result::is_ok).count();
            assert_eq!(read, records);
            black_box(read)
        })
    });
    group.finish();
}

fn config() -> Criterion {
    // One iteration reads the whole directory (tens of milliseconds): fewer, longer samples.
    Criterion::default()
        .sample_size(20)
        .measurement_time(Duration::from_secs(10))
        .warm_up_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = ingest
}
criterion_main!(benches);
