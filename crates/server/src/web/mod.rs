//! The web UI: server-rendered pages for people, Japanese first (`kenshin-ui` holds the
//! templates and texts; this module gathers the data, checks rights and answers).
//!
//! Every page goes through the same checks as the API: a session of an active person (else
//! the login page), first-login setup finished (else the setup page), the permission matrix
//! through [`Caller::may`], and tenant scoping in the store, where another organisation's
//! object is not found — the same not-found page as a page that does not exist. Forms carry
//! the session's CSRF token; the login form a double-submit token of its own. Uploads and
//! downloads use the API itself (the session cookie and CSRF header work there), so the
//! browser and the batch clients share one code path.

mod account;
mod admin;
mod certs;
mod directory;
pub(crate) mod maps;
mod notifications;
mod pages;
mod passkeys;
mod reports;
mod setup;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use kenshin_auth::{Action, Resource, SessionId};
use kenshin_ui::Lang;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::service::{Caller, Principal, Refusal};
use crate::state::AppState;

pub use crate::request::{lang_of, PageLang, LANG_COOKIE};

/// The pages' route table: each line is a path, its method, the action the access log
/// records for it, and its handler.
pub fn routes() -> PageTable {
    use axum::http::Method;
    const GET: Method = Method::GET;
    const POST: Method = Method::POST;
    let form_limit = |bytes: usize| bytes + 64 * 1024;
    PageTable::default()
        .page(GET, "/", "page_view", pages::home)
        .page(GET, "/login", "page_view", setup::login_page)
        .page(POST, "/login", "login_form", setup::login)
        .page(
            POST,
            "/login/passkey",
            "login_form",
            passkeys::login_options,
        )
        .page(POST, "/logout", "logout", setup::logout)
        .page(GET, "/setup", "page_view", setup::setup_page)
        .page(POST, "/setup/totp", "totp_enrol", setup::setup_totp)
        .page(
            POST,
            "/setup/password",
            "password_change",
            setup::setup_password,
        )
        .page(GET, "/submissions", "submission_list", pages::submissions)
        .page(
            GET,
            "/submissions/{id}",
            "submission_view",
            pages::submission,
        )
        .page(
            GET,
            "/submissions/{id}/report",
            "report_view",
            reports::report,
        )
        .page(
            GET,
            "/submissions/{id}/report.csv",
            "report_view",
            reports::report_csv,
        )
        .page(GET, "/upload", "page_view", pages::upload)
        .page(GET, "/inbox", "delivery_list", pages::inbox)
        .page(
            POST,
            "/inbox/archive",
            "delivery_download",
            pages::inbox_archive,
        )
        .page(
            POST,
            "/inbox/confirm",
            "delivery_confirm",
            pages::inbox_confirm,
        )
        .page(GET, "/deliveries/{id}", "delivery_view", pages::delivery)
        .page(
            POST,
            "/deliveries/{id}/confirm",
            "delivery_confirm",
            pages::confirm,
        )
        .page(GET, "/history", "access_history", pages::history)
        .page(GET, "/maps", "map_list", maps::page)
        .limited(
            POST,
            "/maps",
            "map_upload",
            form_limit(crate::service::maps::MAX_MAP_BYTES),
            maps::upload,
        )
        .limited(
            POST,
            "/maps/check",
            "map_check",
            form_limit(maps::MAX_SAMPLE_BYTES),
            maps::check,
        )
        .limited(
            POST,
            "/maps/draft",
            "map_draft",
            form_limit(maps::MAX_SAMPLE_BYTES),
            maps::draft,
        )
        .limited(
            POST,
            "/maps/draft/submit",
            "map_draft_submit",
            form_limit(maps::MAX_SAMPLE_BYTES),
            maps::draft_submit,
        )
        .page(
            GET,
            "/maps/{map_id}/{version}/download",
            "map_download",
            maps::download,
        )
        .page(
            POST,
            "/maps/{map_id}/{version}/activate",
            "map_activate",
            maps::activate,
        )
        .page(GET, "/people", "user_list", admin::people)
        .page(POST, "/people", "user_create", admin::invite)
        .page(
            POST,
            "/people/{login}/disable",
            "user_disable",
            admin::disable,
        )
        .page(POST, "/people/{login}/enable", "user_enable", admin::enable)
        .page(
            POST,
            "/people/{login}/reset-totp",
            "totp_reset",
            admin::reset_totp,
        )
        .page(
            POST,
            "/people/{login}/reset-password",
            "password_reset",
            admin::reset_password,
        )
        .page(GET, "/audit", "audit_search", admin::audit)
        .page(GET, "/organisation", "org_view", admin::organisation)
        .page(GET, "/account", "account_view", account::page)
        .page(
            POST,
            "/account/password",
            "password_change",
            account::change_password,
        )
        .page(
            POST,
            "/account/passkeys/options",
            "passkey_add",
            passkeys::registration_options,
        )
        .page(POST, "/account/passkeys", "passkey_add", passkeys::register)
        .page(
            POST,
            "/account/passkeys/remove",
            "passkey_remove",
            passkeys::remove,
        )
        .page(
            POST,
            "/account/notifications",
            "account_update",
            account::save_notifications,
        )
        .page(
            POST,
            "/account/recovery-codes",
            "recovery_codes_renew",
            account::recovery_codes,
        )
        .page(
            POST,
            "/organisation/certificate-policy",
            "org_update",
            admin::certificate_policy,
        )
        .page(POST, "/organisation/formats", "org_update", admin::formats)
        .page(
            POST,
            "/organisation/webhooks",
            "org_update",
            admin::webhooks,
        )
        .page(
            POST,
            "/organisation/recipients",
            "org_update",
            admin::recipients,
        )
        .page(GET, "/certificates", "certificate_list", certs::page)
        .page(POST, "/certificates", "certificate_issue", certs::issue)
        .page(
            POST,
            "/certificates/{serial}/revoke",
            "certificate_revoke",
            certs::revoke,
        )
        .page(GET, "/ops", "ops_console", pages::ops)
        .page(POST, "/ops/orgs", "org_create", directory::create_org)
        .page(POST, "/ops/routes", "route_change", directory::routes)
        .page(
            POST,
            "/ops/delegations",
            "org_delegate",
            directory::delegate,
        )
        .page(GET, "/ledger", "ledger_read", pages::ledger)
        .page(GET, "/lang/{code}", "page_asset", set_language)
        .page(GET, "/static/{file}", "page_asset", static_file)
}

/// A route table of pages: the router and, for the access log, each route's action.
#[derive(Default)]
pub struct PageTable {
    pub router: axum::Router<AppState>,
    /// `(method, route, action)`.
    pub actions: Vec<(axum::http::Method, String, String)>,
}

impl PageTable {
    /// `method path` answered by `handler`, recorded in the access log as `action`.
    fn page<H, T>(self, method: axum::http::Method, path: &str, action: &str, handler: H) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        self.add(method, path, action, None, handler)
    }

    /// The same, with a body limit of its own (read by the form extractors).
    fn limited<H, T>(
        self,
        method: axum::http::Method,
        path: &str,
        action: &str,
        limit: usize,
        handler: H,
    ) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        self.add(method, path, action, Some(limit), handler)
    }

    fn add<H, T>(
        mut self,
        method: axum::http::Method,
        path: &str,
        action: &str,
        limit: Option<usize>,
        handler: H,
    ) -> Self
    where
        H: axum::handler::Handler<T, AppState>,
        T: 'static,
    {
        let filter =
            axum::routing::MethodFilter::try_from(method.clone()).expect("pages use GET and POST");
        let mut route = axum::routing::on(filter, handler);
        if let Some(limit) = limit {
            route = route.layer(axum::extract::DefaultBodyLimit::max(limit));
        }
        self.router = self.router.route(path, route);
        self.actions
            .push((method, path.to_owned(), action.to_owned()));
        self
    }
}

/// A person with a session whose account is set up (second factor enrolled, initial
/// password changed). Anyone else is sent to the login or the setup page.
pub struct WebPerson {
    pub caller: Caller,
    pub lang: Lang,
    pub path: String,
}

impl WebPerson {
    pub(super) fn user(&self) -> &kenshin_store::UserRecord {
        match &self.caller.principal {
            Principal::Person { user, .. } => user,
            Principal::Certificate(_) => unreachable!("a web person always has a session"),
        }
    }

    fn session(&self) -> &SessionId {
        match &self.caller.principal {
            Principal::Person { session, .. } => session,
            Principal::Certificate(_) => unreachable!("a web person always has a session"),
        }
    }

    /// The person with their session, as the session use cases take them.
    fn person(&self) -> crate::service::sessions::Person {
        crate::service::sessions::Person {
            user: self.user().clone(),
            session: *self.session(),
        }
    }

    /// `previous_login` for a page: when (RFC 3339, shown in JST by the `when` filter) and
    /// from which address the person logged in before this session; `null` the first time.
    async fn previous_login(&self, state: &AppState) -> Value {
        match crate::service::sessions::previous_login(state, &self.person()).await {
            Ok(Some((at, from))) => serde_json::json!({
                "at": at.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
                "from": from,
            }),
            _ => Value::Null,
        }
    }

    pub fn may(&self, resource: Resource, action: Action) -> bool {
        self.caller.may(resource, action)
    }

    /// The answer when the role does not allow a page.
    fn forbidden(&self, state: &AppState) -> Response {
        error_page(
            state,
            self.lang,
            Some(self),
            StatusCode::FORBIDDEN,
            "error.forbidden",
        )
    }

    fn csrf(&self, state: &AppState) -> String {
        kenshin_auth::csrf_token(&state.server_key, self.session())
    }

    /// The checks of every state-changing form: it carries this session's CSRF token, and
    /// the role may do `action` on `resource`.
    /// `None` when both hold, else the page that says why not.
    fn refuse_post(
        &self,
        state: &AppState,
        csrf: &str,
        resource: Resource,
        action: Action,
    ) -> Option<Response> {
        if !self.csrf_ok(state, csrf) {
            return Some(self.csrf_refused(state));
        }
        if !self.may(resource, action) {
            return Some(self.forbidden(state));
        }
        None
    }

    /// The answer to a form without this session's CSRF token.
    fn csrf_refused(&self, state: &AppState) -> Response {
        error_page(
            state,
            self.lang,
            Some(self),
            StatusCode::FORBIDDEN,
            "error.csrf",
        )
    }

    /// Whether a form carried this session's CSRF token.
    fn csrf_ok(&self, state: &AppState, presented: &str) -> bool {
        kenshin_auth::verify_csrf(&state.server_key, self.session(), presented).is_ok()
    }

    /// The menu: only what the person's role may use.
    fn nav(&self) -> Vec<(&'static str, &'static str)> {
        let mut nav = vec![("/", "nav.home")];
        let kind = crate::service::roles::org_kind(self.caller.org.kind);
        if self.may(Resource::Submission, Action::Create) {
            nav.push(("/upload", "nav.upload"));
        }
        // The operator's own organisation sends nothing; its staff see usage on the console.
        if kind != kenshin_auth::OrgKindLite::Operator
            && self.may(Resource::Submission, Action::Read)
        {
            nav.push(("/submissions", "nav.submissions"));
        }
        if kenshin_auth::Kinds::RECEIVERS.contains(kind)
            && self.may(Resource::Delivery, Action::Read)
        {
            nav.push(("/inbox", "nav.inbox"));
        }
        if kind == kenshin_auth::OrgKindLite::Operator && self.may(Resource::Usage, Action::Read) {
            nav.push(("/ops", "nav.ops"));
        }
        if self.caller.org.kind.may_send() && self.may(Resource::Map, Action::Read) {
            nav.push(("/maps", "nav.maps"));
        }
        if self.may(Resource::User, Action::Read) {
            nav.push(("/people", "nav.people"));
        }
        if kind != kenshin_auth::OrgKindLite::Operator && self.may(Resource::Org, Action::Update) {
            nav.push(("/organisation", "nav.organisation"));
        }
        if self.may(Resource::Certificate, Action::Read) {
            nav.push(("/certificates", "nav.certificates"));
        }
        if self.may(Resource::AuditLog, Action::Read) {
            nav.push(("/audit", "nav.audit"));
        }
        if self.may(Resource::Ledger, Action::Read) {
            nav.push(("/ledger", "nav.ledger"));
        }
        nav.push(("/history", "nav.history"));
        nav
    }

    /// The context every page of a logged-in person shares.
    fn context(&self, state: &AppState, title: &str) -> Value {
        let user = self.user();
        let current = self.path.split('?').next().unwrap_or("/");
        let nav: Vec<Value> = self
            .nav()
            .into_iter()
            .map(|(href, key)| {
                let here = href == current || (href != "/" && current.starts_with(href));
                json!({"href": href, "key": key, "current": here})
            })
            .collect();
        json!({
            "title": title,
            "path": self.path,
            "now": kenshin_core::api::timestamp::format(state.now()),
            "idle_seconds": state.config.session_idle_seconds,
            "csrf": self.csrf(state),
            "me": {
                "login": user.login,
                "name": user.display_name,
                "org": self.caller.org.code.to_string(),
                "org_name": self.caller.org.name,
                "role": user.role,
            },
            "nav": nav,
        })
    }
}

fn path_of(parts: &Parts) -> String {
    parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into())
}

impl FromRequestParts<AppState> for WebPerson {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let lang = lang_of(&parts.headers);
        let Some((user, session)) = crate::request::session_of(parts, state)
            .await
            .map_err(|e| error_page(state, lang, None, e.status, "error.internal"))?
        else {
            // Expired or absent: a person who had a session cookie is told why.
            let target = if crate::request::has_session_cookie(&parts.headers) {
                "/login?expired=1"
            } else {
                "/login"
            };
            return Err(Redirect::to(target).into_response());
        };
        // Identified before the person-certificate rule, so a refusal is logged as theirs.
        crate::access::identify(parts, &user.org_code, "user", &user.login);
        let certificate = crate::request::peer_certificate(parts);
        let caller = match crate::service::caller::of_session(
            state,
            user,
            session,
            None,
            certificate.as_deref(),
        )
        .await
        {
            Ok(caller) => caller,
            Err(err) => {
                return Err(match err.refusal() {
                    Some(Refusal::SetupUnfinished) => Redirect::to("/setup").into_response(),
                    Some(Refusal::PersonCertificateRequired) => certificate_page(state, lang),
                    _ => {
                        let err = ApiError::from(err);
                        error_page(state, lang, None, err.status, "error.internal")
                    }
                })
            }
        };
        Ok(WebPerson {
            caller,
            lang,
            path: path_of(parts),
        })
    }
}

/// An HTML page.
fn html(state: &AppState, status: StatusCode, page: &str, lang: Lang, context: Value) -> Response {
    match state.pages.render(page, lang, context) {
        Ok(body) => (
            status,
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = %err, "page rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "internal error").into_response()
        }
    }
}

/// The error page for `status`; `message` is a catalogue key.
fn error_page(
    state: &AppState,
    lang: Lang,
    person: Option<&WebPerson>,
    status: StatusCode,
    message: &str,
) -> Response {
    let heading = match status {
        StatusCode::NOT_FOUND => "error.not_found_heading",
        StatusCode::FORBIDDEN => "error.forbidden_heading",
        StatusCode::CONFLICT | StatusCode::GONE => "error.conflict_heading",
        _ => "error.internal_heading",
    };
    let mut context = match person {
        Some(person) => person.context(state, "page.error"),
        None => json!({"title": "page.error", "path": "/"}),
    };
    context["heading"] = heading.into();
    context["message"] = message.into();
    html(state, status, "error.html", lang, context)
}

/// What a person does to present their own client certificate, step by step (catalogue keys).
pub(crate) const CERTIFICATE_STEPS: [&str; 4] = [
    "error.certificate_step1",
    "error.certificate_step2",
    "error.certificate_step3",
    "error.certificate_step4",
];

/// The page for a person whose connection does not present their own certificate where it is
/// required: why, and what to do.
fn certificate_page(state: &AppState, lang: Lang) -> Response {
    let mut context = json!({"title": "page.error", "path": "/"});
    context["heading"] = "error.certificate_heading".into();
    context["message"] = "error.certificate_required".into();
    context["certificate_steps"] = json!(CERTIFICATE_STEPS);
    html(state, StatusCode::FORBIDDEN, "error.html", lang, context)
}

/// The page for a body larger than its form accepts (`api::bodies`).
pub(crate) fn too_large_page(state: &AppState, lang: Lang, limit: u64) -> Response {
    let mut context = json!({"title": "page.error", "path": "/"});
    context["heading"] = "error.internal_heading".into();
    context["message"] = "error.body_too_large".into();
    context["limit"] = limit.into();
    html(
        state,
        StatusCode::PAYLOAD_TOO_LARGE,
        "error.html",
        lang,
        context,
    )
}

/// The guideline's objections to a new password, in the page's language.
pub(crate) fn password_problems(
    problems: &[kenshin_auth::PasswordProblem],
    lang: Lang,
) -> Vec<String> {
    problems
        .iter()
        .map(|p| match lang {
            Lang::Ja => p.message_ja(),
            Lang::En => p.message_en(),
        })
        .collect()
}

/// An API-level error as a page: another organisation's object and a missing one are the
/// same not-found page.
fn api_error_page(state: &AppState, person: &WebPerson, err: impl Into<ApiError>) -> Response {
    let err: ApiError = err.into();
    let message = match err.status {
        StatusCode::NOT_FOUND => "error.not_found",
        StatusCode::FORBIDDEN => "error.forbidden",
        StatusCode::CONFLICT | StatusCode::GONE => "error.conflict",
        _ => "error.internal",
    };
    error_page(state, person.lang, Some(person), err.status, message)
}

/// A form that carries nothing but the session's CSRF token.
#[derive(serde::Deserialize)]
pub struct CsrfForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
}

/// Adds the fields of `extra` (a JSON object) to a page's context.
fn merge(context: &mut Value, extra: Value) {
    if let (Some(target), Value::Object(extra)) = (context.as_object_mut(), extra) {
        target.extend(extra);
    }
}

/// A page, or the error page its failure calls for.
fn page_or_error(
    state: &AppState,
    person: &WebPerson,
    result: Result<Response, ApiError>,
) -> Response {
    result.unwrap_or_else(|err| api_error_page(state, person, err))
}

/// The not-found page for paths outside the API.
pub async fn not_found(
    axum::extract::State(state): axum::extract::State<AppState>,
    PageLang(lang): PageLang,
) -> Response {
    error_page(&state, lang, None, StatusCode::NOT_FOUND, "error.not_found")
}

#[derive(serde::Deserialize)]
struct Next {
    next: Option<String>,
}

/// `GET /lang/{ja|en}?next=/path`: remembers the language, back to the page.
async fn set_language(
    axum::extract::Path(code): axum::extract::Path<String>,
    axum::extract::Query(next): axum::extract::Query<Next>,
) -> Response {
    let Some(lang) = Lang::parse(&code) else {
        return Redirect::to("/").into_response();
    };
    // Only a path on this site: never `//host` or a scheme, so this is no open redirect.
    let target = next
        .next
        .filter(|n| n.starts_with('/') && !n.starts_with("//") && !n.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let cookie = format!(
        "{LANG_COOKIE}={}; Path=/; Max-Age=31536000; Secure; SameSite=Lax",
        lang.code()
    );
    let mut response = Redirect::to(&target).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

async fn static_file(axum::extract::Path(file): axum::extract::Path<String>) -> Response {
    match kenshin_ui::STATIC_FILES
        .iter()
        .find(|(name, _, _)| *name == file)
    {
        Some((_, content_type, bytes)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *bytes,
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Security headers of every page: scripts and styles only from this site (no inline
/// script), no framing, no referrer, forms only to this site.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
