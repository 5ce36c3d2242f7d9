//! `sprig run`: runs a `.sprig` model on `.npy` inputs and writes `.npy` outputs.
use super::{fmt_shape, load_model};
use anyhow::{anyhow, bail, ensure, Context, Result};
use sprig_tools::npy;
use sprig_tools::tensor::{OwnedData, OwnedTensor};
use sprig_tools::verify::SprigRunner;
use std::path::{Path, PathBuf};

/// Run a .sprig model on .npy inputs; write one .npy per output.
#[derive(clap::Args)]
#[command(after_help = "Inputs are .npy files of f32 (f64 is narrowed to f32), i64, i32, u8 or bool, in C order, \
with exactly the dtype and shape the model expects (see `sprig inspect`).\n\
Each output is written to DIR/<output name>.npy, with every character outside [A-Za-z0-9._-] replaced by '_'.\n\n\
Examples:\n  sprig run mobilenet.sprig --input input=image.npy\n  sprig run mobilenet.sprig --input image.npy          # NAME= may be omitted for a single-input model\n  sprig run bert.sprig --input input_ids=ids.npy --input attention_mask=mask.npy --output-dir out/\n  sprig run mobilenet.sprig --input image.npy --threads 2")]
pub struct Args {
    /// The .sprig model to run.
    model: PathBuf,
    /// An input as NAME=FILE.npy (repeat for each model input; NAME= may be omitted when the model has one input).
    #[arg(long = "input", short = 'i', value_name = "NAME=FILE")]
    inputs: Vec<String>,
    /// Directory for the output .npy files (created if missing).
    #[arg(long, short = 'o', value_name = "DIR", default_value = ".")]
    output_dir: PathBuf,
    /// Threads to split each heavy layer across (the outputs equal the one-thread ones within
    /// float rounding; the arena grows by one worker scratch per extra thread).
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Reads the `--input` arguments and orders them as the model's inputs, checking name, dtype and
/// shape of each.
fn gather_inputs(model: &sprig_runtime::Model, args: &[String]) -> Result<Vec<OwnedTensor>> {
    let names: Vec<String> = (0..model.num_inputs()).map(|i| model.input(i).expect("in range").name.to_string()).collect();
    let mut given: Vec<(String, PathBuf)> = Vec::new();
    for a in args {
        let (name, file) = match a.split_once('=') {
            Some((n, f)) if names.iter().any(|m| m == n) => (n.to_string(), f),
            Some((n, _)) if !Path::new(a).exists() => {
                bail!("the model has no input named '{n}' (its inputs: {})", names.join(", "))
            }
            // No NAME= (or a file name containing '='): only allowed for a single-input model.
            _ => match names.as_slice() {
                [only] => (only.clone(), a.as_str()),
                _ => bail!("--input '{a}' has no NAME=; the model has {} inputs: {}", names.len(), names.join(", ")),
            },
        };
        if given.iter().any(|(n, _)| *n == name) {
            bail!("input '{name}' is given twice");
        }
        given.push((name, PathBuf::from(file)));
    }
    let mut out = Vec::new();
    for i in 0..model.num_inputs() {
        let info = model.input(i).expect("in range");
        let (_, path) = given
            .iter()
            .find(|(n, _)| n == info.name)
            .ok_or_else(|| anyhow!("missing input '{}' ({} {}): pass --input {}=FILE.npy", info.name, info.dtype.name(), fmt_shape(info.shape.dims()), info.name))?;
        let t = npy::read(path, info.name).with_context(|| format!("input '{}'", info.name))?;
        if t.data.dtype() != info.dtype {
            bail!(
                "input '{}': the model expects {}, '{}' holds {}",
                info.name,
                info.dtype.name(),
                path.display(),
                t.data.dtype().name()
            );
        }
        if t.shape != info.shape.dims() {
            bail!(
                "input '{}': the model expects shape [{}], '{}' has shape [{}]",
                info.name,
                info.shape.dims().iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", "),
                path.display(),
                t.shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")
            );
        }
        out.push(t);
    }
    Ok(out)
}

/// `min / max / mean`, and for a vector-like f32 output its argmax.
fn stats(t: &OwnedTensor) -> String {
    let v = t.data.to_f64();
    if v.is_empty() {
        return "empty".into();
    }
    let min = v.iter().copied().fold(f64::INFINITY, f64::min);
    let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    let mut s = format!("min {min:.6}  max {max:.6}  mean {mean:.6}");
    if matches!(t.data, OwnedData::F32(_)) && t.shape.iter().filter(|&&d| d > 1).count() == 1 {
        let arg = v.iter().enumerate().fold(0, |b, (i, &x)| if x > v[b] { i } else { b });
        s += &format!("  argmax {arg}");
    }
    let head: Vec<String> = v.iter().take(5).map(|x| format!("{x:.4}")).collect();
    s += &format!("  first [{}{}]", head.join(", "), if v.len() > 5 { ", ..." } else { "" });
    s
}

pub fn main(args: Args) -> Result<()> {
    let model = load_model(&args.model)?;
    let inputs = gather_inputs(&model, &args.inputs)?;
    ensure!(args.threads >= 1, "--threads must be at least 1");
    let (outputs, info) = SprigRunner::with_threads(&model, args.threads)?
        .run_info(&inputs)
        .with_context(|| format!("running '{}' failed", args.model.display()))?;
    println!(
        "ran '{}' once in {:.3} ms on {} thread{}, {} kernels (`sprig bench` for latency)",
        args.model.display(),
        info.elapsed.as_secs_f64() * 1e3,
        info.threads,
        if info.threads == 1 { "" } else { "s" },
        info.isas
    );
    std::fs::create_dir_all(&args.output_dir)
        .with_context(|| format!("cannot create output directory '{}'", args.output_dir.display()))?;
    for t in &outputs {
        let path = args.output_dir.join(format!("{}.npy", npy::sanitize_name(&t.name)));
        npy::write(&path, t).with_context(|| format!("output '{}'", t.name))?;
        println!("{}  {} {}  -> {}", t.name, t.data.dtype().name(), fmt_shape(&t.shape), path.display());
        println!("    {}", stats(t));
    }
    Ok(())
}
