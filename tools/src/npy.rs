//! `.npy` files in and out of [`OwnedTensor`]s (for `sprig run`).
//!
//! Reading accepts C-order arrays of f32, f64 (narrowed to f32), i64, i32, u8 and bool, in either
//! byte order; Fortran-order arrays are rejected (their element order would silently transpose the
//! data). Writing produces little-endian C-order arrays of the tensor's own dtype.
use crate::tensor::{OwnedData, OwnedTensor};
use anyhow::{bail, Context, Result};
use npyz::{DType as NpyDType, NpyFile, Order, TypeChar, WriterBuilder};
use std::io::Write;
use std::path::Path;

/// Reads an `.npy` file as a tensor named `name`.
pub fn read(path: &Path, name: &str) -> Result<OwnedTensor> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read '{}'", path.display()))?;
    from_bytes(&bytes, name).with_context(|| format!("'{}' is not a usable .npy file", path.display()))
}

/// Parses `.npy` bytes as a tensor named `name`.
pub fn from_bytes(bytes: &[u8], name: &str) -> Result<OwnedTensor> {
    let npy = NpyFile::new(bytes).context("bad .npy header")?;
    if npy.order() == Order::Fortran && npy.shape().len() > 1 {
        bail!("Fortran-order arrays are not supported (save with numpy.ascontiguousarray)");
    }
    let shape: Vec<usize> = npy
        .shape()
        .iter()
        .map(|&d| usize::try_from(d).context("dimension does not fit in usize"))
        .collect::<Result<_>>()?;
    let ts = match npy.dtype() {
        NpyDType::Plain(ts) => ts,
        other => bail!("unsupported .npy dtype {:?} (structured arrays are not tensors)", other.descr()),
    };
    let descr = ts.to_string();
    let data = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Float, 4) => OwnedData::F32(npy.into_vec::<f32>()?),
        (TypeChar::Float, 8) => OwnedData::F32(npy.into_vec::<f64>()?.into_iter().map(|x| x as f32).collect()),
        (TypeChar::Int, 8) => OwnedData::I64(npy.into_vec::<i64>()?),
        (TypeChar::Int, 4) => OwnedData::I32(npy.into_vec::<i32>()?),
        (TypeChar::Uint, 1) => OwnedData::U8(npy.into_vec::<u8>()?),
        (TypeChar::Bool, 1) => OwnedData::Bool(npy.into_vec::<bool>()?.into_iter().map(u8::from).collect()),
        _ => bail!("unsupported .npy dtype '{descr}' (supported: f32, f64, i64, i32, u8, bool)"),
    };
    let numel: usize = shape.iter().product();
    if data.len() != numel {
        bail!("header shape {shape:?} holds {numel} elements but the file has {}", data.len());
    }
    Ok(OwnedTensor { name: name.to_string(), shape, data })
}

/// Serialises a tensor as `.npy` bytes.
pub fn to_bytes(t: &OwnedTensor) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let shape: Vec<u64> = t.shape.iter().map(|&d| d as u64).collect();
    fn put<T: npyz::AutoSerialize + Copy>(out: &mut Vec<u8>, shape: &[u64], data: &[T]) -> Result<()> {
        let mut w = npyz::WriteOptions::new().default_dtype().shape(shape).writer(out).begin_nd()?;
        w.extend(data.iter().copied())?;
        w.finish()?;
        Ok(())
    }
    match &t.data {
        OwnedData::F32(v) => put(&mut out, &shape, v)?,
        OwnedData::I64(v) => put(&mut out, &shape, v)?,
        OwnedData::I32(v) => put(&mut out, &shape, v)?,
        OwnedData::U8(v) => put(&mut out, &shape, v)?,
        OwnedData::Bool(v) => {
            let b: Vec<bool> = v.iter().map(|&x| x != 0).collect();
            put(&mut out, &shape, &b)?
        }
    }
    Ok(out)
}

/// Writes a tensor to `path` as `.npy`.
pub fn write(path: &Path, t: &OwnedTensor) -> Result<()> {
    let bytes = to_bytes(t).with_context(|| format!("cannot encode tensor '{}' as .npy", t.name))?;
    let mut f = std::fs::File::create(path).with_context(|| format!("cannot create '{}'", path.display()))?;
    f.write_all(&bytes).with_context(|| format!("cannot write '{}'", path.display()))?;
    Ok(())
}

/// A file-name-safe version of a tensor name: every char outside `[A-Za-z0-9._-]` becomes `_`.
/// Names made only of dots ("", ".", "..") get a leading `_` so they cannot name a directory.
pub fn sanitize_name(name: &str) -> String {
    let mut s: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c } else { '_' }).collect();
    if s.chars().all(|c| c == '.') {
        s.insert(0, '_');
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_every_dtype() {
        let cases = vec![
            OwnedData::F32(vec![1.5, -2.0, 0.25, 7.0, 8.0, -9.5]),
            OwnedData::I64(vec![1, -2, 3, i64::MAX, i64::MIN, 0]),
            OwnedData::I32(vec![1, -2, 3, 4, 5, 6]),
            OwnedData::U8(vec![0, 1, 2, 3, 254, 255]),
            OwnedData::Bool(vec![0, 1, 1, 0, 0, 1]),
        ];
        for data in cases {
            let t = OwnedTensor { name: "x".into(), shape: vec![2, 3], data };
            let back = from_bytes(&to_bytes(&t).unwrap(), "x").unwrap();
            assert_eq!(back, t);
        }
    }

    #[test]
    fn sanitizes() {
        assert_eq!(sanitize_name("out/put:0"), "out_put_0");
        assert_eq!(sanitize_name("a.b-c_D9"), "a.b-c_D9");
        assert_eq!(sanitize_name(".."), "_..");
        assert_eq!(sanitize_name("é"), "_");
    }
}
