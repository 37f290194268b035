//! Where a registry lives: a SQLite file (the default, in the platform's data directory) or
//! a PostgreSQL database a region's machines share.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::RegistryError;

/// The environment variable that names the registry when `--registry` is not given.
pub const REGISTRY_ENV: &str = "LIVELAB_REGISTRY";

/// A registry's location, parsed from `sqlite://FILE` or `postgres://...`.
#[derive(Clone, PartialEq, Eq)]
pub enum RegistryUrl {
    /// A SQLite file, created with its directory if missing.
    Sqlite(PathBuf),
    /// A PostgreSQL connection URL (`postgres://` or `postgresql://`), kept as given; shown
    /// without its password.
    Postgres(String),
}

impl RegistryUrl {
    /// `sqlite://FILE` (`sqlite:///abs/file`, `sqlite://relative/file`) or `postgres://...`.
    pub fn parse(text: &str) -> Result<RegistryUrl, RegistryError> {
        let bad = |reason: &str| RegistryError::Url {
            url: redact(text),
            reason: reason.into(),
        };
        if let Some(path) = text.strip_prefix("sqlite://") {
            if path.is_empty() {
                return Err(bad("no file after sqlite://"));
            }
            return Ok(RegistryUrl::Sqlite(PathBuf::from(path)));
        }
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            url::Url::parse(text).map_err(|e| bad(&e.to_string()))?;
            return Ok(RegistryUrl::Postgres(text.to_owned()));
        }
        Err(bad("it names neither SQLite nor PostgreSQL"))
    }

    /// The default: `registry.sqlite` in the platform's data directory
    /// (`~/.local/share/livelab` on Linux).
    pub fn default_sqlite() -> Result<RegistryUrl, RegistryError> {
        let dirs = directories::ProjectDirs::from("nl", "livelab", "livelab")
            .ok_or(RegistryError::NoDataDir)?;
        Ok(RegistryUrl::Sqlite(dirs.data_dir().join("registry.sqlite")))
    }

    /// `flag` (a command's `--registry`), else `$LIVELAB_REGISTRY`, else the default.
    pub fn resolve(flag: Option<&str>) -> Result<RegistryUrl, RegistryError> {
        match flag {
            Some(url) => RegistryUrl::parse(url),
            None => match std::env::var(REGISTRY_ENV) {
                Ok(url) if !url.is_empty() => RegistryUrl::parse(&url),
                _ => RegistryUrl::default_sqlite(),
            },
        }
    }

    /// The SQLite file, if this is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            RegistryUrl::Sqlite(path) => Some(path),
            RegistryUrl::Postgres(_) => None,
        }
    }
}

/// The URL without a password, for messages and listings.
impl fmt::Display for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            RegistryUrl::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for RegistryUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::str::FromStr for RegistryUrl {
    type Err = RegistryError;
    fn from_str(s: &str) -> Result<RegistryUrl, RegistryError> {
        RegistryUrl::parse(s)
    }
}

/// A URL with its password replaced; text that is not a URL is shown only up to its scheme.
fn redact(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) => {
            if url.password().is_some() {
                // Only URLs that cannot have a password refuse this, and this one has one.
                let _ = url.set_password(Some("***"));
            }
            url.to_string()
        }
        Err(_) => match text.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://…"),
            None => text.chars().take(40).collect(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_parse_and_passwords_are_never_shown() {
        assert_eq!(
            RegistryUrl::parse("sqlite:///var/lib/livelab/r.sqlite").unwrap(),
            RegistryUrl::Sqlite("/var/lib/livelab/r.sqlite".into())
        );
        let pg = RegistryUrl::parse("postgres://lab:s3cret@db.region:5432/livelab").unwrap();
        assert_eq!(pg.to_string(), "postgres://lab:***@db.region:5432/livelab");
        let err = RegistryUrl::parse("mysql://lab:s3cret@db/x")
            .unwrap_err()
            .to_string();
        assert!(!err.contains("s3cret"), "{err}");
        assert!(err.contains("sqlite://FILE"), "{err}");
        assert!(RegistryUrl::parse("sqlite://").is_err());
    }
}
