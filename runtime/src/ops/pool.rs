//! Pooling, f32, NCHW (a rank-3 input is H = 1).
//!
//! MaxPool/AveragePool: [`PoolParams`]; the output size must be the floor or the ceil
//! (`ceil_mode`) formula of ONNX, and with ceil the last window must start inside the input or the
//! left/top padding. Padding never wins a max. AveragePool divides by the number of window
//! positions inside the input (`count_include_pad = 0`) or inside the explicitly padded input
//! (`count_include_pad = 1`; positions past the padding that only ceil mode adds are not
//! counted), as the ONNX reference does. A window with no position counted gives 0 (average) or
//! -inf (max).
//!
//! GlobalAveragePool/GlobalMaxPool: any rank ≥ 2 `[N, C, spatial...]` to `[N, C, 1, ...]`.
use super::params::PoolParams;
use super::util::{counts, data, data_mut, expect, numel};
use super::{read_params, req, OpKind};
use crate::error::OpError;
use crate::tensor::{DType, Shape, TensorInfo, TensorView, TensorViewMut};

#[derive(Clone, Copy)]
struct Geom {
    nc: usize,
    h: usize,
    w: usize,
    oh: usize,
    ow: usize,
    k: [usize; 2],
    s: [usize; 2],
    d: [usize; 2],
    /// top, left, bottom, right
    p: [usize; 4],
    include_pad: bool,
}

/// Valid output sizes along one axis: floor and ceil formulas (ceil dropping a window that would
/// start in the end padding).
fn out_ok(i: usize, k: usize, s: usize, d: usize, pb: usize, pe: usize, o: usize) -> bool {
    let ek = (k - 1) * d + 1;
    let padded = i + pb + pe;
    if padded < ek {
        return false;
    }
    let floor = (padded - ek) / s + 1;
    let mut ceil = (padded - ek).div_ceil(s) + 1;
    if (ceil - 1) * s >= i + pb {
        ceil -= 1;
    }
    o == floor || o == ceil
}

fn geom(p: &PoolParams, x: &Shape, y: &Shape) -> Result<Geom, OpError> {
    let one_d = match x.rank() {
        3 => true,
        4 => false,
        _ => return Err(OpError::BadShape("pool input must be rank 3 or 4")),
    };
    if p.kernel.contains(&0) || p.strides.contains(&0) || p.dilations.contains(&0) || p.count_include_pad > 1 {
        return Err(OpError::BadParams("zero kernel, stride or dilation, or bad count_include_pad"));
    }
    if p.kernel.iter().chain(&p.strides).chain(&p.dilations).chain(&p.pads).any(|&v| v > 1 << 24) {
        return Err(OpError::BadParams("pool parameter absurdly large"));
    }
    if one_d && (p.kernel[0] != 1 || p.strides[0] != 1 || p.dilations[0] != 1 || p.pads[0] != 0 || p.pads[2] != 0) {
        return Err(OpError::BadParams("1-D pool must have a unit H kernel, stride, dilation and no H padding"));
    }
    if y.rank() != x.rank() || y[0] != x[0] || y[1] != x[1] {
        return Err(OpError::BadShape("pool output must keep rank, batch and channels"));
    }
    let u = |v: u32| v as usize;
    let (h, w, oh, ow) = if one_d { (1, x[2], 1, y[2]) } else { (x[2], x[3], y[2], y[3]) };
    let g = Geom {
        nc: x[0] * x[1],
        h,
        w,
        oh,
        ow,
        k: [u(p.kernel[0]), u(p.kernel[1])],
        s: [u(p.strides[0]), u(p.strides[1])],
        d: [u(p.dilations[0]), u(p.dilations[1])],
        p: [u(p.pads[0]), u(p.pads[1]), u(p.pads[2]), u(p.pads[3])],
        include_pad: p.count_include_pad == 1,
    };
    if !out_ok(g.h, g.k[0], g.s[0], g.d[0], g.p[0], g.p[2], g.oh) || !out_ok(g.w, g.k[1], g.s[1], g.d[1], g.p[1], g.p[3], g.ow) {
        return Err(OpError::BadShape("pool output size does not match input, kernel, stride, padding and dilation"));
    }
    Ok(g)
}

pub(crate) fn check(op: OpKind, params: &[u8], inputs: &[Option<TensorInfo>], outputs: &[TensorInfo]) -> Result<usize, OpError> {
    counts(inputs, outputs.len(), 1, 1, 1)?;
    let x = req(inputs, 0, "missing input")?;
    let y = &outputs[0];
    expect(&x, DType::F32, "pooling is f32 only")?;
    expect(y, DType::F32, "pooling is f32 only")?;
    numel(&x.shape)?;
    match op {
        OpKind::MaxPool | OpKind::AveragePool => {
            let p: PoolParams = read_params(params)?;
            geom(&p, &x.shape, &y.shape)?;
        }
        OpKind::GlobalAveragePool | OpKind::GlobalMaxPool => {
            if !params.is_empty() {
                return Err(OpError::BadParams("global pooling takes no parameters"));
            }
            global_ok(&x.shape, &y.shape)?;
        }
        _ => return Err(OpError::Unsupported("not a pooling op")),
    }
    Ok(0)
}

fn global_ok(x: &Shape, y: &Shape) -> Result<(), OpError> {
    if x.rank() < 2 || y.rank() != x.rank() || y[0] != x[0] || y[1] != x[1] || y.dims()[2..].iter().any(|&d| d != 1) {
        return Err(OpError::BadShape("global pool output must be [N, C, 1, ...] of the input's rank"));
    }
    Ok(())
}

pub(crate) fn exec(op: OpKind, params: &[u8], inputs: &[Option<TensorView>], outputs: &mut [TensorViewMut]) -> Result<(), OpError> {
    let x = req(inputs, 0, "missing input")?;
    let y = outputs.first_mut().ok_or(OpError::BadShape("pool needs one output"))?;
    let xd = data::<f32>(&x)?;
    match op {
        OpKind::GlobalAveragePool | OpKind::GlobalMaxPool => {
            global_ok(&x.info.shape, &y.info.shape)?;
            let yd = data_mut::<f32>(y)?;
            let hw: usize = x.info.shape.dims()[2..].iter().product();
            for (i, o) in yd.iter_mut().enumerate() {
                let plane = &xd[i * hw..(i + 1) * hw];
                *o = if op == OpKind::GlobalAveragePool {
                    if hw == 0 {
                        0.0
                    } else {
                        plane.iter().sum::<f32>() / hw as f32
                    }
                } else {
                    plane.iter().fold(f32::NEG_INFINITY, |a, &v| if v > a || v.is_nan() { v } else { a })
                };
            }
            Ok(())
        }
        OpKind::MaxPool | OpKind::AveragePool => {
            let p: PoolParams = read_params(params)?;
            let g = geom(&p, &x.info.shape, &y.info.shape)?;
            let yd = data_mut::<f32>(y)?;
            let max = op == OpKind::MaxPool;
            // Bounds of the explicitly padded input, in input coordinates.
            let (hi_y, hi_x) = ((g.h + g.p[2]) as isize, (g.w + g.p[3]) as isize);
            for c in 0..g.nc {
                let plane = &xd[c * g.h * g.w..(c + 1) * g.h * g.w];
                let out = &mut yd[c * g.oh * g.ow..(c + 1) * g.oh * g.ow];
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        let mut acc = if max { f32::NEG_INFINITY } else { 0.0 };
                        let mut n_in = 0usize;
                        let mut n_pad = 0usize;
                        for ky in 0..g.k[0] {
                            let iy = (oy * g.s[0] + ky * g.d[0]) as isize - g.p[0] as isize;
                            for kx in 0..g.k[1] {
                                let ix = (ox * g.s[1] + kx * g.d[1]) as isize - g.p[1] as isize;
                                if iy >= 0 && ix >= 0 && iy < g.h as isize && ix < g.w as isize {
                                    let v = plane[iy as usize * g.w + ix as usize];
                                    if max {
                                        if v > acc || v.is_nan() {
                                            acc = v;
                                        }
                                    } else {
                                        acc += v;
                                    }
                                    n_in += 1;
                                } else if iy < hi_y && ix < hi_x {
                                    n_pad += 1;
                                }
                            }
                        }
                        out[oy * g.ow + ox] = if max {
                            acc
                        } else {
                            let n = if g.include_pad { n_in + n_pad } else { n_in };
                            if n == 0 {
                                0.0
                            } else {
                                acc / n as f32
                            }
                        };
                    }
                }
            }
            Ok(())
        }
        _ => Err(OpError::Unsupported("not a pooling op")),
    }
}
