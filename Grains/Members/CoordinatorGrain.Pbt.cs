using GanCluster.Contracts.Workers;
using GanCluster.Gan.Specs;
using GanCluster.Grains.Telemetry;

namespace GanCluster.Grains.Members;

/// <summary>The member's part in population-based training: report to its population and exploit a donor when told.</summary>
public sealed partial class CoordinatorGrain
{
    /// <summary>How long a member waiting for its PBT round goes without a word from its population before it asks again.</summary>
    private static readonly TimeSpan PbtRecheck = TimeSpan.FromSeconds(30);
    /// <summary>Set while the member waits for its PBT round; completed by the population, pause, cancel or shutdown.</summary>
    private TaskCompletionSource? pbtWake;

    public Task PbtRoundMovedAsync()
    {
        pbtWake?.TrySetResult();
        return Task.CompletedTask;
    }

    /// <summary>
    /// PBT: reports fitness and the checkpoint just written to the member's population; if told to exploit, loads the donor's
    /// checkpoint (weights, optimizer state, RNG state, step) into both workers under the explored hyperparameters,
    /// drops its own newer checkpoints, and checkpoints the result as its own.
    /// </summary>
    private async Task<bool> ExploitIfToldAsync(double? fitness)
    {
        var own = state.State.LastCheckpoint!;
        var sweep = state.State.SweepId!;
        var population = GrainFactory.GetGrain<Contracts.Sweeps.IPopulationGrain>($"{sweep}-p{SweepPlanner.PopulationOf(sweep, MemberId)}");
        Contracts.Sweeps.PbtVerdict verdict;
        while ((verdict = await population.PbtReportAsync(MemberId, step, fitness, own.Generator, own.Discriminator)).Action == Contracts.Sweeps.PbtAction.Wait)
        {
            // The rest of the population has not reached this step yet: the population says when the round moves
            // (PbtRoundMovedAsync); pause, cancel and shutdown wake the wait too. A wake-up lost with a population
            // that moved to another silo is covered by asking again after PbtRecheck.
            if (cancelRequested || suspendRequested) return false;
            if (pauseRequested) { await PauseHereAsync(); continue; }
            DelayDeactivation(KeepAlive);
            PublishNow();
            pbtWake = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            await Task.WhenAny(pbtWake.Task, Task.Delay(PbtRecheck));
            pbtWake = null;
        }
        var decision = verdict.Exploit;
        if (decision is null) return false;
        try
        {
            await Task.WhenAll(
                Generator.PrepareAsync(new WorkerSetup(MemberId, decision.Spec, decision.Generator)).AsTask(),
                Discriminator.PrepareAsync(new WorkerSetup(MemberId, decision.Spec, decision.Discriminator)).AsTask());
        }
        catch (Exception e) when (e is not SpecException)
        {
            // The donor's checkpoint went away (pruned) or is unreadable: carry on with our own.
            Log.ExploitFailed(logger, e, MemberId, decision.DonorId, decision.DonorStep);
            await PrepareWorkersAsync();
            return false;
        }
        state.State.Spec = decision.Spec;
        step = decision.DonorStep;
        curve.RemoveAll(c => c.Step > step);
        evaluations.RemoveAll(e => e.Step > step);
        imageEvaluations.RemoveAll(e => e.Step > step);
        await store.DeleteAfterAsync(MemberId, step);
        metrics.Exchanged("weights", decision.Generator.Bytes + decision.Discriminator.Bytes);
        Log.Exploited(logger, MemberId, decision.DonorId, decision.DonorStep, decision.NewHyperparameters);
        Board?.Text("pbt", step, $"exploited {decision.DonorId} at step {decision.DonorStep}; explored: {decision.NewHyperparameters} (was {decision.OldHyperparameters})");
        await CheckpointAsync();
        return true;
    }
}
