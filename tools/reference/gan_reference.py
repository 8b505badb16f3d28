#!/usr/bin/python3
"""Reference values for GanCluster's GAN losses and techniques, written from the papers in plain PyTorch.

A development tool, not a test dependency: it writes Tests/Fixtures/reference/*.json, which the C# tests
(Tests/Gan/ReferenceFixtureTests.cs) load and recompute through the project's own code. Rerun it only to change the
fixtures:

    apt-get install python3-torch      # Debian 12: PyTorch 1.13
    /usr/bin/python3 tools/reference/gan_reference.py

Everything here is computed in float64 from weights and inputs that are exact float32 values (drawn in float32 from a
fixed seed), so the fixtures hold the mathematically exact answers to about 1e-15 and the C# float32 results are
compared against them. Nothing here is transcribed from the C# code; the definitions are the papers':

* standard GAN loss (Goodfellow et al. 2014): D maximises E log D(x) + E log(1 - D(G(z))); G minimises
  E log(1 - D(G(z))) (minimax) or maximises E log D(G(z)) (non-saturating), D(x) = sigmoid(logit), means over the batch;
* label smoothing (Salimans et al. 2016 section 3.4): real targets 1 - alpha ("one-sided": fake targets stay 0),
  optionally fake targets beta; D's loss is the cross-entropy -[t log D + (1 - t) log(1 - D)] averaged per batch;
* hinge (Lim & Ye 2017, Miyato et al. 2018): D minimises E max(0, 1 - D(x)) + E max(0, 1 + D(G(z))), G minimises -E D(G(z));
* least squares (Mao et al. 2017, a = 0, b = c = 1): D minimises 1/2 E (D(x) - 1)^2 + 1/2 E D(G(z))^2,
  G minimises 1/2 E (D(G(z)) - 1)^2;
* WGAN-GP (Gulrajani et al. 2017, Algorithm 1): the critic minimises E D(x~) - E D(x) + lambda E (||grad D(x^)||_2 - 1)^2
  with x^ = eps x + (1 - eps) x~, eps ~ U[0, 1] per sample (a fixed eps here, written to the fixture); G minimises -E D(G(z));
* feature matching (Salimans et al. 2016 section 3.1): G minimises ||E f(x) - E f(G(z))||_2^2, f the activations of D's
  last hidden layer (an intermediate layer of D; the real side is a constant for G);
* minibatch discrimination (Salimans et al. 2016 section 3.2): M_i = f(x_i) T as a [kernels, kernel_dim] matrix,
  c_b(x_i, x_j) = exp(-||M_i,b - M_j,b||_L1), o(x_i)_b = sum_j c_b(x_i, x_j), and D's next layer sees f(x_i) ++ o(x_i).
  The paper's sum runs over every j, so it includes c_b(x_i, x_i) = exp(0) = 1; the authors' released code
  (openai/improved-gan, nn.py MinibatchLayer) adds 1e6 to the diagonal distances, i.e. sums over j != i. The two differ
  by exactly 1 per kernel (a constant the next layer's bias absorbs; no gradient changes). The fixture's expected
  values use j != i, as the released code does, and also record the paper's all-j sums. T is stored as
  [features, kernels * kernel_dim], column b * kernel_dim + c (kernel-major), the paper's T reshaped;
* Adam (Kingma & Ba 2015, Algorithm 1, with torch's epsilon placement): m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
  theta -= lr (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps); checked here against torch.optim.Adam;
* spectral normalisation (Miyato et al. 2018): PyTorch's own torch.nn.utils.spectral_norm (one power iteration per
  training forward, sigma = u^T W v with u and v held fixed) on a Linear and a Conv2d, from u and v written to the
  fixture: two training forwards, then an evaluation forward; the outputs, u, v, sigma and the gradients of a fixed
  linear probe of the second output with respect to the unnormalised weight and the bias;
* R1 (Mescheder et al. 2018): D's loss gains gamma/2 E ||grad_x D(x)||^2 at the real samples (the logit's gradient;
  packed, the norm over the whole tuple), with any loss;
* unrolled GAN (Metz et al. 2016) with the first-order surrogate: D takes k Adam steps on (real, G's batch) from its
  current weights and optimizer state; G's loss is taken under the stepped D, with no gradient through the steps.

The discriminator is an MLP: x -> Linear -> leaky_relu(0.2) -> Linear -> leaky_relu(0.2) [-> minibatch layer] ->
Linear -> one logit. Parameter names are the project's (body.linear{i}.weight/bias, minibatch.weight, head.weight/bias);
a Linear's weight is [out, in] and y = x W^T + b.
"""

import datetime
import json
import math
import os
import sys

import torch

SEED = 1
BATCH = 6
DATA_DIM = 2
WIDTH = 8
DEPTH = 2
SLOPE = 0.2
KERNELS = 3
KERNEL_DIM = 4
LR = 0.05          # large, so that the unrolled steps move D visibly
BETAS = (0.5, 0.999)
ADAM_EPS = 1e-8
GP_LAMBDA = 10.0

OUT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "Tests", "Fixtures", "reference")
F64 = torch.float64

# Guards: the smallest |pre-activation| seen (leaky_relu's kink), so float32 cannot land on the other side of it.
kink_margin = [math.inf]


# PacGAN packing (Lin et al. 2018): D scores tuples of PACK[0] consecutive samples, concatenated; 1 is off.
PACK = [1]


def pack(x):
    """[B, d] -> [B/m, m*d]: each row the concatenation of m consecutive samples."""
    m = PACK[0]
    return x if m == 1 else x.reshape(x.shape[0] // m, -1)


def note_kink(z):
    kink_margin[0] = min(kink_margin[0], z.detach().abs().min().item())


# ----------------------------------------------------------------------------------------------------------- networks

def leaky_relu(z):
    note_kink(z)
    return torch.where(z > 0, z, SLOPE * z)


def hidden_features(w, x):
    """D's last hidden layer f(x), after its activation."""
    h = x
    for i in range(DEPTH):
        h = leaky_relu(h @ w[f"body.linear{i}.weight"].T + w[f"body.linear{i}.bias"])
    return h


def minibatch_features(t, f, include_self):
    """o(x_i)_b = sum_j exp(-||M_i,b - M_j,b||_1), written as plain loops over i, j, b."""
    n = f.shape[0]
    m = (f @ t).reshape(n, KERNELS, KERNEL_DIM)
    rows = []
    for i in range(n):
        row = []
        for b in range(KERNELS):
            total = torch.zeros((), dtype=f.dtype)
            for j in range(n):
                if j == i and not include_self:
                    continue
                total = total + torch.exp(-(m[i, b] - m[j, b]).abs().sum())
            row.append(total)
        rows.append(torch.stack(row))
    return torch.stack(rows)


def discriminate(w, x, minibatch=False):
    """(logits [B], features [B, WIDTH]) of one batch (the minibatch layer sees only this batch)."""
    f = hidden_features(w, pack(x))
    h = torch.cat([f, minibatch_features(w["minibatch.weight"], f, include_self=False)], 1) if minibatch else f
    return (h @ w["head.weight"].T + w["head.bias"]).reshape(-1), f


# ------------------------------------------------------------------------------------------------------------- losses

def log_sigmoid(l):
    return torch.log(torch.sigmoid(l))


def log_one_minus_sigmoid(l):
    return torch.log(1 - torch.sigmoid(l))


def cross_entropy(l, target):
    return -(target * log_sigmoid(l) + (1 - target) * log_one_minus_sigmoid(l)).mean()


def d_loss(loss, real, fake):
    kind = loss["kind"]
    if kind == "standard":
        return cross_entropy(real, 1 - loss["real_smoothing"]) + cross_entropy(fake, loss["fake_smoothing"])
    if kind == "hinge":
        return torch.clamp(1 - real, min=0).mean() + torch.clamp(1 + fake, min=0).mean()
    if kind == "least_squares":
        return 0.5 * ((real - 1) ** 2).mean() + 0.5 * (fake ** 2).mean()
    if kind == "wasserstein_gp":
        return fake.mean() - real.mean()
    raise ValueError(kind)


def g_loss(loss, fake):
    kind = loss["kind"]
    if kind == "standard":
        if loss["generator"] == "minimax":
            return log_one_minus_sigmoid(fake).mean()
        return -log_sigmoid(fake).mean()
    if kind in ("hinge", "wasserstein_gp"):
        return -fake.mean()
    if kind == "least_squares":
        return 0.5 * ((fake - 1) ** 2).mean()
    raise ValueError(kind)


def gradient_penalty(w, real, fake, eps, minibatch=False):
    x_hat = (eps * real + (1 - eps) * fake).detach().requires_grad_(True)
    scores, _ = discriminate(w, x_hat, minibatch)
    (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    # Packed: the norm of the gradient at the whole tuple (eps is one per tuple, repeated over its samples).
    return ((pack(grad).pow(2).sum(1).sqrt() - 1) ** 2).mean()


def r1_penalty(w, real, minibatch=False):
    x = real.detach().requires_grad_(True)
    scores, _ = discriminate(w, x, minibatch)
    (grad,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    # Packed: the squared norm of the gradient at the whole tuple.
    return pack(grad).pow(2).sum(1).mean()


def feature_matching(w, real, fake, minibatch=False):
    _, f_real = discriminate(w, real, minibatch)
    _, f_fake = discriminate(w, fake, minibatch)
    return ((f_real.detach().mean(0) - f_fake.mean(0)) ** 2).sum()


# ----------------------------------------------------------------------------------------------------------- training

def d_objective(w, loss, real, fake, minibatch, eps=None):
    real_logits, _ = discriminate(w, real, minibatch)
    fake_logits, _ = discriminate(w, fake, minibatch)
    value = d_loss(loss, real_logits, fake_logits)
    penalty = None
    if loss["kind"] == "wasserstein_gp":
        penalty = gradient_penalty(w, real, fake, eps, minibatch)
        value = value + loss["gradient_penalty"] * penalty
    if loss.get("r1", 0) > 0:
        value = value + loss["r1"] / 2 * r1_penalty(w, real, minibatch)
    return value, penalty, real_logits, fake_logits


def param_grads(w, value):
    names = list(w)
    grads = torch.autograd.grad(value, [w[n] for n in names], retain_graph=True)
    return dict(zip(names, grads))


class Adam:
    """Kingma & Ba 2015 Algorithm 1 (epsilon outside the bias-corrected square root, as torch.optim.Adam has it)."""

    def __init__(self, names):
        self.t = 0
        self.m = {n: None for n in names}
        self.v = {n: None for n in names}

    def step(self, w, grads):
        self.t += 1
        b1, b2 = BETAS
        out = {}
        for n, p in w.items():
            g = grads[n].detach()
            self.m[n] = (1 - b1) * g if self.m[n] is None else b1 * self.m[n] + (1 - b1) * g
            self.v[n] = (1 - b2) * g * g if self.v[n] is None else b2 * self.v[n] + (1 - b2) * g * g
            m_hat = self.m[n] / (1 - b1 ** self.t)
            v_hat = self.v[n] / (1 - b2 ** self.t)
            out[n] = (p.detach() - LR * m_hat / (v_hat.sqrt() + ADAM_EPS)).requires_grad_(True)
        return out


def check_adam_against_torch(w, grad_sequence):
    """The hand-written Adam against torch.optim.Adam over the same gradient sequence."""
    mine, state = dict(w), Adam(list(w))
    params = [w[n].detach().clone().requires_grad_(True) for n in w]
    opt = torch.optim.Adam(params, lr=LR, betas=BETAS, eps=ADAM_EPS)
    for grads in grad_sequence:
        mine = state.step(mine, grads)
        for p, n in zip(params, w):
            p.grad = grads[n].detach().clone()
        opt.step()
    for p, n in zip(params, w):
        assert torch.allclose(p.detach(), mine[n].detach(), rtol=1e-12, atol=1e-14), n


def guard_gradients(grads, what, loss):
    """
    A first Adam step is about lr * sign(g): a component near 0 would make the float32 comparison ill-posed. The
    Wasserstein critic's head bias has gradient 0 exactly (E 1 - E 1); its steps are not compared (the project draws
    its own epsilon for the penalty in a step), so that case is let through.
    """
    if loss["kind"] == "wasserstein_gp":
        return
    for n, g in grads.items():
        smallest = g.abs().min().item()
        assert smallest > 1e-5, f"{what}: a gradient component of {n} is {smallest:.2e}; choose another seed"


def d_step(w, adam, loss, real, fake, minibatch, eps=None):
    value, penalty, real_logits, fake_logits = d_objective(w, loss, real, fake, minibatch, eps)
    grads = param_grads(w, value)
    guard_gradients(grads, "D step", loss)
    return adam.step(w, grads), value, penalty, grads, real_logits, fake_logits


def g_feedback(w, loss, fake, real, minibatch, feature_match=False):
    leaf = fake.detach().clone().requires_grad_(True)
    if feature_match:
        value = feature_matching(w, real, leaf, minibatch)
    else:
        value = g_loss(loss, discriminate(w, leaf, minibatch)[0])
    (grad,) = torch.autograd.grad(value, leaf)
    return value, grad


# ------------------------------------------------------------------------------------------------------------ fixtures

def encode(t):
    t = t.detach()
    return {"shape": list(t.shape), "data": [float(v) for v in t.reshape(-1).tolist()]}


def encode_all(d):
    return {n: encode(t) for n, t in d.items()}


def draw(gen, shape, std):
    """float32 draws (so every value is exactly representable in the C# float32 tensors), held as float64."""
    return (torch.randn(shape, generator=gen, dtype=torch.float32) * std).to(F64)


def make_weights(gen, minibatch):
    w = {}
    width_in = DATA_DIM * PACK[0]
    for i in range(DEPTH):
        w[f"body.linear{i}.weight"] = draw(gen, (WIDTH, width_in), 1.6 / math.sqrt(width_in))
        w[f"body.linear{i}.bias"] = draw(gen, (WIDTH,), 0.3)
        width_in = WIDTH
    if minibatch:
        w["minibatch.weight"] = draw(gen, (WIDTH, KERNELS * KERNEL_DIM), 1.0 / math.sqrt(WIDTH))
        width_in += KERNELS
    w["head.weight"] = draw(gen, (1, width_in), 2.0 / math.sqrt(width_in))
    w["head.bias"] = draw(gen, (1,), 0.3)
    return {n: t.requires_grad_(True) for n, t in w.items()}


def make_inputs(gen):
    angles = torch.arange(BATCH, dtype=F64) * (2 * math.pi / 8)
    ring = torch.stack([angles.cos(), angles.sin()], 1).to(torch.float32).to(F64)
    real = ring + draw(gen, (BATCH, DATA_DIM), 0.05)
    fake_d = draw(gen, (BATCH, DATA_DIM), 1.2)
    fake_g = draw(gen, (BATCH, DATA_DIM), 1.2)
    eps = torch.rand((BATCH // PACK[0], 1), generator=gen, dtype=torch.float32).to(F64).repeat_interleave(PACK[0], 0)
    return {"real": real, "fake_d": fake_d, "fake_g": fake_g, "gp_epsilon": eps}


def loss_spec(kind, generator="non_saturating", real_smoothing=0.0, fake_smoothing=0.0, gradient_penalty=GP_LAMBDA, r1=0.0):
    spec = {"kind": kind, "generator": generator, "real_smoothing": real_smoothing,
            "fake_smoothing": fake_smoothing, "gradient_penalty": gradient_penalty}
    if r1 > 0:
        spec["r1"] = r1   # only where used: the fixtures written before R1 stay byte-identical
    return spec


def schedule_case(name, w, x, loss, minibatch, order="g_first", unrolled=0, feature_match=False):
    """
    One schedule step as the papers describe it, with one D step per G step:
    g_first: G's feedback under the current D (advanced by `unrolled` surrogate steps on G's batch), then D's step;
    d_first: D's step on its fake batch, then G's feedback under the stepped D (advanced by `unrolled` - 1 more
    surrogate steps: the first unrolled step is D's real one). The surrogate steps never change D's kept weights.
    """
    real, fake_d, fake_g, eps = x["real"], x["fake_d"], x["fake_g"], x["gp_epsilon"]
    case = {"name": name, "loss": loss, "order": order, "unrolled_steps": unrolled,
            "feature_matching": feature_match, "minibatch": minibatch}
    adam = Adam(list(w))
    adam_sequence = []
    if order == "g_first":
        surrogate, surrogate_adam = w, Adam(list(w))
        for _ in range(unrolled):
            surrogate, *_ = d_step(surrogate, surrogate_adam, loss, real, fake_g, minibatch, eps)
        g_value, g_grad = g_feedback(surrogate, loss, fake_g, real, minibatch, feature_match)
        stepped, d_value, penalty, d_grads, real_logits, fake_logits = d_step(w, adam, loss, real, fake_d, minibatch, eps)
        adam_sequence.append(d_grads)
    else:
        stepped, d_value, penalty, d_grads, real_logits, fake_logits = d_step(w, adam, loss, real, fake_d, minibatch, eps)
        adam_sequence.append(d_grads)
        surrogate = stepped
        for _ in range(max(0, unrolled - 1)):
            # The surrogate continues from D's optimizer state: copy the moments.
            surrogate_adam = Adam(list(w))
            surrogate_adam.t, surrogate_adam.m, surrogate_adam.v = adam.t, dict(adam.m), dict(adam.v)
            value, _, _, _ = d_objective(surrogate, loss, real, fake_g, minibatch, eps)
            grads = param_grads(surrogate, value)
            guard_gradients(grads, "surrogate step", loss)
            adam_sequence.append(grads)
            surrogate = surrogate_adam.step(surrogate, grads)
        g_value, g_grad = g_feedback(surrogate, loss, fake_g, real, minibatch, feature_match)
    check_adam_against_torch(w, adam_sequence)
    expected = {
        "d_loss": float(d_value),
        "mean_d_real": float(torch.sigmoid(real_logits).mean()),
        "mean_d_fake": float(torch.sigmoid(fake_logits).mean()),
        "d_grads": encode_all(d_grads),
        "d_weights_after": encode_all(stepped),
        "g_loss": float(g_value),
        "g_input_grad": encode(g_grad),
    }
    if penalty is not None:
        expected["gradient_penalty"] = float(penalty)
        expected["d_loss_without_penalty"] = float(d_value - loss["gradient_penalty"] * penalty)
    if unrolled > 0 or order == "d_first":
        expected["g_loss_under_current_d"] = float(g_feedback(w, loss, fake_g, real, minibatch, feature_match)[0])
    case["expected"] = expected
    return case


def header(description):
    return {
        "generated_by": "tools/reference/gan_reference.py",
        "description": description,
        "torch": torch.__version__,
        "date": datetime.date.today().isoformat(),
        "seed": SEED,
        "precision": "float64 arithmetic on float32-exact weights and inputs",
        "network": {"data_dim": DATA_DIM, "width": WIDTH, "depth": DEPTH, "activation": "leaky_relu",
                    "negative_slope": SLOPE},
        "batch": BATCH,
        "packing": PACK[0],
        "optimizer": {"kind": "adam", "lr": LR, "beta1": BETAS[0], "beta2": BETAS[1], "eps": ADAM_EPS},
    }


def mlp_fixture(gen):
    w = make_weights(gen, minibatch=False)
    x = make_inputs(gen)
    real_logits, _ = discriminate(w, x["real"])
    fake_logits, _ = discriminate(w, x["fake_d"])
    # Hinge's kinks must be exercised on both sides: some real logits above 1, some fake ones below -1.
    assert (real_logits > 1).any() and (real_logits < 1).any(), real_logits
    assert (fake_logits < -1).any() and (fake_logits > -1).any(), fake_logits
    assert ((real_logits - 1).abs() > 1e-3).all() and ((fake_logits + 1).abs() > 1e-3).all()
    cases = [
        schedule_case("standard_non_saturating", w, x, loss_spec("standard"), False),
        schedule_case("standard_minimax", w, x, loss_spec("standard", "minimax"), False),
        schedule_case("standard_one_sided_smoothing", w, x, loss_spec("standard", real_smoothing=0.1), False),
        schedule_case("standard_two_sided_smoothing", w, x,
                      loss_spec("standard", "minimax", real_smoothing=0.2, fake_smoothing=0.05), False),
        schedule_case("hinge", w, x, loss_spec("hinge"), False),
        schedule_case("least_squares", w, x, loss_spec("least_squares"), False),
        schedule_case("wasserstein_gp", w, x, loss_spec("wasserstein_gp"), False),
        schedule_case("feature_matching", w, x, loss_spec("standard"), False, feature_match=True),
        schedule_case("unrolled_1_g_first", w, x, loss_spec("standard"), False, unrolled=1),
        schedule_case("unrolled_2_d_first_hinge", w, x, loss_spec("hinge"), False, order="d_first", unrolled=2),
        schedule_case("d_first_least_squares", w, x, loss_spec("least_squares"), False, order="d_first"),
        schedule_case("hinge_r1", w, x, loss_spec("hinge", r1=2.0), False),
        schedule_case("standard_r1_d_first", w, x, loss_spec("standard", r1=0.5), False, order="d_first"),
    ]
    doc = header("MLP discriminator: every loss's D step (loss, parameter gradients, Adam step) and G's feedback "
                 "(loss, gradient with respect to G's samples), label smoothing, WGAN-GP, feature matching and the "
                 "unrolled surrogate")
    # Cases added later (R1) extend the list; the description stays so the file's other bytes do not change.
    doc.update({"minibatch": None, "weights": encode_all(w), "inputs": encode_all(x), "cases": cases})
    return doc


def minibatch_fixture(gen):
    w = make_weights(gen, minibatch=True)
    x = make_inputs(gen)
    # The layer alone: features in, f ++ o out, and the gradients of a fixed linear probe of o.
    f = hidden_features(w, x["real"]).detach().requires_grad_(True)
    t = w["minibatch.weight"].detach().clone().requires_grad_(True)
    probe = draw(gen, (BATCH, KERNELS), 1.0)
    o = minibatch_features(t, f, include_self=False)
    o_paper = minibatch_features(t, f, include_self=True)
    assert torch.allclose(o_paper - o, torch.ones_like(o), atol=1e-12)
    assert 0.05 < o.min().item() and o.max().item() < BATCH - 1.5, o   # distances of order one: a live layer
    grad_t, grad_f = torch.autograd.grad((o * probe).sum(), [t, f])
    layer = {
        "features": encode(f), "weight": encode(t), "probe": encode(probe),
        "output": encode(torch.cat([f, o], 1)), "o_all_j_paper": encode(o_paper),
        "probe_value": float((o * probe).sum()), "grad_weight": encode(grad_t), "grad_features": encode(grad_f),
    }
    cases = [
        schedule_case("minibatch_standard_non_saturating", w, x, loss_spec("standard"), True),
        schedule_case("minibatch_hinge_d_first", w, x, loss_spec("hinge"), True, order="d_first"),
        schedule_case("minibatch_wasserstein_gp", w, x, loss_spec("wasserstein_gp"), True),
        schedule_case("minibatch_feature_matching", w, x, loss_spec("standard"), True, feature_match=True),
    ]
    logits = {k: discriminate(w, x[k], True)[0] for k in ("real", "fake_d", "fake_g")}
    doc = header("MLP discriminator with a minibatch discrimination layer (Salimans et al. 2016) before its head: the "
                 "layer alone, D's logits per batch, and D steps and G feedback through it")
    doc.update({"minibatch": {"kernels": KERNELS, "kernel_dim": KERNEL_DIM, "layout": "T [features, kernels*kernel_dim], "
                              "column b*kernel_dim + c; o sums over j != i (the paper's all-j sum is o + 1)"},
                "weights": encode_all(w), "inputs": encode_all(x), "layer": layer,
                "logits": encode_all(logits), "cases": cases})
    return doc


def packing_fixture(gen):
    PACK[0] = 2
    try:
        w = make_weights(gen, minibatch=False)
        x = make_inputs(gen)
        cases = [
            schedule_case("packed_standard_non_saturating", w, x, loss_spec("standard"), False),
            schedule_case("packed_minimax_d_first", w, x, loss_spec("standard", "minimax"), False, order="d_first"),
            schedule_case("packed_least_squares", w, x, loss_spec("least_squares"), False),
            schedule_case("packed_wasserstein_gp", w, x, loss_spec("wasserstein_gp"), False),
            schedule_case("packed_feature_matching", w, x, loss_spec("standard"), False, feature_match=True),
            schedule_case("packed_standard_r1", w, x, loss_spec("standard", r1=2.0), False),
        ]
        doc = header("MLP discriminator with PacGAN packing m = 2 (Lin et al. 2018): D scores pairs of consecutive "
                     "samples concatenated; D steps and G's feedback under each loss, the penalty on pairs")
    finally:
        PACK[0] = 1
    doc.update({"minibatch": None, "weights": encode_all(w), "inputs": encode_all(x), "cases": cases})
    return doc


def spectral_case(gen, name, layer, x_shape):
    """One layer under torch.nn.utils.spectral_norm: weights, u, v and input from the fixture's generator."""
    layer = layer.to(F64)
    with torch.no_grad():
        layer.weight.copy_(draw(gen, tuple(layer.weight.shape), 0.5))
        layer.bias.copy_(draw(gen, tuple(layer.bias.shape), 0.3))
    weight, bias = layer.weight.detach().clone(), layer.bias.detach().clone()
    rows, columns = weight.shape[0], weight[0].numel()
    u0 = torch.nn.functional.normalize(draw(gen, (rows,), 1.0), dim=0)
    v0 = torch.nn.functional.normalize(draw(gen, (columns,), 1.0), dim=0)
    x = draw(gen, x_shape, 1.0)
    sn = torch.nn.utils.spectral_norm(layer)
    with torch.no_grad():
        sn.weight_u.copy_(u0)
        sn.weight_v.copy_(v0)
    sn.train()
    sn(x)
    out = sn(x)
    probe = draw(gen, tuple(out.shape), 1.0)
    grad_w, grad_b = torch.autograd.grad((out * probe).sum(), [sn.weight_orig, sn.bias])
    u, v = sn.weight_u.detach().clone(), sn.weight_v.detach().clone()
    sigma = float(u @ (weight.reshape(rows, -1) @ v))
    assert abs(sigma - torch.linalg.matrix_norm(weight.reshape(rows, -1), ord=2).item()) < 0.5 * sigma  # a sane estimate
    sn.eval()
    with torch.no_grad():
        eval_out = sn(x)
    return {"name": name, "kind": "linear" if isinstance(layer, torch.nn.Linear) else "conv2d",
            "stride": list(getattr(layer, "stride", [1])), "padding": list(getattr(layer, "padding", [0])),
            "weight": encode(weight), "bias": encode(bias), "u0": encode(u0), "v0": encode(v0), "input": encode(x),
            "probe": encode(probe), "output": encode(out), "u": encode(u), "v": encode(v), "sigma": sigma,
            "grad_weight": encode(grad_w), "grad_bias": encode(grad_b), "eval_output": encode(eval_out)}


def spectral_fixture():
    gen = torch.Generator().manual_seed(SEED + 1)   # its own stream: the other fixtures stay as they were
    cases = [spectral_case(gen, "linear_5x7", torch.nn.Linear(7, 5), (4, 7)),
             spectral_case(gen, "conv2d_3to4_k4_s2_p1", torch.nn.Conv2d(3, 4, 4, 2, 1), (2, 3, 8, 8))]
    doc = header("Spectral normalisation (Miyato et al. 2018) through torch.nn.utils.spectral_norm: two training "
                 "forwards from given u and v, then an evaluation forward")
    doc.update({"cases": cases})
    return doc


def main():
    gen = torch.Generator().manual_seed(SEED)
    os.makedirs(OUT_DIR, exist_ok=True)
    docs = {"mlp_losses.json": mlp_fixture(gen), "minibatch_discrimination.json": minibatch_fixture(gen),
            "packing.json": packing_fixture(gen), "spectral_norm.json": spectral_fixture()}
    assert kink_margin[0] > 1e-4, f"a leaky_relu input is within {kink_margin[0]:.1e} of its kink; choose another seed"
    for name, doc in docs.items():
        with open(os.path.join(OUT_DIR, name), "w") as out:
            json.dump(doc, out, indent=1)
            out.write("\n")
        print(f"wrote {os.path.normpath(os.path.join(OUT_DIR, name))}: {len(doc['cases'])} cases")
    print(f"smallest |leaky_relu input|: {kink_margin[0]:.3g}")


if __name__ == "__main__":
    torch.set_default_dtype(F64)
    sys.exit(main())
