//! Count-based n-gram language models with interpolated Kneser–Ney smoothing.
//!
//! An n-gram model predicts the next token from the previous `n - 1` by counting. Raw counts give
//! probability zero to anything unseen — and a single zero on the validation text makes perplexity
//! infinite — so probability mass is taken from seen n-grams (an absolute discount `D`) and given to
//! the next-lower order, recursively down to the uniform distribution over the vocabulary:
//!
//! ```text
//! p_k(w | h) = max(c_k(h, w) - D_k, 0) / c_k(h)  +  D_k * N1+(h •) / c_k(h) * p_{k-1}(w | h')
//! p_0(w)     = 1 / V
//! ```
//!
//! where `h` is the last `k - 1` tokens, `h'` drops its oldest token, `c_k(h) = Σ_w c_k(h, w)` and
//! `N1+(h •)` is the number of distinct tokens seen after `h` (so the discounted mass is exactly what
//! gets redistributed and every `p_k` sums to one). A context never seen (`c_k(h) = 0`) falls through
//! to the lower order. Kneser and Ney's insight is the lower-order counts: for `k < n`, `c_k(h, w)`
//! is not how often `h w` occurs but in how many distinct contexts it occurs (`N1+(• h w)`): a token
//! that only ever follows one context ("Francisco" after "San") should get little probability from
//! the back-off distribution, however frequent it is. Each `D_k` is Ney's estimate from the counts
//! of counts, `n1 / (n1 + 2 n2)`, so nothing is tuned on the validation text.
//!
//! References: Kneser & Ney (1995); Chen & Goodman, "An empirical study of smoothing techniques for
//! language modeling" (1998), §2.7 and §3.

use std::collections::HashMap;

use anyhow::{bail, Result};
use rand::Rng;

/// An interpolated Kneser–Ney n-gram model over token ids `0..vocab`.
#[derive(Debug, Clone)]
pub struct NgramModel {
    n: usize,
    vocab: usize,
    /// `orders[k - 1]` holds the counts of order `k` (k-grams), `k = 1..=n`.
    orders: Vec<Order>,
}

/// Counts of one order `k`: k-grams `(h, w)` encoded as base-`vocab` integers.
#[derive(Debug, Clone, Default)]
struct Order {
    /// `c_k(h, w)`: raw counts for the highest order, continuation counts below it.
    count: HashMap<u64, u32>,
    /// Per context `h` (the k-gram code divided by `vocab`): `(c_k(h), N1+(h •))`.
    context: HashMap<u64, (u32, u32)>,
    /// Absolute discount `D_k`.
    discount: f64,
}

impl NgramModel {
    /// Counts all n-grams of `tokens` (ids `< vocab`) and derives the lower orders from them.
    pub fn train(tokens: &[u32], n: usize, vocab: usize) -> Result<Self> {
        if n == 0 {
            bail!("n-gram order must be at least 1");
        }
        if vocab == 0 {
            bail!("vocabulary size must be at least 1");
        }
        if (vocab as f64).powi(n as i32) >= u64::MAX as f64 {
            bail!("{n}-grams over a vocabulary of {vocab} do not fit a 64-bit key");
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= vocab) {
            bail!("token id {bad} is outside the vocabulary of {vocab}");
        }
        let v = vocab as u64;
        let mut orders = vec![Order::default(); n];

        // Highest order: raw counts of every n-gram.
        let top = &mut orders[n - 1].count;
        for gram in tokens.windows(n) {
            *top.entry(encode(gram, v)).or_insert(0) += 1;
        }
        // Lower orders: c_k(h, w) = number of distinct tokens u with (u, h, w) seen at order k + 1.
        for k in (1..n).rev() {
            let modulus = v.pow(k as u32); // drops the oldest token of a (k+1)-gram code
            let mut cont: HashMap<u64, u32> = HashMap::new();
            for &code in orders[k].count.keys() {
                *cont.entry(code % modulus).or_insert(0) += 1;
            }
            orders[k - 1].count = cont;
        }
        for order in &mut orders {
            order.finish(v);
        }
        Ok(NgramModel { n, vocab, orders })
    }

    /// The order `n`.
    pub fn n(&self) -> usize {
        self.n
    }

    /// Vocabulary size `V`.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// The discounts `D_1..D_n`.
    pub fn discounts(&self) -> Vec<f64> {
        self.orders.iter().map(|o| o.discount).collect()
    }

    /// Number of distinct n-grams stored at the highest order.
    pub fn num_ngrams(&self) -> usize {
        self.orders[self.n - 1].count.len()
    }

    /// `p(w | context)`, using the last `n - 1` tokens of `context` (fewer if it is shorter).
    pub fn prob(&self, context: &[u32], w: u32) -> f64 {
        let v = self.vocab as u64;
        if w as usize >= self.vocab {
            return 0.0;
        }
        let used = context.len().min(self.n - 1);
        let h = &context[context.len() - used..];
        // Build up from the uniform distribution: order k uses the last k - 1 tokens of h.
        let mut p = 1.0 / self.vocab as f64;
        for k in 1..=used + 1 {
            let order = &self.orders[k - 1];
            let ctx = encode(&h[used - (k - 1)..], v);
            let Some(&(total, types)) = order.context.get(&ctx) else {
                continue; // unseen context: keep the lower-order estimate
            };
            let c = order.count.get(&(ctx * v + w as u64)).copied().unwrap_or(0) as f64;
            let (total, types) = (total as f64, types as f64);
            p = (c - order.discount).max(0.0) / total + order.discount * types / total * p;
        }
        p
    }

    /// The whole next-token distribution after `context` (sums to one).
    pub fn distribution(&self, context: &[u32]) -> Vec<f64> {
        (0..self.vocab as u32)
            .map(|w| self.prob(context, w))
            .collect()
    }

    /// Mean negative log-likelihood (nats per token) of `tokens[start..]`, each predicted from the
    /// tokens before it. `start` lets models of different orders score exactly the same positions
    /// (pass the largest `n - 1`); it is raised to `n - 1` if smaller.
    pub fn cross_entropy(&self, tokens: &[u32], start: usize) -> f64 {
        let start = start.max(self.n - 1);
        if tokens.len() <= start {
            return f64::NAN;
        }
        let nll: f64 = (start..tokens.len())
            .map(|i| -self.prob(&tokens[i + 1 - self.n..i], tokens[i]).ln())
            .sum();
        nll / (tokens.len() - start) as f64
    }

    /// `−ln p(tokens[i] | the up to n − 1 tokens before it)`, in nats: one target's share of
    /// [`NgramModel::cross_entropy`] (whose terms are exactly these), for comparisons with another
    /// model target by target. Near the start of `tokens` the history is shorter.
    pub fn token_loss(&self, tokens: &[u32], i: usize) -> f64 {
        let from = (i + 1).saturating_sub(self.n);
        -self.prob(&tokens[from..i], tokens[i]).ln()
    }

    /// Samples `len` tokens after `prompt` as a GPT is sampled ([`crate::generate::sample_token`]):
    /// the log-probabilities play the logits, so a temperature `T` draws from `p^(1/T)`
    /// renormalised, then top-k / top-p filter, and each token takes one uniform draw of `rng` —
    /// the same temperature and seed mean the same rule and the same random numbers as the GPT's
    /// samples. Only the last `n − 1` tokens of `prompt` matter.
    pub fn sample_with(
        &self,
        prompt: &[u32],
        len: usize,
        sampling: &crate::generate::Sampling,
        rng: &mut rand_chacha::ChaCha8Rng,
    ) -> Vec<u32> {
        let mut out = prompt.to_vec();
        for _ in 0..len {
            let from = out.len().saturating_sub(self.n - 1);
            let logits: Vec<f32> = self
                .distribution(&out[from..])
                .iter()
                .map(|&p| p.max(f64::MIN_POSITIVE).ln() as f32)
                .collect();
            out.push(crate::generate::sample_token(&logits, sampling, rng));
        }
        out.split_off(prompt.len())
    }

    /// Samples `len` tokens after `prompt` (which may be empty).
    pub fn sample(&self, prompt: &[u32], len: usize, rng: &mut impl Rng) -> Vec<u32> {
        let mut out = prompt.to_vec();
        for _ in 0..len {
            let dist = self.distribution(&out);
            let mut u: f64 = rng.gen::<f64>() * dist.iter().sum::<f64>();
            let mut next = dist.len() - 1;
            for (w, p) in dist.iter().enumerate() {
                if u < *p {
                    next = w;
                    break;
                }
                u -= p;
            }
            out.push(next as u32);
        }
        out.split_off(prompt.len())
    }
}

impl Order {
    /// Context totals and Ney's discount `D = n1 / (n1 + 2 n2)` from the counts of counts.
    fn finish(&mut self, v: u64) {
        let (mut n1, mut n2) = (0u64, 0u64);
        for (&code, &c) in &self.count {
            let e = self.context.entry(code / v).or_insert((0, 0));
            e.0 += c;
            e.1 += 1;
            match c {
                1 => n1 += 1,
                2 => n2 += 1,
                _ => {}
            }
        }
        // Degenerate counts (e.g. a tiny corpus with no singletons): a conventional middle value.
        self.discount = if n1 > 0 && n2 > 0 {
            n1 as f64 / (n1 + 2 * n2) as f64
        } else {
            0.5
        };
    }
}

/// A token sequence as one base-`v` integer (oldest token most significant); empty -> 0.
fn encode(gram: &[u32], v: u64) -> u64 {
    gram.iter().fold(0, |acc, &t| acc * v + t as u64)
}
