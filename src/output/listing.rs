//! Listings for people: `eds list`, `eds describe`, `queries list`, the REPL's `\queries`. One
//! printer sizes every column to its widest cell (counted in characters, not bytes), so no
//! value overruns the next column whatever its length — `format!("{:<18}", status)` did, since
//! a `Display` that writes with `write_str` ignores the width.

use std::fmt::Write as _;

/// Rows of text cells under optional headers, aligned into columns two spaces apart.
#[derive(Debug, Default)]
pub struct Listing {
    headers: Option<Vec<String>>,
    rows: Vec<Vec<String>>,
    /// Columns aligned to the right (numbers).
    right: Vec<usize>,
}

impl Listing {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with_headers<S: ToString>(headers: &[S]) -> Self {
        Self { headers: Some(headers.iter().map(S::to_string).collect()), ..Self::default() }
    }

    /// Aligns column `i` (from 0) to the right.
    pub fn align_right(mut self, i: usize) -> Self {
        self.right.push(i);
        self
    }

    pub fn row<S: ToString>(&mut self, cells: &[S]) {
        self.rows.push(cells.iter().map(S::to_string).collect());
    }

    /// The listing as lines, each ending in a newline, with no trailing spaces.
    pub fn render(&self) -> String {
        let all: Vec<&Vec<String>> = self.headers.iter().chain(&self.rows).collect();
        let columns = all.iter().map(|r| r.len()).max().unwrap_or(0);
        let width = |i: usize| all.iter().filter_map(|r| r.get(i)).map(|c| c.chars().count()).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns).map(width).collect();
        let mut out = String::new();
        for row in all {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i] - cell.chars().count();
                let last = i + 1 == row.len();
                if self.right.contains(&i) {
                    let _ = write!(line, "{}{cell}", " ".repeat(pad));
                } else if last {
                    line.push_str(cell);
                } else {
                    let _ = write!(line, "{cell}{}", " ".repeat(pad));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

impl std::fmt::Display for Listing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_column_starts_at_the_same_place_on_every_line() {
        let mut l = Listing::with_headers(&["ID", "NAME", "STATUS", "RETENTION"]).align_right(3);
        l.row(&["a1", "default", "STOPPED_INGESTION", "3653 days"]);
        l.row(&["b2", "a-much-longer-store-name-than-the-header", "ENABLED", "7 days"]);
        l.row(&["c3", "café", "PENDING_DELETION", "366 days"]);
        let text = l.render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4);
        for column in ["NAME", "STATUS"] {
            let at = lines[0].find(column).expect("header");
            let at_chars = lines[0][..at].chars().count();
            for line in &lines[1..] {
                let before: String = line.chars().take(at_chars).collect();
                assert!(before.ends_with("  "), "{column} starts after two spaces in {line:?}");
                assert_ne!(line.chars().nth(at_chars), Some(' '), "{column} starts at one place in {line:?}");
            }
        }
        assert!(lines.iter().all(|l| l.chars().count() == lines[0].chars().count()), "right column ends aligned");
        assert!(lines[1].ends_with("3653 days") && lines[2].ends_with("   7 days"), "{text}");
    }

    #[test]
    fn no_trailing_spaces_and_ragged_rows_are_fine() {
        let mut l = Listing::new();
        l.row(&["key", "value"]);
        l.row(&["a-longer-key", ""]);
        l.row(&["only"]);
        assert_eq!(l.render(), "key           value\na-longer-key\nonly\n");
    }
}
