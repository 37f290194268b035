//! A FHIR Bundle file (what `livelab run`/`trial` read from a records directory of Bundles):
//! the bytes are one `*.json` file, opened with `RecordReader::open_with` and read to the end.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livelab_fuzz::{ingest_options, read_records, scratch_dir, write};

fuzz_target!(|data: &[u8]| {
    let path = write(&scratch_dir("bundle"), "bundle.json", data);
    // Identified records are refused by default; every other input admits them, so the
    // mapping past the identifier check is fuzzed too.
    let mut options = ingest_options();
    options.allow_identifiers = data.len() % 2 == 1;
    read_records(&path, options);
});
