//! AVX2+FMA path of `vmath`: the branch-free scalar formulas compiled with AVX2+FMA enabled, which
//! LLVM vectorises (selects, integer shifts for 2^k). A first version with explicit intrinsics
//! behind a generic lanes trait ran at 27–72 ns/element because LLVM kept the intrinsics
//! out of line (they are inlined into the trait methods before those reach a AVX2+FMA caller);
//! this one runs at 0.8–2.2 ns/element on AVX2 with fused multiply-adds (`examples/vmath_ns.rs`;
//! BENCHMARKS.md, "BERT: GELU, Softmax and LayerNorm ...").
use super::Func;

/// # Safety
/// AVX2+FMA must be available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn map_inplace(f: Func, xs: &mut [f32]) {
    // Compiled with FMA, so the fused multiply-adds are single instructions.
    super::map_fused(f, xs)
}

/// # Safety
/// AVX2+FMA must be available.
#[target_feature(enable = "avx2,fma")]
pub(crate) unsafe fn softmax_rows(x: &[f32], y: &mut [f32], len: usize) {
    super::softmax_rows_with(x, y, len, |ys| super::map_fused(Func::Exp, ys))
}
