//! Deterministic synthesized ONNX models (MobileNetV1/V2, ResNet-18-like, BERT-like encoder) with
//! optional magnitude pruning, for the demo, the tests and the benchmarks.
//! (to be implemented)

/// Which architecture to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    MobileNetV1,
    MobileNetV2,
    ResNet18,
    Bert,
}

/// Knobs of a synthesized model.
#[derive(Clone, Debug)]
pub struct SynthOptions {
    /// Fraction of zero weights in pruned layers (0.0 = dense).
    pub sparsity: f32,
    /// Rows per pruned block along the output-channel axis (1 = unstructured, 4 = 4x1 blocks).
    pub block_rows: usize,
    /// Input height = width for conv nets (224 for the real size; tests use smaller).
    pub resolution: usize,
    /// Width multiplier for conv nets (1.0 = the real channel counts).
    pub width: f32,
    /// BERT: sequence length, hidden size, layers, heads, vocabulary.
    pub seq_len: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub vocab: usize,
    pub seed: u64,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            sparsity: 0.0,
            block_rows: 1,
            resolution: 224,
            width: 1.0,
            seq_len: 128,
            hidden: 768,
            layers: 12,
            heads: 12,
            vocab: 30522,
            seed: 0,
        }
    }
}

/// Builds the model as serialized ONNX `ModelProto` bytes.
pub fn build(arch: Arch, opts: &SynthOptions) -> anyhow::Result<Vec<u8>> {
    let _ = (arch, opts);
    anyhow::bail!("synthesizer not implemented yet")
}
