//! The self-contained demo behind `sprig demo`: synthesize a pruned model, convert it, run it with
//! sprig and with tract on the same inputs, and report latency and error. Needs no input files.
use crate::convert::{convert_file, Conversion, ConvertOptions};
use crate::synth::{self, Arch, SynthOptions};
use crate::verify::{compare, match_outputs, median_time, random_inputs, OutputError, SprigRunner, TractRunner};
use anyhow::{anyhow, Context, Result};
use sprig_runtime::{Isas, Model};
use std::path::PathBuf;
use std::time::Duration;

/// Options of the demo; [`DemoOptions::small`] runs in seconds, [`DemoOptions::full`] is the
/// real model size.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    pub arch: Arch,
    pub synth: SynthOptions,
    /// Timed runs of each engine (after one warm-up run).
    pub runs: usize,
    /// Seed of the random inputs.
    pub seed: u64,
}

impl DemoOptions {
    /// A reduced model: MobileNetV1 at 128×128 and width 0.5, or a 2-layer BERT with hidden 256.
    pub fn small(arch: Arch, sparsity: f32) -> Self {
        let synth = SynthOptions {
            sparsity,
            block_rows: 4,
            resolution: 128,
            width: 0.5,
            classes: 1000,
            seq_len: 64,
            hidden: 256,
            layers: 2,
            heads: 4,
            vocab: 8000,
            ..SynthOptions::default()
        };
        DemoOptions { arch, synth, runs: 20, seed: 0 }
    }

    /// The real size: MobileNetV1 224×224 width 1.0, BERT-base with sequence length 128.
    pub fn full(arch: Arch, sparsity: f32) -> Self {
        let synth = SynthOptions { sparsity, block_rows: 4, ..SynthOptions::default() };
        DemoOptions { arch, synth, runs: 20, seed: 0 }
    }
}

/// What the demo measured.
#[derive(Debug)]
pub struct DemoReport {
    pub onnx_path: PathBuf,
    pub onnx_size: u64,
    pub conversion: Conversion,
    /// The kernels sprig ran (dense and sparse ISAs).
    pub isas: Isas,
    pub sprig_median: Duration,
    pub tract_median: Duration,
    pub errors: Vec<OutputError>,
}

/// A directory under the system temp dir removed on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the demo, calling `progress` with a short message before each stage.
pub fn run(opts: &DemoOptions, progress: &mut dyn FnMut(&str)) -> Result<DemoReport> {
    progress(&format!("synthesizing a {:.0}%-sparse {}", opts.synth.sparsity * 100.0, opts.arch.name()));
    let onnx = synth::build(opts.arch, &opts.synth).context("cannot synthesize the demo model")?;
    let dir = TempDir(std::env::temp_dir().join(format!("sprig-demo-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).with_context(|| format!("cannot create '{}'", dir.0.display()))?;
    let onnx_path = dir.0.join(format!("{}.onnx", opts.arch.name()));
    std::fs::write(&onnx_path, &onnx).with_context(|| format!("cannot write '{}'", onnx_path.display()))?;

    progress("converting");
    let conversion = convert_file(&onnx_path, &ConvertOptions::default())
        .with_context(|| format!("cannot convert the synthesized '{}'", onnx_path.display()))?;
    let model = Model::from_vec(&conversion.bytes).map_err(|e| anyhow!("the converted demo model does not load: {e}"))?;
    let inputs = random_inputs(&model, opts.seed);

    progress(&format!("running sprig {} times", opts.runs));
    let mut sprig = SprigRunner::new(&model);
    let mut ours = Vec::new();
    let sprig_median = median_time(opts.runs, || {
        ours = sprig.run(&inputs)?;
        Ok(())
    })
    .context("sprig failed to run the demo model")?;

    progress("loading the ONNX model in tract");
    let tract = TractRunner::load(&onnx_path, &[], &inputs)?;
    progress(&format!("running tract {} times", opts.runs));
    let mut reference = Vec::new();
    let tract_median = median_time(opts.runs, || {
        reference = tract.run(&inputs)?;
        Ok(())
    })?;
    let errors = compare(&ours, &match_outputs(&ours, reference))?;
    Ok(DemoReport {
        onnx_path,
        onnx_size: onnx.len() as u64,
        conversion,
        isas: Isas::detect(),
        sprig_median,
        tract_median,
        errors,
    })
}
