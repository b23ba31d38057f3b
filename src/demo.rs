//! `mcap-notify demo`: a realistic, self-contained showcase. It writes feeds of Missouri-shaped
//! data (the real circuits and counties, a few hundred cases, docket entries worded as CaseNet
//! words them, accounts and subscriptions) into a directory of its own, ingests them through the
//! ordinary feed path, runs the batch, delivers to `.eml` files and prints what happened.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context;
use chrono::{DateTime, Datelike, Duration, Utc};
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::app::App;
use crate::batch::RunOptions;
use crate::circuits::CIRCUITS;
use crate::config::{MailSettings, Secret, Settings, TransportKind, DEFAULT_CONFIG_FILE};
use crate::ingest::FeedKind;
use crate::model::{Account, Case, Court, CourtEvent, DocketEntry, EventKind, EventStatus, Party};
use crate::store::watches::WatchStore;
use crate::store::{DateStore, RunTotals};

/// Marks a directory as the demo's, so a second run may clear it safely.
const MARKER: &str = ".mcap-demo";

pub(crate) const FIRST_NAMES: &[&str] = &[
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "William",
    "Barbara",
    "Richard",
    "Susan",
    "Joseph",
    "Jessica",
    "Thomas",
    "Sarah",
    "Charles",
    "Karen",
    "Daniel",
    "Nancy",
    "Matthew",
    "Lisa",
    "Anthony",
    "Betty",
    "Mark",
    "Dorothy",
    "Donald",
    "Sandra",
    "Steven",
    "Ashley",
    "Andrew",
    "Kimberly",
    "Joshua",
    "Donna",
    "Kenneth",
    "Emily",
    "Kevin",
    "Carol",
    "Brian",
    "Michelle",
    "Timothy",
    "Amanda",
    "Ronald",
    "Melissa",
    "Jason",
    "Deborah",
    "Tyrone",
    "Keisha",
    "Luis",
    "Maria",
    "Darnell",
    "Latoya",
];

pub(crate) const LAST_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Miller",
    "Davis",
    "Wilson",
    "Anderson",
    "Taylor",
    "Thomas",
    "Moore",
    "Martin",
    "Jackson",
    "Thompson",
    "White",
    "Harris",
    "Clark",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Scott",
    "Hill",
    "Green",
    "Adams",
    "Baker",
    "Nelson",
    "Carter",
    "Mitchell",
    "Roberts",
    "Turner",
    "Phillips",
    "Campbell",
    "Parker",
    "Evans",
    "Edwards",
    "Collins",
    "Stewart",
    "Morris",
    "Murphy",
    "Cook",
    "Rogers",
    "Schmidt",
    "Mueller",
    "Hoffmann",
    "Garcia",
    "Hernandez",
    "Nguyen",
    "Washington",
    "Brooks",
];

const COMPANIES: &[&str] = &[
    "Midwest Credit Recovery LLC",
    "Show-Me Auto Finance Inc",
    "Ozark Valley Bank",
    "Gateway Property Management LLC",
    "Heartland Medical Group",
    "River City Apartments LP",
    "Capitol Federal Receivables",
];

/// Case types with their share of filings, and whether Track This Case is offered.
const CASE_TYPES: &[(&str, u32)] = &[
    ("CR", 30),
    ("CV", 24),
    ("AC", 10),
    ("FC", 12),
    ("TR", 8),
    ("PR", 6),
    ("JU", 5),
    ("MH", 5),
];

/// Who files a docket entry.
#[derive(Clone, Copy)]
enum Filer {
    /// The clerk's office: summonses, settings, warrants, letters.
    Clerk,
    /// The judge, by division: orders, judgments, rulings from the bench.
    Judge,
    /// The party with this role, through its attorney when it has one.
    Party(&'static str),
    /// Either side of the case, through counsel.
    EitherSide,
}

/// A docket entry in the shorthand clerks use on CaseNet: code, description, detail and filer.
/// `{date}`, `{judge}`, `{county}` and `{party}` are filled in per entry; a party's filing ends
/// with who filed it and for whom. Each table starts with the filing that opens the case.
type EntryKind = (&'static str, &'static str, &'static str, Filer);

const CRIMINAL_ENTRIES: &[EntryKind] = &[
    (
        "INFO",
        "Information Filed",
        "Felony Information",
        Filer::Party("Plaintiff"),
    ),
    (
        "COMP",
        "Complaint Filed",
        "Misdemeanor Complaint",
        Filer::Party("Plaintiff"),
    ),
    (
        "WARI",
        "Warrant Issued",
        "Failure to Appear Warrant; Bond Set at $2,500 cash only; {judge}",
        Filer::Clerk,
    ),
    (
        "WARS",
        "Warrant Served",
        "Warrant served on {party} in {county}",
        Filer::Clerk,
    ),
    (
        "ARRS",
        "Arraignment Scheduled",
        "Scheduled For: {date}; 9:00 AM; {judge}; {county}",
        Filer::Clerk,
    ),
    (
        "ARRN",
        "Arraignment Held",
        "Defendant appeared in person with counsel; plea of not guilty entered; {judge}",
        Filer::Judge,
    ),
    (
        "BOND",
        "Bond Set",
        "Bond set at $5,000 cash or surety; {judge}",
        Filer::Judge,
    ),
    (
        "BOND",
        "Bond Reduction Granted",
        "Bond reduced to $1,000 10%; {judge}",
        Filer::Judge,
    ),
    (
        "MOT",
        "Motion Filed",
        "Motion to Reduce Bond",
        Filer::Party("Defendant"),
    ),
    (
        "MOT",
        "Motion Filed",
        "Request for Discovery",
        Filer::EitherSide,
    ),
    (
        "EOA",
        "Entry of Appearance Filed",
        "Entry of Appearance of counsel",
        Filer::Party("Defendant"),
    ),
    (
        "PLEA",
        "Plea of Guilty",
        "Defendant withdrew plea of not guilty and entered plea of guilty; {judge}",
        Filer::Judge,
    ),
    (
        "SENT",
        "Sentence Imposed",
        "Suspended Imposition of Sentence; 2 years probation; {judge}",
        Filer::Judge,
    ),
    (
        "NOLP",
        "Nolle Prosequi Filed",
        "Nolle Prosequi",
        Filer::Party("Plaintiff"),
    ),
    (
        "CONT",
        "Continuance Granted",
        "Hearing Continued/Rescheduled to {date}; {judge}",
        Filer::Judge,
    ),
    (
        "HRSC",
        "Hearing Scheduled",
        "Scheduled For: {date}; 1:30 PM; {judge}; {county}",
        Filer::Clerk,
    ),
];

const CIVIL_ENTRIES: &[EntryKind] = &[
    (
        "PETF",
        "Pet Filed in Circuit Ct",
        "Petition on Account",
        Filer::Party("Plaintiff"),
    ),
    ("JGAS", "Judge Assigned", "{judge}", Filer::Clerk),
    (
        "SMIS",
        "Summons Issued-Circuit",
        "Summons issued to {party} for service in {county}",
        Filer::Clerk,
    ),
    (
        "SERV",
        "Agent Served",
        "Served to registered agent of {party}",
        Filer::Clerk,
    ),
    (
        "ANSR",
        "Answer Filed",
        "Answer to Petition",
        Filer::Party("Defendant"),
    ),
    (
        "EOA",
        "Entry of Appearance Filed",
        "Entry of Appearance of counsel",
        Filer::EitherSide,
    ),
    (
        "MOT",
        "Motion for Leave",
        "Motion for Leave to File Amended Petition",
        Filer::Party("Plaintiff"),
    ),
    (
        "MOT",
        "Motion Filed",
        "Motion for Summary Judgment",
        Filer::EitherSide,
    ),
    (
        "CSRV",
        "Cert Serv of Rspns to Interrog",
        "Certificate of Service",
        Filer::EitherSide,
    ),
    (
        "NDEP",
        "Notice to Take Deposition",
        "Notice to Take Deposition of {party}",
        Filer::EitherSide,
    ),
    (
        "HRSC",
        "Hearing Scheduled",
        "Scheduled For: {date}; 9:00 AM; {judge}; {county}",
        Filer::Clerk,
    ),
    (
        "CONT",
        "Continuance Granted",
        "Hearing Continued/Rescheduled to {date}; {judge}",
        Filer::Judge,
    ),
    (
        "JE",
        "Judgment Entered",
        "Judgment for Plaintiff in the amount of $4,218.37 plus costs; {judge}",
        Filer::Judge,
    ),
    (
        "JE",
        "Default Judgment Entered",
        "Default Judgment Entered; {judge}",
        Filer::Judge,
    ),
    (
        "GARN",
        "Garnishment Application Filed",
        "Garnishment in Aid of Execution",
        Filer::Party("Plaintiff"),
    ),
    (
        "SATJ",
        "Satisfaction of Judgment Filed",
        "Full satisfaction",
        Filer::Party("Plaintiff"),
    ),
    (
        "DISM",
        "Dismissed by Parties",
        "Voluntary Dismissal Without Prejudice",
        Filer::Party("Plaintiff"),
    ),
    (
        "ORDR",
        "Order Entered",
        "Order Granting Motion to Withdraw; {judge}",
        Filer::Judge,
    ),
];

const FAMILY_ENTRIES: &[EntryKind] = &[
    (
        "PETF",
        "Pet Filed in Circuit Ct",
        "Petition for Dissolution of Marriage",
        Filer::Party("Petitioner"),
    ),
    (
        "SMIS",
        "Summons Issued-Circuit",
        "Summons issued to {party} for service in {county}",
        Filer::Clerk,
    ),
    (
        "ANSR",
        "Answer Filed",
        "Answer and Counter-Petition",
        Filer::Party("Respondent"),
    ),
    (
        "EOA",
        "Entry of Appearance Filed",
        "Entry of Appearance of counsel",
        Filer::EitherSide,
    ),
    (
        "MOT",
        "Motion Filed",
        "Motion to Modify Child Support",
        Filer::EitherSide,
    ),
    (
        "MOT",
        "Motion Filed",
        "Motion to Modify Custody",
        Filer::EitherSide,
    ),
    (
        "FRMF",
        "Form 14 Filed",
        "Form 14 Child Support Amount Calculation",
        Filer::EitherSide,
    ),
    (
        "PPLN",
        "Parenting Plan Filed",
        "Proposed Parenting Plan",
        Filer::EitherSide,
    ),
    (
        "HRSC",
        "Hearing Scheduled",
        "Scheduled For: {date}; 9:00 AM; {judge}; {county}",
        Filer::Clerk,
    ),
    (
        "HRHD",
        "Hearing Held",
        "Parties appeared with counsel; evidence heard; taken under advisement; {judge}",
        Filer::Judge,
    ),
    (
        "CONT",
        "Continuance Granted",
        "Hearing Continued/Rescheduled to {date}; {judge}",
        Filer::Judge,
    ),
    (
        "JDIS",
        "Judgment of Dissolution",
        "Judgment and Decree of Dissolution of Marriage; {judge}",
        Filer::Judge,
    ),
    (
        "ORDR",
        "Order Entered",
        "Order of Temporary Child Support; {judge}",
        Filer::Judge,
    ),
];

const PROBATE_ENTRIES: &[EntryKind] = &[
    (
        "APLT",
        "Application for Letters Filed",
        "Application for Letters Testamentary",
        Filer::Party("Personal Representative"),
    ),
    (
        "LTRS",
        "Letters Testamentary Issued",
        "Letters issued to {party}; {judge}",
        Filer::Clerk,
    ),
    (
        "PUBN",
        "Notice of Letters Published",
        "Notice of Letters Granted published in {county} for four weeks",
        Filer::Clerk,
    ),
    (
        "INVF",
        "Inventory and Appraisement Filed",
        "Inventory and Appraisement",
        Filer::Party("Personal Representative"),
    ),
    (
        "ASET",
        "Annual Settlement Filed",
        "Annual Settlement",
        Filer::Party("Personal Representative"),
    ),
    (
        "EOA",
        "Entry of Appearance Filed",
        "Entry of Appearance of counsel",
        Filer::Party("Personal Representative"),
    ),
    (
        "HRSC",
        "Hearing Scheduled",
        "Scheduled For: {date}; 9:00 AM; {judge}; {county}",
        Filer::Clerk,
    ),
    (
        "ORDR",
        "Order Entered",
        "Order Approving Inventory; {judge}",
        Filer::Judge,
    ),
];

/// Juvenile and mental-health dockets: a petition, counsel, hearings and orders.
const PROTECTIVE_ENTRIES: &[EntryKind] = &[
    (
        "PETF",
        "Petition Filed",
        "Petition",
        Filer::Party("Petitioner"),
    ),
    (
        "EOA",
        "Entry of Appearance Filed",
        "Entry of Appearance of counsel",
        Filer::Party("Respondent"),
    ),
    (
        "HRSC",
        "Hearing Scheduled",
        "Scheduled For: {date}; 9:00 AM; {judge}; {county}",
        Filer::Clerk,
    ),
    (
        "HRHD",
        "Hearing Held",
        "Hearing held in chambers; {judge}",
        Filer::Judge,
    ),
    (
        "CONT",
        "Continuance Granted",
        "Hearing Continued/Rescheduled to {date}; {judge}",
        Filer::Judge,
    ),
    (
        "ORDR",
        "Order Entered",
        "Order After Hearing; {judge}",
        Filer::Judge,
    ),
];

/// The docket entries that fit a case type.
fn entry_kinds(case_type: &str) -> &'static [EntryKind] {
    match case_type {
        "CR" | "TR" => CRIMINAL_ENTRIES,
        "CV" | "AC" => CIVIL_ENTRIES,
        "FC" => FAMILY_ENTRIES,
        "PR" => PROBATE_ENTRIES,
        _ => PROTECTIVE_ENTRIES,
    }
}

/// The hearings that fit a case type, with what people are asked to bring.
fn hearing_kinds(case_type: &str) -> &'static [(&'static str, &'static str)] {
    match case_type {
        "CR" | "TR" => &[
            (
                "Arraignment",
                "Photo ID and any papers the court or the police gave you",
            ),
            ("Preliminary Hearing", ""),
            ("Pre-Trial Conference", ""),
            ("Plea Hearing", "Photo ID"),
            (
                "Sentencing",
                "Proof of any treatment, classes or community service completed",
            ),
        ],
        "CV" | "AC" => &[
            ("Case Management Conference", ""),
            ("Motion Hearing", ""),
            ("Trial Setting", ""),
            (
                "Bench Trial",
                "Every document, photo and witness you want the judge to consider",
            ),
        ],
        "FC" => &[
            ("Temporary Custody Hearing", "Your proposed parenting plan"),
            ("Mediation Review", ""),
            (
                "Dissolution Hearing",
                "Statement of income and expenses, statement of property",
            ),
        ],
        _ => &[("Status Conference", ""), ("Hearing on Inventory", "")],
    }
}

const JUDGES: &[&str] = &[
    "Div 1 Hon. Patricia A. Keller",
    "Div 3 Hon. Marcus D. Greene",
    "Div 7 Hon. Elena R. Vasquez",
    "Div 12 Hon. Thomas W. Burke",
    "Div 2 Hon. Angela M. Price",
];

/// How much data the demo generates, and from which seed.
#[derive(Debug, Clone, Copy)]
pub struct DemoSize {
    pub seed: u64,
    /// Multiplies the number of cases and accounts.
    pub scale: u32,
}

/// What the demo did, printed at the end.
#[derive(Debug, Serialize)]
struct DemoFigures {
    cases: usize,
    accounts: usize,
    subscriptions: usize,
    entries: usize,
    hearings: usize,
    payments: usize,
    watches: usize,
    /// The plaintiff of the day's mass filing, and how many cases it filed.
    mass_filer: (&'static str, usize),
}

/// The events feed of the court's changes after the demo's first runs.
const CHANGES_FILE: &str = "events-changes.jsonl";

/// Missouri-shaped cases and docket entries from a seeded random source: the demo's data and
/// the benchmark workload's (see [`crate::bench`]).
pub(crate) struct Generator {
    pub(crate) rng: StdRng,
    now: DateTime<Utc>,
    /// Case numbers given out so far: each is given once.
    taken: HashSet<String>,
}

impl Generator {
    pub(crate) fn new(seed: u64, now: DateTime<Utc>) -> Generator {
        Generator {
            rng: StdRng::seed_from_u64(seed),
            now,
            taken: HashSet::new(),
        }
    }

    /// A case number not given out before: `sequence` picks the five-digit number, which moves
    /// on past numbers already taken under the same prefix.
    fn case_number(&mut self, prefix: &str, sequence: usize) -> String {
        let mut number = (1000 + sequence) % 100_000;
        loop {
            let candidate = format!("{prefix}{number:05}");
            if self.taken.insert(candidate.clone()) {
                return candidate;
            }
            number = (number + 1) % 100_000;
        }
    }

    pub(crate) fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        items.choose(&mut self.rng).expect("non-empty list")
    }

    pub(crate) fn person(&mut self) -> String {
        format!("{} {}", self.pick(FIRST_NAMES), self.pick(LAST_NAMES))
    }

    fn case_type(&mut self) -> &'static str {
        let total: u32 = CASE_TYPES.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.gen_range(0..total);
        for (kind, weight) in CASE_TYPES {
            if roll < *weight {
                return kind;
            }
            roll -= weight;
        }
        "CV"
    }

    /// Court dates that fit a case: often a hearing in the coming weeks, and for criminal and
    /// traffic cases sometimes a day by which fines and costs are due.
    fn events(&mut self, case: &Case, next_id: &mut usize) -> Vec<CourtEvent> {
        let circuit = CIRCUITS
            .iter()
            .find(|c| c.court_id() == case.court_id)
            .expect("demo cases use built-in courts");
        let zone = chrono_tz::America::Chicago;
        let today = self.now.with_timezone(&zone).date_naive();
        let at = |g: &mut Generator, hour: u32, minute: u32| {
            // Days ahead that meet the reminder days (2 and 10) and some that do not yet.
            let days = *g.pick(&[1_u64, 2, 3, 5, 9, 10, 12, 16, 24]);
            let day = court_day_from(today + chrono::Days::new(days));
            day.and_hms_opt(hour, minute, 0)
                .and_then(|t| t.and_local_timezone(zone).earliest())
                .map(|t| t.with_timezone(&Utc))
                .expect("a demo court time exists")
        };
        let mut events = Vec::new();
        if self.rng.gen_bool(0.4) {
            let (title, bring) = *self.pick(hearing_kinds(&case.case_type));
            let judge = *self.pick(JUDGES);
            let (division, name) = judge.split_once(" Hon. ").unwrap_or(("Div 1", judge));
            let county = *self.pick(circuit.counties);
            let number = division.trim_start_matches("Div ");
            let (hour, minute) = *self.pick(&[(9, 0), (9, 30), (10, 0), (13, 30), (14, 0)]);
            events.push(CourtEvent {
                event_id: format!("EV{:07}", *next_id),
                case_number: case.case_number.clone(),
                kind: EventKind::Hearing,
                title: title.to_string(),
                starts_at: at(self, hour, minute),
                location: format!(
                    "Division {number}, Courtroom {number}A, {county} County Courthouse"
                ),
                judge: format!("Hon. {name}"),
                bring: bring.to_string(),
                status: EventStatus::Scheduled,
            });
            *next_id += 1;
        }
        if matches!(case.case_type.as_str(), "CR" | "TR") && self.rng.gen_bool(0.15) {
            events.push(CourtEvent {
                event_id: format!("EV{:07}", *next_id),
                case_number: case.case_number.clone(),
                kind: EventKind::PaymentDue,
                title: "Fine/Costs Due".into(),
                starts_at: at(self, 16, 0),
                location: format!("Circuit Clerk, {} County", self.pick(circuit.counties)),
                judge: String::new(),
                bring: String::new(),
                status: EventStatus::Scheduled,
            });
            *next_id += 1;
        }
        events
    }

    pub(crate) fn case(&mut self, sequence: usize) -> Case {
        let circuit = *self.pick(&CIRCUITS);
        let case_type = self.case_type();
        let filed_at = self.now - Duration::days(self.rng.gen_range(40..700));
        let year = filed_at.format("%y");
        let division = ["", "A", "B"][self.rng.gen_range(0..3)];
        let case_number = self.case_number(
            &format!("{year}{:02}{division}-{case_type}", circuit.number),
            sequence,
        );
        let attorney = |g: &mut Self| format!("{}, Attorney at Law", g.person());
        // Litigants first, then counsel as "Attorney for <role>".
        let mut parties: Vec<(String, String)> = Vec::new();
        let caption = match case_type {
            "CR" | "TR" => {
                let d = self.person();
                let county = *self.pick(circuit.counties);
                let prosecutor = if county.starts_with("City of") {
                    format!("Circuit Attorney, {county}")
                } else {
                    format!("{county} County Prosecuting Attorney")
                };
                parties.push(("State of Missouri".into(), "Plaintiff".into()));
                parties.push((d.clone(), "Defendant".into()));
                parties.push((prosecutor, "Attorney for Plaintiff".into()));
                parties.push((attorney(self), "Attorney for Defendant".into()));
                format!("State of Missouri v. {d}")
            }
            "CV" | "AC" => {
                let p = if self.rng.gen_bool(0.4) {
                    self.pick(COMPANIES).to_string()
                } else {
                    self.person()
                };
                let d = self.person();
                let caption = format!("{p} v. {d}");
                parties.push((p, "Plaintiff".into()));
                parties.push((d, "Defendant".into()));
                parties.push((attorney(self), "Attorney for Plaintiff".into()));
                if self.rng.gen_bool(0.5) {
                    parties.push((attorney(self), "Attorney for Defendant".into()));
                }
                caption
            }
            "FC" => {
                let a = self.person();
                let mut b = self.person();
                while b == a {
                    b = self.person();
                }
                let caption = format!("In Re the Marriage of: {a} and {b}");
                parties.push((a, "Petitioner".into()));
                parties.push((b, "Respondent".into()));
                for side in ["Petitioner", "Respondent"] {
                    if self.rng.gen_bool(0.7) {
                        parties.push((attorney(self), format!("Attorney for {side}")));
                    }
                }
                caption
            }
            "PR" => {
                let d = self.person();
                let caption = format!("In the Estate of {d}, Deceased");
                parties.push((d, "Decedent".into()));
                parties.push((self.person(), "Personal Representative".into()));
                parties.push((
                    attorney(self),
                    "Attorney for Personal Representative".into(),
                ));
                caption
            }
            _ => {
                let initials = format!(
                    "{}.{}.",
                    &self.pick(FIRST_NAMES)[..1],
                    &self.pick(LAST_NAMES)[..1]
                );
                let petitioner = if case_type == "JU" {
                    "Juvenile Officer".to_string()
                } else {
                    self.person()
                };
                parties.push((petitioner, "Petitioner".into()));
                parties.push((initials.clone(), "Respondent".into()));
                parties.push((attorney(self), "Attorney for Respondent".into()));
                format!("In the Interest of: {initials}")
            }
        };
        let parties: Vec<Party> = parties
            .into_iter()
            .map(|(name, role)| Party { name, role })
            .collect();
        Case {
            case_number,
            court_id: circuit.court_id(),
            case_type: case_type.to_string(),
            caption,
            filed_at,
            confidential: self.rng.gen_bool(0.03),
            closed_at: None,
            parties,
        }
    }

    /// One docket entry for `case`; `opening` gives the filing that starts the case.
    pub(crate) fn entry(
        &mut self,
        case: &Case,
        id: usize,
        posted_at: DateTime<Utc>,
        opening: bool,
    ) -> DocketEntry {
        let kinds = entry_kinds(&case.case_type);
        let (code, description, detail, filer) = if opening { kinds[0] } else { *self.pick(kinds) };
        let circuit = CIRCUITS
            .iter()
            .find(|c| c.court_id() == case.court_id)
            .expect("demo cases use built-in courts");
        let litigants: Vec<&Party> = case
            .parties
            .iter()
            .filter(|p| !p.role.starts_with("Attorney for"))
            .collect();
        let party = match filer {
            Filer::Party(role) => litigants.iter().find(|p| p.role == role),
            Filer::EitherSide => {
                let sides: Vec<&&Party> = litigants
                    .iter()
                    .filter(|p| {
                        matches!(
                            p.role.as_str(),
                            "Plaintiff" | "Defendant" | "Petitioner" | "Respondent"
                        )
                    })
                    .collect();
                sides.choose(&mut self.rng).copied()
            }
            // What the court does concerns the defending side (or the estate's representative).
            Filer::Clerk | Filer::Judge => litigants.last(),
        }
        .expect("every demo case has the parties its entries name");
        let date = court_day_from(
            (posted_at + Duration::days(self.rng.gen_range(7..60)))
                .with_timezone(&chrono_tz::America::Chicago)
                .date_naive(),
        )
        .format("%d-%b-%Y")
        .to_string();
        let judge = *self.pick(JUDGES);
        let county = *self.pick(circuit.counties);
        let mut text = detail
            .replace("{date}", &date)
            .replace("{judge}", judge)
            .replace("{party}", &party.name)
            .replace("{county}", county);
        let filed_by = match filer {
            Filer::Clerk => "Court Clerk".to_string(),
            Filer::Judge => judge.to_string(),
            Filer::Party(_) | Filer::EitherSide => {
                let counsel = format!("Attorney for {}", party.role);
                let by = case
                    .parties
                    .iter()
                    .find(|p| p.role == counsel)
                    .map_or(&party.name, |p| &p.name)
                    .clone();
                text.push_str(&format!("; Filed By: {by}; On Behalf Of: {}", party.name));
                by
            }
        };
        DocketEntry {
            entry_id: format!("DE{id:07}"),
            case_number: case.case_number.clone(),
            code: code.to_string(),
            description: description.to_string(),
            text,
            filed_by,
            posted_at,
        }
    }
}

/// The first weekday on or after `day`: courts sit Monday to Friday.
fn court_day_from(day: chrono::NaiveDate) -> chrono::NaiveDate {
    match day.weekday() {
        chrono::Weekday::Sat => day + chrono::Days::new(2),
        chrono::Weekday::Sun => day + chrono::Days::new(1),
        _ => day,
    }
}

/// One JSON Lines record.
pub(crate) fn write_line(writer: &mut impl Write, record: &impl Serialize) -> anyhow::Result<()> {
    serde_json::to_writer(&mut *writer, record)?;
    writer.write_all(b"\n")?;
    Ok(())
}

pub(crate) fn write_jsonl<T: Serialize>(
    path: &Path,
    items: impl IntoIterator<Item = T>,
) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(
        std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
    );
    for item in items {
        write_line(&mut out, &item)?;
    }
    out.flush()?;
    Ok(())
}

/// Makes `dir` ready for a fresh demo: creates it, or clears an earlier demo's files; refuses a
/// non-empty directory that is not a demo's.
fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)?.next().is_some();
        if non_empty && !dir.join(MARKER).exists() {
            anyhow::bail!(
                "{} exists and is not a demo directory; choose another with --dir",
                dir.display()
            );
        }
        for name in ["feeds", "outbox"] {
            let sub = dir.join(name);
            if sub.exists() {
                std::fs::remove_dir_all(&sub)?;
            }
        }
        for name in ["mcap-demo.db", "mcap-demo.db-wal", "mcap-demo.db-shm"] {
            let file = dir.join(name);
            if file.exists() {
                std::fs::remove_file(&file)?;
            }
        }
    }
    std::fs::create_dir_all(dir.join("feeds"))
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(MARKER), "created by mcap-notify demo\n")?;
    Ok(())
}

/// The 46 circuits, where juvenile and mental-health cases are not trackable, and one
/// municipal court outside MCAP altogether.
pub(crate) fn courts() -> Vec<Court> {
    let mut courts: Vec<Court> = CIRCUITS
        .iter()
        .map(|c| Court {
            court_id: c.court_id(),
            name: c.court_name(),
            mcap: true,
            track_excluded_case_types: vec!["JU".into(), "MH".into()],
        })
        .collect();
    courts.push(Court {
        court_id: "KCMC".into(),
        name: "Kansas City Municipal Court".into(),
        mcap: false,
        track_excluded_case_types: vec![],
    });
    courts
}

/// The plaintiff of the demo's mass filing, which pauses the watch on its name.
const MASS_FILER: &str = "Capitol Federal Receivables";

/// Party watches of verified accounts: a defendant's name written the other way round (with
/// auto_track), a nickname, a plaintiff company with its business form spelt out, and the
/// mass filer, whose two dozen suits today pause its watch. They watch since before the
/// demo's filings, so its older cases count as new to them.
fn demo_watches(
    g: &mut Generator,
    cases: &[Case],
    accounts: &[Account],
    now: DateTime<Utc>,
) -> Vec<serde_json::Value> {
    let verified: Vec<&Account> = accounts.iter().filter(|a| a.email_verified).collect();
    let since = now - Duration::days(800);
    let defendants: Vec<&str> = cases
        .iter()
        .filter(|c| !c.confidential && matches!(c.case_type.as_str(), "CR" | "CV"))
        .flat_map(|c| c.parties.iter())
        .filter(|p| p.role == "Defendant" && p.name.split(' ').count() == 2)
        .map(|p| p.name.as_str())
        .collect();
    let mut watches = Vec::new();
    let mut watch = |account: &Account, name: String, kind: &str, extra: serde_json::Value| {
        let mut line = serde_json::json!({
            "watch_id": format!("W-{}", watches.len() + 1),
            "account_id": account.account_id,
            "name": name,
            "kind": kind,
            "auto_track": false,
            "started_at": since,
        });
        if let (Some(line), Some(extra)) = (line.as_object_mut(), extra.as_object()) {
            line.extend(extra.clone());
        }
        watches.push(line);
    };
    if let Some(name) = defendants.first() {
        let (first, last) = name.split_once(' ').expect("two words");
        watch(
            verified[0],
            format!("{}, {}", last.to_uppercase(), first.to_uppercase()),
            "person",
            serde_json::json!({"auto_track": true}),
        );
    }
    let nicknamed = defendants.iter().find(|n| {
        n.starts_with("William ") || n.starts_with("Robert ") || n.starts_with("Elizabeth ")
    });
    if let Some(name) = nicknamed {
        let (first, last) = name.split_once(' ').expect("two words");
        let short = match first {
            "William" => "Bill",
            "Robert" => "Bob",
            _ => "Liz",
        };
        watch(
            verified[1],
            format!("{short} {last}"),
            "person",
            serde_json::json!({"nicknames": true, "roles": ["Defendant"]}),
        );
    }
    watch(
        verified[2],
        "Midwest Credit Recovery, L.L.C.".into(),
        "organisation",
        serde_json::json!({}),
    );
    let attorney = verified[g.rng.gen_range(3..verified.len())];
    watch(
        attorney,
        format!("The {MASS_FILER} Company"),
        "organisation",
        serde_json::json!({"circuits": ["CT16"]}),
    );
    watches
}

/// Writes the demo's feeds into `feeds` and returns their paths in ingest order.
fn write_feeds(
    feeds: &Path,
    size: DemoSize,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<(FeedKind, PathBuf)>, DemoFigures)> {
    let mut g = Generator::new(size.seed, now);
    let courts = courts();

    let mut cases: Vec<Case> = (0..320 * size.scale as usize).map(|i| g.case(i)).collect();
    // A debt buyer's mass filing today: two dozen collection suits in one court.
    let mass_filer = MASS_FILER;
    let mass_filing = 24;
    for i in 0..mass_filing {
        let mut case = g.case(cases.len() + i);
        let defendant = g.person();
        case.case_number = g.case_number(&format!("{}16-AC", now.format("%y")), 90_000 + i);
        case.court_id = "CT16".into();
        case.case_type = "AC".into();
        case.caption = format!("{mass_filer} v. {defendant}");
        case.filed_at = now - Duration::minutes(150 - 5 * i as i64);
        case.confidential = false;
        case.parties = vec![
            Party {
                name: format!("{}, Inc.", mass_filer.to_uppercase()),
                role: "Plaintiff".into(),
            },
            Party {
                name: defendant,
                role: "Defendant".into(),
            },
        ];
        cases.push(case);
    }
    let trackable: Vec<&Case> = cases
        .iter()
        .filter(|c| !matches!(c.case_type.as_str(), "JU" | "MH"))
        .collect();

    let mut accounts = Vec::new();
    let mut subscriptions = Vec::new();
    for i in 0..180 * size.scale as usize {
        let first = g.pick(FIRST_NAMES).to_lowercase();
        let last = g.pick(LAST_NAMES).to_lowercase();
        let account = Account {
            account_id: format!("U{:06}", 10_000 + i),
            email: format!("{first}.{last}{i}@example.com"),
            email_verified: g.rng.gen_bool(0.95),
        };
        // Most people follow one or two cases; a few attorneys follow many.
        let how_many = if g.rng.gen_bool(0.1) {
            g.rng.gen_range(8..16)
        } else {
            g.rng.gen_range(1..4)
        };
        let mut followed: Vec<&&Case> = trackable.choose_multiple(&mut g.rng, how_many).collect();
        followed.sort_by(|a, b| a.case_number.cmp(&b.case_number));
        for case in followed {
            let tracked_at = now - Duration::days(g.rng.gen_range(2..30));
            subscriptions.push(serde_json::json!({
                "account_id": account.account_id,
                "case_number": case.case_number,
                "tracked_at": tracked_at,
            }));
        }
        accounts.push(account);
    }

    // Older entries (before anyone tracked) and the last day's entries, in posting order.
    let mut entries = Vec::new();
    let mut next_id = 1;
    for case in &cases {
        // The case opens with its petition, information or application, then the docket grows.
        for i in 0..g.rng.gen_range(1..4) {
            let posted = if i == 0 {
                case.filed_at + Duration::minutes(g.rng.gen_range(5..55))
            } else {
                case.filed_at + Duration::hours(g.rng.gen_range(1..600))
            };
            // A case filed today (the mass filing) has no later entries yet.
            if i > 0 && posted >= now {
                continue;
            }
            entries.push(g.entry(case, next_id, posted, i == 0));
            next_id += 1;
        }
        for _ in 0..g.rng.gen_range(0..4) {
            let posted = now - Duration::minutes(g.rng.gen_range(5..(24 * 60)));
            // Nothing before the filing that opens the case.
            if posted <= case.filed_at + Duration::hours(1) {
                continue;
            }
            entries.push(g.entry(case, next_id, posted, false));
            next_id += 1;
        }
    }
    entries.sort_by_key(|e| e.posted_at);
    let mut entry_lines: Vec<serde_json::Value> = entries
        .iter()
        .map(|e| serde_json::to_value(e).expect("entries serialise"))
        .collect();
    // A clerk voids a few of the recent entries before the run: they must not be sent.
    let recent: Vec<&DocketEntry> = entries
        .iter()
        .filter(|e| e.posted_at > now - Duration::days(1))
        .collect();
    for e in recent.choose_multiple(&mut g.rng, 3) {
        entry_lines.push(serde_json::json!({"entry_id": e.entry_id, "voided_at": now}));
    }

    // Court dates on the trackable cases, and the changes the court makes after the first
    // run: a few hearings moved (one to a new courtroom too), one cancelled.
    let mut events = Vec::new();
    let mut next_event = 1;
    for case in &trackable {
        events.extend(g.events(case, &mut next_event));
    }
    let mut changes = Vec::new();
    let hearings: Vec<&CourtEvent> = events
        .iter()
        .filter(|e| e.kind == EventKind::Hearing)
        .collect();
    let tracked: HashSet<&str> = subscriptions
        .iter()
        .filter_map(|s| s["case_number"].as_str())
        .collect();
    let followed: Vec<&&CourtEvent> = hearings
        .iter()
        .filter(|e| tracked.contains(e.case_number.as_str()))
        .collect();
    for (i, event) in followed.choose_multiple(&mut g.rng, 4).enumerate() {
        let mut changed = (**event).clone();
        if i == 0 {
            changed.status = EventStatus::Cancelled;
        } else {
            // By whole weeks: a court sits on the same weekday.
            changed.starts_at += Duration::weeks(g.rng.gen_range(1..3));
            if i == 1 {
                // Moved to another courtroom of the same courthouse too.
                let courthouse = event.location.rsplit(", ").next().unwrap_or_default();
                changed.location = format!("Division 12, Courtroom 12B, {courthouse}");
            }
        }
        changes.push(changed);
    }

    let watches = demo_watches(&mut g, &cases, &accounts, now);
    let figures = DemoFigures {
        cases: cases.len(),
        accounts: accounts.len(),
        subscriptions: subscriptions.len(),
        entries: entries.len(),
        hearings: hearings.len(),
        payments: events.len() - hearings.len(),
        watches: watches.len(),
        mass_filer: (mass_filer, mass_filing),
    };
    let files = vec![
        (FeedKind::Courts, feeds.join("courts.jsonl")),
        (FeedKind::Cases, feeds.join("cases.jsonl")),
        (FeedKind::Accounts, feeds.join("accounts.jsonl")),
        (FeedKind::Subscriptions, feeds.join("subscriptions.jsonl")),
        (FeedKind::Entries, feeds.join("entries.jsonl")),
        (FeedKind::Events, feeds.join("events.jsonl")),
        (FeedKind::Watches, feeds.join("watches.jsonl")),
    ];
    write_jsonl(&files[0].1, &courts)?;
    write_jsonl(&files[1].1, &cases)?;
    write_jsonl(&files[2].1, &accounts)?;
    write_jsonl(&files[3].1, &subscriptions)?;
    write_jsonl(&files[4].1, &entry_lines)?;
    write_jsonl(&files[5].1, &events)?;
    write_jsonl(&files[6].1, &watches)?;
    write_jsonl(&feeds.join(CHANGES_FILE), &changes)?;
    Ok((files, figures))
}

/// Writes the demo's `mcap-notify.toml` into its directory, so that commands run there use the
/// demo's database, outbox and token secret rather than the defaults.
fn write_config(dir: &Path, settings: &Settings) -> anyhow::Result<()> {
    // A JSON string is a valid TOML basic string (the same escapes).
    let quoted = |s: &str| serde_json::to_string(s).expect("a string serialises");
    let text = format!(
        "# Written by `mcap-notify demo`: commands run in this directory use the demo's\n\
         # database, outbox and token secret.\n\n\
         [database]\nurl = {}\n\n\
         [delivery]\ntransport = \"file\"\nfile_dir = {}\n\n\
         [mail]\ntoken_secret = {}\nunsubscribe_url = {}\n",
        quoted(&settings.database.url),
        quoted(&settings.delivery.file_dir.display().to_string()),
        quoted(settings.mail.token_secret.expose()),
        quoted(&settings.mail.unsubscribe_url),
    );
    let path = dir.join(DEFAULT_CONFIG_FILE);
    std::fs::write(&path, text).with_context(|| format!("writing {}", path.display()))
}

/// Builds and runs the demo in `dir`, printing a summary.
pub async fn run(dir: &Path, size: DemoSize, mut settings: Settings) -> anyhow::Result<()> {
    prepare_dir(dir)?;
    let dir = dir.canonicalize()?;
    settings.database.url = format!("sqlite://{}", dir.join("mcap-demo.db").display());
    settings.delivery.transport = TransportKind::File;
    settings.delivery.file_dir = dir.join("outbox");
    settings.mail.token_secret = Secret::new(hex::encode(rand::random::<[u8; 32]>()));
    // The demo's unsubscribe links point at `serve` on this machine, so they can be tried.
    if settings.mail.unsubscribe_url == MailSettings::default().unsubscribe_url {
        settings.mail.unsubscribe_url = format!("http://{}/unsubscribe", settings.http.listen);
    }
    write_config(&dir, &settings)?;
    let settings_unsubscribe_url = settings.mail.unsubscribe_url.clone();
    let app = App::open(settings).await?;

    let (files, figures) = write_feeds(&dir.join("feeds"), size, Utc::now())?;
    let started = Instant::now();
    for (kind, path) in &files {
        app.ingest(*kind, path).await?;
    }
    let ingest_time = started.elapsed();

    // A backlog larger than one run's cap drains over consecutive runs, as a timer would do it.
    let started = Instant::now();
    let mut runs = 0;
    let mut scanned = 0;
    let mut t = RunTotals::default();
    loop {
        // The demo shows the pipeline whatever the hour: it ignores the service window.
        let options = RunOptions {
            ignore_windows: true,
            ..RunOptions::default()
        };
        let report = match app.run_now(&options).await? {
            crate::app::RunOutcome::Ran(report) => report,
            crate::app::RunOutcome::Skipped { .. } => unreachable!("windows are ignored"),
        };
        runs += 1;
        if report.entries_scanned == 0 && runs > 1 {
            // The run that found the backlog drained is a run too.
            break;
        }
        scanned += report.entries_scanned;
        t.absorb(&report.totals);
    }
    // What was queued goes out; then the court moves a few hearings and cancels one, and the
    // next run tells their trackers.
    let started_delivery = Instant::now();
    let first_delivery = app.deliver(true).await?;
    let first_delivery_time = started_delivery.elapsed();
    let mut delivery_time = first_delivery_time;
    let changes = dir.join("feeds").join(CHANGES_FILE);
    app.ingest(FeedKind::Events, &changes).await?;
    let options = RunOptions {
        ignore_windows: true,
        ..RunOptions::default()
    };
    if let crate::app::RunOutcome::Ran(report) = app.run_now(&options).await? {
        runs += 1;
        t.absorb(&report.totals);
    }
    let batch_time = started.elapsed().saturating_sub(first_delivery_time);
    let dates = app.store.date_counts(Utc::now()).await?;
    let notices = |kind: &str| -> u64 {
        dates
            .notices
            .iter()
            .filter(|(notice, _, _)| notice == kind)
            .map(|(_, _, n)| n)
            .sum()
    };
    let started = Instant::now();
    let delivery = app.deliver(true).await?;
    delivery_time += started.elapsed();
    let sent = first_delivery.sent + delivery.sent;

    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    crate::outln!("mcap-notify demo in {}", dir.display());
    crate::outln!(
        "  feeds      {} cases in 46 circuits, {} accounts, {} subscriptions, {} docket entries, ingested in {:.0} ms ({})",
        figures.cases,
        figures.accounts,
        figures.subscriptions,
        figures.entries,
        ms(ingest_time),
        dir.join("feeds").display()
    );
    crate::outln!(
        "  batch      {} {} (the last after the court's changes): {} entries scanned, {} notifiable; dropped {} voided, {} confidential withheld, {} excluded case type, {} court left MCAP; {} (account, entry) pairs, {:.0} ms",
        runs,
        if runs == 1 { "run" } else { "runs" },
        scanned,
        t.drops.notifiable,
        t.drops.voided,
        t.drops.confidential,
        t.drops.excluded_case_type,
        t.drops.excluded_court,
        t.pairs_matched,
        ms(batch_time)
    );
    crate::outln!(
        "  dates      {} hearings and {} payment deadlines ({}, then {}); {} reminders and {} change notices queued, with calendar entries",
        figures.hearings,
        figures.payments,
        dir.join("feeds").join("events.jsonl").display(),
        changes.display(),
        notices("reminder"),
        notices("change"),
    );
    let watches = app.store.watch_counts().await?;
    crate::outln!(
        "  watches    {} party watches ({}): {} new cases matched, {} tracked by auto_track; {} paused by the noise guard after {} filed {} suits today",
        figures.watches,
        dir.join("feeds").join("watches.jsonl").display(),
        watches.matches,
        watches.auto_tracked,
        watches.paused,
        figures.mass_filer.0,
        figures.mass_filer.1,
    );
    crate::outln!(
        "  digests    {} queued, one per account per run; {} unverified accounts skipped",
        t.digests_queued,
        t.skipped_unverified,
    );
    crate::outln!(
        "  messages   {} written as .eml files to {} ({:.0} ms)",
        sent,
        dir.join("outbox").display(),
        ms(delivery_time)
    );
    crate::outln!(
        "  database   {} (its {DEFAULT_CONFIG_FILE} points commands run there at it: try `cd {} && mcap-notify status`)",
        dir.join("mcap-demo.db").display(),
        dir.display()
    );
    crate::outln!(
        "  unsubscribe `mcap-notify serve` there answers the Stop links in those messages ({})",
        settings_unsubscribe_url
    );
    Ok(())
}
