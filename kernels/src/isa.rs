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
    /// AVX-512 is chosen only when asked for with `SPRIG_ISA=avx512`: the development and CI
    /// machines (VMs that hide AVX-512) have never executed those kernels, so they are not picked
    /// automatically until their tests have run on AVX-512 hardware (the tests force every ISA
    /// and report SKIPPED where the CPU lacks it).
    pub fn detect() -> Isa {
        #[cfg(feature = "std")]
        if let Ok(v) = std::env::var("SPRIG_ISA") {
            if let Some(isa) = Isa::ALL.iter().copied().find(|i| i.name() == v) {
                if isa.available() {
                    return isa;
                }
            }
        }
        for isa in [Isa::Avx2, Isa::Neon] {
            if isa.available() {
                return isa;
            }
        }
        Isa::Scalar
    }
}
