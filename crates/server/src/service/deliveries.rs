//! The receiver's side, as a caller asks for it: the inbox, one delivery, the download and
//! 受信完了. Rights come from the permission matrix; another organisation's delivery is not
//! found.

use bytes::Bytes;
use futures::Stream;
use kenshin_auth::{Action, Resource};
use kenshin_core::api::DeliveryView;
use kenshin_core::{DeliveryId, EventKind};
use kenshin_store::{DeliveryRecord, ListFilter};

use super::{ledger, relay, views, Caller, Error, Refusal};
use crate::state::AppState;

/// A page of the caller's organisation's deliveries, and how many there are in all.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: &ListFilter,
) -> Result<(Vec<DeliveryView>, u64), Error> {
    caller.require(Resource::Delivery, Action::Read)?;
    let (records, total) = state.db.list_deliveries(caller.org.id, filter).await?;
    Ok((records.into_iter().map(views::delivery).collect(), total))
}

/// One of the caller's organisation's deliveries.
pub async fn show(
    state: &AppState,
    caller: &Caller,
    id: DeliveryId,
) -> Result<DeliveryView, Error> {
    caller.require(Resource::Delivery, Action::Read)?;
    Ok(views::delivery(state.db.delivery(caller.org.id, id).await?))
}

/// The content of one of the caller's organisation's deliveries, decrypted while it streams
/// (see [`relay::download`]).
pub async fn download(
    state: &AppState,
    caller: &Caller,
    id: DeliveryId,
) -> Result<
    (
        DeliveryRecord,
        impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ),
    Error,
> {
    caller.require(Resource::DeliveryContent, Action::Download)?;
    relay::download(state, &caller.org, id, &caller.actor()).await
}

/// 受信完了: the content is destroyed. Answers the delivery with its ledger receipt when the
/// ledger could give one.
pub async fn confirm(
    state: &AppState,
    caller: &Caller,
    id: DeliveryId,
) -> Result<DeliveryView, Error> {
    caller.require(Resource::Delivery, Action::Confirm)?;
    let delivery = relay::confirm(state, &caller.org, id, &caller.actor()).await?;
    tracing::info!(delivery = %id, receiver = %caller.org.code, "receipt confirmed; content destroyed");
    let mut view = views::delivery(delivery);
    view.receipt =
        ledger::receipt(state, &view.submission_id.to_string(), EventKind::Confirmed).await;
    Ok(view)
}

/// A receiver's search as people type it: the sender's code, a first and a last day
/// (`YYYY-MM-DD`, days in JST, both included), a 保険者番号, a format (or `pass-through`).
/// Empty fields match all.
pub fn search(
    sender: Option<&str>,
    from: Option<&str>,
    until: Option<&str>,
    insurer_number: Option<&str>,
    format: Option<&str>,
) -> Result<kenshin_store::DeliverySearch, Error> {
    let given = |v: Option<&str>| {
        v.map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let day =
        |field: &'static str, v: Option<&str>| -> Result<Option<time::OffsetDateTime>, Error> {
            match given(v) {
                None => Ok(None),
                Some(text) => {
                    let date = time::Date::parse(
                        &text,
                        time::macros::format_description!("[year]-[month]-[day]"),
                    )
                    .map_err(|_| Refusal::BadDate(field))?;
                    Ok(Some(
                        date.midnight().assume_offset(time::macros::offset!(+9)),
                    ))
                }
            }
        };
    let format = given(format);
    if let Some(f) = &format {
        if f != "pass-through" && f.parse::<kenshin_convert::OutputFormat>().is_err() {
            return Err(Refusal::UnknownOutputFormat(f.clone()).into());
        }
    }
    let insurer_number = given(insurer_number);
    if let Some(n) = &insurer_number {
        if n.len() != 8 || !n.bytes().all(|b| b.is_ascii_digit()) {
            return Err(Refusal::BadInsurerNumber.into());
        }
    }
    Ok(kenshin_store::DeliverySearch {
        sender: given(sender),
        from: day("from", from)?,
        // The last day is included: before the next day's start.
        until: day("to", until)?.map(|d| d + time::Duration::days(1)),
        insurer_number,
        format,
    })
}

/// At most this many deliveries in one bulk download or one bulk 受信完了.
pub const MAX_BULK: usize = 500;

/// What a bulk 受信完了 did with one delivery.
#[derive(Debug)]
pub struct BulkOutcome {
    pub id: DeliveryId,
    pub result: Result<DeliveryView, Error>,
}

/// 受信完了 for several deliveries in one step; each is confirmed (and recorded in the
/// ledger) as a single one is, and one that cannot be confirmed does not stop the others.
pub async fn confirm_all(
    state: &AppState,
    caller: &Caller,
    ids: &[DeliveryId],
) -> Result<Vec<BulkOutcome>, Error> {
    caller.require(Resource::Delivery, Action::Confirm)?;
    if ids.len() > MAX_BULK {
        return Err(Error::TooLarge {
            limit: MAX_BULK as u64,
        });
    }
    let mut outcomes = Vec::with_capacity(ids.len());
    for &id in unique(ids).iter() {
        outcomes.push(BulkOutcome {
            id,
            result: confirm(state, caller, id).await,
        });
    }
    Ok(outcomes)
}

fn unique(ids: &[DeliveryId]) -> Vec<DeliveryId> {
    let mut seen = std::collections::HashSet::new();
    ids.iter().copied().filter(|id| seen.insert(*id)).collect()
}

/// Several deliveries as one ZIP, streamed: each file is decrypted while it is read and
/// compressed into the archive as it goes (nothing is held whole), and each is recorded as
/// downloaded as a single download is. Every delivery is checked first, so an id that is not
/// the caller's (or whose content is gone) refuses the whole request before any byte.
/// Entry names are the deliveries' file names (made unique with the delivery id when two are
/// alike); an age-sealed delivery stays an age file inside the ZIP.
pub async fn archive(
    state: &AppState,
    caller: &Caller,
    ids: &[DeliveryId],
) -> Result<
    (
        Vec<DeliveryRecord>,
        impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
    ),
    Error,
> {
    caller.require(Resource::DeliveryContent, Action::Download)?;
    if ids.len() > MAX_BULK {
        return Err(Error::TooLarge {
            limit: MAX_BULK as u64,
        });
    }
    let ids = unique(ids);
    // Everything asked for must be downloadable before anything is recorded.
    for &id in &ids {
        state.db.download_grant(caller.org.id, id).await?;
    }
    let mut opened = Vec::with_capacity(ids.len());
    for &id in &ids {
        opened.push(download(state, caller, id).await?);
    }
    let records: Vec<DeliveryRecord> = opened.iter().map(|(d, _)| d.clone()).collect();
    let names = entry_names(&records);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(8);
    let streams: Vec<_> = opened
        .into_iter()
        .zip(names)
        .map(|((_, stream), name)| (name, Box::pin(stream)))
        .collect();
    tokio::task::spawn_blocking(move || {
        let failed = tx.clone();
        if let Err(err) = write_archive(
            streams,
            ChannelWriter {
                tx,
                pending: Vec::new(),
            },
        ) {
            // The answer is cut short: the client sees an incomplete ZIP, never a complete
            // one missing a file.
            let _ = failed.blocking_send(Err(err));
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    });
    Ok((records, stream))
}

/// Unique entry names: a repeated name gets the delivery id before its extension.
fn entry_names(records: &[DeliveryRecord]) -> Vec<String> {
    let mut counts = std::collections::HashMap::new();
    for r in records {
        *counts.entry(r.filename.as_str()).or_insert(0u32) += 1;
    }
    records
        .iter()
        .map(|r| {
            let safe: String = r
                .filename
                .chars()
                .map(|c| {
                    if matches!(c, '/' | '\\') || c.is_control() {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            if counts[r.filename.as_str()] > 1 {
                match safe.split_once('.') {
                    Some((stem, ext)) => format!("{stem}_{}.{ext}", r.id),
                    None => format!("{safe}_{}", r.id),
                }
            } else {
                safe
            }
        })
        .collect()
}

/// Writes each stream as a deflated entry (data descriptors: sizes and CRC follow the data).
fn write_archive<S>(streams: Vec<(String, S)>, out: ChannelWriter) -> Result<(), std::io::Error>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin,
{
    use futures::StreamExt as _;
    use std::io::Write as _;
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(1))
        .large_file(true);
    let mut zip = zip::ZipWriter::new_stream(out);
    for (name, mut stream) in streams {
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        while let Some(chunk) = futures::executor::block_on(stream.next()) {
            zip.write_all(&chunk?)?;
        }
    }
    let mut out = zip.finish().map_err(std::io::Error::other)?.into_inner();
    out.flush_pending()
}

/// A `Write` that hands the ZIP's bytes to the response in batches.
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    pending: Vec<u8>,
}

impl ChannelWriter {
    fn flush_pending(&mut self) -> std::io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.pending));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "client gone"))
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.pending.extend_from_slice(buf);
        if self.pending.len() >= 256 * 1024 {
            self.flush_pending()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
