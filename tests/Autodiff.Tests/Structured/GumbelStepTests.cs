using Autodiff.Tests.Interop;
using static Autodiff.Tests.Structured.GumbelData;

namespace Autodiff.Tests.Structured;

/// <summary>The optional i64 scalar <c>step</c> operand of the Gumbel ops: the noise is keyed by (seed, step value), so one
/// graph and one tape give fresh samples at every step. Oracles: <see cref="GumbelNoise.KeySample"/> in a plain loop,
/// the same graph in another builder and tape, chi-square tests against softmax(z) and against independence of
/// consecutive steps, finite differences and the symbolic gradient.</summary>
public class GumbelStepTests
{
    private const int Seed = 17;

    /// <summary>A step value as a tensor.</summary>
    private static Tensor StepValue(long step) => Tensor.FromArray(new[] { step }, Shape.Scalar);

    /// <summary>The four ops with a step operand, over logits z [16, 5] (the step input is called "s").</summary>
    public static TheoryData<string> Ops => new() { "gumbel_noise", "gumbel_max", "gumbel_top_k", "gumbel_softmax", "gumbel_softmax_hard" };

    private static Expr Build(string op, Expr z, Expr? step, DType dt) => op switch
    {
        "gumbel_noise" => Expr.GumbelNoise(z.Builder, [Rows, N], Seed, dt, step),
        "gumbel_max" => z.GumbelMax(Seed, axis: 1, step: step),
        "gumbel_top_k" => z.GumbelTopK(3, Seed, axis: 1, step: step),
        "gumbel_softmax" => z.GumbelSoftmax(0.5, Seed, axis: 1, step: step),
        _ => z.GumbelSoftmax(0.5, Seed, axis: 1, hard: true, step: step),
    };

    private const int Rows = 16, N = 5;

    /// <summary>Logits [16, 5]: enough rows that two steps' integer samples never coincide by chance.</summary>
    private static readonly double[] Logits = Tensor.RandomNormal(DType.F64, new Shape(Rows * N), new Random(5)).ToDoubleArray();

    /// <summary>The op's value at <paramref name="step"/> (null: no step operand), in a new builder and tape.</summary>
    private static double[] Value(string op, DType dt, long? step)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", dt, Rows, N);
        Expr? s = step is null ? default(Expr?) : b.Input("s", DType.I64);
        var inputs = new List<(string, Tensor)> { ("z", Tensor.FromDoubles(dt, new Shape(Rows, N), Logits)) };
        if (step is long v) inputs.Add(("s", StepValue(v)));
        return Eval(b.Build(Build(op, z, s, dt)), [.. inputs]).ToDoubleArray();
    }

    [Theory, MemberData(nameof(Ops))]
    public void SameSeedAndStepGiveBitIdenticalValuesAcrossTapes(string op)
    {
        foreach (var dt in new[] { DType.F32, DType.F64 })
            foreach (long step in new[] { 0L, 1, 2, -1, 1L << 40, long.MaxValue, long.MinValue })
            {
                var first = Value(op, dt, step);
                Assert.Equal(first.Select(BitConverter.DoubleToInt64Bits), Value(op, dt, step).Select(BitConverter.DoubleToInt64Bits));
                Assert.NotEqual(Value(op, dt, null), first);     // keyed by the step: not the stream of the seed alone
            }
    }

    [Theory, MemberData(nameof(Ops))]
    public void DifferentStepsGiveDifferentValuesFromOneTape(string op)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, Rows, N);
        var tape = new Tape(b.Build(Build(op, z, b.Input("s", DType.I64), DType.F64)), []);
        var x = Tensor.FromDoubles(DType.F64, new Shape(Rows, N), Logits);
        double[] At(long step) => tape.Forward(new Dictionary<string, Tensor> { ["z"] = x, ["s"] = StepValue(step) }).ToDoubleArray();
        var seen = new List<double[]>();
        for (long step = 0; step < 20; step++)
        {
            var v = At(step);
            Assert.DoesNotContain(seen, w => w.SequenceEqual(v));
            Assert.Equal(Value(op, DType.F64, step), v);      // one tape, many steps: the same as a fresh tape per step
            seen.Add(v);
        }
        Assert.Equal(seen[3], At(3));                         // going back to a step gives its values again
    }

    [Fact]
    public void NoiseIsTheKeyedStreamAndGumbelMaxItsArgmax()
    {
        // Oracle: GumbelNoise.KeySample(Key(seed, step), flat index) in a loop.
        foreach (long step in new[] { 0L, 5, -3 })
        {
            ulong key = GumbelNoise.Key(Seed, step);
            var noise = Value("gumbel_noise", DType.F64, step);
            for (int i = 0; i < noise.Length; i++) Assert.Equal(GumbelNoise.KeySample(key, i), noise[i]);
            var k = Value("gumbel_max", DType.F64, step);
            for (int r = 0; r < Rows; r++)
            {
                var row = Enumerable.Range(0, N).Select(j => Logits[N * r + j] + GumbelNoise.KeySample(key, N * r + j)).ToArray();
                Assert.Equal(Array.IndexOf(row, row.Max()), k[r]);
            }
        }
        // Without a step, the stream of the seed alone, as before the step existed.
        var seedOnly = Value("gumbel_noise", DType.F64, null);
        for (int i = 0; i < seedOnly.Length; i++) Assert.Equal(GumbelNoise.Sample(Seed, i), seedOnly[i]);
    }

    [Fact]
    public void StreamsOfNearbyStepsAreUncorrelated()
    {
        const int n = 100_000;
        double[] Stream(long step) => Enumerable.Range(0, n).Select(i => GumbelNoise.KeySample(GumbelNoise.Key(Seed, step), i)).ToArray();
        double[] s0 = Stream(0), s1 = Stream(1);
        double[] seedOnly = Enumerable.Range(0, n).Select(i => GumbelNoise.Sample(Seed, i)).ToArray();
        double[] otherSeed = Enumerable.Range(0, n).Select(i => GumbelNoise.KeySample(GumbelNoise.Key(Seed + 1, 0), i)).ToArray();
        // |correlation| of independent samples is about 1/sqrt(n) = 0.003.
        foreach (var other in new[] { s1, seedOnly, otherSeed, Stream(-1) })
            Assert.InRange(MathNet.Numerics.Statistics.Correlation.Pearson(s0, other), -0.015, 0.015);
    }

    public static TheoryData<double[], DType> DrawLogits => new()
    {
        { [0.5, -1, 2, 0, 1, -2], DType.F64 },
        { [1000, 1001, 999], DType.F32 },
    };

    [Theory, MemberData(nameof(DrawLogits))]
    public void OneTapeDrawsFollowSoftmaxAcrossSteps(double[] logits, DType dt)
    {
        // One draw per step from ONE tape, the step being an input: 60,000 draws fit softmax(z), and the pairs of
        // consecutive draws (k_t, k_t+1) fit softmax(z) ⊗ softmax(z) (nearby steps are independent).
        const int steps = 60_000;
        int n = logits.Length;
        var b = new GraphBuilder();
        var z = b.Input("z", dt, n);
        var tape = new Tape(b.Build(z.GumbelMax(Seed, step: b.Input("s", DType.I64))), []);
        var inputs = new Dictionary<string, Tensor> { ["z"] = Vector(dt, logits) };
        var draws = new long[steps];
        for (int t = 0; t < steps; t++)
        {
            inputs["s"] = StepValue(t);
            draws[t] = Longs(tape.Forward(inputs))[0];
        }
        var p = Softmax(logits);
        double single = ChiSquarePValue(Histogram(draws, n), p);
        Assert.True(single > 0.001, $"chi-square p-value {single:G3}: counts {string.Join(", ", Histogram(draws, n))}");
        var pairs = Histogram(Enumerable.Range(0, steps - 1).Select(t => draws[t] * n + draws[t + 1]), n * n);
        double joint = ChiSquarePValue(pairs, [.. p.SelectMany(a => p.Select(c => a * c))]);
        Assert.True(joint > 0.001, $"chi-square p-value of consecutive pairs {joint:G3}");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GumbelSoftmaxWithAStepPassesGradientChecks(bool hard)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, Rows, N);
        var w = b.Input("w", DType.F64, Rows, N);
        var s = b.Input("s", DType.I64);
        var y = z.GumbelSoftmax(0.7, Seed, axis: 1, hard: hard, step: s);
        var loss = b.Build((y * w).Sum());
        foreach (long step in new[] { 0L, 9 })
        {
            var x = new Dictionary<string, Tensor>
            {
                ["z"] = Tensor.FromDoubles(DType.F64, new Shape(Rows, N), Logits),
                ["w"] = Tensor.RandomNormal(DType.F64, new Shape(Rows, N), new Random(2)),
                ["s"] = StepValue(step),
            };
            var tape = new Tape(loss).Run(x).Gradients;
            Assert.False(tape.ContainsKey("s"));
            var symbolic = SymbolicGradient.Of(loss);
            Assert.Equal(["w", "z"], symbolic.Keys.Order());
            Fused.FusedRun.AssertClose(new Tape(b.Build(symbolic["z"])).Forward(x).ToDoubleArray(), tape["z"].ToDoubleArray(), 1e-12, $"symbolic, step {step}");
            if (hard) continue;   // the one-hot forward is piecewise constant: finite differences see no slope
            var r = GradientChecker.Check(loss, x);
            Assert.True(r.Passed, r.ToString());
        }
    }

    [Fact]
    public void TheStepHasNoGradient()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, Rows, N);
        var s = b.Input("s", DType.I64);
        foreach (var op in new[] { "gumbel_noise", "gumbel_max", "gumbel_top_k", "gumbel_softmax", "gumbel_softmax_hard" })
        {
            var e = Build(op, z, s, DType.F64);
            var grads = e.Node.Op.Gradient(e.Node, e);
            Assert.Equal(e.Node.Inputs.Count, grads.Length);
            Assert.Null(grads[^1]);
            Assert.False(e.Node.Op.IsDifferentiable(e.Node, e.Node.Inputs.Count - 1));
        }
    }

    public static TheoryData<DType, int[]> BadSteps => new()
    {
        { DType.F64, [] },
        { DType.F32, [] },
        { DType.I64, [1] },
        { DType.I64, [2, 2] },
    };

    [Theory, MemberData(nameof(BadSteps))]
    public void AStepThatIsNotAnI64ScalarIsAShapeErrorNamingTheOp(DType dt, int[] shape)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, Rows, N);
        var s = b.Input("s", dt, shape);
        string got = $"got {dt.Name()}{new Shape(shape)}";
        foreach (var op in new[] { "gumbel_noise", "gumbel_max", "gumbel_top_k", "gumbel_softmax", "gumbel_softmax_hard" })
        {
            var ex = Assert.Throws<ShapeException>(() => Build(op, z, s, DType.F64));
            Assert.Equal($"{op.Replace("_hard", "")}: step must be an i64 scalar (shape []), {got}", ex.Message);
        }
    }

    [Fact]
    public void TooManyOperandsAreShapeErrors()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, Rows, N);
        var s = b.Input("s", DType.I64);
        Assert.Contains("gumbel_max: takes 1 or 2 operands (logits[, step]), got 3", Assert.Throws<ShapeException>(() => z.Apply(new GumbelMaxOp(1, 0), s, s)).Message);
        Assert.Contains("gumbel_noise: takes 0 or 1 operands ([step]), got 2",
            Assert.Throws<ShapeException>(() => b.Make(new GumbelNoiseOp(new IntList(2), 0, DType.F64), s.Node, s.Node)).Message);
    }

    [Fact]
    public void AStepOperandIsRefusedByTheOnnxExporterLikeTheOp()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F32, Rows, N);
        var s = b.Input("s", DType.I64);
        foreach (var op in new[] { "gumbel_noise", "gumbel_max", "gumbel_top_k", "gumbel_softmax" })
        {
            var g = b.Build(Build(op, z, s, DType.F32));
            Assert.Equal($"onnx export: op '{op}' has no ONNX mapping ({OpRegistry.NotExportableReason(typeof(GumbelMaxOp))})",
                Assert.Throws<AutodiffException>(() => OnnxRun.Export(g)).Message);
        }
    }
}
