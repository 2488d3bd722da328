//! Kenshin Relay's web pages as data: the templates, the Japanese and English message
//! catalogues, the static assets (one stylesheet, one script) and server-rendered SVG charts.
//!
//! Nothing here does I/O or knows HTTP or storage: the server's `web` module gathers the
//! data a page shows, checks who may see it, and asks [`Pages::render`] for the HTML. Every
//! text a person reads comes from a catalogue (`locales/ja.toml`, `locales/en.toml`), so the
//! two languages cannot drift apart unnoticed — a test checks that both catalogues have the
//! same keys and that every key the templates use exists.
//!
//! Templates are autoescaped (minijinja escapes `.html` templates), contain no inline script
//! or style (the pages are served with a CSP that forbids both), and use `t("key")` for text.

mod catalogue;
pub mod chart;
mod format;

use std::fmt;

use minijinja::{Environment, State, Value};

pub use catalogue::text;

/// The language of a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Lang {
    /// 日本語, the default.
    #[default]
    Ja,
    /// English.
    En,
}

impl Lang {
    /// `ja` or `en` (the `lang` attribute and the cookie value).
    pub fn code(self) -> &'static str {
        match self {
            Lang::Ja => "ja",
            Lang::En => "en",
        }
    }

    /// `ja` or `en`; anything else is `None`.
    pub fn parse(code: &str) -> Option<Lang> {
        match code {
            "ja" => Some(Lang::Ja),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The preferred of the two in an `Accept-Language` header: Japanese unless English
    /// comes first.
    pub fn from_accept_language(header: &str) -> Lang {
        for range in header.split(',') {
            let tag = range
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            if tag.starts_with("ja") {
                return Lang::Ja;
            }
            if tag.starts_with("en") {
                return Lang::En;
            }
        }
        Lang::Ja
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// A page could not be rendered (a bug: templates are fixed at build time).
#[derive(Debug, thiserror::Error)]
#[error("page {page}: {source}")]
pub struct RenderError {
    page: String,
    #[source]
    source: minijinja::Error,
}

/// The templates of every page, i.e. `(name, source)`.
const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("macros.html", include_str!("../templates/macros.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("setup.html", include_str!("../templates/setup.html")),
    ("home.html", include_str!("../templates/home.html")),
    (
        "submissions.html",
        include_str!("../templates/submissions.html"),
    ),
    (
        "submission.html",
        include_str!("../templates/submission.html"),
    ),
    ("report.html", include_str!("../templates/report.html")),
    ("people.html", include_str!("../templates/people.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("audit.html", include_str!("../templates/audit.html")),
    ("maps.html", include_str!("../templates/maps.html")),
    (
        "certificates.html",
        include_str!("../templates/certificates.html"),
    ),
    ("upload.html", include_str!("../templates/upload.html")),
    ("inbox.html", include_str!("../templates/inbox.html")),
    ("delivery.html", include_str!("../templates/delivery.html")),
    ("history.html", include_str!("../templates/history.html")),
    ("ops.html", include_str!("../templates/ops.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("ledger.html", include_str!("../templates/ledger.html")),
    (
        "organisation.html",
        include_str!("../templates/organisation.html"),
    ),
];

/// The static files: `(path under /static/, content type, bytes)`.
pub const STATIC_FILES: &[(&str, &str, &[u8])] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../static/app.js"),
    ),
];

/// The pages, ready to render.
pub struct Pages {
    env: Environment<'static>,
}

impl Default for Pages {
    fn default() -> Self {
        Self::new()
    }
}

impl Pages {
    pub fn new() -> Pages {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
        env.add_function("t", |state: &State, key: &str| -> String {
            text(lang_of(state), key).to_owned()
        });
        env.add_filter("when", |state: &State, value: Value| -> String {
            format::when(&value.to_string(), lang_of(state))
        });
        env.add_filter("bytes", |value: Value| -> String {
            format::bytes(u64::try_from(value).unwrap_or(0))
        });
        env.add_filter(
            "remaining",
            |state: &State, value: Value, now: Value| -> String {
                format::remaining(&value.to_string(), &now.to_string(), lang_of(state))
            },
        );
        Pages { env }
    }

    /// Renders page `name` in `lang` with `context` (a JSON object; `lang` is added).
    pub fn render(
        &self,
        name: &str,
        lang: Lang,
        context: serde_json::Value,
    ) -> Result<String, RenderError> {
        let error = |source| RenderError {
            page: name.to_owned(),
            source,
        };
        let template = self.env.get_template(name).map_err(error)?;
        let mut context = context;
        if let Some(map) = context.as_object_mut() {
            map.insert("lang".into(), lang.code().into());
        }
        template
            .render(Value::from_serialize(&context))
            .map_err(error)
    }

    /// The template names, for tests that render every page.
    pub fn names() -> impl Iterator<Item = &'static str> {
        TEMPLATES.iter().map(|(name, _)| *name)
    }

    /// The template sources, for the catalogue check.
    pub fn sources() -> impl Iterator<Item = (&'static str, &'static str)> {
        TEMPLATES.iter().copied()
    }
}

fn lang_of(state: &State) -> Lang {
    state
        .lookup("lang")
        .and_then(|v| v.as_str().and_then(Lang::parse))
        .unwrap_or_default()
}
