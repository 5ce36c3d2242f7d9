//! A BERT-like encoder as the Hugging Face exporters write it (opset 17). Inputs `input_ids` and
//! `attention_mask` (int64 `[1, seq]`), output `last_hidden_state` (f32 `[1, seq, hidden]`).
use super::graph::{attr_f, attr_i, attr_ints, value_info, Graph};
use super::channel;
use super::prune::prune;
use super::SynthOptions;
use tract_onnx::pb::tensor_proto::DataType;

const OPSET: i64 = 17;
const LN_EPS: f32 = 1e-12;

struct Bert<'o> {
    g: Graph,
    o: &'o SynthOptions,
}

impl Bert<'_> {
    /// `x · W + b` with `W` `[k, n]` pruned along its output columns.
    fn linear(&mut self, name: &str, x: &str, k: usize, n: usize) -> String {
        let mut w = self.g.normals(k * n, (1.0 / k as f32).sqrt());
        prune(&mut w, n, k, self.o.block_rows, self.o.sparsity, |o, i| i * n + o);
        if name.ends_with(".ffn.up") {
            channel::prune_outputs(&mut w, n, k, self.o.channel_sparsity, |o, i| i * n + o);
        } else if [".attn.q", ".attn.k", ".attn.v"].iter().any(|s| name.ends_with(s)) {
            let dead = channel::dead_head_columns(self.o.heads, n, self.o.channel_sparsity);
            channel::zero_outputs(&mut w, &dead, k, |o, i| i * n + o);
        }
        let b = self.g.uniforms(n, -0.1, 0.1);
        let wn = self.g.f32_const(&format!("{name}.weight"), &[k, n], &w);
        let bn = self.g.f32_const(&format!("{name}.bias"), &[n], &b);
        let y = self.g.op("MatMul", &format!("{name}.matmul"), &[x, &wn], vec![]);
        self.g.op("Add", name, &[&y, &bn], vec![])
    }

    /// LayerNormalization over the last axis, fused (opset 17) or decomposed as older exporters
    /// write it (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add).
    fn layer_norm(&mut self, name: &str, x: &str) -> String {
        let h = self.o.hidden;
        let gamma = self.g.uniforms(h, 0.5, 1.5);
        let beta = self.g.uniforms(h, -0.2, 0.2);
        let s = self.g.f32_const(&format!("{name}.weight"), &[h], &gamma);
        let b = self.g.f32_const(&format!("{name}.bias"), &[h], &beta);
        if !self.o.decomposed_layernorm {
            return self.g.op("LayerNormalization", name, &[x, &s, &b], vec![attr_i("axis", -1), attr_f("epsilon", LN_EPS)]);
        }
        let rm = |g: &mut Graph, n: &str, x: &str| g.op("ReduceMean", n, &[x], vec![attr_ints("axes", &[-1]), attr_i("keepdims", 1)]);
        let mean = rm(&mut self.g, &format!("{name}.mean"), x);
        let xc = self.g.op("Sub", &format!("{name}.center"), &[x, &mean], vec![]);
        let two = self.g.f32_const(&format!("{name}.two"), &[], &[2.0]);
        let sq = self.g.op("Pow", &format!("{name}.square"), &[&xc, &two], vec![]);
        let var = rm(&mut self.g, &format!("{name}.var"), &sq);
        let eps = self.g.f32_const(&format!("{name}.eps"), &[], &[LN_EPS]);
        let ve = self.g.op("Add", &format!("{name}.var_eps"), &[&var, &eps], vec![]);
        let sd = self.g.op("Sqrt", &format!("{name}.std"), &[&ve], vec![]);
        let xn = self.g.op("Div", &format!("{name}.normed"), &[&xc, &sd], vec![]);
        let y = self.g.op("Mul", &format!("{name}.scaled"), &[&xn, &s], vec![]);
        self.g.op("Add", name, &[&y, &b], vec![])
    }

    /// A Reshape target: constant, or (PyTorch style) the first `keep` dims of `like` taken from
    /// a Shape→Gather→Unsqueeze→Concat subgraph, followed by `tail`.
    fn reshape(&mut self, name: &str, x: &str, like: &str, keep: usize, tail: &[i64], full: &[i64]) -> String {
        let target = if self.o.pytorch_shapes {
            let shape = self.g.op("Shape", &format!("{name}.shape"), &[like], vec![]);
            let mut parts = Vec::new();
            for a in 0..keep {
                let idx = self.g.i64_const(&format!("{name}.idx{a}"), &[], &[a as i64]);
                let d = self.g.op("Gather", &format!("{name}.dim{a}"), &[&shape, &idx], vec![attr_i("axis", 0)]);
                let ax = self.g.i64_const(&format!("{name}.axes{a}"), &[1], &[0]);
                parts.push(self.g.op("Unsqueeze", &format!("{name}.dim{a}u"), &[&d, &ax], vec![]));
            }
            parts.push(self.g.i64_const(&format!("{name}.tail"), &[tail.len()], tail));
            let parts: Vec<&str> = parts.iter().map(|s| s.as_str()).collect();
            self.g.op("Concat", &format!("{name}.target"), &parts, vec![attr_i("axis", 0)])
        } else {
            self.g.i64_const(&format!("{name}.target"), &[full.len()], full)
        };
        self.g.op("Reshape", name, &[x, &target], vec![])
    }

    /// `[1, s, hidden]` → `[1, heads, s, d]` (or `[1, heads, d, s]` with `perm` 0,2,3,1).
    fn split_heads(&mut self, name: &str, x: &str, perm: &[i64]) -> String {
        let (s, heads) = (self.o.seq_len as i64, self.o.heads as i64);
        let d = self.o.hidden as i64 / heads;
        let r = self.reshape(&format!("{name}.split"), x, x, 2, &[heads, d], &[1, s, heads, d]);
        self.g.op("Transpose", name, &[&r], vec![attr_ints("perm", perm)])
    }

    fn scalar(&mut self, name: &str, v: f32) -> String {
        self.g.f32_const(name, &[], &[v])
    }

    fn layer(&mut self, i: usize, x: &str, mask_add: &str) -> String {
        let h = self.o.hidden;
        let d = h / self.o.heads;
        let p = format!("layer{i}");
        let q = self.linear(&format!("{p}.attn.q"), x, h, h);
        let k = self.linear(&format!("{p}.attn.k"), x, h, h);
        let v = self.linear(&format!("{p}.attn.v"), x, h, h);
        let qh = self.split_heads(&format!("{p}.attn.qh"), &q, &[0, 2, 1, 3]);
        let kh = self.split_heads(&format!("{p}.attn.kh"), &k, &[0, 2, 3, 1]);
        let vh = self.split_heads(&format!("{p}.attn.vh"), &v, &[0, 2, 1, 3]);
        let sc = self.g.op("MatMul", &format!("{p}.attn.scores"), &[&qh, &kh], vec![]);
        let sd = self.scalar(&format!("{p}.attn.sqrt_d"), (d as f32).sqrt());
        let sc = self.g.op("Div", &format!("{p}.attn.scaled"), &[&sc, &sd], vec![]);
        let sc = self.g.op("Add", &format!("{p}.attn.masked"), &[&sc, mask_add], vec![]);
        let pr = self.g.op("Softmax", &format!("{p}.attn.probs"), &[&sc], vec![attr_i("axis", -1)]);
        let ctx = self.g.op("MatMul", &format!("{p}.attn.context"), &[&pr, &vh], vec![]);
        let ct = self.g.op("Transpose", &format!("{p}.attn.context_t"), &[&ctx], vec![attr_ints("perm", &[0, 2, 1, 3])]);
        let s = self.o.seq_len as i64;
        let cm = self.reshape(&format!("{p}.attn.merge"), &ct, &ct, 2, &[h as i64], &[1, s, h as i64]);
        let a = self.linear(&format!("{p}.attn.out"), &cm, h, h);
        let r = self.g.op("Add", &format!("{p}.attn.residual"), &[&a, x], vec![]);
        let x1 = self.layer_norm(&format!("{p}.attn.ln"), &r);
        let f = self.linear(&format!("{p}.ffn.up"), &x1, h, 4 * h);
        // GELU, erf form: x * 0.5 * (1 + erf(x / sqrt(2))).
        let sqrt2 = self.scalar(&format!("{p}.ffn.sqrt2"), std::f32::consts::SQRT_2);
        let one = self.scalar(&format!("{p}.ffn.one"), 1.0);
        let half = self.scalar(&format!("{p}.ffn.half"), 0.5);
        let t = self.g.op("Div", &format!("{p}.ffn.gelu.div"), &[&f, &sqrt2], vec![]);
        let t = self.g.op("Erf", &format!("{p}.ffn.gelu.erf"), &[&t], vec![]);
        let t = self.g.op("Add", &format!("{p}.ffn.gelu.add"), &[&t, &one], vec![]);
        let t = self.g.op("Mul", &format!("{p}.ffn.gelu.mul"), &[&f, &t], vec![]);
        let t = self.g.op("Mul", &format!("{p}.ffn.gelu"), &[&t, &half], vec![]);
        let f2 = self.linear(&format!("{p}.ffn.down"), &t, 4 * h, h);
        let r2 = self.g.op("Add", &format!("{p}.ffn.residual"), &[&f2, &x1], vec![]);
        let name = if i + 1 == self.o.layers { "last_hidden_state".to_string() } else { format!("{p}.ffn.ln") };
        self.layer_norm(&name, &r2)
    }
}

pub fn bert(o: &SynthOptions) -> Vec<u8> {
    let (s, h, v) = (o.seq_len, o.hidden, o.vocab);
    let mut b = Bert { g: Graph::new(o.seed, o.paddle_constants), o };
    b.g.inputs.push(value_info("input_ids", DataType::Int64, &[1, s]));
    b.g.inputs.push(value_info("attention_mask", DataType::Int64, &[1, s]));
    let word = b.g.normals(v * h, 1.0);
    let pos = b.g.normals(s * h, 0.5);
    let wn = b.g.f32_const("embeddings.word", &[v, h], &word);
    let pn = b.g.f32_const("embeddings.position", &[s, h], &pos);
    let ids: Vec<i64> = (0..s as i64).collect();
    let pid = b.g.i64_const("embeddings.position_ids", &[1, s], &ids);
    let we = b.g.op("Gather", "embeddings.word_lookup", &[&wn, "input_ids"], vec![attr_i("axis", 0)]);
    let pe = b.g.op("Gather", "embeddings.position_lookup", &[&pn, &pid], vec![attr_i("axis", 0)]);
    let e = b.g.op("Add", "embeddings.sum", &[&we, &pe], vec![]);
    let mut x = b.layer_norm("embeddings.ln", &e);

    // Additive mask: (1 - float(mask)) * -10000, broadcast as [1, 1, 1, s].
    let axes = b.g.i64_const("mask.axes", &[2], &[1, 2]);
    let m = b.g.op("Unsqueeze", "mask.unsqueeze", &["attention_mask", &axes], vec![]);
    let mf = b.g.op("Cast", "mask.float", &[&m], vec![attr_i("to", DataType::Float as i64)]);
    let one = b.scalar("mask.one", 1.0);
    let inv = b.g.op("Sub", "mask.inverted", &[&one, &mf], vec![]);
    let big = b.scalar("mask.neg", -10000.0);
    let mask_add = b.g.op("Mul", "mask.additive", &[&inv, &big], vec![]);

    for i in 0..o.layers {
        x = b.layer(i, &x, &mask_add);
    }
    b.g.outputs.push(value_info(&x, DataType::Float, &[1, s, h]));
    b.g.finish("bert", OPSET)
}
