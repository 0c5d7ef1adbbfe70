//! The time scale both renderings share: µs → a vertical coordinate in *units* (terminal rows;
//! the SVG multiplies by its row height). One unit is a "nice" number of µs (1, 2, 2.5 or 5 ×
//! 10^k), as fine as puts the closest distinct event times two units apart and as coarse as
//! keeps the picture within a height. An idle stretch (nothing drawn in flight) longer than
//! [`COMPRESS_OVER`] units is compressed to [`GAP_UNITS`] units, and the renderings say so.

use crate::protocol::Time;

/// Idle stretches longer than this many units are compressed …
pub const COMPRESS_OVER: f64 = 8.0;
/// … to this many.
pub const GAP_UNITS: f64 = 2.0;

/// One piece of the axis: `t0..t1` drawn from `y0`, at the axis's scale or compressed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Segment {
    pub t0: Time,
    pub t1: Time,
    pub y0: f64,
    pub compressed: bool,
}

/// The time axis of one picture.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    pub start: Time,
    pub end: Time,
    /// µs per unit.
    pub us_per_unit: f64,
    /// Consecutive, covering start..end.
    pub segments: Vec<Segment>,
    /// y(end).
    pub height: f64,
}

/// 1, 2, 2.5, 5 × 10^k µs, from 1 µs up.
fn nice_steps() -> impl Iterator<Item = f64> {
    (0..13).flat_map(|k| {
        let p = 10f64.powi(k);
        [p, 2.0 * p, 2.5 * p, 5.0 * p]
    })
}

/// The smallest nice step ≥ `x`.
pub fn nice_at_least(x: f64) -> f64 {
    nice_steps().find(|&s| s >= x).unwrap_or(1e13)
}

impl Axis {
    /// The axis of a picture from `start` to `end` with events at `times` and messages in
    /// flight over `busy` intervals, at most `max_units` tall, and finer than two units between
    /// the closest events when that is needed to be `want_units` tall (a dense picture).
    pub fn new(
        start: Time,
        end: Time,
        times: &[Time],
        busy: &[(Time, Time)],
        max_units: f64,
        want_units: f64,
    ) -> Axis {
        let mut points: Vec<Time> = times
            .iter()
            .copied()
            .filter(|t| (start..=end).contains(t))
            .chain([start, end])
            .collect();
        points.sort_unstable();
        points.dedup();
        // The union of the flights, as sorted disjoint intervals.
        let mut flights: Vec<(Time, Time)> = busy.iter().copied().filter(|(s, d)| s < d).collect();
        flights.sort_unstable();
        let mut union: Vec<(Time, Time)> = Vec::new();
        for (s, d) in flights {
            match union.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(d),
                _ => union.push((s, d)),
            }
        }
        // Each stretch between consecutive points, and whether nothing drawn is in flight.
        let stretches: Vec<(Time, Time, bool)> = points
            .windows(2)
            .map(|w| {
                let (a, b) = (w[0], w[1]);
                let i = union.partition_point(|&(_, d)| d <= a);
                let idle = union.get(i).is_none_or(|&(s, _)| s >= b);
                (a, b, idle)
            })
            .collect();
        let min_gap = stretches.iter().map(|&(a, b, _)| b - a).min().unwrap_or(0);
        let ideal = if min_gap == 0 {
            1000.0
        } else {
            min_gap as f64 / 2.0
        };
        let height_at = |u: f64| -> f64 {
            stretches
                .iter()
                .map(|&(a, b, idle)| {
                    let h = (b - a) as f64 / u;
                    if idle && h > COMPRESS_OVER {
                        GAP_UNITS
                    } else {
                        h
                    }
                })
                .sum()
        };
        let u = nice_steps()
            .filter(|&s| s >= ideal)
            .find(|&s| height_at(s) <= max_units)
            .unwrap_or_else(|| nice_at_least((end - start) as f64 / max_units.max(1.0)));
        // Dense: finer, as long as the picture stays within max_units.
        let want = want_units.min(max_units);
        let u = if height_at(u) < want {
            let finer: Vec<f64> = nice_steps().take_while(|&s| s < u).collect();
            finer
                .into_iter()
                .rev()
                .take_while(|&s| height_at(s) <= max_units)
                .find(|&s| height_at(s) >= want)
                .unwrap_or(u)
        } else {
            u
        };
        let mut segments = Vec::new();
        let mut y = 0.0;
        for &(a, b, idle) in &stretches {
            let h = (b - a) as f64 / u;
            let compressed = idle && h > COMPRESS_OVER;
            segments.push(Segment {
                t0: a,
                t1: b,
                y0: y,
                compressed,
            });
            y += if compressed { GAP_UNITS } else { h };
        }
        Axis {
            start,
            end,
            us_per_unit: u,
            segments,
            height: y,
        }
    }

    /// The vertical coordinate of `t`, in units (linear beyond the window's edges).
    pub fn y(&self, t: Time) -> f64 {
        if t <= self.start {
            return -((self.start - t) as f64) / self.us_per_unit;
        }
        if t >= self.end {
            return self.height + (t - self.end) as f64 / self.us_per_unit;
        }
        let i = self.segments.partition_point(|s| s.t1 <= t);
        let s = &self.segments[i.min(self.segments.len() - 1)];
        if s.compressed {
            s.y0 + GAP_UNITS * (t - s.t0) as f64 / (s.t1 - s.t0) as f64
        } else {
            s.y0 + (t - s.t0) as f64 / self.us_per_unit
        }
    }

    /// The compressed stretches.
    pub fn gaps(&self) -> impl Iterator<Item = &Segment> {
        self.segments.iter().filter(|s| s.compressed)
    }

    /// Times to label on the axis: multiples of a nice step at least `min_units` units apart,
    /// outside compressed stretches, plus the start.
    pub fn ticks(&self, min_units: f64) -> Vec<Time> {
        let step = nice_at_least(self.us_per_unit * min_units).max(1.0) as Time;
        let mut out = vec![self.start];
        let mut t = self.start.div_ceil(step) * step;
        while t <= self.end {
            let in_gap = self.gaps().any(|g| g.t0 < t && t < g.t1);
            if !in_gap && t != self.start {
                out.push(t);
            }
            t += step;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn closest_events_two_units_apart_and_idle_gaps_compressed() {
        // Events every 5 ms: 2.5 ms per unit.
        let a = Axis::new(
            0,
            20_000,
            &[0, 5_000, 10_000, 20_000],
            &[(0, 20_000)],
            100.0,
            0.0,
        );
        assert_eq!(a.us_per_unit, 2_500.0);
        assert_eq!(a.y(10_000), 4.0);
        assert_eq!(a.gaps().count(), 0);
        // A long idle stretch is compressed to GAP_UNITS.
        let b = Axis::new(
            0,
            1_010_000,
            &[0, 5_000, 1_000_000],
            &[(0, 5_000)],
            100.0,
            0.0,
        );
        assert_eq!(b.gaps().count(), 1);
        assert_eq!(b.y(1_000_000), 2.0 + GAP_UNITS);
        assert_eq!(b.height, 2.0 + GAP_UNITS + 4.0);
        assert!(b.height <= 100.0);
    }

    #[test]
    fn busy_runs_fit_the_height() {
        let times: Vec<Time> = (0..1000).map(|i| i * 997).collect();
        let a = Axis::new(0, 997_000, &times, &[(0, 997_000)], 60.0, 0.0);
        assert!(a.height <= 60.0, "{}", a.height);
        assert!(a.y(500_000) > 0.0 && a.y(500_000) < a.height);
        assert!(a.ticks(4.0).len() >= 2);
    }

    #[test]
    fn dense_pictures_get_finer() {
        let a = Axis::new(0, 60_000, &[0, 10_000, 60_000], &[(0, 60_000)], 60.0, 0.0);
        assert_eq!(a.us_per_unit, 5_000.0);
        let b = Axis::new(0, 60_000, &[0, 10_000, 60_000], &[(0, 60_000)], 60.0, 40.0);
        assert!(b.height >= 40.0 && b.height <= 60.0, "{}", b.height);
    }
}
