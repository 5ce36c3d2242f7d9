//! Offline arena planning: every non-constant tensor and every node's scratch gets a byte offset
//! in one arena.
//!
//! Lifetimes are inclusive ranges of steps: step 0 copies the graph inputs in, node `i` runs at
//! step `i + 1`, and the outputs are copied out after the last node. Graph inputs and outputs
//! are alive for the whole run, so they never share memory with anything. A node's scratch lives
//! only at the node's step. Two buffers whose lifetimes intersect never overlap in memory;
//! placement is greedy by size (largest first), first fit among the already placed buffers whose
//! lifetimes intersect. Offsets are multiples of [`ARENA_ALIGN`].
//!
//! For multi-threading, where it costs no arena bytes, the activation input of a Conv,
//! ConvTranspose or MatMul lives one step longer, through the next node ([`plan_graph`]), so the
//! next node does not write over it. Ungrouped convolutions and MatMul are split by output rows,
//! so each thread streams the whole input, and afterwards both cores hold its cache lines. A
//! store into such a line waits until the other core's copy is invalidated, and the next node,
//! often a depthwise conv that writes fast, would otherwise put its output right there. Measured
//! in process on the 2-vCPU VM (Zen 4, 2 threads, 2026-11-25): a 14x14x512 depthwise layer took
//! 50 us writing over lines both cores had read against 24 us over lines one core had read or
//! written; an SpMM (512x512, 90 % in 4x1 blocks, N = 196), whose stores are spread between many
//! multiply-adds, took 57 us against 51 us.
//!
//! Depthwise inputs get the longer life too: then a MobileNet chain rotates three buffers, each
//! depthwise layer writing where the previous depthwise layer read and each pointwise layer where
//! the previous pointwise layer read, so the shared lines are overwritten by the slow writer.
//! (With only the pointwise inputs kept, the pointwise outputs took the lowest offset every time
//! and the depthwise layers wrote over pointwise inputs read 3 steps before: 1.08x on two threads
//! for b6.dw against 1.32x.) Only graphs with a block-sparse Conv or MatMul get the rule: in dense
//! MobileNetV1 the dense pointwise GEMMs, ten times the depthwise layers' time, lost more writing
//! over shared lines (b7-b10.pw 1.55x on two threads against 1.65x) than the depthwise layers
//! gained (1.50x against 1.01x): 1.57x against 1.63x end to end, median of 6 rounds.
use crate::ir::{Graph, TensorId};
use sprig_runtime::format::ARENA_ALIGN;

/// A buffer to place: `size` bytes alive from step `first` to step `last` (inclusive).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Buffer {
    pub size: u64,
    pub first: usize,
    pub last: usize,
}

impl Buffer {
    fn lives_with(&self, o: &Buffer) -> bool {
        self.first <= o.last && o.first <= self.last
    }
}

/// Placement of a list of buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    /// Offset of each buffer, in the order given.
    pub offsets: Vec<u64>,
    /// Bytes needed (a multiple of [`ARENA_ALIGN`]).
    pub arena_size: u64,
    /// Sum of all buffer sizes (what a plan without reuse would need, before alignment).
    pub total: u64,
}

fn align(x: u64) -> u64 {
    x.div_ceil(ARENA_ALIGN as u64) * ARENA_ALIGN as u64
}

/// Places `buffers` (see the module doc).
pub fn place(buffers: &[Buffer]) -> Placement {
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    // Largest first; ties by start so the result does not depend on the sort's stability.
    order.sort_by(|&a, &b| buffers[b].size.cmp(&buffers[a].size).then(buffers[a].first.cmp(&buffers[b].first)).then(a.cmp(&b)));
    let mut offsets = vec![0u64; buffers.len()];
    let mut placed: Vec<usize> = Vec::new();
    let mut arena = 0u64;
    for &i in &order {
        let b = buffers[i];
        if b.size == 0 {
            continue;
        }
        let mut busy: Vec<(u64, u64)> = placed
            .iter()
            .filter(|&&j| buffers[j].lives_with(&b))
            .map(|&j| (offsets[j], offsets[j] + buffers[j].size))
            .collect();
        busy.sort();
        let mut off = 0u64;
        for (s, e) in busy {
            if off + b.size <= s {
                break;
            }
            off = off.max(align(e));
        }
        offsets[i] = off;
        arena = arena.max(align(off + b.size));
        placed.push(i);
    }
    Placement { offsets, arena_size: arena, total: buffers.iter().map(|b| b.size).sum() }
}

/// Bound on (candidates × buffers) for trying the longer lives of [`plan_graph`] one at a time.
const MAX_EXTENSION_TRIES: usize = 64 * 1024;

/// The nodes whose input keeps its memory through the next node (module doc): the convolutions
/// and MatMul (ungrouped ones have every thread read the whole input; depthwise ones complete
/// the rotation).
fn keeps_input_longer(node: &crate::ir::Node) -> bool {
    use sprig_runtime::ops::OpKind;
    matches!(node.op, OpKind::Conv | OpKind::ConvTranspose | OpKind::MatMul)
}

/// The arena plan of a graph.
#[derive(Clone, Debug)]
pub struct GraphPlan {
    /// Arena offset of each tensor (`None` for constants and tensors no node touches).
    pub tensor_offsets: Vec<Option<u64>>,
    /// (offset, size) of each node's scratch.
    pub scratch: Vec<(u64, u64)>,
    pub arena_size: u64,
    pub total: u64,
}

/// Plans `g`, whose node `i` needs `scratch[i]` bytes of scratch.
pub fn plan_graph(g: &Graph, scratch: &[usize]) -> GraphPlan {
    plan(g, scratch, true)
}

/// [`plan_graph`], with or without the longer input lives of the module doc.
fn plan(g: &Graph, scratch: &[usize], longer_lives: bool) -> GraphPlan {
    let n = g.nodes.len();
    let end = n + 1;
    let mut span: Vec<Option<(usize, usize)>> = vec![None; g.tensors.len()];
    let touch = |span: &mut Vec<Option<(usize, usize)>>, t: TensorId, step: usize| {
        span[t] = Some(match span[t] {
            None => (step, step),
            Some((a, b)) => (a.min(step), b.max(step)),
        });
    };
    for &t in g.inputs.iter().chain(&g.outputs) {
        touch(&mut span, t, 0);
        touch(&mut span, t, end);
    }
    for (i, node) in g.nodes.iter().enumerate() {
        for &t in node.inputs.iter().flatten().chain(&node.outputs) {
            touch(&mut span, t, i + 1);
        }
    }
    let mut buffers = Vec::new();
    let mut owner: Vec<(bool, usize)> = Vec::new(); // (is_scratch, index)
    for (t, s) in span.iter().enumerate() {
        if let (Some((first, last)), false) = (s, g.tensors[t].is_const()) {
            buffers.push(Buffer { size: g.tensors[t].nbytes() as u64, first: *first, last: *last });
            owner.push((false, t));
        }
    }
    for (i, &s) in scratch.iter().enumerate() {
        if s > 0 {
            buffers.push(Buffer { size: s as u64, first: i + 1, last: i + 1 });
            owner.push((true, i));
        }
    }
    let mut p = place(&buffers);
    let sparse = g.nodes.iter().any(|node| keeps_input_longer(node) && node.inputs.get(1).copied().flatten().is_some_and(|w| g.tensors[w].sparse.is_some()));
    if longer_lives && sparse {
        // The first inputs of the nodes of [`keeps_input_longer`] whose life ends at that node,
        // when a node follows it.
        let kept: Vec<usize> = owner
            .iter()
            .enumerate()
            .filter(|&(k, &(is_scratch, t))| {
                let last = buffers[k].last;
                !is_scratch && (1..n).contains(&last) && keeps_input_longer(&g.nodes[last - 1]) && g.nodes[last - 1].inputs.first() == Some(&Some(t))
            })
            .map(|(k, _)| k)
            .collect();
        // All of them when that keeps the arena size, else one at a time in graph order, each
        // kept only if the arena does not grow (each try is a placement, quadratic in the
        // buffers, so large graphs only try all at once).
        let mut longer = buffers.clone();
        for &k in &kept {
            longer[k].last += 1;
        }
        let q = place(&longer);
        if q.arena_size <= p.arena_size {
            p = q;
        } else if kept.len().saturating_mul(buffers.len()) <= MAX_EXTENSION_TRIES {
            let mut by_step = kept;
            by_step.sort_by_key(|&k| buffers[k].last);
            for k in by_step {
                buffers[k].last += 1;
                let q = place(&buffers);
                if q.arena_size <= p.arena_size {
                    p = q;
                } else {
                    buffers[k].last -= 1;
                }
            }
        }
    }
    let mut tensor_offsets = vec![None; g.tensors.len()];
    let mut scratch_out = vec![(0u64, 0u64); n];
    for (k, &(is_scratch, idx)) in owner.iter().enumerate() {
        if is_scratch {
            scratch_out[idx] = (p.offsets[k], buffers[k].size);
        } else {
            tensor_offsets[idx] = Some(p.offsets[k]);
        }
    }
    GraphPlan { tensor_offsets, scratch: scratch_out, arena_size: p.arena_size, total: p.total }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check_no_overlap(bufs: &[Buffer], p: &Placement) {
        for i in 0..bufs.len() {
            assert_eq!(p.offsets[i] % ARENA_ALIGN as u64, 0);
            assert!(p.offsets[i] + bufs[i].size <= p.arena_size);
            for j in 0..i {
                if bufs[i].lives_with(&bufs[j]) && bufs[i].size > 0 && bufs[j].size > 0 {
                    let (a0, a1) = (p.offsets[i], p.offsets[i] + bufs[i].size);
                    let (b0, b1) = (p.offsets[j], p.offsets[j] + bufs[j].size);
                    assert!(a1 <= b0 || b1 <= a0, "buffers {i} {:?} and {j} {:?} overlap", bufs[i], bufs[j]);
                }
            }
        }
    }

    #[test]
    fn chain_reuses_memory() {
        // a -> b -> c -> d: a and c can share, b and d can share.
        let bufs = [
            Buffer { size: 1000, first: 0, last: 1 },
            Buffer { size: 1000, first: 1, last: 2 },
            Buffer { size: 1000, first: 2, last: 3 },
            Buffer { size: 1000, first: 3, last: 4 },
        ];
        let p = place(&bufs);
        check_no_overlap(&bufs, &p);
        assert_eq!(p.arena_size, 2 * 1024);
        assert_eq!(p.total, 4000);
    }

    #[test]
    fn all_alive_means_no_sharing() {
        let bufs = [Buffer { size: 10, first: 0, last: 5 }, Buffer { size: 100, first: 0, last: 5 }, Buffer { size: 64, first: 2, last: 2 }];
        let p = place(&bufs);
        check_no_overlap(&bufs, &p);
        assert_eq!(p.arena_size, 128 + 64 + 64);
    }

    #[test]
    fn first_fit_fills_a_gap() {
        // Big buffers at [0,128) and [256,..) alive at step 1; a small one fits in the hole.
        let bufs = [
            Buffer { size: 128, first: 0, last: 1 },
            Buffer { size: 128, first: 0, last: 0 },
            Buffer { size: 128, first: 1, last: 2 },
            Buffer { size: 64, first: 1, last: 1 },
        ];
        let p = place(&bufs);
        check_no_overlap(&bufs, &p);
        assert!(p.arena_size <= 320, "{p:?}");
    }

    /// A MobileNet-like chain dw → pw → dw → pw …: no depthwise output overlaps the input the
    /// pointwise layer before it read, the arena is that of the plan without the rule, and where
    /// the rule would grow the arena it gives way.
    #[test]
    fn depthwise_outputs_avoid_the_previous_pointwise_input() {
        use crate::ir::{Graph, Node};
        use sprig_runtime::ops::{params::ConvParams, OpKind};
        use sprig_runtime::tensor::DType;
        let conv = |group: u32| bytemuck::bytes_of(&ConvParams { kernel: [1, 1], strides: [1, 1], dilations: [1, 1], group, ..ConvParams::default() }).to_vec();
        // A large first tensor leaves room for the rest (as MobileNet's first layers do).
        let mut g = Graph::default();
        let x = g.add_tensor("x".into(), DType::F32, vec![4096], None);
        let big = g.add_tensor("big".into(), DType::F32, vec![8192], None);
        g.nodes.push(Node { name: "stem".into(), op: OpKind::Relu, params: vec![], inputs: vec![Some(x)], outputs: vec![big], fused: vec![], from_bn: None });
        let mut prev = big;
        // The pointwise weights: constants, block-sparse (the rule's switch; the planner reads no
        // blob).
        let w = g.add_tensor("w".into(), DType::F32, vec![1], Some(crate::tensor::OwnedData::F32(vec![0.0])));
        g.tensors[w].sparse = Some(vec![0]);
        for i in 0..10 {
            let t = g.add_tensor(format!("t{i}"), DType::F32, vec![1024], None);
            let depthwise = i % 2 == 0;
            let params = conv(if depthwise { 1024 } else { 1 });
            let inputs = if depthwise { vec![Some(prev)] } else { vec![Some(prev), Some(w)] };
            g.nodes.push(Node { name: format!("n{i}"), op: OpKind::Conv, params, inputs, outputs: vec![t], fused: vec![], from_bn: None });
            prev = t;
        }
        g.inputs.push(x);
        g.outputs.push(prev);
        let scratch = vec![0; g.nodes.len()];
        let overlaps = |p: &GraphPlan, a: TensorId, b: TensorId| {
            let r = |t: TensorId| (p.tensor_offsets[t].unwrap(), p.tensor_offsets[t].unwrap() + g.tensors[t].nbytes() as u64);
            let (a, b) = (r(a), r(b));
            a.0 < b.1 && b.0 < a.1
        };
        // (depthwise output, the previous pointwise node's input) for n2, n4, n6, n8.
        let pairs: Vec<(TensorId, TensorId)> = (2..10).step_by(2).map(|i| (g.nodes[i + 1].outputs[0], g.nodes[i].inputs[0].unwrap())).collect();
        let p = plan_graph(&g, &scratch);
        for &(out, pw_in) in &pairs {
            assert!(!overlaps(&p, out, pw_in), "{} overlaps {}", g.tensors[out].name, g.tensors[pw_in].name);
        }
        // Without the rule the chain ping-pongs and the check above fails.
        let plain = plan(&g, &scratch, false);
        assert!(pairs.iter().any(|&(out, pw_in)| overlaps(&plain, out, pw_in)));
        assert_eq!(p.arena_size, plain.arena_size);
        // A dense graph keeps the plain plan.
        g.tensors[w].sparse = None;
        let dense = plan_graph(&g, &scratch);
        assert_eq!(dense.tensor_offsets, plain.tensor_offsets);
        g.tensors[w].sparse = Some(vec![0]);
        // Without the big tensor's room three buffers cannot rotate: the rule gives way.
        g.tensors[big].shape = vec![1024];
        let tight = plan_graph(&g, &scratch);
        assert_eq!(tight.arena_size, plan(&g, &scratch, false).arena_size);
    }

    #[test]
    fn graph_io_is_never_shared_and_chains_reuse() {
        use crate::ir::{Graph, Node};
        use sprig_runtime::ops::OpKind;
        use sprig_runtime::tensor::DType;
        // x -> a -> b -> c -> y, each 256 floats; node 1 needs scratch.
        let mut g = Graph::default();
        let t: Vec<TensorId> = ["x", "a", "b", "c", "y"].iter().map(|n| g.add_tensor(n.to_string(), DType::F32, vec![256], None)).collect();
        for i in 0..4 {
            g.nodes.push(Node { name: format!("n{i}"), op: OpKind::Relu, params: vec![], inputs: vec![Some(t[i])], outputs: vec![t[i + 1]], fused: vec![], from_bn: None });
        }
        g.inputs.push(t[0]);
        g.outputs.push(t[4]);
        let p = plan_graph(&g, &[0, 100, 0, 0]);
        let off: Vec<u64> = t.iter().map(|&i| p.tensor_offsets[i].unwrap()).collect();
        let range = |o: u64, n: u64| (o, o + n);
        let ranges: Vec<(u64, u64)> = off.iter().map(|&o| range(o, 1024)).chain([range(p.scratch[1].0, 100)]).collect();
        let disjoint = |a: (u64, u64), b: (u64, u64)| a.1 <= b.0 || b.1 <= a.0;
        // The input and output overlap nothing.
        for (k, r) in ranges.iter().enumerate() {
            if k != 0 {
                assert!(disjoint(ranges[0], *r), "input overlaps buffer {k}");
            }
            if k != 4 {
                assert!(disjoint(ranges[4], *r), "output overlaps buffer {k}");
            }
        }
        // The scratch of node 1 (reading a, writing b) overlaps neither.
        assert!(disjoint(ranges[5], ranges[1]) && disjoint(ranges[5], ranges[2]));
        // a and c are never alive together: they share memory, so the arena holds 4 tensors + scratch.
        assert_eq!(off[1], off[3]);
        assert_eq!(p.arena_size, 4 * 1024 + 128);
        assert_eq!(p.total, 5 * 1024 + 100);
    }

    proptest! {
        #[test]
        fn never_overlaps(raw in proptest::collection::vec((0u64..5000, 0usize..20, 0usize..6), 0..40)) {
            let bufs: Vec<Buffer> = raw.iter().map(|&(size, first, len)| Buffer { size, first, last: first + len }).collect();
            let p = place(&bufs);
            check_no_overlap(&bufs, &p);
            // Never worse than no reuse at all (each buffer rounded up to the alignment).
            let bound: u64 = bufs.iter().map(|b| align(b.size)).sum();
            prop_assert!(p.arena_size <= bound);
        }
    }
}
