//! Terminology mapping at ingest, from FHIR `ConceptMap` resources.
//!
//! Dutch GP data is coded in ICPC, ATC and NHG Tabel 45; US exports in SNOMED CT, ICD-10-CM,
//! RxNorm and LOINC, European hospital exports in WHO ICD-10. A plugin declares the codes it knows, so without a mapping it misses every patient of
//! the other coding world. At ingest the host therefore **keeps every original coding and
//! appends the mapped ones** (after the originals, never a duplicate). A plugin sees a mapped
//! coding only if it declared it, like any other coding (`record::minimise`).
//!
//! # Format
//!
//! FHIR R4 `ConceptMap` JSON: `group[]` with `source` and `target` code-system URIs (mapped to
//! [`CodeSystem`] with [`CodeSystem::from_uri`], so the OID and URI spellings of a system are the
//! same system), `element[]` with the source `code` and `target[]` with `code` and
//! `equivalence`. The R5 `relationship` field is accepted in place of (or beside) `equivalence`.
//! Fields livelab does not use (`display`, `comment`, `dependsOn`, `unmapped`, ...) are ignored;
//! in particular `group.unmapped` is never applied: a fall-back code would give every unmapped
//! patient the same concept.
//!
//! # Equivalence policy
//!
//! A target is added only when it is equivalent to, or wider than, its source: a plugin must not
//! see a diagnosis the patient may not have.
//!
//! | added (R4 `equivalence`) | added (R5 `relationship`) |
//! |---|---|
//! | `equivalent`, `equal`, `wider`, `subsumes` | `equivalent`, `source-is-narrower-than-target` |
//!
//! | not added (R4) | not added (R5) |
//! |---|---|
//! | `relatedto`, `narrower`, `specializes`, `inexact`, `unmatched`, `disjoint` | `related-to`, `source-is-broader-than-target`, `not-related-to` |
//!
//! When a target gives both fields, both must allow it. Any other value is an error: a map
//! whose meaning livelab cannot tell is not half-applied.
//!
//! # Maps
//!
//! [`Terminology::shipped`] holds the demonstration maps of `sample-records/terminology/`
//! (compiled in; see the README there). A region adds its own with [`Terminology::load_dir`] /
//! [`Terminology::load_file`] without rebuilding. Maps may share a source system: their targets
//! are merged, in load order, without duplicates. Mapping is one step: a mapped coding is not
//! mapped again.
//!
//! # Cost
//!
//! [`Terminology::translate`] runs for every coding of every used resource. It looks the
//! coding's system up by [`CodeSystem::short_name`] (a `&str`, no allocation) and then the code;
//! it allocates only to append a mapped coding and the first time it counts a system.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::wit::{CodeSystem, Coding};

/// A problem with a ConceptMap file: names the file and, where it can, the element.
#[derive(Debug, thiserror::Error)]
pub enum TerminologyError {
    #[error("cannot read terminology {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is a ConceptMap but one of its groups, elements or targets is unusable;
    /// `message` starts with where (`group[0].element[3]`) and ends with what to do.
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    /// Not JSON, or JSON without the ConceptMap shape (serde's message, line and column).
    #[error(
        "{path}: line {line} column {column}: {message}; fix the file or move it out of the terminology directory"
    )]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// Valid JSON, but not a FHIR ConceptMap (`found` is its `resourceType`, if any).
    #[error(
        "{path}: resourceType is {found}, not \"ConceptMap\"; a terminology directory holds FHIR ConceptMap resources only"
    )]
    NotConceptMap { path: PathBuf, found: String },
    /// A terminology directory without a single `*.json` file.
    #[error(
        "no ConceptMap files (*.json) in {path}; --terminology expects a directory of FHIR ConceptMap JSON files"
    )]
    NoMaps { path: PathBuf },
}

/// One loaded ConceptMap group, as the run summary lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MapInfo {
    /// `ConceptMap.url`, else its `name`, else the file name.
    pub name: String,
    /// Where it came from: `shipped:<file>` or the path of the file.
    pub origin: String,
    /// Source and target code systems, as short names (`snomed-ct` → `icpc`); a system HL7
    /// names under `http://hl7.org/fhir/sid/` by the name after it (`icd-10-cm`), as coverage
    /// names it.
    pub source: String,
    pub target: String,
    /// Number of source codes with at least one usable target.
    pub codes: usize,
    /// Number of source codes the map lists whose targets were all left out by the
    /// equivalence policy (narrower, inexact, unmatched, ...): documented non-mappings.
    pub not_applied: usize,
}

/// Per code system: codings seen at ingest, and of those in a system some map translates
/// from, how many had a mapping and how many had none.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SystemCount {
    pub codings: u64,
    pub mapped: u64,
    pub unmapped: u64,
}

/// Keyed by the code system's short name (`CodeSystem::short_name`).
pub type CodingStats = BTreeMap<String, SystemCount>;

/// The loaded maps.
#[derive(Clone, Debug, Default)]
pub struct Terminology {
    maps: Vec<MapInfo>,
    /// Source system (its `short_name`: unique per system, the URI for `other`) → source code
    /// → the codings to add, merged over every loaded map.
    targets: HashMap<String, HashMap<String, Vec<Coding>>>,
}

/// The directory of the shipped maps, relative to the repository (for messages).
const SHIPPED_DIR: &str = "sample-records/terminology";

/// Embeds shipped ConceptMap files by name. A test checks that every `*.json` file of
/// `sample-records/terminology/` is listed here.
macro_rules! shipped_maps {
    ($($file:literal),* $(,)?) => {
        &[$((
            $file,
            include_str!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../sample-records/terminology/",
                $file
            )),
        )),*]
    };
}

/// The shipped ConceptMaps: (file name, JSON text).
const SHIPPED: &[(&str, &str)] = shipped_maps![
    "snomed-to-icpc.json",
    "rxnorm-to-atc.json",
    "loinc-to-nhg-tabel45.json",
    "nhg-tabel45-to-loinc.json",
    "icd10-to-icpc.json",
    "icd10cm-to-icpc.json",
];

impl Terminology {
    /// No maps: codings pass through unchanged (but are still counted).
    pub fn empty() -> Terminology {
        Terminology::default()
    }

    /// The maps shipped in `sample-records/terminology/`, compiled into the binary.
    ///
    /// # Panics
    ///
    /// Only if a shipped map is invalid, which the unit tests rule out for every build.
    pub fn shipped() -> Terminology {
        let mut terminology = Terminology::empty();
        for (file, text) in SHIPPED {
            let path = Path::new(SHIPPED_DIR).join(file);
            let groups = parse_concept_map(text, &path, format!("shipped:{file}"))
                .unwrap_or_else(|e| panic!("shipped ConceptMap is invalid: {e}"));
            terminology.add(groups);
        }
        terminology
    }

    /// Adds every `*.json` ConceptMap in `dir` (in file-name order; other files such as a
    /// README are ignored). A path to one file adds that file. Nothing is added unless every
    /// file is valid.
    /// The shipped maps (unless `shipped` is false) and then each region directory's: what a
    /// run or trial translates with.
    pub fn load(
        shipped: bool,
        dirs: &[std::path::PathBuf],
    ) -> Result<Terminology, TerminologyError> {
        let mut terminology = if shipped {
            Terminology::shipped()
        } else {
            Terminology::empty()
        };
        for dir in dirs {
            terminology.load_dir(dir)?;
        }
        Ok(terminology)
    }

    pub fn load_dir(&mut self, dir: &Path) -> Result<(), TerminologyError> {
        if dir.is_file() {
            return self.load_file(dir);
        }
        let io = |source| TerminologyError::Io {
            path: dir.to_owned(),
            source,
        };
        let mut files = Vec::new();
        for entry in fs::read_dir(dir).map_err(io)? {
            let path = entry.map_err(io)?.path();
            if path.is_file() && path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
        if files.is_empty() {
            return Err(TerminologyError::NoMaps {
                path: dir.to_owned(),
            });
        }
        files.sort();
        let parsed = files
            .iter()
            .map(|file| read_concept_map(file))
            .collect::<Result<Vec<_>, _>>()?;
        for groups in parsed {
            self.add(groups);
        }
        Ok(())
    }

    /// Adds one ConceptMap file.
    pub fn load_file(&mut self, file: &Path) -> Result<(), TerminologyError> {
        let groups = read_concept_map(file)?;
        self.add(groups);
        Ok(())
    }

    /// The loaded maps, in load order.
    pub fn maps(&self) -> &[MapInfo] {
        &self.maps
    }

    /// Appends, after the original codings, the mapped coding of every coding that has a
    /// mapping (never a duplicate of a coding already present); counts every original coding.
    pub fn translate(&self, codings: &mut Vec<Coding>, stats: &mut CodingStats) {
        let originals = codings.len();
        for i in 0..originals {
            let coding = &codings[i];
            let system = coding.system.short_name();
            let count = count_for(stats, system);
            count.codings += 1;
            // `None`: no map translates from this system, so the coding is neither mapped
            // nor unmapped.
            let Some(by_code) = self.targets.get(system) else {
                continue;
            };
            let Some(targets) = by_code.get(coding.code.as_str()) else {
                count.unmapped += 1;
                continue;
            };
            count.mapped += 1;
            append_missing(codings, targets);
        }
    }

    /// Merges the parsed groups of one file.
    fn add(&mut self, groups: Vec<ParsedGroup>) {
        for group in groups {
            let by_code = self
                .targets
                .entry(group.source.short_name().to_owned())
                .or_default();
            for (code, targets) in group.targets {
                append_missing(by_code.entry(code).or_default(), &targets);
            }
            self.maps.push(group.info);
        }
    }
}

/// Appends the codings of `from` that `into` does not hold yet, in order.
fn append_missing(into: &mut Vec<Coding>, from: &[Coding]) {
    for coding in from {
        if !into.contains(coding) {
            into.push(coding.clone());
        }
    }
}

/// The counts of `system`, allocating its key only the first time the system is seen.
fn count_for<'a>(stats: &'a mut CodingStats, system: &str) -> &'a mut SystemCount {
    if !stats.contains_key(system) {
        stats.insert(system.to_owned(), SystemCount::default());
    }
    stats.get_mut(system).expect("inserted above")
}

// ---------------------------------------------------------------------------- parsing

/// One group of a ConceptMap, checked and reduced to what translation needs.
struct ParsedGroup {
    info: MapInfo,
    source: CodeSystem,
    /// Source code → usable targets, in the order the file lists them, without duplicates.
    targets: HashMap<String, Vec<Coding>>,
}

/// Only `resourceType`, so that a file of another resource type is named as such before its
/// shape is judged as a ConceptMap's.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ResourceHeader {
    resource_type: Option<serde_json::Value>,
}

/// The parts of a FHIR ConceptMap (R4, with the R5 `relationship`) livelab reads. Unknown
/// fields are ignored.
#[derive(Deserialize)]
struct ConceptMapJson {
    url: Option<String>,
    name: Option<String>,
    #[serde(default)]
    group: Vec<GroupJson>,
}

#[derive(Deserialize)]
struct GroupJson {
    source: Option<String>,
    target: Option<String>,
    #[serde(default)]
    element: Vec<ElementJson>,
}

#[derive(Deserialize)]
struct ElementJson {
    code: Option<String>,
    #[serde(default)]
    target: Vec<TargetJson>,
}

#[derive(Deserialize)]
struct TargetJson {
    code: Option<String>,
    /// R4.
    equivalence: Option<String>,
    /// R5.
    relationship: Option<String>,
}

/// R4 `ConceptMap.group.element.target.equivalence` values, and whether livelab adds the
/// target (equivalent or wider than the source).
const R4_EQUIVALENCE: &[(&str, bool)] = &[
    ("relatedto", false),
    ("equivalent", true),
    ("equal", true),
    ("wider", true),
    ("subsumes", true),
    ("narrower", false),
    ("specializes", false),
    ("inexact", false),
    ("unmatched", false),
    ("disjoint", false),
];

/// R5 `ConceptMap.group.element.target.relationship` values, likewise.
const R5_RELATIONSHIP: &[(&str, bool)] = &[
    ("related-to", false),
    ("equivalent", true),
    ("source-is-narrower-than-target", true),
    ("source-is-broader-than-target", false),
    ("not-related-to", false),
];

fn read_concept_map(file: &Path) -> Result<Vec<ParsedGroup>, TerminologyError> {
    let text = fs::read_to_string(file).map_err(|source| TerminologyError::Io {
        path: file.to_owned(),
        source,
    })?;
    // A region's map saved by a Windows tool may start with a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    parse_concept_map(text, file, file.display().to_string())
}

/// Parses and checks one ConceptMap; `path` names it in errors, `origin` in [`MapInfo`].
fn parse_concept_map(
    text: &str,
    path: &Path,
    origin: String,
) -> Result<Vec<ParsedGroup>, TerminologyError> {
    let json_error = |e: serde_json::Error| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "not the shape of a FHIR ConceptMap",
            _ => "not valid JSON",
        };
        // serde's text ends with " at line L column C", which the error repeats up front.
        let text = e.to_string();
        let detail = text.rsplit_once(" at line ").map_or(text.as_str(), |t| t.0);
        TerminologyError::Json {
            path: path.to_owned(),
            line: e.line(),
            column: e.column(),
            message: format!("{what} ({detail})"),
        }
    };
    let header: ResourceHeader = serde_json::from_str(text).map_err(json_error)?;
    match &header.resource_type {
        Some(serde_json::Value::String(t)) if t == "ConceptMap" => {}
        other => {
            return Err(TerminologyError::NotConceptMap {
                path: path.to_owned(),
                found: other
                    .as_ref()
                    .map_or_else(|| "missing".to_owned(), ToString::to_string),
            });
        }
    }
    let map: ConceptMapJson = serde_json::from_str(text).map_err(json_error)?;
    let invalid = |message: String| TerminologyError::Invalid {
        path: path.to_owned(),
        message,
    };
    if map.group.is_empty() {
        return Err(invalid(
            "has no group; a ConceptMap needs at least one group with the source and target \
             code systems and the elements it maps"
                .into(),
        ));
    }
    let name = map.url.or(map.name).unwrap_or_else(|| {
        path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into(),
        )
    });
    map.group
        .into_iter()
        .enumerate()
        .map(|(g, group)| parse_group(g, group, &name, &origin).map_err(invalid))
        .collect()
}

/// Checks one group; an error message starts with where in the file (`group[g]...`).
fn parse_group(
    g: usize,
    group: GroupJson,
    name: &str,
    origin: &str,
) -> Result<ParsedGroup, String> {
    let system = |uri: Option<String>, field: &str| match uri.as_deref().map(str::trim) {
        // An R5 canonical may carry a version (`http://snomed.info/sct|...`): the system is
        // the part before it.
        Some(uri) if !uri.is_empty() => Ok(CodeSystem::from_uri(
            uri.split_once('|').map_or(uri, |(system, _)| system),
        )),
        _ => Err(format!(
            "group[{g}] has no {field}; give the {field} code system's URI (e.g. \
             \"http://snomed.info/sct\", \"http://hl7.org/fhir/sid/icpc-1-nl\")"
        )),
    };
    let source = system(group.source, "source")?;
    let target_system = system(group.target, "target")?;
    // An element may be listed twice (e.g. one target per element): merged by source code.
    let mut targets: HashMap<String, Vec<Coding>> = HashMap::new();
    for (e, element) in group.element.into_iter().enumerate() {
        let at = format!("group[{g}].element[{e}]");
        let code = nonempty(element.code).ok_or_else(|| {
            format!("{at} has no code; every element needs the source code it maps")
        })?;
        let usable = targets.entry(code).or_default();
        for (t, target) in element.target.into_iter().enumerate() {
            let at = format!("{at}.target[{t}]");
            if !applies(
                &at,
                target.equivalence.as_deref(),
                target.relationship.as_deref(),
            )? {
                continue;
            }
            let code = nonempty(target.code).ok_or_else(|| {
                format!(
                    "{at} has no code; a target that is equivalent or wider needs the target \
                     code (or mark it \"unmatched\")"
                )
            })?;
            let coding = Coding {
                system: target_system.clone(),
                code,
            };
            append_missing(usable, std::slice::from_ref(&coding));
        }
    }
    let codes = targets.values().filter(|t| !t.is_empty()).count();
    let info = MapInfo {
        name: name.to_owned(),
        origin: origin.to_owned(),
        source: system_name(&source),
        target: system_name(&target_system),
        codes,
        not_applied: targets.len() - codes,
    };
    targets.retain(|_, t| !t.is_empty());
    Ok(ParsedGroup {
        info,
        source,
        targets,
    })
}

/// Whether a target is added, from its R4 `equivalence` and/or R5 `relationship`.
fn applies(at: &str, r4: Option<&str>, r5: Option<&str>) -> Result<bool, String> {
    let lookup = |table: &[(&str, bool)], value: &str, field: &str| {
        table
            .iter()
            .find(|(known, _)| *known == value)
            .map(|(_, added)| *added)
            .ok_or_else(|| {
                let known: Vec<&str> = table.iter().map(|(v, _)| *v).collect();
                format!(
                    "{at} has unknown {field} \"{value}\"; use one of {}",
                    known.join(", ")
                )
            })
    };
    match (r4, r5) {
        (None, None) => Err(format!(
            "{at} has no equivalence (R4) or relationship (R5); say how the target relates to \
             the source, e.g. \"equivalence\": \"equivalent\""
        )),
        (r4, r5) => {
            let r4 = r4.map_or(Ok(true), |v| lookup(R4_EQUIVALENCE, v, "equivalence"))?;
            let r5 = r5.map_or(Ok(true), |v| lookup(R5_RELATIONSHIP, v, "relationship"))?;
            Ok(r4 && r5)
        }
    }
}

/// A code system as [`MapInfo`] names it: its short name, without the HL7 prefix of the
/// systems HL7 names under `http://hl7.org/fhir/sid/` (ICD-10, ICD-10-CM, ...), so that a
/// report lists no URL.
fn system_name(system: &CodeSystem) -> String {
    let name = system.short_name();
    name.strip_prefix("http://hl7.org/fhir/sid/")
        .unwrap_or(name)
        .to_owned()
}

fn nonempty(code: Option<String>) -> Option<String> {
    code.map(|c| c.trim().to_owned()).filter(|c| !c.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coding(system: CodeSystem, code: &str) -> Coding {
        Coding {
            system,
            code: code.into(),
        }
    }

    fn translated(terminology: &Terminology, codings: &[Coding]) -> (Vec<Coding>, CodingStats) {
        let mut codings = codings.to_vec();
        let mut stats = CodingStats::new();
        terminology.translate(&mut codings, &mut stats);
        (codings, stats)
    }

    fn count(codings: u64, mapped: u64, unmapped: u64) -> SystemCount {
        SystemCount {
            codings,
            mapped,
            unmapped,
        }
    }

    /// A ConceptMap with one group `source` → `target` and the given elements JSON.
    fn concept_map(source: &str, target: &str, elements: &str) -> String {
        format!(
            r#"{{"resourceType": "ConceptMap", "url": "urn:test:map", "status": "draft",
                "group": [{{"source": "{source}", "target": "{target}",
                            "element": {elements}}}]}}"#
        )
    }

    fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> PathBuf {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    }

    fn load_error(text: &str) -> (PathBuf, String) {
        let dir = tempfile::tempdir().unwrap();
        let path = write(&dir, "region.json", text);
        let err = Terminology::empty().load_file(&path).unwrap_err();
        (path, err.to_string())
    }

    #[test]
    fn a_region_map_saved_with_a_byte_order_mark_loads() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("map.json");
        let (_, text) = SHIPPED[0];
        std::fs::write(&file, format!("\u{feff}{text}")).unwrap();
        let mut t = Terminology::empty();
        t.load_file(&file).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(t.maps().len(), 1);
    }

    #[test]
    fn shipped_maps_load() {
        let t = Terminology::shipped();
        let pairs: Vec<(&str, &str)> = t
            .maps()
            .iter()
            .map(|m| (m.source.as_str(), m.target.as_str()))
            .collect();
        assert_eq!(
            pairs,
            [
                ("snomed-ct", "icpc"),
                ("rxnorm", "atc"),
                ("loinc", "nhg-tabel45"),
                ("nhg-tabel45", "loinc"),
                ("icd-10", "icpc"),
                ("icd-10-cm", "icpc"),
            ]
        );
        let snomed = &t.maps()[0];
        assert_eq!(snomed.name, "urn:livelab:conceptmap:snomed-to-icpc");
        assert_eq!(snomed.origin, "shipped:snomed-to-icpc.json");
        assert!(t.maps().iter().all(|m| m.codes > 0));
        assert_eq!(snomed.codes + snomed.not_applied, 25);
    }

    #[test]
    fn every_shipped_file_is_compiled_in() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-records/terminology");
        let mut on_disk: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".json"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = SHIPPED.iter().map(|(f, _)| f.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed);
    }

    #[test]
    fn snomed_diabetes_gains_icpc_and_keeps_the_original() {
        let t = Terminology::shipped();
        let original = coding(CodeSystem::SnomedCt, "44054006");
        let (codings, stats) = translated(&t, std::slice::from_ref(&original));
        assert_eq!(codings, [original, coding(CodeSystem::Icpc, "T90.02")]);
        assert_eq!(stats["snomed-ct"], count(1, 1, 0));
        // The appended coding is not counted: only originals are.
        assert!(!stats.contains_key("icpc"));
    }

    #[test]
    fn counts_mapped_unmapped_and_systems_without_maps() {
        let t = Terminology::shipped();
        let (codings, stats) = translated(
            &t,
            &[
                coding(CodeSystem::SnomedCt, "49436004"),
                coding(CodeSystem::SnomedCt, "999999999"),
                coding(CodeSystem::Icpc, "K78"),
                coding(CodeSystem::Other("urn:example:local".into()), "x"),
            ],
        );
        // The AF mapping (K78) is already present: nothing appended.
        assert_eq!(codings.len(), 4);
        assert_eq!(stats["snomed-ct"], count(2, 1, 1));
        // No shipped map translates from ICPC or a local system.
        assert_eq!(stats["icpc"], count(1, 0, 0));
        assert_eq!(stats["urn:example:local"], count(1, 0, 0));
        let mut total = stats.clone();
        t.translate(&mut vec![coding(CodeSystem::Icpc, "K77")], &mut total);
        assert_eq!(total["icpc"], count(2, 0, 0));
    }

    #[test]
    fn equivalence_policy_adds_only_equivalent_or_wider() {
        let t = Terminology::shipped();
        // CKD stage 1 → U99 (wider) is added, U99.01 (inexact: reduced function) is not.
        let (codings, _) = translated(&t, &[coding(CodeSystem::SnomedCt, "431855005")]);
        assert_eq!(codings[1..], [coding(CodeSystem::Icpc, "U99")]);
        // CKD stage 3 → U99.01 (wider).
        let (codings, _) = translated(&t, &[coding(CodeSystem::SnomedCt, "433144002")]);
        assert_eq!(codings[1..], [coding(CodeSystem::Icpc, "U99.01")]);
        // MDRD eGFR is not the CKD-EPI test (inexact), and prediabetes has no ICPC code:
        // listed, not applied, counted as unmapped.
        let (codings, stats) = translated(
            &t,
            &[
                coding(CodeSystem::Loinc, "33914-3"),
                coding(CodeSystem::SnomedCt, "15777000"),
            ],
        );
        assert_eq!(codings.len(), 2);
        assert_eq!(stats["loinc"], count(1, 0, 1));
        assert_eq!(stats["snomed-ct"], count(1, 0, 1));
        // NHG 542 → LOINC 13457-7 is narrower (a calculated LDL): only the equivalent target.
        let (codings, _) = translated(&t, &[coding(CodeSystem::NhgTabel45, "542")]);
        assert_eq!(codings[1..], [coding(CodeSystem::Loinc, "22748-8")]);
    }

    #[test]
    fn equivalence_values_r4_and_r5() {
        let dir = tempfile::tempdir().unwrap();
        let target = |code: &str, field: &str, value: &str| {
            format!(r#"{{"code": "{code}", "{field}": "{value}"}}"#)
        };
        let mut elements = Vec::new();
        let cases = R4_EQUIVALENCE
            .iter()
            .map(|(v, added)| ("equivalence", *v, *added))
            .chain(
                R5_RELATIONSHIP
                    .iter()
                    .map(|(v, added)| ("relationship", *v, *added)),
            );
        let mut expected = Vec::new();
        for (i, (field, value, added)) in cases.enumerate() {
            let code = format!("c{i}");
            elements.push(format!(
                r#"{{"code": "{code}", "target": [{}]}}"#,
                target(&format!("t{i}"), field, value)
            ));
            expected.push((code, added));
        }
        let path = write(
            &dir,
            "policy.json",
            &concept_map(
                "urn:example:a",
                "urn:example:b",
                &format!("[{}]", elements.join(",")),
            ),
        );
        let mut t = Terminology::empty();
        t.load_file(&path).unwrap();
        for (code, added) in expected {
            let (codings, _) = translated(
                &t,
                &[coding(CodeSystem::Other("urn:example:a".into()), &code)],
            );
            assert_eq!(codings.len() == 2, added, "{code}");
        }
        let info = &t.maps()[0];
        assert_eq!((info.codes, info.not_applied), (6, 9));
    }

    #[test]
    fn r4_and_r5_fields_together_must_both_allow() {
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "both.json",
            &concept_map(
                "http://loinc.org",
                "urn:example:lab",
                r#"[{"code": "1-1", "target": [{"code": "a", "equivalence": "equivalent",
                                                "relationship": "source-is-broader-than-target"}]},
                    {"code": "2-2", "target": [{"code": "b", "equivalence": "wider",
                                                "relationship": "source-is-narrower-than-target"}]}]"#,
            ),
        );
        let mut t = Terminology::empty();
        t.load_file(&path).unwrap();
        let (codings, _) = translated(
            &t,
            &[
                coding(CodeSystem::Loinc, "1-1"),
                coding(CodeSystem::Loinc, "2-2"),
            ],
        );
        assert_eq!(
            codings[2..],
            [coding(CodeSystem::Other("urn:example:lab".into()), "b")]
        );
    }

    #[test]
    fn no_duplicates() {
        let t = Terminology::shipped();
        // Two metformin products map to the same ATC code; the Dutch code is already there too.
        let (codings, stats) = translated(
            &t,
            &[
                coding(CodeSystem::Rxnorm, "861007"),
                coding(CodeSystem::Rxnorm, "860975"),
                coding(CodeSystem::Atc, "A10BA02"),
            ],
        );
        assert_eq!(codings.len(), 3);
        assert_eq!(stats["rxnorm"], count(2, 2, 0));
        // A Dutch eGFR carries LOINC and NHG: each maps to the other, nothing is added.
        let dutch = [
            coding(CodeSystem::Loinc, "62238-1"),
            coding(CodeSystem::NhgTabel45, "3583"),
        ];
        let (codings, stats) = translated(&t, &dutch);
        assert_eq!(codings, dutch);
        assert_eq!(stats["loinc"], count(1, 1, 0));
        assert_eq!(stats["nhg-tabel45"], count(1, 1, 0));
        // A region map repeating a shipped target: merged, not doubled.
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "again.json",
            &concept_map(
                "http://snomed.info/sct",
                "urn:oid:2.16.840.1.113883.2.4.4.31.1",
                r#"[{"code": "44054006", "target": [{"code": "T90.02", "equivalence": "equal"},
                                                     {"code": "T90", "equivalence": "wider"}]}]"#,
            ),
        );
        let mut t = Terminology::shipped();
        t.load_file(&path).unwrap();
        let (codings, _) = translated(&t, &[coding(CodeSystem::SnomedCt, "44054006")]);
        assert_eq!(
            codings[1..],
            [
                coding(CodeSystem::Icpc, "T90.02"),
                coding(CodeSystem::Icpc, "T90")
            ]
        );
    }

    #[test]
    fn region_map_added_with_load_file_and_load_dir() {
        let dir = tempfile::tempdir().unwrap();
        // A regional lab code list mapped to LOINC; the OID spelling of LOINC is LOINC.
        let path = write(
            &dir,
            "region-lab.json",
            &concept_map(
                "urn:oid:2.16.528.1.9999.45",
                "urn:oid:2.16.840.1.113883.6.1",
                r#"[{"code": "EGFR-CKD", "display": "eGFR", "target": [
                        {"code": "62238-1", "display": "eGFR CKD-EPI", "equivalence": "equivalent"}]}]"#,
            ),
        );
        write(&dir, "README.md", "not a map");
        let mut t = Terminology::shipped();
        t.load_file(&path).unwrap();
        let info = t.maps().last().unwrap();
        assert_eq!(info.source, "urn:oid:2.16.528.1.9999.45");
        assert_eq!(info.target, "loinc");
        assert_eq!(info.origin, path.display().to_string());
        assert_eq!(info.name, "urn:test:map");
        let regional = coding(
            CodeSystem::Other("urn:oid:2.16.528.1.9999.45".into()),
            "EGFR-CKD",
        );
        // One step only: the added LOINC coding is not mapped again to NHG 3583.
        let (codings, _) = translated(&t, std::slice::from_ref(&regional));
        assert_eq!(codings, [regional, coding(CodeSystem::Loinc, "62238-1")]);

        let mut from_dir = Terminology::empty();
        from_dir.load_dir(dir.path()).unwrap();
        assert_eq!(from_dir.maps().len(), 1);
        let empty = tempfile::tempdir().unwrap();
        let err = Terminology::empty().load_dir(empty.path()).unwrap_err();
        assert!(matches!(err, TerminologyError::NoMaps { .. }), "{err}");
    }

    #[test]
    fn a_bad_file_in_a_directory_adds_nothing() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir,
            "a-good.json",
            &concept_map(
                "http://loinc.org",
                "urn:example:x",
                r#"[{"code": "1-1", "target": [{"code": "x", "equivalence": "equal"}]}]"#,
            ),
        );
        let bad = write(&dir, "b-bad.json", "{");
        let mut t = Terminology::empty();
        let err = t.load_dir(dir.path()).unwrap_err();
        assert!(
            err.to_string().contains(&bad.display().to_string()),
            "{err}"
        );
        assert!(t.maps().is_empty());
    }

    #[test]
    fn error_not_a_concept_map() {
        let (path, message) = load_error(r#"{"resourceType": "Bundle", "entry": []}"#);
        assert_eq!(
            message,
            format!(
                "{}: resourceType is \"Bundle\", not \"ConceptMap\"; a terminology directory \
                 holds FHIR ConceptMap resources only",
                path.display()
            )
        );
        let (_, message) = load_error(r#"{"group": []}"#);
        assert!(message.contains("resourceType is missing"), "{message}");
    }

    #[test]
    fn error_invalid_json_names_line_and_column() {
        let (path, message) =
            load_error("{\n  \"resourceType\": \"ConceptMap\",\n  \"group\": [\n");
        assert!(
            message.starts_with(&format!(
                "{}: line 4 column 0: not valid JSON (",
                path.display()
            )),
            "{message}"
        );
        let (_, message) = load_error(r#"{"resourceType": "ConceptMap", "group": {}}"#);
        assert!(
            message.contains("line 1 column 40: not the shape of a FHIR ConceptMap (invalid type"),
            "{message}"
        );
    }

    #[test]
    fn error_missing_systems() {
        let (path, message) = load_error(
            r#"{"resourceType": "ConceptMap", "group": [{"target": "http://loinc.org"}]}"#,
        );
        assert_eq!(
            message,
            format!(
                "{}: group[0] has no source; give the source code system's URI (e.g. \
                 \"http://snomed.info/sct\", \"http://hl7.org/fhir/sid/icpc-1-nl\")",
                path.display()
            )
        );
        let (_, message) = load_error(&concept_map("http://loinc.org", " ", "[]"));
        assert!(message.contains("group[0] has no target;"), "{message}");
        let (_, message) = load_error(r#"{"resourceType": "ConceptMap"}"#);
        assert!(message.ends_with("has no group; a ConceptMap needs at least one group with the source and target code systems and the elements it maps"), "{message}");
    }

    #[test]
    fn error_element_without_code() {
        let (path, message) = load_error(&concept_map(
            "http://loinc.org",
            "urn:example:x",
            r#"[{"code": "1-1", "target": []}, {"code": "1-2"}, {"code": "1-3"},
                {"display": "no code", "target": [{"code": "x", "equivalence": "equal"}]}]"#,
        ));
        assert_eq!(
            message,
            format!(
                "{}: group[0].element[3] has no code; every element needs the source code it maps",
                path.display()
            )
        );
        let (_, message) = load_error(&concept_map(
            "http://loinc.org",
            "urn:example:x",
            r#"[{"code": "1-1", "target": [{"equivalence": "wider"}]}]"#,
        ));
        assert!(
            message.contains("group[0].element[0].target[0] has no code; a target that is equivalent or wider needs the target code"),
            "{message}"
        );
        // An unmatched target needs no code.
        let dir = tempfile::tempdir().unwrap();
        let path = write(
            &dir,
            "unmatched.json",
            &concept_map(
                "http://loinc.org",
                "urn:example:x",
                r#"[{"code": "1-1", "target": [{"equivalence": "unmatched"}]}]"#,
            ),
        );
        Terminology::empty().load_file(&path).unwrap();
    }

    #[test]
    fn error_unknown_or_missing_equivalence() {
        let (path, message) = load_error(&concept_map(
            "http://loinc.org",
            "urn:example:x",
            r#"[{"code": "1-1", "target": [{"code": "x", "equivalence": "equivalent"},
                                           {"code": "y", "equivalence": "same"}]}]"#,
        ));
        assert_eq!(
            message,
            format!(
                "{}: group[0].element[0].target[1] has unknown equivalence \"same\"; use one of \
                 relatedto, equivalent, equal, wider, subsumes, narrower, specializes, inexact, \
                 unmatched, disjoint",
                path.display()
            )
        );
        let (_, message) = load_error(&concept_map(
            "http://loinc.org",
            "urn:example:x",
            r#"[{"code": "1-1", "target": [{"code": "x", "relationship": "wider"}]}]"#,
        ));
        assert!(
            message.contains("target[0] has unknown relationship \"wider\"; use one of related-to, equivalent, source-is-narrower-than-target"),
            "{message}"
        );
        let (_, message) = load_error(&concept_map(
            "http://loinc.org",
            "urn:example:x",
            r#"[{"code": "1-1", "target": [{"code": "x"}]}]"#,
        ));
        assert!(
            message.contains(
                "group[0].element[0].target[0] has no equivalence (R4) or relationship (R5)"
            ),
            "{message}"
        );
    }

    #[test]
    fn error_unreadable_file_names_it() {
        let missing = Path::new("/nonexistent/livelab/region.json");
        let err = Terminology::empty().load_file(missing).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read terminology /nonexistent/livelab/region.json:"),
            "{err}"
        );
    }

    /// After mapping, the US codes of the synthetic cohort carry the Dutch codes the sample
    /// plugins declare: ICPC episodes for af-anticoagulation, ATC A10BA (metformin-egfr) and
    /// B01AA / B01AE / B01AF (af-anticoagulation).
    #[test]
    fn us_codes_gain_the_dutch_codes_the_sample_plugins_declare() {
        let t = Terminology::shipped();
        let cases = [
            (CodeSystem::SnomedCt, "44054006", CodeSystem::Icpc, "T90"),
            (CodeSystem::SnomedCt, "59621000", CodeSystem::Icpc, "K86"),
            (CodeSystem::SnomedCt, "49436004", CodeSystem::Icpc, "K78"),
            (CodeSystem::SnomedCt, "84114007", CodeSystem::Icpc, "K77"),
            (CodeSystem::SnomedCt, "230690007", CodeSystem::Icpc, "K90"),
            (CodeSystem::SnomedCt, "266257000", CodeSystem::Icpc, "K89"),
            (CodeSystem::SnomedCt, "59282003", CodeSystem::Icpc, "K93"),
            (CodeSystem::SnomedCt, "22298006", CodeSystem::Icpc, "K75"),
            (CodeSystem::SnomedCt, "53741008", CodeSystem::Icpc, "K76"),
            (CodeSystem::SnomedCt, "399957001", CodeSystem::Icpc, "K92"),
            (CodeSystem::Rxnorm, "861007", CodeSystem::Atc, "A10BA"),
            (CodeSystem::Rxnorm, "860975", CodeSystem::Atc, "A10BA"),
            (CodeSystem::Rxnorm, "11289", CodeSystem::Atc, "B01AA"),
            (CodeSystem::Rxnorm, "855332", CodeSystem::Atc, "B01AA"),
            (CodeSystem::Rxnorm, "1114195", CodeSystem::Atc, "B01AF"),
            (CodeSystem::Rxnorm, "1364430", CodeSystem::Atc, "B01AF"),
            (CodeSystem::Rxnorm, "206905", CodeSystem::Atc, "M01AE01"),
            (CodeSystem::Rxnorm, "198405", CodeSystem::Atc, "M01AE01"),
            (CodeSystem::Rxnorm, "849574", CodeSystem::Atc, "M01AE02"),
            (CodeSystem::Loinc, "4548-4", CodeSystem::NhgTabel45, "2816"),
            (CodeSystem::NhgTabel45, "3583", CodeSystem::Loinc, "62238-1"),
        ];
        for (system, code, dutch, prefix) in cases {
            let (codings, _) = translated(&t, &[coding(system, code)]);
            assert!(
                codings[1..]
                    .iter()
                    .any(|c| c.system == dutch && c.code.starts_with(prefix)),
                "{code} → {codings:?}"
            );
        }
    }

    /// Item 6 of issue 13: diagnoses coded only in ICD-10-CM (as US Core exports code every
    /// Condition) or WHO ICD-10 gain the ICPC codes the sample plugins declare, the specific
    /// codes as well as the categories; the codes the maps leave out on purpose stay unmapped.
    #[test]
    fn icd10_and_icd10_cm_diagnoses_gain_the_icpc_codes_the_sample_plugins_declare() {
        let t = Terminology::shipped();
        let cm = || CodeSystem::Other("http://hl7.org/fhir/sid/icd-10-cm".into());
        let who = || CodeSystem::Other("http://hl7.org/fhir/sid/icd-10".into());
        let cases = [
            (cm(), "I48.91", "K78"),
            (cm(), "I48.0", "K78"),
            (cm(), "I48.21", "K78"),
            (cm(), "I50.22", "K77"),
            (cm(), "I10", "K86"),
            (cm(), "I12.9", "K87"),
            (cm(), "E11.9", "T90.02"),
            (cm(), "E11.65", "T90.02"),
            (cm(), "E10.9", "T90"),
            (cm(), "G45.9", "K89"),
            (cm(), "I63.9", "K90"),
            (cm(), "I26.99", "K93"),
            (cm(), "I21.4", "K75"),
            (cm(), "I25.10", "K76"),
            (cm(), "I73.9", "K92"),
            (cm(), "K25.9", "D86"),
            (cm(), "K26.9", "D85"),
            (cm(), "K27.9", "D86"),
            (cm(), "N18.30", "U99.01"),
            (cm(), "N18.4", "U99.01"),
            (cm(), "F32.A", "P76"),
            (cm(), "F33.1", "P76"),
            (who(), "I48.9", "K78"),
            (who(), "I48", "K78"),
            (who(), "I50.9", "K77"),
            (who(), "I10", "K86"),
            (who(), "E11.9", "T90.02"),
            (who(), "E14.9", "T90"),
            (who(), "I64", "K90"),
            (who(), "I26.9", "K93"),
            (who(), "K25.9", "D86"),
            (who(), "K26", "D85"),
            (who(), "N18.3", "U99.01"),
            (who(), "F32.9", "P76"),
        ];
        for (system, code, icpc) in cases {
            let (codings, _) = translated(&t, &[coding(system, code)]);
            assert!(
                codings[1..].contains(&coding(CodeSystem::Icpc, icpc)),
                "{code} → {codings:?}"
            );
        }
        // Hypertensive heart disease with heart failure is both.
        let (codings, _) = translated(&t, &[coding(cm(), "I11.0")]);
        assert_eq!(
            codings[1..],
            [
                coding(CodeSystem::Icpc, "K87"),
                coding(CodeSystem::Icpc, "K77")
            ]
        );
        // CKD stage 2 is a kidney disease but not reduced function (U99.01: inexact).
        let (codings, _) = translated(&t, &[coding(cm(), "N18.2")]);
        assert_eq!(codings[1..], [coding(CodeSystem::Icpc, "U99")]);
        // Listed, not applied: transient global amnesia is no TIA, a history of TIA or
        // infarction is neither alone, a bleed is no ulcer, a septic embolus no thrombus.
        for code in ["G45.4", "Z86.73", "K92.2", "Z87.11", "I26.90"] {
            let (codings, stats) = translated(&t, &[coding(cm(), code)]);
            assert_eq!(codings.len(), 1, "{code} → {codings:?}");
            assert_eq!(
                stats["http://hl7.org/fhir/sid/icd-10-cm"],
                count(1, 0, 1),
                "{code}"
            );
        }
        // Undotted spellings are not ICD-10-CM as FHIR writes it: counted as unmapped.
        let (codings, _) = translated(&t, &[coding(cm(), "I4891")]);
        assert_eq!(codings.len(), 1);
        let icd = t
            .maps()
            .iter()
            .filter(|m| m.source.contains("icd-10"))
            .map(|m| (m.codes, m.not_applied))
            .collect::<Vec<_>>();
        assert_eq!(icd, [(165, 4), (234, 9)]);
    }

    /// Item 6 of issue 13: the common product and pack codes of the sample plugins' drugs
    /// reach their ATC codes; an NSAID ingredient, whose ATC code depends on the route, does
    /// not.
    #[test]
    fn rxnorm_products_of_the_sample_plugins_drugs_gain_atc() {
        let t = Terminology::shipped();
        let cases = [
            ("861004", "A10BA02"),
            ("861010", "A10BA02"),
            ("855288", "B01AA03"),
            ("855344", "B01AA03"),
            ("1364435", "B01AF02"),
            ("1364445", "B01AF02"),
            ("1992427", "B01AF02"),
            ("1232086", "B01AF01"),
            ("1549682", "B01AF01"),
            ("1037045", "B01AE07"),
            ("1037042", "B01AE07"),
            ("1599551", "B01AF03"),
            ("197806", "M01AE01"),
            ("197807", "M01AE01"),
            ("198014", "M01AE02"),
            ("312941", "N06AB06"),
            ("200371", "N06AB04"),
            ("310385", "N06AB03"),
        ];
        for (code, atc) in cases {
            let (codings, _) = translated(&t, &[coding(CodeSystem::Rxnorm, code)]);
            assert_eq!(
                codings[1..],
                [coding(CodeSystem::Atc, atc)],
                "{code} → {codings:?}"
            );
        }
        for ingredient in ["5640", "7258", "3355"] {
            let (codings, stats) = translated(&t, &[coding(CodeSystem::Rxnorm, ingredient)]);
            assert_eq!(codings.len(), 1, "{ingredient} → {codings:?}");
            assert_eq!(stats["rxnorm"], count(1, 0, 1), "{ingredient}");
        }
    }

    /// A shipped target that is not applied says why, so that nobody "fixes" it by accident;
    /// every element names its source concept.
    #[test]
    fn every_shipped_non_mapping_says_why() {
        for (file, text) in SHIPPED {
            let map: serde_json::Value = serde_json::from_str(text).unwrap();
            for element in map["group"]
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|g| g["element"].as_array().unwrap())
            {
                let code = &element["code"];
                assert!(
                    element["display"].is_string(),
                    "{file}: {code} has no display"
                );
                for target in element["target"].as_array().unwrap() {
                    let applied = applies(
                        "",
                        target["equivalence"].as_str(),
                        target["relationship"].as_str(),
                    )
                    .unwrap();
                    assert!(
                        applied || target["comment"].is_string(),
                        "{file}: {code} → {} is not applied and has no comment",
                        target["code"]
                    );
                }
            }
        }
    }

    /// Every SNOMED CT and RxNorm code the generator wrote into `sample-records/` maps to
    /// ICPC or ATC, except the two whose ATC code depends on use or route (documented in the
    /// map as `inexact`).
    #[test]
    fn every_us_code_in_the_sample_records_is_covered() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sample-records");
        let mut us: Vec<Coding> = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if !(name.starts_with("pt-") && name.ends_with(".json")) {
                continue;
            }
            let bundle: serde_json::Value =
                serde_json::from_str(&fs::read_to_string(&path).unwrap()).unwrap();
            for entry in bundle["entry"].as_array().unwrap() {
                let resource = &entry["resource"];
                // Medications are coded inline, in a Medication entry, or in a contained one.
                let contained = resource["contained"].as_array().into_iter().flatten();
                let concepts: Vec<&serde_json::Value> = match resource["resourceType"].as_str() {
                    Some("Condition" | "AllergyIntolerance" | "Medication") => {
                        vec![&resource["code"]]
                    }
                    Some("MedicationRequest" | "MedicationStatement") => {
                        std::iter::once(&resource["medicationCodeableConcept"])
                            .chain(contained.map(|c| &c["code"]))
                            .collect()
                    }
                    _ => continue,
                };
                let codings = concepts
                    .into_iter()
                    .filter_map(|concept| concept["coding"].as_array())
                    .flatten();
                for c in codings {
                    let found = coding(
                        CodeSystem::from_uri(c["system"].as_str().unwrap()),
                        c["code"].as_str().unwrap(),
                    );
                    if matches!(found.system, CodeSystem::SnomedCt | CodeSystem::Rxnorm)
                        && !us.contains(&found)
                    {
                        us.push(found);
                    }
                }
            }
        }
        assert!(us.len() >= 20, "{us:?}");
        let t = Terminology::shipped();
        // Aspirin (B01AC06 or N02BA01) and albuterol (R03AC02 or R03CC02).
        let use_dependent = [
            coding(CodeSystem::Rxnorm, "1191"),
            coding(CodeSystem::Rxnorm, "435"),
        ];
        for original in us {
            let (codings, _) = translated(&t, std::slice::from_ref(&original));
            let added = usize::from(!use_dependent.contains(&original));
            assert_eq!(codings.len() - 1, added, "{codings:?}");
        }
    }
}
