//! The layout's promise (docs/ARCHITECTURE.md): dependencies run one way. No module of a
//! livelab crate imports from a module that imports it back, directly or round a longer loop;
//! a parent module counts like any other (a `mod.rs` that uses its children must not be used
//! by them). Code under `#[cfg(test)]` is left out: tests may reach anywhere.
//!
//! Modules are read with `syn`: every `use` and every path in the code is resolved to the
//! file module it names (`crate::`, `super::`, `self::`, or a child module's name), which
//! gives one edge per pair of files; a cycle fails the test naming each edge and where it
//! comes from.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// The crates whose modules are checked, by root file.
const CRATE_ROOTS: &[&str] = &[
    "host/src/lib.rs",
    "crates/cohort/src/lib.rs",
    "crates/cds-hooks/src/lib.rs",
    "crates/guest-build/src/lib.rs",
    "crates/serve/src/lib.rs",
    "src/main.rs",
];

type Module = Vec<String>;

/// One file module: its path in the crate and the module paths its code names.
struct FileModule {
    file: PathBuf,
    /// Every path the code names, resolved to an absolute module path, with the text it
    /// came from.
    refs: Vec<(Module, String)>,
}

fn is_test_only(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Collects the paths one file names, resolving them against the (possibly inline) module
/// they appear in.
struct Collector<'a> {
    /// The module the visitor is in (inline modules extend the file's path).
    here: Module,
    /// Child module names declared in each module seen so far.
    children: &'a mut BTreeMap<Module, BTreeSet<String>>,
    refs: Vec<(Module, String)>,
}

impl Collector<'_> {
    /// Records the module `segments` names, if it names one of this crate. A bare name (one
    /// segment) counts only in a `use`: elsewhere it is a local item or a variable.
    fn resolve(&mut self, segments: &[String], in_use: bool) {
        let Some(first) = segments.first() else {
            return;
        };
        if segments.len() < 2 && !in_use {
            return;
        }
        let mut base = self.here.clone();
        let rest = match first.as_str() {
            "crate" => {
                base.clear();
                &segments[1..]
            }
            "self" => &segments[1..],
            "super" => {
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    base.pop();
                    rest = &rest[1..];
                }
                rest
            }
            name if self
                .children
                .get(&self.here)
                .is_some_and(|c| c.contains(name)) =>
            {
                segments
            }
            _ => return, // another crate, a local item, a type
        };
        let mut target = base;
        target.extend(rest.iter().cloned());
        self.refs.push((target, segments.join("::")));
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                prefix.push(n.ident.to_string());
                self.resolve(&prefix.clone(), true);
                prefix.pop();
            }
            syn::UseTree::Rename(r) => {
                prefix.push(r.ident.to_string());
                self.resolve(&prefix.clone(), true);
                prefix.pop();
            }
            syn::UseTree::Glob(_) => self.resolve(&prefix.clone(), true),
            syn::UseTree::Group(g) => {
                for tree in &g.items {
                    self.use_tree(prefix, tree);
                }
            }
        }
    }
}

impl<'ast> Visit<'ast> for Collector<'_> {
    fn visit_item_mod(&mut self, m: &'ast syn::ItemMod) {
        if is_test_only(&m.attrs) {
            return;
        }
        if let Some((_, items)) = &m.content {
            self.here.push(m.ident.to_string());
            let declared = declared_children(items);
            self.children.insert(self.here.clone(), declared);
            for item in items {
                self.visit_item(item);
            }
            self.here.pop();
        }
    }

    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs = match item {
            syn::Item::Fn(i) => &i.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(i) => &i.attrs,
            syn::Item::Const(i) => &i.attrs,
            syn::Item::Static(i) => &i.attrs,
            syn::Item::Struct(i) => &i.attrs,
            syn::Item::Enum(i) => &i.attrs,
            syn::Item::Mod(i) => &i.attrs,
            _ => &Vec::new(),
        };
        if is_test_only(attrs) {
            return;
        }
        syn::visit::visit_item(self, item);
    }

    /// `pub(crate)` and `pub(super)` name a module only to say who may see an item.
    fn visit_visibility(&mut self, _: &'ast syn::Visibility) {}

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        self.use_tree(&mut Vec::new(), &u.tree);
    }

    fn visit_path(&mut self, path: &'ast syn::Path) {
        let segments: Vec<String> = path.segments.iter().map(|s| s.ident.to_string()).collect();
        self.resolve(&segments, false);
        syn::visit::visit_path(self, path);
    }

    fn visit_macro(&mut self, mac: &'ast syn::Macro) {
        // Paths inside macro calls (format!, assert!, ...) are tokens, not syntax: read the
        // ones that look like `a::b` with a known first segment.
        let text = mac.tokens.to_string().replace(" :: ", "::");
        let tokens: Vec<&str> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .collect();
        for token in tokens {
            if token.contains("::") {
                let segments: Vec<String> = token
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect();
                self.resolve(&segments, false);
            }
        }
        syn::visit::visit_macro(self, mac);
    }
}

/// The modules an item list declares (`mod x;` or inline), test-only ones left out.
fn declared_children(items: &[syn::Item]) -> BTreeSet<String> {
    items
        .iter()
        .filter_map(|item| match item {
            syn::Item::Mod(m) if !is_test_only(&m.attrs) => Some(m.ident.to_string()),
            _ => None,
        })
        .collect()
}

/// Reads every file module of the crate rooted at `root`.
fn read_crate(root: &Path) -> BTreeMap<Module, FileModule> {
    let mut modules = BTreeMap::new();
    let mut pending = vec![(Vec::new(), root.to_owned())];
    while let Some((module, file)) = pending.pop() {
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("reading {}: {e}", file.display()));
        let ast =
            syn::parse_file(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", file.display()));
        // Where this file's child modules live: beside lib.rs/main.rs/mod.rs, else in a
        // directory named after the file.
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("lib.rs" | "main.rs" | "mod.rs") => file.parent().unwrap().to_owned(),
            _ => file.with_extension(""),
        };
        for item in &ast.items {
            if let syn::Item::Mod(m) = item
                && m.content.is_none()
                && !is_test_only(&m.attrs)
            {
                let name = m.ident.to_string();
                let path = [
                    dir.join(format!("{name}.rs")),
                    dir.join(&name).join("mod.rs"),
                ]
                .into_iter()
                .find(|p| p.is_file())
                .unwrap_or_else(|| panic!("{}: no file for `mod {name}`", file.display()));
                let mut child = module.clone();
                child.push(name);
                pending.push((child, path));
            }
        }
        let mut children = BTreeMap::new();
        children.insert(module.clone(), declared_children(&ast.items));
        let mut collector = Collector {
            here: module.clone(),
            children: &mut children,
            refs: Vec::new(),
        };
        for item in &ast.items {
            collector.visit_item(item);
        }
        let refs = collector.refs;
        modules.insert(module, FileModule { file, refs });
    }
    modules
}

fn name(module: &Module) -> String {
    if module.is_empty() {
        "crate".into()
    } else {
        module.join("::")
    }
}

/// The module edges of one crate: from each file module to the file modules it names, with
/// the first path that names each.
fn edges(modules: &BTreeMap<Module, FileModule>) -> BTreeMap<Module, BTreeMap<Module, String>> {
    let mut edges: BTreeMap<Module, BTreeMap<Module, String>> = BTreeMap::new();
    for (from, file_module) in modules {
        let out = edges.entry(from.clone()).or_default();
        for (target, text) in &file_module.refs {
            let to = (0..=target.len())
                .rev()
                .map(|n| target[..n].to_vec())
                .find(|prefix| modules.contains_key(prefix))
                .expect("the crate root is a module");
            if &to != from {
                out.entry(to).or_insert_with(|| text.clone());
            }
        }
    }
    edges
}

/// Every cycle found by a depth-first search (one per back edge), as module lists.
fn cycles(edges: &BTreeMap<Module, BTreeMap<Module, String>>) -> Vec<Vec<Module>> {
    fn visit(
        at: &Module,
        edges: &BTreeMap<Module, BTreeMap<Module, String>>,
        state: &mut BTreeMap<Module, bool>,
        stack: &mut Vec<Module>,
        found: &mut Vec<Vec<Module>>,
    ) {
        state.insert(at.clone(), true);
        stack.push(at.clone());
        for next in edges.get(at).into_iter().flat_map(|e| e.keys()) {
            match state.get(next) {
                Some(true) => {
                    let start = stack.iter().position(|m| m == next).unwrap();
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(next.clone());
                    found.push(cycle);
                }
                Some(false) => {}
                None => visit(next, edges, state, stack, found),
            }
        }
        stack.pop();
        state.insert(at.clone(), false);
    }
    let mut state = BTreeMap::new();
    let mut found = Vec::new();
    for module in edges.keys() {
        if !state.contains_key(module) {
            visit(module, edges, &mut state, &mut Vec::new(), &mut found);
        }
    }
    found
}

#[test]
fn no_module_imports_from_one_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut report = String::new();
    let mut checked = 0;
    for crate_root in CRATE_ROOTS {
        let modules = read_crate(&root.join(crate_root));
        checked += modules.len();
        let edges = edges(&modules);
        for cycle in cycles(&edges) {
            report.push_str(&format!("\n{crate_root}: a cycle\n"));
            for pair in cycle.windows(2) {
                let (from, to) = (&pair[0], &pair[1]);
                report.push_str(&format!(
                    "  {} -> {}  ({} names `{}`)\n",
                    name(from),
                    name(to),
                    modules[from]
                        .file
                        .strip_prefix(root)
                        .unwrap_or(&modules[from].file)
                        .display(),
                    edges[from][to]
                ));
            }
        }
    }
    assert!(
        checked > 60,
        "only {checked} modules were found; are the crate roots right?"
    );
    assert!(report.is_empty(), "module imports run both ways:{report}");
}

#[test]
fn the_cycle_check_finds_a_cycle_through_a_parent() {
    // A parent that uses its child, and a child that uses its parent: the check must see it.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("lib.rs"),
        "mod a;\nmod b;\npub use a::A;\npub struct Root;\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("a.rs"), "pub struct A(pub crate::b::B);\n").unwrap();
    std::fs::create_dir(dir.path().join("b")).unwrap();
    std::fs::write(
        dir.path().join("b/mod.rs"),
        "mod c;\npub struct B;\nfn f() -> c::C { c::C }\n#[cfg(test)]\nmod tests { use crate::a::A; }\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("b/c.rs"), "use super::B;\npub struct C;\n").unwrap();
    let modules = read_crate(&dir.path().join("lib.rs"));
    let found: Vec<Vec<String>> = cycles(&edges(&modules))
        .iter()
        .map(|c| c.iter().map(name).collect())
        .collect();
    assert_eq!(found, [["b", "b::c", "b"]], "cycles found: {found:?}");
}
