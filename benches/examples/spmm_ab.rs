//! Issue 3's SpMM targets side by side in one run: per MobileNetV1 pointwise shape (as
//! `MOBILENET_PW` in `benches/benches/spmm.rs`) and layout (4x1, 1x1) at 90 % sparsity, the dense
//! `sgemm` and the table SpMM, each on the ISA a session picks for its family (`Isa::detect` for the
//! dense GEMM, `Isa::detect_sparse` for SpMM: AVX2 and AVX-512 on a CPU with both; `SPRIG_ISA`
//! forces one ISA for both), interleaved in rounds. Prints per case the median
//! over rounds of (dense time / sparse time), with min and max. Single thread.
//!
//! B and C start on 64-byte boundaries, as every tensor of the runtime's arena does. Where
//! `spmm::aligned_ldb` says so (N not a multiple of 16 and a kernel that loads B once per one or
//! two multiply-adds), the sparse side first copies B to rows padded to 16 floats, as the runtime's
//! pointwise conv does, and that copy is inside its time (`+copy` after the kernel's name).
//!
//! To compare two builds of the kernels, run two copies of this binary alternately: each ratio is
//! against the dense GEMM of the same process and round, so machine load mostly cancels.
//!
//! Usage: `cargo run --release -p sprig-benches --example spmm_ab [ROUNDS=7] [REPS=15] [SHAPES=5]`
//! (`SHAPES`: how many of the shapes, from the first).
use sprig_kernels::gemm::{sgemm, sgemm_scratch_len, Bias, MatMut, MatRef};
use sprig_kernels::sparse::{spmm::aligned_ldb, spmm::spmm_kernel_for_n, Layout, SparseMatrix, ValueType};
use sprig_kernels::{Activation, Isa};
use sprig_benches::{as_bytes, blob, median_time, spmm_like_runtime, weights, LineAligned};
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
        let b = LineAligned::from_slice(&b);
        let b = b.as_slice();
        let wd = weights(m, k, Layout::RowBlock(1), 0.0, 7);
        let mut scratch = vec![0.0f32; sgemm_scratch_len(m, n, k)];
        let mut c_dense = LineAligned::zeros(m * n);
        let mut c_sparse = LineAligned::zeros(m * n);
        let mut b_padded = LineAligned::zeros(k * n.next_multiple_of(16));
        for layout in [Layout::RowBlock(4), Layout::RowBlock(1)] {
            let w = weights(m, k, layout, 0.9, 11 + 90);
            let buf = blob(&w, m, k, Some(&bias), layout, ValueType::F32);
            let a = SparseMatrix::parse(as_bytes(&buf)).unwrap();
            let mut dense = || {
                sgemm(isa, MatRef::row_major(&wd, m, k), MatRef::row_major(b, k, n), MatMut::row_major(c_dense.as_mut_slice(), m, n), Bias::Row(&bias), &act, &mut scratch);
                black_box(c_dense.as_slice());
            };
            let copies = aligned_ldb(sparse_isa, &a, n).is_some();
            let mut sparse = || {
                spmm_like_runtime(sparse_isa, &a, b, n, c_sparse.as_mut_slice(), &act, &mut b_padded);
                black_box(c_sparse.as_slice());
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
                "{m:5}x{k:4}x{n:6} {layout} {:33} dense/sparse {:.2}x (min {:.2}, max {:.2})  [medians: dense {:.0} us, sparse {:.0} us]",
                format!("{}{}", spmm_kernel_for_n(sparse_isa, layout, ValueType::F32, n).name, if copies { "+copy" } else { "" }),
                ratios[rounds / 2],
                ratios[0],
                ratios[rounds - 1],
                td[rounds / 2] * 1e6,
                ts[rounds / 2] * 1e6
            );
        }
    }
}
