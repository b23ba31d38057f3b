//! How long a claimed batch can take at worst, checked against the lease at start: a worker
//! must be able to begin every message it claims before its claim runs out, or a second worker
//! could take a message over while the first still means to send it.

use super::Settings;

/// Why the delivery settings cannot work together, naming the keys involved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BudgetError(pub String);

/// Checks `delivery.batch_size` against `delivery.lease_secs`, given `delivery.concurrency`
/// sends at once, each allowed `smtp.timeout_secs`, and at most `delivery.rate_per_second`.
pub fn check(settings: &Settings) -> Result<(), BudgetError> {
    let batch = settings.delivery.batch_size.max(1) as u64;
    let concurrency = settings.delivery.concurrency.max(1) as u64;
    let timeout = settings.smtp.timeout_secs;
    let lease = settings.delivery.lease_secs;
    let rounds = batch.div_ceil(concurrency);
    if rounds * timeout >= lease {
        let fits = (lease.saturating_sub(1) / timeout.max(1)) * concurrency;
        return Err(BudgetError(format!(
            "{batch} messages, {concurrency} at a time \
             (delivery.concurrency), each allowed {timeout} s (smtp.timeout_secs), can take \
             {} s, not less than the {lease} s claim (delivery.lease_secs): {}",
            rounds * timeout,
            if fits == 0 {
                "raise delivery.lease_secs above smtp.timeout_secs".to_string()
            } else {
                format!("lower delivery.batch_size to at most {fits} or raise delivery.lease_secs")
            }
        )));
    }
    if let Some(rate) = settings.delivery.rate_per_second {
        let paced = batch as f64 / rate;
        if paced >= lease as f64 {
            let fits = ((lease as f64 * rate).ceil() as u64).saturating_sub(1);
            return Err(BudgetError(format!(
                "{batch} messages at {rate} a second \
                 (delivery.rate_per_second) take {paced:.0} s, not less than the {lease} s claim \
                 (delivery.lease_secs): lower delivery.batch_size to at most {fits} or raise \
                 delivery.lease_secs"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(batch: u32, concurrency: u32, timeout: u64, lease: u64) -> Settings {
        let mut s = Settings::default();
        s.delivery.batch_size = batch;
        s.delivery.concurrency = concurrency;
        s.smtp.timeout_secs = timeout;
        s.delivery.lease_secs = lease;
        s
    }

    #[test]
    fn the_defaults_fit() {
        assert_eq!(check(&Settings::default()), Ok(()));
    }

    #[test]
    fn a_batch_fits_while_its_rounds_of_timeouts_end_before_the_lease() {
        assert_eq!(check(&settings(72, 8, 30, 300)), Ok(()));
        let refused = check(&settings(73, 8, 30, 300)).unwrap_err().0;
        assert!(refused.contains("at most 72"), "{refused}");
        let refused = check(&settings(1, 1, 30, 30)).unwrap_err().0;
        assert!(refused.contains("raise delivery.lease_secs"), "{refused}");
    }

    #[test]
    fn a_rate_limit_counts_against_the_lease() {
        let mut s = settings(10, 8, 5, 60);
        s.delivery.rate_per_second = Some(0.2);
        assert_eq!(check(&s), Ok(()));
        s.delivery.batch_size = 12;
        let refused = check(&s).unwrap_err().0;
        assert!(
            refused.contains("delivery.rate_per_second") && refused.contains("at most 11"),
            "{refused}"
        );
    }
}
