//! Instruction-set selection.

/// An instruction set a kernel is written for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Isa {
    /// Plain Rust, every target; the reference all others are tested against.
    Scalar = 0,
    /// x86_64 AVX2 + FMA.
    Avx2 = 1,
    /// x86_64 AVX-512F (+ AVX2/FMA).
    Avx512 = 2,
    /// aarch64 Advanced SIMD.
    Neon = 3,
}

impl Isa {
    pub const ALL: [Isa; 4] = [Isa::Scalar, Isa::Avx2, Isa::Avx512, Isa::Neon];

    pub fn name(self) -> &'static str {
        match self {
            Isa::Scalar => "scalar",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
            Isa::Neon => "neon",
        }
    }

    /// Whether this CPU (std: detected at run time; no_std: guaranteed by compile-time target
    /// features) can execute kernels written for `self`.
    pub fn available(self) -> bool {
        match self {
            Isa::Scalar => true,
            #[cfg(all(target_arch = "x86_64", feature = "std"))]
            Isa::Avx2 => std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma"),
            #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
            Isa::Avx2 => cfg!(all(target_feature = "avx2", target_feature = "fma")),
            #[cfg(all(target_arch = "x86_64", feature = "std"))]
            Isa::Avx512 => {
                std::is_x86_feature_detected!("avx512f")
                    && std::is_x86_feature_detected!("avx2")
                    && std::is_x86_feature_detected!("fma")
            }
            #[cfg(all(target_arch = "x86_64", not(feature = "std")))]
            Isa::Avx512 => cfg!(all(target_feature = "avx512f", target_feature = "fma")),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => cfg!(target_feature = "neon"),
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// The best available ISA on this CPU. `SPRIG_ISA=scalar|avx2|avx512|neon` (std only) selects
    /// a path explicitly, which tests and benches use to force one.
    ///
    /// This is the ISA of the dense kernels (GEMM, depthwise conv, transposes): AVX2 even where
    /// the CPU has AVX-512. On the Zen 4 dev VM, the first time it exposed AVX-512 (session 11),
    /// dense MobileNetV1 ran 0.94x as fast on the AVX-512 kernels as on AVX2 (alternating
    /// processes, BENCHMARKS.md "Session 11"); the sparse kernels do gain from it, see
    /// [`Isa::detect_sparse`]. `SPRIG_ISA=avx512` (or any other name) forces one ISA.
    pub fn detect() -> Isa {
        if let Some(isa) = Self::forced() {
            return isa;
        }
        for isa in [Isa::Avx2, Isa::Neon] {
            if isa.available() {
                return isa;
            }
        }
        Isa::Scalar
    }

    /// The best ISA of this CPU for the sparse kernels (SpMM, SpMV): AVX-512 where the CPU has
    /// it, else [`Isa::detect`]. With `SPRIG_ISA` set, that ISA, as for `detect`. On the Zen 4
    /// dev VM the AVX-512 SpMM layers of a 90 % MobileNetV1 ran 1.10-1.27x faster than AVX2 and
    /// the whole model 1.09x (BENCHMARKS.md "Session 11").
    pub fn detect_sparse() -> Isa {
        if let Some(isa) = Self::forced() {
            return isa;
        }
        if Isa::Avx512.available() {
            return Isa::Avx512;
        }
        Self::detect()
    }

    /// The ISA named by `SPRIG_ISA`, if set, known and available (std only).
    fn forced() -> Option<Isa> {
        #[cfg(feature = "std")]
        if let Ok(v) = std::env::var("SPRIG_ISA") {
            return Isa::ALL.iter().copied().find(|i| i.name() == v && i.available());
        }
        None
    }
}
