//! The HTTP routes: discovery, service calls, feedback, `/metrics` and `/healthz`, with the
//! client-JWT check, CORS headers and every error as a FHIR `OperationOutcome` with its
//! status. The router only moves bytes and statuses: requests are checked by
//! `livelab-cds-hooks`, evaluated by the [`Session`].
//!
//! Bounds: at most [`Session::workers`] evaluations run at once and at most `queue` more
//! wait for a slot; a call beyond that is answered at once with 503 and `Retry-After: 1`
//! (`overloaded`). A call not answered within the request deadline (from its first byte,
//! waiting included) is answered 503 (`request-deadline`). An evaluation runs first on the
//! runtime thread that took the call, for at most [`INLINE_SLICE`]; a plugin still running
//! then is evaluated again on the blocking pool, where one answered at the deadline finishes
//! on its own (the plugin's deadline bounds it), keeps its slot until then, and is logged.
//!
//! Nothing about a patient is logged: a log line names the service, the status, an error
//! code, the number of cards and the latency.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use livelab_cds_hooks::auth::Verifier;
use livelab_cds_hooks::protocol::{
    CdsResponse, FeedbackOutcome, FeedbackRequest, GapReason, Limits, PrefetchGap, RequestError,
    ServiceRequest,
};
use livelab_cds_hooks::{ErrorResponse, IssueSeverity, IssueType, OperationOutcome};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

use crate::metrics::{self, Metrics, UNKNOWN_SERVICE};
use crate::session::{CallError, FeedbackError, Session};

/// The header every response carries when the session runs without client authentication.
pub const AUTH_DISABLED_HEADER: &str = "x-livelab-auth";

/// How long an evaluation may hold a runtime thread (see `answer`).
pub const INLINE_SLICE: Duration = Duration::from_millis(10);

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
    pub metrics: Metrics,
    /// A call must be answered within this, from its first byte (503 otherwise).
    deadline: Duration,
    /// Evaluation slots: [`Session::workers`].
    permits: Arc<Semaphore>,
    /// Calls admitted: the slots plus the queue; a call that finds none is refused (503).
    admitted: Arc<Semaphore>,
}

/// The request's bounds.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// The per-request deadline.
    pub deadline: Duration,
    /// How many calls may wait for an evaluation slot.
    pub queue: usize,
}

impl App {
    pub fn new(
        session: Arc<Session>,
        verifier: Option<Verifier>,
        base_url: String,
        silent: bool,
        bounds: Bounds,
    ) -> App {
        let workers = session.workers();
        App {
            session,
            verifier,
            base_url: base_url.trim_end_matches('/').to_owned(),
            silent,
            limits: Limits::default(),
            metrics: Metrics::default(),
            deadline: bounds.deadline,
            permits: Arc::new(Semaphore::new(workers)),
            admitted: Arc::new(Semaphore::new(workers + bounds.queue)),
        }
    }

    /// The metrics label of service `id`: its id when the session serves it, else
    /// [`UNKNOWN_SERVICE`] (client text never becomes a label).
    fn service_label<'a>(&self, id: &'a str) -> &'a str {
        if self.session.service(id).is_some() {
            id
        } else {
            UNKNOWN_SERVICE
        }
    }
}

/// Why a call was not evaluated in time: 503, with `Retry-After`.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    #[error("every evaluation slot is busy and the queue is full; retry shortly")]
    Overloaded,
    #[error("the call was not answered within the service's deadline of {ms} ms")]
    Deadline { ms: u128 },
}

impl ErrorResponse for Unavailable {
    fn status(&self) -> u16 {
        503
    }
    fn code(&self) -> &'static str {
        match self {
            Unavailable::Overloaded => "overloaded",
            Unavailable::Deadline { .. } => "request-deadline",
        }
    }
    fn issue_type(&self) -> IssueType {
        IssueType::Transient
    }
}

/// The routes.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/cds-services", get(discovery))
        .route("/cds-services/{id}", post(call))
        .route("/cds-services/{id}/feedback", post(feedback))
        .route("/metrics", get(metrics))
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
                app.metrics.request(
                    "auth",
                    UNKNOWN_SERVICE,
                    ErrorResponse::status(&error),
                    Some(ErrorResponse::code(&error)),
                );
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

async fn metrics(State(app): State<Arc<App>>) -> Response {
    let services: Vec<&str> = app
        .session
        .discovery()
        .services
        .iter()
        .map(|s| s.id.as_str())
        .collect();
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(metrics::CONTENT_TYPE),
        )],
        app.metrics.render(&services),
    )
        .into_response()
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

/// The body, read up to the size cap. A body announced as over the cap is refused before a
/// byte of it is read; one that goes over while being read (a chunked body) is refused too.
/// Any other read error means the client went away, and nobody reads the answer.
async fn read_body(app: &App, headers: &HeaderMap, body: Body) -> Result<Bytes, RequestError> {
    let max = app.limits.max_body_bytes;
    let announced = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(size) = announced.filter(|size| *size > max) {
        return Err(RequestError::BodyTooLarge { size, max });
    }
    axum::body::to_bytes(body, max)
        .await
        .map_err(|_| RequestError::BodyTooLarge { size: max + 1, max })
}

/// Counts and logs one answered call or feedback request.
fn record(app: &App, route: &'static str, id: &str, started: Instant, answered: &Answered) {
    let service = app.service_label(id);
    let status = answered.response.status().as_u16();
    let code = (answered.code != "ok").then_some(answered.code);
    app.metrics.request(route, service, status, code);
    if route == "service" {
        app.metrics.latency(service, started.elapsed());
    }
    tracing::info!(
        route,
        service = %livelab_cds_hooks::untrusted_text(id, 64),
        status,
        code = answered.code,
        cards = answered.cards,
        silent = app.silent,
        latency_us = started.elapsed().as_micros() as u64,
        "service call"
    );
}

/// A response with its error code (`ok` for a success) and the number of cards or feedback
/// items it concerned.
struct Answered {
    response: Response,
    code: &'static str,
    cards: usize,
}

fn failed(error: &dyn ErrorLike) -> Answered {
    Answered {
        response: error.response(),
        code: error.code(),
        cards: 0,
    }
}

async fn call(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let answered = match read_body(&app, &headers, body).await {
        Ok(body) => answer(&app, &id, body, started).await,
        Err(error) => failed(&error),
    };
    record(&app, "service", &id, started, &answered);
    answered.response
}

async fn feedback(
    State(app): State<Arc<App>>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let started = Instant::now();
    let answered = match read_body(&app, &headers, body).await {
        Ok(body) => take_feedback(&app, &id, &body).await,
        Err(error) => failed(&error),
    };
    record(&app, "feedback", &id, started, &answered);
    answered.response
}

/// Stores feedback on service `id`'s cards (a file append and flush: on the blocking pool)
/// and counts its outcomes.
async fn take_feedback(app: &App, id: &str, body: &[u8]) -> Answered {
    let Some((index, _)) = app.session.service(id) else {
        return failed(&RequestError::UnknownService { id: id.into() });
    };
    let request = match FeedbackRequest::parse(body, &app.limits) {
        Ok(request) => request,
        Err(error) => return failed(&error),
    };
    let session = app.session.clone();
    let stored = tokio::task::spawn_blocking(move || session.feedback(index, &request)).await;
    match stored.unwrap_or(Err(FeedbackError::Interrupted)) {
        Ok(outcomes) => {
            for outcome in &outcomes {
                let outcome = match outcome {
                    FeedbackOutcome::Accepted => "accepted",
                    FeedbackOutcome::Overridden => "overridden",
                };
                app.metrics.feedback(id, outcome);
            }
            Answered {
                response: json_response(StatusCode::OK, json!({})),
                code: "ok",
                cards: outcomes.len(),
            }
        }
        Err(error) => failed(&error),
    }
}

/// The answer to a service call whose body has been read.
async fn answer(app: &Arc<App>, id: &str, body: Bytes, started: Instant) -> Answered {
    let descriptor = match app.session.discovery().find(id) {
        Ok(descriptor) => descriptor,
        Err(error) => return failed(&error),
    };
    let request = match ServiceRequest::parse_for(&body, descriptor, &app.limits) {
        Ok(request) => request,
        Err(error) => return failed(&error),
    };
    let Some((index, plan)) = app.session.service(id) else {
        return failed(&RequestError::UnknownService { id: id.into() });
    };
    let data = match plan.check(&request) {
        Ok(data) => data,
        Err(error) => return failed(&error),
    };
    // The record is built from the Patient: a client that found none cannot be answered.
    if data.get("patient").is_none_or(Option::is_none) {
        let error = RequestError::PrefetchUnavailable {
            gaps: vec![PrefetchGap {
                key: "patient".into(),
                reason: GapReason::Missing,
            }],
        };
        return failed(&error);
    }
    let patient_id = request.context.patient_id();
    let draft_orders = request.context.draft_orders();
    // Admission: a slot or a place in the queue, or 503 at once.
    let Ok(admitted) = app.admitted.clone().try_acquire_owned() else {
        return failed(&Unavailable::Overloaded);
    };
    let deadline = tokio::time::Instant::from_std(started) + app.deadline;
    let evaluation = async {
        let permit = app.permits.clone().acquire_owned().await.ok()?;
        let held = (permit, admitted);
        // First on this runtime thread, for at most INLINE_SLICE: a plugin answers in
        // microseconds (milliseconds in JavaScript or Python), and handing every call to
        // another thread and back cost more than the evaluation (BENCHMARKS.md, "CDS Hooks
        // service"). A runtime thread is never held longer, so `/healthz`, refusals and the
        // deadlines of waiting calls stay on time whatever a plugin does.
        if tokio::time::Instant::now() + INLINE_SLICE * 2 <= deadline {
            let slice = Some(INLINE_SLICE);
            match app
                .session
                .evaluate(index, patient_id, &data, draft_orders, slice)
            {
                Some(answer) => return Some(answer),
                None => app.metrics.moved(id),
            }
        }
        // A plugin still running at the end of the slice (nothing of that attempt was kept),
        // or a call too near its deadline for one, is evaluated on the blocking pool with the
        // plugin's whole deadline; a call answered at the request's deadline keeps its slot
        // until the plugin has stopped.
        let session = app.session.clone();
        let patient_id = patient_id.to_owned();
        let prefetch: BTreeMap<String, Option<Value>> = (data.iter())
            .map(|(key, value)| (key.clone(), value.cloned()))
            .collect();
        let draft_orders = draft_orders.cloned();
        let evaluated = tokio::task::spawn_blocking(move || {
            let _held = held;
            let prefetch = (prefetch.iter())
                .map(|(key, value)| (key.clone(), value.as_ref()))
                .collect();
            session.evaluate(index, &patient_id, &prefetch, draft_orders.as_ref(), None)
        });
        evaluated.await.ok().flatten()
    };
    let answer = match tokio::time::timeout_at(deadline, evaluation).await {
        Err(_) => {
            return failed(&Unavailable::Deadline {
                ms: app.deadline.as_millis(),
            });
        }
        Ok(None) => return failed(&CallError::Plugin(livelab_host::plugin::Cause::HostError)),
        Ok(Some(Err(error))) => {
            if let CallError::Plugin(cause) = &error {
                app.metrics.plugin_failure(id, cause.as_str());
            }
            return failed(&error);
        }
        Ok(Some(Ok(answer))) => answer,
    };
    let count = answer.cards.len();
    let response = CdsResponse::new(answer.cards);
    if let Err(error) = response.validate() {
        return failed(&error);
    }
    let body = if app.silent {
        json_response(StatusCode::OK, json!({"cards": []}))
    } else {
        json_response(StatusCode::OK, &response)
    };
    Answered {
        response: body,
        code: "ok",
        cards: count,
    }
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
    fn diagnostics(&self) -> String {
        // A decision-log error names a path of this machine: the client gets the code only.
        match self {
            CallError::DecisionLog(_) => "the service could not record the decision".to_owned(),
            other => other.to_string(),
        }
    }
}

impl ErrorResponse for FeedbackError {
    fn status(&self) -> u16 {
        match self {
            FeedbackError::UnknownCard { .. } => 404,
            FeedbackError::Request(error) => error.status(),
            FeedbackError::Log(_) | FeedbackError::Interrupted => 500,
        }
    }
    fn code(&self) -> &'static str {
        match self {
            FeedbackError::UnknownCard { .. } => "unknown-card",
            FeedbackError::Request(error) => ErrorResponse::code(error),
            FeedbackError::Log(_) | FeedbackError::Interrupted => "feedback-log",
        }
    }
    fn issue_type(&self) -> IssueType {
        match self {
            FeedbackError::UnknownCard { .. } => IssueType::NotFound,
            FeedbackError::Request(error) => error.issue_type(),
            FeedbackError::Log(_) | FeedbackError::Interrupted => IssueType::Exception,
        }
    }
    fn diagnostics(&self) -> String {
        // A feedback-log error names a path of this machine: the client gets the code only.
        match self {
            FeedbackError::Log(_) | FeedbackError::Interrupted => {
                "the service could not record the feedback".to_owned()
            }
            other => other.to_string(),
        }
    }
}

/// An error as a response: its status and `OperationOutcome`; a 503 says when to retry.
fn error_response<E: ErrorResponse + ?Sized>(error: &E) -> Response {
    let status = StatusCode::from_u16(error.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = json_response(status, error.operation_outcome());
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
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

fn json_response(status: StatusCode, body: impl serde::Serialize) -> Response {
    (status, axum::Json(body)).into_response()
}
