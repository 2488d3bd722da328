//! A hardened XML parser for untrusted input: builds a small element tree while refusing any
//! DTD, undeclared entities, excessive depth, element counts, attribute counts and text
//! lengths, and non-UTF-8 documents. The input is held in memory (bounded by the per-entry
//! limit), so the parser itself never buffers more than the document.

use quick_xml::events::Event;
use quick_xml::name::{QName, ResolveResult};
use quick_xml::{NsReader, XmlVersion};

use crate::{Limits, MhlwError};

/// A parsed element. Names are local names; `ns` is the resolved namespace URI.
#[derive(Debug)]
pub(crate) struct Element {
    pub(crate) ns: Option<String>,
    pub(crate) name: String,
    pub(crate) attrs: Vec<Attr>,
    pub(crate) children: Vec<Node>,
    /// 1-based line of the start tag.
    pub(crate) line: u64,
    /// `xsi:type`, resolved: (namespace, local name).
    pub(crate) xsi_type: Option<(Option<String>, String)>,
}

#[derive(Debug)]
pub(crate) struct Attr {
    pub(crate) ns: Option<String>,
    pub(crate) name: String,
    pub(crate) value: String,
}

#[derive(Debug)]
pub(crate) enum Node {
    Element(Element),
    Text(String),
}

/// An error with its position in the document.
#[derive(Debug)]
pub(crate) struct Located {
    pub(crate) error: MhlwError,
    pub(crate) line: Option<u64>,
    pub(crate) element: Option<String>,
}

impl Located {
    pub(crate) fn at(error: MhlwError, element: &Element, path: &str) -> Located {
        Located {
            error,
            line: Some(element.line),
            element: Some(path.to_string()),
        }
    }
}

impl Element {
    /// Child elements with this local name in the same namespace as `self`.
    pub(crate) fn children<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter_map(move |node| match node {
            Node::Element(e) if e.name == name && e.ns == self.ns => Some(e),
            _ => None,
        })
    }

    pub(crate) fn child<'a>(&'a self, name: &'a str) -> Option<&'a Element> {
        self.children(name).next()
    }

    /// An attribute without namespace.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|a| a.ns.is_none() && a.name == name)
            .map(|a| a.value.as_str())
    }

    /// The element's own text (its text children joined, child elements skipped).
    pub(crate) fn text(&self) -> String {
        let mut out = String::new();
        for node in &self.children {
            if let Node::Text(t) = node {
                out.push_str(t);
            }
        }
        out
    }

    pub(crate) fn has_element_children(&self) -> bool {
        self.children.iter().any(|n| matches!(n, Node::Element(_)))
    }
}

/// Tracks line numbers incrementally as the parser moves forward.
struct Lines<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: u64,
}

impl Lines<'_> {
    fn at(&mut self, pos: u64) -> u64 {
        let pos = (pos as usize).min(self.bytes.len());
        if pos >= self.pos {
            self.line += self.bytes[self.pos..pos]
                .iter()
                .filter(|&&b| b == b'\n')
                .count() as u64;
        } else {
            self.line = 1 + self.bytes[..pos].iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.pos = pos;
        self.line
    }
}

fn illegal_char(text: &str) -> Option<char> {
    text.chars().find(|&c| {
        (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || matches!(c, '\u{FFFE}' | '\u{FFFF}')
    })
}

/// Parses a whole document.
pub(crate) fn parse(input: &[u8], limits: &Limits) -> Result<Element, Located> {
    let bytes = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    if bytes.starts_with(b"\xFE\xFF") || bytes.starts_with(b"\xFF\xFE") {
        return Err(Located {
            error: MhlwError::Encoding("UTF-16".into()),
            line: Some(1),
            element: None,
        });
    }
    let mut reader = NsReader::from_reader(bytes);
    {
        let config = reader.config_mut();
        config.check_end_names = true;
        config.check_comments = true;
        config.expand_empty_elements = false;
        config.trim_text(false);
    }
    // The namespace resolver records declarations before an element reaches us; bound them
    // here so a tag with a million xmlns attributes cannot grow it.
    reader
        .resolver_mut()
        .set_max_declarations_per_element(limits.max_attributes);

    let mut lines = Lines {
        bytes,
        pos: 0,
        line: 1,
    };
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut elements = 0usize;

    let path_of = |stack: &[Element]| -> Option<String> {
        (!stack.is_empty()).then(|| {
            stack
                .iter()
                .map(|e| e.name.as_str())
                .collect::<Vec<_>>()
                .join("/")
        })
    };

    loop {
        let start = reader.buffer_position();
        let event = match reader.read_resolved_event() {
            Ok((resolved, event)) => {
                let ns = match resolved {
                    ResolveResult::Bound(ns) => Some(
                        std::str::from_utf8(ns.into_inner())
                            .map_err(|_| MhlwError::Xml("namespace name is not UTF-8".into()))
                            .map(str::to_string),
                    ),
                    ResolveResult::Unbound => None,
                    ResolveResult::Unknown(prefix) => Some(Err(MhlwError::Xml(format!(
                        "undeclared namespace prefix {:?}",
                        String::from_utf8_lossy(&prefix)
                    )))),
                };
                (ns.transpose(), event)
            }
            Err(e) => {
                let line = lines.at(reader.error_position());
                return Err(Located {
                    error: xml_error(&e),
                    line: Some(line),
                    element: path_of(&stack),
                });
            }
        };
        let line = lines.at(start);
        let fail = |error: MhlwError, stack: &[Element]| Located {
            error,
            line: Some(line),
            element: path_of(stack),
        };
        let (ns, event) = event;
        match event {
            Event::Decl(decl) => {
                if let Some(encoding) = decl.encoding() {
                    let encoding =
                        encoding.map_err(|e| fail(MhlwError::Xml(e.to_string()), &stack))?;
                    let name = String::from_utf8_lossy(&encoding).to_string();
                    if !name.eq_ignore_ascii_case("utf-8") && !name.eq_ignore_ascii_case("utf8") {
                        return Err(fail(MhlwError::Encoding(name), &stack));
                    }
                }
                let version = decl
                    .version()
                    .map_err(|e| fail(MhlwError::Xml(e.to_string()), &stack))?;
                if version.as_ref() != b"1.0" {
                    return Err(fail(
                        MhlwError::Xml(format!(
                            "XML version {} is not accepted (1.0 only)",
                            String::from_utf8_lossy(&version)
                        )),
                        &stack,
                    ));
                }
            }
            Event::DocType(_) => return Err(fail(MhlwError::Doctype, &stack)),
            Event::PI(_) | Event::Comment(_) => {}
            Event::Start(ref e) | Event::Empty(ref e) => {
                if root.is_some() {
                    return Err(fail(
                        MhlwError::Xml("content after the root element".into()),
                        &stack,
                    ));
                }
                if stack.len() >= limits.max_depth {
                    return Err(fail(
                        MhlwError::TooDeep {
                            limit: limits.max_depth,
                        },
                        &stack,
                    ));
                }
                elements += 1;
                if elements > limits.max_elements {
                    return Err(fail(
                        MhlwError::TooManyElements {
                            limit: limits.max_elements,
                        },
                        &stack,
                    ));
                }
                let ns = ns.map_err(|err| fail(err, &stack))?;
                if e.name().as_ref().len() > limits.max_text_bytes {
                    return Err(fail(
                        MhlwError::TextTooLong {
                            limit: limits.max_text_bytes,
                        },
                        &stack,
                    ));
                }
                let name = std::str::from_utf8(e.local_name().into_inner())
                    .map_err(|_| fail(MhlwError::Xml("element name is not UTF-8".into()), &stack))?
                    .to_string();
                // Count first without duplicate checks: the check is quadratic in the number
                // of attributes.
                if e.attributes()
                    .with_checks(false)
                    .take(limits.max_attributes + 1)
                    .count()
                    > limits.max_attributes
                {
                    return Err(fail(
                        MhlwError::TooManyAttributes {
                            limit: limits.max_attributes,
                        },
                        &stack,
                    ));
                }
                let mut attrs = Vec::new();
                let mut xsi_type = None;
                for attr in e.attributes().with_checks(true) {
                    let attr = attr.map_err(|err| fail(MhlwError::Xml(err.to_string()), &stack))?;
                    let key = attr.key;
                    if key.as_namespace_binding().is_some() {
                        continue;
                    }
                    if attr.value.len() > limits.max_text_bytes
                        || key.as_ref().len() > limits.max_text_bytes
                    {
                        return Err(fail(
                            MhlwError::TextTooLong {
                                limit: limits.max_text_bytes,
                            },
                            &stack,
                        ));
                    }
                    let value = attr
                        .normalized_value(XmlVersion::Implicit1_0)
                        .map_err(|err| fail(xml_error(&err), &stack))?
                        .into_owned();
                    if let Some(c) = illegal_char(&value) {
                        return Err(fail(illegal(c), &stack));
                    }
                    let (attr_ns, local) = reader.resolver().resolve_attribute(key);
                    let attr_ns = match attr_ns {
                        ResolveResult::Bound(ns) => {
                            Some(String::from_utf8_lossy(ns.into_inner()).into_owned())
                        }
                        ResolveResult::Unbound => None,
                        ResolveResult::Unknown(prefix) => {
                            return Err(fail(
                                MhlwError::Xml(format!(
                                    "undeclared namespace prefix {:?}",
                                    String::from_utf8_lossy(&prefix)
                                )),
                                &stack,
                            ))
                        }
                    };
                    let local = String::from_utf8_lossy(local.into_inner()).into_owned();
                    if attr_ns.as_deref() == Some(crate::codes::NS_XSI) && local == "type" {
                        let (type_ns, type_local) = reader
                            .resolver()
                            .resolve_element(QName(value.trim().as_bytes()));
                        let type_ns = match type_ns {
                            ResolveResult::Bound(ns) => {
                                Some(String::from_utf8_lossy(ns.into_inner()).into_owned())
                            }
                            ResolveResult::Unbound => None,
                            ResolveResult::Unknown(_) => {
                                return Err(fail(
                                    MhlwError::Xml(format!(
                                        "xsi:type {value:?} uses an undeclared prefix"
                                    )),
                                    &stack,
                                ))
                            }
                        };
                        xsi_type = Some((
                            type_ns,
                            String::from_utf8_lossy(type_local.into_inner()).into_owned(),
                        ));
                    }
                    attrs.push(Attr {
                        ns: attr_ns,
                        name: local,
                        value,
                    });
                }
                let element = Element {
                    ns,
                    name,
                    attrs,
                    children: Vec::new(),
                    line,
                    xsi_type,
                };
                if matches!(event, Event::Start(_)) {
                    stack.push(element);
                } else {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(element)),
                        None => root = Some(element),
                    }
                }
            }
            Event::End(_) => {
                // End names were matched by the reader (check_end_names).
                let element = stack
                    .pop()
                    .ok_or_else(|| fail(MhlwError::Xml("unexpected end tag".into()), &stack))?;
                match stack.last_mut() {
                    Some(parent) => parent.children.push(Node::Element(element)),
                    None => root = Some(element),
                }
            }
            Event::Text(ref t) => {
                let text = t
                    .xml10_content()
                    .map_err(|err| fail(MhlwError::Xml(err.to_string()), &stack))?;
                push_text(&mut stack, &text, limits, &fail)?;
            }
            Event::CData(ref t) => {
                let text = t
                    .xml10_content()
                    .map_err(|err| fail(MhlwError::Xml(err.to_string()), &stack))?;
                push_text(&mut stack, &text, limits, &fail)?;
            }
            Event::GeneralRef(ref r) => {
                let c = if r.is_char_ref() {
                    r.resolve_char_ref()
                        .map_err(|err| fail(xml_error(&err), &stack))?
                        .ok_or_else(|| {
                            fail(MhlwError::Xml("bad character reference".into()), &stack)
                        })?
                } else {
                    let name = r
                        .decode()
                        .map_err(|err| fail(MhlwError::Xml(err.to_string()), &stack))?;
                    match name.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(fail(MhlwError::UnknownEntity(other.to_string()), &stack))
                        }
                    }
                };
                if let Some(c) = illegal_char(c.encode_utf8(&mut [0; 4])) {
                    return Err(fail(illegal(c), &stack));
                }
                push_text(&mut stack, c.encode_utf8(&mut [0; 4]), limits, &fail)?;
            }
            Event::Eof => break,
        }
    }
    if let Some(open) = stack.last() {
        return Err(Located {
            error: MhlwError::Xml(format!(
                "the document ends inside <{}> (truncated?)",
                open.name
            )),
            line: Some(lines.at(bytes.len() as u64)),
            element: path_of(&stack),
        });
    }
    root.ok_or(Located {
        error: MhlwError::Xml("no root element".into()),
        line: None,
        element: None,
    })
}

fn push_text(
    stack: &mut [Element],
    text: &str,
    limits: &Limits,
    fail: &impl Fn(MhlwError, &[Element]) -> Located,
) -> Result<(), Located> {
    if let Some(c) = illegal_char(text) {
        return Err(fail(illegal(c), stack));
    }
    let Some(current) = stack.last_mut() else {
        if text.chars().all(|c| matches!(c, ' ' | '\t' | '\n' | '\r')) {
            return Ok(());
        }
        return Err(fail(
            MhlwError::Xml("text outside the root element".into()),
            stack,
        ));
    };
    match current.children.last_mut() {
        Some(Node::Text(existing)) => {
            if existing.len() + text.len() > limits.max_text_bytes {
                return Err(fail(
                    MhlwError::TextTooLong {
                        limit: limits.max_text_bytes,
                    },
                    stack,
                ));
            }
            existing.push_str(text);
        }
        _ => {
            if text.len() > limits.max_text_bytes {
                return Err(fail(
                    MhlwError::TextTooLong {
                        limit: limits.max_text_bytes,
                    },
                    stack,
                ));
            }
            current.children.push(Node::Text(text.to_string()));
        }
    }
    Ok(())
}

fn illegal(c: char) -> MhlwError {
    MhlwError::Xml(format!(
        "character U+{:04X} is not allowed in XML 1.0",
        u32::from(c)
    ))
}

fn xml_error(error: &quick_xml::Error) -> MhlwError {
    use quick_xml::escape::EscapeError;
    match error {
        quick_xml::Error::Escape(EscapeError::UnrecognizedEntity(_, name)) => {
            MhlwError::UnknownEntity(name.clone())
        }
        other => MhlwError::Xml(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Element, Located> {
        parse(s.as_bytes(), &Limits::default())
    }

    #[test]
    fn builds_a_tree_with_namespaces_and_text() {
        let root = parse_str(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a xmlns=\"urn:x\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n  <b k=\"v&amp;&#9;\" xsi:type=\"PQ\">t&lt;&#13;x<![CDATA[<c>]]></b>\n</a>",
        )
        .unwrap();
        assert_eq!(root.name, "a");
        assert_eq!(root.ns.as_deref(), Some("urn:x"));
        let b = root.child("b").unwrap();
        assert_eq!(b.line, 3);
        assert_eq!(b.attr("k"), Some("v&\t"));
        assert_eq!(b.text(), "t<\rx<c>");
        assert_eq!(
            b.xsi_type,
            Some((Some("urn:x".to_string()), "PQ".to_string()))
        );
    }

    #[test]
    fn refuses_doctype_and_entities() {
        let err = parse_str("<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>").unwrap_err();
        assert!(matches!(err.error, MhlwError::Doctype));
        let err = parse_str("<a>&x;</a>").unwrap_err();
        assert!(matches!(err.error, MhlwError::UnknownEntity(ref n) if n == "x"));
        let err = parse_str("<a k=\"&x;\"/>").unwrap_err();
        assert!(
            matches!(err.error, MhlwError::UnknownEntity(_)),
            "{:?}",
            err.error
        );
    }

    #[test]
    fn refuses_other_encodings_and_versions() {
        let err = parse_str("<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><a/>").unwrap_err();
        assert!(matches!(err.error, MhlwError::Encoding(_)));
        let err = parse_str("<?xml version=\"1.1\"?><a/>").unwrap_err();
        assert!(matches!(err.error, MhlwError::Xml(_)));
    }

    #[test]
    fn limits_apply() {
        let limits = Limits {
            max_depth: 3,
            max_text_bytes: 4,
            max_attributes: 2,
            max_elements: 3,
            ..Limits::default()
        };
        let e = parse(b"<a><b><c><d/></c></b></a>", &limits).unwrap_err();
        assert!(matches!(e.error, MhlwError::TooDeep { limit: 3 }));
        assert_eq!(e.element.as_deref(), Some("a/b/c"));
        let e = parse(b"<a>12345</a>", &limits).unwrap_err();
        assert!(matches!(e.error, MhlwError::TextTooLong { .. }));
        let e = parse(b"<a>12&#51;45</a>", &limits).unwrap_err();
        assert!(matches!(e.error, MhlwError::TextTooLong { .. }));
        let e = parse(b"<a x=\"12345\"/>", &limits).unwrap_err();
        assert!(matches!(e.error, MhlwError::TextTooLong { .. }));
        let e = parse(b"<a x=\"1\" y=\"2\" z=\"3\"/>", &limits).unwrap_err();
        assert!(matches!(e.error, MhlwError::TooManyAttributes { .. }));
        let e = parse(b"<a><b/><b/><b/></a>", &limits).unwrap_err();
        assert!(matches!(e.error, MhlwError::TooManyElements { .. }));
    }

    #[test]
    fn malformed_documents() {
        for bad in [
            "<a><b></a>",
            "<a>",
            "",
            "<a/><b/>",
            "text<a/>",
            "<a x=\"1\" x=\"2\"/>",
            "<p:a/>",
            "<a>\u{1}</a>",
            "<a>&#1;</a>",
        ] {
            let err = parse_str(bad).unwrap_err();
            assert!(
                matches!(err.error, MhlwError::Xml(_)),
                "{bad:?}: {:?}",
                err.error
            );
        }
    }
}
