//! Two `.sprig` files of the same network (two conversions: old and new planner, `--format dense`
//! against auto, ...) side by side in one process: one session each, runs alternating (the order
//! flips every pair), one thread. Prints per node above 50 µs and end to end the medians of A and
//! B and the median of the per-pair ratios A / B (above 1: B is faster).
//!
//! The host's speed drifts within seconds on the shared dev VM; two `sprig bench` processes in
//! turn (`scripts/ab-layers.py`) see drifts of ±8 % on layers that did not change, while the
//! pairs of one process cancel them to ±2 % (session 18, BENCHMARKS.md). Both files must have
//! the same nodes in the same order and one f32 input and output of the same shapes.
//!
//! Usage: `cargo run --release -p sprig-benches --example model_ab A.sprig B.sprig [PAIRS=200]`
use sprig_runtime::{AlignedBuf, Model, NodeEvent, Session, Tensor, TensorMut};
use std::time::Instant;

fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: model_ab A.sprig B.sprig [PAIRS=200]");
        std::process::exit(2);
    }
    let pairs: usize = args.get(2).map_or(200, |s| s.parse().expect("PAIRS is a number"));
    let models = [&args[0], &args[1]].map(|p| Model::open(p).unwrap_or_else(|e| panic!("{p}: {e}")));
    let nodes = models[0].parsed().nodes.len();
    assert_eq!(nodes, models[1].parsed().nodes.len(), "the two files have different node counts");
    let mut arenas = models.each_ref().map(|m| AlignedBuf::new(m.arena_size()));
    println!("arena bytes: A {}, B {}", models[0].arena_size(), models[1].arena_size());
    let [arena_a, arena_b] = &mut arenas;
    let mut sessions = [Session::new(&models[0], arena_a.as_mut_slice()).expect("session A"), Session::new(&models[1], arena_b.as_mut_slice()).expect("session B")];
    let shape: Vec<usize> = models[0].input(0).expect("an input").shape.dims().to_vec();
    let x: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
    let mut y = vec![0f32; models[0].output(0).expect("an output").shape.dims().iter().product()];
    let names: Vec<String> = (0..nodes).map(|i| models[0].node(i).expect("node").name.to_string()).collect();
    // [side][node] -> times; [side] -> end-to-end times.
    let mut per = [vec![Vec::new(); nodes], vec![Vec::new(); nodes]];
    let mut total = [Vec::new(), Vec::new()];
    let warmup = 10;
    for r in 0..pairs + warmup {
        for side in if r % 2 == 0 { [0, 1] } else { [1, 0] } {
            let mut start = Instant::now();
            let mut times = vec![0f64; nodes];
            let t0 = Instant::now();
            let hook = &mut |e: NodeEvent| match e {
                NodeEvent::Start { .. } => start = Instant::now(),
                NodeEvent::End { node, .. } => times[node] = start.elapsed().as_secs_f64(),
            };
            sessions[side].run_with_hook(&[Tensor::f32(&x, &shape)], &mut [TensorMut::F32(&mut y)], hook).expect("run");
            let t = t0.elapsed().as_secs_f64();
            if r >= warmup {
                total[side].push(t);
                for (p, t) in per[side].iter_mut().zip(times) {
                    p.push(t);
                }
            }
        }
    }
    let row = |name: &str, a: &[f64], b: &[f64]| {
        let ratios: Vec<f64> = a.iter().zip(b).map(|(a, b)| a / b).collect();
        println!("{name:24} A {:8.3} ms  B {:8.3} ms  A/B per pair {:.3}", median(a) * 1e3, median(b) * 1e3, median(&ratios));
    };
    for (i, name) in names.iter().enumerate() {
        if median(&per[0][i]) > 50e-6 {
            row(name, &per[0][i], &per[1][i]);
        }
    }
    row("end to end", &total[0], &total[1]);
}
