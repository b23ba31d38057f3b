//! The HTML report: built from real runs, deliveries through a real SMTP server, a dead letter,
//! a bounce, a suppression, skipped runs and an outage; written by the program; checked to
//! fetch nothing, to add up, to escape what came from the database, and to render in headless
//! Chromium into a picture that is not blank.

mod common;

use std::path::Path;

use chrono::{Duration, Utc};
use common::policy_server::PolicyServer;
use common::*;
use mcap_notify::batch::RunOptions;
use mcap_notify::config::{Secret, TransportKind};
use mcap_notify::ingest::FeedKind;
use mcap_notify::model::NewOutage;
use mcap_notify::store::prelude::*;

const CASE: &str = "2616-CV00077";
const HOSTILE_CAPTION: &str = "<script>alert('caption')</script> & Co. v. Jones";
const HOSTILE_OUTAGE: &str = "<img src=\"http://evil.example/x.png\"> upgrade";

/// Runs the program's `report` on the test's database; returns (success, stdout, stderr).
fn report(t: &TestApp, args: &[&str]) -> (bool, String, String) {
    let out = t.command().arg("report").args(args).output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The text of the element with this id.
fn text_of(doc: &roxmltree::Document, id: &str) -> String {
    doc.descendants()
        .find(|n| n.attribute("id") == Some(id))
        .unwrap_or_else(|| panic!("no element #{id}"))
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect()
}

/// Fails if the page would fetch anything: no elements that load, no attribute pointing at
/// a network address, no `@import` or `url(` in its styles.
fn assert_fetches_nothing(html: &str, doc: &roxmltree::Document) {
    for node in doc.descendants().filter(|n| n.is_element()) {
        let name = node.tag_name().name();
        assert!(
            !["script", "link", "img", "iframe", "object", "embed", "image", "use"].contains(&name),
            "the page holds a <{name}>"
        );
        for attr in node.attributes() {
            let v = attr.value().trim().to_ascii_lowercase();
            assert!(
                !(["src", "href", "action", "data", "poster"].contains(&attr.name())),
                "<{name}> has {}={v}",
                attr.name()
            );
            assert!(!v.contains("url("), "<{name}> {} loads {v}", attr.name());
        }
        if name == "style" {
            let css = node.text().unwrap_or("");
            assert!(!css.contains("@import") && !css.contains("url("), "{css}");
        }
    }
    // No web address in an attribute or a style, the SVG namespace name (which nothing
    // fetches) aside; a hostile text that quotes one is escaped text, not markup.
    let raw = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
    for pattern in ["\"http", "'http", "=http", "(http", "\"//", "'//"] {
        assert!(!raw.contains(pattern), "the page holds {pattern}");
    }
}

/// An instant in the last few days from which the service stayed closed for three minutes
/// (the skipped runs below take one minute each).
async fn a_closed_moment(t: &TestApp) -> chrono::DateTime<Utc> {
    let calendar = t.app.calendar().await.unwrap();
    let now = Utc::now();
    (2..120)
        .map(|h| now - Duration::hours(h))
        .find(|at| (0..3).all(|m| !calendar.state_at(*at + Duration::minutes(m)).is_open()))
        .expect("the service closes every night")
}

struct Built {
    t: TestApp,
    _server: PolicyServer,
    _server_dir: tempfile::TempDir,
}

/// Two done runs delivered through a real SMTP server (one address accepted, one refused for
/// good: a dead letter, a hard bounce, a suppression), a stretch of skipped runs and an
/// outage with a hostile reason, all within the last week.
async fn build() -> Built {
    let server_dir = tempfile::tempdir().unwrap();
    let server = PolicyServer::start(server_dir.path());
    let url = server.url();
    let t = TestApp::with(move |s| {
        s.delivery.transport = TransportKind::Smtp;
        s.smtp.url = Some(Secret::new(url));
        s.smtp.timeout_secs = 5;
    })
    .await;
    t.ingest(
        FeedKind::Cases,
        &[case(CASE, "CT16", "CV", HOSTILE_CAPTION)],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[
            account("ann", "ann-ok@example.org", true),
            account("gus", "hard-gone@example.org", true),
        ],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[
            track("ann", CASE, "2026-01-01T00:00:00Z"),
            track("gus", CASE, "2026-01-01T00:00:00Z"),
        ],
    )
    .await;

    let closed = a_closed_moment(&t).await;
    for minute in 0..3 {
        let outcome = t
            .app
            .run_at(&RunOptions::default(), closed + Duration::minutes(minute))
            .await
            .unwrap();
        assert!(matches!(
            outcome,
            mcap_notify::app::RunOutcome::Skipped { .. }
        ));
    }
    let outage_start = Utc::now() - Duration::days(3);
    t.app
        .store
        .add_outages(
            &[NewOutage {
                starts_at: outage_start,
                ends_at: outage_start + Duration::hours(5),
                reason: HOSTILE_OUTAGE.into(),
            }],
            Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();

    let posted = |ago: i64| (Utc::now() - Duration::minutes(ago)).to_rfc3339();
    t.ingest(FeedKind::Entries, &[entry("e1", CASE, "MOT", &posted(90))])
        .await;
    t.run().await;
    let first = t.app.deliver(true).await.unwrap();
    assert_eq!((first.sent, first.bounced), (1, 1));
    t.ingest(
        FeedKind::Entries,
        &[
            entry("e2", CASE, "JE", &posted(30)),
            entry("e3", CASE, "ORD", &posted(20)),
        ],
    )
    .await;
    let second = t.run().await;
    assert_eq!(
        second.totals.skipped_suppressed, 1,
        "the refused address is suppressed"
    );
    assert_eq!(t.app.deliver(true).await.unwrap().sent, 1);
    Built {
        t,
        _server: server,
        _server_dir: server_dir,
    }
}

async fn scalar(t: &TestApp, sql: &str) -> i64 {
    t.db().value(sql).await
}

#[tokio::test]
async fn the_report_of_a_real_week_adds_up_escapes_masks_and_fetches_nothing() {
    let built = build().await;
    let t = &built.t;
    let path = t.dir.path().join("site").join("report.html");
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "an older report").unwrap();
    let (ok, stdout, stderr) = report(t, &["--html", path.to_str().unwrap()]);
    assert!(ok, "report failed: {stderr}");
    assert!(stdout.contains("report.html"), "{stdout}");
    // Replaced whole, with no temporary file left beside it.
    let beside: Vec<_> = std::fs::read_dir(path.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(beside, vec![std::ffi::OsString::from("report.html")]);

    let html = std::fs::read_to_string(&path).unwrap();
    let doc = parse_page(&html);
    assert_fetches_nothing(&html, &doc);

    // The headline agrees with the database.
    let queued = scalar(
        t,
        "SELECT CAST(SUM(digests_queued) AS BIGINT) FROM runs WHERE status = 'done'",
    )
    .await;
    assert_eq!(queued, 3, "two digests in the first run, one in the second");
    assert_eq!(text_of(&doc, "digests-queued"), queued.to_string());
    let sent = scalar(t, "SELECT COUNT(*) FROM outbox WHERE state = 'sent'").await;
    assert_eq!(text_of(&doc, "messages-sent"), sent.to_string());
    assert_eq!(text_of(&doc, "runs-done"), "2");
    let runs_tile = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("runs-done"))
        .unwrap()
        .parent()
        .unwrap();
    let note: String = runs_tile
        .descendants()
        .filter(|n| n.is_text())
        .filter_map(|n| n.text())
        .collect();
    assert!(note.contains("3 skipped"), "{note}");
    assert_eq!(text_of(&doc, "dead-letters"), "1");
    assert_eq!(text_of(&doc, "bounces"), "1");
    assert_eq!(text_of(&doc, "suppressions"), "1");
    // Ann's three pairs waited 90, 30 and 20 minutes (plus the seconds the test took).
    assert!(
        text_of(&doc, "latency-median").starts_with("30 min"),
        "{}",
        text_of(&doc, "latency-median")
    );
    assert!(text_of(&doc, "latency-p99").starts_with("1 h 30 min"));
    let scheme = if common::on_postgres() {
        "postgres://"
    } else {
        "sqlite://"
    };
    assert!(text_of(&doc, "database").starts_with(scheme));

    // Text from the database is escaped; addresses are masked, even inside server replies.
    assert!(!html.contains("<script"), "a caption became markup");
    assert!(
        html.contains("&lt;script&gt;alert("),
        "the caption is shown"
    );
    assert!(!html.contains("<img"), "an outage reason became markup");
    assert!(html.contains("&lt;img src"), "the outage is named");
    for address in ["ann-ok@example.org", "hard-gone@example.org"] {
        assert!(!html.contains(address), "{address} is shown unmasked");
    }
    assert!(html.contains("h***@example.org"));

    // Every chart is drawn: the timeline's marks (two runs, one stretch of skips), the closed
    // stretches shaded, bars for queued and sent, latency per day, bounces by verdict.
    let charts: Vec<_> = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "svg")
        .collect();
    assert_eq!(charts.len(), 5);
    let timeline = charts[0];
    let marks = timeline
        .descendants()
        .filter(|n| n.tag_name().name() == "circle")
        .count();
    assert_eq!(marks, 3);
    let shades: Vec<String> = timeline
        .descendants()
        .filter(|n| n.tag_name().name() == "rect")
        .filter_map(|r| r.descendants().find_map(|c| c.text()).map(str::to_string))
        .collect();
    assert!(shades.iter().any(|s| s == "closed: night"), "{shades:?}");
    assert!(shades.iter().any(|s| s.starts_with("closed: outage: <img")));
    for chart in &charts[1..] {
        assert!(
            chart
                .descendants()
                .any(|n| n.tag_name().name() == "rect" && n.attribute("height") != Some("0.0")),
            "a chart without bars"
        );
    }

    screenshot_is_not_blank(&path, t.dir.path());
}

#[tokio::test]
async fn an_empty_period_says_there_is_nothing_to_show() {
    let t = TestApp::new().await;
    let path = t.dir.path().join("empty.html");
    let (ok, _, stderr) = report(
        &t,
        &[
            "--from",
            "2020-01-06",
            "--to",
            "2020-01-12",
            "--html",
            path.to_str().unwrap(),
        ],
    );
    assert!(ok, "{stderr}");
    let html = std::fs::read_to_string(&path).unwrap();
    let doc = parse_page(&html);
    assert!(text_of(&doc, "nothing").contains("Nothing to show"));
    assert!(!html.contains("<svg"), "no empty charts");
    assert_eq!(text_of(&doc, "digests-queued"), "0");
    assert!(text_of(&doc, "period").contains("Jan 6, 2020 00:00"));
    assert!(text_of(&doc, "period").contains("Jan 13, 2020 00:00"));
}

#[tokio::test]
async fn a_period_that_ends_before_it_starts_is_refused_and_nothing_is_written() {
    let t = TestApp::new().await;
    let path = t.dir.path().join("r.html");
    let html = path.to_str().unwrap();
    let (ok, _, stderr) = report(
        &t,
        &["--from", "2026-11-30", "--to", "2026-11-20", "--html", html],
    );
    assert!(!ok);
    assert!(
        stderr.contains("--from `2026-11-30`")
            && stderr.contains("is not before --to `2026-11-20`"),
        "{stderr}"
    );
    let (ok, _, stderr) = report(&t, &["--from", "last tuesday", "--html", html]);
    assert!(!ok);
    assert!(
        stderr.contains("--from: `last tuesday` is neither a date"),
        "{stderr}"
    );
    // Years of history in one page would take minutes and megabytes: a month at most.
    let (ok, _, stderr) = report(
        &t,
        &["--from", "1970-01-01", "--to", "9999-12-31", "--html", html],
    );
    assert!(!ok);
    assert!(stderr.contains("a report covers at most 31"), "{stderr}");
    let (ok, _, stderr) = report(
        &t,
        &["--from", "2026-11-01", "--to", "2026-11-30", "--html", html],
    );
    assert!(ok, "thirty whole days are fine: {stderr}");
    std::fs::remove_file(&path).unwrap();
    assert!(!path.exists());
}

/// The page parsed as XML (its markup is well-formed; the doctype is allowed).
fn parse_page(html: &str) -> roxmltree::Document<'_> {
    roxmltree::Document::parse_with_options(
        html,
        roxmltree::ParsingOptions {
            allow_dtd: true,
            ..Default::default()
        },
    )
    .unwrap_or_else(|e| panic!("the page is not well-formed: {e}"))
}

/// Renders the page in headless Chromium and checks the picture shows the charts: many
/// colours, and the colours the charts are drawn in.
fn screenshot_is_not_blank(page: &Path, scratch: &Path) {
    let Some(chromium) = chromium() else { return };
    let shot = scratch.join("report.png");
    let out = common::chromium_on(
        &chromium,
        scratch,
        page,
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1280,2000".into(),
        ],
    );
    assert!(
        shot.exists(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    let channels = info.color_type.samples();
    assert!(channels >= 3, "{:?}", info.color_type);
    let pixels: Vec<[u8; 3]> = buf[..info.buffer_size()]
        .chunks(channels)
        .map(|p| [p[0], p[1], p[2]])
        .collect();
    let distinct: std::collections::HashSet<_> = pixels.iter().collect();
    assert!(distinct.len() > 50, "only {} colours", distinct.len());
    let non_white = pixels.iter().filter(|p| **p != [255, 255, 255]).count();
    assert!(
        non_white > pixels.len() / 50,
        "{non_white} non-white pixels"
    );
    let hex = |s: &str| {
        let v = u32::from_str_radix(s.trim_start_matches('#'), 16).unwrap();
        [(v >> 16) as u8, (v >> 8) as u8, v as u8]
    };
    for (what, color) in [
        ("a done run", "#2e7d32"),
        ("a night", "#dfe6f3"),
        ("the outage", "#f8d4d4"),
        ("digests queued", "#3f6fb5"),
        ("messages sent", "#2a9d8f"),
        ("the p99 latency", "#e76f51"),
        ("bounces", "#b5563f"),
    ] {
        assert!(
            distinct.contains(&hex(color)),
            "the screenshot shows no {what} ({color})"
        );
    }
}

#[tokio::test]
async fn runs_with_nothing_new_stand_apart_and_an_outage_shows_its_real_end() {
    let t = TestApp::new().await;
    // Two runs that find nothing, then one with work.
    t.run().await;
    t.run().await;
    t.ingest(
        FeedKind::Cases,
        &[case(CASE, "CT16", "CV", "Smith v. Jones")],
    )
    .await;
    t.ingest(
        FeedKind::Accounts,
        &[account("ann", "ann@example.org", true)],
    )
    .await;
    t.ingest(
        FeedKind::Subscriptions,
        &[track("ann", CASE, "2026-01-01T00:00:00Z")],
    )
    .await;
    let posted = (Utc::now() - Duration::minutes(5)).to_rfc3339();
    t.ingest(FeedKind::Entries, &[entry("e1", CASE, "MOT", &posted)])
        .await;
    t.run().await;
    // An outage still going on when the report is made.
    let start = Utc::now() - Duration::minutes(10);
    let end = Utc::now() + Duration::minutes(35);
    t.app
        .store
        .add_outages(
            &[NewOutage {
                starts_at: start,
                ends_at: end,
                reason: "database upgrade".into(),
            }],
            Utc::now(),
        )
        .await
        .unwrap()
        .unwrap();

    let path = t.dir.path().join("report.html");
    let (ok, _, stderr) = report(&t, &["--html", path.to_str().unwrap()]);
    assert!(ok, "report failed: {stderr}");
    let html = std::fs::read_to_string(&path).unwrap();
    let doc = parse_page(&html);

    assert_eq!(text_of(&doc, "runs-done"), "1");
    let tile: String = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("runs-done"))
        .unwrap()
        .parent()
        .unwrap()
        .descendants()
        .filter_map(|n| n.text())
        .collect();
    assert!(tile.contains("(+ 2 with nothing new)"), "{tile}");
    let faint = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "circle" && n.attribute("class") == Some("faint"))
        .count();
    assert_eq!(faint, 2, "the empty runs are drawn faintly");

    let zone = t.app.calendar().await.unwrap().zone();
    let shown = |at: chrono::DateTime<Utc>| {
        at.with_timezone(&zone)
            .format("%a %b %-d, %Y %H:%M %Z")
            .to_string()
    };
    let cells: Vec<String> = doc
        .descendants()
        .find(|n| n.attribute("id") == Some("outages"))
        .unwrap_or_else(|| panic!("no outage table: {html}"))
        .descendants()
        .filter(|n| n.tag_name().name() == "td")
        .map(|n| {
            n.descendants()
                .filter(|c| c.is_text())
                .filter_map(|c| c.text())
                .collect()
        })
        .collect();
    assert_eq!(
        cells,
        vec!["database upgrade".to_string(), shown(start), shown(end)],
        "the outage's own start and end, not the period's"
    );
}
