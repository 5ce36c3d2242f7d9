//! A loaded, validated model. Loading never copies tensor data: constants are read in place from
//! the caller's bytes or the memory map.
use crate::error::{Error, Name};
use crate::format::{self, Parsed, Storage, ValueInfo, MAX_NODE_IO, NO_VALUE};
use crate::ops::{self, OpKind};
use crate::tensor::{DType, Shape, TensorInfo};

enum Bytes<'a> {
    Borrowed(&'a [u8]),
    #[cfg(feature = "std")]
    Mapped(memmap2::Mmap),
    #[cfg(feature = "std")]
    Owned(crate::AlignedBuf),
}

/// A validated `.sprig` model. `'a` is the lifetime of borrowed bytes (`'static` for files).
pub struct Model<'a> {
    bytes: Bytes<'a>,
}

/// Description of a graph input or output.
#[derive(Clone, Copy, Debug)]
pub struct IoInfo<'a> {
    pub name: &'a str,
    pub dtype: DType,
    pub shape: Shape,
}

/// A node as the model describes it.
#[derive(Clone, Copy, Debug)]
pub struct NodeInfo<'a> {
    pub name: &'a str,
    pub op: OpKind,
    pub params: &'a [u8],
    pub inputs: &'a [u32],
    pub outputs: &'a [u32],
    pub scratch_size: u64,
}

impl<'a> Model<'a> {
    /// Validates `bytes` (which must start at a 64-byte aligned address, as a memory map or
    /// [`crate::AlignedBuf`] does) and borrows them without copying.
    pub fn from_bytes(bytes: &'a [u8]) -> Result<Model<'a>, Error> {
        validate(bytes)?;
        Ok(Model { bytes: Bytes::Borrowed(bytes) })
    }

    fn bytes(&self) -> &[u8] {
        match &self.bytes {
            Bytes::Borrowed(b) => b,
            #[cfg(feature = "std")]
            Bytes::Mapped(m) => m,
            #[cfg(feature = "std")]
            Bytes::Owned(b) => b.as_slice(),
        }
    }

    /// The validated tables (cheap: re-derives slices from already checked offsets).
    pub fn parsed(&self) -> Parsed<'_> {
        Parsed::parse(self.bytes()).expect("validated at load")
    }

    /// Bytes of arena a [`crate::Session`] needs.
    pub fn arena_size(&self) -> usize {
        self.parsed().header.arena_size as usize
    }

    /// Bytes of scratch each extra worker thread gets: the largest node scratch, rounded up to
    /// 64 (a worker's share of a split op never needs more than the whole op; see [`crate::par`]).
    pub fn worker_scratch_size(&self) -> usize {
        let max = self.parsed().nodes.iter().map(|n| n.scratch_size).max().unwrap_or(0);
        (max as usize).next_multiple_of(crate::ALIGN)
    }

    /// Bytes of arena a [`crate::Session`] with `threads` threads needs: the model's arena
    /// (rounded up to 64) followed by one [`Model::worker_scratch_size`] region per extra thread.
    /// `None` on overflow. One thread (or 0) needs exactly [`Model::arena_size`].
    pub fn arena_size_for_threads(&self, threads: usize) -> Option<usize> {
        let extra = threads.saturating_sub(1);
        if extra == 0 {
            return Some(self.arena_size());
        }
        self.worker_scratch_size().checked_mul(extra)?.checked_add(self.arena_size().next_multiple_of(crate::ALIGN))
    }

    /// Size of the model file in bytes.
    pub fn file_size(&self) -> usize {
        self.bytes().len()
    }

    pub fn num_inputs(&self) -> usize {
        self.parsed().inputs.len()
    }

    pub fn num_outputs(&self) -> usize {
        self.parsed().outputs.len()
    }

    pub fn input(&self, i: usize) -> Option<IoInfo<'_>> {
        let p = self.parsed();
        p.inputs.get(i).map(|&v| io_info(&p, v))
    }

    pub fn output(&self, i: usize) -> Option<IoInfo<'_>> {
        let p = self.parsed();
        p.outputs.get(i).map(|&v| io_info(&p, v))
    }

    pub fn num_nodes(&self) -> usize {
        self.parsed().nodes.len()
    }

    pub fn node(&self, i: usize) -> Option<NodeInfo<'_>> {
        let p = self.parsed();
        let n = p.nodes.get(i)?;
        let (inputs, outputs) = p.node_io(i);
        Some(NodeInfo {
            name: p.node_name(i as u32),
            op: OpKind::from_u16(n.op)?,
            params: &p.params[n.params_off as usize..(n.params_off + n.params_len) as usize],
            inputs,
            outputs,
            scratch_size: n.scratch_size,
        })
    }

    pub fn num_values(&self) -> usize {
        self.parsed().values.len()
    }

    /// A value (tensor) record, validated.
    pub fn value(&self, i: u32) -> Option<ValueInfo<'_>> {
        let p = self.parsed();
        if (i as usize) < p.values.len() {
            p.check_value(i).ok()
        } else {
            None
        }
    }

    /// The bytes of a constant tensor.
    pub fn const_bytes(&self, i: u32) -> Option<&[u8]> {
        let v = self.value(i)?;
        if v.storage != Storage::Const {
            return None;
        }
        format::range(self.bytes(), v.offset, v.nbytes)
    }
}

#[cfg(feature = "std")]
impl Model<'static> {
    /// Memory-maps and validates a file. The file must not be modified while the model lives.
    pub fn open(path: impl AsRef<std::path::Path>) -> Result<Model<'static>, Error> {
        let file = std::fs::File::open(path)?;
        // SAFETY: the map is read-only and private to this Model; the documented contract is that
        // the file is not truncated or modified while mapped (as for every mmap-based loader).
        let map = unsafe { memmap2::Mmap::map(&file)? };
        validate(&map)?;
        Ok(Model { bytes: Bytes::Mapped(map) })
    }

    /// Validates bytes and keeps an aligned copy (for bytes of unknown alignment).
    pub fn from_vec(bytes: &[u8]) -> Result<Model<'static>, Error> {
        let buf = crate::AlignedBuf::from_bytes(bytes);
        validate(buf.as_slice())?;
        Ok(Model { bytes: Bytes::Owned(buf) })
    }
}

fn io_info<'a>(p: &Parsed<'a>, v: u32) -> IoInfo<'a> {
    let info = p.check_value(v).expect("validated at load");
    IoInfo { name: info.name, dtype: info.dtype, shape: info.shape }
}

fn ranges_overlap(a: (u64, u64), b: (u64, u64)) -> bool {
    a.1 > 0 && b.1 > 0 && a.0 < b.0 + b.1 && b.0 < a.0 + a.1
}

/// Full validation: structure, every value, graph I/O, and every node (op code, I/O indices,
/// parameters and shapes through the op's own `check`, scratch, aliasing, execution order).
fn validate(bytes: &[u8]) -> Result<(), Error> {
    let p = Parsed::parse(bytes)?;
    let nv = p.values.len() as u32;
    for i in 0..nv {
        p.check_value_full(i)?;
    }
    // Which values hold data before node k runs: constants and graph inputs at first.
    // Tracked with a bitmap over values would need allocation; instead we record, per value, the
    // index of its producer by scanning (O(nodes * io)), which needs no memory.
    for (k, &v) in p.inputs.iter().enumerate() {
        if v >= nv {
            return Err(Error::BadGraphIo { index: k as u32, problem: "input index out of range" });
        }
        if p.check_value(v)?.storage != Storage::Arena {
            return Err(Error::BadGraphIo { index: k as u32, problem: "input is not an arena tensor" });
        }
        if p.inputs[..k].contains(&v) {
            return Err(Error::BadGraphIo { index: k as u32, problem: "input listed twice" });
        }
    }
    for (k, &v) in p.outputs.iter().enumerate() {
        if v >= nv {
            return Err(Error::BadGraphIo { index: k as u32, problem: "output index out of range" });
        }
        if p.check_value(v)?.storage != Storage::Arena {
            return Err(Error::BadGraphIo { index: k as u32, problem: "output is not an arena tensor" });
        }
    }
    let arena = p.header.arena_size;
    for (ni, n) in p.nodes.iter().enumerate() {
        let ni = ni as u32;
        let name = || Name::new(p.node_name(ni));
        let bad = |problem| Error::BadNode { index: ni, name: name(), problem };
        p.string(n.name_off, n.name_len).ok_or_else(|| bad("name out of bounds or not UTF-8"))?;
        let op = OpKind::from_u16(n.op).ok_or_else(|| Error::UnknownOp { index: ni, name: name(), op: n.op })?;
        let (nin, nout) = (n.n_inputs as usize, n.n_outputs as usize);
        if nin > MAX_NODE_IO || nout > MAX_NODE_IO || nout == 0 {
            return Err(bad("too many inputs or outputs, or no output"));
        }
        let io_end = (n.io_start as usize).checked_add(nin + nout).ok_or_else(|| bad("I/O range overflows"))?;
        let io = p.node_io.get(n.io_start as usize..io_end).ok_or_else(|| bad("I/O range out of bounds"))?;
        let params_end = n.params_off.checked_add(n.params_len).ok_or_else(|| bad("params range overflows"))?;
        let params = p.params.get(n.params_off as usize..params_end as usize).ok_or_else(|| bad("params out of bounds"))?;
        if !n.params_off.is_multiple_of(8) {
            return Err(bad("params not 8-aligned"));
        }
        let scratch_end = n.scratch_offset.checked_add(n.scratch_size).ok_or_else(|| bad("scratch range overflows"))?;
        if scratch_end > arena || !n.scratch_offset.is_multiple_of(format::ARENA_ALIGN as u64) {
            return Err(bad("scratch outside the arena or misaligned"));
        }
        let mut in_infos: [Option<TensorInfo>; MAX_NODE_IO] = [None; MAX_NODE_IO];
        let mut out_infos: [Option<TensorInfo>; MAX_NODE_IO] = [None; MAX_NODE_IO];
        for (slot, &v) in io.iter().enumerate() {
            let is_out = slot >= nin;
            if v == NO_VALUE && !is_out {
                continue;
            }
            if v >= nv {
                return Err(bad("refers to a tensor index out of range"));
            }
            let info = p.check_value(v)?;
            let ti = TensorInfo { dtype: info.dtype, shape: info.shape, encoding: info.encoding };
            if is_out {
                if info.storage != Storage::Arena {
                    return Err(bad("writes to a constant tensor"));
                }
                if p.inputs.contains(&v) {
                    return Err(bad("writes to a graph input"));
                }
                // Outputs must not overlap each other, the inputs, or the scratch.
                let r = (info.offset, info.nbytes);
                if ranges_overlap(r, (n.scratch_offset, n.scratch_size)) {
                    return Err(bad("an output overlaps the scratch"));
                }
                for &o in io.iter().take(slot) {
                    if o == NO_VALUE {
                        continue;
                    }
                    let oi = p.check_value(o)?;
                    if oi.storage == Storage::Arena && ranges_overlap(r, (oi.offset, oi.nbytes)) {
                        return Err(bad("an output overlaps another input or output of the node"));
                    }
                }
                // Single assignment: no earlier node writes this value.
                for prev in &p.nodes[..ni as usize] {
                    let s = prev.io_start as usize + prev.n_inputs as usize;
                    if p.node_io[s..s + prev.n_outputs as usize].contains(&v) {
                        return Err(bad("writes a tensor that an earlier node already wrote"));
                    }
                }
                out_infos[slot - nin] = Some(ti);
            } else {
                if info.storage == Storage::Arena {
                    if ranges_overlap((info.offset, info.nbytes), (n.scratch_offset, n.scratch_size)) {
                        return Err(bad("an input overlaps the scratch"));
                    }
                    // Must be a graph input or written by an earlier node.
                    let produced = p.inputs.contains(&v)
                        || p.nodes[..ni as usize].iter().any(|prev| {
                            let s = prev.io_start as usize + prev.n_inputs as usize;
                            p.node_io[s..s + prev.n_outputs as usize].contains(&v)
                        });
                    if !produced {
                        return Err(bad("reads a tensor before any node writes it"));
                    }
                }
                in_infos[slot] = Some(ti);
            }
        }
        let mut outs = [TensorInfo { dtype: DType::F32, shape: Shape::SCALAR, encoding: crate::tensor::Encoding::Dense }; MAX_NODE_IO];
        for k in 0..nout {
            outs[k] = out_infos[k].expect("set above");
        }
        let need = ops::check(op, params, &in_infos[..nin], &outs[..nout])
            .map_err(|error| Error::Op { node: ni, name: name(), op: op.name(), error })?;
        if (need as u64) > n.scratch_size {
            return Err(bad("scratch smaller than the op needs"));
        }
    }
    // The stated arena size must be what the tensors and scratch need (rounded up to 64), so that
    // a corrupted header cannot make a host allocate an absurd arena.
    let mut max_end = 0u64;
    for i in 0..nv {
        let v = p.check_value(i)?;
        if v.storage == Storage::Arena {
            max_end = max_end.max(v.offset + v.nbytes);
        }
    }
    for n in p.nodes {
        max_end = max_end.max(n.scratch_offset + n.scratch_size);
    }
    if arena > max_end.next_multiple_of(format::ARENA_ALIGN as u64) {
        return Err(Error::Section { kind: 0, problem: "arena size is larger than the model's tensors need" });
    }
    // Every graph output is a graph input or written by some node.
    for (k, &v) in p.outputs.iter().enumerate() {
        let produced = p.inputs.contains(&v)
            || p.nodes.iter().any(|n| {
                let s = n.io_start as usize + n.n_inputs as usize;
                p.node_io[s..s + n.n_outputs as usize].contains(&v)
            });
        if !produced {
            return Err(Error::BadGraphIo { index: k as u32, problem: "output is never written" });
        }
    }
    Ok(())
}
