//! JSON Lines: one [`AccessRecord`] per line in its serde form (documented in the crate
//! root). Lossless, so it is also the format to re-import or to feed a SIEM.

use std::borrow::Borrow;
use std::io::{BufRead, BufWriter, Write};

use crate::model::AccessRecord;
use crate::Error;

/// Writes one JSON object per record, each followed by `\n`; returns the number of lines.
///
/// serde_json escapes every control character, so a line never contains a raw newline.
pub fn write_jsonl<I, W>(records: I, out: W) -> Result<u64, Error>
where
    I: IntoIterator,
    I::Item: Borrow<AccessRecord>,
    W: Write,
{
    // Many small writes per record; buffer them instead of hitting a socket or file for each.
    let mut out = BufWriter::new(out);
    let mut lines = 0u64;
    for record in records {
        serde_json::to_writer(&mut out, record.borrow())?;
        out.write_all(b"\n")?;
        lines += 1;
    }
    out.flush()?;
    Ok(lines)
}

/// Reads records written by [`write_jsonl`]. Blank lines (e.g. a trailing one) are skipped;
/// each error names its line.
pub fn read_jsonl<R: BufRead>(input: R) -> impl Iterator<Item = Result<AccessRecord, Error>> {
    input.lines().enumerate().filter_map(|(index, line)| {
        let line = match line {
            Ok(line) => line,
            Err(err) => return Some(Err(Error::Io(err))),
        };
        if line.trim().is_empty() {
            return None;
        }
        Some(serde_json::from_str(&line).map_err(|source| Error::Line {
            line: index as u64 + 1,
            source,
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, Actor, ObjectKind, ObjectRef, Outcome};
    use time::macros::datetime;

    #[test]
    fn documented_shape() {
        let record = AccessRecord {
            seq: 1,
            at: datetime!(2025-04-01 18:30:00.25 +09:00),
            org: Some("1310000001".into()),
            actor: Actor::Certificate {
                serial: "0A1B".into(),
                device: "受付端末1".into(),
            },
            session: None,
            source: Some("[2001:db8::1]:443".into()),
            action: Action::SubmissionCreate,
            objects: vec![ObjectRef::new(ObjectKind::Submission, "S1")],
            outcome: Outcome::Success,
            status: Some(201),
            bytes: Some(5),
            detail: None,
        };
        let mut out = Vec::new();
        write_jsonl([&record], &mut out).unwrap();
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            concat!(
                r#"{"seq":1,"at":"2025-04-01T09:30:00.250Z","org":"1310000001","#,
                r#""actor":{"type":"certificate","serial":"0A1B","device":"受付端末1"},"#,
                r#""session":null,"source":"[2001:db8::1]:443","action":"submission_create","#,
                r#""objects":[{"kind":"submission","id":"S1"}],"outcome":"success","#,
                r#""status":201,"bytes":5,"detail":null}"#,
                "\n"
            )
        );
        let back: Vec<_> = read_jsonl(&out[..]).collect::<Result<_, _>>().unwrap();
        assert_eq!(back, vec![record]);
    }

    #[test]
    fn minimal_lines_and_errors() {
        let input = concat!(
            r#"{"seq":2,"at":"2025-04-01T00:00:00Z","actor":{"type":"anonymous"},"#,
            r#""action":"other:probe","outcome":"denied"}"#,
            "\n\n",
            "{not json}\n"
        );
        let mut it = read_jsonl(input.as_bytes());
        let first = it.next().unwrap().unwrap();
        assert_eq!(first.action, Action::Other("probe".into()));
        assert!(first.objects.is_empty() && first.detail.is_none());
        assert!(matches!(it.next(), Some(Err(Error::Line { line: 3, .. }))));
        assert!(it.next().is_none());
    }
}
