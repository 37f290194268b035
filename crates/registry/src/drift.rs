//! The drift watch: does a plugin still behave, across successive runs of one region, as it
//! did before? Pure functions over a [`Series`], so that `livelab runs drift` and the
//! dashboard compute the same flags.
//!
//! For each run of a series (ordered by evaluation date) the **baseline** is every earlier
//! run of the series that raised no flag, pooled. Against it:
//!
//! * **alert rate** on a p-chart: centre `p̄` = the baseline's alerts over its labelled
//!   evaluations, limits `p̄ ± k·√(p̄(1−p̄)/nᵢ)` for the run's own `nᵢ` (k = 3 by default),
//!   clamped to [0, 1]. A run outside the limits is flagged.
//! * **sensitivity and specificity** with 95 % Wilson intervals: a run whose interval does
//!   not overlap the baseline's pooled interval is flagged (a real change, not noise at
//!   these counts).
//! * **case mix**: the population stability index `Σ (aᵢ − eᵢ)·ln(aᵢ/eᵢ)` of the run's
//!   records over the baseline's, per dimension (age band, sex, coding origin); 0.1–0.25 is
//!   the conventional "moderate" shift, 0.25 or more ("major") is flagged. Shares are
//!   floored at [`PSI_FLOOR`] so that an empty band does not make the index infinite.
//!
//! A flagged run does not join the baseline, so one bad export does not widen the limits
//! for the next. A series is one component: a new version starts a new series and is
//! never compared with the old one's runs (see [`crate::SeriesKey`]).

use std::collections::BTreeMap;

use jiff::civil::Date;
use livelab_host::run::outcome::{Dimension, Subgroup};
use livelab_host::trial::stats::{Confusion, Proportion};
use serde::{Deserialize, Serialize};

use crate::model::{RunId, Series, SeriesKey};

/// The smallest share a band counts with in the stability index.
pub const PSI_FLOOR: f64 = 1e-4;

/// What counts as drift.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftOptions {
    /// The p-chart's limits, in standard errors (3: Shewhart's).
    pub sigma: f64,
    /// A case-mix stability index at or above this is flagged (0.25: "major shift").
    pub psi_flag: f64,
    /// Earlier unflagged runs needed before a run is judged.
    pub min_baseline: usize,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            sigma: 3.0,
            psi_flag: 0.25,
            min_baseline: 1,
        }
    }
}

/// A series with each run judged against its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SeriesDrift {
    pub key: SeriesKey,
    pub version: String,
    pub points: Vec<DriftPoint>,
}

impl SeriesDrift {
    /// Whether any run of the series raised a flag.
    pub fn flagged(&self) -> bool {
        self.points.iter().any(|p| !p.flags.is_empty())
    }
}

/// One run of a series, judged.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DriftPoint {
    pub run: RunId,
    pub trial: String,
    pub evaluation_date: Date,
    /// Alerts among labelled evaluations, with its Wilson interval.
    pub alert_rate: Proportion,
    /// The p-chart limits for this run; `None` while the baseline is too short.
    pub limits: Option<ControlLimits>,
    pub sensitivity: Proportion,
    pub specificity: Proportion,
    /// The pooled baseline this run was judged against; `None` while it is too short.
    pub baseline: Option<Baseline>,
    /// The case-mix stability index per dimension, where both sides have records.
    pub case_mix: Vec<CaseMixShift>,
    pub flags: Vec<Flag>,
}

/// A p-chart's centre line and 3-sigma (or `sigma`) limits for one run.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct ControlLimits {
    pub centre: f64,
    pub lower: f64,
    pub upper: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// How many earlier runs are pooled.
    pub runs: usize,
    pub sensitivity: Proportion,
    pub specificity: Proportion,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CaseMixShift {
    pub dimension: Dimension,
    pub psi: f64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    Up,
    Down,
}

/// Why a run was flagged.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "measure", rename_all = "kebab-case")]
pub enum Flag {
    /// The alert rate left the p-chart's limits.
    AlertRate {
        direction: Direction,
        rate: f64,
        limits: ControlLimits,
    },
    /// The sensitivity's interval does not overlap the baseline's.
    Sensitivity {
        direction: Direction,
        run: Proportion,
        baseline: Proportion,
    },
    Specificity {
        direction: Direction,
        run: Proportion,
        baseline: Proportion,
    },
    /// The case mix moved by at least the flag's stability index.
    CaseMix { dimension: Dimension, psi: f64 },
}

/// Judges every run of `series` against its baseline.
pub fn watch(series: &Series, options: &DriftOptions) -> SeriesDrift {
    let mut pooled = Confusion::default();
    let mut pooled_mix: BTreeMap<Subgroup, u64> = BTreeMap::new();
    let mut baseline_runs = 0;
    let mut points = Vec::with_capacity(series.points.len());
    for point in &series.points {
        let c = point.confusion;
        let metrics = c.metrics();
        let judged = baseline_runs >= options.min_baseline && pooled.total() > 0;
        let mut flags = Vec::new();
        let mut limits = None;
        let mut baseline = None;
        let mut case_mix = Vec::new();
        if judged {
            let base = pooled.metrics();
            limits = p_chart(&pooled, c.total(), options.sigma);
            if let (Some(l), Some(rate)) = (limits, metrics.alert_rate.estimate) {
                let direction = if rate > l.upper {
                    Some(Direction::Up)
                } else if rate < l.lower {
                    Some(Direction::Down)
                } else {
                    None
                };
                if let Some(direction) = direction {
                    flags.push(Flag::AlertRate {
                        direction,
                        rate,
                        limits: l,
                    });
                }
            }
            if let Some(direction) = disjoint(&metrics.sensitivity, &base.sensitivity) {
                flags.push(Flag::Sensitivity {
                    direction,
                    run: metrics.sensitivity,
                    baseline: base.sensitivity,
                });
            }
            if let Some(direction) = disjoint(&metrics.specificity, &base.specificity) {
                flags.push(Flag::Specificity {
                    direction,
                    run: metrics.specificity,
                    baseline: base.specificity,
                });
            }
            for dimension in [Dimension::Age, Dimension::Sex, Dimension::Coding] {
                if let Some(psi) = stability_index(&pooled_mix, &point.case_mix, dimension) {
                    case_mix.push(CaseMixShift { dimension, psi });
                    if psi >= options.psi_flag {
                        flags.push(Flag::CaseMix { dimension, psi });
                    }
                }
            }
            baseline = Some(Baseline {
                runs: baseline_runs,
                sensitivity: base.sensitivity,
                specificity: base.specificity,
            });
        }
        if flags.is_empty() {
            pooled.merge(c);
            for (&group, &n) in &point.case_mix {
                *pooled_mix.entry(group).or_default() += n;
            }
            baseline_runs += 1;
        }
        points.push(DriftPoint {
            run: point.run,
            trial: point.trial.clone(),
            evaluation_date: point.evaluation_date,
            alert_rate: metrics.alert_rate,
            limits,
            sensitivity: metrics.sensitivity,
            specificity: metrics.specificity,
            baseline,
            case_mix,
            flags,
        });
    }
    SeriesDrift {
        key: series.key.clone(),
        version: series.version.clone(),
        points,
    }
}

/// The p-chart limits for a run of `n` labelled evaluations against the pooled baseline.
pub fn p_chart(baseline: &Confusion, n: u64, sigma: f64) -> Option<ControlLimits> {
    let centre = baseline.metrics().alert_rate.estimate?;
    if n == 0 {
        return None;
    }
    let se = (centre * (1.0 - centre) / n as f64).sqrt();
    Some(ControlLimits {
        centre,
        lower: (centre - sigma * se).max(0.0),
        upper: (centre + sigma * se).min(1.0),
    })
}

/// Whether the run's interval lies wholly above or below the baseline's.
fn disjoint(run: &Proportion, baseline: &Proportion) -> Option<Direction> {
    let ((run_lo, run_hi), (base_lo, base_hi)) = (run.ci95?, baseline.ci95?);
    if run_hi < base_lo {
        Some(Direction::Down)
    } else if run_lo > base_hi {
        Some(Direction::Up)
    } else {
        None
    }
}

/// The population stability index of `actual` over `expected` in one dimension; `None`
/// when either has no records in it.
pub fn stability_index(
    expected: &BTreeMap<Subgroup, u64>,
    actual: &BTreeMap<Subgroup, u64>,
    dimension: Dimension,
) -> Option<f64> {
    let in_dimension = |mix: &BTreeMap<Subgroup, u64>| -> BTreeMap<Subgroup, u64> {
        mix.iter()
            .filter(|(g, _)| g.dimension() == dimension)
            .map(|(&g, &n)| (g, n))
            .collect()
    };
    let (e, a) = (in_dimension(expected), in_dimension(actual));
    let (e_total, a_total) = (e.values().sum::<u64>(), a.values().sum::<u64>());
    if e_total == 0 || a_total == 0 {
        return None;
    }
    let groups: std::collections::BTreeSet<Subgroup> = e.keys().chain(a.keys()).copied().collect();
    let share = |mix: &BTreeMap<Subgroup, u64>, total: u64, g: &Subgroup| {
        (mix.get(g).copied().unwrap_or(0) as f64 / total as f64).max(PSI_FLOOR)
    };
    Some(
        groups
            .iter()
            .map(|g| {
                let (ei, ai) = (share(&e, e_total, g), share(&a, a_total, g));
                (ai - ei) * (ai / ei).ln()
            })
            .sum(),
    )
}

#[cfg(test)]
mod tests {
    use livelab_host::run::outcome::{AgeBand, SexGroup};

    use super::*;
    use crate::model::SeriesPoint;

    /// A run of `n` labelled patients, `prevalence` of them positive, a plugin with the given
    /// sensitivity and specificity, and a case mix with `old` patients aged 75+.
    fn point(run: i64, n: u64, prevalence: f64, sens: f64, spec: f64, old: u64) -> SeriesPoint {
        let positives = (n as f64 * prevalence).round() as u64;
        let negatives = n - positives;
        let tp = (positives as f64 * sens).round() as u64;
        let tn = (negatives as f64 * spec).round() as u64;
        let case_mix = BTreeMap::from([
            (Subgroup::Age(AgeBand::From75), old),
            (Subgroup::Age(AgeBand::From40To64), n - old),
            (Subgroup::Sex(SexGroup::Female), n / 2),
            (Subgroup::Sex(SexGroup::Male), n - n / 2),
        ]);
        SeriesPoint {
            run: RunId(run),
            trial: format!("export {run}"),
            evaluation_date: Date::new(2026, 1, 1).unwrap() + jiff::Span::new().days(30 * run),
            confusion: Confusion {
                tp,
                fp: negatives - tn,
                fn_: positives - tp,
                tn,
            },
            label_errors: 0,
            case_mix,
        }
    }

    fn series(points: Vec<SeriesPoint>) -> Series {
        Series {
            key: SeriesKey {
                region: "r".into(),
                plugin: "p".into(),
                topic: "t".into(),
                sha256: "0".repeat(64),
            },
            version: "1.0.0".into(),
            points,
        }
    }

    /// Which runs were flagged, and for what.
    fn flagged(drift: &SeriesDrift) -> Vec<(i64, Vec<&'static str>)> {
        drift
            .points
            .iter()
            .filter(|p| !p.flags.is_empty())
            .map(|p| {
                let names = p
                    .flags
                    .iter()
                    .map(|f| match f {
                        Flag::AlertRate { .. } => "alert-rate",
                        Flag::Sensitivity { .. } => "sensitivity",
                        Flag::Specificity { .. } => "specificity",
                        Flag::CaseMix { .. } => "case-mix",
                    })
                    .collect();
                (p.run.0, names)
            })
            .collect()
    }

    #[test]
    fn a_stable_series_raises_no_flag() {
        // Small wobbles of prevalence, performance and case mix, as between exports.
        let stable = series(vec![
            point(1, 400, 0.20, 0.90, 0.95, 60),
            point(2, 410, 0.21, 0.88, 0.94, 64),
            point(3, 395, 0.19, 0.91, 0.95, 58),
            point(4, 405, 0.20, 0.89, 0.96, 61),
        ]);
        let drift = watch(&stable, &DriftOptions::default());
        assert_eq!(flagged(&drift), Vec::new(), "{drift:#?}");
        assert!(!drift.flagged());
        assert!(
            drift.points[0].limits.is_none(),
            "the first run has no baseline"
        );
        let limits = drift.points[3].limits.unwrap();
        assert!(limits.lower < limits.centre && limits.centre < limits.upper);
    }

    #[test]
    fn a_prevalence_jump_leaves_the_p_chart_and_a_sensitivity_drop_is_flagged() {
        let drifting = series(vec![
            point(1, 400, 0.20, 0.90, 0.95, 60),
            point(2, 400, 0.20, 0.90, 0.95, 60),
            // Twice the prevalence: many more alerts.
            point(3, 400, 0.40, 0.90, 0.95, 60),
            // A lab changed its code: the plugin misses half its patients.
            point(4, 400, 0.20, 0.45, 0.95, 60),
            // An older population.
            point(5, 400, 0.20, 0.90, 0.95, 200),
        ]);
        let drift = watch(&drifting, &DriftOptions::default());
        assert_eq!(
            flagged(&drift),
            vec![
                (3, vec!["alert-rate"]),
                (4, vec!["alert-rate", "sensitivity"]),
                (5, vec!["case-mix"]),
            ],
            "{drift:#?}"
        );
        // Flagged runs stay out of the baseline: run 5 is judged against runs 1 and 2.
        assert_eq!(drift.points[4].baseline.unwrap().runs, 2);
    }

    #[test]
    fn the_stability_index_is_zero_for_the_same_shares_and_grows_with_the_shift() {
        let mix = |old: u64, young: u64| {
            BTreeMap::from([
                (Subgroup::Age(AgeBand::From75), old),
                (Subgroup::Age(AgeBand::From18To39), young),
            ])
        };
        let psi = |a, b| stability_index(&mix(100, 300), &mix(a, b), Dimension::Age).unwrap();
        assert!(psi(200, 600).abs() < 1e-12);
        // 25 % → 50 % old: (0.5-0.25)ln2 + (0.5-0.75)ln(2/3) = 0.2747.
        assert!((psi(200, 200) - 0.274653).abs() < 1e-5, "{}", psi(200, 200));
        assert!(psi(300, 100) > psi(200, 200));
        assert_eq!(
            stability_index(&mix(1, 1), &mix(1, 1), Dimension::Sex),
            None
        );
    }

    #[test]
    fn p_chart_limits_are_three_standard_errors_around_the_baseline_rate() {
        let baseline = Confusion {
            tp: 10,
            fp: 10,
            fn_: 0,
            tn: 80,
        };
        let l = p_chart(&baseline, 100, 3.0).unwrap();
        assert!((l.centre - 0.2).abs() < 1e-12);
        assert!((l.upper - (0.2 + 3.0 * 0.04)).abs() < 1e-12);
        assert!((l.lower - (0.2 - 3.0 * 0.04)).abs() < 1e-12);
        assert_eq!(p_chart(&baseline, 0, 3.0), None);
        assert_eq!(p_chart(&Confusion::default(), 100, 3.0), None);
    }
}
