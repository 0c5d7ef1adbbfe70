//! Latency distributions: every latency of a run (a server's receipt of a ticket → its decision)
//! in an HDR histogram — bounded memory at any run length — with the exact maximum kept apart,
//! and the histogram as HdrHistogram's percentile-distribution text (`latency.hgrm`).
//!
//! Precision: 5 significant digits over µs, so every value below 262,144 µs (26δ at δ = 10 ms)
//! is recorded exactly — the simulator's 2δ, 4δ, 48δ stay exact — and larger ones within 2 µs
//! per 262 ms (0.001%). Percentiles are the highest value equivalent to the nearest-rank one,
//! never above the exact maximum.

use crate::protocol::Time;
use hdrhistogram::Histogram;

/// Significant digits of the histogram (the most `hdrhistogram` allows).
const SIGFIG: u8 = 5;

#[derive(Clone, Debug)]
pub struct Latencies {
    hist: Histogram<u64>,
    /// The exact largest latency, µs.
    max: Option<Time>,
}

impl Default for Latencies {
    fn default() -> Self {
        Latencies {
            hist: Histogram::new(SIGFIG).expect("5 significant digits is a valid precision"),
            max: None,
        }
    }
}

impl Latencies {
    pub fn record(&mut self, us: Time) {
        // An auto-resizing histogram cannot fail to record a u64.
        self.hist.record(us).expect("auto-resizing histogram");
        self.max = Some(self.max.map_or(us, |m| m.max(us)));
    }

    pub fn len(&self) -> u64 {
        self.hist.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hist.is_empty()
    }

    /// The latency at quantile `q` (0..=1), µs; None when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<Time> {
        let max = self.max?;
        if q >= 1.0 {
            return Some(max);
        }
        Some(self.hist.value_at_quantile(q).min(max))
    }

    pub fn max(&self) -> Option<Time> {
        self.max
    }

    /// Every distinct recorded value (µs, its bucket's highest equivalent, never above the
    /// exact max) with its count, ascending.
    pub fn recorded(&self) -> Vec<(Time, u64)> {
        let max = self.max.unwrap_or(0);
        self.hist
            .iter_recorded()
            .map(|v| {
                let value = self.hist.highest_equivalent(v.value_iterated_to()).min(max);
                (value, v.count_at_value())
            })
            .collect()
    }

    /// HdrHistogram's percentile distribution (the `.hgrm` its plotter reads): a header, rows of
    /// Value (in units of `unit_us` µs, e.g. 1000 for ms), Percentile, TotalCount and
    /// 1/(1−Percentile), five ticks per half-distance, ending with the exact maximum at
    /// percentile 1 (1/(1−P) = inf); then the mean, deviation and count as `#[…]` lines.
    pub fn hgrm(&self, unit_us: f64) -> String {
        let mut out = format!(
            "{:>12} {:>14} {:>10} {:>14}\n\n",
            "Value", "Percentile", "TotalCount", "1/(1-Percentile)"
        );
        let Some(max) = self.max else {
            out.push_str("#[Mean    =        0.000, StdDeviation   =        0.000]\n");
            out.push_str("#[Max     =        0.000, Total count    =            0]\n");
            return out;
        };
        let scale = |v: u64| v as f64 / unit_us;
        let mut total = 0;
        for it in self.hist.iter_quantiles(5) {
            total += it.count_since_last_iteration();
            let p = it.quantile_iterated_to();
            if p >= 1.0 {
                break;
            }
            let v = self
                .hist
                .highest_equivalent(it.value_iterated_to())
                .min(max);
            out.push_str(&format!(
                "{:>12.3} {:>14.12} {:>10} {:>14.2}\n",
                scale(v),
                p,
                total,
                1.0 / (1.0 - p)
            ));
        }
        out.push_str(&format!(
            "{:>12.3} {:>14.12} {:>10} {:>14}\n",
            scale(max),
            1.0,
            self.hist.len(),
            "inf"
        ));
        out.push_str(&format!(
            "#[Mean    = {:>12.3}, StdDeviation   = {:>12.3}]\n",
            self.hist.mean() / unit_us,
            self.hist.stdev() / unit_us
        ));
        out.push_str(&format!(
            "#[Max     = {:>12.3}, Total count    = {:>12}]\n",
            scale(max),
            self.hist.len()
        ));
        out
    }
}
