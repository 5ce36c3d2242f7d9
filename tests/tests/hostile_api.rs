//! Misuse of the runtime API: wrong input/output counts, shapes, dtypes and lengths, arenas too
//! small or misaligned, misaligned model bytes, bad paths. Each is a typed error whose Display
//! names the tensor, checked before anything is written: the caller's output buffers are left
//! untouched and the session still gives correct results afterwards.
use sprig_runtime::ops::params::UnaryParams;
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::DType;
use sprig_runtime::{AlignedBuf, Error, Isa, Model, Session, Tensor, TensorData, TensorMut};
use sprig_tests::add_relu_model;
use sprig_tools::writer::{write, FileDef, NodeDef, ValueDef, ValueStorage};


const X: [f32; 4] = [0.5, 0.5, -5.0, 5.0];
/// Relu(X + w), by hand.
const Z: [f32; 4] = [1.5, 0.0, 0.0, 1.0];
const SENTINEL: f32 = 12345.0;

fn assert_shows(e: &Error, parts: &[&str]) {
    let s = e.to_string();
    for p in parts {
        assert!(s.contains(p), "{s:?} lacks {p:?}");
    }
}

#[test]
fn run_argument_errors() {
    let bytes = add_relu_model();
    let m = Model::from_vec(&bytes).unwrap();
    let mut arena = AlignedBuf::new(m.arena_size());
    let mut s = Session::new(&m, arena.as_mut_slice()).unwrap();
    let mut z = [SENTINEL; 4];

    let e = s.run(&[], &mut [TensorMut::F32(&mut z)]).unwrap_err();
    assert_eq!(e, Error::IoCount { what: "inputs", expected: 1, found: 0 });
    assert_shows(&e, &["expected 1 inputs, got 0"]);
    let e = s.run(&[Tensor::f32(&X, &[1, 4]), Tensor::f32(&X, &[1, 4])], &mut [TensorMut::F32(&mut z)]).unwrap_err();
    assert_eq!(e, Error::IoCount { what: "inputs", expected: 1, found: 2 });
    let e = s.run(&[Tensor::f32(&X, &[1, 4])], &mut []).unwrap_err();
    assert_eq!(e, Error::IoCount { what: "outputs", expected: 1, found: 0 });

    // Shapes: other dims, other rank, and a rank above the format's maximum.
    let rank12 = [1usize; 12];
    for shape in [&[4usize][..], &[1, 4, 1], &[2, 2], &rank12] {
        let e = s.run(&[Tensor::f32(&X, shape)], &mut [TensorMut::F32(&mut z)]).unwrap_err();
        assert!(matches!(e, Error::ShapeMismatch { found_rank, .. } if found_rank == shape.len()), "{shape:?}: {e:?}");
        assert_shows(&e, &["tensor 'x'", "expected shape [1, 4]"]);
    }
    // Right shape, wrong number of elements.
    let e = s.run(&[Tensor::f32(&X[..3], &[1, 4])], &mut [TensorMut::F32(&mut z)]).unwrap_err();
    assert!(matches!(e, Error::LengthMismatch { expected: 4, found: 3, .. }), "{e:?}");
    assert_shows(&e, &["tensor 'x'", "expected 4 elements, got 3"]);
    // Wrong input dtype.
    let xi = [1i64, 2, 3, 4];
    let e = s.run(&[Tensor::i64(&xi, &[1, 4])], &mut [TensorMut::F32(&mut z)]).unwrap_err();
    assert_eq!(e, Error::DTypeMismatch { expected: DType::F32, found: DType::I64 });
    assert_shows(&e, &["expected dtype f32, got i64"]);
    let xb = [true; 4];
    let e = s.run(&[Tensor { shape: &[1, 4], data: TensorData::Bool(&xb) }], &mut [TensorMut::F32(&mut z)]).unwrap_err();
    assert!(matches!(e, Error::DTypeMismatch { found: DType::Bool, .. }), "{e:?}");
    // Output buffer of the wrong dtype or size.
    let mut zi = [0i32; 4];
    let e = s.run(&[Tensor::f32(&X, &[1, 4])], &mut [TensorMut::I32(&mut zi)]).unwrap_err();
    assert_eq!(e, Error::DTypeMismatch { expected: DType::F32, found: DType::I32 });
    for n in [0usize, 3, 5, 400] {
        let mut zz = vec![SENTINEL; n];
        let e = s.run(&[Tensor::f32(&X, &[1, 4])], &mut [TensorMut::F32(&mut zz)]).unwrap_err();
        assert!(matches!(e, Error::LengthMismatch { expected: 4, found, .. } if found == n), "{n}: {e:?}");
        assert_shows(&e, &["tensor 'z'"]);
        assert!(zz.iter().all(|&v| v == SENTINEL), "a rejected output buffer was written");
    }
    assert_eq!(z, [SENTINEL; 4], "rejected runs wrote the output");
    // The session is still good.
    s.run(&[Tensor::f32(&X, &[1, 4])], &mut [TensorMut::F32(&mut z)]).unwrap();
    assert_eq!(z, Z);
}

#[test]
fn arena_errors() {
    let bytes = add_relu_model();
    let m = Model::from_vec(&bytes).unwrap();
    let need = m.arena_size();
    assert_eq!(need, 192);
    for len in [0, 1, need - 1] {
        let mut a = AlignedBuf::new(len);
        let e = Session::new(&m, a.as_mut_slice()).err().expect("too small");
        assert_eq!(e, Error::ArenaTooSmall { needed: need, available: len });
        assert_shows(&e, &["arena too small", &format!("needs {need} bytes, got {len}")]);
    }
    let mut big = AlignedBuf::new(need + 64);
    for off in [1usize, 4, 8, 32] {
        let e = Session::new(&m, &mut big.as_mut_slice()[off..off + need]).err().expect("misaligned");
        assert!(matches!(e, Error::Misaligned { .. }), "{e:?}");
        assert_shows(&e, &["arena", "64-byte alignment"]);
    }
    // Bigger than needed, at a 64-aligned offset of a bigger buffer, a dirty arena, and an ISA
    // this CPU may lack (falls back to scalar): all fine.
    big.as_mut_slice().fill(0xA5);
    let mut s = Session::with_isa(&m, &mut big.as_mut_slice()[64..], Isa::Avx512).unwrap();
    let mut z = [0f32; 4];
    s.run(&[Tensor::f32(&X, &[1, 4])], &mut [TensorMut::F32(&mut z)]).unwrap();
    assert_eq!(z, Z);
}

#[test]
fn model_bytes_and_path_errors() {
    let bytes = add_relu_model();
    let mut buf = AlignedBuf::new(bytes.len() + 64);
    buf.as_mut_slice()[8..8 + bytes.len()].copy_from_slice(&bytes);
    let e = Model::from_bytes(&buf.as_slice()[8..8 + bytes.len()]).err().expect("misaligned");
    assert!(matches!(e, Error::Misaligned { .. }), "{e:?}");
    assert_shows(&e, &["model bytes", "64-byte alignment"]);
    assert_eq!(Model::from_bytes(&[]).err(), Some(Error::Truncated { what: "header", needed: 64, available: 0 }));

    let dir = std::env::temp_dir().join(format!("sprig-hostile-api-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    assert!(matches!(Model::open(dir.join("missing.sprig")).err(), Some(Error::Io { kind: sprig_runtime::error::IoKind::NotFound })));
    assert!(matches!(Model::open(&dir).err(), Some(Error::Io { .. })), "a directory is an I/O error");
    let empty = dir.join("empty.sprig");
    std::fs::write(&empty, b"").unwrap();
    assert!(Model::open(&empty).is_err(), "an empty file loads");
    let text = dir.join("text.sprig");
    std::fs::write(&text, b"hello, I am not a model\n").unwrap();
    assert_eq!(Model::open(&text).err(), Some(Error::BadMagic));
    let good = dir.join("good.sprig");
    std::fs::write(&good, &bytes).unwrap();
    Model::open(&good).expect("the mapped file loads");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Bool inputs and outputs (the runtime reinterprets `&[bool]` as bytes: exercised here, since
/// miri is not available on this machine's stable toolchain).
#[test]
fn bool_input_and_output() {
    let v = |name: &str, offset| ValueDef { name: name.into(), dtype: DType::Bool, shape: vec![5], storage: ValueStorage::Arena { offset } };
    let def = FileDef {
        values: vec![v("b", 0), v("nb", 64)],
        nodes: vec![NodeDef {
            name: "not".into(),
            op: OpKind::Not,
            params: bytemuck::bytes_of(&UnaryParams::default()).to_vec(),
            inputs: vec![Some(0)],
            outputs: vec![1],
            scratch: (0, 0),
        }],
        inputs: vec![0],
        outputs: vec![1],
        arena_size: 128,
    };
    let m = Model::from_vec(&write(&def).unwrap()).unwrap();
    let mut arena = AlignedBuf::new(m.arena_size());
    let mut s = Session::new(&m, arena.as_mut_slice()).unwrap();
    let b = [true, false, false, true, true];
    let mut out = [7u8; 5];
    s.run(&[Tensor { shape: &[5], data: TensorData::Bool(&b) }], &mut [TensorMut::Bool(&mut out)]).unwrap();
    assert_eq!(out, [0, 1, 1, 0, 0]);
    // Bool data for the f32 model, u8 data for the bool model: dtype errors.
    let e = s.run(&[Tensor { shape: &[5], data: TensorData::U8(&[1; 5]) }], &mut [TensorMut::Bool(&mut out)]).unwrap_err();
    assert_eq!(e, Error::DTypeMismatch { expected: DType::Bool, found: DType::U8 });
}
