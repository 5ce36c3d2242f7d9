//! Scalar reference SpMV: deliberately plain; every SIMD kernel is tested against it.
use crate::sparse::SparseMatrix;
use crate::Activation;

/// Any layout, f32 or f16 values (the rows `spmv_f32_any_scalar` and `spmv_f16_any_scalar`).
///
/// # Safety
/// None (it indexes with bounds checks); `unsafe` only to fit [`super::SpmvFn`].
pub unsafe fn spmv_any_scalar(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    spmv_ref(a, x, y, act)
}

pub fn spmv_ref(a: &SparseMatrix, x: &[f32], y: &mut [f32], act: &Activation) {
    let (m, k) = (a.m(), a.k());
    let (r, c) = a.layout().block();
    for (i, yi) in y.iter_mut().enumerate().take(m) {
        *yi = a.bias().map_or(0.0, |b| b[i]);
    }
    let (ptr, idx) = (a.ptr(), a.indices());
    for br in 0..a.block_rows() {
        for blk in ptr[br] as usize..ptr[br + 1] as usize {
            let col0 = idx.get(blk);
            for di in 0..r {
                for dc in 0..c {
                    let (row, p) = (br * r + di, col0 + dc);
                    if row < m && p < k {
                        // f16 values are widened exactly (`SparseMatrix::value`).
                        y[row] += a.value(blk * r * c + di * c + dc) * x[p];
                    }
                }
            }
        }
    }
    for yi in y.iter_mut().take(m) {
        *yi = act.apply(*yi);
    }
}
