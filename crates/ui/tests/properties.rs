//! Whatever text reaches the pages' helpers — browser headers, stored labels, times — they
//! answer without panicking, and charts never let markup through.

use kenshin_ui::chart::{bar_chart, Bar};
use kenshin_ui::{Lang, Pages};
use proptest::prelude::*;

proptest! {
    #[test]
    fn any_accept_language_header_picks_a_language(header in ".{0,200}") {
        let lang = Lang::from_accept_language(&header);
        prop_assert!(matches!(lang, Lang::Ja | Lang::En));
    }

    #[test]
    fn chart_labels_and_titles_are_escaped(
        title in ".{0,40}",
        labels in proptest::collection::vec((".{0,20}", 0u64..1_000_000), 0..20),
    ) {
        let bars: Vec<Bar> = labels
            .iter()
            .map(|(label, value)| Bar { label: label.clone(), value: *value })
            .collect();
        let svg = bar_chart(&title, &bars);
        // Every `<` opens one of the chart's own elements.
        for (i, _) in svg.match_indices('<') {
            let rest = &svg[i + 1..];
            prop_assert!(
                ["svg", "/svg", "title", "/title", "g>", "/g>", "rect", "text", "/text", "line"]
                    .iter()
                    .any(|tag| rest.starts_with(tag)),
                "unexpected markup at {}: {}", i, &svg[i..(i + 20).min(svg.len())]
            );
        }
    }

    #[test]
    fn pages_render_any_text_escaped(name in ".{0,60}", file in ".{0,60}") {
        // Markup smuggled in a person's name or a path never reaches the page as markup.
        let name = format!("<zq name='{name}'>");
        let file = format!("<zq file=\"{file}\">");
        let pages = Pages::new();
        let context = serde_json::json!({
            "title": "page.error", "path": file, "heading": "error.not_found_heading",
            "message": "error.not_found",
            "me": {"login": "x", "name": name, "org": "o", "org_name": file, "role": "viewer"},
            "nav": [], "csrf": "t", "idle_seconds": 900,
        });
        let html = pages.render("error.html", Lang::Ja, context).unwrap();
        prop_assert!(!html.contains("<zq"), "{}", html);
    }
}
