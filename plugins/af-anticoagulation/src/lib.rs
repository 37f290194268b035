//! Sample plugin `af-anticoagulation`: atrial fibrillation without an anticoagulant.
//!
//! Rule 2 of `docs/CLINICAL_REFERENCE.md`: the CHA2DS2-VASc score (heart failure 1, hypertension 1,
//! age ≥ 75 2, diabetes 1, prior stroke/TIA/thromboembolism 2, vascular disease 1, age 65–74
//! 1, female 1) and the ESC 2020 atrial-fibrillation guideline: anticoagulate men with a score
//! ≥ 2 and women with ≥ 3; consider it for men at 1 and women at 2. Anticoagulant = any ATC
//! B01AA (vitamin K antagonist), B01AE or B01AF (DOAC).

use livelab_plugin_sdk::{
    Card, CodeSystem, Coded, Condition, DataNeed, EvaluationError, HookKind, Indicator, PluginInfo,
    Request, Section, Sex, Source, filters,
};

pub const ID: &str = "af-anticoagulation";
const HOOKS: [HookKind; 1] = [HookKind::PatientView];
const GUIDELINE: &str = "ESC 2020 Guidelines for the management of atrial fibrillation";

// ICPC-1 (NL) episode codes, per the table in `docs/CLINICAL_REFERENCE.md` (K93 is pulmonary
// embolism, counted as thromboembolism; K75 acute MI, K76 chronic ischaemic heart disease and
// K92 atherosclerosis/peripheral arterial disease are the vascular disease of the score).
const AF: &[&str] = &["K78"];
const HEART_FAILURE: &[&str] = &["K77"];
const HYPERTENSION: &[&str] = &["K86", "K87"];
const DIABETES: &[&str] = &["T90"];
const STROKE_TIA_THROMBOEMBOLISM: &[&str] = &["K89", "K90", "K93"];
const VASCULAR_DISEASE: &[&str] = &["K75", "K76", "K92"];
/// Vitamin K antagonists (B01AA) and DOACs (B01AE, B01AF), per rule 2.
const ANTICOAGULANT_ATC: &[&str] = &["B01AA", "B01AE", "B01AF"];

pub fn describe() -> PluginInfo {
    let conditions = [
        AF,
        HEART_FAILURE,
        HYPERTENSION,
        DIABETES,
        STROKE_TIA_THROMBOEMBOLISM,
        VASCULAR_DISEASE,
    ]
    .concat();
    PluginInfo {
        id: ID.into(),
        name: "Atrial fibrillation without anticoagulation".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Computes CHA2DS2-VASc for patients with atrial fibrillation and no active \
                      anticoagulant, and advises anticoagulation per the ESC 2020 guideline."
            .into(),
        hooks: HOOKS.to_vec(),
        data_needs: vec![
            DataNeed::new(
                Section::Conditions,
                filters(CodeSystem::Icpc, &conditions),
                None,
            ),
            DataNeed::new(
                Section::Medications,
                filters(CodeSystem::Atc, ANTICOAGULANT_ATC),
                None,
            ),
        ],
    }
}

pub fn evaluate(request: &Request) -> Result<Vec<Card>, EvaluationError> {
    request.ensure_hook(&HOOKS)?;
    let patient = &request.patient;
    let any = |prefixes: &[&str], active_only: bool| {
        patient.conditions.iter().any(|c: &Condition| {
            (!active_only || c.is_active()) && c.has_any_code(&CodeSystem::Icpc, prefixes)
        })
    };
    if !any(AF, true) {
        return Ok(Vec::new());
    }
    if patient
        .medications
        .iter()
        .any(|m| m.is_active() && m.has_any_code(&CodeSystem::Atc, ANTICOAGULANT_ATC))
    {
        return Ok(Vec::new());
    }

    // CHA2DS2-VASc (rule 2). Present conditions need status active/recurrence/relapse; a
    // history of stroke/TIA/thromboembolism or vascular disease counts whatever its status.
    let age = patient.age_years;
    let female = patient.sex == Sex::Female;
    let items: [(&str, u8, bool); 8] = [
        ("heart failure", 1, any(HEART_FAILURE, true)),
        ("hypertension", 1, any(HYPERTENSION, true)),
        ("age ≥ 75", 2, age >= 75),
        ("age 65–74", 1, (65..75).contains(&age)),
        ("diabetes", 1, any(DIABETES, true)),
        (
            "prior stroke, TIA or thromboembolism",
            2,
            any(STROKE_TIA_THROMBOEMBOLISM, false),
        ),
        ("vascular disease", 1, any(VASCULAR_DISEASE, false)),
        ("female sex", 1, female),
    ];
    let score: u8 = items.iter().filter(|i| i.2).map(|i| i.1).sum();

    // ESC 2020: anticoagulate men ≥ 2, women ≥ 3; consider at men 1, women 2. Sex other or
    // unknown is scored as male.
    let (anticoagulate_from, consider_at) = if female { (3, 2) } else { (2, 1) };
    let (indicator, advice) = if score >= anticoagulate_from {
        (Indicator::Warning, "no anticoagulant")
    } else if score == consider_at {
        (Indicator::Info, "consider anticoagulation")
    } else {
        return Ok(Vec::new());
    };

    let breakdown = items
        .iter()
        .filter(|i| i.2)
        .map(|i| format!("{} +{}", i.0, i.1))
        .collect::<Vec<_>>()
        .join(", ");
    // A card needs a score of at least 1, so the breakdown is never empty.
    let mut detail = format!(
        "CHA2DS2-VASc {score} ({breakdown}) and no active vitamin K antagonist (ATC B01AA) or \
         DOAC (B01AE, B01AF). The {GUIDELINE} recommends oral anticoagulation for men with a \
         score ≥ 2 and women with a score ≥ 3, and to consider it for men with a score of 1 and \
         women with a score of 2."
    );
    if matches!(patient.sex, Sex::Other | Sex::Unknown) {
        detail.push_str(&format!(
            " Sex is recorded as {}: scored as male (no sex-category point).",
            patient.sex.as_str()
        ));
    }
    Ok(vec![
        Card::new(
            format!("Atrial fibrillation, CHA2DS2-VASc {score}, {advice}"),
            indicator,
            Source::for_plugin(GUIDELINE, ID),
        )
        .with_detail(detail),
    ])
}

livelab_plugin_sdk::component!(AfAnticoagulation);

#[cfg(test)]
mod tests {
    use super::*;
    use livelab_plugin_sdk::testing::{self, patient};
    use livelab_plugin_sdk::{
        ClinicalStatus, Coding, ErrorKind, Medication, MedicationStatus, Patient,
    };

    fn cond(code: &str, status: ClinicalStatus) -> Condition {
        testing::condition(CodeSystem::Icpc, code, status, Some(1000))
    }

    fn af() -> Condition {
        cond("K78", ClinicalStatus::Active)
    }

    fn med(atc: &str, status: MedicationStatus) -> Medication {
        testing::medication(CodeSystem::Atc, atc, status, Some(30), None)
    }

    fn run(
        age: u8,
        sex: Sex,
        conditions: Vec<Condition>,
        medications: Vec<Medication>,
    ) -> Vec<Card> {
        let patient = Patient {
            conditions,
            medications,
            ..patient(age, sex)
        };
        testing::run(evaluate, patient)
    }

    /// (indicator, summary) of the only card, if any.
    fn outcome(age: u8, sex: Sex, conditions: Vec<Condition>) -> Option<(Indicator, String)> {
        testing::outcome(run(age, sex, conditions, vec![]))
    }

    fn warning(score: u8) -> Option<(Indicator, String)> {
        Some((
            Indicator::Warning,
            format!("Atrial fibrillation, CHA2DS2-VASc {score}, no anticoagulant"),
        ))
    }

    fn info(score: u8) -> Option<(Indicator, String)> {
        Some((
            Indicator::Info,
            format!("Atrial fibrillation, CHA2DS2-VASc {score}, consider anticoagulation"),
        ))
    }

    #[test]
    fn describes_itself() {
        let info = describe();
        assert_eq!(info.id, "af-anticoagulation");
        assert_eq!(info.hooks, vec![HookKind::PatientView]);
        let prefixes = |need: &DataNeed| {
            need.codes
                .iter()
                .map(|f| (f.system.as_str().to_owned(), f.prefix.clone()))
                .collect::<Vec<_>>()
        };
        assert_eq!(info.data_needs[0].section, Section::Conditions);
        assert_eq!(info.data_needs[0].look_back_days, None);
        let icpc: Vec<_> = [
            "K78", "K77", "K86", "K87", "T90", "K89", "K90", "K93", "K75", "K76", "K92",
        ]
        .iter()
        .map(|c| ("icpc".to_owned(), c.to_string()))
        .collect();
        assert_eq!(prefixes(&info.data_needs[0]), icpc);
        assert_eq!(info.data_needs[1].section, Section::Medications);
        assert_eq!(info.data_needs[1].look_back_days, None);
        assert_eq!(
            prefixes(&info.data_needs[1]),
            vec![
                ("atc".to_owned(), "B01AA".to_owned()),
                ("atc".to_owned(), "B01AE".to_owned()),
                ("atc".to_owned(), "B01AF".to_owned()),
            ]
        );
    }

    #[test]
    fn needs_current_af() {
        assert_eq!(outcome(80, Sex::Male, vec![]), None);
        for status in [
            ClinicalStatus::Inactive,
            ClinicalStatus::Remission,
            ClinicalStatus::Resolved,
            ClinicalStatus::Unknown,
        ] {
            assert_eq!(
                outcome(80, Sex::Male, vec![cond("K78", status)]),
                None,
                "{status:?}"
            );
        }
        for status in [
            ClinicalStatus::Active,
            ClinicalStatus::Recurrence,
            ClinicalStatus::Relapse,
        ] {
            assert_eq!(
                outcome(80, Sex::Male, vec![cond("K78", status)]),
                warning(2),
                "{status:?}"
            );
        }
        // A sub-code of K78 is AF too; a SNOMED code K78 is not ICPC.
        assert_eq!(
            outcome(80, Sex::Male, vec![cond("K78.01", ClinicalStatus::Active)]),
            warning(2)
        );
        let mut snomed = af();
        snomed.code = vec![Coding::new(CodeSystem::SnomedCt, "K78")];
        assert_eq!(outcome(80, Sex::Male, vec![snomed]), None);
    }

    #[test]
    fn active_anticoagulant_silences() {
        for atc in [
            "B01AA03", "B01AA04", "B01AA07", "B01AE07", "B01AF01", "B01AF02",
        ] {
            let cards = run(
                80,
                Sex::Male,
                vec![af()],
                vec![med(atc, MedicationStatus::Active)],
            );
            assert!(cards.is_empty(), "{atc}");
        }
        // Not active, or not an anticoagulant (aspirin B01AC06): still a card.
        for m in [
            med("B01AF01", MedicationStatus::OnHold),
            med("B01AF01", MedicationStatus::Stopped),
            med("B01AF01", MedicationStatus::Completed),
            med("B01AF01", MedicationStatus::Draft),
            med("B01AA04", MedicationStatus::Unknown),
            med("B01AC06", MedicationStatus::Active),
        ] {
            let cards = run(80, Sex::Male, vec![af()], vec![m.clone()]);
            assert_eq!(cards.len(), 1, "{m:?}");
        }
    }

    #[test]
    fn age_points_and_edges() {
        assert_eq!(outcome(64, Sex::Male, vec![af()]), None);
        assert_eq!(outcome(65, Sex::Male, vec![af()]), info(1));
        assert_eq!(outcome(74, Sex::Male, vec![af()]), info(1));
        assert_eq!(outcome(75, Sex::Male, vec![af()]), warning(2));
        assert_eq!(outcome(64, Sex::Female, vec![af()]), None);
        assert_eq!(outcome(65, Sex::Female, vec![af()]), info(2));
        assert_eq!(outcome(74, Sex::Female, vec![af()]), info(2));
        assert_eq!(outcome(75, Sex::Female, vec![af()]), warning(3));
    }

    #[test]
    fn one_point_items_need_a_current_condition() {
        for code in ["K77", "K86", "K87", "T90", "T90.02"] {
            for status in [
                ClinicalStatus::Active,
                ClinicalStatus::Recurrence,
                ClinicalStatus::Relapse,
            ] {
                let conditions = vec![af(), cond(code, status)];
                assert_eq!(outcome(50, Sex::Male, conditions), info(1), "{code}");
            }
            for status in [
                ClinicalStatus::Inactive,
                ClinicalStatus::Remission,
                ClinicalStatus::Resolved,
                ClinicalStatus::Unknown,
            ] {
                let conditions = vec![af(), cond(code, status)];
                assert_eq!(outcome(50, Sex::Male, conditions), None, "{code}");
            }
        }
    }

    #[test]
    fn history_items_count_in_any_status() {
        for status in [ClinicalStatus::Resolved, ClinicalStatus::Active] {
            for code in ["K89", "K90", "K93"] {
                let conditions = vec![af(), cond(code, status)];
                assert_eq!(outcome(50, Sex::Male, conditions), warning(2), "{code}");
            }
            for code in ["K75", "K76", "K92"] {
                let conditions = vec![af(), cond(code, status)];
                assert_eq!(outcome(50, Sex::Male, conditions), info(1), "{code}");
            }
        }
    }

    #[test]
    fn each_category_counts_once() {
        let conditions = vec![
            af(),
            cond("K86", ClinicalStatus::Active),
            cond("K87", ClinicalStatus::Active),
            cond("K89", ClinicalStatus::Resolved),
            cond("K90", ClinicalStatus::Resolved),
        ];
        assert_eq!(outcome(50, Sex::Male, conditions), warning(3));
    }

    #[test]
    fn maximum_score_is_nine() {
        let conditions = vec![
            af(),
            cond("K77", ClinicalStatus::Active),
            cond("K86", ClinicalStatus::Active),
            cond("T90", ClinicalStatus::Active),
            cond("K90", ClinicalStatus::Resolved),
            cond("K92", ClinicalStatus::Active),
        ];
        assert_eq!(outcome(90, Sex::Female, conditions), warning(9));
    }

    #[test]
    fn sex_thresholds() {
        // Men: 0 none, 1 info, 2 warning. Women (female point included): 1 none, 2 info, 3 warning.
        let hf = || cond("K77", ClinicalStatus::Active);
        assert_eq!(outcome(40, Sex::Male, vec![af()]), None);
        assert_eq!(outcome(40, Sex::Male, vec![af(), hf()]), info(1));
        assert_eq!(outcome(70, Sex::Male, vec![af(), hf()]), warning(2));
        assert_eq!(outcome(40, Sex::Female, vec![af()]), None);
        assert_eq!(outcome(40, Sex::Female, vec![af(), hf()]), info(2));
        assert_eq!(outcome(70, Sex::Female, vec![af(), hf()]), warning(3));
    }

    #[test]
    fn other_and_unknown_sex_score_as_male() {
        for sex in [Sex::Other, Sex::Unknown] {
            let cards = run(70, sex, vec![af()], vec![]);
            assert_eq!(cards.len(), 1);
            assert_eq!(cards[0].indicator, Indicator::Info);
            assert_eq!(
                cards[0].summary,
                "Atrial fibrillation, CHA2DS2-VASc 1, consider anticoagulation"
            );
            let detail = cards[0].detail.as_deref().unwrap();
            assert!(detail.contains(&format!("recorded as {}", sex.as_str())));
            assert!(detail.contains("scored as male"));
        }
        let male = run(70, Sex::Male, vec![af()], vec![]);
        assert!(
            !male[0]
                .detail
                .as_deref()
                .unwrap()
                .contains("scored as male")
        );
    }

    #[test]
    fn card_names_guideline_and_breakdown() {
        let cards = run(
            80,
            Sex::Female,
            vec![af(), cond("K86", ClinicalStatus::Active)],
            vec![],
        );
        let card = &cards[0];
        assert_eq!(card.source.label, GUIDELINE);
        assert_eq!(card.source.topic, testing::topic("af-anticoagulation"));
        let detail = card.detail.as_deref().unwrap();
        assert!(detail.contains("ESC 2020"));
        assert!(
            detail.starts_with("CHA2DS2-VASc 4 (hypertension +1, age ≥ 75 +2, female sex +1)"),
            "{detail}"
        );
        assert!(card.summary.chars().count() < 140);
    }

    #[test]
    fn order_sign_is_not_served() {
        let patient = Patient {
            conditions: vec![af()],
            ..patient(80, Sex::Male)
        };
        let err = testing::error(evaluate, &testing::order_sign(patient, vec![]));
        assert_eq!(err.kind, ErrorKind::UnsupportedHook);
    }
}
