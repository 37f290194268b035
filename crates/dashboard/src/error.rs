//! What can stop the dashboard, and what a page can fail with.

use std::net::SocketAddr;

use livelab_registry::RegistryError;

/// Why the dashboard could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    #[error("cannot start the dashboard's async runtime: {0}")]
    Runtime(std::io::Error),
    #[error(
        "cannot listen on {addr}: {source} (is another program using the port? --addr 127.0.0.1:0 picks a free one)"
    )]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the dashboard stopped serving: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Registry(#[from] RegistryError),
}

/// Why a page cannot be shown: the status it is answered with and a message for the reader.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// A query parameter or path that does not name anything (400).
    #[error("{0}")]
    BadRequest(String),
    /// A run, plugin or file that is not there (404).
    #[error("{0}")]
    NotFound(String),
    /// The registry could not answer (500; a missing run is a 404).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error("rendering the page: {0}")]
    Render(#[from] askama::Error),
}
