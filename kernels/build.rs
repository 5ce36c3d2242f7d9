//! Tells the kernel tests which x86 ISAs the machine building them lacks, so that the tests
//! written for one ISA are marked `#[ignore]` there (cargo lists them as ignored, with the reason)
//! instead of returning early and being counted as passed. Tests are built and run on the same
//! machine (`cargo test`, CI); for another target (aarch64 under qemu) every x86 ISA counts as
//! lacking. The library itself does not use these cfgs: it detects the CPU at run time (std) or
//! takes the target features (no_std).
fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    for cfg in ["sprig_test_lacks_avx2", "sprig_test_lacks_avx512", "sprig_test_lacks_f16c"] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
    }
    let target_x86 = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "x86_64");
    // The same conditions as `Isa::available` and `f16::hw_available` at run time.
    #[cfg(target_arch = "x86_64")]
    let (avx2, avx512, f16c) = {
        let avx2 = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
        (avx2, avx2 && std::is_x86_feature_detected!("avx512f"), std::is_x86_feature_detected!("f16c"))
    };
    #[cfg(not(target_arch = "x86_64"))]
    let (avx2, avx512, f16c) = (false, false, false);
    for (has, cfg) in [(avx2, "sprig_test_lacks_avx2"), (avx512, "sprig_test_lacks_avx512"), (f16c, "sprig_test_lacks_f16c")] {
        if !(target_x86 && has) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
