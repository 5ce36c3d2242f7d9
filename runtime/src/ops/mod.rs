//! Operators. Each op is a pure function over tensor views: the runtime's session calls it with
//! arena and constant views, and the converter calls the very same code to fold constants.
//!
//! Contract for every op `X`:
//! - `check` validates parameters, input/output counts, dtypes, encodings and shapes *before* any
//!   run (at model load and in the converter) and returns the scratch bytes the op needs. After a
//!   successful `check`, `exec` with tensors of those infos must not panic and must not index out
//!   of bounds; data-dependent problems (a Gather index out of range) are `OpError`s.
//! - Output shapes are decided by the converter and stored in the file; ops read them from the
//!   output views and check them against the inputs.
//! - Inputs are `Option` because ONNX has optional inputs (absent = `None`).
//! - Outputs never alias inputs or scratch (the loader checks the arena ranges).
//!
//! Parameters are one `#[repr(C)]` Pod struct per op family (see [`params`]), stored as bytes in
//! the file and read zero-copy.
pub mod params;

mod binary;
mod conv;
mod matmul;
mod norm;
mod pool;
mod shape;
pub mod sparse;
mod split;
mod unary;
mod util;

use crate::error::OpError;
use crate::par::Workers;
use crate::tensor::{TensorInfo, TensorView, TensorViewMut};
use sprig_kernels::Isa;

/// The instruction sets a node's kernels run on: `dense` for the dense GEMM, depthwise conv and
/// transposes, `sparse` for SpMM and SpMV over block-sparse weights and for the direct stem convs
/// ([`Isas::stem`]). A session picks them per family ([`Isa::detect`], [`Isa::detect_sparse`]) or
/// forces one for all ([`Isas::all`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Isas {
    pub dense: Isa,
    pub sparse: Isa,
}

impl Isas {
    /// Every kernel family on `isa`.
    pub const fn all(isa: Isa) -> Self {
        Isas { dense: isa, sparse: isa }
    }

    /// The best of this CPU for each family: [`Isa::detect`] and [`Isa::detect_sparse`].
    pub fn detect() -> Self {
        Isas { dense: Isa::detect(), sparse: Isa::detect_sparse() }
    }

    /// The ISA of the direct stride-2 stem convs (`sprig_kernels::dconv`): the sparse family's,
    /// so AVX-512 where the CPU has it. Unlike the dense GEMM (slower on AVX-512 on Zen 4), the
    /// dconv AVX-512 row (tiles of 8 filters x 32 columns, AVX2 4 x 16) is faster: MobileNetV1's
    /// stem (32x27x12544), one thread, `sprig bench` per layer, binaries before and after
    /// alternating (EPYC Zen 4, 2026-11-25): 1.09x in the 90 % 4x1 model, 1.12x in the dense one
    /// (BENCHMARKS.md, "Session 17").
    pub const fn stem(self) -> Isa {
        self.sparse
    }

    /// The ISA of a depthwise conv whose output rows are `ow` wide. Where the session runs dense
    /// kernels on AVX2 and sparse ones on AVX-512 (the default on an AVX-512 CPU), rows of 9 to
    /// 28 outputs take the AVX-512 depthwise kernels (16 lanes); other widths, and sessions with
    /// any other pair of ISAs, take `dense`. One session of each, runs alternating (EPYC Zen 4,
    /// 2026-12-07, `benches/examples/model_ab.rs` with the ISA pair switched, 80-100 pairs, two
    /// host phases; BENCHMARKS.md "Session 19"), AVX2 time / AVX-512 time per layer: rows of 14
    /// and 28 outputs 1.10-1.31x (MobileNetV1 and V2, stride 1 and 2), 56 outputs 0.95-1.02x
    /// (stride 2) and 1.01-1.11x (stride 1), 112 outputs 0.77-1.07x, 7 outputs 0.86-0.93x.
    pub fn depthwise(self, ow: usize) -> Isa {
        self.avx512_where((DW_WIDE_MIN_OW..=DW_WIDE_MAX_OW).contains(&ow))
    }

    /// The ISA of a pointwise conv over 64-channel weight panels (`sprig_kernels::pw64`): its
    /// AVX-512 kernel where the session runs sparse kernels on AVX-512 and dense ones on AVX2 (the
    /// default on an AVX-512 CPU), else `dense`.
    pub fn pointwise_panels(self) -> Isa {
        self.avx512_where(true)
    }

    /// AVX-512 where `wide` holds and the session is the default pair of an AVX-512 CPU (dense
    /// on AVX2, sparse on AVX-512), else `dense`: a dense family measured faster on AVX-512 only
    /// in some shapes moves there without changing what an explicit ISA pair means.
    fn avx512_where(self, wide: bool) -> Isa {
        if wide && self.dense == Isa::Avx2 && self.sparse == Isa::Avx512 {
            Isa::Avx512
        } else {
            self.dense
        }
    }
}

/// Narrowest output row for which [`Isas::depthwise`] takes AVX-512 (7 outputs fill 7 of 16
/// lanes, and ran slower than on AVX2's 8).
pub const DW_WIDE_MIN_OW: usize = 9;

/// Widest output row for which [`Isas::depthwise`] takes AVX-512 (at 56 and 112 the AVX2 kernels
/// were as fast or faster).
pub const DW_WIDE_MAX_OW: usize = 28;

/// One ISA for every family.
impl From<Isa> for Isas {
    fn from(isa: Isa) -> Self {
        Isas::all(isa)
    }
}

/// `avx2` when both families run on one ISA, else `avx2 (sparse: avx512)`.
impl core::fmt::Display for Isas {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        if self.dense == self.sparse {
            f.write_str(self.dense.name())
        } else {
            write!(f, "{} (sparse: {})", self.dense.name(), self.sparse.name())
        }
    }
}

macro_rules! ops {
    ($( $(#[$m:meta])* $name:ident = $code:expr ),* $(,)?) => {
        /// Operator codes (stored as `u16` in node records).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u16)]
        pub enum OpKind { $( $(#[$m])* $name = $code ),* }

        impl OpKind {
            pub const ALL: &'static [OpKind] = &[$(OpKind::$name),*];

            pub fn from_u16(v: u16) -> Option<OpKind> {
                match v { $( $code => Some(OpKind::$name), )* _ => None }
            }

            pub fn name(self) -> &'static str {
                match self { $( OpKind::$name => stringify!($name), )* }
            }
        }
    };
}

ops! {
    /// 1-D or 2-D convolution, NCHW (rank-3 input = H of 1). Inputs: X, W `[M, C/group, kh, kw]`,
    /// optional bias `[M]`. Params: [`params::ConvParams`]. Group = C = M uses the depthwise kernel.
    Conv = 1,
    /// Transposed convolution. Inputs: X, W `[C, M/group, kh, kw]`, optional bias `[M]`.
    /// Params: [`params::ConvParams`] (pads as in ONNX; output padding shows in the output shape).
    ConvTranspose = 2,
    /// `Y = act(A · B + bias)` with numpy batch broadcasting over leading dims. Inputs: A `[.., M, K]`,
    /// B `[.., K, N]` (rank 1 operands as in numpy), optional bias broadcastable to Y.
    /// Params: [`params::MatMulParams`].
    MatMul = 3,

    // Elementwise binary with numpy broadcasting. Params: [`params::BinaryParams`] (fused
    // activation, f32 only). Comparison ops output Bool.
    Add = 10, Sub = 11, Mul = 12, Div = 13, Pow = 14, Max = 15, Min = 16,
    Equal = 17, Less = 18, Greater = 19, LessOrEqual = 20, GreaterOrEqual = 21, And = 22, Or = 23,
    Xor = 24, Mod = 25,
    /// `Y = X if X >= 0 else slope * X`, slope broadcast to X.
    PRelu = 26,
    /// Inputs: condition (Bool), X, Y, broadcast together.
    Where = 27,

    // Elementwise unary. Params: [`params::UnaryParams`] (alpha, beta; meaning per op).
    Relu = 30,
    /// alpha = negative slope.
    LeakyRelu = 31,
    /// alpha = min, beta = max.
    Clip = 32,
    Sigmoid = 33,
    /// `clamp(alpha * x + beta, 0, 1)`.
    HardSigmoid = 34,
    HardSwish = 35, Tanh = 36, Erf = 37,
    /// alpha = 0: exact (erf); alpha = 1: tanh approximation.
    Gelu = 38,
    Exp = 39, Sqrt = 40, Reciprocal = 41, Neg = 42, Abs = 43, Log = 44, Floor = 45, Ceil = 46,
    Not = 47,
    /// Params: [`params::CastParams`].
    Cast = 48,
    Softplus = 49, Sin = 50, Cos = 51, Round = 52, Sign = 53,
    /// alpha as in ONNX.
    Elu = 54,

    /// Params: [`params::AxisParams`] (flag 1: normalise over all axes from `axis` to the end).
    Softmax = 60,
    LogSoftmax = 61,
    /// Inputs: X, scale, optional bias; normalises over axes `axis..`. Params: [`params::LayerNormParams`].
    LayerNorm = 62,
    /// Params: [`params::ReduceParams`]; the output shape (keepdims or not) is in the file.
    ReduceMean = 63, ReduceSum = 64, ReduceMax = 65, ReduceMin = 66, ReduceProd = 67,
    /// Reduces along `AxisParams::axis` to i64 indices (flag 1: select the last max).
    ArgMax = 68,

    /// Params: [`params::PoolParams`]; NCHW, rank-3 input = H of 1.
    MaxPool = 70, AveragePool = 71,
    GlobalAveragePool = 72, GlobalMaxPool = 73,

    /// Params: [`params::AxisParams`].
    Concat = 80,
    /// Params: [`params::AxisParams`]; output sizes along the axis come from the output shapes.
    Split = 81,
    /// Params: [`params::SliceParams`].
    Slice = 82,
    /// Inputs: data, indices (I64 or I32). Params: [`params::AxisParams`]. `data` may be an f16
    /// constant table (the output is then f32).
    Gather = 83,
    /// Params: [`params::TransposeParams`].
    Transpose = 84,
    /// Same bytes, new shape (Reshape, Flatten, Squeeze, Unsqueeze, Identity). No params.
    Reshape = 85,
    /// Params: [`params::PadParams`].
    Pad = 86,
    /// Params: [`params::ResizeParams`].
    Resize = 87,
    /// Broadcast the input to the output shape. No params.
    Expand = 88,
    /// Repeat the input to the output shape (output dim = input dim × repeats). No params.
    Tile = 89,
}

/// Validates a node and returns the scratch bytes it needs (see the module contract).
pub fn check(op: OpKind, params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    use OpKind::*;
    match op {
        Conv => conv::check_conv(params, inputs, outputs),
        ConvTranspose => conv::check_conv_transpose(params, inputs, outputs),
        MatMul => matmul::check(params, inputs, outputs),
        Add | Sub | Mul | Div | Pow | Max | Min | Equal | Less | Greater | LessOrEqual | GreaterOrEqual | And | Or
        | Xor | Mod | PRelu | Where => binary::check(op, params, inputs, outputs),
        Relu | LeakyRelu | Clip | Sigmoid | HardSigmoid | HardSwish | Tanh | Erf | Gelu | Exp | Sqrt | Reciprocal
        | Neg | Abs | Log | Floor | Ceil | Not | Cast | Softplus | Sin | Cos | Round | Sign | Elu => {
            unary::check(op, params, inputs, outputs)
        }
        Softmax | LogSoftmax | LayerNorm | ReduceMean | ReduceSum | ReduceMax | ReduceMin | ReduceProd | ArgMax => {
            norm::check(op, params, inputs, outputs)
        }
        MaxPool | AveragePool | GlobalAveragePool | GlobalMaxPool => pool::check(op, params, inputs, outputs),
        Concat | Split | Slice | Gather | Transpose | Reshape | Pad | Resize | Expand | Tile => {
            shape::check(op, params, inputs, outputs)
        }
    }
}

/// The scratch bytes a node can put to use: at least [`check`]'s minimum (which stays what a
/// model file must give a node, so that files planned before an op learned to use more still
/// load), more where an op runs faster with room for a copy (a block-sparse pointwise Conv over
/// H·W not a multiple of 16: B with rows padded to cache lines). The converter plans this much;
/// an op given less than this and at least [`check`]'s bytes takes its slower path.
pub fn scratch_wanted(op: OpKind, params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    match op {
        OpKind::Conv => conv::scratch_wanted_conv(params, inputs, outputs),
        _ => check(op, params, inputs, outputs),
    }
}

/// Runs a node whose infos passed [`check`]. `scratch` has at least the bytes `check` returned
/// and is 64-aligned.
pub fn exec(
    op: OpKind,
    params: &[u8],
    inputs: &[Option<TensorView>],
    outputs: &mut [TensorViewMut],
    scratch: &mut [u8],
    isa: Isa,
) -> Result<(), OpError> {
    exec_with(op, params, inputs, outputs, scratch, Isas::all(isa), &Workers::serial())
}

/// [`exec`], splitting heavy Conv and MatMul work, and large elementwise, Softmax and LayerNorm
/// ops, across `workers` (see [`crate::par`]).
pub fn exec_with(
    op: OpKind,
    params: &[u8],
    inputs: &[Option<TensorView>],
    outputs: &mut [TensorViewMut],
    scratch: &mut [u8],
    isas: Isas,
    workers: &Workers,
) -> Result<(), OpError> {
    use OpKind::*;
    match op {
        Conv => conv::exec_conv(params, inputs, outputs, scratch, isas, workers),
        ConvTranspose => conv::exec_conv_transpose(params, inputs, outputs, scratch, isas.dense),
        MatMul => matmul::exec(params, inputs, outputs, scratch, isas, workers),
        Add | Sub | Mul | Div | Pow | Max | Min | Equal | Less | Greater | LessOrEqual | GreaterOrEqual | And | Or
        | Xor | Mod | PRelu | Where => binary::exec(op, params, inputs, outputs, workers),
        Relu | LeakyRelu | Clip | Sigmoid | HardSigmoid | HardSwish | Tanh | Erf | Gelu | Exp | Sqrt | Reciprocal
        | Neg | Abs | Log | Floor | Ceil | Not | Cast | Softplus | Sin | Cos | Round | Sign | Elu => {
            unary::exec(op, params, inputs, outputs, workers)
        }
        Softmax | LogSoftmax | LayerNorm | ReduceMean | ReduceSum | ReduceMax | ReduceMin | ReduceProd | ArgMax => {
            norm::exec(op, params, inputs, outputs, workers)
        }
        MaxPool | AveragePool | GlobalAveragePool | GlobalMaxPool => pool::exec(op, params, inputs, outputs),
        Concat | Split | Slice | Gather | Transpose | Reshape | Pad | Resize | Expand | Tile => {
            shape::exec(op, params, inputs, outputs, isas.dense)
        }
    }
}

/// A MatMul with A and/or Y held transposed in the arena (a session's transposed pairs; see
/// [`sparse::Transposed`]).
pub(crate) use matmul::exec_transposed as exec_matmul_transposed;

/// Reads an op's params struct from its bytes (exact size, any alignment is copied).
pub fn read_params<P: bytemuck::Pod>(params: &[u8]) -> Result<P, OpError> {
    if params.len() != core::mem::size_of::<P>() {
        return Err(OpError::BadParams("parameter block has the wrong size"));
    }
    Ok(bytemuck::pod_read_unaligned(params))
}

/// Input `i`, required.
pub(crate) fn req<T: Copy>(inputs: &[Option<T>], i: usize, what: &'static str) -> Result<T, OpError> {
    inputs.get(i).copied().flatten().ok_or(OpError::BadShape(what))
}
