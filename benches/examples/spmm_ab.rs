//! Issue 3's SpMM targets side by side in one run: per MobileNetV1 pointwise shape (as
//! `MOBILENET_PW` in `benches/benches/spmm.rs`) and layout (4x1, 1x1) at 90 % sparsity, the dense
//! `sgemm` and the table SpMM, each on the ISA a session picks for its family (`Isa::detect` for the
//! dense GEMM, `Isa::detect_sparse` for SpMM: AVX2 and AVX-512 on a CPU with both; `SPRIG_ISA`
//! forces one ISA for both), interleaved in rounds. Prints per case the median
//! over rounds of (dense time / sparse time), with min and max. Single thread.
//!
//! To compare two builds of the kernels, run two copies of this binary alternately: each ratio is
//! against the dense GEMM of the same process and round, so machine load mostly cancels.
//!
//! Usage: `cargo run --release -p sprig-benches --example spmm_ab [ROUNDS=7] [REPS=15] [SHAPES=5]`
//! (`SHAPES`: how many of the shapes, from the first).
use sprig_kernels::gemm::{sgemm, sgemm_scratch_len, Bias, MatMut, MatRef};
use sprig_kernels::sparse::{spmm, spmm::spmm_kernel_for_n, Layout, SparseMatrix, ValueType};
use sprig_kernels::{Activation, Isa};
use sprig_benches::{as_bytes, blob, median_time, weights};
use std::hint::black_box;

const MOBILENET_PW: &[(usize, usize, usize)] = &[(64, 32, 12544), (128, 64, 3136), (256, 128, 784), (512, 256, 196), (1024, 512, 49)];

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let rounds = args.first().copied().unwrap_or(7);
    let reps = args.get(1).copied().unwrap_or(15);
    let nshapes = args.get(2).copied().unwrap_or(MOBILENET_PW.len()).min(MOBILENET_PW.len());
    let (isa, sparse_isa) = (Isa::detect(), Isa::detect_sparse());
    let act = Activation::RELU;
    println!("dense isa {}, sparse isa {}, {rounds} rounds of {reps} reps per side, 90 % sparse", isa.name(), sparse_isa.name());
    for &(m, k, n) in &MOBILENET_PW[..nshapes] {
        let bias: Vec<f32> = (0..m).map(|i| i as f32 * 1e-3).collect();
        let b: Vec<f32> = (0..k * n).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
        let wd = weights(m, k, Layout::RowBlock(1), 0.0, 7);
        let mut scratch = vec![0.0f32; sgemm_scratch_len(m, n, k)];
        let mut c_dense = vec![0.0f32; m * n];
        let mut c_sparse = vec![0.0f32; m * n];
        for layout in [Layout::RowBlock(4), Layout::RowBlock(1)] {
            let w = weights(m, k, layout, 0.9, 11 + 90);
            let buf = blob(&w, m, k, Some(&bias), layout, ValueType::F32);
            let a = SparseMatrix::parse(as_bytes(&buf)).unwrap();
            let mut dense = || {
                sgemm(isa, MatRef::row_major(&wd, m, k), MatRef::row_major(&b, k, n), MatMut::row_major(&mut c_dense, m, n), Bias::Row(&bias), &act, &mut scratch);
                black_box(&c_dense);
            };
            let mut sparse = || {
                spmm(sparse_isa, &a, &b, n, n, &mut c_sparse, n, &act);
                black_box(&c_sparse);
            };
            let time = |f: &mut dyn FnMut()| median_time(reps, f);
            let (mut ratios, mut td, mut ts) = (Vec::new(), Vec::new(), Vec::new());
            for _ in 0..rounds {
                let (d, s) = (time(&mut dense), time(&mut sparse));
                ratios.push(d / s);
                td.push(d);
                ts.push(s);
            }
            td.sort_by(|a, b| a.partial_cmp(b).unwrap());
            ts.sort_by(|a, b| a.partial_cmp(b).unwrap());
            ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!(
                "{m:5}x{k:4}x{n:6} {layout} {:28} dense/sparse {:.2}x (min {:.2}, max {:.2})  [medians: dense {:.0} us, sparse {:.0} us]",
                spmm_kernel_for_n(sparse_isa, layout, ValueType::F32, n).name,
                ratios[rounds / 2],
                ratios[0],
                ratios[rounds - 1],
                td[rounds / 2] * 1e6,
                ts[rounds / 2] * 1e6
            );
        }
    }
}
