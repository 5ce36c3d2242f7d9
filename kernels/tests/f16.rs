//! f16 weights: conversions against the `half` crate, `widen` on every ISA, `sgemm_mixed`
//! (packed and GEMV paths), `dwconv2d_f16w`, and the f16 sparse encoding (SpMM/SpMV kernels are
//! in `sparse_kernels.rs`).
//!
//! References are independent of the code under test: f16 values are widened by `half` and run
//! through the f32 scalar references (`sgemm_ref`, `dwconv2d_ref`). Tolerance (f32 accumulation in
//! another order, with FMA): `|got - ref| <= 1e-5 · (k + 1) · (Σ|a·b| + |bias| + 1)`, as in the f32
//! tests. An ISA (or F16C) this CPU lacks prints `SKIPPED: ...` and is not counted as a pass.
use half::f16;
use proptest::prelude::*;
use sprig_kernels::dwconv::{dwconv2d_f16w, scalar::dwconv2d_ref, DwGeom, F16W_MAX_TAPS};
use sprig_kernels::f16::{f16_to_f32, f32_to_f16, hw_available, widen};
use sprig_kernels::gemm::gemv_f16::GEMV_F16_KERNELS;
use sprig_kernels::gemm::{scalar::sgemm_ref, sgemm_mixed, sgemm_mixed_scratch_len, Bias, MatMut, MatRef, MatRefF16, Operand};
use sprig_kernels::sparse::{analyze, analyze_as, pack_as, EncodeError, Layout, SparseMatrix, ValueType};
use sprig_kernels::{Act, Activation, Isa};
mod common;
use common::{activation, check_c, data};

fn to_h(v: &[f32]) -> Vec<u16> {
    v.iter().map(|&x| f16::from_f32(x).to_bits()).collect()
}

fn from_h(v: &[u16]) -> Vec<f32> {
    v.iter().map(|&h| f16::from_bits(h).to_f32()).collect()
}

/// True when the f16 kernels of `isa` can run; prints SKIPPED otherwise.
fn runnable(isa: Isa, what: &str) -> bool {
    if hw_available(isa) {
        return true;
    }
    println!("SKIPPED: {what} on {} (CPU lacks {}{})", isa.name(), isa.name(), if isa.available() { " F16C" } else { "" });
    false
}

fn same(a: f32, b: f32) -> bool {
    a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan())
}

// ---- conversions

#[test]
fn f16_to_f32_every_bit_pattern() {
    for h in 0..=u16::MAX {
        let (got, want) = (f16_to_f32(h), f16::from_bits(h).to_f32());
        assert!(same(got, want), "{h:#06x}: {got:e} ({:#010x}) vs half {want:e} ({:#010x})", got.to_bits(), want.to_bits());
        if want.is_nan() {
            // Quiet NaN with the payload kept, like F16C / fcvtl.
            assert_eq!(got.to_bits(), want.to_bits(), "{h:#06x}: NaN bits");
        }
    }
}

#[test]
fn f32_to_f16_edge_cases() {
    let cases: &[f32] = &[
        0.0,
        -0.0,
        1.0,
        -1.0,
        65504.0,             // max finite
        65519.99,            // rounds down to max
        65520.0,             // tie -> rounds to even = inf
        1e6,                 // overflow
        -1e6,
        f32::INFINITY,
        f32::NEG_INFINITY,
        f32::MAX,
        6.103_515_6e-5,      // min normal 2^-14
        6.097_555e-5,        // just below min normal (subnormal, rounds up to it)
        5.960_464_5e-8,      // min subnormal 2^-24
        2.980_232_2e-8,      // 2^-25: tie -> 0
        2.980_233e-8,        // just above 2^-25 -> min subnormal
        8.940_697e-8,        // 1.5 · 2^-24: tie -> 2 · 2^-24
        1e-10,
        f32::MIN_POSITIVE,
        1.0 + 1.0 / 2048.0,  // tie between 1 and 1+2^-10 -> 1
        1.0 + 3.0 / 2048.0,  // tie -> 1 + 2^-9 (even)
        0.1,
        -2.5391,
        2049.0,
        4097.0,
    ];
    for &x in cases {
        let (got, want) = (f32_to_f16(x), f16::from_f32(x).to_bits());
        assert_eq!(got, want, "{x:e}: {got:#06x} vs half {want:#06x}");
    }
    let nan = f32_to_f16(f32::NAN);
    assert!(f16::from_bits(nan).is_nan());
    assert!(f16::from_bits(f32_to_f16(f32::from_bits(0x7f80_0001))).is_nan(), "signalling NaN with low payload stays NaN");
    assert!(f16::from_bits(f32_to_f16(-f32::NAN)).is_nan());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]
    #[test]
    fn f32_to_f16_random_bits(bits in any::<u32>()) {
        let x = f32::from_bits(bits);
        let (got, want) = (f32_to_f16(x), f16::from_f32(x).to_bits());
        if x.is_nan() {
            prop_assert!(f16::from_bits(got).is_nan());
        } else {
            prop_assert_eq!(got, want, "{:e}", x);
        }
    }

    #[test]
    fn f32_to_f16_random_in_range(x in -70000.0f32..70000.0) {
        prop_assert_eq!(f32_to_f16(x), f16::from_f32(x).to_bits());
        prop_assert_eq!(f32_to_f16(x / 65536.0), f16::from_f32(x / 65536.0).to_bits());
    }
}

#[test]
fn widen_every_isa_every_bit_pattern() {
    let src: Vec<u16> = (0..=u16::MAX).collect();
    let want: Vec<f32> = src.iter().map(|&h| f16::from_bits(h).to_f32()).collect();
    for isa in Isa::ALL {
        if !isa.available() {
            println!("SKIPPED: widen on {} (CPU lacks it)", isa.name());
            continue;
        }
        // Lengths around the vector widths, at an odd start.
        for len in [0usize, 1, 3, 4, 7, 8, 9, 15, 16, 17, 33, 65535] {
            let mut dst = vec![1.5f32; len];
            widen(isa, &src[1..1 + len], &mut dst);
            for i in 0..len {
                assert!(same(dst[i], want[1 + i]), "{}: {:#06x} -> {} vs {}", isa.name(), src[1 + i], dst[i], want[1 + i]);
            }
        }
    }
}

// ---- dense GEMM

#[derive(Clone, Copy, Debug)]
enum Store {
    RowMajor,
    Transposed,
    Padded(usize),
    Strided2,
}

fn strides(rows: usize, cols: usize, l: Store) -> (usize, usize, usize) {
    match l {
        Store::RowMajor => (rows * cols, cols, 1),
        Store::Transposed => (rows * cols, 1, rows),
        Store::Padded(p) => (rows * (cols + p), cols + p, 1),
        Store::Strided2 => (rows * cols * 2, cols * 2, 2),
    }
}

fn store_strategy() -> impl Strategy<Value = Store> {
    prop_oneof![Just(Store::RowMajor), Just(Store::Transposed), (1usize..4).prop_map(Store::Padded), Just(Store::Strided2)]
}

#[derive(Clone, Debug)]
struct GCase {
    m: usize,
    n: usize,
    k: usize,
    la: Store,
    lb: Store,
    /// Which operands are f16: 1 = A, 2 = B, 3 = both.
    h: u8,
    act: Act,
    /// 0 none, 1 row, 2 column.
    bias: u8,
    seed: u64,
}

const ACTS: [Act; 5] = [Act::None, Act::Relu, Act::Clamp, Act::LeakyRelu, Act::Gelu];

fn check_gemm(isa: Isa, c: &GCase) -> Result<(), String> {
    let GCase { m, n, k, la, lb, h, act, bias, seed } = c.clone();
    let (alen, ars, acs) = strides(m, k, la);
    let (blen, brs, bcs) = strides(k, n, lb);
    let (af, bf) = (data(alen, seed), data(blen, seed + 1));
    let (ah, bh) = (to_h(&af), to_h(&bf));
    let (aw, bw) = (from_h(&ah), from_h(&bh));
    let a_ref = if h & 1 != 0 { &aw } else { &af };
    let b_ref = if h & 2 != 0 { &bw } else { &bf };
    let a_op = if h & 1 != 0 { Operand::F16(MatRefF16 { data: &ah, rows: m, cols: k, rs: ars, cs: acs }) } else { Operand::F32(MatRef { data: &af, rows: m, cols: k, rs: ars, cs: acs }) };
    let b_op = if h & 2 != 0 { Operand::F16(MatRefF16 { data: &bh, rows: k, cols: n, rs: brs, cs: bcs }) } else { Operand::F32(MatRef { data: &bf, rows: k, cols: n, rs: brs, cs: bcs }) };
    let ar = MatRef { data: a_ref, rows: m, cols: k, rs: ars, cs: acs };
    let br = MatRef { data: b_ref, rows: k, cols: n, rs: brs, cs: bcs };
    let bias_data = data(m.max(n), seed + 2);
    let bias = match bias {
        0 => Bias::None,
        1 => Bias::Row(&bias_data[..m]),
        _ => Bias::Col(&bias_data[..n]),
    };
    let act = activation(act);
    let rs = n + 1;
    let sentinel = 1234.5f32;
    let mut want = vec![sentinel; m * rs];
    sgemm_ref(ar, br, MatMut { data: &mut want, rows: m, cols: n, rs }, bias, &act);
    let mut got = vec![sentinel; m * rs];
    let mut scratch = vec![f32::NAN; sgemm_mixed_scratch_len(m, n, k) + 1];
    sgemm_mixed(isa, a_op, b_op, MatMut { data: &mut got, rows: m, cols: n, rs }, bias, &act, &mut scratch[1..]);
    check_c(&got, &want, rs, sentinel, ar, br, bias).map_err(|e| format!("{}: {e} [{c:?}]", isa.name()))
}

/// Named shapes: GEMV (m = 1, n = 1) with every storage order (rows and cols kernels, strided
/// vectors and outputs), tails around 4/8/16/32 lanes, k = 0, and packed shapes with tile tails.
#[test]
fn gemm_mixed_named_cases() {
    let shapes: &[(usize, usize, usize)] = &[
        (1, 1, 1),
        (1, 7, 5),
        (1, 64, 96),
        (1, 67, 131),
        (1, 1000, 37),
        (1, 3, 1000),
        (5, 1, 40),
        (130, 1, 77),
        (67, 1, 1),
        (1, 9, 0),
        (4, 5, 0),
        (2, 2, 2),
        (7, 17, 33),
        (13, 31, 300),
        (50, 40, 9),
    ];
    let stores = [Store::RowMajor, Store::Transposed, Store::Padded(3), Store::Strided2];
    for isa in Isa::ALL {
        if !runnable(isa, "sgemm_mixed") {
            continue;
        }
        let mut ran = 0;
        for &(m, n, k) in shapes {
            for la in stores {
                for lb in stores {
                    for h in 1..=3u8 {
                        let case = GCase { m, n, k, la, lb, h, act: ACTS[ran % ACTS.len()], bias: (ran % 3) as u8, seed: ran as u64 };
                        check_gemm(isa, &case).unwrap();
                        ran += 1;
                    }
                }
            }
        }
        println!("{}: {ran} sgemm_mixed cases passed", isa.name());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]
    #[test]
    fn gemm_mixed_random(m in prop_oneof![Just(1usize), 1usize..40], n in prop_oneof![Just(1usize), 1usize..70], k in 0usize..90,
                         la in store_strategy(), lb in store_strategy(), h in 1u8..=3, ai in 0usize..ACTS.len(), bias in 0u8..3, seed in any::<u64>()) {
        let case = GCase { m, n, k, la, lb, h, act: ACTS[ai], bias, seed };
        for isa in Isa::ALL {
            if hw_available(isa) {
                prop_assert!(check_gemm(isa, &case).is_ok(), "{}", check_gemm(isa, &case).unwrap_err());
            }
        }
    }
}

#[test]
fn gemv_f16_table_has_one_row_per_built_isa() {
    for isa in Isa::ALL {
        let rows = GEMV_F16_KERNELS.iter().filter(|k| k.isa == isa).count();
        assert!(rows <= 1, "{}", isa.name());
        if !runnable(isa, "gemv_f16 table row") {
            continue;
        }
        if isa != Isa::Scalar {
            assert_eq!(rows, 1, "no f16 GEMV row for available {}", isa.name());
        }
        assert_eq!(sprig_kernels::gemm::gemv_f16::gemv_f16_kernel(isa).isa, if rows == 1 { isa } else { Isa::Scalar });
    }
}

// ---- depthwise convolution

fn check_dw(isa: Isa, g: &DwGeom, seed: u64, act: &Activation, with_bias: bool) {
    let x = data(g.c * g.h * g.w, seed);
    let wh = to_h(&data(g.c * g.kh * g.kw, seed + 1));
    let ww = from_h(&wh);
    let b = data(g.c, seed + 2);
    let bias = with_bias.then_some(&b[..]);
    let mut want = vec![0.0f32; g.c * g.oh * g.ow];
    dwconv2d_ref(g, &x, &ww, bias, act, &mut want);
    let mut got = vec![f32::NAN; want.len()];
    dwconv2d_f16w(isa, g, &x, &wh, bias, act, &mut got);
    let plane = g.oh * g.ow;
    for (i, (&gv, &wv)) in got.iter().zip(&want).enumerate() {
        let ch = i / plane;
        let mag: f32 = ww[ch * g.kh * g.kw..(ch + 1) * g.kh * g.kw].iter().map(|v| v.abs()).sum::<f32>() + 2.0;
        let tol = 1e-5 * (g.kh * g.kw + 1) as f32 * mag;
        assert!((gv - wv).abs() <= tol, "{} {g:?}: y[{i}] = {gv}, reference {wv}", isa.name());
    }
}

#[allow(clippy::too_many_arguments)]
fn geom(c: usize, h: usize, w: usize, kh: usize, kw: usize, s: usize, d: usize, p: usize) -> DwGeom {
    let oh = (h + 2 * p - d * (kh - 1) - 1) / s + 1;
    let ow = (w + 2 * p - d * (kw - 1) - 1) / s + 1;
    DwGeom { c, h, w, kh, kw, sh: s, sw: s, dh: d, dw: d, pt: p, pl: p, oh, ow }
}

#[test]
fn dwconv_f16w_matches_reference() {
    let geoms = [
        geom(3, 9, 13, 3, 3, 1, 1, 1),
        geom(4, 20, 37, 3, 3, 2, 1, 1),
        geom(2, 16, 40, 5, 5, 1, 2, 4),
        geom(5, 7, 7, 1, 1, 1, 1, 0),
        geom(2, 11, 29, 3, 3, 3, 1, 1),
        geom(1, 4, 3, 3, 3, 1, 1, 1),
        // kh·kw = 33·33 > F16W_MAX_TAPS: the per-tap scalar path.
        geom(2, 40, 40, 33, 33, 1, 1, 2),
    ];
    const { assert!(33 * 33 > F16W_MAX_TAPS) };
    let acts = [Activation::NONE, Activation::clamp(0.0, 6.0), activation(Act::Gelu)];
    for isa in Isa::ALL {
        if !runnable(isa, "dwconv2d_f16w") {
            continue;
        }
        for (gi, g) in geoms.iter().enumerate() {
            for (ai, act) in acts.iter().enumerate() {
                check_dw(isa, g, (gi * 7 + ai) as u64, act, ai != 1);
            }
        }
        println!("{}: dwconv2d_f16w passed", isa.name());
    }
}

// ---- sparse encoding

fn aligned(len: usize) -> Vec<u64> {
    vec![0u64; len.div_ceil(8).max(1)]
}

fn bytes(v: &mut [u64]) -> &mut [u8] {
    // SAFETY: the Vec owns v.len()·8 initialised bytes; u8 has no alignment or validity needs.
    unsafe { std::slice::from_raw_parts_mut(v.as_mut_ptr() as *mut u8, v.len() * 8) }
}

#[test]
fn sparse_f16_blob_round_trips_and_halves_values() {
    let (m, k) = (10, 37);
    let mut w = data(m * k, 5);
    for (i, v) in w.iter_mut().enumerate() {
        if i % 3 != 0 {
            *v = 0.0;
        }
    }
    // A weight that rounds to zero in f16 still keeps its block (blocks are chosen on f32).
    w[3] = 1e-9;
    let bias = data(m, 6);
    for layout in Layout::ALL {
        let s32 = analyze(&w, m, k, layout).unwrap();
        let s16 = analyze_as(&w, m, k, layout, ValueType::F16).unwrap();
        assert_eq!((s16.nnz, s16.nnz_blocks), (s32.nnz, s32.nnz_blocks));
        assert!(s16.bytes <= s32.bytes && s16.bytes.is_multiple_of(64));
        let mut buf = aligned(s16.bytes_with_bias);
        let n = pack_as(&w, m, k, Some(&bias), layout, ValueType::F16, bytes(&mut buf)).unwrap();
        assert_eq!(n, s16.bytes_with_bias);
        let blob: &[u8] = bytes(&mut buf);
        let base = blob.as_ptr() as usize;
        let a = SparseMatrix::parse(&blob[..n]).unwrap();
        assert_eq!(a.value_type(), ValueType::F16);
        assert!(a.values().is_empty());
        let (r, c) = layout.block();
        assert_eq!(a.values_f16().len(), a.nnz_blocks() * r * c);
        assert_eq!(a.values_len(), a.values_f16().len());
        assert_eq!(a.bias().unwrap(), &bias[..]);
        let mut dense = vec![f32::NAN; m * k];
        a.to_dense(&mut dense);
        for (i, (&d, &orig)) in dense.iter().zip(&w).enumerate() {
            assert_eq!(d.to_bits(), f16::from_f32(orig).to_f32().to_bits(), "{layout}: element {i}");
        }
        // The values section is 64-aligned from the blob start.
        assert_eq!((a.values_f16().as_ptr() as usize - base) % 64, 0);
    }
}

#[test]
fn sparse_unknown_dtype_is_rejected() {
    let w = data(4 * 8, 1);
    let st = analyze_as(&w, 4, 8, Layout::RowBlock(1), ValueType::F16).unwrap();
    let mut buf = aligned(st.bytes);
    let n = pack_as(&w, 4, 8, None, Layout::RowBlock(1), ValueType::F16, bytes(&mut buf)).unwrap();
    let b = bytes(&mut buf);
    assert_eq!(b[28], ValueType::F16 as u8);
    b[28] = 3;
    assert_eq!(SparseMatrix::parse(&b[..n]).unwrap_err(), EncodeError::UnsupportedDType(3));
    // An f16 header over an f32-sized blob disagrees on the offsets/sizes.
    let st32 = analyze(&w, 4, 8, Layout::RowBlock(1)).unwrap();
    let mut buf32 = aligned(st32.bytes);
    let n32 = sprig_kernels::sparse::pack(&w, 4, 8, None, Layout::RowBlock(1), bytes(&mut buf32)).unwrap();
    let b32 = bytes(&mut buf32);
    b32[28] = ValueType::F16 as u8;
    assert!(matches!(SparseMatrix::parse(&b32[..n32]), Err(EncodeError::BadHeader { .. })));
}
