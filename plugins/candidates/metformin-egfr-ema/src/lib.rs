//! Candidate plugin `metformin-egfr-ema` (0.2.0): the candidate version of `metformin-egfr`
//! (0.1.0) for an A/B (shadow-mode) trial. Metformin is contraindicated below eGFR 30, as in
//! the EMA 2016 product information (SmPC), instead of below 10 (NHG/KNMP).
//!
//! The rule is `metformin-egfr`'s, under [`Policy::Ema2016`]; this crate only publishes it
//! (its own id, version, name and description). Everything else is the baseline's: the same
//! data needs and hooks, the same eGFR selection (the most recent eGFR under any of the
//! baseline's LOINC codes, MDRD, CKD-EPI or cystatin C, or NHG Tabel 45 3583 with a quantity,
//! within 365 days, the lowest of that day's), the same dose (the largest
//! daily dose in mg of the active metformin prescriptions and, for order-sign, the draft
//! orders), the same info card without an eGFR, and the same 2 × 500 mg/day maximum at
//! eGFR 30–50.
//!
//! # How the two versions differ
//!
//! For a patient on metformin, with E the most recent eGFR (mL/min/1.73 m²) and D the daily
//! dose (unknown when no item has a dose in mg or g):
//!
//! | E        | D                  | baseline `metformin-egfr`           | candidate `metformin-egfr-ema` |
//! |----------|--------------------|-------------------------------------|--------------------------------|
//! | none     | any                | info: no eGFR in 12 months          | the same card                  |
//! | < 10     | any                | critical: contraindicated (NHG)     | critical: contraindicated (EMA)|
//! | [10, 30) | ≤ 500 mg           | **no card**                         | **critical: contraindicated**  |
//! | [10, 30) | > 500 mg or unknown| **warning: maximum 1 × 500 mg/day** | **critical: contraindicated**  |
//! | [30, 50) | ≤ 1000 mg          | no card                             | no card                        |
//! | [30, 50) | > 1000 mg, unknown | warning: maximum 2 × 500 mg/day     | the same card                  |
//! | ≥ 50     | any                | no card                             | no card                        |
//!
//! * Whether there is an alert (a `warning` or `critical` card) differs exactly for
//!   E in [10, 30) with a known D ≤ 500 mg: the baseline finds the dose within the NHG
//!   maximum and says nothing, the candidate says "contraindicated" (critical, "Stop
//!   metformin").
//! * For E in [10, 30) with D > 500 mg or unknown both alert, but the baseline's is a
//!   `warning` to reduce to 1 × 500 mg/day and the candidate's a `critical` to stop: with
//!   `critical` as the alert threshold the versions disagree on all of [10, 30).
//! * Below 10 both give the same `critical` card (summary, indicator, "Stop metformin"
//!   suggestion); only its detail text and source label differ (they cite the EMA SmPC, not
//!   the NHG/KNMP).
//! * Every card of the candidate has the topic `metformin-egfr-ema`, the baseline's
//!   `metformin-egfr`; no other difference.
//!
//! # Why the rule's source is compiled in on wasm32
//!
//! `metformin-egfr` is itself a plugin: its library exports the component's `evaluator`
//! functions, under the same symbol names as this crate's, so linking it would make the
//! component ambiguous (wasm-ld refuses the duplicates). On wasm32 this crate therefore
//! compiles that crate's `src/lib.rs` as the module `metformin_egfr` (one source, no copy), and
//! its build script sets `cfg(metformin_egfr_embedded)`, under which that file leaves the
//! export to this crate. Natively `metformin_egfr` is the crate itself, so the tests below
//! compare this plugin with the real baseline.

use livelab_plugin_sdk::{Card, EvaluationError, PluginInfo, Request};

// The baseline's own plugin surface (its `describe`, its `Guest` type) is not used here.
#[cfg(target_arch = "wasm32")]
#[allow(dead_code)]
#[path = "../../../metformin-egfr/src/lib.rs"]
mod metformin_egfr;

use metformin_egfr::Policy;

pub const ID: &str = Policy::Ema2016.plugin_id();

pub fn describe() -> PluginInfo {
    PluginInfo {
        id: ID.into(),
        name: "Metformin and kidney function (EMA 2016 contraindication)".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Flags metformin as contraindicated below eGFR 30 (EMA 2016 SmPC), warns \
                      when the dose exceeds 2 × 500 mg/day at eGFR 30–50 (NHG/KNMP), and when \
                      a patient on metformin has no eGFR in the last 12 months."
            .into(),
        hooks: metformin_egfr::hooks(),
        data_needs: metformin_egfr::data_needs(),
    }
}

pub fn evaluate(request: &Request) -> Result<Vec<Card>, EvaluationError> {
    metformin_egfr::evaluate_with(request, Policy::Ema2016)
}

livelab_plugin_sdk::component!(MetforminEgfrEma);

#[cfg(test)]
mod tests {
    use super::*;
    use livelab_plugin_sdk::testing::{self, indicator, patient};
    use livelab_plugin_sdk::{
        ActionKind, CodeSystem, Coding, Hook, Indicator, Medication, MedicationStatus, Observation,
        ObservationCategory, Origin, Patient, Quantity, Sex,
    };

    fn med(status: MedicationStatus, dose: Option<(f64, &str)>) -> Medication {
        let daily_dose = dose.map(|(value, unit)| Quantity::new(value, unit));
        testing::medication(CodeSystem::Atc, "A10BA02", status, Some(400), daily_dose)
    }

    fn metformin(dose_mg: Option<f64>) -> Medication {
        med(MedicationStatus::Active, dose_mg.map(|d| (d, "mg")))
    }

    fn egfr(days: u32, value: f64) -> Observation {
        testing::observation(
            CodeSystem::Loinc,
            "62238-1",
            ObservationCategory::Laboratory,
            Origin::Clinical,
            days,
            testing::quantity(value, "mL/min/{1.73_m2}"),
        )
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
                ..patient(72, Sex::Female)
            },
        }
    }

    /// (baseline cards, candidate cards) for the same request.
    fn both(req: &Request) -> (Vec<Card>, Vec<Card>) {
        (
            testing::cards(metformin_egfr::evaluate, req),
            testing::cards(evaluate, req),
        )
    }

    /// (baseline, candidate) indicator for one metformin item of `dose_mg` and one eGFR.
    fn side_by_side(value: f64, dose_mg: Option<f64>) -> (Option<Indicator>, Option<Indicator>) {
        let req = request(
            Hook::PatientView,
            vec![metformin(dose_mg)],
            vec![egfr(10, value)],
        );
        let (a, b) = both(&req);
        (indicator(&a), indicator(&b))
    }

    /// A card with the topic replaced by the baseline's, to compare the rest.
    fn as_baseline(mut card: Card) -> Card {
        card.source.topic = Some(Coding::new(
            CodeSystem::Other(livelab_plugin_sdk::TOPIC_SYSTEM.into()),
            "metformin-egfr",
        ));
        card
    }

    fn is_alert(i: Option<Indicator>) -> bool {
        matches!(i, Some(Indicator::Warning | Indicator::Critical))
    }

    use Indicator::{Critical, Info, Warning};

    #[test]
    fn describes_itself_with_the_baselines_data_needs() {
        let info = describe();
        let baseline = metformin_egfr::describe();
        assert_eq!(info.id, "metformin-egfr-ema");
        assert_eq!(info.version, "0.2.0");
        assert_eq!(
            info.name,
            "Metformin and kidney function (EMA 2016 contraindication)"
        );
        assert!(info.description.contains("below eGFR 30"));
        assert_eq!(baseline.id, "metformin-egfr");
        assert_eq!(baseline.version, "0.1.0");
        assert_eq!(info.hooks, baseline.hooks);
        assert_eq!(info.data_needs, baseline.data_needs);
    }

    #[test]
    fn manifest_template_matches_describe() {
        let manifest = include_str!("../plugin.toml");
        assert!(manifest.contains("\nid = \"metformin-egfr-ema\"\n"));
        assert!(manifest.contains("\nversion = \"0.2.0\"\n"));
        assert!(manifest.contains("\ncomponent = \"\"\n"));
        assert!(manifest.contains("\nsha256 = \"\"\n"));
        let needs = describe().data_needs;
        assert_eq!(manifest.matches("[[data_needs]]").count(), needs.len());
        for need in needs {
            let codes: Vec<String> = need
                .codes
                .iter()
                .map(|c| format!("\"{}|{}\"", c.system.as_str(), c.prefix))
                .collect();
            assert!(
                manifest.contains(&format!("\ncodes = [{}]\n", codes.join(", "))),
                "{codes:?}"
            );
            if let Some(days) = need.look_back_days {
                assert!(manifest.contains(&format!("\nlook_back_days = {days}\n")));
            }
        }
        assert_eq!(manifest.matches("look_back_days").count(), 1);
    }

    #[test]
    fn no_egfr_gives_the_same_info_card() {
        for (obs, dose) in [
            (vec![], Some(500.0)),
            (vec![egfr(366, 20.0)], None),
            (vec![egfr(400, 5.0)], Some(3000.0)),
        ] {
            let (a, b) = both(&request(Hook::PatientView, vec![metformin(dose)], obs));
            assert_eq!(indicator(&a), Some(Info));
            assert_eq!(
                a[0].summary,
                "No eGFR in the last 12 months for a patient on metformin"
            );
            let b = b.into_iter().map(as_baseline).collect::<Vec<_>>();
            assert_eq!(a, b);
        }
    }

    #[test]
    fn below_10_both_contraindicate() {
        for dose in [None, Some(250.0), Some(500.0), Some(2000.0)] {
            for value in [0.0, 5.0, 9.99] {
                assert_eq!(
                    side_by_side(value, dose),
                    (Some(Critical), Some(Critical)),
                    "{value} {dose:?}"
                );
            }
        }
        let req = request(
            Hook::PatientView,
            vec![metformin(Some(1000.0))],
            vec![egfr(3, 7.6)],
        );
        let (a, b) = both(&req);
        let (a, b) = (&a[0], &b[0]);
        // Same summary and suggestion; detail and source cite different guidelines.
        assert_eq!(
            a.summary,
            "Metformin contraindicated at eGFR 8 (1000 mg/day)"
        );
        assert_eq!(b.summary, a.summary);
        assert_eq!(b.suggestions, a.suggestions);
        assert!(a.source.label.starts_with("NHG-Standaard"));
        assert!(b.source.label.starts_with("EMA (2016)"));
        assert!(a.detail.as_ref().unwrap().contains("below 10"));
        assert!(b.detail.as_ref().unwrap().contains("below 30"));
    }

    #[test]
    fn band_10_to_30_dose_within_nhg_maximum_disagrees() {
        // The discordant patients: the baseline stays silent, the candidate contraindicates.
        for value in [10.0, 15.0, 20.0, 29.99] {
            for dose in [0.0, 250.0, 499.5, 500.0] {
                assert_eq!(
                    side_by_side(value, Some(dose)),
                    (None, Some(Critical)),
                    "{value} {dose}"
                );
            }
        }
        let req = request(
            Hook::PatientView,
            vec![metformin(Some(500.0))],
            vec![egfr(0, 24.5)],
        );
        let (a, b) = both(&req);
        assert!(a.is_empty());
        let card = &b[0];
        assert_eq!(
            card.summary,
            "Metformin contraindicated at eGFR 25 (500 mg/day)"
        );
        assert_eq!(card.suggestions[0].label, "Stop metformin");
        assert_eq!(card.suggestions[0].actions[0].kind, ActionKind::Delete);
        assert_eq!(card.source.topic, testing::topic("metformin-egfr-ema"));
        let detail = card.detail.as_ref().unwrap();
        assert!(detail.contains("EMA (2016)") && detail.contains("below eGFR 30"));
        assert!(detail.contains("NHG-Standaard"));
    }

    #[test]
    fn band_10_to_30_dose_above_maximum_is_warning_versus_critical() {
        // Both alert, at different levels and with different advice.
        for value in [10.0, 20.0, 29.99] {
            for dose in [None, Some(500.5), Some(1000.0), Some(3000.0)] {
                assert_eq!(
                    side_by_side(value, dose),
                    (Some(Warning), Some(Critical)),
                    "{value} {dose:?}"
                );
            }
        }
        let req = request(
            Hook::PatientView,
            vec![metformin(Some(1000.0))],
            vec![egfr(0, 20.0)],
        );
        let (a, b) = both(&req);
        assert_eq!(
            a[0].summary,
            "Metformin at eGFR 20 (1000 mg/day): maximum is 1 × 500 mg/day"
        );
        assert_eq!(
            a[0].suggestions[0].label,
            "Reduce metformin to 1 × 500 mg/day"
        );
        assert_eq!(
            b[0].summary,
            "Metformin contraindicated at eGFR 20 (1000 mg/day)"
        );
        assert_eq!(b[0].suggestions[0].label, "Stop metformin");
    }

    #[test]
    fn band_30_to_50_is_the_same() {
        for value in [30.0, 40.0, 45.0, 49.99] {
            for dose in [None, Some(500.0), Some(1000.0), Some(1000.5), Some(2000.0)] {
                let req = request(
                    Hook::PatientView,
                    vec![metformin(dose)],
                    vec![egfr(1, value)],
                );
                let (a, b) = both(&req);
                let expected = if dose.is_some_and(|d| d <= 1000.0) {
                    None
                } else {
                    Some(Warning)
                };
                assert_eq!(indicator(&a), expected, "{value} {dose:?}");
                let b = b.into_iter().map(as_baseline).collect::<Vec<_>>();
                assert_eq!(a, b, "{value} {dose:?}");
            }
        }
    }

    #[test]
    fn from_50_neither_says_anything() {
        for value in [50.0, 60.0, 120.0] {
            for dose in [None, Some(500.0), Some(3000.0)] {
                assert_eq!(side_by_side(value, dose), (None, None), "{value} {dose:?}");
            }
        }
    }

    /// The documented consequence, swept: alerts differ exactly for an eGFR in [10, 30) with
    /// a known dose of at most 500 mg/day; the indicator differs exactly for [10, 30).
    #[test]
    fn alerts_differ_exactly_at_egfr_10_to_30_with_at_most_500_mg() {
        let values = (0..=1200).map(|n| f64::from(n) / 20.0); // 0 to 60 in steps of 0.05
        let doses = [
            None,
            Some(0.0),
            Some(250.0),
            Some(500.0),
            Some(500.01),
            Some(850.0),
            Some(1000.0),
            Some(1500.0),
            Some(3000.0),
        ];
        let mut discordant = 0;
        for value in values {
            for dose in doses {
                let (a, b) = side_by_side(value, dose);
                let band = (10.0..30.0).contains(&value);
                let expected = band && dose.is_some_and(|d| d <= 500.0);
                assert_eq!(
                    is_alert(a) != is_alert(b),
                    expected,
                    "{value} {dose:?}: {a:?} {b:?}"
                );
                assert_eq!(a != b, band, "{value} {dose:?}: {a:?} {b:?}");
                discordant += usize::from(expected);
            }
        }
        // 400 eGFR steps in [10, 30) × 3 known doses of at most 500 mg.
        assert_eq!(discordant, 1200);
    }

    #[test]
    fn same_dose_and_egfr_selection() {
        // The most recent eGFR wins, in both.
        let obs = vec![egfr(200, 60.0), egfr(5, 20.0), egfr(30, 45.0)];
        let req = request(Hook::PatientView, vec![metformin(Some(500.0))], obs);
        assert_eq!(
            both(&req).1[0].summary,
            "Metformin contraindicated at eGFR 20 (500 mg/day)"
        );
        assert!(both(&req).0.is_empty());
        let obs = vec![egfr(5, 60.0), egfr(30, 20.0)];
        let (a, b) = both(&request(
            Hook::PatientView,
            vec![metformin(Some(500.0))],
            obs,
        ));
        assert!(a.is_empty() && b.is_empty());
        // The largest dose in mg; grams convert, other units do not count.
        let meds = vec![
            med(MedicationStatus::Active, Some((0.5, "g"))),
            med(MedicationStatus::Active, Some((4.0, "{tbl}"))),
            med(MedicationStatus::Stopped, Some((3000.0, "mg"))),
        ];
        let (a, b) = both(&request(Hook::PatientView, meds, vec![egfr(1, 20.0)]));
        assert!(a.is_empty());
        assert_eq!(
            b[0].summary,
            "Metformin contraindicated at eGFR 20 (500 mg/day)"
        );
        // Only unconvertible doses: the dose is unknown.
        let meds = vec![med(MedicationStatus::Active, Some((2.0, "{tbl}")))];
        let (a, b) = both(&request(Hook::PatientView, meds, vec![egfr(1, 20.0)]));
        assert_eq!(
            (indicator(&a), indicator(&b)),
            (Some(Warning), Some(Critical))
        );
        assert!(b[0].summary.contains("dose not recorded"));
    }

    #[test]
    fn not_on_metformin_no_card_in_either() {
        for status in [
            MedicationStatus::OnHold,
            MedicationStatus::Completed,
            MedicationStatus::Stopped,
            MedicationStatus::Unknown,
        ] {
            let req = request(
                Hook::PatientView,
                vec![med(status, Some((500.0, "mg")))],
                vec![egfr(1, 20.0)],
            );
            let (a, b) = both(&req);
            assert!(a.is_empty() && b.is_empty(), "{status:?}");
        }
        let (a, b) = both(&request(Hook::PatientView, vec![], vec![egfr(1, 5.0)]));
        assert!(a.is_empty() && b.is_empty());
    }

    #[test]
    fn order_sign_draft_orders_count_in_both() {
        let draft = med(MedicationStatus::Draft, Some((500.0, "mg")));
        let req = request(Hook::OrderSign(vec![draft]), vec![], vec![egfr(0, 15.0)]);
        let (a, b) = both(&req);
        assert!(a.is_empty());
        assert_eq!(indicator(&b), Some(Critical));
        let draft = med(MedicationStatus::Draft, Some((1000.0, "mg")));
        let req = request(Hook::OrderSign(vec![draft]), vec![], vec![egfr(0, 15.0)]);
        let (a, b) = both(&req);
        assert_eq!(
            (indicator(&a), indicator(&b)),
            (Some(Warning), Some(Critical))
        );
        assert!(evaluate(&request(Hook::OrderSign(vec![]), vec![], vec![])).is_ok());
    }
}
