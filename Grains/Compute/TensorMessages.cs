using GanCluster.Contracts.Tensors;
using static TorchSharp.torch;

namespace GanCluster.Grains.Compute;

/// <summary>Tensor ↔ <see cref="TensorMessage"/>: float32 only, raw bytes, no JSON arrays.</summary>
public static class TensorMessages
{
    public static TensorMessage ToMessage(Tensor tensor)
    {
        // Intermediate handles (detach, cpu, contiguous) are freed here, not left to the finalizer thread.
        using var scope = NewDisposeScope();
        var host = tensor.detach().cpu().contiguous();
        var shape = host.shape.Select(d => checked((int)d)).ToArray();
        return tensor.dtype switch
        {
            ScalarType.Float32 => TensorMessage.FromFloats(host.data<float>().ToArray(), shape),
            ScalarType.Int64 => new TensorMessage(shape, TensorElementType.Int64, System.Runtime.InteropServices.MemoryMarshal.AsBytes(host.data<long>().ToArray().AsSpan()).ToArray()),
            _ => throw new ArgumentException($"only float32 and int64 tensors cross grain boundaries, got {tensor.dtype}"),
        };
    }

    public static Tensor? ToTensorOrNull(TensorMessage? message, Device device) => message is null ? null : ToTensor(message, device);

    public static Tensor ToTensor(TensorMessage message, Device device)
    {
        message.Validated();
        long[] shape = message.Shape.Select(d => (long)d).ToArray();
        var host = message.ElementType switch
        {
            TensorElementType.Float32 => tensor(message.ToFloats(), shape),
            TensorElementType.Int64 => tensor(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, long>(message.Data).ToArray(), shape),
            _ => throw new ArgumentException($"tensor messages of {message.ElementType} cannot become tensors here"),
        };
        if (device.type == TorchSharp.DeviceType.CPU) return host;
        using (host) return host.to(device);
    }
}
