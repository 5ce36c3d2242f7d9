//! Magnitude pruning of a weight matrix in blocks of `block_rows` consecutive output channels at
//! one input index (block_rows = 1: unstructured).

/// Zeroes the `round(sparsity * blocks)` blocks with the smallest L1 norm (ties: lower block index
/// first, so the result is deterministic), then rescales the survivors so the matrix keeps its L2
/// norm (activations stay O(1) at any sparsity, as fine-tuning after pruning would arrange).
///
/// `idx(o, i)` maps output channel `o < n_out` and input index `i < n_in` to a position in `w`.
/// A trailing partial block (n_out not a multiple of block_rows) is a block of its own.
pub fn prune(w: &mut [f32], n_out: usize, n_in: usize, block_rows: usize, sparsity: f32, idx: impl Fn(usize, usize) -> usize) {
    let br = block_rows.max(1);
    if sparsity <= 0.0 || n_out == 0 || n_in == 0 {
        return;
    }
    let blocks_per_col = n_out.div_ceil(br);
    let block = |b: usize| {
        let (i, ob) = (b / blocks_per_col, b % blocks_per_col);
        (i, ob * br..((ob + 1) * br).min(n_out))
    };
    let nblocks = blocks_per_col * n_in;
    let mut scores: Vec<(f32, usize)> = (0..nblocks)
        .map(|b| {
            let (i, rows) = block(b);
            (rows.map(|o| w[idx(o, i)].abs()).sum::<f32>(), b)
        })
        .collect();
    scores.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    let nzero = ((sparsity.min(1.0) as f64) * nblocks as f64).round() as usize;
    let norm2 = |w: &[f32]| w.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
    let before = norm2(w);
    for &(_, b) in &scores[..nzero] {
        let (i, rows) = block(b);
        for o in rows {
            w[idx(o, i)] = 0.0;
        }
    }
    let after = norm2(w);
    if after > 0.0 {
        let s = (before / after).sqrt() as f32;
        w.iter_mut().for_each(|x| *x *= s);
    }
}

#[cfg(test)]
mod tests {
    use super::prune;

    #[test]
    fn zeroes_smallest_blocks_of_four_rows() {
        // 8 outputs x 2 inputs, row-major [o][i]; block (i=1, rows 4..8) has the smallest L1 norm.
        let mut w: Vec<f32> = vec![
            1.0, 5.0, //
            1.0, 5.0, //
            1.0, 5.0, //
            1.0, 5.0, //
            2.0, 0.1, //
            2.0, 0.1, //
            2.0, -0.1, //
            2.0, 0.1, //
        ];
        prune(&mut w, 8, 2, 4, 0.25, |o, i| o * 2 + i);
        for o in 4..8 {
            assert_eq!(w[o * 2 + 1], 0.0);
        }
        assert_eq!(w.iter().filter(|&&x| x == 0.0).count(), 4);
        // L2 norm kept: 4*1 + 4*25 + 4*4 + 4*0.01 before.
        let n: f32 = w.iter().map(|x| x * x).sum();
        assert!((n - 120.04).abs() < 1e-3, "{n}");
    }

    #[test]
    fn unstructured_hits_the_requested_fraction() {
        let mut w: Vec<f32> = (0..100).map(|k| ((k * 37 % 101) as f32) - 50.0).collect();
        prune(&mut w, 10, 10, 1, 0.9, |o, i| o * 10 + i);
        assert_eq!(w.iter().filter(|&&x| x == 0.0).count(), 90);
    }
}
