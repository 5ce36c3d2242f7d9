//! `sprig convert`: ONNX → `.sprig`, verified against tract by default.
use super::{fmt_bytes, fmt_count, fmt_shape, parse_input_shape, spinner, table, write_atomic};
use anyhow::{bail, Context, Result};
use sprig_tools::convert::{convert_file, Conversion, ConvertOptions, Report};
use sprig_tools::f16::WeightType;
use sprig_tools::verify::{verify_file, VerifyReport};
use std::path::{Path, PathBuf};

/// Convert an ONNX model to .sprig and check it against tract.
#[derive(clap::Args)]
#[command(after_help = "The output is written (atomically) only after conversion and verification succeed; \
on failure no output file is left behind (a stale one from an earlier run is removed).\n\n\
Verification runs the .sprig model and the ONNX model (with tract) on the same random inputs and \
compares every output: max_rel = max|sprig - tract| / max(max|tract|, 1e-6) must not exceed --tolerance (default 1e-4; 1e-2 with --weights f16, where tract still runs the f32 weights).\n\nWith --weights f16 the report gives, per layer and for the model, the rounding error of the f16 weights: max abs = max|w16 - w|, max rel = max abs / max|w| of the layer (the model's max rel is the largest layer's).\n\n\
Examples:\n  sprig convert mobilenet.onnx -o mobilenet.sprig\n  sprig convert bert.onnx -o bert.sprig --input-shape input_ids=1,128 --input-shape attention_mask=1,128\n  sprig convert model.onnx -o model.sprig --no-verify --report-json report.json\n  sprig convert pruned.onnx -o pruned-f16.sprig --weights f16")]
pub struct Args {
    /// The ONNX model to convert.
    input: PathBuf,
    /// Where to write the .sprig model.
    #[arg(short, long, value_name = "OUT.sprig")]
    output: PathBuf,
    /// Fix the shape of a graph input (needed for symbolic dimensions), e.g. input=1,3,224,224.
    #[arg(long = "input-shape", value_name = "NAME=D0,D1,...", value_parser = parse_input_shape)]
    input_shapes: Vec<(String, Vec<usize>)>,
    /// Skip the comparison with tract.
    #[arg(long)]
    no_verify: bool,
    /// Keep dead (all-zero) channels instead of removing them.
    #[arg(long)]
    no_reduce_channels: bool,
    /// Weight format of Conv/MatMul layers: auto (cost model per layer), dense or sparse.
    #[arg(long, value_name = "auto|dense|sparse", default_value = "auto")]
    format: sprig_tools::sparsify::FormatChoice,
    /// Only consider this block shape for sparse weights (4x1, 1x8, ...).
    #[arg(long, value_name = "RxC", value_parser = sprig_tools::sparsify::parse_block)]
    block: Option<sprig_kernels::sparse::Layout>,
    /// Storage type of Conv/MatMul weights (dense or sparse) and Gather tables (embeddings);
    /// activations and biases stay f32.
    #[arg(long, value_name = "f32|f16", default_value = "f32")]
    weights: sprig_tools::f16::WeightType,
    /// Store the weights of dense f32 pointwise convs with at least 256 input channels in panels
    /// of 64 output channels (format 1.2), for the AVX-512 kernel that vectorises over output
    /// channels (dense MobileNetV1 1.09-1.2x faster on Zen 4). For x86 CPUs with AVX-512: on
    /// AVX2 and NEON such a file runs correctly but slower (AVX2 0.94x).
    #[arg(long)]
    pointwise_panels: bool,
    /// Largest accepted relative error (max_rel, see below) of any output [default: 1e-4, or
    /// 1e-2 with --weights f16].
    #[arg(long)]
    tolerance: Option<f64>,
    /// Seed of the random verification inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Also write the conversion report (layers, totals, verification) as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    report_json: Option<PathBuf>,
}

/// Totals of a conversion, as printed and in the JSON report.
#[derive(serde::Serialize)]
pub struct Totals {
    pub onnx_size: u64,
    pub file_size: u64,
    pub arena_size: u64,
    pub intermediates_total: u64,
    pub params: u64,
    pub param_bytes: u64,
    pub flops: u64,
}

#[derive(serde::Serialize)]
struct JsonReport<'a> {
    input: String,
    output: String,
    report: &'a Report,
    totals: &'a Totals,
    verification: Option<&'a VerifyReport>,
}

pub fn totals(c: &Conversion, onnx_size: u64) -> Totals {
    let r = &c.report;
    Totals {
        onnx_size,
        file_size: c.bytes.len() as u64,
        arena_size: r.arena_size,
        intermediates_total: r.intermediates_total,
        params: r.layers.iter().map(|l| l.params as u64).sum(),
        param_bytes: r.layers.iter().map(|l| l.param_bytes as u64).sum(),
        flops: r.layers.iter().map(|l| l.flops).sum(),
    }
}

/// The per-layer table of a conversion report.
pub fn layer_table(r: &Report) -> String {
    let rows: Vec<Vec<String>> = r
        .layers
        .iter()
        .map(|l| {
            vec![
                l.name.clone(),
                l.op.clone(),
                if l.fused.is_empty() { "-".into() } else { l.fused.join("+") },
                l.output_shapes.iter().map(|s| fmt_shape(s)).collect::<Vec<_>>().join(" "),
                l.encoding.clone(),
                l.weight_dtype.clone(),
                if l.params == 0 { "-".into() } else { fmt_count(l.params as u64) },
                if l.param_bytes == 0 { "-".into() } else { fmt_bytes(l.param_bytes as u64) },
                if l.flops == 0 { "-".into() } else { fmt_count(l.flops) },
                l.sparsity.map_or("-".into(), |s| format!("{:.1}%", s * 100.0)),
                l.block.clone(),
                l.nnz.map_or("-".into(), |n| fmt_count(n as u64)),
                if l.flops_saved == 0 { "-".into() } else { fmt_count(l.flops_saved) },
                l.f16_max_abs.map_or("-".into(), |e| format!("{e:.2e}")),
                l.f16_max_rel.map_or("-".into(), |e| format!("{e:.2e}")),
            ]
        })
        .collect();
    table(
        &["layer", "op", "fused", "output", "encoding", "dtype", "params", "bytes", "FLOPs", "sparsity", "block", "nnz", "FLOPs saved", "f16 abs", "f16 rel"],
        &rows,
    )
}

fn ratio(a: u64, b: u64) -> String {
    if b == 0 {
        "-".into()
    } else {
        format!("{:.1}%", 100.0 * a as f64 / b as f64)
    }
}

pub fn render_totals(t: &Totals, notes: &[String]) -> String {
    let mut s = String::new();
    for n in notes {
        s += &format!("note: {n}\n");
    }
    s += &format!("file size   {} (ONNX {}, {})\n", fmt_bytes(t.file_size), fmt_bytes(t.onnx_size), ratio(t.file_size, t.onnx_size));
    s += &format!(
        "arena       {} (sum of intermediates {}, {})\n",
        fmt_bytes(t.arena_size),
        fmt_bytes(t.intermediates_total),
        ratio(t.arena_size, t.intermediates_total)
    );
    s += &format!("parameters  {} ({})\n", fmt_count(t.params), fmt_bytes(t.param_bytes));
    s += &format!("FLOPs       {} per run\n", fmt_count(t.flops));
    s
}

/// The whole-model f16 rounding line of a report (`None` for f32 weights).
pub fn render_f16(r: &Report) -> Option<String> {
    let f = r.f16.as_ref()?;
    Some(format!(
        "f16 weights {} layers, rounding error max abs {:.3e}, max rel {:.3e} (|w16 - w| / max|w| of the layer, largest layer)\n",
        f.layers.len(),
        f.max_abs,
        f.max_rel
    ))
}

pub fn render_verification(v: &VerifyReport) -> String {
    let rows: Vec<Vec<String>> = v
        .outputs
        .iter()
        .map(|o| {
            vec![
                o.name.clone(),
                format!("{:.3e}", o.max_abs),
                format!("{:.3e}", o.max_rel),
                if o.max_rel <= v.tolerance { "ok".into() } else { "ABOVE TOLERANCE".into() },
            ]
        })
        .collect();
    format!(
        "verification against tract (seed {}, tolerance {:e} on max_rel):\n{}",
        v.seed,
        v.tolerance,
        table(&["output", "max abs", "max rel", ""], &rows)
    )
}

/// Removes a leftover output of an earlier run, so that a failed conversion leaves nothing stale.
fn remove_stale(out: &Path) {
    if out.is_file() && std::fs::remove_file(out).is_ok() {
        eprintln!("removed stale '{}'", out.display());
    }
}

fn write_report_json(path: &Path, args: &Args, c: &Conversion, t: &Totals, v: Option<&VerifyReport>) -> Result<()> {
    let j = JsonReport {
        input: args.input.display().to_string(),
        output: args.output.display().to_string(),
        report: &c.report,
        totals: t,
        verification: v,
    };
    let s = serde_json::to_string_pretty(&j)?;
    write_atomic(path, s.as_bytes()).with_context(|| format!("cannot write the JSON report '{}'", path.display()))
}

pub fn main(args: Args) -> Result<()> {
    let same = |a: &Path, b: &Path| matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y);
    if same(&args.input, &args.output) {
        bail!("the output '{}' is the input file", args.output.display());
    }
    let result = convert(&args);
    if result.is_err() {
        remove_stale(&args.output);
    }
    result
}

fn convert(args: &Args) -> Result<()> {
    let onnx_size = std::fs::metadata(&args.input)
        .with_context(|| format!("cannot open '{}'", args.input.display()))?
        .len();
    let tolerance = args.tolerance.unwrap_or(match args.weights {
        WeightType::F32 => 1e-4,
        WeightType::F16 => sprig_tools::f16::F16_TOLERANCE,
    });
    if tolerance.is_nan() || tolerance < 0.0 {
        bail!("--tolerance must be a non-negative number");
    }
    // The converter's options may grow; new fields keep their defaults here.
    #[allow(clippy::needless_update)]
    let opts = ConvertOptions {
        input_shapes: args.input_shapes.clone(),
        reduce_channels: !args.no_reduce_channels,
        format: args.format,
        block: args.block,
        weights: args.weights,
        pointwise_panels: args.pointwise_panels,
        ..Default::default()
    };
    let pb = spinner(format!("converting {}", args.input.display()));
    let conv = convert_file(&args.input, &opts);
    pb.finish_and_clear();
    let conv = conv.with_context(|| format!("cannot convert '{}'", args.input.display()))?;
    let t = totals(&conv, onnx_size);
    print!("{}", layer_table(&conv.report));
    println!();
    print!("{}", render_totals(&t, &conv.report.notes));
    if let Some(s) = render_f16(&conv.report) {
        print!("{s}");
    }

    let verification = if args.no_verify {
        println!("verification skipped (--no-verify)");
        None
    } else {
        let pb = spinner("verifying against tract");
        let v = verify_file(&args.input, &conv.bytes, &args.input_shapes, args.seed, tolerance);
        pb.finish_and_clear();
        let v = v.with_context(|| format!("verification of '{}' failed", args.input.display()))?;
        print!("{}", render_verification(&v));
        if args.weights == WeightType::F16 {
            println!("(f16 weights against tract's f32 run: tolerance {tolerance:e}, see `sprig convert --help`)");
        }
        Some(v)
    };
    if let Some(path) = &args.report_json {
        write_report_json(path, args, &conv, &t, verification.as_ref())?;
    }
    if let Some(v) = &verification {
        if !v.passed {
            bail!(
                "the converted model differs from tract by max_rel {:.3e}, above the tolerance {:e}; '{}' not written",
                v.worst_rel(),
                v.tolerance,
                args.output.display()
            );
        }
    }
    write_atomic(&args.output, &conv.bytes).with_context(|| format!("cannot write '{}'", args.output.display()))?;
    println!("wrote {} ({})", args.output.display(), fmt_bytes(conv.bytes.len() as u64));
    Ok(())
}
