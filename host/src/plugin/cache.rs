//! The precompiled-artifact cache: compiling a component takes milliseconds (Rust) to
//! seconds (JavaScript, Python); loading a precompiled one takes microseconds.
//!
//! An entry is keyed by the SHA-256 of the component and wasmtime's compatibility hash of the
//! engine (its version, target and every compilation setting), so an entry is only ever
//! loaded by the engine that wrote it, for exactly the bytes it was compiled from. Entries
//! are written by this host only (write to a temporary file, then rename): the cache
//! directory must be as trusted as the host binary itself.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where precompiled components are kept; `None` compiles every time.
#[derive(Clone, Debug)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
    /// Called with the component's size and SHA-256 just before it is compiled, so that a
    /// command can say why the next seconds pass (a JavaScript or Python component takes
    /// 10–20 s).
    on_compile: Option<fn(usize, &str)>,
}

impl ArtifactCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        ArtifactCache {
            dir,
            on_compile: None,
        }
    }

    /// This cache, calling `notice(bytes, sha256)` before each compilation.
    pub fn announcing(self, notice: fn(usize, &str)) -> Self {
        ArtifactCache {
            on_compile: Some(notice),
            ..self
        }
    }

    /// `$LIVELAB_CACHE_DIR`, else `$XDG_CACHE_HOME/livelab`, else `~/.cache/livelab`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("LIVELAB_CACHE_DIR") {
            return Some(dir.into());
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))?;
        Some(base.join("livelab"))
    }

    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    fn entry_path(&self, engine: &Engine, sha256: &str) -> Option<PathBuf> {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let dir = self.dir.as_ref()?;
        Some(dir.join(format!("{sha256}-{:016x}.cwasm", hasher.finish())))
    }

    /// The compiled component for `bytes`, from the cache when present, and how it was
    /// obtained (compiling a JavaScript or Python component takes seconds: callers say so).
    pub fn component(
        &self,
        engine: &Engine,
        bytes: &[u8],
        sha256: &str,
    ) -> wasmtime::Result<(Component, Obtained)> {
        let start = std::time::Instant::now();
        let Some(entry) = self.entry_path(engine, sha256) else {
            if let Some(notice) = self.on_compile {
                notice(bytes.len(), sha256);
            }
            let component = Component::new(engine, bytes)?;
            return Ok((component, Obtained::Compiled(start.elapsed())));
        };
        if entry.is_file() {
            // SAFETY: the entry was written by `Engine::precompile_component` of an engine
            // with the same compatibility hash, for the component with this SHA-256 (the
            // file name says so), in a directory only this host writes to.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &entry) } {
                return Ok((component, Obtained::Cached(start.elapsed())));
            }
            // A truncated or stale entry is rebuilt, not trusted.
        }
        if let Some(notice) = self.on_compile {
            notice(bytes.len(), sha256);
        }
        let compiled = engine.precompile_component(bytes)?;
        // SAFETY: `compiled` was produced just now by this engine.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        // Failing to write the cache costs time later, never correctness now.
        let _ = write_atomically(&entry, &compiled);
        Ok((component, Obtained::Compiled(start.elapsed())))
    }
}

/// How a component was obtained, and how long it took.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Obtained {
    Compiled(std::time::Duration),
    Cached(std::time::Duration),
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("cache entries live in a directory");
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
