//! The block-sparse encoding: round trips through the one encoder and the validating reader, and
//! the reader rejecting corrupted blobs without panicking.
mod sparse_util;

use proptest::prelude::*;
use sparse_util::*;
use sprig_kernels::sparse::{analyze, pack, EncodeError, Layout, SparseMatrix};

/// Independent block count: a block is stored iff any of its weights is non-zero.
fn naive_blocks(w: &[f32], m: usize, k: usize, layout: Layout) -> usize {
    let (r, c) = layout.block();
    let mut n = 0;
    for br in 0..m.div_ceil(r) {
        for bc in 0..k.div_ceil(c) {
            let mut any = false;
            for i in br * r..(br * r + r).min(m) {
                for j in bc * c..(bc * c + c).min(k) {
                    any |= w[i * k + j] != 0.0;
                }
            }
            n += any as usize;
        }
    }
    n
}

fn round_trip(w: &[f32], m: usize, k: usize, bias: Option<&[f32]>, layout: Layout) {
    let buf = encode(w, m, k, bias, layout);
    let a = parse(&buf);
    assert_eq!((a.m(), a.k(), a.layout()), (m, k, layout));
    let mut d = vec![f32::NAN; m * k];
    a.to_dense(&mut d);
    assert_eq!(d, w, "decode != input for {m}x{k} {layout}");
    assert_eq!(a.bias(), bias);
    let st = analyze(w, m, k, layout).unwrap();
    assert_eq!(st.nnz, w.iter().filter(|v| **v != 0.0).count());
    assert_eq!(st.nnz_blocks, naive_blocks(w, m, k, layout));
    assert_eq!(a.nnz_blocks(), st.nnz_blocks);
    // Sections are 64-aligned from the blob start.
    let val_off = a.values().as_ptr() as usize - buf.bytes().as_ptr() as usize;
    assert_eq!(val_off % 64, 0);
    assert_eq!(buf.bytes().len() % 64, 0);
}

#[test]
fn round_trip_every_layout_named_cases() {
    let mut rng = XorRng(0x1234_5678);
    for layout in Layout::ALL {
        for &(m, k) in &[(1, 1), (3, 5), (8, 8), (13, 37), (64, 3), (2, 70_000)] {
            for &sp in &[0.0, 0.5, 0.9, 1.0] {
                let w = random_weights(&mut rng, m, k, layout, sp, 0.3);
                let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.5 - 1.0).collect();
                round_trip(&w, m, k, None, layout);
                round_trip(&w, m, k, Some(&bias), layout);
            }
        }
        // Empty matrix and empty reduction.
        round_trip(&[], 0, 5, None, layout);
        round_trip(&[], 4, 0, None, layout);
    }
}

#[test]
fn index_width_follows_k() {
    use sprig_kernels::sparse::Indices;
    let w = vec![1.0f32; 65536];
    let buf = encode(&w, 1, 65536, None, Layout::RowBlock(1));
    assert!(matches!(parse(&buf).indices(), Indices::U16(_)));
    let w = vec![1.0f32; 65537];
    let buf = encode(&w, 1, 65537, None, Layout::RowBlock(1));
    let a = parse(&buf);
    assert!(matches!(a.indices(), Indices::U32(_)));
    assert_eq!(a.indices().get(65536), 65536);
}

#[test]
fn pack_rejects_bad_arguments() {
    let w = vec![1.0f32; 12];
    let mut out = Aligned::new(4096);
    assert!(matches!(pack(&w, 3, 5, None, Layout::RowBlock(4), out.bytes_mut()), Err(EncodeError::ShapeMismatch { .. })));
    assert!(matches!(pack(&w, 3, 4, None, Layout::RowBlock(3), out.bytes_mut()), Err(EncodeError::BadLayout { .. })));
    assert!(matches!(pack(&w, 3, 4, None, Layout::RedBlock(2), out.bytes_mut()), Err(EncodeError::BadLayout { .. })));
    assert!(matches!(pack(&w, 3, 4, Some(&[1.0]), Layout::RowBlock(1), out.bytes_mut()), Err(EncodeError::ShapeMismatch { .. })));
    let mut small = Aligned::new(64);
    assert!(matches!(pack(&w, 3, 4, None, Layout::RowBlock(1), small.bytes_mut()), Err(EncodeError::OutputTooSmall { .. })));
}

/// A 10×40 4×1 blob with bias, some blocks in every block row.
fn sample() -> (Vec<f32>, Aligned) {
    let mut rng = XorRng(99);
    let (m, k) = (10, 40);
    let mut w = random_weights(&mut rng, m, k, Layout::RowBlock(4), 0.6, 0.0);
    for br in 0..3 {
        w[br * 4 * k + 3] = 1.0;
        w[br * 4 * k + 17] = 2.0;
    }
    let bias = vec![0.5f32; m];
    let buf = encode(&w, m, k, Some(&bias), Layout::RowBlock(4));
    (w, buf)
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}
fn set_u32(b: &mut [u8], o: usize, v: u32) {
    b[o..o + 4].copy_from_slice(&v.to_le_bytes());
}
fn reparse(bytes: &[u8]) -> Result<(), EncodeError> {
    let mut copy = Aligned::new(bytes.len());
    copy.bytes_mut().copy_from_slice(bytes);
    SparseMatrix::parse(copy.bytes()).map(|_| ())
}

#[test]
fn parse_rejects_truncations() {
    let (_, buf) = sample();
    let b = buf.bytes();
    assert!(reparse(b).is_ok());
    for len in 0..b.len() {
        assert!(reparse(&b[..len]).is_err(), "truncated to {len} accepted");
    }
}

/// Mutates a good blob in place.
type Corrupt = Box<dyn Fn(&mut Vec<u8>)>;
/// Whether the error is the expected kind.
type Expect = fn(&EncodeError) -> bool;

#[test]
fn parse_rejects_named_corruptions() {
    let (_, buf) = sample();
    let good = buf.bytes().to_vec();
    let (ptr_off, idx_off) = (u32_at(&good, 40) as usize, u32_at(&good, 44) as usize);
    let nnz = u32_at(&good, 32);
    let cases: Vec<(&str, Corrupt, Expect)> = vec![
        ("magic", Box::new(|b| b[0] = b'X'), |e| matches!(e, EncodeError::BadMagic)),
        ("major", Box::new(|b| b[4] = 2), |e| matches!(e, EncodeError::UnsupportedVersion { .. })),
        ("minor", Box::new(|b| b[6] = 1), |e| matches!(e, EncodeError::UnsupportedVersion { .. })),
        ("header size", Box::new(|b| set_u32(b, 8, 32)), |e| matches!(e, EncodeError::BadHeaderSize(32))),
        ("dtype 3 (unknown)", Box::new(|b| b[28] = 3), |e| matches!(e, EncodeError::UnsupportedDType(3))),
        ("dtype 0", Box::new(|b| b[28] = 0), |e| matches!(e, EncodeError::UnsupportedDType(0))),
        // f16 values are half the size: the f32 blob's offsets no longer match.
        ("dtype f16 over f32 values", Box::new(|b| b[28] = 2), |e| matches!(e, EncodeError::BadHeader { .. })),
        ("layout 3x1", Box::new(|b| b[25] = 3), |e| matches!(e, EncodeError::BadLayout { .. })),
        ("layout kind", Box::new(|b| b[24] = 7), |e| matches!(e, EncodeError::BadLayout { .. })),
        ("index width 3", Box::new(|b| b[27] = 3), |e| matches!(e, EncodeError::BadIndexWidth(3))),
        // Within the section padding the offsets still match: then the last pointer disagrees.
        ("nnz + 1", Box::new(move |b| set_u32(b, 32, nnz + 1)), |e| matches!(e, EncodeError::BadHeader { .. } | EncodeError::BadPointer { .. })),
        ("nnz huge", Box::new(|b| set_u32(b, 32, u32::MAX)), |e| matches!(e, EncodeError::TooLarge { .. } | EncodeError::BadHeader { .. })),
        ("block rows", Box::new(|b| set_u32(b, 36, 2)), |e| matches!(e, EncodeError::BadHeader { .. })),
        ("m huge", Box::new(|b| set_u32(b, 16, u32::MAX)), |e| matches!(e, EncodeError::TooLarge { .. })),
        ("val_off", Box::new(|b| set_u32(b, 48, 0)), |e| matches!(e, EncodeError::BadHeader { .. })),
        ("total_size", Box::new(|b| set_u32(b, 12, 1 << 30)), |e| matches!(e, EncodeError::BadHeader { .. })),
        ("flags", Box::new(|b| b[29] = 0x80 | 1), |e| matches!(e, EncodeError::BadHeader { .. })),
        ("reserved", Box::new(|b| b[60] = 1), |e| matches!(e, EncodeError::BadHeader { .. })),
        ("ptr[0] != 0", Box::new(move |b| set_u32(b, ptr_off, 1)), |e| matches!(e, EncodeError::BadPointer { .. })),
        (
            "non-monotone ptr",
            Box::new(move |b| {
                let p1 = u32_at(b, ptr_off + 4);
                let p2 = u32_at(b, ptr_off + 8);
                set_u32(b, ptr_off + 4, p2 + 1);
                let _ = p1;
            }),
            |e| matches!(e, EncodeError::BadPointer { .. } | EncodeError::BadIndex { .. }),
        ),
        ("last ptr != nnz", Box::new(move |b| set_u32(b, ptr_off + 12, nnz - 1)), |e| matches!(e, EncodeError::BadPointer { .. } | EncodeError::BadIndex { .. })),
        ("index = k", Box::new(move |b| b[idx_off..idx_off + 2].copy_from_slice(&40u16.to_le_bytes())), |e| matches!(e, EncodeError::BadIndex { index: 40, .. })),
        ("index huge", Box::new(move |b| b[idx_off..idx_off + 2].copy_from_slice(&65535u16.to_le_bytes())), |e| matches!(e, EncodeError::BadIndex { .. })),
        (
            "indices not increasing",
            Box::new(move |b| {
                let i1 = [b[idx_off + 2], b[idx_off + 3]];
                b[idx_off] = i1[0];
                b[idx_off + 1] = i1[1];
            }),
            |e| matches!(e, EncodeError::BadIndex { .. }),
        ),
    ];
    for (name, corrupt, ok) in cases {
        let mut b = good.clone();
        corrupt(&mut b);
        match reparse(&b) {
            Err(e) => assert!(ok(&e), "{name}: unexpected error {e:?}"),
            Ok(()) => panic!("{name}: corrupted blob accepted"),
        }
    }
    // 1×C blocks must be aligned to C.
    let w = vec![1.0f32; 2 * 16];
    let buf = encode(&w, 2, 16, None, Layout::RedBlock(8));
    let mut b = buf.bytes().to_vec();
    let idx_off = u32_at(&b, 44) as usize;
    b[idx_off..idx_off + 2].copy_from_slice(&3u16.to_le_bytes());
    assert!(matches!(reparse(&b), Err(EncodeError::BadIndex { index: 3, .. })));
    // Misaligned start.
    let (_, buf) = sample();
    let mut shifted = Aligned::new(buf.bytes().len() + 1);
    shifted.bytes_mut()[1..].copy_from_slice(buf.bytes());
    assert!(matches!(SparseMatrix::parse(&shifted.bytes()[1..]), Err(EncodeError::Misaligned)));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn round_trip_random(m in 0usize..40, k in 0usize..90, li in 0usize..6, sp in 0.0f64..=1.0, inner in 0.0f64..0.9, seed: u64, with_bias: bool) {
        let layout = Layout::ALL[li];
        let mut rng = XorRng(seed | 1);
        let w = random_weights(&mut rng, m, k, layout, sp, inner);
        let bias: Vec<f32> = (0..m).map(|_| rng.weight()).collect();
        round_trip(&w, m, k, with_bias.then_some(&bias[..]), layout);
    }

    /// Random byte corruption never panics; when it still parses, the view obeys its invariants
    /// (checked by running the bounds-checked scalar kernel and decoding).
    #[test]
    fn corrupted_blobs_never_panic(flips in proptest::collection::vec((0usize..100_000, any::<u8>()), 1..6), li in 0usize..6, seed: u64) {
        let layout = Layout::ALL[li];
        let mut rng = XorRng(seed | 1);
        let (m, k) = (9, 21);
        let w = random_weights(&mut rng, m, k, layout, 0.5, 0.0);
        let bias = vec![1.0f32; m];
        let buf = encode(&w, m, k, Some(&bias), layout);
        let mut b = buf.bytes().to_vec();
        for (pos, v) in flips {
            let len = b.len();
            b[pos % len] = v;
        }
        let mut copy = Aligned::new(b.len());
        copy.bytes_mut().copy_from_slice(&b);
        if let Ok(a) = SparseMatrix::parse(copy.bytes()) {
            let mut d = vec![0.0; a.m() * a.k()];
            a.to_dense(&mut d);
            let x = vec![1.0f32; a.k()];
            let mut y = vec![0.0f32; a.m()];
            sprig_kernels::sparse::spmv(sprig_kernels::Isa::detect(), &a, &x, &mut y, &sprig_kernels::Activation::NONE);
        }
    }
}

/// `parse_validated` (the O(1) view of a blob that passed `parse`) gives the same view as `parse`
/// for every layout, index width and value type; checked field by field against the full reader.
#[test]
fn parse_validated_equals_parse() {
    let mut rng = XorRng(7);
    for layout in [Layout::RowBlock(1), Layout::RowBlock(2), Layout::RowBlock(4), Layout::RowBlock(8), Layout::RedBlock(4), Layout::RedBlock(8)] {
        for &(m, k) in &[(13usize, 37usize), (1, 70_000), (64, 64)] {
            let w = random_weights(&mut rng, m, k, layout, 0.8, 0.0);
            let bias: Vec<f32> = (0..m).map(|i| i as f32 * 0.25).collect();
            for b in [None, Some(&bias[..])] {
                let buf = encode(&w, m, k, b, layout);
                let full = SparseMatrix::parse(buf.bytes()).expect("good blob");
                // SAFETY: `parse` accepted these very bytes just above.
                let fast = unsafe { SparseMatrix::parse_validated(buf.bytes()) }.expect("good blob");
                assert_eq!((fast.m(), fast.k(), fast.layout(), fast.value_type()), (full.m(), full.k(), full.layout(), full.value_type()));
                assert_eq!(fast.ptr(), full.ptr());
                assert_eq!(fast.nnz_blocks(), full.nnz_blocks());
                assert!((0..full.nnz_blocks()).all(|j| fast.indices().get(j) == full.indices().get(j)));
                assert_eq!(fast.values(), full.values());
                assert_eq!(fast.bias(), full.bias());
            }
        }
    }
}
