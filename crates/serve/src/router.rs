//! The HTTP routes: discovery, service calls and `/healthz`, with the client-JWT check, CORS
//! headers and every error as a FHIR `OperationOutcome` with its status. The router only
//! moves bytes and statuses: requests are checked by `livelab-cds-hooks`, evaluated by the
//! [`Session`] on the blocking pool (at most [`Session::workers`] at once).
//!
//! Nothing about a patient is logged: a log line names the service, the hook instance, the
//! status, an error code, the number of cards and the latency.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use livelab_cds_hooks::auth::Verifier;
use livelab_cds_hooks::protocol::{
    CdsResponse, GapReason, Limits, PrefetchGap, RequestError, ServiceRequest,
};
use livelab_cds_hooks::{ErrorResponse, IssueSeverity, IssueType, OperationOutcome};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::session::{CallError, Session};

/// The header every response carries when the session runs without client authentication.
pub const AUTH_DISABLED_HEADER: &str = "x-livelab-auth";

/// What the routes share.
pub struct App {
    pub session: Arc<Session>,
    /// `None`: `--no-auth` (loopback only; checked before the router is built).
    pub verifier: Option<Verifier>,
    /// The external base URL (`http://127.0.0.1:PORT`): a token's `aud` must be this plus the
    /// path called.
    pub base_url: String,
    /// Shadow mode: evaluate and log, answer no cards.
    pub silent: bool,
    pub limits: Limits,
    permits: Semaphore,
}

impl App {
    pub fn new(
        session: Arc<Session>,
        verifier: Option<Verifier>,
        base_url: String,
        silent: bool,
    ) -> App {
        let permits = Semaphore::new(session.workers());
        App {
            session,
            verifier,
            base_url: base_url.trim_end_matches('/').to_owned(),
            silent,
            limits: Limits::default(),
            permits,
        }
    }
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/cds-services", get(discovery))
        .route("/cds-services/{id}", post(call))
        .route("/healthz", get(healthz))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(app.limits.max_body_bytes))
        .layer(middleware::from_fn_with_state(app.clone(), guard))
        .with_state(app)
}

/// Authentication (every route but `/healthz` and CORS preflights), CORS and the
/// auth-disabled header.
async fn guard(State(app): State<Arc<App>>, request: Request, next: Next) -> Response {
    let mut response = if request.method() == Method::OPTIONS {
        StatusCode::NO_CONTENT.into_response()
    } else if request.uri().path() == "/healthz" {
        next.run(request).await
    } else if let Some(verifier) = &app.verifier {
        let audience = format!("{}{}", app.base_url, request.uri().path());
        let authorization = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        match verifier.verify(authorization, &audience) {
            Ok(_) => next.run(request).await,
            Err(error) => {
                tracing::warn!(path = %livelab_cds_hooks::untrusted_text(request.uri().path(), 100), code = ErrorResponse::code(&error), "refused token");
                let mut response = error_response(&error);
                if let Some(value) = error.www_authenticate() {
                    response
                        .headers_mut()
                        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static(value));
                }
                response
            }
        }
    } else {
        next.run(request).await
    };
    let headers = response.headers_mut();
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, POST, OPTIONS"),
    );
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Content-Type, Authorization"),
    );
    if app.verifier.is_none() {
        headers.insert(AUTH_DISABLED_HEADER, HeaderValue::from_static("disabled"));
    }
    response
}

async fn discovery(State(app): State<Arc<App>>) -> Response {
    json_response(StatusCode::OK, json!(app.session.discovery()))
}

async fn healthz() -> Response {
    json_response(StatusCode::OK, json!({"status": "ok"}))
}

async fn not_found() -> Response {
    outcome(
        StatusCode::NOT_FOUND,
        IssueType::NotFound,
        "no such route; the services are listed at /cds-services",
        "unknown-route",
    )
}

async fn method_not_allowed() -> Response {
    outcome(
        StatusCode::METHOD_NOT_ALLOWED,
        IssueType::NotSupported,
        "method not allowed on this route",
        "method-not-allowed",
    )
}

async fn call(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    // A body announced as over the cap is refused before a byte of it is read.
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    let response = match announced {
        Some(size) if size > app.limits.max_body_bytes => {
            let error = RequestError::BodyTooLarge {
                size,
                max: app.limits.max_body_bytes,
            };
            (error_response(&error), ErrorResponse::code(&error), 0)
        }
        // Over the cap while reading (a chunked body): 413 too. Any other read error means the
        // client went away, and nobody reads the answer.
        _ => match axum::body::to_bytes(body, app.limits.max_body_bytes).await {
            Ok(body) => answer(&app, &id, Some(body)).await,
            Err(_) => answer(&app, &id, None).await,
        },
    };
    let (response, code, cards) = response;
    tracing::info!(
        service = %livelab_cds_hooks::untrusted_text(&id, 64),
        status = response.status().as_u16(),
        code,
        cards,
        silent = app.silent,
        latency_us = started.elapsed().as_micros() as u64,
        "service call"
    );
    response
}

/// The response, its error code (`ok` when cards were answered) and the number of cards the
/// plugin gave.
async fn answer(app: &Arc<App>, id: &str, body: Option<Bytes>) -> (Response, &'static str, usize) {
    let fail = |error: &dyn ErrorLike| (error.response(), error.code(), 0);
    let Some(body) = body else {
        let error = RequestError::BodyTooLarge {
            size: app.limits.max_body_bytes + 1,
            max: app.limits.max_body_bytes,
        };
        return fail(&error);
    };
    let descriptor = match app.session.discovery().find(id) {
        Ok(descriptor) => descriptor,
        Err(error) => return fail(&error),
    };
    let request = match ServiceRequest::parse_for(&body, descriptor, &app.limits) {
        Ok(request) => request,
        Err(error) => return fail(&error),
    };
    let Some((index, plan)) = app.session.service(id) else {
        return fail(&RequestError::UnknownService { id: id.into() });
    };
    let data = match plan.check(&request) {
        Ok(data) => data,
        Err(error) => return fail(&error),
    };
    // The record is built from the Patient: a client that found none cannot be answered.
    if data.get("patient").is_none_or(Option::is_none) {
        let error = RequestError::PrefetchUnavailable {
            gaps: vec![PrefetchGap {
                key: "patient".into(),
                reason: GapReason::Missing,
            }],
        };
        return fail(&error);
    }
    let prefetch: std::collections::BTreeMap<String, Option<Value>> = data
        .into_iter()
        .map(|(key, value)| (key, value.cloned()))
        .collect();
    let patient_id = request.context.patient_id().to_owned();
    let Ok(_permit) = app.permits.acquire().await else {
        return fail(&CallError::Plugin(livelab_host::plugin::Cause::HostError));
    };
    let session = app.session.clone();
    let evaluated =
        tokio::task::spawn_blocking(move || session.evaluate(index, &patient_id, &prefetch)).await;
    let answer = match evaluated {
        Ok(Ok(answer)) => answer,
        Ok(Err(error)) => return fail(&error),
        Err(_) => return fail(&CallError::Plugin(livelab_host::plugin::Cause::HostError)),
    };
    let count = answer.cards.len();
    let response = CdsResponse::new(answer.cards);
    if let Err(error) = response.validate() {
        return fail(&error);
    }
    let body = if app.silent {
        json!({"cards": []})
    } else {
        json!(response)
    };
    (json_response(StatusCode::OK, body), "ok", count)
}

/// An error the router answers with: the protocol crate's, or a call's.
trait ErrorLike {
    fn response(&self) -> Response;
    fn code(&self) -> &'static str;
}

impl<E: ErrorResponse> ErrorLike for E {
    fn response(&self) -> Response {
        error_response(self)
    }
    fn code(&self) -> &'static str {
        ErrorResponse::code(self)
    }
}

impl ErrorResponse for CallError {
    fn status(&self) -> u16 {
        match self {
            CallError::Record(_) => 422,
            CallError::Plugin(_) | CallError::DecisionLog(_) => 500,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            CallError::Record(_) => "unreadable-record",
            CallError::Plugin(_) => "plugin-failed",
            CallError::DecisionLog(_) => "decision-log",
        }
    }
    fn issue_type(&self) -> IssueType {
        match self {
            CallError::Record(_) => IssueType::Invalid,
            CallError::Plugin(_) | CallError::DecisionLog(_) => IssueType::Exception,
        }
    }
    fn operation_outcome(&self) -> Value {
        // A decision-log error names a path of this machine: the client gets the code only.
        let diagnostics = match self {
            CallError::DecisionLog(_) => "the service could not record the decision".to_owned(),
            other => other.to_string(),
        };
        OperationOutcome::new()
            .with_issue(
                IssueSeverity::Error,
                self.issue_type(),
                Some(diagnostics),
                Some(ErrorResponse::code(self)),
            )
            .to_value()
    }
}

fn error_response<E: ErrorResponse + ?Sized>(error: &E) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    json_response(status, error.operation_outcome())
}

fn outcome(status: StatusCode, issue: IssueType, diagnostics: &str, code: &str) -> Response {
    let body = OperationOutcome::new()
        .with_issue(
            IssueSeverity::Error,
            issue,
            Some(diagnostics.into()),
            Some(code),
        )
        .to_value();
    json_response(status, body)
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}
