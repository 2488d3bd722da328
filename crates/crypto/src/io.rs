//! `std::io` adapters over [`Sealer`] and [`Opener`].

use core::fmt;
use std::io::{self, Read, Write};

use zeroize::Zeroizing;

use crate::{CryptoError, DataKey, Opener, Sealer, DEFAULT_CHUNK_SIZE};

/// Most plaintext a single [`SealingWriter::write`] call accepts. `write` may legally accept
/// less than it is offered (`write_all` loops), and capping it bounds the ciphertext the
/// writer holds before handing it to the inner writer, however large the caller's buffer.
const MAX_WRITE: usize = 1024 * 1024;

/// Ciphertext read from the inner reader per call of [`OpeningReader::read`].
const READ_BUFFER_LEN: usize = 256 * 1024;

/// Encrypts everything written to it into `W`.
///
/// Call [`finish`](Self::finish) at the end: it seals the final chunk. A writer that is
/// dropped without `finish` leaves a stream without a final chunk, which every reader rejects
/// as truncated, so a crash mid-write can never yield an object that opens to a prefix.
///
/// Like `BufWriter`, the writer keeps ciphertext it could not yet hand to `W` and retries on
/// the next `write`, `flush` or `finish`. `flush` pushes out complete chunks only: the tail of
/// the plaintext stays buffered (at most one chunk) until more data or `finish` decides
/// whether it is the last chunk.
pub struct SealingWriter<W: Write> {
    inner: W,
    sealer: Sealer,
    /// Ciphertext produced but not yet accepted by `inner`, from `written` on.
    pending: Vec<u8>,
    written: usize,
}

impl<W: Write> SealingWriter<W> {
    /// Starts a stream with [`DEFAULT_CHUNK_SIZE`]. Nothing is written to `inner` until the
    /// first `write`, `flush` or `finish`.
    ///
    /// # Errors
    /// As [`Sealer::start`].
    pub fn new(key: &DataKey, inner: W) -> Result<Self, CryptoError> {
        Self::with_chunk_size(key, DEFAULT_CHUNK_SIZE, inner)
    }

    /// Starts a stream with the given chunk size (for tests and benchmarks).
    ///
    /// # Errors
    /// As [`Sealer::start_with_chunk_size`].
    pub fn with_chunk_size(
        key: &DataKey,
        chunk_size: usize,
        inner: W,
    ) -> Result<Self, CryptoError> {
        // Ciphertext is not secret, so this buffer may simply grow to its working size.
        let mut pending = Vec::new();
        let sealer = Sealer::start_with_chunk_size(key, chunk_size, &mut pending)?;
        Ok(Self {
            inner,
            sealer,
            pending,
            written: 0,
        })
    }

    /// Seals the final chunk, writes all remaining ciphertext, flushes and returns the inner
    /// writer. Only after this returns `Ok` does `W` hold a complete, openable stream.
    ///
    /// # Errors
    /// Any error of the inner writer, or of [`Sealer::finish`] (as `io::Error`).
    pub fn finish(mut self) -> io::Result<W> {
        self.drain()?;
        let Self {
            mut inner,
            sealer,
            mut pending,
            ..
        } = self;
        pending.clear();
        sealer.finish(&mut pending)?;
        inner.write_all(&pending)?;
        inner.flush()?;
        Ok(inner)
    }

    /// Plaintext bytes accepted so far.
    #[must_use]
    pub fn plaintext_len(&self) -> u64 {
        self.sealer.plaintext_len()
    }

    /// The inner writer. Writing to it directly would corrupt the stream.
    #[must_use]
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// Hands all produced ciphertext to the inner writer.
    fn drain(&mut self) -> io::Result<()> {
        while self.written < self.pending.len() {
            match self.inner.write(&self.pending[self.written..]) {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::WriteZero,
                        "inner writer accepted no ciphertext",
                    ))
                }
                Ok(n) => self.written += n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
        self.pending.clear();
        self.written = 0;
        Ok(())
    }
}

impl<W: Write> Write for SealingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // Earlier ciphertext goes first; if it cannot be written, nothing new is accepted.
        self.drain()?;
        let accepted = buf.len().min(MAX_WRITE);
        self.sealer.update(&buf[..accepted], &mut self.pending)?;
        Ok(accepted)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.drain()?;
        self.inner.flush()
    }
}

impl<W: Write> fmt::Debug for SealingWriter<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingWriter")
            .field("sealer", &self.sealer)
            .field("pending", &(self.pending.len() - self.written))
            .finish_non_exhaustive()
    }
}

enum ReaderState {
    Opening(Opener),
    /// The final chunk verified; the stream is complete.
    Done,
    /// An error was reported; every later read fails too, so a caller that retries can never
    /// mistake a rejected stream for a clean end of file.
    Failed,
}

/// Decrypts a sealed stream read from `R`.
///
/// Plaintext is returned chunk by chunk as each chunk authenticates; authentication failures
/// surface as `io::ErrorKind::InvalidData` errors whose source is the [`CryptoError`].
///
/// End of file (`Ok(0)`) is returned only after the final chunk has verified, so reading to
/// EOF without error proves the whole object authentic. A consumer that acts on plaintext
/// before EOF must be ready to undo that if a later read fails.
pub struct OpeningReader<R: Read> {
    inner: R,
    state: ReaderState,
    /// Ciphertext read buffer.
    input: Box<[u8]>,
    /// Authenticated plaintext not yet returned, from `position` on. Zeroized on drop.
    plaintext: Zeroizing<Vec<u8>>,
    position: usize,
}

impl<R: Read> OpeningReader<R> {
    /// Creates a reader that decrypts the stream read from `inner` with `key`.
    #[must_use]
    pub fn new(key: &DataKey, inner: R) -> Self {
        Self {
            inner,
            state: ReaderState::Opening(Opener::new(key)),
            input: vec![0u8; READ_BUFFER_LEN].into_boxed_slice(),
            plaintext: Zeroizing::new(Vec::with_capacity(READ_BUFFER_LEN + DEFAULT_CHUNK_SIZE)),
            position: 0,
        }
    }

    /// The inner reader.
    #[must_use]
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// Reads and opens more ciphertext until some plaintext is available or the stream ends.
    fn fill(&mut self) -> io::Result<()> {
        self.plaintext.clear();
        self.position = 0;
        while self.plaintext.is_empty() {
            // The state is `Failed` while the opener is out; any early error return leaves it so.
            let mut opener = match core::mem::replace(&mut self.state, ReaderState::Failed) {
                ReaderState::Opening(opener) => opener,
                ReaderState::Done => {
                    self.state = ReaderState::Done;
                    return Ok(());
                }
                ReaderState::Failed => return Err(CryptoError::Poisoned.into()),
            };
            let read = match self.inner.read(&mut self.input) {
                Ok(read) => read,
                Err(err) => {
                    // Nothing was consumed: the stream is intact and the caller may retry.
                    self.state = ReaderState::Opening(opener);
                    return Err(err);
                }
            };
            self.state = if read == 0 {
                opener.finish(&mut self.plaintext)?;
                ReaderState::Done
            } else {
                opener.update(&self.input[..read], &mut self.plaintext)?;
                ReaderState::Opening(opener)
            };
        }
        Ok(())
    }
}

impl<R: Read> Read for OpeningReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if let ReaderState::Failed = self.state {
            return Err(CryptoError::Poisoned.into());
        }
        if self.position == self.plaintext.len() {
            self.fill()?;
        }
        let available = &self.plaintext[self.position..];
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.position += n;
        Ok(n)
    }
}

impl<R: Read> fmt::Debug for OpeningReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            ReaderState::Opening(opener) => format!("{opener:?}"),
            ReaderState::Done => "Done".to_owned(),
            ReaderState::Failed => "Failed".to_owned(),
        };
        f.debug_struct("OpeningReader")
            .field("state", &state)
            .field(
                "buffered_plaintext",
                &(self.plaintext.len() - self.position),
            )
            .finish_non_exhaustive()
    }
}
