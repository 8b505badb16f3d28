using GanCluster.Gan.Specs;
using GanCluster.Gan.Data;
using GanCluster.Gan.Networks;
using GanCluster.Tests.Support;
using Microsoft.Extensions.Configuration;
using GanCluster.Gan.Training;
using GanCluster.Grains.Placement;

namespace GanCluster.Tests.Placement;

public class SiloDevicesTests
{
    private static IConfiguration Config(params (string Key, string Value)[] values) =>
        new ConfigurationBuilder().AddInMemoryCollection(values.Select(v => new KeyValuePair<string, string?>(v.Key, v.Value))).Build();

    [Fact]
    public void A_CPU_silo_advertises_one_cpu_device_with_the_machines_physical_memory()
    {
        var devices = SiloDevices.Detect(Config());
        long memTotalKb = long.Parse(File.ReadLines("/proc/meminfo").First(l => l.StartsWith("MemTotal:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
        Assert.Equal(new SiloDevices("cpu", 1, memTotalKb / 1024, SiloDevices.DefaultWorkersPerDevice, false), devices);
        Assert.Equal(SiloDevices.DefaultWorkersPerDevice, devices.WorkerCapacity);
    }

    [Fact]
    public void Settings_shape_what_is_advertised_and_round_trip_through_silo_metadata()
    {
        var devices = SiloDevices.Detect(Config(("Gan:Compute:WorkersPerDevice", "3"), ("Gan:Compute:CoordinationOnly", "true"), ("Gan:Compute:DeviceMemoryMiB", "1000")));
        Assert.Equal(new SiloDevices("cpu", 1, 1000, 3, true), devices);
        Assert.Equal(0, devices.WorkerCapacity);
        Assert.Equal(devices, SiloDevices.FromMetadata(devices.ToMetadata()));
        Assert.Null(SiloDevices.FromMetadata(new Dictionary<string, string>()));
    }

    [Theory]
    [InlineData("Gan:Compute:WorkersPerDevice", "0", "Gan:Compute:WorkersPerDevice must be between 1 and 100000, got 0")]
    [InlineData("Gan:Compute:WorkersPerDevice", "many", "Gan:Compute:WorkersPerDevice must be a whole number, got 'many'")]
    [InlineData("Gan:Compute:CoordinationOnly", "maybe", "Gan:Compute:CoordinationOnly must be true or false, got 'maybe'")]
    [InlineData("Gan:Compute:DeviceMemoryMiB", "-1", "Gan:Compute:DeviceMemoryMiB must be 0 (detect) or more, got -1")]
    [InlineData("Gan:Compute:Device", "tpu", "Gan:Compute:Device must be cpu, cuda or cuda:N, got 'tpu'")]
    public void Bad_device_settings_stop_the_silo_with_the_setting_named(string key, string value, string expected)
    {
        var e = Assert.Throws<ArgumentException>(() => SiloDevices.Detect(Config((key, value))));
        Assert.Equal(expected, e.Message);
    }

    public static TheoryData<string, GanSpec> Specs()
    {
        var ring = TestSpecs.SmallRing();
        var digits = ring with
        {
            Data = new DataSpec { Kind = "digits" },
            Model = new ModelSpec { Architecture = "dcgan", NoiseDim = 16, Generator = new NetworkSpec { Width = 8 }, Discriminator = new NetworkSpec { Width = 8 } },
        };
        return new()
        {
            { "mlp", ring },
            { "mlp conditional, minibatch, deep", ring with
                {
                    Model = ring.Model with { Discriminator = new NetworkSpec { Width = 32, Depth = 3 }, Generator = new NetworkSpec { Width = 16, Depth = 0 } },
                    Techniques = new TechniquesSpec { Conditional = true, MinibatchDiscrimination = new MinibatchDiscriminationSpec { Kernels = 5, KernelDim = 3 } },
                } },
            { "dcgan", digits },
            { "dcgan conditional, layer norm, minibatch", digits with
                {
                    Model = digits.Model with { Discriminator = new NetworkSpec { Width = 8, Normalization = "layer" } },
                    Techniques = new TechniquesSpec { Conditional = true, MinibatchDiscrimination = new MinibatchDiscriminationSpec { Kernels = 4, KernelDim = 2 } },
                } },
            { "dcgan, no normalization", digits with { Model = digits.Model with { Discriminator = new NetworkSpec { Width = 8, Normalization = "none" } } } },
            { "lapgan conditional", digits with { Model = digits.Model with { Architecture = "lapgan" }, Techniques = new TechniquesSpec { Conditional = true } } },
        };
    }

    [Theory]
    [MemberData(nameof(Specs))]
    public void The_footprint_counts_exactly_the_parameters_of_the_built_networks(string what, GanSpec spec)
    {
        var data = RealData.FromSpec(spec.Data);
        using var g = Seeds.WithGlobalSeed(1, () => NetworkFactory.Generator(spec, data));
        using var d = Seeds.WithGlobalSeed(2, () => NetworkFactory.Discriminator(spec, data));
        var footprint = ModelFootprint.Estimate(spec);
        Assert.True(g.parameters().Sum(p => p.numel()) == footprint.GeneratorParameters, $"{what}: generator {g.parameters().Sum(p => p.numel())} vs {footprint.GeneratorParameters}");
        Assert.True(d.parameters().Sum(p => p.numel()) == footprint.DiscriminatorParameters, $"{what}: discriminator {d.parameters().Sum(p => p.numel())} vs {footprint.DiscriminatorParameters}");
    }
}
