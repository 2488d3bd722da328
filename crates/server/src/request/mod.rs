//! What a request carries, for both front ends (`api` and `web`): the caller behind it (a
//! client certificate or a person's session cookie, [`Caller`](crate::service::Caller) and
//! [`Person`](crate::service::sessions::Person) as extractors), its cookies, and the language
//! a page is wanted in. The rules themselves are the use-case layer's (`service`); this module
//! only reads them off the request.

mod caller;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};
use kenshin_auth::{SessionId, SessionToken};
use kenshin_store::UserRecord;
use kenshin_ui::Lang;

use crate::error::ApiError;
use crate::state::AppState;

pub use caller::require_csrf;

/// The limit of every request body not named in `router::bodies`' table: a login, a form,
/// a JSON request.
pub const SMALL_BODY_BYTES: u64 = 16 * 1024;

/// The cookie that carries a session.
pub const SESSION_COOKIE: &str = "kr_session";
/// The header a person's state-changing API request carries the session's CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The cookie that remembers the page language.
pub const LANG_COOKIE: &str = "kr_lang";

/// A cookie's value by name.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (key, value) = pair.trim().split_once('=')?;
            (key == name).then(|| value.to_owned())
        })
}

/// The page language: the `kr_lang` cookie, else the browser's preference, else Japanese.
pub fn lang_of(headers: &HeaderMap) -> Lang {
    cookie(headers, LANG_COOKIE)
        .and_then(|v| Lang::parse(&v))
        .or_else(|| {
            headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map(Lang::from_accept_language)
        })
        .unwrap_or_default()
}

/// The page language as an extractor.
pub struct PageLang(pub Lang);

impl<S: Send + Sync> FromRequestParts<S> for PageLang {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(PageLang(lang_of(&parts.headers)))
    }
}

/// The cookie that carries a session: only over HTTPS, never to scripts, never on
/// cross-site requests.
pub fn session_cookie(token: &SessionToken) -> String {
    format!(
        "{SESSION_COOKIE}={}; Path=/; Secure; HttpOnly; SameSite=Strict",
        token.as_str()
    )
}

/// Whether the request carries a session cookie at all (to tell "expired" from "never").
pub fn has_session_cookie(headers: &HeaderMap) -> bool {
    cookie(headers, SESSION_COOKIE).is_some()
}

/// The valid session of an active person on this request, if any (updates its last use).
pub async fn session_of(
    parts: &Parts,
    state: &AppState,
) -> Result<Option<(UserRecord, SessionId)>, ApiError> {
    let Some(token) = cookie(&parts.headers, SESSION_COOKIE) else {
        return Ok(None);
    };
    Ok(crate::service::sessions::session_of(state, &token).await?)
}

/// The client certificate the TLS peer presented (DER), if any.
pub fn peer_certificate(parts: &Parts) -> Option<rustls_pki_types::CertificateDer<'static>> {
    parts
        .extensions
        .get::<crate::tls::PeerInfo>()
        .and_then(|peer| peer.certificate.clone())
}

/// Several deliveries as one streamed ZIP attachment, named `kenshin-relay_YYYYMMDD.zip`
/// (the day in JST): the bulk download's answer, for the API and the inbox page alike.
pub(crate) fn zip_attachment<S>(stream: S, now: time::OffsetDateTime) -> axum::response::Response
where
    S: futures::Stream<Item = Result<bytes::Bytes, std::io::Error>> + Send + 'static,
{
    use axum::response::IntoResponse;
    let mut response = axum::body::Body::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/zip"),
    );
    let today = now.to_offset(time::macros::offset!(+9)).date();
    headers.insert(
        http::header::CONTENT_DISPOSITION,
        content_disposition(&format!(
            "kenshin-relay_{:04}{:02}{:02}.zip",
            today.year(),
            u8::from(today.month()),
            today.day()
        )),
    );
    response
}

/// `attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded` (RFC 6266/8187).
pub(crate) fn content_disposition(filename: &str) -> http::HeaderValue {
    let fallback: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded =
        percent_encoding::utf8_percent_encode(filename, percent_encoding::NON_ALPHANUMERIC);
    http::HeaderValue::from_str(&format!(
        "attachment; filename=\"{fallback}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or_else(|_| http::HeaderValue::from_static("attachment"))
}
