//! Notifications in the pages: a person's own settings on `/account` (address, language,
//! topics) and an organisation's webhook endpoints and recent notifications on
//! `/organisation` (add with the secret shown once, test send, remove).

use kenshin_notify::{Language, Topic};
use kenshin_ui::Lang;
use serde_json::{json, Value};

use super::WebPerson;
use crate::service::notifications;
use crate::service::Error;
use crate::state::AppState;

fn language(lang: Lang) -> Language {
    match lang {
        Lang::En => Language::En,
        _ => Language::Ja,
    }
}

fn rfc3339(at: time::OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The account page's notification part (`notify` in its context).
pub(super) async fn account_context(
    state: &AppState,
    web: &WebPerson,
    context: &mut Value,
) -> Result<(), Error> {
    let settings = notifications::my_settings(state, &web.caller).await?;
    let lang = language(web.lang);
    context["notify"] = json!({
        "email": settings.email,
        "language": settings.language.as_str(),
        "defaults": settings.defaults,
        "email_enabled": settings.email_enabled,
        "topics": Topic::CHOOSABLE.iter().map(|t| json!({
            "code": t.as_str(),
            "label": t.label(lang),
            "chosen": settings.topics.contains(t),
        })).collect::<Vec<_>>(),
    });
    Ok(())
}

/// A form field's first value ("" when absent): forms with repeated fields (one `topic` per
/// ticked box) are read as pairs.
pub(super) fn first<'a>(fields: &'a [(String, String)], name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// Every value of a repeated form field.
pub(super) fn every(fields: &[(String, String)], name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
        .collect()
}

/// A refusal's words in the page language (the service's text is both, `ja / en`).
pub(super) fn problem_text(problem: &crate::service::NotificationProblem, lang: Lang) -> String {
    in_language(&problem.to_string(), lang)
}

/// The half of a `日本語 / English` text in the page language.
pub(super) fn in_language(text: &str, lang: Lang) -> String {
    let mut halves = text.splitn(2, " / ");
    let ja = halves.next().unwrap_or_default().to_owned();
    let en = halves
        .next()
        .map(str::to_owned)
        .unwrap_or_else(|| ja.clone());
    match lang {
        Lang::En => en,
        _ => ja,
    }
}

/// The organisation page's webhook part (`webhooks`, `notifications`, `topics`).
pub(super) async fn organisation_context(
    state: &AppState,
    person: &WebPerson,
    context: &mut Value,
) -> Result<(), Error> {
    let lang = language(person.lang);
    let endpoints = notifications::endpoints(state, &person.caller).await?;
    context["webhooks"] = endpoints
        .iter()
        .map(|e| {
            json!({
                "id": e.id,
                "url": e.url,
                "topics": e.topics.iter().map(|t| t.label(lang)).collect::<Vec<_>>(),
                "created_at": rfc3339(e.created_at),
                "created_by": e.created_by,
            })
        })
        .collect::<Vec<_>>()
        .into();
    context["topics"] = Topic::CHOOSABLE
        .iter()
        .map(|t| json!({"code": t.as_str(), "label": t.label(lang)}))
        .collect::<Vec<_>>()
        .into();
    let recent = notifications::recent(state, &person.caller, 20).await?;
    context["notifications"] = recent
        .into_iter()
        .map(|n| {
            let topic = n
                .record
                .topic
                .parse::<Topic>()
                .map(|t| t.label(lang).to_owned())
                .unwrap_or(n.record.topic.clone());
            let last = n.attempts.last();
            json!({
                "id": n.record.id,
                "topic": topic,
                "channel": n.record.channel,
                "target": n.record.target,
                "state": n.record.state,
                "created_at": rfc3339(n.record.created_at),
                "attempts": n.attempts.len(),
                "detail": last.map(|a| answer_words(&a.detail, person.lang)),
            })
        })
        .collect::<Vec<_>>()
        .into();
    Ok(())
}

/// What the other side answered, in the page language; the technical part as it was given.
fn answer_words(detail: &str, lang: Lang) -> String {
    let ja = lang != Lang::En;
    let (said, rest) = if let Some(rest) = detail.strip_prefix("refused: ") {
        (
            if ja {
                "受け付けられませんでした"
            } else {
                "Refused"
            },
            rest,
        )
    } else if let Some(rest) = detail.strip_prefix("rejected: ") {
        (
            if ja {
                "拒否されました（再送しません）"
            } else {
                "Rejected (not sent again)"
            },
            rest,
        )
    } else if let Some(rest) = detail.strip_prefix("unreachable: ") {
        (
            if ja {
                "接続できませんでした"
            } else {
                "Could not connect"
            },
            rest,
        )
    } else if let Some(rest) = detail.strip_prefix("not allowed: ") {
        (
            if ja {
                "この送信先には送れません"
            } else {
                "Not allowed"
            },
            rest,
        )
    } else if let Some(rest) = detail.strip_prefix("setting: ") {
        (
            if ja {
                "中継サービスの設定の問題です（運用者へ）"
            } else {
                "A setting of the relay (tell the operator)"
            },
            rest,
        )
    } else if detail == "accepted by the mail server" {
        return if ja {
            "メールサーバーが受け付けました".into()
        } else {
            "Accepted by the mail server".into()
        };
    } else if detail.starts_with("HTTP 2") {
        (
            if ja {
                "受け付けられました"
            } else {
                "Received"
            },
            detail,
        )
    } else {
        return detail.to_owned();
    };
    format!("{said}（{rest}）")
}
