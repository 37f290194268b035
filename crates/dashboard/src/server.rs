//! `serve`: open the registry, bind, say where, serve until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::sync::Arc;

use livelab_registry::{Registry, RegistryUrl};

use crate::error::DashboardError;
use crate::router::router;

/// Serves the dashboard of the registry at `url` on `addr` (port 0: any free port), calling
/// `bound` with the address once it listens. Returns when the process is asked to stop.
pub fn serve(
    url: &RegistryUrl,
    addr: SocketAddr,
    bound: impl FnOnce(SocketAddr),
) -> Result<(), DashboardError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(DashboardError::Runtime)?;
    runtime.block_on(async {
        let registry = Arc::new(Registry::open(url).await?);
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| DashboardError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| DashboardError::Bind { addr, source })?;
        bound(local);
        axum::serve(listener, router(registry))
            .with_graceful_shutdown(shutdown())
            .await
            .map_err(DashboardError::Serve)
    })
}

async fn shutdown() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(_) => {
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}
