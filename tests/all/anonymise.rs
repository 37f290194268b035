//! `livelab anonymise`: an identifiable export in (built here from the FHIR R4 spec, shaped
//! like Synthea's transaction Bundles and like a Bulk Data export), a pseudonymised one out.
//! `livelab run` on the output is the integrator's test; these check the output itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::support::{assert_error, assert_success, livelab, stdout, temp_dir};

const PATIENT_UUID: &str = "0b5e1c34-8f7a-4c1e-9a0d-2f6b3c4d5e6f";
const ENCOUNTER_UUID: &str = "1c6f2d45-9a8b-4d2f-8b1e-3a7c4d5e6f70";
const CONDITION_UUID: &str = "2d7a3e56-ab9c-4e3a-9c2f-4b8d5e6f7081";
const OBSERVATION_UUID: &str = "3e8b4f67-bcad-4f4b-ad3a-5c9e6f708192";
const MEDICATION_UUID: &str = "4f9c5a78-cdbe-4a5c-be4b-6daf708192a3";
const PRACTITIONER_UUID: &str = "5aad6b89-decf-4b6d-8f5c-7eb08192a3b4";
const DOCUMENT_UUID: &str = "6bbe7c9a-efd0-4c7e-9a6d-8fc192a3b4c5";
const CLAIM_UUID: &str = "7ccf8dab-f0e1-4d8f-ab7e-90d2a3b4c5d6";
const ORGANIZATION_UUID: &str = "8dd09ebc-01f2-4e90-bc8f-a1e3b4c5d6e7";
const BUNDLE_FILE: &str = "Johannes_de_Vries_0b5e1c34-8f7a-4c1e-9a0d-2f6b3c4d5e6f.json";

/// What identifies Johannes de Vries (or his family, GP, practice or record) in the Bundle.
const BUNDLE_SECRETS: &[&str] = &[
    "Johannes",
    "Pieter",
    "Vries",
    "Hendrika",
    "Bakker",
    "Anna",
    "Kees",
    "Willem",
    "Jansen",
    "Amersfoort",
    "Zeist",
    "Dorpsstraat",
    "3701 AB",
    "999911120",
    "MRN-4711-X",
    "12345678",
    "7654321",
    "johannes.devries@example.nl",
    "9999912345",
    "Zilveren",
    "polis",
    "1956-03-12",
    "04:37",
    "Sm9oYW5uZXMgZGUgVnJpZXM",
    "Sm9oYW5uZXMgaXMgZ2V6aWVu",
    "hospital.example.nl",
    "synthetichealth.github.io/synthea|",
    "geboren",
    "broer",
    "volgens",
    PATIENT_UUID,
    ENCOUNTER_UUID,
    CONDITION_UUID,
    OBSERVATION_UUID,
    MEDICATION_UUID,
    PRACTITIONER_UUID,
    DOCUMENT_UUID,
    CLAIM_UUID,
    ORGANIZATION_UUID,
    BUNDLE_FILE,
];

/// What identifies the two patients of the Bulk export, their GP and the export.
const NDJSON_SECRETS: &[&str] = &[
    "Maria",
    "Visser",
    "Bram",
    "Smit",
    "999912345",
    "999923456",
    "0301234567",
    "Kerkweg",
    "2511 CV",
    "Bos",
    "p-79213",
    "p-79214",
    "c-5501",
    "o-8802",
    "prac-12",
    "ziekenhuis",
    "huisarts-bos",
    "1948-11-30",
    "1971-07-04",
    "mevrouw Visser",
];

fn urn(uuid: &str) -> String {
    format!("urn:uuid:{uuid}")
}

/// The patient as Synthea's `Reference.display` names him.
const DISPLAY_NAME: &str = "Dhr. Johannes Pieter de Vries";

fn subject() -> Value {
    json!({"reference": urn(PATIENT_UUID), "display": DISPLAY_NAME})
}

fn encounter() -> Value {
    json!({"reference": urn(ENCOUNTER_UUID)})
}

/// Conditional references, as Synthea writes them to Practitioners and Organizations.
fn gp() -> Value {
    json!({"reference": "Practitioner?identifier=http://hl7.org/fhir/sid/us-npi|9999912345", "display": "Dr. Willem Jansen"})
}

fn patient() -> Value {
    json!({
        "resourceType": "Patient",
        "id": PATIENT_UUID,
        "meta": {"profile": ["http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient"]},
        "text": {"status": "generated", "div": "<div xmlns=\"http://www.w3.org/1999/xhtml\">Johannes de Vries, geboren 12 maart 1956</div>"},
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName", "valueString": "Hendrika Bakker"},
            {"url": "http://hl7.org/fhir/StructureDefinition/patient-birthPlace", "valueAddress": {"city": "Amersfoort", "country": "NL"}},
            {"url": "http://synthetichealth.github.io/synthea/disability-adjusted-life-years", "valueDecimal": 0.61}
        ],
        "identifier": [
            {"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": "999911120"},
            {
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR", "display": "Medical Record Number"}]},
                "system": "http://hospital.example.nl/mrn",
                "value": "MRN-4711-X"
            }
        ],
        "name": [{"use": "official", "family": "de Vries", "given": ["Johannes", "Pieter"], "prefix": ["Dhr."]}],
        "telecom": [
            {"system": "phone", "value": "+31 6 12345678", "use": "mobile"},
            {"system": "email", "value": "johannes.devries@example.nl"}
        ],
        "gender": "male",
        "birthDate": "1956-03-12",
        "_birthDate": {"extension": [{"url": "http://hl7.org/fhir/StructureDefinition/patient-birthTime", "valueDateTime": "1956-03-12T04:37:00+01:00"}]},
        "address": [{"line": ["Dorpsstraat 12"], "city": "Zeist", "postalCode": "3701 AB", "country": "NL"}],
        "maritalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M", "display": "Married"}], "text": "Married"},
        "photo": [{"contentType": "image/jpeg", "data": "Sm9oYW5uZXMgZGUgVnJpZXM="}],
        "contact": [{
            "relationship": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0131", "code": "N"}]}],
            "name": {"family": "de Vries-Bakker", "given": ["Anna"]},
            "telecom": [{"system": "phone", "value": "+31 30 7654321"}]
        }],
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "nl", "display": "Dutch"}]}}]
    })
}

fn condition() -> Value {
    json!({
        "resourceType": "Condition",
        "id": CONDITION_UUID,
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": "confirmed"}]},
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category", "code": "encounter-diagnosis", "display": "Encounter Diagnosis"}]}],
        "code": {"coding": [{"system": "http://snomed.info/sct", "code": "44054006", "display": "Diabetes mellitus type 2 (disorder)"}], "text": "Diabetes mellitus type 2 (disorder)"},
        "subject": subject(),
        "encounter": encounter(),
        "onsetDateTime": "2015-06-01T10:00:00+02:00",
        "recordedDate": "2015-06-01T10:00:00+02:00",
        "note": [{"authorString": "Dr. Willem Jansen", "text": "Johannes vertelt dat zijn broer Kees ook diabetes heeft"}]
    })
}

fn observation() -> Value {
    json!({
        "resourceType": "Observation",
        "id": OBSERVATION_UUID,
        "status": "final",
        "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category", "code": "laboratory", "display": "laboratory"}]}],
        "code": {"coding": [{"system": "http://loinc.org", "code": "33914-3", "display": "Glomerular filtration rate/1.73 sq M.predicted [Volume Rate/Area] in Serum or Plasma by Creatinine-based formula (MDRD)"}]},
        "subject": subject(),
        "encounter": encounter(),
        "effectiveDateTime": "2026-04-20T08:30:00+02:00",
        "issued": "2026-04-20T12:00:00.000+02:00",
        "performer": [{"reference": urn(PRACTITIONER_UUID), "display": "Dr. Willem Jansen"}],
        "valueQuantity": {"value": 38, "unit": "mL/min/{1.73_m2}", "system": "http://unitsofmeasure.org", "code": "mL/min/{1.73_m2}"}
    })
}

fn medication_request() -> Value {
    json!({
        "resourceType": "MedicationRequest",
        "id": MEDICATION_UUID,
        "status": "active",
        "intent": "order",
        "medicationCodeableConcept": {"coding": [{"system": "http://www.whocc.no/atc", "code": "A10BA02", "display": "metformine"}], "text": "metformine"},
        "subject": subject(),
        "encounter": encounter(),
        "authoredOn": "2016-01-10T10:00:00+01:00",
        "requester": gp(),
        "dosageInstruction": [{
            "sequence": 1,
            "text": "2 maal daags 1 tablet, volgens dr. Jansen",
            "timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}},
            "doseAndRate": [{"doseQuantity": {"value": 500, "unit": "mg", "system": "http://unitsofmeasure.org", "code": "mg"}}]
        }]
    })
}

/// A Synthea-shaped transaction Bundle for one patient, with a Practitioner, a clinical note
/// and a claim beside the clinical resources.
fn synthea_bundle() -> Value {
    let entry = |uuid: &str, resource: Value| {
        let ty = resource["resourceType"].as_str().unwrap().to_owned();
        json!({"fullUrl": urn(uuid), "resource": resource, "request": {"method": "POST", "url": ty}})
    };
    json!({
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            entry(PATIENT_UUID, patient()),
            entry(ENCOUNTER_UUID, json!({
                "resourceType": "Encounter",
                "id": ENCOUNTER_UUID,
                "status": "finished",
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
                "type": [{"coding": [{"system": "http://snomed.info/sct", "code": "185349003", "display": "Encounter for check up (procedure)"}], "text": "Encounter for check up (procedure)"}],
                "subject": subject(),
                "participant": [{"individual": gp()}],
                "period": {"start": "2026-04-20T08:00:00+02:00", "end": "2026-04-20T08:15:00+02:00"},
                "serviceProvider": {"reference": format!("Organization?identifier=https://github.com/synthetichealth/synthea|{ORGANIZATION_UUID}"), "display": "Huisartsenpraktijk Jansen"}
            })),
            entry(CONDITION_UUID, condition()),
            entry(OBSERVATION_UUID, observation()),
            entry(MEDICATION_UUID, medication_request()),
            entry(PRACTITIONER_UUID, json!({
                "resourceType": "Practitioner",
                "id": PRACTITIONER_UUID,
                "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999912345"}],
                "name": [{"family": "Jansen", "given": ["Willem"], "prefix": ["Dr."]}],
                "address": [{"line": ["Dorpsstraat 1"], "city": "Zeist"}]
            })),
            entry(DOCUMENT_UUID, json!({
                "resourceType": "DocumentReference",
                "id": DOCUMENT_UUID,
                "status": "superseded",
                "subject": subject(),
                "content": [{"attachment": {"contentType": "text/plain; charset=utf-8", "data": "Sm9oYW5uZXMgaXMgZ2V6aWVu"}}],
                "context": {"encounter": [encounter()]}
            })),
            entry(CLAIM_UUID, json!({
                "resourceType": "Claim",
                "id": CLAIM_UUID,
                "status": "active",
                "type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
                "use": "claim",
                "patient": subject(),
                "created": "2026-04-20T08:15:00+02:00",
                "provider": {"reference": format!("Organization?identifier=https://github.com/synthetichealth/synthea|{ORGANIZATION_UUID}"), "display": "Huisartsenpraktijk Jansen"},
                "priority": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/processpriority", "code": "normal"}]},
                "insurance": [{"sequence": 1, "focal": true, "coverage": {"display": "Zilveren Kruis polis 123456789"}}],
                "item": [{"sequence": 1, "productOrService": {"coding": [{"system": "http://snomed.info/sct", "code": "185349003", "display": "Encounter for check up (procedure)"}]}, "encounter": [encounter()]}],
                "total": {"value": 129.5, "currency": "EUR"}
            })),
        ]
    })
}

fn ndjson(resources: &[Value]) -> String {
    resources
        .iter()
        .map(|r| serde_json::to_string(r).unwrap() + "\n")
        .collect()
}

fn bulk_patient(id: &str, family: &str, given: &str, bsn: &str, birth: &str) -> Value {
    json!({
        "resourceType": "Patient",
        "id": id,
        "identifier": [{"system": "http://fhir.nl/fhir/NamingSystem/bsn", "value": bsn}],
        "name": [{"family": family, "given": [given]}],
        "telecom": [{"system": "phone", "value": "0301234567"}],
        "address": [{"line": ["Kerkweg 3"], "postalCode": "2511 CV", "city": "Den Haag"}],
        "gender": "female",
        "birthDate": birth,
        "generalPractitioner": [{"reference": "Practitioner/prac-12", "display": "Dr. Bos"}]
    })
}

fn bulk_observation(patient: &str, value: f64) -> Value {
    json!({
        "resourceType": "Observation",
        "id": format!("o-8802-{patient}"),
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6", "display": "Systolic blood pressure"}]},
        "subject": {"reference": format!("Patient/{patient}"), "display": "mevrouw Visser"},
        "effectiveDateTime": "2026-09-01",
        "valueQuantity": {"value": value, "unit": "mm[Hg]", "system": "http://unitsofmeasure.org", "code": "mm[Hg]"},
        "note": [{"text": "Gemeten door mevrouw Visser zelf"}]
    })
}

/// A Bundle directory: the Synthea-shaped Bundle (named after the patient, as Synthea names
/// them) and a metadata file that is not copied.
fn bundle_export(dir: &Path) -> PathBuf {
    let input = dir.join("synthea");
    std::fs::create_dir_all(&input).unwrap();
    std::fs::write(
        input.join(BUNDLE_FILE),
        serde_json::to_string_pretty(&synthea_bundle()).unwrap(),
    )
    .unwrap();
    std::fs::write(input.join("labels.csv"), "record,topic,expected\n").unwrap();
    input
}

/// A Bulk Data export of two patients, with its manifest.
fn bulk_export(dir: &Path) -> PathBuf {
    let input = dir.join("bulk");
    std::fs::create_dir_all(&input).unwrap();
    let write = |name: &str, text: String| std::fs::write(input.join(name), text).unwrap();
    write(
        "Patient.000.ndjson",
        ndjson(&[
            bulk_patient("p-79213", "Visser", "Maria", "999912345", "1948-11-30"),
            bulk_patient("p-79214", "Smit", "Bram", "999923456", "1971-07-04"),
        ]),
    );
    write(
        "Condition.000.ndjson",
        ndjson(&[json!({
            "resourceType": "Condition",
            "id": "c-5501",
            "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]},
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icpc-1-nl", "code": "K86", "display": "Hypertensie zonder orgaanbeschadiging"}]},
            "subject": {"reference": "Patient/p-79213"},
            "onsetDateTime": "2019-02-14",
            "asserter": {"reference": "Practitioner/prac-12"}
        })]),
    );
    write(
        "Observation.000.ndjson",
        ndjson(&[
            bulk_observation("p-79213", 152.0),
            bulk_observation("p-79214", 128.0),
        ]),
    );
    write(
        "Practitioner.000.ndjson",
        ndjson(&[
            json!({"resourceType": "Practitioner", "id": "prac-12", "name": [{"family": "Bos"}]}),
        ]),
    );
    let base = "https://fhir.ziekenhuis.example/r4";
    let output = ["Patient", "Condition", "Observation", "Practitioner"]
        .map(|t| json!({"type": t, "url": format!("{base}/files/{t}.000.ndjson")}));
    write(
        "manifest.json",
        serde_json::to_string_pretty(&json!({
            "transactionTime": "2026-10-30T23:00:00Z",
            "request": format!("{base}/Group/huisarts-bos/$export?_type=Patient,Condition,Observation,Practitioner"),
            "requiresAccessToken": true,
            "output": output,
            "error": []
        }))
        .unwrap(),
    );
    write("cohort.json", "{}".into());
    input
}

/// `input`'s sibling `<input>-<suffix>`, for its anonymised output.
fn sibling(input: &Path, suffix: &str) -> PathBuf {
    let name = input.file_name().unwrap().to_str().unwrap();
    input.with_file_name(format!("{name}-{suffix}"))
}

fn key_file(dir: &Path, name: &str, byte: u8) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, [byte; 32]).unwrap();
    path
}

fn anonymise(input: &Path, output: &Path, key: &Path) -> std::process::Output {
    livelab(&[
        "anonymise",
        input.to_str().unwrap(),
        output.to_str().unwrap(),
        "--key-file",
        key.to_str().unwrap(),
    ])
}

/// Every output file by name, with its bytes.
fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect()
}

/// Every resource of an output directory, with the file it is in.
fn resources(dir: &Path) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, bytes) in files(dir) {
        let text = String::from_utf8(bytes).unwrap();
        if name.ends_with(".ndjson") {
            for line in text.lines() {
                out.push((name.clone(), serde_json::from_str(line).unwrap()));
            }
        } else if name != "manifest.json" {
            let bundle: Value = serde_json::from_str(&text).unwrap();
            for entry in bundle["entry"].as_array().unwrap() {
                out.push((name.clone(), entry["resource"].clone()));
            }
        }
    }
    out
}

fn of_type<'a>(resources: &'a [(String, Value)], ty: &str) -> Vec<&'a Value> {
    resources
        .iter()
        .map(|(_, r)| r)
        .filter(|r| r["resourceType"] == ty)
        .collect()
}

fn anonymised(input: &Path, output: &Path, key: &Path) -> String {
    let result = anonymise(input, output, key);
    assert_success(&result);
    stdout(&result)
}

#[test]
fn no_identifying_string_survives_in_any_output_byte() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    for (input, secrets) in [
        (bundle_export(dir.path()), BUNDLE_SECRETS),
        (bulk_export(dir.path()), NDJSON_SECRETS),
    ] {
        let output = sibling(&input, "out");
        anonymised(&input, &output, &key);
        let files = files(&output);
        assert!(!files.is_empty());
        for (name, bytes) in &files {
            let text = String::from_utf8_lossy(bytes).to_lowercase();
            for secret in secrets {
                let secret = secret.to_lowercase();
                assert!(
                    !name.to_lowercase().contains(&secret),
                    "{name} is named after {secret:?}"
                );
                assert!(
                    !text.contains(&secret),
                    "{name} still holds {secret:?}:\n{text}"
                );
            }
        }
        // What livelab run refuses in a Patient is gone.
        for patient in of_type(&resources(&output), "Patient") {
            for field in [
                "name",
                "identifier",
                "telecom",
                "address",
                "photo",
                "contact",
                "text",
            ] {
                assert!(
                    patient.get(field).is_none(),
                    "Patient.{field} survived: {patient:#}"
                );
            }
        }
    }
}

#[test]
fn the_summary_counts_what_was_removed_dropped_and_not_copied() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let out = anonymised(&bundle_export(dir.path()), &dir.path().join("out"), &key);
    for expected in [
        "1 files (Bundles) read, 1 written; 8 resources read, 6 written",
        "identifier 2",
        "name 1",
        "contact details 4",
        "note 1",
        "reference display 11",
        "Patient.birthDate to year 1",
        "DocumentReference 1",
        "Practitioner 1",
        "conditional (names its target by identifier) 4",
        "not copied: labels.csv",
    ] {
        assert!(out.contains(expected), "summary lacks {expected:?}:\n{out}");
    }
    let out = anonymised(&bulk_export(dir.path()), &dir.path().join("out-bulk"), &key);
    for expected in [
        "4 files (Bulk NDJSON) read, 3 written; 6 resources read, 5 written",
        "manifest.json rewritten",
        "not copied: cohort.json",
    ] {
        assert!(out.contains(expected), "summary lacks {expected:?}:\n{out}");
    }
}

/// Every `reference` in `value`, depth first.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(obj) => {
            for (k, v) in obj {
                match (k.as_str(), v) {
                    ("reference", Value::String(r)) => out.push(r.clone()),
                    _ => references(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_in_the_output_resolves_to_a_resource_in_the_output() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let (mut urns, mut relative) = (0, 0);
    for input in [bundle_export(dir.path()), bulk_export(dir.path())] {
        let output = sibling(&input, "out");
        anonymised(&input, &output, &key);
        let mut by_id = BTreeSet::new();
        let mut full_urls: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for (name, bytes) in files(&output) {
            if name.ends_with(".json") && name != "manifest.json" {
                let bundle: Value = serde_json::from_slice(&bytes).unwrap();
                for entry in bundle["entry"].as_array().unwrap() {
                    let url = entry["fullUrl"]
                        .as_str()
                        .expect("every entry keeps a fullUrl");
                    full_urls
                        .entry(name.clone())
                        .or_default()
                        .insert(url.to_owned());
                }
            }
        }
        let all = resources(&output);
        for (_, r) in &all {
            by_id.insert(format!(
                "{}/{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            ));
        }
        for (file, resource) in &all {
            let mut refs = Vec::new();
            references(resource, &mut refs);
            for r in refs {
                let resolves = if r.starts_with("urn:uuid:") {
                    urns += 1;
                    full_urls.get(file).is_some_and(|urls| urls.contains(&r))
                } else {
                    relative += 1;
                    by_id.contains(&r)
                };
                assert!(resolves, "{file}: {r} resolves to nothing in the output");
            }
        }
    }
    // Both forms occur: urn:uuid in the Bundle, Patient/<id> in the Bulk export.
    assert!(
        urns >= 9 && relative >= 3,
        "{urns} urn and {relative} Type/id references"
    );
}

#[test]
fn references_to_dropped_or_unresolvable_targets_keep_only_their_type() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let output = dir.path().join("out");
    anonymised(&bundle_export(dir.path()), &output, &key);
    let all = resources(&output);
    assert_eq!(of_type(&all, "Practitioner").len(), 0);
    assert_eq!(of_type(&all, "DocumentReference").len(), 0);
    let observation = of_type(&all, "Observation")[0];
    assert_eq!(observation["performer"], json!([{"type": "Practitioner"}]));
    let encounter = of_type(&all, "Encounter")[0];
    assert_eq!(
        encounter["serviceProvider"],
        json!({"type": "Organization"})
    );
    assert_eq!(
        encounter["participant"],
        json!([{"individual": {"type": "Practitioner"}}])
    );
}

#[test]
fn the_same_key_gives_identical_bytes_and_another_key_shares_no_pseudonym() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let other = key_file(dir.path(), "other.key", 2);
    for input in [bundle_export(dir.path()), bulk_export(dir.path())] {
        let run = |name: &str, key: &Path| {
            let output = sibling(&input, name);
            anonymised(&input, &output, key);
            files(&output)
        };
        let first = run("a", &key);
        assert_eq!(
            first,
            run("b", &key),
            "the same key must give the same bytes"
        );
        let third = run("c", &other);

        // Pseudonyms: file names, resource ids, fullUrls and reference targets.
        let pseudonyms = |files: &BTreeMap<String, Vec<u8>>| {
            let is_pseudonym = |token: &str| {
                token.len() >= 32
                    && token
                        .trim_start_matches("pt-")
                        .bytes()
                        .all(|b| b.is_ascii_hexdigit() || b == b'-')
            };
            let mut found = BTreeSet::new();
            for (name, bytes) in files {
                let text = String::from_utf8_lossy(bytes);
                let tokens = text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'));
                for token in tokens.chain([name.trim_end_matches(".json")]) {
                    if is_pseudonym(token) {
                        found.insert(token.to_owned());
                    }
                }
            }
            found
        };
        let (a, c) = (pseudonyms(&first), pseudonyms(&third));
        assert!(a.len() >= 4, "too few pseudonyms found: {a:?}");
        let common: Vec<_> = a.intersection(&c).collect();
        assert!(
            common.is_empty(),
            "pseudonyms shared across keys: {common:?}"
        );
    }
}

#[test]
fn birth_dates_are_generalised_to_the_year() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let output = dir.path().join("out");
    anonymised(&bundle_export(dir.path()), &output, &key);
    let patient = of_type(&resources(&output), "Patient")[0].clone();
    assert_eq!(patient["birthDate"], "1956");
    assert!(
        patient.get("_birthDate").is_none(),
        "the birth time extension survived"
    );
    // Coded, non-identifying demographics stay.
    assert_eq!(patient["gender"], "male");
    assert_eq!(patient["communication"], patient_field("communication"));
    assert!(patient["id"].as_str().unwrap().starts_with("pt-"));

    let output = dir.path().join("out-bulk");
    anonymised(&bulk_export(dir.path()), &output, &key);
    let births: BTreeSet<_> = of_type(&resources(&output), "Patient")
        .iter()
        .map(|p| p["birthDate"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        births,
        BTreeSet::from(["1948".to_owned(), "1971".to_owned()])
    );
}

fn patient_field(field: &str) -> Value {
    patient()[field].clone()
}

#[test]
fn coded_clinical_content_is_unchanged() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let output = dir.path().join("out");
    anonymised(&bundle_export(dir.path()), &output, &key);
    let all = resources(&output);
    let same = |ty: &str, original: Value, fields: &[&str]| {
        let found = of_type(&all, ty);
        assert_eq!(found.len(), 1, "one {ty}");
        for field in fields {
            assert_eq!(found[0][field], original[field], "{ty}.{field}");
        }
    };
    same(
        "Condition",
        condition(),
        &[
            "code",
            "clinicalStatus",
            "verificationStatus",
            "category",
            "onsetDateTime",
            "recordedDate",
        ],
    );
    same(
        "Observation",
        observation(),
        &[
            "status",
            "category",
            "code",
            "effectiveDateTime",
            "issued",
            "valueQuantity",
        ],
    );
    same(
        "MedicationRequest",
        medication_request(),
        &[
            "status",
            "intent",
            "medicationCodeableConcept",
            "authoredOn",
        ],
    );
    let request = of_type(&all, "MedicationRequest")[0];
    let dosage = &medication_request()["dosageInstruction"][0];
    assert_eq!(request["dosageInstruction"][0]["timing"], dosage["timing"]);
    assert_eq!(
        request["dosageInstruction"][0]["doseAndRate"],
        dosage["doseAndRate"]
    );
    assert!(
        request["dosageInstruction"][0].get("text").is_none(),
        "free-text sig survived"
    );
}

#[test]
fn bulk_files_keep_type_names_and_the_manifest_points_at_them() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let output = dir.path().join("out");
    anonymised(&bulk_export(dir.path()), &output, &key);
    let names: Vec<String> = files(&output).into_keys().collect();
    assert_eq!(
        names,
        [
            "Condition.000.ndjson",
            "Observation.000.ndjson",
            "Patient.000.ndjson",
            "manifest.json"
        ]
    );
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(output.join("manifest.json")).unwrap()).unwrap();
    assert!(
        manifest.get("request").is_none(),
        "the kick-off URL names a Group"
    );
    assert_eq!(manifest["transactionTime"], "2026-10-30T23:00:00Z");
    let listed: BTreeMap<&str, (&str, u64)> = manifest["output"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["url"].as_str().unwrap(),
                (o["type"].as_str().unwrap(), o["count"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        listed,
        BTreeMap::from([
            ("Condition.000.ndjson", ("Condition", 1)),
            ("Observation.000.ndjson", ("Observation", 2)),
            ("Patient.000.ndjson", ("Patient", 2)),
        ])
    );
}

#[test]
fn a_short_or_missing_key_file_is_refused_with_how_to_make_one() {
    let dir = temp_dir();
    let input = bundle_export(dir.path());
    let short = dir.path().join("short.key");
    std::fs::write(&short, [1u8; 16]).unwrap();
    assert_error(
        &anonymise(&input, &dir.path().join("out"), &short),
        &[
            "short.key",
            "16 bytes",
            "at least 32",
            "head -c 32 /dev/urandom",
        ],
    );
    assert_error(
        &anonymise(
            &input,
            &dir.path().join("out"),
            &dir.path().join("missing.key"),
        ),
        &["missing.key", "not found", "head -c 32 /dev/urandom"],
    );
    assert!(!dir.path().join("out").exists());
}

#[test]
fn a_missing_input_or_an_unusable_output_is_refused() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let input = bundle_export(dir.path());
    assert_error(
        &anonymise(
            &dir.path().join("no-such-export"),
            &dir.path().join("out"),
            &key,
        ),
        &["no-such-export", "does not exist"],
    );

    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    std::fs::write(full.join("keep.txt"), "mine").unwrap();
    assert_error(
        &anonymise(&input, &full, &key),
        &["full", "not empty", "new or empty directory"],
    );
    assert_eq!(
        std::fs::read_to_string(full.join("keep.txt")).unwrap(),
        "mine"
    );

    assert_error(
        &anonymise(&input, &input.join("anonymised"), &key),
        &["inside the input"],
    );
    assert!(!input.join("anonymised").exists());

    // An empty directory is fine.
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    anonymised(&input, &empty, &key);
}

#[test]
fn a_malformed_ndjson_line_names_file_and_line_and_leaves_no_output() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let input = bulk_export(dir.path());
    let observations = std::fs::read_to_string(input.join("Observation.000.ndjson")).unwrap();
    let first = observations.lines().next().unwrap();
    std::fs::write(
        input.join("Observation.000.ndjson"),
        format!("{first}\n{{\"resourceType\": \"Observation\", \"subject\": \n"),
    )
    .unwrap();
    let output = dir.path().join("out");
    assert_error(
        &anonymise(&input, &output, &key),
        &[
            "Observation.000.ndjson:2",
            "not valid JSON",
            "nothing was written",
        ],
    );
    assert!(!output.exists(), "partial output left behind");
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".livelab-anonymise"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging directories left behind: {leftovers:?}"
    );
}

#[test]
fn a_resource_that_cannot_be_anonymised_names_its_bundle_entry() {
    let dir = temp_dir();
    let key = key_file(dir.path(), "region.key", 1);
    let input = dir.path().join("broken");
    std::fs::create_dir(&input).unwrap();
    let mut bundle = synthea_bundle();
    bundle["entry"][2]["resource"]["subject"] = json!({"reference": {"not": "a string"}});
    std::fs::write(input.join("b.json"), bundle.to_string()).unwrap();
    assert_error(
        &anonymise(&input, &dir.path().join("out"), &key),
        &["b.json (Bundle.entry[2])", "reference is not a string"],
    );
}

/// The point of it all: `livelab run` refuses the identifiable export (its guard) and runs the
/// anonymised one, with the same cards as the identified data gives when a region overrides
/// the guard — anonymisation removes identity, not clinical content.
#[test]
fn run_refuses_the_identified_export_and_evaluates_the_anonymised_one() {
    use crate::support::METFORMIN_EGFR;
    let tmp = temp_dir();
    for (name, export) in [
        ("bundle", bundle_export(tmp.path())),
        ("bulk", bulk_export(tmp.path())),
    ] {
        let key = key_file(tmp.path(), &format!("{name}.key"), 7);
        let anonymised = tmp.path().join(format!("{name}-anonymised"));
        assert_success(&anonymise(&export, &anonymised, &key));
        let run = |records: &Path, out: &str, extra: &[&str]| {
            crate::support::run(records, &[METFORMIN_EGFR], &tmp.path().join(out), extra)
        };
        // Every record refused: the run writes its files and exits non-zero.
        let refused = crate::support::run_exiting(
            crate::support::EXIT_RUN_UNUSABLE,
            &export,
            &[METFORMIN_EGFR],
            &tmp.path().join(format!("{name}-refused")),
            &[],
        );
        assert!(!refused.is_empty());
        assert!(
            refused.iter().all(|l| l["status"] == "record-error"
                && l["error"]["message"]
                    .as_str()
                    .unwrap()
                    .contains("direct identifiers")),
            "{name}: identified records refused: {refused:?}"
        );
        let admitted = run(
            &export,
            &format!("{name}-admitted"),
            &["--allow-identifiers"],
        );
        let evaluated = run(&anonymised, &format!("{name}-evaluated"), &[]);
        assert!(
            evaluated.iter().all(|l| l["status"] == "ok"),
            "{evaluated:?}"
        );
        let cards =
            |lines: &[Value]| -> Vec<Value> { lines.iter().map(|l| l["cards"].clone()).collect() };
        assert_eq!(cards(&evaluated), cards(&admitted), "{name}: same cards");
    }
}
