//! The converter's public entry points: ONNX bytes in, `.sprig` bytes and a report out.
//! (The pipeline itself lives in `onnx/`, `ir`, `passes/` and `plan`.)
use std::path::Path;

/// Options of `sprig convert`.
#[derive(Clone, Debug, Default)]
pub struct ConvertOptions {
    /// Fixed shapes for graph inputs (required for symbolic dimensions), by input name.
    pub input_shapes: Vec<(String, Vec<usize>)>,
}

/// What the converter did to one layer (one node of the written model).
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerReport {
    /// Node name in the written model (the ONNX node name where there is one).
    pub name: String,
    /// sprig op name.
    pub op: String,
    /// ONNX nodes merged into this layer (e.g. a fused BatchNormalization and Relu).
    pub fused: Vec<String>,
    pub input_shapes: Vec<Vec<usize>>,
    pub output_shapes: Vec<Vec<usize>>,
    /// Weight encoding ("dense", later "block-sparse 4x1" ...), or "-" for ops without weights.
    pub encoding: String,
    /// Parameters (weight + bias elements) and their bytes in the file.
    pub params: usize,
    pub param_bytes: usize,
    /// Multiply-adds counted as 2 FLOPs.
    pub flops: u64,
}

/// The conversion report.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct Report {
    pub layers: Vec<LayerReport>,
    /// Planned arena size in bytes, and the sum of all intermediate tensors and scratch it holds.
    pub arena_size: u64,
    pub intermediates_total: u64,
    /// Counts of folded or removed ONNX nodes, one line each (e.g. "folded 12 constant nodes").
    pub notes: Vec<String>,
}

/// A converted model.
#[derive(Clone, Debug)]
pub struct Conversion {
    pub bytes: Vec<u8>,
    pub report: Report,
}

/// Converts an ONNX file. Errors name the file, and the node, op or tensor at fault.
pub fn convert_file(path: &Path, opts: &ConvertOptions) -> anyhow::Result<Conversion> {
    let _ = (path, opts);
    anyhow::bail!("converter not implemented yet")
}

/// Converts ONNX model bytes.
pub fn convert_bytes(onnx: &[u8], opts: &ConvertOptions) -> anyhow::Result<Conversion> {
    let _ = (onnx, opts);
    anyhow::bail!("converter not implemented yet")
}
