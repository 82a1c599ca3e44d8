//! Embeds the investigation library (`queries/*.sql`), the starter Sigma rules (`rules/*.yml`)
//! and the dashboards (`dashboards/*.json`) in the binary, so an installed `traillake` has them
//! without the repository.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    embed("queries", "sql", "BUILTIN_QUERIES", "builtin_queries.rs");
    embed("rules", "yml", "BUILTIN_SIGMA_RULES", "builtin_rules.rs");
    embed("dashboards", "json", "BUILTIN_DASHBOARDS", "builtin_dashboards.rs");
}

/// Writes `OUT_DIR/<out>`: `pub const <name>: &[(&str, &str)]`, (file name, text) of every
/// `*.<ext>` file directly in `<folder>`, in name order.
fn embed(folder: &str, ext: &str, name: &str, out_file: &str) {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR")).join(folder);
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map(|r| {
            r.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == ext)).collect()
        })
        .unwrap_or_default();
    files.sort();
    let mut out =
        format!("/// (file name, text) of every `{folder}/*.{ext}` file.\npub const {name}: &[(&str, &str)] = &[\n");
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let file = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let _ = writeln!(out, "    ({file:?}, include_str!({:?})),", f.display().to_string());
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join(out_file);
    std::fs::write(dest, out).unwrap_or_else(|e| panic!("write {out_file}: {e}"));
}
