//! `--pointwise-panels`: dense f32 pointwise conv weights of depth >= 256 stored in 64-channel
//! panels (`Encoding::Panel64`, format 1.2). The converted model must match tract within 1e-4
//! (max_rel) on every ISA pair this CPU runs and on two threads; the converter must mark exactly
//! the eligible layers; the loader must reject a malformed panel64 value and one in an older file.
mod convert_common;
use convert_common::*;
use sprig_runtime::format::{Parsed, ValueRecord};
use sprig_runtime::tensor::Encoding;
use sprig_runtime::{AlignedBuf, Error, Isa, Isas, Model, Session, Tensor, TensorMut};
use sprig_tools::convert::{convert_bytes, ConvertOptions, PANEL64_MIN_K};
use sprig_tools::synth::{build, Arch, SynthOptions};

/// A MobileNetV1 at width 0.5 and 64x64: pointwise layers of depth 32 to 512, so some are
/// stored in panels and some not; the last ones end on 2x2 pixels (fewer than the 6-pixel tile).
fn mobilenet() -> Vec<u8> {
    build(Arch::MobileNetV1, &SynthOptions { resolution: 64, width: 0.5, classes: 10, seed: 5, ..Default::default() }).unwrap()
}

fn run(bytes: &[u8], isas: Isas, threads: usize, x: &[f32], shape: &[usize]) -> Vec<f32> {
    let buf = AlignedBuf::from_bytes(bytes);
    let model = Model::from_bytes(buf.as_slice()).expect("converted model loads");
    let mut arena = AlignedBuf::new(model.arena_size_for_threads(threads).expect("arena size"));
    let mut sess = Session::with_threads(&model, arena.as_mut_slice(), isas, threads).expect("session");
    let mut y = vec![f32::NAN; model.output(0).unwrap().shape.numel()];
    sess.run(&[Tensor::f32(x, shape)], &mut [TensorMut::F32(&mut y)]).expect("sprig run");
    y
}

#[test]
fn panels_match_tract_on_every_isa_pair_and_two_threads() {
    let onnx = mobilenet();
    let opts = ConvertOptions { pointwise_panels: true, ..Default::default() };
    let c = convert_bytes(&onnx, &opts).unwrap();
    let plain = convert_bytes(&onnx, &ConvertOptions::default()).unwrap();
    // Exactly the pointwise layers of depth >= 256 are stored in panels.
    let mut marked = 0;
    for (l, p) in c.report.layers.iter().zip(&plain.report.layers) {
        let depth = l.input_shapes.first().and_then(|s| s.get(1)).copied().unwrap_or(0);
        let pointwise = l.name.ends_with(".pw");
        let want = pointwise && depth >= PANEL64_MIN_K;
        assert_eq!(l.encoding == "panel64", want, "layer {} (depth {depth}): encoding {}", l.name, l.encoding);
        assert_ne!(p.encoding, "panel64", "without the option, layer {} is not stored in panels", l.name);
        if !want {
            assert_eq!(l.encoding, p.encoding, "layer {} is not eligible and keeps its encoding", l.name);
        }
        marked += want as usize;
    }
    assert!(marked >= 2, "the test model has {marked} pointwise layers of depth >= {PANEL64_MIN_K}");
    assert_eq!(Model::from_vec(&c.bytes).unwrap().parsed().header.minor, 2, "panel64 files are format 1.2");
    assert_eq!(Model::from_vec(&plain.bytes).unwrap().parsed().header.minor, 0, "f32 files without panels stay 1.0");

    let shape = [1, 3, 64, 64];
    let x = rand_vec(shape.iter().product(), 11);
    let reference = run_tract(&onnx, &[(x.clone(), shape.to_vec())]);
    let available: Vec<Isa> = Isa::ALL.into_iter().filter(|i| i.available()).collect();
    for &dense in &available {
        for &sparse in &available {
            let y = run(&c.bytes, Isas { dense, sparse }, 1, &x, &shape);
            assert_close(&[y], &reference, 1e-4);
        }
    }
    for isa in Isa::ALL.into_iter().filter(|i| !i.available()) {
        println!("SKIPPED: panel64 model on {} (CPU lacks it)", isa.name());
    }
    let y = run(&c.bytes, Isas::detect(), 2, &x, &shape);
    assert_close(&[y], &reference, 1e-4);
}

#[test]
#[allow(clippy::result_large_err)] // sprig_runtime::Error carries names inline
fn loader_rejects_bad_panel64_values() {
    let onnx = mobilenet();
    let c = convert_bytes(&onnx, &ConvertOptions { pointwise_panels: true, ..Default::default() }).unwrap();
    let buf = AlignedBuf::from_bytes(&c.bytes);
    let p = Parsed::parse(buf.as_slice()).unwrap();
    let vi = (0..p.values.len()).find(|&i| p.values[i].encoding == Encoding::Panel64 as u8).expect("a panel64 value");
    let base = p.values.as_ptr() as usize - buf.as_slice().as_ptr() as usize;
    let nbytes_at = base + vi * std::mem::size_of::<ValueRecord>() + std::mem::offset_of!(ValueRecord, nbytes);
    let load = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = c.bytes.clone();
        f(&mut b);
        Model::from_vec(&b).map(|_| ())
    };
    // One float short of the panel layout's size.
    let r = load(&|b| {
        let n = u64::from_le_bytes(b[nbytes_at..nbytes_at + 8].try_into().unwrap()) - 4;
        b[nbytes_at..nbytes_at + 8].copy_from_slice(&n.to_le_bytes());
    });
    assert!(matches!(r, Err(Error::BadValue { index, .. }) if index as usize == vi), "short panel64 value: {r:?}");
    // The same file stamped 1.1: panel64 needs 1.2.
    let r = load(&|b| b[10..12].copy_from_slice(&1u16.to_le_bytes()));
    assert!(matches!(r, Err(Error::BadValue { index, .. }) if index as usize == vi), "panel64 in a 1.1 file: {r:?}");
}
