//! The code tables the cohort generator emits: one place for every coding.
//!
//! Each concept has a Dutch coding list (ICPC-1 NL for episodes, ATC for medications, LOINC plus
//! NHG Tabel 45 for labs where NHG has a code) and a US coding list (SNOMED CT, RxNorm, LOINC
//! only), as `docs/CLINICAL_REFERENCE.md` describes ("Code systems", "Codes by concept").
//! SNOMED CT and RxNorm codes the reference does not list are chosen as follows:
//! ingredient-level RxCUIs (warfarin 11289, apixaban 1364430, rivaroxaban 1114195, aspirin 1191,
//! clopidogrel 32968, albuterol 435, omeprazole 7646, penicillin G 7980) or clinical-drug RxCUIs
//! (metformin 500 mg tablet 861007, metformin ER 500 mg 860975, lisinopril 10 mg 314076,
//! simvastatin 10 mg 314231, the last three as Synthea emits them); SNOMED CT disorders as
//! Synthea and US Core examples use them.

/// FHIR code-system URIs.
pub const ICPC: &str = "http://hl7.org/fhir/sid/icpc-1-nl";
pub const ATC: &str = "http://www.whocc.no/atc";
pub const LOINC: &str = "http://loinc.org";
pub const SNOMED: &str = "http://snomed.info/sct";
pub const RXNORM: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub const NHG45: &str = "urn:oid:2.16.840.1.113883.2.4.4.30.45";
pub const UCUM: &str = "http://unitsofmeasure.org";

/// One coding as emitted (`display` is left out when empty).
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Coding {
    pub system: &'static str,
    pub code: &'static str,
    #[serde(skip_serializing_if = "str::is_empty")]
    pub display: &'static str,
}

const fn c(system: &'static str, code: &'static str, display: &'static str) -> Coding {
    Coding {
        system,
        code,
        display,
    }
}

/// A concept's codings for a Dutch-coded and for a US-coded patient.
#[derive(Clone, Copy, Debug)]
pub struct Term {
    pub nl: &'static [Coding],
    pub us: &'static [Coding],
}

impl Term {
    /// The codings for a US-coded (`us`) or Dutch-coded patient. Dutch-only concepts have no
    /// US codings; the scenarios never give them to US-coded patients.
    pub fn codings(&self, us: bool) -> &'static [Coding] {
        let codings = if us { self.us } else { self.nl };
        debug_assert!(!codings.is_empty(), "concept without codings for us={us}");
        codings
    }
}

// ------------------------------------------------------------------ conditions

pub const DIABETES_T2: Term = Term {
    nl: &[c(ICPC, "T90.02", "Diabetes mellitus type 2")],
    us: &[c(SNOMED, "44054006", "Diabetes mellitus type 2")],
};
pub const HYPERTENSION: Term = Term {
    nl: &[c(ICPC, "K86", "Hypertensie zonder orgaanbeschadiging")],
    us: &[c(SNOMED, "59621000", "Essential hypertension")],
};
pub const HYPERTENSION_ORGAN_DAMAGE: Term = Term {
    nl: &[c(ICPC, "K87", "Hypertensie met orgaanbeschadiging")],
    us: &[c(SNOMED, "59621000", "Essential hypertension")],
};
pub const ATRIAL_FIBRILLATION: Term = Term {
    nl: &[c(ICPC, "K78", "Atriumfibrilleren/-fladderen")],
    us: &[c(SNOMED, "49436004", "Atrial fibrillation")],
};
pub const HEART_FAILURE: Term = Term {
    nl: &[c(ICPC, "K77", "Decompensatio cordis")],
    us: &[c(SNOMED, "84114007", "Heart failure")],
};
pub const STROKE: Term = Term {
    nl: &[c(ICPC, "K90", "Cerebrovasculair accident")],
    us: &[c(SNOMED, "230690007", "Cerebrovascular accident")],
};
pub const TIA: Term = Term {
    nl: &[c(ICPC, "K89", "Transient ischaemic attack")],
    us: &[c(SNOMED, "266257000", "Transient ischemic attack")],
};
pub const PULMONARY_EMBOLISM: Term = Term {
    nl: &[c(ICPC, "K93", "Longembolie")],
    us: &[c(SNOMED, "59282003", "Pulmonary embolism")],
};
pub const MYOCARDIAL_INFARCTION: Term = Term {
    nl: &[c(ICPC, "K75", "Acuut myocardinfarct")],
    us: &[c(SNOMED, "22298006", "Myocardial infarction")],
};
pub const CHRONIC_IHD: Term = Term {
    nl: &[c(ICPC, "K76", "Chronische ischemische hartziekte")],
    us: &[c(SNOMED, "53741008", "Coronary arteriosclerosis")],
};
pub const PERIPHERAL_ARTERIAL_DISEASE: Term = Term {
    nl: &[c(ICPC, "K92", "Perifeer arterieel vaatlijden")],
    us: &[c(
        SNOMED,
        "399957001",
        "Peripheral arterial occlusive disease",
    )],
};
pub const ASTHMA: Term = Term {
    nl: &[c(ICPC, "R96", "Astma")],
    us: &[c(SNOMED, "195967001", "Asthma")],
};
pub const COPD: Term = Term {
    nl: &[c(ICPC, "R95", "COPD")],
    us: &[c(
        SNOMED,
        "13645005",
        "Chronic obstructive pulmonary disease",
    )],
};
pub const DEPRESSION: Term = Term {
    nl: &[c(ICPC, "P76", "Depressie")],
    us: &[c(SNOMED, "35489007", "Depressive disorder")],
};

pub const PEPTIC_ULCER: Term = Term {
    nl: &[c(ICPC, "D86", "Ulcus pepticum (ander)")],
    us: &[c(SNOMED, "13200003", "Peptic ulcer")],
};
pub const DUODENAL_ULCER: Term = Term {
    nl: &[c(ICPC, "D85", "Ulcus duodeni")],
    us: &[c(SNOMED, "51868009", "Ulcer of duodenum")],
};
pub const GASTRIC_ULCER: Term = Term {
    nl: &[c(ICPC, "D86", "Ulcus pepticum (ander)")],
    us: &[c(SNOMED, "397825006", "Gastric ulcer")],
};

// ------------------------------------------------------------------ medications
// Terms with `us: &[]` are Dutch-only: no RxNorm code we are sure of, so US-coded patients
// never get them.

pub const METFORMIN: Term = Term {
    nl: &[c(ATC, "A10BA02", "metformine")],
    us: &[c(
        RXNORM,
        "861007",
        "metformin hydrochloride 500 MG Oral Tablet",
    )],
};
pub const METFORMIN_ER: Term = Term {
    nl: &[c(ATC, "A10BA02", "metformine")],
    us: &[c(
        RXNORM,
        "860975",
        "24 HR metformin hydrochloride 500 MG Extended Release Oral Tablet",
    )],
};
/// Second-line diabetes drug (noise for the metformin rule).
pub const GLICLAZIDE: Term = Term {
    nl: &[c(ATC, "A10BB09", "gliclazide")],
    us: &[],
};
pub const WARFARIN: Term = Term {
    nl: &[c(ATC, "B01AA03", "warfarine")],
    us: &[c(RXNORM, "11289", "warfarin")],
};
pub const PHENPROCOUMON: Term = Term {
    nl: &[c(ATC, "B01AA04", "fenprocoumon")],
    us: &[],
};
pub const ACENOCOUMAROL: Term = Term {
    nl: &[c(ATC, "B01AA07", "acenocoumarol")],
    us: &[],
};
pub const DABIGATRAN: Term = Term {
    nl: &[c(ATC, "B01AE07", "dabigatran etexilaat")],
    us: &[],
};
pub const RIVAROXABAN: Term = Term {
    nl: &[c(ATC, "B01AF01", "rivaroxaban")],
    us: &[c(RXNORM, "1114195", "rivaroxaban")],
};
pub const APIXABAN: Term = Term {
    nl: &[c(ATC, "B01AF02", "apixaban")],
    us: &[c(RXNORM, "1364430", "apixaban")],
};
pub const EDOXABAN: Term = Term {
    nl: &[c(ATC, "B01AF03", "edoxaban")],
    us: &[],
};
pub const ASPIRIN: Term = Term {
    nl: &[c(ATC, "B01AC06", "acetylsalicylzuur")],
    us: &[c(RXNORM, "1191", "aspirin")],
};
pub const CARBASALATE: Term = Term {
    nl: &[c(ATC, "B01AC08", "carbasalaatcalcium")],
    us: &[],
};
pub const CLOPIDOGREL: Term = Term {
    nl: &[c(ATC, "B01AC04", "clopidogrel")],
    us: &[c(RXNORM, "32968", "clopidogrel")],
};
pub const SIMVASTATIN: Term = Term {
    nl: &[c(ATC, "C10AA01", "simvastatine")],
    us: &[c(RXNORM, "314231", "simvastatin 10 MG Oral Tablet")],
};
pub const ATORVASTATIN: Term = Term {
    nl: &[c(ATC, "C10AA05", "atorvastatine")],
    us: &[],
};
pub const LISINOPRIL: Term = Term {
    nl: &[c(ATC, "C09AA03", "lisinopril")],
    us: &[c(RXNORM, "314076", "lisinopril 10 MG Oral Tablet")],
};
pub const SALBUTAMOL: Term = Term {
    nl: &[c(ATC, "R03AC02", "salbutamol")],
    us: &[c(RXNORM, "435", "albuterol")],
};
pub const OMEPRAZOLE: Term = Term {
    nl: &[c(ATC, "A02BC01", "omeprazol")],
    us: &[c(RXNORM, "7646", "omeprazole")],
};

/// NSAIDs (`nsaid-gastroprotection`): US codes are the clinical drugs the shipped RxNorm → ATC
/// map covers (ibuprofen 400 mg \[Ibu\] 206905, naproxen sodium 220 mg 849574); diclofenac is
/// Dutch-only.
pub const IBUPROFEN: Term = Term {
    nl: &[c(ATC, "M01AE01", "ibuprofen")],
    us: &[c(RXNORM, "206905", "Ibuprofen 400 MG Oral Tablet [Ibu]")],
};
pub const NAPROXEN: Term = Term {
    nl: &[c(ATC, "M01AE02", "naproxen")],
    us: &[c(RXNORM, "849574", "Naproxen sodium 220 MG Oral Tablet")],
};
pub const DICLOFENAC: Term = Term {
    nl: &[c(ATC, "M01AB05", "diclofenac")],
    us: &[],
};
pub const PANTOPRAZOLE: Term = Term {
    nl: &[c(ATC, "A02BC02", "pantoprazol")],
    us: &[c(RXNORM, "40790", "pantoprazole")],
};
pub const ESOMEPRAZOLE: Term = Term {
    nl: &[c(ATC, "A02BC05", "esomeprazol")],
    us: &[c(RXNORM, "283742", "esomeprazole")],
};
pub const SERTRALINE: Term = Term {
    nl: &[c(ATC, "N06AB06", "sertraline")],
    us: &[c(RXNORM, "36437", "sertraline")],
};
pub const CITALOPRAM: Term = Term {
    nl: &[c(ATC, "N06AB04", "citalopram")],
    us: &[c(RXNORM, "2556", "citalopram")],
};
/// Dutch GPs prescribe prednisolone, US exports carry prednisone (RxNorm 8640, not in the
/// shipped map: the plugin declares it).
pub const PREDNISOLONE: Term = Term {
    nl: &[c(ATC, "H02AB06", "prednisolon")],
    us: &[],
};
pub const PREDNISONE: Term = Term {
    nl: &[c(ATC, "H02AB07", "prednison")],
    us: &[c(RXNORM, "8640", "prednisone")],
};

// ------------------------------------------------------------------ allergies

pub const PENICILLIN: Term = Term {
    nl: &[c(ATC, "J01CE01", "benzylpenicilline")],
    us: &[c(RXNORM, "7980", "penicillin G")],
};

// ------------------------------------------------------------------ observations

/// eGFR: Dutch labs carry LOINC 62238-1 (CKD-EPI) and NHG Tabel 45 3583; US labs LOINC 33914-3
/// (MDRD, as Synthea emits).
pub const EGFR: Term = Term {
    nl: &[
        c(
            LOINC,
            "62238-1",
            "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum, Plasma or Blood by Creatinine-based formula (CKD-EPI)",
        ),
        c(NHG45, "3583", "eGFR volgens CKD-EPI formule"),
    ],
    us: &[c(
        LOINC,
        "33914-3",
        "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by Creatinine-based formula (MDRD)",
    )],
};
/// A laboratory's local code for an eGFR (CKD-EPI 2021), as a lab writes it before mapping a new
/// equation to LOINC: no reader knows the system, which is why a series' `egfr-code` drift uses
/// it. The same for Dutch- and US-coded patients.
pub const LOCAL_LAB: &str = "urn:livelab:cohort:local-lab-code";
pub const EGFR_LOCAL: Term = Term {
    nl: &[c(LOCAL_LAB, "EGFR21", "eGFR CKD-EPI 2021")],
    us: &[c(LOCAL_LAB, "EGFR21", "eGFR CKD-EPI 2021")],
};
/// HbA1c: Dutch in mmol/mol (IFCC, LOINC 59261-8 + NHG 2816 as `docs/CLINICAL_REFERENCE.md`
/// lists it; which of NHG 2816/3266 is the IFCC one is unverified), US in % (LOINC 4548-4).
pub const HBA1C: Term = Term {
    nl: &[
        c(
            LOINC,
            "59261-8",
            "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol",
        ),
        c(NHG45, "2816", "HbA1c (IFCC)"),
    ],
    us: &[c(
        LOINC,
        "4548-4",
        "Hemoglobin A1c/Hemoglobin.total in Blood",
    )],
};
pub const CHOLESTEROL: Term = Term {
    nl: &[c(
        LOINC,
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
    )],
    us: &[c(
        LOINC,
        "2093-3",
        "Cholesterol [Mass/volume] in Serum or Plasma",
    )],
};
pub const POTASSIUM: Term = Term {
    nl: &[c(LOINC, "6298-4", "Potassium [Moles/volume] in Blood")],
    us: &[c(LOINC, "6298-4", "Potassium [Moles/volume] in Blood")],
};
pub const CREATININE: Term = Term {
    nl: &[c(LOINC, "38483-4", "Creatinine [Mass/volume] in Blood")],
    us: &[c(LOINC, "38483-4", "Creatinine [Mass/volume] in Blood")],
};
/// Fasting glucose: Dutch labs in mmol/L (LOINC 14771-0), US labs in mg/dL (LOINC 1558-6).
pub const GLUCOSE: Term = Term {
    nl: &[c(
        LOINC,
        "14771-0",
        "Fasting glucose [Moles/volume] in Serum or Plasma",
    )],
    us: &[c(
        LOINC,
        "1558-6",
        "Fasting glucose [Mass/volume] in Serum or Plasma",
    )],
};
pub const PHQ9: Term = Term {
    nl: &[c(
        LOINC,
        "44261-6",
        "Patient Health Questionnaire 9 item (PHQ-9) total score",
    )],
    us: &[c(
        LOINC,
        "44261-6",
        "Patient Health Questionnaire 9 item (PHQ-9) total score",
    )],
};
/// HDL cholesterol (SCORE2): Dutch mmol/L, US mg/dL, one LOINC code.
pub const HDL: Term = Term {
    nl: &[c(
        LOINC,
        "2085-9",
        "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
    )],
    us: &[c(
        LOINC,
        "2085-9",
        "Cholesterol in HDL [Mass/volume] in Serum or Plasma",
    )],
};
/// Tobacco smoking status with a SNOMED CT value (as US Core and the zib TobaccoUse write it),
/// in Dutch and US records alike.
pub const SMOKING_STATUS: [Coding; 1] = [c(LOINC, "72166-2", "Tobacco smoking status")];
/// Smoking status values, indexed like `Smoking` (`patient.rs`).
pub const SMOKING_VALUES: [[Coding; 1]; 4] = [
    [c(SNOMED, "449868002", "Smokes tobacco daily")],
    [c(SNOMED, "428041000124106", "Occasional tobacco smoker")],
    [c(SNOMED, "8517006", "Ex-smoker")],
    [c(SNOMED, "266919005", "Never smoked tobacco")],
];
/// The PHQ-9 panel (LOINC 44249-1), its nine items in questionnaire order and its total.
pub const PHQ9_PANEL: [Coding; 1] = [c(
    LOINC,
    "44249-1",
    "PHQ-9 quick depression assessment panel [Reported.PHQ]",
)];
pub const PHQ9_ITEMS: [[Coding; 1]; 9] = [
    [c(
        LOINC,
        "44250-9",
        "Little interest or pleasure in doing things",
    )],
    [c(LOINC, "44255-8", "Feeling down, depressed, or hopeless")],
    [c(
        LOINC,
        "44259-0",
        "Trouble falling or staying asleep, or sleeping too much",
    )],
    [c(LOINC, "44254-1", "Feeling tired or having little energy")],
    [c(LOINC, "44251-7", "Poor appetite or overeating")],
    [c(LOINC, "44258-2", "Feeling bad about yourself")],
    [c(LOINC, "44252-5", "Trouble concentrating on things")],
    [c(
        LOINC,
        "44253-3",
        "Moving or speaking slowly, or being fidgety or restless",
    )],
    [c(
        LOINC,
        "44260-8",
        "Thoughts that you would be better off dead, or of hurting yourself",
    )],
];
pub const PHQ9_TOTAL: [Coding; 1] = [c(
    LOINC,
    "44261-6",
    "Patient Health Questionnaire 9 item (PHQ-9) total score",
)];
pub const CAT_SOCIAL_HISTORY: [Coding; 1] = [c(OBS_CATEGORY, "social-history", "Social History")];
pub const BP_PANEL: [Coding; 1] = [c(
    LOINC,
    "85354-9",
    "Blood pressure panel with all children optional",
)];
pub const BP_SYSTOLIC: [Coding; 1] = [c(LOINC, "8480-6", "Systolic blood pressure")];
pub const BP_DIASTOLIC: [Coding; 1] = [c(LOINC, "8462-4", "Diastolic blood pressure")];

// ------------------------------------------------------------------ FHIR value sets

pub const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
pub const CONDITION_VER: &str = "http://terminology.hl7.org/CodeSystem/condition-ver-status";
pub const ALLERGY_CLINICAL: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical";
pub const ALLERGY_VER: &str =
    "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification";
pub const OBS_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/observation-category";
pub const ACT_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-ActCode";

pub const CONFIRMED: [Coding; 1] = [c(CONDITION_VER, "confirmed", "Confirmed")];
pub const REFUTED: [Coding; 1] = [c(CONDITION_VER, "refuted", "Refuted")];
pub const ENTERED_IN_ERROR: [Coding; 1] =
    [c(CONDITION_VER, "entered-in-error", "Entered in Error")];
pub const ALLERGY_CONFIRMED: [Coding; 1] = [c(ALLERGY_VER, "confirmed", "Confirmed")];
pub const CAT_LABORATORY: [Coding; 1] = [c(OBS_CATEGORY, "laboratory", "Laboratory")];
pub const CAT_VITAL_SIGNS: [Coding; 1] = [c(OBS_CATEGORY, "vital-signs", "Vital Signs")];
pub const CAT_SURVEY: [Coding; 1] = [c(OBS_CATEGORY, "survey", "Survey")];

/// Condition clinical status codings, indexed like `ClinStatus` (`patient.rs`).
pub const CONDITION_STATUS: [[Coding; 1]; 6] = [
    [c(CONDITION_CLINICAL, "active", "")],
    [c(CONDITION_CLINICAL, "recurrence", "")],
    [c(CONDITION_CLINICAL, "relapse", "")],
    [c(CONDITION_CLINICAL, "inactive", "")],
    [c(CONDITION_CLINICAL, "remission", "")],
    [c(CONDITION_CLINICAL, "resolved", "")],
];
pub const ALLERGY_STATUS: [[Coding; 1]; 2] = [
    [c(ALLERGY_CLINICAL, "active", "Active")],
    [c(ALLERGY_CLINICAL, "inactive", "Inactive")],
];
pub const ENCOUNTER_CLASS: [Coding; 3] = [
    c(ACT_CODE, "AMB", "ambulatory"),
    c(ACT_CODE, "VR", "virtual"),
    c(ACT_CODE, "HH", "home health"),
];

// ------------------------------------------------------------------ extensions

/// Core extension: when the condition was asserted (valueDateTime).
pub const EXT_ASSERTED_DATE: &str =
    "http://hl7.org/fhir/StructureDefinition/condition-assertedDate";
/// Core extension: body position during an observation (valueCodeableConcept).
pub const EXT_BODY_POSITION: &str =
    "http://hl7.org/fhir/StructureDefinition/observation-bodyPosition";
/// US Core birth sex (valueCode F or M), as US exports and Synthea write it.
pub const EXT_US_CORE_BIRTHSEX: &str =
    "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex";
/// An extension of the kind every EHR vendor adds and no reader knows (reserved `.example`
/// domain, RFC 2606): the prescriber's role.
pub const EXT_VENDOR_PRESCRIBER_ROLE: &str =
    "https://ehr.example/fhir/StructureDefinition/prescriber-role";
pub const SITTING: [Coding; 1] = [c(SNOMED, "33586001", "Sitting position")];

// ------------------------------------------------------------------ Synthea-shape padding
// Codes as Synthea's R4 exporter writes them for the padding resources no rule reads.

pub const CVX: &str = "http://hl7.org/fhir/sid/cvx";
pub const CLAIM_TYPE: &str = "http://terminology.hl7.org/CodeSystem/claim-type";
pub const PROCESS_PRIORITY: &str = "http://terminology.hl7.org/CodeSystem/processpriority";
pub const ADJUDICATION: &str = "http://terminology.hl7.org/CodeSystem/adjudication";
pub const BENEFIT_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/ex-benefitcategory";
pub const CLAIM_CARE_TEAM_ROLE: &str = "http://terminology.hl7.org/CodeSystem/claimcareteamrole";
pub const DIAGNOSTIC_SERVICE: &str = "http://terminology.hl7.org/CodeSystem/v2-0074";
pub const PARTICIPATION_TYPE: &str = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
pub const PROVENANCE_TYPE: &str =
    "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
pub const DICOM: &str = "http://dicom.nema.org/resources/ontology/DCM";
pub const RFC3986: &str = "urn:ietf:rfc:3986";

pub const ENCOUNTER_EMERGENCY: Coding = c(ACT_CODE, "EMER", "emergency");
pub const PRIMARY_PERFORMER: [Coding; 1] = [c(PARTICIPATION_TYPE, "PPRF", "primary performer")];
pub const VISIT_WELLNESS: [Coding; 1] =
    [c(SNOMED, "185349003", "Encounter for check up (procedure)")];
pub const VISIT_WELL_CHILD: [Coding; 1] = [c(SNOMED, "410620009", "Well child visit (procedure)")];
pub const VISIT_FOLLOW_UP: [Coding; 1] =
    [c(SNOMED, "390906007", "Follow-up encounter (procedure)")];
pub const VISIT_SYMPTOM: [Coding; 1] =
    [c(SNOMED, "185345009", "Encounter for symptom (procedure)")];
pub const VISIT_EMERGENCY: [Coding; 1] = [c(
    SNOMED,
    "50849002",
    "Emergency room admission (procedure)",
)];

pub const CLAIM_PROFESSIONAL: [Coding; 1] = [c(CLAIM_TYPE, "professional", "Professional")];
pub const CLAIM_INSTITUTIONAL: [Coding; 1] = [c(CLAIM_TYPE, "institutional", "Institutional")];
pub const CLAIM_PHARMACY: [Coding; 1] = [c(CLAIM_TYPE, "pharmacy", "Pharmacy")];
pub const PRIORITY_NORMAL: [Coding; 1] = [c(PROCESS_PRIORITY, "normal", "Normal")];
pub const MEDICAL_CARE: [Coding; 1] = [c(BENEFIT_CATEGORY, "1", "Medical Care")];
pub const PRIMARY_PROVIDER: [Coding; 1] = [c(CLAIM_CARE_TEAM_ROLE, "primary", "Primary provider")];
/// Adjudication categories in EoB item order: submitted, eligible, copay, deductible, benefit.
pub const ADJUDICATIONS: [[Coding; 1]; 5] = [
    [c(ADJUDICATION, "submitted", "Submitted Amount")],
    [c(ADJUDICATION, "eligible", "Eligible Amount")],
    [c(ADJUDICATION, "copay", "CoPay")],
    [c(ADJUDICATION, "deductible", "Deductible")],
    [c(ADJUDICATION, "benefit", "Benefit Amount")],
];

pub const LAB_SERVICE: [Coding; 1] = [c(DIAGNOSTIC_SERVICE, "LAB", "Laboratory")];
pub const METABOLIC_PANEL: [Coding; 1] = [c(LOINC, "51990-0", "Basic metabolic panel - Blood")];
pub const LIPID_PANEL: [Coding; 1] = [c(
    LOINC,
    "57698-3",
    "Lipid panel with direct LDL - Serum or Plasma",
)];

pub const BODY_HEIGHT: [Coding; 1] = [c(LOINC, "8302-2", "Body Height")];
pub const BODY_WEIGHT: [Coding; 1] = [c(LOINC, "29463-7", "Body Weight")];
pub const BMI: [Coding; 1] = [c(LOINC, "39156-5", "Body mass index (BMI) [Ratio]")];
pub const HEART_RATE: [Coding; 1] = [c(LOINC, "8867-4", "Heart rate")];
pub const RESPIRATORY_RATE: [Coding; 1] = [c(LOINC, "9279-1", "Respiratory rate")];
pub const PAIN_SEVERITY: [Coding; 1] = [c(
    LOINC,
    "72514-3",
    "Pain severity - 0-10 verbal numeric rating [Score] - Reported",
)];

pub const FLU: [Coding; 1] = [c(
    CVX,
    "140",
    "Influenza, seasonal, injectable, preservative free",
)];
pub const COVID: [Coding; 1] = [c(
    CVX,
    "208",
    "SARS-COV-2 (COVID-19) vaccine, mRNA, spike protein, LNP, preservative free, 30 mcg/0.3mL dose",
)];
pub const TD: [Coding; 1] = [c(CVX, "113", "Td (adult) preservative free")];
pub const PNEUMOCOCCAL: [Coding; 1] = [c(CVX, "133", "Pneumococcal conjugate PCV 13")];
/// The childhood schedule, one entry per dose.
pub const CHILDHOOD_VACCINES: [[Coding; 1]; 11] = [
    [c(CVX, "08", "Hep B, adolescent or pediatric")],
    [c(CVX, "20", "DTaP")],
    [c(CVX, "10", "IPV")],
    [c(CVX, "08", "Hep B, adolescent or pediatric")],
    [c(CVX, "20", "DTaP")],
    [c(CVX, "10", "IPV")],
    [c(CVX, "20", "DTaP")],
    [c(CVX, "03", "MMR")],
    [c(CVX, "21", "varicella")],
    [c(CVX, "10", "IPV")],
    [c(CVX, "03", "MMR")],
];

pub const PROCEDURES: [[Coding; 1]; 5] = [
    [c(
        SNOMED,
        "430193006",
        "Medication Reconciliation (procedure)",
    )],
    [c(
        SNOMED,
        "710824005",
        "Assessment of health and social care needs (procedure)",
    )],
    [c(SNOMED, "171207006", "Depression screening (procedure)")],
    [c(
        SNOMED,
        "428191000124101",
        "Documentation of current medications (procedure)",
    )],
    [c(SNOMED, "73761001", "Colonoscopy (procedure)")],
];

pub const CARE_PLAN: [Coding; 1] = [c(SNOMED, "734163000", "Care plan (record artifact)")];
pub const DIABETES_PLAN: [Coding; 1] = [c(SNOMED, "698360004", "Diabetes self management plan")];
pub const HYPERTENSION_PLAN: [Coding; 1] = [c(
    SNOMED,
    "443402002",
    "Lifestyle education regarding hypertension (procedure)",
)];
pub const HEART_FAILURE_PLAN: [Coding; 1] = [c(
    SNOMED,
    "735984001",
    "Heart failure self management plan (record artifact)",
)];
pub const ASTHMA_PLAN: [Coding; 1] = [c(SNOMED, "699728000", "Asthma self management")];
pub const CARE_ACTIVITIES: [[Coding; 1]; 4] = [
    [c(SNOMED, "160670007", "Diabetic diet")],
    [c(SNOMED, "229065009", "Exercise therapy")],
    [c(
        SNOMED,
        "386463000",
        "Prescribed activity/exercise education",
    )],
    [c(
        SNOMED,
        "384758001",
        "Self-care interventions (procedure)",
    )],
];
pub const ROLE_PATIENT: [Coding; 1] = [c(SNOMED, "116154003", "Patient (person)")];
pub const ROLE_PROFESSIONAL: [Coding; 1] = [c(
    SNOMED,
    "223366009",
    "Healthcare professional (occupation)",
)];
pub const ROLE_ORGANIZATION: [Coding; 1] = [c(
    SNOMED,
    "224891009",
    "Healthcare services (qualifier value)",
)];

pub const MODALITY_DX: Coding = c(DICOM, "DX", "Digital Radiography");
pub const MODALITY_CT: Coding = c(DICOM, "CT", "Computed Tomography");
pub const THORAX: Coding = c(SNOMED, "51185008", "Thoracic structure (body structure)");
pub const KNEE: Coding = c(SNOMED, "72696002", "Knee region structure (body structure)");
pub const SOP_DX: Coding = c(
    RFC3986,
    "urn:oid:1.2.840.10008.5.1.4.1.1.1.1",
    "Digital X-Ray Image Storage - For Presentation",
);
pub const SOP_CT: Coding = c(
    RFC3986,
    "urn:oid:1.2.840.10008.5.1.4.1.1.2",
    "CT Image Storage",
);

pub const AUTHOR: [Coding; 1] = [c(PROVENANCE_TYPE, "author", "Author")];
