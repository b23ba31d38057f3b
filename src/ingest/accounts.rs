//! The accounts feed: each line adds an account or replaces its address and verification.

use std::collections::HashMap;

use super::parse::{parse, reject, require_printable_id, require_text, within_limits, Rejection};
use super::{Applied, Feed, ROWS_PER_BATCH};
use crate::feed_limits as limits;
use crate::model::Account;
use crate::store::{IngestSession, StoreError};

/// The accounts to write, one row per account: an account given again replaces its earlier
/// line.
#[derive(Default)]
pub(super) struct AccountsFeed {
    rows: Vec<Account>,
    row_of: HashMap<String, usize>,
}

impl Feed for AccountsFeed {
    type Record = Account;

    fn parse(line: &str) -> Result<Account, Rejection> {
        parse(line)
    }

    async fn look_up<I: IngestSession>(
        &mut self,
        _session: &mut I,
        _records: &[&Account],
    ) -> Result<(), StoreError> {
        Ok(())
    }

    fn apply(&mut self, account: Account) -> Result<Applied, Rejection> {
        require_text("account_id", &account.account_id)?;
        require_printable_id("account_id", &account.account_id)?;
        within_limits(&[
            ("account_id", &account.account_id, limits::ID_CHARS),
            ("email", &account.email, limits::EMAIL_CHARS),
        ])?;
        if let Err(e) = account.email.parse::<lettre::Address>() {
            return reject(format!(
                "field `email`: `{}` is not a mail address ({e})",
                account.email
            ));
        }
        let key = account.account_id.clone();
        super::stage_upsert(&mut self.rows, &mut self.row_of, key, account);
        Ok(Applied::Changed)
    }

    async fn write<I: IngestSession>(self, session: &mut I) -> Result<(), StoreError> {
        for batch in self.rows.chunks(ROWS_PER_BATCH) {
            session.upsert_accounts(batch).await?;
        }
        Ok(())
    }
}
