#!/usr/bin/env python3
"""Replays one of our training runs in PyTorch: `cargo xtask bench --parity --torch PYTHON` runs this.

The model is `torch_gpt.py` (beside it)'s (imported from the path given), but its initial weights are
ours (init.bin + names.txt, written by the Rust side in `Gpt::vars` order) and its batches are ours
(starts.txt: one line of window starts per step). With the same start and the same data, any
difference between the two loss curves is a difference between the implementations.

Prints one JSON line: per-step training losses and the loss on every window of the validation split.
"""
import argparse, importlib.util, json, math, struct

import torch


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--torch-gpt", required=True, help="path of torch_gpt.py (beside this script)")
    p.add_argument("--data", required=True)
    p.add_argument("--dir", required=True, help="folder with init.bin, names.txt, starts.txt")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--block", type=int, default=64)
    p.add_argument("--d", type=int, default=128)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=1e-4)
    p.add_argument("--warmup", type=int, default=100)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    spec = importlib.util.spec_from_file_location("torch_gpt", a.torch_gpt)
    tg = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tg)

    text = open(a.data, encoding="utf-8").read()
    chars = sorted(set(text))
    stoi = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([stoi[c] for c in text], dtype=torch.long)
    n = int(0.9 * len(data))
    train, val = data[:n], data[n:]

    model = tg.GPT(len(chars), a.block, a.d, a.heads, a.layers)
    params = dict(model.named_parameters())
    renames = {"tok_emb": "tok.weight", "pos_emb": "pos.weight", "ln_f.weight": "ln.weight",
               "ln_f.bias": "ln.bias"}
    raw = open(f"{a.dir}/init.bin", "rb").read()
    off = 0
    for line in open(f"{a.dir}/names.txt"):
        name, shape = line.split(" ", 1)
        shape = json.loads(shape)
        ours = renames.get(name) or (name.replace("attn.qkv", "qkv").replace("attn.proj", "proj")
                                     .replace("mlp.fc", "fc").replace("mlp.proj", "out"))
        count = math.prod(shape)
        values = torch.tensor(struct.unpack_from(f"<{count}f", raw, off)).reshape(shape)
        off += 4 * count
        with torch.no_grad():
            params[ours].copy_(values)
    assert off == len(raw), "init.bin holds more values than names.txt lists"
    starts = [[int(x) for x in line.split()] for line in open(f"{a.dir}/starts.txt")]
    iters = len(starts)

    # From here on, exactly torch_gpt.py's training loop.
    decay = [q for q in model.parameters() if q.dim() >= 2]
    no_decay = [q for q in model.parameters() if q.dim() < 2]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}],
        lr=a.lr, betas=(0.9, 0.99))

    def lr_at(it):
        if it < a.warmup:
            return a.lr * (it + 1) / (a.warmup + 1)
        r = (it - a.warmup) / max(1, iters - a.warmup)
        return a.min_lr + 0.5 * (1 + math.cos(math.pi * min(r, 1.0))) * (a.lr - a.min_lr)

    losses = []
    for it, ix in enumerate(starts):
        for g in opt.param_groups:
            g["lr"] = lr_at(it)
        x = torch.stack([train[i: i + a.block] for i in ix])
        y = torch.stack([train[i + 1: i + 1 + a.block] for i in ix])
        loss = model(x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(loss.item())

    # Every window of the validation split (starts 0, block, 2·block, ...), as our evaluate_full.
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        wins = list(range(0, len(val) - a.block, a.block))
        for k in range(0, len(wins), 256):
            chunk = wins[k: k + 256]
            x = torch.stack([val[i: i + a.block] for i in chunk])
            y = torch.stack([val[i + 1: i + 1 + a.block] for i in chunk])
            total += model(x, y).item() * len(chunk) * a.block
            count += len(chunk) * a.block
    print(json.dumps({"losses": losses, "val_loss_full": total / count, "torch": torch.__version__}))


if __name__ == "__main__":
    main()
