using Autodiff.Text;

namespace Autodiff;

// TensorFlow's candidate samplers (log_uniform_candidate_sampler, uniform_candidate_sampler,
// fixed_unigram_candidate_sampler) as graph ops, seeded like the Gumbel ops: draw t of a run is a function of
// (seed, step value, t) only (GumbelNoise.KeyBits), so one tape draws new negatives at every step. TensorFlow returns
// (sampled, true_expected_count, sampled_expected_count) from one call; here the samples and the expected counts are two
// ops with the same attributes, the count op redrawing the (cheap) sample to learn how many draws unique sampling took.

/// <summary>The distribution of a candidate sampler over the classes [0, V).</summary>
public enum CandidateDistribution
{
    /// <summary>Zipfian: P(c) = (log(c + 2) − log(c + 1)) / log(V + 1), for ids sorted by decreasing frequency.</summary>
    LogUniform,
    /// <summary>P(c) = 1/V.</summary>
    Uniform,
    /// <summary>P(c) ∝ count(c)^distortion, from given counts (TensorFlow's <c>fixed_unigram_candidate_sampler</c>
    /// with <c>unigrams</c>).</summary>
    FixedUnigram,
}

/// <summary>The parameters shared by <see cref="CandidateSamplerOp"/> and <see cref="ExpectedCountOp"/>.</summary>
/// <param name="Distribution">The distribution.</param>
/// <param name="NumSampled">S, the number of samples.</param>
/// <param name="RangeMax">V for log-uniform and uniform; 0 for fixed-unigram (V is the length of the counts).</param>
/// <param name="Unique">Sample without repeats (rejecting classes already drawn), as TensorFlow's <c>unique=True</c>.</param>
/// <param name="Distortion">The power applied to each count (fixed-unigram only; 1 elsewhere).</param>
/// <param name="Seed">The stream.</param>
public readonly record struct CandidateSampling(CandidateDistribution Distribution, int NumSampled, int RangeMax, bool Unique, double Distortion, int Seed)
{
    /// <summary>A log-uniform (Zipfian) sampler over [0, <paramref name="rangeMax"/>).</summary>
    public static CandidateSampling LogUniform(int rangeMax, int numSampled, bool unique, int seed) =>
        new(CandidateDistribution.LogUniform, numSampled, rangeMax, unique, 1, seed);

    /// <summary>A uniform sampler over [0, <paramref name="rangeMax"/>).</summary>
    public static CandidateSampling Uniform(int rangeMax, int numSampled, bool unique, int seed) =>
        new(CandidateDistribution.Uniform, numSampled, rangeMax, unique, 1, seed);

    /// <summary>A sampler proportional to count^<paramref name="distortion"/> of given counts (an operand).</summary>
    public static CandidateSampling FixedUnigram(int numSampled, bool unique, int seed, double distortion = 1) =>
        new(CandidateDistribution.FixedUnigram, numSampled, 0, unique, distortion, seed);

    /// <summary>The sampler's language name prefix: <c>log_uniform</c>, <c>uniform</c> or <c>fixed_unigram</c>.</summary>
    public string Prefix => Distribution switch
    {
        CandidateDistribution.LogUniform => "log_uniform",
        CandidateDistribution.Uniform => "uniform",
        _ => "fixed_unigram",
    };

    /// <summary>The language parameters after the operands (and before <c>dtype</c> and <c>step</c>) for <paramref name="d"/>.</summary>
    internal static FunctionParam[] AttributeParams(CandidateDistribution d) => d == CandidateDistribution.FixedUnigram
        ? [FunctionParam.Int("num_sampled"), FunctionParam.Bool("unique"), FunctionParam.Number("distortion", optional: true), FunctionParam.Int("seed")]
        : [FunctionParam.Int("num_sampled"), FunctionParam.Int("range_max"), FunctionParam.Bool("unique"), FunctionParam.Int("seed")];

    /// <summary>The sampling a call describes (unique defaults to true, as the sampled losses use it; distortion to 1).</summary>
    internal static CandidateSampling FromCall(CandidateDistribution d, CallArgs c) => d == CandidateDistribution.FixedUnigram
        ? new(d, c.Int("num_sampled"), 0, c.Bool("unique", true), c.Has("distortion") ? c.Number("distortion") : 1, c.Int("seed"))
        : new(d, c.Int("num_sampled"), c.Int("range_max"), c.Bool("unique", true), 1, c.Int("seed"));

    /// <summary>The counts operand of a call, for fixed-unigram.</summary>
    internal static Expr? Counts(CandidateDistribution d, CallArgs c) => d == CandidateDistribution.FixedUnigram ? c.Tensor("unigrams") : (Expr?)null;

    /// <summary>The counts parameter, for fixed-unigram.</summary>
    internal static FunctionParam[] CountsParam(CandidateDistribution d) => d == CandidateDistribution.FixedUnigram ? [FunctionParam.Tensor("unigrams")] : [];

    /// <summary>Whether the counts are an operand (fixed-unigram).</summary>
    internal bool HasCounts => Distribution == CandidateDistribution.FixedUnigram;

    /// <summary>The attributes after the operands, in printing order.</summary>
    internal IEnumerable<(string? Name, string Value)> Attributes()
    {
        yield return ("num_sampled", FusedShapes.Text(NumSampled));
        if (!HasCounts) yield return ("range_max", FusedShapes.Text(RangeMax));
        yield return ("unique", Unique ? "true" : "false");
        if (HasCounts) yield return ("distortion", FusedShapes.Text(Distortion));
        yield return ("seed", FusedShapes.Text(Seed));
    }

    /// <summary>Checks the attributes and the counts operand (when there is one, at <paramref name="countsIndex"/>).</summary>
    internal void Check(Op op, IReadOnlyList<Node> inputs, int countsIndex)
    {
        int operands = countsIndex + (HasCounts ? 1 : 0);
        FusedShapes.Operands(op, inputs, operands, operands + 1, (countsIndex == 1 ? "ids, " : "") + (HasCounts ? "unigrams, " : "") + "[step]");
        GumbelRows.CheckStep(op, inputs, operands);
        if (NumSampled < 0) throw new ShapeException(op.Name, $"num_sampled must be non-negative, got {NumSampled}");
        if (HasCounts)
        {
            var c = inputs[countsIndex];
            if (!c.DType.IsFloat() || c.Shape.Rank != 1 || c.Shape[0] < 1)
                throw new ShapeException(op.Name, $"unigrams must be a non-empty f32 or f64 vector [V], got {c.DType.Name()}{c.Shape}");
            if (!(Distortion >= 0 && double.IsFinite(Distortion))) throw new ShapeException(op.Name, $"distortion must be finite and non-negative, got {FusedShapes.Text(Distortion)}");
        }
        else if (RangeMax < 1) throw new ShapeException(op.Name, $"range_max must be at least 1, got {RangeMax}");
        int v = HasCounts ? inputs[countsIndex].Shape[0] : RangeMax;
        if (Unique && NumSampled > v)
            throw new ShapeException(op.Name, $"unique=true cannot draw num_sampled = {NumSampled} distinct classes out of {v}");
    }

    /// <summary>The probabilities of one run (the counts' value for fixed-unigram).</summary>
    internal CandidateProbabilities Probabilities(string op, Tensor? counts, object? state) => Distribution switch
    {
        CandidateDistribution.LogUniform => new CandidateProbabilities(RangeMax, null),
        CandidateDistribution.Uniform => new CandidateProbabilities(RangeMax, null, uniform: true),
        _ => ((CountsCache)state!).Get(op, counts!, Distortion),
    };

    /// <summary>The op state: the probabilities of the counts last seen, kept while the counts do not change.</summary>
    internal object? CreateState() => HasCounts ? new CountsCache() : null;

    /// <summary>The samples and the number of draws they took (S unless unique).</summary>
    internal (long[] Ids, long Tries) Draw(string op, CandidateProbabilities p, ulong stream)
    {
        var ids = new long[NumSampled];
        if (!Unique)
        {
            for (int i = 0; i < NumSampled; i++) ids[i] = p.Sample(GumbelNoise.KeyBits(stream, i));
            return (ids, NumSampled);
        }
        if (p.Support < NumSampled)
            throw new AutodiffException($"{op}: unique=true cannot draw {NumSampled} distinct classes: only {p.Support} have a nonzero probability");
        var used = new HashSet<long>();
        long tries = 0;
        const long MaxTries = 100_000_000;
        for (int picked = 0; picked < NumSampled; tries++)
        {
            if (tries == MaxTries)
                throw new AutodiffException($"{op}: unique=true drew {MaxTries} times and found only {picked} of {NumSampled} distinct classes (some classes are too improbable)");
            long id = p.Sample(GumbelNoise.KeyBits(stream, tries));
            if (used.Add(id)) ids[picked++] = id;
        }
        return (ids, tries);
    }

    /// <summary>TensorFlow's expected count of a class of probability p: p·S when every draw was kept, else the
    /// probability that it appears in <paramref name="tries"/> draws, 1 − (1 − p)^tries = −expm1(tries·log1p(−p)).</summary>
    internal double ExpectedCount(double p, long tries) =>
        tries == NumSampled ? p * NumSampled : -ScalarMath.Expm1(tries * ScalarMath.Log1p(-p));
}

/// <summary>The fixed-unigram probabilities of the counts last seen by one node: building them costs O(V) (a power and a
/// running sum per class), comparing the counts with the saved copy one vectorized pass, so a tape whose counts stay the
/// same builds them once.</summary>
internal sealed class CountsCache
{
    private Array? _counts;
    private CandidateProbabilities? _p;

    public CandidateProbabilities Get(string op, Tensor counts, double distortion)
    {
        bool same = (counts.Data, _counts) switch
        {
            (float[] a, float[] b) => a.AsSpan().SequenceEqual(b),
            (double[] a, double[] b) => a.AsSpan().SequenceEqual(b),
            _ => false,
        };
        if (same && _p is not null) return _p;
        _p = CandidateProbabilities.FromCounts(op, counts, distortion);
        _counts = (Array)counts.Data.Clone();
        return _p;
    }
}

/// <summary>The class probabilities of one run of a candidate sampler.</summary>
internal sealed class CandidateProbabilities
{
    private readonly double[]? _cdf;
    private readonly double[]? _p;
    private readonly bool _uniform;
    private readonly double _logRange;

    public CandidateProbabilities(int range, double[]? weights, bool uniform = false)
    {
        Range = range;
        _uniform = uniform;
        _logRange = Math.Log(range + 1.0);
        Support = range;
        if (weights is null) return;
        _cdf = new double[range];
        _p = new double[range];
        double total = 0;
        Support = 0;
        for (int i = 0; i < range; i++)
        {
            total += weights[i];
            _cdf[i] = total;
            if (weights[i] > 0) Support++;
        }
        for (int i = 0; i < range; i++) _p[i] = weights[i] / total;
    }

    /// <summary>V.</summary>
    public int Range { get; }

    /// <summary>Number of classes of nonzero probability.</summary>
    public int Support { get; }

    /// <summary>Weights count^distortion from a counts tensor; a negative or non-finite count, or all zero weights, is an
    /// error naming the op.</summary>
    public static CandidateProbabilities FromCounts(string op, Tensor counts, double distortion)
    {
        var w = new double[counts.Size];
        for (int i = 0; i < w.Length; i++)
        {
            double c = counts.GetDouble(i);
            if (!(c >= 0 && double.IsFinite(c)))
                throw new AutodiffException($"{op}: unigrams at position [{i}] is {Tensor.FormatNumber(c, DType.F64)}; counts must be finite and non-negative");
            w[i] = Math.Pow(c, distortion);
        }
        if (!(w.Sum() > 0 && double.IsFinite(w.Sum())))
            throw new AutodiffException($"{op}: the unigram weights count^{FusedShapes.Text(distortion)} sum to {Tensor.FormatNumber(w.Sum(), DType.F64)}; they must have a positive, finite total");
        return new CandidateProbabilities(w.Length, w);
    }

    /// <summary>P(id); 0 outside [0, V).</summary>
    public double P(long id)
    {
        if (id < 0 || id >= Range) return 0;
        if (_p is not null) return _p[id];
        return _uniform ? 1.0 / Range : ScalarMath.Log1p(1.0 / (id + 1)) / _logRange;
    }

    /// <summary>One class from 64 random bits: for log-uniform TensorFlow's ⌊exp(u·log(V + 1))⌋ − 1 (mod V); for uniform
    /// ⌊bits·V / 2⁶⁴⌋; for counts the first class whose cumulative weight exceeds u·total.</summary>
    public long Sample(ulong bits)
    {
        if (_uniform) return (long)Math.BigMul(bits, (ulong)Range, out _);
        double u = GumbelNoise.UniformFromBits(bits);
        if (_cdf is null) return ((long)Math.Exp(u * _logRange) - 1) % Range;
        double target = u * _cdf[^1];
        int lo = 0, hi = Range - 1;
        while (lo < hi)
        {
            int mid = (lo + hi) >>> 1;
            if (_cdf[mid] > target) hi = mid; else lo = mid + 1;
        }
        while (_p![lo] == 0) lo--;   // u·total rounded up to the total: the last class of nonzero weight
        return lo;
    }
}

/// <summary><c>log_uniform_candidate_sampler(num_sampled=S, range_max=V, unique=u, seed=s)</c>,
/// <c>uniform_candidate_sampler(...)</c> and <c>fixed_unigram_candidate_sampler(unigrams, num_sampled=S, unique=u,
/// distortion=d, seed=s)</c>: S class ids i64 [S] drawn from the distribution (<see cref="CandidateDistribution"/>), as
/// TensorFlow's candidate samplers do: independent draws, or with <c>unique=true</c> draws until S distinct classes have
/// been found (in the order first drawn). Draw t is keyed by (seed, t), or with the optional i64 scalar operand
/// <c>step</c> by (seed, step, t), as the Gumbel ops' noise. Not differentiable. The expected counts TensorFlow returns
/// alongside come from <see cref="ExpectedCountOp"/> with the same attributes and step.</summary>
/// <param name="Sampling">The distribution and its parameters.</param>
[NotExportable("no ONNX operator reproduces this library's random draws, a fixed function of the seed, the step and the draw index")]
public sealed record CandidateSamplerOp(CandidateSampling Sampling) : Op, IOpFunctions
{
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => Enum.GetValues<CandidateDistribution>().Select(d =>
        new FunctionSpec(new CandidateSampling(d, 0, 1, true, 1, 0).Prefix + "_candidate_sampler",
            [.. CandidateSampling.CountsParam(d), .. CandidateSampling.AttributeParams(d), GumbelNoiseOp.Step],
            c => Expr.CandidateSample(c.Builder, CandidateSampling.FromCall(d, c), CandidateSampling.Counts(d, c), c.OptionalTensor("step"))));
    /// <inheritdoc/>
    public override string Name => Sampling.Prefix + "_candidate_sampler";
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) => Sampling.Attributes();
    /// <summary><c>step</c> for the optional step operand.</summary>
    public override string? OperandName(int index) => GumbelRows.OperandName(index, Sampling.HasCounts ? 1 : 0);
    /// <inheritdoc/>
    public override object? CreateState(Node node) => Sampling.CreateState();
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        Sampling.Check(this, inputs, 0);
        return (new Shape(Sampling.NumSampled), DType.I64);
    }
    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => false;
    /// <inheritdoc/>
    public override void Forward(OpContext c)
    {
        int stepIndex = Sampling.HasCounts ? 1 : 0;
        var p = Sampling.Probabilities(Name, Sampling.HasCounts ? c.Inputs[0] : null, c.State);
        Sampling.Draw(Name, p, GumbelRows.Stream(c, Sampling.Seed, stepIndex)).Ids.CopyTo((long[])c.Output.Data, 0);
    }
    /// <inheritdoc/>
    public override void Backward(OpContext c) { }
    /// <summary>None: the result is an integer sample.</summary>
    public override Expr?[] Gradient(Node node, Expr g) => GumbelRows.NoGradient(node);
}

/// <summary><c>log_uniform_expected_count(ids, num_sampled=S, range_max=V, unique=u, seed=s, dtype=t)</c> (likewise
/// <c>uniform_expected_count</c>, and <c>fixed_unigram_expected_count(ids, unigrams, ...)</c>): TensorFlow's expected
/// count of each class id in the sample that <see cref="CandidateSamplerOp"/> with the same attributes (and step) draws:
/// P(id)·S, or with <c>unique=true</c> 1 − (1 − P(id))^n where n is the number of draws that sample took (TensorFlow's
/// approximation). Applied to the true labels it is TensorFlow's <c>true_expected_count</c>, applied to the samples its
/// <c>sampled_expected_count</c>. The result has the ids' shape and the float type <c>dtype</c>; an id outside [0, V)
/// has probability 0. Not differentiable.</summary>
/// <param name="Sampling">The sampler's distribution and parameters.</param>
/// <param name="Type">The float result type.</param>
[NotExportable("the expected counts of unique sampling depend on this library's random draws")]
public sealed record ExpectedCountOp(CandidateSampling Sampling, DType Type) : Op, IOpFunctions
{
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => Enum.GetValues<CandidateDistribution>().Select(d =>
        new FunctionSpec(new CandidateSampling(d, 0, 1, true, 1, 0).Prefix + "_expected_count",
            [FunctionParam.Tensor("ids"), .. CandidateSampling.CountsParam(d), .. CandidateSampling.AttributeParams(d), FunctionParam.DType("dtype"), GumbelNoiseOp.Step],
            c => c.Tensor("ids").ExpectedCount(CandidateSampling.FromCall(d, c), c.DType("dtype", c.DefaultFloat), CandidateSampling.Counts(d, c), c.OptionalTensor("step"))));
    /// <inheritdoc/>
    public override string Name => Sampling.Prefix + "_expected_count";
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) => [.. Sampling.Attributes(), ("dtype", Type.Name())];
    /// <inheritdoc/>
    public override Op WithFloatType(DType dtype) => this with { Type = dtype };
    /// <summary><c>step</c> for the optional step operand.</summary>
    public override string? OperandName(int index) => GumbelRows.OperandName(index, Sampling.HasCounts ? 2 : 1);
    /// <inheritdoc/>
    public override object? CreateState(Node node) => Sampling.CreateState();
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (inputs.Count == 0) throw new ShapeException(Name, "takes the class ids as its first operand");
        Sampling.Check(this, inputs, 1);
        if (inputs[0].DType != DType.I64) throw new ShapeException(Name, $"ids must be i64, got {inputs[0].DType.Name()}{inputs[0].Shape}");
        if (!Type.IsFloat()) throw new ShapeException(Name, $"dtype must be f32 or f64, got {Type.Name()}");
        return (inputs[0].Shape, Type);
    }
    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => false;
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        int stepIndex = Sampling.HasCounts ? 2 : 1;
        var p = Sampling.Probabilities(Name, Sampling.HasCounts ? c.Inputs[1] : null, c.State);
        long tries = Sampling.Unique ? Sampling.Draw(Name, p, GumbelRows.Stream(c, Sampling.Seed, stepIndex)).Tries : Sampling.NumSampled;
        var ids = (long[])c.Inputs[0].Data;
        var y = (T[])c.Output.Data;
        for (int i = 0; i < ids.Length; i++) y[i] = T.CreateTruncating(Sampling.ExpectedCount(p.P(ids[i]), tries));
    }
    /// <inheritdoc/>
    public override void Backward(OpContext c) { }
    /// <summary>None: expected counts are not differentiated.</summary>
    public override Expr?[] Gradient(Node node, Expr g) => GumbelRows.NoGradient(node);
}

public readonly partial struct Expr
{
    /// <summary>S class ids drawn by the candidate sampler <paramref name="sampling"/> (see <see cref="CandidateSamplerOp"/>);
    /// <paramref name="unigrams"/> are the counts of a fixed-unigram sampler; the optional i64 scalar
    /// <paramref name="step"/> keys the draws with the seed.</summary>
    public static Expr CandidateSample(GraphBuilder builder, CandidateSampling sampling, Expr? unigrams = null, Expr? step = null) =>
        builder.Make(new CandidateSamplerOp(sampling), SamplerOperands(sampling, [], unigrams, step)).Expr;

    /// <summary>TensorFlow's expected count of each id in <c>this</c> under the candidate sampler <paramref name="sampling"/>
    /// with the same step (see <see cref="ExpectedCountOp"/>).</summary>
    public Expr ExpectedCount(CandidateSampling sampling, DType dtype, Expr? unigrams = null, Expr? step = null) =>
        Builder.Make(new ExpectedCountOp(sampling, dtype), SamplerOperands(sampling, [Node], unigrams, step)).Expr;

    private static Node[] SamplerOperands(CandidateSampling sampling, Node[] first, Expr? unigrams, Expr? step)
    {
        if (sampling.HasCounts != unigrams.HasValue)
            throw new ShapeException(sampling.Prefix + "_candidate_sampler", sampling.HasCounts ? "needs the unigram counts" : "takes no unigram counts");
        return [.. first, .. unigrams is { } u ? new[] { u.Node } : [], .. step is { } s ? new[] { s.Node } : []];
    }
}
