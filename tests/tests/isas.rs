//! A session's kernel families and their ISAs: `Session::new` runs the dense kernels on
//! `Isa::detect()` and the sparse ones on `Isa::detect_sparse()` (AVX-512 where the CPU has it);
//! an explicit ISA runs every family on it; an explicit `Isas` names each family's. Every
//! combination this CPU can run gives the scalar session's outputs within 1e-4 relative
//! (max |a - b| / max |reference|) on sparse conv and transformer models, whose sparse layers
//! take the SpMM (by columns and by block rows) and the transposed-MatMul paths.
use sprig_runtime::{AlignedBuf, Isa, Isas, Model, Session, Tensor};
use sprig_tests::{empty_outputs, max_rel, random_inputs};
use sprig_tools::convert::{convert_bytes, ConvertOptions};
use sprig_tools::synth::{build, Arch, SynthOptions};
use sprig_tools::tensor::OwnedTensor;

/// Runs `model` once on a session with its dense kernels on `dense` and sparse ones on `sparse`.
fn run(model: &Model, inputs: &[OwnedTensor], dense: Isa, sparse: Isa) -> (Isas, Vec<OwnedTensor>) {
    let mut arena = AlignedBuf::new(model.arena_size());
    let mut session = Session::with_isa(model, arena.as_mut_slice(), Isas { dense, sparse }).unwrap();
    let mut outs = empty_outputs(model).unwrap();
    let ins: Vec<Tensor> = inputs.iter().map(|t| Tensor { shape: &t.shape, data: t.data.as_data() }).collect();
    let mut views: Vec<_> = outs.iter_mut().map(|t| t.data.as_tensor_mut()).collect();
    session.run(&ins, &mut views).unwrap();
    drop(views);
    (session.isas(), outs)
}

/// An ISA this CPU cannot run (there is always one: NEON on x86_64, AVX2 elsewhere).
fn missing_isa() -> Isa {
    *Isa::ALL.iter().find(|i| !i.available()).expect("no CPU runs every ISA")
}

#[test]
fn sessions_pick_an_isa_per_family() {
    let onnx = build(Arch::MobileNetV1, &SynthOptions { sparsity: 0.9, block_rows: 4, resolution: 32, width: 0.25, classes: 10, seed: 3, ..Default::default() }).unwrap();
    let conv = convert_bytes(&onnx, &ConvertOptions::default()).unwrap();
    let model = Model::from_vec(&conv.bytes).unwrap();
    let mut arena = AlignedBuf::new(model.arena_size());

    let s = Session::new(&model, arena.as_mut_slice()).unwrap();
    assert_eq!((s.isa(), s.sparse_isa()), (Isa::detect(), Isa::detect_sparse()));
    assert_eq!(s.isas(), Isas::detect());
    if std::env::var_os("SPRIG_ISA").is_none() && Isa::Avx512.available() {
        assert_eq!(s.sparse_isa(), Isa::Avx512, "a CPU with AVX-512 runs the sparse kernels on it by default");
    }
    drop(s);

    for isa in Isa::ALL.into_iter().filter(|i| i.available()) {
        let s = Session::with_isa(&model, arena.as_mut_slice(), isa).unwrap();
        assert_eq!(s.isas(), Isas::all(isa), "an explicit ISA runs every family on it");
    }
    let s = Session::with_isa(&model, arena.as_mut_slice(), Isas { dense: Isa::detect(), sparse: missing_isa() }).unwrap();
    assert_eq!((s.isa(), s.sparse_isa()), (Isa::detect(), Isa::Scalar), "a sparse ISA the CPU lacks falls back to scalar");
    assert_eq!(Isas { dense: Isa::Avx2, sparse: Isa::Avx512 }.to_string(), "avx2 (sparse: avx512)");
    assert_eq!(Isas::all(Isa::Neon).to_string(), "neon");
    // Depthwise convs keep the dense ISA unless the pair is AVX2 dense / AVX-512 sparse, where
    // mid-width rows take AVX-512 and narrow and wide ones stay on AVX2.
    for isa in Isa::ALL {
        assert!((1..=256).all(|ow| Isas::all(isa).depthwise(ow) == isa), "{}", isa.name());
    }
    let auto = Isas { dense: Isa::Avx2, sparse: Isa::Avx512 };
    assert_eq!((auto.depthwise(7), auto.depthwise(14), auto.depthwise(28), auto.depthwise(112)), (Isa::Avx2, Isa::Avx512, Isa::Avx512, Isa::Avx2));
}

fn check(what: &str, arch: Arch, o: &SynthOptions) {
    let onnx = build(arch, o).unwrap();
    let conv = convert_bytes(&onnx, &ConvertOptions::default()).unwrap_or_else(|e| panic!("{what}: conversion failed: {e:?}"));
    let model = Model::from_vec(&conv.bytes).unwrap();
    let sparse_layers = conv.report.layers.iter().filter(|l| l.encoding.contains("sparse")).count();
    assert!(sparse_layers > 0, "{what}: no sparse layer to test");
    let inputs = random_inputs(&model, 5, o.vocab);
    let (_, reference) = run(&model, &inputs, Isa::Scalar, Isa::Scalar);
    let available: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.available()).collect();
    for &dense in &available {
        for &sparse in &available {
            let (isas, got) = run(&model, &inputs, dense, sparse);
            assert_eq!(isas, Isas { dense, sparse });
            for (g, r) in got.iter().zip(&reference) {
                let e = max_rel(g, r).unwrap();
                assert!(e <= 1e-4, "{what}, {isas}: output '{}' is {e:e} (relative) from the scalar session", g.name);
            }
        }
    }
    for isa in Isa::ALL.into_iter().filter(|i| !i.available()) {
        println!("SKIPPED: {what} on {} (CPU lacks it)", isa.name());
    }
}

#[test]
fn mobilenet_v1_sparse_on_every_isa_pair() {
    let o = SynthOptions { sparsity: 0.9, block_rows: 4, resolution: 64, width: 0.5, classes: 100, seed: 7, ..Default::default() };
    check("MobileNetV1 90 % 4x1", Arch::MobileNetV1, &o);
}

#[test]
fn bert_sparse_on_every_isa_pair() {
    let o = SynthOptions { sparsity: 0.9, block_rows: 4, seq_len: 32, hidden: 128, layers: 2, heads: 4, vocab: 100, seed: 7, ..Default::default() };
    check("BERT 90 % 4x1", Arch::Bert, &o);
}
