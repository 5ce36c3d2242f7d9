//! Depthwise 3x3 convolution on the MobileNetV1 224 shapes: the 3x3 channel kernels
//! (`dw3x3s{1,2}_*`, what `dwconv2d` dispatches to) against the generic row kernel of the same
//! ISA (`dwconv_*w_*` through `dwconv2d_with`, the path every 3x3 layer took before) and the
//! scalar reference.
//!
//! Groups `dwconv_f32/{c}x{h}x{w}s{stride}`, ids `3x3/{kernel}`, `row/{kernel}`, `scalar`;
//! throughput in useful FLOPs (2·9 per output), pad 1, ReLU fused. The ISA is `Isa::detect()`
//! (`SPRIG_ISA` overrides). Run: `cargo bench -p sprig-benches --bench dwconv`.
//!
//! `SPRIG_DW_INTERLEAVED=1 cargo bench -p sprig-benches --bench dwconv` instead alternates the row
//! and 3x3 paths on each shape for 41 rounds and prints the median time of each and the median of
//! the per-round ratios (the development VM's load changes from second to second; criterion
//! measures one id after the other).
use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use sprig_kernels::dwconv::{dwconv2d_3x3_with, dwconv2d_with, kernel3x3_for, kernel_for, scalar::dwconv2d_ref, DwGeom};
use sprig_kernels::{Activation, Isa};
use std::time::{Duration, Instant};

/// (channels, input side, stride) of the 13 MobileNetV1 224 depthwise layers (b6..b10 alike).
const SHAPES: &[(usize, usize, usize)] = &[(32, 112, 1), (64, 112, 2), (128, 56, 1), (128, 56, 2), (256, 28, 1), (256, 28, 2), (512, 14, 1), (512, 14, 2), (1024, 7, 1)];

fn geom(c: usize, side: usize, s: usize) -> DwGeom {
    let o = (side - 1) / s + 1;
    DwGeom { c, h: side, w: side, kh: 3, kw: 3, sh: s, sw: s, dh: 1, dw: 1, pt: 1, pl: 1, oh: o, ow: o }
}

fn data(len: usize, k: usize) -> Vec<f32> {
    (0..len).map(|i| ((i * k % 113) as f32 - 56.0) * 0.01).collect()
}

fn label(g: &DwGeom) -> String {
    format!("{}x{}x{}s{}", g.c, g.h, g.w, g.sh)
}

fn benches(cr: &mut Criterion) {
    let isa = Isa::detect();
    let act = Activation::RELU;
    for &(c, side, s) in SHAPES {
        let g = geom(c, side, s);
        let (x, w, b) = (data(c * side * side, 7), data(c * 9, 11), data(c, 13));
        let mut y = vec![0.0f32; c * g.oh * g.ow];
        let mut grp = cr.benchmark_group(format!("dwconv_f32/{}", label(&g)));
        grp.throughput(Throughput::Elements((18 * c * g.oh * g.ow) as u64));
        if let Some(k) = kernel3x3_for(isa, &g).filter(|k| k.isa.available()) {
            grp.bench_function(BenchmarkId::new("3x3", k.name), |bn| bn.iter(|| dwconv2d_3x3_with(k, &g, &x, &w, Some(&b), &act, black_box(&mut y))));
        }
        if let Some(k) = kernel_for(isa).filter(|k| k.isa.available()) {
            grp.bench_function(BenchmarkId::new("row", k.name), |bn| bn.iter(|| dwconv2d_with(k, &g, &x, &w, Some(&b), &act, black_box(&mut y))));
        }
        grp.bench_function("scalar", |bn| bn.iter(|| dwconv2d_ref(&g, &x, &w, Some(&b), &act, black_box(&mut y))));
        grp.finish();
    }
}

criterion_group! {
    name = dwconv_benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(1500));
    targets = benches
}

fn interleaved() {
    let isa = Isa::detect();
    let act = Activation::RELU;
    println!("interleaved row kernel vs 3x3 kernel, isa {}, 41 alternating rounds, medians", isa.name());
    let (mut sum_row, mut sum_3) = (0.0, 0.0);
    for &(c, side, s) in SHAPES {
        let g = geom(c, side, s);
        let (Some(kr), Some(k3)) = (kernel_for(isa).filter(|k| k.isa.available()), kernel3x3_for(isa, &g).filter(|k| k.isa.available())) else {
            println!("SKIPPED: {} (no {} row or 3x3 kernel on this CPU)", label(&g), isa.name());
            continue;
        };
        let (x, w, b) = (data(c * side * side, 7), data(c * 9, 11), data(c, 13));
        let (mut y1, mut y2) = (vec![0.0f32; c * g.oh * g.ow], vec![0.0f32; c * g.oh * g.ow]);
        let reps = (4_000_000 / (c * g.oh * g.ow * 9)).max(1);
        let (mut t1, mut t2, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..41 {
            let t = Instant::now();
            for _ in 0..reps {
                dwconv2d_with(kr, &g, &x, &w, Some(&b), &act, black_box(&mut y1));
            }
            let a = t.elapsed().as_secs_f64() / reps as f64;
            let t = Instant::now();
            for _ in 0..reps {
                dwconv2d_3x3_with(k3, &g, &x, &w, Some(&b), &act, black_box(&mut y2));
            }
            let bt = t.elapsed().as_secs_f64() / reps as f64;
            t1.push(a);
            t2.push(bt);
            ratio.push(a / bt);
        }
        assert!(y1.iter().zip(&y2).all(|(p, q)| (p - q).abs() <= 1e-4 * (1.0 + p.abs())), "row and 3x3 results differ");
        let med = |v: &mut Vec<f64>| {
            v.sort_by(|p, q| p.partial_cmp(q).unwrap());
            v[v.len() / 2]
        };
        let (m1, m2, mr) = (med(&mut t1), med(&mut t2), med(&mut ratio));
        sum_row += m1;
        sum_3 += m2;
        let gf = (18 * c * g.oh * g.ow) as f64 * 1e-9;
        println!("{:16} {:18} {:8.1} us {:5.1} GFLOP/s | {:18} {:8.1} us {:5.1} GFLOP/s | ratio {:.2}x", label(&g), kr.name, m1 * 1e6, gf / m1, k3.name, m2 * 1e6, gf / m2, mr);
    }
    println!("sum of medians: row {:.1} us, 3x3 {:.1} us", sum_row * 1e6, sum_3 * 1e6);
}

fn main() {
    if std::env::var_os("SPRIG_DW_INTERLEAVED").is_some() {
        return interleaved();
    }
    dwconv_benches();
    Criterion::default().configure_from_args().final_summary();
}
