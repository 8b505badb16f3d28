using GanCluster.Contracts.Members;
using GanCluster.Grains.Members;
using GanCluster.Grains.Storage;
using GanCluster.Grains.Sweeps;
using GanCluster.Silo.Hosting;

namespace GanCluster.Tests.Storage;

/// <summary>Cluster-mode configuration and the JSON grain state the Redis "gan-store" holds.</summary>
public class ClusterConfigurationTests
{
    [Fact]
    public void Persisted_state_round_trips_as_JSON_without_NET_type_names_and_with_non_finite_metrics()
    {
        var state = new CoordinatorState
        {
            MemberId = "m",
            Spec = Support.TestSpecs.SmallRing(),
            State = MemberState.Diverged,
            Step = 40,
            Curve = [new CurvePoint(10, double.NaN, double.PositiveInfinity, 0.5, 0.25)],
            Evaluations = [new MixtureMetrics(40, 3, 8, 0.5, double.NegativeInfinity, 0.6, 0.4)],
            Samples = Contracts.Tensors.TensorMessage.FromFloats([1f, 2f], 1, 2),
        };
        var serializer = new GanStateSerializer();
        var data = serializer.Serialize(state);
        string json = data.ToString();
        Assert.DoesNotContain("$type", json);
        Assert.DoesNotContain("GanCluster.", json);
        Assert.Contains("\"Diverged\"", json);
        var back = serializer.Deserialize<CoordinatorState>(data);
        Assert.Equal(MemberState.Diverged, back.State);
        Assert.True(double.IsNaN(back.Curve[0].DLoss));
        Assert.True(double.IsPositiveInfinity(back.Curve[0].GLoss));
        Assert.True(double.IsNegativeInfinity(back.Evaluations[0].ReverseKl));
        Assert.Equal(state.Samples.Data, back.Samples!.Data);
        Assert.Equal(GanCluster.Gan.Specs.SpecLoader.ToJson(state.Spec), GanCluster.Gan.Specs.SpecLoader.ToJson(back.Spec!));

        var sweep = new SweepGrainState { Members = [new SweepMemberState { MemberId = "a", Spec = Support.TestSpecs.SmallRing(), FitnessByStep = { [500] = 0.25 } }] };
        var sweepBack = serializer.Deserialize<SweepGrainState>(serializer.Serialize(sweep));
        Assert.Equal(0.25, sweepBack.Members[0].FitnessByStep[500]);
    }

    [Fact]
    public void Stored_state_that_does_not_parse_is_reported_with_its_type()
    {
        var e = Assert.Throws<InvalidDataException>(() => new GanStateSerializer().Deserialize<CoordinatorState>(BinaryData.FromString("{ \"step\": ")));
        Assert.Contains(nameof(CoordinatorState), e.Message);
    }

    [Fact]
    public void The_silo_command_line_takes_cluster_redis_as_the_Redis_setting()
    {
        Assert.Equal(["--urls", "http://x", "--Gan:Cluster:Redis", "redis://10.0.0.5:6379"],
            RedisHosting.TranslateClusterArgument(["--urls", "http://x", "--cluster", "redis://10.0.0.5:6379"]));
        Assert.Equal(["--Gan:Cluster:Redis", "redis://h:1"], RedisHosting.TranslateClusterArgument(["--cluster=redis://h:1"]));
        var e = Assert.Throws<ArgumentException>(() => RedisHosting.TranslateClusterArgument(["--cluster", "10.0.0.5:30000"]));
        Assert.Contains("redis://HOST:PORT", e.Message);
        Assert.Throws<ArgumentException>(() => RedisHosting.TranslateClusterArgument(["--cluster"]));
    }

    [Fact]
    public void Redis_addresses_parse_from_the_url_form_and_are_described_without_secrets()
    {
        var options = RedisHosting.ParseRedis("redis://10.0.0.5:6380");
        Assert.Equal("10.0.0.5:6380", RedisHosting.DescribeRedis(options));
        var secret = RedisHosting.ParseRedis("10.0.0.5:6379,password=hunter2");
        Assert.DoesNotContain("hunter2", RedisHosting.DescribeRedis(secret));
        Assert.Throws<ArgumentException>(() => RedisHosting.ParseRedis("redis://"));
    }
}
