#!/usr/bin/env python3
"""PyTorch eager peer of mtfcdd-step-bench's irv2 step: the same network (timm's
inception_resnet_v2 stem + mixed_5b + 10 block35, frozen, in eval mode; 2 x (3x3 conv 512 + BN +
ReLU) + 1x1 conv head), loss, Adam step, channels-last layout and per-step host-to-device copy,
so that the C++ step's images/s has a reference measured in the same run on the same device."""
import argparse
import time

import timm
import torch
import torch.nn as nn


def fcdd_loss(phi, y):
    a = torch.sqrt(phi * phi + 1) - 1
    z = a.mean((2, 3))
    pos = -torch.log(-torch.expm1(-z.clamp_min(1e-6)))
    return ((1 - y) * z + y * pos).mean()


def network(types, train_backbone):
    irv2 = timm.create_model("inception_resnet_v2", pretrained=False)
    names = ["conv2d_1a", "conv2d_2a", "conv2d_2b", "maxpool_3a", "conv2d_3b", "conv2d_4a", "maxpool_5a",
             "mixed_5b", "repeat"]
    backbone = nn.Sequential(*[getattr(irv2, n) for n in names])
    head = nn.Sequential(nn.Conv2d(320, 512, 3, padding=1, bias=False), nn.BatchNorm2d(512), nn.ReLU(),
                         nn.Conv2d(512, 512, 3, padding=1, bias=False), nn.BatchNorm2d(512), nn.ReLU(),
                         nn.Conv2d(512, types, 1))
    for p in backbone.parameters():
        p.requires_grad_(train_backbone)
    return backbone, head


def to_device(t, dev):
    return t.pin_memory().to(dev, non_blocking=True) if dev.type == "cuda" else t


def sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--types", type=int, default=8)
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--train-backbone", action="store_true")
    a = ap.parse_args()
    torch.manual_seed(1)
    dev = torch.device(a.device)
    backbone, head = network(a.types, a.train_backbone)
    model = nn.Sequential(backbone, head).to(dev).to(memory_format=torch.channels_last)
    model.train()
    if not a.train_backbone:
        backbone.eval()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    images = torch.randn(a.batch, 3, 299, 299)
    labels = (torch.rand(a.batch, a.types) < 0.3).float()
    for s in range(a.warmup + a.steps):
        if s == a.warmup:
            sync(dev)
            t0 = time.perf_counter()
        x = to_device(images, dev).contiguous(memory_format=torch.channels_last)
        y = to_device(labels, dev)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=a.bf16):
            phi = model(x)
        loss = fcdd_loss(phi.float(), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        loss.item()  # the C++ step reads the loss back each step too
    sync(dev)
    sec = time.perf_counter() - t0
    print(f"peer (PyTorch {torch.__version__} eager, timm irv2) {'whole network' if a.train_backbone else 'head-only'}, "
          f"{dev}, batch {a.batch} at 299x299{', bf16 autocast' if a.bf16 else ''}: "
          f"{a.batch * a.steps / sec:.1f} images/s ({1e3 * sec / a.steps:.1f} ms per step, {a.steps} steps)")


if __name__ == "__main__":
    main()
