//! Network stems side by side in one run: the direct stride-2 conv (`dconv` table row of the
//! ISA) against one GEMM with an `Operand::Im2col` B (the dense conv path before the direct
//! kernels: panels packed straight from the image), both on `Isa::detect()` (the dense family's
//! ISA) unless `SPRIG_ISA` forces another, plus every other available `dconv` row. Single
//! thread, ReLU and bias fused. Rounds interleave the paths; prints per stem the median over
//! rounds of (GEMM time / direct time), with min and max.
//!
//! Usage: `cargo run --release -p sprig-benches --example dconv_ab [ROUNDS=7] [REPS=30]`
use sprig_kernels::dconv::{self, ConvGeom, DCONV_KERNELS};
use sprig_kernels::gemm::{sgemm_mixed, sgemm_mixed_scratch_len, Bias, Im2colRef, MatMut, MatRef, Operand};
use sprig_kernels::{Activation, Isa};
use sprig_benches::median_time;

fn stem(c: usize, hw: usize, k: usize) -> ConvGeom {
    let p = k / 2;
    let o = (hw + 2 * p - k) / 2 + 1;
    ConvGeom { c, h: hw, w: hw, kh: k, kw: k, sh: 2, sw: 2, dh: 1, dw: 1, pt: p, pl: p, oh: o, ow: o }
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let rounds = args.first().copied().unwrap_or(7).max(1);
    let reps = args.get(1).copied().unwrap_or(30);
    let isa = Isa::detect();
    let rows: Vec<_> = DCONV_KERNELS.iter().skip(1).filter(|k| k.isa.available()).collect();
    println!("GEMM on {}, {rounds} rounds of {reps} reps per path, one thread", isa.name());
    for (name, m, g) in [("MobileNet stem 3x3/2 3->32 @224", 32, stem(3, 224, 3)), ("ResNet stem 7x7/2 3->64 @224", 64, stem(3, 224, 7))] {
        let (k, n) = (g.rows(), g.cols());
        let x: Vec<f32> = (0..g.c * g.h * g.w).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let w: Vec<f32> = (0..m * k).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.01).collect();
        let act = Activation::RELU;
        let mut y_gemm = vec![0f32; m * n];
        let mut y_dir = vec![0f32; m * n];
        let mut gs = vec![0f32; sgemm_mixed_scratch_len(m, n, k)];
        let mut ds = vec![0f32; dconv::scratch_len(&g, m)];
        let mut gemm = || sgemm_mixed(isa, Operand::F32(MatRef::row_major(&w, m, k)), Operand::Im2col(Im2colRef::new(&x, g)), MatMut::row_major(&mut y_gemm, m, n), Bias::Row(&bias), &act, &mut gs);
        let mut ratios = vec![Vec::new(); rows.len()];
        for _ in 0..rounds {
            let tg = median_time(reps, &mut gemm);
            for (kr, r) in rows.iter().zip(ratios.iter_mut()) {
                r.push(tg / median_time(reps, &mut || dconv::dconv_s2_with(kr, &g, m, &x, &w, Some(&bias), &act, &mut y_dir, &mut ds)));
            }
        }
        for (kr, r) in rows.iter().zip(ratios.iter_mut()) {
            dconv::dconv_s2_with(kr, &g, m, &x, &w, Some(&bias), &act, &mut y_dir, &mut ds);
            let diff = y_gemm.iter().zip(&y_dir).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            r.sort_by(f64::total_cmp);
            println!("{name:32} m={m:3} k={k:4} n={n:6}  {:24} GEMM/direct {:.2}x (min {:.2}, max {:.2})  max|diff| {diff:.1e}", kr.name, r[rounds / 2], r[0], r[rounds - 1]);
        }
    }
}
