//! Drives the built `sprig bench` on a small synthesized MobileNetV1: the JSON report's fields and
//! their invariants (percentile order, layer list equal to `sprig inspect`'s, shares summing to 1,
//! file size equal to the file's), the human-readable table, `--compare` against tract, `--isa`,
//! and errors for bad inputs. No timing thresholds: only orderings and positivity are checked.
use sprig_tools::convert::{convert_bytes, ConvertOptions};
use sprig_tools::npy;
use sprig_tools::synth::{self, Arch, SynthOptions};
use sprig_tools::tensor::{OwnedData, OwnedTensor};
use std::path::{Path, PathBuf};
use std::process::Output;
mod cli_common;
use cli_common::*;

/// A 50%-sparse MobileNetV1 at 32x32, width 0.25, 10 classes: (onnx path, sprig path).
fn model(dir: &Path) -> (PathBuf, PathBuf) {
    model_with(dir, SynthOptions { sparsity: 0.5, block_rows: 4, resolution: 32, width: 0.25, classes: 10, ..SynthOptions::default() })
}

/// A MobileNetV1 synthesized with `opts`, converted with auto: (onnx path, sprig path).
fn model_with(dir: &Path, opts: SynthOptions) -> (PathBuf, PathBuf) {
    let onnx = synth::build(Arch::MobileNetV1, &opts).unwrap();
    let conv = convert_bytes(&onnx, &ConvertOptions::default()).unwrap();
    let (o, s) = (dir.join("m.onnx"), dir.join("m.sprig"));
    std::fs::write(&o, &onnx).unwrap();
    std::fs::write(&s, &conv.bytes).unwrap();
    (o, s)
}

fn json(o: &Output) -> serde_json::Value {
    assert!(o.status.success(), "sprig failed: {}", stderr(o));
    let out = stdout(o);
    let last = out.lines().last().expect("some output");
    assert!(last.starts_with('{'), "the JSON object is one line: {out}");
    serde_json::from_str(last).expect("valid JSON")
}

/// `sprig inspect --json` (pretty-printed, several lines).
fn inspect(m: &Path) -> serde_json::Value {
    let o = sprig(&["inspect", m.to_str().unwrap(), "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str(&stdout(&o)).expect("valid JSON")
}

fn num(v: &serde_json::Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("'{key}' is a number in {v}"))
}

#[test]
fn json_report_is_sane_and_matches_inspect() {
    let d = Tmp::new("json");
    let (_, m) = model(&d);
    let ms = m.to_str().unwrap();
    let r = json(&sprig(&["bench", ms, "--runs", "7", "--warmup", "1", "--json"]));
    let (med, p90, p99) = (num(&r, "median_ms"), num(&r, "p90_ms"), num(&r, "p99_ms"));
    assert!(med > 0.0 && p90 >= med && p99 >= p90, "median {med} p90 {p90} p99 {p99}");
    assert!(num(&r, "min_ms") <= med && num(&r, "runs_per_s") > 0.0);
    assert_eq!(r["runs"], 7);
    assert_eq!(r["threads"], 1);
    assert!(["scalar", "avx2", "avx512", "neon"].contains(&r["isa"].as_str().unwrap()));
    assert_eq!(num(&r, "file_size") as u64, std::fs::metadata(&m).unwrap().len());
    assert!(num(&r, "arena_size") > 0.0);

    let insp = inspect(&m);
    let (bl, il) = (r["layers"].as_array().unwrap(), insp["layers"].as_array().unwrap());
    assert_eq!(bl.len(), il.len(), "one profile row per layer that inspect lists");
    let mut share = 0.0;
    for (b, i) in bl.iter().zip(il) {
        assert_eq!(b["index"], i["index"]);
        assert_eq!(b["name"], i["name"]);
        assert_eq!(b["op"], i["op"]);
        assert_eq!(b["encoding"], i["encoding"], "bench prints the encoding inspect reports");
        assert!(num(b, "median_ms") >= 0.0);
        assert!(b["kernel"].is_string());
        share += num(b, "share");
    }
    assert!((share - 1.0).abs() < 1e-6, "shares sum to {share}");
    // Depthwise and pointwise convs name different kernel families.
    let kernel_of = |name: &str| bl.iter().find(|l| l["name"] == name).map(|l| l["kernel"].as_str().unwrap().to_string());
    let (dw, pw) = (kernel_of("b1.dw").expect("layer b1.dw"), kernel_of("b1.pw").expect("layer b1.pw"));
    // (row kernels are `dwconv_*`, the 3x3 kernels `dw3x3s{1,2}_*`)
    assert!(dw.starts_with("dw") && !pw.starts_with("dw"), "dw {dw}, pw {pw}");
    // The stem (3x3/2 over RGB) runs the direct stride-2 kernels on every SIMD ISA, and inspect
    // names the same kernel as bench (inspect once kept naming the GEMM).
    let stem = kernel_of("conv1").expect("layer conv1");
    let stem_inspect = il.iter().find(|l| l["name"] == "conv1").and_then(|l| l["weight"]["kernel"].as_str()).expect("inspect names conv1's kernel");
    assert_eq!(stem, stem_inspect, "bench and inspect name the stem's kernel alike");
    if r["isa"] != "scalar" {
        assert!(stem.starts_with("dconv_s2_"), "stem kernel {stem}");
    }
    // inspect names each weight's kernel on the ISA of its family, the ones bench reports: dense
    // and depthwise layers on `isa`, block-sparse ones and the direct stem conv on `sparse_isa`
    // (on a CPU with AVX-512 the two differ, and inspect once named every kernel on the sparse
    // ISA).
    let (isa, sparse_isa) = (r["isa"].as_str().unwrap(), r["sparse_isa"].as_str().unwrap());
    let mut families = [0usize; 2];
    for l in il {
        let Some(kernel) = l["weight"]["kernel"].as_str() else { continue };
        let sparse = l["encoding"].as_str().unwrap().contains("sparse");
        let want = if sparse || kernel.starts_with("dconv_") { sparse_isa } else { isa };
        if kernel.starts_with("dw") {
            // Depthwise layers pick their ISA by output width (`Isas::depthwise`): inspect names
            // the kernel bench reports for the layer.
            assert_eq!(Some(kernel.to_string()), kernel_of(l["name"].as_str().unwrap()), "layer {}", l["name"]);
            families[0] += 1;
            continue;
        }
        // Scalar kernels are named `*_scalar` or `*_ref_scalar`; f16 weights add `+f16w`.
        let name = kernel.trim_end_matches("+f16w");
        assert!(name.ends_with(&format!("_{want}")), "layer {}: kernel {kernel} is not on {want} ({isa}, sparse {sparse_isa})", l["name"]);
        families[sparse as usize] += 1;
    }
    assert!(families[0] > 0, "the test model has dense weights: {families:?}");
}

#[test]
fn table_has_top_15_and_others() {
    let d = Tmp::new("table");
    let (_, m) = model(&d);
    let o = sprig(&["bench", m.to_str().unwrap(), "--runs", "3", "--warmup", "1"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in ["median", "p90", "p99", "runs/s", "arena", "per layer", "kernel", "share"] {
        assert!(out.contains(want), "'{want}' missing from:\n{out}");
    }
    let n_layers = inspect(&m)["layers"].as_array().unwrap().len();
    assert!(n_layers > 15, "the test model has more than 15 layers");
    assert!(out.contains(&format!("others ({} layers)", n_layers - 15)), "{out}");
}

#[test]
fn compare_times_tract_too() {
    let d = Tmp::new("compare");
    let (o, m) = model(&d);
    let r = json(&sprig(&["bench", m.to_str().unwrap(), "--runs", "4", "--warmup", "1", "--json", "--compare", o.to_str().unwrap()]));
    let c = &r["compare"];
    assert!(num(c, "sprig_median_ms") > 0.0 && num(c, "tract_median_ms") > 0.0, "{c}");
    let ratio = num(c, "tract_median_ms") / num(c, "sprig_median_ms");
    assert!((num(c, "speedup") - ratio).abs() < 1e-9 * ratio.max(1.0));
    // A missing ONNX file is an error naming it.
    let e = sprig(&["bench", m.to_str().unwrap(), "--runs", "1", "--compare", "/nonexistent/x.onnx"]);
    assert_eq!(e.status.code(), Some(1));
    assert!(stderr(&e).contains("/nonexistent/x.onnx"), "{}", stderr(&e));
}

#[test]
fn vs_threads_reports_pair_speedups_end_to_end_and_per_layer() {
    let d = Tmp::new("vs_threads");
    let (_, m) = model(&d);
    let ms = m.to_str().unwrap();
    let r = json(&sprig(&["bench", ms, "--runs", "6", "--warmup", "1", "--json", "--threads", "2", "--vs-threads", "1"]));
    let v = &r["vs_threads"];
    assert_eq!(v["threads"], 1, "{v}");
    assert_eq!(r["threads"], 2);
    for key in ["speedup", "speedup_p10", "speedup_p90", "median_ms", "host_ceiling", "host_ceiling_p10", "host_ceiling_p90", "host_stream_ceiling"] {
        assert!(num(v, key).is_finite() && num(v, key) > 0.0, "{key}: {v}");
    }
    for k in ["speedup", "host_ceiling"] {
        assert!(num(v, &format!("{k}_p10")) <= num(v, k) && num(v, k) <= num(v, &format!("{k}_p90")), "{v}");
    }
    let layers = r["layers"].as_array().unwrap();
    assert!(layers.iter().filter(|l| l["median_ms"].as_f64().unwrap() > 0.0).all(|l| l["speedup_vs_threads"].as_f64().is_some_and(|x| x > 0.0)), "{r}");
    // The table shows the column; without the option neither the field nor the column appears.
    let out = stdout(&sprig(&["bench", ms, "--runs", "2", "--warmup", "1", "--threads", "2", "--vs-threads", "1"]));
    assert!(out.contains("vs 1 thr") && out.contains("2 thread(s) vs 1:") && out.contains("host ceiling in the same seconds"), "{out}");
    let plain = json(&sprig(&["bench", ms, "--runs", "2", "--warmup", "1", "--json"]));
    assert!(plain.get("vs_threads").is_none() && plain["layers"][0].get("speedup_vs_threads").is_none(), "{plain}");
    let e = sprig(&["bench", ms, "--runs", "1", "--vs-threads", "0"]);
    assert_eq!(e.status.code(), Some(1));
    assert!(stderr(&e).contains("--vs-threads"), "{}", stderr(&e));
}

#[test]
fn sparse_layers_name_their_table_kernel() {
    let d = Tmp::new("sparse_kernels");
    let opts = SynthOptions { sparsity: 0.9, block_rows: 4, resolution: 32, width: 0.25, classes: 10, ..SynthOptions::default() };
    let conv = convert_bytes(&synth::build(Arch::MobileNetV1, &opts).unwrap(), &ConvertOptions::default()).unwrap();
    let m = d.join("m90.sprig");
    std::fs::write(&m, &conv.bytes).unwrap();
    let r = json(&sprig(&["bench", m.to_str().unwrap(), "--runs", "1", "--warmup", "1", "--json"]));
    let sparse: Vec<_> = r["layers"].as_array().unwrap().iter().filter(|l| l["encoding"] == "block-sparse").collect();
    assert!(!sparse.is_empty(), "the 90 % model has sparse layers: {r}");
    let inspected = inspect(&m);
    for l in sparse {
        let k = l["kernel"].as_str().unwrap();
        // A table row (e.g. spmm_f32_4x1_n24_avx2), the one inspect reports for the layer too.
        assert!(k.starts_with("spmm_f32_4x1_") || k.starts_with("spmv_f32_4x1_"), "{l}");
        let same = inspected["layers"].as_array().unwrap().iter().find(|x| x["name"] == l["name"]).unwrap();
        assert_eq!(same["weight"]["kernel"].as_str(), Some(k), "{same}");
    }
    // inspect reads sparsity, block, nnz and the skipped work back from the file; the converter's
    // report computed them from the ONNX weights before encoding. They must agree on every weight
    // layer, sparse or dense.
    let mut checked = 0;
    for rl in conv.report.layers.iter().filter(|rl| rl.sparsity.is_some()) {
        let w = &inspected["layers"].as_array().unwrap().iter().find(|x| x["name"] == rl.name.as_str()).unwrap_or_else(|| panic!("{} not in inspect", rl.name))["weight"];
        let name = &rl.name;
        assert_eq!(w["nnz"].as_u64(), rl.nnz.map(|n| n as u64), "{name}: {w}");
        assert_eq!(w["block"].as_str(), Some(rl.block.as_str()), "{name}: {w}");
        let (s_file, s_conv) = (w["sparsity"].as_f64().unwrap(), rl.sparsity.unwrap());
        assert!((s_file - s_conv).abs() < 1e-9, "{name}: sparsity {s_file} in the file, {s_conv} converted");
        let saved = w["skipped"].as_f64().unwrap() * rl.flops as f64;
        assert!((saved - rl.flops_saved as f64).abs() <= 0.01 * rl.flops as f64, "{name}: skipped {saved} FLOPs, converter {}", rl.flops_saved);
        checked += 1;
    }
    assert!(checked >= 10, "weight layers checked: {checked}");
}

#[test]
fn isa_choice_is_honoured_or_refused() {
    let d = Tmp::new("isa");
    let (_, m) = model(&d);
    for isa in sprig_runtime::Isa::ALL {
        let o = sprig(&["bench", m.to_str().unwrap(), "--runs", "1", "--warmup", "1", "--json", "--isa", isa.name()]);
        if isa.available() {
            assert_eq!(json(&o)["isa"], isa.name());
        } else {
            println!("SKIPPED: running --isa {} (this CPU lacks it); checking it is refused", isa.name());
            assert_eq!(o.status.code(), Some(1), "{}", stdout(&o));
            assert!(stderr(&o).contains("lacks"), "{}", stderr(&o));
        }
    }
}

#[test]
fn bad_inputs_are_errors_naming_what_is_wrong() {
    let d = Tmp::new("errors");
    let (_, m) = model(&d);
    let ms = m.to_str().unwrap();
    // No such model file.
    let o = sprig(&["bench", "/nonexistent/m.sprig"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/m.sprig"));
    // Not a .sprig file.
    let junk = d.join("junk.sprig");
    std::fs::write(&junk, b"not a model").unwrap();
    let o = sprig(&["bench", junk.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("junk.sprig"));
    // Unknown input name.
    let o = sprig(&["bench", ms, "--input", "nosuch=x.npy"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no input named 'nosuch'"), "{}", stderr(&o));
    // Wrong shape.
    let bad = d.join("bad.npy");
    npy::write(&bad, &OwnedTensor { name: "x".into(), shape: vec![1, 3, 8, 8], data: OwnedData::F32(vec![0.0; 192]) }).unwrap();
    let o = sprig(&["bench", ms, "--input", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("bad.npy") && stderr(&o).contains("shape"), "{}", stderr(&o));
    // Wrong dtype.
    let badt = d.join("badt.npy");
    npy::write(&badt, &OwnedTensor { name: "x".into(), shape: vec![1, 3, 32, 32], data: OwnedData::I64(vec![0; 3072]) }).unwrap();
    let o = sprig(&["bench", ms, "--input", badt.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("badt.npy"), "{}", stderr(&o));
    // A missing file.
    let o = sprig(&["bench", ms, "--input", "/nonexistent/in.npy"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/in.npy"), "{}", stderr(&o));
    // --runs 0.
    let o = sprig(&["bench", ms, "--runs", "0"]);
    assert_eq!(o.status.code(), Some(1));
    // A correct input file is accepted.
    let good = d.join("good.npy");
    npy::write(&good, &OwnedTensor { name: "x".into(), shape: vec![1, 3, 32, 32], data: OwnedData::F32(vec![0.5; 3072]) }).unwrap();
    let o = sprig(&["bench", ms, "--runs", "1", "--warmup", "1", "--input", good.to_str().unwrap(), "--json"]);
    assert_eq!(json(&o)["runs"], 1);
}

/// The only `.npy` file in `dir`, as f32 (`sprig run` names it after the model's output).
fn only_npy(dir: &Path) -> (Vec<u64>, Vec<f32>) {
    let files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).filter(|p| p.extension().is_some_and(|e| e == "npy")).collect();
    assert_eq!(files.len(), 1, "one output file in {}: {files:?}", dir.display());
    read_npy_f32(&files[0])
}

#[test]
fn run_on_two_threads_matches_one_thread_and_tract() {
    let d = Tmp::new("run_threads");
    // Large enough that the pointwise, depthwise and stem layers are split (each is well above
    // the pool's minimum work per split), 90 % 4x1 so that both SpMM and dense GEMM run.
    let (o, m) = model_with(&d, SynthOptions { sparsity: 0.9, block_rows: 4, resolution: 96, width: 0.5, classes: 10, ..SynthOptions::default() });
    let x: Vec<f32> = (0..3 * 96 * 96).map(|i| ((i * 7919 % 1013) as f32 / 1013.0 - 0.5) * 4.0).collect();
    let input = OwnedTensor { name: "input".into(), shape: vec![1, 3, 96, 96], data: OwnedData::F32(x) };
    let xp = d.join("x.npy");
    npy::write(&xp, &input).unwrap();

    let run = |threads: &str| {
        let out = d.join(format!("out{threads}"));
        let o = sprig(&["run", m.to_str().unwrap(), "--input", xp.to_str().unwrap(), "--output-dir", out.to_str().unwrap(), "--threads", threads]);
        assert!(o.status.success(), "--threads {threads}: {}", stderr(&o));
        (stdout(&o), only_npy(&out))
    };
    let (s1, (shape1, y1)) = run("1");
    let (s2, (shape2, y2)) = run("2");
    assert!(s1.contains("on 1 thread,"), "{s1}");
    assert!(s2.contains("on 2 threads,"), "{s2}");
    assert_eq!(shape1, vec![1, 10]);
    assert_eq!(shape1, shape2);

    let reference = sprig_tools::verify::run_tract(&o, &[], std::slice::from_ref(&input)).unwrap();
    let r = reference[0].data.to_f64();
    let scale = r.iter().fold(0f64, |a, v| a.max(v.abs()));
    assert!(scale > 1e-3, "the logits are all near zero ({r:?}): the comparison would prove nothing");
    for (i, ((&a, &b), &t)) in y1.iter().zip(&y2).zip(&r).enumerate() {
        // Splits change no summation order in these kernels, but allow rounding anyway.
        assert!((a - b).abs() as f64 <= 1e-5 * scale, "logit {i}: 1 thread {a}, 2 threads {b}");
        assert!((b as f64 - t).abs() <= 1e-4 * scale, "logit {i}: 2 threads {b}, tract {t}");
    }

    let o = sprig(&["run", m.to_str().unwrap(), "--input", xp.to_str().unwrap(), "--output-dir", d.to_str().unwrap(), "--threads", "0"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--threads must be at least 1"), "{}", stderr(&o));
}
