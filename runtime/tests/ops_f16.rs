//! f16 weights in Conv and MatMul (dense and block-sparse) and f16 Gather tables (embeddings)
//! against nested-loop references on the weights widened by this test's own decoder; and `check`
//! rejecting f16 where it is not supported. Weights are random f16 bit patterns (normal and subnormal, both signs), so the
//! reference is exact f32 arithmetic on exactly the values the file holds.
mod ops_common;
use ops_common::*;
use sprig_kernels::sparse::{analyze_as, pack_as, Layout, ValueType};
use sprig_runtime::ops::params::{ActParams, AxisParams, ConvParams, MatMulParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::Encoding;
use sprig_runtime::{Activation, DType, Isa, OpError};

/// IEEE binary16 → f32, written from the spec (independent of `sprig_kernels::f16`).
fn widen(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0 } else { 1.0 };
    let e = ((h >> 10) & 0x1f) as i32;
    let m = (h & 0x3ff) as f32;
    sign * match e {
        0 => m * 2f32.powi(-24),
        31 => panic!("test weights are finite"),
        _ => (1.0 + m / 1024.0) * 2f32.powi(e - 15),
    }
}

/// `n` pseudo-random finite f16 weights with magnitudes about 2^-16..2^1 (subnormals included)
/// and every 5th one zero (for the sparse cases).
fn rand_f16(n: usize, seed: u64) -> Vec<u16> {
    let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..n)
        .map(|i| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            if i % 5 == 3 {
                return 0;
            }
            let exp = (s >> 20) % 16; // biased 0..15: subnormal up to 2^0
            ((s & 0x8000) as u16) | ((exp as u16) << 10) | ((s >> 32) as u16 & 0x3ff)
        })
        .collect()
}

fn f16_owned(shape: &[usize], h: &[u16]) -> Owned {
    Owned::from_bytes(DType::F16, shape, bytemuck::cast_slice(h))
}

fn conv_params(k: usize, s: usize, p: usize, group: usize, act: Activation) -> Vec<u8> {
    let u = |v: usize| v as u32;
    bytes(&ConvParams {
        kernel: [u(k), u(k)],
        strides: [u(s), u(s)],
        pads: [u(p); 4],
        dilations: [1, 1],
        group: u(group),
        _pad: 0,
        act: ActParams::from_activation(&act),
    })
}

/// ONNX Conv, NCHW, square kernel/stride/pad, dilation 1.
#[allow(clippy::too_many_arguments)]
fn conv_ref(n: usize, c: usize, h: usize, wd: usize, m: usize, group: usize, k: usize, s: usize, p: usize, x: &[f32], w: &[f32], b: Option<&[f32]>) -> (Vec<f32>, usize, usize) {
    let oh = (h + 2 * p - k) / s + 1;
    let ow = (wd + 2 * p - k) / s + 1;
    let (cg, mg) = (c / group, m / group);
    let mut y = vec![0f32; n * m * oh * ow];
    for ni in 0..n {
        for mi in 0..m {
            let g = mi / mg;
            for oy in 0..oh {
                for ox in 0..ow {
                    let mut acc = b.map_or(0.0, |b| b[mi]);
                    for ci in 0..cg {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (iy, ix) = ((oy * s + ky) as i64 - p as i64, (ox * s + kx) as i64 - p as i64);
                                if iy >= 0 && ix >= 0 && (iy as usize) < h && (ix as usize) < wd {
                                    let xv = x[((ni * c + g * cg + ci) * h + iy as usize) * wd + ix as usize];
                                    acc += xv * w[((mi * cg + ci) * k + ky) * k + kx];
                                }
                            }
                        }
                    }
                    y[((ni * m + mi) * oh + oy) * ow + ox] = acc;
                }
            }
        }
    }
    (y, oh, ow)
}

fn isas() -> Vec<Isa> {
    Isa::ALL
        .into_iter()
        .filter(|isa| {
            let ok = isa.available();
            if !ok {
                println!("SKIPPED: {} not available on this CPU", isa.name());
            }
            ok
        })
        .collect()
}

/// Dense f16 W on every Conv path: im2col GEMM, 1x1, grouped, depthwise; with bias and ReLU.
#[test]
fn conv_f16_weights_every_path() {
    // (c, m, group, k, stride, pad)
    let cases = [(4, 6, 1, 3, 1, 1), (8, 5, 1, 1, 1, 0), (6, 4, 2, 3, 2, 1), (6, 6, 6, 3, 1, 1), (5, 5, 5, 3, 2, 0)];
    for isa in isas() {
        for (i, &(c, m, group, k, s, p)) in cases.iter().enumerate() {
            let (n, h, wd) = (2, 7, 6);
            let x = rand_f32(n * c * h * wd, i as u64);
            let wh = rand_f16(m * (c / group) * k * k, i as u64 + 100);
            let wf: Vec<f32> = wh.iter().map(|&h| widen(h)).collect();
            let b = rand_f32(m, i as u64 + 200);
            let (mut want, oh, ow) = conv_ref(n, c, h, wd, m, group, k, s, p, &x, &wf, Some(&b));
            want.iter_mut().for_each(|v| *v = v.max(0.0));
            let (xo, wo, bo) = (Owned::f32(&[n, c, h, wd], &x), f16_owned(&[m, c / group, k, k], &wh), Owned::f32(&[m], &b));
            let y = run_isa(OpKind::Conv, &conv_params(k, s, p, group, Activation::RELU), &[Some(&xo), Some(&wo), Some(&bo)], &[info(DType::F32, &[n, m, oh, ow])], isa)
                .unwrap_or_else(|e| panic!("case {i} {}: {e}", isa.name()));
            assert_close(&y[0].as_f32(), &want, 1e-5);
        }
    }
}

/// `Y[.., M, N] = A · B` with one f16 operand: B f16 (batched A), A f16 (rank-1 B, GEMV), and
/// a row-vector bias.
#[test]
fn matmul_f16_operand() {
    let mm = bytes(&MatMulParams { act: ActParams::NONE });
    for isa in isas() {
        // B f16 [K, N], A [2, M, K].
        let (bt, m, k, n) = (2, 5, 19, 7);
        let a = rand_f32(bt * m * k, 1);
        let bh = rand_f16(k * n, 2);
        let bf: Vec<f32> = bh.iter().map(|&h| widen(h)).collect();
        let bias = rand_f32(n, 3);
        let mut want = vec![0f32; bt * m * n];
        for t in 0..bt {
            for i in 0..m {
                for j in 0..n {
                    want[(t * m + i) * n + j] = bias[j] + (0..k).map(|q| a[(t * m + i) * k + q] * bf[q * n + j]).sum::<f32>();
                }
            }
        }
        let (ao, bo, co) = (Owned::f32(&[bt, m, k], &a), f16_owned(&[k, n], &bh), Owned::f32(&[n], &bias));
        let y = run_isa(OpKind::MatMul, &mm, &[Some(&ao), Some(&bo), Some(&co)], &[info(DType::F32, &[bt, m, n])], isa).unwrap();
        assert_close(&y[0].as_f32(), &want, 1e-5);

        // A f16 [M, K], B [K] (rank 1): y[M].
        let ah = rand_f16(m * k, 4);
        let x = rand_f32(k, 5);
        let want: Vec<f32> = (0..m).map(|i| (0..k).map(|q| widen(ah[i * k + q]) * x[q]).sum()).collect();
        let (ao, xo) = (f16_owned(&[m, k], &ah), Owned::f32(&[k], &x));
        let y = run_isa(OpKind::MatMul, &mm, &[Some(&ao), Some(&xo)], &[info(DType::F32, &[m])], isa).unwrap();
        assert_close(&y[0].as_f32(), &want, 1e-5);
    }
}

/// An f16 block-sparse blob (values f16, bias f32) in Conv 1x1, Conv 3x3 and MatMul (SpMV and
/// SpMM paths).
#[test]
fn sparse_f16_weights() {
    let blob = |w: &[f32], m: usize, k: usize, bias: Option<&[f32]>, l: Layout| {
        let st = analyze_as(w, m, k, l, ValueType::F16).unwrap();
        let mut out = vec![0u8; if bias.is_some() { st.bytes_with_bias } else { st.bytes }];
        pack_as(w, m, k, bias, l, ValueType::F16, &mut out).unwrap();
        out
    };
    let sparse = |shape: &[usize], bytes: Vec<u8>| {
        let mut o = Owned::from_bytes(DType::U8, &[bytes.len()], &bytes);
        o.info = sprig_runtime::TensorInfo { dtype: DType::F16, shape: sprig_runtime::Shape::new(shape).unwrap(), encoding: Encoding::BlockSparse };
        o
    };
    for isa in isas() {
        for l in [Layout::RowBlock(1), Layout::RowBlock(4)] {
            // Conv, W [M, C, k, k], bias in the blob, ReLU.
            for (k, p) in [(1, 0), (3, 1)] {
                let (n, c, h, wd, m) = (1, 6, 5, 4, 8);
                let wf: Vec<f32> = rand_f16(m * c * k * k, 7).iter().map(|&h| widen(h)).collect();
                let b = rand_f32(m, 8);
                let x = rand_f32(n * c * h * wd, 9);
                let (mut want, oh, ow) = conv_ref(n, c, h, wd, m, 1, k, 1, p, &x, &wf, Some(&b));
                want.iter_mut().for_each(|v| *v = v.max(0.0));
                let wo = sparse(&[m, c, k, k], blob(&wf, m, c * k * k, Some(&b), l));
                let xo = Owned::f32(&[n, c, h, wd], &x);
                let y = run_isa(OpKind::Conv, &conv_params(k, 1, p, 1, Activation::RELU), &[Some(&xo), Some(&wo)], &[info(DType::F32, &[n, m, oh, ow])], isa)
                    .unwrap_or_else(|e| panic!("{l} k{k} {}: {e}", isa.name()));
                assert_close(&y[0].as_f32(), &want, 1e-5);
            }
            // MatMul with Bᵀ [N, K] sparse: rows 2 (SpMV) and 9 (SpMM).
            for rows in [2, 9] {
                let (k, nn) = (21, 12);
                let btf: Vec<f32> = rand_f16(nn * k, 10).iter().map(|&h| widen(h)).collect();
                let a = rand_f32(rows * k, 11);
                let want: Vec<f32> = (0..rows * nn).map(|i| (0..k).map(|q| a[(i / nn) * k + q] * btf[(i % nn) * k + q]).sum()).collect();
                let bo = sparse(&[nn, k], blob(&btf, nn, k, None, l));
                let ao = Owned::f32(&[rows, k], &a);
                let mm = bytes(&MatMulParams { act: ActParams::NONE });
                let y = run_isa(OpKind::MatMul, &mm, &[Some(&ao), Some(&bo)], &[info(DType::F32, &[rows, nn])], isa).unwrap();
                assert_close(&y[0].as_f32(), &want, 1e-5);
            }
        }
    }
}

/// f16 is a weight type: every other place rejects it in `check`, with a typed error.
#[test]
fn check_rejects_f16_where_unsupported() {
    let x = Owned::zeros(DType::F32, &[1, 2, 4, 4]);
    let w16 = Owned::zeros(DType::F16, &[2, 2, 3, 3]);
    let p = conv_params(3, 1, 0, 1, Activation::NONE);
    let y = info(DType::F32, &[1, 2, 2, 2]);
    assert!(check(OpKind::Conv, &p, &[Some(&x), Some(&w16)], &[y]).is_ok());
    // f16 input, f16 output, f16 bias.
    let x16 = Owned::zeros(DType::F16, &[1, 2, 4, 4]);
    assert!(matches!(check(OpKind::Conv, &p, &[Some(&x16), Some(&w16)], &[y]), Err(OpError::BadShape(_))));
    assert!(matches!(check(OpKind::Conv, &p, &[Some(&x), Some(&w16)], &[info(DType::F16, &[1, 2, 2, 2])]), Err(OpError::BadShape(_))));
    let b16 = Owned::zeros(DType::F16, &[2]);
    assert!(matches!(check(OpKind::Conv, &p, &[Some(&x), Some(&w16), Some(&b16)], &[y]), Err(OpError::BadShape(_))));
    // ConvTranspose has no f16 path.
    let wt16 = Owned::zeros(DType::F16, &[2, 2, 3, 3]);
    let r = check(OpKind::ConvTranspose, &p, &[Some(&x), Some(&wt16)], &[info(DType::F32, &[1, 2, 6, 6])]);
    assert!(matches!(r, Err(OpError::BadShape(_))), "{r:?}");
    // MatMul: f16 output, f16 bias.
    let mm = bytes(&MatMulParams { act: ActParams::NONE });
    let (a, b16) = (Owned::zeros(DType::F32, &[3, 4]), Owned::zeros(DType::F16, &[4, 5]));
    assert!(check(OpKind::MatMul, &mm, &[Some(&a), Some(&b16)], &[info(DType::F32, &[3, 5])]).is_ok());
    assert!(matches!(check(OpKind::MatMul, &mm, &[Some(&a), Some(&b16)], &[info(DType::F16, &[3, 5])]), Err(OpError::BadShape(_))));
    let bias16 = Owned::zeros(DType::F16, &[5]);
    assert!(matches!(check(OpKind::MatMul, &mm, &[Some(&a), Some(&b16), Some(&bias16)], &[info(DType::F32, &[3, 5])]), Err(OpError::BadShape(_))));
    // Elementwise ops on f16.
    let h = Owned::zeros(DType::F16, &[4]);
    let r = check(OpKind::Relu, &bytes(&sprig_runtime::ops::params::UnaryParams::default()), &[Some(&h)], &[info(DType::F16, &[4])]);
    assert!(r.is_err(), "{r:?}");
}

/// ONNX Gather on `table` (shape `d`) along `axis`, with indices already normalised (non-negative).
fn gather_ref(table: &[f32], d: &[usize], axis: usize, idx: &[usize]) -> Vec<f32> {
    let outer: usize = d[..axis].iter().product();
    let inner: usize = d[axis + 1..].iter().product();
    let mut y = Vec::new();
    for o in 0..outer {
        for &k in idx {
            y.extend_from_slice(&table[(o * d[axis] + k) * inner..(o * d[axis] + k + 1) * inner]);
        }
    }
    y
}

fn axis_params(axis: u32) -> Vec<u8> {
    bytes(&AxisParams { axis, ..Default::default() })
}

/// Gather on an f16 table writes f32 rows equal to the table widened by hand, on every ISA's
/// conversion: axis 0 (an embedding lookup: 37 columns, not a multiple of any SIMD width, and
/// negative indices) with i64 and i32 indices, and axis 1 of a rank-3 table.
#[test]
fn gather_f16_table() {
    let (v, dim) = (7, 37);
    let h = rand_f16(v * dim, 5);
    let table = f16_owned(&[v, dim], &h);
    let wide: Vec<f32> = h.iter().map(|&x| widen(x)).collect();
    let raw = [3i64, -1, 0, -7, 6, 3];
    let norm: Vec<usize> = raw.iter().map(|&i| if i < 0 { (i + v as i64) as usize } else { i as usize }).collect();
    let want = gather_ref(&wide, &[v, dim], 0, &norm);
    assert!(want.iter().any(|&x| x != 0.0 && x.abs() < 2f32.powi(-14)), "the rows hold f16 subnormals");
    let i64s = Owned::i64(&[2, 3], &raw);
    let i32s = Owned::i32(&[2, 3], &raw.map(|i| i as i32));
    for isa in isas() {
        for ind in [&i64s, &i32s] {
            let y = run_isa(OpKind::Gather, &axis_params(0), &[Some(&table), Some(ind)], &[info(DType::F32, &[2, 3, dim])], isa).unwrap();
            assert_eq!(y[0].as_f32(), want, "{} {:?} indices", isa.name(), ind.info.dtype);
        }
        // Axis 1 of [2, 5, 3]: rows of 3 from each of the 2 outer slices.
        let h3 = rand_f16(2 * 5 * 3, 9);
        let t3 = f16_owned(&[2, 5, 3], &h3);
        let w3: Vec<f32> = h3.iter().map(|&x| widen(x)).collect();
        let ind = Owned::i64(&[3], &[4, -5, 2]);
        let y = run_isa(OpKind::Gather, &axis_params(1), &[Some(&t3), Some(&ind)], &[info(DType::F32, &[2, 3, 3])], isa).unwrap();
        assert_eq!(y[0].as_f32(), gather_ref(&w3, &[2, 5, 3], 1, &[4, 0, 2]), "{} axis 1", isa.name());
        // An index out of range is still a data error, not a panic.
        let bad = Owned::i64(&[1], &[-8]);
        let r = run_isa(OpKind::Gather, &axis_params(0), &[Some(&table), Some(&bad)], &[info(DType::F32, &[1, dim])], isa);
        assert!(matches!(r, Err(OpError::IndexOutOfRange { index: -8, len: 7 })), "{:?}", r.err());
    }
}

/// An f16 Gather table needs an f32 output; f16 is rejected in every other slot of the
/// data-movement ops (indices, outputs, other ops' data).
#[test]
fn gather_f16_rejections() {
    let table = Owned::zeros(DType::F16, &[4, 8]);
    let ind = Owned::i64(&[2], &[0, 1]);
    let ap = axis_params(0);
    assert!(check(OpKind::Gather, &ap, &[Some(&table), Some(&ind)], &[info(DType::F32, &[2, 8])]).is_ok());
    let r = check(OpKind::Gather, &ap, &[Some(&table), Some(&ind)], &[info(DType::F16, &[2, 8])]);
    assert!(matches!(r, Err(OpError::Unsupported(_))), "f16 output: {r:?}");
    for dt in [DType::I32, DType::I64, DType::U8] {
        let r = check(OpKind::Gather, &ap, &[Some(&table), Some(&ind)], &[info(dt, &[2, 8])]);
        assert!(matches!(r, Err(OpError::BadShape(_))), "{dt:?} output: {r:?}");
    }
    // The f32 path keeps requiring the data's dtype.
    let t32 = Owned::zeros(DType::F32, &[4, 8]);
    let r = check(OpKind::Gather, &ap, &[Some(&t32), Some(&ind)], &[info(DType::I32, &[2, 8])]);
    assert!(matches!(r, Err(OpError::BadShape(_))), "{r:?}");
    // f16 indices.
    let ind16 = Owned::zeros(DType::F16, &[2]);
    let r = check(OpKind::Gather, &ap, &[Some(&t32), Some(&ind16)], &[info(DType::F32, &[2, 8])]);
    assert!(matches!(r, Err(OpError::Unsupported(_))), "f16 indices: {r:?}");
    // Other data-movement ops on f16, whatever the output dtype.
    for out in [DType::F16, DType::F32] {
        let r = check(OpKind::Reshape, &[], &[Some(&table)], &[info(out, &[32])]);
        assert!(matches!(r, Err(OpError::Unsupported(_))), "Reshape f16 -> {out:?}: {r:?}");
        let r = check(OpKind::Concat, &ap, &[Some(&table), Some(&table)], &[info(out, &[8, 8])]);
        assert!(matches!(r, Err(OpError::Unsupported(_))), "Concat f16 -> {out:?}: {r:?}");
    }
    // exec alone (no `check`) refuses an f16 table with an f16 output too.
    let mut y = Owned::zeros(DType::F16, &[2, 8]);
    let mut outs = [sprig_runtime::TensorViewMut { info: y.info, bytes: y.buf.as_mut_slice() }];
    let r = sprig_runtime::ops::exec(OpKind::Gather, &ap, &[Some(table.view()), Some(ind.view())], &mut outs, &mut [], Isa::Scalar);
    assert!(r.is_err(), "{r:?}");
}
