//! `livelab new`: a working plugin in Rust, JavaScript or Python from `templates/` (an example
//! rule, its manifest, the WIT, two fixtures and their expected cards).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::Args;

use super::{CDS_WIT, Lang};

#[derive(Args)]
pub struct NewArgs {
    /// The plugin id: lowercase letters, digits and dashes (e.g. `hba1c-target`).
    name: String,
    /// The language to write the plugin in.
    #[arg(long, value_enum)]
    lang: Lang,
    /// Where to create it (a new or empty directory). Default: ./NAME.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
    /// The publisher written into plugin.toml.
    #[arg(long, default_value = "my organisation")]
    publisher: String,
}

/// A scaffold file: path in the plugin directory, and its template text.
type TemplateFile = (&'static str, &'static str);

const COMMON: &[TemplateFile] = &[
    (
        "plugin.toml",
        include_str!("../../templates/common/plugin.toml"),
    ),
    ("wit/cds.wit", CDS_WIT),
    (
        "fixtures/cohort.json",
        include_str!("../../templates/common/fixtures/cohort.json"),
    ),
    (
        "fixtures/pt-hba1c-high.json",
        include_str!("../../templates/common/fixtures/pt-hba1c-high.json"),
    ),
    (
        "fixtures/pt-hba1c-on-target.json",
        include_str!("../../templates/common/fixtures/pt-hba1c-on-target.json"),
    ),
    (
        "expected/pt-hba1c-high.json",
        include_str!("../../templates/common/expected/pt-hba1c-high.json"),
    ),
    (
        "expected/pt-hba1c-on-target.json",
        include_str!("../../templates/common/expected/pt-hba1c-on-target.json"),
    ),
];

const RUST: &[TemplateFile] = &[
    (
        "Cargo.toml",
        include_str!("../../templates/rust/Cargo.toml"),
    ),
    // Pins wit-bindgen and its dependencies (the versions livelab's own plugins build with).
    (
        "Cargo.lock",
        include_str!("../../templates/rust/Cargo.lock"),
    ),
    (
        "src/lib.rs",
        include_str!("../../templates/rust/src/lib.rs"),
    ),
    ("README.md", include_str!("../../templates/rust/README.md")),
    (".gitignore", include_str!("../../templates/rust/gitignore")),
];

const JS: &[TemplateFile] = &[
    ("plugin.js", include_str!("../../templates/js/plugin.js")),
    ("README.md", include_str!("../../templates/js/README.md")),
    (".gitignore", include_str!("../../templates/js/gitignore")),
];

const PYTHON: &[TemplateFile] = &[
    ("app.py", include_str!("../../templates/python/app.py")),
    (
        "README.md",
        include_str!("../../templates/python/README.md"),
    ),
    (
        ".gitignore",
        include_str!("../../templates/python/gitignore"),
    ),
];

/// A plugin id as the contract wants it: lowercase ASCII letters, digits and single dashes,
/// starting with a letter.
fn check_name(name: &str) -> anyhow::Result<()> {
    let ok = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
        && !name.contains("--")
        && name.len() <= 64;
    if !ok {
        bail!(
            "{name:?} is not a plugin id: use lowercase letters, digits and single dashes, starting with a letter (e.g. hba1c-target)"
        );
    }
    Ok(())
}

/// `my-plugin` → `My plugin`.
fn title(name: &str) -> String {
    let words = name.replace('-', " ");
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
        .unwrap_or_default()
}

fn fill(template: &str, name: &str, publisher: &str) -> String {
    template
        .replace("{{name}}", name)
        .replace("{{crate}}", &name.replace('-', "_"))
        .replace("{{title}}", &title(name))
        .replace("{{publisher}}", publisher)
}

pub fn new(args: NewArgs) -> anyhow::Result<ExitCode> {
    check_name(&args.name)?;
    if args.publisher.trim().is_empty() || args.publisher.contains(['"', '\\', '\n']) {
        bail!("--publisher must be a non-empty name without quotes, backslashes or line breaks");
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    if dir.exists()
        && std::fs::read_dir(&dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .next()
            .is_some()
    {
        bail!(
            "{} already exists and is not empty; choose a new directory with --dir",
            dir.display()
        );
    }
    let files = match args.lang {
        Lang::Rust => RUST,
        Lang::Js => JS,
        Lang::Python => PYTHON,
    };
    for (path, template) in COMMON.iter().chain(files) {
        let target = dir.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, fill(template, &args.name, &args.publisher))
            .with_context(|| format!("writing {}", target.display()))?;
    }
    println!(
        "created the {} plugin {} in {} (an example rule, its manifest, the WIT, 2 fixtures and their expected cards)",
        args.lang.name(),
        args.name,
        dir.display()
    );
    println!("next:");
    println!("  livelab build {}", dir.display());
    println!(
        "  livelab run --plugin {} --records {} --out {}",
        dir.join("target/package").display(),
        dir.join("fixtures").display(),
        dir.join("target/run").display()
    );
    println!("  (see {} for more)", dir.join("README.md").display());
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_ids() {
        for good in ["a", "hba1c-target", "x2-y"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "A", "2x", "a_b", "a-", "a--b", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(title("hba1c-target"), "Hba1c target");
    }

    #[test]
    fn scaffolds_carry_the_current_wit() {
        assert!(
            COMMON
                .iter()
                .any(|(path, text)| *path == "wit/cds.wit" && *text == CDS_WIT)
        );
    }
}
