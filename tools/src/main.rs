//! The `sprig` command line: convert ONNX to `.sprig`, run, inspect, and a self-contained demo.
//! Exit codes: 0 success, 1 error (printed with its chain of context), 2 usage error (clap).
mod cli;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "sprig",
    version,
    about = "Sparse inference for edge CPUs: convert pruned ONNX models to .sprig and run them",
    long_about = "Sparse inference for edge CPUs.\n\n\
        sprig converts a pruned ONNX model into a compact, memory-mappable .sprig file (folding, \
        fusing, choosing a sparse or dense format per layer, planning memory) and runs it in one \
        preallocated arena.",
    after_help = "Examples:\n  \
        sprig demo                                  # synthesize, convert and run a pruned MobileNetV1\n  \
        sprig convert model.onnx -o model.sprig     # convert and verify against tract\n  \
        sprig inspect model.sprig                   # per-layer formats, sizes and FLOPs\n  \
        sprig bench model.sprig                     # latency percentiles and a per-layer profile\n  \
        sprig run model.sprig --input x=x.npy --output-dir out/"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Convert(cli::convert::Args),
    Run(cli::run::Args),
    Inspect(cli::inspect::Args),
    Demo(cli::demo::Args),
    Bench(cli::bench::Args),
    Synth(cli::synth::Args),
}

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Convert(a) => cli::convert::main(a),
        Command::Run(a) => cli::run::main(a),
        Command::Inspect(a) => cli::inspect::main(a),
        Command::Demo(a) => cli::demo::main(a),
        Command::Bench(a) => cli::bench::main(a),
        Command::Synth(a) => cli::synth::main(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e}");
        for cause in e.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
        std::process::exit(1);
    }
}
