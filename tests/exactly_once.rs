//! Exactly-once generation: however a run is interrupted, the next run completes it so that
//! every (account, entry) pair is in exactly one digest, and the digests are the ones an
//! uninterrupted run would have queued. Late-visible and back-dated entries are notified once.

mod common;

use chrono::{DateTime, Duration, TimeZone, Utc};
use common::*;
use mcap_notify::batch::{RunError, RunOptions};
use mcap_notify::ingest::FeedKind;
use proptest::prelude::*;
use serde_json::Value;

fn at(hours: i64) -> String {
    let base: DateTime<Utc> = Utc.with_ymd_and_hms(2026, 2, 2, 0, 0, 0).unwrap();
    (base + Duration::hours(hours)).to_rfc3339()
}

fn case_number(i: usize) -> String {
    format!("2616-CV{:05}", i + 1)
}

/// A random world and a random schedule of feed waves, each followed by one run.
#[derive(Debug, Clone)]
struct Scenario {
    cases: usize,
    verified: Vec<bool>,
    /// Per (account, case): tracking start hour and, maybe, how many hours later it stopped.
    tracking: Vec<Option<(i64, Option<i64>)>>,
    /// Per wave: entries as (case index, posted hour, voided before the run).
    waves: Vec<Vec<(usize, i64, bool)>>,
    /// Per wave: where the run crashes (after how many commits), if it does.
    crashes: Vec<Option<usize>>,
    accounts_per_commit: u32,
}

fn scenario() -> impl Strategy<Value = Scenario> {
    (
        1usize..4,
        prop::collection::vec(prop::bool::weighted(0.85), 1..6),
    )
        .prop_flat_map(|(cases, verified)| {
            let pairs = cases * verified.len();
            (
                Just(cases),
                Just(verified),
                prop::collection::vec(
                    prop::option::weighted(0.7, (0i64..48, prop::option::of(0i64..48))),
                    pairs,
                ),
                prop::collection::vec(
                    prop::collection::vec((0..cases, 0i64..96, prop::bool::weighted(0.1)), 0..12),
                    1..4,
                ),
                prop::collection::vec(prop::option::of(0usize..6), 3),
                1u32..4,
            )
        })
        .prop_map(
            |(cases, verified, tracking, waves, crashes, accounts_per_commit)| Scenario {
                cases,
                verified,
                tracking,
                waves,
                crashes,
                accounts_per_commit,
            },
        )
}

/// Digests as comparable values: (message id, account, entry ids).
type Digests = Vec<(String, String, Vec<String>)>;

async fn message_ids(t: &TestApp) -> Vec<String> {
    t.db()
        .column("SELECT message_id FROM outbox ORDER BY outbox_id")
        .await
}

/// The scenario's cases, accounts and tracking, ingested into a new application.
async fn world(s: &Scenario) -> TestApp {
    let t = TestApp::with(|settings| {
        settings.batch.accounts_per_commit = s.accounts_per_commit;
    })
    .await;
    let cases: Vec<Value> = (0..s.cases)
        .map(|i| case(&case_number(i), "CT16", "CV", &format!("Case {i}")))
        .collect();
    t.ingest(FeedKind::Cases, &cases).await;
    let accounts: Vec<Value> = s
        .verified
        .iter()
        .enumerate()
        .map(|(a, v)| account(&format!("acct{a}"), &format!("a{a}@example.org"), *v))
        .collect();
    t.ingest(FeedKind::Accounts, &accounts).await;
    let mut subs = Vec::new();
    for (i, tracking) in s.tracking.iter().enumerate() {
        if let Some((start, stop_after)) = tracking {
            let (a, c) = (i / s.cases, i % s.cases);
            subs.push(track(&format!("acct{a}"), &case_number(c), &at(*start)));
            if let Some(len) = stop_after {
                subs.push(stop(&format!("acct{a}"), &case_number(c), &at(start + len)));
            }
        }
    }
    if !subs.is_empty() {
        t.ingest(FeedKind::Subscriptions, &subs).await;
    }
    t
}

/// A wave's entries, then the voids of those voided before the run.
fn wave_lines(w: usize, wave: &[(usize, i64, bool)]) -> Vec<Value> {
    let mut lines: Vec<Value> = wave
        .iter()
        .enumerate()
        .map(|(i, (c, hour, _))| entry(&format!("w{w}e{i}"), &case_number(*c), "MOT", &at(*hour)))
        .collect();
    lines.extend(
        wave.iter()
            .enumerate()
            .filter(|(_, (_, _, voided))| *voided)
            .map(|(i, _)| void(&format!("w{w}e{i}"), &at(100))),
    );
    lines
}

async fn play(s: &Scenario, with_crashes: bool) -> (Digests, Vec<(String, String)>) {
    let t = world(s).await;
    for (w, wave) in s.waves.iter().enumerate() {
        let lines = wave_lines(w, wave);
        if !lines.is_empty() {
            t.ingest(FeedKind::Entries, &lines).await;
        }
        let crash = if with_crashes {
            s.crashes[w % s.crashes.len()]
        } else {
            None
        };
        let outcome = match crash {
            Some(commits) => {
                mcap_notify::hooks::crash_after_commits(commits, t.run_with(RunOptions::default()))
                    .await
            }
            None => t.run_with(RunOptions::default()).await,
        };
        match outcome {
            Ok(_) => {}
            Err(e) => {
                assert!(
                    matches!(
                        e.downcast_ref::<RunError>(),
                        Some(RunError::InjectedCrash(_))
                    ),
                    "unexpected failure: {e:#}"
                );
                // The next run-now completes the interrupted one.
                let resumed = t.run().await;
                assert!(resumed.resumed);
            }
        }
    }
    // Drain the entries that arrived while the last run ran.
    while t.run().await.entries_scanned > 0 {}
    let ids = message_ids(&t).await;
    let digests = t.digests().await;
    assert_eq!(
        ids.len(),
        digests.len(),
        "every message accounts for entries"
    );
    // A message id names its run. PostgreSQL's run ids can skip a number (an identity value
    // taken by a transaction that rolled back is not given again), so there the two worlds
    // are compared by what each message holds, in order.
    let digests = ids
        .into_iter()
        .zip(digests)
        .map(|(id, (account, _, entries))| {
            let id = if common::on_postgres() {
                String::new()
            } else {
                id
            };
            (id, account, entries)
        })
        .collect();
    (digests, t.ledger().await)
}

/// What the rules say should be notified: verified accounts, active tracking, not voided.
fn expected_pairs(s: &Scenario) -> Vec<(String, String)> {
    let mut pairs = Vec::new();
    for (w, wave) in s.waves.iter().enumerate() {
        for (i, (c, hour, voided)) in wave.iter().enumerate() {
            if *voided {
                continue;
            }
            for (a, verified) in s.verified.iter().enumerate() {
                let Some((start, stop_after)) = s.tracking[a * s.cases + c] else {
                    continue;
                };
                let active = *hour >= start && stop_after.is_none_or(|len| *hour < start + len);
                if *verified && active {
                    pairs.push((format!("acct{a}"), format!("w{w}e{i}")));
                }
            }
        }
    }
    pairs.sort();
    pairs
}

proptest! {
    // On PostgreSQL each world is a new database: fewer cases keep that pass in bounds.
    #![proptest_config(ProptestConfig {
        cases: if common::on_postgres() { 6 } else { 48 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn a_crash_anywhere_then_another_run_gives_the_uninterrupted_digests(s in scenario()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (reference, reference_pairs) = rt.block_on(play(&s, false));
        let (crashed, crashed_pairs) = rt.block_on(play(&s, true));
        prop_assert_eq!(&crashed, &reference);
        prop_assert_eq!(&crashed_pairs, &reference_pairs);
        prop_assert_eq!(reference_pairs, expected_pairs(&s));
    }
}

const C1: &str = "2616-CV00001";

async fn one_tracked_case() -> TestApp {
    TestApp::one_case(|_| {}, C1, Some(&at(0))).await
}

/// Inserts an entry row with a chosen arrival number, as a transaction that committed late on a
/// concurrent backend would leave it.
async fn insert_with_seq(t: &TestApp, seq: i64, entry_id: &str, posted_hour: i64) {
    let posted = DateTime::parse_from_rfc3339(&at(posted_hour)).unwrap();
    let db = t.db();
    db.exec(&format!(
        "INSERT INTO docket_entries (seq, entry_id, case_number, code, description, text,
                                     filed_by, posted_at) {}
         VALUES ({seq}, '{entry_id}', '{C1}', 'MOT', 'Motion Filed', '', 'Clerk', {})",
        db.overriding(),
        db.at(posted.to_utc())
    ))
    .await;
}

#[tokio::test]
async fn an_entry_that_becomes_visible_below_the_watermark_is_notified_once() {
    let t = one_tracked_case().await;
    insert_with_seq(&t, 1, "first", 1).await;
    insert_with_seq(&t, 10, "high", 2).await;
    t.run().await;
    let status = t.app.status().await.unwrap();
    assert_eq!(status.0.watermark, 10);
    // Arrival number 5 commits only now, below the watermark.
    insert_with_seq(&t, 5, "late", 3).await;
    let report = t.run().await;
    assert_eq!(report.entries_scanned, 1);
    t.run().await;
    assert_eq!(
        t.ledger().await,
        vec![
            ("ann".to_string(), "first".to_string()),
            ("ann".into(), "high".into()),
            ("ann".into(), "late".into())
        ]
    );
    assert_eq!(t.digests().await.len(), 2);
}

#[tokio::test]
async fn a_back_dated_entry_is_notified_once() {
    let t = one_tracked_case().await;
    t.ingest(FeedKind::Entries, &[entry("recent", C1, "JE", &at(30))])
        .await;
    t.run().await;
    // Posted "earlier" than the entry already sent, but it arrives now.
    t.ingest(FeedKind::Entries, &[entry("backdated", C1, "MOT", &at(5))])
        .await;
    t.run().await;
    t.run().await;
    assert_eq!(
        t.digests().await,
        vec![
            (
                "ann".to_string(),
                "ann@example.org".to_string(),
                vec!["recent".to_string()]
            ),
            (
                "ann".into(),
                "ann@example.org".into(),
                vec!["backdated".into()]
            ),
        ]
    );
}

/// A feed change made between a crash and the run that resumes it.
#[derive(Debug, Clone)]
enum Change {
    /// The account turns out to have tracked the case since this hour.
    Track {
        account: usize,
        case: usize,
        hour: i64,
    },
    Seal {
        case: usize,
        sealed: bool,
    },
    Verify {
        account: usize,
        verified: bool,
    },
    /// The court's MCAP flag and whether it excludes the case type.
    Court {
        mcap: bool,
        exclude: bool,
    },
    Address {
        account: usize,
    },
}

fn change(cases: usize, accounts: usize) -> impl Strategy<Value = Change> {
    prop_oneof![
        // A back-dated subscription is the change most likely to meet an account whose digest
        // was committed before the crash.
        4 => (0..accounts, 0..cases, 0i64..48).prop_map(|(account, case, hour)| Change::Track {
            account,
            case,
            hour
        }),
        1 => (0..cases, any::<bool>()).prop_map(|(case, sealed)| Change::Seal { case, sealed }),
        1 => (0..accounts, any::<bool>())
            .prop_map(|(account, verified)| Change::Verify { account, verified }),
        1 => (prop::bool::weighted(0.7), prop::bool::weighted(0.3))
            .prop_map(|(mcap, exclude)| Change::Court { mcap, exclude }),
        1 => (0..accounts).prop_map(|account| Change::Address { account }),
    ]
}

/// What decides whether a pair is notifiable, as the feeds have set it at one moment.
#[derive(Debug, Clone)]
struct World {
    verified: Vec<bool>,
    sealed: Vec<bool>,
    mcap: bool,
    exclude: bool,
    /// Per (account, case): tracking start and stop hours.
    tracking: Vec<Option<(i64, Option<i64>)>>,
}

impl World {
    fn notifies(&self, cases: usize, account: usize, case: usize, hour: i64) -> bool {
        let tracked = self.tracking[account * cases + case]
            .is_some_and(|(start, stop)| hour >= start && stop.is_none_or(|s| hour < s));
        tracked && self.verified[account] && !self.sealed[case] && self.mcap && !self.exclude
    }
}

#[derive(Debug, Clone)]
struct ChangingScenario {
    base: Scenario,
    /// Per wave: the changes made after its run crashed, before the resume.
    changes: Vec<Vec<Change>>,
    /// Per wave: whether its entries are ingested while its run runs.
    concurrent: Vec<bool>,
}

fn changing_scenario() -> impl Strategy<Value = ChangingScenario> {
    scenario().prop_flat_map(|base| {
        let (cases, accounts, waves) = (base.cases, base.verified.len(), base.waves.len());
        (
            Just(base),
            prop::collection::vec(prop::collection::vec(change(cases, accounts), 0..4), waves),
            prop::collection::vec(any::<bool>(), waves),
            // Crashes after a commit or two, so that changes meet digests already queued.
            prop::collection::vec(prop::option::weighted(0.8, 1usize..3), 3),
        )
            .prop_map(|(mut base, changes, concurrent, crashes)| {
                base.crashes = crashes;
                ChangingScenario {
                    base,
                    changes,
                    concurrent,
                }
            })
    })
}

/// Applies `change` through the feeds, as the clerks' and the accounts' systems would, and to
/// the model; a change the feeds would refuse (tracking a case that cannot be tracked, or a
/// pair already tracked) is not made.
async fn apply(t: &TestApp, s: &Scenario, world: &mut World, change: &Change) {
    match *change {
        Change::Track {
            account,
            case,
            hour,
        } => {
            let slot = &mut world.tracking[account * s.cases + case];
            if slot.is_some() || !world.mcap || world.exclude {
                return;
            }
            *slot = Some((hour, None));
            let line = track(&format!("acct{account}"), &case_number(case), &at(hour));
            t.ingest(FeedKind::Subscriptions, &[line]).await;
        }
        Change::Seal { case, sealed } => {
            world.sealed[case] = sealed;
            let mut line = common::case(&case_number(case), "CT16", "CV", &format!("Case {case}"));
            line["confidential"] = sealed.into();
            t.ingest(FeedKind::Cases, &[line]).await;
        }
        Change::Verify { account, verified } => {
            world.verified[account] = verified;
            let line = common::account(
                &format!("acct{account}"),
                &format!("a{account}@example.org"),
                verified,
            );
            t.ingest(FeedKind::Accounts, &[line]).await;
        }
        Change::Court { mcap, exclude } => {
            world.mcap = mcap;
            world.exclude = exclude;
            let excluded: &[&str] = if exclude { &["CV"] } else { &[] };
            t.ingest(FeedKind::Courts, &[court("CT16", mcap, excluded)])
                .await;
        }
        Change::Address { account } => {
            let line = common::account(
                &format!("acct{account}"),
                &format!("moved{account}@example.net"),
                world.verified[account],
            );
            t.ingest(FeedKind::Accounts, &[line]).await;
        }
    }
}

/// Plays the waves with crashes, changes between crash and resume, and entries arriving while
/// runs run. Returns the ledger, and per entry the worlds it could have been judged in (from
/// the one it arrived in to the last).
async fn play_changing(c: &ChangingScenario) -> (Vec<(String, String)>, Vec<World>, Vec<usize>) {
    let s = &c.base;
    let t = world(s).await;
    let mut world = World {
        verified: s.verified.clone(),
        sealed: vec![false; s.cases],
        mcap: true,
        exclude: false,
        tracking: s
            .tracking
            .iter()
            .map(|t| t.map(|(start, len)| (start, len.map(|l| start + l))))
            .collect(),
    };
    let mut worlds = vec![world.clone()];
    // Per wave: the index in `worlds` of the world its entries arrived in.
    let mut arrived = Vec::new();
    for (w, wave) in s.waves.iter().enumerate() {
        let lines = wave_lines(w, wave);
        arrived.push(worlds.len() - 1);
        let run = async {
            match s.crashes[w % s.crashes.len()] {
                Some(commits) => {
                    mcap_notify::hooks::crash_after_commits(
                        commits,
                        t.run_with(RunOptions::default()),
                    )
                    .await
                }
                None => t.run_with(RunOptions::default()).await,
            }
        };
        let outcome = if c.concurrent[w] && !lines.is_empty() {
            let (_, outcome) = tokio::join!(t.ingest(FeedKind::Entries, &lines), run);
            outcome
        } else {
            if !lines.is_empty() {
                t.ingest(FeedKind::Entries, &lines).await;
            }
            run.await
        };
        if let Err(e) = outcome {
            assert!(
                matches!(
                    e.downcast_ref::<RunError>(),
                    Some(RunError::InjectedCrash(_))
                ),
                "unexpected failure: {e:#}"
            );
            for change in &c.changes[w] {
                apply(&t, s, &mut world, change).await;
                worlds.push(world.clone());
            }
            let resumed = t.run().await;
            assert!(resumed.resumed);
        }
    }
    while t.run().await.entries_scanned > 0 {}
    let open: i64 = t
        .db()
        .value("SELECT COUNT(*) FROM runs WHERE status = 'running'")
        .await;
    assert_eq!(open, 0, "every run finished");
    let empty: i64 = t
        .db()
        .value(
            "SELECT COUNT(*) FROM outbox o
             WHERE NOT EXISTS (SELECT 1 FROM notification_ledger l
                               WHERE l.outbox_id = o.outbox_id)",
        )
        .await;
    assert_eq!(empty, 0, "every message reports something");
    assert!(t.app.status().await.unwrap().0.held.is_empty());
    (t.ledger().await, worlds, arrived)
}

proptest! {
    // On PostgreSQL each world is a new database: fewer cases keep that pass in bounds.
    #![proptest_config(ProptestConfig {
        cases: if common::on_postgres() { 6 } else { 48 },
        ..ProptestConfig::default()
    })]

    #[test]
    fn feeds_changed_between_crash_and_resume_still_give_every_pair_once(c in changing_scenario()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let (ledger, worlds, arrived) = rt.block_on(play_changing(&c));
        let s = &c.base;
        // The ledger's key makes a pair appear at most once; what matters is which pairs. An
        // entry is judged in one world between its arrival and the end: a pair notifiable in
        // all of them must be in the ledger, and one notifiable in none must not.
        for (w, wave) in s.waves.iter().enumerate() {
            let possible = &worlds[arrived[w]..];
            for (i, (case, hour, voided)) in wave.iter().enumerate() {
                for a in 0..s.verified.len() {
                    let pair = (format!("acct{a}"), format!("w{w}e{i}"));
                    let judged: Vec<bool> = possible
                        .iter()
                        .map(|world| !voided && world.notifies(s.cases, a, *case, *hour))
                        .collect();
                    let notified = ledger.contains(&pair);
                    if judged.iter().all(|&n| n) {
                        prop_assert!(notified, "{:?} was owed a notice", pair);
                    }
                    if judged.iter().all(|&n| !n) {
                        prop_assert!(!notified, "{:?} was notified though never owed", pair);
                    }
                }
            }
        }
    }
}
