//! Sparse vs dense: SpMM on MobileNetV1 pointwise shapes and BERT-base FC shapes (N = 128), SpMV
//! on the BERT shapes at N = 1, over sparsity 0–95 %, unstructured (1×1) and 4×1 blocks, with the
//! dense `sgemm` in the same group, each on the ISA a session picks for its family
//! (`Isa::detect` for the GEMM, `Isa::detect_sparse` for SpMM/SpMV). Throughput is in useful (dense-equivalent) FLOPs,
//! 2·m·k·n, so sparse and dense numbers compare directly.
//!
//! B and C start on 64-byte boundaries like the runtime's tensors, and SpMM copies B to padded
//! rows first where the runtime's pointwise conv does (`spmm_like_runtime`, the copy is timed).
//!
//! Groups `spmm_f32/{shape}`, ids `{kernel}/{m}x{k}x{n}@{sparsity}`. `SPRIG_ISA` caps the ISA.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sprig_benches::{as_bytes, blob, spmm_like_runtime, weights, LineAligned};
use sprig_kernels::gemm::{sgemm, sgemm_scratch_len, Bias, MatMut, MatRef};
use sprig_kernels::sparse::{spmv, Layout, SparseMatrix, ValueType};
use sprig_kernels::{Activation, Isa};
use std::time::Duration;

const MOBILENET_PW: &[(usize, usize, usize)] = &[(64, 32, 12544), (128, 64, 3136), (256, 128, 784), (512, 256, 196), (1024, 512, 49)];
const BERT_FC: &[(usize, usize)] = &[(768, 768), (3072, 768), (768, 3072)];
const SPARSITY_PCT: &[u32] = &[0, 50, 70, 90, 95];
const LAYOUTS: &[Layout] = &[Layout::RowBlock(1), Layout::RowBlock(4)];

fn bench_shape(cr: &mut Criterion, isa: Isa, sparse_isa: Isa, m: usize, k: usize, n: usize) {
    let mut g = cr.benchmark_group(format!("spmm_f32/{m}x{k}x{n}"));
    g.throughput(Throughput::Elements((2 * m * k * n) as u64));
    let act = Activation::RELU;
    let bias: Vec<f32> = (0..m).map(|i| i as f32 * 1e-3).collect();
    let b: Vec<f32> = (0..k * n).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
    let b = LineAligned::from_slice(&b);
    let b = b.as_slice();
    let mut c = LineAligned::zeros(m * n);
    let c = c.as_mut_slice();
    let mut b_padded = LineAligned::zeros(k * n.next_multiple_of(16));
    // Dense baseline.
    let wd = weights(m, k, Layout::RowBlock(1), 0.0, 7);
    let mut scratch = vec![0.0f32; sgemm_scratch_len(m, n, k)];
    g.bench_function(BenchmarkId::new(format!("sgemm_dense_{}", isa.name()), format!("{m}x{k}x{n}@0")), |bch| {
        bch.iter(|| {
            sgemm(
                isa,
                MatRef::row_major(&wd, m, k),
                MatRef::row_major(b, k, n),
                MatMut::row_major(c, m, n),
                Bias::Row(&bias),
                &act,
                &mut scratch,
            );
            black_box(&*c);
        })
    });
    for &layout in LAYOUTS {
        for &pct in SPARSITY_PCT {
            let w = weights(m, k, layout, pct as f64 / 100.0, 11 + pct as u64);
            let buf = blob(&w, m, k, Some(&bias), layout, ValueType::F32);
            let a = SparseMatrix::parse(as_bytes(&buf)).unwrap();
            let name = if n == 1 {
                sprig_kernels::sparse::spmv::spmv_kernel(sparse_isa, layout).name
            } else {
                sprig_kernels::sparse::spmm::spmm_kernel_for_n(sparse_isa, layout, sprig_kernels::sparse::ValueType::F32, n).name
            };
            g.bench_function(BenchmarkId::new(name, format!("{m}x{k}x{n}@{pct}")), |bch| {
                bch.iter(|| {
                    if n == 1 {
                        spmv(sparse_isa, &a, b, c, &act);
                    } else {
                        spmm_like_runtime(sparse_isa, &a, b, n, c, &act, &mut b_padded);
                    }
                    black_box(&*c);
                })
            });
        }
    }
    g.finish();
}

fn benches(cr: &mut Criterion) {
    // Each family on the ISA a session picks for it (AVX2 GEMM, AVX-512 SpMM/SpMV on a CPU with
    // both; `SPRIG_ISA` forces one for both).
    let (isa, sparse_isa) = (Isa::detect(), Isa::detect_sparse());
    for &(m, k, n) in MOBILENET_PW {
        bench_shape(cr, isa, sparse_isa, m, k, n);
    }
    for &n in &[1usize, 128] {
        for &(m, k) in BERT_FC {
            bench_shape(cr, isa, sparse_isa, m, k, n);
        }
    }
}

criterion_group! {
    name = spmm_benches;
    config = Criterion::default().sample_size(10).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(800));
    targets = benches
}
criterion_main!(spmm_benches);
