//! Bulk Data NDJSON lines (a records directory of `*.ndjson` files, no manifest): the bytes
//! are one `*.ndjson` file in a directory of its own, opened with `RecordReader::open_with` and
//! read to the end (routing by patient, then assembling each partition).
#![no_main]

use libfuzzer_sys::fuzz_target;
use livelab_fuzz::{ingest_options, read_records, scratch_dir, write};

fuzz_target!(|data: &[u8]| {
    let dir = scratch_dir("bulk");
    write(&dir, "Resource.000.ndjson", data);
    let mut options = ingest_options();
    // One input in four is routed through scratch-file partitions (several per input) rather
    // than the single in-memory one: both are what a large and a small export go through.
    if data.len() % 4 == 0 {
        options.partition_bytes = 256;
    }
    options.allow_identifiers = data.len() % 2 == 1;
    read_records(&dir, options);
});
