//! A plugin package's `plugin.toml` (every `--plugin`/`[[plugin]]` path): the bytes are the
//! manifest file of a package directory, loaded with `PluginSource::open` on the directory
//! (which calls `LoadedManifest::load`: TOML, validation, grants, the data tree hash).
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use livelab_fuzz::{scratch_dir, write};
use livelab_host::package::manifest::PluginSource;

fuzz_target!(|data: &[u8]| {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        // A granted data directory for `[grants] data = "data"` (tree hash in the seeds).
        let dir = scratch_dir("package");
        write(&scratch_dir("package/data"), "rules.txt", b"x\n");
        dir
    });
    write(dir, "plugin.toml", data);
    if let Ok(source) = PluginSource::open(dir) {
        let _ = source.component_path();
        if let Some(manifest) = source.manifest() {
            let _ = manifest.component_mismatch(b"\0asm");
            std::hint::black_box(manifest);
        }
    }
});
