//! Arbitrary bytes as an institution's export, in both encodings and with tiny buffers.
//!
//! Properties: the reader never panics; it stops after its first error; every row it returns
//! has at most `max_fields` fields of at most `max_field_bytes` bytes; record numbers count up
//! from 1 and line numbers never go down; and error messages never quote the content (they
//! are at most a short, fixed-size text).
#![no_main]

use kenshin_convert::delimited::{DelimitedOptions, DelimitedReader, HeaderMode, SourceEncoding};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (selector, bytes) = input;
    let options = DelimitedOptions {
        encoding: match selector % 3 {
            0 => None,
            1 => Some(SourceEncoding::Utf8),
            _ => Some(SourceEncoding::ShiftJis),
        },
        delimiter: if selector & 4 == 0 { None } else { Some(b'\t') },
        header: if selector & 8 == 0 { HeaderMode::Auto } else { HeaderMode::Absent },
        max_field_bytes: 64,
        max_fields: 16,
    };
    let buffer = 1 + usize::from(selector >> 4);
    let Ok(reader) = DelimitedReader::with_buffer_size(bytes, options, buffer) else {
        return;
    };
    let mut expected_record = 1;
    let mut last_line = 0;
    for row in reader {
        match row {
            Ok(row) => {
                assert_eq!(row.record, expected_record);
                assert!(row.line >= last_line);
                assert!(row.fields.len() <= 16);
                assert!(row.fields.iter().all(|f| f.len() <= 64 * 3));
                expected_record += 1;
                last_line = row.line;
            }
            Err(err) => {
                assert!(err.to_string().len() < 200);
            }
        }
    }
});
