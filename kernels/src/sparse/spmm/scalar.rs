//! Scalar reference SpMM: deliberately plain (bounds-checked indexing, one element at a time);
//! every SIMD kernel is tested against it.
use crate::sparse::SparseMatrix;
use crate::Activation;

/// Any layout, f32 or f16 values (the rows `spmm_f32_any_scalar` and `spmm_f16_any_scalar`).
///
/// # Safety
/// None beyond the arguments checked by `super::check_args` (it indexes with bounds checks);
/// `unsafe` only to fit [`super::SpmmFn`].
pub unsafe fn spmm_any_scalar(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &mut [f32], ldc: usize, act: &Activation) {
    spmm_ref(a, b, ldb, n, c, ldc, act)
}

pub fn spmm_ref(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: &mut [f32], ldc: usize, act: &Activation) {
    let (m, k) = (a.m(), a.k());
    let (r, bc) = a.layout().block();
    for i in 0..m {
        let bias = a.bias().map_or(0.0, |bb| bb[i]);
        for j in 0..n {
            c[i * ldc + j] = bias;
        }
    }
    let (ptr, idx) = (a.ptr(), a.indices());
    for br in 0..a.block_rows() {
        for blk in ptr[br] as usize..ptr[br + 1] as usize {
            let col0 = idx.get(blk);
            for di in 0..r {
                for dc in 0..bc {
                    let (row, p) = (br * r + di, col0 + dc);
                    if row >= m || p >= k {
                        continue;
                    }
                    // f16 values are widened exactly (`SparseMatrix::value`).
                    let w = a.value(blk * r * bc + di * bc + dc);
                    for j in 0..n {
                        c[row * ldc + j] += w * b[p * ldb + j];
                    }
                }
            }
        }
    }
    for i in 0..m {
        for j in 0..n {
            c[i * ldc + j] = act.apply(c[i * ldc + j]);
        }
    }
}
