//! `include/sprig.h` must be what cbindgen generates from `runtime/src/capi.rs` today. Fails when
//! it is stale (with the command that regenerates it), and fails, never skips, when cbindgen is
//! missing: set SPRIG_INSTALL_CBINDGEN=1 to let the test run `cargo install cbindgen --locked`.
mod common;
use common::*;
use std::process::Command;

const REGEN: &str = "cbindgen --config runtime/cbindgen.toml --output include/sprig.h runtime/src/capi.rs";

fn have_cbindgen() -> bool {
    Command::new("cbindgen").arg("--version").output().map(|o| o.status.success()).unwrap_or(false)
}

#[test]
fn header_is_current() {
    if !have_cbindgen() {
        if std::env::var("SPRIG_INSTALL_CBINDGEN").as_deref() == Ok("1") {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let st = Command::new(cargo).args(["install", "cbindgen", "--locked"]).status().expect("run cargo install");
            assert!(st.success(), "cargo install cbindgen --locked failed");
        } else {
            panic!(
                "cbindgen is not installed: run `cargo install cbindgen --locked` (or set SPRIG_INSTALL_CBINDGEN=1); \
                 this test checks that include/sprig.h is current"
            );
        }
    }
    let root = workspace_root();
    let dir = temp_dir("header");
    let fresh = dir.join("sprig.h");
    let out = Command::new("cbindgen")
        .args(["--config", "runtime/cbindgen.toml", "--output"])
        .arg(&fresh)
        .arg("runtime/src/capi.rs")
        .current_dir(&root)
        .output()
        .unwrap();
    assert!(out.status.success(), "cbindgen failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let fresh = std::fs::read_to_string(&fresh).unwrap();
    let checked_in = std::fs::read_to_string(root.join("include/sprig.h")).unwrap();
    std::fs::remove_dir_all(&dir).ok();
    if fresh != checked_in {
        let line = fresh.lines().zip(checked_in.lines()).position(|(a, b)| a != b).map_or(fresh.lines().count().min(checked_in.lines().count()), |l| l);
        panic!("include/sprig.h is stale (first difference at line {}); regenerate it with:\n  {REGEN}", line + 1);
    }
}
