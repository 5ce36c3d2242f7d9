//! Offline arena planning: every non-constant tensor and every node's scratch gets a byte offset
//! in one arena.
//!
//! Lifetimes are inclusive ranges of steps: step 0 copies the graph inputs in, node `i` runs at
//! step `i + 1`, and the outputs are copied out after the last node. Graph inputs and outputs
//! are alive for the whole run, so they never share memory with anything. A node's scratch lives
//! only at the node's step. Two buffers whose lifetimes intersect never overlap in memory;
//! placement is greedy by size (largest first), first fit among the already placed buffers whose
//! lifetimes intersect. Offsets are multiples of [`ARENA_ALIGN`].
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
    let p = place(&buffers);
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
