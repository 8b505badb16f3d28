using GanCluster.Contracts.Tensors;
using GanCluster.Grains.Workers;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using static TorchSharp.torch;
using GanCluster.Grains.Compute;

namespace GanCluster.Tests.Gan;

public class TensorMessageTests
{
    [Fact]
    public void A_tensor_round_trips_bit_for_bit_through_a_message()
    {
        using var samples = new Generator(37);
        using var original = randn([37, 3], generator: samples);
        original[0, 0] = tensor(float.NaN);
        original[1, 1] = tensor(float.NegativeInfinity);
        var message = TensorMessages.ToMessage(original);
        Assert.Equal([37, 3], message.Shape);
        Assert.Equal(37 * 3 * 4, message.Data.Length);
        using var back = TensorMessages.ToTensor(message, CPU);
        Assert.Equal(original.data<float>().ToArray().Select(BitConverter.SingleToInt32Bits), back.data<float>().ToArray().Select(BitConverter.SingleToInt32Bits));
        Assert.Equal(original.shape, back.shape);
    }

    [Fact]
    public void A_message_survives_the_Orleans_serializer_as_raw_bytes()
    {
        var services = new ServiceCollection().AddSerializer(b => b.AddAssembly(typeof(TensorMessage).Assembly)).BuildServiceProvider();
        var serializer = services.GetRequiredService<Serializer>();
        var message = TensorMessage.FromFloats([1f, -2.5f, float.Epsilon, 3e38f], 2, 2);
        var bytes = serializer.SerializeToArray(message);
        var back = serializer.Deserialize<TensorMessage>(bytes)!;
        Assert.Equal(message.Shape, back.Shape);
        Assert.Equal(message.Data, back.Data);
        // Compact: the payload plus a small header, not a JSON array of numbers.
        Assert.True(bytes.Length < message.Data.Length + 64, $"{bytes.Length} bytes on the wire for {message.Data.Length} bytes of data");
    }

    [Fact]
    public void A_message_whose_bytes_do_not_match_its_shape_is_refused()
    {
        var torn = new TensorMessage([4, 2], TensorElementType.Float32, new byte[28]);
        var e = Assert.Throws<ArgumentException>(() => TensorMessages.ToTensor(torn, CPU));
        Assert.Contains("needs 32 bytes, got 28", e.Message);
        Assert.Throws<ArgumentException>(() => new TensorMessage([-1, 2], TensorElementType.Float32, []).Validated());
    }

    [Fact]
    public void Rows_of_a_2d_message_are_its_samples()
    {
        var m = TensorMessage.FromFloats([1, 2, 3, 4, 5, 6], 3, 2);
        var rows = m.ToRows();
        Assert.Equal(3, rows.Length);
        Assert.Equal(new[] { 5f, 6f }, rows[2]);
    }
}
