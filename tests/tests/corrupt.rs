//! Corrupt `.sprig` files: every damaged file must load as `Err` (a specific `Error` variant where
//! the damage predicts one) and never panic; a proptest of random byte mutations checks that load
//! returns Ok or Err and that running whatever loads does not panic either.
//!
//! Base models are written with `sprig_tools::writer`: `plain` has no nodes (its output is its
//! input; it loads with any op set), `ops` is `z = Relu(x + w)` with a constant `w`.
use proptest::prelude::*;
use sprig_runtime::format::{Header, NodeRecord, SectionEntry, SectionKind, ValueRecord, VERSION_MAJOR, VERSION_MINOR};
use sprig_runtime::tensor::{DType, Encoding};
use sprig_runtime::{Error, Model};
use sprig_tests::{add_relu_model, random_inputs, run_model};
use sprig_tools::writer::{write, FileDef, ValueDef, ValueStorage};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn arena(name: &str, offset: u64) -> ValueDef {
    ValueDef { name: name.into(), dtype: DType::F32, shape: vec![1, 4], storage: ValueStorage::Arena { offset } }
}

fn weight() -> ValueDef {
    ValueDef {
        name: "w".into(),
        dtype: DType::F32,
        shape: vec![1, 4],
        storage: ValueStorage::Const { bytes: f32_bytes(&[1.0, -2.0, 3.0, -4.0]), encoding: Encoding::Dense },
    }
}

fn plain() -> Vec<u8> {
    let def = FileDef { values: vec![arena("x", 0), weight()], nodes: vec![], inputs: vec![0], outputs: vec![0], arena_size: 64 };
    write(&def).unwrap()
}


/// Loads (and, if that succeeds, runs) under `catch_unwind`; a panic fails the test with `what`.
// The runtime's Error carries names inline (no allocation), hence its size.
#[allow(clippy::result_large_err)]
fn load(bytes: &[u8], what: &str) -> Result<(), Error> {
    let r = catch_unwind(AssertUnwindSafe(|| {
        let m = Model::from_vec(bytes)?;
        // A flipped arena_size can validly ask for terabytes; a host would refuse to allocate
        // that, and so does this harness.
        if m.arena_size() > 1 << 24 {
            return Ok(());
        }
        let inputs = random_inputs(&m, 3, 10);
        // Running may fail (e.g. ops not implemented, bad data), but must not panic.
        let _ = run_model(&m, &inputs);
        Ok(())
    }));
    match r {
        Ok(res) => res,
        Err(_) => panic!("{what}: loading or running panicked"),
    }
}

fn expect_err(bytes: &[u8], what: &str, pred: impl Fn(&Error) -> bool) {
    match load(bytes, what) {
        Ok(()) => panic!("{what}: loaded a corrupt file"),
        Err(e) => assert!(pred(&e), "{what}: unexpected error {e:?}"),
    }
}

/// Reads a record at `off` (unaligned), lets `f` change it, writes it back.
fn edit<T: bytemuck::Pod>(b: &mut [u8], off: usize, f: impl FnOnce(&mut T)) {
    let sz = std::mem::size_of::<T>();
    let mut t: T = bytemuck::pod_read_unaligned(&b[off..off + sz]);
    f(&mut t);
    b[off..off + sz].copy_from_slice(bytemuck::bytes_of(&t));
}

fn header(b: &mut [u8], f: impl FnOnce(&mut Header)) {
    edit(b, 0, f)
}

/// Section table entry `i` (the writer's order: Strings, Values, Nodes, NodeIo, Params, Inputs,
/// Outputs, Data).
fn entry(b: &mut [u8], i: usize, f: impl FnOnce(&mut SectionEntry)) {
    edit(b, 64 + 32 * i, f)
}

fn section(b: &[u8], kind: SectionKind) -> (usize, usize) {
    let n = bytemuck::pod_read_unaligned::<Header>(&b[..64]).section_count as usize;
    (0..n)
        .map(|i| bytemuck::pod_read_unaligned::<SectionEntry>(&b[64 + 32 * i..96 + 32 * i]))
        .find(|e| e.kind == kind as u32)
        .map(|e| (e.offset as usize, e.size as usize))
        .expect("section present")
}

fn value(b: &mut [u8], i: usize, f: impl FnOnce(&mut ValueRecord)) {
    let off = section(b, SectionKind::Values).0 + i * std::mem::size_of::<ValueRecord>();
    edit(b, off, f)
}

fn node(b: &mut [u8], i: usize, f: impl FnOnce(&mut NodeRecord)) {
    let off = section(b, SectionKind::Nodes).0 + i * std::mem::size_of::<NodeRecord>();
    edit(b, off, f)
}

fn mutated(base: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = base.to_vec();
    f(&mut v);
    v
}

#[test]
fn base_models_load() {
    Model::from_vec(&plain()).expect("plain model loads");
    match Model::from_vec(&add_relu_model()) {
        Ok(_) => {}
        Err(Error::Op { error: sprig_runtime::OpError::Unsupported(_), .. }) => {
            println!("SKIPPED: the Add/Relu base model: ops not implemented yet");
        }
        Err(e) => panic!("ops model does not load: {e}"),
    }
}

#[test]
fn truncation_anywhere_is_an_error() {
    for base in [plain(), add_relu_model()] {
        let mut cuts: Vec<usize> = (0..base.len()).step_by(5).collect();
        for k in [SectionKind::Strings, SectionKind::Values, SectionKind::Nodes, SectionKind::NodeIo, SectionKind::Params, SectionKind::Inputs, SectionKind::Outputs, SectionKind::Data] {
            let (o, s) = section(&base, k);
            cuts.extend([o, o + 1, o + s, (o + s).saturating_sub(1)]);
        }
        cuts.extend([0, 1, 7, 8, 63, 64, 65, 95, 96, base.len() - 1]);
        for cut in cuts.into_iter().filter(|&c| c < base.len()) {
            expect_err(&base[..cut], &format!("truncated at {cut}"), |e| matches!(e, Error::Truncated { .. }));
        }
    }
}

#[test]
fn versions_and_magic() {
    let b = plain();
    expect_err(&mutated(&b, |b| b[0] = b'X'), "bad magic", |e| *e == Error::BadMagic);
    expect_err(&mutated(&b, |b| header(b, |h| h.major = VERSION_MAJOR + 1)), "major+1", |e| matches!(e, Error::UnsupportedVersion { .. }));
    expect_err(&mutated(&b, |b| header(b, |h| h.major = VERSION_MAJOR.wrapping_sub(1))), "major-1", |e| matches!(e, Error::UnsupportedVersion { .. }));
    expect_err(&mutated(&b, |b| header(b, |h| h.minor = VERSION_MINOR + 1)), "minor+1", |e| matches!(e, Error::UnsupportedVersion { .. }));
    expect_err(&mutated(&b, |b| header(b, |h| h.header_size = 128)), "header size", |e| matches!(e, Error::Section { .. }));
    expect_err(&mutated(&b, |b| header(b, |h| h.file_size += 1)), "file size", |e| matches!(e, Error::Truncated { .. }));
    expect_err(&mutated(&b, |b| header(b, |h| h.section_count = 1000)), "section count", |e| matches!(e, Error::Section { .. }));
    expect_err(&mutated(&b, |b| header(b, |h| h.arena_size = 65)), "arena size", |e| matches!(e, Error::Section { .. }));
    expect_err(&mutated(&b, |b| header(b, |h| h.arena_size = u64::MAX - 63)), "absurd arena", |e| matches!(e, Error::Section { .. }));
}

#[test]
fn section_table_damage() {
    let b = add_relu_model();
    let oob = |e: &Error| matches!(e, Error::OutOfBounds { .. });
    let len = b.len() as u64;
    for i in 0..8 {
        expect_err(&mutated(&b, |b| entry(b, i, |e| e.offset = len + 64)), &format!("section {i} past the end"), oob);
        expect_err(&mutated(&b, |b| entry(b, i, |e| e.size = u64::MAX)), &format!("section {i} size overflows"), oob);
        expect_err(&mutated(&b, |b| entry(b, i, |e| e.size = len)), &format!("section {i} too long"), oob);
        expect_err(&mutated(&b, |b| entry(b, i, |e| e.offset = 0)), &format!("section {i} over the header"), oob);
    }
    // Overlapping sections (Values moved onto Strings).
    expect_err(
        &mutated(&b, |b| {
            let s = section(b, SectionKind::Strings).0 as u64;
            entry(b, 1, |e| e.offset = s);
        }),
        "overlap",
        oob,
    );
    expect_err(&mutated(&b, |b| entry(b, 1, |e| e.offset += 4)), "misaligned section", |e| matches!(e, Error::Misaligned { .. }));
    // A required section renamed to an unknown kind (skipped) is then missing; a duplicate kind.
    expect_err(&mutated(&b, |b| entry(b, 4, |e| e.kind = 99)), "missing Params", |e| matches!(e, Error::Section { .. }));
    expect_err(&mutated(&b, |b| entry(b, 4, |e| e.kind = SectionKind::Strings as u32)), "duplicate", |e| matches!(e, Error::Section { .. }));
    // Values section not a whole number of records.
    expect_err(&mutated(&b, |b| entry(b, 1, |e| e.size -= 8)), "partial record", |e| matches!(e, Error::Section { .. }));
}

#[test]
fn value_record_damage() {
    let b = plain();
    let bad = |e: &Error| matches!(e, Error::BadValue { .. });
    for i in 0..2 {
        expect_err(&mutated(&b, |b| value(b, i, |v| v.dtype = 77)), "unknown dtype", bad);
        expect_err(&mutated(&b, |b| value(b, i, |v| v.encoding = 9)), "unknown encoding", bad);
        expect_err(&mutated(&b, |b| value(b, i, |v| v.storage = 5)), "unknown storage", bad);
        expect_err(&mutated(&b, |b| value(b, i, |v| v.rank = 9)), "rank 9", bad);
        expect_err(&mutated(&b, |b| {
            value(b, i, |v| {
                v.rank = 8;
                v.dims = [u32::MAX; 8];
            })
        }), "dims overflow", bad);
        expect_err(&mutated(&b, |b| value(b, i, |v| v.dims[1] = 0)), "zero-sized tensor", bad);
        expect_err(&mutated(&b, |b| value(b, i, |v| v.nbytes += 4)), "nbytes", bad);
        expect_err(&mutated(&b, |b| value(b, i, |v| v.name_len = 1 << 30)), "name out of bounds", bad);
        expect_err(&mutated(&b, |b| value(b, i, |v| v.offset = u64::MAX - 3)), "offset overflow", bad);
    }
    expect_err(&mutated(&b, |b| value(b, 0, |v| v.offset = 64)), "arena range past arena", bad);
    expect_err(&mutated(&b, |b| value(b, 1, |v| v.offset += 4)), "const misaligned", bad);
    expect_err(&mutated(&b, |b| value(b, 1, |v| v.offset = 0)), "const outside data", bad);
    // Graph input pointing at a constant, or out of range.
    expect_err(&mutated(&b, |b| {
        let (o, _) = section(b, SectionKind::Inputs);
        b[o..o + 4].copy_from_slice(&1u32.to_le_bytes());
    }), "input is const", |e| matches!(e, Error::BadGraphIo { .. }));
    expect_err(&mutated(&b, |b| {
        let (o, _) = section(b, SectionKind::Outputs);
        b[o..o + 4].copy_from_slice(&7u32.to_le_bytes());
    }), "output out of range", |e| matches!(e, Error::BadGraphIo { .. }));
}

#[test]
fn node_record_damage() {
    let b = add_relu_model();
    let bad = |e: &Error| matches!(e, Error::BadNode { .. });
    expect_err(&mutated(&b, |b| node(b, 0, |n| n.op = 999)), "unknown op code", |e| matches!(e, Error::UnknownOp { op: 999, .. }));
    expect_err(&mutated(&b, |b| node(b, 0, |n| n.n_inputs = 40)), "too many inputs", bad);
    expect_err(&mutated(&b, |b| node(b, 0, |n| n.n_outputs = 0)), "no outputs", bad);
    expect_err(&mutated(&b, |b| node(b, 0, |n| n.io_start = u32::MAX - 1)), "io range", bad);
    expect_err(&mutated(&b, |b| node(b, 0, |n| n.params_off = u32::MAX - 3)), "params range", bad);
    expect_err(&mutated(&b, |b| node(b, 0, |n| n.params_len = 4096)), "params out of bounds", bad);
    expect_err(&mutated(&b, |b| node(b, 0, |n| n.name_len = 4096)), "name", bad);
    expect_err(&mutated(&b, |b| node(b, 0, |n| n.scratch_offset = 1 << 20)), "scratch outside arena", bad);
    expect_err(&mutated(&b, |b| node(b, 0, |n| n.scratch_size = u64::MAX)), "scratch overflow", bad);
    let io = |b: &mut Vec<u8>, k: usize, v: u32| {
        let (o, _) = section(b, SectionKind::NodeIo);
        b[o + 4 * k..o + 4 * k + 4].copy_from_slice(&v.to_le_bytes());
    };
    // Node 0's I/O: an index out of range, reading before writing, writing the graph input.
    expect_err(&mutated(&b, |b| io(b, 0, 50)), "io index out of range", bad);
    expect_err(&mutated(&b, |b| io(b, 0, 3)), "reads before write", bad);
    expect_err(&mutated(&b, |b| io(b, 2, 0)), "writes the graph input", bad);
    // Damage to node 1 is only reached once node 0's op (Add) passes its own check.
    if Model::from_vec(&b).is_err() {
        println!("SKIPPED: node 1 damage: the Add/Relu base model does not load yet (ops not implemented)");
        return;
    }
    expect_err(&mutated(&b, |b| node(b, 1, |n| n.op = 0)), "op code 0", |e| matches!(e, Error::UnknownOp { .. }));
    expect_err(&mutated(&b, |b| io(b, 4, 1)), "writes a constant", bad);
    expect_err(&mutated(&b, |b| io(b, 4, 2)), "output is its own input", bad);
    expect_err(&mutated(&b, |b| node(b, 1, |n| n.params_len = 4)), "params size", |e| matches!(e, Error::Op { .. }));
}

#[test]
fn byte_flips_never_panic() {
    for base in [plain(), add_relu_model()] {
        let (d_off, _) = section(&base, SectionKind::Data);
        // Every byte of the header, table and all metadata sections, with three masks.
        for pos in 0..d_off {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut b = base.clone();
                b[pos] ^= mask;
                let _ = load(&b, &format!("flip {mask:#x} at {pos}"));
            }
        }
        // Header bytes other than reserved ones are all checked: flipping them must fail.
        // (arena_size 24..32 may grow validly, flags and reserved 36..64 are not interpreted.)
        for pos in (0..24).chain(32..36) {
            let mut b = base.clone();
            b[pos] ^= 0x80;
            assert!(load(&b, "header flip").is_err(), "flip at header byte {pos} loaded");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn random_mutations_never_panic(
        muts in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in prop::option::of(any::<prop::sample::Index>()),
        which in 0usize..2,
    ) {
        let mut b = if which == 0 { plain() } else { add_relu_model() };
        for (i, v) in muts {
            let p = i.index(b.len());
            b[p] = v;
        }
        if let Some(c) = cut {
            let n = c.index(b.len());
            b.truncate(n);
        }
        let _ = load(&b, "random mutation");
    }
}

/// A converted MobileNetV1 (Conv, depthwise, pool, Gemm: real parameter blocks and a real memory
/// plan): flipping any byte of its metadata (header, table, strings, values, nodes, node I/O,
/// params, graph I/O) must load as Ok or Err, and whatever loads must run without panicking.
#[test]
fn converted_model_flips_never_panic() {
    use sprig_tools::synth::{build, Arch, SynthOptions};
    let o = SynthOptions { resolution: 32, width: 0.25, classes: 10, sparsity: 0.5, block_rows: 4, ..Default::default() };
    let onnx = build(Arch::MobileNetV1, &o).unwrap();
    let conv = sprig_tools::convert::convert_bytes(&onnx, &sprig_tools::convert::ConvertOptions::default()).expect("conversion");
    let base = conv.bytes;
    Model::from_vec(&base).expect("converted model loads");
    let (d_off, _) = section(&base, SectionKind::Data);
    let (p_off, p_len) = section(&base, SectionKind::Params);
    let (s_off, s_len) = section(&base, SectionKind::Strings);
    let mut loaded = 0;
    // Names only need sampling: every 16th byte of the Strings section.
    for pos in (0..d_off).filter(|p| !(s_off..s_off + s_len).contains(p) || p % 16 == 0) {
        // Every byte of the params (where op checks are the only guard) with two masks, others
        // with one.
        let masks: &[u8] = if (p_off..p_off + p_len).contains(&pos) { &[0x01, 0xff] } else { &[0x80] };
        for &mask in masks {
            let mut b = base.clone();
            b[pos] ^= mask;
            if load(&b, &format!("converted model: flip {mask:#x} at {pos}")).is_ok() {
                loaded += 1;
            }
        }
    }
    println!("{loaded} mutated files loaded (and ran without panicking)");
}
