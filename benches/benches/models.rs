//! End-to-end model latency, sprig against tract in the same group: `model/{arch}_{size}@{sparsity}x{block}`
//! with the functions `sprig` and `tract` (tract: ONNX `into_optimized`, one thread, same inputs).
//!
//! Models are synthesized (`sprig_tools::synth::build`, deterministic), converted in-process, and
//! fed the same random inputs (`sprig_tools::verify::random_inputs`, seed 0):
//! - MobileNetV1 with pointwise convs and classifier pruned to 0, 50, 70, 90, 95 %, unstructured
//!   (x1) and in 4x1 blocks (x4);
//! - MobileNetV2 and a ResNet-18-like net, dense and 90 % in 4x1 blocks;
//! - a BERT-like encoder at batch 1, sequence 128, dense and 90 % in 4x1 blocks.
//!
//! By default the conv nets run at 96x96 (width 1.0) and BERT has 2 layers of hidden 256 so that
//! `cargo bench -p sprig-benches --bench models` takes a few minutes on 2 cores. `SPRIG_BENCH_FULL=1`
//! selects the real sizes (224x224; BERT-base, 12 layers of hidden 768), which take much longer.
//! Throughput is in FLOPs of the dense model (as `sprig inspect` counts them), so sparse variants
//! show as "effective" FLOP/s.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sprig_runtime::{AlignedBuf, Model, Session, Tensor, TensorMut};
use sprig_tools::convert::{convert_bytes, ConvertOptions};
use sprig_tools::synth::{self, Arch, SynthOptions};
use sprig_tools::tensor::{OwnedData, OwnedTensor};
use sprig_tools::verify::{random_inputs, TractRunner};
use std::time::Duration;

struct Case {
    arch: Arch,
    sparsity: f32,
    block: usize,
}

fn cases() -> Vec<Case> {
    let mut v = vec![Case { arch: Arch::MobileNetV1, sparsity: 0.0, block: 1 }];
    for block in [1, 4] {
        for sparsity in [0.5, 0.7, 0.9, 0.95] {
            v.push(Case { arch: Arch::MobileNetV1, sparsity, block });
        }
    }
    for arch in [Arch::MobileNetV2, Arch::ResNet18, Arch::Bert] {
        v.push(Case { arch, sparsity: 0.0, block: 1 });
        v.push(Case { arch, sparsity: 0.9, block: 4 });
    }
    v
}

fn full_size() -> bool {
    std::env::var("SPRIG_BENCH_FULL").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn options(c: &Case, full: bool) -> SynthOptions {
    let base = SynthOptions { sparsity: c.sparsity, block_rows: c.block, ..SynthOptions::default() };
    match (c.arch, full) {
        (_, true) => base,
        (Arch::Bert, false) => SynthOptions { hidden: 256, layers: 2, heads: 4, vocab: 8000, ..base },
        (_, false) => SynthOptions { resolution: 96, ..base },
    }
}

/// `mobilenet_v1_96@0.9x4`, `bert_l2h256s128@0x1`.
fn group_name(c: &Case, o: &SynthOptions) -> String {
    let size = match c.arch {
        Arch::Bert => format!("l{}h{}s{}", o.layers, o.hidden, o.seq_len),
        _ => o.resolution.to_string(),
    };
    format!("model/{}_{size}@{}x{}", c.arch.name(), c.sparsity, c.block)
}

fn bench_models(cr: &mut Criterion) {
    let full = full_size();
    let dir = std::env::temp_dir().join(format!("sprig-bench-models-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for c in cases() {
        let o = options(&c, full);
        let name = group_name(&c, &o);
        let onnx = synth::build(c.arch, &o).expect("synthesize");
        let conv = convert_bytes(&onnx, &ConvertOptions::default()).expect("convert");
        let model = Model::from_vec(&conv.bytes).expect("load");
        let inputs = random_inputs(&model, 0);
        let onnx_path = dir.join("model.onnx");
        std::fs::write(&onnx_path, &onnx).expect("write onnx");
        let tract = TractRunner::load(&onnx_path, &[], &inputs).expect("tract loads the model");
        let flops: u64 = conv.report.layers.iter().map(|l| l.flops).sum();

        let mut group = cr.benchmark_group(name);
        group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(2));
        if flops > 0 {
            group.throughput(Throughput::Elements(flops));
        }

        let mut arena = AlignedBuf::new(model.arena_size());
        let mut session = Session::new(&model, arena.as_mut_slice()).expect("session");
        let mut outs: Vec<OwnedTensor> = (0..model.num_outputs())
            .map(|i| {
                let info = model.output(i).expect("output");
                let data = OwnedData::zeros(info.dtype, info.shape.numel()).expect("activation dtype");
                OwnedTensor { name: info.name.to_string(), shape: info.shape.dims().to_vec(), data }
            })
            .collect();
        let ins: Vec<Tensor> = inputs.iter().map(|t| Tensor { shape: &t.shape, data: t.data.as_data() }).collect();
        group.bench_function("sprig", |b| {
            b.iter(|| {
                let mut views: Vec<TensorMut> = outs.iter_mut().map(|t| t.data.as_tensor_mut()).collect();
                session.run(&ins, &mut views).expect("sprig runs")
            })
        });
        group.bench_function("tract", |b| b.iter(|| tract.run(&inputs).expect("tract runs")));
        group.finish();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, bench_models);
criterion_main!(benches);
