//! The session's counters and their exposition in the OpenMetrics text format (which
//! Prometheus scrapes), kept and written by `prometheus-client`, the Prometheus project's Rust
//! client. Label values are livelab's own (route names, service ids, which are plugin ids of
//! `a-z`, `0-9` and `-`, status numbers, error codes, failure causes, feedback outcomes),
//! never client text or patient data; a call to an unknown service is counted under
//! `service="unknown"`. A leaf module: it imports nothing of this crate.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// The latency histogram's upper bounds, in seconds.
pub const LATENCY_BUCKETS: [f64; 11] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The label a call to a service the session does not serve is counted under.
pub const UNKNOWN_SERVICE: &str = "unknown";

/// The media type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    service: String,
    status: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    route: String,
    service: String,
    code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    service: String,
    cause: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FeedbackLabels {
    service: String,
    outcome: String,
}

/// What `GET /metrics` reports.
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    errors: Family<ErrorLabels, Counter>,
    latency: Family<ServiceLabels, Histogram, fn() -> Histogram>,
    plugin_failures: Family<FailureLabels, Counter>,
    feedback: Family<FeedbackLabels, Counter>,
    moved: Family<ServiceLabels, Counter>,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

impl Default for Metrics {
    fn default() -> Self {
        let metrics = Metrics {
            registry: Registry::default(),
            requests: Family::default(),
            errors: Family::default(),
            latency: Family::new_with_constructor(latency_histogram),
            plugin_failures: Family::default(),
            feedback: Family::default(),
            moved: Family::default(),
        };
        let mut registry = Registry::default();
        // Counters are registered without `_total`; the exposition adds it.
        registry.register(
            "livelab_serve_requests",
            "Requests answered, by route, service and HTTP status",
            metrics.requests.clone(),
        );
        registry.register(
            "livelab_serve_errors",
            "Requests refused or failed, by route, service and error code (the OperationOutcome's)",
            metrics.errors.clone(),
        );
        registry.register(
            "livelab_serve_request_duration_seconds",
            "Service call latency, from the request to the answer, by service",
            metrics.latency.clone(),
        );
        registry.register(
            "livelab_serve_plugin_failures",
            "Evaluations that failed, by service and cause",
            metrics.plugin_failures.clone(),
        );
        registry.register(
            "livelab_serve_feedback",
            "Feedback on issued cards, by service and outcome (accepted or overridden)",
            metrics.feedback.clone(),
        );
        registry.register(
            "livelab_serve_evaluations_moved",
            "Evaluations still running at the end of their slice on the request's thread, evaluated again on the blocking pool, by service",
            metrics.moved.clone(),
        );
        Metrics {
            registry,
            ..metrics
        }
    }
}

impl Metrics {
    /// One answered request: its route (`service`, `feedback`, `discovery`, ...), service
    /// label, status and error code (`None` for a success).
    pub fn request(&self, route: &str, service: &str, status: u16, code: Option<&str>) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                service: service.to_owned(),
                status: status.to_string(),
            })
            .inc();
        if let Some(code) = code {
            self.errors
                .get_or_create(&ErrorLabels {
                    route: route.to_owned(),
                    service: service.to_owned(),
                    code: code.to_owned(),
                })
                .inc();
        }
    }

    /// The time one service call took, whatever its answer.
    pub fn latency(&self, service: &str, elapsed: Duration) {
        self.latency
            .get_or_create(&ServiceLabels {
                service: service.to_owned(),
            })
            .observe(elapsed.as_secs_f64());
    }

    /// An evaluation that failed, by its cause's stable name.
    pub fn plugin_failure(&self, service: &str, cause: &str) {
        self.plugin_failures
            .get_or_create(&FailureLabels {
                service: service.to_owned(),
                cause: cause.to_owned(),
            })
            .inc();
    }

    /// An evaluation that outran its slice on the request's thread and was evaluated again.
    pub fn moved(&self, service: &str) {
        self.moved
            .get_or_create(&ServiceLabels {
                service: service.to_owned(),
            })
            .inc();
    }

    /// One feedback item (`accepted` or `overridden`).
    pub fn feedback(&self, service: &str, outcome: &str) {
        self.feedback_counter(service, outcome).inc();
    }

    fn feedback_counter(&self, service: &str, outcome: &str) -> Counter {
        self.feedback
            .get_or_create(&FeedbackLabels {
                service: service.to_owned(),
                outcome: outcome.to_owned(),
            })
            .clone()
    }

    /// The OpenMetrics text exposition of every family. `services` are the session's services:
    /// each appears in the latency and feedback families from the start, at zero.
    pub fn render(&self, services: &[&str]) -> String {
        for service in services {
            drop(self.latency.get_or_create(&ServiceLabels {
                service: (*service).to_owned(),
            }));
            for outcome in ["accepted", "overridden"] {
                self.feedback_counter(service, outcome);
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_cumulative_buckets_and_zeroes_for_every_service() {
        let metrics = Metrics::default();
        metrics.latency("a", Duration::from_millis(3));
        metrics.latency("a", Duration::from_millis(30));
        metrics.request("service", "a", 200, None);
        metrics.request("service", "a", 503, Some("overloaded"));
        metrics.feedback("a", "accepted");
        let text = metrics.render(&["a", "b"]);
        for expected in [
            "livelab_serve_request_duration_seconds_bucket{le=\"0.005\",service=\"a\"} 1\n",
            "livelab_serve_request_duration_seconds_bucket{le=\"0.05\",service=\"a\"} 2\n",
            "livelab_serve_request_duration_seconds_bucket{le=\"+Inf\",service=\"a\"} 2\n",
            "livelab_serve_request_duration_seconds_count{service=\"a\"} 2\n",
            "livelab_serve_request_duration_seconds_count{service=\"b\"} 0\n",
            "livelab_serve_requests_total{route=\"service\",service=\"a\",status=\"200\"} 1\n",
            "livelab_serve_errors_total{route=\"service\",service=\"a\",code=\"overloaded\"} 1\n",
            "livelab_serve_feedback_total{service=\"a\",outcome=\"accepted\"} 1\n",
            "livelab_serve_feedback_total{service=\"b\",outcome=\"overridden\"} 0\n",
            "# TYPE livelab_serve_request_duration_seconds histogram\n",
            "# EOF\n",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }
}
