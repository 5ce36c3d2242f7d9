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
use super::util::{counts, data, data_mut, expect, numel, sum_lanes};
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
                        // 8 partial sums: a left fold is one chain of dependent adds (23 µs for
                        // MobileNetV1's 1024 x 7 x 7).
                        sum_lanes(plane) / hw as f32
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
            let (plane_in, plane_out) = (g.h * g.w, g.oh * g.ow);
            if xd.len() < g.nc * plane_in || yd.len() < g.nc * plane_out {
                return Err(OpError::BadShape("pool tensor smaller than its shape"));
            }
            for c in 0..g.nc {
                let plane = &xd[c * plane_in..(c + 1) * plane_in];
                let out = &mut yd[c * plane_out..(c + 1) * plane_out];
                if max && g.d == [1, 1] {
                    max_plane_rows(&g, plane, out);
                } else {
                    for oy in 0..g.oh {
                        for ox in 0..g.ow {
                            out[oy * g.ow + ox] = pixel(&g, plane, oy, ox, max);
                        }
                    }
                }
            }
            Ok(())
        }
        _ => Err(OpError::Unsupported("not a pooling op")),
    }
}

/// The NaN-propagating max of the pooling ops: a NaN tap wins, as in the per-pixel path
/// (written as a select so that LLVM vectorises it).
#[inline(always)]
fn nan_max(acc: f32, v: f32) -> f32 {
    // `|`, not `||`: no branch, so the compare-and-select vectorises.
    if (v > acc) | v.is_nan() {
        v
    } else {
        acc
    }
}

/// One output pixel by the definition (any kernel, stride, dilation, padding): the general path,
/// and the border columns of the MaxPool fast path.
fn pixel(g: &Geom, plane: &[f32], oy: usize, ox: usize, max: bool) -> f32 {
    // Bounds of the explicitly padded input, in input coordinates.
    let (hi_y, hi_x) = ((g.h + g.p[2]) as isize, (g.w + g.p[3]) as isize);
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
                    acc = nan_max(acc, v);
                } else {
                    acc += v;
                }
                n_in += 1;
            } else if iy < hi_y && ix < hi_x {
                n_pad += 1;
            }
        }
    }
    if max {
        acc
    } else {
        let n = if g.include_pad { n_in + n_pad } else { n_in };
        if n == 0 {
            0.0
        } else {
            acc / n as f32
        }
    }
}

/// Input columns per chunk of the MaxPool fast path (a 2 KB stack buffer).
const CHUNK: usize = 512;

/// MaxPool of one plane with dilation 1, separably: per output row, the max over the window's
/// input rows that lie inside the input (padded rows never win) is taken column by column into
/// a stack buffer of [`CHUNK`] columns, then the max over each window's columns. Output columns
/// whose window reaches into the left/right padding go through [`pixel`]. Both maxes run over
/// contiguous (or, for stride 2, evenly strided) f32 and are specialised for the common
/// kernel widths and strides, so that LLVM vectorises them; a NaN tap wins as in [`pixel`].
fn max_plane_rows(g: &Geom, plane: &[f32], out: &mut [f32]) {
    let (w, kw, sw, pl) = (g.w, g.k[1], g.s[1], g.p[1]);
    // Output columns whose window lies inside 0..w: ox·sw ≥ pl and ox·sw − pl + kw ≤ w.
    let ox_lo = pl.div_ceil(sw).min(g.ow);
    let ox_hi = if w + pl >= kw { ((w + pl - kw) / sw + 1).min(g.ow) } else { 0 }.max(ox_lo);
    // Output columns per chunk: their inputs span (n − 1)·sw + kw ≤ CHUNK columns.
    let per_chunk = if kw <= CHUNK { (CHUNK - kw) / sw + 1 } else { 0 };
    let mut col = [0.0f32; CHUNK];
    for oy in 0..g.oh {
        let orow = &mut out[oy * g.ow..(oy + 1) * g.ow];
        // Input rows of this window inside the input.
        let y0 = (oy * g.s[0]) as isize - g.p[0] as isize;
        let (r0, r1) = (y0.max(0) as usize, ((y0 + g.k[0] as isize).min(g.h as isize)).max(0) as usize);
        if r0 >= r1 || per_chunk == 0 {
            // No input row (a window entirely in padding) or an absurdly wide kernel.
            for (ox, o) in orow.iter_mut().enumerate() {
                *o = pixel(g, plane, oy, ox, true);
            }
            continue;
        }
        for ox in (0..ox_lo).chain(ox_hi..g.ow) {
            orow[ox] = pixel(g, plane, oy, ox, true);
        }
        let mut oa = ox_lo;
        while oa < ox_hi {
            let ob = (oa + per_chunk).min(ox_hi);
            // Input columns [c0, c0 + n) cover the windows of outputs oa..ob.
            let c0 = oa * sw - pl;
            let n = (ob - 1 - oa) * sw + kw;
            let buf = &mut col[..n];
            buf.copy_from_slice(&plane[r0 * w + c0..r0 * w + c0 + n]);
            for r in r0 + 1..r1 {
                for (b, &v) in buf.iter_mut().zip(&plane[r * w + c0..r * w + c0 + n]) {
                    *b = nan_max(*b, v);
                }
            }
            let dst = &mut orow[oa..ob];
            // The specialisations are a speed matter only: without std (the embedded, size-first
            // builds) the general loop below does every width.
            match (kw, sw) {
                #[cfg(feature = "std")]
                (3, 2) => hmax::<3, 2>(buf, dst),
                #[cfg(feature = "std")]
                (3, 1) => hmax::<3, 1>(buf, dst),
                #[cfg(feature = "std")]
                (2, 2) => hmax::<2, 2>(buf, dst),
                #[cfg(feature = "std")]
                (2, 1) => hmax::<2, 1>(buf, dst),
                _ => {
                    for (i, o) in dst.iter_mut().enumerate() {
                        *o = buf[i * sw..i * sw + kw].iter().fold(f32::NEG_INFINITY, |a, &v| nan_max(a, v));
                    }
                }
            }
            oa = ob;
        }
    }
}

/// `dst[i] = max(buf[i·S .. i·S + K])`, `buf.len() ≥ (dst.len() − 1)·S + K`.
#[cfg(feature = "std")]
#[inline(always)]
fn hmax<const K: usize, const S: usize>(buf: &[f32], dst: &mut [f32]) {
    let n = dst.len();
    if n == 0 {
        return;
    }
    let buf = &buf[..(n - 1) * S + K];
    for (i, o) in dst.iter_mut().enumerate() {
        let mut m = buf[i * S];
        for t in 1..K {
            m = nan_max(m, buf[i * S + t]);
        }
        *o = m;
    }
}

#[cfg(all(test, feature = "std"))]
mod tests {
    use super::*;
    extern crate std;
    use std::time::Instant;
    use std::vec::Vec;

    /// Not a pass/fail test: interleaved timing of the MaxPool fast path against the per-pixel
    /// path on the ResNet-18 stem pool (64×112×112, k3 s2 p1). Run with
    /// `cargo test --release -p sprig-runtime --lib maxpool_timing -- --ignored --nocapture`.
    #[test]
    #[ignore]
    fn maxpool_timing() {
        let g = Geom { nc: 64, h: 112, w: 112, oh: 56, ow: 56, k: [3, 3], s: [2, 2], d: [1, 1], p: [1, 1, 1, 1], include_pad: false };
        let x: Vec<f32> = (0..g.nc * g.h * g.w).map(|i| ((i * 7919) % 1013) as f32 * 0.01 - 5.0).collect();
        let (mut y_slow, mut y_fast) = (std::vec![0.0f32; g.nc * g.oh * g.ow], std::vec![0.0f32; g.nc * g.oh * g.ow]);
        let (pi, po) = (g.h * g.w, g.oh * g.ow);
        let mut slow = || {
            for c in 0..g.nc {
                for oy in 0..g.oh {
                    for ox in 0..g.ow {
                        y_slow[c * po + oy * g.ow + ox] = pixel(&g, &x[c * pi..(c + 1) * pi], oy, ox, true);
                    }
                }
            }
        };
        let mut ratios = Vec::new();
        let mut ts = (Vec::new(), Vec::new());
        for _ in 0..31 {
            let t = Instant::now();
            for _ in 0..5 {
                slow();
            }
            let a = t.elapsed().as_secs_f64();
            let t = Instant::now();
            for _ in 0..5 {
                for c in 0..g.nc {
                    max_plane_rows(&g, &x[c * pi..(c + 1) * pi], &mut y_fast[c * po..(c + 1) * po]);
                }
            }
            let b = t.elapsed().as_secs_f64();
            ratios.push(a / b);
            ts.0.push(a / 5.0);
            ts.1.push(b / 5.0);
        }
        slow();
        assert_eq!(y_slow, y_fast);
        for v in [&mut ratios, &mut ts.0, &mut ts.1] {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        }
        std::println!("maxpool 64x112x112 k3 s2 p1: per-pixel {:.0} us, fast {:.0} us (medians); median per-round speedup {:.2}x", ts.0[15] * 1e6, ts.1[15] * 1e6, ratios[15]);
    }
}
