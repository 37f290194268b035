//! Paths of the guest components `build.rs` built from `plugins/`.
include!(concat!(env!("OUT_DIR"), "/plugin_artifacts.rs"));
