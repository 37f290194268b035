//! What the command line shows while a run or trial works: compile notices, the progress bar,
//! the run's opening line. The run itself is the library's (`livelab_host::trial::execute`).

use std::path::PathBuf;
use std::sync::OnceLock;

use indicatif::{ProgressBar, ProgressStyle};
use livelab_host::ingest::SourceFormat;
use livelab_host::plugin::cache::Obtained;
use livelab_host::plugin::compile::CompileBounds;
use livelab_host::trial::execute::{Progress, RunStart};
use livelab_host::{ArtifactCache, Plugin};

pub use livelab_host::run::plan::{PlannedPlugin, evaluation_date, load_plugins, sandbox};
pub use livelab_host::trial::run::write_json;

/// The compile bounds of this invocation, set once from the command line before any
/// command runs (every command that loads a plugin builds its cache through [`cache`]).
static COMPILE_BOUNDS: OnceLock<CompileBounds> = OnceLock::new();

pub fn set_compile_bounds(bounds: CompileBounds) {
    let _ = COMPILE_BOUNDS.set(bounds);
}

/// The precompiled-artifact cache in `dir` (`None`: compile every time), announcing each
/// compilation of a large component before it starts.
pub fn cache(dir: Option<PathBuf>) -> ArtifactCache {
    let bounds = COMPILE_BOUNDS.get().cloned().unwrap_or_default();
    ArtifactCache::new(dir).compiling_under(bounds).announcing(|bytes, sha256| {
        // Rust components compile in milliseconds; JavaScript and Python ones embed their
        // runtime (10–20 MB) and take seconds.
        if bytes >= 1 << 20 {
            eprintln!(
                "livelab: compiling component {} ({:.1} MB) for its first use; this takes a few seconds, and later runs load it from the cache",
                &sha256[..12],
                bytes as f64 / 1e6
            );
        }
    })
}

/// Says so when a plugin had to be compiled (seconds for JavaScript or Python components),
/// and why the next run will be faster.
pub fn announce_compilation(plugin: &Plugin, cache_dir: Option<&std::path::Path>) {
    if let Obtained::Compiled(took) = plugin.obtained
        && took.as_millis() >= 200
    {
        let next = match cache_dir {
            Some(dir) => format!("the next run loads it precompiled from {}", dir.display()),
            None => "the cache is off, so every run compiles it".into(),
        };
        eprintln!(
            "livelab: compiled {} in {:.1} s (first use of this component; {next})",
            plugin.info.id,
            took.as_secs_f64()
        );
    }
}

/// The terminal's view of a run: compile notices, an opening line, a bar over the files.
pub struct Terminal {
    cache_dir: Option<PathBuf>,
    bar: ProgressBar,
}

impl Terminal {
    pub fn new(cache: &ArtifactCache) -> Terminal {
        Terminal {
            cache_dir: cache.dir().map(ToOwned::to_owned),
            bar: ProgressBar::hidden(),
        }
    }
}

impl Progress for Terminal {
    fn loaded(&self, plugins: &[Plugin]) {
        for plugin in plugins {
            announce_compilation(plugin, self.cache_dir.as_deref());
        }
    }

    fn started(&self, start: &RunStart<'_>) {
        eprintln!(
            "livelab: {} plugin(s) on {} ({:?}), evaluation date {} ({}), {} worker(s)",
            start.plugins,
            start.records.display(),
            start.format,
            start.date,
            start.date_source,
            start.workers
        );
        self.bar.set_length(start.files as u64);
        self.bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} files · {per_sec} · eta {eta}")
                .expect("a valid progress template"),
        );
        self.bar
            .set_draw_target(indicatif::ProgressDrawTarget::stderr());
    }

    fn record_done(&self, format: SourceFormat) {
        // A Bundle file is one record; Bulk NDJSON files hold many, so no bar moves for them.
        if matches!(format, SourceFormat::Bundles) {
            self.bar.inc(1);
        }
    }

    fn finished(&self) {
        self.bar.finish_and_clear();
    }
}
