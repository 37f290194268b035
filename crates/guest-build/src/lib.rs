//! Building Rust guest plugins for `wasm32-wasip2`, in one place for its three users: the
//! root build script (the sample and candidate plugins the CLI runs), the dev-only
//! `livelab-test-programs` build script (the test guests) and `livelab build` (an author's
//! plugin).
//!
//! It depends on no other livelab crate (build scripts cannot use the host library without
//! compiling wasmtime a second time, for the build machine) and on nothing but `std` and
//! `thiserror`, so that it costs a build script almost nothing.

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target every guest is built for.
pub const TARGET: &str = "wasm32-wasip2";

/// Environment variables of an outer build that are for the host, not a guest: flags and
/// wrappers (clippy-driver runs as `RUSTC_WORKSPACE_WRAPPER`), a forced target, and the
/// release profile's debug info (guests are stripped). A guest build clears all of them.
pub const HOST_ONLY_ENV: &[&str] = &[
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "RUSTC_WORKSPACE_WRAPPER",
    "RUSTC_WRAPPER",
    "CARGO_BUILD_TARGET",
    "CARGO_PROFILE_RELEASE_DEBUG",
];

/// Why the guest target could not be made available.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(
        "the Rust target {TARGET} is missing and `rustup target add {TARGET}` could not run ({0}); install rustup's target and build again"
    )]
    Rustup(std::io::Error),
    #[error(
        "the Rust target {TARGET} is missing and `rustup target add {TARGET}` failed ({0}); install it and build again"
    )]
    Failed(std::process::ExitStatus),
}

/// The shadow stack a guest is linked with, in its linear memory: 64 KiB instead of Rust's
/// 1 MiB default. A plugin evaluates one record in a fresh instance, and every page it
/// touches is reset when the instance is dropped: with 1 MiB of stack before the data, the
/// pages it touched were spread over 1.1 MiB and had to be faulted in again by every
/// evaluation; with 64 KiB the whole memory of the sample plugins is 128 KiB, which the
/// host keeps resident and resets with one memset (a fresh evaluation of the sample
/// plugins went from 20–45 µs to 11–25 µs; BENCHMARKS.md, "Throughput (issue 15)"). A guest that needs more stack
/// overflows it into a trap (the stack is below the data, so nothing is overwritten),
/// reported as the plugin's failure.
pub const STACK_BYTES: u32 = 64 << 10;

/// The target's link flags every guest build gets (see [`STACK_BYTES`]), set through
/// cargo's per-target variable so that they apply to the guest only.
pub fn guest_rustflags() -> String {
    format!("-C link-arg=-zstack-size={STACK_BYTES}")
}

/// `cargo build --release --target wasm32-wasip2 --manifest-path <manifest>`, with the
/// outer build's [`HOST_ONLY_ENV`] cleared and [`guest_rustflags`] set. Callers add `-p`, a
/// target directory or `--message-format` as they need.
pub fn cargo_build(manifest: &Path) -> Command {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .args(["build", "--release", "--target", TARGET])
        .arg("--manifest-path")
        .arg(manifest);
    for var in HOST_ONLY_ENV {
        command.env_remove(var);
    }
    command.env("CARGO_TARGET_WASM32_WASIP2_RUSTFLAGS", guest_rustflags());
    command
}

/// Whether rustc (`$RUSTC`, else `rustc`) has the standard library of [`TARGET`].
pub fn target_installed() -> bool {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()))
        .is_some_and(|sysroot| sysroot.join("lib/rustlib").join(TARGET).is_dir())
}

/// A fresh machine has only the host target: adds [`TARGET`] with rustup when it is missing.
/// `announce` is called before rustup runs (a build script stays quiet; the CLI says why it
/// is installing something).
pub fn ensure_target_installed(announce: impl FnOnce()) -> Result<(), TargetError> {
    if target_installed() {
        return Ok(());
    }
    announce();
    let status = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .map_err(TargetError::Rustup)?;
    if status.success() {
        Ok(())
    } else {
        Err(TargetError::Failed(status))
    }
}

/// The `.wasm` cargo writes for the cdylib of package `name` under `target_dir`.
pub fn component_path(target_dir: &Path, name: &str) -> PathBuf {
    target_dir
        .join(TARGET)
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_")))
}

/// What build scripts share: finding guest crates, watching them, naming their constants.
pub mod script {
    use super::*;

    /// Names of the crate directories directly under `dir` (a `Cargo.toml` inside), sorted,
    /// without those in `skip`. A missing `dir` has none.
    pub fn crates_in(dir: &Path, skip: &[&str]) -> Vec<String> {
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("Cargo.toml").is_file())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|name| !skip.contains(&name.as_str()))
            .collect();
        names.sort();
        names
    }

    /// Tells cargo to rerun the build script when a guest crate's sources change (not its
    /// build output).
    pub fn watch_crate(dir: &Path) {
        for entry in ["Cargo.toml", "src", "wit"] {
            let path = dir.join(entry);
            if path.exists() {
                println!("cargo:rerun-if-changed={}", path.display());
            }
        }
    }

    /// Tells cargo to rerun the build script when `path` changes.
    pub fn watch(path: &Path) {
        println!("cargo:rerun-if-changed={}", path.display());
    }

    /// The Rust constant naming a guest: `flood-cards` → `FLOOD_CARDS`.
    pub fn const_name(name: &str) -> String {
        name.replace('-', "_").to_uppercase()
    }

    /// The target directory of the outer build: `$CARGO_TARGET_DIR`, else the nearest
    /// ancestor of `OUT_DIR` holding `CACHEDIR.TAG` (cargo writes one at the root of every
    /// target directory).
    pub fn outer_target_dir() -> PathBuf {
        if let Some(dir) = env::var_os("CARGO_TARGET_DIR") {
            return PathBuf::from(dir);
        }
        let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR is set by cargo"));
        out_dir
            .ancestors()
            .find(|dir| dir.join("CACHEDIR.TAG").is_file())
            .unwrap_or(&out_dir)
            .to_owned()
    }

    /// Builds the packages `names` of the guest workspace `plugins/Cargo.toml` into
    /// `target_dir`, installing the target first if needed, and returns each package's
    /// component path, in `names` order. Panics with cargo's output on failure: this is for
    /// build scripts, where a panic is how an error is reported.
    pub fn build_guests(workspace: &Path, names: &[String], target_dir: &Path) -> Vec<PathBuf> {
        if let Err(e) = ensure_target_installed(|| ()) {
            panic!("{e}");
        }
        if names.is_empty() {
            return Vec::new();
        }
        let mut build = cargo_build(&workspace.join("Cargo.toml"));
        build.env("CARGO_TARGET_DIR", target_dir);
        for name in names {
            build.args(["-p", name]);
        }
        let output = build
            .output()
            .unwrap_or_else(|e| panic!("running cargo to build the guests: {e}"));
        if !output.status.success() {
            panic!(
                "building the guests {} in {} failed:\n{}",
                names.join(", "),
                workspace.display(),
                String::from_utf8_lossy(&output.stderr)
            );
        }
        names
            .iter()
            .map(|name| {
                let path = component_path(target_dir, name);
                assert!(
                    path.is_file(),
                    "guest crate `{name}` built no component at {} (is its directory name its package name, and its crate-type cdylib?)",
                    path.display()
                );
                path
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_are_named_as_cargo_names_cdylibs() {
        assert_eq!(
            component_path(Path::new("/t"), "flood-cards"),
            Path::new("/t/wasm32-wasip2/release/flood_cards.wasm")
        );
        assert_eq!(script::const_name("flood-cards"), "FLOOD_CARDS");
    }

    #[test]
    fn guest_builds_drop_the_host_only_environment() {
        let command = cargo_build(Path::new("plugins/Cargo.toml"));
        let removed: Vec<_> = command
            .get_envs()
            .filter(|(_, value)| value.is_none())
            .map(|(key, _)| key.to_string_lossy().into_owned())
            .collect();
        for var in HOST_ONLY_ENV {
            assert!(removed.iter().any(|r| r == var), "{var} is not cleared");
        }
        let args: Vec<_> = command.get_args().collect();
        assert_eq!(args[..4], ["build", "--release", "--target", TARGET]);
    }

    #[test]
    fn crates_in_lists_crate_directories_sorted_and_skips() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        for name in ["b", "a", "sdk", "not-a-crate"] {
            fs::create_dir_all(dir.join(name)).unwrap();
        }
        for name in ["b", "a", "sdk"] {
            fs::write(dir.join(name).join("Cargo.toml"), "").unwrap();
        }
        assert_eq!(script::crates_in(dir, &["sdk"]), ["a", "b"]);
        assert!(script::crates_in(&dir.join("missing"), &[]).is_empty());
    }
}
