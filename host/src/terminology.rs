//! Terminology mapping at ingest, from FHIR R4 `ConceptMap` resources.
//!
//! STUB: the API below is the contract `fhir.rs` codes against; the implementation is being
//! written (see the helper brief). Do not change signatures without telling the integrator.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::wit::Coding;

/// A problem with a ConceptMap file: names the file and, where it can, the element.
#[derive(Debug, thiserror::Error)]
pub enum TerminologyError {
    #[error("cannot read terminology {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// One loaded ConceptMap, as the run summary lists it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct MapInfo {
    /// `ConceptMap.url`, else its `name`, else the file name.
    pub name: String,
    /// Where it came from: `shipped:<file>` or the path of the file.
    pub origin: String,
    /// Source and target code systems, as short names (`snomed-ct` → `icpc`).
    pub source: String,
    pub target: String,
    /// Number of source codes with at least one usable target.
    pub codes: usize,
}

/// Per code system: codings seen at ingest, and of those in a system some map translates
/// from, how many had a mapping and how many had none.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SystemCount {
    pub codings: u64,
    pub mapped: u64,
    pub unmapped: u64,
}

/// Keyed by the code system's short name (`CodeSystem::short_name`).
pub type CodingStats = BTreeMap<String, SystemCount>;

/// The loaded maps.
#[derive(Clone, Debug, Default)]
pub struct Terminology {}

impl Terminology {
    /// No maps: codings pass through unchanged (but are still counted).
    pub fn empty() -> Terminology {
        Terminology {}
    }

    /// The maps shipped in `sample-records/terminology/`, compiled into the binary.
    pub fn shipped() -> Terminology {
        todo!()
    }

    /// Adds every `*.json` ConceptMap in `dir`.
    pub fn load_dir(&mut self, _dir: &Path) -> Result<(), TerminologyError> {
        todo!()
    }

    /// Adds one ConceptMap file.
    pub fn load_file(&mut self, _file: &Path) -> Result<(), TerminologyError> {
        todo!()
    }

    /// The loaded maps, in load order.
    pub fn maps(&self) -> &[MapInfo] {
        &[]
    }

    /// Appends, after the original codings, the mapped coding of every coding that has a
    /// mapping (never a duplicate of a coding already present); counts every original coding.
    pub fn translate(&self, _codings: &mut Vec<Coding>, _stats: &mut CodingStats) {}
}
