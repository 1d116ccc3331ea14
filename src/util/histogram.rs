//! A log-linear latency histogram (HdrHistogram's layout, two significant
//! digits): each power of two is split into [`SUB`] equal buckets, so a
//! recorded value is known to within 1/[`SUB`] of itself at any scale.
//! Values are nanoseconds; INFO latencystats reports microseconds, as
//! Redis 7.0 does from its own HdrHistogram.

/// Buckets per power of two.
const SUB: usize = 64;
const SUB_BITS: u32 = SUB.trailing_zeros();
/// Powers of two covered: values up to 2^48 ns (about three days).
const POWERS: usize = 48;

/// Counts of recorded values, by bucket.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u32]>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; POWERS * SUB].into_boxed_slice(),
            total: 0,
        }
    }
}

/// A [`Histogram`] that threads record into without a lock (one relaxed
/// add per value; a shard of the server's statistics has one per command
/// it has run).
pub struct AtomicHistogram {
    counts: Box<[std::sync::atomic::AtomicU64]>,
}

impl Default for AtomicHistogram {
    fn default() -> Self {
        AtomicHistogram {
            counts: (0..POWERS * SUB).map(|_| Default::default()).collect(),
        }
    }
}

impl AtomicHistogram {
    /// Record one value (nanoseconds).
    pub fn record(&self, v: u64) {
        self.counts[bucket(v)].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// Add what was recorded here to `h`.
    pub fn add_to(&self, h: &mut Histogram) {
        for (c, a) in h.counts.iter_mut().zip(self.counts.iter()) {
            let n = a.load(std::sync::atomic::Ordering::Relaxed);
            *c = c.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
            h.total += n;
        }
    }

    /// Forget every value.
    pub fn clear(&self) {
        for c in self.counts.iter() {
            c.store(0, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// The bucket of `v`: values below `SUB` have one bucket each; above, the
/// power of two and the next `SUB_BITS` bits.
fn bucket(v: u64) -> usize {
    if v < SUB as u64 {
        return v as usize;
    }
    let power = 63 - v.leading_zeros();
    let shift = power - SUB_BITS;
    let sub = ((v >> shift) as usize) & (SUB - 1);
    let i = (power - SUB_BITS + 1) as usize * SUB + sub;
    i.min(POWERS * SUB - 1)
}

/// The largest value that falls in bucket `i`.
fn upper(i: usize) -> u64 {
    if i < SUB {
        return i as u64;
    }
    let power = (i / SUB) as u32 - 1 + SUB_BITS;
    let sub = (i % SUB) as u64;
    let shift = power - SUB_BITS;
    (((SUB as u64) | sub) << shift) + (1u64 << shift) - 1
}

impl Histogram {
    /// Record one value (nanoseconds).
    pub fn record(&mut self, v: u64) {
        let c = &mut self.counts[bucket(v)];
        *c = c.saturating_add(1);
        self.total += 1;
    }

    /// Values recorded.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// The value (in microseconds) below which `p` percent of the
    /// recorded values fall.
    pub fn percentile(&self, p: f64) -> f64 {
        if self.total == 0 {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.total as f64).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= rank {
                return upper(i) as f64 / 1000.0;
            }
        }
        upper(self.counts.len() - 1) as f64 / 1000.0
    }

    /// Cumulative counts at power-of-two microsecond bounds, as LATENCY
    /// HISTOGRAM reports them: `(bound in µs, values <= bound)`, from the
    /// first bound that has values to the one that covers them all.
    pub fn power_of_two_buckets(&self) -> Vec<(u64, u64)> {
        let mut out = Vec::new();
        let mut bound_us = 1u64;
        let mut seen = 0u64;
        let mut i = 0;
        while seen < self.total {
            let bound_ns = bound_us * 1000;
            while i < self.counts.len() && upper(i) <= bound_ns {
                seen += u64::from(self.counts[i]);
                i += 1;
            }
            if seen > 0 {
                out.push((bound_us, seen));
            }
            bound_us *= 2;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_their_values_within_two_percent() {
        for v in [0u64, 1, 63, 64, 65, 1000, 12_345, 1 << 30, 999_999_999] {
            let i = bucket(v);
            assert!(upper(i) >= v, "{v}: bucket {i} ends at {}", upper(i));
            assert!(
                upper(i) - v <= v / 32,
                "{v}: bucket {i} is too wide ({})",
                upper(i)
            );
            if i > 0 {
                assert!(upper(i - 1) < v, "{v}: belongs in an earlier bucket");
            }
        }
    }

    #[test]
    fn an_atomic_histogram_adds_up_to_a_plain_one() {
        let (mut plain, atomic) = (Histogram::default(), AtomicHistogram::default());
        for v in [0u64, 5, 5, 1000, 1 << 40] {
            plain.record(v);
            plain.record(v);
            atomic.record(v);
        }
        // Added twice, as two threads' shards are.
        let mut sum = Histogram::default();
        atomic.add_to(&mut sum);
        atomic.add_to(&mut sum);
        assert_eq!((sum.counts.clone(), sum.total), (plain.counts, plain.total));
        atomic.clear();
        let mut cleared = Histogram::default();
        atomic.add_to(&mut cleared);
        assert_eq!(cleared.count(), 0);
    }

    #[test]
    fn percentiles_and_power_of_two_counts() {
        let mut h = Histogram::default();
        for v in 1..=100u64 {
            h.record(v * 1000);
        }
        assert!((h.percentile(50.0) - 50.0).abs() < 1.0);
        assert!((h.percentile(99.0) - 99.0).abs() < 2.0);
        let b = h.power_of_two_buckets();
        // 1000 ns shares a bucket with values just above 1 µs (and 2000 with
        // values above 2 µs).
        assert_eq!(b.first(), Some(&(2, 1)));
        assert_eq!(b.last().map(|x| x.1), Some(100));
        assert_eq!(b.last().map(|x| x.0), Some(128));
    }
}
