//! `\d` and `\d NAME`: event data stores as a table, one store's schema as a tree. Everything
//! comes from the catalog, the schema and the Delta log; no data file is read.

use std::fmt::Write as _;

use crate::human::human_bytes;
use crate::output::Listing;
use crate::schema::{FieldSpec, FieldType};
use crate::store::table::TableFigures;
use crate::store::EdsRecord;

/// The `\d` listing.
pub fn stores(rows: &[(&EdsRecord, TableFigures)]) -> String {
    if rows.is_empty() {
        return "no event data stores yet: `traillake ingest PATH` creates \"default\"".to_string();
    }
    // Counts align right, text left.
    let mut list =
        Listing::with_headers(&["ID", "NAME", "STATUS", "EVENTS", "FIRST EVENT", "LAST EVENT", "SIZE"]).align_right(3);
    for (rec, fig) in rows {
        list.row(&[
            rec.id.to_string(),
            rec.name.clone(),
            rec.status.to_string(),
            fig.event_count.to_string(),
            fig.first_event.as_deref().map_or("-".into(), lake_time),
            fig.last_event.as_deref().map_or("-".into(), lake_time),
            human_bytes(fig.size_bytes),
        ]);
    }
    let mut out = list.render();
    out.truncate(out.trim_end().len());
    out
}

/// `2026-11-01T10:00:00.000Z` → `2026-11-01 10:00:00.000`, as Lake prints times.
fn lake_time(iso: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(iso) {
        Ok(t) => t.with_timezone(&chrono::Utc).format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        Err(_) => iso.to_string(),
    }
}

/// The `\d NAME` tree: every column path as queries spell it, with Lake's type names.
pub fn schema_tree(rec: &EdsRecord, fig: &TableFigures) -> String {
    let mut out = format!("{} ({}, {}), {} events", rec.name, rec.id, rec.kind, fig.event_count);
    if let (Some(a), Some(b)) = (&fig.first_event, &fig.last_event) {
        let _ = write!(out, ", {} .. {}", lake_time(a), lake_time(b));
    }
    out.push('\n');
    let fields = &rec.schema().spec.fields;
    let mut lines = Vec::new();
    for (i, f) in fields.iter().enumerate() {
        tree_lines(f, "", i + 1 == fields.len(), true, &mut lines);
    }
    let width = lines.iter().map(|(l, _)| l.chars().count()).max().unwrap_or(0);
    for (label, ty) in lines {
        let _ = writeln!(out, "{label:<width$}  {ty}");
    }
    out.truncate(out.trim_end().len());
    out
}

fn tree_lines(f: &FieldSpec, indent: &str, last: bool, top: bool, out: &mut Vec<(String, String)>) {
    let name = f.source.clone().unwrap_or_else(|| f.name.clone());
    let (branch, child_indent) = if top {
        (String::new(), String::new())
    } else if last {
        (format!("{indent}└── "), format!("{indent}    "))
    } else {
        (format!("{indent}├── "), format!("{indent}│   "))
    };
    out.push((format!("{branch}{name}"), type_name(&f.ty)));
    let children = match &f.ty {
        FieldType::Struct { fields } => fields.as_slice(),
        FieldType::List { item } => match &item.ty {
            FieldType::Struct { fields } => fields.as_slice(),
            _ => &[],
        },
        _ => &[],
    };
    for (i, c) in children.iter().enumerate() {
        tree_lines(c, &child_indent, i + 1 == children.len(), false, out);
    }
}

fn type_name(t: &FieldType) -> String {
    match t {
        FieldType::String => "string".into(),
        FieldType::Timestamp => "timestamp".into(),
        FieldType::Boolean => "boolean".into(),
        FieldType::Double => "double".into(),
        FieldType::Integer => "integer".into(),
        FieldType::Map => "map<string,string>".into(),
        FieldType::Struct { .. } => "struct".into(),
        FieldType::List { item } => format!("array<{}>", type_name(&item.ty)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> EdsRecord {
        EdsRecord::new("demo", chrono::Utc::now())
    }

    #[test]
    fn the_schema_prints_as_a_tree_in_cloudtrail_spelling() {
        let fig = TableFigures {
            event_count: 12,
            first_event: Some("2026-11-01T10:00:00.000Z".into()),
            last_event: Some("2026-11-02T11:30:00.250Z".into()),
            ..Default::default()
        };
        let tree = schema_tree(&record(), &fig);
        assert!(tree.contains("12 events, 2026-11-01 10:00:00.000 .. 2026-11-02 11:30:00.250"), "{tree}");
        assert!(tree.lines().any(|l| l.starts_with("userIdentity ") && l.ends_with("struct")), "{tree}");
        assert!(tree.lines().any(|l| l.starts_with("│   │   ├── userName") || l.contains("── userName")), "{tree}");
        assert!(tree.lines().any(|l| l.starts_with("requestParameters") && l.ends_with("map<string,string>")));
        assert!(tree.lines().any(|l| l.starts_with("resources") && l.ends_with("array<struct>")));
    }

    #[test]
    fn each_kind_prints_its_own_schema() {
        let mut rec = record();
        rec.kind = crate::schema::Kind::Insights;
        let tree = schema_tree(&rec, &TableFigures::default());
        assert!(tree.starts_with("demo (") && tree.contains(", insights), 0 events"), "{tree}");
        assert!(tree.lines().any(|l| l.starts_with("insightContext") && l.ends_with("struct")), "{tree}");
        assert!(tree.lines().any(|l| l.contains("── baselineAverage") && l.ends_with("double")), "{tree}");
        assert!(tree.lines().any(|l| l.contains("── insightDuration") && l.ends_with("integer")), "{tree}");
        assert!(!tree.contains("userIdentity"), "{tree}");
        rec.kind = crate::schema::Kind::Config;
        let tree = schema_tree(&rec, &TableFigures::default());
        assert!(tree.lines().any(|l| l.contains("── configuration ") && l.ends_with("map<string,string>")), "{tree}");
    }

    #[test]
    fn stores_list_counts_and_time_ranges() {
        let rec = record();
        let fig =
            TableFigures { event_count: 1234, last_event: Some("2026-11-02T11:30:00Z".into()), ..Default::default() };
        let text = stores(&[(&rec, fig)]);
        let mut lines = text.lines();
        assert!(lines.next().is_some_and(|h| h.starts_with("ID") && h.contains("FIRST EVENT")));
        let row = lines.next().expect("row");
        assert!(row.contains("demo") && row.contains("1234") && row.contains("2026-11-02 11:30:00.000"), "{row}");
        assert!(stores(&[]).contains("traillake ingest"));
    }
}
