//! The message catalogues: `locales/<lang>.toml`, tables of keys flattened to `table.key`.

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::Lang;

const JA: &str = include_str!("../locales/ja.toml");
const EN: &str = include_str!("../locales/en.toml");

type Catalogue = HashMap<String, String>;

pub(crate) fn parse(source: &str) -> Result<Catalogue, String> {
    let table: toml::Table = source.parse().map_err(|e: toml::de::Error| e.to_string())?;
    let mut out = Catalogue::new();
    flatten("", &table, &mut out)?;
    Ok(out)
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Catalogue) -> Result<(), String> {
    for (key, value) in table {
        let full = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::String(text) => {
                out.insert(full, text.clone());
            }
            toml::Value::Table(inner) => flatten(&full, inner, out)?,
            _ => return Err(format!("{full}: a message must be a string")),
        }
    }
    Ok(())
}

fn catalogue(lang: Lang) -> &'static Catalogue {
    static JA_MAP: OnceLock<Catalogue> = OnceLock::new();
    static EN_MAP: OnceLock<Catalogue> = OnceLock::new();
    let (cell, source) = match lang {
        Lang::Ja => (&JA_MAP, JA),
        Lang::En => (&EN_MAP, EN),
    };
    cell.get_or_init(|| parse(source).unwrap_or_else(|e| panic!("locales/{lang}.toml: {e}")))
}

/// The text of `key` in `lang`; the key itself if the catalogue lacks it (a test makes sure
/// none is missing).
pub fn text(lang: Lang, key: &str) -> &str {
    catalogue(lang).get(key).map_or(key, String::as_str)
}
