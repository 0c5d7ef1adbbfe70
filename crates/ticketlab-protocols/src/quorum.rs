//! Quorum arithmetic as small pure functions (docs/PROTOCOLS.md §2). Easy to get off by one, so the
//! tests below are a table.

/// ⌈(n+1)/2⌉ = ⌊n/2⌋+1: a majority, counting oneself (2PE line 21, CT consensus).
pub fn majority(n: u16) -> u16 {
    n / 2 + 1
}

/// ⌈(2n+1)/3⌉: Generic Broadcast's fast-path quorum.
pub fn gb_quorum(n: u16) -> u16 {
    (2 * n + 1).div_ceil(3)
}

/// ⌊(n−1)/2⌋: the most crashes a majority-based protocol survives (f < n/2).
pub fn max_minority_faults(n: u16) -> u16 {
    (n - 1) / 2
}

/// ⌈n/3⌉−1: the most crashes Generic Broadcast's fast path survives (f < n/3).
pub fn max_third_faults(n: u16) -> u16 {
    n.div_ceil(3) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quorum_table() {
        // n, majority, gb quorum, f < n/2, f < n/3  (docs/PROTOCOLS.md §2)
        let table: &[(u16, u16, u16, u16, u16)] = &[
            (1, 1, 1, 0, 0),
            (2, 2, 2, 0, 0),
            (3, 2, 3, 1, 0),
            (4, 3, 3, 1, 1),
            (5, 3, 4, 2, 1),
            (6, 4, 5, 2, 1),
            (7, 4, 5, 3, 2),
            (9, 5, 7, 4, 2),
            (10, 6, 7, 4, 3),
        ];
        for &(n, maj, gbq, fmaj, fgb) in table {
            assert_eq!(majority(n), maj, "majority({n})");
            assert_eq!(gb_quorum(n), gbq, "gb_quorum({n})");
            assert_eq!(max_minority_faults(n), fmaj, "max_minority_faults({n})");
            assert_eq!(max_third_faults(n), fgb, "max_third_faults({n})");
        }
    }

    #[test]
    fn quorums_intersect() {
        for n in 1..=40u16 {
            assert!(2 * majority(n) > n, "two majorities intersect at n={n}");
            let q = gb_quorum(n);
            assert!(2 * q > n && 3 * q > 2 * n, "GB quorum properties at n={n}");
            assert!(majority(n) <= n - max_minority_faults(n));
            assert!(q <= n - max_third_faults(n));
            // GB stage termination: a message acked by q processes is in at least 2q − n of any
            // q CHKs, which must be more than half of them (majSet, gb.rs safety point 2).
            assert!(2 * q - n >= majority(q), "fast-delivered ⊆ majSet at n={n}");
        }
    }
}
