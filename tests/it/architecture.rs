//! Data flows one way (`docs/architecture.md`): a module may use only modules of a lower layer,
//! never one beside or above it. This reads every `crate::…` path in `src/` and checks it
//! against the layers below, so a wrong-way import fails `cargo test`, not a later review.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Layers, lowest first; the same table as `docs/architecture.md`.
const LAYERS: &[&[&str]] = &[
    &["allocator", "schema", "tape", "human", "s3", "keys"],
    &["store", "rules"],
    &["ingest", "engine"],
    &["insights", "detect"],
    &["error"],
    &["output", "investigate"],
    &["demo", "repl", "flight", "awsapi", "dashboards"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src").map_while(Result::ok) {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::name` in `text`, with its line number.
fn crate_paths(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut rest = line;
        while let Some(at) = rest.find("crate::") {
            let tail = &rest[at + "crate::".len()..];
            let name: String = tail.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push((n + 1, name));
            }
            rest = tail;
        }
    }
    out
}

#[test]
fn no_module_uses_a_module_beside_or_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unknown = Vec::new();
    for file in &files {
        let rel = file.strip_prefix(&src).expect("under src");
        let module = rel.components().next().and_then(|c| c.as_os_str().to_str()).unwrap_or_default();
        let module = module.trim_end_matches(".rs");
        if module == "lib" || module == "main" {
            continue;
        }
        let Some(own) = layer_of(module) else {
            unknown.push(module.to_string());
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        for (line, target) in crate_paths(&text) {
            if target == module {
                continue;
            }
            match layer_of(&target) {
                Some(l) if l < own => {}
                _ => {
                    wrong.entry(module.to_string()).or_default().push(format!("{}:{line} uses {target}", rel.display()))
                }
            }
        }
    }
    assert!(unknown.is_empty(), "modules missing from LAYERS (and docs/architecture.md): {unknown:?}");
    assert!(wrong.is_empty(), "imports against the one-way flow:\n{wrong:#?}");
}

#[test]
fn the_check_sees_paths_anywhere_on_a_line() {
    let found = crate_paths("use crate::store::{a, b}; let x = crate::engine::Engine::open(crate::x);");
    let names: Vec<&str> = found.iter().map(|(_, n)| n.as_str()).collect();
    assert_eq!(names, ["store", "engine", "x"]);
    assert!(layer_of("cli") > layer_of("repl") && layer_of("engine") > layer_of("store"));
}

#[test]
fn the_documented_layers_are_the_checked_ones() {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/architecture.md"))
        .expect("docs/architecture.md");
    for (i, layer) in LAYERS.iter().enumerate() {
        let row = format!("| {i} | {} |", layer.iter().map(|m| format!("`{m}`")).collect::<Vec<_>>().join(", "));
        assert!(doc.contains(&row), "docs/architecture.md lacks the row {row}");
    }
}

/// The release binary users install is stripped and thin-LTO'd (docs/performance.md has the
/// sizes and speeds that decided it): a profile edit that drops either shows here.
#[test]
fn the_release_profile_strips_and_links_with_thin_lto() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml")).expect("Cargo.toml");
    let release = manifest.split("[profile.release]").nth(1).expect("a [profile.release] section");
    let section = release.split("\n[").next().unwrap_or_default();
    let settings: Vec<&str> = section.lines().map(str::trim).filter(|l| !l.starts_with('#')).collect();
    assert!(settings.contains(&"strip = true"), "{section}");
    assert!(settings.contains(&"lto = \"thin\""), "{section}");
}
