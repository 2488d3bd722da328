//! A small XML writer: indented element-only structure, inline mixed content, and escaping
//! that survives a parser's normalisation exactly (CR and, in attributes, TAB and LF are
//! written as character references, which parsers do not normalise).

/// Why a string cannot be written into XML 1.0, if it cannot: C0 controls other than TAB,
/// LF and CR, and the non-characters U+FFFE / U+FFFF are not allowed anywhere in a document.
pub(crate) fn check_text(text: &str) -> Result<(), String> {
    match text.chars().find(|&c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    }) {
        Some(c) => Err(format!(
            "character U+{:04X} cannot be written in XML 1.0",
            u32::from(c)
        )),
        None => Ok(()),
    }
}

pub(crate) struct XmlOut {
    out: String,
    depth: usize,
}

impl XmlOut {
    pub(crate) fn new() -> XmlOut {
        let mut out = String::with_capacity(16 << 10);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        XmlOut { out, depth: 0 }
    }

    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_attr(&mut self.out, value);
            self.out.push('"');
        }
    }

    /// `<name attrs>` on its own line; children follow indented.
    pub(crate) fn open(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.start_tag(name, attrs);
        self.out.push_str(">\n");
        self.depth += 1;
    }

    pub(crate) fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// `<name attrs/>`.
    pub(crate) fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.indent();
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
    }

    /// `<name attrs>text</name>` on one line, so no indentation enters the content.
    pub(crate) fn text(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.indent();
        self.start_tag(name, attrs);
        self.out.push('>');
        escape_text(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    /// `<name><child>child_text</child>tail</name>` on one line: mixed content such as an
    /// address with its postal code.
    pub(crate) fn mixed(&mut self, name: &str, child: Option<(&str, &str)>, tail: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        if let Some((child_name, child_text)) = child {
            self.out.push('<');
            self.out.push_str(child_name);
            self.out.push('>');
            escape_text(&mut self.out, child_text);
            self.out.push_str("</");
            self.out.push_str(child_name);
            self.out.push('>');
        }
        escape_text(&mut self.out, tail);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
    }

    pub(crate) fn finish(self) -> String {
        debug_assert_eq!(self.depth, 0, "unbalanced XML");
        self.out
    }
}

fn escape_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            // Needed only in "]]>", escaped always for simplicity.
            '>' => out.push_str("&gt;"),
            // A literal CR would be turned into LF by any parser.
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

fn escape_attr(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Attribute-value normalisation turns literal TAB, LF and CR into spaces.
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_keeps_whitespace_and_markup_characters() {
        let mut x = XmlOut::new();
        x.text("a", &[("k", "1\t2\n3\r\"<&>")], "x\ry\n<&>]]>");
        let s = x.finish();
        assert!(s.contains("k=\"1&#9;2&#10;3&#13;&quot;&lt;&amp;&gt;\""));
        assert!(s.contains(">x&#13;y\n&lt;&amp;&gt;]]&gt;</a>"));
    }

    #[test]
    fn controls_are_refused() {
        assert!(check_text("ok\t\n\r").is_ok());
        assert!(check_text("bad\u{1}").is_err());
        assert!(check_text("bad\u{FFFF}").is_err());
    }
}
