//! Probe (kept at this commit only): the GEMM driver's tile loop order, side by side in one
//! process. The driver of this commit reads `SPRIG_SWAP` per block (std builds): set, row panels
//! are the outer loop; unset, column panels (the order before). Calls alternate between the two
//! orders; prints per shape the median over rounds of (column-outer time / row-outer time).
//!
//! Usage: `cargo run --release -p sprig-benches --example gemm_order [ROUNDS=7] [REPS=20]`
use sprig_kernels::gemm::{sgemm_mixed_scratch_len, sgemm_mixed_with, Bias, ConvGeom, Im2colRef, MatMut, MatRef, Operand, GEMM_KERNELS};
use sprig_kernels::Activation;

fn conv(m: usize, c: usize, hw: usize, k: usize, s: usize) -> (usize, ConvGeom) {
    let p = k / 2;
    let o = (hw + 2 * p - k) / s + 1;
    (m, ConvGeom { c, h: hw, w: hw, kh: k, kw: k, sh: s, sw: s, dh: 1, dw: 1, pt: p, pl: p, oh: o, ow: o })
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let rounds = args.first().copied().unwrap_or(7);
    let reps = args.get(1).copied().unwrap_or(20);
    let kr = GEMM_KERNELS.iter().find(|k| k.isa.available()).unwrap();
    let shapes = [
        ("mnv1 stem 3x3/2 3->32 @224", conv(32, 3, 224, 3, 2)),
        ("mnv2 stem", conv(32, 3, 224, 3, 2)),
        ("resnet stem 7x7/2", conv(64, 3, 224, 7, 2)),
        ("resnet layer1 3x3", conv(64, 64, 56, 3, 1)),
        ("resnet layer3 3x3", conv(256, 256, 14, 3, 1)),
        ("pw 64x32x12544", conv(64, 32, 112, 1, 1)),
        ("pw 128x64x3136", conv(128, 64, 56, 1, 1)),
        ("pw 128x128x3136", conv(128, 128, 56, 1, 1)),
        ("pw 256x256x784", conv(256, 256, 28, 1, 1)),
        ("pw 512x512x196", conv(512, 512, 14, 1, 1)),
        ("pw 1024x1024x49", conv(1024, 1024, 7, 1, 1)),
        ("mnv2 expand 96x16x12544", conv(96, 16, 112, 1, 1)),
        ("mnv2 project 24x96x3136", conv(24, 96, 56, 1, 1)),
        ("mnv2 expand 144x24x3136", conv(144, 24, 56, 1, 1)),
        ("256^3", (256, ConvGeom { c: 256, h: 16, w: 16, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, oh: 16, ow: 16 })),
        ("512^3", (512, ConvGeom { c: 512, h: 32, w: 16, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, oh: 32, ow: 16 })),
        ("bert 128x768x768", (128, ConvGeom { c: 768, h: 48, w: 16, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, oh: 48, ow: 16 })),
        ("bert 128x768x3072", (128, ConvGeom { c: 768, h: 192, w: 16, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, oh: 192, ow: 16 })),
        ("bert 128x3072x768", (128, ConvGeom { c: 3072, h: 48, w: 16, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, oh: 48, ow: 16 })),
        ("mlp 4096x1024x128", (4096, ConvGeom { c: 1024, h: 8, w: 16, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, pt: 0, pl: 0, oh: 8, ow: 16 })),
    ];
    for (name, (m, g)) in shapes {
        let (k, n) = (g.rows(), g.cols());
        let x: Vec<f32> = (0..g.c * g.h * g.w).map(|i| ((i * 7919) % 1000) as f32 / 1000.0 - 0.5).collect();
        let w: Vec<f32> = (0..m * k).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
        let bias = vec![0.1f32; m];
        let mut y = vec![0f32; m * n];
        let mut s = vec![0f32; sgemm_mixed_scratch_len(m, n, k)];
        let act = Activation::RELU;
        let pw = g.kh == 1;
        let mut call = |swap: bool| {
            if swap { std::env::set_var("SPRIG_SWAP", "1") } else { std::env::remove_var("SPRIG_SWAP") }
            let b = if pw { Operand::F32(MatRef::row_major(&x, k, n)) } else { Operand::Im2col(Im2colRef::new(&x, g)) };
            sgemm_mixed_with(kr, Operand::F32(MatRef::row_major(&w, m, k)), b, MatMut::row_major(&mut y, m, n), Bias::Row(&bias), &act, &mut s);
        };
        let mut r = vec![];
        for _ in 0..rounds {
            let mut ta = vec![];
            let mut tb = vec![];
            for i in 0..reps {
                for &sw in if i % 2 == 0 { &[false, true] } else { &[true, false] } {
                    let t = std::time::Instant::now();
                    call(sw);
                    let e = t.elapsed().as_secs_f64();
                    if sw { tb.push(e) } else { ta.push(e) }
                }
            }
            ta.sort_by(|a, b| a.partial_cmp(b).unwrap());
            tb.sort_by(|a, b| a.partial_cmp(b).unwrap());
            r.push(ta[reps / 2] / tb[reps / 2]);
        }
        r.sort_by(|a, b| a.partial_cmp(b).unwrap());
        println!("{name:28} m={m:5} k={k:5} n={n:6}  base/swap {:.3} (min {:.3} max {:.3})", r[rounds / 2], r[0], r[rounds - 1]);
    }
}
