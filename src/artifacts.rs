//! Paths the build knows: the guest components `build.rs` built from `plugins/`, and the
//! shipped sample records.

/// The sample records shipped with livelab (the default of `--records`).
pub const SAMPLE_RECORDS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/sample-records");

include!(concat!(env!("OUT_DIR"), "/plugin_artifacts.rs"));
