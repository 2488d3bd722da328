//! The `std::io` adapters.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use kenshin_crypto::{
    sealed_len, CryptoError, DataKey, IntegrityError, Opener, OpeningReader, Sealer, SealingWriter,
    DEFAULT_CHUNK_SIZE,
};

/// Deterministic, non-repeating-looking test data.
fn data(len: usize) -> Vec<u8> {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

fn seal_with_writer(key: &DataKey, plaintext: &[u8], write_size: usize) -> Vec<u8> {
    let mut writer = SealingWriter::new(key, Vec::new()).unwrap();
    for piece in plaintext.chunks(write_size.max(1)) {
        writer.write_all(piece).unwrap();
    }
    writer.flush().unwrap();
    assert_eq!(writer.plaintext_len(), plaintext.len() as u64);
    writer.finish().unwrap()
}

fn read_all(reader: &mut impl Read) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    reader.read_to_end(&mut out)?;
    Ok(out)
}

fn integrity_of(err: &io::Error) -> IntegrityError {
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
    match err.get_ref().and_then(|e| e.downcast_ref::<CryptoError>()) {
        Some(CryptoError::Integrity(integrity)) => *integrity,
        other => panic!("source is not an integrity error: {other:?}"),
    }
}

#[test]
fn round_trip_over_a_few_mebibytes() {
    let key = DataKey::generate().unwrap();
    let plaintext = data(5 * 1024 * 1024 + 12_345);
    for write_size in [1 << 20, 8192, 100_003, 3 * 1024 * 1024] {
        let sealed = seal_with_writer(&key, &plaintext, write_size);
        assert_eq!(
            sealed.len() as u64,
            sealed_len(plaintext.len() as u64, DEFAULT_CHUNK_SIZE)
        );
        let mut reader = OpeningReader::new(&key, sealed.as_slice());
        assert_eq!(read_all(&mut reader).unwrap(), plaintext);
        // End of file is sticky.
        assert_eq!(reader.read(&mut [0u8; 16]).unwrap(), 0);
    }
}

#[test]
fn io_copy_round_trip_with_a_custom_chunk_size() {
    let key = DataKey::generate().unwrap();
    let plaintext = data(3 * 1024 * 1024);
    let mut writer = SealingWriter::with_chunk_size(&key, 4096, Vec::new()).unwrap();
    io::copy(&mut plaintext.as_slice(), &mut writer).unwrap();
    let sealed = writer.finish().unwrap();
    assert_eq!(
        sealed.len() as u64,
        sealed_len(plaintext.len() as u64, 4096)
    );

    let mut opened = Vec::new();
    io::copy(
        &mut OpeningReader::new(&key, sealed.as_slice()),
        &mut opened,
    )
    .unwrap();
    assert_eq!(opened, plaintext);
}

#[test]
fn adapters_interoperate_with_the_sans_io_api() {
    let key = DataKey::generate().unwrap();
    let plaintext = data(300_000);

    let sealed = seal_with_writer(&key, &plaintext, 7777);
    let mut opened = Vec::new();
    let mut opener = Opener::new(&key);
    opener.update(&sealed, &mut opened).unwrap();
    opener.finish(&mut opened).unwrap();
    assert_eq!(opened, plaintext);

    let mut sealed = Vec::new();
    let mut sealer = Sealer::start(&key, &mut sealed).unwrap();
    sealer.update(&plaintext, &mut sealed).unwrap();
    sealer.finish(&mut sealed).unwrap();
    let opened = read_all(&mut OpeningReader::new(&key, sealed.as_slice())).unwrap();
    assert_eq!(opened, plaintext);
}

#[test]
fn empty_stream_round_trip() {
    let key = DataKey::generate().unwrap();
    let sealed = SealingWriter::new(&key, Vec::new())
        .unwrap()
        .finish()
        .unwrap();
    assert_eq!(sealed.len() as u64, sealed_len(0, DEFAULT_CHUNK_SIZE));
    let opened = read_all(&mut OpeningReader::new(&key, sealed.as_slice())).unwrap();
    assert!(opened.is_empty());
}

#[test]
fn tampering_is_invalid_data_and_stays_an_error() {
    let key = DataKey::generate().unwrap();
    let plaintext = data(200_000);
    let mut sealed = seal_with_writer(&key, &plaintext, 65_536);
    let position = sealed.len() / 2;
    sealed[position] ^= 0x10;

    let mut reader = OpeningReader::new(&key, sealed.as_slice());
    let mut released = Vec::new();
    let err = reader.read_to_end(&mut released).unwrap_err();
    assert!(matches!(
        integrity_of(&err),
        IntegrityError::ChunkAuthentication { .. }
    ));
    assert!(plaintext.starts_with(&released));
    assert!(released.len() < position);
    // A caller that retries must never see a clean end of file.
    for _ in 0..3 {
        let err = reader.read(&mut [0u8; 64]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    }
}

#[test]
fn truncation_is_an_error_not_end_of_file() {
    let key = DataKey::generate().unwrap();
    let plaintext = data(3 * DEFAULT_CHUNK_SIZE);
    let sealed = seal_with_writer(&key, &plaintext, 10_000);
    let frame = DEFAULT_CHUNK_SIZE + 16;
    for cut in [0, 10, 16, 16 + frame, 16 + 2 * frame, sealed.len() - 1] {
        let err = read_all(&mut OpeningReader::new(&key, &sealed[..cut])).unwrap_err();
        integrity_of(&err);
    }
}

#[test]
fn a_writer_dropped_without_finish_yields_a_truncated_stream() {
    let key = DataKey::generate().unwrap();
    let mut sink = Vec::new();
    {
        let mut writer = SealingWriter::new(&key, &mut sink).unwrap();
        writer.write_all(&data(200_000)).unwrap();
        writer.flush().unwrap();
    }
    let err = read_all(&mut OpeningReader::new(&key, sink.as_slice())).unwrap_err();
    assert_eq!(integrity_of(&err), IntegrityError::Truncated);
}

/// A writer that accepts at most `max` bytes per call and, while `failing` is set, fails every
/// `fail_every`-th call, alternating between `Interrupted` and a hard error.
struct Flaky {
    out: Vec<u8>,
    max: usize,
    calls: usize,
    fail_every: usize,
    failing: Rc<Cell<bool>>,
}

impl Write for Flaky {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.failing.get() && self.calls % self.fail_every == 0 {
            return Err(if self.calls % (2 * self.fail_every) == 0 {
                io::Error::from(io::ErrorKind::Interrupted)
            } else {
                io::Error::other("disk hiccup")
            });
        }
        let n = buf.len().min(self.max);
        self.out.extend_from_slice(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn writer_survives_short_writes_and_retried_errors() {
    let key = DataKey::generate().unwrap();
    let plaintext = data(1_000_000);
    let failing = Rc::new(Cell::new(true));
    let flaky = Flaky {
        out: Vec::new(),
        max: 5000,
        calls: 0,
        fail_every: 7,
        failing: Rc::clone(&failing),
    };
    let mut writer = SealingWriter::new(&key, flaky).unwrap();
    let mut rest = plaintext.as_slice();
    let mut hard_errors = 0;
    while !rest.is_empty() {
        match writer.write(&rest[..rest.len().min(50_000)]) {
            Ok(n) => rest = &rest[n..],
            Err(err) => {
                // A failed write consumed nothing; the same bytes are offered again.
                assert_eq!(err.to_string(), "disk hiccup");
                hard_errors += 1;
            }
        }
    }
    while writer.flush().is_err() {
        hard_errors += 1;
    }
    assert!(hard_errors > 0, "the test did not exercise errors");
    failing.set(false);
    let flaky = writer.finish().unwrap();
    let opened = read_all(&mut OpeningReader::new(&key, flaky.out.as_slice())).unwrap();
    assert_eq!(opened, plaintext);
}

/// A reader that returns at most `max` bytes per call and `Interrupted` every third call.
struct Trickle<'a> {
    data: &'a [u8],
    max: usize,
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls % 3 == 0 {
            return Err(io::Error::from(io::ErrorKind::Interrupted));
        }
        let n = buf.len().min(self.max).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn reader_survives_short_reads_and_interruptions() {
    let key = DataKey::generate().unwrap();
    let plaintext = data(150_000);
    let sealed = seal_with_writer(&key, &plaintext, 4096);
    for max in [1, 17, 65_551, 1 << 20] {
        let mut reader = OpeningReader::new(
            &key,
            Trickle {
                data: &sealed,
                max,
                calls: 0,
            },
        );
        // read_to_end retries on Interrupted.
        assert_eq!(read_all(&mut reader).unwrap(), plaintext, "max {max}");
    }
}

#[test]
fn wrong_key_is_invalid_data() {
    let sealed = seal_with_writer(&DataKey::generate().unwrap(), b"hello", 5);
    let err = read_all(&mut OpeningReader::new(
        &DataKey::generate().unwrap(),
        sealed.as_slice(),
    ))
    .unwrap_err();
    assert_eq!(
        integrity_of(&err),
        IntegrityError::ChunkAuthentication { chunk: 0 }
    );
}
