//! How values are written into a page: text a run or plugin controls with its hidden
//! characters shown (the templates escape HTML on top of that), proportions in percent, and
//! the dashboard's links, built with their parameters encoded.

use std::fmt::Write as _;

use livelab_host::text::escape_hidden;
use livelab_host::trial::stats::Proportion;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};

/// `text` as a page shows it: control, bidi and invisible characters written as `\u{…}`,
/// so that a name cannot reorder or hide what follows it. HTML escaping is the template's.
pub fn shown(text: &str) -> String {
    escape_hidden(text).into_owned()
}

/// `92.5 % (85.1–96.4)` with the counts, `37/40`, or `–`.
pub fn with_interval(p: &Proportion) -> String {
    match (p.percent(), p.interval_percent()) {
        (Some(e), Some(ci)) => format!("{e} % ({ci}) · {}/{}", p.successes, p.trials),
        _ => "–".into(),
    }
}

/// A fraction in percent with one decimal.
pub fn share(x: f64) -> String {
    format!("{:.1} %", x * 100.0)
}

/// The first 12 hex digits of a SHA-256, as the pages show it (the full hash is its title).
pub fn short_hash(sha256: &str) -> String {
    shown(&sha256.chars().take(12).collect::<String>())
}

/// `/plugins/{id}` with the id percent-encoded.
pub fn plugin_href(plugin: &str) -> String {
    format!("/plugins/{}", utf8_percent_encode(plugin, NON_ALPHANUMERIC))
}

/// `/runs/{id}`.
pub fn run_href(run: impl std::fmt::Display) -> String {
    format!("/runs/{run}")
}

/// `path` with the non-empty `params` as a query string, form-encoded.
pub fn href(path: &str, params: &[(&str, &str)]) -> String {
    let mut query = form_urlencoded::Serializer::new(String::new());
    for (key, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        query.append_pair(key, value);
    }
    let query = query.finish();
    let mut out = path.to_owned();
    if !query.is_empty() {
        let _ = write!(out, "?{query}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_encode_what_a_name_holds() {
        assert_eq!(
            href("/drift", &[("region", "Noord & <Oost>"), ("plugin", "")]),
            "/drift?region=Noord+%26+%3COost%3E"
        );
        assert_eq!(plugin_href("a/b?c"), "/plugins/a%2Fb%3Fc");
        assert_eq!(shown("x\u{202e}y"), "x\\u{202e}y");
    }
}
