//! The geometry of the dashboard's one chart: proportions over successive runs, each with a
//! whisker (its 95 % Wilson interval) and, on a p-chart, its control limits as steps (the
//! limits move with each run's n). `templates/chart.html` draws it as inline SVG; every
//! number here is a coordinate, every string text the template escapes.

use crate::view::share;

/// One run's value on a chart.
#[derive(Clone, Debug)]
pub struct ChartValue {
    /// The x-axis label (the evaluation date).
    pub label: String,
    /// Where a click on the point goes (the run's page).
    pub href: String,
    /// The proportion, `None` without a denominator (no point drawn).
    pub estimate: Option<f64>,
    /// Its 95 % interval.
    pub interval: Option<(f64, f64)>,
    /// The p-chart's (centre, lower, upper) for this run, if it has them.
    pub limits: Option<(f64, f64, f64)>,
    pub mark: Mark,
    /// What the point's tooltip says.
    pub title: String,
}

/// How a point is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// An ordinary point.
    Plain,
    /// Judged and flagged: drawn red and larger.
    Flagged,
    /// Not judged (no baseline yet): drawn hollow.
    Unjudged,
}

impl Mark {
    fn class(self) -> &'static str {
        match self {
            Mark::Plain => "point",
            Mark::Flagged => "point flagged",
            Mark::Unjudged => "point unjudged",
        }
    }
}

pub struct Tick {
    pub at: f64,
    pub label: String,
}

pub struct Segment {
    pub x1: f64,
    pub y1: f64,
    pub x2: f64,
    pub y2: f64,
    pub class: &'static str,
}

pub struct Whisker {
    pub top: f64,
    pub bottom: f64,
}

pub struct Point {
    pub x: f64,
    pub y: f64,
    pub r: f64,
    pub whisker: Option<Whisker>,
    pub class: &'static str,
    pub title: String,
    pub href: String,
}

/// A chart laid out, in SVG user units.
pub struct Chart {
    pub title: String,
    pub width: f64,
    pub height: f64,
    pub left: f64,
    pub right: f64,
    pub top: f64,
    pub bottom: f64,
    pub y_ticks: Vec<Tick>,
    pub x_ticks: Vec<Tick>,
    /// The estimates joined, as a polyline's `points`.
    pub line: String,
    pub limits: Vec<Segment>,
    pub points: Vec<Point>,
    /// Whether any value had limits (the legend mentions them).
    pub has_limits: bool,
}

const WIDTH: f64 = 720.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 40.0;
/// At most this many dates under the axis; the others are in the tooltips.
const MAX_X_LABELS: usize = 8;

/// One decimal: enough for a screen, and short in the page.
fn round(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The top of the y axis: the smallest of 5 %, 10 %, 20 %, ... 100 % above every value drawn.
fn y_max(values: &[ChartValue]) -> f64 {
    let highest = values
        .iter()
        .flat_map(|v| [v.estimate, v.interval.map(|i| i.1), v.limits.map(|l| l.2)])
        .flatten()
        .fold(0.0_f64, f64::max);
    [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0]
        .into_iter()
        .find(|&top| highest <= top)
        .unwrap_or(1.0)
}

/// Lays out `values` (in run order) under `title`.
pub fn chart(title: String, values: &[ChartValue]) -> Chart {
    let (plot_left, plot_right) = (LEFT, WIDTH - RIGHT);
    let (plot_top, plot_bottom) = (TOP, HEIGHT - BOTTOM);
    let top_value = y_max(values);
    let y = |p: f64| {
        round(plot_bottom - (p.clamp(0.0, top_value) / top_value) * (plot_bottom - plot_top))
    };
    let step = (plot_right - plot_left) / values.len().max(1) as f64;
    let x = |i: usize| round(plot_left + (i as f64 + 0.5) * step);

    let y_ticks = (0..=5)
        .map(|k| {
            let p = top_value * f64::from(k) / 5.0;
            Tick {
                at: y(p),
                label: if top_value < 0.1 {
                    share(p)
                } else {
                    format!("{:.0} %", p * 100.0)
                },
            }
        })
        .collect();
    let every = values.len().div_ceil(MAX_X_LABELS).max(1);
    let x_ticks = values
        .iter()
        .enumerate()
        .filter(|(i, _)| i % every == 0)
        .map(|(i, v)| Tick {
            at: x(i),
            label: v.label.clone(),
        })
        .collect();

    let mut limits = Vec::new();
    let half = round(step * 0.42);
    for (i, v) in values.iter().enumerate() {
        if let Some((centre, lower, upper)) = v.limits {
            for (p, class) in [(centre, "centre"), (lower, "limit"), (upper, "limit")] {
                limits.push(Segment {
                    x1: round(x(i) - half),
                    y1: y(p),
                    x2: round(x(i) + half),
                    y2: y(p),
                    class,
                });
            }
        }
    }
    let points: Vec<Point> = values
        .iter()
        .enumerate()
        .filter_map(|(i, v)| {
            let estimate = v.estimate?;
            Some(Point {
                x: x(i),
                y: y(estimate),
                r: if v.mark == Mark::Flagged { 6.0 } else { 4.0 },
                whisker: v.interval.map(|(lo, hi)| Whisker {
                    top: y(hi),
                    bottom: y(lo),
                }),
                class: v.mark.class(),
                title: v.title.clone(),
                href: v.href.clone(),
            })
        })
        .collect();
    let line = points
        .iter()
        .map(|p| format!("{},{}", p.x, p.y))
        .collect::<Vec<_>>()
        .join(" ");
    Chart {
        title,
        width: WIDTH,
        height: HEIGHT,
        left: plot_left,
        right: plot_right,
        top: plot_top,
        bottom: plot_bottom,
        y_ticks,
        x_ticks,
        line,
        has_limits: !limits.is_empty(),
        limits,
        points,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(estimate: f64, limits: Option<(f64, f64, f64)>, mark: Mark) -> ChartValue {
        ChartValue {
            label: "2026-01-01".into(),
            href: "/runs/1".into(),
            estimate: Some(estimate),
            interval: Some((estimate * 0.5, (estimate * 1.5).min(1.0))),
            limits,
            mark,
            title: String::new(),
        }
    }

    #[test]
    fn points_sit_where_their_values_are_and_limits_bracket_them() {
        let values = [
            value(0.10, None, Mark::Unjudged),
            value(0.12, Some((0.10, 0.04, 0.16)), Mark::Plain),
            value(0.0, Some((0.11, 0.05, 0.17)), Mark::Flagged),
        ];
        let c = chart("t".into(), &values);
        // 0.17 is the highest value drawn, so the axis runs to 20 %.
        assert_eq!(c.y_ticks.last().unwrap().label, "20 %");
        assert_eq!(c.y_ticks.last().unwrap().at, c.top);
        assert_eq!(c.points.len(), 3);
        // A zero rate is on the x axis; a higher rate is higher up (smaller y).
        assert_eq!(c.points[2].y, c.bottom);
        assert!(c.points[1].y < c.points[0].y);
        assert_eq!(c.points[2].class, "point flagged");
        // Two runs with limits: centre, lower and upper for each.
        assert_eq!(c.limits.len(), 6);
        let lower = &c.limits[4];
        assert!(
            lower.y1 < c.points[2].y,
            "the flagged point is below its lower limit"
        );
        // Points left to right in run order.
        assert!(c.points.windows(2).all(|w| w[0].x < w[1].x));
    }
}
