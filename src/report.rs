//! `report.html`: one self-contained page per trial, for a region's CMIO, data protection
//! officer and evaluators to open, print or mail.
//!
//! Nothing is fetched: the style is inline, the charts are inline SVG, there is no script,
//! and a Content-Security-Policy forbids anything else. Every string that comes from the
//! summary (plugin messages, record data, paths, names) goes through [`escape`].

use std::fmt::{self, Write as _};

use livelab_host::package::signing::SignatureStatus;
use livelab_host::run::{Distribution, PluginSummary, RunSummary};
use livelab_host::sandbox::Limits;
use livelab_host::trial::TrialSummary;
use livelab_host::trial::effectiveness::{
    ComparisonReport, Discordant, Effectiveness, PluginEffectiveness, SubgroupEffectiveness,
};
use livelab_host::trial::stats::{McNemar, McNemarMethod, Paired, PairedDifference, Proportion};

/// Rows shown of long lists (discordant patients, unreadable records); summary.json has all.
const LIST_CAP: usize = 200;

/// `write!` into a `String`, which cannot fail.
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// The whole report.
pub fn render(summary: &TrialSummary) -> String {
    let mut out = String::with_capacity(64 << 10);
    head(&mut out, summary);
    header(&mut out, summary);
    out.push_str("<main>\n");
    trial_section(&mut out, summary);
    plugins_section(&mut out, summary);
    effectiveness_section(&mut out, summary.effectiveness.as_ref(), &summary.run);
    subgroups_section(&mut out, summary.effectiveness.as_ref());
    comparison_section(&mut out, summary.effectiveness.as_ref());
    latency_section(&mut out, &summary.run);
    errors_section(&mut out, &summary.run);
    data_section(&mut out, &summary.run);
    out.push_str("</main>\n");
    footer(&mut out, summary);
    out.push_str("</body>\n</html>\n");
    out
}

// ------------------------------------------------------------------------------------------
// Escaping and number formats.

/// Text from the summary, HTML-escaped: safe as element content and as a quoted attribute.
fn escape(text: &str) -> Escaped<'_> {
    Escaped(text)
}

struct Escaped<'a>(&'a str);

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while let Some(i) = rest.find(['&', '<', '>', '"', '\'']) {
            f.write_str(&rest[..i])?;
            f.write_str(match rest.as_bytes()[i] {
                b'&' => "&amp;",
                b'<' => "&lt;",
                b'>' => "&gt;",
                b'"' => "&quot;",
                _ => "&#39;",
            })?;
            rest = &rest[i + 1..];
        }
        f.write_str(rest)
    }
}

/// An element id made from a plugin id: letters, digits, `-` and `_` only.
fn anchor(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect()
}

/// A share as a percentage with one decimal: `92.5%`.
fn pct(share: f64) -> String {
    format!("{:.1}%", share * 100.0)
}

fn estimate(p: &Proportion) -> String {
    p.percent().map_or("–".into(), |e| e + "%")
}

fn interval(p: &Proportion) -> String {
    p.interval_percent().unwrap_or_else(|| "–".into())
}

/// `92.5% (85.1–96.4)`, or `–` when the denominator is empty.
fn with_interval(p: &Proportion) -> String {
    match p.estimate {
        Some(_) => format!(
            "{} <span class=\"ci\">({})</span>",
            estimate(p),
            interval(p)
        ),
        None => "–".into(),
    }
}

/// Percentage points with a sign: `+1.5`.
fn points(difference: f64) -> String {
    format!("{:+.1}", difference * 100.0)
}

fn micros(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

fn bytes(n: u64) -> String {
    const KIB: f64 = 1024.0;
    let f = n as f64;
    let (value, unit) = if f >= KIB * KIB * KIB {
        (f / (KIB * KIB * KIB), "GiB")
    } else if f >= KIB * KIB {
        (f / (KIB * KIB), "MiB")
    } else if f >= KIB {
        (f / KIB, "KiB")
    } else {
        return format!("{n} B");
    };
    if value.fract() == 0.0 {
        format!("{value:.0} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

fn duration_ms(ms: f64) -> String {
    if ms < 1000.0 {
        format!("{ms:.1} ms")
    } else if ms < 120_000.0 {
        format!("{:.1} s", ms / 1000.0)
    } else {
        format!(
            "{:.0} min {:.0} s",
            (ms / 60_000.0).floor(),
            (ms / 1000.0) % 60.0
        )
    }
}

/// `p = 0.042`, or `p < 0.001` (HTML).
fn p_value(p: f64) -> String {
    if p < 0.001 {
        "p &lt; 0.001".into()
    } else {
        format!("p = {p:.3}")
    }
}

fn dist(
    d: &Option<Distribution>,
    pick: fn(&Distribution) -> u64,
    show: fn(u64) -> String,
) -> String {
    d.as_ref().map_or("–".into(), |d| show(pick(d)))
}

// ------------------------------------------------------------------------------------------
// Page frame.

const CSS: &str = r#"
:root { --ink: #1b1f24; --muted: #59616c; --rule: #d5d9df; --soft: #f4f5f7;
  --bad: #9b1c1c; --bad-bg: #fdeeee; --warn: #8a4b00; --warn-bg: #fff5e6; --ok: #1d6b34; --ok-bg: #eef7f0; }
* { box-sizing: border-box; }
body { margin: 0; padding: 0 28px; color: var(--ink); background: #fff;
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 1090px; margin: 0 auto; }
header { padding-top: 26px; padding-bottom: 10px; border-bottom: 2px solid var(--ink); }
.kicker { margin: 0; font-size: 12px; letter-spacing: .08em; text-transform: uppercase; color: var(--muted); }
h1 { margin: 4px 0 4px; font-size: 25px; line-height: 1.2; }
.sub { margin: 0 0 10px; color: var(--muted); }
nav { font-size: 13px; }
nav a { color: var(--ink); margin-right: 14px; text-decoration: none; border-bottom: 1px solid var(--rule); }
h2 { margin: 34px 0 10px; padding-bottom: 4px; font-size: 19px; border-bottom: 1px solid var(--rule); }
h3 { margin: 22px 0 6px; font-size: 15px; }
h4 { margin: 14px 0 4px; font-size: 13.5px; }
p { margin: 6px 0; }
table { border-collapse: collapse; margin: 6px 0 12px; font-variant-numeric: tabular-nums; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--rule); text-align: left; vertical-align: top; }
thead th { border-bottom: 1.5px solid var(--ink); font-size: 12.5px; font-weight: 600; vertical-align: bottom; }
thead tr.group th { border-bottom: 1px solid var(--rule); text-align: center; color: var(--muted); }
.n { text-align: right; white-space: nowrap; }
td.n.zero { color: var(--muted); }
.kv th { width: 210px; color: var(--muted); font-weight: 600; }
.ci { color: var(--muted); font-size: 12.5px; white-space: nowrap; }
code, .mono { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, "Liberation Mono", monospace; font-size: 12px; }
.hash { word-break: break-all; font-size: 11.5px; }
.pre { white-space: pre-line; }
.note { color: var(--muted); font-size: 13px; }
.flag { color: var(--bad); font-weight: 700; }
.nowrap, span.flag, span.ok { white-space: nowrap; }
.wrap { overflow-wrap: anywhere; }
.banner a { color: inherit; }
td.record { min-width: 16em; max-width: 26em; }
.ok { color: var(--ok); font-weight: 600; }
.banner { margin: 8px 0; padding: 8px 12px; border: 2px solid var(--bad); border-left-width: 8px; background: var(--bad-bg); }
.banner.caution { border-color: var(--warn); background: var(--warn-bg); }
.banner.good { border-color: var(--ok); background: var(--ok-bg); }
.block { margin: 12px 0 24px; break-inside: avoid; }
.row { display: flex; flex-wrap: wrap; gap: 10px 32px; align-items: flex-start; }
.scroll { overflow-x: auto; }
table.confusion td[data-cell] { min-width: 96px; padding: 6px 10px; text-align: center; font-size: 18px;
  font-weight: 600; border: 1px solid var(--rule); }
table.confusion td[data-cell]::before { content: attr(data-cell); display: block; font-size: 10.5px;
  font-weight: 400; letter-spacing: .06em; text-transform: uppercase; color: var(--muted); }
table.confusion th { font-size: 12.5px; vertical-align: middle; }
table.confusion td { text-align: center; vertical-align: middle; }
tr.dim th { background: var(--soft); font-size: 12px; letter-spacing: .05em; text-transform: uppercase; }
tr.overall td { font-weight: 600; }
tr.flagged td { background: var(--bad-bg); }
ul.flags { margin: 6px 0 12px; padding-left: 20px; }
figure { margin: 10px 0 20px; break-inside: avoid; }
figcaption { color: var(--muted); font-size: 13px; max-width: 800px; }
svg.chart { display: block; width: 100%; max-width: 800px; height: auto; }
svg.chart text { font-size: 12.5px; fill: #2b2f36; font-family: system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; }
svg.chart .axis { stroke: #2b2f36; stroke-width: 1; }
svg.chart .grid { stroke: #e2e5e9; stroke-width: 1; }
svg.chart .ref { stroke: #6d7480; stroke-width: 1; stroke-dasharray: 2 3; }
footer { margin-top: 40px; padding: 12px 0 30px; border-top: 1px solid var(--rule); color: var(--muted); font-size: 12px; }
@media print {
  @page { margin: 14mm 12mm; }
  body { font-size: 10pt; color: #000; }
  body { padding: 0; }
  header, main, footer { max-width: none; }
  nav { display: none; }
  h2, h3, h4 { break-after: avoid; }
  table, figure, .block, .banner, tr { break-inside: avoid; }
  table.long { break-inside: auto; }
  thead { display: table-header-group; }
  .banner, .banner.caution, .banner.good { background: #fff; border-color: #000; }
  tr.flagged td, tr.dim th { background: #fff; }
  table.ab td.n { white-space: normal; }
  .flag, .ok, .note, .ci, figcaption, .kv th, .kicker, .sub, td.n.zero, table.confusion td[data-cell]::before { color: #000; }
  .scroll { overflow: visible; }
  svg.chart .series { stroke: #000; }
  svg.chart .dot { fill: #000; stroke: #000; }
  svg.chart .box { fill: #fff; stroke: #000; }
  svg.chart text { fill: #000; }
}
"#;

fn head(out: &mut String, s: &TrialSummary) {
    out.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    // No scripts, no fetches of any kind: a mailed copy cannot call home or run code.
    out.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n",
    );
    out.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    w!(
        out,
        "<title>Trial report: {}</title>\n",
        escape(&s.trial.name)
    );
    w!(out, "<style>{CSS}</style>\n</head>\n<body>\n");
}

const SECTIONS: [(&str, &str); 8] = [
    ("trial", "Trial and safety"),
    ("plugins", "Plugins: outcomes and cost"),
    ("effectiveness", "Effectiveness"),
    ("subgroups", "Subgroups"),
    ("comparison", "Paired comparison (A/B)"),
    ("latency", "Latency and fuel"),
    ("errors", "Errors"),
    ("data", "Data and mapping coverage"),
];

fn header(out: &mut String, s: &TrialSummary) {
    let r = &s.run;
    w!(
        out,
        "<header>\n<p class=\"kicker\">livelab trial report</p>\n<h1>{}</h1>\n",
        escape(&s.trial.name)
    );
    let comparisons = s.effectiveness.as_ref().map_or(0, |e| e.comparisons.len());
    w!(
        out,
        "<p class=\"sub\"><strong>{}</strong> · evaluation date {} · {} records · {} plugins",
        escape(&s.trial.region),
        r.evaluation_date,
        r.records.read,
        r.plugins.len()
    );
    if comparisons > 0 {
        w!(out, " · {comparisons} paired comparison(s)");
    }
    out.push_str("</p>\n<nav>");
    for (i, (id, title)) in SECTIONS.iter().enumerate() {
        w!(out, "<a href=\"#{id}\">{}. {title}</a>", i + 1);
    }
    out.push_str("</nav>\n</header>\n");
}

fn section_open(out: &mut String, id: &str) {
    let (n, (_, title)) = SECTIONS
        .iter()
        .enumerate()
        .find(|(_, (sid, _))| *sid == id)
        .expect("a known section");
    w!(out, "<section id=\"{id}\">\n<h2>{}. {title}</h2>\n", n + 1);
}

fn section_close(out: &mut String) {
    out.push_str("</section>\n");
}

fn footer(out: &mut String, s: &TrialSummary) {
    w!(
        out,
        "<footer>Made by livelab {} from the trial's summary.json (schema {}, run schema {}). \
         Self-contained: no scripts and no network fetches; every figure here is in summary.json.</footer>\n",
        escape(&s.run.livelab_version),
        escape(&s.schema),
        escape(&s.run.schema)
    );
}

/// A `<th>label</th><td>value</td>` row of a key–value table.
fn kv(out: &mut String, label: &str, value: impl fmt::Display) {
    w!(out, "<tr><th>{label}</th><td>{value}</td></tr>\n");
}

/// A numeric cell; zeros are greyed so that non-zero counts stand out.
fn num(n: u64) -> String {
    if n == 0 {
        "<td class=\"n zero\">0</td>".into()
    } else {
        format!("<td class=\"n\">{n}</td>")
    }
}

// ------------------------------------------------------------------------------------------
// 1. Trial and safety.

fn trial_section(out: &mut String, s: &TrialSummary) {
    let (t, r) = (&s.trial, &s.run);
    section_open(out, "trial");
    banners(out, s);
    out.push_str("<table class=\"kv\">\n");
    kv(out, "Name", escape(&t.name));
    kv(out, "Region", escape(&t.region));
    if let Some(d) = &t.description {
        kv(
            out,
            "Description",
            format_args!("<span class=\"pre\">{}</span>", escape(d.trim())),
        );
    }
    kv(out, "Evaluation date", r.evaluation_date);
    kv(
        out,
        "Trial file",
        format_args!(
            "<code>{}</code><br><span class=\"note\">sha256</span> <code class=\"hash\">{}</code>",
            escape(&t.file),
            escape(&t.sha256)
        ),
    );
    kv(
        out,
        "Records source",
        format_args!("<code>{}</code>", escape(&r.records_source)),
    );
    kv(
        out,
        "Records",
        format_args!(
            "{} read · {} evaluated · {} unreadable",
            r.records.read, r.records.evaluated, r.records.errors
        ),
    );
    match &t.labels {
        Some(l) => kv(out, "Labels", format_args!("<code>{}</code>", escape(l))),
        None => kv(out, "Labels", "none: no effectiveness figures"),
    }
    match &t.trust {
        Some(p) => kv(
            out,
            "Trust policy",
            format_args!("<code>{}</code>", escape(p)),
        ),
        None => kv(out, "Trust policy", "none"),
    }
    kv(
        out,
        "Direct identifiers",
        if r.identifiers_allowed {
            format!(
                "<span class=\"flag\">⚠ ALLOWED</span>: {} record(s) with direct identifiers admitted",
                r.ingest.identified_records_admitted
            )
        } else {
            "refused (records carrying them are unreadable-record errors)".into()
        },
    );
    kv(out, "Seed", r.seed);
    kv(out, "Workers", r.workers);
    kv(
        out,
        "Wall time",
        format_args!(
            "{} · {:.0} evaluations/s overall",
            duration_ms(r.wall_ms),
            r.evaluations_per_second
        ),
    );
    if let Some(rss) = r.host_peak_rss_bytes {
        kv(out, "Host peak memory", bytes(rss));
    }
    kv(
        out,
        "Shards",
        match &t.shards {
            Some(s) if s.starts_with("merged") => format!("{} (figures are exact sums)", escape(s)),
            Some(s) => format!("<span class=\"flag\">shard {} only</span>", escape(s)),
            None => "single run (not sharded)".into(),
        },
    );
    kv(out, "Trial limits", limits_text(&r.limits));
    kv(out, "livelab", escape(&r.livelab_version));
    out.push_str("</table>\n");
    plugin_identity_table(out, r);
    section_close(out);
}

/// The facts a data protection officer or CMIO must not miss, at the top.
fn banners(out: &mut String, s: &TrialSummary) {
    let (t, r) = (&s.trial, &s.run);
    let mut bad: Vec<String> = Vec::new();
    let mut caution: Vec<String> = Vec::new();
    if t.allow_unsigned {
        bad.push(
            "<strong>⚠ allow_unsigned = true:</strong> unsigned plugins were allowed (local authoring); \
             not valid for a regional decision."
                .into(),
        );
    }
    if r.identifiers_allowed {
        bad.push(format!(
            "<strong>⚠ Identifiers allowed:</strong> records still carrying direct identifiers were admitted \
             ({} record(s) carried them). This run did not use anonymised data only; treat its outputs as personal data.",
            r.ingest.identified_records_admitted
        ));
    }
    let untrusted: Vec<String> = r
        .plugins
        .iter()
        .filter(|p| !p.plugin.signature.is_trusted())
        .map(|p| {
            format!(
                "{} ({})",
                escape(&p.plugin.id),
                signature_word(&p.plugin.signature)
            )
        })
        .collect();
    if !untrusted.is_empty() {
        bad.push(format!(
            "<strong>⚠ {} of {} plugin(s) without a trusted signature:</strong> {}.",
            untrusted.len(),
            r.plugins.len(),
            untrusted.join(", ")
        ));
    }
    let unpinned: Vec<String> = r
        .plugins
        .iter()
        .filter(|p| !p.plugin.pinned)
        .map(|p| escape(&p.plugin.id).to_string())
        .collect();
    if !unpinned.is_empty() {
        caution.push(format!(
            "<strong>{} plugin(s) not pinned</strong> by SHA-256 in the trial file: {}. \
             Pin the component hashes below before a regional trial.",
            unpinned.len(),
            unpinned.join(", ")
        ));
    }
    if let Some(shard) = t.shards.as_deref().filter(|s| !s.starts_with("merged")) {
        caution.push(format!(
            "<strong>Partial run:</strong> this report covers shard {} only; merge all shards \
             (<code>livelab merge</code>) before drawing conclusions.",
            escape(shard)
        ));
    }
    let failed: u64 = r.plugins.iter().map(|p| p.evaluations - p.ok).sum();
    if failed > 0 {
        caution.push(format!(
            "<strong>{failed} evaluation(s) failed</strong> (see <a href=\"#errors\">Errors</a>); \
             failures are shown apart and never counted as negatives."
        ));
    }
    if r.records.errors > 0 {
        caution.push(format!(
            "<strong>{} record(s) could not be read</strong> (see <a href=\"#errors\">Errors</a>).",
            r.records.errors
        ));
    }
    if s.effectiveness.is_none() {
        caution.push(
            "<strong>No labels file:</strong> this trial has no effectiveness figures.".into(),
        );
    }
    for text in &bad {
        w!(out, "<p class=\"banner\">{text}</p>\n");
    }
    for text in &caution {
        w!(out, "<p class=\"banner caution\">{text}</p>\n");
    }
    if bad.is_empty() && caution.is_empty() {
        out.push_str(
            "<p class=\"banner good\">✓ Every plugin carries a trusted signature and is pinned; \
             no direct identifiers were admitted; every record was read and every evaluation completed.</p>\n",
        );
    }
}

fn signature_word(status: &SignatureStatus) -> &'static str {
    match status {
        SignatureStatus::Trusted { .. } => "trusted",
        SignatureStatus::Unsigned => "unsigned",
        SignatureStatus::UntrustedKey { .. } => "untrusted key",
        SignatureStatus::Invalid { .. } => "INVALID signature",
    }
}

fn signature_html(status: &SignatureStatus) -> String {
    match status {
        SignatureStatus::Trusted { publisher, key } => format!(
            "<span class=\"ok\">✓ trusted</span><br>signed by {} <span class=\"note\">(key {})</span>",
            escape(publisher),
            escape(&key.fingerprint())
        ),
        SignatureStatus::Unsigned => "<span class=\"flag\">⚠ UNSIGNED</span>".into(),
        SignatureStatus::UntrustedKey {
            claimed_publisher,
            key,
        } => format!(
            "<span class=\"flag\">⚠ UNTRUSTED KEY</span><br>key {} claims to be “{}”; \
             the region's trust policy does not list it",
            escape(&key.fingerprint()),
            escape(claimed_publisher)
        ),
        SignatureStatus::Invalid { reason } => format!(
            "<span class=\"flag\">✗ INVALID SIGNATURE</span><br>{}",
            escape(reason)
        ),
    }
}

fn limit_items(l: &Limits) -> [(&'static str, String); 8] {
    [
        ("deadline", format!("{} ms", l.deadline_ms)),
        (
            "fuel",
            l.fuel.map_or("no budget (metered)".into(), |f| {
                format!("{f} per evaluation")
            }),
        ),
        ("memory", bytes(l.memory_bytes as u64)),
        ("table elements", l.table_elements.to_string()),
        ("cards", format!("≤ {}", l.max_cards)),
        (
            "card text",
            format!("≤ {}", bytes(l.max_output_bytes as u64)),
        ),
        (
            "one string",
            format!("≤ {}", bytes(l.max_string_bytes as u64)),
        ),
        (
            "log",
            format!(
                "≤ {} lines, {}",
                l.max_log_lines,
                bytes(l.max_log_bytes as u64)
            ),
        ),
    ]
}

fn limits_text(l: &Limits) -> String {
    limit_items(l)
        .iter()
        .map(|(name, value)| format!("{name} {value}"))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// A plugin's limits as far as they differ from the trial's.
fn limits_vs(l: &Limits, trial: &Limits) -> String {
    if l == trial {
        return "<span class=\"nowrap\">trial limits</span>".into();
    }
    limit_items(l)
        .into_iter()
        .zip(limit_items(trial))
        .filter(|(mine, theirs)| mine.1 != theirs.1)
        .map(|((name, value), _)| format!("<strong>{name} {value}</strong>"))
        .collect::<Vec<_>>()
        .join("<br>")
}

fn plugin_identity_table(out: &mut String, r: &RunSummary) {
    out.push_str("<h3>Plugins admitted</h3>\n<div class=\"scroll\"><table class=\"identity\">\n");
    out.push_str(
        "<thead><tr><th>Plugin</th><th>Identity (SHA-256)</th><th>What it was given</th>\
         <th>Signature and pin</th><th>Data grant and limits</th></tr></thead>\n<tbody>\n",
    );
    for p in &r.plugins {
        w!(
            out,
            "<tr id=\"identity-{}\"><td><strong>{}</strong> {}<br><span class=\"note\">{}</span><br><code class=\"hash\">{}</code></td>",
            anchor(&p.plugin.id),
            escape(&p.plugin.id),
            escape(&p.plugin.version),
            escape(&p.plugin.name),
            escape(&p.plugin.path)
        );
        w!(
            out,
            "<td><span class=\"note\">component</span><br><code class=\"hash\">{}</code><br>\
             <span class=\"note\">manifest</span><br>{}</td>",
            escape(&p.plugin.sha256),
            p.plugin.manifest_sha256.as_ref().map_or(
                "<span class=\"note\">none (bare component)</span>".into(),
                |m| format!("<code class=\"hash\">{}</code>", escape(m))
            )
        );
        // Each declared need on its own line, as `check` shows them: a reviewer of the trial
        // sees everything each plugin read (issue 12, item 3).
        w!(
            out,
            "<td class=\"needs\"><span class=\"note\">age and sex, and:</span><ul>{}</ul></td>",
            if p.plugin.data_needs.is_empty() {
                "<li>nothing else</li>".to_owned()
            } else {
                p.plugin
                    .data_needs
                    .iter()
                    .map(|need| format!("<li>{}</li>", escape(&need.to_string())))
                    .collect()
            }
        );
        w!(
            out,
            "<td>{}<br>{}</td><td><span class=\"note\">data</span> {}<br>{}</td></tr>\n",
            signature_html(&p.plugin.signature),
            if p.plugin.pinned {
                "<span class=\"ok\">✓ pinned</span>"
            } else {
                "<span class=\"flag\">⚠ NOT PINNED</span>"
            },
            p.plugin
                .data_grant
                .as_ref()
                .map_or("none".into(), |d| format!(
                    "<code>{}</code> (read-only)",
                    escape(d)
                )),
            limits_vs(&p.plugin.limits, &r.limits)
        );
    }
    out.push_str("</tbody></table></div>\n");
}

// ------------------------------------------------------------------------------------------
// 2. Plugins: outcomes and cost.

fn plugin_effectiveness<'a>(
    e: Option<&'a Effectiveness>,
    id: &str,
) -> Option<&'a PluginEffectiveness> {
    e?.plugins.iter().find(|p| p.plugin == id)
}

fn plugins_section(out: &mut String, s: &TrialSummary) {
    let r = &s.run;
    section_open(out, "plugins");
    out.push_str("<h3>Outcomes</h3>\n<div class=\"scroll\"><table>\n<thead>");
    out.push_str(
        "<tr class=\"group\"><th></th><th colspan=\"3\">evaluations</th><th colspan=\"3\">cards</th>\
         <th colspan=\"2\">patients with cards</th><th colspan=\"2\">alerts (labelled)</th></tr>\n",
    );
    out.push_str(
        "<tr><th>Plugin</th><th class=\"n\">total</th><th class=\"n\">ok</th><th class=\"n\">errors</th>\
         <th class=\"n\">info</th><th class=\"n\">warning</th><th class=\"n\">critical</th>\
         <th class=\"n\">n</th><th class=\"n\">share</th><th class=\"n\">per 100</th><th>alert from</th></tr></thead>\n<tbody>\n",
    );
    for p in &r.plugins {
        let eff = plugin_effectiveness(s.effectiveness.as_ref(), &p.plugin.id);
        let share = if p.evaluations > 0 {
            pct(p.patients_with_cards as f64 / p.evaluations as f64)
        } else {
            "–".into()
        };
        w!(
            out,
            "<tr id=\"plugin-{}\"><td><strong>{}</strong> {}</td>{}{}{}{}{}{}{}<td class=\"n\">{share}</td>",
            anchor(&p.plugin.id),
            escape(&p.plugin.id),
            escape(&p.plugin.version),
            num(p.evaluations),
            num(p.ok),
            num(p.evaluations - p.ok),
            num(p.cards.info),
            num(p.cards.warning),
            num(p.cards.critical),
            num(p.patients_with_cards),
        );
        match eff {
            Some(e) => w!(
                out,
                "<td class=\"n\">{}</td><td>{}</td></tr>\n",
                e.alerts_per_100.map_or("–".into(), |a| format!("{a:.1}")),
                e.alert_from.as_str()
            ),
            None => out.push_str("<td class=\"n\">–</td><td>–</td></tr>\n"),
        }
    }
    out.push_str("</tbody></table></div>\n");
    out.push_str(
        "<p class=\"note\">An alert is a card at or above the plugin's <em>alert from</em> indicator; \
         alerts per 100 count labelled evaluations that completed.</p>\n",
    );

    out.push_str("<h3>Cost per evaluation</h3>\n<div class=\"scroll\"><table>\n<thead>");
    out.push_str(
        "<tr class=\"group\"><th></th><th colspan=\"4\">latency (µs)</th><th>instantiate (µs)</th>\
         <th colspan=\"2\">fuel</th><th colspan=\"2\">peak memory</th><th>throughput</th></tr>\n",
    );
    out.push_str(
        "<tr><th>Plugin</th><th class=\"n\">p50</th><th class=\"n\">p90</th><th class=\"n\">p99</th><th class=\"n\">max</th>\
         <th class=\"n\">p50</th><th class=\"n\">p50</th><th class=\"n\">max</th><th class=\"n\">max</th><th class=\"n\">of limit</th>\
         <th class=\"n\">evaluations/s per core</th></tr></thead>\n<tbody>\n",
    );
    for p in &r.plugins {
        let memory_share = p
            .peak_memory_bytes
            .as_ref()
            .filter(|_| p.plugin.limits.memory_bytes > 0)
            .map_or("–".into(), |d| {
                pct(d.max as f64 / p.plugin.limits.memory_bytes as f64)
            });
        w!(
            out,
            "<tr><td><strong>{}</strong></td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}</td><td class=\"n\">{memory_share}</td><td class=\"n\">{:.0}</td></tr>\n",
            escape(&p.plugin.id),
            dist(&p.latency_ns, |d| d.p50, micros),
            dist(&p.latency_ns, |d| d.p90, micros),
            dist(&p.latency_ns, |d| d.p99, micros),
            dist(&p.latency_ns, |d| d.max, micros),
            dist(&p.instantiate_ns, |d| d.p50, micros),
            dist(&p.fuel, |d| d.p50, |v| v.to_string()),
            dist(&p.fuel, |d| d.max, |v| v.to_string()),
            dist(&p.peak_memory_bytes, |d| d.max, bytes),
            p.evaluations_per_second_per_core,
        );
    }
    out.push_str("</tbody></table></div>\n");
    out.push_str(
        "<p class=\"note\">Latency covers a fresh sandboxed instance, the call and teardown. Fuel is deterministic \
         CPU work (about one unit per WebAssembly instruction). Evaluations/s per core is 1 / mean latency.</p>\n",
    );
    for p in r.plugins.iter().filter(|p| p.fuel_lower_bounds > 0) {
        w!(
            out,
            "<p class=\"note\">{}: the fuel of {} evaluation(s) stopped by a trap (the deadline, a stack \
             overflow, a wasm trap or a refused memory growth) is known only as a lower bound and is left \
             out of its fuel figures.</p>\n",
            escape(&p.plugin.id),
            p.fuel_lower_bounds
        );
    }
    section_close(out);
}

// ------------------------------------------------------------------------------------------
// 3. Effectiveness.

fn no_labels(out: &mut String) {
    out.push_str(
        "<p class=\"note\">No labels file was given, so there are no effectiveness figures \
         (add <code>labels = \"labels.csv\"</code> to the trial).</p>\n",
    );
}

fn effectiveness_section(out: &mut String, e: Option<&Effectiveness>, r: &RunSummary) {
    section_open(out, "effectiveness");
    let Some(e) = e else {
        no_labels(out);
        section_close(out);
        return;
    };
    w!(
        out,
        "<p>Alerts against the reference labels in <code>{}</code>. Intervals are 95% Wilson score intervals. \
         Evaluations that failed are shown apart: never counted as negatives.</p>\n",
        escape(&e.labels)
    );
    for p in &r.plugins {
        match plugin_effectiveness(Some(e), &p.plugin.id) {
            Some(pe) => plugin_effectiveness_block(out, pe),
            None => w!(
                out,
                "<div class=\"block\"><h3>{}</h3><p class=\"note\">Not judged against labels.</p></div>\n",
                escape(&p.plugin.id)
            ),
        }
    }
    section_close(out);
}

fn plugin_effectiveness_block(out: &mut String, p: &PluginEffectiveness) {
    w!(
        out,
        "<div class=\"block\" id=\"effectiveness-{}\">\n<h3>{} <span class=\"note\">topic {} · alert from {}</span></h3>\n",
        anchor(&p.plugin),
        escape(&p.plugin),
        escape(&p.topic),
        p.alert_from.as_str()
    );
    if p.labelled == 0 {
        w!(
            out,
            "<p class=\"flag\">No labelled evaluation completed for topic {}: no figures.</p>\n",
            escape(&p.topic)
        );
    } else {
        confusion_and_metrics(out, p);
    }
    let errors = p.errors_label_positive + p.errors_label_negative;
    w!(
        out,
        "<p class=\"{}\">Errors among label-positive: {} · among label-negative: {} (never counted as negatives). \
         Unlabelled evaluations: {}. Labelled and completed: {}.</p>\n</div>\n",
        if errors > 0 { "flag" } else { "note" },
        p.errors_label_positive,
        p.errors_label_negative,
        p.unlabelled,
        p.labelled
    );
}

/// The 2×2 table beside the measures drawn from it.
fn confusion_and_metrics(out: &mut String, p: &PluginEffectiveness) {
    let c = &p.confusion;
    let m = &p.metrics;
    out.push_str("<div class=\"row\">\n<table class=\"confusion\">\n");
    out.push_str(
        "<thead><tr><th></th><th>label positive</th><th>label negative</th><th>total</th></tr></thead>\n",
    );
    w!(
        out,
        "<tr><th>alert</th><td data-cell=\"tp\">{}</td><td data-cell=\"fp\">{}</td><td>{}</td></tr>\n",
        c.tp,
        c.fp,
        c.tp + c.fp
    );
    w!(
        out,
        "<tr><th>no alert</th><td data-cell=\"fn\">{}</td><td data-cell=\"tn\">{}</td><td>{}</td></tr>\n",
        c.fn_,
        c.tn,
        c.fn_ + c.tn
    );
    w!(
        out,
        "<tr><th>total</th><td>{}</td><td>{}</td><td>{}</td></tr>\n</table>\n",
        c.tp + c.fn_,
        c.fp + c.tn,
        c.total()
    );
    out.push_str(
        "<table class=\"metrics\">\n<thead><tr><th>Measure</th><th class=\"n\">estimate</th>\
         <th class=\"n\">95% CI</th><th class=\"n\">n</th><th>what it says</th></tr></thead>\n<tbody>\n",
    );
    for (name, proportion, meaning) in [
        (
            "Sensitivity",
            &m.sensitivity,
            "label-positive patients alerted",
        ),
        (
            "Specificity",
            &m.specificity,
            "label-negative patients not alerted",
        ),
        ("PPV", &m.ppv, "alerts that were right"),
        ("NPV", &m.npv, "silences that were right"),
        ("Alert rate", &m.alert_rate, "labelled patients alerted"),
        (
            "Prevalence",
            &m.prevalence,
            "labelled patients the labels call positive",
        ),
    ] {
        w!(
            out,
            "<tr data-metric=\"{}\"><th>{name}</th><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td class=\"n\">{}/{}</td><td class=\"note\">{meaning}</td></tr>\n",
            name.to_lowercase().replace(' ', "-"),
            estimate(proportion),
            interval(proportion),
            proportion.successes,
            proportion.trials
        );
    }
    out.push_str("</tbody></table>\n</div>\n");
}

// ------------------------------------------------------------------------------------------
// 4. Subgroups.

/// Whether a subgroup's whole interval lies below the overall point estimate.
fn below_overall(subgroup: &Proportion, overall: &Proportion) -> bool {
    matches!((subgroup.ci95, overall.estimate), (Some((_, hi)), Some(est)) if hi < est)
}

fn subgroups_section(out: &mut String, e: Option<&Effectiveness>) {
    section_open(out, "subgroups");
    let Some(e) = e else {
        no_labels(out);
        section_close(out);
        return;
    };
    out.push_str(
        "<p>Sensitivity and specificity by sex, age band and the coding of the record. \
         <span class=\"flag\">▼</span> marks a subgroup whose 95% interval lies entirely below the plugin's \
         overall estimate. Small subgroups have wide intervals: no flag is not proof of equal performance.</p>\n",
    );
    let mut flags: Vec<String> = Vec::new();
    for p in &e.plugins {
        for g in &p.subgroups {
            for (name, sub, overall) in [
                (
                    "sensitivity",
                    &g.metrics.sensitivity,
                    &p.metrics.sensitivity,
                ),
                (
                    "specificity",
                    &g.metrics.specificity,
                    &p.metrics.specificity,
                ),
            ] {
                if below_overall(sub, overall) {
                    flags.push(format!(
                        "<strong>{}</strong>: {name} for {}={} is {} ({}) against {} overall",
                        escape(&p.plugin),
                        g.subgroup.dimension().as_str(),
                        escape(g.subgroup.value()),
                        estimate(sub),
                        interval(sub),
                        estimate(overall)
                    ));
                }
            }
        }
    }
    if flags.is_empty() {
        out.push_str("<p class=\"banner good\">No subgroup's interval lies entirely below its plugin's overall estimate.</p>\n");
    } else {
        w!(
            out,
            "<div class=\"banner\"><strong>{} subgroup figure(s) below the overall estimate:</strong><ul class=\"flags\">",
            flags.len()
        );
        for f in &flags {
            w!(out, "<li>{f}</li>");
        }
        out.push_str("</ul></div>\n");
    }
    for p in &e.plugins {
        subgroup_table(out, p);
    }
    section_close(out);
}

fn subgroup_row(
    out: &mut String,
    class: &str,
    label: &str,
    c: &livelab_host::trial::stats::Confusion,
    m: &livelab_host::trial::stats::Metrics,
    flags: [bool; 2],
) {
    let mark = |flag: bool| {
        if flag {
            "<span class=\"flag\">▼</span> "
        } else {
            ""
        }
    };
    w!(
        out,
        "<tr class=\"{class}\"><td>{label}</td><td class=\"n\">{}</td>{}{}{}{}<td class=\"n\">{}{}</td><td class=\"n\">{}{}</td></tr>\n",
        c.total(),
        num(c.tp),
        num(c.fn_),
        num(c.fp),
        num(c.tn),
        mark(flags[0]),
        with_interval(&m.sensitivity),
        mark(flags[1]),
        with_interval(&m.specificity),
    );
}

fn subgroup_table(out: &mut String, p: &PluginEffectiveness) {
    w!(
        out,
        "<div class=\"block\" id=\"subgroups-{}\">\n<h3>{}</h3>\n",
        anchor(&p.plugin),
        escape(&p.plugin)
    );
    if p.labelled == 0 {
        out.push_str("<p class=\"note\">No labelled evaluation completed: no subgroup figures.</p>\n</div>\n");
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table>\n<thead><tr><th>Subgroup</th><th class=\"n\">n</th><th class=\"n\">TP</th><th class=\"n\">FN</th>\
         <th class=\"n\">FP</th><th class=\"n\">TN</th><th class=\"n\">sensitivity (95% CI)</th>\
         <th class=\"n\">specificity (95% CI)</th></tr></thead>\n<tbody>\n",
    );
    subgroup_row(
        out,
        "overall",
        "all labelled",
        &p.confusion,
        &p.metrics,
        [false, false],
    );
    let mut groups: Vec<&SubgroupEffectiveness> = p.subgroups.iter().collect();
    // Sex, age, coding (the report's order); within a dimension, the summary's.
    groups.sort_by_key(|g| g.subgroup.dimension());
    let mut dimension = None;
    for g in groups {
        if dimension != Some(g.subgroup.dimension()) {
            w!(
                out,
                "<tr class=\"dim\"><th colspan=\"8\">{}</th></tr>\n",
                g.subgroup.dimension().as_str()
            );
            dimension = Some(g.subgroup.dimension());
        }
        let flags = [
            below_overall(&g.metrics.sensitivity, &p.metrics.sensitivity),
            below_overall(&g.metrics.specificity, &p.metrics.specificity),
        ];
        let class = if flags.contains(&true) { "flagged" } else { "" };
        subgroup_row(
            out,
            class,
            &escape(g.subgroup.value()).to_string(),
            &g.confusion,
            &g.metrics,
            flags,
        );
    }
    out.push_str("</tbody></table></div>\n</div>\n");
}

// ------------------------------------------------------------------------------------------
// 5. Paired comparison.

fn comparison_section(out: &mut String, e: Option<&Effectiveness>) {
    section_open(out, "comparison");
    match e {
        None => no_labels(out),
        Some(e) if e.comparisons.is_empty() => out.push_str(
            "<p class=\"note\">No paired comparison was defined in this trial \
             (a <code>[[compare]]</code> table names a baseline and a candidate plugin).</p>\n",
        ),
        Some(e) => {
            out.push_str(
                "<p>A candidate version against the baseline on the same patients and labels (shadow mode). \
                 Differences are candidate minus baseline in percentage points, with Newcombe's paired 95% interval; \
                 McNemar's test uses the discordant patients only.</p>\n",
            );
            for c in &e.comparisons {
                comparison_block(out, c);
            }
        }
    }
    section_close(out);
}

/// McNemar's test in words: the method, and the statistic when there is one.
fn mcnemar_method(m: &McNemar) -> String {
    match (m.method, m.statistic) {
        (McNemarMethod::ChiSquaredCc, Some(x)) => format!("χ² = {x:.2} (continuity-corrected)"),
        (McNemarMethod::ChiSquaredCc, None) => "χ² (continuity-corrected)".into(),
        (McNemarMethod::Exact, _) => "exact binomial".into(),
        (McNemarMethod::NoDiscordantPairs, _) => "nothing to test".into(),
    }
}

fn difference(d: &PairedDifference) -> String {
    match (d.estimate, d.ci95) {
        (Some(e), Some((lo, hi))) => format!(
            "{} <span class=\"ci\">({} to {})</span>",
            points(e),
            points(lo),
            points(hi)
        ),
        _ => "–".into(),
    }
}

/// A paired 2×2 table: rows baseline alert / no alert, columns candidate alert / no alert.
fn paired_table(out: &mut String, caption: &str, p: &Paired) {
    w!(
        out,
        "<table class=\"paired\">\n<caption class=\"note\">{caption} (n = {})</caption>\n\
         <thead><tr><th></th><th class=\"n\">candidate alert</th><th class=\"n\">candidate no alert</th></tr></thead>\n\
         <tr><th>baseline alert</th>{}{}</tr>\n<tr><th>baseline no alert</th>{}{}</tr>\n</table>\n",
        p.total(),
        num(p.both),
        num(p.only_a),
        num(p.only_b),
        num(p.neither)
    );
}

fn comparison_block(out: &mut String, c: &ComparisonReport) {
    w!(
        out,
        "<div class=\"block\" id=\"comparison-{}-vs-{}\">\n<h3>{} → {} <span class=\"note\">topic {}</span></h3>\n",
        anchor(&c.baseline),
        anchor(&c.candidate),
        escape(&c.baseline),
        escape(&c.candidate),
        escape(&c.topic)
    );
    w!(
        out,
        "<p><strong>{}</strong> patients evaluated by both with a label; {} left out (either plugin failed, or no label).</p>\n",
        c.patients,
        c.excluded
    );
    let (pos, neg) = (&c.label_positive, &c.label_negative);
    // Sensitivity: alerts among label-positive; specificity: silences among label-negative.
    let rows = [
        (
            "Sensitivity",
            Proportion::wilson(pos.both + pos.only_a, pos.total()),
            Proportion::wilson(pos.both + pos.only_b, pos.total()),
            &c.sensitivity_difference,
            &c.sensitivity_mcnemar,
        ),
        (
            "Specificity",
            Proportion::wilson(neg.neither + neg.only_b, neg.total()),
            Proportion::wilson(neg.neither + neg.only_a, neg.total()),
            &c.specificity_difference,
            &c.specificity_mcnemar,
        ),
    ];
    out.push_str(
        "<div class=\"scroll\"><table class=\"ab\">\n<thead><tr><th>Measure</th><th class=\"n\">baseline</th>\
         <th class=\"n\">candidate</th><th class=\"n\">difference, points (95% CI)</th><th>McNemar test</th></tr></thead>\n<tbody>\n",
    );
    for (name, base, cand, diff, test) in rows {
        w!(
            out,
            "<tr data-measure=\"{}\"><th>{name}</th><td class=\"n\">{}</td><td class=\"n\">{}</td><td class=\"n\">{}</td>\
             <td><strong>{}</strong><br><span class=\"note\">{} / {} discordant · {}</span></td></tr>\n",
            name.to_lowercase(),
            with_interval(&base),
            with_interval(&cand),
            difference(diff),
            p_value(test.p_value),
            test.b,
            test.c,
            mcnemar_method(test),
        );
    }
    out.push_str(
        "</tbody></table></div>\n<p class=\"note\">Baseline and candidate figures are on the paired patients only. \
         Discordant: patients alerted by the baseline only / by the candidate only, among label-positive patients \
         (sensitivity) or label-negative patients (specificity); McNemar's test uses these alone.</p>\n\
         <div class=\"row\">\n",
    );
    paired_table(out, "Label-positive patients: alerts", pos);
    paired_table(out, "Label-negative patients: alerts", neg);
    out.push_str("</div>\n");
    discordant_list(out, &c.discordant);
    out.push_str("</div>\n");
}

/// What a discordant patient means for the candidate.
fn change(d: &Discordant) -> &'static str {
    match (d.label, d.candidate_alert) {
        (true, true) => "candidate catches a missed patient",
        (true, false) => "candidate misses (baseline alerted)",
        (false, true) => "candidate adds a false alert",
        (false, false) => "candidate removes a false alert",
    }
}

fn alert_word(b: bool) -> &'static str {
    if b { "alert" } else { "no alert" }
}

fn discordant_list(out: &mut String, list: &[Discordant]) {
    w!(
        out,
        "<h4>Discordant patients for clinician review ({})</h4>\n",
        list.len()
    );
    if list.is_empty() {
        out.push_str(
            "<p class=\"note\">None: both versions alerted on exactly the same patients.</p>\n",
        );
        return;
    }
    out.push_str(
        "<div class=\"scroll\"><table class=\"long discordant\">\n<thead><tr><th class=\"n\">#</th><th>Record and source</th>\
         <th>Label</th><th>Baseline</th><th>Candidate</th><th>Change</th><th>Subgroups</th></tr></thead>\n<tbody>\n",
    );
    for (i, d) in list.iter().take(LIST_CAP).enumerate() {
        w!(
            out,
            "<tr><td class=\"n\">{}</td><td class=\"record\"><code><strong>{}</strong></code><br>\
             <code class=\"note wrap\">{}</code></td><td>{}</td><td class=\"nowrap\">{}</td><td class=\"nowrap\">{}</td>\
             <td>{}</td><td>{}</td></tr>\n",
            i + 1,
            escape(&d.record),
            escape(&d.source),
            if d.label { "positive" } else { "negative" },
            alert_word(d.baseline_alert),
            alert_word(d.candidate_alert),
            change(d),
            escape(
                &d.subgroups
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        );
    }
    out.push_str("</tbody></table></div>\n");
    if list.len() > LIST_CAP {
        w!(
            out,
            "<p class=\"note\">… and {} more discordant patients in summary.json.</p>\n",
            list.len() - LIST_CAP
        );
    }
}

// ------------------------------------------------------------------------------------------
// 6. Latency and fuel charts (inline SVG).

/// Series styles: a dash pattern each, so lines stay apart in black-and-white print.
const STYLES: [(&str, &str); 6] = [
    ("#1f4e79", ""),
    ("#b35900", "9 4"),
    ("#2e7d32", "2 3"),
    ("#6a1b9a", "10 3 2 3"),
    ("#8b1a1a", "5 2"),
    ("#37474f", "12 3 2 3 2 3"),
];

/// A tiny SVG builder; every text it is given is escaped.
struct Svg(String);

impl Svg {
    fn new(width: f64, height: f64, label: &str) -> Svg {
        Svg(format!(
            "<svg class=\"chart\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\">\n",
            escape(label)
        ))
    }

    fn line(&mut self, (x1, y1): (f64, f64), (x2, y2): (f64, f64), attrs: &str) {
        w!(
            self.0,
            "<line x1=\"{x1:.1}\" y1=\"{y1:.1}\" x2=\"{x2:.1}\" y2=\"{y2:.1}\" {attrs}/>\n"
        );
    }

    fn polyline(&mut self, points: &[(f64, f64)], attrs: &str) {
        self.0.push_str("<polyline fill=\"none\" points=\"");
        for (x, y) in points {
            w!(self.0, "{x:.1},{y:.1} ");
        }
        w!(self.0, "\" {attrs}/>\n");
    }

    fn text(&mut self, (x, y): (f64, f64), anchor: &str, text: &str) {
        w!(
            self.0,
            "<text x=\"{x:.1}\" y=\"{y:.1}\" text-anchor=\"{anchor}\">{}</text>\n",
            escape(text)
        );
    }

    fn raw(&mut self, element: &str) {
        self.0.push_str(element);
        self.0.push('\n');
    }

    fn finish(mut self) -> String {
        self.0.push_str("</svg>\n");
        self.0
    }
}

/// The stroke attributes of series `i`.
fn series_attrs(i: usize, width: f64) -> String {
    let (colour, dash) = STYLES[i % STYLES.len()];
    let dash = if dash.is_empty() {
        String::new()
    } else {
        format!(" stroke-dasharray=\"{dash}\"")
    };
    format!(
        "class=\"series\" stroke=\"{colour}\" stroke-width=\"{width}\" stroke-linejoin=\"round\"{dash}"
    )
}

/// A base-10 logarithmic axis from whole decades around the data to pixels.
struct LogAxis {
    lo: i32,
    hi: i32,
    x0: f64,
    x1: f64,
}

impl LogAxis {
    fn new(min: f64, max: f64, x0: f64, x1: f64) -> LogAxis {
        let lo = min.max(1e-3).log10().floor() as i32;
        let hi = (max.max(1e-3).log10().ceil() as i32).max(lo + 1);
        LogAxis { lo, hi, x0, x1 }
    }

    fn x(&self, value: f64) -> f64 {
        let t = (value.max(1e-3).log10() - f64::from(self.lo)) / f64::from(self.hi - self.lo);
        self.x0 + t.clamp(0.0, 1.0) * (self.x1 - self.x0)
    }

    /// Ticks at 1, 2 and 5 per decade as (value, label); 2 and 5 unlabelled past 3 decades.
    fn ticks(&self, label: fn(u64, i32) -> String) -> Vec<(f64, Option<String>)> {
        let mut ticks = Vec::new();
        for decade in self.lo..=self.hi {
            for m in [1u64, 2, 5] {
                if decade == self.hi && m > 1 {
                    break;
                }
                let value = m as f64 * 10f64.powi(decade);
                let labelled = m == 1 || self.hi - self.lo <= 3;
                ticks.push((value, labelled.then(|| label(m, decade))));
            }
        }
        ticks
    }
}

/// `m × 10^decade` written out: `0.5`, `20`, `5000`.
fn plain_tick(m: u64, decade: i32) -> String {
    if decade >= 0 {
        (m * 10u64.pow(decade as u32)).to_string()
    } else {
        format!("{:.*}", (-decade) as usize, m as f64 * 10f64.powi(decade))
    }
}

/// `m × 10^decade` with k/M/G suffixes: `500`, `2k`, `10M`.
fn si_tick(m: u64, decade: i32) -> String {
    let value = m * 10u64.pow(decade.max(0) as u32);
    match value {
        v if v >= 1_000_000_000 => format!("{}G", v / 1_000_000_000),
        v if v >= 1_000_000 => format!("{}M", v / 1_000_000),
        v if v >= 1_000 => format!("{}k", v / 1_000),
        v => v.to_string(),
    }
}

fn latency_section(out: &mut String, r: &RunSummary) {
    section_open(out, "latency");
    let measured: Vec<&PluginSummary> = r
        .plugins
        .iter()
        .filter(|p| !p.latency_cdf.is_empty() && p.latency_ns.is_some())
        .collect();
    if measured.is_empty() {
        out.push_str("<p class=\"note\">No evaluation ran: nothing to chart.</p>\n");
        section_close(out);
        return;
    }
    if let Some((p, d)) = measured
        .iter()
        .filter_map(|p| p.latency_ns.as_ref().map(|d| (p, d)))
        .max_by_key(|(_, d)| d.max)
    {
        let deadline_ns = p.plugin.limits.deadline_ms as f64 * 1e6;
        w!(
            out,
            "<p>The slowest single evaluation took <strong>{} µs</strong> ({}), {} of its {} ms deadline.</p>\n",
            micros(d.max),
            escape(&p.plugin.id),
            if deadline_ns > 0.0 {
                pct(d.max as f64 / deadline_ns)
            } else {
                "–".into()
            },
            p.plugin.limits.deadline_ms
        );
    }
    let min = measured
        .iter()
        .flat_map(|p| p.latency_cdf.iter().map(|&(_, ns)| ns))
        .min()
        .unwrap_or(1);
    let max = measured
        .iter()
        .flat_map(|p| p.latency_cdf.iter().map(|&(_, ns)| ns))
        .max()
        .unwrap_or(1);
    let mut figure = 0;
    for group in measured.chunks(STYLES.len()) {
        figure += 1;
        out.push_str("<figure>\n");
        out.push_str(&latency_chart(
            group,
            min as f64 / 1000.0,
            max as f64 / 1000.0,
        ));
        w!(
            out,
            "<figcaption>Figure {figure}. Cumulative distribution of the latency per evaluation \
             (share of evaluations at or below each time; log-scaled time axis in µs). \
             ● marks the median (p50), □ the 99th percentile (p99).</figcaption>\n</figure>\n"
        );
    }
    let fuelled: Vec<&PluginSummary> = r.plugins.iter().filter(|p| p.fuel.is_some()).collect();
    if !fuelled.is_empty() {
        out.push_str("<figure>\n");
        out.push_str(&fuel_chart(&fuelled));
        w!(
            out,
            "<figcaption>Figure {}. Fuel per evaluation (deterministic CPU work, log scale): ● median, \
             thick bar to p99, thin line to the maximum.</figcaption>\n</figure>\n",
            figure + 1
        );
    }
    section_close(out);
}

fn latency_chart(plugins: &[&PluginSummary], min_us: f64, max_us: f64) -> String {
    let (width, left, right, top, plot) = (760.0, 64.0, 720.0, 14.0, 250.0);
    let bottom = top + plot;
    let legend_top = bottom + 62.0;
    let height = legend_top + 20.0 * plugins.len() as f64 + 4.0;
    let axis = LogAxis::new(min_us, max_us, left, right);
    let y = |q: f64| bottom - q * plot;
    let mut svg = Svg::new(
        width,
        height,
        "Latency per evaluation: cumulative distribution per plugin",
    );
    for (q, label) in [
        (0.0, "0%"),
        (0.25, "25%"),
        (0.5, "50%"),
        (0.75, "75%"),
        (1.0, "100%"),
    ] {
        svg.line((left, y(q)), (right, y(q)), "class=\"grid\"");
        svg.text((left - 6.0, y(q) + 4.0), "end", label);
    }
    for (value, label) in axis.ticks(plain_tick) {
        let x = axis.x(value);
        svg.line((x, top), (x, bottom), "class=\"grid\"");
        svg.line(
            (x, bottom),
            (x, bottom + if label.is_some() { 5.0 } else { 3.0 }),
            "class=\"axis\"",
        );
        if let Some(label) = label {
            svg.text((x, bottom + 18.0), "middle", &label);
        }
    }
    for (q, label) in [(0.5, "p50"), (0.99, "p99")] {
        svg.line((left, y(q)), (right, y(q)), "class=\"ref\"");
        svg.text((right + 4.0, y(q) + 4.0), "start", label);
    }
    svg.line((left, top), (left, bottom), "class=\"axis\"");
    svg.line((left, bottom), (right, bottom), "class=\"axis\"");
    svg.text(
        ((left + right) / 2.0, bottom + 38.0),
        "middle",
        "latency per evaluation (µs, log scale)",
    );
    svg.raw(&format!(
        "<text transform=\"translate(14 {:.1}) rotate(-90)\" text-anchor=\"middle\">evaluations at or below</text>",
        top + plot / 2.0
    ));
    for (i, p) in plugins.iter().enumerate() {
        let points: Vec<(f64, f64)> = p
            .latency_cdf
            .iter()
            .map(|&(q, ns)| (axis.x(ns as f64 / 1000.0), y(q)))
            .collect();
        svg.polyline(&points, &series_attrs(i, 2.0));
        let (colour, _) = STYLES[i % STYLES.len()];
        if let Some(d) = &p.latency_ns {
            let (x50, x99) = (axis.x(d.p50 as f64 / 1000.0), axis.x(d.p99 as f64 / 1000.0));
            svg.raw(&format!(
                "<circle class=\"dot\" cx=\"{x50:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"{colour}\" stroke=\"{colour}\"/>",
                y(0.5)
            ));
            svg.raw(&format!(
                "<rect class=\"box\" x=\"{:.1}\" y=\"{:.1}\" width=\"8\" height=\"8\" fill=\"#fff\" stroke=\"{colour}\" stroke-width=\"1.6\"/>",
                x99 - 4.0,
                y(0.99) - 4.0
            ));
            let ly = legend_top + 20.0 * i as f64;
            svg.line((left, ly), (left + 46.0, ly), &series_attrs(i, 2.0));
            svg.text(
                (left + 56.0, ly + 4.0),
                "start",
                &format!(
                    "{} {}: p50 {} µs · p99 {} µs · max {} µs",
                    p.plugin.id,
                    p.plugin.version,
                    micros(d.p50),
                    micros(d.p99),
                    micros(d.max)
                ),
            );
        }
    }
    svg.finish()
}

fn fuel_chart(plugins: &[&PluginSummary]) -> String {
    let (width, left, right, top, row) = (760.0, 24.0, 736.0, 8.0, 44.0);
    let bottom = top + row * plugins.len() as f64;
    let height = bottom + 46.0;
    let values = plugins.iter().filter_map(|p| p.fuel.as_ref());
    let min = values.clone().map(|d| d.p50).min().unwrap_or(1).max(1);
    let max = values.map(|d| d.max).max().unwrap_or(1).max(1);
    let axis = LogAxis::new(min as f64, max as f64, left, right);
    let mut svg = Svg::new(width, height, "Fuel per evaluation per plugin");
    for (value, label) in axis.ticks(si_tick) {
        let x = axis.x(value);
        svg.line((x, top), (x, bottom), "class=\"grid\"");
        svg.line((x, bottom), (x, bottom + 4.0), "class=\"axis\"");
        if let Some(label) = label {
            svg.text((x, bottom + 18.0), "middle", &label);
        }
    }
    svg.line((left, bottom), (right, bottom), "class=\"axis\"");
    svg.text(
        ((left + right) / 2.0, bottom + 38.0),
        "middle",
        "fuel per evaluation (log scale)",
    );
    for (i, p) in plugins.iter().enumerate() {
        let Some(d) = &p.fuel else { continue };
        let y0 = top + row * i as f64;
        let ly = y0 + 31.0;
        svg.text(
            (left + 2.0, y0 + 14.0),
            "start",
            &format!(
                "{}: p50 {} · p99 {} · max {}",
                p.plugin.id, d.p50, d.p99, d.max
            ),
        );
        let (x50, x99, xmax) = (
            axis.x(d.p50 as f64),
            axis.x(d.p99 as f64),
            axis.x(d.max as f64),
        );
        svg.line((x50, ly), (xmax, ly), &series_attrs(0, 1.5));
        svg.line((x50, ly), (x99, ly), &series_attrs(0, 6.0));
        svg.line((xmax, ly - 6.0), (xmax, ly + 6.0), &series_attrs(0, 1.5));
        let (colour, _) = STYLES[0];
        svg.raw(&format!(
            "<circle class=\"dot\" cx=\"{x50:.1}\" cy=\"{ly:.1}\" r=\"5\" fill=\"{colour}\" stroke=\"#fff\" stroke-width=\"1.5\"/>"
        ));
    }
    svg.finish()
}

// ------------------------------------------------------------------------------------------
// 7. Errors.

fn errors_section(out: &mut String, r: &RunSummary) {
    section_open(out, "errors");
    let failed: u64 = r.plugins.iter().map(|p| p.evaluations - p.ok).sum();
    out.push_str("<h3>Failed evaluations</h3>\n");
    if failed == 0 {
        out.push_str("<p class=\"note\">No evaluation failed.</p>\n");
    } else {
        out.push_str(
            "<div class=\"scroll\"><table class=\"long\">\n<thead><tr><th>Plugin</th><th>Cause</th>\
             <th class=\"n\">count</th><th class=\"n\">of evaluations</th><th>Example message</th></tr></thead>\n<tbody>\n",
        );
        for p in &r.plugins {
            for (cause, c) in &p.errors {
                w!(
                    out,
                    "<tr><td><strong>{}</strong></td><td class=\"nowrap\"><code>{}</code></td><td class=\"n\">{}</td>\
                     <td class=\"n\">{}</td><td class=\"wrap\"><code>{}</code></td></tr>\n",
                    escape(&p.plugin.id),
                    cause,
                    c.count,
                    if p.evaluations > 0 {
                        pct(c.count as f64 / p.evaluations as f64)
                    } else {
                        "–".into()
                    },
                    escape(&c.example)
                );
            }
        }
        out.push_str("</tbody></table></div>\n");
    }
    w!(
        out,
        "<h3>Unreadable records ({})</h3>\n",
        r.record_errors.len()
    );
    if r.record_errors.is_empty() {
        out.push_str("<p class=\"note\">Every record was read.</p>\n");
    } else {
        out.push_str(
            "<div class=\"scroll\"><table class=\"long\">\n<thead><tr><th>Source</th><th>Record</th>\
             <th>Why it could not be read</th></tr></thead>\n<tbody>\n",
        );
        for e in r.record_errors.iter().take(LIST_CAP) {
            w!(
                out,
                "<tr><td><code class=\"hash\">{}</code></td><td><code>{}</code></td><td>{}</td></tr>\n",
                escape(&e.source),
                escape(e.record.as_deref().unwrap_or("–")),
                escape(&e.message)
            );
        }
        out.push_str("</tbody></table></div>\n");
        if r.record_errors.len() > LIST_CAP {
            w!(
                out,
                "<p class=\"note\">… and {} more in summary.json.</p>\n",
                r.record_errors.len() - LIST_CAP
            );
        }
    }
    section_close(out);
}

// ------------------------------------------------------------------------------------------
// 8. Data and mapping coverage.

/// A two-column table of counts, or a note when there are none.
fn count_table(
    out: &mut String,
    title: &str,
    key: &str,
    rows: &std::collections::BTreeMap<String, u64>,
) {
    w!(out, "<div><h4>{title}</h4>\n");
    if rows.is_empty() {
        out.push_str("<p class=\"note\">none</p></div>\n");
        return;
    }
    w!(
        out,
        "<table>\n<thead><tr><th>{key}</th><th class=\"n\">count</th></tr></thead>\n<tbody>\n"
    );
    for (name, n) in rows {
        w!(out, "<tr><td>{}</td>{}</tr>\n", escape(name), num(*n));
    }
    out.push_str("</tbody></table></div>\n");
}

fn data_section(out: &mut String, r: &RunSummary) {
    let i = &r.ingest;
    section_open(out, "data");
    w!(
        out,
        "<p>Ingest read <strong>{}</strong> file(s) holding <strong>{}</strong> FHIR resources{}. \
         Records with direct identifiers admitted: {}.</p>\n",
        i.files,
        i.resources,
        if i.bulk_partitions > 0 {
            format!(" (Bulk export, {} partitions)", i.bulk_partitions)
        } else {
            String::new()
        },
        i.identified_records_admitted
    );
    out.push_str("<div class=\"row\">\n");
    count_table(out, "Used, by type", "resource type", &i.used);
    count_table(
        out,
        "Skipped: types records do not hold",
        "resource type",
        &i.skipped,
    );
    count_table(out, "Dropped, by reason", "reason", &i.dropped);
    out.push_str("</div>\n");

    out.push_str("<h3>Codings and terminology maps</h3>\n");
    if i.codings.is_empty() {
        out.push_str("<p class=\"note\">No codings were read.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Code system</th><th class=\"n\">codings</th><th class=\"n\">mapped</th>\
             <th class=\"n\">without a mapping</th><th class=\"n\">mapped share</th></tr></thead>\n<tbody>\n",
        );
        for (system, c) in &i.codings {
            let translatable = c.mapped + c.unmapped;
            w!(
                out,
                "<tr><td>{}</td>{}{}{}<td class=\"n\">{}</td></tr>\n",
                escape(system),
                num(c.codings),
                num(c.mapped),
                num(c.unmapped),
                if translatable > 0 {
                    pct(c.mapped as f64 / translatable as f64)
                } else {
                    "<span class=\"note\">no map from it</span>".into()
                }
            );
        }
        out.push_str("</tbody></table>\n");
        out.push_str(
            "<p class=\"note\">Mapped share: of the codings in a system some map translates from, how many had a mapping. \
             Codings without one reach plugins only in their own system.</p>\n",
        );
    }
    out.push_str("<h4>Terminology maps loaded</h4>\n");
    if r.terminology.is_empty() {
        out.push_str("<p class=\"note\">No terminology maps were loaded.</p>\n");
    } else {
        out.push_str(
            "<table>\n<thead><tr><th>Map</th><th>Origin</th><th>From → to</th><th class=\"n\">codes mapped</th>\
             <th class=\"n\">documented non-mappings</th></tr></thead>\n<tbody>\n",
        );
        for m in &r.terminology {
            w!(
                out,
                "<tr><td><code class=\"hash\">{}</code></td><td><code>{}</code></td><td>{} → {}</td>{}{}</tr>\n",
                escape(&m.name),
                escape(&m.origin),
                escape(&m.source),
                escape(&m.target),
                num(m.codes as u64),
                num(m.not_applied as u64)
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("<h3>Unit conversions</h3>\n");
    if i.units.is_empty() {
        out.push_str("<p class=\"note\">No quantity needed converting.</p>\n");
    } else {
        out.push_str("<table>\n<thead><tr><th>Conversion</th><th class=\"n\">quantities</th></tr></thead>\n<tbody>\n");
        for (conversion, n) in &i.units {
            w!(out, "<tr><td>{}</td>{}</tr>\n", escape(conversion), num(*n));
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("<h3>Values withheld</h3>\n");
    if i.withheld.is_empty() {
        out.push_str(
            "<p class=\"note\">Every value of an analyte livelab normalises was in a unit it converts, and plausible.</p>\n",
        );
    } else {
        out.push_str(
            "<p>These values reached <strong>no plugin</strong>: their unit cannot be converted to the one plugins compare, \
             their codes name two analytes, or the value lies outside what a living patient's measurement can take.</p>\n\
             <table>\n<thead><tr><th>Reason</th><th class=\"n\">values</th><th>first seen</th></tr></thead>\n<tbody>\n",
        );
        for (reason, seen) in &i.withheld {
            w!(
                out,
                "<tr><td>{}</td>{}<td>{}</td></tr>\n",
                escape(reason),
                num(seen.count),
                escape(&seen.first)
            );
        }
        out.push_str("</tbody></table>\n");
    }
    out.push_str("<h3>Passed over</h3>\n");
    if i.passed_over.is_empty() {
        out.push_str(
            "<p class=\"note\">Every file and Bundle entry in the export held patient data.</p>\n",
        );
    } else {
        out.push_str(
            "<p>These parts of the export held no patient data livelab reads and were passed over. \
             Check that none of them should have held patients.</p>\n\
             <table id=\"passed-over\">\n<thead><tr><th>What</th><th class=\"n\">count</th><th>where</th></tr></thead>\n<tbody>\n",
        );
        for (reason, seen) in &i.passed_over {
            let mut places: Vec<&str> = seen.places().collect();
            if seen.count > places.len() as u64 {
                places.push("...");
            }
            w!(
                out,
                "<tr><td>{}</td>{}<td>{}</td></tr>\n",
                escape(reason),
                num(seen.count),
                escape(&places.join("; "))
            );
        }
        out.push_str("</tbody></table>\n");
    }
    if i.byte_order_marks > 0 {
        w!(
            out,
            "<p class=\"note\">{} file(s) started with a UTF-8 byte-order mark, which was dropped.</p>\n",
            i.byte_order_marks
        );
    }
    coverage_table(out, r);
    section_close(out);
}

/// Per plugin: what its declared needs could not reach in these records, what was withheld
/// from it, and what reached it only through a terminology map.
fn coverage_table(out: &mut String, r: &RunSummary) {
    out.push_str("<h3>Coverage per plugin</h3>\n");
    let rows: Vec<(&str, String, u64, String)> = r
        .plugins
        .iter()
        .flat_map(|p| {
            let c = &p.coverage;
            let id = p.plugin.id.as_str();
            let unreachable = c
                .unreachable
                .iter()
                .map(move |(what, n)| (id, "unreachable".to_string(), *n, what.clone()));
            let withheld = c.withheld.iter().map(move |(reason, w)| {
                (
                    id,
                    "withheld".to_string(),
                    w.count,
                    format!("{reason}; first: {}", w.example),
                )
            });
            let through_map = c
                .through_map
                .iter()
                .map(move |(code, n)| (id, "only through a map".to_string(), *n, code.clone()));
            unreachable.chain(withheld).chain(through_map)
        })
        .collect();
    if rows.is_empty() {
        out.push_str(
            "<p class=\"note\">Every item of a section a plugin declares was coded in a system it declares, \
             no value it reads was withheld, and nothing reached it only through a map.</p>\n",
        );
        return;
    }
    out.push_str(
        "<p>Items of a section a plugin reads (within its look-back) that it <strong>never saw</strong>: \
         coded only in systems it does not declare and no map reaches (a terminology map would make them visible), \
         or values withheld from it. Items that reached it only through a map are listed so that the map can be reviewed.</p>\n\
         <table id=\"coverage\">\n<thead><tr><th>Plugin</th><th>What</th><th class=\"n\">items</th><th>Detail</th></tr></thead>\n<tbody>\n",
    );
    for (id, what, n, detail) in rows {
        w!(
            out,
            "<tr><td>{}</td><td>{what}</td>{}<td>{}</td></tr>\n",
            escape(id),
            num(n),
            escape(&detail)
        );
    }
    out.push_str("</tbody></table>\n");
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use livelab_host::IngestStats;
    use livelab_host::plugin::Cause;
    use livelab_host::run::{
        CardCounts, CauseSummary, PluginIdentity, RecordCounts, RecordErrorSummary, SUMMARY_SCHEMA,
    };
    use livelab_host::trial::{TRIAL_SUMMARY_SCHEMA, TrialInfo};

    use super::*;

    /// A run of one plugin that failed once with a hostile message, without labels.
    fn summary(error_message: &str) -> TrialSummary {
        let plugin = PluginSummary {
            plugin: PluginIdentity {
                id: "evil".into(),
                name: "Evil <b>plugin</b>".into(),
                version: "1.0.0".into(),
                sha256: "0".repeat(64),
                path: "/plugins/evil".into(),
                manifest_sha256: None,
                signature: SignatureStatus::Invalid {
                    reason: "<img src=x onerror=alert(2)>".into(),
                },
                pinned: false,
                data_grant: None,
                data_needs: Vec::new(),
                limits: Limits::default(),
            },
            evaluations: 2,
            ok: 1,
            errors: BTreeMap::from([(
                Cause::PluginError,
                CauseSummary {
                    count: 1,
                    example: error_message.into(),
                },
            )]),
            cards: CardCounts::default(),
            patients_with_cards: 0,
            latency_ns: None,
            latency_cdf: Vec::new(),
            instantiate_ns: None,
            peak_memory_bytes: None,
            fuel: None,
            fuel_lower_bounds: 0,
            coverage: Default::default(),
            evaluations_per_second_per_core: 0.0,
        };
        TrialSummary {
            schema: TRIAL_SUMMARY_SCHEMA.into(),
            trial: TrialInfo {
                name: "t & <i>u</i>".into(),
                region: "r".into(),
                description: None,
                file: "trial.toml".into(),
                sha256: "1".repeat(64),
                allow_unsigned: true,
                trust: None,
                labels: None,
                shards: None,
                decision_log: None,
            },
            run: RunSummary {
                schema: SUMMARY_SCHEMA.into(),
                livelab_version: "0".into(),
                evaluation_date: "2026-11-01".parse().unwrap(),
                seed: 0,
                records_source: "records".into(),
                records: RecordCounts {
                    read: 3,
                    evaluated: 2,
                    errors: 1,
                },
                record_errors: vec![RecordErrorSummary {
                    source: "x.json".into(),
                    record: Some("\"><script>alert(3)</script>".into()),
                    message: "bad <data>".into(),
                }],
                ingest: IngestStats::default(),
                terminology: Vec::new(),
                identifiers_allowed: true,
                limits: Limits::default(),
                workers: 1,
                wall_ms: 1.0,
                host_peak_rss_bytes: None,
                evaluations_per_second: 2.0,
                plugins: vec![plugin],
                case_mix: Default::default(),
            },
            effectiveness: None,
        }
    }

    #[test]
    fn everything_from_the_summary_is_escaped() {
        let html = render(&summary("<script>alert(1)</script>"));
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"));
        assert!(html.contains("&lt;img src=x onerror=alert(2)&gt;"));
        assert!(html.contains("<title>Trial report: t &amp; &lt;i&gt;u&lt;/i&gt;</title>"));
        assert!(!html.contains("<script"), "a script element got through");
        assert!(!html.contains("<img"), "an img element got through");
        assert!(!html.contains("<i>u</i>") && !html.contains("<b>plugin</b>"));
    }

    #[test]
    fn every_section_and_safety_warning_renders_without_labels() {
        let html = render(&summary("boom"));
        for (id, _) in SECTIONS {
            assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
        }
        for needle in [
            "unsigned plugins were allowed (local authoring); not valid for a regional decision",
            "Identifiers allowed",
            "INVALID SIGNATURE",
            "NOT PINNED",
            "No labels file",
            "1 evaluation(s) failed",
        ] {
            assert!(html.contains(needle), "{needle}");
        }
        let mut labelled = summary("boom");
        labelled.effectiveness = Some(Effectiveness {
            labels: "labels.csv".into(),
            plugins: Vec::new(),
            comparisons: Vec::new(),
        });
        let html = render(&labelled);
        assert!(html.contains("No paired comparison was defined"));
        assert!(html.contains("Not judged against labels"));
    }

    #[test]
    fn escape_and_formats() {
        assert_eq!(
            escape(r#"a&b<c>"d"'e"#).to_string(),
            "a&amp;b&lt;c&gt;&quot;d&quot;&#39;e"
        );
        assert_eq!(escape("plain µs").to_string(), "plain µs");
        assert_eq!(anchor("a b/c-d_e"), "a-b-c-d_e");
        assert_eq!(bytes(64 << 20), "64 MiB");
        assert_eq!(bytes(1115135), "1.1 MiB");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(points(-0.007326), "-0.7");
        assert_eq!(p_value(0.0004), "p &lt; 0.001");
        assert_eq!(p_value(0.5), "p = 0.500");
        assert_eq!(plain_tick(5, -1), "0.5");
        assert_eq!(plain_tick(2, 3), "2000");
        assert_eq!(si_tick(2, 4), "20k");
    }

    #[test]
    fn a_subgroup_is_flagged_only_when_its_interval_is_below_the_overall_estimate() {
        let overall = Proportion::wilson(90, 100);
        assert!(below_overall(&Proportion::wilson(10, 20), &overall));
        assert!(!below_overall(&Proportion::wilson(3, 4), &overall));
        assert!(!below_overall(&Proportion::wilson(0, 0), &overall));
    }

    #[test]
    fn log_axis_spans_whole_decades() {
        let axis = LogAxis::new(15.0, 3400.0, 0.0, 300.0);
        assert_eq!((axis.lo, axis.hi), (1, 4));
        assert_eq!(axis.x(10.0), 0.0);
        assert_eq!(axis.x(10_000.0), 300.0);
        let ticks = axis.ticks(plain_tick);
        assert_eq!(ticks.first().unwrap().1.as_deref(), Some("10"));
        assert_eq!(ticks.last().unwrap().1.as_deref(), Some("10000"));
        assert_eq!(ticks.len(), 10);
    }
}
