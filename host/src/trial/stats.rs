//! Effectiveness statistics for clinical decision-support trials.
//!
//! A plugin raises an alert (yes/no) per patient; reference labels say who
//! should have been flagged. This module turns those counts into the figures an
//! evaluator reports, each with a 95 % interval chosen for good coverage at the
//! small counts trials often have:
//!
//! * [`Proportion::wilson`]: a rate with its Wilson score interval.
//! * [`Confusion`] / [`Metrics`]: sensitivity, specificity, PPV, NPV, ...
//! * [`Paired`] / [`PairedComparison`]: baseline A against candidate B on the
//!   same patients: [`mcnemar`] test and [`newcombe_paired_difference`].
//!
//! Every function is pure, never panics, and returns `None` (or `p = 1`) rather
//! than a number when the data cannot support one (zero denominators).

use serde::{Deserialize, Serialize};
use std::f64::consts::{LN_2, PI};

/// Two-sided 95 % standard normal quantile, z(0.975).
pub const Z95: f64 = 1.959963984540054;

/// Below this many discordant pairs [`mcnemar`] uses the exact binomial test.
pub const MCNEMAR_EXACT_BELOW: u64 = 25;

/// A proportion `successes / trials` with a 95 % Wilson score interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Proportion {
    pub successes: u64,
    pub trials: u64,
    /// `successes / trials`; `None` when `trials == 0` or `successes > trials`.
    pub estimate: Option<f64>,
    /// 95 % Wilson score interval `(lower, upper)`; `None` exactly when `estimate` is.
    pub ci95: Option<(f64, f64)>,
}

impl Proportion {
    /// Point estimate and 95 % Wilson score interval (Wilson 1927; recommended by
    /// Newcombe 1998, Stat Med 17:857).
    ///
    /// Wilson rather than the Wald `p ± z·√(p(1-p)/n)`: Wald collapses to a zero
    /// width at 0/n and n/n and undercovers at small n, while Wilson keeps close to
    /// nominal coverage and stays inside [0, 1]. Limits are
    /// `(2x + z² ± z·√(z² + 4x(n-x)/n)) / (2(n + z²))`, clamped to [0, 1]; the
    /// lower limit is exactly 0 when `x == 0` and the upper exactly 1 when `x == n`.
    pub fn wilson(successes: u64, trials: u64) -> Self {
        let w = wilson_interval(successes, trials);
        Self {
            successes,
            trials,
            estimate: w.map(|(p, _, _)| p),
            ci95: w.map(|(_, lo, hi)| (lo, hi)),
        }
    }

    /// The estimate in percent with one decimal, `92.5`; `None` when there is none.
    pub fn percent(&self) -> Option<String> {
        self.estimate.map(|e| format!("{:.1}", e * 100.0))
    }

    /// The 95 % interval in percent, `85.1–96.4`; `None` when there is none.
    pub fn interval_percent(&self) -> Option<String> {
        self.ci95
            .map(|(lo, hi)| format!("{:.1}–{:.1}", lo * 100.0, hi * 100.0))
    }
}

/// `92.5 (85.1–96.4)` in percent, or `–` when the denominator is empty: the one way the
/// terminal and the author checks write a proportion.
impl std::fmt::Display for Proportion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.percent(), self.interval_percent()) {
            (Some(e), Some(ci)) => write!(f, "{e} ({ci})"),
            _ => f.write_str("–"),
        }
    }
}

/// `(estimate, lower, upper)` of the 95 % Wilson interval, `None` if `n == 0` or `x > n`.
fn wilson_interval(x: u64, n: u64) -> Option<(f64, f64, f64)> {
    if n == 0 || x > n {
        return None;
    }
    let (xf, nf) = (x as f64, n as f64);
    let z2 = Z95 * Z95;
    let centre = 2.0 * xf + z2;
    let spread = Z95 * (z2 + 4.0 * xf * ((n - x) as f64) / nf).sqrt();
    let denom = 2.0 * (nf + z2);
    let p = xf / nf;
    // Clamping to [0, p] and [p, 1] makes the limits exact at x = 0 and x = n.
    let lo = ((centre - spread) / denom).clamp(0.0, p);
    let hi = ((centre + spread) / denom).clamp(p, 1.0);
    Some((p, lo, hi))
}

/// `100 · count / n` (e.g. alerts per 100 patients); `None` when `n == 0`.
pub fn rate_per_100(count: u64, n: u64) -> Option<f64> {
    (n > 0).then(|| 100.0 * count as f64 / n as f64)
}

/// Saturating sum of counts (totals never overflow, and never panic).
fn sum(counts: &[u64]) -> u64 {
    counts.iter().fold(0, |acc: u64, &c| acc.saturating_add(c))
}

/// 2×2 confusion counts of one classifier against the reference labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confusion {
    /// Alerted and label positive.
    pub tp: u64,
    /// Alerted but label negative.
    pub fp: u64,
    /// Not alerted but label positive.
    #[serde(rename = "fn")]
    pub fn_: u64,
    /// Not alerted and label negative.
    pub tn: u64,
}

/// Standard effectiveness measures of a [`Confusion`], each a Wilson [`Proportion`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Metrics {
    /// tp / (tp + fn): share of patients who should be flagged that were.
    pub sensitivity: Proportion,
    /// tn / (tn + fp): share of patients who should not be flagged that were not.
    pub specificity: Proportion,
    /// tp / (tp + fp): share of alerts that were right (positive predictive value).
    pub ppv: Proportion,
    /// tn / (tn + fn): share of silences that were right (negative predictive value).
    pub npv: Proportion,
    /// (tp + fn) / n: share of patients the labels say should be flagged.
    pub prevalence: Proportion,
    /// (tp + tn) / n: share classified correctly.
    pub accuracy: Proportion,
    /// (tp + fp) / n: share of patients alerted (alert burden).
    pub alert_rate: Proportion,
}

impl Confusion {
    /// Counts one patient: `predicted` = alert raised, `actual` = label positive.
    /// Counts saturate at `u64::MAX` instead of overflowing.
    pub fn add(&mut self, predicted: bool, actual: bool) {
        let cell = match (predicted, actual) {
            (true, true) => &mut self.tp,
            (true, false) => &mut self.fp,
            (false, true) => &mut self.fn_,
            (false, false) => &mut self.tn,
        };
        *cell = cell.saturating_add(1);
    }

    /// Adds another table's counts (e.g. pooling sites or strata), saturating.
    pub fn merge(&mut self, other: Self) {
        self.tp = sum(&[self.tp, other.tp]);
        self.fp = sum(&[self.fp, other.fp]);
        self.fn_ = sum(&[self.fn_, other.fn_]);
        self.tn = sum(&[self.tn, other.tn]);
    }

    /// Number of patients counted.
    pub fn total(&self) -> u64 {
        sum(&[self.tp, self.fp, self.fn_, self.tn])
    }

    /// All [`Metrics`]; a measure with an empty denominator has `estimate: None`.
    pub fn metrics(&self) -> Metrics {
        let (tp, fp, fn_, tn, n) = (self.tp, self.fp, self.fn_, self.tn, self.total());
        Metrics {
            sensitivity: Proportion::wilson(tp, sum(&[tp, fn_])),
            specificity: Proportion::wilson(tn, sum(&[tn, fp])),
            ppv: Proportion::wilson(tp, sum(&[tp, fp])),
            npv: Proportion::wilson(tn, sum(&[tn, fn_])),
            prevalence: Proportion::wilson(sum(&[tp, fn_]), n),
            accuracy: Proportion::wilson(sum(&[tp, tn]), n),
            alert_rate: Proportion::wilson(sum(&[tp, fp]), n),
        }
    }
}

/// Paired outcomes of a binary event (normally "alert raised") for baseline A and
/// candidate B on the same patients, usually within one stratum of the labels.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paired {
    /// Event under both A and B.
    pub both: u64,
    /// Event under A only (McNemar's `b`).
    pub only_a: u64,
    /// Event under B only (McNemar's `c`).
    pub only_b: u64,
    /// Event under neither.
    pub neither: u64,
}

impl Paired {
    /// Counts one patient (saturating).
    pub fn add(&mut self, event_a: bool, event_b: bool) {
        let cell = match (event_a, event_b) {
            (true, true) => &mut self.both,
            (true, false) => &mut self.only_a,
            (false, true) => &mut self.only_b,
            (false, false) => &mut self.neither,
        };
        *cell = cell.saturating_add(1);
    }

    /// Adds another table's counts (saturating).
    pub fn merge(&mut self, other: Self) {
        self.both = sum(&[self.both, other.both]);
        self.only_a = sum(&[self.only_a, other.only_a]);
        self.only_b = sum(&[self.only_b, other.only_b]);
        self.neither = sum(&[self.neither, other.neither]);
    }

    /// Number of patients.
    pub fn total(&self) -> u64 {
        sum(&[self.both, self.only_a, self.only_b, self.neither])
    }

    /// The same patients with the event negated ("no alert" instead of "alert").
    pub fn complement(&self) -> Self {
        let (both, neither) = (self.neither, self.both);
        Self {
            both,
            only_a: self.only_b,
            only_b: self.only_a,
            neither,
        }
    }

    /// McNemar test of equal event rates under A and B (see [`mcnemar`]).
    pub fn mcnemar(&self) -> McNemar {
        mcnemar(self.only_a, self.only_b)
    }

    /// Rate under B minus rate under A, with Newcombe's paired 95 % interval
    /// (see [`newcombe_paired_difference`]).
    pub fn difference(&self) -> PairedDifference {
        newcombe_paired_difference(self.both, self.only_a, self.only_b, self.neither)
    }
}

/// Baseline A and candidate B on the same patients, split by reference label.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PairedComparison {
    /// Alerts of A and B among patients the labels say should be flagged.
    pub label_positive: Paired,
    /// Alerts of A and B among patients the labels say should not be flagged.
    pub label_negative: Paired,
}

impl PairedComparison {
    /// Counts one patient: alert by A, alert by B, reference label.
    pub fn add(&mut self, alert_a: bool, alert_b: bool, actual: bool) {
        let (pos, neg) = (&mut self.label_positive, &mut self.label_negative);
        if actual { pos } else { neg }.add(alert_a, alert_b);
    }

    /// Adds another comparison's counts (saturating).
    pub fn merge(&mut self, other: Self) {
        self.label_positive.merge(other.label_positive);
        self.label_negative.merge(other.label_negative);
    }

    /// Sensitivity of B minus sensitivity of A, over label-positive patients.
    /// Its test is `label_positive.mcnemar()`.
    pub fn sensitivity_difference(&self) -> PairedDifference {
        self.label_positive.difference()
    }

    /// Specificity of B minus specificity of A, over label-negative patients (the
    /// event is "no alert"). Its test is `label_negative.mcnemar()`.
    pub fn specificity_difference(&self) -> PairedDifference {
        self.label_negative.complement().difference()
    }
}

/// How a [`McNemar`] p-value was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum McNemarMethod {
    /// Exact two-sided binomial test on the discordant pairs.
    #[serde(rename = "exact")]
    Exact,
    /// Chi-squared with 1 df and Edwards' continuity correction.
    #[serde(rename = "chi-squared-cc")]
    ChiSquaredCc,
    /// No discordant pairs: nothing to test, p = 1.
    #[serde(rename = "none")]
    NoDiscordantPairs,
}

/// Result of [`mcnemar`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct McNemar {
    /// Discordant pairs with the event under A only.
    pub b: u64,
    /// Discordant pairs with the event under B only.
    pub c: u64,
    pub method: McNemarMethod,
    /// Chi-squared statistic (only for [`McNemarMethod::ChiSquaredCc`]).
    pub statistic: Option<f64>,
    /// Two-sided p-value for "A and B have the same event rate".
    pub p_value: f64,
}

/// `McNemar p = 0.070 (exact; 1 vs 7 discordant)`: the p-value (`p < 0.001` below that), how
/// it was obtained and the discordant pairs (A only vs B only). The one way the terminal and
/// the dashboard write a McNemar test.
impl std::fmt::Display for McNemar {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.p_value < 0.001 {
            f.write_str("McNemar p < 0.001")?;
        } else {
            write!(f, "McNemar p = {:.3}", self.p_value)?;
        }
        let (b, c) = (self.b, self.c);
        match (self.method, self.statistic) {
            (McNemarMethod::NoDiscordantPairs, _) => f.write_str(" (no discordant pairs)"),
            (McNemarMethod::Exact, _) => write!(f, " (exact; {b} vs {c} discordant)"),
            (McNemarMethod::ChiSquaredCc, Some(x)) => {
                write!(f, " (χ² = {x:.2}; {b} vs {c} discordant)")
            }
            (McNemarMethod::ChiSquaredCc, None) => write!(f, " (χ²; {b} vs {c} discordant)"),
        }
    }
}

/// McNemar's test for paired binary outcomes, from the discordant counts
/// `b = only_a`, `c = only_b` (concordant pairs carry no information on the
/// difference).
///
/// * `b + c == 0`: method `none`, p = 1.
/// * `b + c < 25`: exact conditional test, `p = min(1, 2·P(X ≤ min(b, c)))` with
///   `X ~ Bin(b + c, ½)`; the chi-squared approximation is poor for few pairs.
/// * otherwise: `χ² = (max(|b − c| − 1, 0))² / (b + c)` (Edwards' continuity
///   correction) and `p = P(χ²₁ ≥ χ²) = erfc(√(χ²/2))`. The `max(·, 0)` only
///   matters when `b == c`, where it gives χ² = 0 and p = 1 (R's `mcnemar.test`
///   would give χ² = 1/(b + c)).
pub fn mcnemar(only_a: u64, only_b: u64) -> McNemar {
    let (b, c) = (only_a, only_b);
    let n = u128::from(b) + u128::from(c);
    let (method, statistic, p_value) = if n == 0 {
        (McNemarMethod::NoDiscordantPairs, None, 1.0)
    } else if n < u128::from(MCNEMAR_EXACT_BELOW) {
        (McNemarMethod::Exact, None, mcnemar_exact_p(b, c))
    } else {
        let d = (b.abs_diff(c) as f64 - 1.0).max(0.0);
        let x = d * d / n as f64;
        (McNemarMethod::ChiSquaredCc, Some(x), chi_squared_1df_sf(x))
    };
    McNemar {
        b,
        c,
        method,
        statistic,
        p_value,
    }
}

/// Exact two-sided McNemar p-value `min(1, 2·P(X ≤ min(b, c)))`, `X ~ Bin(b + c, ½)`,
/// for any counts (1 when `b + c == 0`). Up to 62 pairs the tail is an exact
/// integer sum divided by `2^n`; beyond, it is summed in log space around
/// `P(X = min(b, c))` (Stirling series with error terms), so it neither
/// overflows nor underflows spuriously. Cost O(min(b, c, 10·√(b + c))).
pub fn mcnemar_exact_p(b: u64, c: u64) -> f64 {
    match b.checked_add(c) {
        Some(0) => 1.0,
        Some(n) => (2.0 * binomial_half_cdf(b.min(c), n)).min(1.0),
        None => mcnemar(b, c).p_value, // b + c > u64::MAX: only the χ² route is feasible
    }
}

/// `P(X ≤ k)` for `X ~ Bin(n, ½)`.
fn binomial_half_cdf(k: u64, n: u64) -> f64 {
    if k >= n {
        return 1.0;
    }
    if n <= 62 {
        let (mut coef, mut sum) = (1u128, 0u128);
        for j in 0..=k {
            sum += coef;
            coef = coef * u128::from(n - j) / u128::from(j + 1);
        }
        return sum as f64 / 2f64.powi(n as i32);
    }
    if 2 * u128::from(k) >= u128::from(n) {
        return 1.0 - binomial_half_cdf(n - k - 1, n);
    }
    binomial_half_cdf_log(k, n)
}

/// Log-space tail for `k < n/2`: `P(X = k) · Σ_{j ≤ k} P(X = j)/P(X = k)`, the
/// ratios built by the recurrence `P(j-1)/P(j) = j/(n-j+1) < 1`.
fn binomial_half_cdf_log(k: u64, n: u64) -> f64 {
    let (mut term, mut sum, mut j) = (1.0f64, 1.0f64, k);
    while j > 0 && term >= sum * 1e-17 {
        term *= j as f64 / (n - j + 1) as f64;
        sum += term;
        j -= 1;
    }
    (ln_binomial_half_pmf(k, n) + sum.ln()).exp().min(1.0)
}

/// `ln P(X = k)`, `X ~ Bin(n, ½)`, `k ≤ n`, written (Stirling with remainder δ) as
/// `k·ln(n/2k) + (n-k)·ln(n/2(n-k)) + ½·ln(n/(2πk(n-k))) + δ(n) - δ(k) - δ(n-k)`,
/// which avoids the cancellation of `ln n! - ln k! - ln (n-k)!`.
fn ln_binomial_half_pmf(k: u64, n: u64) -> f64 {
    if k == 0 || k == n {
        return -(n as f64) * LN_2;
    }
    let (kf, nf, rf) = (k as f64, n as f64, (n - k) as f64);
    let d = (i128::from(n) - 2 * i128::from(k)) as f64;
    kf * (d / (2.0 * kf)).ln_1p()
        + rf * (-d / (2.0 * rf)).ln_1p()
        + 0.5 * (nf / (2.0 * PI * kf * rf)).ln()
        + stirling_delta(n)
        - stirling_delta(k)
        - stirling_delta(n - k)
}

/// `δ(k) = ln k! - (k·ln k - k + ½·ln(2πk))` for `k ≥ 1`: exact below 20, else the
/// Stirling series to `k⁻⁷` (truncation error < 2e-15).
fn stirling_delta(k: u64) -> f64 {
    let kf = k as f64;
    if k < 20 {
        let fact: u64 = (1..=k).product();
        return (fact as f64).ln() - (kf * kf.ln() - kf + 0.5 * (2.0 * PI * kf).ln());
    }
    let (x, x2) = (1.0 / kf, 1.0 / (kf * kf));
    x * (1.0 / 12.0 - x2 * (1.0 / 360.0 - x2 * (1.0 / 1260.0 - x2 / 1680.0)))
}

/// Upper tail `P(χ²₁ ≥ x) = erfc(√(x/2))` of the chi-squared distribution with
/// 1 df, computed as the regularized upper incomplete gamma `Q(½, x/2)`
/// (series below x/2 = 1.5, Lentz continued fraction above; relative error
/// < 2e-13 against a reference erfc over 1e-6 ≤ x ≤ 1500). Returns 1 for `x ≤ 0`
/// or NaN, 0 for +∞.
pub fn chi_squared_1df_sf(x: f64) -> f64 {
    if x.is_nan() || x <= 0.0 {
        return 1.0;
    } else if x == f64::INFINITY {
        return 0.0;
    }
    let (a, y) = (0.5_f64, x / 2.0);
    let prefactor = (-y + a * y.ln() - 0.5 * PI.ln()).exp(); // e^-y y^a / Γ(½)
    if prefactor == 0.0 {
        return 0.0; // beyond x ≈ 1490 (and at +∞) the tail underflows f64
    }
    if y < 1.5 {
        let (mut ap, mut del, mut sum) = (a, 1.0 / a, 1.0 / a);
        for _ in 0..200 {
            ap += 1.0;
            del *= y / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        return (1.0 - sum * prefactor).clamp(0.0, 1.0);
    }
    const TINY: f64 = 1e-300;
    let mut b = y + 1.0 - a;
    let (mut c, mut d) = (1.0 / TINY, 1.0 / b);
    let mut h = d;
    for i in 1..300 {
        let an = -f64::from(i) * (f64::from(i) - a);
        b += 2.0;
        d = an * d + b;
        d = if d.abs() < TINY { TINY } else { d };
        c = b + an / c;
        c = if c.abs() < TINY { TINY } else { c };
        d = 1.0 / d;
        let del = d * c;
        h *= del;
        if (del - 1.0).abs() < 1e-16 {
            break;
        }
    }
    (prefactor * h).clamp(0.0, 1.0)
}

/// A paired difference of proportions with its 95 % interval.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct PairedDifference {
    /// Proportion under B minus proportion under A; `None` when `n == 0`.
    pub estimate: Option<f64>,
    /// Newcombe (1998) method-10 95 % interval; `None` exactly when `estimate` is.
    pub ci95: Option<(f64, f64)>,
    /// Number of pairs (patients) in the table.
    pub n: u64,
}

/// `+5.0 points (-3.1 to +12.0)`: the difference in percentage points with its 95 % interval,
/// or `–` when there is none. The one way the terminal and the dashboard write it.
impl std::fmt::Display for PairedDifference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.estimate, self.ci95) {
            (Some(e), Some((lo, hi))) => write!(
                f,
                "{:+.1} points ({:+.1} to {:+.1})",
                e * 100.0,
                lo * 100.0,
                hi * 100.0
            ),
            _ => f.write_str("–"),
        }
    }
}

/// Difference `p_B − p_A = (g − f)/n` between two proportions measured on the same
/// `n` patients, with a 95 % interval by Newcombe's hybrid score method for paired
/// data (Newcombe 1998, Stat Med 17:2635, method 10).
///
/// Table: `e` = event under both, `f` = under A only, `g` = under B only,
/// `h` = under neither. With Wilson limits `(l_B, u_B)` for `p_B = (e+g)/n` and
/// `(l_A, u_A)` for `p_A = (e+f)/n`, and `D = p_B − p_A`:
///
/// * lower = `D − √((p_B−l_B)² − 2φ(p_B−l_B)(u_A−p_A) + (u_A−p_A)²)`
/// * upper = `D + √((u_B−p_B)² − 2φ(u_B−p_B)(p_A−l_A) + (p_A−l_A)²)`
///
/// where φ is the correlation between the paired outcomes with Newcombe's
/// continuity correction: numerator `eh − fg − n/2` if `eh − fg > n/2`, 0 if
/// `0 ≤ eh − fg ≤ n/2`, `eh − fg` if negative, over
/// `√((e+f)(g+h)(e+g)(f+h))`; φ = 0 when that denominator is 0.
///
/// Why: it combines the Wilson intervals of the two marginal rates, allowing for
/// their correlation, so it stays inside [−1, 1], keeps a non-zero width when
/// there are no discordant pairs, and performed well in Newcombe's coverage
/// evaluation, unlike the Wald interval for paired data. Fagerland, Lydersen &
/// Laake (2014, Stat Med 33:2850) review it as "Newcombe square-and-add"; their
/// worked example is reproduced in the tests. `None` when `n == 0` (or the total
/// overflows `u64`).
pub fn newcombe_paired_difference(e: u64, f: u64, g: u64, h: u64) -> PairedDifference {
    let n = u64::try_from(u128::from(e) + u128::from(f) + u128::from(g) + u128::from(h));
    let ci = n.ok().and_then(|n| newcombe_interval(e, f, g, h, n));
    PairedDifference {
        estimate: ci.map(|(d, _, _)| d),
        ci95: ci.map(|(_, lo, hi)| (lo, hi)),
        n: n.unwrap_or(u64::MAX),
    }
}

/// `(D, lower, upper)` of [`newcombe_paired_difference`]; `None` when `n == 0`.
fn newcombe_interval(e: u64, f: u64, g: u64, h: u64, n: u64) -> Option<(f64, f64, f64)> {
    // Cell sums are ≤ n ≤ u64::MAX here, so they cannot overflow.
    let (p_b, l_b, u_b) = wilson_interval(e + g, n)?;
    let (p_a, l_a, u_a) = wilson_interval(e + f, n)?;
    let d = (g as f64 - f as f64) / n as f64;
    let phi = newcombe_phi(e, f, g, h, n);
    let radius = |x: f64, y: f64| (x * x - 2.0 * phi * x * y + y * y).max(0.0).sqrt();
    let lower = d - radius(p_b - l_b, u_a - p_a);
    let upper = d + radius(u_b - p_b, p_a - l_a);
    Some((d, lower.max(-1.0), upper.min(1.0)))
}

/// Newcombe's continuity-corrected φ for the paired table (see
/// [`newcombe_paired_difference`]); `e + f + g + h == n ≤ u64::MAX`.
fn newcombe_phi(e: u64, f: u64, g: u64, h: u64, n: u64) -> f64 {
    let margins = [e + f, g + h, e + g, f + h];
    if margins.contains(&0) {
        return 0.0;
    }
    // e·h ≤ (n/2)² < 2¹²⁶ because e + h ≤ n, so the i128 arithmetic is exact.
    let cross = i128::from(e) * i128::from(h) - i128::from(f) * i128::from(g);
    let numerator = if cross > i128::from(n / 2) {
        cross as f64 - n as f64 / 2.0
    } else if cross >= 0 {
        0.0
    } else {
        cross as f64
    };
    let denominator: f64 = margins.iter().map(|&m| (m as f64).sqrt()).product();
    (numerator / denominator).clamp(-1.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// |a - b| ≤ tol·|b| (relative error; exact match required when b == 0).
    fn near(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol * b.abs()
    }

    fn ci(p: Proportion) -> (f64, f64) {
        p.ci95.unwrap()
    }

    fn newcombe_ci(e: u64, f: u64, g: u64, h: u64) -> (f64, f64) {
        newcombe_paired_difference(e, f, g, h).ci95.unwrap()
    }

    #[test]
    fn wilson_published_and_edge_values() {
        // Newcombe (1998a) Stat Med 17:857, worked examples, score method without
        // continuity correction, printed to 4 dp: 81/263 -> 0.2553, 0.3662; 15/148 ->
        // 0.0624, 0.1605; 0/20 -> 0, 0.1611; 1/29 -> 0.0061, 0.1718. Full digits from an
        // independent stdlib-Python script using the textbook form
        // (p + z²/2n ± z·√(p(1-p)/n + z²/4n²)) / (1 + z²/n).
        // By hand, 81/263: z² = 3.841459, 2x + z² = 165.841459, 4x(n-x)/n = 224.212928,
        // z·√(z² + 224.212928) = 29.598337, 2(n + z²) = 533.682918, so the limits are
        // (165.841459 ∓ 29.598337)/533.682918 = 0.2552885, 0.3662096.
        // 0/10: upper = 2z²/(2(n + z²)) = 3.841459/13.841459; 10/10 mirrors it
        // (lower = 10/13.841459); 1/1: lower = 2/(2(1 + z²)) = 1/4.841459.
        #[rustfmt::skip]
        let cases = [
            (81, 263, 0.2552885198782742, 0.3662095769828), (15, 148, 0.0623863995, 0.1604872417),
            (0, 20, 0.0, 0.1611251581), (1, 29, 0.0061132143, 0.1717552188),
            (0, 10, 0.0, 0.2775327998628892), (10, 10, 0.7224672001371107, 1.0),
            (1, 1, 0.20654931437723742, 1.0),
        ];
        for (x, n, lo, hi) in cases {
            let p = Proportion::wilson(x, n);
            let (l, u) = ci(p);
            assert!(
                (l - lo).abs() < 1e-10 && (u - hi).abs() < 1e-10,
                "{x}/{n}: {l} {u}"
            );
            assert_eq!(p.estimate, Some(x as f64 / n as f64));
        }
        // Exact limits at the boundaries, not merely close.
        assert_eq!(
            (
                ci(Proportion::wilson(0, 7)).0,
                ci(Proportion::wilson(7, 7)).1
            ),
            (0.0, 1.0)
        );
        // No trials or impossible counts: nothing to estimate. Huge counts: finite.
        for (x, n) in [(0, 0), (5, 0), (5, 3)] {
            let p = Proportion::wilson(x, n);
            assert!(p.estimate.is_none() && p.ci95.is_none());
        }
        let (l, u) = ci(Proportion::wilson(u64::MAX / 3, u64::MAX));
        assert!(0.0 < l && l < 1.0 / 3.0 && 1.0 / 3.0 < u && u < 1.0);
        assert_eq!((rate_per_100(3, 40), rate_per_100(0, 0)), (Some(7.5), None));
    }

    #[test]
    fn confusion_metrics_and_serialization() {
        let mut c = Confusion::default();
        for (pred, actual, times) in [(1, 1, 30), (1, 0, 10), (0, 1, 5), (0, 0, 55)] {
            (0..times).for_each(|_| c.add(pred == 1, actual == 1));
        }
        let m = c.metrics();
        let got = [m.sensitivity, m.specificity, m.ppv, m.npv];
        let want = [(30, 35), (55, 65), (30, 40), (55, 60)];
        let got = got
            .into_iter()
            .chain([m.prevalence, m.accuracy, m.alert_rate]);
        for (p, (x, n)) in got.zip(want.into_iter().chain([(35, 100), (85, 100), (40, 100)])) {
            assert_eq!(p, Proportion::wilson(x, n));
        }
        let mut pooled = c;
        pooled.merge(c);
        assert_eq!(pooled.total(), 200);
        // Empty table: all undefined, no panic. Full counters saturate instead of overflowing.
        assert!(
            Confusion::default()
                .metrics()
                .sensitivity
                .estimate
                .is_none()
        );
        let mut full = Confusion { tp: u64::MAX, ..c };
        full.add(true, true);
        full.merge(full);
        assert_eq!((full.tp, full.total()), (u64::MAX, u64::MAX));
        // Field and method names as evaluators will read them.
        let json = serde_json::to_value(c).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"tp": 30, "fp": 10, "fn": 5, "tn": 55})
        );
        let names = [mcnemar(0, 0), mcnemar(1, 7), mcnemar(30, 12)].map(|m| m.method);
        let names = names.map(|m| serde_json::to_value(m).unwrap());
        assert_eq!(names, ["none", "exact", "chi-squared-cc"]);
    }

    #[test]
    fn mcnemar_exact_and_chi_squared_branches() {
        // b=1, c=7: P(X ≤ 1) = (C(8,0) + C(8,1))/2⁸ = 9/256, p = 2·9/256 = 0.0703125.
        // b=0, c=5: p = 2/2⁵; b=0, c=24 (largest exact n): p = 2/2²⁴; b = c: p = 1.
        // b=6, c=16 (Cavo et al. 2012 in Fagerland, Lydersen & Laake, "Statistical Analysis
        // of Contingency Tables", 2017, ch. 8: exact conditional P = 0.052479):
        // 2·(1 + 22 + 231 + 1540 + 7315 + 26334 + 74613)/2²² = 13757/262144.
        #[rustfmt::skip]
        let exact = [
            (1, 7, 0.0703125), (7, 1, 0.0703125), (0, 5, 0.0625), (3, 3, 1.0), (12, 12, 1.0),
            (0, 24, 2.0 / 16_777_216.0), (6, 16, 13757.0 / 262_144.0),
        ];
        for (b, c, p) in exact {
            let m = mcnemar(b, c);
            assert_eq!(
                (m.method, m.statistic, m.p_value),
                (McNemarMethod::Exact, None, p)
            );
        }
        assert!((mcnemar(16, 6).p_value - 0.052479).abs() < 5e-7);
        let m = mcnemar(0, 0);
        assert_eq!(
            (m.method, m.statistic, m.p_value),
            (McNemarMethod::NoDiscordantPairs, None, 1.0)
        );
        // b=30, c=12: χ² = (18 - 1)²/42 = 289/42 = 6.880952, p = erfc(√3.440476) = 0.0087119;
        // b=20, c=5: χ² = 14²/25 = 7.84, p = 0.0051103 (both p from Python math.erfc);
        // b=13, c=12 (n = 25, first χ² case): χ² = max(1 - 1, 0)² = 0, p = 1.
        #[rustfmt::skip]
        let chi = [(30, 12, 289.0 / 42.0, 0.00871191296238), (20, 5, 7.84, 0.00511026066086), (13, 12, 0.0, 1.0)];
        for (b, c, x, p) in chi {
            let m = mcnemar(b, c);
            assert_eq!(
                (m.method, m.statistic),
                (McNemarMethod::ChiSquaredCc, Some(x))
            );
            assert!(near(m.p_value, p, 1e-10), "{b}/{c}: {}", m.p_value);
        }
        // Absurd counts: no overflow, no panic.
        assert_eq!(mcnemar(u64::MAX, u64::MAX).p_value, 1.0);
        assert_eq!(mcnemar(u64::MAX, 0).p_value, 0.0);
    }

    #[test]
    fn chi_squared_tail_matches_tables() {
        // χ²(1) critical values (standard tables): 3.841459 -> 0.05, 6.634897 -> 0.01,
        // 10.827566 -> 0.001, 0.015791 -> 0.90. Fagerland et al. (2017) ch. 8, Cavo data,
        // McNemar with continuity correction: χ² = (|6 - 16| - 1)²/22 = 81/22, P = 0.055009.
        // P(χ²₁ ≥ 2y²) = erfc(y) for y = 1, 3, 0.1, 10 (values from Python math.erfc).
        #[rustfmt::skip]
        let cases = [
            (3.841458820694124, 0.05), (6.634896601021214, 0.01), (10.827566170662733, 0.001),
            (0.0157907740934312, 0.9), (81.0 / 22.0, 0.05500883362926577),
            (2.0, 0.15729920705028513), (18.0, 2.2090496998585438e-5),
            (0.02, 0.8875370839817152), (200.0, 2.088487583762545e-45),
        ];
        for (x, p) in cases {
            assert!(
                near(chi_squared_1df_sf(x), p, 1e-12),
                "{x}: {}",
                chi_squared_1df_sf(x)
            );
        }
        let edge = [0.0, -1.0, f64::NAN, f64::INFINITY, 1e4].map(chi_squared_1df_sf);
        assert_eq!(edge, [1.0, 1.0, 1.0, 0.0, 0.0]);
    }

    #[test]
    fn exact_binomial_tail_for_large_n() {
        // Expectations: exact big-integer sums Σ C(n,k)/2ⁿ in stdlib Python (int/int
        // division is correctly rounded). n = 10⁶: m = 499000 and 498500 lie 2 and 3 SD
        // below the mean (normal approximation 2Φ(-2) = 0.0455, 2Φ(-3) = 0.0027).
        #[rustfmt::skip]
        let cases = [
            (499_000, 501_000, 0.04560829986538208), (498_500, 501_500, 0.002708655306059757),
            (40, 60, 0.05688793364098079), (100, 150, 0.001883300935076157),
            (10, 52, 5.713613733093065e-08), (30, 32, 0.899076313652859),
            (1, 99, 1.5934990285464438e-28),
        ];
        for (b, c, p) in cases {
            assert!(
                near(mcnemar_exact_p(b, c), p, 1e-9),
                "{b}/{c}: {}",
                mcnemar_exact_p(b, c)
            );
        }
        // 2·2^-10⁶ underflows: 0, not NaN. Balanced: 1. Overflowing b + c: finite.
        assert_eq!(
            [mcnemar_exact_p(0, 1_000_000), mcnemar_exact_p(0, u64::MAX)],
            [0.0, 0.0]
        );
        assert_eq!(mcnemar_exact_p(500_000, 500_000), 1.0);
        assert!(mcnemar_exact_p(u64::MAX, 1).is_finite());
        // The log-space path agrees with the exact integer path where both apply,
        // and the complement is used above n/2.
        for k in 0..31 {
            assert!(near(
                binomial_half_cdf_log(k, 62),
                binomial_half_cdf(k, 62),
                1e-12
            ));
        }
        assert!(near(
            binomial_half_cdf(60, 100) + binomial_half_cdf(39, 100),
            1.0,
            1e-14
        ));
    }

    #[test]
    fn newcombe_published_and_hand_computed() {
        // Published: Fagerland et al. (2017) ch. 8, Newcombe square-and-add on Cavo et al.
        // (n11=59, n12=6, n21=16, n22=80): -0.0621 (95% CI -0.1186 to -0.0046). Here B - A,
        // so e=59, f=16, g=6, h=80. eh - fg = 4624 > n/2 = 80.5, so
        // φ = 4543.5/√(75·86·65·96) = 0.71617 (uncorrected φ would give -0.1174, -0.0059).
        let d = newcombe_paired_difference(59, 16, 6, 80);
        let (lo, hi) = d.ci95.unwrap();
        assert_eq!((d.n, d.estimate), (161, Some(-10.0 / 161.0)));
        assert!(near(lo, -0.1186211956, 1e-9) && near(hi, -0.0046251139, 1e-7));
        assert!(near(newcombe_phi(59, 16, 6, 80, 161), 0.7161737195, 1e-9));
        // By hand (no published limits used for this table): e=12, f=2, g=9, h=21, n=44,
        // D = 21/44 - 14/44 = 0.159091.
        // Wilson 21/44 = (0.337550, 0.620645), Wilson 14/44 = (0.199993, 0.465569);
        // φ = (12·21 - 2·9 - 22)/√(14·30·21·23) = 212/450.400 = 0.470693;
        // lower = D - √(0.139723² - 2φ·0.139723·0.147387 + 0.147387²) = D - 0.147848 = 0.011243;
        // upper = D + √(0.143373² - 2φ·0.143373·0.118189 + 0.118189²) = D + 0.136281 = 0.295372.
        // The same digits come from an independent stdlib-Python implementation.
        assert_eq!(
            newcombe_paired_difference(12, 2, 9, 21).estimate,
            Some(7.0 / 44.0)
        );
        let (lo, hi) = newcombe_ci(12, 2, 9, 21);
        assert!(near(lo, 0.011242503551198407, 1e-10) && near(hi, 0.29537178064660924, 1e-12));
        // Swapping A and B negates the interval.
        let (rl, rh) = newcombe_ci(12, 9, 2, 21);
        assert!((rl + hi).abs() < 1e-15 && (rh + lo).abs() < 1e-15);
        // Bentur et al. 2009 table (1, 1, 7, 12) from Fagerland et al. (2017) ch. 8: 0 ≤ eh - fg
        // = 5 ≤ n/2 = 10.5, so the corrected φ is 0; D = -6/21; limits from the Python check.
        let (lo, hi) = newcombe_ci(1, 7, 1, 12);
        assert_eq!(newcombe_phi(1, 7, 1, 12, 21), 0.0);
        assert!(near(lo, -0.5069202267, 1e-9) && near(hi, -0.0255591242, 1e-8));
    }

    #[test]
    fn newcombe_degenerate_tables() {
        let d = newcombe_paired_difference(0, 0, 0, 0);
        assert_eq!((d.estimate, d.ci95, d.n), (None, None, 0));
        // All pairs concordant on one side (a margin is 0, so φ = 0): D = 0 and the limits
        // are ±(1 - Wilson lower of 10/10) = ±z²/(10 + z²) = ±0.2775328.
        for (e, h) in [(10, 0), (0, 10)] {
            assert_eq!(newcombe_paired_difference(e, 0, 0, h).estimate, Some(0.0));
            let (lo, hi) = newcombe_ci(e, 0, 0, h);
            assert!(near(hi, 0.2775327998628892, 1e-15) && lo == -hi);
        }
        // Every pair A-only: D = -1 and lower exactly -1; φ = 0; upper =
        // -1 + √(u(0/3)² + (1 - l(3/3))²) = -1 + √2·z²/(3 + z²) = -1 + √2·0.561497 = -0.205923.
        let (lo, hi) = newcombe_ci(0, 3, 0, 0);
        assert!(lo == -1.0 && near(hi, -0.2059232825, 1e-9));
        // Perfect agreement, both outcomes present: φ = (25 - 5)/√(5⁴) = 0.8; limits ±0.1665932.
        assert!(near(newcombe_phi(5, 0, 0, 5, 10), 0.8, 1e-15));
        let (lo, hi) = newcombe_ci(5, 0, 0, 5);
        assert!(near(hi, 0.1665931571, 1e-9) && lo == -hi);
        // Overflowing total is rejected; huge valid tables stay finite and inside [-1, 1].
        assert_eq!(newcombe_paired_difference(u64::MAX, 1, 0, 0).estimate, None);
        let q = u64::MAX / 4;
        let (lo, hi) = newcombe_ci(q, q, 7, q);
        assert!(-1.0 <= lo && lo < hi && hi <= 1.0);
    }

    #[test]
    fn paired_results_read_as_text() {
        // 7/44 = +15.9 points, interval (0.011243, 0.295372) from the hand computation above.
        assert_eq!(
            newcombe_paired_difference(12, 2, 9, 21).to_string(),
            "+15.9 points (+1.1 to +29.5)"
        );
        assert_eq!(Paired::default().difference().to_string(), "–");
        let texts = [
            mcnemar(1, 7),
            mcnemar(30, 12),
            mcnemar(0, 0),
            mcnemar(0, 24),
        ]
        .map(|m| m.to_string());
        assert_eq!(
            texts,
            [
                "McNemar p = 0.070 (exact; 1 vs 7 discordant)",
                "McNemar p = 0.009 (χ² = 6.88; 30 vs 12 discordant)",
                "McNemar p = 1.000 (no discordant pairs)",
                "McNemar p < 0.001 (exact; 0 vs 24 discordant)",
            ]
        );
    }

    #[test]
    fn paired_comparison_end_to_end() {
        // Positives: both 20, A only 3, B only 8, neither 4.
        // Negatives: both 2, A only 9, B only 4, neither 50.
        let mut cmp = PairedComparison::default();
        #[rustfmt::skip]
        let plan = [(1, 1, 1, 20), (1, 0, 1, 3), (0, 1, 1, 8), (0, 0, 1, 4),
                    (1, 1, 0, 2), (1, 0, 0, 9), (0, 1, 0, 4), (0, 0, 0, 50)];
        for (a, b, actual, times) in plan {
            (0..times).for_each(|_| cmp.add(a == 1, b == 1, actual == 1));
        }
        // Sensitivity B - A = 28/35 - 23/35, from (20, 3, 8, 4), tested on b=3, c=8.
        let sens = cmp.sensitivity_difference();
        assert_eq!(sens, newcombe_paired_difference(20, 3, 8, 4));
        assert_eq!(cmp.label_positive.mcnemar(), mcnemar(3, 8));
        assert!(near(sens.estimate.unwrap(), 5.0 / 35.0, 1e-15));
        // Specificity (event = no alert) B - A = 59/65 - 54/65, from (50, 4, 9, 2). Its
        // interval mirrors the alert-rate difference (Wilson and φ are symmetric).
        let spec = cmp.specificity_difference();
        assert_eq!(spec, newcombe_paired_difference(50, 4, 9, 2));
        let (sl, sh) = spec.ci95.unwrap();
        let (al, ah) = cmp.label_negative.difference().ci95.unwrap();
        assert!((sl + ah).abs() < 1e-12 && (sh + al).abs() < 1e-12);
        let mut twice = cmp;
        twice.merge(cmp);
        assert_eq!(twice.label_negative.total(), 130);
        assert_eq!(Paired::default().difference().n, 0);
    }
}
