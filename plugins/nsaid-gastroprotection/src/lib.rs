//! Sample plugin `nsaid-gastroprotection`: an NSAID without stomach protection.
//!
//! Rule 3 of `docs/CLINICAL_REFERENCE.md` (CBO guideline "NSAID-gebruik en preventie van
//! maagschade", as the NHG follows it): someone using an NSAID needs stomach protection if aged
//! over 70 or with a prior peptic ulcer; protection is to be considered with two or more of:
//! age 60–70, an anticoagulant or aspirin, a systemic corticosteroid, an SSRI, a high-dose NSAID,
//! heart failure or diabetes. Protection = a proton-pump inhibitor (ATC A02BC).
//!
//! As implemented (all medications must be `active`; heart failure and diabetes must be
//! active; a prior ulcer counts in any clinical status, refuted ones never reach a plugin):
//!
//! - NSAID: ATC M01AA, M01AB, M01AC, M01AE, M01AG, M01AH (coxibs) and M01AX01 (nabumetone);
//!   not the rest of M01AX (glucosamine M01AX05 is no NSAID). US RxNorm codes reach the rule
//!   through the shipped RxNorm → ATC map (ibuprofen 206905, 198405; naproxen 849574).
//! - PPI: ATC A02BC (omeprazole 01, pantoprazole 02, lansoprazole 03, rabeprazole 04,
//!   esomeprazole 05); RxNorm ingredients map to these.
//! - Prior ulcer: ICPC D85 (duodenal ulcer), D86 (other peptic ulcer); SNOMED CT 13200003
//!   (peptic ulcer), 51868009 (duodenal ulcer), 397825006 (gastric ulcer), declared directly
//!   because the shipped SNOMED → ICPC map does not cover them.
//! - Anticoagulant or aspirin: ATC B01AA, B01AE, B01AF (as in rule 2), aspirin B01AC06 and
//!   carbasalate calcium B01AC08 (a prodrug of aspirin, the Dutch low-dose form); RxNorm 1191
//!   aspirin directly (the shipped map gives it only as an inexact match). Clopidogrel and
//!   other antiplatelets do not count: the rule names aspirin.
//! - Systemic corticosteroid: ATC H02AB; RxNorm 8640 prednisone and 8638 prednisolone
//!   directly (no shipped map).
//! - SSRI: ATC N06AB. Heart failure: ICPC K77. Diabetes: ICPC T90 (SNOMED CT codes map to
//!   both).
//! - High-dose NSAID (daily dose above the usual maximum of self-care and low-risk use):
//!   ibuprofen (M01AE01) > 1600 mg/day, naproxen (M01AE02) > 750 mg/day, diclofenac
//!   (M01AB05) > 100 mg/day. Other NSAIDs, and orders without a daily dose in mg, are not
//!   counted as high dose.
//! - Age: > 70 means protect; 60–70 inclusive is one risk factor (70 is not > 70).
//!
//! Cards: protection indicated and no active PPI → warning; two or more risk factors and no
//! active PPI → info ("consider"); otherwise none.

use livelab_plugin_sdk::{
    Card, CodeSystem, Coded, DataNeed, EvaluationError, HookKind, Indicator, Medication,
    PluginInfo, Request, Section, Source, filters,
};

pub const ID: &str = "nsaid-gastroprotection";
const HOOKS: [HookKind; 1] = [HookKind::PatientView];
const GUIDELINE: &str = "CBO/NHG: NSAID use and prevention of gastric damage";

const NSAID_ATC: &[&str] = &[
    "M01AA", "M01AB", "M01AC", "M01AE", "M01AG", "M01AH", "M01AX01",
];
const PPI_ATC: &[&str] = &["A02BC"];
const ULCER_ICPC: &[&str] = &["D85", "D86"];
const ULCER_SNOMED: &[&str] = &["13200003", "51868009", "397825006"];
const HEART_FAILURE_ICPC: &[&str] = &["K77"];
const DIABETES_ICPC: &[&str] = &["T90"];
const ANTITHROMBOTIC_ATC: &[&str] = &["B01AA", "B01AE", "B01AF", "B01AC06", "B01AC08"];
const ASPIRIN_RXNORM: &[&str] = &["1191"];
const CORTICOSTEROID_ATC: &[&str] = &["H02AB"];
const CORTICOSTEROID_RXNORM: &[&str] = &["8640", "8638"];
const SSRI_ATC: &[&str] = &["N06AB"];

/// High-dose thresholds: (ATC, more than this many mg per day).
pub const HIGH_DOSE_MG: [(&str, f64); 3] = [
    ("M01AE01", 1600.0), // ibuprofen
    ("M01AE02", 750.0),  // naproxen
    ("M01AB05", 100.0),  // diclofenac
];

pub fn describe() -> PluginInfo {
    let mut ulcer = filters(CodeSystem::Icpc, ULCER_ICPC);
    ulcer.extend(filters(CodeSystem::SnomedCt, ULCER_SNOMED));
    let mut medications = filters(
        CodeSystem::Atc,
        &[
            NSAID_ATC,
            PPI_ATC,
            ANTITHROMBOTIC_ATC,
            CORTICOSTEROID_ATC,
            SSRI_ATC,
        ]
        .concat(),
    );
    medications.extend(filters(
        CodeSystem::Rxnorm,
        &[ASPIRIN_RXNORM, CORTICOSTEROID_RXNORM].concat(),
    ));
    PluginInfo {
        id: ID.into(),
        name: "NSAID without stomach protection".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        description: "Checks NSAID users without a proton-pump inhibitor for the CBO/NHG \
                      indications for stomach protection (age over 70, prior ulcer, or two \
                      or more risk factors)."
            .into(),
        hooks: HOOKS.to_vec(),
        data_needs: vec![
            // A prior ulcer counts whenever it was.
            DataNeed::new(Section::Conditions, ulcer, None),
            // Heart failure and diabetes only when active (active items pass any look-back).
            DataNeed::new(
                Section::Conditions,
                filters(
                    CodeSystem::Icpc,
                    &[HEART_FAILURE_ICPC, DIABETES_ICPC].concat(),
                ),
                Some(0),
            ),
            // Only current medications matter.
            DataNeed::new(Section::Medications, medications, Some(0)),
        ],
    }
}

fn is(m: &Medication, atc: &[&str], rxnorm: &[&str]) -> bool {
    m.has_any_code(&CodeSystem::Atc, atc) || m.has_any_code(&CodeSystem::Rxnorm, rxnorm)
}

/// The NSAID's daily dose is above its high-dose threshold.
pub fn high_dose(m: &Medication) -> bool {
    let Some(mg) = m.daily_dose_mg() else {
        return false;
    };
    HIGH_DOSE_MG
        .iter()
        .any(|(atc, limit)| m.has_code(&CodeSystem::Atc, atc) && mg > *limit)
}

pub fn evaluate(request: &Request) -> Result<Vec<Card>, EvaluationError> {
    request.ensure_hook(&HOOKS)?;
    let patient = &request.patient;
    let active: Vec<&Medication> = patient
        .medications
        .iter()
        .filter(|m| m.is_active())
        .collect();
    let nsaids: Vec<&Medication> = active
        .iter()
        .copied()
        .filter(|m| is(m, NSAID_ATC, &[]))
        .collect();
    if nsaids.is_empty() || active.iter().any(|m| is(m, PPI_ATC, &[])) {
        return Ok(Vec::new());
    }
    let age = patient.age_years;
    let condition = |icpc: &[&str], snomed: &[&str], active_only: bool| {
        patient.conditions.iter().any(|c| {
            (!active_only || c.is_active())
                && (c.has_any_code(&CodeSystem::Icpc, icpc)
                    || c.has_any_code(&CodeSystem::SnomedCt, snomed))
        })
    };
    let using = |atc: &[&str], rxnorm: &[&str]| active.iter().any(|m| is(m, atc, rxnorm));

    let indications: Vec<String> = [
        (age > 70).then(|| format!("age {age} (over 70)")),
        condition(ULCER_ICPC, ULCER_SNOMED, false).then(|| "a prior peptic ulcer".to_string()),
    ]
    .into_iter()
    .flatten()
    .collect();
    let risk_factors: Vec<&str> = [
        ((60..=70).contains(&age), "age 60–70"),
        (
            using(ANTITHROMBOTIC_ATC, ASPIRIN_RXNORM),
            "an anticoagulant or aspirin",
        ),
        (
            using(CORTICOSTEROID_ATC, CORTICOSTEROID_RXNORM),
            "a corticosteroid",
        ),
        (using(SSRI_ATC, &[]), "an SSRI"),
        (
            nsaids.iter().any(|m| high_dose(m)),
            "a high-dose NSAID (ibuprofen > 1600, naproxen > 750, diclofenac > 100 mg/day)",
        ),
        (
            condition(HEART_FAILURE_ICPC, &[], true) || condition(DIABETES_ICPC, &[], true),
            "heart failure or diabetes",
        ),
    ]
    .into_iter()
    .filter_map(|(present, name)| present.then_some(name))
    .collect();

    let source = Source::for_plugin(GUIDELINE, ID);
    let factors = if risk_factors.is_empty() {
        "none".to_string()
    } else {
        risk_factors.join(", ")
    };
    let rule = "The guideline indicates stomach protection with a proton-pump inhibitor (ATC \
                A02BC) for NSAID users over 70 or with a prior ulcer, and advises considering \
                it with two or more of: age 60–70, an anticoagulant or aspirin, a \
                corticosteroid, an SSRI, a high-dose NSAID, heart failure or diabetes.";
    if !indications.is_empty() {
        let why = indications.join(" and ");
        return Ok(vec![
            Card::new(
                format!("NSAID without stomach protection: {why}; add a PPI"),
                Indicator::Warning,
                source,
            )
            .with_detail(format!(
                "Active NSAID and no active proton-pump inhibitor; {why}. Other risk factors: \
                 {factors}. {rule} ({GUIDELINE})"
            )),
        ]);
    }
    if risk_factors.len() >= 2 {
        return Ok(vec![
            Card::new(
                format!(
                    "NSAID without stomach protection and {} risk factors: consider a PPI",
                    risk_factors.len()
                ),
                Indicator::Info,
                source,
            )
            .with_detail(format!(
                "Active NSAID and no active proton-pump inhibitor; risk factors: {factors}. \
                 {rule} ({GUIDELINE})"
            )),
        ]);
    }
    Ok(Vec::new())
}

livelab_plugin_sdk::component!(NsaidGastroprotection);

#[cfg(test)]
mod tests {
    use super::*;
    use livelab_plugin_sdk::testing::{self, patient};
    use livelab_plugin_sdk::{
        ClinicalStatus, Condition, ErrorKind, MedicationStatus, Patient, Quantity, Sex,
    };

    fn med(system: CodeSystem, code: &str, daily_mg: Option<f64>) -> Medication {
        let daily_dose = daily_mg.map(|value| Quantity::new(value, "mg"));
        testing::medication(system, code, MedicationStatus::Active, Some(30), daily_dose)
    }

    fn atc(code: &str) -> Medication {
        med(CodeSystem::Atc, code, None)
    }

    fn ibuprofen(daily_mg: f64) -> Medication {
        med(CodeSystem::Atc, "M01AE01", Some(daily_mg))
    }

    fn cond(system: CodeSystem, code: &str, status: ClinicalStatus) -> Condition {
        testing::condition(system, code, status, Some(2000))
    }

    fn run(age: u8, conditions: Vec<Condition>, medications: Vec<Medication>) -> Vec<Card> {
        let patient = Patient {
            conditions,
            medications,
            ..patient(age, Sex::Female)
        };
        testing::run(evaluate, patient)
    }

    fn indicator(
        age: u8,
        conditions: Vec<Condition>,
        medications: Vec<Medication>,
    ) -> Option<Indicator> {
        testing::indicator(&run(age, conditions, medications))
    }

    #[test]
    fn describes_itself() {
        let info = describe();
        assert_eq!(info.id, "nsaid-gastroprotection");
        assert_eq!(info.hooks, vec![HookKind::PatientView]);
        let sections: Vec<(Section, Option<u32>)> = info
            .data_needs
            .iter()
            .map(|n| (n.section, n.look_back_days))
            .collect();
        assert_eq!(
            sections,
            vec![
                (Section::Conditions, None),
                (Section::Conditions, Some(0)),
                (Section::Medications, Some(0))
            ]
        );
        assert_eq!(info.data_needs[0].codes.len(), 5);
        assert_eq!(info.data_needs[1].codes.len(), 2);
        assert_eq!(info.data_needs[2].codes.len(), 18);
    }

    #[test]
    fn age_edges() {
        let nsaid = || vec![ibuprofen(1200.0)];
        assert_eq!(indicator(71, vec![], nsaid()), Some(Indicator::Warning));
        // 70 is not over 70: one risk factor (60–70) only.
        assert_eq!(indicator(70, vec![], nsaid()), None);
        assert_eq!(indicator(59, vec![], nsaid()), None);
        let card = run(71, vec![], nsaid()).remove(0);
        assert_eq!(
            card.summary,
            "NSAID without stomach protection: age 71 (over 70); add a PPI"
        );
        assert_eq!(card.source.label, GUIDELINE);
        assert_eq!(card.source.topic, testing::topic("nsaid-gastroprotection"));
        assert!(card.detail.unwrap().contains("CBO/NHG"));
    }

    #[test]
    fn no_nsaid_or_a_ppi_gives_no_card() {
        assert_eq!(indicator(80, vec![], vec![]), None);
        assert_eq!(indicator(80, vec![], vec![atc("B01AC06")]), None);
        for ppi in ["A02BC01", "A02BC02", "A02BC05"] {
            assert_eq!(
                indicator(80, vec![], vec![ibuprofen(1200.0), atc(ppi)]),
                None
            );
        }
        // A stopped NSAID or a PPI on hold do not count.
        let mut stopped = ibuprofen(1200.0);
        stopped.status = MedicationStatus::Stopped;
        assert_eq!(indicator(80, vec![], vec![stopped]), None);
        let mut on_hold = atc("A02BC01");
        on_hold.status = MedicationStatus::OnHold;
        assert_eq!(
            indicator(80, vec![], vec![ibuprofen(1200.0), on_hold]),
            Some(Indicator::Warning)
        );
        // Glucosamine (M01AX05) is no NSAID; nabumetone (M01AX01) and coxibs are.
        assert_eq!(indicator(80, vec![], vec![atc("M01AX05")]), None);
        assert_eq!(
            indicator(80, vec![], vec![atc("M01AX01")]),
            Some(Indicator::Warning)
        );
        assert_eq!(
            indicator(80, vec![], vec![atc("M01AH01")]),
            Some(Indicator::Warning)
        );
    }

    #[test]
    fn prior_ulcer_in_any_status_means_protect() {
        for (system, code) in [
            (CodeSystem::Icpc, "D85"),
            (CodeSystem::Icpc, "D86"),
            (CodeSystem::SnomedCt, "13200003"),
            (CodeSystem::SnomedCt, "51868009"),
            (CodeSystem::SnomedCt, "397825006"),
        ] {
            let ulcer = cond(system, code, ClinicalStatus::Resolved);
            assert_eq!(
                indicator(40, vec![ulcer], vec![atc("M01AB05")]),
                Some(Indicator::Warning),
                "{code}"
            );
        }
        let card = run(
            75,
            vec![cond(CodeSystem::Icpc, "D86", ClinicalStatus::Active)],
            vec![ibuprofen(1200.0)],
        )
        .remove(0);
        assert_eq!(
            card.summary,
            "NSAID without stomach protection: age 75 (over 70) and a prior peptic ulcer; add a \
             PPI"
        );
    }

    #[test]
    fn two_risk_factors_mean_consider() {
        let nsaid = ibuprofen(1200.0);
        // One factor: nothing.
        assert_eq!(indicator(65, vec![], vec![nsaid.clone()]), None);
        assert_eq!(
            indicator(40, vec![], vec![nsaid.clone(), atc("N06AB06")]),
            None
        );
        // Two: info, from each pair of factors.
        let factors: Vec<(u8, Vec<Condition>, Vec<Medication>)> = vec![
            (65, vec![], vec![]),
            (40, vec![], vec![atc("B01AF02")]),
            (40, vec![], vec![atc("H02AB06")]),
            (40, vec![], vec![atc("N06AB04")]),
            (40, vec![], vec![ibuprofen(2400.0)]),
            (
                40,
                vec![cond(CodeSystem::Icpc, "K77", ClinicalStatus::Active)],
                vec![],
            ),
        ];
        for (i, a) in factors.iter().enumerate() {
            for b in &factors[i + 1..] {
                let age = a.0.max(b.0);
                let conditions = [a.1.clone(), b.1.clone()].concat();
                let mut meds = [a.2.clone(), b.2.clone()].concat();
                meds.push(nsaid.clone());
                assert_eq!(
                    indicator(age, conditions, meds),
                    Some(Indicator::Info),
                    "{a:?} {b:?}"
                );
            }
        }
        let card = run(62, vec![], vec![nsaid, atc("B01AC08")]).remove(0);
        assert_eq!(
            card.summary,
            "NSAID without stomach protection and 2 risk factors: consider a PPI"
        );
        assert!(
            card.detail
                .unwrap()
                .contains("age 60–70, an anticoagulant or aspirin")
        );
    }

    #[test]
    fn what_counts_as_a_risk_factor() {
        let nsaid = || ibuprofen(1200.0);
        let at_65 = |conditions, mut meds: Vec<Medication>| {
            meds.push(nsaid());
            indicator(65, conditions, meds)
        };
        // Aspirin and carbasalate count, RxNorm aspirin too; clopidogrel does not.
        assert_eq!(at_65(vec![], vec![atc("B01AC06")]), Some(Indicator::Info));
        assert_eq!(
            at_65(vec![], vec![med(CodeSystem::Rxnorm, "1191", None)]),
            Some(Indicator::Info)
        );
        assert_eq!(at_65(vec![], vec![atc("B01AC04")]), None);
        assert_eq!(at_65(vec![], vec![atc("B01AA04")]), Some(Indicator::Info));
        // Prednisone by RxNorm.
        assert_eq!(
            at_65(vec![], vec![med(CodeSystem::Rxnorm, "8640", None)]),
            Some(Indicator::Info)
        );
        // Diabetes counts when active, not when resolved; HF and diabetes are one factor.
        assert_eq!(
            at_65(
                vec![cond(CodeSystem::Icpc, "T90.02", ClinicalStatus::Active)],
                vec![]
            ),
            Some(Indicator::Info)
        );
        assert_eq!(
            at_65(
                vec![cond(CodeSystem::Icpc, "T90.02", ClinicalStatus::Resolved)],
                vec![]
            ),
            None
        );
        assert_eq!(
            indicator(
                40,
                vec![
                    cond(CodeSystem::Icpc, "T90.02", ClinicalStatus::Active),
                    cond(CodeSystem::Icpc, "K77", ClinicalStatus::Active)
                ],
                vec![nsaid()]
            ),
            None
        );
        // A stopped SSRI does not count.
        let mut ssri = atc("N06AB10");
        ssri.status = MedicationStatus::Stopped;
        assert_eq!(at_65(vec![], vec![ssri]), None);
    }

    #[test]
    fn high_dose_edges() {
        let high = |m: Medication| high_dose(&m);
        assert!(!high(ibuprofen(1600.0)));
        assert!(high(ibuprofen(1601.0)));
        assert!(!high(med(CodeSystem::Atc, "M01AE02", Some(750.0))));
        assert!(high(med(CodeSystem::Atc, "M01AE02", Some(1000.0))));
        assert!(!high(med(CodeSystem::Atc, "M01AB05", Some(100.0))));
        assert!(high(med(CodeSystem::Atc, "M01AB05", Some(150.0))));
        // No dose, another NSAID, or a dose not in mass units: not high.
        assert!(!high(med(CodeSystem::Atc, "M01AB05", None)));
        assert!(!high(med(CodeSystem::Atc, "M01AH01", Some(400.0))));
        let mut tablets = ibuprofen(4.0);
        tablets.daily_dose.as_mut().unwrap().unit = "{tbl}".into();
        assert!(!high(tablets));
        // A high dose plus age 60–70: consider; 1600 mg at 65 alone: nothing.
        assert_eq!(
            indicator(65, vec![], vec![ibuprofen(2400.0)]),
            Some(Indicator::Info)
        );
        assert_eq!(indicator(65, vec![], vec![ibuprofen(1600.0)]), None);
    }

    #[test]
    fn order_sign_is_not_served() {
        let patient = Patient {
            medications: vec![ibuprofen(1200.0)],
            ..patient(80, Sex::Male)
        };
        let err = testing::error(evaluate, &testing::order_sign(patient, vec![]));
        assert_eq!(err.kind, ErrorKind::UnsupportedHook);
    }
}
