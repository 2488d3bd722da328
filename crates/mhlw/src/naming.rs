//! File and folder names of a submission archive, and the safety rules for entry names.
//!
//! Layout written (see docs/MHLW_XML.md for the sources and assumptions):
//!
//! ```text
//! {root}/                      root = {送付元}_{送付先}_{作成年月日}{同日作成回数}_{実施区分}
//! {root}/ix08_V08.xml          交換用基本情報
//! {root}/su08_V08.xml          集計情報
//! {root}/DATA/h{送付元}{作成年月日}{同日作成回数}{実施区分}{通番:06}.xml
//! {root}/XSD/...               only when schema files are supplied
//! ```

use time::Date;

pub const INDEX_FILE: &str = "ix08_V08.xml";
pub const SUMMARY_FILE: &str = "su08_V08.xml";
pub const DATA_DIR: &str = "DATA";
pub const CLAIMS_DIR: &str = "CLAIMS";
pub const XSD_DIR: &str = "XSD";

pub(crate) fn yyyymmdd(date: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

/// A relative path the writer may put below a folder it owns: `/`-separated components of
/// ASCII letters, digits, `.`, `_` and `-`, none of them `.` or `..`.
pub(crate) fn check_relative_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() {
        return Err("empty path");
    }
    for component in path.split('/') {
        if component.is_empty() || component == "." || component == ".." {
            return Err("empty, '.' or '..' path component");
        }
        if !component
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
        {
            return Err("only ASCII letters, digits, '.', '_' and '-' are allowed");
        }
    }
    Ok(())
}

/// Why an entry name read from an archive is refused, if it is. The reader never extracts to
/// disk, but names are still checked so that an archive it accepts is safe for any tool that
/// does, and so that two spellings of one path cannot smuggle a second copy of a file.
pub(crate) fn unsafe_entry_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        return Some("empty name");
    }
    if name.len() > 1024 {
        return Some("longer than 1024 bytes");
    }
    if name.starts_with('/') {
        return Some("absolute path");
    }
    if name.contains('\\') {
        return Some("contains a backslash (a Windows path separator)");
    }
    if name.contains(':') {
        // Drive letters (C:), alternate data streams (a:b) and URL-like names.
        return Some("contains ':' (drive letter or stream name)");
    }
    if name.chars().any(|c| c.is_control()) {
        return Some("contains a control character");
    }
    // A trailing '/' marks a folder entry; any other empty component is suspicious.
    let trimmed = name.strip_suffix('/').unwrap_or(name);
    for component in trimmed.split('/') {
        match component {
            "" => return Some("empty path component ('//')"),
            "." => return Some("'.' path component"),
            ".." => return Some("'..' path component (path traversal)"),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsafe_names_are_recognised() {
        for bad in [
            "../evil.xml",
            "root/../../evil.xml",
            "/abs.xml",
            "C:\\evil.xml",
            "C:/evil.xml",
            "root\\DATA\\h1.xml",
            "root//DATA/h1.xml",
            "root/./DATA/h1.xml",
            "",
            "root/DATA/h\u{0}.xml",
        ] {
            assert!(unsafe_entry_name(bad).is_some(), "{bad:?} accepted");
        }
        for good in [
            "1399999901_06999901_202504011_1/",
            "1399999901_06999901_202504011_1/DATA/h13999999012025040111000001.xml",
            "ix08_V08.xml",
        ] {
            assert_eq!(unsafe_entry_name(good), None, "{good:?} refused");
        }
    }

    #[test]
    fn relative_paths_for_written_entries() {
        assert!(check_relative_path("coreschemas/voc_hcgv08.xsd").is_ok());
        assert!(check_relative_path("../x.xsd").is_err());
        assert!(check_relative_path("a//b.xsd").is_err());
        assert!(check_relative_path("ｘ.xsd").is_err());
    }
}
