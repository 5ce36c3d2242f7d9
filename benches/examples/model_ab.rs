//! Probe (kept at this commit only): one session of a single-input f32 model, runs alternating
//! between `SPRIG_PREPACK` unset and set (A packed once into a cache (dense GEMM weights) in the GEMM
//! driver at this commit); prints per
//! node above 50 µs and end to end the medians and their ratio.
//!
//! Usage: `cargo run --release -p sprig-benches --example model_ab MODEL.sprig [RUNS=200]`
use sprig_runtime::{Model, NodeEvent, Session, Tensor, TensorMut};
use std::time::Instant;

fn main() {
    let a: Vec<String> = std::env::args().skip(1).collect();
    let runs: usize = a.get(1).map_or(200, |s| s.parse().unwrap());
    let var = "SPRIG_PREPACK";
    let model = Model::open(&a[0]).unwrap();
    let mut arena = sprig_runtime::AlignedBuf::new(model.arena_size());
    let mut s = Session::new(&model, arena.as_mut_slice()).unwrap();
    let inp = model.input(0).unwrap();
    let shape: Vec<usize> = inp.shape.dims().to_vec();
    let x: Vec<f32> = (0..shape.iter().product::<usize>()).map(|i| ((i * 7919) % 1000) as f32 / 1000.0).collect();
    let o = model.output(0).unwrap();
    let mut y = vec![0f32; o.shape.dims().iter().product()];
    let nn = model.parsed().nodes.len();
    let names: Vec<String> = (0..nn).map(|i| model.node(i).unwrap().name.to_string()).collect();
    let mut per: [Vec<Vec<f64>>; 2] = [vec![vec![]; nn], vec![vec![]; nn]];
    let mut tot: [Vec<f64>; 2] = [vec![], vec![]];
    for r in 0..runs + 10 {
        for &v in if r % 2 == 0 { &[0usize, 1] } else { &[1usize, 0] } {
            if v == 1 { std::env::set_var(var, "1") } else { std::env::remove_var(var) }
            let mut st = Instant::now();
            let mut times = vec![0f64; nn];
            let t0 = Instant::now();
            s.run_with_hook(&[Tensor::f32(&x, &shape)], &mut [TensorMut::F32(&mut y)], &mut |e| match e {
                NodeEvent::Start { .. } => st = Instant::now(),
                NodeEvent::End { node, .. } => times[node] = st.elapsed().as_secs_f64(),
            }).unwrap();
            let e = t0.elapsed().as_secs_f64();
            if r >= 10 {
                tot[v].push(e);
                for i in 0..nn { per[v][i].push(times[i]); }
            }
        }
    }
    let med = |v: &mut Vec<f64>| { v.sort_by(|a, b| a.partial_cmp(b).unwrap()); v[v.len() / 2] };
    let mut rows = vec![];
    for i in 0..nn {
        let (ma, mb) = (med(&mut per[0][i].clone()), med(&mut per[1][i].clone()));
        if ma > 50e-6 { rows.push((names[i].clone(), ma, mb)); }
    }
    for (n, ma, mb) in &rows { println!("{n:24} base {:.3} ms  var {:.3} ms  base/var {:.3}", ma * 1e3, mb * 1e3, ma / mb); }
    let (ta, tb) = (med(&mut tot[0]), med(&mut tot[1]));
    println!("end-to-end median base {:.3} ms var {:.3} ms base/var {:.3}", ta * 1e3, tb * 1e3, ta / tb);
}
