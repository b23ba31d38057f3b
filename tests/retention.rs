//! Retention: `prune` removes message bodies, delivery attempts and bounce mail text once they
//! are past retention, and keeps what says who was told about what, and when.

mod common;

use std::sync::atomic::AtomicBool;

use chrono::{Duration, Utc};
use common::*;
use mcap_notify::store::prelude::*;
use mcap_notify::store::NewBounceMail;
use serde_json::Value;

/// Four digests delivered; `a` sent and `b` dead long ago, `c` sent today, `d` queued again
/// after an old failure. One old and one new bounce mail.
async fn aged_world(adjust: impl FnOnce(&mut mcap_notify::config::Settings)) -> TestApp {
    let t = TestApp::with(adjust).await;
    t.digests_for(&[
        "a@example.org",
        "b@example.org",
        "c@example.org",
        "d@example.org",
    ])
    .await;
    let report = t.app.deliver(true).await.unwrap();
    assert_eq!(report.sent, 4);
    let db = t.db();
    let old = db.at(Utc::now() - Duration::days(200));
    for (recipient, state) in [("a@example.org", "sent"), ("b@example.org", "dead")] {
        db.exec(&format!(
            "UPDATE outbox SET state = '{state}', finished_at = {old} WHERE recipient = '{recipient}'"
        ))
        .await;
    }
    db.exec(
        "UPDATE outbox SET state = 'queued', finished_at = NULL WHERE recipient = 'd@example.org'",
    )
    .await;
    db.exec(&format!("UPDATE delivery_attempts SET at = {old}"))
        .await;
    t.app
        .store
        .store_bounce_mail(
            &NewBounceMail {
                key: "old-bounce",
                source: "old.eml",
                raw: b"old bounce",
                matched: false,
                at: Utc::now() - Duration::days(200),
            },
            &[],
        )
        .await
        .unwrap();
    t.app
        .store
        .store_bounce_mail(
            &NewBounceMail {
                key: "new-bounce",
                source: "new.eml",
                raw: b"new bounce",
                matched: false,
                at: Utc::now(),
            },
            &[],
        )
        .await
        .unwrap();
    t
}

/// Per recipient: (body kept, attempts kept, state, finished_at set, message id).
async fn messages(t: &TestApp) -> Vec<(String, bool, i64, String, bool, String)> {
    t.db()
        .rows(
            "SELECT o.recipient,
                EXISTS (SELECT 1 FROM outbox_bodies b WHERE b.outbox_id = o.outbox_id),
                (SELECT COUNT(*) FROM delivery_attempts a WHERE a.outbox_id = o.outbox_id),
                o.state, o.finished_at IS NOT NULL, o.message_id
         FROM outbox o ORDER BY o.recipient",
        )
        .await
}

async fn bounce_mail_sizes(t: &TestApp) -> Vec<(String, i64)> {
    t.db()
        .rows("SELECT source, CAST(length(raw) AS BIGINT) FROM bounce_mails ORDER BY source")
        .await
}

/// Every run: id, status and when it finished (microseconds).
async fn runs_with_finish(t: &TestApp) -> Vec<(i64, String, i64)> {
    let db = t.db();
    db.rows(&format!(
        "SELECT run_id, status, {} FROM runs ORDER BY run_id",
        db.micros("finished_at")
    ))
    .await
}

#[tokio::test]
async fn prune_removes_old_bodies_attempts_and_bounce_text_and_keeps_who_was_told_when() {
    let t = aged_world(|_| {}).await;
    let before = messages(&t).await;
    let ledger = t.ledger().await;
    let runs = runs_with_finish(&t).await;

    // A dry run counts and changes nothing.
    let out = t
        .command()
        .args(["prune", "--older-than", "90", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["message_bodies"], 2, "{dry}");
    assert_eq!(dry["delivery_attempts"], 2, "{dry}");
    assert_eq!(dry["bounce_mail_bodies"], 1, "{dry}");
    assert_eq!(messages(&t).await, before);
    assert_eq!(bounce_mail_sizes(&t).await[1], ("old.eml".into(), 10));

    let out = t
        .command()
        .args(["prune", "--older-than", "90"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("pruned")
            && said.contains("2 message bodies, 2 delivery attempts, 1 bounce mail bodies"),
        "{said}"
    );

    let after = messages(&t).await;
    let summary: Vec<(&str, bool, i64)> = after
        .iter()
        .map(|(r, body, attempts, ..)| (r.as_str(), *body, *attempts))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a@example.org", false, 0),
            ("b@example.org", false, 0),
            ("c@example.org", true, 1),
            ("d@example.org", true, 1),
        ],
        "old finished messages lose body and attempts; recent and queued ones keep them"
    );
    // The outbox rows themselves (id, Message-ID, state, times) stay, as do the ledger and runs.
    for (b, a) in before.iter().zip(&after) {
        assert_eq!((&b.0, &b.3, b.4, &b.5), (&a.0, &a.3, a.4, &a.5));
    }
    assert_eq!(t.ledger().await, ledger);
    let runs_after = runs_with_finish(&t).await;
    assert_eq!(runs_after, runs);
    assert_eq!(
        bounce_mail_sizes(&t).await,
        vec![("new.eml".into(), 10), ("old.eml".into(), 0)]
    );
    // `outbox show --raw` prints a kept message byte for byte and says why a pruned one is gone.
    let id_of = |recipient: &'static str| {
        let sql = format!(
            "SELECT o.outbox_id, b.raw FROM outbox o
             LEFT JOIN outbox_bodies b ON b.outbox_id = o.outbox_id WHERE o.recipient = '{recipient}'"
        );
        let db = t.db();
        async move { db.row::<(i64, Option<Vec<u8>>)>(&sql).await }
    };
    let (kept, body) = id_of("c@example.org").await;
    let out = t
        .command()
        .args(["outbox", "show", &kept.to_string(), "--raw"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(Some(out.stdout), body, "the stored message, byte for byte");
    let (pruned, _) = id_of("a@example.org").await;
    let out = t
        .command()
        .args(["outbox", "show", &pruned.to_string(), "--raw"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("has no stored body: `prune` removed it"),
        "{said}"
    );
    let out = t
        .command()
        .args(["outbox", "show", "99999", "--raw"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no message 99999"));
    // A dead message without its body cannot be sent again.
    assert_eq!(t.app.store.requeue_dead(None, Utc::now()).await.unwrap(), 0);
    // A second prune finds nothing more.
    let again = mcap_notify::prune::prune(&t.app, 90, Utc::now(), false)
        .await
        .unwrap();
    assert_eq!(again.counts, Default::default());
}

#[tokio::test]
async fn the_daemon_job_prunes_with_the_configured_retention() {
    let t = aged_world(|s| {
        s.retention.days = 90;
        s.retention.prune_every_secs = 3600;
    })
    .await;
    // Stopped before it starts: the job does its first pass, then sees the stop and returns.
    let stop = AtomicBool::new(true);
    mcap_notify::prune::run_periodic(&t.app, &stop).await;
    let bodies: i64 = t.db().value("SELECT COUNT(*) FROM outbox_bodies").await;
    assert_eq!(bodies, 2);

    // Off (0) does nothing.
    let t = aged_world(|s| s.retention.prune_every_secs = 0).await;
    mcap_notify::prune::run_periodic(&t.app, &stop).await;
    let bodies: i64 = t.db().value("SELECT COUNT(*) FROM outbox_bodies").await;
    assert_eq!(bodies, 4);
}
