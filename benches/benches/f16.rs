//! f16 against f32 weights, side by side in one run: batch-1 SpMV at 90 % sparsity (1×1 and 4×1
//! blocks) and dense GEMV, at an in-cache size (768×768: the values fit L2), an L3-resident size
//! (4096×4096) and an out-of-cache size (16384×8192: 54 MB of f32 values against a 32 MB L3).
//!
//! Groups `spmv_f16/{layout}/{m}x{k}@90` and `gemv_f16/{m}x{k}x{n}`, ids `f32/{kernel}` and
//! `f16/{kernel}`; throughput in useful FLOPs (2·nnz for SpMV, 2·m·k·n for GEMV). The ISA is
//! `Isa::detect()` (`SPRIG_ISA` overrides). Run: `cargo bench -p sprig-benches --bench f16`.
//!
//! `SPRIG_F16_INTERLEAVED=1 cargo bench -p sprig-benches --bench f16` instead alternates f32 and
//! f16 on the same cases for 41 rounds and prints the median time of each and their ratio: on a
//! shared machine whose load changes from second to second (the development VM), alternating is
//! what keeps the two sides comparable; criterion measures one id after the other.
use criterion::{black_box, criterion_group, BenchmarkId, Criterion, Throughput};
use sprig_benches::{as_bytes, blob, weights};
use sprig_kernels::gemm::{sgemm_mixed, Bias, MatMut, MatRef, MatRefF16, Operand};
use sprig_kernels::sparse::{spmv, spmv::spmv_kernel_for, Layout, SparseMatrix, ValueType};
use sprig_kernels::{Activation, Isa};
use std::time::{Duration, Instant};

const SPMV_SHAPES: &[(usize, usize)] = &[(768, 768), (4096, 4096), (16384, 8192)];
/// (m, k, n): x·W (rows kernel) and W·x (columns kernel).
const GEMV_SHAPES: &[(usize, usize, usize)] = &[(1, 768, 768), (1, 4096, 4096), (4096, 4096, 1), (768, 768, 1)];

fn bench_spmv(cr: &mut Criterion, isa: Isa) {
    let act = Activation::RELU;
    for layout in [Layout::RowBlock(1), Layout::RowBlock(4)] {
        for &(m, k) in SPMV_SHAPES {
            let w = weights(m, k, layout, 0.9, 17);
            let bias: Vec<f32> = (0..m).map(|i| i as f32 * 1e-3).collect();
            let blobs = [ValueType::F32, ValueType::F16].map(|vt| (vt, blob(&w, m, k, Some(&bias), layout, vt)));
            drop(w);
            let x: Vec<f32> = (0..k).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
            let mut y = vec![0.0f32; m];
            let mut g = cr.benchmark_group(format!("spmv_f16/{layout}/{m}x{k}@90"));
            let nnz = {
                let a = SparseMatrix::parse(as_bytes(&blobs[0].1)).unwrap();
                a.values_len()
            };
            g.throughput(Throughput::Elements(2 * nnz as u64));
            for (vt, b) in &blobs {
                let a = SparseMatrix::parse(as_bytes(b)).unwrap();
                let kname = spmv_kernel_for(isa, layout, *vt).name;
                g.bench_function(BenchmarkId::new(vt.name(), kname), |bch| {
                    bch.iter(|| {
                        spmv(isa, &a, &x, &mut y, &act);
                        black_box(&y);
                    })
                });
            }
            g.finish();
        }
    }
}

fn bench_gemv(cr: &mut Criterion, isa: Isa) {
    let act = Activation::NONE;
    for &(m, k, n) in GEMV_SHAPES {
        // The weight matrix is B (k×n) for x·W, A (m×k) for W·x; both row-major.
        let (wr, wc) = if m == 1 { (k, n) } else { (m, k) };
        let w: Vec<f32> = (0..wr * wc).map(|i| ((i % 101) as f32 - 50.0) * 0.01).collect();
        let wh: Vec<u16> = w.iter().map(|&v| sprig_kernels::f16::f32_to_f16(v)).collect();
        let x: Vec<f32> = (0..k).map(|i| ((i % 89) as f32 - 44.0) * 0.01).collect();
        let mut y = vec![0.0f32; m * n];
        let mut g = cr.benchmark_group(format!("gemv_f16/{m}x{k}x{n}"));
        g.throughput(Throughput::Elements((2 * m * k * n) as u64));
        let xv = if m == 1 { MatRef::row_major(&x, 1, k) } else { MatRef::row_major(&x, k, 1) };
        for vt in [ValueType::F32, ValueType::F16] {
            let wop = match vt {
                ValueType::F32 => Operand::F32(MatRef::row_major(&w, wr, wc)),
                ValueType::F16 => Operand::F16(MatRefF16::row_major(&wh, wr, wc)),
            };
            let (a, b) = if m == 1 { (Operand::F32(xv), wop) } else { (wop, Operand::F32(xv)) };
            let name = format!("{}_gemv_{}", vt.name(), isa.name());
            g.bench_function(BenchmarkId::new(vt.name(), name), |bch| {
                bch.iter(|| {
                    sgemm_mixed(isa, a, b, MatMut::row_major(&mut y, m, n), Bias::None, &act, &mut []);
                    black_box(&y);
                })
            });
        }
        g.finish();
    }
}

fn benches(cr: &mut Criterion) {
    let isa = Isa::detect();
    if !sprig_kernels::f16::hw_available(isa) {
        println!("NOTE: {} f16 kernels unavailable on this CPU (no F16C): f16 rows fall back to scalar", isa.name());
    }
    bench_spmv(cr, isa);
    bench_gemv(cr, isa);
}

criterion_group! {
    name = f16_benches;
    config = Criterion::default().sample_size(20).warm_up_time(Duration::from_millis(300)).measurement_time(Duration::from_millis(1500));
    targets = benches
}

/// Median seconds per call of `f` and `g`, alternated for 41 rounds of `reps` calls each.
fn interleave(reps: usize, mut f: impl FnMut(), mut g: impl FnMut()) -> (f64, f64) {
    let (mut tf, mut tg) = (Vec::new(), Vec::new());
    for _ in 0..41 {
        for (t, h) in [(&mut tf, &mut f as &mut dyn FnMut()), (&mut tg, &mut g as &mut dyn FnMut())] {
            let s = Instant::now();
            for _ in 0..reps {
                h();
            }
            t.push(s.elapsed().as_secs_f64() / reps as f64);
        }
    }
    for t in [&mut tf, &mut tg] {
        t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    }
    (tf[20], tg[20])
}

fn report(what: &str, (t32, t16): (f64, f64)) {
    println!("{what:40} f32 {:10.1} us  f16 {:10.1} us  f32/f16 = {:.2}x", t32 * 1e6, t16 * 1e6, t32 / t16);
}

/// `SPRIG_F16_FILTER=<substring>` keeps only the interleaved cases whose label contains it
/// (e.g. `"spmv 1x1"`).
fn wanted(label: &str) -> bool {
    std::env::var("SPRIG_F16_FILTER").map_or(true, |f| label.contains(&f))
}

fn interleaved() {
    let isa = Isa::detect();
    println!("interleaved f32 vs f16, isa {}, medians of 41 alternating rounds", isa.name());
    let act = Activation::RELU;
    for layout in [Layout::RowBlock(1), Layout::RowBlock(4)] {
        for &(m, k) in SPMV_SHAPES {
            let label = format!("spmv {layout} {m}x{k}@90");
            if !wanted(&label) {
                continue;
            }
            let w = weights(m, k, layout, 0.9, 17);
            let bias: Vec<f32> = (0..m).map(|i| i as f32 * 1e-3).collect();
            let (b32, b16) = (blob(&w, m, k, Some(&bias), layout, ValueType::F32), blob(&w, m, k, Some(&bias), layout, ValueType::F16));
            drop(w);
            let (a32, a16) = (SparseMatrix::parse(as_bytes(&b32)).unwrap(), SparseMatrix::parse(as_bytes(&b16)).unwrap());
            let x: Vec<f32> = (0..k).map(|i| ((i % 97) as f32 - 48.0) * 0.01).collect();
            let (mut y1, mut y2) = (vec![0.0f32; m], vec![0.0f32; m]);
            let reps = (2_000_000 / a32.values_len().max(1)).max(1);
            let r = interleave(reps, || spmv(isa, &a32, &x, black_box(&mut y1), &act), || spmv(isa, &a16, &x, black_box(&mut y2), &act));
            report(&label, r);
        }
    }
    for &(m, k, n) in GEMV_SHAPES {
        let label = format!("gemv {m}x{k}x{n}");
        if !wanted(&label) {
            continue;
        }
        let (wr, wc) = if m == 1 { (k, n) } else { (m, k) };
        let w: Vec<f32> = (0..wr * wc).map(|i| ((i % 101) as f32 - 50.0) * 0.01).collect();
        let wh: Vec<u16> = w.iter().map(|&v| sprig_kernels::f16::f32_to_f16(v)).collect();
        let x: Vec<f32> = (0..k).map(|i| ((i % 89) as f32 - 44.0) * 0.01).collect();
        let (mut y1, mut y2) = (vec![0.0f32; m * n], vec![0.0f32; m * n]);
        let xv = if m == 1 { MatRef::row_major(&x, 1, k) } else { MatRef::row_major(&x, k, 1) };
        let ops = |wop| if m == 1 { (Operand::F32(xv), wop) } else { (wop, Operand::F32(xv)) };
        let (a32, b32) = ops(Operand::F32(MatRef::row_major(&w, wr, wc)));
        let (a16, b16) = ops(Operand::F16(MatRefF16::row_major(&wh, wr, wc)));
        let reps = (2_000_000 / (wr * wc)).max(1);
        let none = Activation::NONE;
        let r = interleave(
            reps,
            || sgemm_mixed(isa, a32, b32, MatMut::row_major(black_box(&mut y1), m, n), Bias::None, &none, &mut []),
            || sgemm_mixed(isa, a16, b16, MatMut::row_major(black_box(&mut y2), m, n), Bias::None, &none, &mut []),
        );
        report(&label, r);
    }
}

fn main() {
    if std::env::var_os("SPRIG_F16_INTERLEAVED").is_some() {
        return interleaved();
    }
    f16_benches();
    Criterion::default().configure_from_args().final_summary();
}
