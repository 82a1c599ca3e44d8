//! Charts as standalone SVG files, for `report --format md` (Markdown has no scripts): bars,
//! stacked bars, lines and pies drawn from a widget's rows, plainly — a picture to paste into
//! a ticket, not an interactive chart.

use std::fmt::Write as _;

use super::WidgetResult;

const W: f64 = 640.0;
const H: f64 = 320.0;
const COLORS: &[&str] = &["#5470c6", "#91cc75", "#fac858", "#ee6666", "#73c0de", "#3ba272", "#fc8452", "#9a60b4"];

/// The SVG of a chart widget; `None` for tables and numbers.
pub fn chart(w: &WidgetResult) -> Option<String> {
    if !w.view.ends_with("Chart") {
        return None;
    }
    let rows = w.rows.as_array()?;
    let col = |key: &str, fallback: usize| -> Option<String> {
        let wanted = w.properties.get(key).map(|s| s.to_ascii_lowercase());
        wanted
            .and_then(|n| w.columns.iter().find(|c| c.to_ascii_lowercase() == n).cloned())
            .or_else(|| w.columns.get(fallback).cloned())
    };
    let (x, y) = (col("XAxisColumn", 0)?, col("YAxisColumn", 1)?);
    let text = |r: &serde_json::Value, c: &str| match &r[c] {
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let num = |r: &serde_json::Value, c: &str| r[c].as_f64().unwrap_or(0.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"11\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><text x=\"10\" y=\"18\" font-size=\"14\" font-weight=\"bold\">{}</text>",
        escape(&w.title)
    );
    match w.view.as_str() {
        "PieChart" => {
            let total: f64 = rows.iter().map(|r| num(r, &y)).sum::<f64>().max(f64::MIN_POSITIVE);
            let (cx, cy, radius) = (200.0, 175.0, 120.0);
            let mut angle = -std::f64::consts::FRAC_PI_2;
            for (i, r) in rows.iter().enumerate() {
                let share = num(r, &y) / total;
                let next = angle + share * std::f64::consts::TAU;
                let (x0, y0, x1, y1) = (
                    cx + radius * angle.cos(),
                    cy + radius * angle.sin(),
                    cx + radius * next.cos(),
                    cy + radius * next.sin(),
                );
                let large = if share > 0.5 { 1 } else { 0 };
                let color = COLORS[i % COLORS.len()];
                let _ = write!(svg, "<path d=\"M{cx},{cy} L{x0:.1},{y0:.1} A{radius},{radius} 0 {large} 1 {x1:.1},{y1:.1} Z\" fill=\"{color}\"/>");
                let _ = write!(
                    svg,
                    "<rect x=\"360\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"376\" y=\"{}\">{} ({:.0}%)</text>",
                    50 + i * 18,
                    59 + i * 18,
                    escape(&shorten(&text(r, &x), 36)),
                    share * 100.0
                );
                angle = next;
            }
        }
        _ => {
            // Categories along x; one series, or one per SeriesColumn value (stacked for bars).
            let mut cats: Vec<String> = Vec::new();
            let mut series: Vec<String> = Vec::new();
            let s_col = w.properties.get("SeriesColumn").and_then(|_| col("SeriesColumn", 1));
            for r in rows {
                let c = text(r, &x);
                if !cats.contains(&c) {
                    cats.push(c);
                }
                let s = s_col.as_deref().map(|s| text(r, s)).unwrap_or_default();
                if !series.contains(&s) {
                    series.push(s);
                }
            }
            let value = |cat: &str, s: &str| -> f64 {
                rows.iter()
                    .filter(|r| text(r, &x) == cat && s_col.as_deref().is_none_or(|sc| text(r, sc) == s))
                    .map(|r| num(r, &y))
                    .sum()
            };
            let stacked = w.view != "LineChart";
            let top = cats
                .iter()
                .map(|c| match stacked {
                    true => series.iter().map(|s| value(c, s)).sum::<f64>(),
                    false => series.iter().map(|s| value(c, s)).fold(0.0, f64::max),
                })
                .fold(0.0, f64::max)
                .max(1.0);
            let (left, right, plot_top, bottom) = (50.0, W - 20.0, 40.0, H - 60.0);
            let step = (right - left) / cats.len().max(1) as f64;
            let y_of = |v: f64| bottom - (v / top) * (bottom - plot_top);
            let _ = write!(svg, "<line x1=\"{left}\" y1=\"{bottom}\" x2=\"{right}\" y2=\"{bottom}\" stroke=\"#999\"/>");
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                left - 4.0,
                plot_top + 4.0,
                fmt_num(top)
            );
            let _ = write!(svg, "<text x=\"{}\" y=\"{bottom}\" text-anchor=\"end\">0</text>", left - 4.0);
            for (si, s) in series.iter().enumerate() {
                let color = COLORS[si % COLORS.len()];
                let mut points = Vec::new();
                for (ci, c) in cats.iter().enumerate() {
                    let v = value(c, s);
                    let below: f64 = if stacked { series[..si].iter().map(|p| value(c, p)).sum() } else { 0.0 };
                    let x0 = left + ci as f64 * step;
                    match stacked {
                        true => {
                            let _ = write!(
                                svg,
                                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{color}\"/>",
                                x0 + step * 0.15,
                                y_of(below + v),
                                step * 0.7,
                                y_of(below) - y_of(below + v)
                            );
                        }
                        false => points.push(format!("{:.1},{:.1}", x0 + step / 2.0, y_of(v))),
                    }
                }
                if !points.is_empty() {
                    let _ = write!(
                        svg,
                        "<polyline points=\"{}\" fill=\"none\" stroke=\"{color}\" stroke-width=\"2\"/>",
                        points.join(" ")
                    );
                }
                if !s.is_empty() {
                    let _ = write!(
                        svg,
                        "<rect x=\"{}\" y=\"26\" width=\"10\" height=\"10\" fill=\"{color}\"/><text x=\"{}\" y=\"35\">{}</text>",
                        300 + si * 110,
                        314 + si * 110,
                        escape(&shorten(s, 14))
                    );
                }
            }
            // Category labels: a few, so they do not overlap.
            let every = cats.len().div_ceil(6).max(1);
            for (ci, c) in cats.iter().enumerate().filter(|(i, _)| i % every == 0) {
                let _ = write!(
                    svg,
                    "<text x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
                    left + ci as f64 * step + step / 2.0,
                    bottom + 16.0,
                    escape(&shorten(&axis_label(c), 18))
                );
            }
        }
    }
    svg.push_str("</svg>\n");
    Some(svg)
}

/// "2026-11-14 05:00:00.000" → "11-14 05:00" on time axes.
fn axis_label(c: &str) -> String {
    let b = c.as_bytes();
    let is_time = b.len() >= 16 && b[4] == b'-' && b[7] == b'-' && (b[10] == b' ' || b[10] == b'T') && b[13] == b':';
    match is_time {
        true => format!("{} {}", &c[5..10], &c[11..16]),
        false => c.to_string(),
    }
}

fn shorten(s: &str, n: usize) -> String {
    match s.chars().count() > n {
        true => format!("…{}", s.chars().skip(s.chars().count() - (n - 1)).collect::<String>()),
        false => s.to_string(),
    }
}

fn fmt_num(v: f64) -> String {
    if v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn widget(view: &str, rows: serde_json::Value, props: &[(&str, &str)]) -> WidgetResult {
        WidgetResult {
            title: "t <x>".into(),
            view: view.into(),
            properties: props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            sql: String::new(),
            columns: vec!["k".into(), "s".into(), "n".into()],
            rows,
            elapsed_ms: 0,
            error: None,
        }
    }

    #[test]
    fn charts_draw_one_mark_per_value_and_escape_text() {
        let rows = serde_json::json!([{"k": "2026-11-14 05:00:00.000", "s": "a", "n": 3}, {"k": "2026-11-14 05:00:00.000", "s": "b", "n": 1}, {"k": "2026-11-14 06:00:00.000", "s": "a", "n": 2}]);
        let stacked = chart(&widget(
            "StackedBarChart",
            rows.clone(),
            &[("XAxisColumn", "k"), ("YAxisColumn", "n"), ("SeriesColumn", "s")],
        ))
        .expect("svg");
        assert_eq!(
            stacked.matches("<rect x=").count() - 2,
            4,
            "four bars (two per series), two legend boxes: {stacked}"
        );
        assert!(stacked.contains("11-14 05:00") && stacked.contains("t &lt;x&gt;"));
        let pie = chart(&widget("PieChart", rows.clone(), &[("XAxisColumn", "s"), ("YAxisColumn", "n")])).expect("svg");
        assert_eq!(pie.matches("<path").count(), 3);
        let line =
            chart(&widget("LineChart", rows.clone(), &[("XAxisColumn", "k"), ("YAxisColumn", "n")])).expect("svg");
        assert_eq!(line.matches("<polyline").count(), 1);
        assert!(chart(&widget("Table", rows, &[])).is_none());
    }
}
