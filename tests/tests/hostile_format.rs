//! Hostile `.sprig` files, the cases `corrupt.rs` does not cover: each damaged file gives the
//! expected typed `Error` variant *and* a Display that names what is wrong (the section, tensor or
//! node, by index and name); damage to block-sparse weight blobs; overlapping arena ranges
//! (outputs over scratch, inputs or each other); element counts that fit but byte sizes that
//! overflow; consistent zero-sized tensors.
//!
//! Base models are written with `sprig_tools::writer`. Expected values are hand-computed.
// The runtime's Error carries names inline (no allocation), hence its size.
#![allow(clippy::result_large_err)]
use sprig_kernels::sparse::{analyze, pack, Layout};
use sprig_runtime::format::{Header, NodeRecord, SectionEntry, SectionKind, ValueRecord, VERSION_MAJOR};
use sprig_runtime::ops::params::{MatMulParams, UnaryParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::{DType, Encoding, Shape, TensorInfo};
use sprig_runtime::{AlignedBuf, Error, Model, Session, Tensor, TensorMut};
use sprig_tests::add_relu_model;
use sprig_tools::writer::{write, FileDef, NodeDef, ValueDef, ValueStorage};
use std::panic::{catch_unwind, AssertUnwindSafe};

fn arena(name: &str, shape: &[usize], offset: u64) -> ValueDef {
    ValueDef { name: name.into(), dtype: DType::F32, shape: shape.to_vec(), storage: ValueStorage::Arena { offset } }
}


/// The weight of the sparse model: `Bᵀ` `[N=4, K=8]`, row-major, 75% zeros in 2x1 blocks.
fn sparse_weight() -> Vec<f32> {
    let mut w = vec![0.0f32; 32];
    for (r, c, v) in [(0, 1, 1.0), (1, 1, -2.0), (0, 6, 0.5), (1, 6, 4.0), (2, 3, 3.0), (3, 3, -1.0), (2, 7, 2.0), (3, 7, 0.25)] {
        w[r * 8 + c] = v;
    }
    w
}

/// `y = x · B` with `B` stored block-sparse as `Bᵀ` (logical shape `[4, 8]`), x `[2, 8]`.
fn sparse_matmul() -> Vec<u8> {
    let w = sparse_weight();
    let st = analyze(&w, 4, 8, Layout::RowBlock(2)).unwrap();
    let mut blob = vec![0u8; st.bytes];
    pack(&w, 4, 8, None, Layout::RowBlock(2), &mut blob).unwrap();
    let params = bytemuck::bytes_of(&MatMulParams::default()).to_vec();
    let info = |dims: &[usize], enc| Some(TensorInfo { dtype: DType::F32, shape: Shape::new(dims).unwrap(), encoding: enc });
    let y = info(&[2, 4], Encoding::Dense).unwrap();
    let scratch = sprig_runtime::ops::check(OpKind::MatMul, &params, &[info(&[2, 8], Encoding::Dense), info(&[4, 8], Encoding::BlockSparse)], &[y])
        .expect("the sparse MatMul passes its check") as u64;
    let scratch_size = scratch.next_multiple_of(64);
    let def = FileDef {
        values: vec![
            arena("x", &[2, 8], 0),
            ValueDef { name: "wt".into(), dtype: DType::F32, shape: vec![4, 8], storage: ValueStorage::Const { bytes: blob, encoding: Encoding::BlockSparse } },
            arena("y", &[2, 4], 64),
        ],
        nodes: vec![NodeDef { name: "mm".into(), op: OpKind::MatMul, params, inputs: vec![Some(0), Some(1)], outputs: vec![2], scratch: (128, scratch_size) }],
        inputs: vec![0],
        outputs: vec![2],
        arena_size: 128 + scratch_size,
    };
    write(&def).unwrap()
}

fn edit<T: bytemuck::Pod>(b: &mut [u8], off: usize, f: impl FnOnce(&mut T)) {
    let sz = std::mem::size_of::<T>();
    let mut t: T = bytemuck::pod_read_unaligned(&b[off..off + sz]);
    f(&mut t);
    b[off..off + sz].copy_from_slice(bytemuck::bytes_of(&t));
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

fn value_record(b: &[u8], i: usize) -> ValueRecord {
    let off = section(b, SectionKind::Values).0 + i * std::mem::size_of::<ValueRecord>();
    bytemuck::pod_read_unaligned(&b[off..off + std::mem::size_of::<ValueRecord>()])
}

fn mutated(base: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = base.to_vec();
    f(&mut v);
    v
}

/// Loads under `catch_unwind` (a panic fails the test) and returns the error.
fn load_err(bytes: &[u8], what: &str) -> Error {
    match catch_unwind(AssertUnwindSafe(|| Model::from_vec(bytes).err())) {
        Ok(Some(e)) => e,
        Ok(None) => panic!("{what}: a damaged file loaded"),
        Err(_) => panic!("{what}: loading panicked"),
    }
}

/// The error must match `pred` and its Display must contain every string of `names`.
fn expect(bytes: &[u8], what: &str, pred: impl Fn(&Error) -> bool, names: &[&str]) {
    let e = load_err(bytes, what);
    assert!(pred(&e), "{what}: unexpected variant {e:?}");
    let shown = e.to_string();
    for n in names {
        assert!(shown.contains(n), "{what}: the message {shown:?} does not contain {n:?}");
    }
}

/// Runs a loaded model on `x` and returns its single f32 output (or the run error).
fn run1(m: &Model, x: &[f32], x_shape: &[usize], n_out: usize) -> Result<Vec<f32>, Error> {
    let mut arena = AlignedBuf::new(m.arena_size());
    let mut s = Session::new(m, arena.as_mut_slice())?;
    let mut y = vec![0f32; n_out];
    s.run(&[Tensor::f32(x, x_shape)], &mut [TensorMut::F32(&mut y)])?;
    Ok(y)
}

#[test]
fn base_models_load_and_compute() {
    let m = Model::from_vec(&add_relu_model()).expect("add_relu loads");
    assert_eq!(run1(&m, &[0.5, 0.5, -5.0, 5.0], &[1, 4], 4).unwrap(), [1.5, 0.0, 0.0, 1.0]);
    let m = Model::from_vec(&sparse_matmul()).expect("sparse matmul loads");
    let x: Vec<f32> = (0..16).map(|i| i as f32 - 4.0).collect();
    // y[r][n] = Σ_k x[r][k] · Bᵀ[n][k], by hand from the weight list.
    let w = sparse_weight();
    let want: Vec<f32> = (0..2).flat_map(|r| (0..4).map(move |n| (r, n))).map(|(r, n)| (0..8).map(|k| x[r * 8 + k] * w[n * 8 + k]).sum()).collect();
    assert_eq!(want[0], -3.0 * 1.0 + 2.0 * 0.5, "hand check of the reference itself");
    let got = run1(&m, &x, &[2, 8], 8).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() <= 1e-5 * w.abs().max(1.0), "{got:?} vs {want:?}");
    }
}

#[test]
fn header_and_table_errors_say_what_is_wrong() {
    let b = add_relu_model();
    expect(&mutated(&b, |b| b[0] = b'X'), "magic", |e| *e == Error::BadMagic, &["not a .sprig file"]);
    expect(
        &mutated(&b, |b| edit::<Header>(b, 0, |h| h.major = VERSION_MAJOR + 1)),
        "major+1",
        |e| matches!(e, Error::UnsupportedVersion { major: 2, minor: 0 }),
        &["unsupported .sprig version 2.0", "reads 1.0 to 1.2"],
    );
    expect(&b[..40], "cut inside the header", |e| matches!(e, Error::Truncated { .. }), &["truncated", "header", "needs 64 bytes, 40 available"]);
    // A cut at each section's start: the header's file size no longer matches.
    for k in [SectionKind::Values, SectionKind::Nodes, SectionKind::Params, SectionKind::Data] {
        let (o, _) = section(&b, k);
        expect(&b[..o], &format!("cut at {k:?}"), |e| matches!(e, Error::Truncated { .. }), &["truncated", "size stated in header", &format!("{o} available")]);
    }
    // The header claims a cut file's size too: then the section table or a section is outside.
    let cut = section(&b, SectionKind::Data).0;
    let mut c = b[..cut].to_vec();
    edit::<Header>(&mut c, 0, |h| h.file_size = cut as u64);
    expect(&c, "data section past a consistent cut", |e| matches!(e, Error::OutOfBounds { what: "section", index: 7 }), &["section #7 is out of bounds"]);
    let mut c = b[..80].to_vec();
    edit::<Header>(&mut c, 0, |h| h.file_size = 80);
    expect(&c, "table past a consistent cut", |e| matches!(e, Error::Truncated { what: "section table", .. }), &["section table"]);
    expect(&mutated(&b, |b| edit::<Header>(b, 0, |h| h.section_count = 0)), "no sections", |e| matches!(e, Error::Section { kind: 1, .. }), &["section kind 1: missing"]);
    expect(
        &mutated(&b, |b| edit::<SectionEntry>(b, 64 + 32 * 2, |e| e.size -= 8)),
        "partial node record",
        |e| matches!(e, Error::Section { kind: 3, .. }),
        &["section kind 3", "whole number of records"],
    );
    // Two sections overlapping: Nodes moved onto Values' last record.
    let (vo, vs) = section(&b, SectionKind::Values);
    expect(
        &mutated(&b, |b| edit::<SectionEntry>(b, 64 + 32 * 2, |e| e.offset = (vo + vs - 8) as u64)),
        "overlapping sections",
        |e| matches!(e, Error::OutOfBounds { index: 2, .. }),
        &["overlaps another", "#2"],
    );
}

#[test]
fn value_errors_name_the_tensor() {
    let b = add_relu_model();
    let bad_value = |i: u32| move |e: &Error| matches!(e, Error::BadValue { index, .. } if *index == i);
    expect(&mutated(&b, |b| value(b, 1, |v| v.dtype = 77)), "dtype", bad_value(1), &["tensor #1 'w'", "unknown dtype"]);
    expect(&mutated(&b, |b| value(b, 1, |v| v.encoding = 7)), "encoding", bad_value(1), &["tensor #1 'w'", "unknown encoding"]);
    // Element count 2^62 fits a u64, its byte size (x4) does not.
    expect(
        &mutated(&b, |b| value(b, 0, |v| v.dims = [1 << 31, 1 << 31, 0, 0, 0, 0, 0, 0])),
        "byte size overflow",
        bad_value(0),
        &["tensor #0 'x'", "byte size overflows"],
    );
    expect(
        &mutated(&b, |b| value(b, 2, |v| v.dims = [u32::MAX; 8])),
        "element count overflow",
        bad_value(2),
        &["tensor #2 'y'"],
    );
    // Consistent but huge: element count and bytes fit, the range does not fit the arena.
    expect(
        &mutated(&b, |b| {
            value(b, 3, |v| {
                v.dims = [1 << 20, 1 << 20, 0, 0, 0, 0, 0, 0];
                v.nbytes = 4 << 40;
            })
        }),
        "huge but consistent",
        bad_value(3),
        &["tensor #3 'z'", "exceeds the arena"],
    );
    // A constant pointing into the header, and one past the end of the file.
    expect(&mutated(&b, |b| value(b, 1, |v| v.offset = 64)), "const in the header", bad_value(1), &["'w'", "outside the data section"]);
    let len = b.len() as u64;
    expect(&mutated(&b, |b| value(b, 1, |v| v.offset = len.next_multiple_of(64))), "const past the end", bad_value(1), &["'w'", "outside the data section"]);
    expect(&mutated(&b, |b| value(b, 1, |v| v.name_off = 1 << 20)), "name", bad_value(1), &["tensor #1", "name is out of bounds"]);
}

#[test]
fn node_errors_name_the_node() {
    let b = add_relu_model();
    expect(&mutated(&b, |b| node(b, 1, |n| n.op = 999)), "op", |e| matches!(e, Error::UnknownOp { index: 1, op: 999, .. }), &["node #1 'relu'", "unknown op code 999"]);
    expect(
        &mutated(&b, |b| node(b, 1, |n| n.params_len = 4)),
        "params",
        |e| matches!(e, Error::Op { node: 1, op: "Relu", .. }),
        &["node #1 'relu' (Relu)", "bad parameters"],
    );
    expect(&mutated(&b, |b| node(b, 0, |n| n.params_off = 4)), "params misaligned", |e| matches!(e, Error::BadNode { index: 0, .. }), &["node #0 'add'", "8-aligned"]);
    // Scratch over the node's own output (y at 64) or input (x at 0).
    expect(
        &mutated(&b, |b| node(b, 0, |n| (n.scratch_offset, n.scratch_size) = (64, 64))),
        "output over scratch",
        |e| matches!(e, Error::BadNode { index: 0, .. }),
        &["node #0 'add'", "output overlaps the scratch"],
    );
    expect(
        &mutated(&b, |b| node(b, 0, |n| (n.scratch_offset, n.scratch_size) = (0, 64))),
        "input over scratch",
        |e| matches!(e, Error::BadNode { index: 0, .. }),
        &["node #0 'add'", "input overlaps the scratch"],
    );
    // relu's output z moved onto its input y (distinct values, overlapping ranges).
    expect(
        &mutated(&b, |b| value(b, 3, |v| v.offset = 64)),
        "output over input",
        |e| matches!(e, Error::BadNode { index: 1, .. }),
        &["node #1 'relu'", "overlaps another input or output"],
    );
    // A graph output that no node writes (x is an input: allowed; y unwritten once add is gone).
    let no_nodes = mutated(&b, |b| {
        let (o, _) = section(b, SectionKind::Outputs);
        b[o..o + 4].copy_from_slice(&2u32.to_le_bytes());
        let idx = (0..8).find(|&i| bytemuck::pod_read_unaligned::<SectionEntry>(&b[64 + 32 * i..96 + 32 * i]).kind == SectionKind::Nodes as u32).unwrap();
        edit::<SectionEntry>(b, 64 + 32 * idx, |e| e.size = 0);
    });
    expect(&no_nodes, "output never written", |e| matches!(e, Error::BadGraphIo { index: 0, .. }), &["graph input/output #0", "never written"]);
}

#[test]
fn sparse_blob_damage() {
    let b = sparse_matmul();
    Model::from_vec(&b).expect("the sparse base model loads");
    let rec = value_record(&b, 1);
    let (off, len) = (rec.offset as usize, rec.nbytes as usize);
    let bad_w = |e: &Error| matches!(e, Error::BadValue { index: 1, .. });
    expect(&mutated(&b, |b| b[off] = b'X'), "blob magic", bad_w, &["tensor #1 'wt'", "block-sparse blob is malformed"]);
    // The blob's m (bytes 16..20) no longer matches the logical shape's d0; then its k.
    expect(&mutated(&b, |b| value(b, 1, |v| v.dims[0] = 2)), "m vs shape", bad_w, &["'wt'", "m x k differs"]);
    expect(&mutated(&b, |b| value(b, 1, |v| v.dims[1] = 16)), "k vs shape", bad_w, &["'wt'", "m x k differs"]);
    // nbytes smaller than the blob, or larger.
    expect(&mutated(&b, |b| value(b, 1, |v| v.nbytes -= 4)), "nbytes short", bad_w, &["'wt'"]);
    expect(&mutated(&b, |b| value(b, 1, |v| v.nbytes = 32)), "nbytes below header", bad_w, &["'wt'", "shorter than its header"]);
    // Block-sparse is for f32 constants of rank >= 2 only.
    expect(&mutated(&b, |b| value(b, 1, |v| v.dtype = DType::I32 as u8)), "i32 sparse", bad_w, &["'wt'", "f32 constant of rank >= 2"]);
    expect(&mutated(&b, |b| value(b, 0, |v| v.encoding = Encoding::BlockSparse as u8)), "arena sparse", |e| matches!(e, Error::BadValue { index: 0, .. }), &["'x'"]);
    // Every byte of the blob with three masks: load Ok or Err, runs never panic, and a blob that
    // still loads computes something finite-or-not but of the right size.
    let x: Vec<f32> = (0..16).map(|i| i as f32 * 0.25).collect();
    let mut loaded = 0;
    for pos in off..off + len {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut m = b.clone();
            m[pos] ^= mask;
            let r = catch_unwind(AssertUnwindSafe(|| {
                if let Ok(model) = Model::from_vec(&m) {
                    let _ = run1(&model, &x, &[2, 8], 8);
                    return true;
                }
                false
            }));
            match r {
                Ok(l) => loaded += l as usize,
                Err(_) => panic!("blob flip {mask:#x} at {} panicked", pos - off),
            }
        }
    }
    println!("{loaded} of {} flipped blobs loaded (value and padding bytes)", 3 * len);
}

/// Consistent zero-sized tensors (a dim of 0, 0 bytes) load or fail cleanly, and run without
/// panicking; a MatMul with K = 0 is all zeros (an empty sum), as in ONNX.
#[test]
fn zero_sized_tensors() {
    let relu = |shape: &[usize]| {
        let def = FileDef {
            values: vec![arena("x", shape, 0), arena("y", shape, 0)],
            nodes: vec![NodeDef {
                name: "relu".into(),
                op: OpKind::Relu,
                params: bytemuck::bytes_of(&UnaryParams::default()).to_vec(),
                inputs: vec![Some(0)],
                outputs: vec![1],
                scratch: (0, 0),
            }],
            inputs: vec![0],
            outputs: vec![1],
            // Zero-sized tensors need no arena (a larger stated arena is rejected).
            arena_size: 0,
        };
        write(&def).unwrap()
    };
    for shape in [vec![0usize], vec![1, 0], vec![0, 3, 0, 2]] {
        let b = relu(&shape);
        let r = catch_unwind(AssertUnwindSafe(|| match Model::from_vec(&b) {
            Ok(m) => run1(&m, &[], &shape, 0).map(|y| y.len()),
            Err(e) => Err(e),
        }));
        match r {
            Ok(Ok(n)) => assert_eq!(n, 0),
            Ok(Err(e)) => println!("zero-sized {shape:?}: rejected with {e}"),
            Err(_) => panic!("zero-sized {shape:?} panicked"),
        }
    }
    // MatMul [2, 0] x [0, 3]: a dense constant B with no bytes.
    let params = bytemuck::bytes_of(&MatMulParams::default()).to_vec();
    let def = FileDef {
        values: vec![
            arena("a", &[2, 0], 0),
            ValueDef { name: "b".into(), dtype: DType::F32, shape: vec![0, 3], storage: ValueStorage::Const { bytes: vec![], encoding: Encoding::Dense } },
            arena("y", &[2, 3], 64),
        ],
        nodes: vec![NodeDef { name: "mm".into(), op: OpKind::MatMul, params, inputs: vec![Some(0), Some(1)], outputs: vec![2], scratch: (128, 4096) }],
        inputs: vec![0],
        outputs: vec![2],
        arena_size: 128 + 4096,
    };
    let b = write(&def).unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| Model::from_vec(&b).and_then(|m| run1(&m, &[], &[2, 0], 6))));
    match r {
        Ok(Ok(y)) => assert_eq!(y, [0.0; 6], "an empty sum is 0"),
        Ok(Err(e)) => println!("MatMul with K = 0: rejected with {e}"),
        Err(_) => panic!("MatMul with K = 0 panicked"),
    }
}
