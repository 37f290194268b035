//! Writing a package from a built component: `livelab package` and `livelab build` both
//! make packages here. The component is loaded in the sandbox first (it must be a valid
//! plugin, and what it describes becomes its manifest), so this sits above [`crate::plugin`]
//! loading, not in [`crate::package`], which loading itself depends on.

use std::path::{Path, PathBuf};

use super::cache::ArtifactCache;
use super::{LoadError, LoadOptions, Plugin};
use crate::package::manifest::{MANIFEST_FILE, Manifest, tree_sha256};
use crate::sandbox::{LimitOverrides, Limits, Sandbox};
use crate::wit::PluginInfo;

/// Why a package could not be written. Nothing is left half-written.
#[derive(Debug, thiserror::Error)]
pub enum PackageWriteError {
    #[error("{} already exists; package into a new directory (a package is never half-replaced)", .0.display())]
    Exists(PathBuf),
    #[error("{} holds files but no {MANIFEST_FILE}: not a package to replace; choose another directory", .0.display())]
    NotAPackage(PathBuf),
    #[error("{} names no file or directory", .0.display())]
    NoName(PathBuf),
    #[error("{} is not a plain file or directory; a granted data directory holds plain files only", .0.display())]
    NotPlain(PathBuf),
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> PackageWriteError {
    let path = path.to_owned();
    move |source| PackageWriteError::Io {
        action,
        path,
        source,
    }
}

/// What goes into a package: `livelab package` and `livelab build` both write one here.
pub struct PackageRequest<'a> {
    /// The built component (.wasm); copied into the package under its own file name.
    pub component: &'a Path,
    /// The package directory.
    pub out: &'a Path,
    pub publisher: &'a str,
    /// A read-only data directory to ship and grant (copied to `data/`, tree-hashed).
    pub data: Option<&'a Path>,
    /// The limits the manifest asks for.
    pub limits: LimitOverrides,
    /// Directories copied beside the manifest as they are, not pinned by it (an authored
    /// plugin's `fixtures/` and `expected/`, so that the package can be tested on its own).
    pub extra_dirs: &'a [&'a Path],
    /// Replace the package already in `out` (`build` updates its own output); otherwise
    /// `out` must not hold a package yet.
    pub replace: bool,
}

/// A package written by [`write_package`].
pub struct Packaged {
    /// What the component describes (the manifest's identity and data needs come from it).
    pub info: PluginInfo,
    pub sha256: String,
}

/// Loads the component in the sandbox (it must be a valid plugin), asks it to `describe`
/// itself, and writes the package: the component and a `plugin.toml` that pins its SHA-256
/// and declares what it described. The package is assembled beside `out` and moved into
/// place, so a failure never leaves half a package.
pub fn write_package(
    sandbox: &Sandbox,
    cache: &ArtifactCache,
    request: &PackageRequest,
) -> Result<Packaged, PackageWriteError> {
    let out = request.out;
    let manifest_path = out.join(MANIFEST_FILE);
    if !request.replace && manifest_path.exists() {
        return Err(PackageWriteError::Exists(manifest_path));
    }
    if request.replace
        && out.exists()
        && !manifest_path.is_file()
        && std::fs::read_dir(out)
            .map_err(io("reading", out))?
            .next()
            .is_some()
    {
        return Err(PackageWriteError::NotAPackage(out.to_owned()));
    }
    let plugin = Plugin::load(
        sandbox,
        cache,
        request.component,
        &LoadOptions::authoring(Limits::default()),
    )?;
    let file_name = request
        .component
        .file_name()
        .ok_or_else(|| PackageWriteError::NoName(request.component.to_owned()))?;
    let mut staging_name = out
        .file_name()
        .ok_or_else(|| PackageWriteError::NoName(out.to_owned()))?
        .to_owned();
    staging_name.push(".partial");
    let staging = out.with_file_name(staging_name);
    if staging.exists() {
        std::fs::remove_dir_all(&staging).map_err(io("removing", &staging))?;
    }
    std::fs::create_dir_all(&staging).map_err(io("creating", &staging))?;
    std::fs::copy(request.component, staging.join(file_name))
        .map_err(io("copying", request.component))?;
    let mut manifest = Manifest::describing(
        &plugin.info,
        request.publisher,
        Path::new(file_name),
        &plugin.sha256,
    );
    manifest.limits = request.limits.clone();
    if let Some(data) = request.data {
        let target = staging.join("data");
        copy_dir(data, &target)?;
        manifest.grants.data = Some("data".into());
        manifest.grants.data_sha256 = Some(tree_sha256(&target).map_err(io("hashing", &target))?);
    }
    for dir in request.extra_dirs {
        let name = dir
            .file_name()
            .ok_or_else(|| PackageWriteError::NoName(dir.to_path_buf()))?;
        copy_dir(dir, &staging.join(name))?;
    }
    std::fs::write(staging.join(MANIFEST_FILE), manifest.to_toml())
        .map_err(io("writing", &manifest_path))?;
    if out.exists() {
        // Only an empty directory (package) or, with `replace`, an earlier package is here.
        std::fs::remove_dir_all(out).map_err(io("replacing", out))?;
    }
    std::fs::rename(&staging, out).map_err(io("moving the staged package to", out))?;
    Ok(Packaged {
        info: plugin.info.clone(),
        sha256: plugin.sha256.clone(),
    })
}

fn copy_dir(from: &Path, to: &Path) -> Result<(), PackageWriteError> {
    std::fs::create_dir_all(to).map_err(io("creating", to))?;
    for entry in std::fs::read_dir(from).map_err(io("reading", from))? {
        let entry = entry.map_err(io("reading", from))?;
        let kind = entry.file_type().map_err(io("reading", &entry.path()))?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target).map_err(io("copying", &entry.path()))?;
        } else {
            return Err(PackageWriteError::NotPlain(entry.path()));
        }
    }
    Ok(())
}
