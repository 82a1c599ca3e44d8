//! The investigation library: a folder of saved query files (`queries/*.sql`), each named by its
//! `-- name:` header (or its file name), found by name case-insensitively.

use std::path::{Path, PathBuf};

use crate::investigate::saved::{SavedQuery, SavedQueryError};

include!(concat!(env!("OUT_DIR"), "/builtin_queries.rs"));

#[derive(Debug, thiserror::Error)]
pub enum LibraryError {
    #[error("cannot read the query library {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Query(#[from] SavedQueryError),
    #[error("{first} and {second} both define the saved query `{name}`")]
    Duplicate { name: String, first: String, second: String },
    #[error("no saved query named `{name}`{hint}")]
    NotFound { name: String, hint: String },
}

/// One saved investigation and where it came from.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub origin: String,
    pub query: SavedQuery,
}

#[derive(Debug, Clone, Default)]
pub struct Library {
    entries: Vec<Entry>,
}

impl Library {
    /// Reads every `.sql` file directly under `dir`; a missing folder is an empty library.
    pub fn load(dir: &Path) -> Result<Self, LibraryError> {
        let io = |source| LibraryError::Io { path: dir.to_path_buf(), source };
        let read = match std::fs::read_dir(dir) {
            Ok(r) => r,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(io(e)),
        };
        let mut files = Vec::new();
        for entry in read {
            let p = entry.map_err(io)?.path();
            if p.extension().is_some_and(|e| e.eq_ignore_ascii_case("sql")) && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        let mut lib = Self::default();
        for p in files {
            let text = std::fs::read_to_string(&p).map_err(|source| LibraryError::Io { path: p.clone(), source })?;
            lib.add(&p.display().to_string(), file_stem(&p), &text)?;
        }
        Ok(lib)
    }

    /// The investigations shipped in the binary (`queries/` of the source tree).
    pub fn builtin() -> Result<Self, LibraryError> {
        let mut lib = Self::default();
        for (file, text) in BUILTIN_QUERIES {
            let stem = file.strip_suffix(".sql").unwrap_or(file);
            lib.add(&format!("queries/{file}"), stem, text)?;
        }
        Ok(lib)
    }

    /// `dir`'s queries when given, else the built-in ones.
    pub fn open(dir: Option<&Path>) -> Result<Self, LibraryError> {
        match dir {
            Some(d) => Self::load(d),
            None => Self::builtin(),
        }
    }

    /// Adds one query file's text; `fallback_name` is used when its header names none.
    pub fn add(&mut self, origin: &str, fallback_name: &str, text: &str) -> Result<(), LibraryError> {
        let query = SavedQuery::parse(origin, text)?;
        let name = query.name.clone().unwrap_or_else(|| fallback_name.to_string());
        if let Some(prev) = self.entries.iter().find(|e| e.name.eq_ignore_ascii_case(&name)) {
            return Err(LibraryError::Duplicate { name, first: prev.origin.clone(), second: origin.to_string() });
        }
        self.entries.push(Entry { name, origin: origin.to_string(), query });
        self.entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The query called `name` (any case); a near miss is suggested in the error.
    pub fn get(&self, name: &str) -> Result<&Entry, LibraryError> {
        if let Some(e) = self.entries.iter().find(|e| e.name.eq_ignore_ascii_case(name)) {
            return Ok(e);
        }
        let lower = name.to_ascii_lowercase();
        let similar: Vec<&str> = self
            .entries
            .iter()
            .filter(|e| e.name.to_ascii_lowercase().contains(&lower) || lower.contains(&e.name.to_ascii_lowercase()))
            .map(|e| e.name.as_str())
            .take(5)
            .collect();
        let hint = if similar.is_empty() {
            " (list them with `queries list` or \\queries)".to_string()
        } else {
            format!("; did you mean {}?", similar.join(", "))
        };
        Err(LibraryError::NotFound { name: name.to_string(), hint })
    }
}

fn file_stem(p: &Path) -> &str {
    p.file_stem().and_then(|s| s.to_str()).unwrap_or("query")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_found_by_name_and_near_misses_suggested() {
        let mut lib = Library::default();
        lib.add("a.sql", "a", "-- name: root-activity\n-- description: Root.\nSELECT 1").expect("add");
        lib.add("b.sql", "console-logins", "SELECT 2").expect("add");
        assert_eq!(lib.get("ROOT-ACTIVITY").expect("found").origin, "a.sql");
        assert_eq!(lib.get("console-logins").expect("found").query.sql, "SELECT 2");
        let err = lib.get("root").unwrap_err().to_string();
        assert!(err.contains("did you mean root-activity"), "{err}");
        assert!(matches!(
            lib.add("c.sql", "x", "-- name: Root-Activity\nSELECT 3"),
            Err(LibraryError::Duplicate { .. })
        ));
    }

    #[test]
    fn the_builtin_library_has_the_investigations() {
        let lib = Library::builtin().expect("builtin queries parse");
        assert!(lib.entries().len() >= 25, "{}", lib.entries().len());
        for e in lib.entries() {
            assert!(e.query.name.as_deref() == Some(e.name.as_str()), "{} names itself", e.origin);
            assert!(e.query.description.len() > 40, "{} says what it detects and how to read it", e.name);
            let reads = ["{{eds}}", "{{insights_eds}}", "{{config_eds}}", "{{audit_eds}}"]
                .iter()
                .any(|p| e.query.sql.contains(p));
            assert!(reads, "{} reads the chosen store", e.name);
        }
    }

    #[test]
    fn a_missing_folder_is_an_empty_library() {
        let lib = Library::load(Path::new("/nonexistent/traillake-queries")).expect("load");
        assert!(lib.is_empty());
    }
}
