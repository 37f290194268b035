//! Sample plugin `metformin-egfr`: metformin dose against kidney function.
//!
//! Rule 1 of `docs/CLINICAL_REFERENCE.md`: the NHG-Standaard Diabetes mellitus type 2 (M01) with
//! the KNMP kidney-function dose advice limits metformin to 2 × 500 mg/day at eGFR 30–50 and
//! 1 × 500 mg/day at eGFR 10–30, and contraindicates it below 10 (the EMA 2016 SmPC already
//! contraindicates it below 30). The most recent eGFR counts; no eGFR in the last 12 months is
//! itself worth an info card.
//!
//! The rule takes a [`Policy`] for where metformin becomes contraindicated: [`describe`] and
//! [`evaluate`] are this plugin, [`Policy::Nhg`]; [`Policy::Ema2016`] is the same rule with the
//! EMA 2016 contraindication below eGFR 30, published as the candidate plugin
//! `metformin-egfr-ema` (`plugins/metformin-egfr-ema/`), which wraps [`evaluate_with`].

use livelab_plugin_sdk::{
    Action, ActionKind, Card, CodeFilter, CodeSystem, Coded, DataNeed, EvaluationError, HookKind,
    Indicator, Medication, MedicationStatus, Observation, PluginInfo, Request, Section, Source,
    Suggestion, filters, latest,
};

pub const ID: &str = "metformin-egfr";
/// The plugin that publishes [`Policy::Ema2016`].
pub const EMA_2016_ID: &str = "metformin-egfr-ema";
const HOOKS: [HookKind; 2] = [HookKind::PatientView, HookKind::OrderSign];
const GUIDELINE: &str =
    "NHG-Standaard Diabetes mellitus type 2 (M01) with KNMP kidney-function dose advice";
/// Source of the contraindication below eGFR 30 under [`Policy::Ema2016`].
const EMA_GUIDELINE: &str = "EMA (2016) metformin product information (SmPC)";

/// Metformin is ATC A10BA02; the prefix takes the whole biguanide group.
const METFORMIN_ATC: &str = "A10BA";
/// eGFR: every LOINC code of an eGFR per 1.73 m² (the host's list, `EGFR_LOINC` in
/// `host/src/ingest/units.rs`, which converts each to mL/min/1.73 m²; a test there checks the
/// two lists are the same), and NHG Tabel 45 3583 (CKD-EPI), per the code list in
/// `docs/CLINICAL_REFERENCE.md`.
///
/// The thresholds below (contraindicated < 10, at most 1 × 500 mg/day at 10–30 and
/// 2 × 500 mg/day at 30–50; the candidate's EMA contraindication < 30) hold for an eGFR by any
/// of these equations alike: the KNMP kidney-function advice the NHG follows states them for
/// "eGFR" (CKD-EPI, as Dutch labs report), the EMA SmPC for "eGFR" or creatinine clearance,
/// and neither gives other values for MDRD or cystatin C. MDRD reads a little lower than
/// CKD-EPI above 60 and about the same below it, where these thresholds lie.
const EGFR_LOINC: [&str; 14] = [
    "33914-3", // MDRD (serum or plasma); what Synthea writes
    "77147-7", // MDRD (serum, plasma or blood)
    "48642-3", // MDRD, among non-Black patients
    "48643-1", // MDRD, among Black patients
    "50044-7", // MDRD, among females
    "70969-1", // MDRD, among males
    "62238-1", // CKD-EPI creatinine (2009)
    "88294-4", // CKD-EPI creatinine 2009, among non-Black patients
    "88293-6", // CKD-EPI creatinine 2009, among Black patients
    "98979-8", // CKD-EPI creatinine 2021 (race-free)
    "94677-2", // CKD-EPI creatinine and cystatin C (2012)
    "98980-6", // CKD-EPI creatinine and cystatin C 2021
    "50210-4", // cystatin C-based, equation not stated
    "69405-9", // equation not stated
];
const EGFR_NHG: &str = "3583";
/// "No eGFR in the last 12 months" (rule 1).
const EGFR_LOOK_BACK_DAYS: u32 = 365;

/// Below this eGFR metformin is contraindicated (NHG/KNMP).
const CONTRAINDICATED_BELOW: f64 = 10.0;
/// Below this eGFR metformin is contraindicated (EMA 2016 SmPC).
const EMA_CONTRAINDICATED_BELOW: f64 = 30.0;
/// At eGFR 10–30: at most 1 × 500 mg/day (NHG/KNMP).
const SEVERE_BELOW: f64 = 30.0;
const SEVERE_MAX_MG: f64 = 500.0;
/// At eGFR 30–50: at most 2 × 500 mg/day (NHG/KNMP).
const MODERATE_BELOW: f64 = 50.0;
const MODERATE_MAX_MG: f64 = 1000.0;

/// Where metformin becomes contraindicated; everything else (data needs, eGFR selection, the
/// info card without an eGFR, the 2 × 500 mg/day maximum at eGFR 30–50) is the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// NHG/KNMP (this plugin): contraindicated below eGFR 10, at most 1 × 500 mg/day at 10–30.
    Nhg,
    /// EMA 2016 SmPC: contraindicated below eGFR 30 whatever the dose (a `critical` card),
    /// at most 2 × 500 mg/day at 30–50 as under NHG.
    Ema2016,
}

impl Policy {
    /// The plugin that applies this policy: the topic of its cards.
    pub const fn plugin_id(self) -> &'static str {
        match self {
            Policy::Nhg => ID,
            Policy::Ema2016 => EMA_2016_ID,
        }
    }

    /// Below this eGFR (mL/min/1.73 m²) metformin is contraindicated.
    pub const fn contraindicated_below(self) -> f64 {
        match self {
            Policy::Nhg => CONTRAINDICATED_BELOW,
            Policy::Ema2016 => EMA_CONTRAINDICATED_BELOW,
        }
    }
}

fn metformin_filter() -> CodeFilter {
    CodeFilter::new(CodeSystem::Atc, METFORMIN_ATC)
}

fn egfr_filters() -> Vec<CodeFilter> {
    let mut codes = filters(CodeSystem::Loinc, &EGFR_LOINC);
    codes.push(CodeFilter::new(CodeSystem::NhgTabel45, EGFR_NHG));
    codes
}

fn is_egfr(o: &Observation) -> bool {
    o.has_any_code(&CodeSystem::Loinc, &EGFR_LOINC) || o.has_code(&CodeSystem::NhgTabel45, EGFR_NHG)
}

/// The hooks the rule serves, whatever the policy.
pub fn hooks() -> Vec<HookKind> {
    HOOKS.to_vec()
}

/// The rule's data needs, whatever the policy: metformin, and the eGFR of the last 12 months.
pub fn data_needs() -> Vec<DataNeed> {
    vec![
        DataNeed::new(Section::Medications, vec![metformin_filter()], None),
        DataNeed::new(
            Section::Observations,
            egfr_filters(),
            Some(EGFR_LOOK_BACK_DAYS),
        ),
    ]
}

pub fn describe() -> PluginInfo {
    PluginInfo {
        id: ID.into(),
        name: "Metformin and kidney function".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Warns when the metformin dose exceeds the maximum for the most recent \
                      eGFR (NHG/KNMP), and when a patient on metformin has no eGFR in the last \
                      12 months."
            .into(),
        hooks: hooks(),
        data_needs: data_needs(),
    }
}

/// This plugin's rule: [`evaluate_with`] under [`Policy::Nhg`].
pub fn evaluate(request: &Request) -> Result<Vec<Card>, EvaluationError> {
    evaluate_with(request, Policy::Nhg)
}

/// The rule under `policy`; the cards' topic is [`Policy::plugin_id`].
pub fn evaluate_with(request: &Request, policy: Policy) -> Result<Vec<Card>, EvaluationError> {
    request.ensure_hook(&HOOKS)?;
    let on_metformin = |m: &&Medication| m.has_code(&CodeSystem::Atc, METFORMIN_ATC);
    // Current use plus, for order-sign, the draft orders. A prescription on hold is not
    // being taken now: its dose is checked again when it is resumed (an order-sign).
    let items: Vec<&Medication> = request
        .patient
        .medications
        .iter()
        .filter(|m| m.status == MedicationStatus::Active)
        .chain(request.hook.draft_orders())
        .filter(on_metformin)
        .collect();
    if items.is_empty() {
        return Ok(Vec::new());
    }
    let dose_mg = items
        .iter()
        .filter_map(|m| m.daily_dose_mg())
        .max_by(f64::total_cmp);
    let egfr = most_recent_egfr(&request.patient.observations);
    Ok(advice(policy, egfr, dose_mg).into_iter().collect())
}

/// The most recent eGFR (mL/min/1.73 m²) of the look-back window; of several on that day the
/// lowest. US labs reported the MDRD and CKD-EPI 2009 eGFR twice for one sample, "among Black"
/// and "among non-Black" patients (LOINC 48643-1 / 48642-3, 88293-6 / 88294-4), the first
/// about 16–21 % higher: the record does not say which one applies, and the higher one could
/// hide a contraindication, so the lower one counts.
fn most_recent_egfr(observations: &[Observation]) -> Option<f64> {
    let counts = |o: &Observation| {
        o.within_days(EGFR_LOOK_BACK_DAYS) && is_egfr(o) && o.quantity().is_some()
    };
    let day = latest(observations, counts)?.effective_days_ago;
    observations
        .iter()
        .filter(|o| counts(o) && o.effective_days_ago == day)
        .filter_map(Observation::quantity_value)
        .min_by(f64::total_cmp)
}

/// The card for a patient on metformin under `policy`, given the most recent eGFR
/// (mL/min/1.73 m²) and the largest daily dose in mg, if known.
fn advice(policy: Policy, egfr: Option<f64>, dose_mg: Option<f64>) -> Option<Card> {
    let source = Source::for_plugin(GUIDELINE, policy.plugin_id());
    let Some(egfr) = egfr else {
        return Some(
            Card::new(
                "No eGFR in the last 12 months for a patient on metformin",
                Indicator::Info,
                source,
            )
            .with_detail(format!(
                "The {GUIDELINE} doses metformin by kidney function: check the eGFR at least \
                 once a year."
            )),
        );
    };
    let shown = egfr.round();
    let dose_text = dose_mg.map_or_else(
        || "dose not recorded".to_string(),
        |d| format!("{d} mg/day"),
    );
    if egfr < policy.contraindicated_below() {
        let (source, detail) = match policy {
            Policy::Nhg => (
                source,
                format!(
                    "The most recent eGFR is {shown:.0} mL/min/1.73 m², below 10. The \
                     {GUIDELINE} contraindicates metformin at this kidney function. The EMA \
                     (2016) product information contraindicates metformin already below eGFR \
                     30."
                ),
            ),
            Policy::Ema2016 => (
                Source::for_plugin(EMA_GUIDELINE, policy.plugin_id()),
                format!(
                    "The most recent eGFR is {shown:.0} mL/min/1.73 m², below 30. The \
                     {EMA_GUIDELINE} contraindicates metformin below eGFR 30. The {GUIDELINE} \
                     contraindicates it only below 10 and allows 1 × 500 mg/day at 10–30."
                ),
            ),
        };
        let card = Card::new(
            format!("Metformin contraindicated at eGFR {shown:.0} ({dose_text})"),
            Indicator::Critical,
            source,
        )
        .with_detail(detail)
        .with_suggestion(suggestion("Stop metformin", ActionKind::Delete));
        return Some(card);
    }
    // Under Policy::Ema2016 the 10–30 band is already contraindicated above.
    let (max_text, max_mg) = if egfr < SEVERE_BELOW {
        ("1 × 500 mg/day", SEVERE_MAX_MG)
    } else if egfr < MODERATE_BELOW {
        ("2 × 500 mg/day", MODERATE_MAX_MG)
    } else {
        return None;
    };
    if dose_mg.is_some_and(|d| d <= max_mg) {
        return None;
    }
    let band = if egfr < SEVERE_BELOW {
        "10–30"
    } else {
        "30–50"
    };
    Some(
        Card::new(
            format!("Metformin at eGFR {shown:.0} ({dose_text}): maximum is {max_text}"),
            Indicator::Warning,
            source,
        )
        .with_detail(format!(
            "The most recent eGFR is {shown:.0} mL/min/1.73 m² (band {band}). The {GUIDELINE} \
             limits metformin to {max_text} at this kidney function; the current dose is \
             {dose_text}."
        ))
        .with_suggestion(suggestion(
            &format!("Reduce metformin to {max_text}"),
            ActionKind::Update,
        )),
    )
}

fn suggestion(label: &str, kind: ActionKind) -> Suggestion {
    Suggestion {
        label: label.into(),
        is_recommended: true,
        actions: vec![Action {
            kind,
            description: label.into(),
        }],
    }
}

// The component, exported unless compiled into another plugin as a module: the candidate
// `metformin-egfr-ema` does that on wasm32 (its build script sets
// `cfg(metformin_egfr_embedded)`) and exports its own implementation instead, since a
// component has one `evaluator` export and the exported symbols of two would collide at link
// time.
livelab_plugin_sdk::component!(MetforminEgfr, unless metformin_egfr_embedded);

#[cfg(test)]
mod tests {
    use super::*;
    use livelab_plugin_sdk::testing::{self, one, patient};
    use livelab_plugin_sdk::{
        Hook, ObservationCategory, ObservationValue, Origin, Patient, Quantity, Sex,
    };

    fn med(atc: &str, status: MedicationStatus, dose: Option<(f64, &str)>) -> Medication {
        let daily_dose = dose.map(|(value, unit)| Quantity::new(value, unit));
        testing::medication(CodeSystem::Atc, atc, status, Some(400), daily_dose)
    }

    fn metformin(dose_mg: Option<f64>) -> Medication {
        med(
            "A10BA02",
            MedicationStatus::Active,
            dose_mg.map(|d| (d, "mg")),
        )
    }

    fn egfr(system: CodeSystem, code: &str, days: u32, value: f64) -> Observation {
        testing::observation(
            system,
            code,
            ObservationCategory::Laboratory,
            Origin::Clinical,
            days,
            testing::quantity(value, "mL/min/{1.73_m2}"),
        )
    }

    fn loinc_egfr(days: u32, value: f64) -> Observation {
        egfr(CodeSystem::Loinc, "33914-3", days, value)
    }

    fn request(
        hook: Hook,
        medications: Vec<Medication>,
        observations: Vec<Observation>,
    ) -> Request {
        Request {
            hook,
            patient: Patient {
                observations,
                medications,
                ..patient(67, Sex::Male)
            },
        }
    }

    fn pv(medications: Vec<Medication>, observations: Vec<Observation>) -> Vec<Card> {
        testing::cards(
            evaluate,
            &request(Hook::PatientView, medications, observations),
        )
    }

    /// The indicator for one metformin item with `dose_mg` and one eGFR `value`.
    fn indicator(value: f64, dose_mg: Option<f64>) -> Option<Indicator> {
        testing::indicator(&pv(vec![metformin(dose_mg)], vec![loinc_egfr(10, value)]))
    }

    #[test]
    fn describes_itself() {
        let info = describe();
        assert_eq!(info.id, "metformin-egfr");
        assert_eq!(info.hooks, vec![HookKind::PatientView, HookKind::OrderSign]);
        assert_eq!(info.data_needs.len(), 2);
        let meds = &info.data_needs[0];
        assert_eq!(meds.section, Section::Medications);
        assert_eq!(meds.codes, vec![CodeFilter::new(CodeSystem::Atc, "A10BA")]);
        assert_eq!(meds.look_back_days, None);
        let obs = &info.data_needs[1];
        assert_eq!(obs.section, Section::Observations);
        assert_eq!(obs.look_back_days, Some(365));
        assert_eq!(
            obs.codes,
            [
                "33914-3", "77147-7", "48642-3", "48643-1", "50044-7", "70969-1", "62238-1",
                "88294-4", "88293-6", "98979-8", "94677-2", "98980-6", "50210-4", "69405-9",
            ]
            .iter()
            .map(|code| CodeFilter::new(CodeSystem::Loinc, *code))
            .chain([CodeFilter::new(CodeSystem::NhgTabel45, "3583")])
            .collect::<Vec<_>>()
        );
    }

    #[test]
    fn no_metformin_no_card() {
        assert!(pv(vec![], vec![loinc_egfr(1, 5.0)]).is_empty());
        let other = med("A10BB01", MedicationStatus::Active, Some((500.0, "mg")));
        assert!(pv(vec![other], vec![loinc_egfr(1, 5.0)]).is_empty());
    }

    #[test]
    fn only_active_prescriptions_count() {
        for status in [
            MedicationStatus::OnHold,
            MedicationStatus::Completed,
            MedicationStatus::Stopped,
            MedicationStatus::Draft,
            MedicationStatus::Unknown,
        ] {
            let m = med("A10BA02", status, Some((2000.0, "mg")));
            assert!(
                pv(vec![m], vec![loinc_egfr(1, 5.0)]).is_empty(),
                "{status:?}"
            );
        }
        let active = med("A10BA02", MedicationStatus::Active, Some((2000.0, "mg")));
        assert_eq!(
            one(pv(vec![active], vec![loinc_egfr(1, 5.0)])).indicator,
            Indicator::Critical
        );
    }

    #[test]
    fn no_egfr_in_twelve_months_is_info() {
        let card = one(pv(vec![metformin(Some(500.0))], vec![]));
        assert_eq!(card.indicator, Indicator::Info);
        assert_eq!(
            card.summary,
            "No eGFR in the last 12 months for a patient on metformin"
        );
        // 366 days is outside the look-back; 365 is inside.
        let old = one(pv(vec![metformin(None)], vec![loinc_egfr(366, 5.0)]));
        assert_eq!(old.indicator, Indicator::Info);
        let edge = one(pv(vec![metformin(None)], vec![loinc_egfr(365, 5.0)]));
        assert_eq!(edge.indicator, Indicator::Critical);
        // An eGFR without a quantity value does not count.
        let mut empty = loinc_egfr(1, 5.0);
        empty.value = Some(ObservationValue::Integer(5));
        let card = one(pv(vec![metformin(None)], vec![empty]));
        assert_eq!(card.indicator, Indicator::Info);
        // Other codes, or the right code in another system, are no eGFR.
        for other in [
            egfr(CodeSystem::Loinc, "38483-4", 1, 5.0),
            egfr(CodeSystem::SnomedCt, "33914-3", 1, 5.0),
        ] {
            let card = one(pv(vec![metformin(None)], vec![other]));
            assert_eq!(card.indicator, Indicator::Info);
        }
    }

    #[test]
    fn all_egfr_codes_count() {
        let codes = EGFR_LOINC
            .iter()
            .map(|code| (CodeSystem::Loinc, *code))
            .chain([(CodeSystem::NhgTabel45, "3583")]);
        for (system, code) in codes {
            let cards = pv(vec![metformin(None)], vec![egfr(system, code, 3, 9.0)]);
            assert_eq!(one(cards).indicator, Indicator::Critical, "{code}");
        }
        // Not an eGFR per 1.73 m² of an adult: Schwartz (children), Cockcroft-Gault (mL/min).
        for code in ["50384-7", "35591-7"] {
            let cards = pv(
                vec![metformin(None)],
                vec![egfr(CodeSystem::Loinc, code, 3, 9.0)],
            );
            assert_eq!(one(cards).indicator, Indicator::Info, "{code}");
        }
    }

    #[test]
    fn of_one_days_egfrs_the_lowest_counts() {
        // MDRD among Black (30) and non-Black (25) patients for one sample, in either order.
        let black = egfr(CodeSystem::Loinc, "48643-1", 2, 30.0);
        let other = egfr(CodeSystem::Loinc, "48642-3", 2, 25.0);
        for obs in [
            vec![black.clone(), other.clone()],
            vec![other.clone(), black.clone()],
        ] {
            let card = one(pv(vec![metformin(Some(1000.0))], obs));
            assert_eq!(
                card.summary,
                "Metformin at eGFR 25 (1000 mg/day): maximum is 1 × 500 mg/day"
            );
        }
        // A lower value on an earlier day does not count.
        let older = egfr(CodeSystem::Loinc, "48642-3", 3, 5.0);
        assert!(pv(vec![metformin(Some(1000.0))], vec![older, black]).is_empty());
    }

    #[test]
    fn most_recent_egfr_wins() {
        let obs = vec![
            loinc_egfr(200, 60.0),
            egfr(CodeSystem::NhgTabel45, "3583", 5, 8.4),
            loinc_egfr(30, 45.0),
        ];
        let card = one(pv(vec![metformin(Some(500.0))], obs));
        assert_eq!(card.indicator, Indicator::Critical);
        assert_eq!(
            card.summary,
            "Metformin contraindicated at eGFR 8 (500 mg/day)"
        );
        let obs = vec![loinc_egfr(5, 60.0), loinc_egfr(30, 5.0)];
        assert!(pv(vec![metformin(Some(3000.0))], obs).is_empty());
    }

    #[test]
    fn contraindicated_below_10() {
        assert_eq!(indicator(9.99, None), Some(Indicator::Critical));
        assert_eq!(indicator(0.0, Some(250.0)), Some(Indicator::Critical));
        let card = one(pv(vec![metformin(None)], vec![loinc_egfr(0, 7.6)]));
        assert_eq!(
            card.summary,
            "Metformin contraindicated at eGFR 8 (dose not recorded)"
        );
        let detail = card.detail.unwrap();
        assert!(detail.contains("NHG-Standaard Diabetes mellitus type 2"));
        assert!(detail.contains("EMA (2016)") && detail.contains("below eGFR 30"));
        assert_eq!(card.suggestions.len(), 1);
    }

    #[test]
    fn severe_band_10_to_30() {
        // 10 belongs to the 10–30 band.
        assert_eq!(indicator(10.0, None), Some(Indicator::Warning));
        assert_eq!(indicator(10.0, Some(500.0)), None);
        assert_eq!(indicator(29.99, Some(500.0)), None);
        assert_eq!(indicator(29.99, Some(500.5)), Some(Indicator::Warning));
        assert_eq!(indicator(20.0, Some(1000.0)), Some(Indicator::Warning));
        assert_eq!(indicator(20.0, Some(250.0)), None);
        let card = one(pv(vec![metformin(Some(1000.0))], vec![loinc_egfr(0, 24.5)]));
        assert_eq!(
            card.summary,
            "Metformin at eGFR 25 (1000 mg/day): maximum is 1 × 500 mg/day"
        );
        assert!(card.detail.unwrap().contains("NHG-Standaard"));
    }

    #[test]
    fn moderate_band_30_to_50() {
        // 30 belongs to the 30–50 band, 50 to no band.
        assert_eq!(indicator(30.0, Some(1000.0)), None);
        assert_eq!(indicator(30.0, Some(1001.0)), Some(Indicator::Warning));
        assert_eq!(indicator(30.0, None), Some(Indicator::Warning));
        assert_eq!(indicator(49.99, Some(1500.0)), Some(Indicator::Warning));
        assert_eq!(indicator(49.99, None), Some(Indicator::Warning));
        assert_eq!(indicator(50.0, None), None);
        assert_eq!(indicator(50.0, Some(3000.0)), None);
        assert_eq!(indicator(90.0, Some(3000.0)), None);
        let card = one(pv(vec![metformin(None)], vec![loinc_egfr(0, 42.0)]));
        assert_eq!(
            card.summary,
            "Metformin at eGFR 42 (dose not recorded): maximum is 2 × 500 mg/day"
        );
    }

    #[test]
    fn dose_is_the_largest_in_mg() {
        let meds = vec![
            med("A10BA02", MedicationStatus::Active, Some((500.0, "mg"))),
            med("A10BA02", MedicationStatus::Active, Some((1.5, "g"))),
            med("A10BA02", MedicationStatus::Active, Some((9.0, "{tbl}"))),
            med("A10BA02", MedicationStatus::Active, None),
            // Not current, so not counted.
            med("A10BA02", MedicationStatus::Stopped, Some((3000.0, "mg"))),
        ];
        let card = one(pv(meds, vec![loinc_egfr(0, 35.0)]));
        assert!(card.summary.contains("(1500 mg/day)"), "{}", card.summary);
        // Only unconvertible doses: unknown dose, so the warning shows.
        let meds = vec![med(
            "A10BA02",
            MedicationStatus::Active,
            Some((2.0, "{tbl}")),
        )];
        let card = one(pv(meds, vec![loinc_egfr(0, 35.0)]));
        assert!(card.summary.contains("dose not recorded"));
        // A gram dose at the limit passes.
        let meds = vec![med("A10BA02", MedicationStatus::Active, Some((1.0, "g")))];
        assert!(pv(meds, vec![loinc_egfr(0, 35.0)]).is_empty());
    }

    #[test]
    fn order_sign_counts_draft_orders() {
        let draft = med("A10BA02", MedicationStatus::Draft, Some((2000.0, "mg")));
        let req = request(
            Hook::OrderSign(vec![draft]),
            vec![],
            vec![loinc_egfr(0, 40.0)],
        );
        let card = one(testing::cards(evaluate, &req));
        assert_eq!(card.indicator, Indicator::Warning);
        assert!(card.summary.contains("2000 mg/day"));
        // The draft's dose competes with the current one.
        let req = request(
            Hook::OrderSign(vec![med(
                "A10BA02",
                MedicationStatus::Draft,
                Some((500.0, "mg")),
            )]),
            vec![metformin(Some(1500.0))],
            vec![loinc_egfr(0, 20.0)],
        );
        assert!(
            one(testing::cards(evaluate, &req))
                .summary
                .contains("1500 mg/day")
        );
        // Draft orders of other drugs do not make a metformin patient.
        let req = request(
            Hook::OrderSign(vec![med("C09AA02", MedicationStatus::Draft, None)]),
            vec![],
            vec![loinc_egfr(0, 5.0)],
        );
        assert!(testing::cards(evaluate, &req).is_empty());
        // Draft orders are not looked at in patient-view.
        let req = request(Hook::PatientView, vec![], vec![loinc_egfr(0, 5.0)]);
        assert!(testing::cards(evaluate, &req).is_empty());
    }

    #[test]
    fn cards_name_source_and_topic() {
        let card = one(pv(vec![metformin(None)], vec![]));
        assert_eq!(card.source.label, GUIDELINE);
        assert_eq!(card.source.topic, testing::topic("metformin-egfr"));
        assert!(card.detail.unwrap().contains("NHG-Standaard"));
        assert!(card.summary.chars().count() < 140);
    }

    #[test]
    fn serves_both_hooks() {
        assert!(evaluate(&request(Hook::OrderSign(vec![]), vec![], vec![])).is_ok());
        assert!(evaluate(&request(Hook::PatientView, vec![], vec![])).is_ok());
    }
}
