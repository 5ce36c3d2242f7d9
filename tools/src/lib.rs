//! The sprig converter and command-line tools.
pub mod writer;
