//! Dense f32 GEMM: `C[m×n] = act(A[m×k] · B[k×n] + bias)`.
//!
//! Contract:
//! - `A` and `B` are strided views ([`MatRef`]): element (i, j) is `data[i*rs + j*cs]`, so a
//!   transposed operand is just swapped strides. `C` is row-major with row stride `rs` (unit column
//!   stride).
//! - `bias` is per row of C (conv output channel) or per column (Gemm/MatMul output feature).
//! - `scratch` is caller-provided working memory of at least [`sgemm_scratch_len`] f32 elements;
//!   kernels never allocate.
//! - Every entry point checks slice lengths against the shapes and panics on a mismatch before any
//!   unchecked access, so a wrong call can never read or write out of bounds.
pub mod scalar;

use crate::{Activation, Isa};

/// A strided read-only f32 matrix view.
#[derive(Clone, Copy, Debug)]
pub struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    /// Distance in elements between rows.
    pub rs: usize,
    /// Distance in elements between columns.
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// Row-major `rows × cols` view.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The transposed view (no copy).
    pub fn t(self) -> Self {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    /// Panics unless every element addressed by the view lies inside `data`.
    pub fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            let last = (self.rows - 1)
                .checked_mul(self.rs)
                .and_then(|r| (self.cols - 1).checked_mul(self.cs).and_then(|c| r.checked_add(c)))
                .expect("matrix view overflows");
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }

    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        self.data[i * self.rs + j * self.cs]
    }
}

/// A row-major mutable f32 matrix view with row stride `rs`.
#[derive(Debug)]
pub struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
}

impl<'a> MatMut<'a> {
    pub fn row_major(data: &'a mut [f32], rows: usize, cols: usize) -> Self {
        MatMut { data, rows, cols, rs: cols }
    }

    /// Panics unless every element addressed by the view lies inside `data`.
    pub fn check(&self) {
        if self.rows > 0 && self.cols > 0 {
            assert!(self.cols <= self.rs || self.rows == 1, "row stride smaller than a row");
            let last = (self.rows - 1)
                .checked_mul(self.rs)
                .and_then(|r| r.checked_add(self.cols - 1))
                .expect("matrix view overflows");
            assert!(last < self.data.len(), "matrix view out of bounds");
        }
    }
}

/// Bias added before the activation.
#[derive(Clone, Copy, Debug)]
pub enum Bias<'a> {
    None,
    /// One value per row of C (length m).
    Row(&'a [f32]),
    /// One value per column of C (length n).
    Col(&'a [f32]),
}

impl Bias<'_> {
    #[inline]
    pub fn at(&self, i: usize, j: usize) -> f32 {
        match self {
            Bias::None => 0.0,
            Bias::Row(b) => b[i],
            Bias::Col(b) => b[j],
        }
    }

    pub fn check(&self, m: usize, n: usize) {
        match self {
            Bias::None => {}
            Bias::Row(b) => assert!(b.len() >= m, "row bias shorter than m"),
            Bias::Col(b) => assert!(b.len() >= n, "column bias shorter than n"),
        }
    }
}

/// f32 elements of scratch that [`sgemm`] needs for these sizes, for any ISA.
pub fn sgemm_scratch_len(m: usize, n: usize, k: usize) -> usize {
    let _ = (m, n, k);
    0
}

/// `C = act(A·B + bias)` with the kernel for `isa` (which must be available on this CPU; the
/// scalar one is used when it is not).
pub fn sgemm(isa: Isa, a: MatRef, b: MatRef, c: MatMut, bias: Bias, act: &Activation, scratch: &mut [f32]) {
    assert_eq!(a.cols, b.rows, "gemm: A columns != B rows");
    assert_eq!(a.rows, c.rows, "gemm: A rows != C rows");
    assert_eq!(b.cols, c.cols, "gemm: B columns != C columns");
    a.check();
    b.check();
    c.check();
    bias.check(c.rows, c.cols);
    let _ = (isa, &scratch);
    scalar::sgemm_ref(a, b, c, bias, act)
}
