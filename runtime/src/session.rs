//! A session runs a model inside one caller-provided arena. The order load → prepare → run is
//! carried by types: a [`Session`] can only be made from a validated [`Model`] and an arena that
//! fits, and `run` borrows both for its duration. `run` never allocates.
//!
//! Threads (std): [`Session::with_threads`] starts the session's pool once (`n - 1` workers, joined
//! on drop) and lets Conv and MatMul split their kernel calls across it ([`crate::par`]); the
//! extra workers' scratch lies after the model's arena ([`Model::arena_size_for_threads`]).
use crate::error::{Error, Name};
use crate::format::{Parsed, Storage, ARENA_ALIGN, MAX_NODE_IO, NO_VALUE};
use crate::model::Model;
use crate::ops::{self, OpKind};
use crate::tensor::{Encoding, Shape, Tensor, TensorInfo, TensorMut, TensorView, TensorViewMut};
use sprig_kernels::Isa;

/// Reported to a hook before and after each node (for profilers such as `sprig bench`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NodeEvent {
    Start { node: usize, op: OpKind },
    End { node: usize, op: OpKind },
}

pub struct Session<'m, 'a> {
    model: &'m Model<'m>,
    parsed: Parsed<'m>,
    base: *mut u8,
    len: usize,
    /// The ISAs of the dense and of the sparse kernels.
    isas: ops::Isas,
    /// Per-worker scratch regions after the model's arena (see [`crate::par`]): start, size, count.
    #[cfg(feature = "std")]
    worker_base: *mut u8,
    #[cfg(feature = "std")]
    worker_size: usize,
    #[cfg(feature = "std")]
    worker_count: usize,
    #[cfg(feature = "std")]
    pool: Option<crate::par::Pool>,
    /// First nodes of transposed MatMul pairs (see [`transposed_pairs`]), ascending.
    pairs: [u32; MAX_PAIRS],
    npairs: usize,
    /// Nodes that find Aᵀ already in their scratch (see [`shared_transposed_a`]), ascending.
    shared: [u32; MAX_PAIRS],
    nshared: usize,
    _arena: core::marker::PhantomData<&'a mut [u8]>,
}

/// The most transposed MatMul pairs a session uses (later ones run unpaired); BERT-base has 12.
const MAX_PAIRS: usize = 64;

/// Nodes `i` such that nodes `i` and `i + 1` are MatMuls with block-sparse B, no bias input and
/// more than `SPMV_MAX_ROWS` rows, node `i + 1` reads node `i`'s output as its A, and nothing else
/// (no other node, no graph output) reads that value: node `i` then writes Yᵀ and node `i + 1`
/// reads it as Aᵀ, skipping two transposes of the intermediate (`ops::sparse::exec_matmul`).
/// One pass over the nodes' inputs per candidate, at session creation.
fn transposed_pairs(p: &crate::format::Parsed) -> ([u32; MAX_PAIRS], usize) {
    let mut out = [0u32; MAX_PAIRS];
    let mut n = 0;
    for i in 0..p.nodes.len().saturating_sub(1) {
        if n == MAX_PAIRS {
            break;
        }
        if !is_matmul(p, i) || !is_matmul(p, i + 1) {
            continue;
        }
        let ((ia, oa), (ib, _)) = (p.node_io(i), p.node_io(i + 1));
        let Some(&v) = oa.first() else { continue };
        if ib.first() != Some(&v) || !ops::sparse::pairable(p, ia) || !ops::sparse::pairable(p, ib) || p.outputs.contains(&v) {
            continue;
        }
        let other_reader = (0..p.nodes.len()).any(|j| j != i + 1 && p.node_io(j).0.contains(&v));
        if !other_reader {
            out[n] = i as u32;
            n += 1;
        }
    }
    (out, n)
}

/// Whether node `ni` is a MatMul.
fn is_matmul(p: &crate::format::Parsed, ni: usize) -> bool {
    OpKind::from_u16(p.nodes[ni].op) == Some(OpKind::MatMul)
}

/// Nodes `i` such that nodes `i - 1` and `i` are MatMuls on the SpMM path (block-sparse B, more
/// than `SPMV_MAX_ROWS` rows of f32 A) with the same A and the same scratch range, node `i - 1`
/// not reading a transposed pair's intermediate: node `i - 1` leaves Aᵀ in the head of that
/// scratch (its Yᵀ and Y go elsewhere: the scratch tail and Y's buffer, which the loader checked
/// to be disjoint from the scratch), and no other node runs in between, so node `i` skips its
/// transpose of A. BERT's q, k and v projections read one LayerNorm output: k and v qualify when
/// the planner gave the three the same scratch offset. Chains (q → k → v) follow, since a node
/// that skips its transpose leaves the scratch head as it found it.
fn shared_transposed_a(p: &crate::format::Parsed, pairs: &[u32]) -> ([u32; MAX_PAIRS], usize) {
    let mut out = [0u32; MAX_PAIRS];
    let mut n = 0;
    for i in 1..p.nodes.len() {
        if n == MAX_PAIRS {
            break;
        }
        if !is_matmul(p, i - 1) || !is_matmul(p, i) || i >= 2 && pairs.binary_search(&(i as u32 - 2)).is_ok() {
            continue;
        }
        let (a, b) = (p.node_io(i - 1).0, p.node_io(i).0);
        let (na, nb) = (&p.nodes[i - 1], &p.nodes[i]);
        if !a.is_empty() && a.first() == b.first() && (na.scratch_offset, na.scratch_size) == (nb.scratch_offset, nb.scratch_size) && ops::sparse::spmm_path(p, a) && ops::sparse::spmm_path(p, b) {
            out[n] = i as u32;
            n += 1;
        }
    }
    (out, n)
}

impl<'m, 'a> Session<'m, 'a> {
    /// A session using the best kernels of this CPU for each family: [`Isa::detect`] for the
    /// dense ones, [`Isa::detect_sparse`] for SpMM, SpMV and the direct stem conv.
    pub fn new(model: &'m Model<'m>, arena: &'a mut [u8]) -> Result<Self, Error> {
        Self::with_isa(model, arena, ops::Isas::detect())
    }

    /// A session using the kernels for `isa`: one [`Isa`] for every kernel family, or an
    /// [`ops::Isas`] naming the dense and the sparse one ([`ops::Isas::detect`] is what
    /// [`Self::new`] uses). A family whose ISA this CPU lacks runs its scalar kernels.
    pub fn with_isa(model: &'m Model<'m>, arena: &'a mut [u8], isa: impl Into<ops::Isas>) -> Result<Self, Error> {
        let need = model.arena_size();
        if arena.len() < need {
            return Err(Error::ArenaTooSmall { needed: need, available: arena.len() });
        }
        if !(arena.as_ptr() as usize).is_multiple_of(ARENA_ALIGN) {
            return Err(Error::Misaligned { what: "arena (need 64-byte alignment)" });
        }
        let or_scalar = |isa: Isa| if isa.available() { isa } else { Isa::Scalar };
        let isa: ops::Isas = isa.into();
        let isas = ops::Isas { dense: or_scalar(isa.dense), sparse: or_scalar(isa.sparse) };
        let parsed = model.parsed();
        let (pairs, npairs) = transposed_pairs(&parsed);
        let (shared, nshared) = shared_transposed_a(&parsed, &pairs[..npairs]);
        Ok(Session {
            model,
            parsed,
            base: arena.as_mut_ptr(),
            len: arena.len(),
            isas,
            #[cfg(feature = "std")]
            worker_base: core::ptr::null_mut(),
            #[cfg(feature = "std")]
            worker_size: 0,
            #[cfg(feature = "std")]
            worker_count: 0,
            #[cfg(feature = "std")]
            pool: None,
            pairs,
            npairs,
            shared,
            nshared,
            _arena: core::marker::PhantomData,
        })
    }

    /// A session running each heavy layer on `threads` threads (the calling one plus
    /// `threads - 1` workers started here and joined on drop; 0 counts as 1). The arena must
    /// hold [`Model::arena_size_for_threads`]`(threads)` bytes: the extra workers' scratch lives
    /// after the model's arena. Results equal the one-thread ones within float rounding.
    #[cfg(feature = "std")]
    pub fn with_threads(model: &'m Model<'m>, arena: &'a mut [u8], isa: impl Into<ops::Isas>, threads: usize) -> Result<Self, Error> {
        let threads = threads.max(1);
        let need = model.arena_size_for_threads(threads).ok_or(Error::ArenaTooSmall { needed: usize::MAX, available: arena.len() })?;
        if arena.len() < need {
            return Err(Error::ArenaTooSmall { needed: need, available: arena.len() });
        }
        let mut s = Self::with_isa(model, arena, isa)?;
        if threads > 1 {
            s.worker_size = model.worker_scratch_size();
            s.worker_count = threads - 1;
            // SAFETY: `arena_size().next_multiple_of(64) + worker_count * worker_size <= len`
            // (checked above), so the offset is inside the arena.
            s.worker_base = unsafe { s.base.add(model.arena_size().next_multiple_of(crate::ALIGN)) };
            s.pool = Some(crate::par::Pool::new(threads)?);
        }
        Ok(s)
    }

    /// Threads this session splits heavy layers across (1 unless made by `with_threads`).
    pub fn threads(&self) -> usize {
        #[cfg(feature = "std")]
        if let Some(p) = &self.pool {
            return crate::par::Parallel::threads(p);
        }
        1
    }

    fn workers(&self) -> crate::par::Workers<'_> {
        #[cfg(feature = "std")]
        if let Some(p) = &self.pool {
            // SAFETY: the regions lie after the model's arena (checked in `with_threads`),
            // 64-aligned (arena and sizes are multiples of 64), and no node's tensors or scratch
            // reach them (every model range ends at `arena_size`).
            let w = unsafe { crate::par::Workers::new(p, self.worker_base, self.worker_size, self.worker_count) };
            // SAFETY: the ops run only on views of this session's model, validated at load
            // (`Model` runs `Parsed::check_value_full` on every value, which parses every
            // block-sparse blob), and the model's bytes are immutable while it is borrowed.
            return unsafe { w.trusting_blobs() };
        }
        // SAFETY: as above.
        unsafe { crate::par::Workers::serial().trusting_blobs() }
    }

    /// How many pairs of sparse MatMuls (an FFN's or MLP's up and down) pass their intermediate
    /// transposed, skipping two transposes each (see `ops::sparse::exec_matmul`).
    pub fn transposed_matmul_pairs(&self) -> usize {
        self.npairs
    }

    /// How many sparse MatMuls find their Aᵀ already in scratch, left by the previous node on
    /// the same A (BERT's k and v projections after q), and skip transposing A.
    pub fn shared_transposed_inputs(&self) -> usize {
        self.nshared
    }

    pub fn model(&self) -> &'m Model<'m> {
        self.model
    }

    /// The instruction set of this session's dense kernels (GEMM, depthwise conv, transposes).
    pub fn isa(&self) -> Isa {
        self.isas.dense
    }

    /// The instruction set of this session's sparse kernels (SpMM, SpMV) and of its direct stem
    /// convs ([`ops::Isas::stem`]).
    pub fn sparse_isa(&self) -> Isa {
        self.isas.sparse
    }

    /// Both ISAs: [`Self::isa`] and [`Self::sparse_isa`].
    pub fn isas(&self) -> ops::Isas {
        self.isas
    }

    /// Runs the model: `inputs` in the model's input order, `outputs` in its output order.
    pub fn run(&mut self, inputs: &[Tensor], outputs: &mut [TensorMut]) -> Result<(), Error> {
        self.run_with_hook(inputs, outputs, &mut |_| {})
    }

    /// [`Session::run`], calling `hook` before and after each node.
    pub fn run_with_hook(
        &mut self,
        inputs: &[Tensor],
        outputs: &mut [TensorMut],
        hook: &mut dyn FnMut(NodeEvent),
    ) -> Result<(), Error> {
        let p = self.parsed;
        if inputs.len() != p.inputs.len() {
            return Err(Error::IoCount { what: "inputs", expected: p.inputs.len(), found: inputs.len() });
        }
        if outputs.len() != p.outputs.len() {
            return Err(Error::IoCount { what: "outputs", expected: p.outputs.len(), found: outputs.len() });
        }
        // Check everything before touching the arena.
        for (t, &v) in inputs.iter().zip(p.inputs) {
            let info = p.check_value(v)?;
            if t.data.dtype() != info.dtype {
                return Err(Error::DTypeMismatch { expected: info.dtype, found: t.data.dtype() });
            }
            if t.shape != info.shape.dims() {
                let mut found = [0usize; 8];
                let r = t.shape.len().min(8);
                found[..r].copy_from_slice(&t.shape[..r]);
                return Err(Error::ShapeMismatch { tensor: Name::new(info.name), expected: info.shape, found_rank: t.shape.len(), found });
            }
            if t.data.bytes().len() as u64 != info.nbytes {
                return Err(Error::LengthMismatch {
                    tensor: Name::new(info.name),
                    expected: info.shape.numel(),
                    found: t.data.bytes().len() / info.dtype.size(),
                });
            }
        }
        for (t, &v) in outputs.iter().zip(p.outputs) {
            let info = p.check_value(v)?;
            if t.dtype() != info.dtype {
                return Err(Error::DTypeMismatch { expected: info.dtype, found: t.dtype() });
            }
        }
        for (t, &v) in outputs.iter_mut().zip(p.outputs) {
            let info = p.check_value(v)?;
            let got = t.bytes_mut().len();
            if got as u64 != info.nbytes {
                return Err(Error::LengthMismatch { tensor: Name::new(info.name), expected: info.shape.numel(), found: got / info.dtype.size() });
            }
        }
        for (t, &v) in inputs.iter().zip(p.inputs) {
            let info = p.check_value(v)?;
            self.arena_mut(info.offset, info.nbytes).copy_from_slice(t.data.bytes());
        }
        let workers = self.workers();
        for (ni, n) in p.nodes.iter().enumerate() {
            let op = OpKind::from_u16(n.op).expect("validated at load");
            hook(NodeEvent::Start { node: ni, op });
            let (ins, outs) = p.node_io(ni);
            let mut in_views: [Option<TensorView>; MAX_NODE_IO] = [None; MAX_NODE_IO];
            for (slot, &v) in ins.iter().enumerate() {
                if v != NO_VALUE {
                    in_views[slot] = Some(self.view(v)?);
                }
            }
            let dummy = TensorInfo { dtype: crate::DType::F32, shape: Shape::SCALAR, encoding: Encoding::Dense };
            let mut out_views: [TensorViewMut; MAX_NODE_IO] = core::array::from_fn(|_| TensorViewMut { info: dummy, bytes: &mut [] });
            for (slot, &v) in outs.iter().enumerate() {
                let info = p.check_value(v)?;
                out_views[slot] = TensorViewMut {
                    info: TensorInfo { dtype: info.dtype, shape: info.shape, encoding: info.encoding },
                    // SAFETY: validated at load: every output lies in the arena and overlaps no
                    // other input, output or the scratch of this node, so this &mut is unique
                    // for the duration of the node.
                    bytes: unsafe { self.arena_slice_mut(info.offset, info.nbytes) },
                };
            }
            // SAFETY: as above, the scratch range is in the arena and disjoint from the node's
            // inputs and outputs.
            let scratch = unsafe { self.arena_slice_mut(n.scratch_offset, n.scratch_size) };
            let params = &p.params[n.params_off as usize..(n.params_off + n.params_len) as usize];
            let paired = |i: usize| self.pairs[..self.npairs].binary_search(&(i as u32)).is_ok();
            let shared = self.shared[..self.nshared].binary_search(&(ni as u32)).is_ok();
            let t = ops::sparse::Transposed { a: ni > 0 && paired(ni - 1), y: paired(ni), a_in_scratch: shared };
            let r = if t != ops::sparse::Transposed::default() {
                ops::exec_matmul_transposed(params, &in_views[..ins.len()], &mut out_views[..outs.len()], scratch, self.isas, &workers, t)
            } else {
                ops::exec_with(op, params, &in_views[..ins.len()], &mut out_views[..outs.len()], scratch, self.isas, &workers)
            };
            r.map_err(|error| Error::Op {
                node: ni as u32,
                name: Name::new(p.node_name(ni as u32)),
                op: op.name(),
                error,
            })?;
            hook(NodeEvent::End { node: ni, op });
        }
        for (t, &v) in outputs.iter_mut().zip(p.outputs) {
            let info = p.check_value(v)?;
            // SAFETY: in-bounds (validated) and no other view of the arena is alive here.
            let src = unsafe { self.arena_slice_mut(info.offset, info.nbytes) };
            t.bytes_mut().copy_from_slice(src);
        }
        Ok(())
    }

    fn view(&self, v: u32) -> Result<TensorView<'m>, Error> {
        let info = self.parsed.check_value(v)?;
        let ti = TensorInfo { dtype: info.dtype, shape: info.shape, encoding: info.encoding };
        let bytes: &[u8] = match info.storage {
            Storage::Const => self.model.const_bytes(v).expect("validated at load"),
            // SAFETY: validated in-bounds; while this shared view lives, the node's outputs and
            // scratch (the only &mut views) do not overlap it (checked at load).
            Storage::Arena => unsafe { &*(self.arena_slice_mut(info.offset, info.nbytes) as *const [u8]) },
        };
        Ok(TensorView { info: ti, bytes })
    }

    fn arena_mut(&mut self, off: u64, len: u64) -> &mut [u8] {
        // SAFETY: `&mut self` excludes every other view; the range was validated at load.
        unsafe { self.arena_slice_mut(off, len) }
    }

    /// # Safety
    /// `off + len <= self.len` (validated at load for every value and scratch range) and the
    /// caller guarantees no other live reference overlaps the returned range mutably.
    unsafe fn arena_slice_mut<'x>(&self, off: u64, len: u64) -> &'x mut [u8] {
        debug_assert!(off + len <= self.len as u64);
        // SAFETY: forwarded from the caller's contract; `base` is valid for `self.len` bytes for
        // 'a, which outlives every view handed to ops within one run.
        unsafe { core::slice::from_raw_parts_mut(self.base.add(off as usize), len as usize) }
    }
}
