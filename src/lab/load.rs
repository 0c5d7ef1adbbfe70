//! What the users saw of a run, measured as it happens (not from the history, which may be
//! streamed away): client latency — from a submission's *intended* time to the moment its user
//! is told the decision — in an HDR histogram, and the tickets answered over time, for the
//! throughput after a warm-up. `Meter` lives in the [`Driver`](super::driver::Driver), which
//! both runtimes tell of every answer; [`Load`] is what a run hands on in its
//! [`RunOutput`](super::RunOutput).
//!
//! The warm-up is the first 10% of the run's tickets (generated and scripted), by the order in
//! which users got their first answer: throughput counts the tickets answered after the
//! ⌊N/10⌋-th answer, over the time from that answer to the last one. With fewer answers than
//! that (a blocked run), the whole run from the workload's start is measured instead.

use crate::latency::Latencies;
use crate::protocol::Time;
use crate::workload::Answer;

/// The users' view of a run.
#[derive(Clone, Debug, Default)]
pub struct Load {
    /// Client latency, µs: a submission's intended time → its server's answer reaching the user,
    /// one value per answered submission (a credential rejected at once included).
    pub client: Latencies,
    /// Tickets at least one of whose submissions was answered.
    pub decided: u64,
    /// How many of them are the warm-up.
    pub warmup_tickets: u64,
    /// When the measured interval starts (the warm-up's last answer; the workload's start without
    /// a warm-up), µs since the run's start.
    pub measured_from: Time,
    /// The last ticket's first answer, µs.
    pub last: Option<Time>,
    /// Open loop: arrivals per second after the warm-up, on their intended times
    /// (`Client::offered_per_s`); `None` in the closed loop.
    pub offered_per_s: Option<f64>,
}

impl Load {
    /// Tickets answered in the measured interval.
    pub fn measured_tickets(&self) -> u64 {
        self.decided.saturating_sub(self.warmup_tickets)
    }

    /// The measured interval, µs (0 when nothing was answered after the warm-up).
    pub fn measured_interval(&self) -> Time {
        self.last
            .map_or(0, |l| l.saturating_sub(self.measured_from))
    }

    /// Tickets answered per second over the measured interval; `None` when that interval is
    /// empty (nothing answered, or every answer at one instant: the simulator at δ = 0).
    pub fn throughput_per_s(&self) -> Option<f64> {
        let us = self.measured_interval();
        (us > 0).then(|| self.measured_tickets() as f64 * 1e6 / us as f64)
    }
}

/// The running measurement, fed by the driver.
#[derive(Debug, Default)]
pub(super) struct Meter {
    load: Load,
    /// The workload's start, µs.
    start: Time,
    /// ⌊tickets / 10⌋.
    warmup: u64,
}

impl Meter {
    pub(super) fn new(tickets: u64) -> Self {
        Meter {
            warmup: tickets / 10,
            ..Meter::default()
        }
    }

    pub(super) fn start(&mut self, now: Time) {
        self.start = now;
        self.load.measured_from = now;
    }

    /// A user was told `answer`'s decision at `now`.
    pub(super) fn answered(&mut self, now: Time, answer: Answer) {
        self.load.client.record(now.saturating_sub(answer.intended));
        if answer.first {
            self.load.decided += 1;
            if self.load.decided == self.warmup {
                self.load.measured_from = now;
            }
            self.load.last = Some(now);
        }
    }

    /// The figures so far; `offered_per_s` from the client.
    pub(super) fn load(&self, offered_per_s: Option<f64>) -> Load {
        let mut load = self.load.clone();
        if load.decided > self.warmup {
            load.warmup_tickets = self.warmup;
        } else {
            // Not even the warm-up was answered: measure the whole run.
            load.warmup_tickets = 0;
            load.measured_from = self.start;
        }
        load.offered_per_s = offered_per_s;
        load
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first(intended: Time) -> Answer {
        Answer {
            intended,
            first: true,
        }
    }

    #[test]
    fn the_first_tenth_is_the_warm_up() {
        let mut m = Meter::new(20);
        m.start(0);
        // 20 tickets answered 1 ms apart from 1 ms on; the 2nd answer ends the warm-up.
        for k in 1..=20u64 {
            m.answered(k * 1000, first(k * 1000 - 500));
        }
        // A second answer to the last ticket: latency, not throughput.
        m.answered(
            30_000,
            Answer {
                intended: 20_000,
                first: false,
            },
        );
        let l = m.load(None);
        assert_eq!((l.decided, l.warmup_tickets), (20, 2));
        assert_eq!((l.measured_from, l.last), (2000, Some(20_000)));
        assert_eq!(l.measured_tickets(), 18);
        assert_eq!(l.throughput_per_s(), Some(1000.0));
        assert_eq!(l.client.len(), 21);
        assert_eq!(l.client.quantile(0.5), Some(500));
        assert_eq!(l.client.max(), Some(10_000));
    }

    #[test]
    fn a_run_short_of_its_warm_up_is_measured_whole() {
        let mut m = Meter::new(100);
        m.start(0);
        for k in 1..=5u64 {
            m.answered(k * 2000, first(0));
        }
        let l = m.load(Some(3.0));
        assert_eq!((l.warmup_tickets, l.measured_from), (0, 0));
        assert_eq!(l.throughput_per_s(), Some(500.0));
        assert_eq!(l.offered_per_s, Some(3.0));
        // Nothing answered: no throughput, no latency.
        let l = Meter::new(4).load(None);
        assert_eq!((l.throughput_per_s(), l.client.max()), (None, None));
    }
}
