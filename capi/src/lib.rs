//! Builds the C API of `sprig-runtime` (its `capi` module, documented there and in
//! `include/sprig.h`) as `libsprig_capi.a` and `libsprig_capi.so`. Nothing lives here but the
//! re-export: the `#[no_mangle]` functions are linked in from the runtime's rlib.
//!
//! Without the `std` feature the library is `no_std` (for bare-metal C firmware) and brings its
//! own panic handler, which never runs: the C API is written so that no call can panic.
#![cfg_attr(not(feature = "std"), no_std)]

pub use sprig_runtime::capi::*;

#[cfg(all(not(feature = "std"), not(test)))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    loop {}
}
