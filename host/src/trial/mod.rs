//! Trial files: what a region defines once and runs on a labelled cohort (see
//! `trials/sample.toml` for a commented example).
//!
//! A trial names its records and reference labels, the plugins (each pinned by SHA-256,
//! with the label topic it answers and the card indicator that counts as an alert), the
//! limits, the trust policy and where results go. Relative paths are relative to the trial
//! file, so a trial directory can be moved or mailed as a whole.

pub mod effectiveness;
pub mod execute;
pub mod live;
pub mod run;
pub mod session;
pub mod stats;

pub use effectiveness::AlertThreshold;

use std::path::{Path, PathBuf};

use jiff::civil::Date;

use serde::{Deserialize, Serialize};

use crate::run::decision_log::DecisionLogConfig;
use crate::sandbox::LimitOverrides;

/// Why a trial file cannot be used; each message names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum TrialError {
    #[error("cannot read the trial file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// A trial file as written.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialFile {
    pub name: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `YYYY-MM-DD`. Default: the records' `cohort.json` `as_of`, else today.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evaluation_date: Option<String>,
    #[serde(default)]
    pub seed: u64,
    /// A directory of FHIR Bundles or Bulk NDJSON, or one file.
    pub records: PathBuf,
    /// `labels.csv` (`record,topic,expected`); without it, no effectiveness figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<PathBuf>,
    /// Where results go; `--out` overrides it. Default `livelab-trial-out`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<PathBuf>,
    /// The region's pseudonym key (as `livelab anonymise --key-file`), which `livelab serve`
    /// keys its records with unless `--key-file` overrides it: the same patient then gets the
    /// same pseudonym in the exports, the labels and a live session's decision log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pseudonym_key: Option<PathBuf>,
    /// The region's trust policy (publishers' public keys).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<PathBuf>,
    /// Admit plugins without a trusted signature (local authoring only; the report says so).
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Admit records that still carry direct identifiers (the report says so).
    #[serde(default)]
    pub allow_identifiers: bool,
    /// Extra ConceptMap directories besides the shipped ones.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terminology: Vec<PathBuf>,
    /// Limits for every plugin of the trial (per-plugin `limits` override them).
    #[serde(default)]
    pub limits: LimitOverrides,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_log: Option<DecisionLogConfig>,
    #[serde(rename = "plugin")]
    pub plugins: Vec<TrialPlugin>,
    /// Paired comparisons (shadow mode): a candidate against a baseline, same patients.
    #[serde(default, rename = "compare", skip_serializing_if = "Vec::is_empty")]
    pub comparisons: Vec<Comparison>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrialPlugin {
    /// A plugin package directory, its `plugin.toml`, or a bare `.wasm` component;
    /// `sample:<id>` names a sample plugin shipped with livelab.
    pub path: String,
    /// The component's SHA-256 (`livelab check` prints it). Unpinned plugins are reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The label topic this plugin answers (`labels.csv` `topic`); default: its id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The least urgent card indicator that counts as an alert; default `warning`.
    #[serde(default = "default_alert_from")]
    pub alert_from: AlertThreshold,
    #[serde(default)]
    pub limits: LimitOverrides,
}

fn default_alert_from() -> AlertThreshold {
    AlertThreshold::Warning
}

/// Two plugins of the trial compared on the same patients and labels.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Comparison {
    /// Plugin id of the version in use.
    pub baseline: String,
    /// Plugin id of the version that would replace it.
    pub candidate: String,
}

/// A trial file with its paths resolved.
#[derive(Clone, Debug)]
pub struct Trial {
    pub file: PathBuf,
    pub spec: TrialFile,
    /// `spec.evaluation_date`, parsed once.
    pub evaluation_date: Option<Date>,
    /// The trial file's SHA-256: which definition ran.
    pub sha256: String,
}

impl Trial {
    pub fn load(path: &Path) -> Result<Trial, TrialError> {
        let bytes = std::fs::read(path).map_err(|source| TrialError::Io {
            path: path.to_owned(),
            source,
        })?;
        Trial::parse(path, &bytes)
    }

    /// Parses trial text that claims to live at `path` (its directory anchors the paths).
    pub fn parse(path: &Path, bytes: &[u8]) -> Result<Trial, TrialError> {
        let invalid = |message: String| TrialError::Invalid {
            path: path.to_owned(),
            message,
        };
        // A byte-order mark (editors on Windows write one) says nothing about the trial.
        let text = std::str::from_utf8(crate::text::strip_bom(bytes))
            .map_err(|e| invalid(format!("not UTF-8 text ({e})")))?;
        let mut spec: TrialFile = toml::from_str(text).map_err(|e| {
            invalid(format!(
                "{}\n(trials/sample.toml is a commented example of every field)",
                e.to_string().trim_end()
            ))
        })?;
        if spec.plugins.is_empty() {
            return Err(invalid(
                "the trial names no plugins; add a [[plugin]] table per plugin".into(),
            ));
        }
        let evaluation_date = spec
            .evaluation_date
            .as_deref()
            .map(|date| {
                date.parse::<Date>().map_err(|e| {
                    invalid(format!(
                        "evaluation_date {date:?} is not a YYYY-MM-DD date ({e})"
                    ))
                })
            })
            .transpose()?;
        for (i, plugin) in spec.plugins.iter().enumerate() {
            if let Some(sha) = &plugin.sha256
                && (sha.len() != 64
                    || !sha
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
            {
                return Err(invalid(format!(
                    "plugin[{i}] ({}): sha256 {sha:?} is not 64 lowercase hex digits",
                    plugin.path
                )));
            }
        }
        let base = path.parent().unwrap_or(Path::new(".")).to_owned();
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = tidy(&base.join(&*p));
            }
        };
        resolve(&mut spec.records);
        spec.labels.iter_mut().for_each(resolve);
        spec.pseudonym_key.iter_mut().for_each(resolve);
        spec.trust.iter_mut().for_each(resolve);
        spec.terminology.iter_mut().for_each(resolve);
        Ok(Trial {
            evaluation_date,
            file: path.to_owned(),
            sha256: crate::digest::sha256_hex(bytes),
            spec,
        })
    }

    /// A plugin's path: `sample:<id>` through `samples`, else relative to the trial file.
    pub fn plugin_path(
        &self,
        plugin: &TrialPlugin,
        samples: impl Fn(&str) -> Option<PathBuf>,
    ) -> Result<PathBuf, TrialError> {
        if let Some(id) = plugin.path.strip_prefix("sample:") {
            return samples(id).ok_or_else(|| TrialError::Invalid {
                path: self.file.clone(),
                message: format!(
                    "there is no sample plugin {id:?} (`livelab describe` lists the samples)"
                ),
            });
        }
        let path = PathBuf::from(&plugin.path);
        Ok(if path.is_relative() {
            tidy(&self.file.parent().unwrap_or(Path::new(".")).join(path))
        } else {
            path
        })
    }
}

/// The schema of a trial's `summary.json`; bump on any incompatible change.
pub const TRIAL_SUMMARY_SCHEMA: &str = "livelab.trial-summary/1";
/// The schema of a shard's `shard.json` (what `livelab merge` reads).
pub const SHARD_SCHEMA: &str = "livelab.shard/2";

/// What ran: the trial's identity as the report and summary show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialInfo {
    pub name: String,
    pub region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub file: String,
    /// SHA-256 of the trial file.
    pub sha256: String,
    pub allow_unsigned: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<String>,
    /// `i/N` for one shard; `merged N shards` after `livelab merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shards: Option<String>,
    /// The decision log the trial wrote (relative to its output directory), and what it
    /// leaves out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision_log: Option<DecisionLogConfig>,
}

impl Trial {
    pub fn info(&self) -> TrialInfo {
        TrialInfo {
            name: self.spec.name.clone(),
            region: self.spec.region.clone(),
            description: self.spec.description.clone(),
            file: self.file.display().to_string(),
            sha256: self.sha256.clone(),
            allow_unsigned: self.spec.allow_unsigned,
            trust: self.spec.trust.as_ref().map(|p| p.display().to_string()),
            labels: self.spec.labels.as_ref().map(|p| p.display().to_string()),
            shards: None,
            decision_log: self.spec.decision_log.clone(),
        }
    }
}

/// A trial's `summary.json`: the run (every plugin's cost and outcomes) and its
/// effectiveness against the labels. It reads back: a report can be rendered from the file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialSummary {
    pub schema: String,
    pub trial: TrialInfo,
    pub run: crate::run::RunSummary,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effectiveness: Option<effectiveness::Effectiveness>,
    /// A live trial's session: what its decision log held and the clinicians' feedback.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live: Option<session::LiveSummary>,
}

/// What one shard wrote for `livelab merge`: its summary, and the counts the summary was
/// made from (histograms and 2×2 tables add up exactly).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ShardState {
    pub schema: String,
    pub shard: crate::run::plan::Shard,
    pub summary: TrialSummary,
    pub tallies: crate::run::SummaryBuilder,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effectiveness: Option<effectiveness::EffectivenessCounts>,
}

/// `a/b/../c` as `a/c`, without touching the file system: paths in reports and summaries
/// should read as the place they name. (A `..` after a symlink could name another place;
/// trial directories are plain directories.)
fn tidy(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::ParentDir
                if matches!(out.components().next_back(), Some(Component::Normal(_))) =>
            {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_tidied() {
        assert_eq!(tidy(Path::new("/a/b/../c/./d")), Path::new("/a/c/d"));
        assert_eq!(tidy(Path::new("../x")), Path::new("../x"));
    }

    const MINIMAL: &str = r#"
name = "t"
region = "r"
records = "records"
[[plugin]]
path = "p"
"#;

    #[test]
    fn a_trial_file_may_start_with_a_byte_order_mark() {
        let with_bom = [crate::text::BOM, MINIMAL.as_bytes()].concat();
        let trial = Trial::parse(Path::new("/t/trial.toml"), &with_bom).unwrap();
        assert_eq!(trial.spec.name, "t");
    }

    #[test]
    fn relative_paths_are_anchored_at_the_trial_file() {
        let trial = Trial::parse(Path::new("/trials/x/trial.toml"), MINIMAL.as_bytes()).unwrap();
        assert_eq!(trial.spec.records, Path::new("/trials/x/records"));
        let plugin = &trial.spec.plugins[0];
        assert_eq!(plugin.alert_from, AlertThreshold::Warning);
        assert_eq!(
            trial.plugin_path(plugin, |_| None).unwrap(),
            Path::new("/trials/x/p")
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| {
            Trial::parse(Path::new("t.toml"), text.as_bytes())
                .unwrap_err()
                .to_string()
        };
        assert!(
            err(&MINIMAL.replace("records =", "recrods =")).contains("unknown field `recrods`")
        );
        assert!(err(&(MINIMAL.to_owned() + "sha256 = \"abc\"\n")).contains("64 lowercase hex"));
        assert!(err("name='t'\nregion='r'\nrecords='x'\nplugin=[]\n").contains("names no plugins"));
        assert!(
            err(&MINIMAL.replace("name = \"t\"", "name = \"t\"\nevaluation_date = \"1 May\""))
                .contains("YYYY-MM-DD")
        );
    }
}
