//! INFO's instantaneous rates (ops/sec, input and output kbps): sampled
//! every 100 ms by the server's cron and averaged over the last 16
//! samples, as Redis's `trackInstantaneousMetric` does.

use std::time::Instant;

use parking_lot::Mutex;

const SAMPLES: usize = 16;

/// The metrics sampled: commands, bytes in, bytes out.
const METRICS: usize = 3;

struct Inner {
    last: Option<(Instant, [u64; METRICS])>,
    samples: [[u64; SAMPLES]; METRICS],
    next: usize,
}

/// Rates over the last ~1.6 seconds.
pub struct Rates {
    inner: Mutex<Inner>,
}

impl Default for Rates {
    fn default() -> Self {
        Rates {
            inner: Mutex::new(Inner {
                last: None,
                samples: [[0; SAMPLES]; METRICS],
                next: 0,
            }),
        }
    }
}

impl Rates {
    /// Take a sample of the running totals (commands, bytes in, bytes
    /// out).
    pub fn sample(&self, totals: [u64; METRICS]) {
        let now = Instant::now();
        let mut s = self.inner.lock();
        if let Some((at, prev)) = s.last {
            let ms = now.duration_since(at).as_millis().max(1) as u64;
            let i = s.next;
            for m in 0..METRICS {
                s.samples[m][i] = totals[m].saturating_sub(prev[m]) * 1000 / ms;
            }
            s.next = (i + 1) % SAMPLES;
        }
        s.last = Some((now, totals));
    }

    /// Per second: commands, bytes in, bytes out.
    pub fn per_second(&self) -> [u64; METRICS] {
        let s = self.inner.lock();
        s.samples.map(|m| m.iter().sum::<u64>() / SAMPLES as u64)
    }
}
