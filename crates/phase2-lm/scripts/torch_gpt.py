#!/usr/bin/env python3
"""Reference: a character-level GPT trained in PyTorch (eager, CPU, float32).

The yardstick for the Rust phase-2 trainer. Same model and schedule as
configs/phase2/bench.toml describes: pre-LayerNorm decoder blocks with biases,
learned positional embeddings, tied input/output embeddings, GELU MLP (4x),
AdamW (decay only on 2-D weights), linear warm-up then cosine decay,
gradient clipping at 1.0, no dropout.

Usage:
  python3 crates/phase2-lm/scripts/torch_gpt.py --data .data/tinyshakespeare.txt [--iters 2000] [--threads 2]
Prints one JSON line at the end: train tokens/s, final val loss, wall seconds.
"""
import argparse, json, math, time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.h = h
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.out = nn.Linear(4 * d, d)

    def forward(self, x, causal):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.h, d // self.h).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-2, -1)) / math.sqrt(d // self.h)
        att = att.masked_fill(causal[:t, :t] == 0, float("-inf")).softmax(-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class GPT(nn.Module):
    def __init__(self, vocab, block, d, h, layers):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(block, d)
        self.blocks = nn.ModuleList(Block(d, h) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)
        self.head.weight = self.tok.weight
        self.register_buffer("causal", torch.tril(torch.ones(block, block)))
        self.apply(self._init)

    @staticmethod
    def _init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)

    def forward(self, idx, targets):
        t = idx.shape[1]
        x = self.tok(idx) + self.pos(torch.arange(t))
        for blk in self.blocks:
            x = blk(x, self.causal)
        logits = self.head(self.ln(x))
        return F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data", required=True)
    p.add_argument("--iters", type=int, default=2000)
    p.add_argument("--batch", type=int, default=12)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--eval-iters", type=int, default=20)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=1337)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)

    text = open(a.data, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]

    def batch(split):
        src = train if split == "train" else val
        ix = torch.randint(len(src) - a.block, (a.batch,))
        x = torch.stack([src[i : i + a.block] for i in ix])
        y = torch.stack([src[i + 1 : i + 1 + a.block] for i in ix])
        return x, y

    model = GPT(len(chars), a.block, a.d, a.heads, a.layers)
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=a.lr, betas=(0.9, 0.99))

    def lr_at(it):
        if it < a.warmup:
            return a.lr * (it + 1) / (a.warmup + 1)
        r = (it - a.warmup) / max(1, a.iters - a.warmup)
        return a.min_lr + 0.5 * (1 + math.cos(math.pi * min(r, 1.0))) * (a.lr - a.min_lr)

    @torch.no_grad()
    def val_loss():
        model.eval()
        v = sum(model(*batch("val")).item() for _ in range(a.eval_iters)) / a.eval_iters
        model.train()
        return v

    params = sum(q.numel() for q in model.parameters())
    t0 = time.perf_counter()
    train_s = 0.0
    for it in range(a.iters):
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        s = time.perf_counter()
        loss = model(*batch("train"))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        train_s += time.perf_counter() - s
        if it % 500 == 0:
            print(f"iter {it} loss {loss.item():.4f}", flush=True)
    final_val = val_loss()
    wall = time.perf_counter() - t0
    print(json.dumps({
        "impl": "pytorch-eager", "torch": torch.__version__, "threads": a.threads,
        "params": params, "iters": a.iters,
        "train_tokens_per_s": a.iters * a.batch * a.block / train_s,
        "val_loss": final_val, "wall_s": wall,
    }))


if __name__ == "__main__":
    main()
