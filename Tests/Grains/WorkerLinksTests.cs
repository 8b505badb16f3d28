using System.Net;
using System.Net.Sockets;
using GanCluster.Contracts.Tensors;
using GanCluster.Contracts.Workers;
using GanCluster.Grains.Workers;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;

namespace GanCluster.Tests.Grains;

/// <summary>The direct worker links on their own: handshake, frames, and what they refuse.</summary>
public class WorkerLinksTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static WorkerLinks Links(bool enabled = true, bool tls = false, int port = 0)
    {
        var serializer = new ServiceCollection()
            .AddSerializer(b => b.AddAssembly(typeof(TensorMessage).Assembly).AddAssembly(typeof(WorkerLinks).Assembly))
            .BuildServiceProvider().GetRequiredService<Serializer>();
        var endpoints = Options.Create(new EndpointOptions { AdvertisedIPAddress = IPAddress.Loopback });
        return new WorkerLinks(new WorkerLinkOptions { Enabled = enabled, Port = port }, tls, endpoints, serializer, NullLogger<WorkerLinks>.Instance);
    }

    /// <summary>A generator's socket connected under an expected id, and the socket the run received for it.</summary>
    private static async Task<(Socket Generator, Socket Discriminator)> LinkedAsync(WorkerLinks links)
    {
        var (host, port) = links.Address!.Value;
        var id = Guid.NewGuid();
        var arrival = links.Expect(id);
        var generator = await WorkerLinks.ConnectAsync(host, port, id, CancellationToken.None);
        return (generator, await arrival.WaitAsync(Timeout));
    }

    [Fact]
    public async Task A_generator_that_says_the_expected_id_is_handed_to_the_run_and_frames_cross_both_ways()
    {
        using var links = Links();
        var (generator, discriminator) = await LinkedAsync(links);
        using var _ = generator;
        using var __ = discriminator;
        Assert.Equal(0, links.ExpectedCount);
        Assert.Equal(1, links.LinkedCount);

        var gradient = TensorMessage.FromFloats([1.5f, -2f, 3.25f, 0f], 2, 2);
        await links.SendAsync(discriminator, new LinkRequest(LinkOperation.ApplyGradientAndSample, 41, gradient, 3), CancellationToken.None);
        var request = links.Receive<LinkRequest>(generator);
        Assert.Equal(LinkOperation.ApplyGradientAndSample, request.Operation);
        Assert.Equal(41, request.Step);
        Assert.Equal(3, request.DiscriminatorSteps);
        Assert.Equal(gradient.ToFloats(), request.Gradient!.ToFloats());
        Assert.Equal([2, 2], request.Gradient.Shape);

        links.Send(generator, new LinkReply(new GeneratorStepResult(42, 0.5), null, null));
        var reply = await links.ReceiveAsync<LinkReply>(discriminator, CancellationToken.None);
        Assert.Equal(new GeneratorStepResult(42, 0.5), reply.Step);
        Assert.Null(reply.Next);
    }

    [Fact]
    public async Task A_connection_under_an_id_no_run_expects_is_closed_and_the_expected_one_still_waits()
    {
        using var links = Links();
        var (host, port) = links.Address!.Value;
        var arrival = links.Expect(Guid.NewGuid());
        using var stranger = await WorkerLinks.ConnectAsync(host, port, Guid.NewGuid(), CancellationToken.None);
        var buffer = new byte[16];
        using var timeout = new CancellationTokenSource(Timeout);
        int read;
        try { read = await stranger.ReceiveAsync(buffer, SocketFlags.None, timeout.Token); }
        catch (SocketException) { read = 0; } // closed with a reset
        Assert.Equal(0, read);
        Assert.False(arrival.IsCompleted);
        Assert.Equal(1, links.ExpectedCount);
        Assert.Equal(0, links.LinkedCount);
    }

    [Fact]
    public async Task A_frame_longer_than_the_limit_is_refused_by_its_length_before_anything_is_read()
    {
        using var links = Links();
        var (generator, discriminator) = await LinkedAsync(links);
        using var _ = generator;
        using var __ = discriminator;
        var header = BitConverter.GetBytes(WorkerLinks.MaxFrameBytes + 1);
        await generator.SendAsync(header, SocketFlags.None);
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => links.ReceiveAsync<LinkReply>(discriminator, CancellationToken.None));
        Assert.Contains($"{WorkerLinks.MaxFrameBytes + 1} bytes", e.Message);
    }

    [Fact]
    public async Task A_link_closed_mid_frame_is_an_IOException_not_a_short_read()
    {
        using var links = Links();
        var (generator, discriminator) = await LinkedAsync(links);
        using var _ = discriminator;
        await generator.SendAsync(BitConverter.GetBytes(100), SocketFlags.None);
        generator.Shutdown(SocketShutdown.Both);
        generator.Dispose();
        await Assert.ThrowsAsync<IOException>(() => links.ReceiveAsync<LinkReply>(discriminator, CancellationToken.None));
    }

    [Fact]
    public void A_link_port_already_taken_turns_links_off_for_that_silo_instead_of_failing_its_runs()
    {
        using var first = Links();
        int port = first.Address!.Value.Port;
        using var second = Links(port: port);
        Assert.Null(second.Address);
        Assert.Equal(port, first.Address!.Value.Port);
    }

    [Fact]
    public void Links_are_off_when_configured_off_and_when_the_cluster_uses_TLS_since_they_are_not_encrypted()
    {
        using (var off = Links(enabled: false)) Assert.Null(off.Address);
        using (var tls = Links(tls: true)) Assert.Null(tls.Address);
        using var on = Links();
        Assert.NotNull(on.Address);
    }
}
