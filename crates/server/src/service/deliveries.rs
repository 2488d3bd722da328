//! The receiver's side, as a caller asks for it: the inbox, one delivery, the download and
//! 受信完了. Rights come from the permission matrix; another organisation's delivery is not
//! found.

use bytes::Bytes;
use futures::Stream;
use kenshin_auth::{Action, Resource};
use kenshin_core::api::DeliveryView;
use kenshin_core::{DeliveryId, EventKind};
use kenshin_store::{DeliveryRecord, ListFilter};

use super::{ledger, relay, views, Caller, Error};
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
