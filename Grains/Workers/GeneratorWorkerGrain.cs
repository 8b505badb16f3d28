using GanCluster.Gan.Specs;
using GanCluster.Contracts.Tensors;
using GanCluster.Contracts.Workers;
using GanCluster.Gan.Compute;
using GanCluster.Gan.Data;
using GanCluster.Gan.Training;
using GanCluster.Grains.Storage;
using System.Net.Sockets;
using static TorchSharp.torch;
using GanCluster.Grains.Compute;

namespace GanCluster.Grains.Workers;

[Hosting.DevicePlacement]
public sealed partial class GeneratorWorkerGrain(TorchCompute compute, ICheckpointStore store, GeneratorLoans loans, WorkerLinks links)
    : NetworkWorkerGrain<GeneratorModel>(compute, store), IGeneratorWorkerGrain
{
    protected override string Role => "generator";
    protected override GeneratorModel Build(GanSpec spec, IRealData data, Device device) => new(spec, data, device);
    protected override long StepOf(GeneratorModel model) => model.Step;
    protected override void Save(GeneratorModel model, BinaryWriter writer) => model.Save(writer);
    protected override void Load(GeneratorModel model, BinaryReader reader) => model.Load(reader);
    protected override byte[] WeightsOf(GeneratorModel model) => model.WeightBytes();

    public async ValueTask<GeneratorBatch> SampleAsync(long step, int discriminatorSteps)
    {
        var model = Ready(step);
        return await Compute.RunAsync(() => SampleOn(model, discriminatorSteps));
    }

    private static GeneratorBatch SampleOn(GeneratorModel model, int discriminatorSteps)
    {
        using var batch = model.Sample(discriminatorSteps);
        return new GeneratorBatch(TensorMessages.ToMessage(batch.ForDiscriminator), TensorMessages.ToMessage(batch.ForGenerator))
        {
            DiscriminatorLabels = batch.DiscriminatorLabels is null ? null : TensorMessages.ToMessage(batch.DiscriminatorLabels),
            GeneratorLabels = batch.GeneratorLabels is null ? null : TensorMessages.ToMessage(batch.GeneratorLabels),
        };
    }

    public async ValueTask<GeneratorStepAndBatch> ApplyGradientAndSampleAsync(long step, TensorMessage gradient, int discriminatorSteps)
    {
        var model = Ready(step);
        if (!model.HasPendingBatch) throw new WorkerNotReadyException($"the generator of {MemberId} has no sampled batch at step {step}");
        return await Compute.RunAsync(() =>
        {
            double norm;
            using (var grad = TensorMessages.ToTensor(gradient, Device))
                norm = model.ApplyGradient(grad);
            var result = new GeneratorStepResult(model.Step, norm);
            return new GeneratorStepAndBatch(result, SampleOn(model, discriminatorSteps));
        });
    }

    /// <summary>
    /// The first frame of <see cref="LinkOperation.ApplyGradientAndSampleInParts"/>: G's step and D's fakes; the model
    /// is left half-sampled until <see cref="SampleRestOn"/>.
    /// </summary>
    private async Task<(GeneratorStepResult Step, SamplePart ForDiscriminator)> ApplyGradientAndSampleForDiscriminatorAsync(
        GeneratorModel model, long step, TensorMessage gradient, int discriminatorSteps)
    {
        if (!model.HasPendingBatch) throw new WorkerNotReadyException($"the generator of {MemberId} has no sampled batch at step {step}");
        return await Compute.RunAsync(() =>
        {
            double norm;
            using (var grad = TensorMessages.ToTensor(gradient, Device))
                norm = model.ApplyGradient(grad);
            var (samples, labels) = model.SampleForDiscriminator(discriminatorSteps);
            return (new GeneratorStepResult(model.Step, norm), Part(samples, labels));
        });
    }

    private static SamplePart SampleRestOn(GeneratorModel model)
    {
        var (samples, labels) = model.SampleForGenerator();
        return Part(samples, labels);
    }

    private static SamplePart Part(Tensor samples, Tensor? labels)
    {
        using (samples)
        using (labels)
            return new SamplePart(TensorMessages.ToMessage(samples), labels is null ? null : TensorMessages.ToMessage(labels));
    }

    public async ValueTask<GeneratorStepResult> ApplyGradientAsync(long step, TensorMessage gradient)
    {
        var model = Ready(step);
        if (!model.HasPendingBatch) throw new WorkerNotReadyException($"the generator of {MemberId} has no sampled batch at step {step}");
        return await Compute.RunAsync(() =>
        {
            using var grad = TensorMessages.ToTensor(gradient, Device);
            double norm = model.ApplyGradient(grad);
            return new GeneratorStepResult(model.Step, norm);
        });
    }

    public async ValueTask<RunPartner> JoinRunAsync(long step, RunInvitation invitation)
    {
        var model = Ready(step);
        if (loans.Take(invitation.Id, MemberId) is { } loan)
        {
            // Until the discriminator returns the network, this turn holds the activation: no other call reaches G.
            loan.Lend(model, Device);
            await loan.Returned;
            return RunPartner.Lent;
        }
        if (invitation.LinkHost is null || DateTime.UtcNow < linkRetryAfter) return RunPartner.Messages;
        WorkerLink link;
        try
        {
            using var connecting = new CancellationTokenSource(LinkConnectTimeout);
            link = await links.ConnectAsync(invitation.LinkHost, invitation.LinkPort, invitation.Id, connecting.Token);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or IOException or System.Security.Authentication.AuthenticationException)
        {
            // A firewall, say: grain calls for a while, rather than a connect timeout on every run.
            linkRetryAfter = DateTime.UtcNow + LinkRetryDelay;
            Telemetry.ClusterLog.LinkFailed(Logger, MemberId, invitation.LinkHost, invitation.LinkPort, e.Message, LinkRetryDelay);
            return RunPartner.Messages;
        }
        using (link)
            await ServeLinkAsync(link);
        return RunPartner.Linked;
    }

    private static readonly TimeSpan LinkConnectTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan LinkRetryDelay = TimeSpan.FromMinutes(5);
    private DateTime linkRetryAfter;

    /// <summary>Answers the discriminator's requests until the run ends; a failure is sent to it, then thrown here.</summary>
    private async Task ServeLinkAsync(WorkerLink socket)
    {
        using var idle = new CancellationTokenSource();
        // A lone member (nothing else to compute here) waits in the socket itself: see WorkerLinks.Receive.
        bool blocking = Compute.IsIdle;
        if (blocking) socket.UseIdleTimeouts();
        Task SendAsync(LinkReply reply)
        {
            if (!blocking) return links.SendAsync(socket, reply, idle.Token);
            links.Send(socket, reply);
            return Task.CompletedTask;
        }
        while (true)
        {
            idle.CancelAfter(WorkerLinks.IdleTimeout);
            var request = blocking ? links.Receive<LinkRequest>(socket) : await links.ReceiveAsync<LinkRequest>(socket, idle.Token);
            if (request.Operation == LinkOperation.End) return;
            LinkReply reply;
            Exception? failure = null;
            try
            {
                reply = await AnswerAsync(request, SendAsync);
            }
            catch (Exception e)
            {
                failure = e;
                reply = new LinkReply(null, null, $"{e.GetType().Name}: {e.Message}");
            }
            await SendAsync(reply);
            if (failure is not null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            if (request.Operation == LinkOperation.ApplyGradient) return;
        }
    }

    /// <summary>The reply to <paramref name="request"/>; a reply in parts sends all but its last frame through <paramref name="send"/>.</summary>
    private async Task<LinkReply> AnswerAsync(LinkRequest request, Func<LinkReply, Task> send)
    {
        switch (request.Operation)
        {
            case LinkOperation.ApplyGradientAndSampleInParts:
                var model = Ready(request.Step);
                var (result, forD) = await ApplyGradientAndSampleForDiscriminatorAsync(model, request.Step, Gradient(request), request.DiscriminatorSteps);
                await send(new LinkReply(result, null, null) { Part = forD });
                return new LinkReply(null, null, null) { Part = await Compute.RunAsync(() => SampleRestOn(model)) };
            case LinkOperation.Sample:
                return new LinkReply(null, await SampleAsync(request.Step, request.DiscriminatorSteps), null);
            case LinkOperation.ApplyGradientAndSample:
                var both = await ApplyGradientAndSampleAsync(request.Step, Gradient(request), request.DiscriminatorSteps);
                return new LinkReply(both.Step, both.Next, null);
            case LinkOperation.ApplyGradient:
                return new LinkReply(await ApplyGradientAsync(request.Step, Gradient(request)), null, null);
            default:
                throw new InvalidDataException($"unknown worker link operation {request.Operation}");
        }
    }

    private static TensorMessage Gradient(LinkRequest request) =>
        request.Gradient ?? throw new InvalidDataException($"worker link request {request.Operation} at step {request.Step} carries no gradient");

    public async ValueTask<EvaluationBatch> SampleForEvaluationAsync(int count)
    {
        var model = Model ?? throw new WorkerNotReadyException($"the generator of {MemberId} holds no network");
        return await Compute.RunAsync(() =>
        {
            var (samples, labels) = model.SampleForEvaluation(count);
            using (samples)
            using (labels)
                return new EvaluationBatch(TensorMessages.ToMessage(samples), labels is null ? null : TensorMessages.ToMessage(labels));
        });
    }
}
