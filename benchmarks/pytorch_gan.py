#!/usr/bin/python3
"""The ring-of-8 GAN of GanCluster's ReferenceLoop in PyTorch, for the side-by-side benchmark.

Same model (MLP 2->128->128->2 and 2->128->128->1, ReLU), batch, Adam (lr 1e-3, betas 0.5/0.999), non-saturating
loss and schedule as ReferenceLoop with k = 1: G makes a detached batch for D and a batch whose graph it keeps; D takes
one step on a real and the fake batch and reports its gradient norm; D returns dLoss_G/dx by autograd.grad at G's
batch; G back-propagates that, reports its gradient norm and steps.

Run with /usr/bin/python3 (Debian's python3-torch), OPENBLAS_NUM_THREADS=1, one torch thread. Serves commands on
stdin so that the C# benchmark can interleave it with TorchSharp in one run:
  run N      -> "steps_per_second <float> <cpu seconds>" after N timed steps (the model keeps training across
                commands); the CPU time is this thread's (time.thread_time), the load-independent clock
  mm M K N REPS -> "gflops <float>": torch.mm of [M,K] x [K,N] float32, per CPU-second of this thread
  versions   -> one line of versions
  quit
"""
import math
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

BATCH, NOISE, WIDTH, MODES, STD = 512, 2, 128, 8, 0.01


def mlp(inputs, outputs):
    return nn.Sequential(nn.Linear(inputs, WIDTH), nn.ReLU(), nn.Linear(WIDTH, WIDTH), nn.ReLU(), nn.Linear(WIDTH, outputs))


class Gan:
    def __init__(self, seed=1):
        torch.manual_seed(seed)
        self.g = mlp(NOISE, 2)
        self.d = mlp(2, 1)
        self.g_opt = torch.optim.Adam(self.g.parameters(), lr=1e-3, betas=(0.5, 0.999))
        self.d_opt = torch.optim.Adam(self.d.parameters(), lr=1e-3, betas=(0.5, 0.999))
        angles = torch.arange(MODES, dtype=torch.float64) * 2 * math.pi / MODES
        self.centers = torch.stack([angles.cos(), angles.sin()], 1).float()
        self.noise_rng = torch.Generator().manual_seed(seed + 1)
        self.data_rng = torch.Generator().manual_seed(seed + 2)

    def real(self, n):
        index = torch.randint(MODES, (n,), generator=self.data_rng)
        return self.centers.index_select(0, index) + torch.randn(n, 2, generator=self.data_rng) * STD

    def step(self):
        with torch.no_grad():
            fake_d = self.g(torch.randn(BATCH, NOISE, generator=self.noise_rng))
        fake = self.g(torch.randn(BATCH, NOISE, generator=self.noise_rng))
        # D step
        real = self.real(BATCH)
        self.d_opt.zero_grad()
        real_logits = self.d(real).squeeze(-1)
        fake_logits = self.d(fake_d).squeeze(-1)
        d_loss = F.binary_cross_entropy_with_logits(real_logits, torch.full_like(real_logits, 1.0)) + \
            F.binary_cross_entropy_with_logits(fake_logits, torch.full_like(fake_logits, 0.0))
        d_loss.backward()
        self.d_opt.step()
        with torch.no_grad():
            stats = torch.stack([d_loss.detach(), torch.sigmoid(real_logits).mean(), torch.sigmoid(fake_logits).mean()])
        d_norm = float(nn.utils.clip_grad_norm_(self.d.parameters(), 1e30))
        # G's feedback from D
        leaf = fake.detach().requires_grad_(True)
        g_loss = -F.logsigmoid(self.d(leaf).squeeze(-1)).mean()
        gradient = torch.autograd.grad([g_loss], [leaf])[0]
        g_loss_value = g_loss.item()
        stats = stats.tolist()
        # G step
        self.g_opt.zero_grad()
        fake.backward(gradient)
        g_norm = float(nn.utils.clip_grad_norm_(self.g.parameters(), 1e30))
        self.g_opt.step()
        return stats, g_loss_value, d_norm, g_norm


def matmul_gflops(m, k, n, reps):
    a, b = torch.randn(m, k), torch.randn(k, n)
    torch.mm(a, b)
    start = time.thread_time()
    for _ in range(reps):
        torch.mm(a, b)
    return 2.0 * m * k * n * reps / (time.thread_time() - start) / 1e9


def main():
    torch.set_num_threads(1)
    gan = Gan()
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
        elif words[0] == "mm":
            m, k, n, reps = (int(w) for w in words[1:5])
            print(f"gflops {matmul_gflops(m, k, n, reps):.3f}", flush=True)
        elif words[0] == "versions":
            print(f"python {sys.version.split()[0]}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
                  f"interop {torch.get_num_interop_threads()}, blas {blas_name()}", flush=True)
        elif words[0] == "profile":
            n = int(words[1])
            with torch.autograd.profiler.profile() as prof:
                for _ in range(n):
                    gan.step()
            ops = {}
            for e in prof.function_events:
                ops[e.name] = ops.get(e.name, 0) + 1
            top = sorted(ops.items(), key=lambda kv: -kv[1])
            print("ops " + str(sum(ops.values()) / n) + " " + ";".join(f"{k}={v / n:g}" for k, v in top), flush=True)
        elif words[0] == "quit":
            break
        else:
            print(f"error unknown command {words[0]}", flush=True)


def blas_name():
    """The BLAS library this process loaded (Debian's torch uses the system libblas: OpenBLAS here)."""
    torch.mm(torch.ones(2, 2), torch.ones(2, 2))
    with open("/proc/self/maps") as maps:
        names = {line.split()[-1].rsplit("/", 1)[-1] for line in maps if "blas" in line.lower()}
    return ", ".join(sorted(names)) or "unknown"


if __name__ == "__main__":
    main()
