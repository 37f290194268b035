//! The session's counters and their Prometheus text exposition (format 0.0.4), written by
//! hand: four families, no dependency. Label values are livelab's own (route names, service
//! ids from the trial, status numbers, error codes, failure causes, feedback outcomes), never
//! client text or patient data; a call to an unknown service is counted under
//! `service="unknown"`. A leaf module: it imports nothing of this crate.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

/// The latency histogram's upper bounds, in seconds.
pub const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The label a call to a service the session does not serve is counted under.
pub const UNKNOWN_SERVICE: &str = "unknown";

#[derive(Default)]
struct Histogram {
    /// Per bucket of [`LATENCY_BUCKETS`] (not cumulative; summed when rendered).
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Counters {
    /// (route, service, status) → requests.
    requests: BTreeMap<(&'static str, String, u16), u64>,
    /// (route, service, code) → refused or failed requests.
    errors: BTreeMap<(&'static str, String, &'static str), u64>,
    /// service → latency of its calls.
    latency: BTreeMap<String, Histogram>,
    /// (service, cause) → failed evaluations.
    plugin_failures: BTreeMap<(String, &'static str), u64>,
    /// (service, outcome) → feedback items.
    feedback: BTreeMap<(String, &'static str), u64>,
}

/// What `GET /metrics` reports.
#[derive(Default)]
pub struct Metrics {
    counters: Mutex<Counters>,
}

impl Metrics {
    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        f(&mut self.counters.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// One answered request: its route (`service`, `feedback`, `discovery`, ...), service
    /// label, status and error code (`None` for a success).
    pub fn request(
        &self,
        route: &'static str,
        service: &str,
        status: u16,
        code: Option<&'static str>,
    ) {
        self.with(|c| {
            *c.requests
                .entry((route, service.to_owned(), status))
                .or_default() += 1;
            if let Some(code) = code {
                *c.errors
                    .entry((route, service.to_owned(), code))
                    .or_default() += 1;
            }
        });
    }

    /// The time one service call took, whatever its answer.
    pub fn latency(&self, service: &str, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        self.with(|c| {
            let h = c.latency.entry(service.to_owned()).or_default();
            if h.counts.is_empty() {
                h.counts = vec![0; LATENCY_BUCKETS.len()];
            }
            if let Some(i) = LATENCY_BUCKETS.iter().position(|b| seconds <= *b) {
                h.counts[i] += 1;
            }
            h.sum += seconds;
            h.count += 1;
        });
    }

    /// An evaluation that failed, by its cause's stable name.
    pub fn plugin_failure(&self, service: &str, cause: &'static str) {
        self.with(|c| {
            *c.plugin_failures
                .entry((service.to_owned(), cause))
                .or_default() += 1;
        });
    }

    /// One feedback item (`accepted` or `overridden`).
    pub fn feedback(&self, service: &str, outcome: &'static str) {
        self.with(|c| {
            *c.feedback.entry((service.to_owned(), outcome)).or_default() += 1;
        });
    }

    /// The Prometheus text exposition of every family. `services` are the session's services:
    /// each appears in the histogram and feedback families from the start, at zero.
    pub fn render(&self, services: &[&str]) -> String {
        self.with(|c| {
            let mut out = String::new();
            family(
                &mut out,
                "livelab_serve_requests_total",
                "counter",
                "Requests answered, by route, service and HTTP status.",
            );
            for ((route, service, status), n) in &c.requests {
                let _ = writeln!(
                    out,
                    "livelab_serve_requests_total{{route=\"{route}\",service=\"{}\",status=\"{status}\"}} {n}",
                    escape(service)
                );
            }
            family(
                &mut out,
                "livelab_serve_errors_total",
                "counter",
                "Requests refused or failed, by route, service and error code (the OperationOutcome's).",
            );
            for ((route, service, code), n) in &c.errors {
                let _ = writeln!(
                    out,
                    "livelab_serve_errors_total{{route=\"{route}\",service=\"{}\",code=\"{code}\"}} {n}",
                    escape(service)
                );
            }
            family(
                &mut out,
                "livelab_serve_request_duration_seconds",
                "histogram",
                "Service call latency, from the request to the answer, by service.",
            );
            let empty = Histogram {
                counts: vec![0; LATENCY_BUCKETS.len()],
                ..Histogram::default()
            };
            let mut names: Vec<&str> = services.to_vec();
            names.extend(c.latency.keys().map(String::as_str));
            names.sort_unstable();
            names.dedup();
            for service in &names {
                let h = c.latency.get(*service).unwrap_or(&empty);
                let service = escape(service);
                let mut cumulative = 0;
                for (bound, n) in LATENCY_BUCKETS.iter().zip(&h.counts) {
                    cumulative += n;
                    let _ = writeln!(
                        out,
                        "livelab_serve_request_duration_seconds_bucket{{service=\"{service}\",le=\"{bound}\"}} {cumulative}"
                    );
                }
                let _ = writeln!(
                    out,
                    "livelab_serve_request_duration_seconds_bucket{{service=\"{service}\",le=\"+Inf\"}} {}\n\
                     livelab_serve_request_duration_seconds_sum{{service=\"{service}\"}} {}\n\
                     livelab_serve_request_duration_seconds_count{{service=\"{service}\"}} {}",
                    h.count, h.sum, h.count
                );
            }
            family(
                &mut out,
                "livelab_serve_plugin_failures_total",
                "counter",
                "Evaluations that failed, by service and cause.",
            );
            for ((service, cause), n) in &c.plugin_failures {
                let _ = writeln!(
                    out,
                    "livelab_serve_plugin_failures_total{{service=\"{}\",cause=\"{cause}\"}} {n}",
                    escape(service)
                );
            }
            family(
                &mut out,
                "livelab_serve_feedback_total",
                "counter",
                "Feedback on issued cards, by service and outcome (accepted or overridden).",
            );
            for service in services {
                for outcome in ["accepted", "overridden"] {
                    let n = c
                        .feedback
                        .get(&((*service).to_owned(), outcome))
                        .copied()
                        .unwrap_or(0);
                    let _ = writeln!(
                        out,
                        "livelab_serve_feedback_total{{service=\"{}\",outcome=\"{outcome}\"}} {n}",
                        escape(service)
                    );
                }
            }
            out
        })
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// A label value escaped as the text format asks (backslash, double quote, line feed).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_cumulative_buckets_and_escaped_labels() {
        let metrics = Metrics::default();
        metrics.latency("a", Duration::from_millis(3));
        metrics.latency("a", Duration::from_millis(30));
        metrics.request("service", "a\"b", 200, None);
        metrics.request("service", "a", 503, Some("overloaded"));
        metrics.feedback("a", "accepted");
        let text = metrics.render(&["a"]);
        assert!(text.contains(
            "livelab_serve_request_duration_seconds_bucket{service=\"a\",le=\"0.005\"} 1\n"
        ));
        assert!(text.contains(
            "livelab_serve_request_duration_seconds_bucket{service=\"a\",le=\"0.05\"} 2\n"
        ));
        assert!(text.contains(
            "livelab_serve_request_duration_seconds_bucket{service=\"a\",le=\"+Inf\"} 2\n"
        ));
        assert!(text.contains("livelab_serve_request_duration_seconds_count{service=\"a\"} 2\n"));
        assert!(
            text.contains("service=\"a\\\"b\",status=\"200\"} 1\n"),
            "{text}"
        );
        assert!(text.contains(
            "livelab_serve_errors_total{route=\"service\",service=\"a\",code=\"overloaded\"} 1\n"
        ));
        assert!(
            text.contains("livelab_serve_feedback_total{service=\"a\",outcome=\"accepted\"} 1\n")
        );
        assert!(
            text.contains("livelab_serve_feedback_total{service=\"a\",outcome=\"overridden\"} 0\n")
        );
        assert!(text.contains("# TYPE livelab_serve_request_duration_seconds histogram\n"));
    }
}
