//! The host's own thread speed-up, measured beside a model (`sprig bench --vs-threads`).
//!
//! On a shared or virtual machine, what two threads can gain is not a constant of the CPU model:
//! on the 2-vCPU EPYC VM this project is developed on, the same arithmetic loop run by two threads
//! at once took from 0.75x to 2.0x less time than run twice by one, from one second to the next
//! (the two vCPUs landed on separate cores, on the two threads of one core, or were time-shared).
//! A model's thread speed-up means little without that figure taken in the same seconds, so
//! `--vs-threads` times this probe once after every run pair of the model and reports the median
//! over those probe pairs as the host's ceiling.
//!
//! Two probes, each a fixed amount of work that a pool of N threads runs as N equal parts; the
//! ratio of two pools' times on the same work is the ceiling for that pair of thread counts:
//! - arithmetic, no memory traffic: loops of multiplies and adds on 64 f32 accumulators (16
//!   independent 4-lane chains, so the loop is bound by the FP units' throughput, as the kernels
//!   are, not by one chain's latency);
//! - streaming: `y = a·x + b` over 4 MiB in and 4 MiB out (each part its own slice), larger than
//!   the L2 caches, as the early layers of a conv net stream their activations.
use anyhow::{Context, Result};
use sprig_runtime::par::{Parallel, Pool};
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One part of the probe: `steps` rounds of `acc = acc·b + c` over 64 accumulators.
fn arith(steps: u64) {
    let mut acc = [[1.0f32; 4]; 16];
    let (b, c) = (black_box(0.999_9f32), black_box(1e-4f32));
    for _ in 0..black_box(steps) {
        for v in acc.iter_mut() {
            for x in v.iter_mut() {
                *x = *x * b + c;
            }
        }
    }
    black_box(acc);
}

/// Floats of each streaming buffer (4 MiB).
const STREAM_FLOATS: usize = 1 << 20;

/// Two pools (the thread counts being compared) and the probes' sizes and buffers.
pub struct Ceiling {
    a: Pool,
    b: Pool,
    /// Steps of the whole arithmetic probe (split evenly across a pool's threads).
    steps: u64,
    x: Vec<f32>,
    y: Vec<f32>,
    /// Passes over the buffers per streaming probe.
    passes: usize,
    /// Per probe pair: time on `b`'s threads / time on `a`'s threads.
    pub ratios: Vec<f64>,
    /// Likewise for the streaming probe.
    pub stream_ratios: Vec<f64>,
}

impl Ceiling {
    /// Pools of `a` and `b` threads, and a probe sized to take about `target` on one thread.
    pub fn new(a: usize, b: usize, target: Duration) -> Result<Ceiling> {
        let pa = Pool::new(a).context("cannot start the ceiling probe's threads")?;
        let pb = Pool::new(b).context("cannot start the ceiling probe's threads")?;
        // Calibrate: double the steps until one thread needs at least a millisecond.
        let mut steps = 1024u64;
        let per_step = loop {
            let t = Instant::now();
            arith(steps);
            let e = t.elapsed();
            if e >= Duration::from_millis(1) || steps >= 1 << 40 {
                break e.as_secs_f64() / steps as f64;
            }
            steps *= 2;
        };
        let steps = ((target.as_secs_f64() / per_step.max(1e-12)) as u64).max(1024);
        let (x, mut y) = (vec![1.0f32; STREAM_FLOATS], vec![0.0f32; STREAM_FLOATS]);
        let t = Instant::now();
        stream(&x, &mut y);
        let passes = ((target.as_secs_f64() / t.elapsed().as_secs_f64().max(1e-9)) as usize).clamp(1, 64);
        Ok(Ceiling { a: pa, b: pb, steps, x, y, passes, ratios: Vec::new(), stream_ratios: Vec::new() })
    }

    fn time_arith(pool: &Pool, steps: u64) -> f64 {
        let parts = pool.threads();
        let t = Instant::now();
        pool.run(parts, &|_, _| arith(steps / parts as u64));
        t.elapsed().as_secs_f64()
    }

    fn time_stream(pool: &Pool, x: &[f32], y: &mut [f32], passes: usize) -> f64 {
        let parts = pool.threads();
        let chunk = x.len().div_ceil(parts);
        let ys: Vec<Mutex<&mut [f32]>> = y.chunks_mut(chunk).map(Mutex::new).collect();
        let t = Instant::now();
        for _ in 0..passes {
            pool.run(ys.len(), &|p, _| {
                let mut yp = ys[p].lock().unwrap_or_else(|e| e.into_inner());
                stream(&x[p * chunk..], &mut yp);
            });
        }
        t.elapsed().as_secs_f64()
    }

    /// One pair of each probe (alternating which pool goes first); records time on b / time on a.
    pub fn pair(&mut self) {
        let a_first = self.ratios.len().is_multiple_of(2);
        let (s, passes) = (self.steps, self.passes);
        if let Some(r) = ratio(&self.a, &self.b, a_first, |p| Self::time_arith(p, s)) {
            self.ratios.push(r);
        }
        let (x, y) = (&self.x, &mut self.y);
        if let Some(r) = ratio(&self.a, &self.b, a_first, |p| Self::time_stream(p, x, y, passes)) {
            self.stream_ratios.push(r);
        }
    }
}

/// `time` on both pools, `a` first when `a_first`: time on b / time on a (None if a took no time).
fn ratio(a: &Pool, b: &Pool, a_first: bool, mut time: impl FnMut(&Pool) -> f64) -> Option<f64> {
    let (ta, tb) = if a_first {
        let ta = time(a);
        (ta, time(b))
    } else {
        let tb = time(b);
        (time(a), tb)
    };
    (ta > 0.0).then(|| tb / ta)
}

/// One streaming part: `y[i] = 0.5·x[i] + 1` over `y`'s length.
fn stream(x: &[f32], y: &mut [f32]) {
    for (o, &i) in y.iter_mut().zip(x) {
        *o = 0.5 * i + 1.0;
    }
    black_box(y);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One ratio per probe pair, each positive and finite, from a calibrated (non-empty) probe;
    /// the ratios' values are timings and are not asserted (they belong in benchmarks).
    #[test]
    fn one_ratio_per_pair() {
        let mut c = Ceiling::new(2, 1, Duration::from_micros(200)).unwrap();
        assert!(c.steps >= 1024);
        for _ in 0..5 {
            c.pair();
        }
        assert_eq!((c.ratios.len(), c.stream_ratios.len()), (5, 5));
        assert!(c.ratios.iter().chain(&c.stream_ratios).all(|r| r.is_finite() && *r > 0.0), "{:?} {:?}", c.ratios, c.stream_ratios);
        // The streaming probe wrote every output (0.5·1 + 1).
        assert!(c.y.iter().all(|&v| v == 1.5));
    }
}
