//! Deterministic draws for protocols that randomise (qlock-backoff's backoff and holder choice):
//! a splitmix64 stream seeded from the run seed and the server id, so a run stays a pure function
//! of its inputs. Not for anything secret.

use super::ServerId;

/// A small splitmix64 stream: the backoff draws (and apply's order), from the run seed and `me`.
#[derive(Clone, Debug, Hash)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64, me: ServerId) -> Self {
        SplitMix64(seed ^ u64::from(me).wrapping_mul(0xD1B5_4A32_D192_ED03))
    }

    /// The stream of one ticket's draws at server `me`: `new(seed, me)` moved by a 64-bit
    /// FNV-1a hash of the ticket id (stable across builds, unlike std's hasher).
    pub fn for_ticket(seed: u64, me: ServerId, ticket: &str) -> Self {
        let mut h: u64 = 0xCBF2_9CE4_8422_2325;
        for b in ticket.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01B3);
        }
        let mut s = SplitMix64::new(seed ^ h, me);
        s.next_u64();
        s
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi] (lo ≤ hi).
    pub fn uniform(&mut self, lo: u64, hi: u64) -> u64 {
        match (hi - lo).checked_add(1) {
            Some(span) => lo + self.next_u64() % span,
            None => self.next_u64(),
        }
    }
}
