//! `mcap-notify bench generate`: the feeds of a busy statewide day, deterministic for a seed.
//!
//! At scale 1: 330,000 cases in all, 60,000 of them active with about 150,000 new docket
//! entries (1% voided again), 250,000 accounts (5% unverified) holding about 400,000
//! subscriptions (most track one case; one account in a hundred is an attorney tracking
//! dozens). Scale S multiplies every count, the entries spread over S days. Cases, entries and
//! parties come from the demo's generator, so case numbers, docket codes and descriptions fit
//! each case type. With `csv` the same rows are also written as CSV files shaped like the
//! database's tables, for the `sqlite3` shell's import that the benchmarks compare against.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Duration, DurationRound, Utc};
use rand::seq::SliceRandom;
use rand::Rng;
use serde::Serialize;

use crate::demo::{courts, write_jsonl, write_line, Generator};
use crate::model::{Account, Case, DocketEntry};

/// Counts at scale 1.
const CASES: f64 = 330_000.0;
const ACTIVE_CASES: f64 = 60_000.0;
const ACCOUNTS: f64 = 250_000.0;

/// What to generate.
#[derive(Debug, Clone, Copy)]
pub struct Workload {
    pub scale: f64,
    pub seed: u64,
    /// Also write the rows as CSV for the `sqlite3` floor.
    pub csv: bool,
}

/// What was written, printed at the end (and as JSON for scripts).
#[derive(Debug, Default, Serialize)]
pub struct Generated {
    pub courts: usize,
    pub cases: usize,
    pub parties: usize,
    pub accounts: usize,
    pub subscriptions: usize,
    pub entries: usize,
    pub voids: usize,
    /// The feed files in ingest order, as `kind path`.
    pub feeds: Vec<(String, PathBuf)>,
}

/// A CSV file of rows shaped like a table (no header row).
struct CsvTable(csv::Writer<std::fs::File>);

impl CsvTable {
    fn create(dir: &Path, table: &str) -> anyhow::Result<Option<CsvTable>> {
        let path = dir.join(format!("{table}.csv"));
        let writer = csv::WriterBuilder::new()
            .has_headers(false)
            .from_path(&path)
            .with_context(|| format!("creating {}", path.display()))?;
        Ok(Some(CsvTable(writer)))
    }
}

fn row<const N: usize>(table: &mut Option<CsvTable>, fields: [&str; N]) -> anyhow::Result<()> {
    if let Some(CsvTable(writer)) = table {
        writer.write_record(fields)?;
    }
    Ok(())
}

fn micros(at: DateTime<Utc>) -> String {
    at.timestamp_micros().to_string()
}

fn flag(on: bool) -> &'static str {
    if on {
        "1"
    } else {
        "0"
    }
}

/// A feed file written as it is generated.
fn create(path: &Path) -> anyhow::Result<std::io::BufWriter<std::fs::File>> {
    let file =
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    Ok(std::io::BufWriter::new(file))
}

fn scaled(count: f64, scale: f64) -> usize {
    (count * scale).round().max(1.0) as usize
}

/// Writes the five feeds (and with `csv` the tables' CSV files) into `dir`.
pub fn generate(dir: &Path, workload: Workload, now: DateTime<Utc>) -> anyhow::Result<Generated> {
    anyhow::ensure!(
        workload.scale > 0.0 && workload.scale <= 100.0,
        "--scale must be more than 0 and at most 100 (got {})",
        workload.scale
    );
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let csv_dir = dir.join("csv");
    if workload.csv {
        std::fs::create_dir_all(&csv_dir)
            .with_context(|| format!("creating {}", csv_dir.display()))?;
    }
    let table = |name: &str| -> anyhow::Result<Option<CsvTable>> {
        if workload.csv {
            CsvTable::create(&csv_dir, name)
        } else {
            Ok(None)
        }
    };
    let now = now.duration_trunc(Duration::seconds(1))?;
    let scale = workload.scale;
    let mut g = Generator::new(workload.seed, now);
    let mut out = Generated::default();
    let feed = |kind: &str| (kind.to_string(), dir.join(format!("{kind}.jsonl")));
    out.feeds = ["courts", "cases", "accounts", "subscriptions", "entries"]
        .map(feed)
        .to_vec();

    let courts = courts();
    let mut courts_csv = table("courts")?;
    let mut excluded_csv = table("court_excluded_case_types")?;
    for court in &courts {
        row(
            &mut courts_csv,
            [&court.court_id, &court.name, flag(court.mcap)],
        )?;
        for case_type in &court.track_excluded_case_types {
            row(&mut excluded_csv, [&court.court_id, case_type])?;
        }
    }
    write_jsonl(&out.feeds[0].1, &courts)?;
    out.courts = courts.len();

    // Cases, streamed out; the active ones are kept for their entries, every trackable one's
    // number for the subscriptions.
    let days = scale.ceil().max(1.0) as i64;
    let cases = scaled(CASES, scale);
    let active_share = ACTIVE_CASES / CASES;
    let mut active: Vec<Case> = Vec::new();
    let mut trackable: Vec<String> = Vec::new();
    let mut trackable_active: Vec<String> = Vec::new();
    let mut cases_csv = table("cases")?;
    let mut parties_csv = table("parties")?;
    {
        let mut writer = create(&out.feeds[1].1)?;
        for i in 0..cases {
            let case = g.case(i);
            write_line(&mut writer, &case)?;
            row(
                &mut cases_csv,
                [
                    &case.case_number,
                    &case.court_id,
                    &case.case_type,
                    &case.caption,
                    &micros(case.filed_at),
                    flag(case.confidential),
                    "",
                ],
            )?;
            for (position, party) in case.parties.iter().enumerate() {
                row(
                    &mut parties_csv,
                    [
                        &case.case_number,
                        &position.to_string(),
                        &party.name,
                        &party.role,
                    ],
                )?;
            }
            out.parties += case.parties.len();
            let is_trackable = !matches!(case.case_type.as_str(), "JU" | "MH");
            let is_active = g.rng.gen_bool(active_share);
            if is_trackable {
                trackable.push(case.case_number.clone());
                if is_active {
                    trackable_active.push(case.case_number.clone());
                }
            }
            if is_active {
                active.push(case);
            }
        }
        writer.flush()?;
    }
    out.cases = cases;

    // Accounts and what they track: half of all tracking is of cases active today.
    let entries_from = now - Duration::days(days);
    let mut accounts_csv = table("accounts")?;
    let mut subscriptions_csv = table("subscriptions")?;
    let mut accounts = Vec::new();
    let mut subscriptions = Vec::new();
    for i in 0..scaled(ACCOUNTS, scale) {
        let first = g.pick(crate::demo::FIRST_NAMES).to_lowercase();
        let last = g.pick(crate::demo::LAST_NAMES).to_lowercase();
        let account = Account {
            account_id: format!("A{:08}", i + 1),
            email: format!("{first}.{last}{}@example.com", i + 1),
            email_verified: g.rng.gen_bool(0.95),
        };
        row(
            &mut accounts_csv,
            [
                &account.account_id,
                &account.email,
                flag(account.email_verified),
            ],
        )?;
        let how_many = match g.rng.gen_range(0..1000) {
            0..=9 => g.rng.gen_range(20..61),
            10..=799 => 1,
            800..=949 => 2,
            _ => 3,
        };
        let mut followed: Vec<&String> = Vec::with_capacity(how_many);
        for _ in 0..how_many {
            let pool = if g.rng.gen_bool(0.5) {
                &trackable_active
            } else {
                &trackable
            };
            // At the smallest scales a pool may be empty: the account then tracks nothing.
            let Some(case_number) = pool.choose(&mut g.rng) else {
                break;
            };
            if !followed.contains(&case_number) {
                followed.push(case_number);
            }
        }
        for case_number in followed {
            let tracked_at = entries_from - Duration::hours(g.rng.gen_range(1..24 * 60));
            row(
                &mut subscriptions_csv,
                [&account.account_id, case_number, &micros(tracked_at), ""],
            )?;
            subscriptions.push(serde_json::json!({
                "account_id": account.account_id,
                "case_number": case_number,
                "tracked_at": tracked_at,
            }));
        }
        accounts.push(account);
    }
    write_jsonl(&out.feeds[2].1, &accounts)?;
    write_jsonl(&out.feeds[3].1, &subscriptions)?;
    out.accounts = accounts.len();
    out.subscriptions = subscriptions.len();
    drop((accounts, subscriptions, trackable, trackable_active));

    // The day's entries: one to four on each active case (2.5 on average), posted over the
    // last `days` days, written in posting order; 1% voided again at the end of the file.
    let span = days * 24 * 60 * 60;
    let mut planned: Vec<(DateTime<Utc>, usize)> = Vec::new();
    for (index, _) in active.iter().enumerate() {
        for _ in 0..g.rng.gen_range(1..5) {
            planned.push((
                entries_from + Duration::seconds(g.rng.gen_range(0..span)),
                index,
            ));
        }
    }
    planned.sort();
    let mut entries_csv = table("docket_entries")?;
    let mut voids_csv = table("voids")?;
    let mut writer = create(&out.feeds[4].1)?;
    let mut voids: Vec<String> = Vec::new();
    for (n, (posted_at, index)) in planned.into_iter().enumerate() {
        let entry: DocketEntry = g.entry(&active[index], n + 1, posted_at, false);
        write_line(&mut writer, &entry)?;
        row(
            &mut entries_csv,
            [
                &entry.entry_id,
                &entry.case_number,
                &entry.code,
                &entry.description,
                &entry.text,
                &entry.filed_by,
                &micros(entry.posted_at),
            ],
        )?;
        if g.rng.gen_bool(0.01) {
            voids.push(entry.entry_id);
        }
        out.entries += 1;
    }
    for entry_id in &voids {
        write_line(
            &mut writer,
            &serde_json::json!({"entry_id": entry_id, "voided_at": now}),
        )?;
        row(&mut voids_csv, [entry_id, &micros(now)])?;
    }
    writer.flush()?;
    out.voids = voids.len();
    for table in [
        courts_csv,
        excluded_csv,
        cases_csv,
        parties_csv,
        accounts_csv,
        subscriptions_csv,
        entries_csv,
        voids_csv,
    ]
    .into_iter()
    .flatten()
    {
        table
            .0
            .into_inner()
            .map_err(|e| e.into_error())?
            .sync_all()?;
    }
    Ok(out)
}
