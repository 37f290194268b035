//! Bulk Data NDJSON: one file per resource type, so one patient's resources are spread over
//! every file. Grouping them without holding the export in memory takes two passes:
//!
//! 1. **Route**: stream every line once, read only its type, id and patient reference, and
//!    append the used lines to one of N partitions chosen by a hash of the patient reference
//!    (N = input bytes ÷ [`IngestOptions::partition_bytes`], at least 1). Skipped types are
//!    counted and not kept; Medications go into an in-memory index (a formulary, not a
//!    patient: small). With N = 1 the partition stays in memory; otherwise partitions are
//!    scratch files in a temporary directory that is removed when reading ends.
//! 2. **Split** (in the reader): for each partition in turn, read it back and group its lines
//!    by the patient reference routing wrote beside each, without parsing any JSON. Each
//!    patient's lines (Patients first, then their resources) become one unit, and the
//!    lines whose patient is not in the export one more unit at the partition's end.
//! 3. **Assemble** (in whichever worker takes the unit, off the reader's lock): parse the
//!    patient's lines and build their record, as a Bundle file's are.
//!
//! Each line's JSON is parsed in full once, in step 3; routing reads only its head (type, id,
//! patient reference) and keeps the text. What reading holds is about two partitions' text
//! (the one being split and the one whose units are still in the run's window) and the
//! Medication index, whatever the size of the export: a 100,000-patient export of 31
//! partitions runs in 80 MiB with one worker and under 200 MiB with two (BENCHMARKS.md).
//! Records come out partition by partition; with one partition, in the order of the
//! Patient files.
//!
//! [`IngestOptions::partition_bytes`]: super::IngestOptions::partition_bytes

use std::borrow::Cow;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use super::assemble::{Builder, Parsed, index_medication, is_used_type, parse_resource};
use super::error::{RecordError, SourceError};
use super::listing;
use super::mapping::{MedicationIndex, normalise_reference};
use super::options::Ingest;
use super::record::{Position, Record, SourceLocation};
use super::shapes::{FhirMedication, ResourceHead};
use super::stats::IngestStats;
use crate::text::{BOM, strip_bom};

/// The parts of a Bulk Data export manifest that locate the files.
#[derive(Deserialize)]
struct Manifest {
    #[serde(default)]
    output: Vec<ManifestFile>,
    #[serde(default)]
    error: Vec<ManifestFile>,
}

#[derive(Deserialize)]
struct ManifestFile {
    url: String,
}

pub(super) struct BulkReader {
    files: Vec<PathBuf>,
    state: State,
}

enum State {
    Unrouted,
    Splitting {
        partitions: Vec<Partition>,
        next: usize,
        /// What every unit's assembly reads besides its own lines.
        shared: Arc<Shared>,
        /// Holds the scratch files; removed on drop.
        _scratch: Option<tempfile::TempDir>,
    },
}

/// What assembling any patient of the export needs: the files (to name places), the
/// Medication index routing built, and the run's ingest options.
struct Shared {
    files: Vec<PathBuf>,
    medications: MedicationIndex,
    ingest: Arc<Ingest>,
}

enum Partition {
    Memory(Vec<u8>),
    Scratch {
        path: PathBuf,
        writer: Option<BufWriter<File>>,
    },
}

impl BulkReader {
    /// The `*.ndjson` files of a directory without a manifest.
    pub(super) fn new(files: Vec<PathBuf>) -> BulkReader {
        BulkReader {
            files,
            state: State::Unrouted,
        }
    }

    /// The files a Bulk `manifest.json` lists (`output` and `error`, whatever their
    /// extension), plus any other `*.ndjson` beside it. A listed file that is missing is an
    /// error: the export is incomplete.
    pub(super) fn with_manifest(
        manifest: &Path,
        ndjson: Vec<PathBuf>,
    ) -> Result<BulkReader, SourceError> {
        let invalid = |message: String| SourceError::Manifest {
            path: manifest.to_owned(),
            message,
        };
        let bytes = fs::read(manifest).map_err(|e| invalid(listing::read_error(manifest, &e)))?;
        let parsed: Manifest = serde_json::from_slice(strip_bom(&bytes)).map_err(|e| {
            invalid(format!(
                "not a Bulk Data manifest ({e}); expected {{\"output\": [{{\"type\", \"url\"}}]}}"
            ))
        })?;
        let dir = manifest.parent().unwrap_or(Path::new("."));
        let mut files = Vec::new();
        for (list, entries) in [("output", &parsed.output), ("error", &parsed.error)] {
            for (i, entry) in entries.iter().enumerate() {
                let name = entry.url.rsplit('/').next().unwrap_or(&entry.url);
                let file = dir.join(name);
                if !file.is_file() {
                    return Err(invalid(format!(
                        "{list}[{i}] lists {} but {} is not there; download every file the export lists",
                        entry.url,
                        file.display()
                    )));
                }
                files.push(file);
            }
        }
        for file in ndjson {
            if !files.contains(&file) {
                files.push(file);
            }
        }
        files.sort();
        files.dedup();
        Ok(BulkReader::new(files))
    }

    pub(super) fn file_count(&self) -> usize {
        self.files.len()
    }

    /// The next batch of units: first the lines routing could not attribute to anyone (each
    /// an error already read), then one partition's patients per call. `None` when every
    /// partition has been split.
    pub(super) fn next_batch(
        &mut self,
        ingest: &Arc<Ingest>,
        stats: &mut IngestStats,
    ) -> Option<Vec<Piece>> {
        match &mut self.state {
            State::Unrouted => {
                let (state, outcomes) = match route(&self.files, ingest, stats) {
                    Ok(routed) => routed,
                    Err(error) => {
                        // No scratch space: report it once, as a record error naming the
                        // cause, and read nothing (every line is then accounted for by that
                        // error).
                        let state = State::Splitting {
                            partitions: Vec::new(),
                            next: 0,
                            shared: Arc::new(Shared {
                                files: Vec::new(),
                                medications: MedicationIndex::new(),
                                ingest: Arc::clone(ingest),
                            }),
                            _scratch: None,
                        };
                        let error = RecordError {
                            location: SourceLocation {
                                file: self.files.first().cloned().unwrap_or_default(),
                                position: None,
                            },
                            key: None,
                            message: error.to_string(),
                        };
                        (state, vec![Err(error)])
                    }
                };
                self.state = state;
                Some(outcomes.into_iter().map(Piece::Read).collect())
            }
            State::Splitting {
                partitions,
                next,
                shared,
                ..
            } => {
                let partition = partitions.get_mut(*next)?;
                *next += 1;
                Some(split(partition, shared))
            }
        }
    }
}

/// FNV-1a: a stable hash, so a given export is always partitioned (and ordered) alike.
fn partition_of(key: &str, count: usize) -> usize {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    (hash % count as u64) as usize
}

/// Pass 1: route every used line to its patient's partition.
fn route(
    files: &[PathBuf],
    ingest: &Arc<Ingest>,
    stats: &mut IngestStats,
) -> Result<(State, Vec<Result<Record, RecordError>>), SourceError> {
    let total: u64 = files
        .iter()
        .filter_map(|f| fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    let count = total.div_ceil(ingest.options.partition_bytes.max(1)).max(1) as usize;
    let (mut partitions, scratch) = if count == 1 {
        (vec![Partition::Memory(Vec::new())], None)
    } else {
        let scratch = tempfile::Builder::new()
            .prefix("livelab-bulk-")
            .tempdir()
            .map_err(|source| SourceError::Scratch { source })?;
        let mut partitions = Vec::with_capacity(count);
        for i in 0..count {
            let path = scratch.path().join(format!("partition-{i}.tsv"));
            let file = File::create(&path).map_err(|source| SourceError::Scratch { source })?;
            partitions.push(Partition::Scratch {
                path,
                writer: Some(BufWriter::new(file)),
            });
        }
        (partitions, Some(scratch))
    };
    stats.bulk_partitions = count as u64;

    let mut outcomes = Vec::new();
    let mut medications = MedicationIndex::new();
    let error_at = |file: &Path, line: Option<usize>, message: String| {
        Err(RecordError {
            location: SourceLocation {
                file: file.to_owned(),
                position: line.map(Position::Line),
            },
            key: None,
            message,
        })
    };
    for (file_index, file) in files.iter().enumerate() {
        stats.files += 1;
        let mut reader = match File::open(file) {
            Ok(f) => BufReader::with_capacity(1 << 20, f),
            Err(e) => {
                outcomes.push(error_at(file, None, listing::read_error(file, &e)));
                continue;
            }
        };
        let mut raw = Vec::new();
        let mut number = 0;
        loop {
            raw.clear();
            match reader.read_until(b'\n', &mut raw) {
                Ok(0) => break,
                Ok(_) => number += 1,
                Err(e) => {
                    // The device, not the data: what follows cannot be read either.
                    outcomes.push(error_at(
                        file,
                        Some(number + 1),
                        format!("cannot read line ({e}); the rest of the file is unread"),
                    ));
                    break;
                }
            }
            let mut bytes = raw.as_slice();
            if number == 1 && bytes.starts_with(BOM) {
                stats.byte_order_marks += 1;
                bytes = &bytes[BOM.len()..];
            }
            // A line that is not UTF-8 is read as far as it can be (its byte errors replaced),
            // so that its patient can still be found and their record made an error: the
            // line is one error, and the lines after it are read.
            let (text, not_utf8) = match std::str::from_utf8(bytes) {
                Ok(text) => (Cow::Borrowed(text), None),
                Err(e) => (
                    String::from_utf8_lossy(bytes),
                    Some(format!(
                        "line is not UTF-8 (byte {} of the line is invalid; was the export written in another encoding?)",
                        e.valid_up_to() + 1
                    )),
                ),
            };
            let text = text.trim_end_matches(['\n', '\r']);
            if text.trim().is_empty() {
                continue;
            }
            let head: ResourceHead = match serde_json::from_str(text) {
                Ok(head) => head,
                Err(e) => {
                    let message = match &not_utf8 {
                        Some(not_utf8) => format!("{not_utf8} and not a FHIR resource"),
                        None => format!("not a FHIR resource: {e}"),
                    };
                    outcomes.push(error_at(file, Some(number), message));
                    continue;
                }
            };
            let Some(resource_type) = head.resource_type.as_deref() else {
                outcomes.push(error_at(
                    file,
                    Some(number),
                    "resource has no resourceType".into(),
                ));
                continue;
            };
            if let Some(not_utf8) = &not_utf8
                && (resource_type == "Patient"
                    || resource_type == "Medication"
                    || !is_used_type(resource_type))
            {
                // Not routed: a Patient or Medication read with replaced bytes cannot be
                // trusted (its line is the error), and an unused type is skipped anyway.
                stats.resources += 1;
                if is_used_type(resource_type) {
                    outcomes.push(error_at(
                        file,
                        Some(number),
                        format!("{resource_type}: {not_utf8}"),
                    ));
                } else {
                    *stats.skipped.entry(resource_type.to_owned()).or_default() += 1;
                }
                continue;
            }
            let (kind, key) = match resource_type {
                "Patient" => match head.id.as_deref() {
                    // A partition line is tab-separated and ends at a line break: an id with
                    // either (which no valid FHIR id has) would split it (found by fuzzing).
                    Some(id) if id.contains(['\t', '\n', '\r']) => {
                        stats.resources += 1;
                        outcomes.push(error_at(
                            file,
                            Some(number),
                            format!(
                                "Patient id {:?} has a tab or line break, which no FHIR id may have; fix the export",
                                crate::text::escape_hidden(id)
                            ),
                        ));
                        continue;
                    }
                    Some(id) => (Kind::Patient, format!("Patient/{id}")),
                    None => {
                        stats.resources += 1;
                        outcomes.push(error_at(
                            file,
                            Some(number),
                            "Patient has no id; Bulk Data resources need one".into(),
                        ));
                        continue;
                    }
                },
                "Medication" => {
                    stats.resources += 1;
                    match serde_json::from_str::<FhirMedication>(text) {
                        Ok(m) => index_medication(m, None, &mut medications, stats),
                        Err(e) => outcomes.push(error_at(
                            file,
                            Some(number),
                            format!(
                                "Medication does not have the FHIR R4 shape: {e}; prescriptions that refer to it are dropped"
                            ),
                        )),
                    }
                    continue;
                }
                used if is_used_type(used) => match head.patient_reference() {
                    // Tabs separate the fields of a partition line and a line break ends it; no
                    // valid reference has either (and no routed Patient key has them).
                    Some(r) => {
                        let key = normalise_reference(&r).replace(['\t', '\n', '\r'], " ");
                        if let Some(not_utf8) = not_utf8 {
                            // Routed as an error, so that its patient's record becomes one.
                            stats.resources += 1;
                            let message = format!("{used}: {not_utf8}");
                            route_to(
                                &mut partitions,
                                count,
                                Kind::Unreadable,
                                file_index,
                                number,
                                &key,
                                &message,
                            )?;
                            continue;
                        }
                        (Kind::Resource, key)
                    }
                    None => {
                        stats.resources += 1;
                        stats.drop_resource("no patient reference");
                        continue;
                    }
                },
                other => {
                    stats.resources += 1;
                    *stats.skipped.entry(other.to_owned()).or_default() += 1;
                    continue;
                }
            };
            route_to(&mut partitions, count, kind, file_index, number, &key, text)?;
        }
    }
    for partition in &mut partitions {
        if let Partition::Scratch { writer, .. } = partition
            && let Some(mut w) = writer.take()
        {
            w.flush()
                .map_err(|source| SourceError::Scratch { source })?;
        }
    }
    let shared = Arc::new(Shared {
        files: files.to_vec(),
        medications,
        ingest: Arc::clone(ingest),
    });
    Ok((
        State::Splitting {
            partitions,
            next: 0,
            shared,
            _scratch: scratch,
        },
        outcomes,
    ))
}

/// Appends one routed line to the partition of `key`.
fn route_to(
    partitions: &mut [Partition],
    count: usize,
    kind: Kind,
    file_index: usize,
    number: usize,
    key: &str,
    json: &str,
) -> Result<(), SourceError> {
    let written = match &mut partitions[partition_of(key, count)] {
        Partition::Memory(buf) => write_line(buf, kind, file_index, number, key, json),
        Partition::Scratch { writer, .. } => write_line(
            writer.as_mut().expect("open while routing"),
            kind,
            file_index,
            number,
            key,
            json,
        ),
    };
    written.map_err(|source| SourceError::Scratch { source })
}

/// What a routed line holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// A Patient; its key is `Patient/<id>`.
    Patient,
    /// A resource that refers to a patient.
    Resource,
    /// A resource line that could not be read: the reason stands in place of the JSON.
    Unreadable,
}

impl Kind {
    fn tag(self) -> char {
        match self {
            Kind::Patient => 'P',
            Kind::Resource => 'R',
            Kind::Unreadable => 'E',
        }
    }

    fn of_tag(tag: &str) -> Option<Kind> {
        Some(match tag {
            "P" => Kind::Patient,
            "R" => Kind::Resource,
            "E" => Kind::Unreadable,
            _ => return None,
        })
    }
}

/// One routed line: `kind \t file index \t line number \t patient reference \t JSON`, the
/// kind as its [`Kind::tag`].
fn write_line(
    out: &mut impl Write,
    kind: Kind,
    file_index: usize,
    number: usize,
    key: &str,
    json: &str,
) -> std::io::Result<()> {
    writeln!(out, "{}\t{file_index}\t{number}\t{key}\t{json}", kind.tag())
}

/// A routed line within its partition's text: the key and JSON as byte ranges of it.
#[derive(Clone, Debug)]
struct RoutedLine {
    kind: Kind,
    file_index: usize,
    number: usize,
    key: Range<usize>,
    json: Range<usize>,
}

/// Reads the routed line that starts at byte `start` of `text` and runs to `line.len()`.
fn parse_line(text: &str, start: usize, line: &str) -> Option<RoutedLine> {
    let mut fields = line.splitn(5, '\t');
    let kind = Kind::of_tag(fields.next()?)?;
    let file_index = fields.next()?.parse().ok()?;
    let number = fields.next()?.parse().ok()?;
    let key = fields.next()?;
    let json = fields.next()?;
    let at = |field: &str| {
        let from = field.as_ptr() as usize - text.as_ptr() as usize;
        from..from + field.len()
    };
    debug_assert_eq!(at(line).start, start);
    Some(RoutedLine {
        kind,
        file_index,
        number,
        key: at(key),
        json: at(json),
    })
}

/// Pass 2, in the reader: groups one partition's lines by patient, without parsing their
/// JSON, into one unit per patient (in the order of their first Patient line) and one last
/// unit for the lines whose patient has no Patient line in the export.
fn split(partition: &mut Partition, shared: &Arc<Shared>) -> Vec<Piece> {
    let bytes = match partition {
        Partition::Memory(buf) => std::mem::take(buf),
        Partition::Scratch { path, .. } => match fs::read(&*path) {
            Ok(bytes) => {
                let _ = fs::remove_file(&*path);
                bytes
            }
            Err(e) => {
                return vec![Piece::Read(Err(RecordError {
                    location: SourceLocation {
                        file: path.clone(),
                        position: None,
                    },
                    key: None,
                    message: format!(
                        "cannot read back a scratch partition ({e}); the records routed to it are not evaluated"
                    ),
                }))];
            }
        },
    };
    // An `Arc<String>`, not an `Arc<str>`: that would copy the whole partition once more.
    let text = Arc::new(String::from_utf8(bytes).expect("partitions hold lines read as UTF-8"));
    let mut lines = Vec::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let routed = parse_line(&text, start, line.trim_end_matches('\n'))
            .expect("partitions hold lines this module wrote");
        start += line.len();
        lines.push(routed);
    }

    // Patients first (a patient's group is made by their first Patient line), then every
    // other line to its patient's group, in partition order: the order a whole partition
    // was assembled in before assembly moved to the workers.
    let mut groups: Vec<Vec<RoutedLine>> = Vec::new();
    let mut orphans = Vec::new();
    let mut by_key: HashMap<&str, usize> = HashMap::new();
    let (patients, resources): (Vec<_>, Vec<_>) =
        lines.into_iter().partition(|l| l.kind == Kind::Patient);
    for line in patients {
        let key = &text[line.key.clone()];
        match by_key.get(key) {
            Some(&group) => groups[group].push(line),
            None => {
                by_key.insert(key, groups.len());
                groups.push(vec![line]);
            }
        }
    }
    for line in resources {
        match by_key.get(&text[line.key.clone()]) {
            Some(&group) => groups[group].push(line),
            None => orphans.push(line),
        }
    }
    if !orphans.is_empty() {
        groups.push(orphans);
    }
    groups
        .into_iter()
        .map(|lines| {
            Piece::Patient(PatientLines {
                text: Arc::clone(&text),
                lines,
                shared: Arc::clone(shared),
            })
        })
        .collect()
}

/// What [`BulkReader::next_batch`] hands out, each piece one unit of the run: a record
/// already read (a line routing could not attribute, or a partition that cannot be read
/// back), or one patient's lines for a worker to assemble.
#[allow(
    clippy::large_enum_variant,
    reason = "a piece is moved once, into its unit; boxing would allocate per patient"
)]
pub(super) enum Piece {
    Read(Result<Record, RecordError>),
    Patient(PatientLines),
}

/// One patient's routed lines (their Patient lines first), or the lines of a partition
/// whose patient is not in the export: a unit a worker assembles.
pub(super) struct PatientLines {
    text: Arc<String>,
    lines: Vec<RoutedLine>,
    shared: Arc<Shared>,
}

impl PatientLines {
    /// Pass 3, in a worker: parses the lines and builds the record. The first Patient line
    /// that parses is the patient (one that does not is an error of its own, and a later
    /// one a duplicate); a resource that cannot be read makes the patient's record an
    /// error, or is one itself when there is no patient.
    pub(super) fn assemble(self, stats: &mut IngestStats) -> Vec<Result<Record, RecordError>> {
        let PatientLines {
            text,
            lines,
            shared,
        } = self;
        let at = |line: &RoutedLine| SourceLocation {
            file: shared.files[line.file_index].clone(),
            position: Some(Position::Line(line.number)),
        };
        let unread = |line: &RoutedLine, message| {
            Err(RecordError {
                location: at(line),
                key: None,
                message,
            })
        };
        let mut outcomes = Vec::new();
        let mut builder: Option<Builder> = None;
        for line in &lines {
            let (key, json) = (&text[line.key.clone()], &text[line.json.clone()]);
            let parsed = match line.kind {
                Kind::Unreadable => Err(json.to_owned()),
                Kind::Patient | Kind::Resource => parse_resource(json, stats),
            };
            match (parsed, &mut builder) {
                (Ok(Some(Parsed::Patient(_))), Some(_)) => stats.drop_resource("duplicate Patient"),
                (Ok(Some(Parsed::Patient(p))), None) => {
                    let id = key.strip_prefix("Patient/").unwrap_or(key).to_owned();
                    stats.use_resource("Patient");
                    builder = Some(Builder::new(id, at(line), p, vec![key.to_owned()]));
                }
                (Ok(Some(_)), _) if line.kind == Kind::Patient => {
                    unreachable!("routed as a Patient")
                }
                (Ok(Some(resource)), Some(builder)) => builder.add(
                    resource,
                    &at(line),
                    &shared.medications,
                    &shared.ingest,
                    stats,
                ),
                (Ok(None), _) => unreachable!("only used types are routed"),
                (Ok(Some(_)), None) => stats.drop_resource("unknown patient reference"),
                // A Patient line that does not parse is its own error, whatever follows.
                (Err(message), _) if line.kind == Kind::Patient => {
                    outcomes.push(unread(line, message))
                }
                // The patient is known: their record is an error rather than evaluated
                // incomplete.
                (Err(message), Some(builder)) => builder.fail(at(line), message),
                (Err(message), None) => outcomes.push(unread(line, message)),
            }
        }
        outcomes.extend(builder.map(|b| b.finish(&shared.ingest, stats)));
        outcomes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_in_range() {
        for count in [1, 2, 7, 64] {
            let p = partition_of("Patient/abc", count);
            assert!(p < count);
            assert_eq!(p, partition_of("Patient/abc", count));
        }
        // Keys spread over partitions rather than piling into one.
        let used: std::collections::HashSet<usize> = (0..1000)
            .map(|i| partition_of(&format!("Patient/{i}"), 8))
            .collect();
        assert_eq!(used.len(), 8);
    }

    #[test]
    fn routed_lines_round_trip() {
        let mut buf = b"previous line\n".to_vec();
        let start = buf.len();
        write_line(
            &mut buf,
            Kind::Resource,
            3,
            42,
            "Patient/x",
            r#"{"a":"b\tc"}"#,
        )
        .unwrap();
        let text = String::from_utf8(buf).unwrap();
        let line = parse_line(&text, start, text[start..].trim_end()).unwrap();
        assert_eq!(
            (
                line.kind,
                line.file_index,
                line.number,
                &text[line.key],
                &text[line.json]
            ),
            (Kind::Resource, 3, 42, "Patient/x", r#"{"a":"b\tc"}"#)
        );
    }
}
