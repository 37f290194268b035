//! Argument groups that several commands share.

use std::path::PathBuf;

use clap::Args;
use livelab_host::ArtifactCache;

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
