//! When to try again: exponential backoff with jitter, modelled on Postfix's queue (first retry
//! after about five minutes, doubling, capped near an hour), a slower pace after a policy block
//! (from an hour, doubling up to twelve), and a lifetime after which the message is given up and
//! dead-lettered.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::Rng;

use crate::config::RetrySettings;

/// What follows a transient failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NextStep {
    RetryAt(DateTime<Utc>),
    GiveUp,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    /// The pace after a policy block.
    pub policy_first_delay: Duration,
    pub policy_max_delay: Duration,
    pub lifetime: Duration,
    /// Each delay is spread by up to this fraction either way, so retries do not arrive in step.
    pub jitter: f64,
}

impl From<&RetrySettings> for RetryPolicy {
    fn from(s: &RetrySettings) -> Self {
        RetryPolicy {
            first_delay: Duration::from_secs(s.first_delay_secs),
            max_delay: Duration::from_secs(s.max_delay_secs),
            policy_first_delay: Duration::from_secs(s.policy_first_delay_secs),
            policy_max_delay: Duration::from_secs(s.policy_max_delay_secs),
            lifetime: Duration::from_secs(s.lifetime_secs),
            jitter: s.jitter,
        }
    }
}

impl RetryPolicy {
    /// The same policy on the slower pace kept for policy blocks.
    pub fn after_policy_block(&self) -> RetryPolicy {
        RetryPolicy {
            first_delay: self.policy_first_delay,
            max_delay: self.policy_max_delay,
            ..*self
        }
    }

    /// The un-jittered delay after the `failures`-th consecutive failure (1-based).
    pub fn base_delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.first_delay
            .saturating_mul(1u32 << doublings)
            .min(self.max_delay)
    }

    /// The delay with jitter applied.
    pub fn delay(&self, failures: u32, rng: &mut impl Rng) -> Duration {
        let base = self.base_delay(failures).as_secs_f64();
        let spread = if self.jitter > 0.0 {
            rng.gen_range(-self.jitter..=self.jitter)
        } else {
            0.0
        };
        Duration::from_secs_f64((base * (1.0 + spread)).max(1.0))
    }

    /// After a transient failure at `now`: retry later, or give up once the message has been
    /// trying for its whole lifetime (counted from `since`).
    pub fn next_step(
        &self,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
        failures: u32,
        rng: &mut impl Rng,
    ) -> NextStep {
        let lifetime = chrono::Duration::from_std(self.lifetime).unwrap_or(chrono::Duration::MAX);
        if now >= since + lifetime {
            return NextStep::GiveUp;
        }
        let delay =
            chrono::Duration::from_std(self.delay(failures, rng)).unwrap_or(chrono::Duration::MAX);
        NextStep::RetryAt(now + delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn policy() -> RetryPolicy {
        RetryPolicy::from(&RetrySettings::default())
    }

    #[test]
    fn delays_double_from_five_minutes_up_to_the_cap() {
        let minutes: Vec<u64> = (1..=7)
            .map(|n| policy().base_delay(n).as_secs() / 60)
            .collect();
        assert_eq!(minutes, vec![5, 10, 20, 40, 66, 66, 66]);
    }

    #[test]
    fn policy_blocks_back_off_from_an_hour_up_to_twelve() {
        let hours: Vec<u64> = (1..=6)
            .map(|n| policy().after_policy_block().base_delay(n).as_secs() / 3600)
            .collect();
        assert_eq!(hours, vec![1, 2, 4, 8, 12, 12]);
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for n in 1..10 {
            let base = policy().base_delay(n).as_secs_f64();
            let d = policy().delay(n, &mut rng).as_secs_f64();
            assert!(
                d >= base * 0.8 - 1e-6 && d <= base * 1.2 + 1e-6,
                "{d} vs {base}"
            );
        }
    }

    #[test]
    fn a_message_is_given_up_after_its_lifetime() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        let since = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let just_before = since + chrono::Duration::days(5) - chrono::Duration::seconds(1);
        assert!(matches!(
            policy().next_step(since, just_before, 40, &mut rng),
            NextStep::RetryAt(_)
        ));
        assert_eq!(
            policy().next_step(since, since + chrono::Duration::days(5), 41, &mut rng),
            NextStep::GiveUp
        );
    }
}
