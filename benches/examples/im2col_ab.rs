//! Per conv shape, side by side in one run: the explicit im2col into a buffer followed by `sgemm`
//! (the old dense conv path) against one GEMM with an `Operand::Im2col` B (panels packed straight
//! from the image). Single thread, the first available kernel of the table. Rounds interleave
//! the two; prints per shape the median over rounds of (old time / new time).
//!
//! Usage: `cargo run --release -p sprig-benches --example im2col_ab [ROUNDS=5] [REPS=20]`
use sprig_kernels::gemm::{sgemm_mixed_scratch_len, sgemm_mixed_with, sgemm_scratch_len, sgemm_with, Bias, ConvGeom, Im2colRef, MatMut, MatRef, Operand, GEMM_KERNELS};
use sprig_kernels::Activation;


/// The old runtime's im2col (`runtime/src/ops/conv.rs` before this change), one image.
fn im2col(g: &ConvGeom, x: &[f32], cols: &mut [f32]) {
    let hw = g.oh * g.ow;
    let mut row = 0;
    for c in 0..g.c {
        let xc = &x[c * g.h * g.w..(c + 1) * g.h * g.w];
        for ky in 0..g.kh {
            for kx in 0..g.kw {
                let dst = &mut cols[row * hw..(row + 1) * hw];
                row += 1;
                for oy in 0..g.oh {
                    let iy = (oy * g.sh + ky * g.dh) as isize - g.pt as isize;
                    let d = &mut dst[oy * g.ow..(oy + 1) * g.ow];
                    if iy < 0 || iy >= g.h as isize {
                        d.fill(0.0);
                        continue;
                    }
                    let xr = &xc[iy as usize * g.w..(iy as usize + 1) * g.w];
                    for (ox, v) in d.iter_mut().enumerate() {
                        let ix = (ox * g.sw + kx * g.dw) as isize - g.pl as isize;
                        *v = if ix >= 0 && (ix as usize) < g.w { xr[ix as usize] } else { 0.0 };
                    }
                }
            }
        }
    }
}

fn conv(m: usize, c: usize, hw: usize, k: usize, s: usize) -> (usize, ConvGeom) {
    let p = k / 2;
    let o = (hw + 2 * p - k) / s + 1;
    (m, ConvGeom { c, h: hw, w: hw, kh: k, kw: k, sh: s, sw: s, dh: 1, dw: 1, pt: p, pl: p, oh: o, ow: o })
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let rounds = args.first().copied().unwrap_or(5);
    let reps = args.get(1).copied().unwrap_or(20);
    let kr = GEMM_KERNELS.iter().find(|k| k.isa.available()).expect("a GEMM kernel for this CPU");
    println!("kernel {}, {rounds} rounds of {reps} reps per path", kr.name);
    let shapes = [
        ("resnet18 layer1 3x3 64->64 @56", conv(64, 64, 56, 3, 1)),
        ("resnet18 layer2 3x3 128->128 @28", conv(128, 128, 28, 3, 1)),
        ("resnet18 layer3 3x3 256->256 @14", conv(256, 256, 14, 3, 1)),
        ("resnet18 layer4 3x3 512->512 @7", conv(512, 512, 7, 3, 1)),
        ("resnet18 layer2 3x3/2 64->128 @56", conv(128, 64, 56, 3, 2)),
        ("resnet18 stem 7x7/2 3->64 @224", conv(64, 3, 224, 7, 2)),
        ("resnet18-50% layer1 3x3 32->32 @56", conv(32, 32, 56, 3, 1)),
        ("resnet18-50% layer3 3x3 128->128 @14", conv(128, 128, 14, 3, 1)),
        ("mobilenetv1 stem 3x3/2 3->32 @224", conv(32, 3, 224, 3, 2)),
        // m = 6 (one A panel): the time is mostly im2col and packing.
        ("pack-bound layer1 geometry, m=6", conv(6, 64, 56, 3, 1)),
        ("pack-bound layer3 geometry, m=6", conv(6, 256, 14, 3, 1)),
        ("pack-bound layer4 geometry, m=6", conv(6, 512, 7, 3, 1)),
    ];
    for (name, (m, g)) in shapes {
        let (k, n) = (g.rows(), g.cols());
        let x: Vec<f32> = (0..g.c * g.h * g.w).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let w: Vec<f32> = (0..m * k).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let bias = vec![0.1f32; m];
        let mut cols = vec![0f32; k * n];
        let mut y_old = vec![0f32; m * n];
        let mut y_new = vec![0f32; m * n];
        let mut s_old = vec![0f32; sgemm_scratch_len(m, n, k)];
        let mut s_new = vec![0f32; sgemm_mixed_scratch_len(m, n, k)];
        let act = Activation::RELU;
        let mut old = || {
            im2col(&g, &x, &mut cols);
            sgemm_with(kr, MatRef::row_major(&w, m, k), MatRef::row_major(&cols, k, n), MatMut::row_major(&mut y_old, m, n), Bias::Row(&bias), &act, &mut s_old);
        };
        let mut new = || {
            let b = Operand::Im2col(Im2colRef::new(&x, g));
            sgemm_mixed_with(kr, Operand::F32(MatRef::row_major(&w, m, k)), b, MatMut::row_major(&mut y_new, m, n), Bias::Row(&bias), &act, &mut s_new);
        };
        let time = |f: &mut dyn FnMut()| sprig_benches::median_time(reps, f);
        let mut ratios: Vec<f64> = (0..rounds).map(|_| time(&mut old) / time(&mut new)).collect();
        ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let diff = y_old.iter().zip(&y_new).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
        println!("{name:40} m={m:4} k={k:5} n={n:6}  old/new {:.2}x (min {:.2}, max {:.2})  max|diff| {diff:.1e}", ratios[rounds / 2], ratios[0], ratios[rounds - 1]);
    }
}
