//! Issue 3's SpMV target side by side in one run: per BERT-base FC shape (as `BERT_FC` in
//! `benches/benches/spmm.rs`) at batch 1 and 90 % sparsity, in 4x1 blocks and unstructured, the
//! dense `sgemm` (its matrix-vector path) and the table SpMV, each on the ISA a session picks for
//! its family (`Isa::detect` for the dense GEMM, `Isa::detect_sparse` for SpMV; `SPRIG_ISA` forces
//! one ISA for both), interleaved in rounds. Prints per case the median over rounds of
//! (dense time / sparse time), with min and max. Single thread.
//!
//! As with `spmm_ab`, two builds of the kernels compare by running two copies of this binary
//! alternately: each ratio is against the dense GEMV of the same process and round.
//!
//! Usage: `cargo run --release -p sprig-benches --example spmv_ab [ROUNDS=9] [REPS=51]`
use sprig_benches::{as_bytes, blob, median_time, weights};
use sprig_kernels::gemm::{sgemm, sgemm_scratch_len, Bias, MatMut, MatRef};
use sprig_kernels::sparse::{spmv, spmv::spmv_kernel, Layout, SparseMatrix, ValueType};
use sprig_kernels::{Activation, Isa};
use std::hint::black_box;

const BERT_FC: &[(usize, usize)] = &[(768, 768), (3072, 768), (768, 3072)];

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let rounds = args.first().copied().unwrap_or(9).max(1);
    let reps = args.get(1).copied().unwrap_or(51);
    let (isa, sparse_isa) = (Isa::detect(), Isa::detect_sparse());
    let act = Activation::RELU;
    println!("dense isa {}, sparse isa {}, {rounds} rounds of {reps} reps per side, 90 % sparse, batch 1", isa.name(), sparse_isa.name());
    for &(m, k) in BERT_FC {
        let bias: Vec<f32> = (0..m).map(|i| i as f32 * 1e-3).collect();
        let x: Vec<f32> = (0..k).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
        let wd = weights(m, k, Layout::RowBlock(1), 0.0, 7);
        let mut scratch = vec![0.0f32; sgemm_scratch_len(m, 1, k)];
        let mut y_dense = vec![0.0f32; m];
        let mut y_sparse = vec![0.0f32; m];
        for layout in [Layout::RowBlock(4), Layout::RowBlock(1)] {
            let w = weights(m, k, layout, 0.9, 11 + 90);
            let buf = blob(&w, m, k, Some(&bias), layout, ValueType::F32);
            let a = SparseMatrix::parse(as_bytes(&buf)).expect("the encoder's blob parses");
            let mut dense = || {
                sgemm(isa, MatRef::row_major(&wd, m, k), MatRef::row_major(&x, k, 1), MatMut::row_major(&mut y_dense, m, 1), Bias::Row(&bias), &act, &mut scratch);
                black_box(&y_dense);
            };
            let mut sparse = || {
                spmv(sparse_isa, &a, &x, &mut y_sparse, &act);
                black_box(&y_sparse);
            };
            let (mut ratios, mut td, mut ts) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let (d, s) = (median_time(reps, &mut dense), median_time(reps, &mut sparse));
                ratios.push(d / s);
                td.push(d);
                ts.push(s);
            }
            for v in [&mut ratios, &mut td, &mut ts] {
                v.sort_by(f64::total_cmp);
            }
            println!(
                "{m:5}x{k:5}x1 {layout} {:22} dense/sparse {:.2}x (min {:.2}, max {:.2})  [medians: dense {:.1} us, sparse {:.1} us]",
                spmv_kernel(sparse_isa, layout).name,
                ratios[rounds / 2],
                ratios[0],
                ratios[rounds - 1],
                td[rounds / 2] * 1e6,
                ts[rounds / 2] * 1e6
            );
        }
    }
}
