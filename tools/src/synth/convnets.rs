//! MobileNetV1, MobileNetV2 and a ResNet-18-like net, NCHW, input `input` `[1, 3, R, R]`, output
//! `logits` `[1, classes]`, opset 13.
use super::graph::{attr_f, attr_i, attr_ints, value_info, Graph};
use super::channel;
use super::prune::prune;
use super::SynthOptions;
use tract_onnx::pb::tensor_proto::DataType;

const OPSET: i64 = 13;

struct Net<'o> {
    g: Graph,
    o: &'o SynthOptions,
    /// Dead output channels of the last conv (channel pruning), for its BatchNormalization.
    dead: Vec<bool>,
    /// `channel_coupled`: the dead set of the current residual group, once its first member
    /// chose it.
    group: Option<Vec<bool>>,
}

/// Conv geometry.
#[derive(Clone, Copy)]
struct ConvSpec {
    cin: usize,
    cout: usize,
    k: usize,
    stride: usize,
    group: usize,
    bias: bool,
    /// Pruned to the model's sparsity (pointwise and full convs except the stem).
    prune: bool,
    /// Member of the current residual group (see `SynthOptions::channel_coupled`).
    residual: bool,
}

impl<'o> Net<'o> {
    fn new(o: &'o SynthOptions) -> Self {
        let mut g = Graph::new(o.seed, o.paddle_constants);
        g.inputs.push(value_info("input", DataType::Float, &[1, 3, o.resolution, o.resolution]));
        Net { g, o, dead: Vec::new(), group: None }
    }

    /// Channel count scaled by the width multiplier, a multiple of 8 and at least 8.
    fn ch(&self, c: usize) -> usize {
        (((c as f32 * self.o.width) / 8.0).round() as usize * 8).max(8)
    }

    fn conv(&mut self, name: &str, x: &str, s: ConvSpec) -> String {
        let cin_g = s.cin / s.group;
        let fan_in = cin_g * s.k * s.k;
        // He init for a ReLU net.
        let mut w = self.g.normals(s.cout * fan_in, (2.0 / fan_in as f32).sqrt());
        if s.prune {
            prune(&mut w, s.cout, fan_in, self.o.block_rows, self.o.sparsity, |o, i| o * fan_in + i);
            let coupled = s.residual && self.o.channel_coupled;
            match &self.group {
                Some(dead) if coupled && dead.len() == s.cout => {
                    channel::zero_outputs(&mut w, dead, fan_in, |o, i| o * fan_in + i);
                    self.dead = dead.clone();
                }
                _ => {
                    self.dead = channel::prune_outputs(&mut w, s.cout, fan_in, self.o.channel_sparsity, |o, i| o * fan_in + i);
                    if coupled {
                        self.group = Some(self.dead.clone());
                    }
                }
            }
        }
        let wn = self.g.f32_const(&format!("{name}.weight"), &[s.cout, cin_g, s.k, s.k], &w);
        let mut ins = vec![x.to_string(), wn];
        if s.bias {
            let b = self.g.uniforms(s.cout, -0.1, 0.1);
            ins.push(self.g.f32_const(&format!("{name}.bias"), &[s.cout], &b));
        }
        let p = (s.k / 2) as i64;
        let ins: Vec<&str> = ins.iter().map(|s| s.as_str()).collect();
        self.g.op(
            "Conv",
            name,
            &ins,
            vec![
                attr_ints("kernel_shape", &[s.k as i64, s.k as i64]),
                attr_ints("strides", &[s.stride as i64, s.stride as i64]),
                attr_ints("pads", &[p, p, p, p]),
                attr_ints("dilations", &[1, 1]),
                attr_i("group", s.group as i64),
            ],
        )
    }

    /// BatchNormalization with non-trivial statistics, so folding it into the conv is really tested.
    fn bn(&mut self, name: &str, x: &str, c: usize) -> String {
        let gamma = self.g.uniforms(c, 0.5, 1.5);
        let beta = self.g.uniforms(c, -0.25, 0.25);
        let mut mean = self.g.uniforms(c, -0.2, 0.2);
        let var = self.g.uniforms(c, 0.5, 2.0);
        let mut beta = beta;
        channel::zero_shift(&std::mem::take(&mut self.dead), self.o.channel_keep_bias, &mut beta, &mut mean);
        let s = self.g.f32_const(&format!("{name}.scale"), &[c], &gamma);
        let b = self.g.f32_const(&format!("{name}.bias"), &[c], &beta);
        let m = self.g.f32_const(&format!("{name}.mean"), &[c], &mean);
        let v = self.g.f32_const(&format!("{name}.var"), &[c], &var);
        self.g.op("BatchNormalization", name, &[x, &s, &b, &m, &v], vec![attr_f("epsilon", 1e-5)])
    }

    fn relu(&mut self, name: &str, x: &str) -> String {
        self.g.op("Relu", name, &[x], vec![])
    }

    /// ReLU6 as PyTorch exports it at opset >= 11: Clip with min/max inputs.
    fn relu6(&mut self, name: &str, x: &str) -> String {
        let lo = self.g.f32_const(&format!("{name}.min"), &[], &[0.0]);
        let hi = self.g.f32_const(&format!("{name}.max"), &[], &[6.0]);
        self.g.op("Clip", name, &[x, &lo, &hi], vec![])
    }

    fn conv_bn(&mut self, name: &str, x: &str, s: ConvSpec) -> String {
        let y = self.conv(name, x, s);
        self.bn(&format!("{name}.bn"), &y, s.cout)
    }

    /// GlobalAveragePool, flatten (Flatten, or PyTorch's `x.view(x.size(0), -1)` subgraph) and a
    /// Gemm classifier with a pruned `[classes, c]` weight.
    fn classifier(&mut self, x: &str, c: usize) {
        let p = self.g.op("GlobalAveragePool", "pool", &[x], vec![]);
        let f = if self.o.pytorch_shapes {
            let shape = self.g.op("Shape", "flatten.shape", &[&p], vec![]);
            let i0 = self.g.i64_const("flatten.idx0", &[], &[0]);
            let n = self.g.op("Gather", "flatten.batch", &[&shape, &i0], vec![attr_i("axis", 0)]);
            let ax = self.g.i64_const("flatten.axes", &[1], &[0]);
            let n1 = self.g.op("Unsqueeze", "flatten.batch1", &[&n, &ax], vec![]);
            let rest = self.g.i64_const("flatten.rest", &[1], &[-1]);
            let target = self.g.op("Concat", "flatten.target", &[&n1, &rest], vec![attr_i("axis", 0)]);
            self.g.op("Reshape", "flatten", &[&p, &target], vec![])
        } else {
            self.g.op("Flatten", "flatten", &[&p], vec![attr_i("axis", 1)])
        };
        let classes = self.o.classes;
        let mut w = self.g.normals(classes * c, (1.0 / c as f32).sqrt());
        prune(&mut w, classes, c, self.o.block_rows, self.o.sparsity, |o, i| o * c + i);
        let b = self.g.uniforms(classes, -0.1, 0.1);
        let wn = self.g.f32_const("fc.weight", &[classes, c], &w);
        let bn = self.g.f32_const("fc.bias", &[classes], &b);
        self.g.op("Gemm", "logits", &[&f, &wn, &bn], vec![attr_i("transB", 1)]);
        self.g.outputs.push(value_info("logits", DataType::Float, &[1, classes]));
    }

    fn finish(self, name: &str) -> Vec<u8> {
        self.g.finish(name, OPSET)
    }
}

fn full(cin: usize, cout: usize, k: usize, stride: usize) -> ConvSpec {
    ConvSpec { cin, cout, k, stride, group: 1, bias: false, prune: true, residual: false }
}

fn dw(c: usize, stride: usize) -> ConvSpec {
    ConvSpec { cin: c, cout: c, k: 3, stride, group: c, bias: false, prune: false, residual: false }
}

pub fn mobilenet_v1(o: &SynthOptions) -> Vec<u8> {
    let mut n = Net::new(o);
    let mut c = n.ch(32);
    let stem = ConvSpec { prune: false, ..full(3, c, 3, 2) };
    let y = n.conv_bn("conv1", "input", stem);
    let mut x = n.relu("conv1.relu", &y);
    const BLOCKS: [(usize, usize); 13] =
        [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1)];
    for (i, &(out, stride)) in BLOCKS.iter().enumerate() {
        let out = n.ch(out);
        let y = n.conv_bn(&format!("b{i}.dw"), &x, dw(c, stride));
        let y = n.relu(&format!("b{i}.dw.relu"), &y);
        // Pointwise convs carry a bias in odd blocks: folding must merge it with the BN shift.
        let pw = ConvSpec { bias: i % 2 == 1, ..full(c, out, 1, 1) };
        let y = n.conv_bn(&format!("b{i}.pw"), &y, pw);
        x = n.relu(&format!("b{i}.pw.relu"), &y);
        c = out;
    }
    n.classifier(&x, c);
    n.finish("mobilenet_v1")
}

pub fn mobilenet_v2(o: &SynthOptions) -> Vec<u8> {
    let mut n = Net::new(o);
    let mut c = n.ch(32);
    let stem = ConvSpec { prune: false, ..full(3, c, 3, 2) };
    let y = n.conv_bn("conv1", "input", stem);
    let mut x = n.relu6("conv1.relu6", &y);
    // (expansion t, channels c, repeats n, first stride s), as in the MobileNetV2 paper.
    const SETTINGS: [(usize, usize, usize, usize); 7] =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
    let mut bi = 0;
    for &(t, out, reps, s) in &SETTINGS {
        let out = n.ch(out);
        n.group = None;
        for r in 0..reps {
            let stride = if r == 0 { s } else { 1 };
            let hidden = c * t;
            let mut y = x.clone();
            if t != 1 {
                let e = n.conv_bn(&format!("b{bi}.expand"), &y, full(c, hidden, 1, 1));
                y = n.relu6(&format!("b{bi}.expand.relu6"), &e);
            }
            let d = n.conv_bn(&format!("b{bi}.dw"), &y, dw(hidden, stride));
            let d = n.relu6(&format!("b{bi}.dw.relu6"), &d);
            let p = n.conv_bn(&format!("b{bi}.project"), &d, ConvSpec { residual: true, ..full(hidden, out, 1, 1) });
            x = if stride == 1 && c == out { n.g.op("Add", &format!("b{bi}.add"), &[&x, &p], vec![]) } else { p };
            c = out;
            bi += 1;
        }
    }
    // As torchvision: the last conv is never narrowed below 1280 channels.
    let last = if o.width > 1.0 { n.ch(1280) } else { 1280 };
    let y = n.conv_bn("conv_last", &x, full(c, last, 1, 1));
    let y = n.relu6("conv_last.relu6", &y);
    n.classifier(&y, last);
    n.finish("mobilenet_v2")
}

pub fn resnet18(o: &SynthOptions) -> Vec<u8> {
    let mut n = Net::new(o);
    let mut c = n.ch(64);
    let stem = ConvSpec { prune: false, ..full(3, c, 7, 2) };
    let y = n.conv_bn("conv1", "input", stem);
    let y = n.relu("conv1.relu", &y);
    let mut x = n.g.op(
        "MaxPool",
        "maxpool",
        &[&y],
        vec![attr_ints("kernel_shape", &[3, 3]), attr_ints("strides", &[2, 2]), attr_ints("pads", &[1, 1, 1, 1])],
    );
    for (si, &width) in [64usize, 128, 256, 512].iter().enumerate() {
        let out = n.ch(width);
        n.group = None;
        for bi in 0..2 {
            let stride = if si > 0 && bi == 0 { 2 } else { 1 };
            let name = format!("layer{}.{bi}", si + 1);
            let y = n.conv_bn(&format!("{name}.conv1"), &x, full(c, out, 3, stride));
            let y = n.relu(&format!("{name}.relu1"), &y);
            let y = n.conv_bn(&format!("{name}.conv2"), &y, ConvSpec { residual: true, ..full(out, out, 3, 1) });
            let short = if stride != 1 || c != out {
                n.conv_bn(&format!("{name}.downsample"), &x, ConvSpec { residual: true, ..full(c, out, 1, stride) })
            } else {
                x.clone()
            };
            let s = n.g.op("Add", &format!("{name}.add"), &[&y, &short], vec![]);
            x = n.relu(&format!("{name}.relu2"), &s);
            c = out;
        }
    }
    n.classifier(&x, c);
    n.finish("resnet18")
}
