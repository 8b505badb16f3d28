using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using GanCluster.Contracts.Tensors;
using GanCluster.Contracts.Workers;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Configuration;
using Orleans.Serialization;

namespace GanCluster.Grains.Workers;

/// <summary>Configuration section "Gan:Links": direct worker-to-worker connections for alternating runs.</summary>
public sealed class WorkerLinkOptions
{
    public const string Section = "Gan:Links";

    /// <summary>
    /// A discriminator whose generator is on another silo steps with it over a direct TCP connection (one socket
    /// write and read per step) instead of a grain call per step; over TLS when the cluster has a certificate
    /// (Gan:Tls). Off, each step is a grain call.
    /// </summary>
    public bool Enabled { get; set; } = true;

    /// <summary>TCP port the silo accepts links on, on its listening address (Gan:Cluster:ListenIp); 0 = any free port.</summary>
    public int Port { get; set; }

    /// <summary>
    /// How long a lone member's worker polls its link for the peer's next frame before it sleeps in the socket
    /// (microseconds; 0 = sleep at once). The peer's frame usually comes within a step's time, and a thread that slept
    /// that long pays the kernel's (on a virtual machine, the hypervisor's) wake-up on every frame; polling spends that
    /// time's CPU instead, and yields the core to any other thread that is ready. Plain links only: over TLS the
    /// stream buffers what it decrypts, so the worker sleeps in it as before.
    /// </summary>
    public int SpinMicroseconds { get; set; } = 2000;
}

/// <summary>What a discriminator asks of its generator over a link, one request per step.</summary>
[GenerateSerializer, Immutable, Alias("gan.LinkRequest")]
public sealed record LinkRequest(
    [property: Id(0)] LinkOperation Operation,
    [property: Id(1)] long Step,
    [property: Id(2)] TensorMessage? Gradient,
    [property: Id(3)] int DiscriminatorSteps);

[GenerateSerializer, Alias("gan.LinkOperation")]
public enum LinkOperation
{
    /// <summary>Sample the run's first batch.</summary>
    Sample = 0,
    /// <summary>Apply D's gradient and sample the next batch.</summary>
    ApplyGradientAndSample = 1,
    /// <summary>Apply D's gradient; the run ends.</summary>
    ApplyGradient = 2,
    /// <summary>The run ends without a G step (D's step diverged).</summary>
    End = 3,
    /// <summary>
    /// <see cref="ApplyGradientAndSample"/> answered in two frames: G's step and D's fakes first, then G's kept batch
    /// (D needs it only after its own steps, so G computes it while D steps).
    /// </summary>
    ApplyGradientAndSampleInParts = 4,
}

/// <summary>One part of G's batch sent on its own (<see cref="LinkOperation.ApplyGradientAndSampleInParts"/>): samples, and their classes when conditional.</summary>
[GenerateSerializer, Immutable, Alias("gan.SamplePart")]
public sealed record SamplePart(
    [property: Id(0)] TensorMessage Samples,
    [property: Id(1)] TensorMessage? Labels);

/// <summary>The generator's answer to one <see cref="LinkRequest"/>: its step, its next batch, or why it failed.</summary>
[GenerateSerializer, Immutable, Alias("gan.LinkReply")]
public sealed record LinkReply(
    [property: Id(0)] GeneratorStepResult? Step,
    [property: Id(1)] GeneratorBatch? Next,
    [property: Id(2)] string? Error)
{
    /// <summary>A part of the next batch (<see cref="LinkOperation.ApplyGradientAndSampleInParts"/>).</summary>
    [Id(3)] public SamplePart? Part { get; init; }
}

/// <summary>
/// One silo's end of the direct worker links (a singleton of the silo's services). A discriminator that runs steps
/// with a generator on another silo expects a connection under a fresh id and invites the generator to it; the
/// generator connects, says the id, and answers the discriminator's requests from its grain turn until the run ends.
/// The grain calls stay the control path (who joins, failures, timeouts); the link only carries the per-step samples
/// and gradients, as Orleans-serialized frames. Connections last one run (at most ~100 ms of steps) and close with a
/// reset, so that no socket lingers in TIME_WAIT however many runs a member takes. Unknown ids are dropped.
/// </summary>
public sealed class WorkerLinks : IDisposable
{
    /// <summary>Largest frame accepted: a batch of samples or a gradient, not a checkpoint.</summary>
    public const int MaxFrameBytes = 256 << 20;
    private static readonly TimeSpan HandshakeTimeout = TimeSpan.FromSeconds(10);
    /// <summary>A link that carries nothing for this long is given up (a peer gone without closing it).</summary>
    public static readonly TimeSpan IdleTimeout = TimeSpan.FromMinutes(2);

    private readonly WorkerLinkOptions options;
    private readonly IPEndPoint? listenOn;
    private readonly IPAddress? advertised;
    private readonly ILogger<WorkerLinks> logger;
    private readonly ConcurrentDictionary<Guid, TaskCompletionSource<WorkerLink>> expected = new();
    private readonly Lock gate = new();
    private readonly CancellationTokenSource stopping = new();
    private readonly X509Certificate2? certificate;
    private Socket? listener;
    private bool cannotListen;
    private int port;
    private readonly long spinTicks;
    private long framesPolled, framesSlept;

    public WorkerLinks(WorkerLinkOptions options, X509Certificate2? certificate, IOptions<EndpointOptions> endpoints, Serializer serializer, ILogger<WorkerLinks> logger)
    {
        this.options = options;
        this.certificate = certificate;
        this.logger = logger;
        Serializer = serializer;
        if (this.options.Port is < 0 or > 65535) throw new ArgumentException($"Gan:Links:Port must be a TCP port or 0 (any free port), got {this.options.Port}");
        var endpoint = endpoints.Value;
        advertised = endpoint.AdvertisedIPAddress;
        var listenAddress = endpoint.SiloListeningEndpoint?.Address ?? advertised;
        if (this.options.SpinMicroseconds is < 0 or > 1_000_000) throw new ArgumentException($"Gan:Links:SpinMicroseconds must be 0 to 1000000 (one second), got {this.options.SpinMicroseconds}");
        spinTicks = this.options.SpinMicroseconds * System.Diagnostics.Stopwatch.Frequency / 1_000_000;
        Enabled = this.options.Enabled && advertised is not null && listenAddress is not null;
        if (Enabled) listenOn = new IPEndPoint(listenAddress!, this.options.Port);
    }

    public Serializer Serializer { get; }

    /// <summary>Whether this silo offers links (on, and an advertised address).</summary>
    public bool Enabled { get; }

    /// <summary>Where generators connect to reach this silo; starts listening on first use. Null when links are off.</summary>
    public (string Host, int Port)? Address
    {
        get
        {
            if (!Enabled || SuspendedForTests) return null;
            lock (gate)
            {
                if (listener is null && !cannotListen) Listen();
                return listener is null ? null : (advertised!.ToString(), port);
            }
        }
    }

    private void Listen()
    {
        var socket = new Socket(listenOn!.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(listenOn);
            socket.Listen(64);
        }
        catch (SocketException e)
        {
            // Say, a fixed Gan:Links:Port taken by another silo on this machine: this silo's runs use grain calls.
            socket.Dispose();
            cannotListen = true;
            Telemetry.ClusterLog.LinksUnavailable(logger, listenOn.ToString(), e.Message);
            return;
        }
        port = ((IPEndPoint)socket.LocalEndPoint!).Port;
        listener = socket;
        Telemetry.ClusterLog.LinksListening(logger, listenOn.Address.ToString(), port);
        _ = AcceptLoopAsync(socket);
    }

    /// <summary>A connection under <paramref name="id"/> will come: the task completes with it.</summary>
    public Task<WorkerLink> Expect(Guid id)
    {
        var arrival = new TaskCompletionSource<WorkerLink>(TaskCreationOptions.RunContinuationsAsynchronously);
        expected[id] = arrival;
        return arrival.Task;
    }

    /// <summary>No connection is expected under <paramref name="id"/> any more.</summary>
    public void Forget(Guid id) => expected.TryRemove(id, out _);

    internal int ExpectedCount => expected.Count;
    /// <summary>Tests: offer no links for now, as with links off (runs with a generator elsewhere use grain calls).</summary>
    internal bool SuspendedForTests { get; set; }
    private long linked;
    /// <summary>Links accepted for a run so far (for tests).</summary>
    internal long LinkedCount => Interlocked.Read(ref linked);

    /// <summary>Blocking receives whose frame arrived while the thread polled (Gan:Links:SpinMicroseconds), for tests.</summary>
    internal long FramesPolled => Interlocked.Read(ref framesPolled);

    /// <summary>Blocking receives that polled for the whole budget and then slept in the socket, for tests.</summary>
    internal long FramesSlept => Interlocked.Read(ref framesSlept);

    private async Task AcceptLoopAsync(Socket socket)
    {
        while (!stopping.IsCancellationRequested)
        {
            Socket accepted;
            try
            {
                accepted = await socket.AcceptAsync(stopping.Token);
            }
            catch (Exception) when (stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException e)
            {
                Telemetry.ClusterLog.LinkRefused(logger, "accept failed", e.Message);
                continue;
            }
            _ = HandshakeAsync(accepted);
        }
    }

    private async Task HandshakeAsync(Socket socket)
    {
        WorkerLink? link = null;
        try
        {
            socket.NoDelay = true;
            var id = new byte[16];
            using (var timeout = CancellationTokenSource.CreateLinkedTokenSource(stopping.Token))
            {
                timeout.CancelAfter(HandshakeTimeout);
                link = await WorkerLink.AcceptAsync(socket, certificate, timeout.Token);
                await link.Stream.ReadExactlyAsync(id, timeout.Token);
            }
            if (expected.TryRemove(new Guid(id), out var arrival) && arrival.TrySetResult(link))
            {
                Interlocked.Increment(ref linked);
                return;
            }
            Telemetry.ClusterLog.LinkRefused(logger, socket.RemoteEndPoint?.ToString() ?? "?", "no run expects this link id");
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException or AuthenticationException)
        {
            Telemetry.ClusterLog.LinkRefused(logger, socket.RemoteEndPoint?.ToString() ?? "?", e.Message);
        }
        if (link is not null) link.Dispose();
        else Close(socket);
    }

    /// <summary>The generator's side: connects to the discriminator's silo (over TLS when the cluster has a certificate) and says the run's id.</summary>
    public async Task<WorkerLink> ConnectAsync(string host, int port, Guid id, CancellationToken cancellationToken)
    {
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        WorkerLink? link = null;
        try
        {
            await socket.ConnectAsync(host, port, cancellationToken);
            link = await WorkerLink.ConnectAsync(socket, certificate, cancellationToken);
            await link.Stream.WriteAsync(id.ToByteArray(), cancellationToken);
            return link;
        }
        catch
        {
            if (link is not null) link.Dispose();
            else socket.Dispose();
            throw;
        }
    }

    /// <summary>Closes with a reset: the run's requests and replies are all answered, and nothing lingers in TIME_WAIT.</summary>
    public static void Close(Socket socket)
    {
        try { socket.LingerState = new LingerOption(true, 0); }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
        socket.Dispose();
    }

    private byte[] Frame<T>(T message)
    {
        var payload = Serializer.SerializeToArray(message);
        var frame = new byte[4 + payload.Length];
        BinaryPrimitives.WriteInt32LittleEndian(frame, payload.Length);
        payload.CopyTo(frame, 4);
        return frame;
    }

    private static int FrameLength(byte[] header)
    {
        int length = BinaryPrimitives.ReadInt32LittleEndian(header);
        if (length is < 0 or > MaxFrameBytes) throw new InvalidDataException($"a worker link frame of {length} bytes (at most {MaxFrameBytes})");
        return length;
    }

    private T Parse<T>(byte[] payload) => Serializer.Deserialize<T>(payload) ?? throw new InvalidDataException("an empty worker link frame");

    public Task SendAsync<T>(WorkerLink link, T message, CancellationToken cancellationToken) =>
        link.Stream.WriteAsync(Frame(message), cancellationToken).AsTask();

    public async Task<T> ReceiveAsync<T>(WorkerLink link, CancellationToken cancellationToken)
    {
        var header = new byte[4];
        await ReadExactlyAsync(link.Stream, header, cancellationToken);
        var payload = new byte[FrameLength(header)];
        await ReadExactlyAsync(link.Stream, payload, cancellationToken);
        return Parse<T>(payload);
    }

    /// <summary>
    /// The blocking forms, for a lone member's run on silos with nothing else to compute: the thread that waits for
    /// the peer's frame is woken by the kernel itself, with no socket-engine thread and no thread-pool hand-off in
    /// between (measured across two silos: 0.9 thread-pool work items per step against 2.8 with the async forms).
    /// The socket's timeouts (<see cref="WorkerLink.UseIdleTimeouts"/>) stand for the idle timeout.
    /// </summary>
    public void Send<T>(WorkerLink link, T message) => link.Stream.Write(Frame(message));

    public T Receive<T>(WorkerLink link)
    {
        if (spinTicks > 0 && !link.Encrypted)
        {
            if (link.PollForData(spinTicks)) Interlocked.Increment(ref framesPolled);
            else Interlocked.Increment(ref framesSlept);
        }
        var header = new byte[4];
        ReadExactly(link.Stream, header);
        var payload = new byte[FrameLength(header)];
        ReadExactly(link.Stream, payload);
        return Parse<T>(payload);
    }

    private static async Task ReadExactlyAsync(Stream stream, Memory<byte> buffer, CancellationToken cancellationToken)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = await stream.ReadAsync(buffer[read..], cancellationToken);
            if (n == 0) throw new IOException($"the worker link closed after {read} of {buffer.Length} bytes");
            read += n;
        }
    }

    private static void ReadExactly(Stream stream, byte[] buffer)
    {
        int read = 0;
        while (read < buffer.Length)
        {
            int n = stream.Read(buffer, read, buffer.Length - read);
            if (n == 0) throw new IOException($"the worker link closed after {read} of {buffer.Length} bytes");
            read += n;
        }
    }

    public void Dispose()
    {
        stopping.Cancel();
        foreach (var arrival in expected.Values) arrival.TrySetCanceled();
        expected.Clear();
        lock (gate)
        {
            listener?.Dispose();
            listener = null;
        }
        stopping.Dispose();
    }
}

/// <summary>
/// One end of a worker link: the socket, and the stream the frames go over — the socket itself, or TLS over it when
/// the cluster has a certificate (the same certificate and the same acceptance rule as the silos' own connections,
/// <see cref="Hosting.TlsHosting.RemoteCertificateRule"/>; both ends must present one).
/// </summary>
public sealed class WorkerLink : IDisposable
{
    private readonly Socket socket;

    private WorkerLink(Socket socket, Stream stream)
    {
        this.socket = socket;
        Stream = stream;
    }

    public Stream Stream { get; }
    public bool Encrypted => Stream is SslStream;

    internal static Task<WorkerLink> AcceptAsync(Socket socket, X509Certificate2? certificate, CancellationToken cancellationToken) =>
        OverAsync(socket, certificate, tls => tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
        {
            ServerCertificate = certificate,
            ClientCertificateRequired = true,
            RemoteCertificateValidationCallback = Validator(certificate!),
        }, cancellationToken));

    internal static Task<WorkerLink> ConnectAsync(Socket socket, X509Certificate2? certificate, CancellationToken cancellationToken) =>
        OverAsync(socket, certificate, tls => tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = certificate!.GetNameInfo(X509NameType.SimpleName, forIssuer: false),
            ClientCertificates = [certificate],
            RemoteCertificateValidationCallback = Validator(certificate),
        }, cancellationToken));

    /// <summary>The socket's stream, or TLS over it (authenticated by <paramref name="authenticate"/>) when there is a certificate.</summary>
    private static async Task<WorkerLink> OverAsync(Socket socket, X509Certificate2? certificate, Func<SslStream, Task> authenticate)
    {
        var plain = new NetworkStream(socket, ownsSocket: false);
        if (certificate is null) return new WorkerLink(socket, plain);
        var tls = new SslStream(plain, leaveInnerStreamOpen: false);
        try
        {
            await authenticate(tls);
            return new WorkerLink(socket, tls);
        }
        catch
        {
            await tls.DisposeAsync();
            throw;
        }
    }

    private static RemoteCertificateValidationCallback Validator(X509Certificate2 certificate)
    {
        var accepts = Hosting.TlsHosting.RemoteCertificateRule(certificate);
        return (_, remote, _, errors) => accepts(remote, errors);
    }

    /// <summary>
    /// Polls the socket until bytes arrive or <paramref name="ticks"/> (Stopwatch ticks) pass, yielding the core to
    /// any other ready thread between polls, so that a frame that comes soon is read without this thread going to
    /// sleep and being woken. True when bytes arrived; false when the time ran out (or over TLS, where it does not
    /// poll). A link the peer closed or reset shows no bytes either: the read that follows the budget reports it.
    /// </summary>
    public bool PollForData(long ticks)
    {
        if (ticks <= 0 || Encrypted) return false;
        long until = System.Diagnostics.Stopwatch.GetTimestamp() + ticks;
        try
        {
            while (socket.Available == 0)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() >= until) return false;
                Thread.Yield();
            }
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { return false; }
    }

    /// <summary>Sets the blocking forms' timeouts to <see cref="WorkerLinks.IdleTimeout"/>.</summary>
    public void UseIdleTimeouts() => socket.ReceiveTimeout = socket.SendTimeout = (int)WorkerLinks.IdleTimeout.TotalMilliseconds;

    /// <summary>Closes with a reset: the run's requests and replies are all answered, and nothing lingers in TIME_WAIT.</summary>
    public void Dispose()
    {
        try { Stream.Dispose(); }
        catch (IOException) { }
        WorkerLinks.Close(socket);
    }
}
