//! A/B probe (not a test): the packed-A path against the in-place-A path of every table kernel
//! that has one, interleaved in rounds so that load from other processes hits both alike; prints
//! the median over rounds of the per-round time ratio packed / in-place (> 1: in place faster).
//! The one place this comparison is measured (the criterion bench `benches/benches/gemm.rs` has
//! dense throughput per kernel only; criterion cannot interleave).
//! `[ROUNDS=15] [COLD=1] cargo run --release -p sprig-kernels --example gemm_apath [m k n]...`
//! (ROUNDS and COLD are environment variables; the shapes are triples of arguments)
//! COLD=1 cycles through copies of A totalling ≥ 64 MiB, so each call reads the weights from
//! DRAM as a model run does (hot A, the default, stays in L2/L3 across calls).
use sprig_kernels::gemm::{sgemm_scratch_len, sgemm_with_path, APath, Bias, MatMut, MatRef, GEMM_KERNELS};
use sprig_kernels::Activation;
use std::time::Instant;

const DEFAULT_SHAPES: &[(usize, usize, usize)] = &[
    (1024, 1024, 49),
    (512, 4608, 49),
    (512, 512, 196),
    (256, 2304, 196),
    (256, 256, 256),
    (128, 1152, 784),
    (64, 576, 3136),
];

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let shapes: Vec<(usize, usize, usize)> =
        if args.len() >= 3 { args.chunks_exact(3).map(|c| (c[0], c[1], c[2])).collect() } else { DEFAULT_SHAPES.to_vec() };
    if !args.len().is_multiple_of(3) {
        eprintln!("gemm_apath: {} trailing number(s) ignored (shapes are m k n triples; ROUNDS and COLD are environment variables)", args.len() % 3);
    }
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|v| v.parse().ok()).unwrap_or(15);
    let cold = std::env::var("COLD").is_ok_and(|v| v == "1");
    for kr in GEMM_KERNELS {
        if !kr.isa.available() {
            println!("SKIPPED: {} (CPU lacks {})", kr.name, kr.isa.name());
            continue;
        }
        if kr.ukr_rows.is_none() {
            println!("{}: no in-place-A kernel", kr.name);
            continue;
        }
        for &(m, k, n) in &shapes {
            let copies = if cold { (64 << 20) / (4 * m * k) + 1 } else { 1 };
            let a: Vec<Vec<f32>> = (0..copies).map(|c| (0..m * k).map(|i| ((i + c) % 7) as f32 * 0.1).collect()).collect();
            let mut next = 0;
            let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
            let bias: Vec<f32> = (0..m).map(|i| i as f32).collect();
            let mut c = vec![0.0; m * n];
            let mut scratch = vec![0.0; sgemm_scratch_len(m, n, k)];
            let flops = 2.0 * (m * n * k) as f64;
            let reps = ((6e8 / flops) as usize).clamp(3, 2000);
            let mut run = |path| {
                let t = Instant::now();
                for _ in 0..reps {
                    next = (next + 1) % copies;
                    let (av, bv) = (MatRef::row_major(&a[next], m, k), MatRef::row_major(&b, k, n));
                    sgemm_with_path(kr, path, av, bv, MatMut::row_major(&mut c, m, n), Bias::Row(&bias), &Activation::RELU, &mut scratch);
                }
                t.elapsed().as_secs_f64() / reps as f64
            };
            run(APath::Packed);
            run(APath::InPlace);
            let (mut ratios, mut gp, mut gi) = (Vec::new(), Vec::new(), Vec::new());
            for r in 0..rounds {
                // Alternate which path goes first.
                let (tp, ti) = if r % 2 == 0 {
                    let tp = run(APath::Packed);
                    (tp, run(APath::InPlace))
                } else {
                    let ti = run(APath::InPlace);
                    (run(APath::Packed), ti)
                };
                ratios.push(tp / ti);
                gp.push(flops / tp / 1e9);
                gi.push(flops / ti / 1e9);
            }
            println!(
                "{}{} {m}x{k}x{n}: packed/in-place time ratio {:.3} (median of {rounds}; GFLOP/s medians packed {:.1}, in place {:.1})",
                kr.name,
                if cold { " (cold A)" } else { "" },
                median(ratios),
                median(gp),
                median(gi)
            );
        }
    }
}
