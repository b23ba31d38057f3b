//! The unsubscribe link (RFC 8058). A `GET` never changes anything (mail scanners follow
//! links): it shows what the link stops and a button that posts. A `POST` whose form says
//! `List-Unsubscribe=One-Click` stops it at once, with no login, and answers 200. Links that
//! are damaged, forged, expired or no longer on record get a 4xx and change nothing.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::app::App;
use crate::mask;
use crate::store::{StopSource, Unsubscribed};
use crate::unsubscribe::token::{TokenError, TokenKeys};
use crate::unsubscribe::{self, Request, UnsubscribeError};
use handlebars::html_escape as escape;

/// The path of `mail.unsubscribe_url` (`/unsubscribe`), the one the links point at.
pub fn path(unsubscribe_url: &str) -> String {
    url::Url::parse(unsubscribe_url)
        .map(|u| u.path().to_string())
        .ok()
        .filter(|p| p.starts_with('/'))
        .unwrap_or_else(|| "/unsubscribe".into())
}

/// The form field an RFC 8058 one-click POST carries, and the value it must have.
const ONE_CLICK_FIELD: &str = "List-Unsubscribe";
const ONE_CLICK_VALUE: &str = "One-Click";
/// Our own page's button adds this, so a stop records which way it came.
const FROM_PAGE_FIELD: &str = "via";

fn query_token(uri: &Uri) -> Option<String> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

/// `GET`: what the link will stop, and a button that posts. Changes nothing.
pub async fn page(State(app): State<Arc<App>>, uri: Uri) -> Response {
    let Some(token) = query_token(&uri) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "This link is incomplete: it carries no token.",
        );
    };
    let request = match resolve(&app, &token).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let cases = case_list(&request);
    let body = if request.all_stopped() {
        format!(
            "<h1>These alerts are already stopped</h1>\
             <p>{} gets no more e-mail about:</p>{cases}{}",
            recipient(&request),
            track_again(&app)
        )
    } else {
        let action = format!("{}?token={}", uri.path(), token);
        format!(
            "<h1>Stop these alerts?</h1>\
             <p>{} will get no more e-mail about:</p>{cases}\
             <form method=\"post\" action=\"{}\">\
             <input type=\"hidden\" name=\"{ONE_CLICK_FIELD}\" value=\"{ONE_CLICK_VALUE}\">\
             <input type=\"hidden\" name=\"{FROM_PAGE_FIELD}\" value=\"page\">\
             <button type=\"submit\" style=\"font-size:1rem;padding:0.6rem 1.2rem;\
             background:#1a4f8b;color:#fff;border:0;border-radius:4px\">Stop these alerts</button>\
             </form><p>Nothing changes until you press the button.</p>",
            recipient(&request),
            escape(&action)
        )
    };
    html(StatusCode::OK, "Stop case alerts", &body)
}

/// `POST`: the one-click stop.
pub async fn one_click(
    State(app): State<Arc<App>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(token) = query_token(&uri) else {
        return refusal(
            StatusCode::BAD_REQUEST,
            "This link is incomplete: it carries no token.",
        );
    };
    let form = Form::read(&headers, &body);
    if !form.one_click {
        return refusal(
            StatusCode::BAD_REQUEST,
            "This request does not ask to unsubscribe (the form must carry \
             List-Unsubscribe=One-Click). Nothing was changed.",
        );
    }
    let request = match resolve(&app, &token).await {
        Ok(request) => request,
        Err(response) => return response,
    };
    let source = if form.from_page {
        StopSource::WebPage
    } else {
        StopSource::OneClick
    };
    let evidence = format!("POST from {}{}", peer.ip(), forwarded_for(&headers));
    match unsubscribe::stop(&app.store, &request, source, &evidence, Utc::now()).await {
        Ok(done) => stopped_page(&app, &request, &done),
        Err(e) => failure(e),
    }
}

/// The client a proxy in front says it forwarded for (its `X-Forwarded-For`), as evidence
/// only: anyone can send the header, so it never decides anything.
fn forwarded_for(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .map(crate::batch::render::single_line)
        .filter(|v| !v.is_empty())
        .map(|v| {
            format!(
                " (forwarded for {})",
                v.chars().take(100).collect::<String>()
            )
        })
        .unwrap_or_default()
}

async fn resolve(app: &App, token: &str) -> Result<Request, Response> {
    let keys = TokenKeys::from_settings(&app.settings.mail);
    unsubscribe::resolve(&app.store, &keys, token, Utc::now())
        .await
        .map_err(failure)
}

fn failure(e: UnsubscribeError) -> Response {
    let (status, advice) = match &e {
        UnsubscribeError::Token(TokenError::Malformed) => (
            StatusCode::BAD_REQUEST,
            "Use the link exactly as the e-mail gives it (some mail programs cut long links), \
             or the one in a newer alert.",
        ),
        UnsubscribeError::Token(TokenError::Forged) => (
            StatusCode::FORBIDDEN,
            "Use the link in one of our alert e-mails as it is.",
        ),
        UnsubscribeError::Token(TokenError::Expired(_) | TokenError::RetiredKey)
        | UnsubscribeError::Unknown => (
            StatusCode::GONE,
            "Use the link in a newer alert, or manage the cases you track on Case.net.",
        ),
        UnsubscribeError::Store(_) => {
            tracing::error!(error = %e, "unsubscribe failed");
            return refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "The service cannot answer just now. Nothing was changed; please try again \
                 in a few minutes.",
            );
        }
    };
    tracing::info!(status = status.as_u16(), reason = %e, "unsubscribe link refused");
    refusal(
        status,
        &format!("This link {e}. Nothing was changed. {advice}"),
    )
}

fn stopped_page(app: &App, request: &Request, done: &Unsubscribed) -> Response {
    let heading = if done.stopped == 0 {
        "These alerts were already stopped"
    } else {
        "Alerts stopped"
    };
    let body = format!(
        "<h1>{heading}</h1><p>{} will get no more e-mail about:</p>{}{}",
        recipient(request),
        case_list(request),
        track_again(app)
    );
    html(StatusCode::OK, heading, &body)
}

fn recipient(request: &Request) -> String {
    request
        .email()
        .map(|email| format!("<strong>{}</strong>", escape(&mask::address(email))))
        .unwrap_or_else(|| "This address".into())
}

fn case_list(request: &Request) -> String {
    let watches = request.watches.iter().map(|w| {
        format!(
            "<li>new cases naming <strong>{}</strong> (a name you watch)</li>",
            escape(&w.name)
        )
    });
    let items: String = request
        .targets
        .iter()
        .map(|t| {
            format!(
                "<li><strong>{}</strong> {} <span style=\"color:#444\">({})</span></li>",
                escape(&t.case_number),
                escape(&t.caption),
                escape(&t.court_name)
            )
        })
        .chain(watches)
        .collect();
    format!("<ul>{items}</ul>")
}

fn track_again(app: &App) -> String {
    match &app.settings.links.manage_url {
        Some(url) => format!(
            "<p>Changed your mind? <a href=\"{}\">Manage the cases you track</a>.</p>",
            escape(url)
        ),
        None => "<p>Changed your mind? Track the case again on Case.net.</p>".into(),
    }
}

fn refusal(status: StatusCode, text: &str) -> Response {
    html(
        status,
        "Link not accepted",
        &format!("<h1>This link cannot be used</h1><p>{}</p>", escape(text)),
    )
}

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let page = format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\"><title>{}</title></head>\
         <body style=\"font-family:sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;\
         color:#1a1a1a;line-height:1.5\">{body}</body></html>\n",
        escape(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
        ],
        page,
    )
        .into_response()
}

/// What a POST's form says, url-encoded or multipart.
struct Form {
    one_click: bool,
    from_page: bool,
}

impl Form {
    fn read(headers: &HeaderMap, body: &[u8]) -> Form {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_ascii_lowercase();
        let fields: Vec<(String, String)> = if content_type.starts_with("multipart/form-data") {
            multipart_fields(body)
        } else {
            url::form_urlencoded::parse(body)
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        };
        let has = |name: &str, value: &str| fields.iter().any(|(k, v)| k == name && v == value);
        Form {
            one_click: has(ONE_CLICK_FIELD, ONE_CLICK_VALUE),
            from_page: has(FROM_PAGE_FIELD, "page"),
        }
    }
}

/// The simple fields of a multipart/form-data body (RFC 7578): each part's name and its
/// value, as some mail clients send the one-click POST.
fn multipart_fields(body: &[u8]) -> Vec<(String, String)> {
    let text = String::from_utf8_lossy(body);
    let mut fields = Vec::new();
    for part in text.split("\r\n--").chain(text.split("\n--")) {
        let Some((head, value)) = part
            .split_once("\r\n\r\n")
            .or_else(|| part.split_once("\n\n"))
        else {
            continue;
        };
        let name = head
            .split(';')
            .filter_map(|p| p.trim().strip_prefix("name="))
            .map(|n| n.trim_matches('"').to_string())
            .next();
        if let Some(name) = name {
            fields.push((name, value.trim_end_matches(['\r', '\n']).to_string()));
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_one_click_form_is_read_in_either_encoding() {
        let mut headers = HeaderMap::new();
        assert!(Form::read(&headers, b"List-Unsubscribe=One-Click").one_click);
        assert!(!Form::read(&headers, b"List-Unsubscribe=Other").one_click);
        assert!(!Form::read(&headers, b"").one_click);
        headers.insert(
            header::CONTENT_TYPE,
            "multipart/form-data; boundary=XyZ".parse().unwrap(),
        );
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--XyZ--\r\n";
        assert!(Form::read(&headers, body).one_click);
    }

    #[test]
    fn the_path_served_is_the_links_path() {
        assert_eq!(path("https://alerts.example.org/mail/stop"), "/mail/stop");
        assert_eq!(path("https://alerts.example.org"), "/");
    }
}
