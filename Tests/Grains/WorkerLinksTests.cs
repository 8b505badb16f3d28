using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using GanCluster.Contracts.Tensors;
using GanCluster.Contracts.Workers;
using GanCluster.Grains.Workers;
using GanCluster.Tests.Security;
using GanCluster.Tests.Support;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;

namespace GanCluster.Tests.Grains;

/// <summary>The direct worker links on their own: handshake, frames, TLS, and what they refuse.</summary>
public class WorkerLinksTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private static WorkerLinks Links(bool enabled = true, X509Certificate2? certificate = null, int port = 0, int spinMicroseconds = 2000)
    {
        var serializer = new ServiceCollection()
            .AddSerializer(b => b.AddAssembly(typeof(TensorMessage).Assembly).AddAssembly(typeof(WorkerLinks).Assembly))
            .BuildServiceProvider().GetRequiredService<Serializer>();
        var endpoints = Options.Create(new EndpointOptions { AdvertisedIPAddress = IPAddress.Loopback });
        return new WorkerLinks(new WorkerLinkOptions { Enabled = enabled, Port = port, SpinMicroseconds = spinMicroseconds }, certificate, endpoints, serializer, NullLogger<WorkerLinks>.Instance);
    }

    private static X509Certificate2 Certificate(TempDirectory dir, string subject) =>
        X509CertificateLoader.LoadPkcs12FromFile(TestCertificates.CreatePfx(dir.Path, subject, "pw"), "pw", X509KeyStorageFlags.EphemeralKeySet);

    /// <summary>A generator's end connected (through <paramref name="from"/>) under an expected id, and the run's end.</summary>
    private static async Task<(WorkerLink Generator, WorkerLink Discriminator)> LinkedAsync(WorkerLinks links, WorkerLinks? from = null)
    {
        var (host, port) = links.Address!.Value;
        var id = Guid.NewGuid();
        var arrival = links.Expect(id);
        var generator = await (from ?? links).ConnectAsync(host, port, id, CancellationToken.None);
        return (generator, await arrival.WaitAsync(Timeout));
    }

    private static async Task FramesCrossBothWaysAsync(WorkerLinks links, WorkerLink generator, WorkerLink discriminator)
    {
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
    public async Task A_generator_that_says_the_expected_id_is_handed_to_the_run_and_frames_cross_both_ways()
    {
        using var links = Links();
        var (generator, discriminator) = await LinkedAsync(links);
        using var _ = generator;
        using var __ = discriminator;
        Assert.Equal(0, links.ExpectedCount);
        Assert.Equal(1, links.LinkedCount);
        Assert.False(discriminator.Encrypted);
        await FramesCrossBothWaysAsync(links, generator, discriminator);
    }

    /// <summary>D sends a request after a delay while G waits for it in a blocking receive, which must return it.</summary>
    private static async Task ReceiveSentLateAsync(WorkerLinks links, WorkerLink generator, WorkerLink discriminator, int delayMilliseconds, long step)
    {
        var late = Task.Run(async () =>
        {
            await Task.Delay(delayMilliseconds);
            await links.SendAsync(discriminator, new LinkRequest(LinkOperation.Sample, step, null, 1), CancellationToken.None);
        });
        Assert.Equal(step, links.Receive<LinkRequest>(generator).Step);
        await late;
    }

    [Fact]
    public async Task A_blocking_receive_polls_for_a_frame_that_comes_within_its_budget_and_sleeps_for_one_that_comes_later()
    {
        // A second of polling: a frame sent after 50 ms is found by polling, not after a sleep.
        using var polling = Links(spinMicroseconds: 1_000_000);
        var (generator, discriminator) = await LinkedAsync(polling);
        using (generator)
        using (discriminator)
        {
            await ReceiveSentLateAsync(polling, generator, discriminator, delayMilliseconds: 50, step: 7);
            Assert.Equal((1, 0), (polling.FramesPolled, polling.FramesSlept));
        }

        // One millisecond of polling: a frame sent after 300 ms comes after the thread has gone to sleep in the socket.
        using var brief = Links(spinMicroseconds: 1000);
        (generator, discriminator) = await LinkedAsync(brief);
        using (generator)
        using (discriminator)
        {
            await ReceiveSentLateAsync(brief, generator, discriminator, delayMilliseconds: 300, step: 8);
            Assert.Equal((0, 1), (brief.FramesPolled, brief.FramesSlept));

            // A peer that has closed: the end that polls finds no frame, and the read after the polling reports it.
            discriminator.Dispose();
            Assert.ThrowsAny<IOException>(() => brief.Receive<LinkRequest>(generator));
        }

        // Polling off: every blocking receive sleeps in the socket at once, uncounted.
        using var off = Links(spinMicroseconds: 0);
        (generator, discriminator) = await LinkedAsync(off);
        using (generator)
        using (discriminator)
        {
            await off.SendAsync(discriminator, new LinkRequest(LinkOperation.Sample, 9, null, 1), CancellationToken.None);
            Assert.Equal(9, off.Receive<LinkRequest>(generator).Step);
            Assert.Equal((0, 0), (off.FramesPolled, off.FramesSlept));
        }
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(1_000_001)]
    public void A_polling_budget_out_of_range_is_refused_with_its_setting_named(int microseconds)
    {
        var e = Assert.Throws<ArgumentException>(() => Links(spinMicroseconds: microseconds));
        Assert.Contains("Gan:Links:SpinMicroseconds", e.Message);
    }

    [Fact]
    public async Task With_the_cluster_certificate_links_are_TLS_on_both_ends_and_frames_cross_both_ways()
    {
        using var dir = new TempDirectory();
        using var certificate = Certificate(dir, "gancluster-links");
        using var links = Links(certificate: certificate);
        Assert.NotNull(links.Address);
        var (generator, discriminator) = await LinkedAsync(links);
        using var _ = generator;
        using var __ = discriminator;
        Assert.True(generator.Encrypted);
        Assert.True(discriminator.Encrypted);
        await FramesCrossBothWaysAsync(links, generator, discriminator);
    }

    [Fact]
    public async Task A_TLS_listener_refuses_a_peer_with_another_certificate_and_one_without_TLS()
    {
        using var dir = new TempDirectory();
        using var certificate = Certificate(dir, "gancluster-links");
        using var other = Certificate(dir, "someone-else");
        using var links = Links(certificate: certificate);
        using var stranger = Links(certificate: other);
        using var plain = Links();
        var (host, port) = links.Address!.Value;

        var id = Guid.NewGuid();
        var arrival = links.Expect(id);
        await Assert.ThrowsAnyAsync<Exception>(async () =>
        {
            using var refused = await stranger.ConnectAsync(host, port, id, CancellationToken.None);
            // Depending on which side rejects first, the client may see the refusal only on its first read.
            await refused.Stream.ReadExactlyAsync(new byte[1]);
        });
        using (var unencrypted = await plain.ConnectAsync(host, port, id, CancellationToken.None))
        {
            int read;
            try { read = await unencrypted.Stream.ReadAsync(new byte[1]).AsTask().WaitAsync(Timeout); }
            catch (IOException) { read = 0; } // closed with a reset
            Assert.Equal(0, read);
        }
        Assert.False(arrival.IsCompleted);
        Assert.Equal(0, links.LinkedCount);
    }

    [Fact]
    public async Task A_connection_under_an_id_no_run_expects_is_closed_and_the_expected_one_still_waits()
    {
        using var links = Links();
        var (host, port) = links.Address!.Value;
        var arrival = links.Expect(Guid.NewGuid());
        using var stranger = await links.ConnectAsync(host, port, Guid.NewGuid(), CancellationToken.None);
        int read;
        try { read = await stranger.Stream.ReadAsync(new byte[16]).AsTask().WaitAsync(Timeout); }
        catch (IOException) { read = 0; } // closed with a reset
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
        await generator.Stream.WriteAsync(BitConverter.GetBytes(WorkerLinks.MaxFrameBytes + 1));
        var e = await Assert.ThrowsAsync<InvalidDataException>(() => links.ReceiveAsync<LinkReply>(discriminator, CancellationToken.None));
        Assert.Contains($"{WorkerLinks.MaxFrameBytes + 1} bytes", e.Message);
    }

    [Fact]
    public async Task A_link_closed_mid_frame_is_an_IOException_not_a_short_read()
    {
        using var links = Links();
        var (generator, discriminator) = await LinkedAsync(links);
        using var _ = discriminator;
        await generator.Stream.WriteAsync(BitConverter.GetBytes(100));
        generator.Dispose();
        await Assert.ThrowsAnyAsync<IOException>(() => links.ReceiveAsync<LinkReply>(discriminator, CancellationToken.None));
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
    public void Links_are_off_when_configured_off()
    {
        using (var off = Links(enabled: false)) Assert.Null(off.Address);
        using var on = Links();
        Assert.NotNull(on.Address);
    }
}
