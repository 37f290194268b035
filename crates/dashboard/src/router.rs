//! The routes: every page a GET with a stable URL (filters in the query string), the run's
//! own report.html served from its report directory, and errors as pages with their status.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use livelab_registry::{Registry, RunId};

use crate::error::PageError;
use crate::pages::{self, CompareQuery, DriftQuery, ErrorPage, RunsQuery};

type Shared = State<Arc<Registry>>;

/// What every page may load: nothing from anywhere, styles and SVG inline. A report is a
/// self-contained page of its own and gets the same policy.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

pub fn router(registry: Arc<Registry>) -> Router {
    Router::new()
        .route("/", get(runs))
        .route("/runs/{id}", get(run))
        .route("/runs/{id}/report.html", get(report))
        .route("/compare", get(compare))
        .route("/plugins/{id}", get(plugin))
        .route("/drift", get(drift))
        .fallback(not_found)
        .layer(axum::middleware::map_response(secure))
        .with_state(registry)
}

async fn secure(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

/// A page, or its error as a page.
fn page(registry: &Registry, result: Result<String, PageError>) -> Response {
    let error = match result {
        Ok(html) => return Html(html).into_response(),
        Err(e) => e,
    };
    let status = match &error {
        PageError::BadRequest(_) => StatusCode::BAD_REQUEST,
        PageError::NotFound(_) => StatusCode::NOT_FOUND,
        PageError::Registry(_) | PageError::Render(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    if status.is_server_error() {
        tracing::error!(%status, error = %error, "page failed");
    }
    let body = ErrorPage {
        registry: registry.url().to_string(),
        status: status.to_string(),
        message: livelab_host::text::escape_hidden(&error.to_string()).into_owned(),
    };
    match askama::Template::render(&body) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, error.to_string()).into_response(),
    }
}

fn run_id(text: &str) -> Result<RunId, PageError> {
    text.parse().map_err(|_| {
        PageError::BadRequest(format!(
            "{}: not a run number (the runs list shows them as #12)",
            livelab_host::text::escape_hidden(text)
        ))
    })
}

async fn runs(State(registry): Shared, Query(query): Query<RunsQuery>) -> Response {
    let result = pages::runs(&registry, &query).await;
    page(&registry, result)
}

async fn run(State(registry): Shared, Path(id): Path<String>) -> Response {
    let result = match run_id(&id) {
        Ok(id) => pages::run(&registry, id).await,
        Err(e) => Err(e),
    };
    page(&registry, result)
}

/// The run's report.html as its trial wrote it, while the file is still there.
async fn report(State(registry): Shared, Path(id): Path<String>) -> Response {
    let result = async {
        let id = run_id(&id)?;
        let row = match registry.run(id).await {
            Ok(stored) => stored.row,
            Err(e @ livelab_registry::RegistryError::NoRun { .. }) => {
                return Err(PageError::NotFound(e.to_string()));
            }
            Err(e) => return Err(e.into()),
        };
        let path = pages::report_path(&row);
        tokio::fs::read_to_string(&path).await.map_err(|e| {
            PageError::NotFound(format!(
                "run #{id}'s report is no longer readable at {} ({e}); its page shows what the registry recorded",
                livelab_host::text::escape_hidden(&path.display().to_string())
            ))
        })
    }
    .await;
    page(&registry, result)
}

async fn compare(State(registry): Shared, Query(query): Query<CompareQuery>) -> Response {
    let result = pages::compare(&registry, &query).await;
    page(&registry, result)
}

async fn plugin(State(registry): Shared, Path(id): Path<String>) -> Response {
    let result = pages::plugin(&registry, &id).await;
    page(&registry, result)
}

async fn drift(State(registry): Shared, Query(query): Query<DriftQuery>) -> Response {
    let result = pages::drift(&registry, &query).await;
    page(&registry, result)
}

async fn not_found(State(registry): Shared) -> Response {
    page(
        &registry,
        Err(PageError::NotFound(
            "no such page: the dashboard has /, /runs/RUN, /compare?a=RUN&b=RUN, /plugins/PLUGIN and /drift?region=REGION".into(),
        )),
    )
}
