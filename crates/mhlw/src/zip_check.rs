//! Checks on a ZIP file made before the ZIP library parses it: the end-of-central-directory
//! record is read by hand so that the entry count and directory size are refused before
//! anything is allocated for them.

use std::io::{Read, Seek, SeekFrom};

use crate::{Limits, MhlwError};

const EOCD_SIG: [u8; 4] = *b"PK\x05\x06";
const EOCD64_LOCATOR_SIG: [u8; 4] = *b"PK\x06\x07";
const EOCD64_SIG: [u8; 4] = *b"PK\x06\x06";
const LOCAL_HEADER_SIG: [u8; 4] = *b"PK\x03\x04";
const EOCD_LEN: usize = 22;
const EOCD64_LOCATOR_LEN: usize = 20;
const EOCD64_LEN: usize = 56;

/// What the end records say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Directory {
    pub(crate) entries: u64,
    pub(crate) size: u64,
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut le = [0u8; 8];
    le.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(le)
}

/// Reads the end records and applies the entry-count and directory-size limits. Leaves the
/// reader at an unspecified position.
pub(crate) fn precheck<R: Read + Seek>(r: &mut R, limits: &Limits) -> Result<Directory, MhlwError> {
    let len = r.seek(SeekFrom::End(0))?;
    let mut head = [0u8; 4];
    let starts_like_zip = if len >= 4 {
        r.seek(SeekFrom::Start(0))?;
        r.read_exact(&mut head)?;
        head == LOCAL_HEADER_SIG || head == EOCD_SIG
    } else {
        false
    };
    let not_found = |what: &str| {
        if starts_like_zip {
            MhlwError::CorruptZip(format!(
                "{what}: the file starts like a ZIP archive but is truncated or damaged"
            ))
        } else {
            MhlwError::NotZip(format!("{what} ({len} bytes)"))
        }
    };
    if len < EOCD_LEN as u64 {
        return Err(not_found("too short for a ZIP archive"));
    }
    // The record is 22 bytes plus a comment of at most 65,535 bytes, preceded by the ZIP64
    // locator when there is one.
    let tail_len = len.min((EOCD_LEN + 0xFFFF + EOCD64_LOCATOR_LEN) as u64) as usize;
    let tail_start = len - tail_len as u64;
    let mut tail = vec![0u8; tail_len];
    r.seek(SeekFrom::Start(tail_start))?;
    r.read_exact(&mut tail)?;
    // The record nearest the end whose comment ends exactly at the end of the file.
    let eocd = (0..=tail_len - EOCD_LEN)
        .rev()
        .find(|&pos| {
            tail[pos..pos + 4] == EOCD_SIG
                && pos + EOCD_LEN + usize::from(u16_at(&tail, pos + 20)) == tail_len
        })
        .ok_or_else(|| not_found("no end-of-central-directory record"))?;
    let rec = &tail[eocd..eocd + EOCD_LEN];
    let disk = u16_at(rec, 4);
    let directory_disk = u16_at(rec, 6);
    let mut entries_here = u64::from(u16_at(rec, 8));
    let mut entries = u64::from(u16_at(rec, 10));
    let mut size = u64::from(u32_at(rec, 12));
    let mut offset = u64::from(u32_at(rec, 16));

    let locator = eocd
        .checked_sub(EOCD64_LOCATOR_LEN)
        .filter(|&at| tail[at..at + 4] == EOCD64_LOCATOR_SIG);
    if let Some(at) = locator {
        let eocd64_offset = u64_at(&tail, at + 8);
        if eocd64_offset
            .checked_add(EOCD64_LEN as u64)
            .is_none_or(|end| end > len)
        {
            return Err(MhlwError::CorruptZip(
                "the ZIP64 end record lies outside the file".into(),
            ));
        }
        let mut rec64 = [0u8; EOCD64_LEN];
        r.seek(SeekFrom::Start(eocd64_offset))?;
        r.read_exact(&mut rec64)?;
        if rec64[..4] != EOCD64_SIG {
            return Err(MhlwError::CorruptZip(
                "the ZIP64 locator does not point at a ZIP64 end record".into(),
            ));
        }
        if u32_at(&rec64, 16) != 0 || u32_at(&rec64, 20) != 0 {
            return Err(MhlwError::CorruptZip(
                "multi-volume archives are not accepted".into(),
            ));
        }
        entries_here = u64_at(&rec64, 24);
        entries = u64_at(&rec64, 32);
        size = u64_at(&rec64, 40);
        offset = u64_at(&rec64, 48);
    } else if disk != 0 || directory_disk != 0 {
        return Err(MhlwError::CorruptZip(
            "multi-volume archives are not accepted".into(),
        ));
    }
    if entries != entries_here {
        return Err(MhlwError::CorruptZip(format!(
            "the end record counts {entries} entries in total but {entries_here} on this disk"
        )));
    }
    if entries > limits.max_entries {
        return Err(MhlwError::TooManyEntries {
            found: entries,
            limit: limits.max_entries,
        });
    }
    if size > limits.max_central_directory_bytes() {
        return Err(MhlwError::CentralDirectoryTooLarge {
            size,
            limit: limits.max_central_directory_bytes(),
        });
    }
    if offset.checked_add(size).is_none_or(|end| end > len) {
        return Err(MhlwError::CorruptZip(format!(
            "the central directory ({size} bytes at offset {offset}) lies outside the {len}-byte file (truncated?)"
        )));
    }
    Ok(Directory { entries, size })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn eocd(entries: u16, size: u32, offset: u32, comment: &[u8]) -> Vec<u8> {
        let mut v = EOCD_SIG.to_vec();
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&0u16.to_le_bytes());
        v.extend_from_slice(&entries.to_le_bytes());
        v.extend_from_slice(&entries.to_le_bytes());
        v.extend_from_slice(&size.to_le_bytes());
        v.extend_from_slice(&offset.to_le_bytes());
        v.extend_from_slice(&(comment.len() as u16).to_le_bytes());
        v.extend_from_slice(comment);
        v
    }

    #[test]
    fn empty_archive_and_comment() {
        let d = precheck(
            &mut Cursor::new(eocd(0, 0, 0, b"hello")),
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(
            d,
            Directory {
                entries: 0,
                size: 0
            }
        );
    }

    #[test]
    fn refuses_counts_over_the_limit_before_parsing() {
        let limits = Limits {
            max_entries: 10,
            ..Limits::default()
        };
        let mut file = vec![0u8; 100];
        file.extend(eocd(11, 50, 10, b""));
        let err = precheck(&mut Cursor::new(file), &limits).unwrap_err();
        assert!(matches!(
            err,
            MhlwError::TooManyEntries {
                found: 11,
                limit: 10
            }
        ));
    }

    #[test]
    fn not_zip_versus_truncated() {
        let err = precheck(
            &mut Cursor::new(b"plain text, not an archive".to_vec()),
            &Limits::default(),
        )
        .unwrap_err();
        assert!(matches!(err, MhlwError::NotZip(_)), "{err:?}");
        let mut truncated = LOCAL_HEADER_SIG.to_vec();
        truncated.extend_from_slice(&[0u8; 40]);
        let err = precheck(&mut Cursor::new(truncated), &Limits::default()).unwrap_err();
        assert!(matches!(err, MhlwError::CorruptZip(_)), "{err:?}");
    }

    #[test]
    fn directory_outside_the_file() {
        let err =
            precheck(&mut Cursor::new(eocd(1, 1000, 0, b"")), &Limits::default()).unwrap_err();
        assert!(matches!(err, MhlwError::CorruptZip(_)), "{err:?}");
    }
}
