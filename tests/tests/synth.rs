//! The synthesizers produce valid ONNX: tract (the independent reference) loads and runs every
//! architecture in every style, outputs are finite and O(1), and pruning hits the requested
//! sparsity in the requested block shape.
use prost::Message;
use sprig_tests::{random_tensors, run_tract, small_options, synth_input_specs};
use sprig_tools::synth::{build, Arch, SynthOptions};
use tract_onnx::pb::ModelProto;

fn check_runs(arch: Arch, o: &SynthOptions) {
    let onnx = build(arch, o).unwrap();
    let inputs = random_tensors(&synth_input_specs(arch, o), 1, o.vocab);
    let outs = run_tract(&onnx, &inputs).unwrap_or_else(|e| panic!("{arch:?} {o:?}: tract failed: {e:?}"));
    assert_eq!(outs.len(), 1);
    let v = outs[0].data.to_f64();
    assert!(v.iter().all(|x| x.is_finite()), "{arch:?}: non-finite output");
    let rms = (v.iter().map(|x| x * x).sum::<f64>() / v.len() as f64).sqrt();
    assert!((1e-2..1e3).contains(&rms), "{arch:?} sparsity {}: output rms {rms} is not O(1)", o.sparsity);
}

#[test]
fn every_arch_and_style_runs_in_tract() {
    for arch in Arch::ALL {
        for sparsity in [0.0, 0.9] {
            check_runs(arch, &small_options(arch, sparsity, 4));
        }
        let styled = SynthOptions { paddle_constants: true, pytorch_shapes: true, decomposed_layernorm: true, ..small_options(arch, 0.5, 1) };
        check_runs(arch, &styled);
    }
}

/// Weight initializers of pruned layers (conv/Gemm/MatMul weights, rank >= 2), except the stem
/// conv and depthwise convs, with their dims.
fn pruned_weights(onnx: &[u8]) -> Vec<(String, Vec<i64>, Vec<f32>)> {
    let m = ModelProto::decode(onnx).unwrap();
    let g = m.graph.unwrap();
    g.initializer
        .iter()
        .filter(|t| t.name.ends_with(".weight") && t.dims.len() >= 2 && t.name != "conv1.weight" && !t.name.contains(".dw"))
        .filter(|t| !t.name.starts_with("embeddings"))
        .map(|t| {
            let v = t.raw_data.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect();
            (t.name.clone(), t.dims.clone(), v)
        })
        .collect()
}

#[test]
fn pruning_meets_sparsity_and_block_shape() {
    for arch in Arch::ALL {
        let o = small_options(arch, 0.5, 4);
        let ws = pruned_weights(&build(arch, &o).unwrap());
        assert!(!ws.is_empty());
        let (mut zeros, mut total) = (0usize, 0usize);
        for (name, dims, w) in &ws {
            zeros += w.iter().filter(|&&x| x == 0.0).count();
            total += w.len();
            // Output channels are dim 0 for conv/Gemm ([out, in...]) and dim 1 for BERT MatMul
            // ([in, out]); every zero must sit in a fully zero aligned block of 4 outputs.
            let (n_out, n_in) = if arch == Arch::Bert {
                (dims[1] as usize, dims[0] as usize)
            } else {
                (dims[0] as usize, w.len() / dims[0] as usize)
            };
            let at = |o: usize, i: usize| if arch == Arch::Bert { w[i * n_out + o] } else { w[o * n_in + i] };
            for i in 0..n_in {
                for b in (0..n_out).step_by(4) {
                    let block: Vec<f32> = (b..(b + 4).min(n_out)).map(|o| at(o, i)).collect();
                    let nz = block.iter().filter(|&&x| x == 0.0).count();
                    assert!(nz == 0 || nz == block.len(), "{name}: partially zero block at input {i}, rows {b}..");
                }
            }
        }
        let frac = zeros as f64 / total as f64;
        assert!((frac - 0.5).abs() < 0.01, "{arch:?}: sparsity {frac}");
    }
}

#[test]
fn dense_layers_stay_dense() {
    let o = small_options(Arch::MobileNetV1, 0.9, 1);
    let m = ModelProto::decode(build(Arch::MobileNetV1, &o).unwrap().as_slice()).unwrap();
    let g = m.graph.unwrap();
    for t in g.initializer.iter().filter(|t| t.name == "conv1.weight" || t.name.ends_with(".dw.weight")) {
        assert!(t.raw_data.chunks_exact(4).all(|c| f32::from_le_bytes(c.try_into().unwrap()) != 0.0), "{} was pruned", t.name);
    }
    // Every conv is followed by a BatchNormalization with non-trivial statistics.
    let convs = g.node.iter().filter(|n| n.op_type == "Conv").count();
    let bns = g.node.iter().filter(|n| n.op_type == "BatchNormalization").count();
    assert_eq!(convs, bns);
    assert_eq!(convs, 27);
}
