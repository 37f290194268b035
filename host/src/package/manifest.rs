//! Plugin packages: a directory holding `plugin.toml` (the manifest), the component it pins
//! by SHA-256, optionally a read-only data directory it is granted, and optionally the
//! publisher's signature `plugin.sig`.
//!
//! The manifest is what a region's reviewer reads and what a publisher signs: who made the
//! plugin, exactly which bytes run (the component's hash, the data directory's tree hash),
//! which data it reads (checked against what the component's `describe` says), the limits it
//! asks for and what it is granted. Signing the manifest therefore covers all of them.
//!
//! ```toml
//! [plugin]
//! id = "metformin-egfr"
//! version = "0.3.0"
//! publisher = "livelab samples"
//! component = "metformin_egfr.wasm"   # relative to this file
//! sha256 = "5f0c…"                    # of the component
//!
//! [[data_needs]]                       # must equal what `describe` returns
//! section = "medications"
//! codes = ["atc|A10BA"]                # system|code prefix (FHIR token style)
//!
//! [limits]                             # what the plugin asks for; the trial may override
//! memory_mib = 32
//!
//! [grants]                             # none unless listed
//! data = "data"                        # read-only, mounted at /data in the plugin
//! data_sha256 = "9a1e…"                # tree hash of that directory
//! ```

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::digest::sha256_hex;
use crate::sandbox::LimitOverrides;
use crate::wit::{CodeFilter, CodeSystem, DataNeed, PluginInfo, Section};

/// The file name of a manifest inside a plugin package.
pub const MANIFEST_FILE: &str = "plugin.toml";
/// The file name of the publisher's signature of the manifest.
pub const SIGNATURE_FILE: &str = "plugin.sig";
/// Where a granted data directory appears inside the plugin.
pub use crate::sandbox::DATA_GUEST_PATH;

/// Why a package or manifest cannot be used. Each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "{path} is not a plugin package: it has no {MANIFEST_FILE} (package a component with `livelab package`)"
    )]
    NoManifest { path: PathBuf },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error(
        "{path}: the data directory {dir} has changed since the manifest was written (tree sha256 {actual}, the manifest says {expected}); re-package the plugin"
    )]
    DataChanged {
        path: PathBuf,
        dir: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "{path}: the data directory {dir} holds {entry}, which is not a plain file or directory; a granted directory holds plain files only"
    )]
    DataEntry {
        path: PathBuf,
        dir: PathBuf,
        entry: String,
    },
}

/// `plugin.toml`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub plugin: ManifestPlugin,
    #[serde(default)]
    pub data_needs: Vec<ManifestDataNeed>,
    #[serde(default, skip_serializing_if = "is_default")]
    pub limits: LimitOverrides,
    #[serde(default, skip_serializing_if = "is_default")]
    pub grants: Grants,
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestPlugin {
    pub id: String,
    pub version: String,
    /// Who publishes the plugin; a signature's trust comes from the region's policy, not
    /// from this name.
    pub publisher: String,
    /// The component file, relative to the manifest.
    pub component: PathBuf,
    /// Lowercase hex SHA-256 of the component.
    pub sha256: String,
}

/// One declared data need, in reviewer-readable form.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestDataNeed {
    /// `conditions`, `observations`, `medications` or `allergies`.
    pub section: String,
    /// `system|prefix`, the system by short name (`icpc`, `atc`, `loinc`, `snomed-ct`,
    /// `rxnorm`, `nhg-tabel45`, `g-standaard`, `ucum`) or canonical URI. Empty: the whole
    /// section.
    #[serde(default)]
    pub codes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub look_back_days: Option<u32>,
}

/// What a plugin is granted beyond its inputs. Deliberately small: there is no network,
/// environment, real clock or writable file system grant to ask for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grants {
    /// A directory beside the manifest (lookup tables, model weights), mounted read-only
    /// at `/data`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<PathBuf>,
    /// Tree SHA-256 of that directory ([`tree_sha256`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_sha256: Option<String>,
}

/// A manifest as read from disk, with what the host derives from it.
#[derive(Clone, Debug)]
pub struct LoadedManifest {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// The exact bytes of `plugin.toml`: what a signature covers.
    pub bytes: Vec<u8>,
    /// SHA-256 of those bytes.
    pub sha256: String,
    /// The component, resolved against the manifest's directory.
    pub component_path: PathBuf,
    /// The granted data directory, resolved and verified against its tree hash.
    pub data_dir: Option<PathBuf>,
    /// `plugin.sig` beside the manifest, when there is one.
    pub signature_path: Option<PathBuf>,
}

/// Where a plugin comes from: a package (directory or its `plugin.toml`) or a bare
/// component, which has no manifest, no grants and no signature (for local authoring).
#[derive(Clone, Debug)]
pub enum PluginSource {
    Package(Box<LoadedManifest>),
    Component(PathBuf),
}

impl PluginSource {
    /// A directory or `.toml` file is a package; anything else is taken as a component.
    pub fn open(path: &Path) -> Result<PluginSource, ManifestError> {
        let manifest_path = if path.is_dir() {
            let manifest = path.join(MANIFEST_FILE);
            if !manifest.is_file() {
                return Err(ManifestError::NoManifest {
                    path: path.to_owned(),
                });
            }
            manifest
        } else if path.extension().is_some_and(|e| e == "toml") {
            path.to_owned()
        } else {
            return Ok(PluginSource::Component(path.to_owned()));
        };
        LoadedManifest::load(&manifest_path).map(|m| PluginSource::Package(Box::new(m)))
    }

    pub fn component_path(&self) -> &Path {
        match self {
            PluginSource::Package(m) => &m.component_path,
            PluginSource::Component(path) => path,
        }
    }

    pub fn manifest(&self) -> Option<&LoadedManifest> {
        match self {
            PluginSource::Package(m) => Some(m),
            PluginSource::Component(_) => None,
        }
    }
}

impl LoadedManifest {
    /// The hash of `component` when it is not the component this manifest pins; `None`
    /// when it is. The one hash check that loading, signing and verifying a package share.
    pub fn component_mismatch(&self, component: &[u8]) -> Option<String> {
        let actual = sha256_hex(component);
        (actual != self.manifest.plugin.sha256).then_some(actual)
    }

    pub fn load(path: &Path) -> Result<LoadedManifest, ManifestError> {
        let bytes = std::fs::read(path).map_err(|source| ManifestError::Io {
            path: path.to_owned(),
            source,
        })?;
        let invalid = |message: String| ManifestError::Invalid {
            path: path.to_owned(),
            message,
        };
        let text =
            std::str::from_utf8(&bytes).map_err(|e| invalid(format!("not UTF-8 text ({e})")))?;
        let manifest: Manifest = toml::from_str(text).map_err(|e| {
            invalid(format!(
                "{}(see docs/SECURITY.md, \"Plugin manifest\", for the fields)",
                e.to_string().trim_end().to_owned() + "\n"
            ))
        })?;
        manifest.validate().map_err(invalid)?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let data_dir = match &manifest.grants.data {
            None => None,
            Some(rel) => {
                let data_dir = dir.join(rel);
                let expected = manifest.grants.data_sha256.clone().ok_or_else(|| {
                    invalid(
                        "[grants] data needs data_sha256, the directory's tree hash (`livelab package` writes it)"
                            .into(),
                    )
                })?;
                let actual = tree_sha256_checked(&data_dir).map_err(|e| match e {
                    TreeError::Io(source) => ManifestError::Io {
                        path: data_dir.clone(),
                        source,
                    },
                    TreeError::NotPlain(entry) => ManifestError::DataEntry {
                        path: path.to_owned(),
                        dir: data_dir.clone(),
                        entry,
                    },
                })?;
                if actual != expected {
                    return Err(ManifestError::DataChanged {
                        path: path.to_owned(),
                        dir: data_dir,
                        expected,
                        actual,
                    });
                }
                Some(data_dir)
            }
        };
        let signature = dir.join(SIGNATURE_FILE);
        Ok(LoadedManifest {
            path: path.to_owned(),
            sha256: sha256_hex(&bytes),
            component_path: dir.join(&manifest.plugin.component),
            data_dir,
            signature_path: signature.is_file().then_some(signature),
            manifest,
            bytes,
        })
    }
}

impl Manifest {
    fn validate(&self) -> Result<(), String> {
        let sha = &self.plugin.sha256;
        if sha.len() != 64
            || !sha
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(format!(
                "plugin.sha256 {sha:?} is not 64 lowercase hex digits (`sha256sum` of the component)"
            ));
        }
        if self.plugin.publisher.trim().is_empty() {
            return Err("plugin.publisher must not be empty".into());
        }
        for (i, need) in self.data_needs.iter().enumerate() {
            need.to_wit().map_err(|e| format!("data_needs[{i}]: {e}"))?;
        }
        if let Some(data) = &self.grants.data
            && (data.is_absolute()
                || data
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir)))
        {
            return Err(format!(
                "grants.data {} must be a directory inside the package (relative, no `..`)",
                data.display()
            ));
        }
        Ok(())
    }

    /// A manifest for a component, its declarations taken from what `describe` returned.
    pub fn describing(
        info: &PluginInfo,
        publisher: &str,
        component: &Path,
        component_sha256: &str,
    ) -> Manifest {
        Manifest {
            plugin: ManifestPlugin {
                id: info.id.clone(),
                version: info.version.clone(),
                publisher: publisher.to_owned(),
                component: component.to_owned(),
                sha256: component_sha256.to_owned(),
            },
            data_needs: info
                .data_needs
                .iter()
                .map(ManifestDataNeed::from_wit)
                .collect(),
            limits: LimitOverrides::default(),
            grants: Grants::default(),
        }
    }

    /// The manifest as TOML, with a header saying what it is.
    pub fn to_toml(&self) -> String {
        let body = toml::to_string(self).expect("a manifest serialises to TOML");
        format!(
            "# livelab plugin manifest: what the plugin is, which bytes run, what it reads and\n\
             # may do. The publisher signs this file (plugin.sig); see docs/SECURITY.md.\n{body}"
        )
    }

    /// Differences between what the manifest declares and what the component's `describe`
    /// returned; empty when they agree. Order of needs and filters does not matter.
    pub fn disagreements(&self, info: &PluginInfo) -> Vec<String> {
        let mut out = Vec::new();
        if self.plugin.id != info.id {
            out.push(format!(
                "id: the manifest says {:?}, describe says {:?}",
                self.plugin.id, info.id
            ));
        }
        if self.plugin.version != info.version {
            out.push(format!(
                "version: the manifest says {:?}, describe says {:?}",
                self.plugin.version, info.version
            ));
        }
        let normalise = |needs: Vec<ManifestDataNeed>| {
            let mut needs: Vec<_> = needs
                .into_iter()
                .map(|mut n| {
                    n.codes.sort();
                    n
                })
                .collect();
            needs.sort();
            needs
        };
        let declared = normalise(self.data_needs.clone());
        let described = normalise(
            info.data_needs
                .iter()
                .map(ManifestDataNeed::from_wit)
                .collect(),
        );
        for need in declared.iter().filter(|n| !described.contains(n)) {
            out.push(format!("the manifest declares {need}, describe does not"));
        }
        for need in described.iter().filter(|n| !declared.contains(n)) {
            out.push(format!(
                "describe asks for {need}, the manifest does not declare it"
            ));
        }
        out
    }
}

impl std::fmt::Display for ManifestDataNeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let codes = if self.codes.is_empty() {
            "ALL items".to_owned()
        } else {
            self.codes.join(", ")
        };
        write!(f, "{}: {codes}", self.section)?;
        if let Some(days) = self.look_back_days {
            write!(f, ", last {days} days")?;
        }
        Ok(())
    }
}

impl ManifestDataNeed {
    pub fn from_wit(need: &DataNeed) -> ManifestDataNeed {
        ManifestDataNeed {
            section: need.section.as_str().to_owned(),
            codes: need
                .codes
                .iter()
                .map(|f| format!("{}|{}", f.system.short_name(), f.prefix))
                .collect(),
            look_back_days: need.look_back_days,
        }
    }

    pub(crate) fn to_wit(&self) -> Result<DataNeed, String> {
        let section = match self.section.as_str() {
            "conditions" => Section::Conditions,
            "observations" => Section::Observations,
            "medications" => Section::Medications,
            "allergies" => Section::Allergies,
            other => {
                return Err(format!(
                    "section {other:?} is not one of conditions, observations, medications, allergies"
                ));
            }
        };
        let codes = self
            .codes
            .iter()
            .map(|token| {
                let (system, prefix) = token.split_once('|').ok_or_else(|| {
                    format!("code filter {token:?} is not `system|prefix` (e.g. \"atc|A10BA\")")
                })?;
                Ok(CodeFilter {
                    system: system_by_name(system),
                    prefix: prefix.to_owned(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(DataNeed {
            section,
            codes,
            look_back_days: self.look_back_days,
        })
    }
}

fn system_by_name(name: &str) -> CodeSystem {
    match name {
        "icpc" => CodeSystem::Icpc,
        "atc" => CodeSystem::Atc,
        "loinc" => CodeSystem::Loinc,
        "snomed-ct" => CodeSystem::SnomedCt,
        "rxnorm" => CodeSystem::Rxnorm,
        "nhg-tabel45" => CodeSystem::NhgTabel45,
        "g-standaard" => CodeSystem::GStandaard,
        "ucum" => CodeSystem::Ucum,
        uri => CodeSystem::from_uri(uri),
    }
}

enum TreeError {
    Io(std::io::Error),
    NotPlain(String),
}

impl From<std::io::Error> for TreeError {
    fn from(e: std::io::Error) -> Self {
        TreeError::Io(e)
    }
}

/// The tree hash of a directory: SHA-256 over `<relative path>\0<sha256 of content>\n` for
/// every file, in path order. Walked through a cap-std `Dir`, so nothing outside the
/// directory is read, and anything but plain files and directories (a symlink, a device) is
/// refused: what the plugin can see is exactly what was hashed.
pub fn tree_sha256(dir: &Path) -> Result<String, std::io::Error> {
    tree_sha256_checked(dir).map_err(|e| match e {
        TreeError::Io(e) => e,
        TreeError::NotPlain(entry) => std::io::Error::other(format!(
            "{entry} is not a plain file or directory; a granted directory holds plain files only"
        )),
    })
}

fn tree_sha256_checked(dir: &Path) -> Result<String, TreeError> {
    let root = Dir::open_ambient_dir(dir, ambient_authority())?;
    let mut files = Vec::new();
    walk(&root, "", &mut files)?;
    files.sort();
    let mut listing = String::new();
    for (path, digest) in files {
        writeln!(listing, "{path}\0{digest}").expect("writing to a String");
    }
    Ok(sha256_hex(listing.as_bytes()))
}

fn walk(dir: &Dir, prefix: &str, files: &mut Vec<(String, String)>) -> Result<(), TreeError> {
    for entry in dir.entries()? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        let kind = entry.file_type()?;
        if kind.is_dir() {
            walk(&entry.open_dir()?, &format!("{path}/"), files)?;
        } else if kind.is_file() {
            let mut file = entry.open()?;
            let mut hasher = Sha256::new();
            let mut buf = vec![0; 64 << 10];
            loop {
                let n = file.read(&mut buf)?;
                if n == 0 {
                    break;
                }
                hasher.update(&buf[..n]);
            }
            let digest = crate::digest::hex(&hasher.finalize());
            files.push((path, digest));
        } else {
            return Err(TreeError::NotPlain(path));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> PluginInfo {
        PluginInfo {
            id: "x".into(),
            name: "X".into(),
            version: "1.0.0".into(),
            description: String::new(),
            hooks: vec![],
            data_needs: vec![DataNeed {
                section: Section::Observations,
                codes: vec![
                    CodeFilter {
                        system: CodeSystem::Loinc,
                        prefix: "33914-3".into(),
                    },
                    CodeFilter {
                        system: CodeSystem::Other("http://example.org/cs".into()),
                        prefix: String::new(),
                    },
                ],
                look_back_days: Some(400),
            }],
        }
    }

    #[test]
    fn a_manifest_written_from_describe_reads_back_and_agrees() {
        let manifest = Manifest::describing(&info(), "me", Path::new("x.wasm"), &"a".repeat(64));
        let text = manifest.to_toml();
        let back: Manifest = toml::from_str(&text).unwrap();
        assert_eq!(back, manifest);
        back.validate().unwrap();
        assert!(back.disagreements(&info()).is_empty());
        assert!(
            text.contains("codes = [\"loinc|33914-3\", \"http://example.org/cs|\"]"),
            "{text}"
        );
    }

    #[test]
    fn disagreements_name_what_differs() {
        let mut manifest =
            Manifest::describing(&info(), "me", Path::new("x.wasm"), &"a".repeat(64));
        manifest.data_needs[0].look_back_days = None;
        manifest.plugin.version = "2.0.0".into();
        let found = manifest.disagreements(&info());
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("version"));
        assert!(found[2].contains("last 400 days"), "{found:?}");
    }

    #[test]
    fn unknown_grants_and_escaping_data_dirs_are_refused() {
        let base = "[plugin]\nid='x'\nversion='1'\npublisher='p'\ncomponent='x.wasm'\nsha256='"
            .to_owned()
            + &"0".repeat(64)
            + "'\n";
        let network: Result<Manifest, _> =
            toml::from_str(&(base.clone() + "[grants]\nnetwork = true\n"));
        assert!(
            network
                .unwrap_err()
                .to_string()
                .contains("unknown field `network`")
        );
        let escape: Manifest =
            toml::from_str(&(base + "[grants]\ndata='../records'\ndata_sha256='x'\n")).unwrap();
        assert!(escape.validate().unwrap_err().contains("no `..`"));
    }

    #[test]
    fn tree_hash_covers_names_and_contents_and_refuses_symlinks() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/a.csv"), "1,2\n").unwrap();
        let first = tree_sha256(dir.path()).unwrap();
        std::fs::write(dir.path().join("sub/a.csv"), "1,3\n").unwrap();
        let changed = tree_sha256(dir.path()).unwrap();
        assert_ne!(first, changed);
        std::fs::rename(dir.path().join("sub/a.csv"), dir.path().join("sub/b.csv")).unwrap();
        assert_ne!(tree_sha256(dir.path()).unwrap(), changed);
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink("/etc/passwd", dir.path().join("sub/link")).unwrap();
            let err = tree_sha256(dir.path()).unwrap_err().to_string();
            assert!(err.contains("sub/link"), "{err}");
        }
    }
}
