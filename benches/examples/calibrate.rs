//! Calibration of the converter's dense-vs-sparse cost model (not a test): measures, with the best
//! ISA of this CPU (or `SPRIG_ISA`), single-threaded
//! - dense `sgemm`: ns per multiply-add (n > 1) and the GEMV path (n = 1);
//! - SpMM: ns per stored block per N tile (`ceil(n / nr)` tiles of the kernel's `nr` columns);
//! - SpMV: ns per stored block;
//! - `SparseMatrix::parse`: ns per stored block (paid once per run by the runtime ops);
//! - SpMV per row vs transpose + SpMM for small batches (the runtime's `SPMV_MAX_ROWS`),
//!
//! on MobileNet pointwise and BERT FC shapes at 50/70/90/95 % sparsity, and prints the medians
//! per layout that `tools/src/sparsify.rs` stores.
//! `cargo run --release -p sprig-benches --example calibrate`
use sprig_kernels::gemm::{sgemm, sgemm_scratch_len, Bias, MatMut, MatRef};
use sprig_kernels::sparse::spmm::spmm_kernel;
use sprig_kernels::sparse::spmv::spmv_kernel;
use sprig_kernels::sparse::{spmm, spmv, Layout, SparseMatrix, ValueType};
use sprig_kernels::{Activation, Isa};
use std::hint::black_box;
use std::time::Instant;
use sprig_benches::{as_bytes, blob, spmm_like_runtime, weights, LineAligned};

/// Best-of-5 seconds per call of `f`, each sample running `f` for at least ~20 ms.
fn time(mut f: impl FnMut()) -> f64 {
    f();
    let t0 = Instant::now();
    f();
    let one = t0.elapsed().as_secs_f64().max(1e-7);
    let reps = ((0.02 / one) as usize).clamp(1, 100_000);
    (0..5)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .fold(f64::INFINITY, f64::min)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    if v.is_empty() {
        f64::NAN
    } else {
        v[v.len() / 2]
    }
}

fn main() {
    let isa = Isa::detect();
    println!("ISA: {}", isa.name());
    let act = Activation::RELU;
    let spmm_shapes: &[(usize, usize, usize)] =
        &[(64, 32, 3136), (256, 128, 784), (512, 512, 196), (1024, 512, 49), (768, 768, 128), (3072, 768, 128), (768, 3072, 128), (128, 64, 16)];
    let spmv_shapes: &[(usize, usize)] = &[(768, 768), (3072, 768), (768, 3072), (1000, 1024), (100, 256)];
    let sparsities = [0.5, 0.7, 0.9, 0.95];

    // Dense.
    let mut gemm_ns = Vec::new();
    for &(m, k, n) in spmm_shapes {
        let a = LineAligned::from_slice(&weights(m, k, Layout::RowBlock(1), 0.0, 1));
        let b = LineAligned::from_slice(&weights(k, n, Layout::RowBlock(1), 0.0, 2));
        let mut c = LineAligned::zeros(m * n);
        let mut sc = vec![0.0f32; sgemm_scratch_len(m, n, k)];
        let t = time(|| {
            sgemm(isa, MatRef::row_major(a.as_slice(), m, k), MatRef::row_major(b.as_slice(), k, n), MatMut::row_major(c.as_mut_slice(), m, n), Bias::None, &act, &mut sc);
            black_box(c.as_slice());
        });
        let ns = t * 1e9 / (m * k * n) as f64;
        println!("dense sgemm {m}x{k}x{n}: {:.1} us, {ns:.4} ns/MAC", t * 1e6);
        gemm_ns.push(ns);
    }
    let mut gemv_ns = Vec::new();
    for &(m, k) in spmv_shapes {
        let a = weights(m, k, Layout::RowBlock(1), 0.0, 1);
        let x = weights(k, 1, Layout::RowBlock(1), 0.0, 2);
        let mut y = vec![0.0f32; m];
        let t = time(|| {
            sgemm(isa, MatRef::row_major(&a, m, k), MatRef::row_major(&x, k, 1), MatMut::row_major(&mut y, m, 1), Bias::None, &act, &mut []);
            black_box(&y);
        });
        let ns = t * 1e9 / (m * k) as f64;
        println!("dense gemv {m}x{k}: {:.1} us, {ns:.4} ns/MAC", t * 1e6);
        gemv_ns.push(ns);
    }

    // Sparse, per layout.
    let mut rows_out = Vec::new();
    for l in Layout::ALL {
        let (mut mm, mut mv, mut parse) = (Vec::new(), Vec::new(), Vec::new());
        let kmm = spmm_kernel(isa, l);
        let kmv = spmv_kernel(isa, l);
        for &s in &sparsities {
            for &(m, k, n) in spmm_shapes {
                let w = weights(m, k, l, s, 3);
                let bl = blob(&w, m, k, None, l, ValueType::F32);
                let sm = SparseMatrix::parse(as_bytes(&bl)).unwrap();
                let b = LineAligned::from_slice(&weights(k, n, Layout::RowBlock(1), 0.0, 4));
                let mut c = LineAligned::zeros(m * n);
                let mut b_padded = LineAligned::zeros(k * n.next_multiple_of(16));
                let t = time(|| {
                    spmm_like_runtime(isa, &sm, b.as_slice(), n, c.as_mut_slice(), &act, &mut b_padded);
                    black_box(c.as_slice());
                });
                let units = (sm.nnz_blocks() * n.div_ceil(kmm.nr)).max(1) as f64;
                let ns = t * 1e9 / units;
                let tp = time(|| {
                    black_box(SparseMatrix::parse(black_box(as_bytes(&bl))).unwrap());
                });
                parse.push(tp * 1e9 / sm.nnz_blocks().max(1) as f64);
                let dense = gemm_ns[spmm_shapes.iter().position(|x| *x == (m, k, n)).unwrap()] * (m * k * n) as f64 * 1e-9;
                println!("{} {m}x{k}x{n}@{:.0}%: {:.1} us ({:.2}x dense), {ns:.3} ns/block/tile", kmm.name, s * 100.0, t * 1e6, dense / t);
                mm.push(ns);
            }
            for &(m, k) in spmv_shapes {
                let w = weights(m, k, l, s, 5);
                let bl = blob(&w, m, k, None, l, ValueType::F32);
                let sm = SparseMatrix::parse(as_bytes(&bl)).unwrap();
                let x = weights(k, 1, Layout::RowBlock(1), 0.0, 6);
                let mut y = vec![0.0f32; m];
                let t = time(|| {
                    spmv(isa, &sm, &x, &mut y, &act);
                    black_box(&y);
                });
                let ns = t * 1e9 / sm.nnz_blocks().max(1) as f64;
                let dense = gemv_ns[spmv_shapes.iter().position(|x| *x == (m, k)).unwrap()] * (m * k) as f64 * 1e-9;
                println!("{} {m}x{k}@{:.0}%: {:.1} us ({:.2}x dense), {ns:.3} ns/block", kmv.name, s * 100.0, t * 1e6, dense / t);
                mv.push(ns);
            }
        }
        rows_out.push((l, kmm.nr, median(mm), median(mv), median(parse)));
    }

    // Small batches: R SpMV calls vs transpose + SpMM + transpose (BERT FC 768x768, 90 % 4x1).
    let (m, k) = (768, 768);
    let w = weights(m, k, Layout::RowBlock(4), 0.9, 7);
    let bl = blob(&w, m, k, None, Layout::RowBlock(4), ValueType::F32);
    let sm = SparseMatrix::parse(as_bytes(&bl)).unwrap();
    for rows in [1usize, 2, 3, 4, 8, 16] {
        let a = weights(rows, k, Layout::RowBlock(1), 0.0, 8);
        let mut y = vec![0.0f32; rows * m];
        let t_mv = time(|| {
            for r in 0..rows {
                spmv(isa, &sm, &a[r * k..(r + 1) * k], &mut y[r * m..(r + 1) * m], &act);
            }
            black_box(&y);
        });
        let (mut at, mut yt) = (vec![0.0f32; k * rows], vec![0.0f32; m * rows]);
        let t_mm = time(|| {
            for i in 0..rows {
                for j in 0..k {
                    at[j * rows + i] = a[i * k + j];
                }
            }
            spmm(isa, &sm, &at, rows, rows, &mut yt, rows, &act);
            for i in 0..m {
                for j in 0..rows {
                    y[j * m + i] = yt[i * rows + j];
                }
            }
            black_box(&y);
        });
        println!("rows {rows}: {rows} x spmv {:.1} us, transpose+spmm {:.1} us", t_mv * 1e6, t_mm * 1e6);
    }

    // The MatMul SpMM path's transposes (A in, Y out): ns per element of the runtime's blocked
    // transpose, on BERT-like shapes (rows x features).
    let mut tr_ns = Vec::new();
    for &(r, c) in &[(16usize, 64usize), (128, 768), (128, 3072), (384, 768)] {
        let src = weights(r, c, Layout::RowBlock(1), 0.0, 9);
        let mut dst = vec![0.0f32; r * c];
        let t = time(|| {
            sprig_kernels::sparse::spmm::transpose::transpose_cols(isa, &src, r, c, 0..c, &mut dst);
            black_box(&dst);
        });
        let ns = t * 1e9 / (r * c) as f64;
        println!("transpose {r}x{c}: {:.2} us, {ns:.3} ns/element", t * 1e6);
        tr_ns.push(ns);
    }

    println!("\nmedians (paste into tools/src/sparsify.rs):");
    println!("transpose: {:.3} ns/element", median(tr_ns));
    println!("dense: {:.4} ns/MAC (sgemm), {:.4} ns/MAC (gemv)", median(gemm_ns), median(gemv_ns));
    for (l, nr, mm, mv, p) in rows_out {
        println!("{l}: spmm nr {nr} {mm:.3} ns/block/tile, spmv {mv:.3} ns/block, parse {p:.3} ns/block");
    }
}
