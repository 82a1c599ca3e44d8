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
