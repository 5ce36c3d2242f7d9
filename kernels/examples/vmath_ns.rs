//! Time of the vectorised element-wise functions (`vmath::map_inplace`), ns per element, on a
//! BERT FFN-sized buffer (128 x 3072) of values in [-6, 6], best of 7 samples of >= 20 ms each.
//! `cargo run --release -p sprig-kernels --example vmath_ns [ISA: avx2|neon|scalar]`
use sprig_kernels::vmath::{self, Func};
use sprig_kernels::Isa;
use std::hint::black_box;
use std::time::Instant;

fn main() {
    let isa = match std::env::args().nth(1).as_deref() {
        Some("scalar") => Isa::Scalar,
        Some("avx2") => Isa::Avx2,
        Some("neon") => Isa::Neon,
        _ => vmath::native(),
    };
    let n = 128 * 3072;
    let src: Vec<f32> = (0..n).map(|i| ((i * 7919) % 12001) as f32 / 1000.0 - 6.0).collect();
    let mut buf = src.clone();
    println!("vmath on {} ({n} elements)", isa.name());
    for f in [Func::Exp, Func::Erf, Func::Tanh, Func::Sigmoid, Func::Gelu, Func::GeluTanh] {
        let mut best = f64::INFINITY;
        for _ in 0..7 {
            let t = Instant::now();
            let mut reps = 0;
            while t.elapsed().as_secs_f64() < 0.02 {
                buf.copy_from_slice(&src);
                vmath::map_inplace(isa, f, black_box(&mut buf));
                reps += 1;
            }
            best = best.min(t.elapsed().as_secs_f64() / reps as f64);
        }
        // The copy is timed too; measured alone it is ~0.05 ns/element.
        println!("{f:?}: {:.3} ns/element", best * 1e9 / n as f64);
    }
}
