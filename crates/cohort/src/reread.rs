//! An independent re-reader of written cohorts, for tests: it reads the FHIR JSON back with
//! `serde_json::Value` (no generator types), resolves what real exports make a reader resolve
//! (Medication by reference or `contained`, MedicationStatement, `effectivePeriod` / `issued`,
//! `comparator`, verification and entered-in-error statuses) and recomputes every label from
//! the rule text. Labels must agree with it whatever the mix, shape or format.
//!
//! It imports nothing from the generator: the shape is a plain `synthea` flag and the resource
//! types it reads are its own list.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use jiff::civil::Date;
use serde_json::Value as Json;

/// The resource types of the plain shape, in NDJSON file order (the Patient first).
pub const PLAIN_TYPES: [&str; 8] = [
    "Patient",
    "Condition",
    "Observation",
    "MedicationRequest",
    "MedicationStatement",
    "Medication",
    "AllergyIntolerance",
    "Encounter",
];

/// The types the Synthea shape adds (the Provenance last).
pub const PADDING_TYPES: [&str; 9] = [
    "Claim",
    "ExplanationOfBenefit",
    "DiagnosticReport",
    "Immunization",
    "Procedure",
    "CarePlan",
    "CareTeam",
    "ImagingStudy",
    "Provenance",
];

pub const SCT: &str = "http://snomed.info/sct";
pub const ICPC_URI: &str = "http://hl7.org/fhir/sid/icpc-1-nl";
pub const ATC_URI: &str = "http://www.whocc.no/atc";
pub const RXN: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
pub const LNC: &str = "http://loinc.org";
pub const NHG: &str = "urn:oid:2.16.840.1.113883.2.4.4.30.45";

/// One patient as read back from the written FHIR JSON.
pub struct Record {
    pub gender: String,
    pub birth_year: i32,
    /// The string other resources use to reference this patient.
    pub reference: String,
    /// Every resource of the patient but the Patient (Medication resources are in
    /// [`Export::medications`]).
    pub resources: Vec<Json>,
}

/// A read-back cohort.
pub struct Export {
    pub records: BTreeMap<String, Record>,
    /// Medication resources by the reference string that names them (`urn:uuid:...` in
    /// Bundles, `Medication/<id>` in NDJSON).
    pub medications: BTreeMap<String, Json>,
    /// Resources per type, as written.
    pub types: BTreeMap<String, usize>,
}

fn bump(types: &mut BTreeMap<String, usize>, t: &str) {
    *types.entry(t.to_string()).or_default() += 1;
}

/// Reads a directory of patient Bundles: `transaction` Bundles if `synthea`, else `collection`.
pub fn read_bundles(dir: &Path, synthea: bool) -> Export {
    let mut export = Export {
        records: BTreeMap::new(),
        medications: BTreeMap::new(),
        types: BTreeMap::new(),
    };
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("pt-"))
        .collect();
    names.sort();
    for name in names {
        let bundle: Json = serde_json::from_slice(&fs::read(dir.join(&name)).unwrap()).unwrap();
        assert_eq!(bundle["resourceType"], "Bundle");
        assert_eq!(
            bundle["type"],
            if synthea { "transaction" } else { "collection" }
        );
        let mut patient = None;
        let mut resources = Vec::new();
        let mut urls = BTreeSet::new();
        for entry in bundle["entry"].as_array().unwrap() {
            let url = entry["fullUrl"].as_str().unwrap();
            assert!(urls.insert(url.to_string()), "duplicate fullUrl {url}");
            assert_uuid_v4(url.strip_prefix("urn:uuid:").unwrap());
            let r = entry["resource"].clone();
            let t = r["resourceType"].as_str().unwrap().to_string();
            if synthea {
                assert_eq!(entry["request"]["method"], "POST");
                assert_eq!(entry["request"]["url"], t.as_str());
            } else {
                assert!(entry.get("request").is_none());
            }
            bump(&mut export.types, &t);
            match t.as_str() {
                "Patient" => {
                    assert!(patient.is_none());
                    patient = Some((r, url.to_string()));
                }
                "Medication" => {
                    export.medications.insert(url.to_string(), r);
                }
                _ => resources.push(r),
            }
        }
        // Every urn:uuid reference resolves inside the Bundle.
        for r in &resources {
            for_each_reference(r, &mut |reference| {
                if reference.starts_with("urn:uuid:") {
                    assert!(urls.contains(reference), "{name}: dangling {reference}");
                }
            });
        }
        let (p, url) = patient.expect("a Patient entry");
        let id = p["id"].as_str().unwrap().to_string();
        assert_eq!(name, format!("{id}.json"));
        export.records.insert(id, record(&p, url, resources));
    }
    export
}

/// Reads a directory of Bulk Data NDJSON files: those of [`PLAIN_TYPES`], and of
/// [`PADDING_TYPES`] if `synthea`.
pub fn read_ndjson(dir: &Path, synthea: bool) -> Export {
    let lines = |t: &str| -> Vec<Json> {
        fs::read_to_string(dir.join(format!("{t}.000.ndjson")))
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let mut export = Export {
        records: BTreeMap::new(),
        medications: BTreeMap::new(),
        types: BTreeMap::new(),
    };
    for p in lines("Patient") {
        bump(&mut export.types, "Patient");
        let id = p["id"].as_str().unwrap().to_string();
        let reference = format!("Patient/{id}");
        export.records.insert(id, record(&p, reference, Vec::new()));
    }
    let padding: &[&str] = if synthea { &PADDING_TYPES } else { &[] };
    let mut ids = BTreeSet::new();
    let mut provenance = Vec::new();
    for &t in PLAIN_TYPES[1..].iter().chain(padding) {
        for r in lines(t) {
            assert_eq!(r["resourceType"], t);
            bump(&mut export.types, t);
            let id = r["id"].as_str().unwrap().to_string();
            assert!(ids.insert(format!("{t}/{id}")));
            match t {
                "Medication" => {
                    export.medications.insert(format!("Medication/{id}"), r);
                }
                // Provenance names its targets, not a patient.
                "Provenance" => provenance.push(r),
                _ => {
                    let reference = r
                        .get("subject")
                        .or_else(|| r.get("patient"))
                        .and_then(|s| s["reference"].as_str())
                        .unwrap();
                    let patient = reference.strip_prefix("Patient/").unwrap();
                    export.records.get_mut(patient).unwrap().resources.push(r);
                }
            }
        }
    }
    // Every relative reference to a written resource type resolves.
    let patients: BTreeSet<String> = export
        .records
        .keys()
        .map(|id| format!("Patient/{id}"))
        .collect();
    let all = export.records.values().flat_map(|r| &r.resources);
    for r in all.chain(&provenance) {
        for_each_reference(r, &mut |reference| {
            let written = PLAIN_TYPES
                .iter()
                .chain(padding)
                .any(|t| reference.starts_with(&format!("{t}/")));
            if written {
                assert!(
                    ids.contains(reference) || patients.contains(reference),
                    "dangling {reference}"
                );
            }
        });
    }
    export
}

fn for_each_reference(v: &Json, f: &mut impl FnMut(&str)) {
    match v {
        Json::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("reference", Json::String(s)) => f(s),
                    _ => for_each_reference(v, f),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|v| for_each_reference(v, f)),
        _ => {}
    }
}

fn record(p: &Json, reference: String, resources: Vec<Json>) -> Record {
    let birth = p["birthDate"].as_str().unwrap();
    assert_eq!(birth.len(), 4, "birthDate is a year only: {birth}");
    Record {
        gender: p["gender"].as_str().unwrap().to_string(),
        birth_year: birth.parse().unwrap(),
        reference,
        resources,
    }
}

pub fn assert_uuid_v4(u: &str) {
    let parts: Vec<&str> = u.split('-').collect();
    let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
    assert_eq!(lens, [8, 4, 4, 4, 12], "{u}");
    assert!(
        u.bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f' | b'-'))
    );
    assert!(parts[2].starts_with('4'), "{u}");
    assert!(matches!(&parts[3][..1], "8" | "9" | "a" | "b"), "{u}");
}

/// Fails on any key that could carry a direct identifier.
pub fn assert_no_identifiers(v: &Json) {
    match v {
        Json::Object(map) => {
            for (k, v) in map {
                assert!(
                    !matches!(k.as_str(), "name" | "identifier" | "telecom" | "address"),
                    "direct identifier key {k}"
                );
                assert_no_identifiers(v);
            }
        }
        Json::Array(items) => items.iter().for_each(assert_no_identifiers),
        _ => {}
    }
}

/// True when a coding of the CodeableConcept has one of the systems and starts with the
/// matching code prefix (exact codes are prefixes of themselves).
pub fn coded(cc: &Json, set: &[(&str, &str)]) -> bool {
    cc["coding"].as_array().into_iter().flatten().any(|c| {
        set.iter().any(|(system, prefix)| {
            c["system"] == *system && c["code"].as_str().unwrap().starts_with(prefix)
        })
    })
}

pub fn days_ago(as_of: Date, when: &str) -> i64 {
    let d: Date = when[..10].parse().unwrap();
    (as_of - d).get_days().into()
}

pub fn of_type<'a>(rec: &'a Record, t: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
    rec.resources.iter().filter(move |r| r["resourceType"] == t)
}

/// How to read: as a careful reader does, or naively — counting refuted and entered-in-error
/// items — to show the generator placed those where they matter.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    Careful,
    Naive,
}

/// A condition counts unless refuted or entered in error.
fn condition_counts(c: &Json, reading: Reading) -> bool {
    let verification = c["verificationStatus"]["coding"][0]["code"].as_str();
    if verification.is_none() {
        assert!(c.get("verificationStatus").is_none());
    }
    match verification {
        Some("refuted") => assert!(c["clinicalStatus"].is_object()),
        Some("entered-in-error") => assert!(c.get("clinicalStatus").is_none(), "con-5"),
        _ => assert!(c["clinicalStatus"].is_object(), "con-3"),
    }
    reading == Reading::Naive || !matches!(verification, Some("refuted" | "entered-in-error"))
}

/// The clinical status; a condition entered in error has none (read naively as active).
fn clinical_status(c: &Json) -> &str {
    c["clinicalStatus"]["coding"][0]["code"]
        .as_str()
        .unwrap_or("active")
}

/// The calendar day an observation is about: effectiveDateTime, else the start of
/// effectivePeriod, else issued (all on the same day when several are given).
pub fn observation_day(o: &Json) -> &str {
    let effective = o["effectiveDateTime"]
        .as_str()
        .or_else(|| o["effectivePeriod"]["start"].as_str());
    if let (Some(e), Some(i)) = (effective, o["issued"].as_str()) {
        assert_eq!(e[..10], i[..10], "issued on another day");
    }
    if let Some(end) = o["effectivePeriod"]["end"].as_str() {
        assert!(effective.unwrap() <= end);
    }
    effective.or_else(|| o["issued"].as_str()).unwrap()
}

fn observation_counts(o: &Json, reading: Reading) -> bool {
    reading == Reading::Naive || o["status"] != "entered-in-error"
}

/// The medication's CodeableConcept, resolving `medicationReference` to a contained or an
/// exported Medication.
pub fn medication_concept<'a>(m: &'a Json, export: &'a Export) -> &'a Json {
    if let Some(cc) = m.get("medicationCodeableConcept") {
        assert!(m.get("medicationReference").is_none());
        return cc;
    }
    let reference = m["medicationReference"]["reference"].as_str().unwrap();
    let medication = match reference.strip_prefix('#') {
        Some(local) => m["contained"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == local)
            .unwrap(),
        None => &export.medications[reference],
    };
    assert_eq!(medication["resourceType"], "Medication");
    &medication["code"]
}

/// MedicationRequests and MedicationStatements.
fn medications<'a>(rec: &'a Record) -> impl Iterator<Item = &'a Json> + 'a {
    rec.resources.iter().filter(|r| {
        matches!(
            r["resourceType"].as_str(),
            Some("MedicationRequest" | "MedicationStatement")
        )
    })
}

pub fn reread_metformin(rec: &Record, export: &Export, as_of: Date, reading: Reading) -> bool {
    const EGFR: [(&str, &str); 3] = [(LNC, "62238-1"), (LNC, "33914-3"), (NHG, "3583")];
    let latest = of_type(rec, "Observation")
        .filter(|o| coded(&o["code"], &EGFR) && observation_counts(o, reading))
        .map(|o| {
            let q = &o["valueQuantity"];
            assert_eq!(q["code"], "mL/min/{1.73_m2}");
            if let Some(comparator) = q.get("comparator") {
                // "> 90": reads as 90, above every threshold.
                assert_eq!(comparator, ">");
                assert_eq!(q["value"], 90);
            }
            (
                days_ago(as_of, observation_day(o)),
                q["value"].as_f64().unwrap(),
            )
        })
        .filter(|&(d, _)| (0..=365).contains(&d))
        .min_by_key(|&(d, _)| d);
    let Some((_, egfr)) = latest else {
        return false;
    };
    medications(rec)
        .filter(|m| m["status"] == "active")
        .filter(|m| {
            coded(
                medication_concept(m, export),
                &[(ATC_URI, "A10BA02"), (RXN, "860975"), (RXN, "861007")],
            )
        })
        .any(|m| {
            let d = m
                .get("dosageInstruction")
                .or_else(|| m.get("dosage"))
                .unwrap();
            let d = &d[0];
            let dose = d["doseAndRate"][0]["doseQuantity"]["value"]
                .as_f64()
                .unwrap();
            assert_eq!(d["doseAndRate"][0]["doseQuantity"]["code"], "mg");
            let repeat = &d["timing"]["repeat"];
            assert_eq!(repeat["periodUnit"], "d");
            let daily =
                dose * repeat["frequency"].as_f64().unwrap() / repeat["period"].as_f64().unwrap();
            egfr < 10.0
                || (egfr < 30.0 && daily > 500.0)
                || ((30.0..50.0).contains(&egfr) && daily > 1000.0)
        })
}

pub fn reread_af(rec: &Record, export: &Export, as_of: Date, reading: Reading) -> bool {
    let conditions: Vec<&Json> = of_type(rec, "Condition")
        .filter(|c| condition_counts(c, reading))
        .collect();
    let current = |s: &str| matches!(s, "active" | "recurrence" | "relapse");
    // Labels do not depend on the code system: ICPC and SNOMED CT count alike.
    let any = |set: &[(&str, &str)], active_only: bool| {
        conditions
            .iter()
            .any(|c| coded(&c["code"], set) && (!active_only || current(clinical_status(c))))
    };
    if !any(&[(ICPC_URI, "K78"), (SCT, "49436004")], true) {
        return false;
    }
    let anticoagulated = medications(rec).any(|m| {
        m["status"] == "active"
            && coded(
                medication_concept(m, export),
                &[
                    (ATC_URI, "B01AA"),
                    (ATC_URI, "B01AE"),
                    (ATC_URI, "B01AF"),
                    (RXN, "11289"),
                    (RXN, "1364430"),
                    (RXN, "1114195"),
                ],
            )
    });
    if anticoagulated {
        return false;
    }
    let age =
        i32::from(as_of.year()) - rec.birth_year - i32::from((as_of.month(), as_of.day()) < (7, 1));
    let mut score = 0;
    score += i32::from(any(&[(ICPC_URI, "K77"), (SCT, "84114007")], true));
    score += i32::from(any(
        &[(ICPC_URI, "K86"), (ICPC_URI, "K87"), (SCT, "59621000")],
        true,
    ));
    score += i32::from(any(&[(ICPC_URI, "T90"), (SCT, "44054006")], true));
    score += 2 * i32::from(any(
        &[
            (ICPC_URI, "K89"),
            (ICPC_URI, "K90"),
            (ICPC_URI, "K93"),
            (SCT, "230690007"),
            (SCT, "266257000"),
            (SCT, "59282003"),
        ],
        false,
    ));
    score += i32::from(any(
        &[
            (ICPC_URI, "K75"),
            (ICPC_URI, "K76"),
            (ICPC_URI, "K92"),
            (SCT, "22298006"),
            (SCT, "53741008"),
            (SCT, "399957001"),
        ],
        false,
    ));
    score += match age {
        75.. => 2,
        65..=74 => 1,
        _ => 0,
    };
    score += i32::from(rec.gender == "female");
    match rec.gender.as_str() {
        "female" => score >= 3,
        "male" => score >= 2,
        // AF is only ever refuted in patients of other/unknown gender; naively it has no
        // threshold either.
        _ => false,
    }
}

pub fn reread_home_bp(rec: &Record, as_of: Date) -> bool {
    let mut readings = Vec::new();
    for o in of_type(rec, "Observation") {
        if !coded(&o["code"], &[(LNC, "85354-9")]) {
            continue;
        }
        assert!(o.get("valueQuantity").is_none());
        for performer in o["performer"].as_array().into_iter().flatten() {
            let r = performer["reference"].as_str().unwrap();
            assert!(r == rec.reference || r.starts_with("Practitioner/"), "{r}");
        }
        let by_patient = o["performer"]
            .as_array()
            .is_some_and(|p| p.iter().any(|r| r["reference"] == *rec.reference));
        let when = o["effectiveDateTime"].as_str().unwrap();
        assert_eq!(when.len(), 25, "{when}");
        assert!(when.ends_with("+01:00"));
        if !by_patient || !(0..=6).contains(&days_ago(as_of, when)) || o["status"] != "final" {
            continue;
        }
        let component = |code: &str| {
            o["component"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| coded(&c["code"], &[(LNC, code)]))
                .map(|c| {
                    assert_eq!(c["valueQuantity"]["code"], "mm[Hg]");
                    c["valueQuantity"]["value"].as_f64().unwrap()
                })
                .unwrap()
        };
        readings.push((component("8480-6"), component("8462-4")));
    }
    let n = readings.len() as f64;
    readings.len() >= 12
        && (readings.iter().map(|r| r.0).sum::<f64>() / n >= 135.0
            || readings.iter().map(|r| r.1).sum::<f64>() / n >= 85.0)
}

/// The unit each lab code is reported in: Dutch (SI) or US (conventional) by its LOINC code.
pub fn expected_unit(code: &str) -> Option<&'static str> {
    Some(match code {
        "62238-1" | "33914-3" => "mL/min/{1.73_m2}",
        "59261-8" => "mmol/mol",
        "4548-4" => "%",
        "14771-0" | "6298-4" => "mmol/L",
        "1558-6" => "mg/dL",
        "44261-6" => "{score}",
        _ => return None,
    })
}

/// Cholesterol and creatinine share a LOINC code across the two codings: the unit follows the
/// patient's coding.
pub fn expected_shared_unit(code: &str, us: bool) -> Option<&'static str> {
    Some(match (code, us) {
        ("2093-3" | "2085-9", false) => "mmol/L",
        ("2093-3" | "2085-9" | "38483-4", true) => "mg/dL",
        ("38483-4", false) => "umol/L",
        _ => return None,
    })
}

/// Age in whole years with the host's rule (birth year, a 1 July birthday).
pub fn age_of(rec: &Record, as_of: Date) -> i32 {
    i32::from(as_of.year()) - rec.birth_year - i32::from((as_of.month(), as_of.day()) < (7, 1))
}

/// nsaid-gastroprotection (rule 3): an active NSAID, no active PPI, and age > 70 or a prior
/// peptic ulcer (any clinical status, not refuted or entered in error).
pub fn reread_nsaid(rec: &Record, export: &Export, as_of: Date, reading: Reading) -> bool {
    let active: Vec<&Json> = medications(rec)
        .filter(|m| m["status"] == "active")
        .map(|m| medication_concept(m, export))
        .collect();
    let nsaid = active.iter().any(|cc| {
        coded(
            cc,
            &[
                (ATC_URI, "M01AE01"),
                (ATC_URI, "M01AE02"),
                (ATC_URI, "M01AB05"),
                (RXN, "206905"),
                (RXN, "849574"),
            ],
        )
    });
    let ppi = active.iter().any(|cc| {
        coded(
            cc,
            &[
                (ATC_URI, "A02BC"),
                (RXN, "7646"),
                (RXN, "40790"),
                (RXN, "283742"),
            ],
        )
    });
    if !nsaid || ppi {
        return false;
    }
    let ulcer = of_type(rec, "Condition").any(|c| {
        condition_counts(c, reading)
            && coded(
                &c["code"],
                &[
                    (ICPC_URI, "D85"),
                    (ICPC_URI, "D86"),
                    (SCT, "13200003"),
                    (SCT, "51868009"),
                    (SCT, "397825006"),
                ],
            )
    });
    age_of(rec, as_of) > 70 || ulcer
}

/// The values `read` gives on the most recent day of the last `look_back` days, among
/// observations not entered in error.
fn latest_day_values(
    rec: &Record,
    as_of: Date,
    look_back: i64,
    read: impl Fn(&Json) -> Option<f64>,
) -> Vec<f64> {
    let found: Vec<(i64, f64)> = of_type(rec, "Observation")
        .filter(|o| o["status"] != "entered-in-error")
        .map(|o| (days_ago(as_of, observation_day(o)), o))
        .filter(|(d, _)| (0..=look_back).contains(d))
        .filter_map(|(d, o)| read(o).map(|v| (d, v)))
        .collect();
    let Some(day) = found.iter().map(|f| f.0).min() else {
        return Vec::new();
    };
    found
        .into_iter()
        .filter(|f| f.0 == day)
        .map(|f| f.1)
        .collect()
}

/// score2 (rule 5, ESC 2021 low-risk region): age 40–69, female or male, no active diabetes,
/// and the risk from the most recent clinic SBP, total and HDL cholesterol and smoking status
/// of the last 730 days is in the very-high band (≥ 7.5 % below 50, ≥ 10 % from 50).
pub fn reread_score2(rec: &Record, as_of: Date) -> bool {
    let age = age_of(rec, as_of);
    let male = match rec.gender.as_str() {
        "male" => true,
        "female" => false,
        _ => return false,
    };
    let diabetes = of_type(rec, "Condition").any(|c| {
        condition_counts(c, Reading::Careful)
            && matches!(clinical_status(c), "active" | "recurrence" | "relapse")
            && coded(&c["code"], &[(ICPC_URI, "T90"), (SCT, "44054006")])
    });
    if !(40..=69).contains(&age) || diabetes {
        return false;
    }
    let mean = |v: Vec<f64>| (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64);
    let sbp = mean(latest_day_values(rec, as_of, 730, |o| {
        let by_patient = o["performer"]
            .as_array()
            .is_some_and(|p| p.iter().any(|r| r["reference"] == *rec.reference));
        if by_patient || !coded(&o["code"], &[(LNC, "85354-9")]) {
            return None;
        }
        o["component"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| coded(&c["code"], &[(LNC, "8480-6")]))
            .and_then(|c| c["valueQuantity"]["value"].as_f64())
    }));
    // In mmol/L as the host hands it over: mg/dL ÷ 38.67, rounded to hundredths.
    let lipid = |code: &'static str| {
        mean(latest_day_values(rec, as_of, 730, move |o| {
            if !coded(&o["code"], &[(LNC, code)]) {
                return None;
            }
            let q = &o["valueQuantity"];
            let v = q["value"].as_f64().unwrap();
            Some(match q["code"].as_str().unwrap() {
                "mmol/L" => v,
                "mg/dL" => (v / 38.67 * 100.0).round() / 100.0,
                other => panic!("cholesterol in {other}"),
            })
        }))
    };
    let smoking = latest_day_values(rec, as_of, 730, |o| {
        if !coded(&o["code"], &[(LNC, "72166-2")]) {
            return None;
        }
        let current = coded(
            &o["valueCodeableConcept"],
            &[(SCT, "449868002"), (SCT, "428041000124106")],
        );
        Some(if current { 1.0 } else { 0.0 })
    });
    let (Some(sbp), Some(tc), Some(hdl)) = (sbp, lipid("2093-3"), lipid("2085-9")) else {
        return false;
    };
    if smoking.is_empty() {
        return false;
    }
    let smoker = smoking.contains(&1.0);
    // SCORE2 as rule 5 writes it.
    let (beta, s0, a, b): ([f64; 9], f64, f64, f64) = if male {
        (
            [
                0.3742, 0.6012, 0.2777, 0.1458, -0.2698, -0.0755, -0.0255, -0.0281, 0.0426,
            ],
            0.9605,
            -0.5699,
            0.7476,
        )
    } else {
        (
            [
                0.4648, 0.7744, 0.3131, 0.1002, -0.2606, -0.1088, -0.0277, -0.0226, 0.0613,
            ],
            0.9776,
            -0.7380,
            0.7019,
        )
    };
    let cage = (f64::from(age) - 60.0) / 5.0;
    let smoke = if smoker { 1.0 } else { 0.0 };
    let (csbp, ctc, chdl) = ((sbp - 120.0) / 20.0, tc - 6.0, (hdl - 1.3) / 0.5);
    let x = [
        cage,
        smoke,
        csbp,
        ctc,
        chdl,
        cage * smoke,
        cage * csbp,
        cage * ctc,
        cage * chdl,
    ];
    let lp: f64 = beta.iter().zip(x).map(|(b, t)| b * t).sum();
    let p0 = 1.0 - s0.powf(lp.exp());
    let risk = 100.0 * (1.0 - (-(a + b * (-(1.0 - p0).ln()).ln()).exp()).exp());
    risk >= if age < 50 { 7.5 } else { 10.0 }
}

/// phq9 (rule 6): the most recent PHQ-9 of the last 30 days (a 44261-6 total, or a 44249-1
/// panel with its answers and total) has item 9 (44260-8) above 0 or a total of 10 or more.
pub fn reread_phq9(rec: &Record, as_of: Date) -> bool {
    let latest = of_type(rec, "Observation")
        .filter(|o| {
            o["status"] != "entered-in-error"
                && coded(&o["code"], &[(LNC, "44261-6"), (LNC, "44249-1")])
        })
        .map(|o| (days_ago(as_of, observation_day(o)), o))
        .filter(|(d, _)| (0..=30).contains(d))
        .min_by_key(|(d, _)| *d);
    let Some((_, o)) = latest else {
        return false;
    };
    let component = |code: &str| {
        o["component"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| coded(&c["code"], &[(LNC, code)]))
            .map(|c| c["valueInteger"].as_i64().unwrap())
    };
    let total = o["valueQuantity"]["value"]
        .as_i64()
        .or_else(|| component("44261-6"))
        .unwrap();
    if let Some(items) = o["component"].as_array() {
        assert_eq!(items.len(), 10);
        let sum: i64 = items[..9]
            .iter()
            .map(|c| c["valueInteger"].as_i64().unwrap())
            .sum();
        assert_eq!(sum, total, "the total is the sum of the answers");
    }
    component("44260-8").is_some_and(|a| a > 0) || total >= 10
}
