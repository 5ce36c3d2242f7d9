//! Parameter blocks of the ops, as stored in `.sprig` files (little-endian `#[repr(C)]`, no
//! implicit padding). The converter builds them; ops read them with [`super::read_params`].
use bytemuck::{Pod, Zeroable};
use sprig_kernels::{Act, Activation};

/// A fused activation (kind is [`Act`] as u32).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct ActParams {
    pub kind: u32,
    pub alpha: f32,
    pub beta: f32,
    pub _pad: u32,
}

impl ActParams {
    pub const NONE: ActParams = ActParams { kind: 0, alpha: 0.0, beta: 0.0, _pad: 0 };

    pub fn from_activation(a: &Activation) -> Self {
        ActParams { kind: a.kind as u32, alpha: a.alpha, beta: a.beta, _pad: 0 }
    }

    /// `None` if the kind is unknown.
    pub fn activation(&self) -> Option<Activation> {
        Some(Activation { kind: Act::from_u32(self.kind)?, alpha: self.alpha, beta: self.beta })
    }
}

/// Conv and ConvTranspose. For 1-D convs `kernel[0] = strides[0] = dilations[0] = 1` and
/// top/bottom pads are 0.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct ConvParams {
    /// kh, kw
    pub kernel: [u32; 2],
    pub strides: [u32; 2],
    /// top, left, bottom, right
    pub pads: [u32; 4],
    pub dilations: [u32; 2],
    pub group: u32,
    pub _pad: u32,
    pub act: ActParams,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct MatMulParams {
    pub act: ActParams,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct BinaryParams {
    /// Applied to the f32 result (e.g. a residual Add followed by ReLU).
    pub act: ActParams,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct UnaryParams {
    pub alpha: f32,
    pub beta: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct CastParams {
    /// Target [`crate::DType`] as u32.
    pub to: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct AxisParams {
    /// Non-negative axis (the converter normalises negative ONNX axes).
    pub axis: u32,
    /// Op-specific flag, see [`super::OpKind`].
    pub flag: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct LayerNormParams {
    /// First normalised axis (non-negative).
    pub axis: u32,
    pub epsilon: f32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct ReduceParams {
    /// Bit i set: axis i of the input is reduced.
    pub axes_mask: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct PoolParams {
    pub kernel: [u32; 2],
    pub strides: [u32; 2],
    /// top, left, bottom, right (ceil_mode is already reflected in the output shape)
    pub pads: [u32; 4],
    pub dilations: [u32; 2],
    /// AveragePool: 1 to divide by the full window including padding.
    pub count_include_pad: u32,
    pub _pad: u32,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct TransposeParams {
    /// Output axis i is input axis `perm[i]`; entries past the rank are ignored.
    pub perm: [u32; 8],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct SliceParams {
    /// Per input axis: index of the first element taken (already clamped into range), and the
    /// step (non-zero, may be negative). The count per axis is the output dim.
    pub starts: [i64; 8],
    pub steps: [i64; 8],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct PadParams {
    /// 0 constant, 1 reflect, 2 edge, 3 wrap.
    pub mode: u32,
    /// Fill value for constant mode (f32 bits reinterpreted for other dtypes is not allowed:
    /// integer tensors use `value as i64`).
    pub value: f32,
    /// begin pads for axes 0..8, then end pads for axes 0..8 (negative pads crop).
    pub pads: [i64; 16],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct ResizeParams {
    /// 0 nearest, 1 linear (bi/tri-linear over the resized axes).
    pub mode: u32,
    /// coordinate_transformation_mode: 0 half_pixel, 1 asymmetric, 2 align_corners,
    /// 3 pytorch_half_pixel, 4 tf_half_pixel_for_nn, 5 half_pixel_symmetric.
    pub coord_mode: u32,
    /// nearest_mode: 0 round_prefer_floor, 1 round_prefer_ceil, 2 floor, 3 ceil.
    pub nearest_mode: u32,
    pub _pad: u32,
    /// Per-axis scale (output/input as ONNX defines it, used by the coordinate transform).
    pub scales: [f32; 8],
}
