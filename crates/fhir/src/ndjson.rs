//! Bundles streamed one per line (NDJSON).

use std::io::{BufWriter, Write};

use kenshin_profile::{CheckupRecord, Profile};

use crate::{bundle, FhirError, ReportingContext};

/// Writes one document Bundle per record, one per line, as it is given: memory does not grow
/// with the number of records.
///
/// Records are numbered from [`ReportingContext::first_sequence`]; a record that cannot be
/// written (a [`FhirError`] other than I/O) is refused whole, leaves no partial line and
/// takes no number. After an I/O error the output may end in a partial line, so the writer
/// refuses further records ([`FhirError::Poisoned`]).
pub struct NdjsonWriter<W: Write> {
    profile: Profile,
    ctx: ReportingContext,
    out: BufWriter<W>,
    written: u64,
    poisoned: bool,
}

impl<W: Write> NdjsonWriter<W> {
    /// A writer of bundles of records in `profile`, reported as `ctx` says, into `out`
    /// (buffered here; [`finish`](Self::finish) flushes and hands `out` back).
    pub fn new(profile: &Profile, ctx: ReportingContext, out: W) -> NdjsonWriter<W> {
        NdjsonWriter {
            profile: profile.clone(),
            ctx,
            out: BufWriter::new(out),
            written: 0,
            poisoned: false,
        }
    }

    /// Writes the record's Bundle as one line.
    pub fn write(&mut self, record: &CheckupRecord) -> Result<(), FhirError> {
        if self.poisoned {
            return Err(FhirError::Poisoned);
        }
        let seq = self.ctx.first_sequence.wrapping_add(self.written);
        let bundle = bundle(record, &self.profile, &self.ctx, seq)?;
        let result = serde_json::to_writer(&mut self.out, &bundle)
            .map_err(std::io::Error::from)
            .and_then(|()| self.out.write_all(b"\n"));
        if let Err(e) = result {
            self.poisoned = true;
            return Err(FhirError::Io(e));
        }
        self.written += 1;
        Ok(())
    }

    /// Bundles written so far.
    pub fn records_written(&self) -> u64 {
        self.written
    }

    /// Flushes the output and returns it.
    pub fn finish(self) -> Result<W, FhirError> {
        if self.poisoned {
            return Err(FhirError::Poisoned);
        }
        self.out
            .into_inner()
            .map_err(|e| FhirError::Io(e.into_error()))
    }
}
