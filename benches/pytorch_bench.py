"""PyTorch reference for `sphereface bench` (CPU by default, `--device cuda` for GPU 0): the same networks (mnist4, sphere20), the same
A-Softmax head and Adam step, timed the same way (forward, backward, optimizer after warm-up
steps, fixed random input); with --eval the forward pass alone in evaluation mode, as
`sphereface bench --eval`. Prints one JSON line with the same fields.

    python3 benches/pytorch_bench.py --net mnist4 --batch 256 --steps 6 --warmup 2 --threads 2

mnist4: 3x3 conv 32 s1 'same' -> BN -> ReLU; 3x3 conv 64 s2 'same' -> BN -> ReLU;
3x3 conv 128 s1 'valid' -> BN -> ReLU; 3x3 conv 128 s2 'valid' -> BN -> ReLU; linear
3200 -> 2. Convolutions without bias (BN's beta replaces it), BN eps 1e-3, momentum 0.1.
--padding tf (default) pads the 'same' layers as TensorFlow does (the odd pixel at the
bottom/right, with an explicit F.pad, as sphereface-core); --padding torch writes them as a
PyTorch user would, nn.Conv2d(..., padding=1): the same shapes and FLOPs (the stride-2 window
sits one pixel earlier), no pad copy. The fastest honest formulation is the faster of the two.

sphere20 (SphereFace-20 for 28x28): four stages of a stride-2 3x3 conv + PReLU and 1, 2, 4, 1
residual units (two 3x3 conv + PReLU each, plus the shortcut), 64/128/256/512 channels, convs
with bias, PReLU alpha 0.25 per channel, linear 2*2*512 -> 2. Its 'same' padding is 1 on each
side for every layer on 28x28 input (28, 14, 7, 4 -> 14, 7, 4, 2), so --padding does not
change it.

Head: A-Softmax, m = 4, lambda schedule caffe (1000, 0.12, 1, 5), as in
sphereface-core/src/model/heads.rs.
"""
import argparse
import json
import math
import os
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Mnist4(nn.Module):
    def __init__(self, dim=2, padding="tf"):
        super().__init__()
        chans = [(1, 32, 1, True), (32, 64, 2, True), (64, 128, 1, False), (128, 128, 2, False)]
        torch_pad = padding == "torch"
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, 3, stride=s, padding=1 if (same and torch_pad) else 0, bias=False)
            for i, o, s, same in chans)
        self.bns = nn.ModuleList(nn.BatchNorm2d(o, eps=1e-3, momentum=0.1) for _, o, _, _ in chans)
        self.tf_pad = [same and not torch_pad for _, _, _, same in chans]
        self.fc = nn.Linear(5 * 5 * 128, dim)

    def forward(self, x):
        for conv, bn, tf_pad in zip(self.convs, self.bns, self.tf_pad):
            if tf_pad:  # TF 'same': total padding 2 at stride 1, 1 (bottom/right) at stride 2 on 28
                s = conv.stride[0]
                h = x.shape[-1]
                out = -(-h // s)
                pad = max((out - 1) * s + 3 - h, 0)
                x = F.pad(x, (pad // 2, pad - pad // 2, pad // 2, pad - pad // 2))
            x = F.relu(bn(conv(x)))
        return self.fc(x.flatten(1))


class ConvPrelu(nn.Module):
    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=True)
        self.act = nn.PReLU(c_out, init=0.25)

    def forward(self, x):
        return self.act(self.conv(x))


class Sphere20(nn.Module):
    def __init__(self, dim=2):
        super().__init__()
        stages = []
        for c_in, c_out, units in [(1, 64, 1), (64, 128, 2), (128, 256, 4), (256, 512, 1)]:
            stages.append(nn.ModuleDict({
                "down": ConvPrelu(c_in, c_out, 2),
                "units": nn.ModuleList(
                    nn.Sequential(ConvPrelu(c_out, c_out, 1), ConvPrelu(c_out, c_out, 1))
                    for _ in range(units)),
            }))
        self.stages = nn.ModuleList(stages)
        self.fc = nn.Linear(2 * 2 * 512, dim)

    def forward(self, x):
        for st in self.stages:
            x = st["down"](x)
            for unit in st["units"]:
                x = x + unit(x)
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


def resident_mb():
    """Resident memory of this process in MiB (as `sphereface bench` reads it)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        return 0.0


def conv_flops(net, forward_only):
    """Convolution FLOPs per image, as Network::conv_flops_per_image: (2 per multiply-add;
    training = forward + dW + dX of every layer but the first)."""
    if net == "mnist4":
        layers = [(28, 1, 32, 1, 1), (28, 32, 64, 2, 1), (14, 64, 128, 1, 0), (12, 128, 128, 2, 0)]
    else:
        layers = [(28, 1, 64, 2, 1)] + [(14, 64, 64, 1, 1)] * 2
        layers += [(14, 64, 128, 2, 1)] + [(7, 128, 128, 1, 1)] * 4
        layers += [(7, 128, 256, 2, 1)] + [(4, 256, 256, 1, 1)] * 8
        layers += [(4, 256, 512, 2, 1)] + [(2, 512, 512, 1, 1)] * 2
    fwd = train = 0.0
    for i, (h, ci, co, s, same) in enumerate(layers):
        o = -(-h // s) if same else (h - 3) // s + 1
        f = 2.0 * o * o * 9 * ci * co
        fwd += f
        train += 2 * f if i == 0 else 3 * f
    return fwd if forward_only else train


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--net", choices=["mnist4", "sphere20"], default="mnist4")
    ap.add_argument("--padding", choices=["tf", "torch"], default="tf")
    ap.add_argument("--eval", action="store_true", help="time the forward pass in eval mode")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu",
                    help="cuda: the same steps on GPU 0, the clock read after the GPU finishes")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    net = (Mnist4(padding=a.padding) if a.net == "mnist4" else Sphere20()).to(dev)
    w = nn.Parameter((torch.randn(2, 10) * 0.1).to(dev))
    opt = torch.optim.Adam(list(net.parameters()) + [w], lr=1e-3)
    x = torch.rand(a.batch, 1, 28, 28).to(dev)
    labels = (torch.arange(a.batch) % 10).to(dev)

    def clock():
        if a.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()
    fwd = bwd = upd = 0.0
    rss_before = resident_mb()
    if a.eval:
        net.eval()
    for i in range(a.warmup + a.steps):
        if a.eval:
            t0 = clock()
            with torch.inference_mode():
                emb = net(x)
                logits = emb @ (w / w.norm(dim=0, keepdim=True))
                logits.argmax(1)
            t1 = t2 = t3 = clock()
        else:
            t0 = clock()
            loss = a_softmax_loss(net(x), w, labels, i)
            t1 = clock()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            t2 = clock()
            opt.step()
            t3 = clock()
        if i >= a.warmup:
            fwd, bwd, upd = fwd + t1 - t0, bwd + t2 - t1, upd + t3 - t2
    n = a.steps
    per_step = (fwd + bwd + upd) / n
    print(json.dumps({
        "mode": "eval" if a.eval else "train", "net": a.net,
        "framework": f"pytorch {torch.__version__}",
        "device": torch.cuda.get_device_name(0) if a.device == "cuda" else "cpu", "padding": a.padding, "batch": a.batch,
        "threads": torch.get_num_threads(), "steps": n, "seconds_per_step": per_step,
        "images_per_second": a.batch / per_step, "forward_seconds": fwd / n,
        "backward_seconds": bwd / n, "optimizer_seconds": upd / n,
        "gflops": conv_flops(a.net, a.eval) * a.batch / per_step / 1e9,
        "rss_before_steps_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **({"gpu_peak_allocated_mb": torch.cuda.max_memory_allocated() / 2**20} if a.device == "cuda" else {}),
    }))


if __name__ == "__main__":
    main()
