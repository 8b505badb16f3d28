#!/usr/bin/python3
"""GanCluster's two benchmark GANs written as a PyTorch user would, for the side-by-side benchmark.

  ring:  examples/ring8.json  - MLP G 2->128->128->2 and D 2->128->128->1 (ReLU), batch 512, Adam 1e-3 (0.5, 0.999)
  dcgan: examples/digits-dcgan.json - DCGAN G z100 -> Linear -> [64,7,7] -> deconv -> [32,14,14] -> deconv -> [1,28,28]
         (batch norm, ReLU, tanh) and D conv [32,14,14] -> conv [64,7,7] + batch norm (leaky ReLU) -> Linear -> 1,
         batch 64, Adam 2e-4 (0.5, 0.999); real images are random in [-1, 1] (only speed is measured)

Both: the standard GAN loss with the non-saturating G loss, one D step and one G step per iteration, each with
loss.backward() and optimizer.step() - the idiomatic loop, no gradient clipping, no .item() per step.

Run with /usr/bin/python3 (Debian's python3-torch), one torch thread. Serves commands on stdin so that the C#
benchmark can interleave it with TorchSharp in one run:
  run N      -> "steps_per_second <float> <cpu seconds>" after N timed steps (CPU time of this thread)
  versions   -> one line of versions
  quit
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def ring():
    width, modes, std = 128, 8, 0.01

    def mlp(inputs, outputs):
        return nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(), nn.Linear(width, outputs))

    angles = torch.arange(modes, dtype=torch.float64) * 2 * math.pi / modes
    centers = torch.stack([angles.cos(), angles.sin()], 1).float()

    def real(n):
        return centers[torch.randint(modes, (n,))] + torch.randn(n, 2) * std

    return mlp(2, 2), mlp(2, 1), 512, 2, real, 1e-3


def dcgan():
    w, noise = 32, 100
    g = nn.Sequential(
        nn.Linear(noise, 2 * w * 49, bias=False), nn.Unflatten(1, (2 * w, 7, 7)), nn.BatchNorm2d(2 * w), nn.ReLU(),
        nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False), nn.BatchNorm2d(w), nn.ReLU(),
        nn.ConvTranspose2d(w, 1, 4, 2, 1), nn.Tanh())
    d = nn.Sequential(
        nn.Conv2d(1, w, 4, 2, 1), nn.LeakyReLU(0.2),
        nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(2 * w * 49, 1))

    def real(n):
        return torch.rand(n, 1, 28, 28) * 2 - 1

    return g, d, 64, noise, real, 2e-4


class Gan:
    def __init__(self, model, seed=1):
        torch.manual_seed(seed)
        self.g, self.d, self.batch, self.noise, self.real, lr = {"ring": ring, "dcgan": dcgan}[model]()
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=lr, betas=(0.5, 0.999))
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=lr, betas=(0.5, 0.999))

    def step(self):
        ones = torch.ones(self.batch, 1)
        zeros = torch.zeros(self.batch, 1)
        fake = self.g(torch.randn(self.batch, self.noise))
        # D step
        self.d_opt.zero_grad()
        d_loss = F.binary_cross_entropy_with_logits(self.d(self.real(self.batch)), ones) + \
            F.binary_cross_entropy_with_logits(self.d(fake.detach()), zeros)
        d_loss.backward()
        self.d_opt.step()
        # G step (non-saturating)
        self.g_opt.zero_grad()
        g_loss = F.binary_cross_entropy_with_logits(self.d(fake), ones)
        g_loss.backward()
        self.g_opt.step()


def main():
    torch.set_num_threads(1)
    model = sys.argv[1] if len(sys.argv) > 1 else "ring"
    gan = Gan(model)
    print("ready", flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "run":
            n = int(words[1])
            start, cpu = time.perf_counter(), time.thread_time()
            for _ in range(n):
                gan.step()
            print(f"steps_per_second {n / (time.perf_counter() - start):.3f} {time.thread_time() - cpu:.6f}", flush=True)
        elif words[0] == "versions":
            print(f"python {sys.version.split()[0]}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
                  f"blas {blas_name()}, model {model}", flush=True)
        elif words[0] == "quit":
            break
        else:
            print(f"error unknown command {words[0]}", flush=True)


def blas_name():
    """The BLAS library this process loaded (Debian's torch uses the system libblas: install libopenblas0 for OpenBLAS,
    or it runs the reference BLAS, about 10x slower)."""
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    with open("/proc/self/maps") as maps:
        names = {line.split()[-1] for line in maps if "blas" in line.lower()}
    return ", ".join(sorted(names)) or "unknown"


if __name__ == "__main__":
    main()
