//! `sprig synth`: writes a synthesized (optionally pruned) ONNX model, for benchmarks and scripts
//! (`scripts/bench-peers.sh`). The models are those of `sprig_tools::synth`.
use super::write_atomic;
use anyhow::{ensure, Context, Result};
use sprig_tools::synth::{self, Arch, SynthOptions};
use std::path::PathBuf;

#[derive(Clone, Copy, clap::ValueEnum)]
enum ArchArg {
    #[value(name = "mobilenet-v1")]
    MobileNetV1,
    #[value(name = "mobilenet-v2")]
    MobileNetV2,
    Resnet18,
    Bert,
}

/// Write a synthesized, magnitude-pruned ONNX model (deterministic weights).
#[derive(clap::Args)]
#[command(after_help = "Pointwise/full convs, the classifier and BERT's MatMul weights are pruned to --sparsity \
in blocks of --block output channels x 1 input (1 = unstructured); stem and depthwise convs stay dense. \
Defaults are the real sizes (224x224 width 1.0; BERT-base, sequence 128).\n\n\
Examples:\n  sprig synth --arch mobilenet-v1 --sparsity 0.9 --block 4 -o mnv1_90.onnx\n  \
sprig synth --arch bert --layers 2 --hidden 256 --heads 4 -o bert_small.onnx")]
pub struct Args {
    #[arg(long, value_enum, default_value = "mobilenet-v1")]
    arch: ArchArg,
    /// Fraction of zero weights in the pruned layers.
    #[arg(long, default_value_t = 0.0)]
    sparsity: f32,
    /// Output channels per pruned block (1 = unstructured, 4 = 4x1 blocks).
    #[arg(long, default_value_t = 4)]
    block: usize,
    /// Where to write the ONNX model.
    #[arg(short, long, value_name = "OUT.onnx")]
    output: PathBuf,
    /// Conv nets: input height = width.
    #[arg(long, default_value_t = 224)]
    resolution: usize,
    /// Conv nets: width multiplier.
    #[arg(long, default_value_t = 1.0)]
    width: f32,
    /// BERT: sequence length, hidden size, layers, heads.
    #[arg(long, default_value_t = 128)]
    seq_len: usize,
    #[arg(long, default_value_t = 768)]
    hidden: usize,
    #[arg(long, default_value_t = 12)]
    layers: usize,
    #[arg(long, default_value_t = 12)]
    heads: usize,
    /// Seed of the weights.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Structured pruning: fraction of whole output channels of the pruned convs (and BERT's FFN
    /// units and heads) that are zeroed, as a channel pruner leaves them (0 = none).
    #[arg(long, default_value_t = 0.0)]
    channel_sparsity: f32,
    /// Dead conv channels keep their BatchNormalization shift (constant non-zero outputs).
    #[arg(long)]
    channel_keep_bias: bool,
    /// Conv nets: convs summed by residual Adds share one dead-channel set (dependency-aware
    /// structured pruning) instead of each choosing its own.
    #[arg(long)]
    channel_coupled: bool,
}

pub fn main(a: Args) -> Result<()> {
    ensure!((0.0..=1.0).contains(&a.sparsity), "--sparsity must be in [0, 1], got {}", a.sparsity);
    ensure!((0.0..=1.0).contains(&a.channel_sparsity), "--channel-sparsity must be in [0, 1], got {}", a.channel_sparsity);
    let arch = match a.arch {
        ArchArg::MobileNetV1 => Arch::MobileNetV1,
        ArchArg::MobileNetV2 => Arch::MobileNetV2,
        ArchArg::Resnet18 => Arch::ResNet18,
        ArchArg::Bert => Arch::Bert,
    };
    let opts = SynthOptions {
        sparsity: a.sparsity,
        block_rows: a.block,
        resolution: a.resolution,
        width: a.width,
        seq_len: a.seq_len,
        hidden: a.hidden,
        layers: a.layers,
        heads: a.heads,
        seed: a.seed,
        channel_sparsity: a.channel_sparsity,
        channel_keep_bias: a.channel_keep_bias,
        channel_coupled: a.channel_coupled,
        ..SynthOptions::default()
    };
    let bytes = synth::build(arch, &opts).with_context(|| format!("cannot synthesize {}", arch.name()))?;
    write_atomic(&a.output, &bytes)?;
    println!(
        "{}: {} at {:.0}% sparsity ({}x1 blocks), {:.0}% of channels pruned, {} bytes",
        a.output.display(),
        arch.name(),
        a.sparsity * 100.0,
        a.block,
        a.channel_sparsity * 100.0,
        bytes.len()
    );
    Ok(())
}
