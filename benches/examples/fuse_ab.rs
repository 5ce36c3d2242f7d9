//! Probe: a 3x3 depthwise conv followed by a sparse pointwise conv (MobileNetV1's early blocks),
//! run as two whole layers (the depthwise output written to a full `[C, H, W]` buffer, then SpMM
//! over it) against strip by strip (a few output rows of every channel into a small buffer, then
//! SpMM on those columns while they are in cache). Single thread, interleaved in rounds; prints
//! the median over rounds of (two layers / strips) per block and strip height.
//!
//! With `THREADS=2` in the environment both sides run on two threads of one pool: the layers
//! split as the runtime splits them (depthwise by channels, SpMM by block rows), the strips by
//! halves of the image (each thread its own strip buffer).
//!
//! Usage: `[THREADS=2] cargo run --release -p sprig-benches --example fuse_ab [ROUNDS=7] [REPS=15]`
use sprig_benches::{as_bytes, blob, median_time, weights};
use sprig_kernels::dwconv::{dwconv2d, dwconv2d_rows, DwGeom};
use sprig_kernels::sparse::{spmm, spmm::spmm_strided, Layout, SparseMatrix, ValueType};
use sprig_kernels::{Activation, Isa};
use sprig_runtime::par::{part, Parallel, Pool};
use std::hint::black_box;

/// A raw pointer shared by the tasks of one split (each writes disjoint elements).
#[derive(Clone, Copy)]
struct P(*mut f32);
// SAFETY: the tasks write disjoint elements through it.
unsafe impl Sync for P {}
unsafe impl Send for P {}

/// (name, channels in, input side, stride, channels out).
const BLOCKS: &[(&str, usize, usize, usize, usize)] = &[("b0", 32, 112, 1, 64), ("b1", 64, 112, 2, 128), ("b2", 128, 56, 1, 128), ("b3", 128, 56, 2, 256), ("b4", 256, 28, 1, 256)];

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().expect("number")).collect();
    let rounds = args.first().copied().unwrap_or(7);
    let reps = args.get(1).copied().unwrap_or(15);
    let isa = Isa::detect();
    let threads: usize = std::env::var("THREADS").ok().and_then(|t| t.parse().ok()).unwrap_or(1).max(1);
    let pool = Pool::new(threads).expect("pool");
    println!("{threads} thread(s)");
    let act = Activation::RELU;
    println!("isa {}, {rounds} rounds of {reps} reps per side, pointwise 90 % 4x1", isa.name());
    for &(name, c, side, s, m) in BLOCKS {
        let o = (side - 1) / s + 1;
        let g = DwGeom { c, h: side, w: side, kh: 3, kw: 3, sh: s, sw: s, dh: 1, dw: 1, pt: 1, pl: 1, oh: o, ow: o };
        let x: Vec<f32> = (0..c * side * side).map(|i| ((i % 89) as f32 - 44.0) * 0.01).collect();
        let wd: Vec<f32> = (0..c * 9).map(|i| ((i % 7) as f32 - 3.0) * 0.1).collect();
        let bd: Vec<f32> = (0..c).map(|i| i as f32 * 1e-3).collect();
        let bias: Vec<f32> = (0..m).map(|i| i as f32 * 1e-3).collect();
        let w = weights(m, c, Layout::RowBlock(4), 0.9, 101);
        let buf = blob(&w, m, c, Some(&bias), Layout::RowBlock(4), ValueType::F32);
        let a = SparseMatrix::parse(as_bytes(&buf)).unwrap();
        let n = o * o;
        let mut mid = vec![0.0f32; c * n];
        let mut y1 = vec![0.0f32; m * n];
        let mut y2 = vec![0.0f32; m * n];
        for rows in [1usize, 2, 4, 8] {
            let mut strip = vec![0.0f32; threads * c * rows * o];
            let mut two = || {
                if threads == 1 {
                    dwconv2d(isa, &g, &x, &wd, Some(&bd), &act, &mut mid);
                    spmm(isa, &a, &mid, n, n, &mut y1, n, &act);
                } else {
                    let mp = P(mid.as_mut_ptr());
                    pool.run(threads, &|t, _| {
                        let r = part(c, threads, t);
                        let sub = DwGeom { c: r.len(), ..g };
                        let mp = mp;
                        // SAFETY: channel ranges of one split are disjoint, inside `mid`.
                        let yc = unsafe { std::slice::from_raw_parts_mut(mp.0.add(r.start * n), r.len() * n) };
                        dwconv2d(isa, &sub, &x[r.start * side * side..r.end * side * side], &wd[r.start * 9..r.end * 9], Some(&bd[r.clone()]), &act, yc);
                    });
                    let yp = P(y1.as_mut_ptr());
                    let mid = &mid;
                    pool.run(threads, &|t, _| {
                        let br = part(a.block_rows(), threads, t);
                        let sub = a.block_row_range(br.start, br.end).unwrap();
                        let yp = yp;
                        // SAFETY: block-row ranges are disjoint, so are their rows of y1.
                        let yc = unsafe { std::slice::from_raw_parts_mut(yp.0.add(br.start * 4 * n), sub.m() * n) };
                        spmm(isa, &sub, mid, n, n, yc, n, &act);
                    });
                }
                black_box(&y1);
            };
            let mut strips = || {
                let (sp, yp) = (P(strip.as_mut_ptr()), P(y2.as_mut_ptr()));
                pool.run(threads, &|t, _| {
                    let (sp, yp) = (sp, yp);
                    let mine = part(o, threads, t);
                    // SAFETY: thread t's strip buffer is its own c·rows·o floats of `strip`.
                    let sb = unsafe { sp.0.add(t * c * rows * o) };
                    let mut r0 = mine.start;
                    while r0 < mine.end {
                        let r1 = (r0 + rows).min(mine.end);
                        let ns = (r1 - r0) * o;
                        // SAFETY: the strip buffer holds c·rows·o floats, channel ch's rows at ch·ns.
                        assert!(unsafe { dwconv2d_rows(isa, &g, &x, &wd, Some(&bd), &act, r0..r1, sb, ns) });
                        // SAFETY: the buffer's first c·ns floats were just written.
                        let bs = unsafe { std::slice::from_raw_parts(sb, c * ns) };
                        // SAFETY: y2 holds m·n floats; columns r0·o .. r1·o of every row, this thread's.
                        unsafe { spmm_strided(isa, &a, bs, ns, ns, yp.0.add(r0 * o), n, &act) };
                        r0 = r1;
                    }
                });
                black_box(&y2);
            };
            let mut ratios = Vec::new();
            for _ in 0..rounds {
                let (t2, ts) = (median_time(reps, &mut two), median_time(reps, &mut strips));
                ratios.push(t2 / ts);
            }
            assert!(y1.iter().zip(&y2).all(|(a, b)| (a - b).abs() <= 1e-4 * (1.0 + a.abs())), "{name}: strips differ");
            ratios.sort_by(|a, b| a.partial_cmp(b).unwrap());
            println!("{name} dw {c}x{side}x{side} s{s} -> pw {m}: {rows} rows/strip ({:4.0} KB strip): two layers / strips {:.2}x (min {:.2}, max {:.2})", (c * rows * o * 4) as f64 / 1024.0, ratios[rounds / 2], ratios[0], ratios[rounds - 1]);
        }
    }
}
