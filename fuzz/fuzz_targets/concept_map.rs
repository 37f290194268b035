//! A region's ConceptMap file (`terminology = [...]` of a trial, `--terminology` of a run):
//! the bytes are one `*.json` file loaded with `Terminology::load_file`; a map that loads then
//! translates a few fixed codings, as ingest does with every coding.
#![no_main]

use libfuzzer_sys::fuzz_target;
use livelab_fuzz::{scratch_dir, write};
use livelab_host::ingest::terminology::{CodingStats, Terminology};
use livelab_host::wit::{CodeSystem, Coding};

fuzz_target!(|data: &[u8]| {
    let path = write(&scratch_dir("terminology"), "map.json", data);
    let mut terminology = Terminology::empty();
    if terminology.load_file(&path).is_err() {
        return;
    }
    let _ = terminology.maps();
    let mut codings = vec![
        Coding {
            system: CodeSystem::SnomedCt,
            code: "44054006".into(),
        },
        Coding {
            system: CodeSystem::Loinc,
            code: "33914-3".into(),
        },
        Coding {
            system: CodeSystem::Rxnorm,
            code: "860975".into(),
        },
        Coding {
            system: CodeSystem::Icpc,
            code: "T90".into(),
        },
        Coding {
            system: CodeSystem::Other("http://example.org/codes".into()),
            code: "a".into(),
        },
    ];
    let mut stats = CodingStats::new();
    terminology.translate(&mut codings, &mut stats);
    std::hint::black_box((&codings, &stats));
});
