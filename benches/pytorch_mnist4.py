"""PyTorch CPU reference for `sphereface bench`: the same mnist4 network, A-Softmax head and
Adam step, timed the same way (forward, backward, optimizer after warm-up steps, fixed random
input). Prints one JSON line with the same fields.

    python3 benches/pytorch_mnist4.py --batch 256 --steps 6 --warmup 2 --threads 2

mnist4: 3x3 conv 32 s1 'same' -> BN -> ReLU; 3x3 conv 64 s2 'same' -> BN -> ReLU;
3x3 conv 128 s1 'valid' -> BN -> ReLU; 3x3 conv 128 s2 'valid' -> BN -> ReLU; linear
3200 -> 2. Convolutions without bias (BN's beta replaces it), BN eps 1e-3, momentum 0.1,
TensorFlow 'same' padding (the odd pixel at the bottom/right). Head: A-Softmax, m = 4,
lambda schedule caffe (1000, 0.12, 1, 5), as in sphereface-core/src/heads.rs.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Mnist4(nn.Module):
    def __init__(self, dim=2):
        super().__init__()
        chans = [(1, 32, 1), (32, 64, 2), (64, 128, 1), (128, 128, 2)]
        self.convs = nn.ModuleList(nn.Conv2d(i, o, 3, stride=s, bias=False) for i, o, s in chans)
        self.bns = nn.ModuleList(nn.BatchNorm2d(o, eps=1e-3, momentum=0.1) for _, o, _ in chans)
        self.same = [True, True, False, False]
        self.fc = nn.Linear(5 * 5 * 128, dim)

    def forward(self, x):
        for conv, bn, same in zip(self.convs, self.bns, self.same):
            if same:  # TF 'same': total padding 2 at stride 1, 1 (bottom/right) at stride 2 on 28
                s = conv.stride[0]
                h = x.shape[-1]
                out = -(-h // s)
                pad = max((out - 1) * s + 3 - h, 0)
                x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
            x = F.relu(bn(conv(x)))
        return self.fc(x.flatten(1))


def a_softmax_loss(x, w, labels, step, m=4):
    lam = max(5.0, 1000.0 * (1 + 0.12 * step) ** -1)
    wn = w / w.norm(dim=0, keepdim=True).clamp_min(1e-12)
    xn = torch.sqrt((x * x).sum(1, keepdim=True) + 1e-12)
    cos = ((x @ wn) / xn).clamp(-1, 1)
    c = cos.gather(1, labels[:, None])
    cos_m = 8 * c**4 - 8 * c**2 + 1  # Chebyshev T_4
    k = torch.zeros_like(c)
    for j in range(1, m):
        k = k + (c <= math.cos(j * math.pi / m)).float()
    psi = (1 - 2 * (k % 2)) * cos_m - 2 * k
    target = (lam * c + psi) / (1 + lam)
    logits = (cos * xn).scatter(1, labels[:, None], target * xn)
    return F.cross_entropy(logits, labels)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    net = Mnist4()
    w = nn.Parameter(torch.randn(2, 10) * 0.1)
    opt = torch.optim.Adam(list(net.parameters()) + [w], lr=1e-3)
    x = torch.rand(a.batch, 1, 28, 28)
    labels = torch.arange(a.batch) % 10
    fwd = bwd = upd = 0.0
    for i in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        loss = a_softmax_loss(net(x), w, labels, i)
        t1 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        t2 = time.perf_counter()
        opt.step()
        t3 = time.perf_counter()
        if i >= a.warmup:
            fwd, bwd, upd = fwd + t1 - t0, bwd + t2 - t1, upd + t3 - t2
    n = a.steps
    per_step = (fwd + bwd + upd) / n
    print(json.dumps({
        "net": "mnist4", "framework": f"pytorch {torch.__version__}", "batch": a.batch,
        "threads": torch.get_num_threads(), "steps": n, "seconds_per_step": per_step,
        "images_per_second": a.batch / per_step, "forward_seconds": fwd / n,
        "backward_seconds": bwd / n, "optimizer_seconds": upd / n,
    }))


if __name__ == "__main__":
    main()
