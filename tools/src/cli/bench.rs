//! `sprig bench`: end-to-end latency of a `.sprig` model and a per-layer profile.
//!
//! Method: `--warmup` untimed runs, then `--runs` timed runs of one [`Session`] over one arena
//! (`--threads`, default 1). Each run's wall time covers `Session::run_with_hook` (input copy, every node,
//! output copy); the hook stamps `Instant::now()` before and after each node, which costs two clock
//! reads per node (tens of ns, far below any layer's time). Percentiles are nearest-rank over the
//! timed runs (`p` → the `ceil(p·n)`-th smallest), so `median <= p90 <= p99` always holds.
//! A layer's time is its median over the runs; its share is relative to the sum of all layers'
//! medians.
//!
//! `--compare MODEL.onnx` loads the ONNX model in tract (`into_optimized`) with the same inputs
//! and interleaves rounds (a batch of sprig runs, then a batch of tract runs, repeated) so that
//! drift of a shared machine hits both alike; both medians come from those interleaved runs.
//!
//! `--vs-threads N` builds a second session on N threads (usually 1) and alternates the two run by
//! run (in both orders), so that each timed run has a partner taken a few milliseconds apart. The
//! speed-up is the median over those pairs of (time on N threads / time on --threads), end to end
//! and per layer: on a shared machine whose speed drifts by 2x within seconds, separate processes
//! (or separate batches) give per-round ratios anywhere from 0.6x to 2x, run pairs do not. After
//! each run pair a pure-arithmetic probe times the same two thread counts (`ceiling.rs`): its
//! median is the host's own ceiling in those seconds, printed beside the model's speed-up.
use super::inspect::{describe, LayerDesc};
use super::ceiling::Ceiling;
use super::{fmt_bytes, load_model, parse_input_shape, table};
use anyhow::{anyhow, bail, ensure, Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use sprig_runtime::ops::params::ConvParams;
use sprig_runtime::ops::read_params;
use sprig_runtime::{AlignedBuf, Isa, Isas, Model, NodeEvent, Session, Tensor, TensorMut};
use sprig_tools::npy;
use sprig_tools::tensor::{OwnedData, OwnedTensor};
use sprig_tools::verify::{random_inputs, TractRunner};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, clap::ValueEnum)]
enum IsaArg {
    Scalar,
    Avx2,
    Avx512,
    Neon,
}

/// Time a .sprig model end to end and per layer (optionally against tract on the ONNX model).
#[derive(clap::Args)]
#[command(after_help = "Inputs are random (f32 standard normal; integer ids below the gathered vocabulary; \
seed --seed) unless given with --input NAME=FILE.npy. Latency percentiles are nearest-rank over the \
timed runs, on --threads threads (default 1). The per-layer profile is the median time of each node over the runs, sorted by \
time (top 15, then the rest summed).\n\n\
Examples:\n  sprig bench mobilenet.sprig\n  sprig bench mobilenet.sprig --runs 200 --json\n  \
sprig bench mobilenet.sprig --compare mobilenet.onnx\n  sprig bench bert.sprig --isa scalar --input input_ids=ids.npy")]
pub struct Args {
    /// The .sprig model to time.
    model: PathBuf,
    /// Timed runs.
    #[arg(long, default_value_t = 50)]
    runs: usize,
    /// Untimed runs before timing (of each engine).
    #[arg(long, default_value_t = 5)]
    warmup: usize,
    /// An input as NAME=FILE.npy (repeatable; NAME= may be omitted for a single-input model).
    /// Inputs not given are random.
    #[arg(long = "input", short = 'i', value_name = "NAME=FILE")]
    inputs: Vec<String>,
    /// Print one JSON object (one line) instead of tables.
    #[arg(long)]
    json: bool,
    /// Also time this ONNX model with tract, on the same inputs, in interleaved rounds.
    #[arg(long, value_name = "MODEL.onnx")]
    compare: Option<PathBuf>,
    /// Fix the shape of an ONNX input for --compare (for symbolic dimensions), e.g. input=1,3,224,224.
    #[arg(long = "input-shape", value_name = "NAME=D0,D1,...", value_parser = parse_input_shape)]
    input_shapes: Vec<(String, Vec<usize>)>,
    /// Run every kernel family on this ISA (default: the best this CPU has per family: AVX2 or
    /// NEON for dense layers, AVX-512 for sparse ones where present). An ISA the CPU lacks is an
    /// error.
    #[arg(long, value_enum)]
    isa: Option<IsaArg>,
    /// Seed of the random inputs.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Threads to split each heavy layer across (the session's pool; the arena grows by one
    /// worker scratch per extra thread).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Also time a second session on N threads (e.g. 1), alternating with the first run by run,
    /// and report the speed-up of --threads over N threads (median of run pairs), end to end and
    /// per layer.
    #[arg(long, value_name = "N")]
    vs_threads: Option<usize>,
}

/// One layer of the profile.
#[derive(Clone, Debug, serde::Serialize)]
pub struct LayerTime {
    pub index: usize,
    pub name: String,
    pub op: &'static str,
    pub attrs: String,
    pub encoding: String,
    /// The kernel family the op dispatches to for this layer and ISA ("-": plain Rust loops).
    pub kernel: String,
    pub median_ms: f64,
    /// Of the sum of all layers' medians.
    pub share: f64,
    pub flops: u64,
    /// flops / median time (0 for layers without FLOPs).
    pub gflops_per_s: f64,
    /// With `--vs-threads N`: median over run pairs of (this layer's time on N threads / on
    /// --threads).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speedup_vs_threads: Option<f64>,
}

/// With `--vs-threads N`: the second session's figures.
#[derive(Clone, Debug, serde::Serialize)]
pub struct VsThreads {
    pub threads: usize,
    /// Median latency of the N-thread session (its runs alternate with the main ones).
    pub median_ms: f64,
    /// Median over run pairs of (N-thread time / --threads time): above 1, --threads is faster.
    pub speedup: f64,
    /// 10th and 90th percentile of those per-pair ratios.
    pub speedup_p10: f64,
    pub speedup_p90: f64,
    /// The host's own speed-up in the same seconds: median over probe pairs (one after each run
    /// pair) of (pure-arithmetic probe on N threads / on --threads), see `ceiling.rs`.
    pub host_ceiling: f64,
    pub host_ceiling_p10: f64,
    pub host_ceiling_p90: f64,
    /// Likewise for the streaming probe (4 MiB in, 4 MiB out per pass).
    pub host_stream_ceiling: f64,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Compare {
    pub onnx: String,
    pub sprig_median_ms: f64,
    pub tract_median_ms: f64,
    /// tract / sprig: above 1 means sprig is faster.
    pub speedup: f64,
}

/// What `sprig bench --json` prints.
#[derive(Clone, Debug, serde::Serialize)]
pub struct BenchReport {
    pub model: String,
    /// The ISA of the dense kernels (GEMM, depthwise conv).
    pub isa: &'static str,
    /// The ISA of the sparse kernels (SpMM, SpMV): AVX-512 by default where the CPU has it.
    pub sparse_isa: &'static str,
    pub threads: usize,
    pub runs: usize,
    pub warmup: usize,
    pub median_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub min_ms: f64,
    pub mean_ms: f64,
    /// runs / total timed wall time.
    pub runs_per_s: f64,
    pub file_size: u64,
    pub arena_size: u64,
    pub flops: u64,
    /// Sum of the layers' medians.
    pub layers_total_ms: f64,
    /// Median over runs of (run time − the sum of that run's layer times): input/output copies
    /// and the session's per-node dispatch.
    pub outside_layers_ms: f64,
    pub layers: Vec<LayerTime>,
    pub compare: Option<Compare>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vs_threads: Option<VsThreads>,
}

/// Nearest-rank percentile of sorted `v` (`p` in (0, 1]); `v` must not be empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    percentile(&s, 0.5)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The kernel a layer dispatches to, mirroring the runtime's choice in `ops::conv` / `ops::matmul`
/// (sprig_kernels' tables hold the names): depthwise conv → dwconv table, f32 stride-2 convs over
/// at most four channels (stems) → dconv table on `isas.stem()`, other convs → GEMM (B
/// packed straight from the input unless 1x1 stride 1 unpadded; explicit im2col + GEMV when
/// M/group or OH·OW is 1), MatMul → GEMM (GEMV when M or N is 1); a sparse weight
/// encoding names the encoding's kernel family with the ISA.
fn kernel_name(model: &Model, l: &LayerDesc, params: &[u8], isas: Isas) -> String {
    use sprig_kernels::{dwconv, gemm};
    let isa = isas.dense;
    let gemm_name = || gemm::kernel_for(isa).filter(|_| isa.available()).map_or("sgemm_ref_scalar", |k| k.name);
    if l.encoding != "-" && l.encoding != "dense" {
        // Sparse weights: the SpMM/SpMV table row the op takes for this ISA and N.
        return sprig_tools::sparsify::weight_stats(model, l.index, isas).map_or_else(|| format!("{} ({})", l.encoding, isas.sparse.name()), |w| w.kernel);
    }
    let shape = |i: usize| l.inputs.get(i).map(|t| t.shape.clone()).unwrap_or_default();
    let out = l.outputs.first().map(|t| t.shape.clone()).unwrap_or_default();
    match l.op {
        "Conv" => {
            let Ok(p) = read_params::<ConvParams>(params) else { return "?".into() };
            let (x, w) = (shape(0), shape(1));
            let c = x.get(1).copied().unwrap_or(0);
            let m = w.first().copied().unwrap_or(0);
            if p.group as usize == c && c == m && c > 0 {
                let g = sprig_tools::sparsify::conv_geom(&p, &x, &out);
                return dwconv::kernel_name(isas.depthwise(g.ow), &g).into();
            }
            if let Some(k) = sprig_tools::sparsify::direct_conv_kernel(isas.stem(), &p, &x, &out, l.weight_dtype == "f32") {
                return k.into();
            }
            let pointwise = p.kernel == [1, 1] && p.strides == [1, 1] && p.pads == [0; 4];
            let spatial: usize = out.iter().skip(2).product();
            let g = if spatial == 1 || m / (p.group.max(1) as usize) == 1 { "gemv" } else { gemm_name() };
            if pointwise {
                g.to_string()
            } else if g == "gemv" {
                format!("im2col+{g}")
            } else {
                // The GEMM packs its B panels straight from the input (no im2col matrix).
                format!("{g} (im2col B)")
            }
        }
        "ConvTranspose" => format!("{}+col2im", gemm_name()),
        "MatMul" => {
            let a = shape(0);
            let mrows = if a.len() >= 2 { a[a.len() - 2] } else { 1 };
            let n = out.last().copied().unwrap_or(0);
            if mrows == 1 || n == 1 || out.len() < 2 {
                format!("gemv ({})", gemm_name())
            } else {
                gemm_name().to_string()
            }
        }
        _ => "-".into(),
    }
}

/// Inputs in the model's order: the `--input` files (checked for dtype and shape), random for the rest.
fn gather_inputs(model: &Model, args: &[String], seed: u64) -> Result<Vec<OwnedTensor>> {
    let names: Vec<String> = (0..model.num_inputs()).filter_map(|i| model.input(i)).map(|i| i.name.to_string()).collect();
    let mut inputs = random_inputs(model, seed);
    let mut given: Vec<String> = Vec::new();
    for a in args {
        let (name, file) = match a.split_once('=') {
            Some((n, f)) if names.iter().any(|m| m == n) => (n.to_string(), f),
            Some((n, _)) if !Path::new(a).exists() => {
                bail!("the model has no input named '{n}' (its inputs: {})", names.join(", "))
            }
            _ => match names.as_slice() {
                [only] => (only.clone(), a.as_str()),
                _ => bail!("--input '{a}' has no NAME=; the model has {} inputs: {}", names.len(), names.join(", ")),
            },
        };
        ensure!(!given.contains(&name), "input '{name}' is given twice");
        let k = names.iter().position(|n| *n == name).expect("name checked above");
        let info = model.input(k).expect("in range");
        let path = Path::new(file);
        let t = npy::read(path, &name).with_context(|| format!("input '{name}'"))?;
        ensure!(
            t.data.dtype() == info.dtype,
            "input '{name}': the model expects {}, '{}' holds {}",
            info.dtype.name(),
            path.display(),
            t.data.dtype().name()
        );
        ensure!(
            t.shape == info.shape.dims(),
            "input '{name}': the model expects shape {:?}, '{}' has shape {:?}",
            info.shape.dims(),
            path.display(),
            t.shape
        );
        inputs[k] = t;
        given.push(name);
    }
    Ok(inputs)
}

/// One sprig session with its outputs and per-run layer times.
struct SprigBench<'m> {
    session: Session<'m, 'm>,
    inputs: &'m [OwnedTensor],
    outs: Vec<OwnedTensor>,
    /// `layer_ms[node]`: one entry per timed run.
    layer_ms: Vec<Vec<f64>>,
    starts: Vec<Option<Instant>>,
    total_ms: Vec<f64>,
    /// Per run: its wall time minus the sum of its layers' times.
    outside_ms: Vec<f64>,
}

impl<'m> SprigBench<'m> {
    /// A session on `threads` threads over `arena`, with output buffers and room for `runs` timings.
    #[allow(clippy::too_many_arguments)]
    fn new(model: &'m Model, label: &str, arena: &'m mut [u8], isas: Isas, threads: usize, inputs: &'m [OwnedTensor], runs: usize) -> Result<Self> {
        let session = Session::with_threads(model, arena, isas, threads).map_err(|e| anyhow!("'{label}': {e}"))?;
        let outs = (0..model.num_outputs())
            .map(|i| {
                let info = model.output(i).expect("index below num_outputs");
                let data = OwnedData::zeros(info.dtype, info.shape.numel())
                    .ok_or_else(|| anyhow!("'{label}': output '{}' has dtype {}", info.name, info.dtype.name()))?;
                Ok(OwnedTensor { name: info.name.to_string(), shape: info.shape.dims().to_vec(), data })
            })
            .collect::<Result<Vec<_>>>()?;
        let n_nodes = model.num_nodes();
        Ok(SprigBench {
            session,
            inputs,
            outs,
            layer_ms: (0..n_nodes).map(|_| Vec::with_capacity(runs)).collect(),
            starts: vec![None; n_nodes],
            total_ms: Vec::with_capacity(runs),
            outside_ms: Vec::with_capacity(runs),
        })
    }

    /// Runs once; `record` keeps the run's total and layer times.
    fn run(&mut self, record: bool) -> Result<()> {
        let ins: Vec<Tensor> = self.inputs.iter().map(|t| Tensor { shape: &t.shape, data: t.data.as_data() }).collect();
        let mut out_views: Vec<TensorMut> = self.outs.iter_mut().map(|t| t.data.as_tensor_mut()).collect();
        let starts = &mut self.starts;
        let layer_ms = &mut self.layer_ms;
        let mut in_layers = 0.0;
        let mut hook = |e: NodeEvent| match e {
            NodeEvent::Start { node, .. } => {
                if let Some(s) = starts.get_mut(node) {
                    *s = Some(Instant::now());
                }
            }
            NodeEvent::End { node, .. } => {
                let now = Instant::now();
                if let (true, Some(Some(s)), Some(l)) = (record, starts.get(node), layer_ms.get_mut(node)) {
                    let t = ms(now - *s);
                    l.push(t);
                    in_layers += t;
                }
            }
        };
        let t = Instant::now();
        self.session.run_with_hook(&ins, &mut out_views, &mut hook).map_err(|e| anyhow!("{e}"))?;
        let total = ms(t.elapsed());
        if record {
            self.total_ms.push(total);
            self.outside_ms.push(total - in_layers);
        }
        Ok(())
    }
}

/// The bar over the timed runs, on stderr (indicatif draws nothing when stderr is not a
/// terminal): hidden with `--json` and when the runs are expected to take under a second.
fn progress(total: u64, json: bool, expected: Duration) -> ProgressBar {
    progress_to(total, json, expected, ProgressDrawTarget::stderr())
}

fn progress_to(total: u64, json: bool, expected: Duration, target: ProgressDrawTarget) -> ProgressBar {
    if json || expected < Duration::from_secs(1) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(total), target);
    pb.set_style(ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} [{elapsed}<{eta}]").expect("valid template"));
    pb.set_message("timing");
    pb
}

/// Benchmarks `model` (already loaded from `label`); the whole of `sprig bench` but printing.
fn bench(args: &Args, model: &Model, label: &str) -> Result<BenchReport> {
    ensure!(args.runs >= 1, "--runs must be at least 1");
    let isas = match args.isa {
        None => Isas::detect(),
        Some(a) => {
            let isa = match a {
                IsaArg::Scalar => Isa::Scalar,
                IsaArg::Avx2 => Isa::Avx2,
                IsaArg::Avx512 => Isa::Avx512,
                IsaArg::Neon => Isa::Neon,
            };
            ensure!(isa.available(), "--isa {}: this CPU (or build target) lacks it", isa.name());
            Isas::all(isa)
        }
    };
    let inputs = gather_inputs(model, &args.inputs, args.seed)?;
    let desc = describe(model, label);
    let tract = match &args.compare {
        Some(onnx) => Some(
            TractRunner::load(onnx, &args.input_shapes, &inputs)
                .with_context(|| format!("--compare '{}'", onnx.display()))?,
        ),
        None => None,
    };

    ensure!(args.threads >= 1, "--threads must be at least 1");
    ensure!(args.vs_threads.is_none_or(|n| n >= 1), "--vs-threads must be at least 1");
    let arena_len = model.arena_size_for_threads(args.threads).ok_or_else(|| anyhow!("--threads {}: arena size overflows", args.threads))?;
    let mut arena = AlignedBuf::new(arena_len);
    let mut arena_vs = match args.vs_threads {
        Some(n) => Some(AlignedBuf::new(model.arena_size_for_threads(n).ok_or_else(|| anyhow!("--vs-threads {n}: arena size overflows"))?)),
        None => None,
    };
    let mut sb = SprigBench::new(model, label, arena.as_mut_slice(), isas, args.threads, &inputs, args.runs)?;
    let mut sb_vs = match (args.vs_threads, arena_vs.as_mut()) {
        (Some(n), Some(a)) => Some(SprigBench::new(model, label, a.as_mut_slice(), isas, n, &inputs, args.runs)?),
        _ => None,
    };
    let fail = |e: anyhow::Error| e.context(format!("running '{label}' failed"));

    // Warm-up, also an estimate of the run time for the progress bar.
    let t0 = Instant::now();
    for _ in 0..args.warmup.max(1) {
        sb.run(false).map_err(fail)?;
        if let Some(v) = sb_vs.as_mut() {
            v.run(false).map_err(fail)?;
        }
    }
    let mut per_run = t0.elapsed() / args.warmup.max(1) as u32;
    let tract_fail = |e: anyhow::Error| e.context(format!("tract failed to run '{}'", args.compare.as_ref().map(|p| p.display().to_string()).unwrap_or_default()));
    if let Some(t) = &tract {
        let t0 = Instant::now();
        for _ in 0..args.warmup.max(1) {
            t.run(&inputs).map_err(tract_fail)?;
        }
        per_run += t0.elapsed() / args.warmup.max(1) as u32;
    }

    // The host's ceiling, probed after every run pair: about half a run's time per probe.
    let mut ceiling = match args.vs_threads {
        Some(n) => Some(Ceiling::new(args.threads, n, (per_run / 2).clamp(Duration::from_micros(200), Duration::from_millis(2)))?),
        None => None,
    };
    let rounds = if tract.is_some() { args.runs.min(10) } else { 1 };
    // With --compare the bar counts tract's runs too (they run in batches between sprig's).
    let per_engine = if tract.is_some() { 2 } else { 1 };
    let pb = progress((args.runs * per_engine) as u64, args.json, per_run * args.runs as u32);
    let mut tract_ms = Vec::with_capacity(args.runs);
    let mut done = 0;
    for r in 0..rounds {
        let batch = args.runs * (r + 1) / rounds - done;
        for i in 0..batch {
            match sb_vs.as_mut() {
                // Alternate which session goes first, so neither always runs right after the other.
                Some(v) if (done + i) % 2 == 1 => {
                    v.run(true).map_err(fail)?;
                    sb.run(true).map_err(fail)?;
                }
                Some(v) => {
                    sb.run(true).map_err(fail)?;
                    v.run(true).map_err(fail)?;
                }
                None => sb.run(true).map_err(fail)?,
            }
            if let Some(c) = ceiling.as_mut() {
                c.pair();
            }
            pb.inc(1);
        }
        if let Some(t) = &tract {
            for _ in 0..batch {
                let t0 = Instant::now();
                t.run(&inputs).map_err(tract_fail)?;
                tract_ms.push(ms(t0.elapsed()));
                pb.inc(1);
            }
        }
        done += batch;
    }
    pb.finish_and_clear();

    let mut totals = sb.total_ms.clone();
    totals.sort_by(f64::total_cmp);
    let sum: f64 = totals.iter().sum();
    let med = percentile(&totals, 0.5);
    let mut layers: Vec<LayerTime> = desc
        .layers
        .iter()
        .map(|l| {
            let t = sb.layer_ms.get(l.index).filter(|v| !v.is_empty()).map_or(0.0, |v| median(v));
            let params = model.node(l.index).map(|n| n.params).unwrap_or(&[]);
            LayerTime {
                index: l.index,
                name: l.name.clone(),
                op: l.op,
                attrs: l.attrs.clone(),
                encoding: l.encoding.clone(),
                kernel: kernel_name(model, l, params, isas),
                median_ms: t,
                share: 0.0,
                flops: l.flops,
                gflops_per_s: if t > 0.0 { l.flops as f64 / (t * 1e6) } else { 0.0 },
                speedup_vs_threads: sb_vs.as_ref().and_then(|v| {
                    let (a, b) = (v.layer_ms.get(l.index)?, sb.layer_ms.get(l.index)?);
                    pair_ratios(a, b).map(|r| median(&r))
                }),
            }
        })
        .collect();
    let layers_total: f64 = layers.iter().map(|l| l.median_ms).sum();
    for l in &mut layers {
        l.share = if layers_total > 0.0 { l.median_ms / layers_total } else { 0.0 };
    }
    let compare = match (&args.compare, tract_ms.is_empty()) {
        (Some(onnx), false) => {
            let tm = median(&tract_ms);
            Some(Compare { onnx: onnx.display().to_string(), sprig_median_ms: med, tract_median_ms: tm, speedup: tm / med.max(1e-12) })
        }
        _ => None,
    };
    Ok(BenchReport {
        model: label.to_string(),
        isa: isas.dense.name(),
        sparse_isa: isas.sparse.name(),
        threads: args.threads,
        runs: totals.len(),
        warmup: args.warmup.max(1),
        median_ms: med,
        p90_ms: percentile(&totals, 0.9),
        p99_ms: percentile(&totals, 0.99),
        min_ms: totals[0],
        mean_ms: sum / totals.len() as f64,
        runs_per_s: if sum > 0.0 { totals.len() as f64 * 1e3 / sum } else { 0.0 },
        file_size: model.file_size() as u64,
        arena_size: arena_len as u64,
        flops: desc.flops,
        layers_total_ms: layers_total,
        outside_layers_ms: median(&sb.outside_ms),
        layers,
        compare,
        vs_threads: match (args.vs_threads, sb_vs.as_ref()) {
            (Some(n), Some(v)) => pair_ratios(&v.total_ms, &sb.total_ms).map(|mut r| {
                r.sort_by(f64::total_cmp);
                let (mut c, mut cs) = ceiling.map(|c| (c.ratios, c.stream_ratios)).unwrap_or_default();
                c.sort_by(f64::total_cmp);
                cs.sort_by(f64::total_cmp);
                let q = |p: f64| if c.is_empty() { f64::NAN } else { percentile(&c, p) };
                VsThreads {
                    threads: n,
                    median_ms: median(&v.total_ms),
                    speedup: percentile(&r, 0.5),
                    speedup_p10: percentile(&r, 0.1),
                    speedup_p90: percentile(&r, 0.9),
                    host_ceiling: q(0.5),
                    host_ceiling_p10: q(0.1),
                    host_ceiling_p90: q(0.9),
                    host_stream_ceiling: if cs.is_empty() { f64::NAN } else { percentile(&cs, 0.5) },
                }
            }),
            _ => None,
        },
    })
}

/// `a[i] / b[i]` for the pairs where `b[i] > 0`; `None` if there is none.
fn pair_ratios(a: &[f64], b: &[f64]) -> Option<Vec<f64>> {
    let r: Vec<f64> = a.iter().zip(b).filter(|(_, &y)| y > 0.0).map(|(&x, &y)| x / y).collect();
    (!r.is_empty()).then_some(r)
}

/// Layers sorted by time, the first `top` as rows and the rest summed in one "others" row.
fn layer_rows(layers: &[LayerTime], top: usize) -> Vec<Vec<String>> {
    let mut sorted: Vec<&LayerTime> = layers.iter().collect();
    sorted.sort_by(|a, b| b.median_ms.total_cmp(&a.median_ms).then(a.index.cmp(&b.index)));
    let gflops = |l: &LayerTime| if l.flops == 0 { "-".to_string() } else { format!("{:.1}", l.gflops_per_s) };
    let mut rows: Vec<Vec<String>> = sorted
        .iter()
        .take(top)
        .map(|l| {
            let mut row = vec![
                l.index.to_string(),
                l.name.clone(),
                l.op.to_string(),
                l.attrs.clone(),
                l.encoding.clone(),
                l.kernel.clone(),
                format!("{:.3}", l.median_ms),
                format!("{:.1}%", l.share * 100.0),
                gflops(l),
            ];
            if let Some(x) = l.speedup_vs_threads {
                row.push(format!("{x:.2}x"));
            }
            row
        })
        .collect();
    let rest = &sorted[top.min(sorted.len())..];
    if !rest.is_empty() {
        let t: f64 = rest.iter().map(|l| l.median_ms).sum();
        let share: f64 = rest.iter().map(|l| l.share).sum();
        let f: u64 = rest.iter().map(|l| l.flops).sum();
        rows.push(vec![
            "".into(),
            format!("others ({} layers)", rest.len()),
            "".into(),
            "".into(),
            "".into(),
            "".into(),
            format!("{t:.3}"),
            format!("{:.1}%", share * 100.0),
            if f == 0 || t == 0.0 { "-".into() } else { format!("{:.1}", f as f64 / (t * 1e6)) },
        ]);
        if rest.iter().any(|l| l.speedup_vs_threads.is_some()) {
            rows.last_mut().expect("pushed above").push("".into());
        }
    }
    rows
}

/// The per-op totals: op → (layers, ms, share), sorted by time.
fn op_rows(layers: &[LayerTime]) -> Vec<Vec<String>> {
    let mut by_op: Vec<(&str, usize, f64, f64)> = Vec::new();
    for l in layers {
        match by_op.iter_mut().find(|o| o.0 == l.op) {
            Some(o) => {
                o.1 += 1;
                o.2 += l.median_ms;
                o.3 += l.share;
            }
            None => by_op.push((l.op, 1, l.median_ms, l.share)),
        }
    }
    by_op.sort_by(|a, b| b.2.total_cmp(&a.2));
    by_op.iter().map(|o| vec![o.0.to_string(), o.1.to_string(), format!("{:.3}", o.2), format!("{:.1}%", o.3 * 100.0)]).collect()
}

/// The human-readable report.
pub fn render(r: &BenchReport) -> String {
    let isas = if r.isa == r.sparse_isa { r.isa.to_string() } else { format!("{}, sparse {}", r.isa, r.sparse_isa) };
    let mut s = format!("{}  ({isas} kernels, {} thread(s), {} runs after {} warm-up)\n", r.model, r.threads, r.runs, r.warmup);
    s += &format!(
        "  latency  median {:.3} ms  p90 {:.3} ms  p99 {:.3} ms  min {:.3} ms  |  {:.1} runs/s\n",
        r.median_ms, r.p90_ms, r.p99_ms, r.min_ms, r.runs_per_s
    );
    s += &format!(
        "  file {}  arena {}  |  {:.2} GFLOP per run, {:.1} GFLOP/s at the median\n",
        fmt_bytes(r.file_size),
        fmt_bytes(r.arena_size),
        r.flops as f64 / 1e9,
        r.flops as f64 / (r.median_ms.max(1e-12) * 1e6)
    );
    if let Some(v) = &r.vs_threads {
        s += &format!(
            "  {} thread(s) vs {}: {:.2}x (median of {} interleaved run pairs of (time on {} / time on {}); p10 {:.2}x, p90 {:.2}x); median on {}: {:.3} ms\n",
            r.threads, v.threads, v.speedup, r.runs, v.threads, r.threads, v.speedup_p10, v.speedup_p90, v.threads, v.median_ms
        );
        s += &format!(
            "  host ceiling in the same seconds ({} thread(s) vs {}): pure arithmetic {:.2}x (p10 {:.2}x, p90 {:.2}x), streaming 8 MiB {:.2}x; model / arithmetic ceiling {:.2}\n",
            r.threads,
            v.threads,
            v.host_ceiling,
            v.host_ceiling_p10,
            v.host_ceiling_p90,
            v.host_stream_ceiling,
            v.speedup / v.host_ceiling
        );
    }
    if let Some(c) = &r.compare {
        s += &format!("\nmedians of interleaved rounds (sprig {} thread(s), tract 1):\n  sprig ({})  {:9.3} ms\n  tract        {:9.3} ms\n", r.threads, r.isa, c.sprig_median_ms, c.tract_median_ms);
        if c.speedup >= 1.0 {
            s += &format!("  sprig is {:.2}x faster than tract\n", c.speedup);
        } else {
            s += &format!("  sprig is {:.2}x slower than tract\n", 1.0 / c.speedup.max(1e-12));
        }
    }
    s += &format!(
        "\nper layer (median over runs; sum {:.3} ms; outside the layers (I/O copies, dispatch) {:.3} ms per run):\n",
        r.layers_total_ms, r.outside_layers_ms
    );
    let vs = r.vs_threads.as_ref().map(|v| format!("vs {} thr", v.threads));
    let mut head = vec!["#", "name", "op", "params", "encoding", "kernel", "ms", "share", "GFLOP/s"];
    head.extend(vs.as_deref());
    s += &table(&head, &layer_rows(&r.layers, 15));
    s += "\nper op:\n";
    s += &table(&["op", "layers", "ms", "share"], &op_rows(&r.layers));
    s
}

pub fn main(args: Args) -> Result<()> {
    let model = load_model(&args.model)?;
    let label = args.model.display().to_string();
    let r = bench(&args, &model, &label)?;
    let text = if args.json {
        // One line: scripts (time_peers.py --ext) read the last line that starts with '{'.
        serde_json::to_string(&r)? + "\n"
    } else {
        render(&r)
    };
    // An error (e.g. a closed pipe), not a panic as `print!` would.
    std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes()).context("cannot write to stdout")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_bar_only_for_long_human_readable_runs() {
        use indicatif::InMemoryTerm;
        let term = InMemoryTerm::new(4, 100);
        let target = || ProgressDrawTarget::term_like(Box::new(term.clone()));
        // Expected to take 2 s: shown, with its position out of the total.
        let pb = progress_to(5, false, Duration::from_secs(2), target());
        assert!(!pb.is_hidden());
        for _ in 0..3 {
            pb.inc(1);
        }
        pb.abandon(); // draws now, regardless of the refresh rate
        let shown = term.contents();
        assert!(shown.contains("timing") && shown.contains("3/5"), "{shown:?}");
        // Under a second, or --json: hidden, nothing drawn.
        let term = InMemoryTerm::new(4, 100);
        for (json, expected) in [(false, Duration::from_millis(999)), (true, Duration::from_secs(60))] {
            let pb = progress_to(5, json, expected, ProgressDrawTarget::term_like(Box::new(term.clone())));
            assert!(pb.is_hidden(), "json {json}, expected {expected:?}");
            pb.inc(5);
            pb.abandon();
        }
        assert_eq!(term.contents(), "");
    }

    #[test]
    fn nearest_rank_percentiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.5), 50.0);
        assert_eq!(percentile(&v, 0.9), 90.0);
        assert_eq!(percentile(&v, 0.99), 99.0);
        assert_eq!(percentile(&[7.0], 0.99), 7.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }

    #[test]
    fn others_row_sums_the_rest() {
        let l = |i: usize, t: f64| LayerTime {
            index: i,
            name: format!("n{i}"),
            op: "Relu",
            attrs: String::new(),
            encoding: "-".into(),
            kernel: "-".into(),
            median_ms: t,
            share: t / 10.0,
            flops: 0,
            gflops_per_s: 0.0,
            speedup_vs_threads: None,
        };
        let rows = layer_rows(&[l(0, 1.0), l(1, 4.0), l(2, 2.0), l(3, 3.0)], 2);
        assert_eq!(rows.len(), 3);
        assert_eq!((rows[0][0].as_str(), rows[1][0].as_str()), ("1", "3"));
        assert_eq!(rows[2][1], "others (2 layers)");
        assert_eq!(rows[2][6], "3.000");
        assert_eq!(rows[2][7], "30.0%");
    }
}
