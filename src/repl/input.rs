//! Where statements end. A statement runs at a `;` that is SQL, not text: semicolons inside
//! string literals, quoted identifiers and comments do not count, and an unterminated string or
//! comment keeps the editor asking for more lines.

/// What a buffer holds, as far as running it is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Buffer<'a> {
    /// Only whitespace and comments.
    Empty,
    /// A backslash command (one line, no `;` needed).
    Meta(&'a str),
    /// One or more statements, each without its `;`; the buffer ended after a `;`.
    Statements(Vec<&'a str>),
    /// More input is needed: no closing `;` yet, or an open string, identifier or comment.
    Incomplete,
}

/// Words that end the session without a `;`, as in psql.
const EXIT_WORDS: [&str; 2] = ["exit", "quit"];

/// Classifies the editor's buffer.
pub fn classify(text: &str) -> Buffer<'_> {
    let trimmed = text.trim();
    if trimmed.starts_with('\\') {
        return Buffer::Meta(trimmed);
    }
    if EXIT_WORDS.iter().any(|w| trimmed.trim_end_matches(';').trim().eq_ignore_ascii_case(w)) {
        return Buffer::Meta("\\q");
    }
    let scan = scan(text);
    if scan.open {
        return Buffer::Incomplete;
    }
    if !scan.has_code {
        return Buffer::Empty;
    }
    if !scan.ends_with_semicolon {
        return Buffer::Incomplete;
    }
    Buffer::Statements(scan.statements.into_iter().map(|(a, b)| text[a..b].trim()).filter(|s| !s.is_empty()).collect())
}

/// Splits a script (a `\i` file) into statements; a last statement without `;` counts too.
pub fn split_script(text: &str) -> Result<Vec<&str>, String> {
    let scan = scan(text);
    if scan.open {
        return Err("the file ends inside a string, quoted identifier or comment".into());
    }
    let mut out: Vec<&str> = scan.statements.iter().map(|&(a, b)| text[a..b].trim()).collect();
    if !scan.ends_with_semicolon {
        let tail = text[scan.statements.last().map_or(0, |&(_, b)| b + 1).min(text.len())..].trim();
        if has_code(tail) {
            out.push(tail);
        }
    }
    Ok(out.into_iter().filter(|s| has_code(s)).collect())
}

fn has_code(s: &str) -> bool {
    scan(s).has_code
}

struct Scan {
    /// Byte ranges of statements that ended with `;` (the `;` excluded).
    statements: Vec<(usize, usize)>,
    /// Non-whitespace, non-comment text exists.
    has_code: bool,
    /// The last code character is a `;`.
    ends_with_semicolon: bool,
    /// The text ends inside a string, quoted identifier or block comment.
    open: bool,
}

fn scan(text: &str) -> Scan {
    let b = text.as_bytes();
    let mut s = Scan { statements: Vec::new(), has_code: false, ends_with_semicolon: false, open: false };
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = memchr::memchr(b'\n', &b[i..]).map_or(b.len(), |n| i + n + 1);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => match memchr::memmem::find(&b[i + 2..], b"*/") {
                Some(n) => {
                    i += n + 4;
                    continue;
                }
                None => {
                    s.open = true;
                    return s;
                }
            },
            q @ (b'\'' | b'"' | b'`') => {
                // SQL doubles a quote to escape it: 'it''s' is one literal.
                let mut j = i + 1;
                loop {
                    match memchr::memchr(q, &b[j..]) {
                        Some(n) if b.get(j + n + 1) == Some(&q) => j += n + 2,
                        Some(n) => {
                            j += n + 1;
                            break;
                        }
                        None => {
                            s.open = true;
                            return s;
                        }
                    }
                }
                s.has_code = true;
                s.ends_with_semicolon = false;
                i = j;
                continue;
            }
            b';' => {
                s.statements.push((start, i));
                start = i + 1;
                s.ends_with_semicolon = true;
            }
            c if c.is_ascii_whitespace() => {}
            _ => {
                s.has_code = true;
                s.ends_with_semicolon = false;
            }
        }
        i += 1;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_runs_at_a_semicolon_outside_strings_and_comments() {
        assert_eq!(classify("SELECT 1"), Buffer::Incomplete);
        assert_eq!(classify("SELECT 1;"), Buffer::Statements(vec!["SELECT 1"]));
        assert_eq!(classify("SELECT\n  1\n;  "), Buffer::Statements(vec!["SELECT\n  1"]));
        assert_eq!(classify("SELECT ';'"), Buffer::Incomplete);
        assert_eq!(classify("SELECT 'a;\nb"), Buffer::Incomplete);
        assert_eq!(classify("SELECT 'it''s;' ;"), Buffer::Statements(vec!["SELECT 'it''s;'"]));
        assert_eq!(classify("SELECT 1 -- done;"), Buffer::Incomplete);
        assert_eq!(classify("SELECT 1 /* ; */"), Buffer::Incomplete);
        assert_eq!(classify("SELECT 1 /* ;"), Buffer::Incomplete);
        assert_eq!(classify("SELECT \"a;b\" FROM t;"), Buffer::Statements(vec!["SELECT \"a;b\" FROM t"]));
        assert_eq!(classify("SELECT 1; SELECT 2;"), Buffer::Statements(vec!["SELECT 1", "SELECT 2"]));
        assert_eq!(classify("SELECT 1; -- comment after"), Buffer::Statements(vec!["SELECT 1"]));
    }

    #[test]
    fn meta_commands_exit_words_and_blank_input() {
        assert_eq!(classify("  \\d foo "), Buffer::Meta("\\d foo"));
        assert_eq!(classify("quit"), Buffer::Meta("\\q"));
        assert_eq!(classify("EXIT;"), Buffer::Meta("\\q"));
        assert_eq!(classify("   "), Buffer::Empty);
        assert_eq!(classify("-- just a note"), Buffer::Empty);
        assert_eq!(classify(";"), Buffer::Empty);
    }

    #[test]
    fn scripts_split_into_statements() {
        let script = "-- name: x\nSELECT 1;\n/* ; */ SELECT ';' ;\nSELECT 3\n";
        assert_eq!(
            split_script(script).expect("split"),
            vec!["-- name: x\nSELECT 1", "/* ; */ SELECT ';'", "SELECT 3"]
        );
        assert_eq!(split_script("SELECT 1;\n-- trailing note\n").expect("split"), vec!["SELECT 1"]);
        assert!(split_script("SELECT 'open").is_err());
    }
}
