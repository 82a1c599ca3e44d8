//! `traillake report`: dashboards rendered into one self-contained HTML file — the results as
//! JSON, Apache ECharts and the drawing script all inline, so it opens offline and can be
//! attached to a ticket — plus the results of chosen saved investigations.

use serde::Serialize;

use super::{Range, WidgetResult};

const ECHARTS: &str = include_str!("../../assets/echarts/echarts.min.js");
const RENDER: &str = include_str!("render.js");
const STYLE: &str = include_str!("report.css");

/// What a report shows.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub store: String,
    pub range: Range,
    pub generated: String,
    pub dashboards: Vec<RenderedDashboard>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RenderedDashboard {
    pub name: String,
    pub title: String,
    pub description: String,
    pub widgets: Vec<WidgetResult>,
}

/// The report as one HTML document.
pub fn html(report: &Report) -> String {
    // Inside <script>, "</" would end the element: JSON allows "<\/" for it.
    let data = serde_json::to_string(report).unwrap_or_else(|_| "{}".into()).replace("</", "<\\/");
    let title = format!(
        "traillake report — {} — {} to {}",
        report.store,
        report.range.start.format("%Y-%m-%d %H:%M"),
        report.range.end.format("%Y-%m-%d %H:%M UTC")
    );
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>{STYLE}</style></head>\n\
         <body><header><h1>{t}</h1><p>generated {g} by traillake {v}; widget data and scripts are inline, the file works offline</p></header>\n\
         <main id=\"dashboards\"></main>\n<script>{ECHARTS}</script>\n\
         <script type=\"application/json\" id=\"report-data\">{data}</script>\n<script>{RENDER}</script>\n</body></html>\n",
        t = escape(&title),
        g = escape(&report.generated),
        v = env!("CARGO_PKG_VERSION"),
    )
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// The report as Markdown: tables and numbers inline, each chart an SVG file named in
/// `charts` (file name, content), linked from `charts_dir` (relative to the Markdown file).
pub fn markdown(report: &Report, charts_dir: &str) -> (String, Vec<(String, String)>) {
    let mut md = format!(
        "# traillake report — {}\n\n{} to {} · generated {}\n",
        report.store,
        report.range.start.format("%Y-%m-%d %H:%M"),
        report.range.end.format("%Y-%m-%d %H:%M UTC"),
        report.generated
    );
    let mut charts = Vec::new();
    for d in &report.dashboards {
        md.push_str(&format!("\n## {}\n\n{}\n", d.title, d.description));
        for w in &d.widgets {
            md.push_str(&format!("\n### {}\n\n", w.title));
            if let Some(e) = &w.error {
                md.push_str(&format!("Error: {e}\n"));
                continue;
            }
            let rows = w.rows.as_array().cloned().unwrap_or_default();
            match (w.view.as_str(), super::svg::chart(w)) {
                ("Number", _) => {
                    let v = rows.first().and_then(|r| w.columns.first().map(|c| r[c].to_string())).unwrap_or_default();
                    md.push_str(&format!("**{v}**\n"));
                }
                ("Table", _) | (_, None) => md.push_str(&table(&w.columns, &rows)),
                (_, Some(svg)) => {
                    let file = format!("{:02}-{}.svg", charts.len() + 1, slug(&w.title));
                    md.push_str(&format!("![{}]({charts_dir}/{file})\n", w.title));
                    charts.push((file, svg));
                }
            }
            md.push_str(&format!(
                "\n<details><summary>SQL ({} rows, {} ms)</summary>\n\n```sql\n{}\n```\n</details>\n",
                rows.len(),
                w.elapsed_ms,
                w.sql
            ));
        }
    }
    (md, charts)
}

/// A Markdown table of at most 50 rows.
fn table(columns: &[String], rows: &[serde_json::Value]) -> String {
    if rows.is_empty() {
        return "(no rows)\n".into();
    }
    let cell = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.replace('|', "\\|"),
        serde_json::Value::Null => String::new(),
        v => v.to_string().replace('|', "\\|"),
    };
    let mut t = format!("| {} |\n|{}\n", columns.join(" | "), " --- |".repeat(columns.len()));
    for r in rows.iter().take(50) {
        let cells: Vec<String> = columns.iter().map(|c| cell(&r[c])).collect();
        t.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    if rows.len() > 50 {
        t.push_str(&format!("\n… {} more rows\n", rows.len() - 50));
    }
    t
}

fn slug(title: &str) -> String {
    let s: String =
        title.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
    s.split('-').filter(|p| !p.is_empty()).collect::<Vec<_>>().join("-")
}
