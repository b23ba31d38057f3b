//! Grouping: turns the account-ordered stream of matched pairs into one digest per account,
//! holding only the current account in memory.

use chrono::{DateTime, Utc};

use crate::hearings::{AccountDates, DateItem};
use crate::model::MatchRow;
use crate::store::watches::{PauseNotice, WatchNotice, WatchNoticeKey};
use crate::store::{DateNoticeKey, QueuedDateNotice};

/// Everything one account hears of in one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    pub cases: Vec<CaseChanges>,
    /// Court dates to remind of or tell a change of, shown before the filings.
    pub dates: Vec<DateItem>,
    /// New cases that name a party the account watches, grouped by watch.
    pub new_cases: Vec<WatchNotice>,
    /// Watches the noise guard paused, whose owner is told why.
    pub paused_watches: Vec<PauseNotice>,
    /// Set when the account's news was split over several messages to keep each under the
    /// size cap: (this part, of how many).
    pub part: Option<(usize, usize)>,
}

/// The new entries of one tracked case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseChanges {
    pub case_number: String,
    pub caption: String,
    pub court_id: String,
    pub court_name: String,
    pub subscription_id: i64,
    pub entries: Vec<EntryLine>,
}

/// One docket entry as a digest shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryLine {
    pub seq: i64,
    pub entry_id: String,
    pub code: String,
    pub description: String,
    pub text: String,
    pub filed_by: String,
    pub posted_at: DateTime<Utc>,
}

impl Digest {
    /// The arrival numbers of every entry in the digest (the ledger's keys).
    pub fn entry_seqs(&self) -> Vec<i64> {
        self.cases
            .iter()
            .flat_map(|c| c.entries.iter().map(|e| e.seq))
            .collect()
    }

    pub fn entry_count(&self) -> usize {
        self.cases.iter().map(|c| c.entries.len()).sum()
    }

    /// The subscriptions the message reports on: its cases', its dates', then the cases its
    /// watches started tracking (each once).
    pub fn subscription_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.cases.iter().map(|c| c.subscription_id).collect();
        for item in &self.dates {
            if !ids.contains(&item.subscription_id) {
                ids.push(item.subscription_id);
            }
        }
        for id in self.new_cases.iter().filter_map(|n| n.auto_subscription_id) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        ids
    }

    /// The date notices the digest carries (the keys of their ledger).
    pub fn date_keys(&self) -> Vec<DateNoticeKey> {
        self.dates
            .iter()
            .flat_map(|item| item.keys(&self.account_id))
            .collect()
    }

    /// The date notices the digest carries, as its message queues them.
    pub fn queued_date_notices(&self) -> Vec<QueuedDateNotice> {
        self.dates
            .iter()
            .flat_map(|item| item.queued(&self.account_id))
            .collect()
    }

    /// The new-case notices the digest carries (the keys of their ledger).
    pub fn watch_keys(&self) -> Vec<WatchNoticeKey> {
        self.new_cases
            .iter()
            .map(|n| WatchNoticeKey {
                account_id: self.account_id.clone(),
                watch_id: n.watch_id.clone(),
                case_number: n.case_number.clone(),
            })
            .collect()
    }

    /// The watches whose pause the digest tells of.
    pub fn paused_watch_ids(&self) -> Vec<String> {
        self.paused_watches
            .iter()
            .map(|p| p.watch_id.clone())
            .collect()
    }

    /// Whether the digest has anything besides filings: dates, new cases, pauses.
    pub fn has_news(&self) -> bool {
        !self.dates.is_empty() || !self.new_cases.is_empty() || !self.paused_watches.is_empty()
    }

    /// A digest of an account's news alone (court dates, new cases), with no new filings.
    pub fn of_news(news: AccountNews) -> Digest {
        Digest {
            account_id: news.account_id,
            email: news.email,
            email_verified: news.email_verified,
            suppressed: news.suppressed,
            cases: Vec::new(),
            dates: news.dates,
            new_cases: news.new_cases,
            paused_watches: news.paused_watches,
            part: None,
        }
    }

    /// Joins an account's news to its digest of filings.
    pub fn with_news(mut self, news: AccountNews) -> Digest {
        self.dates = news.dates;
        self.new_cases = news.new_cases;
        self.paused_watches = news.paused_watches;
        self
    }

    /// The digest cut in two at its middle item, counting each court date, new case, pause and
    /// entry as one item, in the order a message shows them (dates first, entries last); each
    /// half keeps its cases' headings. None for a digest of one item.
    pub fn split_in_two(&self) -> Option<(Digest, Digest)> {
        let news = self.dates.len() + self.new_cases.len() + self.paused_watches.len();
        let total = news + self.entry_count();
        if total < 2 {
            return None;
        }
        let half = total / 2;
        let mut taken = 0;
        let (dates, later_dates) = divide(&self.dates, half, &mut taken);
        let (new_cases, later_new_cases) = divide(&self.new_cases, half, &mut taken);
        let (paused, later_paused) = divide(&self.paused_watches, half, &mut taken);
        let mut first = Digest {
            cases: Vec::new(),
            dates,
            new_cases,
            paused_watches: paused,
            ..self.clone()
        };
        let mut second = Digest {
            dates: later_dates,
            new_cases: later_new_cases,
            paused_watches: later_paused,
            ..first.clone()
        };
        for case in &self.cases {
            let (head, tail) = divide(&case.entries, half, &mut taken);
            for (part, entries) in [(&mut first, head), (&mut second, tail)] {
                if !entries.is_empty() {
                    part.cases.push(CaseChanges {
                        entries,
                        ..case.clone()
                    });
                }
            }
        }
        Some((first, second))
    }

    fn start(row: &MatchRow) -> Digest {
        Digest {
            account_id: row.account_id.clone(),
            email: row.email.clone(),
            email_verified: row.email_verified,
            suppressed: row.suppressed,
            cases: Vec::new(),
            dates: Vec::new(),
            new_cases: Vec::new(),
            paused_watches: Vec::new(),
            part: None,
        }
    }

    fn add(&mut self, row: MatchRow) {
        let entry = EntryLine {
            seq: row.entry_seq,
            entry_id: row.entry_id,
            code: row.code,
            description: row.description,
            text: row.text,
            filed_by: row.filed_by,
            posted_at: row.posted_at,
        };
        match self.cases.last_mut() {
            Some(case) if case.case_number == row.case_number => {
                // One entry once, even if two tracking periods both covered it.
                if !case.entries.iter().any(|e| e.seq == entry.seq) {
                    case.entries.push(entry);
                }
            }
            _ => self.cases.push(CaseChanges {
                case_number: row.case_number,
                caption: row.caption,
                court_id: row.court_id,
                court_name: row.court_name,
                subscription_id: row.subscription_id,
                entries: vec![entry],
            }),
        }
    }
}

/// What an account hears of in a run besides its filings: court dates and party watches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountNews {
    pub account_id: String,
    pub email: String,
    pub email_verified: bool,
    pub suppressed: bool,
    pub dates: Vec<DateItem>,
    pub new_cases: Vec<WatchNotice>,
    pub paused_watches: Vec<PauseNotice>,
}

impl AccountNews {
    fn empty(account_id: &str, email: &str, email_verified: bool, suppressed: bool) -> Self {
        AccountNews {
            account_id: account_id.to_string(),
            email: email.to_string(),
            email_verified,
            suppressed,
            dates: Vec::new(),
            new_cases: Vec::new(),
            paused_watches: Vec::new(),
        }
    }

    /// Each account's news, by account id, from its court dates and its watches' notices.
    pub fn gather(
        dates: std::collections::BTreeMap<String, AccountDates>,
        notices: Vec<WatchNotice>,
        pauses: Vec<PauseNotice>,
    ) -> std::collections::BTreeMap<String, AccountNews> {
        let mut news: std::collections::BTreeMap<String, AccountNews> = dates
            .into_iter()
            .map(|(id, d)| {
                let mut n = AccountNews::empty(&id, &d.email, d.email_verified, d.suppressed);
                n.dates = d.items;
                (id, n)
            })
            .collect();
        for notice in notices {
            news.entry(notice.account_id.clone())
                .or_insert_with(|| {
                    AccountNews::empty(
                        &notice.account_id,
                        &notice.email,
                        notice.email_verified,
                        notice.suppressed,
                    )
                })
                .new_cases
                .push(notice);
        }
        for pause in pauses {
            news.entry(pause.account_id.clone())
                .or_insert_with(|| {
                    AccountNews::empty(
                        &pause.account_id,
                        &pause.email,
                        pause.email_verified,
                        pause.suppressed,
                    )
                })
                .paused_watches
                .push(pause);
        }
        news
    }
}

/// Folds account-ordered rows into digests: [`DigestGrouper::push`] returns the previous
/// account's digest when a new account begins, [`DigestGrouper::finish`] the last one.
#[derive(Debug, Default)]
pub struct DigestGrouper {
    current: Option<Digest>,
}

impl DigestGrouper {
    pub fn push(&mut self, row: MatchRow) -> Option<Digest> {
        let finished = match &self.current {
            Some(d) if d.account_id == row.account_id => None,
            _ => self.current.replace(Digest::start(&row)),
        };
        if let Some(d) = self.current.as_mut() {
            d.add(row);
        }
        finished
    }

    pub fn finish(self) -> Option<Digest> {
        self.current
    }
}

/// `items` cut where the first half of a split (`half` items in all) is full: what goes in it,
/// and what goes after; `taken` counts the items placed in the first half so far.
fn divide<T: Clone>(items: &[T], half: usize, taken: &mut usize) -> (Vec<T>, Vec<T>) {
    let room = half.saturating_sub(*taken).min(items.len());
    *taken += room;
    (items[..room].to_vec(), items[room..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(account: &str, case: &str, seq: i64) -> MatchRow {
        MatchRow {
            account_id: account.into(),
            email: format!("{account}@example.org"),
            email_verified: true,
            suppressed: false,
            subscription_id: seq * 10,
            case_number: case.into(),
            caption: "A v. B".into(),
            court_id: "CT16".into(),
            court_name: "16th".into(),
            entry_seq: seq,
            entry_id: format!("e{seq}"),
            code: "MOT".into(),
            description: "Motion Filed".into(),
            text: String::new(),
            filed_by: "Clerk".into(),
            posted_at: DateTime::from_timestamp(1_700_000_000 + seq, 0).unwrap(),
        }
    }

    #[test]
    fn a_split_keeps_every_entry_once_in_order_under_its_case() {
        let mut g = DigestGrouper::default();
        for (case, seq) in [("C1", 1), ("C1", 2), ("C1", 3), ("C2", 4), ("C2", 5)] {
            assert!(g.push(row("a", case, seq)).is_none());
        }
        let digest = g.finish().unwrap();
        let (first, second) = digest.split_in_two().unwrap();
        assert_eq!(first.entry_seqs(), vec![1, 2]);
        assert_eq!(second.entry_seqs(), vec![3, 4, 5]);
        let cases =
            |d: &Digest| -> Vec<String> { d.cases.iter().map(|c| c.case_number.clone()).collect() };
        assert_eq!(cases(&first), vec!["C1"]);
        assert_eq!(cases(&second), vec!["C1", "C2"]);
        let (one, _) = first.split_in_two().unwrap();
        assert!(one.split_in_two().is_none(), "one entry cannot be split");
    }

    #[test]
    fn one_digest_per_account_with_cases_grouped() {
        let rows = vec![
            row("a", "C1", 1),
            row("a", "C1", 2),
            row("a", "C2", 3),
            row("b", "C1", 1),
            row("c", "C3", 4),
            row("c", "C3", 4),
        ];
        let mut grouper = DigestGrouper::default();
        let mut digests: Vec<Digest> = rows.into_iter().filter_map(|r| grouper.push(r)).collect();
        digests.extend(grouper.finish());
        let shape: Vec<(String, Vec<(String, usize)>)> = digests
            .iter()
            .map(|d| {
                (
                    d.account_id.clone(),
                    d.cases
                        .iter()
                        .map(|c| (c.case_number.clone(), c.entries.len()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            vec![
                ("a".into(), vec![("C1".into(), 2), ("C2".into(), 1)]),
                ("b".into(), vec![("C1".into(), 1)]),
                ("c".into(), vec![("C3".into(), 1)]),
            ]
        );
        assert_eq!(digests[0].entry_seqs(), vec![1, 2, 3]);
    }

    #[test]
    fn no_rows_no_digest() {
        assert!(DigestGrouper::default().finish().is_none());
    }
}
