//! Unsubscribing as recipients do it: the one-click POST of RFC 8058 and the page behind the
//! link, over real HTTP against `serve`; the mailto, through `unsubscribes ingest`; and what
//! follows: queued digests withheld, later runs silent for those cases, the stops exported as a
//! subscriptions feed the system of record (and this program) can take back.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use common::{account, case, entry, track, TestApp};
use mail_parser::MessageParser;
use mcap_notify::ingest::FeedKind;
use mcap_notify::unsubscribe::token::{Scope, TokenKeys};

const A: &str = "2616-CV00001";
const B: &str = "2616-CV00002";

/// `ann` tracks A and B, `bob` tracks A; an entry on each case; one run: ann's digest (both
/// cases) and bob's are queued, not sent.
async fn two_cases() -> TestApp {
    let t = TestApp::new().await;
    t.ingest(
        FeedKind::Cases,
        &[
            case(A, "CT16", "CV", "Smith v. Jones"),
            case(B, "CT16", "CV", "Rogers v. Lane"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[
            account("ann", "ann@example.org", true),
            account("bob", "bob@example.org", true),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[
            track("ann", A, "2026-01-01T00:00:00Z"),
            track("ann", B, "2026-01-01T00:00:00Z"),
            track("bob", A, "2026-01-01T00:00:00Z"),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e1", A, "MOT", "2026-02-01T10:00:00Z"),
            entry("e2", B, "MOT", "2026-02-01T11:00:00Z"),
        ],
    )
    .await;
    t.run().await;
    t
}

/// The raw queued message of `account`.
async fn queued_message(t: &TestApp, account: &str) -> Vec<u8> {
    t.db()
        .value(&format!(
            "SELECT b.raw FROM outbox o JOIN outbox_bodies b ON b.outbox_id = o.outbox_id
             WHERE o.account_id = '{account}' ORDER BY o.outbox_id DESC LIMIT 1"
        ))
        .await
}

/// The token of a message's `List-Unsubscribe` web link, checking the one-click headers.
fn header_token(raw: &[u8]) -> String {
    let parsed = MessageParser::default().parse(raw).unwrap();
    assert_eq!(
        parsed.header_raw("List-Unsubscribe-Post").map(str::trim),
        Some("List-Unsubscribe=One-Click")
    );
    let header = parsed.header_raw("List-Unsubscribe").unwrap().trim();
    let https = header
        .split(['<', '>'])
        .find(|p| p.starts_with("https://"))
        .expect("an https link");
    let token = https.split("token=").nth(1).unwrap().to_string();
    // The token names the message, not its cases: short whatever the digest holds.
    assert!(token.len() <= 80, "{token}");
    assert!(header.len() < 998, "{header}");
    token
}

/// The per-case stop links of a message's text part, in case order.
fn stop_links(raw: &[u8]) -> Vec<String> {
    let parsed = MessageParser::default().parse(raw).unwrap();
    let text = parsed.body_text(0).unwrap();
    text.split_whitespace()
        .filter(|w| w.contains("token=") && w.contains(".s"))
        .map(|w| w.split("token=").nth(1).unwrap().to_string())
        .collect()
}

/// `serve` running on a free port.
struct Served {
    child: Child,
    base: String,
}

impl Served {
    fn start(t: &TestApp) -> Served {
        let mut child = t
            .command()
            .arg("serve")
            .env("MCAP_NOTIFY__HTTP__LISTEN", "127.0.0.1:0")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("serve starts");
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let base = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("serve says where it listens: {line:?}"))
            .to_string();
        Served { child, base }
    }

    fn url(&self, token: &str) -> String {
        format!("{}?token={token}", self.base)
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// (status, body) of a GET.
fn get(url: &str) -> (u16, String) {
    let mut response = agent().get(url).call().expect("the server answers");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// (status, body) of a url-encoded POST.
fn post(url: &str, form: &str) -> (u16, String) {
    let mut response = agent()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .send(form)
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

async fn outbox_states(t: &TestApp) -> Vec<(String, String, Option<String>)> {
    t.db()
        .rows("SELECT account_id, state, last_error FROM outbox ORDER BY outbox_id")
        .await
}

async fn unsubscribes(t: &TestApp) -> Vec<(String, String, String)> {
    t.db()
        .rows(
            "SELECT s.case_number, u.source, u.evidence FROM unsubscribes u
             JOIN subscriptions s USING (subscription_id) ORDER BY s.case_number",
        )
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn one_click_stops_what_the_link_names_and_a_get_changes_nothing() {
    let t = two_cases().await;
    let raw = queued_message(&t, "ann").await;
    let token = header_token(&raw);
    let server = Served::start(&t);
    let before = t.dump().await;

    // A mail scanner follows the link: a page, no change.
    let (status, page) = get(&server.url(&token));
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(A) && page.contains(B), "{page}");
    assert!(page.contains("Rogers v. Lane"), "{page}");
    assert!(page.contains("method=\"post\""), "{page}");
    assert!(
        page.contains("a***@example.org") && !page.contains("ann@example.org"),
        "{page}"
    );
    assert_eq!(t.dump().await, before, "a GET changes nothing");

    // Tampered, incomplete, or asked without the one-click form: refused, nothing changes.
    let tampered = token.replacen('.', "", 1);
    assert_eq!(get(&server.url(&tampered)).0, 400);
    let forged = format!("{}0", &token[..token.len() - 1]);
    let forged = if forged == token {
        format!("{}1", &token[..token.len() - 1])
    } else {
        forged
    };
    assert_eq!(get(&server.url(&forged)).0, 403);
    assert_eq!(
        post(&server.url(&forged), "List-Unsubscribe=One-Click").0,
        403
    );
    assert_eq!(post(&server.url(&token), "").0, 400);
    assert_eq!(post(&server.url(&token), "List-Unsubscribe=Other").0, 400);
    assert_eq!(post(&server.base, "List-Unsubscribe=One-Click").0, 400);
    let expired = TokenKeys::from_settings(&t.app.settings.mail).token(
        &Scope::Message("1.00".into()),
        chrono::Utc::now() - chrono::Duration::days(400),
    );
    assert_eq!(get(&server.url(&expired)).0, 410);
    assert_eq!(t.dump().await, before, "refused requests change nothing");

    // The one-click POST, as a mail client sends it.
    let (status, page) = post(&server.url(&token), "List-Unsubscribe=One-Click");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Alerts stopped"), "{page}");
    let stops = unsubscribes(&t).await;
    assert_eq!(stops.len(), 2, "{stops:?}");
    for (_, source, evidence) in &stops {
        assert_eq!(source, "one-click");
        assert!(evidence.contains("POST from 127.0.0.1"), "{evidence}");
        assert!(
            evidence.contains(TokenKeys::from_settings(&t.app.settings.mail).current_key_id()),
            "{evidence}"
        );
    }
    let metrics = mcap_notify::metrics::gather(&t.app, chrono::Utc::now())
        .await
        .unwrap();
    assert!(
        metrics.contains("mcap_notify_unsubscribes_total{source=\"one-click\"} 2"),
        "{metrics}"
    );
    // Ann's queued digest is withheld at once; bob's goes on.
    let states = outbox_states(&t).await;
    assert_eq!(
        states,
        vec![
            (
                "ann".to_string(),
                "cancelled".to_string(),
                Some("withheld: unsubscribed".to_string())
            ),
            ("bob".to_string(), "queued".to_string(), None),
        ]
    );
    // Asked again: the same answer, nothing more.
    let after = t.dump().await;
    let (status, page) = post(&server.url(&token), "List-Unsubscribe=One-Click");
    assert_eq!(status, 200);
    assert!(page.contains("already stopped"), "{page}");
    assert_eq!(t.dump().await, after);
    let (status, page) = get(&server.url(&token));
    assert_eq!(status, 200);
    assert!(
        page.contains("already stopped") && !page.contains("<form"),
        "{page}"
    );

    // The next run sends ann nothing for those cases; bob still hears about A.
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e3", A, "JE", "2026-02-02T10:00:00Z"),
            entry("e4", B, "JE", "2026-02-02T10:00:00Z"),
        ],
    )
    .await;
    t.run().await;
    let digests = t.digests().await;
    assert_eq!(
        digests
            .iter()
            .filter(|(account, _, _)| account == "ann")
            .count(),
        1,
        "ann has only the withheld digest: {digests:?}"
    );
    assert!(digests
        .iter()
        .any(|(account, _, ids)| account == "bob" && ids.contains(&"e3".to_string())));

    // The stops, exported as a subscriptions feed, taken back: nothing changes.
    let export = t
        .command()
        .args(["subscriptions", "export"])
        .output()
        .unwrap();
    assert!(export.status.success());
    let feed = String::from_utf8(export.stdout).unwrap();
    let lines: Vec<serde_json::Value> = feed
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{feed}");
    assert_eq!(lines[0]["account_id"], "ann");
    let feed_file = t.dir.path().join("stops.jsonl");
    std::fs::write(&feed_file, &feed).unwrap();
    let summary = t
        .app
        .ingest(FeedKind::Subscriptions, &feed_file)
        .await
        .unwrap();
    assert_eq!((summary.applied, summary.unchanged), (0, 2));
    // ...and so does the system of record's own stop, at its own later time.
    let later = t
        .try_ingest(
            FeedKind::Subscriptions,
            &[common::stop("ann", A, "2030-01-01T00:00:00Z")],
        )
        .await
        .unwrap();
    assert_eq!((later.applied, later.unchanged), (0, 1));
    // A stop exported once is not exported again by `--since` the latest.
    let latest = lines[1]["stopped_at"].as_str().unwrap().to_string();
    let since =
        chrono::DateTime::parse_from_rfc3339(&latest).unwrap() + chrono::Duration::seconds(1);
    let again = t
        .command()
        .args(["subscriptions", "export", "--since", &since.to_rfc3339()])
        .output()
        .unwrap();
    assert!(again.status.success());
    assert!(
        again.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&again.stdout)
    );

    // Tracking the case again later (through the feed) starts a new period that is notified.
    t.ingest(
        FeedKind::Subscriptions,
        &[track("ann", B, "2030-02-01T00:00:00Z")],
    )
    .await;
    t.ingest(
        FeedKind::Entries,
        &[entry("e5", B, "JE", "2030-02-02T10:00:00Z")],
    )
    .await;
    t.run().await;
    assert!(t
        .digests()
        .await
        .iter()
        .any(|(account, _, ids)| account == "ann" && ids == &vec!["e5".to_string()]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_per_case_link_stops_one_case_and_the_rest_of_the_digest_still_goes() {
    let t = two_cases().await;
    let raw = queued_message(&t, "ann").await;
    let links = stop_links(&raw);
    assert_eq!(links.len(), 2, "one stop link per case");
    let server = Served::start(&t);
    // The page's own button posts the one-click form and says it came from the page.
    let (status, page) = get(&server.url(&links[1]));
    assert_eq!(status, 200);
    assert!(page.contains(B) && !page.contains(A), "{page}");
    let (status, _) = post(
        &server.url(&links[1]),
        "List-Unsubscribe=One-Click&via=page",
    );
    assert_eq!(status, 200);
    let stops = unsubscribes(&t).await;
    assert_eq!(stops.len(), 1);
    assert_eq!((stops[0].0.as_str(), stops[0].1.as_str()), (B, "web-page"));
    // The digest held both cases: it is withheld, and the next run sends case A alone.
    t.run().await;
    let ann: Vec<_> = t
        .digests()
        .await
        .into_iter()
        .filter(|(account, _, _)| account == "ann")
        .collect();
    assert_eq!(ann.len(), 2, "{ann:?}");
    assert_eq!(ann[1].2, vec!["e1".to_string()]);
    let states = outbox_states(&t).await;
    assert_eq!(
        states.iter().filter(|s| s.1 == "queued").count(),
        2,
        "{states:?}"
    );
}

/// An mbox of `(subject)` mails to the unsubscribe address.
fn mbox(subjects: &[String]) -> String {
    subjects
        .iter()
        .enumerate()
        .map(|(i, subject)| {
            format!(
                "From ann@example.org Mon Feb  2 10:00:00 2026\n\
                 From: Ann <ann@example.org>\nTo: unsubscribe@alerts.example.org\n\
                 Message-ID: <u{i}@mail.example.org>\nSubject: {subject}\n\nplease stop\n\n"
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_mailto_honours_good_tokens_and_refuses_the_rest() {
    let t = two_cases().await;
    let raw = queued_message(&t, "ann").await;
    let parsed = MessageParser::default().parse(&raw).unwrap();
    let header = parsed.header_raw("List-Unsubscribe").unwrap().to_string();
    let mailto_subject = header
        .split("subject=")
        .nth(1)
        .unwrap()
        .split('>')
        .next()
        .unwrap()
        .replace("%20", " ");
    let token = mailto_subject
        .strip_prefix("unsubscribe ")
        .unwrap()
        .to_string();
    let forged = format!(
        "unsubscribe {}",
        token.replace(".m", ".s1x").replace('x', "")
    );
    let path = t.dir.path().join("unsubscribe.mbox");
    let other_keys = TokenKeys::new("somebody else's secret, long enough", 30);
    let foreign = other_keys.token(&Scope::Subscription(1), chrono::Utc::now());
    std::fs::write(
        &path,
        mbox(&[
            "Hello there".into(),
            forged,
            format!("unsubscribe {foreign}"),
            format!("Re: {mailto_subject}"),
        ]),
    )
    .unwrap();
    let before = t.dump().await;
    let out = t
        .command()
        .args(["unsubscribes", "ingest", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["mails"], 4);
    assert_eq!(report["honoured"], 1);
    assert_eq!(report["stopped"], 2);
    assert_eq!(report["refused"].as_array().unwrap().len(), 3, "{report}");
    assert_ne!(t.dump().await, before);
    let stops = unsubscribes(&t).await;
    assert!(stops.iter().all(|(_, source, evidence)| source == "mail"
        && evidence.contains("<u3@mail.example.org>")
        && evidence.contains("a***@example.org")));
    // The same mails again change nothing.
    let after = t.dump().await;
    let again = t
        .command()
        .args(["unsubscribes", "ingest", "--json"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(again.status.success());
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        (report["stopped"].as_u64(), report["already"].as_u64()),
        (Some(0), Some(2))
    );
    assert_eq!(t.dump().await, after);
    let list = t.command().args(["unsubscribes", "list"]).output().unwrap();
    let list = String::from_utf8(list.stdout).unwrap();
    assert_eq!(list.lines().count(), 2, "{list}");
    assert!(list.contains("mail"), "{list}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rotated_secret_still_honours_old_links_for_its_grace_period() {
    let t = two_cases().await;
    let token = header_token(&queued_message(&t, "ann").await);
    let old_secret = t.app.settings.mail.token_secret.expose().to_string();
    let rotated = |until: &str| {
        let mut settings = t.app.settings.clone();
        settings.mail.token_secret =
            mcap_notify::config::Secret::new("a-brand-new-secret-of-32-chars!!");
        settings.mail.previous_token_secret = Some(mcap_notify::config::Secret::new(&old_secret));
        settings.mail.previous_token_secret_until = Some(until.parse().unwrap());
        TokenKeys::from_settings(&settings.mail)
    };
    let now = chrono::Utc::now();
    let in_grace = rotated("2999-01-01T00:00:00Z");
    let request = mcap_notify::unsubscribe::resolve(&t.app.store, &in_grace, &token, now)
        .await
        .expect("an old link is honoured in the grace period");
    assert_eq!(request.targets.len(), 2);
    let retired = rotated("2020-01-01T00:00:00Z");
    let err = mcap_notify::unsubscribe::resolve(&t.app.store, &retired, &token, now)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("retired"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_link_from_an_earlier_tracking_period_stops_the_current_one() {
    let t = two_cases().await;
    let links = stop_links(&queued_message(&t, "ann").await);
    // The feed ends ann's tracking of A and starts it again: a new period.
    t.ingest(
        FeedKind::Subscriptions,
        &[common::stop("ann", A, "2026-03-01T00:00:00Z")],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[track("ann", A, "2026-03-02T00:00:00Z")],
    )
    .await;
    let server = Served::start(&t);
    let (status, page) = post_forwarded(&server.url(&links[0]), "203.0.113.9");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Alerts stopped"), "{page}");
    let stops = unsubscribes(&t).await;
    assert_eq!(stops.len(), 1);
    assert!(
        stops[0].2.contains("forwarded for 203.0.113.9"),
        "{}",
        stops[0].2
    );
    // An entry in the new period reaches ann no more.
    t.ingest(
        FeedKind::Entries,
        &[entry("e3", A, "JE", "2026-03-05T10:00:00Z")],
    )
    .await;
    t.run().await;
    assert!(!t
        .digests()
        .await
        .iter()
        .any(|(account, _, ids)| account == "ann" && ids.contains(&"e3".to_string())));
    // The export names the period it ended, and taking it back changes nothing.
    let export = t
        .command()
        .args(["subscriptions", "export"])
        .output()
        .unwrap();
    let path = t.dir.path().join("stops.jsonl");
    std::fs::write(&path, &export.stdout).unwrap();
    let summary = t.app.ingest(FeedKind::Subscriptions, &path).await.unwrap();
    assert_eq!((summary.applied, summary.unchanged), (0, 1));
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_every_case_of_a_withheld_digest_leaves_nothing_held() {
    let t = two_cases().await;
    let links = stop_links(&queued_message(&t, "ann").await);
    let server = Served::start(&t);
    assert_eq!(
        post(&server.url(&links[1]), "List-Unsubscribe=One-Click").0,
        200
    );
    assert_eq!(
        post(&server.url(&links[0]), "List-Unsubscribe=One-Click").0,
        200
    );
    t.run().await;
    let held: i64 = t.db().value("SELECT COUNT(*) FROM held_pairs").await;
    assert_eq!(held, 0, "nothing waits for a run that will never send it");
    assert_eq!(
        t.digests()
            .await
            .iter()
            .filter(|(account, _, _)| account == "ann")
            .count(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn prune_keeps_what_a_link_stops_while_the_link_works() {
    let t = two_cases().await;
    let token = header_token(&queued_message(&t, "ann").await);
    // Prune everything finished before tomorrow: the link is good for weeks yet.
    let report = mcap_notify::prune::prune(
        &t.app,
        1,
        chrono::Utc::now() + chrono::Duration::days(2),
        false,
    )
    .await
    .unwrap();
    assert_eq!(report.counts.unsubscribe_scopes, 0);
    let request = mcap_notify::unsubscribe::resolve(
        &t.app.store,
        &TokenKeys::from_settings(&t.app.settings.mail),
        &token,
        chrono::Utc::now(),
    )
    .await
    .expect("the link still names its cases");
    assert_eq!(request.targets.len(), 2);
    // Once the link has expired, its record goes.
    let days = i64::from(t.app.settings.mail.unsubscribe_token_days) + 2;
    let later = chrono::Utc::now() + chrono::Duration::days(days);
    let report = mcap_notify::prune::prune(&t.app, 1, later, false)
        .await
        .unwrap();
    assert_eq!(
        report.counts.unsubscribe_scopes, 3,
        "ann's two cases and bob's one"
    );
}

#[test]
fn a_guessable_previous_secret_or_a_path_serve_cannot_answer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    for (key, value, named) in [
        (
            "MCAP_NOTIFY__MAIL__PREVIOUS_TOKEN_SECRET",
            "",
            "mail.previous_token_secret",
        ),
        (
            "MCAP_NOTIFY__MAIL__PREVIOUS_TOKEN_SECRET",
            "change-me",
            "mail.previous_token_secret",
        ),
        (
            "MCAP_NOTIFY__MAIL__UNSUBSCRIBE_URL",
            "https://alerts.example.org/healthz",
            "mail.unsubscribe_url",
        ),
        (
            "MCAP_NOTIFY__MAIL__UNSUBSCRIBE_URL",
            "https://alerts.example.org/u/{token}",
            "mail.unsubscribe_url",
        ),
    ] {
        let mut command = common::binary();
        if key.contains("PREVIOUS") {
            command.env(
                "MCAP_NOTIFY__MAIL__PREVIOUS_TOKEN_SECRET_UNTIL",
                "2999-01-01T00:00:00Z",
            );
        }
        let out = command
            .current_dir(dir.path())
            .env(
                "MCAP_NOTIFY__DATABASE__URL",
                format!("sqlite://{}", dir.path().join("db.sqlite").display()),
            )
            .env(key, value)
            // Every command checks the settings; this one ends whatever they say.
            .arg("status")
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(78), "{key}={value}: {said}");
        assert!(said.contains(named), "{said}");
    }
}

/// (status, body) of a one-click POST that came through a proxy.
fn post_forwarded(url: &str, client: &str) -> (u16, String) {
    let mut response = agent()
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .header("X-Forwarded-For", client)
        .send("List-Unsubscribe=One-Click")
        .expect("the server answers");
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}
