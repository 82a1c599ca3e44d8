//! The detection rule, on one per-minute series (one API, account and Region, one Insights
//! type): an Insight starts when the rate over the last `window` minutes is far above the
//! baseline — the per-minute rate over the `baseline` minutes before that window — and ends
//! when the windowed rate falls back under the threshold the Insight started with.
//!
//! "Far above" must hold three ways at once, so that each kind of normal traffic stays quiet:
//! - `sigma` standard deviations above the baseline mean: a daily cycle has a large deviation,
//!   so its peaks stay under the threshold;
//! - `min_ratio` times the baseline mean: a high-volume API has a small relative deviation
//!   (Poisson noise), so a few percent more is not an Insight;
//! - at least `min_events` events in the window: an API called once a week is not "unusual"
//!   when it is called twice.

/// The rule's parameters (the `insights run` options).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Params {
    /// Minutes the rate is averaged over.
    pub window: u32,
    /// Minutes of history the baseline is computed from (AWS: at least 7 days, 10080).
    pub baseline: u32,
    pub sigma: f64,
    pub min_ratio: f64,
    pub min_events: u32,
}

impl Default for Params {
    fn default() -> Self {
        Self { window: 5, baseline: 7 * 24 * 60, sigma: 4.0, min_ratio: 2.0, min_events: 20 }
    }
}

/// One Insight found in a series. Minutes are counted from the Unix epoch.
#[derive(Debug, Clone, PartialEq)]
pub struct Burst {
    /// The first unusual minute.
    pub start: i64,
    /// The minute the windowed rate crossed the threshold (the Start event's view ends here).
    pub detected: i64,
    /// The minute after the last unusual one; `None` while the Insight is still open at the
    /// end of the data.
    pub end: Option<i64>,
    /// Events per minute over the baseline before the Insight.
    pub baseline_average: f64,
    /// Events per minute from `start` to `detected`.
    pub start_average: f64,
    /// Events per minute from `start` to `end` (to the end of the data while open).
    pub average: f64,
}

/// The Insights in `counts` (events per minute; `counts[0]` is minute `first`). The baseline
/// needs full history: nothing is detected before `history_start + baseline + window`, nor
/// before `evaluate_from`.
pub fn detect(counts: &[u32], first: i64, history_start: i64, evaluate_from: i64, p: &Params) -> Vec<Burst> {
    let window = p.window.max(1) as usize;
    let baseline = p.baseline.max(1) as usize;
    let mut sums = Vec::with_capacity(counts.len() + 1);
    let mut squares = Vec::with_capacity(counts.len() + 1);
    let (mut s, mut q) = (0f64, 0f64);
    sums.push(0.0);
    squares.push(0.0);
    for &c in counts {
        s += f64::from(c);
        q += f64::from(c) * f64::from(c);
        sums.push(s);
        squares.push(q);
    }
    let total = |lo: usize, hi: usize| sums[hi] - sums[lo];
    let mut found = Vec::new();
    let mut open: Option<Open> = None;
    for idx in 0..counts.len() {
        let minute = first + idx as i64;
        let Some(window_lo) = (idx + 1).checked_sub(window) else { continue };
        let rate = total(window_lo, idx + 1) / window as f64;
        if let Some(o) = &open {
            if rate < o.threshold {
                let last_hot = (o.start..=idx).rev().find(|&m| f64::from(counts[m]) >= o.threshold).unwrap_or(o.start);
                let end = last_hot + 1;
                found.push(o.burst(first, Some(first + end as i64), total(o.start, end) / (end - o.start) as f64));
                open = None;
            }
            continue;
        }
        let Some(base_lo) = window_lo.checked_sub(baseline) else { continue };
        if minute < evaluate_from || first + (base_lo as i64) < history_start {
            continue;
        }
        let n = baseline as f64;
        let mean = total(base_lo, window_lo) / n;
        let variance = ((squares[window_lo] - squares[base_lo]) / n - mean * mean).max(0.0);
        let threshold =
            (mean + p.sigma * variance.sqrt()).max(mean * p.min_ratio).max(f64::from(p.min_events) / window as f64);
        if rate >= threshold && rate > 0.0 {
            // The Insight starts at the first minute of the window at the unusual rate itself.
            let start = (window_lo..=idx).find(|&m| f64::from(counts[m]) >= threshold).unwrap_or(window_lo);
            let start_average = total(start, idx + 1) / (idx + 1 - start) as f64;
            open = Some(Open { start, detected: idx, threshold, mean, start_average });
        }
    }
    if let Some(o) = open {
        let average = total(o.start, counts.len()) / (counts.len() - o.start) as f64;
        found.push(o.burst(first, None, average));
    }
    found
}

/// An Insight under way.
struct Open {
    start: usize,
    detected: usize,
    /// The rate (windowed, or of one minute) that is unusual: the Insight ends when the
    /// windowed rate falls under it, after the last minute at it.
    threshold: f64,
    mean: f64,
    start_average: f64,
}

impl Open {
    fn burst(&self, first: i64, end: Option<i64>, average: f64) -> Burst {
        Burst {
            start: first + self.start as i64,
            detected: first + self.detected as i64,
            end,
            baseline_average: self.mean,
            start_average: self.start_average,
            average,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small deterministic generator (xorshift), so the tests need no dependency.
    struct Noise(u64);
    impl Noise {
        fn next(&mut self) -> f64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            (self.0 >> 11) as f64 / (1u64 << 53) as f64
        }
        /// Poisson-distributed count with mean `lambda` (Knuth; fine for small means, normal
        /// approximation above).
        fn poisson(&mut self, lambda: f64) -> u32 {
            if lambda > 30.0 {
                let u = self.next().max(1e-12);
                let v = self.next();
                let z = (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos();
                return (lambda + z * lambda.sqrt()).round().max(0.0) as u32;
            }
            let l = (-lambda).exp();
            let (mut k, mut p) = (0, 1.0);
            loop {
                p *= self.next();
                if p <= l {
                    return k;
                }
                k += 1;
            }
        }
    }

    const DAY: usize = 24 * 60;

    fn series(days: usize, seed: u64, rate: impl Fn(usize) -> f64) -> Vec<u32> {
        let mut noise = Noise(seed);
        (0..days * DAY).map(|m| noise.poisson(rate(m))).collect()
    }

    fn daily_cycle(mean: f64, amplitude: f64) -> impl Fn(usize) -> f64 {
        move |m| mean + amplitude * ((m % DAY) as f64 / DAY as f64 * 2.0 * std::f64::consts::PI).sin()
    }

    #[test]
    fn steady_traffic_high_volume_and_daily_cycles_yield_nothing() {
        let p = Params::default();
        for (seed, counts) in [
            (1, series(10, 1, |_| 0.02)),
            (2, series(10, 2, |_| 400.0)),
            (3, series(10, 3, daily_cycle(12.0, 10.0))),
            (4, series(10, 4, daily_cycle(300.0, 250.0))),
        ] {
            let found = detect(&counts, 0, 0, 0, &p);
            assert!(found.is_empty(), "series {seed}: {found:?}");
        }
    }

    #[test]
    fn a_planted_burst_yields_one_insight_with_its_window() {
        let p = Params::default();
        let mut counts = series(9, 7, |_| 0.05);
        let at = 8 * DAY + 600;
        for c in &mut counts[at..at + 10] {
            *c += 20;
        }
        let found = detect(&counts, 1_000, 1_000, 0, &p);
        assert_eq!(found.len(), 1, "{found:?}");
        let b = &found[0];
        assert_eq!(b.start, 1_000 + at as i64);
        assert_eq!(b.end, Some(1_000 + at as i64 + 10));
        assert!(b.baseline_average < 0.1 && b.average >= 20.0, "{b:?}");
        assert!(b.detected >= b.start && b.detected < b.start + 5, "{b:?}");

        // Still under way at the end of the data: open (no end), closed by a later, longer look.
        let cut = &counts[..at + 6];
        let open = detect(cut, 1_000, 1_000, 0, &p);
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].start, open[0].end), (b.start, None));
        assert_eq!(open[0].start_average, b.start_average, "the Start event's figures do not depend on later data");
    }

    #[test]
    fn a_burst_on_a_high_volume_api_is_found_and_history_shorter_than_the_baseline_is_not_judged() {
        let p = Params::default();
        let mut counts = series(9, 11, daily_cycle(50.0, 30.0));
        let at = 8 * DAY + 300;
        for c in &mut counts[at..at + 15] {
            *c += 600;
        }
        let found = detect(&counts, 0, 0, 0, &p);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].start, at as i64);
        assert!(detect(&counts, 0, 3 * DAY as i64, 0, &p).is_empty(), "less than 7 days before the burst");
        assert!(detect(&counts, 0, 0, (at + 60) as i64, &p).is_empty(), "before evaluate_from");
    }
}
