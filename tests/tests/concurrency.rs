//! One `Model` shared by many sessions on many threads (8, more than this machine's cores), each
//! with its own arena, gives bit-identical outputs to one session run alone on the same inputs:
//! a converted conv net and a BERT-like encoder (`sprig_tools::synth`). Also checks at compile
//! time that `Model` is `Send + Sync`.
use sprig_runtime::{AlignedBuf, Model, Session, Tensor};
use sprig_tests::{empty_outputs, random_tensors, small_options, synth_input_specs};
use sprig_tools::convert::{convert_bytes, ConvertOptions};
use sprig_tools::synth::{build, Arch, SynthOptions};
use sprig_tools::tensor::OwnedTensor;

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Model<'static>>();
    send_sync::<Model<'_>>();
};

const THREADS: usize = 8;
const RUNS_PER_THREAD: usize = 3;
const INPUT_SETS: usize = 4;

/// Runs `inputs` through an existing session (so one session serves many runs).
fn run_in(session: &mut Session, model: &Model, inputs: &[OwnedTensor]) -> Vec<OwnedTensor> {
    let mut outs = empty_outputs(model).unwrap();
    let ins: Vec<Tensor> = inputs.iter().map(|t| Tensor { shape: &t.shape, data: t.data.as_data() }).collect();
    let mut views: Vec<_> = outs.iter_mut().map(|t| t.data.as_tensor_mut()).collect();
    session.run(&ins, &mut views).unwrap();
    drop(views);
    outs
}

fn bits(ts: &[OwnedTensor]) -> Vec<Vec<u64>> {
    ts.iter().map(|t| t.data.to_f64().iter().map(|x| x.to_bits()).collect()).collect()
}

fn check_shared(arch: Arch, o: &SynthOptions) {
    let onnx = build(arch, o).unwrap();
    let conv = convert_bytes(&onnx, &ConvertOptions::default()).unwrap_or_else(|e| panic!("{arch:?}: {e:#}"));
    let bytes = AlignedBuf::from_bytes(&conv.bytes);
    let model = Model::from_bytes(bytes.as_slice()).unwrap();
    let specs = synth_input_specs(arch, o);
    let input_sets: Vec<Vec<OwnedTensor>> = (0..INPUT_SETS as u64).map(|s| random_tensors(&specs, 100 + s, o.vocab)).collect();

    // Reference: one session, alone, one input set after another.
    let mut arena = AlignedBuf::new(model.arena_size());
    let mut session = Session::new(&model, arena.as_mut_slice()).unwrap();
    let reference: Vec<Vec<Vec<u64>>> = input_sets.iter().map(|i| bits(&run_in(&mut session, &model, i))).collect();
    assert!(reference.windows(2).any(|w| w[0] != w[1]), "{arch:?}: different inputs gave identical outputs; the test would not see mix-ups");

    let model = &model;
    let (input_sets, reference) = (&input_sets, &reference);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                scope.spawn(move || {
                    let mut arena = AlignedBuf::new(model.arena_size());
                    let mut session = Session::new(model, arena.as_mut_slice()).unwrap();
                    let mut mismatches = Vec::new();
                    // Each thread walks the input sets in its own order, so threads are at
                    // different points of the graph on different data at the same time.
                    for r in 0..RUNS_PER_THREAD * INPUT_SETS {
                        let k = (t + r * (t + 1)) % INPUT_SETS;
                        if bits(&run_in(&mut session, model, &input_sets[k])) != reference[k] {
                            mismatches.push((r, k));
                        }
                    }
                    mismatches
                })
            })
            .collect();
        for (t, h) in handles.into_iter().enumerate() {
            let m = h.join().expect("a thread panicked");
            assert!(m.is_empty(), "{arch:?}: thread {t} differs from the single session on (run, input set) {m:?}");
        }
    });
}

#[test]
fn shared_model_conv_net() {
    let o = SynthOptions { resolution: 32, width: 0.25, classes: 10, sparsity: 0.5, block_rows: 4, ..Default::default() };
    check_shared(Arch::MobileNetV1, &o);
}

#[test]
fn shared_model_bert() {
    check_shared(Arch::Bert, &small_options(Arch::Bert, 0.5, 4));
}
