//! What the fuzz targets do with their bytes, and the properties they check. Shared by the
//! cargo-fuzz targets (`fuzz_targets/`) and the regression test
//! `tests/tests/hostile_regressions.rs` (which includes this file by path), so a kept crasher
//! replays through exactly this code.
//!
//! Properties (a violation panics, which libFuzzer reports as a crash):
//! - loading, converting and running never panic, hang or read out of bounds (the sanitizer and
//!   libFuzzer's timeout catch the last two);
//! - a model the converter returns loads in the runtime (the converter promises this);
//! - running a model twice in one session gives bit-identical outputs (the second run starts
//!   from the first run's dirty arena, so an op that reads memory it did not write shows up).

use sprig_runtime::{AlignedBuf, DType, Model, Session, Tensor, TensorData, TensorMut};

/// Largest arena a fuzzed model may ask for; above it the run is skipped (a host would refuse it
/// too, and a valid file may legitimately ask for terabytes).
pub const MAX_ARENA: usize = 64 << 20;

/// Largest number of output elements × nodes a fuzzed model may have before the run is skipped:
/// a small file can describe a valid model whose run takes minutes (a 64 MiB arena of huge
/// convolutions), which is a slow model, not a bug. 2^23: at 2^26 a linear 4-D Resize (16 taps
/// per output element) ran 15 s of CPU under ASan and tripped libFuzzer's timeout (finding 4).
pub const MAX_WORK: u128 = 1 << 23;

/// Target `sprig_parse_run`.
pub fn parse_run(data: &[u8]) {
    let buf = AlignedBuf::from_bytes(data);
    if let Ok(model) = Model::from_bytes(buf.as_slice()) {
        run_twice(&model, seed_of(data));
    }
}

/// Target `onnx_convert`.
pub fn convert_run(data: &[u8]) {
    let opts = sprig_tools::convert::ConvertOptions::default();
    if let Ok(conv) = sprig_tools::convert::convert_bytes(data, &opts) {
        let buf = AlignedBuf::from_bytes(&conv.bytes);
        match Model::from_bytes(buf.as_slice()) {
            Ok(model) => run_twice(&model, seed_of(data)),
            Err(e) => panic!("the converter returned a model that does not load: {e}"),
        }
    }
}

/// FNV-1a over the bytes: the seed of the inputs.
fn seed_of(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x0100_0000_01b3))
}

/// Input buffers owned by the harness, one variant per dtype the runtime takes as input.
enum Buf {
    F32(Vec<f32>),
    I64(Vec<i64>),
    I32(Vec<i32>),
    U8(Vec<u8>),
    Bool(Vec<bool>),
}

impl Buf {
    fn data(&self) -> TensorData<'_> {
        match self {
            Buf::F32(v) => TensorData::F32(v),
            Buf::I64(v) => TensorData::I64(v),
            Buf::I32(v) => TensorData::I32(v),
            Buf::U8(v) => TensorData::U8(v),
            Buf::Bool(v) => TensorData::Bool(v),
        }
    }
    fn out(&mut self) -> TensorMut<'_> {
        match self {
            Buf::F32(v) => TensorMut::F32(v),
            Buf::I64(v) => TensorMut::I64(v),
            Buf::I32(v) => TensorMut::I32(v),
            Buf::U8(v) => TensorMut::U8(v),
            // Output bools arrive as bytes; Buf::Bool is only used for inputs.
            Buf::Bool(_) => unreachable!("outputs use U8 for bool"),
        }
    }
    fn bits(&self) -> Vec<u64> {
        match self {
            Buf::F32(v) => v.iter().map(|x| x.to_bits() as u64).collect(),
            Buf::I64(v) => v.iter().map(|&x| x as u64).collect(),
            Buf::I32(v) => v.iter().map(|&x| x as u32 as u64).collect(),
            Buf::U8(v) => v.iter().map(|&x| x as u64).collect(),
            Buf::Bool(v) => v.iter().map(|&x| x as u64).collect(),
        }
    }
}

/// xorshift64*: deterministic input values.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn input_buf(dtype: DType, n: usize, rng: &mut Rng) -> Buf {
    match dtype {
        DType::F32 => Buf::F32((0..n).map(|_| (rng.next() >> 40) as f32 / (1u64 << 22) as f32 - 2.0).collect()),
        // Small integers, some negative and some past any small axis: Gather indices, token ids.
        DType::I64 => Buf::I64((0..n).map(|_| (rng.next() % 24) as i64 - 4).collect()),
        DType::I32 => Buf::I32((0..n).map(|_| (rng.next() % 24) as i32 - 4).collect()),
        DType::U8 => Buf::U8((0..n).map(|_| rng.next() as u8).collect()),
        DType::Bool => Buf::Bool((0..n).map(|_| rng.next() & 1 == 1).collect()),
        // Not an input dtype of `run`: offer bytes, which `run` must reject with a typed error.
        DType::F16 => Buf::U8(vec![0; n * 2]),
    }
}

fn output_buf(dtype: DType, n: usize) -> Buf {
    match dtype {
        DType::F32 => Buf::F32(vec![0.0; n]),
        DType::I64 => Buf::I64(vec![0; n]),
        DType::I32 => Buf::I32(vec![0; n]),
        DType::U8 | DType::Bool => Buf::U8(vec![0; n]),
        DType::F16 => Buf::U8(vec![0; n * 2]),
    }
}

/// Runs `model` twice in one session on the same inputs; both runs must agree bit for bit.
pub fn run_twice(model: &Model, seed: u64) {
    let arena_size = model.arena_size();
    if arena_size > MAX_ARENA {
        return;
    }
    let work: u128 = (0..model.num_nodes())
        .filter_map(|i| model.node(i))
        .map(|n| n.outputs.iter().filter_map(|&v| model.value(v)).map(|v| v.shape.numel() as u128).sum::<u128>().max(1))
        .sum();
    if work > MAX_WORK {
        return;
    }
    let mut rng = Rng(seed | 1);
    let inputs: Vec<(Vec<usize>, Buf)> = (0..model.num_inputs())
        .map(|i| {
            let io = model.input(i).expect("index in range");
            (io.shape.dims().to_vec(), input_buf(io.dtype, io.shape.numel(), &mut rng))
        })
        .collect();
    let tensors: Vec<Tensor> = inputs.iter().map(|(s, b)| Tensor { shape: s, data: b.data() }).collect();
    let new_outputs = || -> Vec<Buf> {
        (0..model.num_outputs())
            .map(|i| {
                let io = model.output(i).expect("index in range");
                output_buf(io.dtype, io.shape.numel())
            })
            .collect()
    };
    let mut arena = AlignedBuf::new(arena_size);
    let mut session = match Session::new(model, arena.as_mut_slice()) {
        Ok(s) => s,
        Err(e) => panic!("a loaded model with an arena of its stated size gives no session: {e}"),
    };
    let mut first = new_outputs();
    let r1 = session.run(&tensors, &mut first.iter_mut().map(Buf::out).collect::<Vec<_>>());
    let mut second = new_outputs();
    let r2 = session.run(&tensors, &mut second.iter_mut().map(Buf::out).collect::<Vec<_>>());
    match (r1, r2) {
        (Ok(()), Ok(())) => {
            for (k, (a, b)) in first.iter().zip(&second).enumerate() {
                assert!(a.bits() == b.bits(), "output #{k} differs between two runs on the same inputs");
            }
        }
        (Err(a), Err(b)) => assert_eq!(a, b, "two runs on the same inputs fail differently"),
        (a, b) => panic!("two runs on the same inputs: {a:?} then {b:?}"),
    }
}
