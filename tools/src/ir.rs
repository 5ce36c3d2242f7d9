//! The converter's intermediate representation: a static-shaped graph of runtime ops.
//!
//! Contract: every tensor has a dtype and a static shape; a tensor with `data` is a constant
//! (weights, folded subgraphs) and is never written by a node. Nodes are kept in execution order
//! (each node's inputs are constants, graph inputs, or outputs of earlier nodes); `params` are the
//! bytes of the runtime op's Pod parameter struct, exactly as the `.sprig` file stores them.
use crate::tensor::OwnedData;
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::{DType, Encoding, Shape, TensorInfo};

/// Index of a tensor in [`Graph::tensors`].
pub type TensorId = usize;

#[derive(Clone, Debug)]
pub struct Tensor {
    /// ONNX name, or a generated `<base>__<k>` for tensors the converter introduces.
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    /// Constant data (row-major, `numel` elements of `dtype`), `None` for activations.
    pub data: Option<OwnedData>,
    /// A block-sparse blob (`sprig_kernels::sparse`) that the file stores instead of `data`, set
    /// by `sparsify` (`data` keeps the dense values of the same logical shape).
    pub sparse: Option<Vec<u8>>,
    /// Stored in 64-channel panels ([`Encoding::Panel64`]; a dense f32 pointwise conv weight,
    /// set by `convert::mark_pointwise_panels`); `data` keeps the row-major values.
    pub panel64: bool,
}

impl Tensor {
    pub fn numel(&self) -> usize {
        self.shape.iter().product()
    }

    pub fn nbytes(&self) -> usize {
        self.numel() * self.dtype.size()
    }

    pub fn is_const(&self) -> bool {
        self.data.is_some()
    }

    /// The runtime's view of this tensor; `None` when the rank exceeds the format's maximum.
    pub fn info(&self) -> Option<TensorInfo> {
        let encoding = if self.sparse.is_some() {
            Encoding::BlockSparse
        } else if self.panel64 {
            Encoding::Panel64
        } else {
            Encoding::Dense
        };
        Some(TensorInfo { dtype: self.dtype, shape: Shape::new(&self.shape)?, encoding })
    }
}

#[derive(Clone, Debug)]
pub struct Node {
    /// ONNX node name (or `<op>_<index>` when the ONNX node has none).
    pub name: String,
    pub op: OpKind,
    pub params: Vec<u8>,
    /// `None` for an absent optional input.
    pub inputs: Vec<Option<TensorId>>,
    pub outputs: Vec<TensorId>,
    /// ONNX nodes merged into this one (BatchNormalization, activations ...), in merge order.
    pub fused: Vec<String>,
    /// Set on the `Mul`/`Add` pair a BatchNormalization lowers to, so a pass can fold it into
    /// the producing Conv / MatMul (the BN's ONNX name).
    pub from_bn: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct Graph {
    pub tensors: Vec<Tensor>,
    pub nodes: Vec<Node>,
    pub inputs: Vec<TensorId>,
    pub outputs: Vec<TensorId>,
}

impl Graph {
    pub fn add_tensor(&mut self, name: String, dtype: DType, shape: Vec<usize>, data: Option<OwnedData>) -> TensorId {
        self.tensors.push(Tensor { name, dtype, shape, data, sparse: None, panel64: false });
        self.tensors.len() - 1
    }

    /// Adds a constant; the dtype is the data's.
    pub fn add_const(&mut self, name: String, shape: Vec<usize>, data: OwnedData) -> TensorId {
        let dt = data.dtype();
        self.add_tensor(name, dt, shape, Some(data))
    }

    /// A name not used by any tensor yet, derived from `base`.
    pub fn fresh_name(&self, base: &str) -> String {
        let mut k = self.tensors.len();
        loop {
            let n = format!("{base}__{k}");
            if !self.tensors.iter().any(|t| t.name == n) {
                return n;
            }
            k += 1;
        }
    }

    /// For each tensor, the indices of the nodes reading it (a node reading it twice counts twice).
    pub fn consumers(&self) -> Vec<Vec<usize>> {
        let mut c = vec![Vec::new(); self.tensors.len()];
        for (ni, n) in self.nodes.iter().enumerate() {
            for t in n.inputs.iter().flatten() {
                c[*t].push(ni);
            }
        }
        c
    }

    /// For each tensor, the node writing it.
    pub fn producers(&self) -> Vec<Option<usize>> {
        let mut p = vec![None; self.tensors.len()];
        for (ni, n) in self.nodes.iter().enumerate() {
            for &t in &n.outputs {
                p[t] = Some(ni);
            }
        }
        p
    }

    pub fn is_output(&self, t: TensorId) -> bool {
        self.outputs.contains(&t)
    }

    /// Removes nodes none of whose outputs is read or is a graph output; returns how many.
    pub fn eliminate_dead_nodes(&mut self) -> usize {
        let mut removed = 0;
        loop {
            let cons = self.consumers();
            let before = self.nodes.len();
            let outputs = self.outputs.clone();
            self.nodes.retain(|n| n.outputs.iter().any(|&t| !cons[t].is_empty() || outputs.contains(&t)));
            let gone = before - self.nodes.len();
            if gone == 0 {
                return removed;
            }
            removed += gone;
        }
    }
}
