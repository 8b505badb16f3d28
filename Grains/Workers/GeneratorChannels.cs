using System.Net.Sockets;
using GanCluster.Contracts.Tensors;
using GanCluster.Contracts.Workers;

namespace GanCluster.Grains.Workers;

/// <summary>How a discriminator on another silo reaches its generator during a run: grain calls or a direct link.</summary>
internal interface IGeneratorChannel
{
    Task<GeneratorBatch> SampleAsync(long step, int discriminatorSteps);
    /// <summary>G's step on D's gradient and G's next batch; <paramref name="meanwhile"/> runs while G works (once the gradient is sent).</summary>
    Task<GeneratorStepAndBatch> ApplyGradientAndSampleAsync(long step, TensorMessage gradient, int discriminatorSteps, Func<Task> meanwhile);
    Task<GeneratorStepResult> ApplyGradientAsync(long step, TensorMessage gradient);
    /// <summary>The run ends without a G step (a diverged D step).</summary>
    Task EndAsync();

    /// <summary>Whether G can answer in parts (<see cref="ApplyGradientAndSampleInPartsAsync"/>, <see cref="RestAsync"/>).</summary>
    bool InParts { get; }

    /// <summary>
    /// G's step on D's gradient and D's fakes for the next step, while G goes on to compute its kept batch;
    /// <see cref="RestAsync"/> must follow. <paramref name="meanwhile"/> runs while G works.
    /// </summary>
    Task<(GeneratorStepResult Step, SamplePart ForDiscriminator)> ApplyGradientAndSampleInPartsAsync(long step, TensorMessage gradient, int discriminatorSteps, Func<Task> meanwhile);

    /// <summary>G's kept batch, the second part of <see cref="ApplyGradientAndSampleInPartsAsync"/>.</summary>
    Task<SamplePart> RestAsync(long step);
}

/// <summary>One grain call per step.</summary>
internal sealed class GrainChannel(IGeneratorWorkerGrain generator) : IGeneratorChannel
{
    public Task<GeneratorBatch> SampleAsync(long step, int discriminatorSteps) => generator.SampleAsync(step, discriminatorSteps).AsTask();
    public async Task<GeneratorStepAndBatch> ApplyGradientAndSampleAsync(long step, TensorMessage gradient, int discriminatorSteps, Func<Task> meanwhile)
    {
        var call = generator.ApplyGradientAndSampleAsync(step, gradient, discriminatorSteps).AsTask();
        try
        {
            await meanwhile();
        }
        catch
        {
            _ = call.ContinueWith(t => t.Exception, TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously);
            throw;
        }
        return await call;
    }
    public Task<GeneratorStepResult> ApplyGradientAsync(long step, TensorMessage gradient) => generator.ApplyGradientAsync(step, gradient).AsTask();
    public Task EndAsync() => Task.CompletedTask;

    public bool InParts => false;

    public Task<(GeneratorStepResult Step, SamplePart ForDiscriminator)> ApplyGradientAndSampleInPartsAsync(long step, TensorMessage gradient, int discriminatorSteps, Func<Task> meanwhile) =>
        throw new NotSupportedException("a grain call answers with the whole batch");

    public Task<SamplePart> RestAsync(long step) => throw new NotSupportedException("a grain call answers with the whole batch");
}

/// <summary>
/// One request and one reply per step over a direct link, answered by the generator's <c>JoinRun</c> turn
/// (<paramref name="joining"/>). A failure on G's side comes back as an error reply; the exception itself (say,
/// <see cref="WorkerNotReadyException"/>, which makes the coordinator reload the workers) is the one the call throws.
/// </summary>
/// With <paramref name="blocking"/> (a lone member: nothing else to compute on this silo), the calling thread waits in
/// the socket itself and the run goes on on that thread, with no hand-off per step.
internal sealed class LinkChannel(WorkerLinks links, WorkerLink socket, Task<RunPartner> joining, bool blocking) : IGeneratorChannel, IDisposable
{
    private readonly CancellationTokenSource idle = new();

    public async Task<GeneratorBatch> SampleAsync(long step, int discriminatorSteps) =>
        (await CallAsync(new LinkRequest(LinkOperation.Sample, step, null, discriminatorSteps))).Next
        ?? throw new InvalidDataException($"the generator's link reply at step {step} carries no batch");

    public async Task<GeneratorStepAndBatch> ApplyGradientAndSampleAsync(long step, TensorMessage gradient, int discriminatorSteps, Func<Task> meanwhile)
    {
        var reply = await CallAsync(new LinkRequest(LinkOperation.ApplyGradientAndSample, step, gradient, discriminatorSteps), meanwhile);
        return new GeneratorStepAndBatch(
            reply.Step ?? throw new InvalidDataException($"the generator's link reply at step {step} carries no step result"),
            reply.Next ?? throw new InvalidDataException($"the generator's link reply at step {step} carries no batch"));
    }

    public async Task<GeneratorStepResult> ApplyGradientAsync(long step, TensorMessage gradient) =>
        (await CallAsync(new LinkRequest(LinkOperation.ApplyGradient, step, gradient, 0))).Step
        ?? throw new InvalidDataException($"the generator's link reply at step {step} carries no step result");

    public async Task EndAsync() => await SendAsync(new LinkRequest(LinkOperation.End, 0, null, 0));

    /// <summary>In parts when D waits in the socket (a lone member): G's second frame then arrives while D steps.</summary>
    public bool InParts => blocking;

    public async Task<(GeneratorStepResult Step, SamplePart ForDiscriminator)> ApplyGradientAndSampleInPartsAsync(long step, TensorMessage gradient, int discriminatorSteps, Func<Task> meanwhile)
    {
        var reply = await CallAsync(new LinkRequest(LinkOperation.ApplyGradientAndSampleInParts, step, gradient, discriminatorSteps), meanwhile);
        return (reply.Step ?? throw new InvalidDataException($"the generator's link reply at step {step} carries no step result"),
            reply.Part ?? throw new InvalidDataException($"the generator's link reply at step {step} carries no samples for D"));
    }

    public async Task<SamplePart> RestAsync(long step)
    {
        var part = (await CallAsync(null, step)).Part ?? throw new InvalidDataException($"the generator's second link reply at step {step} carries no samples");
        Interlocked.Increment(ref secondParts);
        return part;
    }

    private static long secondParts;

    /// <summary>Replies in parts received by any link channel in this process (tests).</summary>
    internal static long SecondParts => Interlocked.Read(ref secondParts);

    private Task SendAsync(LinkRequest request)
    {
        if (!blocking)
        {
            idle.CancelAfter(WorkerLinks.IdleTimeout);
            return links.SendAsync(socket, request, idle.Token);
        }
        links.Send(socket, request);
        return Task.CompletedTask;
    }

    private Task<LinkReply> ReceiveAsync() =>
        blocking ? Task.FromResult(links.Receive<LinkReply>(socket)) : links.ReceiveAsync<LinkReply>(socket, idle.Token);

    private Task<LinkReply> CallAsync(LinkRequest request, Func<Task>? meanwhile = null) => CallAsync(request, request.Step, meanwhile);

    /// <summary>Sends <paramref name="request"/> (none: the reply is a request's later frame), runs <paramref name="meanwhile"/>, receives.</summary>
    private async Task<LinkReply> CallAsync(LinkRequest? request, long step, Func<Task>? meanwhile = null)
    {
        LinkReply reply;
        try
        {
            if (request is not null) await SendAsync(request);
            if (meanwhile is not null) await meanwhile();
            reply = await ReceiveAsync();
        }
        catch (Exception e) when (e is IOException or SocketException or OperationCanceledException)
        {
            // G's side failed or went away: its own exception says why, if its call has ended.
            await Task.WhenAny(joining, Task.Delay(TimeSpan.FromSeconds(1)));
            if (joining.IsFaulted) await joining;
            throw;
        }
        if (reply.Error is not null)
        {
            await joining; // throws G's exception
            throw new InvalidOperationException($"the generator failed at step {step}: {reply.Error}");
        }
        return reply;
    }

    public void Dispose() => idle.Dispose();
}
