//! Quick single-threaded GEMM throughput probe (not a test): measures the FMA peak of this core
//! with an independent-FMA loop and reports each table kernel's GFLOP/s and % of that peak.
//! `cargo run --release -p sprig-kernels --example gemm_peak [m k n]...`
use sprig_kernels::gemm::{sgemm_scratch_len, sgemm_with, Bias, MatMut, MatRef, GEMM_KERNELS};
use sprig_kernels::Activation;
use std::time::Instant;

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn fma_peak_avx2(iters: u64) -> f32 {
    use core::arch::x86_64::*;
    // 12 independent chains: > 2 pipes x 4 cycles latency.
    let mut acc = [_mm256_set1_ps(0.0); 12];
    let x = _mm256_set1_ps(0.999_999);
    let y = _mm256_set1_ps(1e-7);
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = _mm256_fmadd_ps(*a, x, y);
        }
    }
    let mut s = 0.0;
    for a in acc {
        let mut buf = [0.0f32; 8];
        // SAFETY: buf has 8 floats.
        unsafe { _mm256_storeu_ps(buf.as_mut_ptr(), a) };
        s += buf.iter().sum::<f32>();
    }
    s
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let shapes: Vec<(usize, usize, usize)> =
        if args.len() >= 3 { args.chunks(3).map(|c| (c[0], c[1], c[2])).collect() } else { vec![(256, 256, 256), (512, 512, 512)] };
    #[allow(unused_mut)]
    let mut peak = f64::NAN;
    #[cfg(target_arch = "x86_64")]
    if sprig_kernels::Isa::Avx2.available() {
        let iters = 200_000_000u64;
        let t = Instant::now();
        // SAFETY: AVX2 and FMA are available (checked above).
        let s = unsafe { fma_peak_avx2(iters) };
        let dt = t.elapsed().as_secs_f64();
        peak = iters as f64 * 12.0 * 16.0 / dt / 1e9;
        println!("measured AVX2 FMA peak: {peak:.1} GFLOP/s ({:.2} GHz at 32 flop/cycle) [{s}]", peak / 32.0);
    }
    // SWEEP=1: also try other cache blockings of each kernel (rows are plain data).
    let sweep = std::env::var("SWEEP").is_ok();
    let mut rows: Vec<sprig_kernels::gemm::GemmKernel> = Vec::new();
    for kr in GEMM_KERNELS {
        rows.push(*kr);
        if sweep {
            for kc in [128, 192, 256, 384, 512] {
                for mcm in [8, 16, 24, 48] {
                    rows.push(sprig_kernels::gemm::GemmKernel { kc, mc: kr.mr * mcm, ..*kr });
                }
            }
        }
    }
    for kr in &rows {
        if !kr.isa.available() {
            println!("SKIPPED: {} (CPU lacks {})", kr.name, kr.isa.name());
            continue;
        }
        for &(m, k, n) in &shapes {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 * 0.1).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.1).collect();
            let mut c = vec![0.0; m * n];
            let mut scratch = vec![0.0; sgemm_scratch_len(m, n, k).max(2 * (m + n) * k + 64)];
            let flops = 2.0 * (m * n * k) as f64;
            let reps = ((4e9 / flops) as usize).clamp(3, 2000);
            let mut best = f64::INFINITY;
            for _ in 0..5 {
                let t = Instant::now();
                for _ in 0..reps {
                    sgemm_with(kr, MatRef::row_major(&a, m, k), MatRef::row_major(&b, k, n), MatMut::row_major(&mut c, m, n), Bias::None, &Activation::NONE, &mut scratch);
                }
                best = best.min(t.elapsed().as_secs_f64() / reps as f64);
            }
            let gf = flops / best / 1e9;
            println!("{:<22} kc {:3} mc {:3} {m}x{k}x{n}: {gf:6.1} GFLOP/s = {:5.1}% of measured peak", kr.name, kr.kc, kr.mc, 100.0 * gf / peak);
        }
    }
}
