//! Structured (channel) pruning for the synthesizers, as `SynthOptions::channel_sparsity` asks:
//! whole output channels of the pruned convs, whole FFN units and whole attention heads are
//! zeroed, as a structured pruner leaves them before the channels are physically removed.
//!
//! - Conv channels and FFN units: the `round(fraction × n_out)` outputs with the smallest L1
//!   weight norm (ties: lower index) are zeroed; survivors are rescaled so the weight keeps its
//!   L2 norm. The BatchNormalization after a pruned conv gets zero shift (beta = mean = 0) on the
//!   dead channels unless `channel_keep_bias` is set: then dead channels output the constant
//!   `act(shift)`, a non-zero-bias dead channel. FFN units keep their bias (output `gelu(b)`).
//! - Heads: the first `round(fraction × heads)` heads get all-zero Q, K and V columns (biases
//!   are kept).

/// Zeroes the weakest `round(fraction × n_out)` output channels of `w` (see the module doc) and
/// returns which are dead. `idx(o, i)` maps output `o < n_out` and input `i < n_in` into `w`.
pub fn prune_outputs(w: &mut [f32], n_out: usize, n_in: usize, fraction: f32, idx: impl Fn(usize, usize) -> usize) -> Vec<bool> {
    let mut dead = vec![false; n_out];
    let ndead = ((fraction.clamp(0.0, 1.0) as f64) * n_out as f64).round() as usize;
    if ndead == 0 || n_in == 0 {
        return dead;
    }
    let mut order: Vec<(f32, usize)> = (0..n_out).map(|o| ((0..n_in).map(|i| w[idx(o, i)].abs()).sum(), o)).collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    for &(_, o) in &order[..ndead] {
        dead[o] = true;
    }
    zero_outputs(w, &dead, n_in, idx);
    dead
}

/// Zeroes the outputs marked in `dead` and rescales the rest to keep the L2 norm.
pub fn zero_outputs(w: &mut [f32], dead: &[bool], n_in: usize, idx: impl Fn(usize, usize) -> usize) {
    let norm2 = |w: &[f32]| w.iter().map(|&x| (x as f64) * (x as f64)).sum::<f64>();
    let before = norm2(w);
    for (o, _) in dead.iter().enumerate().filter(|(_, &d)| d) {
        for i in 0..n_in {
            w[idx(o, i)] = 0.0;
        }
    }
    let after = norm2(w);
    if after > 0.0 {
        let s = (before / after).sqrt() as f32;
        w.iter_mut().for_each(|x| *x *= s);
    }
}

/// Dead heads for a Q, K or V weight `[hidden, hidden]` (columns `head * d .. (head + 1) * d`):
/// the first `round(fraction × heads)` heads, as a per-column mask.
pub fn dead_head_columns(heads: usize, hidden: usize, fraction: f32) -> Vec<bool> {
    let nd = ((fraction.clamp(0.0, 1.0) as f64) * heads as f64).round() as usize;
    let d = hidden / heads.max(1);
    (0..hidden).map(|c| c / d < nd).collect()
}

/// The BatchNormalization hook: zero shift on dead channels unless the bias is to be kept.
pub fn zero_shift(dead: &[bool], keep_bias: bool, beta: &mut [f32], mean: &mut [f32]) {
    if keep_bias {
        return;
    }
    for (c, _) in dead.iter().enumerate().filter(|(_, &d)| d) {
        beta[c] = 0.0;
        mean[c] = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weakest_outputs_are_zeroed_and_norm_kept() {
        // 4 outputs x 2 inputs, [o][i]; outputs 1 and 3 are the weakest.
        let mut w = vec![3.0, 4.0, 0.1, 0.1, 2.0, 2.0, 0.2, 0.0];
        let n0: f32 = w.iter().map(|x| x * x).sum();
        let dead = prune_outputs(&mut w, 4, 2, 0.5, |o, i| o * 2 + i);
        assert_eq!(dead, vec![false, true, false, true]);
        assert_eq!(&w[2..4], &[0.0, 0.0]);
        assert_eq!(&w[6..8], &[0.0, 0.0]);
        let n1: f32 = w.iter().map(|x| x * x).sum();
        assert!((n0 - n1).abs() < 1e-4, "{n0} {n1}");
    }

    #[test]
    fn head_columns() {
        assert_eq!(dead_head_columns(4, 8, 0.5), vec![true, true, true, true, false, false, false, false]);
        assert_eq!(dead_head_columns(4, 8, 0.0), vec![false; 8]);
    }
}
