//! Dense GEMM throughput: group `sgemm_f32/{kernel}`, ids `{m}x{k}x{n}`, throughput in FLOPs
//! (2·m·n·k). Shapes: square 256³/512³, MobileNetV1 pointwise convs (C[cout × hw] =
//! W[cout × cin] · X[cin × hw]), BERT-base FC layers at batch 1 (GEMV) and 128 tokens.
//! Every kernel row of `GEMM_KERNELS` is measured (rows whose ISA the CPU lacks print SKIPPED);
//! the scalar reference joins only for small shapes.
//!
//! The packed-A path against A read in place is not here: that comparison is the interleaved
//! probe `cargo run --release -p sprig-kernels --example gemm_apath` (its shapes, rounds, cold A),
//! which gives side-by-side ratios on a loaded machine; criterion would time one path after the
//! other (this file had such a group, `sgemm_f32_apath`, a copy of the probe's shapes and loop).
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sprig_kernels::gemm::{scalar::sgemm_ref, sgemm_scratch_len, sgemm_with, Bias, MatMut, MatRef, GEMM_KERNELS};
use sprig_kernels::Activation;

/// (m, k, n)
const SHAPES: &[(usize, usize, usize)] = &[
    (256, 256, 256),
    (512, 512, 512),
    // MobileNetV1 pointwise layers (224x224 input)
    (64, 32, 12544),
    (128, 64, 3136),
    (256, 128, 784),
    (512, 256, 196),
    (1024, 512, 49),
    // BERT-base FC, batch 1 (m = 1 tokens): QKV/out, FFN up, FFN down
    (1, 768, 768),
    (1, 768, 3072),
    (1, 3072, 768),
    // BERT-base FC, 128 tokens
    (128, 768, 768),
    (128, 768, 3072),
    (128, 3072, 768),
];

/// The scalar reference runs only where it finishes in reasonable time.
const SCALAR_MAX_FLOPS: usize = 2 * 128 * 128 * 128;

fn data(len: usize, seed: u32) -> Vec<f32> {
    (0..len).map(|i| ((i as u32).wrapping_mul(2_654_435_761).wrapping_add(seed) >> 8) as f32 / (1 << 24) as f32 - 0.5).collect()
}

fn bench_gemm(cr: &mut Criterion) {
    for kr in GEMM_KERNELS.iter().map(Some).chain([None]) {
        let name = kr.map_or("scalar_ref", |k| k.name);
        if let Some(kr) = kr {
            if !kr.isa.available() {
                println!("SKIPPED: {} (CPU lacks {})", kr.name, kr.isa.name());
                continue;
            }
        }
        let mut group = cr.benchmark_group(format!("sgemm_f32/{name}"));
        group.sample_size(20);
        for &(m, k, n) in SHAPES {
            let flops = 2 * m * n * k;
            if kr.is_none() && flops > SCALAR_MAX_FLOPS {
                continue;
            }
            let a = data(m * k, 1);
            let b = data(k * n, 2);
            let bias = data(m, 3);
            let mut c = vec![0.0f32; m * n];
            let mut scratch = vec![0.0f32; sgemm_scratch_len(m, n, k)];
            group.throughput(Throughput::Elements(flops as u64));
            group.bench_function(BenchmarkId::from_parameter(format!("{m}x{k}x{n}")), |bch| {
                bch.iter(|| {
                    let (av, bv) = (MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n));
                    let cv = MatMut::row_major(&mut c, m, n);
                    match kr {
                        Some(kr) => sgemm_with(kr, av, bv, cv, Bias::Row(&bias), &Activation::RELU, &mut scratch),
                        None => sgemm_ref(av, bv, cv, Bias::Row(&bias), &Activation::RELU),
                    }
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench_gemm);
criterion_main!(benches);
