//! Bar charts as SVG, rendered on the server: no script, no external library, readable by
//! screen readers (a `<title>` per bar and a text summary).

use std::fmt::Write as _;

/// One bar: its label (e.g. `11/21`) and value.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Bar {
    pub label: String,
    pub value: u64,
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 200;
const AXIS: u32 = 24;

/// A bar chart of `bars`, titled `title` (used as the accessible name).
pub fn bar_chart(title: &str, bars: &[Bar]) -> String {
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let slot = if bars.is_empty() {
        WIDTH
    } else {
        WIDTH / bars.len() as u32
    };
    let bar_width = (slot * 7 / 10).max(1);
    let plot = HEIGHT - AXIS;
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{}"><title>{}</title>"#,
        escape(title),
        escape(title)
    );
    for (i, bar) in bars.iter().enumerate() {
        let height = (bar.value as f64 / max as f64 * f64::from(plot - 16)).round() as u32;
        let x = i as u32 * slot + (slot - bar_width) / 2;
        let y = plot - height;
        let _ = write!(
            svg,
            r#"<g><title>{}: {}</title><rect class="bar" x="{x}" y="{y}" width="{bar_width}" height="{height}"/>"#,
            escape(&bar.label),
            bar.value
        );
        if bar.value > 0 {
            let _ = write!(
                svg,
                r#"<text class="value" x="{}" y="{}" text-anchor="middle">{}</text>"#,
                x + bar_width / 2,
                y.saturating_sub(3),
                bar.value
            );
        }
        let _ = write!(
            svg,
            r#"<text class="label" x="{}" y="{}" text-anchor="middle">{}</text></g>"#,
            x + bar_width / 2,
            HEIGHT - 6,
            escape(&bar.label)
        );
    }
    let _ = write!(
        svg,
        r#"<line class="axis" x1="0" y1="{plot}" x2="{WIDTH}" y2="{plot}"/></svg>"#
    );
    svg
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_text_is_escaped() {
        let svg = bar_chart(
            "提出件数 <per day>",
            &[
                Bar {
                    label: "11/20".into(),
                    value: 2,
                },
                Bar {
                    label: "11/21".into(),
                    value: 4,
                },
            ],
        );
        assert!(svg.starts_with("<svg"));
        assert!(svg.contains("提出件数 &lt;per day&gt;"));
        assert!(!svg.contains("<per day>"));
        assert_eq!(svg.matches("<rect").count(), 2);
        // The larger bar is twice the height of the smaller.
        assert!(svg.contains(r#"height="160""#), "{svg}");
        assert!(svg.contains(r#"height="80""#), "{svg}");
    }

    #[test]
    fn an_empty_chart_is_still_a_valid_svg() {
        let svg = bar_chart("empty", &[]);
        assert!(svg.ends_with("</svg>"));
        assert_eq!(svg.matches("<rect").count(), 0);
    }
}
