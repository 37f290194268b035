//! `livelab-dashboard`: `livelab dashboard`, the run registry as web pages an evaluator can
//! open and mail. axum on tokio; every page rendered on the server with `askama` (HTML
//! escaped by the templates), inline CSS and inline SVG charts, no script and nothing
//! fetched from anywhere (the Content-Security-Policy says so); it works without JavaScript.
//!
//! Pages, each a GET with a stable URL:
//!
//! - `/?region=&plugin=&version=&from=&to=`: the runs, filtered; pick two to compare.
//! - `/runs/{id}`: one run as registered (facts, plugins, effectiveness, comparisons, case
//!   mix, errors) and a link to its `report.html` while the file still exists
//!   (`/runs/{id}/report.html` serves it).
//! - `/compare?a=&b=`: two runs, only what differs ([`livelab_registry::diff`]).
//! - `/plugins/{id}`: a plugin's sensitivity, specificity and alert rate over successive
//!   runs, per series, with 95 % Wilson intervals.
//! - `/drift?region=`: the drift watch ([`livelab_registry::drift::watch`]): a p-chart of
//!   the alert rate with its 3-sigma limits per series, flagged runs marked and explained.
//!
//! Everything a run or plugin controls is hostile: names are shown with their hidden
//! characters escaped (`livelab_host::text::escape_hidden`) and then HTML-escaped; links
//! are built with their parameters encoded.
//!
//! Modules in dependency order: `error`, `view` (text, figures, links), `chart` (SVG
//! geometry), `pages` (one builder and template per page), `router`, `server`.

mod chart;
mod error;
mod pages;
mod router;
mod server;
mod view;

pub use error::DashboardError;
pub use server::serve;
