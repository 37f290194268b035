//! A trial file (`livelab trial FILE`): the bytes go to `Trial::parse`, the parser
//! `Trial::load` calls after reading the file, with the path it would have.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use livelab_host::trial::Trial;

fuzz_target!(|data: &[u8]| {
    if let Ok(trial) = Trial::parse(Path::new("/region/trials/trial.toml"), data) {
        std::hint::black_box(trial.info());
    }
});
