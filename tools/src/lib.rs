//! The sprig converter and command-line tools.
pub mod convert;
pub mod npy;
pub mod synth;
pub mod tensor;
pub mod verify;
pub mod writer;
