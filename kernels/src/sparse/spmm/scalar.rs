//! Scalar reference SpMM: deliberately plain (bounds-checked indexing, one element at a time);
//! every SIMD kernel is tested against it.
use crate::sparse::SparseMatrix;
use crate::Activation;

/// Any layout, f32 or f16 values (the rows `spmm_f32_any_scalar` and `spmm_f16_any_scalar`):
/// one row of C at a time, as a slice of its `n` columns, with [`spmm_row_ref`].
///
/// # Safety
/// The [`super::SpmmFn`] contract for C (B is indexed with bounds checks).
pub unsafe fn spmm_any_scalar(a: &SparseMatrix, b: &[f32], ldb: usize, n: usize, c: *mut f32, ldc: usize, act: &Activation) {
    for i in 0..a.m() {
        // SAFETY: elements (i, 0..n) of C are valid for writes and ours alone (`SpmmFn` contract);
        // the slice covers exactly those.
        let row = unsafe { core::slice::from_raw_parts_mut(c.add(i * ldc), n) };
        spmm_row_ref(a, i, b, ldb, row, act);
    }
}

/// Row `i` of `C = act(W·B + bias)` into `row` (`n = row.len()` columns).
pub fn spmm_row_ref(a: &SparseMatrix, i: usize, b: &[f32], ldb: usize, row: &mut [f32], act: &Activation) {
    let k = a.k();
    let (r, bc) = a.layout().block();
    let bias = a.bias().map_or(0.0, |bb| bb[i]);
    row.fill(bias);
    let (br, di) = (i / r, i % r);
    let (ptr, idx) = (a.ptr(), a.indices());
    for blk in ptr[br] as usize..ptr[br + 1] as usize {
        let col0 = idx.get(blk);
        for dc in 0..bc {
            let p = col0 + dc;
            if p >= k {
                continue;
            }
            let w = a.value(blk * r * bc + di * bc + dc);
            for (j, y) in row.iter_mut().enumerate() {
                *y += w * b[p * ldb + j];
            }
        }
    }
    for y in row {
        *y = act.apply(*y);
    }
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
