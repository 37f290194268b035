//! A decision log given to `livelab replay LOG`: the bytes are the log file, read with
//! `run::decision_log::read` (the function `replay` calls before re-running anything).
#![no_main]

use libfuzzer_sys::fuzz_target;
use livelab_fuzz::{scratch_dir, write};

fuzz_target!(|data: &[u8]| {
    let path = write(&scratch_dir("decision-log"), "decisions.jsonl", data);
    if let Ok(decisions) = livelab_host::run::decision_log::read(&path) {
        std::hint::black_box(decisions);
    }
});
