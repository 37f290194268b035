//! Plain-text views for the terminal.

use std::fmt::Write as _;

use livelab_host::Plugin;
use livelab_host::run::{Distribution, RunSummary};
use livelab_host::text::escape_hidden;

fn micros(d: &Option<Distribution>, pick: fn(&Distribution) -> u64) -> String {
    d.as_ref()
        .map_or("-".into(), |d| format!("{:.1}", pick(d) as f64 / 1000.0))
}

/// The per-plugin summary table of a run.
pub fn render(summary: &RunSummary) -> String {
    let mut out = String::new();
    let r = &summary.records;
    writeln!(
        out,
        "{} records read, {} evaluated, {} unreadable · evaluation date {} · {} worker{} · {:.0} ms · {:.0} evaluations/s",
        r.read,
        r.evaluated,
        r.errors,
        summary.evaluation_date,
        summary.workers,
        if summary.workers == 1 { "" } else { "s" },
        summary.wall_ms,
        summary.evaluations_per_second
    )
    .unwrap();
    writeln!(out).unwrap();
    writeln!(
        out,
        "{:<22} {:>6} {:>6} {:>6} {:>5} {:>5} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "plugin",
        "evals",
        "ok",
        "errors",
        "info",
        "warn",
        "crit",
        "p50 µs",
        "p90 µs",
        "p99 µs",
        "max µs",
        "peak KiB"
    )
    .unwrap();
    for p in &summary.plugins {
        let errors: u64 = p.errors.values().map(|c| c.count).sum();
        writeln!(
            out,
            "{:<22} {:>6} {:>6} {:>6} {:>5} {:>5} {:>5} {:>9} {:>9} {:>9} {:>9} {:>9}",
            p.plugin.id,
            p.evaluations,
            p.ok,
            errors,
            p.cards.info,
            p.cards.warning,
            p.cards.critical,
            micros(&p.latency_ns, |d| d.p50),
            micros(&p.latency_ns, |d| d.p90),
            micros(&p.latency_ns, |d| d.p99),
            micros(&p.latency_ns, |d| d.max),
            p.peak_memory_bytes
                .as_ref()
                .map_or("-".into(), |d| (d.max / 1024).to_string()),
        )
        .unwrap();
    }
    for p in &summary.plugins {
        for (cause, c) in &p.errors {
            writeln!(
                out,
                "  {}: {} × {cause}, e.g. {}",
                p.plugin.id, c.count, c.example
            )
            .unwrap();
        }
    }
    if !summary.record_errors.is_empty() {
        writeln!(out, "\nunreadable records:").unwrap();
        for e in summary.record_errors.iter().take(10) {
            // File names and messages quote the export, which may hold anything.
            writeln!(
                out,
                "  {}: {}",
                escape_hidden(&e.source),
                escape_hidden(&e.message)
            )
            .unwrap();
        }
        if summary.record_errors.len() > 10 {
            writeln!(
                out,
                "  ... and {} more in summary.json",
                summary.record_errors.len() - 10
            )
            .unwrap();
        }
    }
    let dropped: u64 = summary.ingest.dropped.values().sum();
    if dropped > 0 {
        let reasons: Vec<String> = summary
            .ingest
            .dropped
            .iter()
            .map(|(reason, n)| format!("{n} {reason}"))
            .collect();
        writeln!(out, "\nresources not used: {}", reasons.join(", ")).unwrap();
    }
    if !summary.ingest.passed_over.is_empty() {
        let passed: Vec<String> = summary
            .ingest
            .passed_over
            .iter()
            .map(|(reason, seen)| {
                let places: Vec<_> = seen.places().take(3).map(escape_hidden).collect();
                let more = if seen.count > places.len() as u64 {
                    ", ..."
                } else {
                    ""
                };
                format!(
                    "{} × {} ({}{more})",
                    seen.count,
                    escape_hidden(reason),
                    places.join(", ")
                )
            })
            .collect();
        writeln!(
            out,
            "passed over, holding no patient data: {}",
            passed.join("; ")
        )
        .unwrap();
    }
    if summary.ingest.byte_order_marks > 0 {
        writeln!(
            out,
            "byte-order marks dropped: {} file(s) started with one",
            summary.ingest.byte_order_marks
        )
        .unwrap();
    }
    // Every code system the export used, mapped or not: a region sees at once whether its
    // data speaks a dialect no map translates and no plugin declares.
    let systems: Vec<String> = summary
        .ingest
        .codings
        .iter()
        .map(|(system, c)| {
            let system = escape_hidden(system);
            if c.mapped + c.unmapped > 0 {
                format!(
                    "{system} {} ({} mapped, {} without a mapping)",
                    c.codings, c.mapped, c.unmapped
                )
            } else {
                format!("{system} {} (no map)", c.codings)
            }
        })
        .collect();
    if !systems.is_empty() {
        writeln!(out, "codings by system: {}", systems.join("; ")).unwrap();
    }
    if !summary.ingest.units.is_empty() {
        let units: Vec<String> = summary
            .ingest
            .units
            .iter()
            .map(|(what, n)| format!("{n} × {what}"))
            .collect();
        writeln!(out, "units: {}", units.join("; ")).unwrap();
    }
    if !summary.ingest.withheld.is_empty() {
        let withheld: Vec<String> = summary
            .ingest
            .withheld
            .iter()
            .map(|(reason, seen)| format!("{} × {}", seen.count, escape_hidden(reason)))
            .collect();
        writeln!(
            out,
            "values withheld from every plugin: {}",
            withheld.join("; ")
        )
        .unwrap();
    }
    coverage(&mut out, summary);
    if summary.identifiers_allowed {
        writeln!(
            out,
            "identifiers ALLOWED (--allow-identifiers): {} record(s) carried direct identifiers",
            summary.ingest.identified_records_admitted
        )
        .unwrap();
    }
    out
}

/// Per plugin, what its declared needs could not reach: items coded in systems it does not
/// declare and no map reaches, and values withheld from it; and how much reached it only
/// through a map.
fn coverage(out: &mut String, summary: &RunSummary) {
    let mut lines = Vec::new();
    for p in &summary.plugins {
        let c = &p.coverage;
        let id = &p.plugin.id;
        for (what, n) in &c.unreachable {
            lines.push(format!("  {id}: {n} {} unreachable", escape_hidden(what)));
        }
        for (reason, w) in &c.withheld {
            lines.push(format!(
                "  {id}: {} × withheld ({}), e.g. {}",
                w.count,
                escape_hidden(reason),
                escape_hidden(&w.example)
            ));
        }
        let through_map: u64 = c.through_map.values().sum();
        if through_map > 0 {
            lines.push(format!(
                "  {id}: {through_map} item(s) reached it only through a terminology map ({} distinct codes)",
                c.through_map.len()
            ));
        }
    }
    if !lines.is_empty() {
        writeln!(out, "\ncoverage (what the plugins' declared codes miss):").unwrap();
        for line in lines {
            writeln!(out, "{line}").unwrap();
        }
    }
}

/// A plugin's identity and declared data needs, in plain words.
pub fn describe(plugin: &Plugin) -> String {
    let info = &plugin.info;
    let mut out = String::new();
    writeln!(out, "{} {} ({})", info.id, info.version, info.name).unwrap();
    writeln!(out, "  file:    {}", plugin.path.display()).unwrap();
    writeln!(out, "  sha256:  {}", plugin.sha256).unwrap();
    writeln!(out, "  about:   {}", info.description).unwrap();
    let hooks: Vec<&str> = info.hooks.iter().map(|h| h.as_str()).collect();
    writeln!(out, "  hooks:   {}", hooks.join(", ")).unwrap();
    writeln!(out, "  reads (besides age and sex):").unwrap();
    if info.data_needs.is_empty() {
        writeln!(out, "    nothing").unwrap();
    }
    for need in &info.data_needs {
        let codes = if need.codes.is_empty() {
            "ALL items".to_string()
        } else {
            need.codes
                .iter()
                .map(|f| format!("{} {}*", f.system.short_name(), f.prefix))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let window = need
            .look_back_days
            .map_or(String::new(), |d| format!(", last {d} days"));
        writeln!(out, "    {}: {codes}{window}", need.section.as_str()).unwrap();
    }
    out
}

fn percent(p: &livelab_host::trial::stats::Proportion) -> String {
    p.to_string()
}

/// Effectiveness per plugin against the labels, and the paired comparisons.
pub fn effectiveness(e: &livelab_host::trial::effectiveness::Effectiveness) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "effectiveness against {} (95 % Wilson intervals, %):",
        e.labels
    )
    .unwrap();
    writeln!(
        out,
        "{:<22} {:>4} {:>4} {:>4} {:>4} {:>19} {:>19} {:>19} {:>19} {:>7} {:>6}",
        "plugin",
        "TP",
        "FP",
        "FN",
        "TN",
        "sensitivity",
        "specificity",
        "PPV",
        "NPV",
        "alerts%",
        "errors"
    )
    .unwrap();
    for p in &e.plugins {
        let c = &p.confusion;
        writeln!(
            out,
            "{:<22} {:>4} {:>4} {:>4} {:>4} {:>19} {:>19} {:>19} {:>19} {:>7} {:>6}",
            p.plugin,
            c.tp,
            c.fp,
            c.fn_,
            c.tn,
            percent(&p.metrics.sensitivity),
            percent(&p.metrics.specificity),
            percent(&p.metrics.ppv),
            percent(&p.metrics.npv),
            p.alerts_per_100.map_or("-".into(), |r| format!("{r:.1}")),
            p.errors_label_positive + p.errors_label_negative,
        )
        .unwrap();
    }
    for c in &e.comparisons {
        writeln!(
            out,
            "\n{} → {} on {} patients: {} discordant; sensitivity {}, {}; specificity {}, {}",
            c.baseline,
            c.candidate,
            c.patients,
            c.discordant.len(),
            c.sensitivity_difference,
            c.sensitivity_mcnemar,
            c.specificity_difference,
            c.specificity_mcnemar,
        )
        .unwrap();
    }
    out
}

/// A live trial's session: its decisions and the feedback on each plugin's cards.
pub fn live(live: &livelab_host::trial::live::LiveSummary) -> String {
    let mut out = String::new();
    writeln!(
        out,
        "live session {} to {}: {} decisions ({} superseded by a later one of the same patient, {} at an order hook)",
        live.first_date, live.last_date, live.decisions, live.superseded, live.order_decisions
    )
    .unwrap();
    writeln!(
        out,
        "{:<22} {:>6} {:>9} {:>10} {:>9} {:>9}",
        "plugin", "cards", "accepted", "overridden", "accept%", "feedback%"
    )
    .unwrap();
    let rate = |r: Option<f64>| r.map_or("-".into(), |r| format!("{:.1}", r * 100.0));
    for p in &live.plugins {
        writeln!(
            out,
            "{:<22} {:>6} {:>9} {:>10} {:>9} {:>9}",
            p.plugin,
            p.cards_issued,
            p.feedback.accepted,
            p.feedback.overridden,
            rate(p.acceptance_rate()),
            rate(p.feedback_rate()),
        )
        .unwrap();
    }
    out
}
