//! Deterministic synthesized ONNX models (MobileNetV1/V2, ResNet-18-like, BERT-like encoder) with
//! optional magnitude pruning, for the demo, the tests and the benchmarks.
//!
//! A model is a pure function of its [`SynthOptions`] (weights come from a `StdRng` seeded with
//! `seed`; He-style init and norm-preserving pruning keep activations O(1)). Output is serialized
//! ONNX `ModelProto` bytes, IR version 8; conv nets use opset 13, BERT opset 17.
//!
//! Pruning ([`prune::prune`]): pointwise and full conv weights (not the stem conv, not depthwise),
//! the Gemm classifier and every BERT MatMul weight are magnitude-pruned to `sparsity` in blocks of
//! `block_rows` consecutive output channels × 1 input, ranked by the block's L1 norm.
//! Every conv is followed by a BatchNormalization with non-trivial statistics.
mod bert;
pub mod channel;
mod convnets;
mod graph;
pub mod prune;

/// Which architecture to build.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    MobileNetV1,
    MobileNetV2,
    ResNet18,
    Bert,
}

impl Arch {
    pub const ALL: [Arch; 4] = [Arch::MobileNetV1, Arch::MobileNetV2, Arch::ResNet18, Arch::Bert];

    pub fn name(self) -> &'static str {
        match self {
            Arch::MobileNetV1 => "mobilenet_v1",
            Arch::MobileNetV2 => "mobilenet_v2",
            Arch::ResNet18 => "resnet18",
            Arch::Bert => "bert",
        }
    }
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
    /// Classifier outputs of the conv nets.
    pub classes: usize,
    /// BERT: sequence length, hidden size, layers, heads, vocabulary.
    pub seq_len: usize,
    pub hidden: usize,
    pub layers: usize,
    pub heads: usize,
    pub vocab: usize,
    pub seed: u64,
    /// Paddle style: every constant is a `Constant` node instead of an initializer.
    pub paddle_constants: bool,
    /// PyTorch style: Reshape targets are computed by Shape→Gather→Unsqueeze→Concat subgraphs
    /// (BERT head split/merge and the conv nets' flatten).
    pub pytorch_shapes: bool,
    /// BERT: LayerNorm as ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div/Mul/Add instead of
    /// LayerNormalization.
    pub decomposed_layernorm: bool,
    /// Structured pruning (see [`channel`]): fraction of whole output channels of the pruned
    /// convs, FFN units and attention heads that are zeroed (0.0 = none).
    pub channel_sparsity: f32,
    /// Dead conv channels keep their BatchNormalization shift (constant non-zero outputs).
    pub channel_keep_bias: bool,
    /// Conv nets: the convs whose outputs are summed by residual Adds (ResNet's conv2 and
    /// downsample of a stage, MobileNetV2's projections of a stage) share one dead-channel set,
    /// chosen by the first of them, as dependency-aware structured pruners do; otherwise each
    /// conv's channels are chosen on its own (a residual channel then stays alive).
    pub channel_coupled: bool,
}

impl Default for SynthOptions {
    fn default() -> Self {
        SynthOptions {
            sparsity: 0.0,
            block_rows: 1,
            resolution: 224,
            width: 1.0,
            classes: 1000,
            seq_len: 128,
            hidden: 768,
            layers: 12,
            heads: 12,
            vocab: 30522,
            seed: 0,
            paddle_constants: false,
            pytorch_shapes: false,
            decomposed_layernorm: false,
            channel_sparsity: 0.0,
            channel_keep_bias: false,
            channel_coupled: false,
        }
    }
}

/// Builds the model as serialized ONNX `ModelProto` bytes.
pub fn build(arch: Arch, opts: &SynthOptions) -> anyhow::Result<Vec<u8>> {
    anyhow::ensure!((0.0..=1.0).contains(&opts.sparsity), "sparsity {} is not in [0, 1]", opts.sparsity);
    anyhow::ensure!(opts.block_rows >= 1, "block_rows must be at least 1");
    Ok(match arch {
        Arch::MobileNetV1 | Arch::MobileNetV2 | Arch::ResNet18 => {
            anyhow::ensure!(opts.resolution >= 32, "resolution {} is below 32 (five stride-2 stages)", opts.resolution);
            anyhow::ensure!(opts.width > 0.0 && opts.classes > 0, "width and classes must be positive");
            match arch {
                Arch::MobileNetV1 => convnets::mobilenet_v1(opts),
                Arch::MobileNetV2 => convnets::mobilenet_v2(opts),
                _ => convnets::resnet18(opts),
            }
        }
        Arch::Bert => {
            anyhow::ensure!(
                opts.heads > 0 && opts.hidden.is_multiple_of(opts.heads),
                "hidden size {} is not a multiple of the head count {}",
                opts.hidden,
                opts.heads
            );
            anyhow::ensure!(opts.seq_len > 0 && opts.vocab > 0, "seq_len and vocab must be positive");
            bert::bert(opts)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SynthOptions {
        SynthOptions { resolution: 64, width: 0.25, classes: 10, seq_len: 8, hidden: 32, layers: 1, heads: 2, vocab: 50, ..Default::default() }
    }

    #[test]
    fn deterministic_and_seed_dependent() {
        for arch in Arch::ALL {
            let a = build(arch, &small()).unwrap();
            assert_eq!(a, build(arch, &small()).unwrap(), "{arch:?}");
            let other = SynthOptions { seed: 1, ..small() };
            assert_ne!(a, build(arch, &other).unwrap(), "{arch:?}");
        }
    }

    #[test]
    fn rejects_bad_options() {
        assert!(build(Arch::Bert, &SynthOptions { hidden: 30, heads: 4, ..small() }).is_err());
        assert!(build(Arch::MobileNetV1, &SynthOptions { sparsity: 1.5, ..small() }).is_err());
    }
}
