//! Serialises a planned graph into the `.sprig` format (see `runtime/FORMAT.md`). The reader in
//! `sprig_runtime::format` is the other half; `tests` round-trip the two.
use sprig_runtime::format::{
    Header, NodeRecord, SectionEntry, SectionKind, ValueRecord, ARENA_ALIGN, DATA_ALIGN, MAGIC, MINOR_F16, MINOR_PANEL64, NO_VALUE,
    VERSION_MAJOR,
};
use sprig_runtime::ops::OpKind;
use sprig_runtime::tensor::{DType, Encoding, MAX_RANK};

/// Where a value lives in the written file.
#[derive(Clone, Debug)]
pub enum ValueStorage {
    /// In the arena at this byte offset (must be 64-aligned).
    Arena { offset: u64 },
    /// Constant bytes stored in the file, in the given encoding.
    Const { bytes: Vec<u8>, encoding: Encoding },
}

#[derive(Clone, Debug)]
pub struct ValueDef {
    pub name: String,
    pub dtype: DType,
    pub shape: Vec<usize>,
    pub storage: ValueStorage,
}

#[derive(Clone, Debug)]
pub struct NodeDef {
    pub name: String,
    pub op: OpKind,
    pub params: Vec<u8>,
    /// Value indices; `None` for an absent optional input.
    pub inputs: Vec<Option<u32>>,
    pub outputs: Vec<u32>,
    /// (arena offset, size) of the node's scratch.
    pub scratch: (u64, u64),
}

/// Everything a `.sprig` file holds.
#[derive(Clone, Debug, Default)]
pub struct FileDef {
    pub values: Vec<ValueDef>,
    pub nodes: Vec<NodeDef>,
    pub inputs: Vec<u32>,
    pub outputs: Vec<u32>,
    pub arena_size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("tensor '{0}' has rank {1}, above the format's maximum of 8")]
    Rank(String, usize),
    #[error("tensor '{0}' has a dimension above 2^32-1")]
    Dim(String),
    #[error("tensor '{0}': {1}")]
    Value(String, &'static str),
    #[error("node '{0}' has more than {1} inputs or outputs")]
    NodeIo(String, usize),
}

fn pad_to(buf: &mut Vec<u8>, align: usize) {
    buf.resize(buf.len().next_multiple_of(align), 0);
}

fn align_up(x: u64, a: u64) -> u64 {
    x.div_ceil(a) * a
}

/// Serialises `def`. The result loads with `sprig_runtime::Model::from_bytes` when the graph is
/// valid (the writer checks only what the format itself requires).
pub fn write(def: &FileDef) -> Result<Vec<u8>, WriteError> {
    let mut strings: Vec<u8> = Vec::new();
    let add_str = |s: &str, strings: &mut Vec<u8>| -> (u32, u32) {
        let off = strings.len() as u32;
        strings.extend_from_slice(s.as_bytes());
        (off, s.len() as u32)
    };

    // Constant data, laid out relative to the start of the data section.
    let mut data: Vec<u8> = Vec::new();
    let mut values: Vec<ValueRecord> = Vec::with_capacity(def.values.len());
    let mut const_rel: Vec<Option<u64>> = Vec::with_capacity(def.values.len());
    for v in &def.values {
        if v.shape.len() > MAX_RANK {
            return Err(WriteError::Rank(v.name.clone(), v.shape.len()));
        }
        let mut dims = [0u32; MAX_RANK];
        for (d, &s) in dims.iter_mut().zip(&v.shape) {
            *d = u32::try_from(s).map_err(|_| WriteError::Dim(v.name.clone()))?;
        }
        let numel: usize = v.shape.iter().product();
        let (name_off, name_len) = add_str(&v.name, &mut strings);
        let (storage, encoding, offset, nbytes) = match &v.storage {
            ValueStorage::Arena { offset } => {
                if !offset.is_multiple_of(ARENA_ALIGN as u64) {
                    return Err(WriteError::Value(v.name.clone(), "arena offset not 64-aligned"));
                }
                const_rel.push(None);
                (0u8, Encoding::Dense, *offset, (numel * v.dtype.size()) as u64)
            }
            ValueStorage::Const { bytes, encoding } => {
                pad_to(&mut data, DATA_ALIGN);
                const_rel.push(Some(data.len() as u64));
                data.extend_from_slice(bytes);
                (1u8, *encoding, 0, bytes.len() as u64)
            }
        };
        values.push(ValueRecord {
            name_off,
            name_len,
            dtype: v.dtype as u8,
            rank: v.shape.len() as u8,
            storage,
            encoding: encoding as u8,
            reserved: 0,
            offset,
            nbytes,
            dims,
        });
    }

    let mut node_io: Vec<u32> = Vec::new();
    let mut params: Vec<u8> = Vec::new();
    let mut nodes: Vec<NodeRecord> = Vec::with_capacity(def.nodes.len());
    for n in &def.nodes {
        let max = sprig_runtime::format::MAX_NODE_IO;
        if n.inputs.len() > max || n.outputs.len() > max {
            return Err(WriteError::NodeIo(n.name.clone(), max));
        }
        let io_start = node_io.len() as u32;
        node_io.extend(n.inputs.iter().map(|i| i.unwrap_or(NO_VALUE)));
        node_io.extend(&n.outputs);
        pad_to(&mut params, 8);
        let params_off = params.len() as u32;
        params.extend_from_slice(&n.params);
        let (name_off, name_len) = add_str(&n.name, &mut strings);
        nodes.push(NodeRecord {
            op: n.op as u16,
            flags: 0,
            n_inputs: n.inputs.len() as u16,
            n_outputs: n.outputs.len() as u16,
            io_start,
            name_off,
            name_len,
            params_off,
            params_len: n.params.len() as u32,
            reserved: 0,
            scratch_offset: n.scratch.0,
            scratch_size: n.scratch.1,
        });
    }

    // Assemble: header, section table, then sections in a fixed order, data last.
    let sections: Vec<(SectionKind, Vec<u8>)> = vec![
        (SectionKind::Strings, strings),
        (SectionKind::Values, bytemuck::cast_slice(&values).to_vec()),
        (SectionKind::Nodes, bytemuck::cast_slice(&nodes).to_vec()),
        (SectionKind::NodeIo, bytemuck::cast_slice(&node_io).to_vec()),
        (SectionKind::Params, params),
        (SectionKind::Inputs, bytemuck::cast_slice(&def.inputs).to_vec()),
        (SectionKind::Outputs, bytemuck::cast_slice(&def.outputs).to_vec()),
    ];
    let hsize = std::mem::size_of::<Header>() as u64;
    let table_len = (sections.len() as u64 + 1) * std::mem::size_of::<SectionEntry>() as u64;
    let mut entries = Vec::new();
    let mut pos = hsize + table_len;
    for (kind, bytes) in &sections {
        pos = align_up(pos, 8);
        entries.push(SectionEntry { kind: *kind as u32, reserved: 0, offset: pos, size: bytes.len() as u64, reserved2: 0 });
        pos += bytes.len() as u64;
    }
    let data_off = align_up(pos, DATA_ALIGN as u64);
    entries.push(SectionEntry { kind: SectionKind::Data as u32, reserved: 0, offset: data_off, size: data.len() as u64, reserved2: 0 });
    for (rec, rel) in values.iter_mut().zip(&const_rel) {
        if let Some(rel) = rel {
            rec.offset = data_off + rel;
        }
    }
    // Values were serialised before their offsets were final: re-serialise that section.
    let values_bytes: Vec<u8> = bytemuck::cast_slice(&values).to_vec();
    let file_size = data_off + data.len() as u64;
    // The lowest minor whose features the file uses (FORMAT.md, Versioning): 1.0 readers keep
    // reading every file without f16 weights.
    let minor = if def.values.iter().any(|v| matches!(v.storage, ValueStorage::Const { encoding: Encoding::Panel64, .. })) {
        MINOR_PANEL64
    } else if def.values.iter().any(|v| v.dtype == DType::F16) {
        MINOR_F16
    } else {
        0
    };
    let header = Header {
        magic: MAGIC,
        major: VERSION_MAJOR,
        minor,
        header_size: hsize as u32,
        file_size,
        arena_size: align_up(def.arena_size, ARENA_ALIGN as u64),
        section_count: entries.len() as u32,
        flags: 0,
        reserved: [0; 3],
    };
    let mut out = Vec::with_capacity(file_size as usize);
    out.extend_from_slice(bytemuck::bytes_of(&header));
    out.extend_from_slice(bytemuck::cast_slice(&entries));
    for ((kind, bytes), e) in sections.iter().zip(&entries) {
        out.resize(e.offset as usize, 0);
        if *kind == SectionKind::Values {
            out.extend_from_slice(&values_bytes);
        } else {
            out.extend_from_slice(bytes);
        }
    }
    out.resize(data_off as usize, 0);
    out.extend_from_slice(&data);
    debug_assert_eq!(out.len() as u64, file_size);
    Ok(out)
}
