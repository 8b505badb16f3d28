using GanCluster.Contracts.Tensors;
using static TorchSharp.torch;

namespace GanCluster.Grains.Workers;

/// <summary>Tensor ↔ <see cref="TensorMessage"/>: float32 only, raw bytes, no JSON arrays.</summary>
public static class TensorMessages
{
    public static TensorMessage ToMessage(Tensor tensor)
    {
        if (tensor.dtype != ScalarType.Float32)
            throw new ArgumentException($"only float32 tensors cross grain boundaries, got {tensor.dtype}");
        // Intermediate handles (detach, cpu, contiguous) are freed here, not left to the finalizer thread.
        using var scope = NewDisposeScope();
        var host = tensor.detach().cpu().contiguous();
        var values = host.data<float>().ToArray();
        return TensorMessage.FromFloats(values, host.shape.Select(d => checked((int)d)).ToArray());
    }

    public static Tensor ToTensor(TensorMessage message, Device device)
    {
        message.Validated();
        var host = tensor(message.ToFloats(), message.Shape.Select(d => (long)d).ToArray());
        if (device.type == TorchSharp.DeviceType.CPU) return host;
        using (host) return host.to(device);
    }
}
