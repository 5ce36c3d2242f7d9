//! `sprig demo`: the README's first command; needs no input files.
use super::convert::{layer_table, render_totals, totals};
use super::spinner;
use anyhow::{ensure, Result};
use sprig_tools::demo::{self, DemoOptions};
use sprig_tools::synth::Arch;

#[derive(Clone, Copy, clap::ValueEnum)]
enum ArchArg {
    #[value(name = "mobilenet-v1")]
    MobileNetV1,
    #[value(name = "mobilenet-v2")]
    MobileNetV2,
    Resnet18,
    Bert,
}

/// Synthesize a pruned model, convert it, and run it with sprig and tract.
#[derive(clap::Args)]
#[command(after_help = "The model is synthesized (deterministic weights, magnitude-pruned in 4x1 blocks), written as \
ONNX to a temporary directory, converted, then run by sprig and by tract on the same random input. \
Latencies are medians of --runs timed runs after one warm-up run. By default the model is reduced \
(MobileNetV1 128x128 at width 0.5; BERT with 2 layers, hidden 256) so the demo takes seconds; --full \
uses the real sizes.\n\n\
Examples:\n  sprig demo\n  sprig demo --sparsity 0.95 --runs 50\n  sprig demo --arch bert --full")]
pub struct Args {
    /// Fraction of zero weights in the pruned layers.
    #[arg(long, default_value_t = 0.9)]
    sparsity: f32,
    /// Model architecture.
    #[arg(long, value_enum, default_value = "mobilenet-v1")]
    arch: ArchArg,
    /// Timed runs per engine.
    #[arg(long, default_value_t = 20)]
    runs: usize,
    /// Use the real model size (MobileNetV1 224x224 width 1.0; BERT-base, sequence 128).
    #[arg(long)]
    full: bool,
    /// Input resolution of conv nets (overrides the default of the chosen size).
    #[arg(long)]
    resolution: Option<usize>,
    /// Width multiplier of conv nets (overrides the default of the chosen size).
    #[arg(long)]
    width: Option<f32>,
}

pub fn main(args: Args) -> Result<()> {
    ensure!((0.0..=1.0).contains(&args.sparsity), "--sparsity must be in [0, 1], got {}", args.sparsity);
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let arch = match args.arch {
        ArchArg::MobileNetV1 => Arch::MobileNetV1,
        ArchArg::MobileNetV2 => Arch::MobileNetV2,
        ArchArg::Resnet18 => Arch::ResNet18,
        ArchArg::Bert => Arch::Bert,
    };
    let mut opts = if args.full { DemoOptions::full(arch, args.sparsity) } else { DemoOptions::small(arch, args.sparsity) };
    opts.runs = args.runs;
    if let Some(r) = args.resolution {
        opts.synth.resolution = r;
    }
    if let Some(w) = args.width {
        opts.synth.width = w;
    }
    let pb = spinner("starting");
    let report = demo::run(&opts, &mut |msg| pb.set_message(msg.to_string()));
    pb.finish_and_clear();
    let r = report?;

    println!("{} at {:.0}% sparsity: per-layer formats", arch.name(), args.sparsity * 100.0);
    print!("{}", layer_table(&r.conversion.report));
    println!();
    let t = totals(&r.conversion, r.onnx_size);
    print!("{}", render_totals(&t, &r.conversion.report.notes));
    println!();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
    println!("median latency over {} runs (1 thread):", opts.runs);
    println!("  sprig ({})  {:9.3} ms", r.isas, ms(r.sprig_median));
    println!("  tract        {:9.3} ms", ms(r.tract_median));
    let ratio = r.tract_median.as_secs_f64() / r.sprig_median.as_secs_f64().max(1e-12);
    if ratio >= 1.0 {
        println!("  sprig is {ratio:.2}x faster than tract");
    } else {
        println!("  sprig is {:.2}x slower than tract", 1.0 / ratio);
    }
    for e in &r.errors {
        println!("max error vs tract, '{}': abs {:.3e}, rel {:.3e}", e.name, e.max_abs, e.max_rel);
    }
    Ok(())
}
