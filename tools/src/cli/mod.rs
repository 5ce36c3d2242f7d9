//! Subcommands of the `sprig` binary (one file each) and the formatting helpers they share.
pub mod bench;
mod ceiling;
pub mod convert;
pub mod demo;
pub mod inspect;
pub mod run;
pub mod synth;

use anyhow::{anyhow, Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use sprig_runtime::Model;
use std::path::Path;
use std::time::Duration;

/// Opens and validates a `.sprig` file; errors name the file (and the runtime's own message says
/// which node or tensor is at fault).
pub fn load_model(path: &Path) -> Result<Model<'static>> {
    let meta = std::fs::metadata(path).with_context(|| format!("cannot open '{}'", path.display()))?;
    anyhow::ensure!(meta.is_file(), "'{}' is not a file", path.display());
    Model::open(path).map_err(|e| anyhow!("'{}' is not a valid .sprig model: {e}", path.display()))
}

/// A spinner on stderr (drawn only when stderr is a terminal).
pub fn spinner(msg: impl Into<String>) -> ProgressBar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {msg} [{elapsed}]").expect("valid template"));
    pb.set_message(msg.into());
    pb.enable_steady_tick(Duration::from_millis(100));
    pb
}

/// `1x3x224x224`; `scalar` for rank 0.
pub fn fmt_shape(s: &[usize]) -> String {
    if s.is_empty() {
        "scalar".to_string()
    } else {
        s.iter().map(|d| d.to_string()).collect::<Vec<_>>().join("x")
    }
}

/// Bytes with a binary unit: `512 B`, `12.3 KiB`, `4.20 MiB`.
pub fn fmt_bytes(b: u64) -> String {
    let b = b as f64;
    if b < 1024.0 {
        format!("{b} B")
    } else if b < 1024.0 * 1024.0 {
        format!("{:.1} KiB", b / 1024.0)
    } else if b < 1024.0 * 1024.0 * 1024.0 {
        format!("{:.2} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{:.2} GiB", b / (1024.0 * 1024.0 * 1024.0))
    }
}

/// A count with an SI suffix: `950`, `12.3k`, `4.56M`, `1.20G`.
pub fn fmt_count(n: u64) -> String {
    let x = n as f64;
    if x < 1e3 {
        n.to_string()
    } else if x < 1e6 {
        format!("{:.1}k", x / 1e3)
    } else if x < 1e9 {
        format!("{:.2}M", x / 1e6)
    } else {
        format!("{:.2}G", x / 1e9)
    }
}

/// A plain-text table: left-aligned columns separated by two spaces, a rule under the header.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < w.len() {
                w[i] = w[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let s: Vec<String> = cells.iter().zip(&w).map(|(c, &wi)| format!("{c:<wi$}")).collect();
        s.join("  ").trim_end().to_string() + "\n"
    };
    let mut out = line(headers.to_vec());
    out += &(w.iter().map(|&wi| "-".repeat(wi)).collect::<Vec<_>>().join("  ") + "\n");
    for r in rows {
        out += &line(r.iter().map(|s| s.as_str()).collect());
    }
    out
}

/// Parses `NAME=D0,D1,...` (as in `--input-shape input=1,3,224,224`).
pub fn parse_input_shape(s: &str) -> Result<(String, Vec<usize>), String> {
    let (name, dims) = s.rsplit_once('=').ok_or_else(|| format!("'{s}' is not NAME=D0,D1,..."))?;
    if name.is_empty() {
        return Err(format!("'{s}': the input name is empty"));
    }
    let dims = if dims.trim().is_empty() {
        Vec::new() // a scalar input
    } else {
        dims.split(',')
            .map(|d| d.trim().parse::<usize>().map_err(|_| format!("'{s}': '{d}' is not a non-negative integer")))
            .collect::<Result<Vec<_>, _>>()?
    };
    Ok((name.to_string(), dims))
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let file_name = path.file_name().ok_or_else(|| anyhow!("'{}' does not name a file", path.display()))?;
    let tmp = dir.join(format!(".{}.tmp-{}", file_name.to_string_lossy(), std::process::id()));
    let res = (|| -> Result<()> {
        let mut f = std::fs::File::create(&tmp).with_context(|| format!("cannot create '{}'", tmp.display()))?;
        f.write_all(bytes).with_context(|| format!("cannot write '{}'", tmp.display()))?;
        f.sync_all().with_context(|| format!("cannot flush '{}'", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot rename '{}' to '{}'", tmp.display(), path.display()))
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_shapes() {
        assert_eq!(parse_input_shape("x=1,3,224,224").unwrap(), ("x".into(), vec![1, 3, 224, 224]));
        assert_eq!(parse_input_shape("a=b=2").unwrap(), ("a=b".into(), vec![2]));
        assert_eq!(parse_input_shape("s=").unwrap(), ("s".into(), vec![]));
        assert!(parse_input_shape("x").is_err());
        assert!(parse_input_shape("=1").is_err());
        assert!(parse_input_shape("x=1,-2").is_err());
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_shape(&[1, 3, 8]), "1x3x8");
        assert_eq!(fmt_bytes(2048), "2.0 KiB");
        assert_eq!(fmt_count(4_560_000), "4.56M");
        let t = table(&["a", "bb"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "a    bb\n---  --\nxyz  1\n");
    }
}
