//! Seeded, reproducible generator of synthetic, anonymised patients as FHIR R4 JSON, with
//! reference labels from the generator's own ground truth.
//!
//! Each patient's latent scenario is decided first (enriched prevalences: ~35 % metformin
//! users, ~20 % atrial fibrillation, ~25 % with a home blood-pressure series), then the FHIR
//! resources that express it, then one label per topic in [`TOPICS`], computed from the
//! generator's own items by the rule text of each topic (never by plugin code). Thresholds follow
//! `clinical-reference.md`: metformin/eGFR dose limits (NHG/KNMP), CHA2DS2-VASc with ESC 2020
//! anticoagulation thresholds, and the ESC/ESH home blood-pressure threshold of 135/85 mmHg.
//!
//! Output is streamed one patient at a time (memory does not grow with the cohort size) and is a
//! pure function of the [`CohortSpec`]: same spec, byte-identical files. Patients carry no direct
//! identifiers (no name, identifier, telecom or address) and only a birth year.

mod codes;
mod fhir;
mod scenario;

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::Serialize;

use fhir::{Bundle, RESOURCE_TYPES, RefStyle};
use scenario::{MAX_PATIENTS, Pseudonymiser};

/// The labelled topics, in `labels.csv` order.
pub const TOPICS: [&str; 3] = ["metformin-egfr", "af-anticoagulation", "home-bp"];

/// Name and version written to `cohort.json`.
const GENERATOR: &str = "livelab-cohort";
const VERSION: u32 = 1;
const MANIFEST: &str = "cohort.json";
const LABELS: &str = "labels.csv";

/// What to generate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CohortSpec {
    pub seed: u64,
    pub patients: usize,
    /// The evaluation date: every date in the records is at or before it.
    pub as_of: Date,
    pub format: CohortFormat,
}

/// How the records are laid out on disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CohortFormat {
    /// One FHIR `collection` Bundle per patient, `<patient-id>.json`.
    Bundles,
    /// FHIR Bulk Data NDJSON, one `<Type>.000.ndjson` file per resource type.
    Ndjson,
}

impl CohortFormat {
    fn name(self) -> &'static str {
        match self {
            CohortFormat::Bundles => "bundles",
            CohortFormat::Ndjson => "ndjson",
        }
    }
}

/// Counts over the written cohort.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CohortSummary {
    pub patients: usize,
    /// Rows in `labels.csv` (patients × topics).
    pub labels: usize,
    /// Label-1 rows per topic (every topic present, possibly 0).
    pub positives_by_topic: BTreeMap<String, usize>,
    /// Patients coded the US way (SNOMED CT, RxNorm, LOINC only).
    pub us_coded: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum CohortError {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "{} is not empty and holds no livelab-cohort {MANIFEST}; refusing to write a cohort there",
        path.display()
    )]
    NotACohortDir { path: PathBuf },
    #[error("invalid cohort spec: {0}")]
    InvalidSpec(String),
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CohortError + '_ {
    move |source| CohortError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn json_err(path: &Path) -> impl FnOnce(serde_json::Error) -> CohortError + '_ {
    move |e| CohortError::Io {
        path: path.to_path_buf(),
        source: e.into(),
    }
}

#[derive(Serialize)]
struct Manifest<'a> {
    generator: &'static str,
    version: u32,
    seed: u64,
    patients: usize,
    as_of: String,
    format: &'static str,
    topics: &'a [&'static str],
}

/// Generates the cohort described by `spec` into `out_dir` and returns its counts.
///
/// `out_dir` is created if needed. A non-empty directory is refused unless it holds a
/// `cohort.json` written by this generator; then the files of the earlier cohort (patient
/// bundles, NDJSON files, `labels.csv`, `cohort.json`) are removed first and other files are left
/// alone. `cohort.json` is written first, so an interrupted run can be overwritten.
pub fn write_cohort(spec: &CohortSpec, out_dir: &Path) -> Result<CohortSummary, CohortError> {
    validate(spec)?;
    prepare_dir(out_dir)?;

    let manifest_path = out_dir.join(MANIFEST);
    let manifest = Manifest {
        generator: GENERATOR,
        version: VERSION,
        seed: spec.seed,
        patients: spec.patients,
        as_of: spec.as_of.to_string(),
        format: spec.format.name(),
        topics: &TOPICS,
    };
    let mut text = serde_json::to_vec(&manifest).map_err(json_err(&manifest_path))?;
    text.push(b'\n');
    fs::write(&manifest_path, text).map_err(io_err(&manifest_path))?;

    let labels_path = out_dir.join(LABELS);
    let mut labels = BufWriter::new(File::create(&labels_path).map_err(io_err(&labels_path))?);
    labels
        .write_all(b"record,topic,expected\n")
        .map_err(io_err(&labels_path))?;

    let mut sink = Sink::open(spec.format, out_dir)?;
    let pseudonymiser = Pseudonymiser::new(spec.seed);
    let mut positives = [0usize; 3];
    let mut us_coded = 0;
    for index in 0..spec.patients as u64 {
        let patient =
            scenario::generate(spec.seed, index, pseudonymiser.pseudonym(index), spec.as_of);
        let truth = scenario::truth(&patient, spec.as_of);
        sink.write(&patient, spec.as_of)?;
        for (t, topic) in TOPICS.iter().enumerate() {
            writeln!(
                labels,
                "{},{topic},{}",
                patient.pseudonym,
                u8::from(truth[t])
            )
            .map_err(io_err(&labels_path))?;
            positives[t] += usize::from(truth[t]);
        }
        us_coded += usize::from(patient.us);
    }
    sink.finish()?;
    labels.flush().map_err(io_err(&labels_path))?;

    Ok(CohortSummary {
        patients: spec.patients,
        labels: spec.patients * TOPICS.len(),
        positives_by_topic: TOPICS
            .iter()
            .zip(positives)
            .map(|(t, n)| (t.to_string(), n))
            .collect(),
        us_coded,
    })
}

fn validate(spec: &CohortSpec) -> Result<(), CohortError> {
    if spec.patients as u64 >= MAX_PATIENTS {
        return Err(CohortError::InvalidSpec(format!(
            "at most {} patients",
            MAX_PATIENTS - 1
        )));
    }
    // Records reach about 100 years before as_of; keep every date a plain 4-digit year.
    if !(1900..=9999).contains(&spec.as_of.year()) {
        return Err(CohortError::InvalidSpec(format!(
            "as_of {} must fall in the years 1900–9999",
            spec.as_of
        )));
    }
    Ok(())
}

/// Names this generator writes (and so may remove when overwriting a cohort).
fn is_generated_file(name: &str) -> bool {
    let bundle = name
        .strip_prefix("pt-")
        .and_then(|rest| rest.strip_suffix(".json"))
        .is_some_and(|hex| {
            hex.len() == 12 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        });
    bundle
        || name == MANIFEST
        || name == LABELS
        || RESOURCE_TYPES
            .iter()
            .any(|t| name.strip_prefix(t) == Some(".000.ndjson"))
}

fn prepare_dir(dir: &Path) -> Result<(), CohortError> {
    fs::create_dir_all(dir).map_err(io_err(dir))?;
    let is_empty = fs::read_dir(dir)
        .map_err(io_err(dir))?
        .next()
        .transpose()
        .map_err(io_err(dir))?
        .is_none();
    if is_empty {
        return Ok(());
    }
    let manifest_path = dir.join(MANIFEST);
    let ours = fs::read(&manifest_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v.get("generator").and_then(|g| g.as_str()) == Some(GENERATOR));
    if !ours {
        return Err(CohortError::NotACohortDir {
            path: dir.to_path_buf(),
        });
    }
    for entry in fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let path = entry.path();
        let generated = entry.file_name().to_str().is_some_and(is_generated_file);
        if generated && entry.file_type().map_err(io_err(&path))?.is_file() {
            fs::remove_file(&path).map_err(io_err(&path))?;
        }
    }
    Ok(())
}

/// Where patients go.
enum Sink<'a> {
    Bundles {
        dir: &'a Path,
    },
    Ndjson {
        files: Vec<(PathBuf, BufWriter<File>)>,
    },
}

impl<'a> Sink<'a> {
    fn open(format: CohortFormat, dir: &'a Path) -> Result<Self, CohortError> {
        Ok(match format {
            CohortFormat::Bundles => Sink::Bundles { dir },
            CohortFormat::Ndjson => Sink::Ndjson {
                files: RESOURCE_TYPES
                    .iter()
                    .map(|t| {
                        let path = dir.join(format!("{t}.000.ndjson"));
                        let file = File::create(&path).map_err(io_err(&path))?;
                        Ok((path, BufWriter::new(file)))
                    })
                    .collect::<Result<_, CohortError>>()?,
            },
        })
    }

    fn write(&mut self, p: &scenario::Patient, as_of: Date) -> Result<(), CohortError> {
        match self {
            Sink::Bundles { dir } => {
                let reference = patient_reference(p, RefStyle::Bundle);
                let bundle = Bundle::new(fhir::render(p, as_of, &reference));
                let path = dir.join(format!("{}.json", p.pseudonym));
                let file = File::create(&path).map_err(io_err(&path))?;
                let mut out = BufWriter::new(file);
                serde_json::to_writer_pretty(&mut out, &bundle).map_err(json_err(&path))?;
                out.write_all(b"\n").map_err(io_err(&path))?;
                out.flush().map_err(io_err(&path))
            }
            Sink::Ndjson { files } => {
                let reference = patient_reference(p, RefStyle::Ndjson);
                for r in fhir::render(p, as_of, &reference) {
                    let (path, out) = &mut files[r.type_index];
                    serde_json::to_writer(&mut *out, &r.resource).map_err(json_err(path))?;
                    out.write_all(b"\n").map_err(io_err(path))?;
                }
                Ok(())
            }
        }
    }

    fn finish(self) -> Result<(), CohortError> {
        if let Sink::Ndjson { files } = self {
            for (path, mut out) in files {
                out.flush().map_err(io_err(&path))?;
            }
        }
        Ok(())
    }
}

fn patient_reference(p: &scenario::Patient, style: RefStyle) -> String {
    match style {
        RefStyle::Bundle => format!("urn:uuid:{}", p.uuid),
        RefStyle::Ndjson => format!("Patient/{}", p.pseudonym),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value as Json;
    use std::collections::BTreeSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> Self {
            static NEXT: AtomicUsize = AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!(
                "livelab-cohort-test-{}-{tag}-{n}",
                std::process::id()
            ));
            let _ = fs::remove_dir_all(&path);
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn date(y: i16, m: i8, d: i8) -> Date {
        Date::new(y, m, d).unwrap()
    }

    fn spec(seed: u64, patients: usize, format: CohortFormat) -> CohortSpec {
        CohortSpec {
            seed,
            patients,
            as_of: date(2025, 3, 14),
            format,
        }
    }

    /// Every file in `dir`, by name.
    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().into_string().unwrap(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }

    fn labels(dir: &Path) -> Vec<(String, String, u8)> {
        let text = fs::read_to_string(dir.join(LABELS)).unwrap();
        let mut lines = text.lines();
        assert_eq!(lines.next(), Some("record,topic,expected"));
        lines
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                assert_eq!(f.len(), 3, "{l}");
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
            })
            .collect()
    }

    #[test]
    fn cohort_same_spec_gives_identical_bytes() {
        for format in [CohortFormat::Bundles, CohortFormat::Ndjson] {
            let (a, b) = (TempDir::new("det-a"), TempDir::new("det-b"));
            let s = spec(7, 80, format);
            let sa = write_cohort(&s, &a.0).unwrap();
            let sb = write_cohort(&s, &b.0).unwrap();
            assert_eq!(sa, sb);
            let (fa, fb) = (files(&a.0), files(&b.0));
            assert_eq!(fa, fb, "{format:?}");
            let expected = match format {
                CohortFormat::Bundles => 80 + 2,
                CohortFormat::Ndjson => 6 + 2,
            };
            assert_eq!(fa.len(), expected);
            // Overwriting the same directory with the same spec changes nothing.
            write_cohort(&s, &a.0).unwrap();
            assert_eq!(files(&a.0), fb);
        }
    }

    #[test]
    fn cohort_patients_do_not_depend_on_cohort_size() {
        let (a, b) = (TempDir::new("size-a"), TempDir::new("size-b"));
        write_cohort(&spec(11, 20, CohortFormat::Bundles), &a.0).unwrap();
        write_cohort(&spec(11, 50, CohortFormat::Bundles), &b.0).unwrap();
        let (la, lb) = (labels(&a.0), labels(&b.0));
        assert_eq!(la[..], lb[..la.len()]);
        let (fa, fb) = (files(&a.0), files(&b.0));
        for (name, bytes) in &fa {
            if name.starts_with("pt-") {
                assert_eq!(Some(bytes), fb.get(name), "{name}");
            }
        }
    }

    #[test]
    fn cohort_different_seeds_differ() {
        let (a, b) = (TempDir::new("seed-a"), TempDir::new("seed-b"));
        write_cohort(&spec(1, 40, CohortFormat::Ndjson), &a.0).unwrap();
        write_cohort(&spec(2, 40, CohortFormat::Ndjson), &b.0).unwrap();
        let (fa, fb) = (files(&a.0), files(&b.0));
        for name in ["Patient.000.ndjson", "Observation.000.ndjson", LABELS] {
            assert_ne!(fa[name], fb[name], "{name}");
        }
        let ids = |l: Vec<(String, String, u8)>| -> BTreeSet<String> {
            l.into_iter().map(|(r, _, _)| r).collect()
        };
        assert!(ids(labels(&a.0)).is_disjoint(&ids(labels(&b.0))));
    }

    #[test]
    fn cohort_manifest_and_layout() {
        let dir = TempDir::new("manifest");
        let s = CohortSpec {
            seed: 42,
            patients: 5,
            as_of: date(2024, 9, 30),
            format: CohortFormat::Ndjson,
        };
        write_cohort(&s, &dir.0).unwrap();
        let manifest = fs::read_to_string(dir.0.join(MANIFEST)).unwrap();
        assert_eq!(
            manifest,
            "{\"generator\":\"livelab-cohort\",\"version\":1,\"seed\":42,\"patients\":5,\
             \"as_of\":\"2024-09-30\",\"format\":\"ndjson\",\
             \"topics\":[\"metformin-egfr\",\"af-anticoagulation\",\"home-bp\"]}\n"
        );
        let rows = labels(&dir.0);
        assert_eq!(rows.len(), 15);
        for (i, (record, topic, _)) in rows.iter().enumerate() {
            assert_eq!(topic, TOPICS[i % 3]);
            assert_eq!(record, &rows[i - i % 3].0);
            assert!(record.starts_with("pt-") && record.len() == 15, "{record}");
        }
    }

    #[test]
    fn cohort_refuses_foreign_dirs_and_replaces_its_own() {
        let dir = TempDir::new("overwrite");
        fs::create_dir_all(&dir.0).unwrap();
        fs::write(dir.0.join("notes.txt"), "keep me").unwrap();
        let err = write_cohort(&spec(3, 5, CohortFormat::Bundles), &dir.0).unwrap_err();
        assert!(matches!(err, CohortError::NotACohortDir { .. }), "{err}");
        assert!(err.to_string().contains(&dir.0.display().to_string()));
        // A cohort.json from someone else does not make the directory ours either.
        fs::write(dir.0.join(MANIFEST), "{\"generator\":\"other\"}").unwrap();
        assert!(write_cohort(&spec(3, 5, CohortFormat::Bundles), &dir.0).is_err());
        fs::remove_file(dir.0.join(MANIFEST)).unwrap();

        fs::remove_file(dir.0.join("notes.txt")).unwrap();
        write_cohort(&spec(3, 30, CohortFormat::Bundles), &dir.0).unwrap();
        fs::write(dir.0.join("notes.txt"), "keep me").unwrap();
        write_cohort(&spec(3, 10, CohortFormat::Ndjson), &dir.0).unwrap();
        let names: BTreeSet<String> = files(&dir.0).into_keys().collect();
        let mut expected: BTreeSet<String> = RESOURCE_TYPES
            .iter()
            .map(|t| format!("{t}.000.ndjson"))
            .collect();
        expected.extend([MANIFEST, LABELS, "notes.txt"].map(String::from));
        assert_eq!(names, expected);

        // An I/O error names the path.
        let file = dir.0.join("notes.txt");
        let err = write_cohort(&spec(3, 1, CohortFormat::Bundles), &file).unwrap_err();
        assert!(matches!(err, CohortError::Io { .. }), "{err}");
        assert!(err.to_string().contains("notes.txt"), "{err}");
    }

    // ------------------------------------------------------------ independent re-reader

    /// One patient as read back from the written FHIR JSON.
    struct Record {
        gender: String,
        birth_year: i32,
        /// The string other resources use to reference this patient.
        reference: String,
        resources: Vec<Json>,
    }

    fn read_bundles(dir: &Path) -> BTreeMap<String, Record> {
        let mut out = BTreeMap::new();
        for (name, bytes) in files(dir) {
            if !name.starts_with("pt-") {
                continue;
            }
            let bundle: Json = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(bundle["resourceType"], "Bundle");
            assert_eq!(bundle["type"], "collection");
            let mut patient = None;
            let mut resources = Vec::new();
            for entry in bundle["entry"].as_array().unwrap() {
                let url = entry["fullUrl"].as_str().unwrap();
                let uuid = url.strip_prefix("urn:uuid:").unwrap();
                assert_uuid_v4(uuid);
                let r = entry["resource"].clone();
                if r["resourceType"] == "Patient" {
                    assert!(patient.is_none());
                    patient = Some((r, url.to_string()));
                } else {
                    resources.push(r);
                }
            }
            let (p, url) = patient.expect("a Patient entry");
            let id = p["id"].as_str().unwrap().to_string();
            assert_eq!(name, format!("{id}.json"));
            out.insert(id, record(&p, url, resources));
        }
        out
    }

    fn read_ndjson(dir: &Path) -> BTreeMap<String, Record> {
        let lines = |t: &str| -> Vec<Json> {
            fs::read_to_string(dir.join(format!("{t}.000.ndjson")))
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        };
        let mut out = BTreeMap::new();
        for p in lines("Patient") {
            let id = p["id"].as_str().unwrap().to_string();
            let reference = format!("Patient/{id}");
            out.insert(id, record(&p, reference, Vec::new()));
        }
        let mut ids = BTreeSet::new();
        for t in &RESOURCE_TYPES[1..] {
            for r in lines(t) {
                assert_eq!(r["resourceType"], *t);
                assert!(ids.insert(r["id"].as_str().unwrap().to_string()));
                let reference = r
                    .get("subject")
                    .or_else(|| r.get("patient"))
                    .and_then(|s| s["reference"].as_str())
                    .unwrap();
                let id = reference.strip_prefix("Patient/").unwrap();
                out.get_mut(id).unwrap().resources.push(r);
            }
        }
        out
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

    fn assert_uuid_v4(u: &str) {
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

    const SCT: &str = "http://snomed.info/sct";
    const ICPC_URI: &str = "http://hl7.org/fhir/sid/icpc-1-nl";
    const ATC_URI: &str = "http://www.whocc.no/atc";
    const RXN: &str = "http://www.nlm.nih.gov/research/umls/rxnorm";
    const LNC: &str = "http://loinc.org";
    const NHG: &str = "urn:oid:2.16.840.1.113883.2.4.4.30.45";

    /// True when a coding of the CodeableConcept has one of the systems and starts with the
    /// matching code prefix (exact codes are prefixes of themselves).
    fn coded(cc: &Json, set: &[(&str, &str)]) -> bool {
        cc["coding"].as_array().into_iter().flatten().any(|c| {
            set.iter().any(|(system, prefix)| {
                c["system"] == *system && c["code"].as_str().unwrap().starts_with(prefix)
            })
        })
    }

    fn status(r: &Json) -> &str {
        r["clinicalStatus"]["coding"][0]["code"].as_str().unwrap()
    }

    fn days_ago(as_of: Date, when: &str) -> i64 {
        let d: Date = when[..10].parse().unwrap();
        (as_of - d).get_days().into()
    }

    fn of_type<'a>(rec: &'a Record, t: &'a str) -> impl Iterator<Item = &'a Json> + 'a {
        rec.resources.iter().filter(move |r| r["resourceType"] == t)
    }

    fn reread_metformin(rec: &Record, as_of: Date) -> bool {
        const EGFR: [(&str, &str); 3] = [(LNC, "62238-1"), (LNC, "33914-3"), (NHG, "3583")];
        let latest = of_type(rec, "Observation")
            .filter(|o| coded(&o["code"], &EGFR))
            .map(|o| {
                (
                    days_ago(as_of, o["effectiveDateTime"].as_str().unwrap()),
                    o["valueQuantity"]["value"].as_f64().unwrap(),
                )
            })
            .filter(|&(d, _)| (0..=365).contains(&d))
            .min_by_key(|&(d, _)| d);
        let Some((_, egfr)) = latest else {
            return false;
        };
        of_type(rec, "MedicationRequest")
            .filter(|m| m["status"] == "active")
            .filter(|m| {
                coded(
                    &m["medicationCodeableConcept"],
                    &[(ATC_URI, "A10BA02"), (RXN, "860975"), (RXN, "861007")],
                )
            })
            .any(|m| {
                let d = &m["dosageInstruction"][0];
                let dose = d["doseAndRate"][0]["doseQuantity"]["value"]
                    .as_f64()
                    .unwrap();
                assert_eq!(d["doseAndRate"][0]["doseQuantity"]["code"], "mg");
                let repeat = &d["timing"]["repeat"];
                assert_eq!(repeat["periodUnit"], "d");
                let daily = dose * repeat["frequency"].as_f64().unwrap()
                    / repeat["period"].as_f64().unwrap();
                egfr < 10.0
                    || (egfr < 30.0 && daily > 500.0)
                    || ((30.0..50.0).contains(&egfr) && daily > 1000.0)
            })
    }

    fn reread_af(rec: &Record, as_of: Date) -> bool {
        let conditions: Vec<&Json> = of_type(rec, "Condition").collect();
        let current = |s: &str| matches!(s, "active" | "recurrence" | "relapse");
        let any = |set: &[(&str, &str)], active_only: bool| {
            conditions
                .iter()
                .any(|c| coded(&c["code"], set) && (!active_only || current(status(c))))
        };
        if !any(&[(ICPC_URI, "K78"), (SCT, "49436004")], true) {
            return false;
        }
        let anticoagulated = of_type(rec, "MedicationRequest").any(|m| {
            m["status"] == "active"
                && coded(
                    &m["medicationCodeableConcept"],
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
        let age = i32::from(as_of.year())
            - rec.birth_year
            - i32::from((as_of.month(), as_of.day()) < (7, 1));
        let female = rec.gender == "female";
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
        score += i32::from(female);
        match rec.gender.as_str() {
            "female" => score >= 3,
            "male" => score >= 2,
            other => panic!("AF in a patient of gender {other}"),
        }
    }

    fn reread_home_bp(rec: &Record, as_of: Date) -> bool {
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
            if !by_patient || !(0..=6).contains(&days_ago(as_of, when)) {
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

    /// Fails on any key that could carry a direct identifier.
    fn assert_no_identifiers(v: &Json) {
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

    fn check_against_reread(s: &CohortSpec) {
        let dir = TempDir::new("reread");
        let summary = write_cohort(s, &dir.0).unwrap();
        let records = match s.format {
            CohortFormat::Bundles => read_bundles(&dir.0),
            CohortFormat::Ndjson => read_ndjson(&dir.0),
        };
        assert_eq!(records.len(), s.patients);
        let rows = labels(&dir.0);
        assert_eq!(rows.len(), s.patients * TOPICS.len());
        assert_eq!(summary.labels, rows.len());
        let mut positives = [0usize; 3];
        let mut negatives = [0usize; 3];
        let mut us_systems = 0;
        for (i, (id, topic, expected)) in rows.iter().enumerate() {
            let t = i % 3;
            assert_eq!(topic, TOPICS[t]);
            let rec = &records[id];
            let reread = match t {
                0 => reread_metformin(rec, s.as_of),
                1 => reread_af(rec, s.as_of),
                _ => reread_home_bp(rec, s.as_of),
            };
            assert_eq!(*expected == 1, reread, "{id} {topic} ({:?})", s.format);
            if reread {
                positives[t] += 1;
            } else {
                negatives[t] += 1;
            }
            if t == 0 {
                for r in &rec.resources {
                    assert_no_identifiers(r);
                    assert_eq!(
                        r.get("subject").or_else(|| r.get("patient")).unwrap()["reference"],
                        *rec.reference
                    );
                    assert!(r["id"].is_string());
                    for date_key in ["effectiveDateTime", "onsetDateTime", "authoredOn"] {
                        if let Some(when) = r.get(date_key).and_then(|d| d.as_str()) {
                            assert!(days_ago(s.as_of, when) >= 0, "future {date_key}");
                        }
                    }
                }
                // A patient is coded one way: never Dutch and US systems together.
                let text = serde_json::to_string(&rec.resources).unwrap();
                let us = text.contains(SCT) || text.contains(RXN);
                let nl = text.contains(ICPC_URI) || text.contains(ATC_URI) || text.contains(NHG);
                assert!(!(us && nl), "{id} mixes coding systems");
                us_systems += usize::from(us);
            }
        }
        for t in 0..3 {
            assert!(positives[t] >= 10, "{}: {positives:?}", TOPICS[t]);
            assert!(negatives[t] >= 10, "{}: {negatives:?}", TOPICS[t]);
            assert_eq!(summary.positives_by_topic[TOPICS[t]], positives[t]);
        }
        // ~20 % US-coded (every US patient with a coded item shows SNOMED CT or RxNorm).
        let share = summary.us_coded as f64 / s.patients as f64;
        assert!((0.14..=0.26).contains(&share), "US share {share}");
        assert!(us_systems <= summary.us_coded && us_systems * 10 >= summary.us_coded * 8);
        // Nothing anywhere in the output carries an identifier key, Patient resources included.
        for (name, bytes) in files(&dir.0) {
            if name.ends_with(".ndjson") {
                for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    assert_no_identifiers(&serde_json::from_slice(line).unwrap());
                }
            } else if name.ends_with(".json") {
                assert_no_identifiers(&serde_json::from_slice(&bytes).unwrap());
            }
        }
    }

    #[test]
    fn cohort_labels_match_reread_bundles() {
        check_against_reread(&spec(20250314, 500, CohortFormat::Bundles));
    }

    #[test]
    fn cohort_labels_match_reread_ndjson() {
        // An as_of after 1 July exercises the other side of the age rule.
        check_against_reread(&CohortSpec {
            seed: 99,
            patients: 500,
            as_of: date(2024, 9, 30),
            format: CohortFormat::Ndjson,
        });
    }

    // ------------------------------------------------------------ scenario design

    #[test]
    fn cohort_scenarios_reach_their_intended_labels_and_edges() {
        use scenario::{MedStatus, ObsKind, Value};
        let as_of = date(2025, 3, 14);
        let pseudonyms = Pseudonymiser::new(5);
        let mut names = BTreeMap::<&str, [usize; 2]>::new();
        let mut edges = BTreeSet::new();
        for i in 0..4000 {
            let p = scenario::generate(5, i, pseudonyms.pseudonym(i), as_of);
            let truth = scenario::truth(&p, as_of);
            assert_eq!(p.intended, truth, "{} {:?}", p.pseudonym, p.scenario);
            for (name, label) in p.scenario.iter().zip(truth) {
                names.entry(name).or_default()[usize::from(label)] += 1;
            }
            let latest_egfr = p
                .observations
                .iter()
                .filter(|o| o.days_ago <= 365)
                .filter_map(|o| match o.kind {
                    ObsKind::Lab {
                        kind: scenario::LabKind::Egfr,
                        value: Value::Int(v),
                    } => Some((o.days_ago, v)),
                    _ => None,
                })
                .min();
            for m in &p.medications {
                if matches!(
                    m.kind,
                    scenario::MedKind::Metformin | scenario::MedKind::MetforminEr
                ) && m.status == MedStatus::Active
                {
                    let daily = m.dose_ug / 1000 * m.frequency / m.period_days;
                    if let Some((_, v)) = latest_egfr {
                        edges.insert(format!("egfr {v} dose {daily} -> {}", truth[0]));
                    }
                }
            }
        }
        for name in [
            "egfr-fresh",
            "egfr-fresh-and-older",
            "egfr-fresh-and-stale",
            "egfr-stale-only",
            "egfr-none",
            "metformin-not-active",
            "af-threshold",
            "af-threshold-anticoagulated",
            "af-not-active",
            "antiplatelet-only",
            "anticoagulant-not-active",
            "bp-7d-systolic-135",
            "bp-7d-systolic-below-135",
            "bp-7d-diastolic-85",
            "bp-7d-diastolic-below-85",
            "bp-12-readings",
            "bp-11-readings",
            "bp-window-edge",
            "bp-incomplete",
            "bp-old-series",
            "bp-home-plus-clinic",
        ] {
            assert!(names.contains_key(name), "scenario {name} never drawn");
        }
        // AF right at the threshold: both labels occur (anticoagulated or not).
        assert!(names["af-threshold"].iter().all(|&n| n > 0));
        for edge in [
            "egfr 30 dose 1000 -> false",
            "egfr 30 dose 1500 -> true",
            "egfr 50 dose 2000 -> false",
            "egfr 10 dose 500 -> false",
            "egfr 10 dose 1000 -> true",
            "egfr 9 dose 500 -> true",
            "egfr 29 dose 500 -> false",
            "egfr 49 dose 1000 -> false",
            "egfr 49 dose 1500 -> true",
        ] {
            assert!(edges.contains(edge), "edge case {edge} never generated");
        }
    }

    #[test]
    fn cohort_pseudonyms_are_unique_and_well_formed() {
        let p = Pseudonymiser::new(42);
        let mut seen = BTreeSet::new();
        for i in 0..20_000 {
            let id = p.pseudonym(i);
            assert_eq!(id.len(), 15);
            assert!(
                id[3..]
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
            );
            assert!(seen.insert(id));
        }
        assert_ne!(p.pseudonym(0), Pseudonymiser::new(43).pseudonym(0));
    }

    /// `cargo test --release -p livelab-host cohort_print -- --ignored --nocapture`
    #[test]
    #[ignore = "prints the seed-42 sample cohort's scenario mix"]
    fn cohort_print_seed42_mix() {
        let dir = TempDir::new("seed42");
        let s = spec(42, 300, CohortFormat::Bundles);
        let summary = write_cohort(&s, &dir.0).unwrap();
        println!("{summary:#?}");
        let pseudonyms = Pseudonymiser::new(42);
        let mut names = BTreeMap::<(usize, &str), [usize; 2]>::new();
        for i in 0..300 {
            let p = scenario::generate(42, i, pseudonyms.pseudonym(i), s.as_of);
            let truth = scenario::truth(&p, s.as_of);
            for (t, (name, label)) in p.scenario.iter().zip(truth).enumerate() {
                names.entry((t, name)).or_default()[usize::from(label)] += 1;
            }
        }
        for ((t, name), [neg, pos]) in names {
            println!("{:<20} {name:<28} label0={neg:<4} label1={pos}", TOPICS[t]);
        }
    }
}
