//! Rows cut into statements by their size: a statement that carries the message bodies of a
//! whole chunk of digests must stay well below what one value or one message to the server
//! may hold (PostgreSQL refuses a value over 1 GB), however large the chunk or its bodies.

/// Consecutive runs of `items`, each holding at most `limit` bytes by `size` except that every
/// run holds at least one item (an item larger than `limit` goes alone).
pub fn by_size<T>(
    items: &[T],
    limit: usize,
    size: impl Fn(&T) -> usize,
) -> impl Iterator<Item = &[T]> {
    let mut rest = items;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let mut total = 0;
        let mut end = 0;
        while end < rest.len() {
            let next = size(&rest[end]);
            if end > 0 && total + next > limit {
                break;
            }
            total += next;
            end += 1;
        }
        let (run, after) = rest.split_at(end);
        rest = after;
        Some(run)
    })
}

#[cfg(test)]
mod tests {
    use super::by_size;

    fn runs(sizes: &[usize], limit: usize) -> Vec<Vec<usize>> {
        by_size(sizes, limit, |&s| s)
            .map(<[usize]>::to_vec)
            .collect()
    }

    #[test]
    fn runs_stay_within_the_limit_and_keep_every_item_in_order() {
        assert_eq!(
            runs(&[3, 3, 3, 1, 5, 2], 6),
            vec![vec![3, 3], vec![3, 1], vec![5], vec![2]]
        );
    }

    #[test]
    fn an_item_over_the_limit_goes_alone() {
        assert_eq!(runs(&[2, 10, 2], 4), vec![vec![2], vec![10], vec![2]]);
    }

    #[test]
    fn nothing_gives_no_runs() {
        assert!(runs(&[], 4).is_empty());
    }
}
