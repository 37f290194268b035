//! A Bulk Data export `manifest.json`: the bytes are the manifest, in a directory that also
//! holds a small fixed export (a Patient and an Observation file, which a manifest may or may
//! not list), opened with `RecordReader::open_with` and read to the end.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use livelab_fuzz::{ingest_options, read_records, scratch_dir, write};

const PATIENT: &str = r#"{"resourceType":"Patient","id":"p1","gender":"female","birthDate":"1950-03-01"}
"#;
const OBSERVATION: &str = r#"{"resourceType":"Observation","id":"o1","status":"final","subject":{"reference":"Patient/p1"},"code":{"coding":[{"system":"http://loinc.org","code":"33914-3"}]},"effectiveDateTime":"2026-10-01","valueQuantity":{"value":42,"unit":"mL/min/{1.73_m2}","system":"http://unitsofmeasure.org","code":"mL/min/{1.73_m2}"}}
"#;

fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = scratch_dir("manifest");
        write(&dir, "Patient.000.ndjson", PATIENT.as_bytes());
        write(&dir, "Observation.000.ndjson", OBSERVATION.as_bytes());
        dir
    });
    write(dir, "manifest.json", data);
    read_records(dir, ingest_options());
});
