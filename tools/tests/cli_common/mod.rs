//! Helpers shared by the tests that drive the built `sprig` binary (`cli_*.rs`): running it, its
//! output as text, a per-test temporary directory, and `.npy` files in and out.
#![allow(dead_code)]
use npyz::WriterBuilder;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs the built `sprig` binary with `args`.
pub fn sprig(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sprig")).args(args).output().expect("the sprig binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A fresh directory for one test, removed when dropped.
pub struct Tmp(pub PathBuf);

impl Tmp {
    /// `sprig-cli-{pid}-{test}` under the system's temporary directory, emptied first. The pid
    /// keeps test binaries running at the same time apart; `test` the tests of one binary.
    pub fn new(test: &str) -> Tmp {
        let d = std::env::temp_dir().join(format!("sprig-cli-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        Tmp(d)
    }
}

impl std::ops::Deref for Tmp {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Tmp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Writes `v` with `shape` as a `.npy` file.
pub fn write_npy<T: npyz::AutoSerialize + Copy>(path: &Path, shape: &[u64], v: &[T]) {
    let mut bytes = Vec::new();
    let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(&mut bytes).begin_nd().unwrap();
    w.extend(v.iter().copied()).unwrap();
    w.finish().unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// The shape and values of an f32 `.npy` file.
pub fn read_npy_f32(path: &Path) -> (Vec<u64>, Vec<f32>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let f = npyz::NpyFile::new(&bytes[..]).unwrap();
    let shape = f.shape().to_vec();
    (shape, f.into_vec::<f32>().unwrap())
}
