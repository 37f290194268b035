//! `livelab build`: a plugin's source to a package (component + `plugin.toml`). Rust builds
//! with cargo (shared with livelab's own build scripts: `livelab-guest-build`), JavaScript
//! with componentize-js, Python with componentize-py, each pinned in `tools/`.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Instant;

use anyhow::{Context as _, bail};
use clap::Args;
use livelab_guest_build::TARGET as RUST_TARGET;
use livelab_host::ArtifactCache;
use livelab_host::package::manifest::{MANIFEST_FILE, Manifest};
use livelab_host::plugin::write_package::{PackageRequest, write_package};

use super::{CDS_WIT, Lang, WORLD};
use crate::terminal::progress;

const JS_PACKAGE_JSON: &str = include_str!("../../tools/js/package.json");
const JS_PACKAGE_LOCK: &str = include_str!("../../tools/js/package-lock.json");
const PY_REQUIREMENTS: &str = include_str!("../../tools/python/requirements.txt");
/// Where the build dependencies go unless `LIVELAB_TOOLS_DIR` says otherwise.
const DEFAULT_TOOLS_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/tools");

#[derive(Args)]
pub struct BuildArgs {
    /// The plugin's source directory (Cargo.toml: Rust; package.json or *.js: JavaScript;
    /// *.py: Python).
    #[arg(default_value = ".")]
    dir: PathBuf,
    /// The package directory to write (an earlier build there is replaced).
    /// Default: DIR/target/package.
    #[arg(long, value_name = "DIR")]
    out: Option<PathBuf>,
    /// The publisher for the manifest. Default: the one in DIR/plugin.toml.
    #[arg(long)]
    publisher: Option<String>,
}

/// The language of the plugin in `dir`, from its files.
fn detect(dir: &Path) -> anyhow::Result<Lang> {
    if !dir.is_dir() {
        bail!("{} is not a directory", dir.display());
    }
    if dir.join("Cargo.toml").is_file() {
        return Ok(Lang::Rust);
    }
    if dir.join("package.json").is_file() || !files_with_extension(dir, "js")?.is_empty() {
        return Ok(Lang::Js);
    }
    if !files_with_extension(dir, "py")?.is_empty() {
        return Ok(Lang::Python);
    }
    bail!(
        "{} holds no plugin source: Cargo.toml (Rust), package.json or *.js (JavaScript), or *.py (Python); `livelab new` makes one",
        dir.display()
    )
}

/// The files directly in `dir` whose extension is `ext`, sorted.
fn files_with_extension(dir: &Path, ext: &str) -> anyhow::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        if path.is_file() && path.extension().is_some_and(|e| e == ext) {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

/// `plugin.toml` in the source directory: the manifest without the build's parts (the
/// component's file name and SHA-256 are left empty).
fn read_template(dir: &Path) -> anyhow::Result<Option<Manifest>> {
    let path = dir.join(MANIFEST_FILE);
    if !path.is_file() {
        return Ok(None);
    }
    let text =
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let manifest = toml::from_str(&text).with_context(|| {
        format!(
            "{} is not a plugin manifest (see docs/SECURITY.md, \"Plugin manifest\")",
            path.display()
        )
    })?;
    Ok(Some(manifest))
}

pub fn build(args: BuildArgs) -> anyhow::Result<ExitCode> {
    let dir = &args.dir;
    let lang = detect(dir)?;
    let template = read_template(dir)?;
    let publisher = match (&args.publisher, &template) {
        (Some(p), _) => p.clone(),
        (None, Some(t)) => t.plugin.publisher.clone(),
        (None, None) => bail!(
            "{} has no {MANIFEST_FILE}; give the publisher with --publisher",
            dir.display()
        ),
    };
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| dir.join("target").join("package"));
    let scratch = tempfile::Builder::new()
        .prefix("livelab-build-")
        .tempdir()
        .context("creating a scratch directory")?;
    let started = Instant::now();
    let (component, tool) = match lang {
        Lang::Rust => build_rust(dir)?,
        Lang::Js => build_js(dir, scratch.path(), template.as_ref())?,
        Lang::Python => build_python(dir, scratch.path(), template.as_ref())?,
    };
    let built_in = started.elapsed();
    eprintln!(
        "livelab: built {} ({}) with {tool} in {:.1} s",
        component.display(),
        lang.name(),
        built_in.as_secs_f64()
    );
    let extra: Vec<PathBuf> = ["fixtures", "expected"]
        .iter()
        .map(|d| dir.join(d))
        .filter(|d| d.is_dir())
        .collect();
    let extra: Vec<&Path> = extra.iter().map(PathBuf::as_path).collect();
    let packaged = write_package(
        &progress::sandbox(1)?,
        &progress::cache(ArtifactCache::default_dir()),
        &PackageRequest {
            component: &component,
            out: &out,
            publisher: &publisher,
            data: None,
            limits: template
                .as_ref()
                .map(|t| t.limits.clone())
                .unwrap_or_default(),
            extra_dirs: &extra,
            replace: true,
        },
    )?;
    if let Some(template) = &template {
        let disagreements = template.disagreements(&packaged.info);
        if !disagreements.is_empty() {
            bail!(
                "{} does not match what the plugin describes ({}); update one or the other (the package in {} follows describe)",
                dir.join(MANIFEST_FILE).display(),
                disagreements.join("; "),
                out.display()
            );
        }
        if template.grants != Default::default() {
            eprintln!(
                "livelab: note: the grants in {} are not packaged by `livelab build`; package a data directory with `livelab package --data`",
                dir.join(MANIFEST_FILE).display()
            );
        }
    }
    println!(
        "built {} {} ({}) into {} (component sha256 {})",
        packaged.info.id,
        packaged.info.version,
        lang.name(),
        out.display(),
        packaged.sha256
    );
    if dir.join("fixtures").is_dir() {
        println!(
            "run it on its fixtures: livelab run --plugin {} --records {} --out {}",
            out.display(),
            dir.join("fixtures").display(),
            dir.join("target/run").display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `command`, failing with its output when it fails.
fn run_tool(command: &mut Command, what: &str) -> anyhow::Result<std::process::Output> {
    let output = command.output().with_context(|| {
        format!(
            "{what}: could not start {:?} (is it installed and on PATH?)",
            command.get_program()
        )
    })?;
    if !output.status.success() {
        // The end of the tool's output says what went wrong; usage texts can be long.
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(40)..].join("\n");
        bail!("{what} failed ({}):\n{tail}", output.status);
    }
    Ok(output)
}

/// The WIT directory to build against: the plugin's own `wit/` when it has one (a scaffold
/// carries a copy), else this livelab's contract written into `scratch`.
fn wit_dir(dir: &Path, scratch: &Path) -> anyhow::Result<PathBuf> {
    let own = dir.join("wit");
    if own.is_dir() {
        return Ok(own);
    }
    let wit = scratch.join("wit");
    std::fs::create_dir_all(&wit)?;
    std::fs::write(wit.join("cds.wit"), CDS_WIT)?;
    Ok(wit)
}

/// The component's file name: the plugin id from plugin.toml, else the directory's name, with
/// `-` as `_` (as cargo names Rust components).
fn component_name(dir: &Path, template: Option<&Manifest>) -> anyhow::Result<String> {
    let name = match template {
        Some(t) if !t.plugin.id.is_empty() => t.plugin.id.replace('-', "_"),
        _ => std::path::absolute(dir)?
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| n.replace('-', "_"))
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "plugin".into()),
    };
    Ok(format!("{name}.wasm"))
}

fn build_rust(dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    livelab_guest_build::ensure_target_installed(|| {
        eprintln!(
            "livelab: installing the Rust target {RUST_TARGET} with rustup (Rust plugins are built for it)"
        )
    })?;
    // The same command (and cleared host-only environment) as livelab's own build scripts.
    let mut command = livelab_guest_build::cargo_build(&dir.join("Cargo.toml"));
    command.args(["--message-format", "json-render-diagnostics"]);
    eprintln!(
        "livelab: cargo build --release --target {RUST_TARGET} --manifest-path {}",
        dir.join("Cargo.toml").display()
    );
    let output = run_tool(&mut command, "building the Rust plugin")?;
    // The component is the `.wasm` of the package's cdylib, as cargo reports it.
    let mut component = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(message) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let is_cdylib = message["target"]["kind"]
            .as_array()
            .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"));
        if !is_cdylib {
            continue;
        }
        for file in message["filenames"].as_array().into_iter().flatten() {
            if let Some(file) = file.as_str().filter(|f| f.ends_with(".wasm")) {
                component = Some(PathBuf::from(file));
            }
        }
    }
    let component = component.with_context(|| {
        format!(
            "cargo built no component from {}: is the crate-type `cdylib`?",
            dir.join("Cargo.toml").display()
        )
    })?;
    Ok((component, format!("cargo ({RUST_TARGET})")))
}

fn build_js(
    dir: &Path,
    scratch: &Path,
    template: Option<&Manifest>,
) -> anyhow::Result<(PathBuf, String)> {
    let entry = js_entry(dir)?;
    let tools = ensure_js_tools()?;
    let wit = wit_dir(dir, scratch)?;
    let component = scratch.join(component_name(dir, template)?);
    let cli = tools.join("node_modules/@bytecodealliance/componentize-js/src/cli.js");
    let mut command = Command::new("node");
    command
        .arg(&cli)
        .arg(&entry)
        .arg("--wit")
        .arg(&wit)
        .args(["--world-name", WORLD])
        // The host links WASI 0.2 without wasi:http; a plugin has no use for either.
        .args(["--disable", "http", "fetch-event"])
        .arg("--out")
        .arg(&component);
    eprintln!(
        "livelab: componentize-js {} --wit {} --world-name {WORLD} --disable http fetch-event",
        entry.display(),
        wit.display()
    );
    run_tool(&mut command, "componentize-js")?;
    if !component.is_file() {
        bail!("componentize-js wrote no component for {}", entry.display());
    }
    Ok((
        component,
        format!("componentize-js {}", pinned_js_version()),
    ))
}

/// The module to componentize: `main` of package.json, else plugin.js, index.js, or the one
/// `.js` file in the directory.
fn js_entry(dir: &Path) -> anyhow::Result<PathBuf> {
    let package = dir.join("package.json");
    if package.is_file() {
        let text = std::fs::read_to_string(&package)?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", package.display()))?;
        if let Some(main) = json["main"].as_str() {
            return Ok(dir.join(main));
        }
    }
    for name in ["plugin.js", "index.js"] {
        if dir.join(name).is_file() {
            return Ok(dir.join(name));
        }
    }
    match files_with_extension(dir, "js")?.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!("{} has no .js file to build", dir.display()),
        _ => bail!(
            "{} has several .js files: name the entry plugin.js (or set `main` in package.json)",
            dir.display()
        ),
    }
}

fn build_python(
    dir: &Path,
    scratch: &Path,
    template: Option<&Manifest>,
) -> anyhow::Result<(PathBuf, String)> {
    let module = python_module(dir)?;
    let venv = ensure_python_tools()?;
    let wit = wit_dir(dir, scratch)?;
    // componentize-py writes __pycache__ beside the sources it bundles: give it a copy.
    let sources = scratch.join("src");
    copy_sources(dir, &sources)?;
    let component = scratch.join(component_name(dir, template)?);
    let mut command = Command::new(venv.join("bin/componentize-py"));
    command
        .arg("--wit-path")
        .arg(&wit)
        .args(["--world", WORLD, "--quiet", "componentize"])
        .arg("--python-path")
        .arg(&sources)
        .arg(&module)
        .arg("--output")
        .arg(&component)
        .env("PYTHONDONTWRITEBYTECODE", "1");
    eprintln!(
        "livelab: componentize-py --wit-path {} --world {WORLD} componentize --python-path {} {module}",
        wit.display(),
        dir.display()
    );
    run_tool(&mut command, "componentize-py")?;
    Ok((
        component,
        format!("componentize-py {}", pinned_py_version()),
    ))
}

/// The app module: `app` when app.py exists, else the one `.py` file in the directory.
fn python_module(dir: &Path) -> anyhow::Result<String> {
    if dir.join("app.py").is_file() {
        return Ok("app".into());
    }
    match files_with_extension(dir, "py")?.as_slice() {
        [one] => Ok(one
            .file_stem()
            .and_then(|s| s.to_str())
            .context("a Python file name that is not UTF-8")?
            .to_owned()),
        [] => bail!("{} has no .py file to build", dir.display()),
        _ => bail!(
            "{} has several .py files: name the one defining `Evaluator` app.py",
            dir.display()
        ),
    }
}

/// Copies a plugin's sources, leaving out build output, test data and caches.
fn copy_sources(from: &Path, to: &Path) -> anyhow::Result<()> {
    const SKIP: &[&str] = &[
        "target",
        "fixtures",
        "expected",
        "wit",
        "__pycache__",
        "node_modules",
        "venv",
    ];
    std::fs::create_dir_all(to).with_context(|| format!("creating {}", to.display()))?;
    for entry in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str.starts_with('.') || SKIP.contains(&name_str.as_ref()) {
            continue;
        }
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copy_sources(&entry.path(), &to.join(&name))?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), to.join(&name))
                .with_context(|| format!("copying {}", entry.path().display()))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------- toolchains

/// `$LIVELAB_TOOLS_DIR`, else `target/tools` of this checkout.
fn tools_dir() -> PathBuf {
    std::env::var_os("LIVELAB_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TOOLS_DIR))
}

/// The componentize-js version tools/js/package.json pins.
fn pinned_js_version() -> String {
    serde_json::from_str::<serde_json::Value>(JS_PACKAGE_JSON)
        .ok()
        .and_then(|j| {
            j["dependencies"]["@bytecodealliance/componentize-js"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "?".into())
}

/// The componentize-py version tools/python/requirements.txt pins.
fn pinned_py_version() -> String {
    PY_REQUIREMENTS
        .lines()
        .find_map(|l| l.trim().strip_prefix("componentize-py=="))
        .unwrap_or("?")
        .to_owned()
}

/// Holds an exclusive lock on `<tools>/.lock` while installing (parallel builds wait).
fn lock_tools(tools: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::create_dir_all(tools).with_context(|| format!("creating {}", tools.display()))?;
    let path = tools.join(".lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.lock()
        .with_context(|| format!("locking {}", path.display()))?;
    Ok(file)
}

/// True when `stamp` holds exactly `content`: what was installed is what is pinned.
fn installed(stamp: &Path, content: &str) -> bool {
    std::fs::read_to_string(stamp).is_ok_and(|s| s == content)
}

/// componentize-js, installed with `npm ci` from the pinned lock file when missing or when
/// the pin changed. Returns `<tools>/js`.
fn ensure_js_tools() -> anyhow::Result<PathBuf> {
    let tools = tools_dir();
    let js = tools.join("js");
    let stamp = js.join("installed.lock");
    if installed(&stamp, JS_PACKAGE_LOCK) {
        return Ok(js);
    }
    let _lock = lock_tools(&tools)?;
    if installed(&stamp, JS_PACKAGE_LOCK) {
        return Ok(js);
    }
    eprintln!(
        "livelab: installing componentize-js {} (pinned in tools/js/package-lock.json) into {} with `npm ci`: building a JavaScript plugin needs it and it is {}",
        pinned_js_version(),
        js.display(),
        if stamp.exists() {
            "not the pinned version"
        } else {
            "not installed yet"
        }
    );
    std::fs::create_dir_all(&js)?;
    std::fs::write(js.join("package.json"), JS_PACKAGE_JSON)?;
    std::fs::write(js.join("package-lock.json"), JS_PACKAGE_LOCK)?;
    let _ = std::fs::remove_file(&stamp);
    let started = Instant::now();
    run_tool(
        Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
            .current_dir(&js),
        "npm ci (installing componentize-js; needs Node.js 18+ and npm)",
    )?;
    std::fs::write(&stamp, JS_PACKAGE_LOCK)?;
    eprintln!(
        "livelab: installed componentize-js in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(js)
}

/// componentize-py, installed with pip into a venv when missing or when the pin changed.
/// Returns the venv.
fn ensure_python_tools() -> anyhow::Result<PathBuf> {
    let tools = tools_dir();
    let venv = tools.join("venv");
    let stamp = venv.join("installed-requirements.txt");
    if installed(&stamp, PY_REQUIREMENTS) {
        return Ok(venv);
    }
    let _lock = lock_tools(&tools)?;
    if installed(&stamp, PY_REQUIREMENTS) {
        return Ok(venv);
    }
    eprintln!(
        "livelab: installing componentize-py {} (pinned in tools/python/requirements.txt) into the venv {} with pip: building a Python plugin needs it and it is {}",
        pinned_py_version(),
        venv.display(),
        if stamp.exists() {
            "not the pinned version"
        } else {
            "not installed yet"
        }
    );
    let started = Instant::now();
    if !venv.join("bin/pip").is_file() {
        run_tool(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "creating a Python venv (needs python3 with venv)",
        )?;
    }
    let requirements = tools.join("requirements.txt");
    std::fs::write(&requirements, PY_REQUIREMENTS)?;
    run_tool(
        Command::new(venv.join("bin/pip"))
            .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
            .arg(&requirements),
        "pip install (componentize-py)",
    )?;
    std::fs::write(&stamp, PY_REQUIREMENTS)?;
    eprintln!(
        "livelab: installed componentize-py in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(venv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read() {
        assert_ne!(pinned_js_version(), "?");
        assert_ne!(pinned_py_version(), "?");
    }
}
