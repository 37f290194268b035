//! What can go wrong with a registry, each message naming the registry and what to do.

use std::path::PathBuf;

use crate::model::RunId;

/// Why the registry could not do what was asked. Messages name the registry as its
/// [`crate::RegistryUrl`] displays it (a PostgreSQL password is never shown).
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "{url:?} is not a registry URL ({reason}); use sqlite://FILE or \
         postgres://USER@HOST:PORT/DATABASE"
    )]
    Url { url: String, reason: String },
    #[error(
        "there is no data directory for the default registry (no home directory?); pass \
         --registry sqlite://FILE or set LIVELAB_REGISTRY"
    )]
    NoDataDir,
    #[error("cannot create the registry's directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "cannot reach the registry {url}: {source} (is the server up, and the URL right? \
         --no-registry skips registering)"
    )]
    Connect { url: String, source: sqlx::Error },
    #[error("cannot bring the registry {url} to the current schema: {source}")]
    Migrate {
        url: String,
        source: sqlx::migrate::MigrateError,
    },
    #[error("registry {url}: {source}")]
    Query { url: String, source: sqlx::Error },
    #[error("registry {url}: run {run} cannot be read back ({message})")]
    Corrupt {
        url: String,
        run: RunId,
        message: String,
    },
    #[error("registry {url} has no run {run} (`livelab runs` lists the runs)")]
    NoRun { url: String, run: RunId },
    #[error("cannot start the registry's async runtime: {0}")]
    Runtime(std::io::Error),
}
