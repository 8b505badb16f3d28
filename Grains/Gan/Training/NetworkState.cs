using TorchSharp;
using static TorchSharp.torch;

namespace GanCluster.Gan.Training;

/// <summary>Writes and reads the exact state of one network: weights, optimizer state, RNG states and step.</summary>
internal static class NetworkState
{
    private const string Magic = "GANCLUSTER-WORKER-STATE-2";
    private const string OlderMagic = "GANCLUSTER-WORKER-STATE-1";

    public static void Write(BinaryWriter writer, string role, long step, nn.Module module, FlatAdam optimizer,
        params Generator[] rngs)
    {
        writer.Write(Magic);
        writer.Write(role);
        writer.Write(step);
        module.save(writer);
        optimizer.Save(writer);
        writer.Write(rngs.Length);
        foreach (var rng in rngs)
        {
            using var state = rng.get_state();
            var bytes = state.data<byte>().ToArray();
            writer.Write(bytes.Length);
            writer.Write(bytes);
        }
    }

    public static long Read(BinaryReader reader, string role, nn.Module module, FlatAdam optimizer,
        params Generator[] rngs)
    {
        string magic = reader.ReadString();
        if (magic == OlderMagic)
            throw new InvalidDataException("worker state written by an older GanCluster (TorchSharp's Adam state, before FlatAdam): start the member afresh");
        if (magic != Magic) throw new InvalidDataException($"not a GanCluster worker state (header '{Truncate(magic)}')");
        string storedRole = reader.ReadString();
        if (storedRole != role) throw new InvalidDataException($"worker state is for the {storedRole}, not the {role}");
        long step = reader.ReadInt64();
        module.load(reader, strict: true);
        optimizer.Load(reader);
        int count = reader.ReadInt32();
        if (count != rngs.Length) throw new InvalidDataException($"worker state holds {count} RNG states, expected {rngs.Length}");
        foreach (var rng in rngs)
        {
            int length = reader.ReadInt32();
            var bytes = reader.ReadBytes(length);
            if (bytes.Length != length) throw new InvalidDataException("worker state is truncated inside an RNG state");
            using var state = tensor(bytes, dtype: ScalarType.Byte);
            rng.set_state(state);
        }
        return step;
    }

    public static byte[] WeightBytes(nn.Module module)
    {
        using var stream = new MemoryStream();
        using (var writer = new BinaryWriter(stream, System.Text.Encoding.UTF8, leaveOpen: true))
            module.save(writer);
        return stream.ToArray();
    }

    private static string Truncate(string s) => s.Length > 40 ? s[..40] + "…" : s;
}
