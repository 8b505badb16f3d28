"""A GanCluster generator in PyTorch: the same network as the cluster trained, and its weights.

Written by `gancluster export` beside generator.json (the architecture and the noise) and the weights
(generator.pt, a PyTorch state_dict, or generator.safetensors). Needs only torch:

    import gancluster_generator as g
    G = g.load("exports/MEMBER-stepN")       # on the CPU; batch norm on batch statistics, as the cluster samples
    x = G.sample(16)                          # 16 samples: [16, 2] for mixtures, [16, 1, 28, 28] in [-1, 1] for digits
    x = G.sample(10, labels=torch.arange(10)) # a conditional generator: one per class
    x = G(z, labels)                          # or your own input: z is [n, noiseDim + noiseCategories]

Run it as a script to print a few samples: python3 gancluster_generator.py DIR
"""
import collections
import json
import os
import struct
import sys

import torch
from torch import nn


class Maxout(nn.Module):
    """[B, width * pieces] -> the max of each group of pieces, [B, width]."""

    def __init__(self, pieces):
        super().__init__()
        self.pieces = pieces

    def forward(self, x):
        return x.view(x.shape[0], -1, self.pieces).amax(-1)


def _activation(name):
    return {"relu": nn.ReLU, "leaky_relu": lambda: nn.LeakyReLU(0.2), "tanh": nn.Tanh}[name]()


def _mlp(config):
    inputs = config["noiseDim"] + config["noiseCategories"] + config["classes"]
    width, pieces = config["width"], max(1, config["maxout"])
    normalization = config["normalization"]
    layers = collections.OrderedDict()
    for i in range(config["depth"]):
        layers[f"linear{i}"] = nn.Linear(inputs, width * pieces, bias=normalization == "none")
        if pieces > 1:
            layers[f"maxout{i}"] = Maxout(pieces)
        if normalization == "batch":
            layers[f"norm{i}"] = nn.BatchNorm1d(width)
        elif normalization == "layer":
            layers[f"norm{i}"] = nn.LayerNorm(width)
        if pieces == 1:
            layers[f"act{i}"] = _activation(config["activation"])
        inputs = width
    layers["out"] = nn.Linear(inputs, config["outputs"])
    return nn.Sequential(layers)


def _dcgan(config):
    w = config["width"]
    inputs = config["noiseDim"] + config["noiseCategories"] + config["classes"]
    return nn.Sequential(collections.OrderedDict([
        ("linear", nn.Linear(inputs, 2 * w * 49, bias=False)),
        ("unflatten", nn.Unflatten(1, (2 * w, 7, 7))),
        ("norm0", nn.BatchNorm2d(2 * w)),
        ("act0", nn.ReLU()),
        ("deconv1", nn.ConvTranspose2d(2 * w, w, 4, 2, 1, bias=False)),
        ("norm1", nn.BatchNorm2d(w)),
        ("act1", nn.ReLU()),
        ("deconv2", nn.ConvTranspose2d(w, 1, 4, 2, 1)),
        ("tanh", nn.Tanh()),
    ]))


class _LabelEmbedding(nn.Module):
    def __init__(self, classes):
        super().__init__()
        self.embedding = nn.Embedding(classes, classes)


class Generator(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        architecture = config["architecture"]
        classes = config["classes"]
        if architecture == "mlp":
            self.layers = _mlp(config)
        elif architecture == "dcgan":
            if classes > 0:
                self.labelEmbedding = _LabelEmbedding(classes)
            self.layers = _dcgan(config)
        else:
            raise ValueError(f"unknown architecture {architecture!r}")

    @property
    def inputs(self):
        return self.config["noiseDim"] + self.config["noiseCategories"]

    def forward(self, z, labels=None):
        classes = self.config["classes"]
        if classes > 0:
            if labels is None:
                raise ValueError("this generator is conditional: pass labels (int64 class indices)")
            if self.config["architecture"] == "mlp":
                z = torch.cat([z, nn.functional.one_hot(labels, classes).to(z.dtype)], 1)
            else:
                z = torch.cat([z, self.labelEmbedding.embedding(labels).to(z.dtype)], 1)
        return self.layers(z)

    def noise(self, n, generator=None):
        """G's input as the cluster draws it: normal (or uniform on [-1, 1]) noise and a one-hot category."""
        dim, categories = self.config["noiseDim"], self.config["noiseCategories"]
        if self.config["noise"] == "uniform":
            z = torch.rand(n, dim, generator=generator) * 2 - 1
        else:
            z = torch.randn(n, dim, generator=generator)
        if categories > 0:
            category = torch.randint(categories, (n,), generator=generator)
            z = torch.cat([z, nn.functional.one_hot(category, categories).to(z.dtype)], 1)
        return z

    @torch.no_grad()
    def sample(self, n, labels=None, generator=None):
        if self.config["classes"] > 0 and labels is None:
            labels = torch.arange(n) % self.config["classes"]
        return self(self.noise(n, generator), labels)


_SAFETENSORS_DTYPES = {"F32": torch.float32, "F64": torch.float64, "F16": torch.float16, "BF16": torch.bfloat16,
                       "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
                       "BOOL": torch.bool}


def read_safetensors(path):
    """A safetensors file as a state_dict (the format: an 8-byte header length, a JSON header, the raw tensors)."""
    with open(path, "rb") as f:
        (length,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(length))
        data = f.read()
    state = collections.OrderedDict()
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        buffer = bytearray(data[start:end])
        dtype = _SAFETENSORS_DTYPES[entry["dtype"]]
        tensor = torch.frombuffer(buffer, dtype=dtype) if buffer else torch.empty(0, dtype=dtype)
        state[name] = tensor.reshape(entry["shape"]).clone()
    return state


def load(directory, batch_statistics=True):
    """The exported generator in `directory`, its weights loaded. Batch norm uses each batch's statistics, as the
    cluster samples (its figures were measured so); batch_statistics=False uses the running averages (eval mode)."""
    with open(os.path.join(directory, "generator.json")) as f:
        config = json.load(f)
    generator = Generator(config)
    path = os.path.join(directory, config["weights"])
    if config["format"] == "safetensors":
        state = read_safetensors(path)
    elif config["format"] == "pytorch":
        state = torch.load(path, map_location="cpu")
    else:
        raise ValueError(f"{path}: {config['format']} weights load in .NET (TorchSharp), not in PyTorch")
    generator.load_state_dict(state, strict=True)
    return generator.train(batch_statistics)


if __name__ == "__main__":
    G = load(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__)))
    torch.manual_seed(0)
    print(G.sample(8))
