//! What an export holds: the FHIR data files to read, and everything else, passed over with a
//! named reason. `livelab run`/`trial` ([`super::RecordReader`]) and `livelab anonymise` list an
//! export here, so they accept the same exports and pass over the same files.
//!
//! Exports arrive as tools write them: a generator's metadata JSON, a README or a checksum file
//! beside the NDJSON, a sub-directory of logs, a link that points nowhere. None of those is a
//! reason to refuse the export, and none may vanish unnamed: each is a [`PassedOver`] that the
//! run counts and shows. What is refused is what would make the reading ambiguous: Bundles and
//! Bulk NDJSON in one directory.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Files in a records directory that describe the cohort or export rather than hold patients:
/// livelab's own generator metadata and the Bulk Data manifest (which [`Listing`] returns
/// separately).
pub const METADATA_FILES: &[&str] = &["cohort.json", "manifest.json"];

/// The Bulk Data export manifest, when a directory has one.
const BULK_MANIFEST: &str = "manifest.json";

/// The shape of an export.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceFormat {
    Bundles,
    Ndjson,
}

/// Why an entry of an export directory is not read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PassReason {
    /// `cohort.json` (livelab's generator metadata), or a Bulk `manifest.json` beside Bundles
    /// and no NDJSON.
    Metadata,
    /// A `*.json` beside Bulk NDJSON that is not a FHIR resource (a generator's metadata).
    NotFhirJson,
    /// Neither `*.json` nor `*.ndjson`: a README, checksums, a log.
    NotFhirFile,
    /// A sub-directory: an export is one directory deep.
    Directory,
    /// Neither a file nor a directory (a socket, a device, a pipe).
    Special,
    /// An entry that cannot be inspected, typically a symbolic link whose target is missing or
    /// that loops (the operating system's message).
    Unreadable(String),
}

impl PassReason {
    /// The reason as counted (without the per-entry detail).
    pub fn reason(&self) -> &'static str {
        match self {
            PassReason::Metadata => "export metadata (not patient data)",
            PassReason::NotFhirJson => "JSON that is not a FHIR resource",
            PassReason::NotFhirFile => "not a FHIR file (neither *.json nor *.ndjson)",
            PassReason::Directory => "sub-directory (an export is read one directory deep)",
            PassReason::Special => "neither a file nor a directory",
            PassReason::Unreadable(_) => {
                "unreadable entry (a link whose target is missing or loops?)"
            }
        }
    }
}

/// One entry of an export that is not read, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassedOver {
    pub path: PathBuf,
    pub why: PassReason,
}

impl PassedOver {
    /// The entry's path, with the operating system's message when it could not be read.
    pub fn place(&self) -> String {
        self.described(self.path.display().to_string())
    }

    /// The entry's file name, with the operating system's message when it could not be read.
    pub fn name(&self) -> String {
        let name = self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        self.described(name)
    }

    fn described(&self, base: String) -> String {
        match &self.why {
            PassReason::Directory => format!("{base}/"),
            PassReason::Unreadable(message) => format!("{base} ({message})"),
            _ => base,
        }
    }
}

/// Why an export cannot be read at all.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error(
        "{path} does not exist: pass a directory of FHIR Bundles (*.json) or Bulk Data files (*.ndjson), or one such file"
    )]
    NotFound { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error(
        "no FHIR records in {path}: expected Bundle files (*.json) or Bulk Data files (*.ndjson){}",
        passed_over_note(.passed_over)
    )]
    Empty {
        path: PathBuf,
        passed_over: Vec<PassedOver>,
    },
    #[error(
        "{path} holds both Bundles ({bundle} is a FHIR {resource_type}) and Bulk Data files (*.ndjson); point livelab at one export at a time"
    )]
    Mixed {
        path: PathBuf,
        bundle: PathBuf,
        resource_type: String,
    },
}

fn passed_over_note(passed_over: &[PassedOver]) -> String {
    if passed_over.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = passed_over.iter().take(5).map(PassedOver::name).collect();
    let more = passed_over.len().saturating_sub(shown.len());
    format!(
        " (passed over: {}{})",
        shown.join(", "),
        if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        }
    )
}

/// The data files of an export, in name order, and what was passed over.
#[derive(Debug)]
pub struct Listing {
    pub format: SourceFormat,
    /// Whether the export is a directory (rather than one file).
    pub is_dir: bool,
    /// Bundle files or NDJSON files, sorted by path. A `*.json`/`*.ndjson` entry that cannot be
    /// inspected (a dangling link named like data) is listed: reading it then fails with a
    /// record error that names it, because it probably held patients.
    pub files: Vec<PathBuf>,
    /// The Bulk Data `manifest.json` (NDJSON exports only).
    pub manifest: Option<PathBuf>,
    /// Sorted by path.
    pub passed_over: Vec<PassedOver>,
}

/// Lists the export at `path`: a directory (one level deep) or one `*.json`/`*.ndjson` file.
pub fn list(path: &Path) -> Result<Listing, ListError> {
    let io = |source| ListError::Io {
        path: path.to_owned(),
        source,
    };
    let meta = fs::metadata(path).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => ListError::NotFound {
            path: path.to_owned(),
        },
        _ => io(e),
    })?;
    if !meta.is_dir() {
        let format = if has_ext(path, "ndjson") {
            SourceFormat::Ndjson
        } else if has_ext(path, "json") {
            SourceFormat::Bundles
        } else {
            return Err(ListError::Empty {
                path: path.to_owned(),
                passed_over: Vec::new(),
            });
        };
        return Ok(Listing {
            format,
            is_dir: false,
            files: vec![path.to_owned()],
            manifest: None,
            passed_over: Vec::new(),
        });
    }

    let (mut bundles, mut ndjson, mut manifest, mut passed_over) =
        (Vec::new(), Vec::new(), None, Vec::new());
    for entry in fs::read_dir(path).map_err(io)? {
        let file = entry.map_err(io)?.path();
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let pass = |why| PassedOver {
            path: file.clone(),
            why,
        };
        let data = has_ext(&file, "json") || has_ext(&file, "ndjson");
        match fs::metadata(&file) {
            Ok(m) if m.is_dir() => passed_over.push(pass(PassReason::Directory)),
            Ok(m) if !m.is_file() => passed_over.push(pass(PassReason::Special)),
            Err(e) if !data => passed_over.push(pass(PassReason::Unreadable(e.to_string()))),
            // A file, or an unreadable entry named like data (listed, so that reading it
            // reports it as an error).
            _ if name == BULK_MANIFEST => manifest = Some(file),
            _ if METADATA_FILES.contains(&name) => passed_over.push(pass(PassReason::Metadata)),
            _ if has_ext(&file, "json") => bundles.push(file),
            _ if has_ext(&file, "ndjson") => ndjson.push(file),
            _ => passed_over.push(pass(PassReason::NotFhirFile)),
        }
    }

    // With Bundles and no NDJSON, a Bulk manifest describes nothing here.
    if ndjson.is_empty()
        && !bundles.is_empty()
        && let Some(file) = manifest.take()
    {
        passed_over.push(PassedOver {
            path: file,
            why: PassReason::Metadata,
        });
    }
    // Beside NDJSON, a `*.json` that is not a FHIR resource is a tool's metadata; one that is a
    // FHIR resource would be lost, so the export is ambiguous.
    if !ndjson.is_empty() || manifest.is_some() {
        for file in std::mem::take(&mut bundles) {
            match json_resource_type(&file) {
                Some(resource_type) => {
                    return Err(ListError::Mixed {
                        path: path.to_owned(),
                        bundle: file,
                        resource_type,
                    });
                }
                None => passed_over.push(PassedOver {
                    path: file,
                    why: PassReason::NotFhirJson,
                }),
            }
        }
    }
    let format = if ndjson.is_empty() && manifest.is_none() {
        SourceFormat::Bundles
    } else {
        SourceFormat::Ndjson
    };
    let mut files = match format {
        SourceFormat::Bundles => bundles,
        SourceFormat::Ndjson => ndjson,
    };
    if files.is_empty() && manifest.is_none() {
        passed_over.sort_by(|a, b| a.path.cmp(&b.path));
        return Err(ListError::Empty {
            path: path.to_owned(),
            passed_over,
        });
    }
    files.sort();
    passed_over.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Listing {
        format,
        is_dir: true,
        files,
        manifest,
        passed_over,
    })
}

/// Why a listed file could not be read, for a record error: a link whose target is missing or
/// loops says so, since the operating system's message alone ("No such file or directory")
/// reads as if the listing had made a mistake.
pub fn read_error(path: &Path, error: &io::Error) -> String {
    let link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
    match fs::read_link(path) {
        Ok(target) if link => format!(
            "cannot read file: it is a symbolic link to {}, which cannot be read ({error}); fix or remove the link",
            target.display()
        ),
        _ => format!("cannot read file: {error}"),
    }
}

fn has_ext(path: &Path, ext: &str) -> bool {
    path.extension().is_some_and(|e| e == ext)
}

/// The `resourceType` of a JSON file, if it is a JSON object that has one (a file that cannot
/// be read or parsed has none: it is not a FHIR resource livelab could use).
fn json_resource_type(file: &Path) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Head {
        #[serde(rename = "resourceType")]
        resource_type: Option<String>,
    }
    let bytes = fs::read(file).ok()?;
    serde_json::from_slice::<Head>(crate::text::strip_bom(&bytes))
        .ok()?
        .resource_type
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        fs::write(dir.join(name), text).unwrap();
    }

    fn reasons(listing: &Listing) -> Vec<(String, PassReason)> {
        listing
            .passed_over
            .iter()
            .map(|p| {
                let why = match &p.why {
                    PassReason::Unreadable(_) => PassReason::Unreadable(String::new()),
                    other => other.clone(),
                };
                (p.name().split(' ').next().unwrap().to_owned(), why)
            })
            .collect()
    }

    #[test]
    fn a_tools_metadata_readme_and_checksums_beside_ndjson_are_passed_over_by_name() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Patient.000.ndjson", "{}\n");
        write(
            dir.path(),
            "export-info.json",
            r#"{"generator": "x", "count": 3}"#,
        );
        write(dir.path(), "README.md", "hello");
        write(dir.path(), "SHA256SUMS", "abc  Patient.000.ndjson");
        fs::create_dir(dir.path().join("logs")).unwrap();
        let listing = list(dir.path()).unwrap();
        assert_eq!(listing.format, SourceFormat::Ndjson);
        assert_eq!(listing.files, vec![dir.path().join("Patient.000.ndjson")]);
        assert_eq!(
            reasons(&listing),
            vec![
                ("README.md".into(), PassReason::NotFhirFile),
                ("SHA256SUMS".into(), PassReason::NotFhirFile),
                ("export-info.json".into(), PassReason::NotFhirJson),
                ("logs/".into(), PassReason::Directory),
            ]
        );
    }

    #[test]
    fn a_fhir_bundle_beside_ndjson_is_refused_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "Patient.000.ndjson", "{}\n");
        write(
            dir.path(),
            "pt.json",
            "\u{feff}{\"resourceType\": \"Bundle\", \"entry\": []}",
        );
        let error = list(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("pt.json is a FHIR Bundle") && error.contains("one export at a time"),
            "{error}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn dangling_and_looping_links_are_named_and_data_named_ones_are_kept_to_fail_loudly() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.json", "{}");
        symlink(dir.path().join("missing.json"), dir.path().join("b.json")).unwrap();
        symlink(dir.path().join("loop"), dir.path().join("loop")).unwrap();
        let listing = list(dir.path()).unwrap();
        assert_eq!(listing.format, SourceFormat::Bundles);
        assert_eq!(
            listing.files,
            vec![dir.path().join("a.json"), dir.path().join("b.json")]
        );
        assert_eq!(
            reasons(&listing),
            vec![("loop".into(), PassReason::Unreadable(String::new()))]
        );
    }

    #[test]
    fn a_directory_with_nothing_to_read_says_what_it_passed_over() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "README.md", "hello");
        write(dir.path(), "cohort.json", "{}");
        let error = list(dir.path()).unwrap_err().to_string();
        assert!(
            error.contains("no FHIR records") && error.contains("README.md, cohort.json"),
            "{error}"
        );
    }
}
