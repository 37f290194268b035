//! Argument groups that several commands share.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use livelab_host::ArtifactCache;
use livelab_host::plugin::compile::{CompileBounds, Compiler};

use crate::terminal::progress;

#[derive(Args)]
pub struct CacheArgs {
    /// Directory of precompiled plugins. Default: $LIVELAB_CACHE_DIR, else ~/.cache/livelab.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Compile every plugin afresh and keep nothing.
    #[arg(long, conflicts_with = "cache_dir")]
    no_cache: bool,
}

impl CacheArgs {
    pub fn cache(&self) -> ArtifactCache {
        if self.no_cache {
            progress::cache(None)
        } else {
            progress::cache(self.cache_dir.clone().or_else(ArtifactCache::default_dir))
        }
    }
}

/// What compiling a plugin may cost (every command that loads plugins compiles them). The
/// defaults hold every shipped plugin with a wide margin; raise one only for a plugin you
/// trust. Unset, each is `CompileBounds::default()`'s.
#[derive(Args)]
#[command(next_help_heading = "Compile bounds")]
pub struct CompileArgs {
    /// Stop compiling a component after this many seconds [default: 120].
    #[arg(long, global = true, value_name = "SECS")]
    compile_timeout_secs: Option<u64>,
    /// The compiler process's address-space limit, in MiB [default: 4096].
    #[arg(long, global = true, value_name = "MIB")]
    compile_memory_mib: Option<u64>,
    /// Refuse components larger than this, in MiB [default: 64].
    #[arg(long, global = true, value_name = "MIB")]
    compile_max_mib: Option<u64>,
    /// Refuse components with more core functions than this [default: 100000].
    #[arg(long, global = true, value_name = "N")]
    compile_max_functions: Option<u64>,
    /// Refuse components with a function body larger than this, in KiB [default: 2048].
    #[arg(long, global = true, value_name = "KIB")]
    compile_max_body_kib: Option<u64>,
}

impl CompileArgs {
    /// The bounds, with the compiler in a child process: this executable's hidden
    /// `compile-worker` command.
    pub fn bounds(&self) -> anyhow::Result<CompileBounds> {
        let default = CompileBounds::default();
        let program = std::env::current_exe()
            .context("finding this executable, to compile plugins in a child process")?;
        Ok(CompileBounds {
            max_component_bytes: self
                .compile_max_mib
                .map_or(default.max_component_bytes, |mib| {
                    mib.saturating_mul(1 << 20)
                }),
            max_functions: self.compile_max_functions.unwrap_or(default.max_functions),
            max_function_body_bytes: self
                .compile_max_body_kib
                .map_or(default.max_function_body_bytes, |kib| {
                    kib.saturating_mul(1 << 10)
                }),
            timeout: self
                .compile_timeout_secs
                .map_or(default.timeout, Duration::from_secs),
            address_space_bytes: self
                .compile_memory_mib
                .map_or(default.address_space_bytes, |mib| {
                    mib.saturating_mul(1 << 20)
                }),
            compiler: Compiler::Child {
                program,
                args: vec![COMPILE_WORKER.to_owned()],
            },
        })
    }
}

/// The hidden command the compiler child runs as.
pub const COMPILE_WORKER: &str = "compile-worker";
