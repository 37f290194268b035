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

use super::compile::{self, CompileBounds, CompileError};
use crate::sandbox::Sandbox;

/// Where precompiled components are kept; `None` compiles every time.
#[derive(Clone, Debug)]
pub struct ArtifactCache {
    dir: Option<PathBuf>,
    /// Called with the component's size and SHA-256 just before it is compiled, so that a
    /// command can say why the next seconds pass (a JavaScript or Python component takes
    /// 10–20 s).
    on_compile: Option<fn(usize, &str)>,
    /// What compiling a component may cost, and where the compiler runs.
    bounds: CompileBounds,
}

impl ArtifactCache {
    pub fn new(dir: Option<PathBuf>) -> Self {
        ArtifactCache {
            dir,
            on_compile: None,
            bounds: CompileBounds::default(),
        }
    }

    /// This cache, compiling under `bounds`.
    pub fn compiling_under(self, bounds: CompileBounds) -> Self {
        ArtifactCache { bounds, ..self }
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
    /// Compiling happens under this cache's [`CompileBounds`].
    pub fn component(
        &self,
        sandbox: &Sandbox,
        bytes: &[u8],
        sha256: &str,
    ) -> Result<(Component, Obtained), CompileError> {
        let engine = sandbox.engine();
        let start = std::time::Instant::now();
        let entry = self.entry_path(engine, sha256);
        if let Some(entry) = entry.as_ref().filter(|e| e.is_file()) {
            // SAFETY: the entry was written by `Engine::precompile_component` of an engine
            // with the same compatibility hash, for the component with this SHA-256 (the
            // file name says so), in a directory only this host writes to.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, entry) } {
                return Ok((component, Obtained::Cached(start.elapsed())));
            }
            // A truncated or stale entry is rebuilt, not trusted.
        }
        if let Some(notice) = self.on_compile {
            notice(bytes.len(), sha256);
        }
        let compiled = compile::compile(bytes, sandbox.meter_fuel(), &self.bounds)?;
        // SAFETY: `compiled` was produced just now by this host's compiler (in process, or
        // its own executable in a child) with the sandbox's code settings; deserialising
        // checks that those settings match.
        let component = unsafe { Component::deserialize(engine, &compiled) }.map_err(|e| {
            CompileError::Process(format!("the compiled artifact does not load: {e:#}"))
        })?;
        if let Some(entry) = entry {
            // Failing to write the cache costs time later, never correctness now.
            let _ = write_atomically(&entry, &compiled);
        }
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
