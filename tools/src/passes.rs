//! Graph passes over the IR, run in this order:
//! 1. decomposed erf-GELU (`x * 0.5 * (1 + erf(x / sqrt2))`, PyTorch export forms) → `Gelu`;
//! 2. BatchNormalization (lowered to a marked `Mul` + `Add`) folded into the producing Conv,
//!    ConvTranspose or MatMul-with-constant-weight when that producer has no other consumer;
//! 3. activations fused into their producer's `act` params;
//! 4. dead node elimination;
//! 5. (`convert` runs it separately, after channel reduction) a constant row-vector `Add` after a
//!    MatMul fused into the MatMul's bias input ([`fuse_matmul_bias`]).
//!
//! A rewrite never changes what a graph output computes; intermediates it removes must have
//! exactly one consumer and must not be graph outputs.
use crate::ir::{Graph, Node, TensorId};
use crate::tensor::OwnedData;
use sprig_runtime::ops::params::{ActParams, ConvParams, UnaryParams};
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::DType;
use sprig_runtime::{Act, Activation};

/// What the passes did, for the report.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PassStats {
    pub gelu_patterns: usize,
    pub bn_folded: usize,
    pub bn_lowered: usize,
    pub acts_fused: usize,
    pub dead_nodes: usize,
}

pub fn run(g: &mut Graph) -> PassStats {
    let mut st = PassStats { gelu_patterns: fuse_gelu(g), ..Default::default() };
    (st.bn_folded, st.bn_lowered) = fold_batch_norm(g);
    st.acts_fused = fuse_activations(g);
    st.dead_nodes = g.eliminate_dead_nodes();
    st
}

/// The value of a constant f32 scalar (any shape with one element).
fn scalar(g: &Graph, t: TensorId) -> Option<f32> {
    match &g.tensors[t].data {
        Some(OwnedData::F32(v)) if v.len() == 1 => Some(v[0]),
        _ => None,
    }
}

fn near(x: Option<f32>, y: f32) -> bool {
    x.is_some_and(|x| (x - y).abs() <= 1e-3 * y.abs())
}

/// Shared view for pattern matching: who reads and writes each tensor.
struct Links {
    cons: Vec<Vec<usize>>,
    prod: Vec<Option<usize>>,
}

impl Links {
    fn new(g: &Graph) -> Links {
        Links { cons: g.consumers(), prod: g.producers() }
    }

    /// The only reader of `t`, when `t` is an intermediate the rewrite may remove.
    fn sole_consumer(&self, g: &Graph, t: TensorId) -> Option<usize> {
        match self.cons[t].as_slice() {
            [c] if !g.is_output(t) => Some(*c),
            _ => None,
        }
    }
}

/// For a binary node `n`, the other input when one input is `t`.
fn other_input(n: &Node, t: TensorId) -> Option<TensorId> {
    match n.inputs.as_slice() {
        [Some(a), Some(b)] if *a == t => Some(*b),
        [Some(a), Some(b)] if *b == t => Some(*a),
        _ => None,
    }
}

/// For a `Mul` node, the non-constant input when the other is the scalar `k`.
fn mul_by(g: &Graph, n: &Node, k: f32) -> Option<TensorId> {
    if n.op != OpKind::Mul {
        return None;
    }
    match n.inputs.as_slice() {
        [Some(a), Some(b)] if near(scalar(g, *b), k) => Some(*a),
        [Some(a), Some(b)] if near(scalar(g, *a), k) => Some(*b),
        _ => None,
    }
}

fn remove_nodes(g: &mut Graph, dead: &[bool]) {
    let mut i = 0;
    g.nodes.retain(|_| {
        i += 1;
        !dead[i - 1]
    });
}

/// Matches one decomposed GELU around the Erf node `ie`; returns (x, nodes in the pattern with the
/// final node last).
fn match_gelu(g: &Graph, l: &Links, ie: usize) -> Option<(TensorId, Vec<usize>)> {
    let e = &g.nodes[ie];
    let u = e.inputs.first().copied().flatten()?;
    let id = l.prod[u]?;
    l.sole_consumer(g, u)?;
    let d = &g.nodes[id];
    let x = match (d.op, d.inputs.as_slice()) {
        (OpKind::Div, [Some(x), Some(c)]) if near(scalar(g, *c), std::f32::consts::SQRT_2) => *x,
        (OpKind::Mul, _) => mul_by(g, d, std::f32::consts::FRAC_1_SQRT_2)?,
        _ => return None,
    };
    let ia = l.sole_consumer(g, e.outputs[0])?;
    let a = &g.nodes[ia];
    if a.op != OpKind::Add || !near(scalar(g, other_input(a, e.outputs[0])?), 1.0) {
        return None;
    }
    let v = a.outputs[0];
    let im1 = l.sole_consumer(g, v)?;
    let m1 = &g.nodes[im1];
    if m1.op != OpKind::Mul {
        return None;
    }
    let o1 = other_input(m1, v)?;
    let mut nodes = vec![id, ie, ia];
    if o1 == x || near(scalar(g, o1), 0.5) {
        // (x * v) * 0.5  or  (v * 0.5) * x
        let im2 = l.sole_consumer(g, m1.outputs[0])?;
        let m2 = &g.nodes[im2];
        let o2 = other_input(m2, m1.outputs[0])?;
        let ok = m2.op == OpKind::Mul && if o1 == x { near(scalar(g, o2), 0.5) } else { o2 == x };
        if !ok {
            return None;
        }
        nodes.extend([im1, im2]);
    } else {
        // (x * 0.5) * v
        let ih = l.prod[o1]?;
        l.sole_consumer(g, o1)?;
        if mul_by(g, &g.nodes[ih], 0.5)? != x {
            return None;
        }
        nodes.extend([ih, im1]);
    }
    Some((x, nodes))
}

fn fuse_gelu(g: &mut Graph) -> usize {
    let mut count = 0;
    loop {
        let l = Links::new(g);
        let found = (0..g.nodes.len()).filter(|&i| g.nodes[i].op == OpKind::Erf).find_map(|i| match_gelu(g, &l, i));
        let Some((x, nodes)) = found else { return count };
        let last = *nodes.last().unwrap();
        let fused: Vec<String> = nodes[..nodes.len() - 1].iter().map(|&i| g.nodes[i].name.clone()).collect();
        let n = &mut g.nodes[last];
        n.op = OpKind::Gelu;
        n.params = bytemuck::bytes_of(&UnaryParams { alpha: 0.0, beta: 0.0 }).to_vec();
        n.inputs = vec![Some(x)];
        n.fused = fused;
        let mut dead = vec![false; g.nodes.len()];
        for &i in &nodes[..nodes.len() - 1] {
            dead[i] = true;
        }
        remove_nodes(g, &dead);
        count += 1;
    }
}

/// Scales the output channels of `p`'s constant weight by `s` and sets its bias to
/// `bias * s + shift`. Returns false (and changes nothing) when `p` does not allow it.
fn fold_affine_into(g: &mut Graph, pi: usize, s: &[f32], shift: &[f32]) -> bool {
    let p = &g.nodes[pi];
    let Some(w) = p.inputs.get(1).copied().flatten() else { return false };
    let Some(OwnedData::F32(wv)) = g.tensors[w].data.clone() else { return false };
    let ws = g.tensors[w].shape.clone();
    let c = s.len();
    let bias_in = p.inputs.get(2).copied().flatten();
    let old_bias: Vec<f32> = match bias_in.map(|b| g.tensors[b].data.clone()) {
        None => vec![0.0; c],
        Some(Some(OwnedData::F32(b))) if b.len() == c => b,
        _ => return false,
    };
    // Output channel of each weight element.
    let channel: Box<dyn Fn(usize) -> usize> = match p.op {
        OpKind::Conv if ws[0] == c => {
            let per = wv.len() / c;
            Box::new(move |i| i / per)
        }
        OpKind::ConvTranspose => {
            let params: ConvParams = bytemuck::pod_read_unaligned(&p.params);
            let grp = params.group.max(1) as usize;
            let (cin, mg) = (ws[0], ws[1]);
            if mg * grp != c || cin % grp != 0 {
                return false;
            }
            let per = wv.len() / (cin * mg);
            Box::new(move |i| {
                let (ci, j) = (i / (mg * per), (i / per) % mg);
                (ci / (cin / grp)) * mg + j
            })
        }
        OpKind::MatMul if ws.len() == 2 && ws[1] == c && g.tensors[p.outputs[0]].shape.len() == 2 => Box::new(move |i| i % c),
        _ => return false,
    };
    let nw: Vec<f32> = wv.iter().enumerate().map(|(i, &x)| x * s[channel(i)]).collect();
    let nb: Vec<f32> = (0..c).map(|k| old_bias[k] * s[k] + shift[k]).collect();
    let wname = g.fresh_name(&format!("{}_bn", g.tensors[w].name));
    let new_w = g.add_const(wname, ws, OwnedData::F32(nw));
    let bname = match bias_in {
        Some(b) => g.fresh_name(&format!("{}_bn", g.tensors[b].name)),
        None => g.fresh_name(&format!("{}_bias", g.nodes[pi].name)),
    };
    let new_b = g.add_const(bname, vec![c], OwnedData::F32(nb));
    let p = &mut g.nodes[pi];
    p.inputs.resize(3, None);
    p.inputs[1] = Some(new_w);
    p.inputs[2] = Some(new_b);
    true
}

fn fold_batch_norm(g: &mut Graph) -> (usize, usize) {
    let (mut folded, mut lowered) = (0, 0);
    let mut dead = vec![false; g.nodes.len()];
    let l = Links::new(g);
    for mi in 0..g.nodes.len() {
        let m = &g.nodes[mi];
        let Some(bn) = m.from_bn.clone() else { continue };
        if m.op != OpKind::Mul {
            continue;
        }
        lowered += 1;
        let (Some(t), Some(sc)) = (m.inputs[0], m.inputs[1]) else { continue };
        let Some(ai) = l.sole_consumer(g, m.outputs[0]) else { continue };
        let a = &g.nodes[ai];
        if a.op != OpKind::Add || a.from_bn.as_deref() != Some(bn.as_str()) {
            continue;
        }
        let (Some(pi), Some(_)) = (l.prod[t], l.sole_consumer(g, t)) else { continue };
        if !matches!(g.nodes[pi].op, OpKind::Conv | OpKind::ConvTranspose | OpKind::MatMul) {
            continue;
        }
        let (Some(OwnedData::F32(s)), Some(OwnedData::F32(b))) =
            (g.tensors[sc].data.clone(), a.inputs[1].and_then(|b| g.tensors[b].data.clone()))
        else {
            continue;
        };
        let y = a.outputs[0];
        if fold_affine_into(g, pi, &s, &b) {
            let p = &mut g.nodes[pi];
            p.outputs = vec![y];
            p.fused.push(bn);
            dead[mi] = true;
            dead[ai] = true;
            folded += 1;
            lowered -= 1;
        }
    }
    remove_nodes(g, &dead);
    (folded, lowered)
}

/// Fuses `Add(MatMul(a, b), c)` with a constant f32 row vector `c` (shape `[N]` or `[1, .., 1, N]`,
/// N the product's last dim, no wider than the product) into the MatMul's bias input, when the
/// MatMul has no bias and no activation yet and the product has no other reader and is not a
/// graph output. The MatMul then writes the Add's output tensor (keeping its ONNX name, which
/// may be a graph output) and takes over the Add's fused activation (`Y = act(A·B + bias)`, the
/// Add's own semantics). Runs after channel reduction, whose attention-head analysis reads the
/// Q/K/V biases from the separate Adds (see `onnx::ops::fuse_bias_add`); afterwards
/// `sparsify` moves such a bias into a sparse weight's blob and the dense MatMul fuses it into
/// the GEMM. Returns how many Adds it fused.
pub fn fuse_matmul_bias(g: &mut Graph) -> usize {
    let mut count = 0;
    let mut dead = vec![false; g.nodes.len()];
    let mut l = Links::new(g);
    let act_size = std::mem::size_of::<ActParams>();
    for ai in 0..g.nodes.len() {
        let add = &g.nodes[ai];
        if add.op != OpKind::Add || add.outputs.len() != 1 || add.params.len() < act_size {
            continue;
        }
        let (x, c) = match add.inputs.as_slice() {
            [Some(a), Some(b)] if g.tensors[*b].is_const() && !g.tensors[*a].is_const() => (*a, *b),
            [Some(a), Some(b)] if g.tensors[*a].is_const() && !g.tensors[*b].is_const() => (*b, *a),
            _ => continue,
        };
        let y = add.outputs[0];
        let (Some(pi), Some(_)) = (l.prod[x], l.sole_consumer(g, x)) else { continue };
        let mm = &g.nodes[pi];
        if dead[pi] || mm.op != OpKind::MatMul || mm.outputs.len() != 1 || mm.inputs.get(2).is_some_and(|b| b.is_some()) {
            continue;
        }
        let Some(slot) = mm.params.get(..act_size) else { continue };
        if bytemuck::pod_read_unaligned::<ActParams>(slot).kind != Act::None as u32 {
            continue;
        }
        let (xt, ct, yt) = (&g.tensors[x], &g.tensors[c], &g.tensors[y]);
        let Some(&n) = xt.shape.last() else { continue };
        let row = ct.shape.last() == Some(&n) && ct.shape.len() <= xt.shape.len() && ct.shape[..ct.shape.len() - 1].iter().all(|&d| d == 1);
        let f32s = xt.dtype == DType::F32 && yt.dtype == DType::F32 && matches!(&ct.data, Some(OwnedData::F32(v)) if v.len() == n);
        if !row || !f32s || yt.shape != xt.shape {
            continue;
        }
        let add_act: Vec<u8> = g.nodes[ai].params[..act_size].to_vec();
        let mut fused = vec![g.nodes[ai].name.clone()];
        fused.extend(g.nodes[ai].fused.iter().cloned());
        let p = &mut g.nodes[pi];
        p.inputs.resize(2, None);
        p.inputs.push(Some(c));
        p.params[..act_size].copy_from_slice(&add_act);
        p.outputs = vec![y];
        p.fused.extend(fused);
        l.prod[y] = Some(pi);
        dead[ai] = true;
        count += 1;
    }
    remove_nodes(g, &dead);
    count
}

/// The fused form of an activation node, if it has one.
pub(crate) fn activation_of(n: &Node) -> Option<Activation> {
    let u: UnaryParams = if n.params.len() == std::mem::size_of::<UnaryParams>() { bytemuck::pod_read_unaligned(&n.params) } else { UnaryParams::default() };
    let (kind, alpha, beta) = match n.op {
        OpKind::Relu => (Act::Relu, 0.0, 0.0),
        OpKind::Clip => (Act::Clamp, u.alpha, u.beta),
        OpKind::LeakyRelu => (Act::LeakyRelu, u.alpha, 0.0),
        OpKind::HardSwish => (Act::HardSwish, 0.0, 0.0),
        OpKind::HardSigmoid => (Act::HardSigmoid, u.alpha, u.beta),
        OpKind::Sigmoid => (Act::Sigmoid, 0.0, 0.0),
        OpKind::Tanh => (Act::Tanh, 0.0, 0.0),
        OpKind::Gelu if u.alpha == 0.0 => (Act::Gelu, 0.0, 0.0),
        OpKind::Gelu => (Act::GeluTanh, 0.0, 0.0),
        _ => return None,
    };
    Some(Activation { kind, alpha, beta })
}

/// Byte offset of the `ActParams` inside an op's params, for ops that have one.
fn act_offset(op: OpKind) -> Option<usize> {
    match op {
        OpKind::Conv | OpKind::ConvTranspose => Some(std::mem::offset_of!(ConvParams, act)),
        OpKind::MatMul | OpKind::Add | OpKind::Sub | OpKind::Mul | OpKind::Div => Some(0),
        _ => None,
    }
}

fn fuse_activations(g: &mut Graph) -> usize {
    let mut count = 0;
    let mut dead = vec![false; g.nodes.len()];
    let mut l = Links::new(g);
    for ui in 0..g.nodes.len() {
        let Some(act) = activation_of(&g.nodes[ui]) else { continue };
        let Some(x) = g.nodes[ui].inputs.first().copied().flatten() else { continue };
        let (Some(pi), Some(_)) = (l.prod[x], l.sole_consumer(g, x)) else { continue };
        if dead[pi] || g.tensors[x].dtype != DType::F32 {
            continue;
        }
        let Some(off) = act_offset(g.nodes[pi].op) else { continue };
        let size = std::mem::size_of::<ActParams>();
        let Some(slot) = g.nodes[pi].params.get(off..off + size) else { continue };
        let cur: ActParams = bytemuck::pod_read_unaligned(slot);
        if cur.kind != Act::None as u32 {
            continue;
        }
        let y = g.nodes[ui].outputs[0];
        let mut fused = vec![g.nodes[ui].name.clone()];
        fused.extend(g.nodes[ui].fused.iter().cloned());
        let p = &mut g.nodes[pi];
        p.params[off..off + size].copy_from_slice(bytemuck::bytes_of(&ActParams::from_activation(&act)));
        p.outputs = vec![y];
        p.fused.extend(fused);
        l.prod[y] = Some(pi);
        dead[ui] = true;
        count += 1;
    }
    remove_nodes(g, &dead);
    count
}

#[cfg(test)]
mod tests {
    use super::*;
    use sprig_runtime::ops::params::{BinaryParams, MatMulParams};

    fn node(name: &str, op: OpKind, params: Vec<u8>, inputs: &[TensorId], outputs: &[TensorId]) -> Node {
        Node { name: name.into(), op, params, inputs: inputs.iter().map(|&t| Some(t)).collect(), outputs: outputs.to_vec(), fused: vec![], from_bn: None }
    }

    fn bin() -> Vec<u8> {
        bytemuck::bytes_of(&BinaryParams::default()).to_vec()
    }

    #[test]
    fn gelu_forms_are_recognised() {
        for form in 0..3 {
            let mut g = Graph::default();
            let x = g.add_tensor("x".into(), DType::F32, vec![4], None);
            let c = |g: &mut Graph, v: f32| g.add_const(g.fresh_name("c"), vec![], OwnedData::F32(vec![v]));
            let t: Vec<TensorId> = (0..6).map(|i| g.add_tensor(format!("t{i}"), DType::F32, vec![4], None)).collect();
            let (s2, one, half) = (c(&mut g, std::f32::consts::SQRT_2), c(&mut g, 1.0), c(&mut g, 0.5));
            let p = bin();
            g.inputs.push(x);
            g.nodes.push(node("div", OpKind::Div, p.clone(), &[x, s2], &[t[0]]));
            g.nodes.push(node("erf", OpKind::Erf, vec![0; 8], &[t[0]], &[t[1]]));
            g.nodes.push(node("add", OpKind::Add, p.clone(), &[t[1], one], &[t[2]]));
            match form {
                0 => {
                    g.nodes.push(node("m1", OpKind::Mul, p.clone(), &[x, t[2]], &[t[3]]));
                    g.nodes.push(node("m2", OpKind::Mul, p.clone(), &[t[3], half], &[t[4]]));
                }
                1 => {
                    g.nodes.push(node("h", OpKind::Mul, p.clone(), &[x, half], &[t[3]]));
                    g.nodes.push(node("m2", OpKind::Mul, p.clone(), &[t[3], t[2]], &[t[4]]));
                }
                _ => {
                    g.nodes.push(node("m1", OpKind::Mul, p.clone(), &[t[2], half], &[t[3]]));
                    g.nodes.push(node("m2", OpKind::Mul, p.clone(), &[x, t[3]], &[t[4]]));
                }
            }
            g.outputs.push(t[4]);
            let st = run(&mut g);
            assert_eq!(st.gelu_patterns, 1, "form {form}");
            assert_eq!(g.nodes.len(), 1);
            assert_eq!(g.nodes[0].op, OpKind::Gelu);
            assert_eq!(g.nodes[0].inputs, vec![Some(x)]);
            assert_eq!(g.nodes[0].outputs, vec![t[4]]);
            assert_eq!(g.nodes[0].fused.len(), 4);
        }
    }

    fn act_of(params: &[u8]) -> u32 {
        bytemuck::pod_read_unaligned::<ActParams>(&params[..std::mem::size_of::<ActParams>()]).kind
    }

    /// x[2,8] · w[8,4] then + b (given as `[4]` or `[1,4]`, first or second Add input) with a
    /// fused ReLU on the Add: one MatMul with bias b, ReLU, writing the Add's output.
    #[test]
    fn matmul_bias_add_fuses() {
        for (bias_shape, bias_first) in [(vec![4usize], false), (vec![1, 4], true)] {
            let mut g = Graph::default();
            let x = g.add_tensor("x".into(), DType::F32, vec![2, 8], None);
            let w = g.add_const("w".into(), vec![8, 4], OwnedData::F32(vec![0.5; 32]));
            let b = g.add_const("b".into(), bias_shape, OwnedData::F32(vec![1.0, 2.0, 3.0, 4.0]));
            let h = g.add_tensor("h".into(), DType::F32, vec![2, 4], None);
            let y = g.add_tensor("y".into(), DType::F32, vec![2, 4], None);
            g.inputs.push(x);
            g.nodes.push(node("fc", OpKind::MatMul, bytemuck::bytes_of(&MatMulParams::default()).to_vec(), &[x, w], &[h]));
            let relu = bytemuck::bytes_of(&BinaryParams { act: ActParams::from_activation(&Activation::RELU) }).to_vec();
            let ins = if bias_first { [b, h] } else { [h, b] };
            g.nodes.push(node("fc.bias", OpKind::Add, relu, &ins, &[y]));
            g.outputs.push(y);
            assert_eq!(fuse_matmul_bias(&mut g), 1);
            assert_eq!(g.nodes.len(), 1);
            let n = &g.nodes[0];
            assert_eq!((n.op, n.inputs.clone(), n.outputs.clone()), (OpKind::MatMul, vec![Some(x), Some(w), Some(b)], vec![y]));
            assert_eq!(act_of(&n.params), Act::Relu as u32);
            assert_eq!(n.fused, vec!["fc.bias".to_string()]);
        }
    }

    /// Left alone: a product with a second reader, a product that is a graph output, a bias that
    /// is not a row vector over N, a non-constant addend, and a MatMul with an activation already.
    #[test]
    fn matmul_bias_add_left_alone() {
        for case in 0..5 {
            let mut g = Graph::default();
            let x = g.add_tensor("x".into(), DType::F32, vec![2, 8], None);
            let w = g.add_const("w".into(), vec![8, 4], OwnedData::F32(vec![0.5; 32]));
            let b = match case {
                2 => g.add_const("b".into(), vec![2, 4], OwnedData::F32(vec![1.0; 8])),
                3 => g.add_tensor("b".into(), DType::F32, vec![4], None),
                _ => g.add_const("b".into(), vec![4], OwnedData::F32(vec![1.0; 4])),
            };
            let h = g.add_tensor("h".into(), DType::F32, vec![2, 4], None);
            let y = g.add_tensor("y".into(), DType::F32, vec![2, 4], None);
            g.inputs.push(x);
            if case == 3 {
                g.inputs.push(b);
            }
            let mm = MatMulParams { act: ActParams::from_activation(if case == 4 { &Activation::RELU } else { &Activation::NONE }) };
            g.nodes.push(node("fc", OpKind::MatMul, bytemuck::bytes_of(&mm).to_vec(), &[x, w], &[h]));
            g.nodes.push(node("fc.bias", OpKind::Add, bin(), &[h, b], &[y]));
            g.outputs.push(y);
            match case {
                0 => {
                    let z = g.add_tensor("z".into(), DType::F32, vec![2, 4], None);
                    g.nodes.push(node("other", OpKind::Relu, vec![0; 8], &[h], &[z]));
                    g.outputs.push(z);
                }
                1 => g.outputs.push(h),
                _ => {}
            }
            let before = g.nodes.len();
            assert_eq!(fuse_matmul_bias(&mut g), 0, "case {case}");
            assert_eq!(g.nodes.len(), before, "case {case}");
        }
    }

    #[test]
    fn gelu_with_a_shared_intermediate_is_left_alone() {
        let mut g = Graph::default();
        let x = g.add_tensor("x".into(), DType::F32, vec![4], None);
        let t: Vec<TensorId> = (0..6).map(|i| g.add_tensor(format!("t{i}"), DType::F32, vec![4], None)).collect();
        let s2 = g.add_const("s2".into(), vec![], OwnedData::F32(vec![std::f32::consts::SQRT_2]));
        let one = g.add_const("one".into(), vec![], OwnedData::F32(vec![1.0]));
        let half = g.add_const("half".into(), vec![], OwnedData::F32(vec![0.5]));
        let p = bin();
        g.inputs.push(x);
        g.nodes.push(node("div", OpKind::Div, p.clone(), &[x, s2], &[t[0]]));
        g.nodes.push(node("erf", OpKind::Erf, vec![0; 8], &[t[0]], &[t[1]]));
        g.nodes.push(node("add", OpKind::Add, p.clone(), &[t[1], one], &[t[2]]));
        g.nodes.push(node("m1", OpKind::Mul, p.clone(), &[x, t[2]], &[t[3]]));
        g.nodes.push(node("m2", OpKind::Mul, p.clone(), &[t[3], half], &[t[4]]));
        g.outputs.extend([t[4], t[1]]); // erf output is also a graph output
        assert_eq!(run(&mut g).gelu_patterns, 0);
        assert_eq!(g.nodes.len(), 5);
    }
}
