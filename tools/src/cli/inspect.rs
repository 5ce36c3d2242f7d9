//! `sprig inspect`: what a `.sprig` file holds, layer by layer, computed from the file alone.
use super::{fmt_bytes, fmt_count, fmt_shape, load_model, table};
use anyhow::Result;
use sprig_runtime::format::{Storage, NO_VALUE};
use sprig_runtime::ops::params::{ActParams, AxisParams, CastParams, ConvParams, PoolParams, UnaryParams};
use sprig_runtime::ops::{read_params, OpKind};
use sprig_runtime::{Act, DType, Model};
use std::path::PathBuf;

/// Show the layers, formats, sizes and FLOPs of a .sprig model.
#[derive(clap::Args)]
#[command(after_help = "Examples:\n  sprig inspect model.sprig\n  sprig inspect model.sprig --json > model.json")]
pub struct Args {
    /// The .sprig model to describe.
    model: PathBuf,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

#[derive(serde::Serialize)]
pub struct TensorDesc {
    pub name: String,
    pub dtype: &'static str,
    pub shape: Vec<usize>,
    /// Stored in the file (a weight or other constant) rather than computed.
    pub constant: bool,
    pub encoding: &'static str,
    pub bytes: u64,
}

#[derive(serde::Serialize)]
pub struct LayerDesc {
    pub index: usize,
    pub name: String,
    pub op: &'static str,
    pub inputs: Vec<TensorDesc>,
    pub outputs: Vec<TensorDesc>,
    /// Key parameters, e.g. `k3x3 s2 g32 act=relu`.
    pub attrs: String,
    /// Encodings of the node's constant inputs ("-" when it has none).
    pub encoding: String,
    /// Conv/ConvTranspose/MatMul: dtype of the constant weight ("f32", "f16"); Gather: of its
    /// constant table; "-" otherwise.
    pub weight_dtype: String,
    /// Elements and bytes of the node's constant inputs.
    pub params: u64,
    pub bytes: u64,
    pub scratch_bytes: u64,
    pub flops: u64,
    /// Conv/MatMul weights: sparsity, block, nnz and the kernel used on this CPU.
    pub weight: Option<sprig_tools::sparsify::WeightStats>,
}

#[derive(serde::Serialize)]
pub struct ModelDesc {
    pub file: String,
    pub file_size: u64,
    pub arena_size: u64,
    pub inputs: Vec<TensorDesc>,
    pub outputs: Vec<TensorDesc>,
    pub layers: Vec<LayerDesc>,
    pub params: u64,
    pub param_bytes: u64,
    pub flops: u64,
}

fn tensor_desc(model: &Model, v: u32) -> Option<TensorDesc> {
    let info = model.value(v)?;
    Some(TensorDesc {
        name: info.name.to_string(),
        dtype: info.dtype.name(),
        shape: info.shape.dims().to_vec(),
        constant: info.storage == Storage::Const,
        encoding: info.encoding.name(),
        bytes: info.nbytes,
    })
}

fn act_desc(a: &ActParams) -> Option<String> {
    let act = a.activation()?;
    Some(match act.kind {
        Act::None => return None,
        Act::Clamp => format!("clamp({},{})", act.alpha, act.beta),
        Act::LeakyRelu => format!("leakyrelu({})", act.alpha),
        Act::HardSigmoid => format!("hardsigmoid({},{})", act.alpha, act.beta),
        k => format!("{k:?}").to_lowercase(),
    })
}

fn push_act(parts: &mut Vec<String>, a: &ActParams) {
    if let Some(s) = act_desc(a) {
        parts.push(format!("act={s}"));
    }
}

/// Key parameters of a node, decoded from its parameter block ("?" if it does not decode).
pub fn attrs(op: OpKind, params: &[u8]) -> String {
    use OpKind::*;
    let mut parts: Vec<String> = Vec::new();
    let ok = match op {
        Conv | ConvTranspose => read_params::<ConvParams>(params).map(|p| {
            parts.push(format!("k{}x{}", p.kernel[0], p.kernel[1]));
            if p.strides != [1, 1] {
                parts.push(format!("s{}x{}", p.strides[0], p.strides[1]));
            }
            if p.pads != [0; 4] {
                parts.push(format!("p{}", p.pads.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")));
            }
            if p.dilations != [1, 1] {
                parts.push(format!("d{}x{}", p.dilations[0], p.dilations[1]));
            }
            if p.group != 1 {
                parts.push(format!("g{}", p.group));
            }
            push_act(&mut parts, &p.act);
        }),
        MatMul | Add | Sub | Mul | Div | Pow | Max | Min | PRelu => {
            // MatMulParams and BinaryParams are both exactly one ActParams.
            read_params::<ActParams>(params).map(|a| push_act(&mut parts, &a)).or_else(|e| if params.is_empty() { Ok(()) } else { Err(e) })
        }
        LeakyRelu | Elu => read_params::<UnaryParams>(params).map(|p| parts.push(format!("alpha={}", p.alpha))),
        Clip => read_params::<UnaryParams>(params).map(|p| parts.push(format!("min={} max={}", p.alpha, p.beta))),
        HardSigmoid => read_params::<UnaryParams>(params).map(|p| parts.push(format!("alpha={} beta={}", p.alpha, p.beta))),
        Gelu => read_params::<UnaryParams>(params).map(|p| parts.push(if p.alpha == 0.0 { "erf" } else { "tanh" }.to_string())),
        Cast => read_params::<CastParams>(params).map(|p| {
            parts.push(format!("to={}", DType::from_u8(p.to as u8).map(|d| d.name()).unwrap_or("?")))
        }),
        Softmax | LogSoftmax | ArgMax | Concat | Split | Gather => {
            read_params::<AxisParams>(params).map(|p| parts.push(format!("axis={}", p.axis)))
        }
        MaxPool | AveragePool => read_params::<PoolParams>(params).map(|p| {
            parts.push(format!("k{}x{}", p.kernel[0], p.kernel[1]));
            if p.strides != [1, 1] {
                parts.push(format!("s{}x{}", p.strides[0], p.strides[1]));
            }
            if p.pads != [0; 4] {
                parts.push(format!("p{}", p.pads.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(",")));
            }
        }),
        _ => Ok(()),
    };
    if ok.is_err() {
        return "?".to_string();
    }
    parts.join(" ")
}

/// FLOPs of a node from its shapes: convolutions and matmuls 2·MACs, pools one per window
/// element, every other computing op one per element (of the output for elementwise ops, of the
/// input for normalisations and reductions), data movement 0.
pub fn flops(op: OpKind, params: &[u8], inputs: &[Option<TensorDesc>], outputs: &[TensorDesc]) -> u64 {
    use OpKind::*;
    let numel = |s: &[usize]| s.iter().product::<usize>() as u64;
    let out = outputs.first().map(|o| numel(&o.shape)).unwrap_or(0);
    let input = |i: usize| inputs.get(i).and_then(|t| t.as_ref()).map(|t| t.shape.clone());
    let x = input(0).map(|s| numel(&s)).unwrap_or(0);
    match op {
        Conv => {
            // W [M, C/group, kh, kw]: every output element needs C/group·kh·kw MACs.
            let w = input(1).unwrap_or_default();
            2 * out * w.iter().skip(1).product::<usize>() as u64
        }
        ConvTranspose => {
            // W [C, M/group, kh, kw]: every input element scatters into M/group·kh·kw outputs.
            let w = input(1).unwrap_or_default();
            2 * x * w.iter().skip(1).product::<usize>() as u64
        }
        MatMul => {
            let k = input(0).and_then(|s| s.last().copied()).unwrap_or(0) as u64;
            2 * out * k
        }
        MaxPool | AveragePool => {
            let k = read_params::<PoolParams>(params).map(|p| (p.kernel[0] * p.kernel[1]) as u64).unwrap_or(1);
            out * k
        }
        GlobalAveragePool | GlobalMaxPool | Softmax | LogSoftmax | LayerNorm | ReduceMean | ReduceSum | ReduceMax
        | ReduceMin | ReduceProd | ArgMax => x,
        Concat | Split | Slice | Gather | Transpose | Reshape | Pad | Resize | Expand | Tile | Cast => 0,
        _ => out,
    }
}

/// Describes every layer of `model`.
pub fn describe(model: &Model, file: &str) -> ModelDesc {
    let mut layers = Vec::new();
    for k in 0..model.num_nodes() {
        let Some(n) = model.node(k) else { continue };
        let ins: Vec<Option<TensorDesc>> =
            n.inputs.iter().map(|&v| if v == NO_VALUE { None } else { tensor_desc(model, v) }).collect();
        let outs: Vec<TensorDesc> = n.outputs.iter().filter_map(|&v| tensor_desc(model, v)).collect();
        let consts: Vec<&TensorDesc> = ins.iter().flatten().filter(|t| t.constant).collect();
        let mut encs: Vec<&str> = consts.iter().map(|t| t.encoding).collect();
        encs.dedup();
        let weight_slots = match n.op {
            OpKind::Conv | OpKind::ConvTranspose | OpKind::MatMul => 2,
            OpKind::Gather => 1,
            _ => 0,
        };
        let weight = ins.iter().take(weight_slots).flatten().find(|t| t.constant);
        let weight_dtype = weight.map_or("-", |t| t.dtype).to_string();
        // A weight's encoding names the layer's (its bias, if any, is dense f32).
        if let Some(w) = weight {
            encs = vec![w.encoding];
        }
        layers.push(LayerDesc {
            index: k,
            name: n.name.to_string(),
            op: n.op.name(),
            attrs: attrs(n.op, n.params),
            encoding: if encs.is_empty() { "-".to_string() } else { encs.join("+") },
            weight_dtype,
            params: consts.iter().map(|t| t.shape.iter().product::<usize>() as u64).sum(),
            bytes: consts.iter().map(|t| t.bytes).sum(),
            scratch_bytes: n.scratch_size,
            flops: flops(n.op, n.params, &ins, &outs),
            weight: sprig_tools::sparsify::weight_stats(model, k, sprig_runtime::Isas::detect()),
            inputs: ins.into_iter().flatten().collect(),
            outputs: outs,
        });
    }
    let p = model.parsed();
    ModelDesc {
        file: file.to_string(),
        file_size: model.file_size() as u64,
        arena_size: model.arena_size() as u64,
        inputs: p.inputs.iter().filter_map(|&v| tensor_desc(model, v)).collect(),
        outputs: p.outputs.iter().filter_map(|&v| tensor_desc(model, v)).collect(),
        params: layers.iter().map(|l| l.params).sum(),
        param_bytes: layers.iter().map(|l| l.bytes).sum(),
        flops: layers.iter().map(|l| l.flops).sum(),
        layers,
    }
}

fn io_line(t: &TensorDesc) -> String {
    format!("{} {} {}", t.name, t.dtype, fmt_shape(&t.shape))
}

/// The human-readable form of [`describe`].
pub fn render(d: &ModelDesc) -> String {
    let rows: Vec<Vec<String>> = d
        .layers
        .iter()
        .map(|l| {
            let shapes = |ts: &[TensorDesc], constant: bool| {
                ts.iter().filter(|t| t.constant == constant).map(|t| fmt_shape(&t.shape)).collect::<Vec<_>>().join(" ")
            };
            vec![
                l.index.to_string(),
                l.name.clone(),
                l.op.to_string(),
                shapes(&l.inputs, false),
                shapes(&l.outputs, false),
                l.attrs.clone(),
                l.encoding.clone(),
                l.weight_dtype.clone(),
                if l.bytes == 0 { "-".into() } else { fmt_bytes(l.bytes) },
                if l.flops == 0 { "-".into() } else { fmt_count(l.flops) },
                l.weight.as_ref().map_or("-".into(), |w| format!("{:.1}%", w.sparsity * 100.0)),
                l.weight.as_ref().map_or("-".into(), |w| w.block.clone()),
                l.weight.as_ref().map_or("-".into(), |w| fmt_count(w.nnz as u64)),
                l.weight.as_ref().filter(|w| w.skipped > 0.0).map_or("-".into(), |w| fmt_count((l.flops as f64 * w.skipped) as u64)),
                l.weight.as_ref().map_or("-".into(), |w| w.kernel.clone()),
            ]
        })
        .collect();
    let mut s = format!("{}\n", d.file);
    for t in &d.inputs {
        s += &format!("  input   {}\n", io_line(t));
    }
    for t in &d.outputs {
        s += &format!("  output  {}\n", io_line(t));
    }
    s += "\n";
    s += &table(
        &["#", "name", "op", "input", "output", "params", "encoding", "dtype", "bytes", "FLOPs", "sparsity", "block", "nnz", "FLOPs saved", "kernel"],
        &rows,
    );
    s += &format!(
        "\n{} layers | file {} | arena {} | {} parameters ({}) | {} FLOPs per run\n",
        d.layers.len(),
        fmt_bytes(d.file_size),
        fmt_bytes(d.arena_size),
        fmt_count(d.params),
        fmt_bytes(d.param_bytes),
        fmt_count(d.flops)
    );
    s
}

pub fn main(args: Args) -> Result<()> {
    let model = load_model(&args.model)?;
    let d = describe(&model, &args.model.display().to_string());
    if args.json {
        println!("{}", serde_json::to_string_pretty(&d)?);
    } else {
        print!("{}", render(&d));
    }
    Ok(())
}
