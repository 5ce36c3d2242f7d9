//! Channel reduction: physically removes the output channels, units and features that structured
//! pruning left dead, together with everything that only feeds them or only reads them.
//!
//! Runs on the IR after `passes` (BatchNormalization is folded, activations fused) and before
//! the choice of sparse formats. Three steps:
//! 1. **Lattice** (forward, in node order): each activation tensor the pass understands gets a
//!    channel axis and a per-channel state, `Live` or `Const(c)` (the channel equals `c` at every
//!    position). Producers: a Conv / MatMul-with-constant-weight output channel is `Const` when its
//!    weights on every live input channel are zero; constant input channels contribute
//!    `c × Σ weights` (through a padded conv only when `c == 0`: padding makes it position
//!    dependent otherwise). Elementwise ops, pools, Concat, Split, Slice, Transpose and Reshape
//!    carry the states (Reshape / Flatten merging a channel with inner dims maps it to a block of
//!    features).
//! 2. **Decision**: every (tensor, channel) is a node of a union-find; ops that carry a channel
//!    one-to-one (elementwise, depthwise conv, pools, shape ops) link input and output channels.
//!    Graph outputs, grouped (non-depthwise) convs, padded consumers of non-zero constant channels
//!    and every op the pass cannot reason about *pin* the channels they touch. A class is removed
//!    when no member is pinned and every member is `Const`. A tensor never loses all its channels.
//! 3. **Rewrite**: producers drop output channels (weights, bias, depthwise group); consumers drop
//!    input channels and fold the constant into their bias (Conv: `c × Σ kernel`, MatMul:
//!    `c × weight row`; a MatMul without bias gets one); constant operands of elementwise ops are
//!    sliced; Slice starts are re-indexed; tensor shapes shrink. The rewrite is planned on the
//!    unchanged graph and applied only once every touched node is planned: a node whose inputs,
//!    weights or params disagree with what the analysis accepted pins its tensors' channels and
//!    the decision is made again (never a panic, never a half-rewritten graph).
//!
//! A rewrite never changes what a graph output computes (up to float rounding of folded biases).
//! Constant tensors are never mutated in place: changed weights are new tensors.
use crate::convert::LayerReport;
use crate::ir::{Graph, Node, TensorId};
use crate::tensor::OwnedData;
use sprig_runtime::ops::params::{ActParams, AxisParams, ConvParams, PoolParams, SliceParams, TransposeParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::DType;
use sprig_runtime::Activation;

#[derive(Clone, Copy, Debug, PartialEq)]
enum St {
    Live,
    Const(f32),
}

/// Channel axis and per-channel states of one activation tensor.
#[derive(Clone, Debug)]
struct Chan {
    axis: usize,
    st: Vec<St>,
    /// Index of channel 0 in the union-find.
    base: usize,
}

/// What the pass did to one weight layer (Conv or MatMul with a constant weight).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct LayerChange {
    pub node: String,
    /// Output channels (units) before and after.
    pub out_before: usize,
    pub out_after: usize,
    /// Input channels (rows) before and after.
    pub in_before: usize,
    pub in_after: usize,
    /// Parameters and FLOPs of the layer before the reduction (after: the layer's own report).
    pub params_before: usize,
    pub flops_before: u64,
}

/// The pass's result, for the report.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ReduceStats {
    /// Channels removed over all activation tensors the pass analysed, and their total.
    pub channels_removed: usize,
    pub channels_total: usize,
    pub layers: Vec<LayerChange>,
    /// Attention heads removed (dead V columns).
    pub heads_removed: usize,
    /// Where constant channels were kept because an op stopped the analysis (node, op, reason).
    pub stops: Vec<String>,
}

struct Ctx<'g> {
    g: &'g Graph,
    chan: Vec<Option<Chan>>,
    parent: Vec<usize>,
    pinned: Vec<bool>,
    stops: Vec<String>,
}

fn f32_data(g: &Graph, t: TensorId) -> Option<&[f32]> {
    match &g.tensors[t].data {
        Some(OwnedData::F32(v)) => Some(v),
        _ => None,
    }
}

fn act_at(params: &[u8], off: usize) -> Option<Activation> {
    let a: ActParams = bytemuck::pod_read_unaligned(params.get(off..off + std::mem::size_of::<ActParams>())?);
    a.activation()
}

fn read<P: bytemuck::Pod>(params: &[u8]) -> Option<P> {
    (params.len() == std::mem::size_of::<P>()).then(|| bytemuck::pod_read_unaligned(params))
}

fn is_unary(op: OpKind) -> bool {
    use OpKind::*;
    matches!(
        op,
        Relu | LeakyRelu | Clip | Sigmoid | HardSigmoid | HardSwish | Tanh | Erf | Gelu | Exp | Sqrt | Reciprocal | Neg
            | Abs | Log | Floor | Ceil | Softplus | Sin | Cos | Round | Sign | Elu
    )
}

fn binary_eval(op: OpKind, a: f32, b: f32) -> Option<f32> {
    Some(match op {
        OpKind::Add => a + b,
        OpKind::Sub => a - b,
        OpKind::Mul => a * b,
        OpKind::Div => a / b,
        OpKind::Max => a.max(b),
        OpKind::Min => a.min(b),
        _ => return None,
    })
}

impl<'g> Ctx<'g> {
    fn find(&mut self, mut i: usize) -> usize {
        while self.parent[i] != i {
            self.parent[i] = self.parent[self.parent[i]];
            i = self.parent[i];
        }
        i
    }

    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra] = rb;
        }
    }

    fn set(&mut self, t: TensorId, axis: usize, st: Vec<St>) {
        if self.chan[t].is_some() || self.g.tensors[t].dtype != DType::F32 || st.is_empty() {
            return;
        }
        let base = self.parent.len();
        self.parent.extend(base..base + st.len());
        self.pinned.resize(base + st.len(), false);
        self.chan[t] = Some(Chan { axis, st, base });
    }

    fn state(&self, t: TensorId, axis: usize, c: usize) -> St {
        match &self.chan[t] {
            Some(ch) if ch.axis == axis => ch.st.get(c).copied().unwrap_or(St::Live),
            _ => St::Live,
        }
    }

    fn id(&self, t: TensorId, c: usize) -> Option<usize> {
        self.chan[t].as_ref().filter(|ch| c < ch.st.len()).map(|ch| ch.base + c)
    }

    /// Ties channel `ca` of `a` to channel `cb` of `b`: removed from both or from neither. When
    /// one side is not tracked (no channel axis, not f32), the other cannot be removed alone: it
    /// is pinned.
    fn link(&mut self, a: TensorId, ca: usize, b: TensorId, cb: usize) {
        match (self.id(a, ca), self.id(b, cb)) {
            (Some(x), Some(y)) => self.union(x, y),
            (Some(x), None) | (None, Some(x)) => self.pinned[x] = true,
            (None, None) => {}
        }
    }

    fn pin(&mut self, t: TensorId, c: usize) {
        if let Some(i) = self.id(t, c) {
            self.pinned[i] = true;
        }
    }

    /// Pins every channel of `t`; notes the stop when it keeps a constant channel.
    fn pin_all(&mut self, t: TensorId, n: &Node, why: &str) {
        let Some(ch) = &self.chan[t] else { return };
        let (base, len) = (ch.base, ch.st.len());
        if ch.st.iter().any(|s| matches!(s, St::Const(_))) {
            let line = format!("'{}' ({}): {why}; constant channels of '{}' kept", n.name, n.op.name(), self.g.tensors[t].name);
            self.stops.push(line);
        }
        for i in base..base + len {
            self.pinned[i] = true;
        }
    }

    fn unknown(&mut self, n: &Node, why: &str) {
        for &t in n.inputs.iter().flatten().chain(&n.outputs) {
            self.pin_all(t, n, why);
        }
    }

    fn node(&mut self, n: &Node) {
        use OpKind::*;
        match n.op {
            Conv => self.conv(n),
            MatMul => self.matmul(n),
            op if is_unary(op) => self.unary(n),
            Add | Sub | Mul | Div | Max | Min => self.binary(n),
            MaxPool | AveragePool | GlobalAveragePool | GlobalMaxPool => self.pool(n),
            Concat => self.concat(n),
            Split => self.split(n),
            Slice => self.slice(n),
            Transpose => self.transpose(n),
            Reshape => self.reshape(n),
            _ => self.unknown(n, "op not analysed"),
        }
    }

    fn conv(&mut self, n: &Node) {
        let g = self.g;
        let (Some(&Some(x)), Some(&Some(w)), Some(&y)) = (n.inputs.first(), n.inputs.get(1), n.outputs.first()) else {
            return self.unknown(n, "unexpected inputs");
        };
        let bias = n.inputs.get(2).copied().flatten();
        let (Some(p), Some(wv)) = (read::<ConvParams>(&n.params), f32_data(g, w)) else {
            return self.unknown(n, "weight not constant");
        };
        let bv = match bias.map(|b| f32_data(g, b)) {
            None => None,
            Some(Some(b)) => Some(b),
            Some(None) => return self.unknown(n, "bias not constant"),
        };
        let Some(act) = p.act.activation() else { return self.unknown(n, "unknown activation") };
        let (ws, xs) = (&g.tensors[w].shape, &g.tensors[x].shape);
        if ws.len() < 3 || xs.len() < 3 {
            return self.unknown(n, "unexpected rank");
        }
        if self.chan[x].as_ref().is_some_and(|c| c.axis != 1) {
            self.pin_all(x, n, "input channel axis is not 1");
        }
        let (m, cg, c) = (ws[0], ws[1], xs[1]);
        let group = p.group.max(1) as usize;
        let per: usize = ws[2..].iter().product();
        if m % group != 0 || cg * group != c || wv.len() != m * cg * per || bv.is_some_and(|b| b.len() != m) || m == 0 {
            return self.unknown(n, "weight, bias and input shapes disagree");
        }
        let mg = m / group;
        let padded = p.pads != [0; 4];
        let depthwise = group > 1 && group == c && m == c && cg == 1;
        let mut st = Vec::with_capacity(m);
        for o in 0..m {
            let gi = o / mg;
            let (mut acc, mut live) = (0.0f32, false);
            for j in 0..cg {
                let k = &wv[(o * cg + j) * per..(o * cg + j + 1) * per];
                if k.iter().all(|&v| v == 0.0) {
                    continue;
                }
                match self.state(x, 1, gi * cg + j) {
                    St::Const(cv) if cv == 0.0 || !padded => acc += cv * k.iter().sum::<f32>(),
                    _ => live = true,
                }
            }
            let b = bv.map_or(0.0, |b| b[o]);
            st.push(if live { St::Live } else { St::Const(act.apply(b + acc)) });
        }
        self.set(y, 1, st);
        if depthwise {
            for ch in 0..c {
                self.link(x, ch, y, ch);
            }
        } else if group > 1 {
            self.pin_all(x, n, "grouped conv");
            self.pin_all(y, n, "grouped conv");
        } else if padded {
            // A non-zero constant channel read through zero padding is position dependent.
            for ci in 0..c {
                if let St::Const(cv) = self.state(x, 1, ci) {
                    let used = (0..m).any(|o| wv[(o * cg + ci) * per..(o * cg + ci + 1) * per].iter().any(|&v| v != 0.0));
                    if cv != 0.0 && used {
                        self.pin(x, ci);
                    }
                }
            }
        }
    }

    /// `(a, weight, k, n, bias values)` of a MatMul the pass can rewrite: constant 2-D weight,
    /// A of rank >= 2 with `k` columns, bias absent or constant with one value per output column.
    #[allow(clippy::type_complexity)]
    fn dense_matmul(&self, n: &Node) -> Option<(TensorId, &'g [f32], usize, usize, Option<&'g [f32]>)> {
        let g = self.g;
        let a = n.inputs.first().copied().flatten()?;
        let b = n.inputs.get(1).copied().flatten()?;
        let bs = &g.tensors[b].shape;
        let wv = f32_data(g, b)?;
        if bs.len() != 2 || wv.len() != bs[0] * bs[1] || g.tensors[a].shape.len() < 2 || g.tensors[a].shape.last() != Some(&bs[0]) {
            return None;
        }
        let bias = match n.inputs.get(2).copied().flatten() {
            None => None,
            Some(t) => {
                let v = f32_data(g, t)?;
                if v.len() != bs[1] || g.tensors[t].shape.last() != Some(&bs[1]) {
                    return None;
                }
                Some(v)
            }
        };
        Some((a, wv, bs[0], bs[1], bias))
    }

    fn matmul(&mut self, n: &Node) {
        let g = self.g;
        let Some((a, wv, k, nn, bias)) = self.dense_matmul(n) else { return self.unknown(n, "weight not a constant matrix") };
        let Some(act) = act_at(&n.params, 0) else { return self.unknown(n, "unknown activation") };
        let Some(&y) = n.outputs.first() else { return self.unknown(n, "no output") };
        if g.tensors[y].shape.last() != Some(&nn) {
            return self.unknown(n, "output shape disagrees with the weight");
        }
        let last = g.tensors[a].shape.len() - 1;
        if self.chan[a].as_ref().is_some_and(|c| c.axis != last) {
            self.pin_all(a, n, "channel axis is not the reduced axis");
        }
        let st = (0..nn)
            .map(|j| {
                let (mut acc, mut live) = (0.0f32, false);
                for i in 0..k {
                    let wij = wv[i * nn + j];
                    if wij == 0.0 {
                        continue;
                    }
                    match self.state(a, last, i) {
                        St::Const(cv) => acc += cv * wij,
                        St::Live => live = true,
                    }
                }
                if live {
                    St::Live
                } else {
                    St::Const(act.apply(bias.map_or(0.0, |b| b[j]) + acc))
                }
            })
            .collect();
        self.set(y, g.tensors[y].shape.len() - 1, st);
    }

    fn unary(&mut self, n: &Node) {
        let (Some(&Some(x)), Some(&y)) = (n.inputs.first(), n.outputs.first()) else { return self.unknown(n, "unexpected inputs") };
        let Some(ch) = self.chan[x].clone() else { return };
        if self.g.tensors[y].shape != self.g.tensors[x].shape {
            return self.unknown(n, "shape changes");
        }
        let f = crate::passes::activation_of(n);
        let st = ch.st.iter().map(|s| match (s, f) {
            (St::Const(c), Some(f)) => St::Const(f.apply(*c)),
            _ => St::Live,
        });
        self.set(y, ch.axis, st.collect());
        for c in 0..ch.st.len() {
            self.link(x, c, y, c);
        }
    }

    /// Per-channel values of a constant operand `t` broadcast to an output of rank `r` with
    /// channel axis `axis` of `c` channels: `None` when it varies along another axis.
    fn const_per_channel(&self, t: TensorId, r: usize, axis: usize, c: usize) -> Option<Vec<f32>> {
        let v = f32_data(self.g, t)?;
        let s = &self.g.tensors[t].shape;
        let lead = r.checked_sub(s.len())?;
        let (d, inner) = if axis >= lead { (s[axis - lead], s[axis - lead + 1..].iter().product::<usize>()) } else { (1, 1) };
        let vals: Vec<f32> = (0..c).map(|ch| v[if d == 1 { 0 } else { ch * inner }]).collect();
        let uniform = v.iter().enumerate().all(|(i, &x)| x == vals[if d == 1 { 0 } else { (i / inner) % d }]);
        uniform.then_some(vals)
    }

    fn binary(&mut self, n: &Node) {
        let g = self.g;
        let (Some(&Some(a)), Some(&Some(b)), Some(&y)) = (n.inputs.first(), n.inputs.get(1), n.outputs.first()) else {
            return self.unknown(n, "unexpected inputs");
        };
        let r = g.tensors[y].shape.len();
        let lead = |t: TensorId| r - g.tensors[t].shape.len();
        let Some(axis) = [a, b].iter().find_map(|&t| self.chan[t].as_ref().map(|c| c.axis + lead(t))) else {
            return;
        };
        let Some(act) = act_at(&n.params, 0) else { return self.unknown(n, "unknown activation") };
        let c = g.tensors[y].shape[axis];
        let mut vals: Vec<Vec<St>> = Vec::new();
        // Operands that carry the output's channels one-to-one; the others (untracked, or
        // broadcast along the channel axis) keep every output channel.
        let mut carried = Vec::new();
        let mut ok = true;
        for &t in &[a, b] {
            if g.tensors[t].is_const() {
                let v = self.const_per_channel(t, r, axis, c);
                vals.push(match v {
                    Some(v) => v.into_iter().map(St::Const).collect(),
                    None => vec![St::Live; c],
                });
            } else {
                match self.chan[t].as_ref().filter(|ch| ch.axis + lead(t) == axis && ch.st.len() == c) {
                    Some(ch) => {
                        vals.push(ch.st.clone());
                        carried.push(t);
                    }
                    None => {
                        self.pin_all(t, n, "operand broadcast along its channel axis");
                        vals.push(vec![St::Live; c]);
                        ok = false;
                    }
                }
            }
        }
        let st = (0..c)
            .map(|ch| match (vals[0][ch], vals[1][ch]) {
                (St::Const(x), St::Const(z)) => binary_eval(n.op, x, z).map_or(St::Live, |v| St::Const(act.apply(v))),
                _ => St::Live,
            })
            .collect();
        self.set(y, axis, st);
        // Every carried operand shares its channels' fate with the output, also when another
        // operand pins the output: a residual Add whose shortcut is untracked keeps the channels
        // of its other operand too (bug 1: BERT's attention residual lost them on one side only).
        for t in carried {
            for ch in 0..c {
                self.link(t, ch, y, ch);
            }
        }
        if !ok {
            self.pin_all(y, n, "an operand cannot lose channels");
        }
    }

    fn pool(&mut self, n: &Node) {
        let (Some(&Some(x)), Some(&y)) = (n.inputs.first(), n.outputs.first()) else { return self.unknown(n, "unexpected inputs") };
        let Some(ch) = self.chan[x].clone() else { return };
        if ch.axis != 1 {
            return self.unknown(n, "channel axis is not 1");
        }
        // Average pooling that counts zero padding scales a constant by a position-dependent factor.
        let scales = n.op == OpKind::AveragePool
            && read::<PoolParams>(&n.params).is_none_or(|p| p.count_include_pad != 0 && p.pads != [0; 4]);
        let st = ch.st.iter().map(|&s| match s {
            St::Const(c) if scales && c != 0.0 => St::Live,
            s => s,
        });
        self.set(y, 1, st.collect());
        for c in 0..ch.st.len() {
            self.link(x, c, y, c);
        }
    }

    fn concat(&mut self, n: &Node) {
        let Some(p) = read::<AxisParams>(&n.params) else { return self.unknown(n, "bad params") };
        let ins: Vec<TensorId> = n.inputs.iter().flatten().copied().collect();
        let chans: Option<Vec<Chan>> = ins.iter().map(|&t| self.chan[t].clone()).collect();
        let Some(chans) = chans.filter(|c| !c.is_empty()) else { return self.unknown(n, "input without channel axis") };
        let axis = chans[0].axis;
        if chans.iter().any(|c| c.axis != axis) {
            return self.unknown(n, "inputs with different channel axes");
        }
        let y = n.outputs[0];
        if p.axis as usize == axis {
            self.set(y, axis, chans.iter().flat_map(|c| c.st.iter().copied()).collect());
            let mut off = 0;
            for (&t, c) in ins.iter().zip(&chans) {
                for k in 0..c.st.len() {
                    self.link(t, k, y, off + k);
                }
                off += c.st.len();
            }
        } else {
            self.merge_same(n, &ins, &chans, y);
        }
    }

    /// Output whose channel `c` is made of channel `c` of every input (concat along another axis).
    fn merge_same(&mut self, n: &Node, ins: &[TensorId], chans: &[Chan], y: TensorId) {
        let c = chans[0].st.len();
        if chans.iter().any(|ch| ch.st.len() != c) {
            return self.unknown(n, "inputs with different channel counts");
        }
        let st = (0..c)
            .map(|k| match chans[0].st[k] {
                St::Const(v) if chans.iter().all(|ch| ch.st[k] == St::Const(v)) => St::Const(v),
                _ => St::Live,
            })
            .collect();
        self.set(y, chans[0].axis, st);
        for &t in ins {
            for k in 0..c {
                self.link(t, k, y, k);
            }
        }
    }

    fn split(&mut self, n: &Node) {
        let (Some(p), Some(&Some(x))) = (read::<AxisParams>(&n.params), n.inputs.first()) else { return self.unknown(n, "bad params") };
        let Some(ch) = self.chan[x].clone() else { return };
        let mut off = 0;
        for &y in &n.outputs {
            let len = self.g.tensors[y].shape[ch.axis];
            let start = if p.axis as usize == ch.axis { off } else { 0 };
            off += len;
            let Some(st) = ch.st.get(start..start + len) else { return self.unknown(n, "bad split") };
            self.set(y, ch.axis, st.to_vec());
            for k in 0..len {
                self.link(x, start + k, y, k);
            }
        }
    }

    fn slice(&mut self, n: &Node) {
        let (Some(p), Some(&Some(x)), Some(&y)) = (read::<SliceParams>(&n.params), n.inputs.first(), n.outputs.first()) else {
            return self.unknown(n, "bad params");
        };
        let Some(ch) = self.chan[x].clone() else { return };
        let (a, len) = (ch.axis, self.g.tensors[y].shape[ch.axis]);
        if p.steps[a] != 1 && len > 1 {
            return self.unknown(n, "strided slice along the channel axis");
        }
        let start = usize::try_from(p.starts[a]).unwrap_or(usize::MAX);
        let Some(st) = ch.st.get(start..start.saturating_add(len)) else { return self.unknown(n, "bad slice") };
        self.set(y, a, st.to_vec());
        for k in 0..len {
            self.link(x, start + k, y, k);
        }
    }

    fn transpose(&mut self, n: &Node) {
        let (Some(p), Some(&Some(x)), Some(&y)) = (read::<TransposeParams>(&n.params), n.inputs.first(), n.outputs.first()) else {
            return self.unknown(n, "bad params");
        };
        let Some(ch) = self.chan[x].clone() else { return };
        let r = self.g.tensors[y].shape.len();
        let Some(axis) = (0..r).find(|&j| p.perm[j] as usize == ch.axis) else { return self.unknown(n, "bad perm") };
        self.set(y, axis, ch.st.clone());
        for k in 0..ch.st.len() {
            self.link(x, k, y, k);
        }
    }

    fn reshape(&mut self, n: &Node) {
        let (Some(&Some(x)), Some(&y)) = (n.inputs.first(), n.outputs.first()) else { return self.unknown(n, "unexpected inputs") };
        let Some(ch) = self.chan[x].clone() else { return };
        let (s, o) = (&self.g.tensors[x].shape, &self.g.tensors[y].shape);
        let (prefix, c, inner) = (s[..ch.axis].iter().product::<usize>(), s[ch.axis], s[ch.axis + 1..].iter().product::<usize>());
        // The output axis that starts where the channel axis starts and holds whole channels,
        // each as a block of `k` consecutive features.
        let found = (0..o.len()).find(|&j| {
            o[..j].iter().product::<usize>() == prefix && o[j] >= c && o[j] % c == 0 && inner % (o[j] / c) == 0
        });
        let Some(j) = found else { return self.unknown(n, "reshape splits the channel axis") };
        let k = o[j] / c;
        self.set(y, j, (0..o[j]).map(|f| ch.st[f / k]).collect());
        for f in 0..o[j] {
            self.link(x, f / k, y, f);
        }
    }
}

/// Attaches the per-layer changes to the conversion report (`unreduced`: the layer reports of
/// the graph before the pass) and adds a summary note with the totals before and after.
pub fn annotate(stats: &ReduceStats, unreduced: &[LayerReport], layers: &mut [LayerReport], notes: &mut Vec<String>) {
    if stats.channels_removed == 0 {
        return;
    }
    for l in layers.iter_mut() {
        let (Some(c), Some(u)) = (stats.layers.iter().find(|c| c.node == l.name), unreduced.iter().find(|u| u.name == l.name)) else {
            continue;
        };
        l.reduced = Some(LayerChange { params_before: u.params, flops_before: u.flops, ..c.clone() });
    }
    let sum = |ls: &[LayerReport]| (ls.iter().map(|l| l.params).sum::<usize>(), ls.iter().map(|l| l.flops).sum::<u64>());
    let ((p0, f0), (p1, f1)) = (sum(unreduced), sum(layers));
    notes.push(format!(
        "channel reduction: removed {} of {} activation channels ({} attention heads) in {} layers; params {p0} -> {p1}, FLOPs {f0} -> {f1}",
        stats.channels_removed,
        stats.channels_total,
        stats.heads_removed,
        stats.layers.len()
    ));
    notes.extend(stats.stops.iter().map(|s| format!("channel reduction stopped at {s}")));
}

/// Indices of `keep` that are true.
fn kept(keep: &[bool]) -> Vec<usize> {
    (0..keep.len()).filter(|&i| keep[i]).collect()
}

/// `data` of `shape` with only the indices `idx` along `axis`; `None` when the data does not
/// have that shape or an index is out of range.
fn select(data: &[f32], shape: &[usize], axis: usize, idx: &[usize]) -> Option<Vec<f32>> {
    let d = *shape.get(axis)?;
    if data.len() != shape.iter().product::<usize>() || idx.iter().any(|&i| i >= d) {
        return None;
    }
    let outer: usize = shape[..axis].iter().product();
    let inner = shape[axis + 1..].iter().product::<usize>();
    let mut out = Vec::with_capacity(outer * idx.len() * inner);
    for o in 0..outer {
        for &i in idx {
            let s = (o * d + i) * inner;
            out.extend_from_slice(&data[s..s + inner]);
        }
    }
    Some(out)
}

impl Ctx<'_> {
    /// Pins every channel of `t` (a node the rewrite could not change reads or writes it).
    fn pin_tensor(&mut self, t: TensorId) {
        if let Some(ch) = &self.chan[t] {
            let (b, l) = (ch.base, ch.st.len());
            self.pinned[b..b + l].iter_mut().for_each(|p| *p = true);
        }
    }

    /// Step 2: the channels kept per analysed tensor. A class is removable when all its members
    /// are constant and none is pinned; no tensor loses every channel.
    fn decide(&mut self) -> Vec<Option<Vec<bool>>> {
        let mut removable = vec![true; self.parent.len()];
        for t in 0..self.chan.len() {
            let Some(ch) = self.chan[t].clone() else { continue };
            for (k, s) in ch.st.iter().enumerate() {
                let i = ch.base + k;
                let r = self.find(i);
                if self.pinned[i] || *s == St::Live {
                    removable[r] = false;
                }
            }
        }
        // No tensor may lose every channel: keep the class of its first channel.
        loop {
            let mut changed = false;
            for t in 0..self.chan.len() {
                let Some(ch) = self.chan[t].clone() else { continue };
                if (0..ch.st.len()).all(|k| {
                    let r = self.find(ch.base + k);
                    removable[r]
                }) {
                    let r = self.find(ch.base);
                    removable[r] = false;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
        (0..self.chan.len())
            .map(|t| {
                let ch = self.chan[t].clone()?;
                Some((0..ch.st.len()).map(|c| !removable[self.find(ch.base + c)]).collect())
            })
            .collect()
    }
}

/// Runs the pass; returns what it removed. Graphs it cannot improve are left unchanged.
pub fn run(g: &mut Graph) -> ReduceStats {
    run_with(g, plan_rewrite)
}

type Keep = [Option<Vec<bool>>];
type Plan = (Vec<Edit>, Vec<LayerChange>);

/// [`run`] with the rewrite planner as a parameter (tests inject planners that reject a node).
fn run_with(g: &mut Graph, plan_rewrite: impl Fn(&Graph, &Chans, &Keep) -> Result<Plan, usize>) -> ReduceStats {
    let mut heads_stats = ReduceStats::default();
    let heads = reduce_heads(g, &mut heads_stats);
    let mut cx = Ctx { g, chan: vec![None; g.tensors.len()], parent: Vec::new(), pinned: Vec::new(), stops: Vec::new() };
    for n in &g.nodes {
        cx.node(n);
    }
    for &t in &g.outputs {
        cx.pin_tensor(t);
    }
    let chan: Vec<Option<(usize, Vec<St>)>> = cx.chan.iter().map(|c| c.as_ref().map(|c| (c.axis, c.st.clone()))).collect();
    // Decide, then plan the rewrite without touching the graph. A node the plan cannot rewrite
    // (it disagrees with what the analysis accepted) keeps every channel of its tensors, and the
    // decision is made again; each round pins a tensor that was losing channels, so it ends.
    let (keep, plan) = loop {
        let keep = cx.decide();
        if !keep.iter().flatten().flatten().any(|&k| !k) {
            break (keep, None);
        }
        match plan_rewrite(g, &chan, &keep) {
            Ok(p) => break (keep, Some(p)),
            Err(ni) => {
                let n = &g.nodes[ni];
                cx.stops.push(format!("'{}' ({}): cannot be rewritten; its channels kept", n.name, n.op.name()));
                for &t in n.inputs.iter().flatten().chain(&n.outputs) {
                    cx.pin_tensor(t);
                }
            }
        }
    };
    let mut stats = ReduceStats { stops: std::mem::take(&mut cx.stops), ..Default::default() };
    for v in keep.iter().flatten() {
        stats.channels_total += v.len();
        stats.channels_removed += v.iter().filter(|&&x| !x).count();
    }
    stats.channels_removed += heads_stats.channels_removed;
    stats.layers.extend(heads_stats.layers);
    stats.heads_removed = heads;
    if let Some((edits, layers)) = plan {
        stats.layers.extend(layers);
        apply(g, edits);
        for (t, k) in keep.iter().enumerate() {
            if let (Some(k), Some((axis, _))) = (k, &chan[t]) {
                g.tensors[t].shape[*axis] = k.iter().filter(|&&x| x).count();
            }
        }
        g.eliminate_dead_nodes();
    }
    stats
}

type Chans = [Option<(usize, Vec<St>)>];

/// One node's rewrite, computed from the unchanged graph.
struct Edit {
    node: usize,
    params: Option<Vec<u8>>,
    /// The node's input count after the edit (before the new constants are placed).
    inputs_len: Option<usize>,
    /// New constant inputs: (input slot, name base, shape, data).
    consts: Vec<(usize, String, Vec<usize>, Vec<f32>)>,
}

fn apply(g: &mut Graph, edits: Vec<Edit>) {
    for e in edits {
        if let Some(l) = e.inputs_len {
            g.nodes[e.node].inputs.resize(l, None);
        }
        for (slot, base, shape, data) in e.consts {
            let name = g.fresh_name(&base);
            let t = g.add_const(name, shape, OwnedData::F32(data));
            let inputs = &mut g.nodes[e.node].inputs;
            if inputs.len() <= slot {
                inputs.resize(slot + 1, None);
            }
            inputs[slot] = Some(t);
        }
        if let Some(p) = e.params {
            g.nodes[e.node].params = p;
        }
    }
}

/// Step 3, planned: the edits of every node that reads or writes a tensor losing channels, and
/// the per-layer changes. `Err(node)`: a node whose inputs, weights or parameters are not what
/// the analysis accepted (it is then left alone and its channels kept).
fn plan_rewrite(g: &Graph, chan: &Chans, keep: &[Option<Vec<bool>>]) -> Result<(Vec<Edit>, Vec<LayerChange>), usize> {
    let mut edits = Vec::new();
    let mut layers = Vec::new();
    for (ni, n) in g.nodes.iter().enumerate() {
        let changed = |t: TensorId| keep[t].as_ref().is_some_and(|k| k.iter().any(|&x| !x));
        if !n.inputs.iter().flatten().chain(&n.outputs).any(|&t| changed(t)) {
            continue;
        }
        let e = match n.op {
            OpKind::Conv => plan_conv(g, chan, keep, ni, &mut layers),
            OpKind::MatMul => plan_matmul(g, chan, keep, ni, &mut layers),
            OpKind::Add | OpKind::Sub | OpKind::Mul | OpKind::Div | OpKind::Max | OpKind::Min => plan_binary(g, chan, keep, ni),
            OpKind::Slice => plan_slice(g, chan, keep, ni),
            _ => Some(None),
        };
        match e {
            Some(Some(e)) => edits.push(e),
            Some(None) => {}
            None => return Err(ni),
        }
    }
    Ok((edits, layers))
}

/// Channels kept of `t` (all when the pass did not analyse it), checked against its length.
fn kept_of(keep: &[Option<Vec<bool>>], t: TensorId, n: usize) -> Option<Vec<bool>> {
    match &keep[t] {
        Some(k) => (k.len() == n).then(|| k.clone()),
        None => Some(vec![true; n]),
    }
}

/// The constant value of channel `c` of `t` (0 for a live or unanalysed channel: never folded).
fn value(chan: &Chans, t: TensorId, c: usize) -> f32 {
    match chan[t].as_ref().and_then(|(_, st)| st.get(c)) {
        Some(St::Const(v)) => *v,
        _ => 0.0,
    }
}

fn plan_conv(g: &Graph, chan: &Chans, keep: &[Option<Vec<bool>>], ni: usize, layers: &mut Vec<LayerChange>) -> Option<Option<Edit>> {
    let n = &g.nodes[ni];
    let (x, w, y) = (n.inputs.first().copied()??, n.inputs.get(1).copied()??, *n.outputs.first()?);
    let ws = &g.tensors[w].shape;
    let wv = f32_data(g, w)?;
    let mut p = read::<ConvParams>(&n.params)?;
    if ws.len() < 3 {
        return None;
    }
    let (m, cg, per) = (ws[0], ws[1], ws[2..].iter().product::<usize>());
    let c = *g.tensors[x].shape.get(1)?;
    let kin = match &chan[x] {
        Some((1, _)) => kept_of(keep, x, c)?,
        _ => vec![true; c],
    };
    let kout = kept_of(keep, y, m)?;
    let bias: Vec<f32> = match n.inputs.get(2).copied().flatten() {
        Some(b) => f32_data(g, b).filter(|b| b.len() == m)?.to_vec(),
        None => vec![0.0; m],
    };
    let (outs, depthwise) = (kept(&kout), p.group > 1);
    let mut nb: Vec<f32> = outs.iter().map(|&o| bias[o]).collect();
    let (nw, nws) = if depthwise {
        // The analysis links a depthwise conv's input and output channels; any other grouped
        // conv is pinned and never reaches here with changed channels.
        if cg != 1 || m != c || p.group as usize != m || kin != kout {
            return None;
        }
        p.group = outs.len() as u32;
        (select(wv, ws, 0, &outs)?, [vec![outs.len()], ws[1..].to_vec()].concat())
    } else {
        if cg != c || wv.len() != m * cg * per {
            return None;
        }
        let ins = kept(&kin);
        for (j, &o) in outs.iter().enumerate() {
            for ci in (0..cg).filter(|&ci| !kin[ci]) {
                nb[j] += value(chan, x, ci) * wv[(o * cg + ci) * per..(o * cg + ci + 1) * per].iter().sum::<f32>();
            }
        }
        let w1 = select(wv, ws, 0, &outs)?;
        let s1 = [vec![outs.len()], ws[1..].to_vec()].concat();
        (select(&w1, &s1, 1, &ins)?, [vec![outs.len(), ins.len()], ws[2..].to_vec()].concat())
    };
    layers.push(LayerChange { node: n.name.clone(), out_before: m, out_after: outs.len(), in_before: kin.len(), in_after: kept(&kin).len(), params_before: 0, flops_before: 0 });
    Some(Some(Edit {
        node: ni,
        params: Some(bytemuck::bytes_of(&p).to_vec()),
        inputs_len: Some(3),
        consts: vec![
            (1, format!("{}_reduced", g.tensors[w].name), nws, nw),
            (2, format!("{}_bias_reduced", n.name), vec![outs.len()], nb),
        ],
    }))
}

fn plan_matmul(g: &Graph, chan: &Chans, keep: &[Option<Vec<bool>>], ni: usize, layers: &mut Vec<LayerChange>) -> Option<Option<Edit>> {
    let n = &g.nodes[ni];
    let (a, w, y) = (n.inputs.first().copied()??, n.inputs.get(1).copied()??, *n.outputs.first()?);
    let ws = &g.tensors[w].shape;
    let wv = f32_data(g, w)?;
    let &[k, nn] = ws.as_slice() else { return None };
    if wv.len() != k * nn {
        return None;
    }
    let last = g.tensors[a].shape.len().checked_sub(1)?;
    let kin = match &chan[a] {
        Some((ax, _)) if *ax == last => kept_of(keep, a, k)?,
        _ => vec![true; k],
    };
    let kout = kept_of(keep, y, nn)?;
    let bias_t = n.inputs.get(2).copied().flatten();
    let bias: Vec<f32> = match bias_t {
        Some(b) => f32_data(g, b).filter(|b| b.len() == nn)?.to_vec(),
        None => vec![0.0; nn],
    };
    let (ins, outs) = (kept(&kin), kept(&kout));
    let mut nb: Vec<f32> = outs.iter().map(|&j| bias[j]).collect();
    let mut folded = false;
    for i in (0..k).filter(|&i| !kin[i]) {
        let c = value(chan, a, i);
        if c != 0.0 {
            folded = true;
            for (jj, &j) in outs.iter().enumerate() {
                nb[jj] += c * wv[i * nn + j];
            }
        }
    }
    layers.push(LayerChange { node: n.name.clone(), out_before: nn, out_after: outs.len(), in_before: k, in_after: ins.len(), params_before: 0, flops_before: 0 });
    let nw = select(&select(wv, ws, 0, &ins)?, &[ins.len(), nn], 1, &outs)?;
    let mut consts = vec![(1, format!("{}_reduced", g.tensors[w].name), vec![ins.len(), outs.len()], nw)];
    if bias_t.is_some() || folded {
        let mut shape = bias_t.map_or(vec![nn], |b| g.tensors[b].shape.clone());
        *shape.last_mut()? = outs.len();
        consts.push((2, format!("{}_bias_reduced", n.name), shape, nb));
    }
    Some(Some(Edit { node: ni, params: None, inputs_len: Some(2), consts }))
}

/// Constant operands of an elementwise op lose the output's removed channels.
fn plan_binary(g: &Graph, chan: &Chans, keep: &[Option<Vec<bool>>], ni: usize) -> Option<Option<Edit>> {
    let n = &g.nodes[ni];
    let y = *n.outputs.first()?;
    let Some((axis, _)) = &chan[y] else { return Some(None) };
    let ys = &g.tensors[y].shape;
    let ky = kept_of(keep, y, *ys.get(*axis)?)?;
    let idx = kept(&ky);
    let r = ys.len();
    let mut consts = Vec::new();
    for (i, t) in n.inputs.iter().enumerate() {
        let Some(t) = *t else { continue };
        let Some(v) = f32_data(g, t) else { continue };
        let s = &g.tensors[t].shape;
        let Some(d) = (axis + s.len()).checked_sub(r) else { continue };
        if s[d] != ky.len() || ky.len() == 1 {
            continue;
        }
        let mut ns = s.clone();
        ns[d] = idx.len();
        consts.push((i, format!("{}_reduced", g.tensors[t].name), ns, select(v, s, d, &idx)?));
    }
    Some(Some(Edit { node: ni, params: None, inputs_len: None, consts }))
}

/// A Slice along the channel axis starts at the kept channels before its old start.
fn plan_slice(g: &Graph, chan: &Chans, keep: &[Option<Vec<bool>>], ni: usize) -> Option<Option<Edit>> {
    let n = &g.nodes[ni];
    let x = n.inputs.first().copied()??;
    let Some((axis, _)) = &chan[x] else { return Some(None) };
    let kx = kept_of(keep, x, *g.tensors[x].shape.get(*axis)?)?;
    let mut p = read::<SliceParams>(&n.params)?;
    let start = usize::try_from(*p.starts.get(*axis)?).ok()?;
    p.starts[*axis] = kx.get(..start)?.iter().filter(|&&k| k).count() as i64;
    Some(Some(Edit { node: ni, params: Some(bytemuck::bytes_of(&p).to_vec()), inputs_len: None, consts: Vec::new() }))
}

/// Attention heads (the layout the Hugging Face exporters write, after `passes`):
/// `X·Wq (+bq) → Reshape [.., s, H, d] → Transpose(0,2,1,3)` (K: `Transpose(0,2,3,1)`),
/// `MatMul(q, k) → (Div|Mul by a scalar) → (Add mask)* → Softmax(last) → MatMul(·, v)
/// → Transpose(0,2,1,3) → Reshape [.., s, H·d] → ·Wo (+bo)`.
///
/// A head whose V weight columns are all zero has a constant context `bv` (softmax rows sum to
/// 1), whatever Q and K compute: the head is removed from Q, K, V, the scores and the context,
/// and `bv · Wo[head rows]` is folded into the output projection's bias.
struct Head {
    /// Per projection (Q, K, V): the MatMul node, and the bias Add node (when separate).
    proj: [(usize, Option<usize>); 3],
    /// Activation tensors along the head axis that shrink, with that axis: reshapes, transposes,
    /// scores chain, context.
    shrink: Vec<(TensorId, usize)>,
    /// The output projection MatMul and its bias Add (when separate).
    out: (usize, Option<usize>),
    heads: usize,
    d: usize,
}

struct Links {
    cons: Vec<Vec<usize>>,
    prod: Vec<Option<usize>>,
}

impl Links {
    /// The producer of `t` when it is `op` and `t` has exactly one reader (and is no graph output).
    fn sole(&self, g: &Graph, t: TensorId, op: OpKind) -> Option<usize> {
        let p = self.prod[t]?;
        (g.nodes[p].op == op && self.cons[t].len() == 1 && !g.is_output(t)).then_some(p)
    }

    /// The only reader of `t` when it is `op`.
    fn next(&self, g: &Graph, t: TensorId, op: OpKind) -> Option<usize> {
        match self.cons[t].as_slice() {
            [c] if g.nodes[*c].op == op && !g.is_output(t) => Some(*c),
            _ => None,
        }
    }
}

fn perm_is(n: &Node, p: &[u32]) -> bool {
    read::<TransposeParams>(&n.params).is_some_and(|t| t.perm[..p.len()] == *p)
}

/// Walks back from a per-head tensor (`[1, H, s, d]` after the transpose) to its projection:
/// returns (matmul node, bias add node, tensors on the way with their head axes).
/// A projection found by [`head_proj`]: MatMul node, bias Add node, per-head tensors with axes.
type Proj = (usize, Option<usize>, Vec<(TensorId, usize)>);

fn head_proj(g: &Graph, l: &Links, t: TensorId, perm: &[u32]) -> Option<Proj> {
    let tr = l.sole(g, t, OpKind::Transpose)?;
    if !perm_is(&g.nodes[tr], perm) {
        return None;
    }
    let r = g.nodes[tr].inputs[0]?;
    let rs = l.sole(g, r, OpKind::Reshape)?;
    let y = g.nodes[rs].inputs[0]?;
    let (mm, add) = match l.sole(g, y, OpKind::Add) {
        Some(a) => {
            let n = &g.nodes[a];
            let (x, b) = (n.inputs[0]?, n.inputs[1]?);
            if !g.tensors[b].is_const() || g.tensors[b].shape != [*g.tensors[y].shape.last()?] {
                return None;
            }
            (l.sole(g, x, OpKind::MatMul)?, Some(a))
        }
        None => (l.sole(g, y, OpKind::MatMul)?, None),
    };
    let m = &g.nodes[mm];
    if m.inputs.len() > 2 || f32_data(g, m.inputs[1]?).is_none() || g.tensors[m.inputs[1]?].shape.len() != 2 {
        return None;
    }
    if act_at(&m.params, 0).is_none_or(|a| a != Activation::NONE) {
        return None;
    }
    let head_axis = perm.iter().position(|&p| p == 2)?;
    let mut ts = vec![(r, 2), (t, head_axis), (y, g.tensors[y].shape.len() - 1), (m.outputs[0], g.tensors[y].shape.len() - 1)];
    ts.dedup();
    Some((mm, add, ts))
}

fn find_heads(g: &Graph) -> Vec<Head> {
    let l = Links { cons: g.consumers(), prod: g.producers() };
    let mut found = Vec::new();
    for n in &g.nodes {
        let go = || -> Option<Head> {
            if n.op != OpKind::MatMul || n.inputs.len() != 2 {
                return None;
            }
            let (p, vh, ctx) = (n.inputs[0]?, n.inputs[1]?, n.outputs[0]);
            let sm = l.sole(g, p, OpKind::Softmax)?;
            let rank = g.tensors[p].shape.len();
            if rank != 4 || read::<AxisParams>(&g.nodes[sm].params)?.axis as usize != rank - 1 {
                return None;
            }
            let mut shrink = vec![(p, 1), (ctx, 1)];
            let mut t = g.nodes[sm].inputs[0]?;
            // Scale and masks between the scores and the softmax.
            let scores = loop {
                shrink.push((t, 1));
                let pi = l.prod[t]?;
                let m = &g.nodes[pi];
                if l.cons[t].len() != 1 || g.is_output(t) {
                    return None;
                }
                match m.op {
                    OpKind::MatMul => break pi,
                    OpKind::Add | OpKind::Div | OpKind::Mul | OpKind::Sub => {
                        let (a, b) = (m.inputs[0]?, m.inputs[1]?);
                        if g.tensors[a].is_const() {
                            return None;
                        }
                        // The other operand must not vary along the head axis.
                        let other = &g.tensors[b].shape;
                        if other.len() == 4 && other[1] != 1 {
                            return None;
                        }
                        if act_at(&m.params, 0).is_none_or(|a| a != Activation::NONE) {
                            return None;
                        }
                        t = a;
                    }
                    _ => return None,
                }
            };
            let sc = &g.nodes[scores];
            if sc.inputs.len() != 2 {
                return None;
            }
            let (qm, qa, qt) = head_proj(g, &l, sc.inputs[0]?, &[0, 2, 1, 3])?;
            let (km, ka, kt) = head_proj(g, &l, sc.inputs[1]?, &[0, 2, 3, 1])?;
            let (vm, va, vt) = head_proj(g, &l, vh, &[0, 2, 1, 3])?;
            // Context back to [.., s, h] and the output projection.
            let ct = l.next(g, ctx, OpKind::Transpose)?;
            if !perm_is(&g.nodes[ct], &[0, 2, 1, 3]) {
                return None;
            }
            let ctt = g.nodes[ct].outputs[0];
            let mr = l.next(g, ctt, OpKind::Reshape)?;
            let merged = g.nodes[mr].outputs[0];
            let om = l.next(g, merged, OpKind::MatMul)?;
            let o = &g.nodes[om];
            if o.inputs[0]? != merged || f32_data(g, o.inputs[1]?).is_none() || g.tensors[o.inputs[1]?].shape.len() != 2 {
                return None;
            }
            let out_bias = match (o.inputs.get(2).copied().flatten(), l.next(g, o.outputs[0], OpKind::Add)) {
                (Some(_), _) => None,
                (None, Some(a)) if g.nodes[a].inputs[1].is_some_and(|b| f32_data(g, b).is_some() && g.tensors[b].shape.len() == 1) => Some(a),
                _ => None,
            };
            let vs = &g.tensors[vh].shape;
            let (&heads, &d) = (vs.get(1)?, vs.get(3)?);
            if g.tensors[merged].shape.last() != Some(&(heads * d)) || g.tensors[ctt].shape.get(2) != Some(&heads) {
                return None;
            }
            shrink.extend([(ctt, 2), (merged, g.tensors[merged].shape.len() - 1)]);
            shrink.extend(qt.into_iter().chain(kt).chain(vt));
            shrink.push((scores_out(g, scores), 1));
            Some(Head { proj: [(qm, qa), (km, ka), (vm, va)], shrink, out: (om, out_bias), heads, d })
        };
        if let Some(h) = go() {
            found.push(h);
        }
    }
    found
}

fn scores_out(g: &Graph, n: usize) -> TensorId {
    g.nodes[n].outputs[0]
}

/// Removes dead attention heads (see [`Head`]); returns the number removed.
fn reduce_heads(g: &mut Graph, stats: &mut ReduceStats) -> usize {
    let mut removed = 0;
    for h in find_heads(g) {
        // Planned in full before the graph changes: a head whose tensors are not what
        // `find_heads` matched is left alone.
        let Some((edits, layers, shapes, nd)) = plan_heads(g, &h) else { continue };
        apply(g, edits);
        for (t, s) in shapes {
            g.tensors[t].shape = s;
        }
        stats.layers.extend(layers);
        stats.channels_removed += nd * h.d * 3;
        removed += nd;
    }
    removed
}

/// The edits, layer changes and new per-head tensor shapes that remove the dead heads of `h`,
/// and how many are dead; `None` when none (or all) are dead or a tensor does not fit.
type HeadPlan = (Vec<Edit>, Vec<LayerChange>, Vec<(TensorId, Vec<usize>)>, usize);

fn plan_heads(g: &Graph, h: &Head) -> Option<HeadPlan> {
    let (vm, va) = h.proj[2];
    let hid = h.heads * h.d;
    // A constant matrix `[k, hid]` input of `mm` (slot 1).
    let weight = |mm: usize| -> Option<(TensorId, &[usize], &[f32])> {
        let w = g.nodes[mm].inputs.get(1).copied()??;
        let (ws, wv) = (g.tensors[w].shape.as_slice(), f32_data(g, w)?);
        (ws.len() == 2 && wv.len() == ws[0] * ws[1]).then_some((w, ws, wv))
    };
    // The constant second operand of a bias Add, of `len` values.
    let bias = |a: usize, len: usize| -> Option<(TensorId, &[f32])> {
        let b = g.nodes[a].inputs.get(1).copied()??;
        f32_data(g, b).filter(|v| v.len() == len).map(|v| (b, v))
    };
    let (_, vs, wv) = weight(vm)?;
    if hid == 0 || vs[1] != hid {
        return None;
    }
    let dead: Vec<bool> = (0..h.heads).map(|k| (0..vs[0]).all(|i| (k * h.d..(k + 1) * h.d).all(|c| wv[i * hid + c] == 0.0))).collect();
    let nd = dead.iter().filter(|&&x| x).count();
    if nd == 0 || nd == h.heads {
        return None;
    }
    let cols: Vec<usize> = (0..hid).filter(|c| !dead[c / h.d]).collect();
    let bv: Vec<f32> = match va {
        Some(a) => bias(a, hid)?.1.to_vec(),
        None => vec![0.0; hid],
    };
    let (mut edits, mut layers) = (Vec::new(), Vec::new());
    for (mm, add) in h.proj {
        let (w, ws, wv) = weight(mm)?;
        if ws[1] != hid {
            return None;
        }
        let nw = select(wv, ws, 1, &cols)?;
        edits.push(Edit { node: mm, params: None, inputs_len: None, consts: vec![(1, format!("{}_heads", g.tensors[w].name), vec![ws[0], cols.len()], nw)] });
        layers.push(LayerChange { node: g.nodes[mm].name.clone(), out_before: hid, out_after: cols.len(), in_before: ws[0], in_after: ws[0], params_before: 0, flops_before: 0 });
        if let Some(a) = add {
            let (b, bv) = bias(a, hid)?;
            let nb: Vec<f32> = cols.iter().map(|&c| bv[c]).collect();
            edits.push(Edit { node: a, params: None, inputs_len: None, consts: vec![(1, format!("{}_heads", g.tensors[b].name), vec![cols.len()], nb)] });
        }
    }
    // Output projection: drop the rows, fold the constant context bv into the bias.
    let (om, oa) = h.out;
    let (w, ws, wo) = weight(om)?;
    if ws[0] != hid {
        return None;
    }
    let n = ws[1];
    let mut fold = vec![0.0f32; n];
    for c in (0..hid).filter(|c| dead[c / h.d]) {
        for (j, f) in fold.iter_mut().enumerate() {
            *f += bv[c] * wo[c * n + j];
        }
    }
    let nw = select(wo, ws, 0, &cols)?;
    edits.push(Edit { node: om, params: None, inputs_len: None, consts: vec![(1, format!("{}_heads", g.tensors[w].name), vec![cols.len(), n], nw)] });
    layers.push(LayerChange { node: g.nodes[om].name.clone(), out_before: n, out_after: n, in_before: hid, in_after: cols.len(), params_before: 0, flops_before: 0 });
    let (bias_node, slot) = match oa {
        Some(a) => (a, 1),
        None => (om, 2),
    };
    let (old, shape) = match g.nodes[bias_node].inputs.get(slot).copied().flatten() {
        Some(b) => (f32_data(g, b).filter(|v| v.len() == n)?.to_vec(), g.tensors[b].shape.clone()),
        None => (vec![0.0; n], vec![n]),
    };
    let nb: Vec<f32> = old.iter().zip(&fold).map(|(a, b)| a + b).collect();
    edits.push(Edit { node: bias_node, params: None, inputs_len: Some(slot + 1), consts: vec![(slot, format!("{}_bias_heads", g.nodes[om].name), shape, nb)] });
    // Per-head tensors: the head axis (or the merged hidden axis) shrinks.
    let mut shapes: Vec<(TensorId, Vec<usize>)> = Vec::new();
    for &(t, axis) in &h.shrink {
        if shapes.iter().any(|(u, _)| *u == t) {
            continue;
        }
        let mut s = g.tensors[t].shape.clone();
        let d = s.get_mut(axis)?;
        *d = match *d {
            x if x == h.heads => h.heads - nd,
            x if x % hid == 0 => x / hid * cols.len(),
            _ => return None,
        };
        shapes.push((t, s));
    }
    Some((edits, layers, shapes, nd))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mm(name: &str, a: TensorId, w: TensorId, b: Option<TensorId>, y: TensorId) -> Node {
        let p = sprig_runtime::ops::params::MatMulParams { act: ActParams::NONE };
        let mut inputs = vec![Some(a), Some(w)];
        inputs.extend(b.map(Some));
        Node { name: name.into(), op: OpKind::MatMul, params: bytemuck::bytes_of(&p).to_vec(), inputs, outputs: vec![y], fused: Vec::new(), from_bn: None }
    }

    /// x [1,4] · W1 [4,3] + b1 → h [1,3] · W2 [3,2] + b2 → y; W1's column 1 is zero, so h's
    /// channel 1 is the constant b1[1].
    fn two_layers() -> Graph {
        let mut g = Graph::default();
        let x = g.add_tensor("x".into(), DType::F32, vec![1, 4], None);
        let w1: Vec<f32> = (0..12).map(|i| if i % 3 == 1 { 0.0 } else { i as f32 * 0.1 + 0.05 }).collect();
        let w1 = g.add_const("w1".into(), vec![4, 3], OwnedData::F32(w1));
        let b1 = g.add_const("b1".into(), vec![3], OwnedData::F32(vec![0.5, 2.0, -0.5]));
        let h = g.add_tensor("h".into(), DType::F32, vec![1, 3], None);
        let w2 = g.add_const("w2".into(), vec![3, 2], OwnedData::F32(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]));
        let b2 = g.add_const("b2".into(), vec![2], OwnedData::F32(vec![0.25, -0.25]));
        let y = g.add_tensor("y".into(), DType::F32, vec![1, 2], None);
        g.nodes.push(mm("fc1", x, w1, Some(b1), h));
        g.nodes.push(mm("fc2", h, w2, Some(b2), y));
        g.inputs.push(x);
        g.outputs.push(y);
        g
    }

    fn input(g: &Graph, node: usize, slot: usize) -> (Vec<usize>, Vec<f32>) {
        let t = g.nodes[node].inputs[slot].unwrap();
        (g.tensors[t].shape.clone(), f32_data(g, t).unwrap().to_vec())
    }

    #[test]
    fn dead_unit_removed_and_folded() {
        let mut g = two_layers();
        let stats = run(&mut g);
        assert_eq!(stats.channels_removed, 1);
        assert_eq!(input(&g, 0, 1).0, vec![4, 2]);
        assert_eq!(input(&g, 1, 1), (vec![2, 2], vec![1.0, 2.0, 5.0, 6.0]));
        // b2 + b1[1] · W2[1, :] = (0.25 + 2·3, -0.25 + 2·4).
        assert_eq!(input(&g, 1, 2).1, vec![6.25, 7.75]);
        assert_eq!(g.tensors[g.nodes[0].outputs[0]].shape, vec![1, 2]);
    }

    /// A node the planner cannot rewrite (here: its weight no longer matches what the analysis
    /// saw) keeps its channels: no panic, the graph is unchanged and consistent, a stop is noted.
    #[test]
    fn unplannable_node_keeps_its_channels() {
        let mut g = two_layers();
        let mut bad = g.clone();
        let w2 = bad.nodes[1].inputs[1].unwrap();
        bad.tensors[w2].data = Some(OwnedData::F32(vec![1.0; 5]));
        let before: Vec<Vec<usize>> = g.tensors.iter().map(|t| t.shape.clone()).collect();
        let stats = run_with(&mut g, |_, c, k| plan_rewrite(&bad, c, k));
        assert_eq!(stats.channels_removed, 0);
        assert!(stats.stops.iter().any(|s| s.contains("'fc2'") && s.contains("cannot be rewritten")), "{:?}", stats.stops);
        let after: Vec<Vec<usize>> = g.tensors.iter().map(|t| t.shape.clone()).collect();
        assert_eq!(before, after);
        assert_eq!(input(&g, 1, 1).0, vec![3, 2]);
    }

    /// Each rewrite helper returns `None` (never panics) on inputs that disagree with the
    /// analysis: wrong params size, missing weight, wrong bias length.
    #[test]
    fn planners_reject_mismatches() {
        let g0 = two_layers();
        let chan: Vec<Option<(usize, Vec<St>)>> = vec![None; g0.tensors.len()];
        let mut keep: Vec<Option<Vec<bool>>> = vec![None; g0.tensors.len()];
        let h = g0.nodes[0].outputs[0];
        keep[h] = Some(vec![true, false, true]);
        let mut g = g0.clone();
        g.nodes[1].inputs.truncate(1);
        assert!(plan_matmul(&g, &chan, &keep, 1, &mut Vec::new()).is_none());
        let mut g = g0.clone();
        let b1 = g.nodes[0].inputs[2].unwrap();
        g.tensors[b1].data = Some(OwnedData::F32(vec![0.0; 2]));
        assert!(plan_matmul(&g, &chan, &keep, 0, &mut Vec::new()).is_none());
        let mut g = g0.clone();
        g.nodes[0].op = OpKind::Conv;
        assert!(plan_conv(&g, &chan, &keep, 0, &mut Vec::new()).is_none());
        // A Slice over an analysed tensor whose params are not SliceParams.
        g.nodes[0].op = OpKind::Slice;
        let mut chan_x = chan.clone();
        chan_x[g.nodes[0].inputs[0].unwrap()] = Some((1, vec![St::Live; 4]));
        assert!(plan_slice(&g, &chan_x, &keep, 0).is_none());
        // Keep vectors of the wrong length are a mismatch too.
        keep[h] = Some(vec![true, false]);
        assert!(plan_matmul(&g0, &chan, &keep, 0, &mut Vec::new()).is_none());
        assert!(plan_rewrite(&g0, &chan, &keep).is_err());
    }
}
