namespace GanCluster.Gan.Specs;

// The spec is the JSON document a user writes (see README "Spec format"); these records are its typed form.
// Defaults here are the defaults of the file format: a field left out takes them.


public sealed record GanSpec
{
    public string Name { get; init; } = "gan";
    public long Seed { get; init; } = 1;
    public DataSpec Data { get; init; } = new();
    public ModelSpec Model { get; init; } = new();
    public LossSpec Loss { get; init; } = new();
    public OptimizerSpec Optimizer { get; init; } = new();
    public TrainingSpec Training { get; init; } = new();
    public EvaluationSpec Evaluation { get; init; } = new();
    public CheckpointSpec Checkpoint { get; init; } = new();
    /// <summary>"auto" (the silo's configured device), "cpu", "cuda" or "cuda:N".</summary>
    public string Device { get; init; } = "auto";
    public TechniquesSpec Techniques { get; init; } = new();
    /// <summary>A sweep: many members over a search space. Absent for a single member.</summary>
    public SearchSpec? Search { get; init; }
}

/// <summary>The search section of a sweep spec.</summary>
public sealed record SearchSpec
{
    /// <summary>grid | random | pbt</summary>
    public string Strategy { get; init; } = "random";
    /// <summary>Spec path → the values it may take.</summary>
    public Dictionary<string, SearchDimensionSpec> Space { get; init; } = [];
    public int Populations { get; init; } = 1;
    /// <summary>random and pbt: members per population; grid: ignored (one member per grid point).</summary>
    public int MembersPerPopulation { get; init; } = 4;
    /// <summary>Members training at once, across the sweep.</summary>
    public int Concurrency { get; init; } = 2;
    /// <summary>Seed of the random draws of the search (members keep their spec's seed, offset by their index).</summary>
    public long Seed { get; init; } = 1;
    public PbtSpec Pbt { get; init; } = new();
    public MedianStoppingSpec MedianStopping { get; init; } = new();
}

/// <summary>
/// Grid and random sweeps: a member whose fitness at an evaluation is far behind the median of the others at the same
/// step (below median − factor·|median|) is stopped, once past the grace steps.
/// </summary>
public sealed record MedianStoppingSpec
{
    public bool Enabled { get; init; }
    public long GraceSteps { get; init; } = 1000;
    public double Factor { get; init; } = 0.5;
    /// <summary>Members that must have reached the same step before one is judged.</summary>
    public int MinOthers { get; init; } = 2;
}

/// <summary>Population-based training (Jaderberg et al. 2017).</summary>
public sealed record PbtSpec
{
    /// <summary>Every this many steps a member is ranked in its population (a multiple of evaluation.every).</summary>
    public long Interval { get; init; } = 500;
    /// <summary>Members in the bottom quantile exploit one from the top quantile.</summary>
    public double Quantile { get; init; } = 0.25;
    public double[] PerturbFactors { get; init; } = [0.8, 1.2];
    public double ResampleProbability { get; init; } = 0.25;
}

/// <summary>Exactly one of its fields is set.</summary>
public sealed record SearchDimensionSpec
{
    /// <summary>Values as JSON text (numbers, strings, booleans).</summary>
    [System.Text.Json.Serialization.JsonConverter(typeof(RawJsonValuesConverter))] public string[]? Choice { get; init; }
    public double[]? Uniform { get; init; }
    public double[]? LogUniform { get; init; }
    public long[]? IntRange { get; init; }
}

/// <summary>Reads a JSON array of scalars as their JSON texts, so that a choice can hold numbers, strings and booleans.</summary>
public sealed class RawJsonValuesConverter : System.Text.Json.Serialization.JsonConverter<string[]>
{
    public override string[] Read(ref System.Text.Json.Utf8JsonReader reader, Type typeToConvert, System.Text.Json.JsonSerializerOptions options)
    {
        using var doc = System.Text.Json.JsonDocument.ParseValue(ref reader);
        if (doc.RootElement.ValueKind != System.Text.Json.JsonValueKind.Array) throw new System.Text.Json.JsonException("choice must be a list");
        return doc.RootElement.EnumerateArray().Select(e => e.GetRawText()).ToArray();
    }

    public override void Write(System.Text.Json.Utf8JsonWriter writer, string[] value, System.Text.Json.JsonSerializerOptions options)
    {
        writer.WriteStartArray();
        foreach (var v in value) writer.WriteRawValue(v);
        writer.WriteEndArray();
    }
}

/// <summary>The remedies of the GAN literature, each switched on here and combinable.</summary>
public sealed record TechniquesSpec
{
    /// <summary>Minibatch discrimination (Salimans et al. 2016): D compares each sample with the rest of its batch.</summary>
    public MinibatchDiscriminationSpec MinibatchDiscrimination { get; init; } = new();
    /// <summary>Feature matching (Salimans et al. 2016): G matches the mean of D's last hidden features on real and fake.</summary>
    public bool FeatureMatching { get; init; }
    /// <summary>Unrolled GAN (Metz et al. 2016): G is trained against D advanced this many steps; 0 is off.</summary>
    public int UnrolledSteps { get; init; }
    /// <summary>Conditional GAN (Mirza &amp; Osindero 2014): G and D receive the class (the mode index for mixtures).</summary>
    public bool Conditional { get; init; }
    /// <summary>
    /// PacGAN packing (Lin et al. 2018): D scores m samples at once, concatenated (an MLP's inputs, an image's
    /// channels), real m-tuples against fake ones; 1 is off. The batch is cut into B/m tuples of consecutive samples.
    /// </summary>
    public int Packing { get; init; } = 1;
    /// <summary>
    /// An exponential moving average of G's weights, ema ← d·ema + (1 − d)·w after every G step, which evaluation and
    /// the reports sample from (Yazıcı et al. 2019; StyleGAN, BigGAN); 0 is off, else the decay d in (0, 1), e.g. 0.999.
    /// </summary>
    public double GeneratorEma { get; init; }
    /// <summary>
    /// Spectral normalisation of D (Miyato et al. 2018): every layer of D computes with its weight divided by its largest
    /// singular value (one power-iteration step per training forward), which bounds D's Lipschitz constant.
    /// </summary>
    public bool SpectralNorm { get; init; }
}


public sealed record MinibatchDiscriminationSpec
{
    /// <summary>Number of kernels B of the minibatch layer; 0 is off.</summary>
    public int Kernels { get; init; }
    /// <summary>Dimension C of each kernel.</summary>
    public int KernelDim { get; init; } = 5;
}


public sealed record DataSpec
{
    /// <summary>ring | grid | gaussian1d (2-D and 1-D mixtures) | digits (the shipped 28×28 digits) | idx (IDX files).</summary>
    public string Kind { get; init; } = "ring";
    /// <summary>Ring: number of Gaussians on the circle.</summary>
    public int Modes { get; init; } = 8;
    public double Radius { get; init; } = 1.0;
    /// <summary>Grid: Gaussians per side (size × size modes).</summary>
    public int Size { get; init; } = 5;
    public double Spacing { get; init; } = 2.0;
    /// <summary>Standard deviation of every mode.</summary>
    public double Std { get; init; } = 0.01;
    /// <summary>gaussian1d: mean of the single Gaussian.</summary>
    public double Mean { get; init; } = 4.0;
    /// <summary>idx: path of the *-images-idx3-ubyte[.gz] file (28×28 grayscale).</summary>
    public string? Images { get; init; }
    /// <summary>idx: path of the *-labels-idx1-ubyte[.gz] file.</summary>
    public string? Labels { get; init; }
}


public sealed record ModelSpec
{
    public int NoiseDim { get; init; } = 2;
    /// <summary>normal | uniform (Goodfellow et al.'s 1-D figure uses uniform noise).</summary>
    public string Noise { get; init; } = "normal";
    /// <summary>
    /// A categorical code beside the noise: each sample also draws one of this many categories uniformly, given to G
    /// as a one-hot (InfoGAN's discrete code without its mutual-information term). G's input is then noiseDim +
    /// noiseCategories wide and split into as many disconnected pieces, so it can map pieces to separate modes instead
    /// of stretching one connected noise space across all of them. 0 is off.
    /// </summary>
    public int NoiseCategories { get; init; }

    /// <summary>The width of G's input: the noise and the categorical code (not the class of a conditional model).</summary>
    public int GeneratorInputs() => NoiseDim + NoiseCategories;
    public NetworkSpec Generator { get; init; } = new();
    public NetworkSpec Discriminator { get; init; } = new();
    /// <summary>mlp (mixtures) | dcgan (images, Radford et al. 2015) | lapgan (images: the residual coarse-to-fine
    /// generator of Denton et al. 2015, with the DCGAN discriminator).</summary>
    public string Architecture { get; init; } = "mlp";
    /// <summary>MLPs: initial weights N(0, initStd) and zero biases (PacGAN uses 0.02); 0 keeps the library's default
    /// (uniform, scaled by fan-in). The DCGAN and LAPGAN networks always start from N(0, 0.02).</summary>
    public double InitStd { get; init; }
}


public sealed record NetworkSpec
{
    public int Width { get; init; } = 128;
    /// <summary>Number of hidden layers.</summary>
    public int Depth { get; init; } = 2;
    /// <summary>relu | leaky_relu | tanh (MLPs; a maxout layer is its own activation).</summary>
    public string Activation { get; init; } = "relu";
    /// <summary>
    /// batch | layer | none after each hidden layer (whose bias it makes redundant, so the layer has none). Unset: batch
    /// for the convolutional discriminator, none for MLPs. The DCGAN and LAPGAN generators have their own batch norm.
    /// </summary>
    public string? Normalization { get; init; }
    /// <summary>MLPs: maxout hidden layers of this many pieces (Goodfellow et al. 2013; PacGAN's D uses 5); 0 is off.</summary>
    public int Maxout { get; init; }

    /// <summary>The normalization in force for <paramref name="architecture"/>: the field, or its default there.</summary>
    public string NormalizationFor(string architecture, bool discriminator) =>
        Normalization ?? (discriminator && architecture != "mlp" ? "batch" : "none");
}


public sealed record LossSpec
{
    /// <summary>For the standard loss: non_saturating | minimax.</summary>
    public string Generator { get; init; } = "non_saturating";
    /// <summary>Real samples are labelled 1 − realSmoothing (α).</summary>
    public double RealSmoothing { get; init; }
    /// <summary>Fake samples are labelled 0 + fakeSmoothing (β); 0 gives one-sided smoothing.</summary>
    public double FakeSmoothing { get; init; }
    /// <summary>standard (Goodfellow et al.) | hinge | least_squares | wasserstein_gp.</summary>
    public string Kind { get; init; } = "standard";
    /// <summary>λ of the WGAN-GP gradient penalty (Gulrajani et al. 2017).</summary>
    public double GradientPenalty { get; init; } = 10.0;
    /// <summary>
    /// γ of the R1 penalty (Mescheder et al. 2018), with any loss: D's loss gains γ/2 · E‖∇ₓ D(x)‖² at real samples
    /// (of D's logit; per m-tuple when packed), which stops D from growing steep around the data. 0 is off.
    /// </summary>
    public double R1 { get; init; }
}


public sealed record OptimizerSpec
{
    /// <summary>adam (the only optimizer for now).</summary>
    public string Kind { get; init; } = "adam";
    public double GeneratorLr { get; init; } = 1e-3;
    public double DiscriminatorLr { get; init; } = 1e-3;
    public double Beta1 { get; init; } = 0.5;
    public double Beta2 { get; init; } = 0.999;
    /// <summary>
    /// Learning-rate schedule of both networks: none, or linear (the rate stays at its value until lrDecayStart of
    /// training.steps, then falls linearly to 0 at the last step). PBT's changes scale with it.
    /// </summary>
    public string LrDecay { get; init; } = "none";
    /// <summary>linear: the fraction of training.steps after which the rate decays, in [0, 1).</summary>
    public double LrDecayStart { get; init; } = 0.5;

    /// <summary>The factor on the learning rates for the step after <paramref name="stepsDone"/> of <paramref name="totalSteps"/>.</summary>
    public double LrScale(long stepsDone, long totalSteps)
    {
        if (LrDecay != "linear" || totalSteps <= 0) return 1;
        double start = LrDecayStart * totalSteps;
        if (stepsDone < start) return 1;
        return Math.Max(0, (totalSteps - stepsDone) / (totalSteps - start));
    }
}


public sealed record TrainingSpec
{
    public long Steps { get; init; } = 2000;
    public int BatchSize { get; init; } = 512;
    public int DStepsPerGStep { get; init; } = 1;
    /// <summary>How often (in G steps) a point is added to the loss and D(x) curves.</summary>
    public int LogEvery { get; init; } = 10;
    /// <summary>d_first (the classic order) | g_first (G steps against the current D, then D takes its steps).</summary>
    public string Order { get; init; } = "d_first";
    /// <summary>A member whose D or G loss exceeds this in magnitude (or is NaN/∞) has diverged.</summary>
    public double MaxLoss { get; init; } = 1e6;
    /// <summary>alternating (exact: per step G sends samples, D returns dLoss_G/dx) | exchange (G and D train in parallel
    /// against shadow copies of each other and swap weights every <see cref="ExchangeEvery"/> steps).</summary>
    public string Mode { get; init; } = "alternating";
    /// <summary>Exchange mode: steps between weight exchanges (1 = synchronous).</summary>
    public int ExchangeEvery { get; init; } = 1;
}


public sealed record EvaluationSpec
{
    public long Every { get; init; } = 500;
    public int Samples { get; init; } = 2500;
    /// <summary>A mode counts as covered when at least this many high-quality samples fall on it.</summary>
    public int MinSamplesPerMode { get; init; } = 20;
}


public sealed record CheckpointSpec
{
    public long Every { get; init; } = 500;
    /// <summary>How many checkpoints to keep per member (the newest ones).</summary>
    public int Keep { get; init; } = 2;
    /// <summary>
    /// When a member resumes and has checkpoints but none is usable (missing, torn, corrupt, the wrong format): false
    /// (the default) fails it, naming them and why; true trains it again from step 0 and says so.
    /// </summary>
    public bool RestartIfUnusable { get; init; }
}
