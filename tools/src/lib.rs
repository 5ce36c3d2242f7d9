//! The sprig converter and command-line tools.
pub mod convert;
pub mod demo;
pub mod f16;
pub mod ir;
pub mod npy;
pub mod onnx;
pub mod passes;
pub mod plan;
pub mod reduce_channels;
pub mod sparsify;
pub mod synth;
pub mod tensor;
pub mod verify;
pub mod writer;
