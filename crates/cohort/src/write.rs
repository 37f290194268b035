//! Writing a cohort: the directory (refused unless empty or an earlier cohort's), `cohort.json`,
//! the patients streamed one at a time as Bundles or NDJSON, and `labels.csv`.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use jiff::civil::Date;
use serde::Serialize;

use crate::drift::ExportDrift;
use crate::fhir::{self, Bundle, RefStyle, ResourceType};
use crate::generator::{self, MAX_PATIENTS, Pseudonymiser};
use crate::patient::Patient;
use crate::scenario;
use crate::spec::{CohortError, CohortFormat, CohortShape, CohortSpec, LABELS, MANIFEST, TOPICS};
use crate::synthea::Padding;

/// Name and version written to `cohort.json`. Version 2: mixes, shapes, measurement noise and
/// real-export shapes; version 3: the guideline topics (NSAID gastroprotection, SCORE2, PHQ-9).
pub(crate) const GENERATOR: &str = "livelab-cohort";
const VERSION: u32 = 3;

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
    /// FHIR resources written, by type (every type of the shape present, possibly 0).
    pub resources_by_type: BTreeMap<String, u64>,
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> CohortError + '_ {
    move |source| CohortError::Io {
        path: path.to_path_buf(),
        source,
    }
}

pub(crate) fn json_err(path: &Path) -> impl FnOnce(serde_json::Error) -> CohortError + '_ {
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
    shape: &'static str,
    mix: &'static str,
    topics: &'a [&'static str],
    #[serde(skip_serializing_if = "Option::is_none")]
    series: Option<SeriesEntry>,
}

/// Where an export sits in its series, in its `cohort.json`.
#[derive(Clone, Copy, Debug, Serialize)]
pub(crate) struct SeriesEntry {
    /// 1-based.
    pub export: usize,
    pub of: usize,
    /// The series' drift (`None`: a stable control series), whether or not it applies yet.
    pub drift: Option<&'static str>,
    pub drift_from: Option<usize>,
    /// Whether the drift is in force in this export.
    pub drifting: bool,
}

/// Generates the cohort described by `spec` into `out_dir` and returns its counts.
///
/// `out_dir` is created if needed. A non-empty directory is refused unless it holds a
/// `cohort.json` written by this generator; then the files of the earlier cohort (patient
/// bundles, NDJSON files, `labels.csv`, `cohort.json`) are removed first and other files are left
/// alone. `cohort.json` is written first, so an interrupted run can be overwritten.
pub fn write_cohort(spec: &CohortSpec, out_dir: &Path) -> Result<CohortSummary, CohortError> {
    write_export(spec, out_dir, ExportDrift::NONE, None)
}

/// [`write_cohort`] with a series' drift in force: patients are drawn until `spec.patients`
/// are kept, each altered before its labels are computed.
pub(crate) fn write_export(
    spec: &CohortSpec,
    out_dir: &Path,
    drift: ExportDrift,
    series: Option<SeriesEntry>,
) -> Result<CohortSummary, CohortError> {
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
        shape: spec.shape.name(),
        mix: spec.mix.name(),
        topics: &TOPICS,
        series,
    };
    let mut text = serde_json::to_vec(&manifest).map_err(json_err(&manifest_path))?;
    text.push(b'\n');
    fs::write(&manifest_path, text).map_err(io_err(&manifest_path))?;

    let labels_path = out_dir.join(LABELS);
    let mut labels = BufWriter::new(File::create(&labels_path).map_err(io_err(&labels_path))?);
    labels
        .write_all(b"record,topic,expected\n")
        .map_err(io_err(&labels_path))?;

    let mut sink = Sink::open(spec, out_dir)?;
    let pseudonymiser = Pseudonymiser::new(spec.seed);
    let mut positives = [0usize; TOPICS.len()];
    let mut us_coded = 0;
    let mut kept = 0;
    for index in 0..MAX_PATIENTS {
        if kept == spec.patients {
            break;
        }
        let mut patient = generator::generate(
            spec.seed,
            index,
            pseudonymiser.pseudonym(index),
            spec.as_of,
            spec.mix,
        );
        drift.alter(index, &mut patient);
        let truth = scenario::truth(&patient, spec.as_of);
        if !drift.keep(index, &patient, &truth, spec.as_of) {
            continue;
        }
        kept += 1;
        sink.write(&patient)?;
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
    if kept < spec.patients {
        return Err(CohortError::InvalidSpec(format!(
            "the drift kept only {kept} of {} patients among {MAX_PATIENTS} drawn",
            spec.patients
        )));
    }
    let resources_by_type = sink.finish()?;
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
        resources_by_type,
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
        || ResourceType::ALL
            .iter()
            .any(|t| name.strip_prefix(t.name()) == Some(".000.ndjson"))
}

/// Whether `manifest` is a JSON file this generator wrote (`cohort.json`, `series.json`).
pub(crate) fn written_by_us(manifest: &Path) -> bool {
    fs::read(manifest)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .is_some_and(|v| v.get("generator").and_then(|g| g.as_str()) == Some(GENERATOR))
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
    if !written_by_us(&dir.join(MANIFEST)) {
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

/// Write buffer per NDJSON file: large writes, few syscalls, bounded memory (≤ 17 files).
const NDJSON_BUFFER: usize = 1 << 20;

/// Where patients go.
struct Sink<'a> {
    as_of: Date,
    shape: CohortShape,
    /// Resources written, indexed by [`ResourceType::index`].
    counts: [u64; ResourceType::ALL.len()],
    out: Out<'a>,
}

enum Out<'a> {
    Bundles {
        dir: &'a Path,
    },
    /// One writer per type of the shape, indexed by [`ResourceType::index`].
    Ndjson {
        files: Vec<Option<(PathBuf, BufWriter<File>)>>,
    },
}

impl<'a> Sink<'a> {
    fn open(spec: &CohortSpec, dir: &'a Path) -> Result<Self, CohortError> {
        let out = match spec.format {
            CohortFormat::Bundles => Out::Bundles { dir },
            CohortFormat::Ndjson => {
                let mut files: Vec<_> = ResourceType::ALL.iter().map(|_| None).collect();
                for t in ResourceType::written_in(spec.shape) {
                    let path = dir.join(format!("{}.000.ndjson", t.name()));
                    let file = File::create(&path).map_err(io_err(&path))?;
                    files[t.index()] = Some((path, BufWriter::with_capacity(NDJSON_BUFFER, file)));
                }
                Out::Ndjson { files }
            }
        };
        Ok(Sink {
            as_of: spec.as_of,
            shape: spec.shape,
            counts: [0; ResourceType::ALL.len()],
            out,
        })
    }

    fn write(&mut self, p: &Patient) -> Result<(), CohortError> {
        let style = match self.out {
            Out::Bundles { .. } => RefStyle::Bundle,
            Out::Ndjson { .. } => RefStyle::Ndjson,
        };
        let padding =
            (self.shape == CohortShape::Synthea).then(|| Padding::generate(p, self.as_of));
        let mut resources = fhir::render(p, self.as_of, style);
        if let Some(padding) = &padding {
            padding.render(p, self.as_of, style, &mut resources);
        }
        for r in &resources {
            self.counts[r.rtype.index()] += 1;
        }
        match &mut self.out {
            Out::Bundles { dir } => {
                let bundle = match self.shape {
                    CohortShape::Plain => Bundle::collection(resources),
                    CohortShape::Synthea => Bundle::transaction(resources),
                };
                let path = dir.join(format!("{}.json", p.pseudonym));
                let file = File::create(&path).map_err(io_err(&path))?;
                let mut out = BufWriter::new(file);
                serde_json::to_writer_pretty(&mut out, &bundle).map_err(json_err(&path))?;
                out.write_all(b"\n").map_err(io_err(&path))?;
                out.flush().map_err(io_err(&path))
            }
            Out::Ndjson { files } => {
                for r in resources {
                    let (path, out) = files[r.rtype.index()]
                        .as_mut()
                        .expect("the shape opened a file for every type it renders");
                    serde_json::to_writer(&mut *out, &r.resource).map_err(json_err(path))?;
                    out.write_all(b"\n").map_err(io_err(path))?;
                }
                Ok(())
            }
        }
    }

    /// Flushes the files and returns the resources written by type.
    fn finish(self) -> Result<BTreeMap<String, u64>, CohortError> {
        if let Out::Ndjson { files } = self.out {
            for (path, mut out) in files.into_iter().flatten() {
                out.flush().map_err(io_err(&path))?;
            }
        }
        Ok(ResourceType::written_in(self.shape)
            .iter()
            .map(|t| (t.name().to_string(), self.counts[t.index()]))
            .collect())
    }
}
