//! Running a session as an HTTP service: the auth mode (an issuer allowlist, or none on a
//! loopback address only), the tokio runtime, the listener, structured logs on stderr, and a
//! graceful shutdown (Ctrl-C or SIGTERM: the listener closes, in-flight calls are answered,
//! evaluations still running finish, the decision log and the feedback log are flushed).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use livelab_cds_hooks::auth::{ConfigError, Verifier};

use crate::router::{App, Bounds, router};
use crate::session::Session;

/// How clients authenticate.
#[derive(Clone, Debug)]
pub enum AuthMode {
    /// Client JWTs checked against the issuer allowlist in this file (see
    /// `Verifier::from_config_file`).
    Issuers(PathBuf),
    /// No authentication: allowed on a loopback address only, and every response says so.
    Disabled,
}

/// How to serve a session.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    pub addr: SocketAddr,
    pub auth: AuthMode,
    /// Shadow mode: evaluate and log everything, answer `{"cards": []}`.
    pub silent: bool,
    /// The URL clients call (a token's `aud` is it plus the path). Default
    /// `http://<bound address>`; set it behind a proxy.
    pub base_url: Option<String>,
    /// A call must be answered within this (503 otherwise). Below the spec's ~500 ms.
    pub request_deadline: Duration,
    /// Calls that may wait for an evaluation slot (503 with `Retry-After` beyond). Default:
    /// as many as there are slots.
    pub queue: Option<usize>,
}

/// The default per-request deadline: below the ~500 ms the spec's clients wait.
pub const DEFAULT_REQUEST_DEADLINE_MS: u64 = 450;

/// How long a shutdown waits for evaluations still running after the last answer (each is
/// bounded by its plugin's deadline, so this is a backstop).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Why the service cannot start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(
        "--no-auth is allowed on a loopback address only (127.0.0.1, ::1), not {0}: anyone who can reach it could query the plugins"
    )]
    NoAuthNotLoopback(SocketAddr),
    #[error(transparent)]
    Issuers(#[from] ConfigError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("at shutdown: {0}")]
    Flush(crate::session::SessionError),
}

/// Starts the service and blocks until it is shut down. `bound` is called with the bound
/// address once the socket listens (before any request is accepted).
pub fn serve(
    session: Session,
    options: ServeOptions,
    bound: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let verifier = match &options.auth {
        AuthMode::Disabled if !options.addr.ip().is_loopback() => {
            return Err(ServeError::NoAuthNotLoopback(options.addr));
        }
        AuthMode::Disabled => None,
        AuthMode::Issuers(path) => Some(Verifier::from_config_file(path)?),
    };
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("LIVELAB_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .try_init();
    let session = Arc::new(session);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(session.workers().max(1) * 2)
        .build()?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(options.addr).await?;
        let addr = listener.local_addr()?;
        let base_url = options
            .base_url
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"));
        tracing::info!(
            %addr,
            services = session.discovery().services.len(),
            auth = if verifier.is_some() { "jwt" } else { "disabled" },
            silent = options.silent,
            "serving"
        );
        let bounds = Bounds {
            deadline: options.request_deadline,
            queue: options.queue.unwrap_or(session.workers()),
        };
        let app = Arc::new(App::new(
            session.clone(),
            verifier,
            base_url,
            options.silent,
            bounds,
        ));
        bound(addr);
        axum::serve(listener, router(app))
            .with_graceful_shutdown(shutdown())
            .await
    })?;
    // Evaluations answered at the request deadline may still be running: let them finish and
    // log before the logs are flushed.
    runtime.shutdown_timeout(SHUTDOWN_GRACE);
    if let Err(error) = session.finish() {
        tracing::error!(%error, "flushing the logs");
        return Err(ServeError::Flush(error));
    }
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
