//! An institution's map files (変換テーブル): store a version (immutable), list, read one,
//! activate. Only sending institutions have maps.

use kenshin_convert::MapFile;
use kenshin_core::api::MapView;
use kenshin_profile::Profile;
use kenshin_store::MapRecord;

use super::{Caller, Error, Refusal};
use crate::state::AppState;

/// Map files are small; a larger body is a mistake.
pub const MAX_MAP_BYTES: usize = 16 * 1024 * 1024;

fn view(record: MapRecord) -> MapView {
    MapView {
        active: record.is_active(),
        org: record.org_code,
        map_id: record.map_id,
        version: record.version,
        sha256: record.sha256,
        created_at: record.created_at,
        activated_at: record.activated_at,
    }
}

fn senders_only(caller: &Caller, action: kenshin_auth::Action) -> Result<(), Error> {
    caller.require(kenshin_auth::Resource::Map, action)?;
    if caller.org.kind.may_send() {
        Ok(())
    } else {
        Err(Refusal::NotASender.into())
    }
}

/// Checks and stores a new map version of the caller's organisation (immutable; optionally
/// made the active one).
pub async fn store_map(
    state: &AppState,
    caller: &Caller,
    body: &[u8],
    activate: bool,
) -> Result<MapView, Error> {
    senders_only(caller, kenshin_auth::Action::Create)?;
    let record = store_map_in(&state.db, caller.org.id, body, activate, state.now()).await?;
    tracing::info!(org = %caller.org.code, map = %format!("{}@{}", record.map_id, record.version), active = record.is_active(), "map uploaded");
    Ok(view(record))
}

/// Checks and stores a map file for organisation `org_id` (activating it when asked): the
/// rules of [`store_map`] without a caller, for the demo's set-up.
pub async fn store_map_in(
    db: &kenshin_store::Database,
    org_id: i64,
    body: &[u8],
    activate: bool,
    now: time::OffsetDateTime,
) -> Result<MapRecord, Error> {
    if body.len() > MAX_MAP_BYTES {
        return Err(Error::TooLarge {
            limit: MAX_MAP_BYTES as u64,
        });
    }
    let map = MapFile::from_reader(body, Profile::default_profile())?;
    if map.id.is_empty() || map.version.is_empty() {
        return Err(Refusal::MapUnnamed.into());
    }
    let sha = kenshin_crypto::sha256_hex(body);
    let mut record = db
        .insert_map(org_id, &map.id, &map.version, body, &sha, now)
        .await?;
    if activate {
        record = db.activate_map(org_id, &map.id, &map.version, now).await?;
    }
    Ok(record)
}

/// The map versions of the caller's organisation.
pub async fn maps_of(state: &AppState, caller: &Caller) -> Result<Vec<MapView>, Error> {
    senders_only(caller, kenshin_auth::Action::Read)?;
    let maps = state.db.list_maps(caller.org.id).await?;
    Ok(maps.into_iter().map(view).collect())
}

/// One stored map version of the caller's organisation, parsed against the default profile.
pub async fn map_of(
    state: &AppState,
    caller: &Caller,
    map_id: &str,
    version: &str,
) -> Result<MapFile, Error> {
    senders_only(caller, kenshin_auth::Action::Read)?;
    let record = state.db.map_version(caller.org.id, map_id, version).await?;
    MapFile::from_reader(&record.content[..], Profile::default_profile()).map_err(|e| {
        tracing::error!(error = %e, "a stored map no longer parses");
        Error::Internal("a stored map no longer parses")
    })
}

/// Makes a stored version the active one (the previous one is retired).
pub async fn activate_version(
    state: &AppState,
    caller: &Caller,
    map_id: &str,
    version: &str,
) -> Result<MapView, Error> {
    senders_only(caller, kenshin_auth::Action::Update)?;
    let record = state
        .db
        .activate_map(caller.org.id, map_id, version, state.now())
        .await?;
    Ok(view(record))
}

/// The bytes of one stored map version of the caller's organisation, as uploaded (for a
/// download: the staff edit it in a spreadsheet and upload it as a new version).
pub async fn map_content(
    state: &AppState,
    caller: &Caller,
    map_id: &str,
    version: &str,
) -> Result<Vec<u8>, Error> {
    senders_only(caller, kenshin_auth::Action::Read)?;
    Ok(state
        .db
        .map_version(caller.org.id, map_id, version)
        .await?
        .content)
}

/// A draft map for a sample export (`map suggest`), made in memory: the sample is the
/// institution's own data and is not stored.
pub async fn draft(
    caller: &Caller,
    sample: Vec<u8>,
) -> Result<Result<kenshin_convert::suggest::Suggestion, String>, Error> {
    senders_only(caller, kenshin_auth::Action::Read)?;
    tokio::task::spawn_blocking(move || {
        let sample = as_delimited(sample, None)?;
        kenshin_convert::suggest::suggest(
            &sample[..],
            Profile::default_profile(),
            kenshin_convert::delimited::DelimitedOptions::default(),
        )
        .map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| Error::Internal("drafting a map"))
}

/// A sample as delimited text: an Excel workbook (`.xlsx`) becomes the CSV of its worksheet
/// (`sheet`, or the first), as conversion reads it; anything else is taken as it is.
pub fn as_delimited(sample: Vec<u8>, sheet: Option<&str>) -> Result<Vec<u8>, String> {
    if kenshin_convert::xlsx::is_xlsx(&sample) {
        kenshin_convert::xlsx::to_csv(&sample, sheet).map_err(|e| e.to_string())
    } else {
        Ok(sample)
    }
}
