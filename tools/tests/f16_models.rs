//! f16 weights (`--weights f16`) on synthesized MobileNetV1 and BERT, dense and 90 % sparse (4x1):
//!
//! - against tract's f32 run within the f16 tolerance (`sprig_tools::f16::F16_TOLERANCE`), with
//!   an error that must be above zero (f16 rounding has to show, or the weights were not f16);
//! - against an **f32-widened reference**: the same file with every f16 weight widened to f32 by
//!   this test (the `half` crate, no sprig kernel) and run through the f32 kernels; the two may
//!   differ only by summation order (1e-5 relative), so a wrong f16 kernel fails here even where
//!   the f16 tolerance would hide it;
//! - the rounding-error report against hand-computed bounds (round to nearest: at most half an
//!   ulp of f16, 2^-11 of the layer's largest weight);
//! - `sprig inspect` of an f16 file (dtype f16, bytes); corrupted files give typed errors.
mod convert_common;
use sprig_kernels::sparse::{pack, Layout, SparseMatrix};
use sprig_runtime::format::{Parsed, Storage, ValueRecord, NO_VALUE};
use sprig_runtime::tensor::{DType, Encoding};
use sprig_runtime::{AlignedBuf, Error, Model};
use sprig_tools::convert::{convert_bytes, Conversion, ConvertOptions};
use sprig_tools::f16::{WeightType, F16_TOLERANCE};
use sprig_tools::sparsify::FormatChoice;
use sprig_tools::synth::{build, Arch, SynthOptions};
use sprig_tools::verify::{compare, random_inputs, run_sprig, verify_file};
use sprig_tools::writer::{write, FileDef, NodeDef, ValueDef, ValueStorage};
use std::path::PathBuf;

/// Relative error (max abs over the output's largest magnitude) allowed between the f16 model
/// and its f32-widened twin: the same products, summed in a possibly different order.
const WIDENED_TOL: f64 = 1e-5;

fn small(arch: Arch, sparsity: f32) -> SynthOptions {
    let base = SynthOptions { sparsity, block_rows: 4, seed: 11, ..Default::default() };
    match arch {
        Arch::Bert => SynthOptions { seq_len: 16, hidden: 64, layers: 2, heads: 4, vocab: 100, ..base },
        _ => SynthOptions { resolution: 96, width: 0.5, classes: 100, ..base },
    }
}

/// 0 %: every weight dense; 90 %: every candidate block-sparse in 4x1 blocks.
fn opts(sparsity: f32, weights: WeightType) -> ConvertOptions {
    let (format, block) = if sparsity > 0.0 { (FormatChoice::Sparse, Some(Layout::RowBlock(4))) } else { (FormatChoice::Dense, None) };
    ConvertOptions { format, block, weights, ..Default::default() }
}

struct TempFile(PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn temp(name: &str, bytes: &[u8]) -> TempFile {
    let p = std::env::temp_dir().join(format!("sprig_f16_{}_{name}", std::process::id()));
    std::fs::write(&p, bytes).unwrap();
    TempFile(p)
}

fn load(bytes: &[u8]) -> Model<'static> {
    Model::from_vec(bytes).unwrap_or_else(|e| panic!("does not load: {e}"))
}

/// The file of `m` with every f16 weight for which `pick(value index)` holds widened to f32
/// (dense: each value; block-sparse: the blob decoded and packed again as f32 with the same
/// layout and bias). Everything else is copied.
fn widened(m: &Model, pick: impl Fn(u32) -> bool) -> Vec<u8> {
    let p = m.parsed();
    let widen = |h: u16| half::f16::from_bits(h).to_f32();
    let values = (0..p.values.len() as u32)
        .map(|i| {
            let v = m.value(i).unwrap();
            if !pick(i) {
                let storage = match v.storage {
                    Storage::Arena => ValueStorage::Arena { offset: v.offset },
                    Storage::Const => ValueStorage::Const { bytes: m.const_bytes(i).unwrap().to_vec(), encoding: v.encoding },
                };
                return ValueDef { name: v.name.to_string(), dtype: v.dtype, shape: v.shape.dims().to_vec(), storage };
            }
            let storage = match v.storage {
                Storage::Arena => ValueStorage::Arena { offset: v.offset },
                Storage::Const => {
                    let b = m.const_bytes(i).unwrap();
                    match (v.dtype, v.encoding) {
                        (DType::F16, Encoding::Dense) => {
                            let f: Vec<f32> = b.chunks_exact(2).map(|c| widen(u16::from_le_bytes([c[0], c[1]]))).collect();
                            ValueStorage::Const { bytes: bytemuck::cast_slice(&f).to_vec(), encoding: Encoding::Dense }
                        }
                        (DType::F16, Encoding::BlockSparse) => {
                            let s = SparseMatrix::parse(b).unwrap();
                            // The test's own decoding of the f16 values: walk the blocks.
                            let (r, c) = s.layout().block();
                            let mut dense = vec![0f32; s.m() * s.k()];
                            let vals = s.values_f16();
                            assert_eq!(vals.len(), s.nnz_blocks() * r * c, "an f16 blob holds f16 values");
                            for br in 0..s.block_rows() {
                                for j in s.ptr()[br] as usize..s.ptr()[br + 1] as usize {
                                    let col = s.indices().get(j);
                                    for ii in 0..r {
                                        for jj in 0..c {
                                            let (row, cl) = (br * r + ii, col + jj);
                                            if row < s.m() && cl < s.k() {
                                                dense[row * s.k() + cl] = widen(vals[j * r * c + ii * c + jj]);
                                            }
                                        }
                                    }
                                }
                            }
                            let bias = s.bias().map(|b| b.to_vec());
                            let st = sprig_kernels::sparse::analyze(&dense, s.m(), s.k(), s.layout()).unwrap();
                            let mut out = vec![0u8; if bias.is_some() { st.bytes_with_bias } else { st.bytes }];
                            pack(&dense, s.m(), s.k(), bias.as_deref(), s.layout(), &mut out).unwrap();
                            ValueStorage::Const { bytes: out, encoding: Encoding::BlockSparse }
                        }
                        _ => ValueStorage::Const { bytes: b.to_vec(), encoding: v.encoding },
                    }
                }
            };
            let dtype = if v.dtype == DType::F16 { DType::F32 } else { v.dtype };
            ValueDef { name: v.name.to_string(), dtype, shape: v.shape.dims().to_vec(), storage }
        })
        .collect();
    let nodes = (0..m.num_nodes())
        .map(|k| {
            let n = m.node(k).unwrap();
            let rec = &p.nodes[k];
            NodeDef {
                name: n.name.to_string(),
                op: n.op,
                params: n.params.to_vec(),
                inputs: n.inputs.iter().map(|&v| (v != NO_VALUE).then_some(v)).collect(),
                outputs: n.outputs.to_vec(),
                scratch: (rec.scratch_offset, rec.scratch_size),
            }
        })
        .collect();
    let def = FileDef { values, nodes, inputs: p.inputs.to_vec(), outputs: p.outputs.to_vec(), arena_size: p.header.arena_size };
    write(&def).unwrap()
}

fn f16_values(m: &Model) -> Vec<(u32, Encoding)> {
    (0..m.num_values() as u32).filter_map(|i| m.value(i).filter(|v| v.dtype == DType::F16).map(|v| (i, v.encoding))).collect()
}

fn check_model(arch: Arch, sparsity: f32) {
    let label = format!("{arch:?} @{sparsity}");
    let onnx = build(arch, &small(arch, sparsity)).unwrap();
    let c32 = convert_bytes(&onnx, &opts(sparsity, WeightType::F32)).unwrap_or_else(|e| panic!("{label}: {e:#}"));
    let c16 = convert_bytes(&onnx, &opts(sparsity, WeightType::F16)).unwrap_or_else(|e| panic!("{label}: {e:#}"));
    let m16 = load(&c16.bytes);

    // Every Conv/MatMul weight layer is f16, in the encoding asked for.
    let want = if sparsity > 0.0 { Encoding::BlockSparse } else { Encoding::Dense };
    let f16v = f16_values(&m16);
    assert!(!f16v.is_empty(), "{label}: no f16 tensor");
    assert!(f16v.iter().any(|&(_, e)| e == want), "{label}: no f16 tensor encoded {want:?}");
    for l in &c16.report.layers {
        if l.sparsity.is_some() {
            assert_eq!(l.weight_dtype, "f16", "{label}: layer {} kept {}", l.name, l.weight_dtype);
        }
    }
    assert_eq!(m16.parsed().header.minor, 1, "{label}: f16 files are format 1.1");
    assert_eq!(load(&c32.bytes).parsed().header.minor, 0, "{label}: f32 files stay format 1.0");
    // Dense weights take half the bytes, so the file about half (biases, embeddings and other
    // constants stay f32); a sparse blob saves 2 of the 4 value bytes but not its indices.
    // BERT's word embedding (a Gather table) is f16 too: 0.530x dense and 0.675x sparse here,
    // where the table kept f32 gave 0.559x and 0.803x.
    let bound = match (arch, sparsity > 0.0) {
        (Arch::Bert, true) => 0.72,
        (Arch::Bert, false) => 0.545,
        (_, true) => 0.9,
        (_, false) => 0.6,
    };
    let ratio = c16.bytes.len() as f64 / c32.bytes.len() as f64;
    eprintln!("{label}: f32 {} B, f16 {} B, ratio {ratio:.4}", c32.bytes.len(), c16.bytes.len());
    assert!(ratio < bound, "{label}: f16 {} vs f32 {} bytes", c16.bytes.len(), c32.bytes.len());
    if arch == Arch::Bert {
        check_f16_embedding(&label, &c16, &m16);
    }

    // Against tract's f32 run, within the f16 tolerance, and visibly not an f32 run.
    let path = temp(&format!("{}_{}.onnx", arch.name(), (sparsity * 100.0) as u32), &onnx);
    let r16 = verify_file(&path.0, &c16.bytes, &[], 5, F16_TOLERANCE).unwrap();
    let r32 = verify_file(&path.0, &c32.bytes, &[], 5, F16_TOLERANCE).unwrap();
    assert!(r16.passed, "{label}: f16 model vs tract: max_rel {:.3e} above {F16_TOLERANCE:e}", r16.worst_rel());
    assert!(r16.worst_rel() > 1e-6, "{label}: f16 weights but the output equals tract's f32 run ({:.3e})", r16.worst_rel());
    assert!(r16.worst_rel() > r32.worst_rel(), "{label}: f16 error {:.3e} not above f32 error {:.3e}", r16.worst_rel(), r32.worst_rel());
    eprintln!("{label}: max_rel vs tract f16 {:.3e}, f32 {:.3e}", r16.worst_rel(), r32.worst_rel());

    // Against the f32-widened twin, on the same inputs.
    let wide = load(&widened(&m16, |_| true));
    assert!(f16_values(&wide).is_empty());
    let inputs = random_inputs(&m16, 9);
    let ours = run_sprig(&m16, &inputs).unwrap();
    let reference = run_sprig(&wide, &inputs).unwrap();
    for e in compare(&ours, &reference).unwrap() {
        assert!(e.max_rel <= WIDENED_TOL, "{label}: output {} differs from the f32-widened model by {:.3e}", e.name, e.max_rel);
    }

    // Rounding-error report: per layer at most half an f16 ulp relative to the layer's largest
    // weight (2^-11), above 0 for random weights, and the model's figures are the layers' maxima.
    let f = c16.report.f16.as_ref().expect("an f16 summary");
    assert!(!f.layers.is_empty());
    for l in &f.layers {
        assert!(l.max_rel <= 1.0 / 2048.0 + 1e-12, "{label}: layer {} rel {:e}", l.node, l.max_rel);
        assert!(l.max_rel > 0.0 && l.max_abs > 0.0, "{label}: layer {} shows no rounding", l.node);
    }
    let mx = |g: fn(&sprig_tools::f16::F16Layer) -> f64| f.layers.iter().map(g).fold(0.0, f64::max);
    assert_eq!(f.max_abs, mx(|l| l.max_abs));
    assert_eq!(f.max_rel, mx(|l| l.max_rel));
}

/// BERT's word-embedding Gather reads an f16 table (report and file agree), the file is smaller
/// than the same file with that table f32 by the table's saved bytes, and the outputs equal that
/// file's bit for bit (widening f16 is exact, and everything after the Gather is the same).
fn check_f16_embedding(label: &str, c16: &Conversion, m16: &Model) {
    let gathers: Vec<_> = c16.report.layers.iter().filter(|l| l.op == "Gather" && l.input_shapes[0].iter().product::<usize>() >= 4096).collect();
    assert_eq!(gathers.len(), 1, "{label}: one word-embedding Gather");
    let g = gathers[0];
    assert_eq!(g.weight_dtype, "f16", "{label}: Gather {} table kept {}", g.name, g.weight_dtype);
    let f = c16.report.f16.as_ref().unwrap().layers.iter().find(|l| l.node == g.name).expect("the Gather in the f16 summary");
    let numel: usize = g.input_shapes[0].iter().product();
    assert_eq!(f.bytes, numel * 2, "{label}: the table's f16 bytes");
    assert_eq!(g.param_bytes, numel * 2, "{label}: report bytes of the Gather (the indices are the model input)");
    let node = (0..m16.num_nodes()).map(|k| m16.node(k).unwrap()).find(|n| n.name == g.name).expect("the Gather in the file");
    let table = node.inputs[0];
    let v = m16.value(table).unwrap();
    assert_eq!((v.dtype, v.encoding, v.nbytes), (DType::F16, Encoding::Dense, (numel * 2) as u64), "{label}: {}", v.name);
    assert_eq!(m16.value(node.outputs[0]).unwrap().dtype, DType::F32);

    // The same file with only the table widened to f32: what `--weights f16` wrote before.
    let before = widened(m16, |i| i == table);
    let saved = before.len() as i64 - c16.bytes.len() as i64;
    assert!(saved >= (numel * 2) as i64 - 64, "{label}: f16 table saves {saved} B, expected about {}", numel * 2);
    let inputs = random_inputs(m16, 4);
    let a = run_sprig(m16, &inputs).unwrap();
    let b = run_sprig(&load(&before), &inputs).unwrap();
    for e in compare(&a, &b).unwrap() {
        assert_eq!(e.max_abs, 0.0, "{label}: output {} changes with the table widened", e.name);
    }
}

#[test]
fn mobilenet_v1_dense_f16_matches_tract() {
    check_model(Arch::MobileNetV1, 0.0);
}

#[test]
fn mobilenet_v1_sparse90_f16_matches_tract() {
    check_model(Arch::MobileNetV1, 0.9);
}

#[test]
fn bert_dense_f16_matches_tract() {
    check_model(Arch::Bert, 0.0);
}

#[test]
fn bert_sparse90_f16_matches_tract() {
    check_model(Arch::Bert, 0.9);
}

/// The rounding error of one weight, by hand: 1 + 2^-12 is a tie between 1 and 1 + 2^-10 and
/// rounds to even (1), so the error is 2^-12 and, over max|w| = 1 + 2^-12, the relative error
/// 2^-12 / (1 + 2^-12).
#[test]
fn rounding_error_hand_computed() {
    use sprig_tools::f16::{round_f16, to_f16};
    let x = 1.0f32 + 2f32.powi(-12);
    assert_eq!(round_f16(x), 1.0);
    assert_eq!(to_f16(1.0), 0x3c00);
    assert_eq!(to_f16(65504.0), 0x7bff);
    assert_eq!(to_f16(-2.0), 0xc000);
}

fn sparse_f16_conversion() -> Conversion {
    let onnx = build(Arch::MobileNetV1, &small(Arch::MobileNetV1, 0.9)).unwrap();
    convert_bytes(&onnx, &opts(0.9, WeightType::F16)).unwrap()
}

/// Mutations of an f16 file: each gives the typed error the loader promises, never a panic.
#[test]
#[allow(clippy::result_large_err)] // sprig_runtime::Error carries names inline
fn corrupt_f16_files_give_typed_errors() {
    let c = sparse_f16_conversion();
    let buf = AlignedBuf::from_bytes(&c.bytes);
    let p = Parsed::parse(buf.as_slice()).unwrap();
    let find = |enc: Encoding| {
        (0..p.values.len()).find(|&i| p.values[i].dtype == DType::F16 as u8 && p.values[i].encoding == enc as u8).expect("an f16 tensor")
    };
    let (vs, vd) = (find(Encoding::BlockSparse), find(Encoding::Dense));
    let rec_off = |vi: usize, field: usize| {
        let base = p.values.as_ptr() as usize - buf.as_slice().as_ptr() as usize;
        base + vi * std::mem::size_of::<ValueRecord>() + field
    };
    let blob_off = p.values[vs].offset as usize;
    assert_eq!(c.bytes[blob_off + 28], 2, "an f16 blob's value type is 2");
    let load = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = c.bytes.clone();
        f(&mut b);
        let a = AlignedBuf::from_bytes(&b);
        Model::from_bytes(a.as_slice()).map(|_| ())
    };
    assert!(load(&|_| {}).is_ok());
    let bad_value = |r: Result<(), Error>, vi: usize, what: &str| match r {
        Err(e @ Error::BadValue { index, .. }) => {
            assert_eq!(index as usize, vi, "{what}: {e}");
            eprintln!("{what}: {e}");
        }
        other => panic!("{what}: expected BadValue for tensor {vi}, got {other:?}"),
    };
    // Tensor dtype f32 (record byte 8) over an f16 blob, and an f16 tensor over an f32 blob.
    bad_value(load(&|b| b[rec_off(vs, 8)] = DType::F32 as u8), vs, "dtype f32, blob f16");
    bad_value(load(&|b| b[blob_off + 28] = 1), vs, "dtype f16, blob f32");
    // An f16 tensor in a file that says format 1.0.
    let first_f16 = (0..p.values.len()).find(|&i| p.values[i].dtype == DType::F16 as u8).unwrap();
    bad_value(load(&|b| b[10..12].copy_from_slice(&0u16.to_le_bytes())), first_f16, "minor 0 with f16");
    // An f16 arena tensor (activation): storage byte 10 = Arena.
    let r = load(&|b| b[rec_off(vd, 10)] = 0);
    assert!(matches!(r, Err(Error::BadValue { .. })), "f16 arena tensor: {r:?}");
    // A newer minor than this reader's (1.3; this reader reads up to 1.2).
    match load(&|b| b[10..12].copy_from_slice(&3u16.to_le_bytes())) {
        Err(e @ Error::UnsupportedVersion { major: 1, minor: 3 }) => {
            let msg = e.to_string();
            assert!(msg.contains("1.3") && msg.contains("1.2"), "{msg}");
        }
        other => panic!("minor 3: expected UnsupportedVersion 1.3, got {other:?}"),
    }
}

/// `sprig inspect` of a file written with f16 weights: the weight dtype and bytes per layer.
#[test]
fn inspect_shows_f16_weights() {
    let c = sparse_f16_conversion();
    let f = temp("inspect.sprig", &c.bytes);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sprig")).args(["inspect", "--json"]).arg(&f.0).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["file_size"].as_u64(), Some(c.bytes.len() as u64));
    let m = load(&c.bytes);
    let mut seen = [false; 2];
    for l in j["layers"].as_array().unwrap() {
        if !matches!(l["op"].as_str(), Some("Conv") | Some("MatMul")) {
            continue;
        }
        assert_eq!(l["weight_dtype"], "f16", "{l}");
        let w = l["inputs"].as_array().unwrap().iter().find(|t| t["constant"] == true && t["dtype"] == "f16").expect("an f16 input");
        let numel: u64 = w["shape"].as_array().unwrap().iter().map(|d| d.as_u64().unwrap()).product();
        let vi = (0..m.num_values() as u32).find(|&i| m.value(i).unwrap().name == w["name"]).unwrap();
        assert_eq!(w["bytes"].as_u64(), Some(m.value(vi).unwrap().nbytes));
        match w["encoding"].as_str().unwrap() {
            "dense" => {
                assert_eq!(w["bytes"].as_u64(), Some(numel * 2), "{w}");
                seen[0] = true;
            }
            "block-sparse" => {
                assert_eq!(m.const_bytes(vi).unwrap()[28], 2, "{w}: blob value type f16");
                // The pruned (90 %) layers: well under the dense f16 size (the stem is not pruned).
                if w["bytes"].as_u64().unwrap() < numel * 2 / 4 {
                    seen[1] = true;
                }
            }
            e => panic!("encoding {e}"),
        }
    }
    assert_eq!(seen, [true, true], "dense (depthwise) and 90 % block-sparse f16 weights");
    let text = std::process::Command::new(env!("CARGO_BIN_EXE_sprig")).arg("inspect").arg(&f.0).output().unwrap();
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("dtype") && text.contains("f16"), "{text}");
}

/// `sprig convert --weights f16`: the per-layer dtype and rounding errors, the model's rounding
/// line, and verification against tract under the f16 tolerance; a bad `--weights` is refused.
#[test]
fn cli_convert_weights_f16() {
    let onnx = build(Arch::MobileNetV1, &small(Arch::MobileNetV1, 0.9)).unwrap();
    let src = temp("cli.onnx", &onnx);
    let dst = TempFile(src.0.with_extension("sprig"));
    let sprig = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_sprig")).args(args).output().unwrap();
    let (s, d) = (src.0.to_str().unwrap(), dst.0.to_str().unwrap());
    let out = sprig(&["convert", s, "-o", d, "--weights", "f16"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("f16 abs") && text.contains("f16 rel"), "{text}");
    assert!(text.contains("f16 weights") && text.contains("max rel"), "{text}");
    assert!(text.contains("tolerance 1e-2"), "{text}");
    let m = Model::from_vec(&std::fs::read(&dst.0).unwrap()).unwrap();
    assert!(!f16_values(&m).is_empty());
    let bad = sprig(&["convert", s, "-o", d, "--weights", "f64"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("f32 or f16"), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// The Gather tables the pass converts: a table also read by a non-weight node (Mul) is copied
/// (Gather reads the f16 copy, Mul the f32 original); a table under
/// `sprig_tools::f16::GATHER_MIN_ELEMS` elements stays f32; the outputs match tract within the
/// f16 tolerance, and only the f16 Gather's output shows rounding.
#[test]
fn gather_tables_shared_and_small() {
    use convert_common::{attr_i, fixed, model, node, out, rand_vec, tensor_f32};
    use tract_onnx::pb::{self, tensor_proto::DataType, TypeProto, ValueInfoProto};
    let ids = |name: &str, n: usize| ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Int64 as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: [1, n as i64].iter().map(|&d| pb::tensor_shape_proto::Dimension { value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d)), ..Default::default() }).collect(),
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let (v, d) = (64, 80);
    assert!(v * d >= sprig_tools::f16::GATHER_MIN_ELEMS && 2 * d < sprig_tools::f16::GATHER_MIN_ELEMS);
    let onnx = model(
        vec![
            node("Gather", "big_lookup", &["E", "ids"], &["g1"], vec![attr_i("axis", 0)]),
            node("Mul", "scale_table", &["E", "x"], &["m"], vec![]),
            node("Gather", "small_lookup", &["T", "ids2"], &["g2"], vec![attr_i("axis", 0)]),
        ],
        vec![tensor_f32("E", &[v, d], &rand_vec(v * d, 3)), tensor_f32("T", &[2, d], &rand_vec(2 * d, 4))],
        vec![ids("ids", 6), fixed("x", &[v, d]), ids("ids2", 3)],
        vec![out("g1"), out("m"), out("g2")],
        17,
    );
    let c = convert_bytes(&onnx, &opts(0.0, WeightType::F16)).unwrap_or_else(|e| panic!("{e:#}"));
    let m = load(&c.bytes);
    let node = |name: &str| (0..m.num_nodes()).map(|k| m.node(k).unwrap()).find(|n| n.name == name).unwrap_or_else(|| panic!("node {name}"));
    let (big, mul, small) = (node("big_lookup"), node("scale_table"), node("small_lookup"));
    let dt = |i: u32| m.value(i).unwrap().dtype;
    assert_eq!(dt(big.inputs[0]), DType::F16, "the big table is f16");
    assert_ne!(big.inputs[0], mul.inputs[0], "Gather reads a copy");
    assert_eq!(dt(mul.inputs[0]), DType::F32, "Mul keeps the f32 table");
    assert_eq!(dt(small.inputs[0]), DType::F32, "a table under the threshold stays f32");
    let f = c.report.f16.as_ref().unwrap();
    assert_eq!(f.layers.iter().map(|l| l.node.as_str()).collect::<Vec<_>>(), ["big_lookup"]);
    assert!(f.layers[0].max_rel > 0.0 && f.layers[0].max_rel <= 1.0 / 2048.0);
    let path = temp("gather_tables.onnx", &onnx);
    let r = verify_file(&path.0, &c.bytes, &[], 3, F16_TOLERANCE).unwrap();
    assert!(r.passed, "{:?}", r.outputs);
    for e in &r.outputs {
        let exact = e.name != "g1";
        assert_eq!(e.max_abs == 0.0, exact, "output {}: max_abs {:e}", e.name, e.max_abs);
    }
}
