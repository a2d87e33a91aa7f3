using System.Globalization;
using Autodiff.Text;
using Xunit.Abstractions;

namespace Autodiff.Tests.Structured;

/// <summary><c>truncated_gumbel(g, z, t)</c> = −log(e^−t − e^−z + e^−g) against reference values computed with mpmath at 100
/// digits (scripts/truncated_gumbel_reference.py): ours within a few roundings of the inputs, the naive formula failing
/// (overflow, underflow, cancellation) on the extreme rows; its partial derivatives; the op through the tape in f64 and f32
/// with broadcasting; finite differences; the symbolic gradient; non-finite inputs; the language; errors.</summary>
public class TruncatedGumbelTests(ITestOutputHelper output)
{
    public sealed record Reference(string Name, double G, double Z, double T, double Y, double DG, double DZ, double DT)
    {
        /// <summary>|y| + Σ |x·∂y/∂x|: what rounding every input and the result by one ulp can move y by, in ulps.</summary>
        public double Condition => Math.Abs(Y) + Term(G, DG) + Term(Z, DZ) + Term(T, DT);

        private static double Term(double x, double d) => double.IsInfinity(x) ? 0 : Math.Abs(x * d);

        /// <summary>The error allowed: 4 roundings of the condition (at least the smallest double).</summary>
        public double Tolerance => Math.Max(4 * Epsilon * Condition, double.Epsilon);
    }

    private const double Epsilon = 1.1102230246251565E-16;   // 2^-53

    public static IReadOnlyList<Reference> References { get; } = Load();

    private static Reference[] Load()
    {
        var lines = File.ReadAllLines(Path.Combine(AppContext.BaseDirectory, "Structured", "TruncatedGumbelReference.csv"));
        static double D(string s) => s == "inf" ? double.PositiveInfinity : double.Parse(s, CultureInfo.InvariantCulture);
        return [.. lines.Skip(1).Select(l => l.Split(',')).Select(f => new Reference(f[0], D(f[1]), D(f[2]), D(f[3]), D(f[4]), D(f[5]), D(f[6]), D(f[7])))];
    }

    /// <summary>Rows where the formula as written must fail: its error is non-finite or over 10⁴ times our tolerance.</summary>
    private static readonly string[] NaiveFails = ["g near z; t >> z", "g >> t: tiny correction", "g >> t: e^-t overflows", "logit -1000", "logit -1000 deep", "logits +1000", "logits +-1000"];

    [Fact]
    public void MatchesTheHighPrecisionReferenceWhereTheNaiveFormulaFails()
    {
        Assert.Equal(30, References.Count);
        output.WriteLine($"| case | g | z | t | reference | ours | naive | ours err/tol | naive err/tol |");
        var failures = new List<string>();
        foreach (var r in References)
        {
            double ours = TruncatedGumbel.Shift(r.G, r.Z, r.T), naive = TruncatedGumbel.Naive(r.G, r.Z, r.T);
            double oursRatio = Math.Abs(ours - r.Y) / r.Tolerance, naiveRatio = Math.Abs(naive - r.Y) / r.Tolerance;
            output.WriteLine($"| {r.Name} | {r.G:R} | {r.Z:R} | {r.T:R} | {r.Y:R} | {ours:R} | {naive:R} | {oursRatio:G2} | {naiveRatio:G2} |");
            if (!(oursRatio <= 1)) failures.Add($"{r.Name} ({r.G:R}, {r.Z:R}, {r.T:R}): ours {ours:R}, reference {r.Y:R}, tolerance {r.Tolerance:G3}");
            bool naiveFailed = !double.IsFinite(naive) || naiveRatio > 1e4;
            if (NaiveFails.Contains(r.Name) != naiveFailed)
                failures.Add($"{r.Name} ({r.G:R}, {r.Z:R}, {r.T:R}): naive {naive:R} against {r.Y:R} was expected to {(naiveFailed ? "pass" : "fail")}");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    /// <summary>The formula as written in the language, over the reference rows: the simplifier's <c>truncated-gumbel</c>
    /// rule turns it into the op (then double negation removes the outer minus), whose values are the stable ones, where the
    /// naive graph gives ±inf or NaN on every overflowing row.</summary>
    [Fact]
    public void TheSimplifierRewritesTheFormulaAsWrittenIntoTheStableOp()
    {
        int n = References.Count;
        var naive = Parser.Parse($"input g: f64[{n}]\ninput z: f64[{n}]\ninput t: f64[{n}]\ny = -log(exp(-t) - exp(-z) + exp(-g))\noutput y");
        var result = Autodiff.Rewrite.Simplifier.Simplify(naive);
        Assert.Equal("truncated_gumbel(g, z, t)", Printer.Print(result.After).Split('\n').Single(l => l.StartsWith("y = "))[4..]);
        var x = new Dictionary<string, Tensor>
        {
            ["g"] = Tensor.FromArray(References.Select(r => r.G).ToArray(), n),
            ["z"] = Tensor.FromArray(References.Select(r => r.Z).ToArray(), n),
            ["t"] = Tensor.FromArray(References.Select(r => r.T).ToArray(), n),
        };
        var before = new Tape(naive, []).Forward(x).ToDoubleArray();
        var after = new Tape(result.After, []).Forward(x).ToDoubleArray();
        int naiveNonFinite = 0;
        for (int i = 0; i < n; i++)
        {
            var r = References[i];
            Assert.Equal(TruncatedGumbel.Shift(r.G, r.Z, r.T), after[i]);
            Assert.True(Math.Abs(after[i] - r.Y) <= r.Tolerance, $"{r.Name}: {after[i]:R}, reference {r.Y:R}");
            if (!double.IsFinite(before[i])) naiveNonFinite++;
        }
        Assert.Equal(10, naiveNonFinite);
    }

    [Fact]
    public void PartialDerivativesMatchTheReference()
    {
        foreach (var r in References)
        {
            var (dg, dz, dt) = TruncatedGumbel.Partials(r.G, r.Z, r.T, TruncatedGumbel.Shift(r.G, r.Z, r.T));
            // e^(y − x) carries y's absolute error as a relative one
            double rel = 4 * Epsilon * Math.Max(1, r.Condition) + 1e-15;
            foreach (var (name, ours, exact) in new[] { ("g", dg, r.DG), ("z", dz, r.DZ), ("t", dt, r.DT) })
                Assert.True(Math.Abs(ours - exact) <= rel * Math.Abs(exact) + 1e-300, $"{r.Name}: d/d{name} {ours:R}, reference {exact:R}");
            Assert.Equal(1, dg + dz + dt, 1e-9 * Math.Max(1, Math.Abs(dg)));
        }
    }

    [Fact]
    public void TheArgmaxChildKeepsTheTruncationExactlyAndTEqualZKeepsG()
    {
        foreach (double x in new[] { -1000.0, -2.5, 0, 0.3, 17, 1000 })
            foreach (double t in new[] { -999.5, -1.0, 0.25, 40 })
            {
                Assert.Equal(t, TruncatedGumbel.Shift(x, x, t));
                Assert.Equal(x, TruncatedGumbel.Shift(x, t, t));
            }
    }

    [Fact]
    public void ShiftIsIncreasingInGAndEquivariantUnderACommonShift()
    {
        var rng = new Random(5);
        for (int i = 0; i < 2000; i++)
        {
            double z = rng.NextDouble() * 10 - 5, t = rng.NextDouble() * 10 - 5, g1 = z - rng.NextDouble() * 8, g2 = z - rng.NextDouble() * 8;
            (g1, g2) = (Math.Min(g1, g2), Math.Max(g1, g2));
            double y1 = TruncatedGumbel.Shift(g1, z, t), y2 = TruncatedGumbel.Shift(g2, z, t);
            Assert.True(y1 <= y2 && y2 <= t, $"({g1}, {g2}, {z}, {t}) -> {y1}, {y2}");
            double c = rng.NextDouble() * 2000 - 1000;
            Assert.Equal(y1 + c, TruncatedGumbel.Shift(g1 + c, z + c, t + c), 1e-9 * (1 + Math.Abs(c)));
        }
    }

    public static TheoryData<double, double, double, double> NonFinite => new()
    {
        { double.NegativeInfinity, 0.5, 1.0, double.NegativeInfinity },   // a child of probability 0
        { -1.0, 0.5, double.PositiveInfinity, -0.747517541074546 },      // no truncation: −log(e^−g − e^−z)
        { -1.0, double.PositiveInfinity, 0.5, -1.2014132779827524 },     // −log(e^−t + e^−g) = −logaddexp(−t, −g)
        { 0.5, 0.5, double.PositiveInfinity, double.PositiveInfinity },   // g = z gives t
        { 3.0, -1.0, 4.0, double.NaN },                                   // e^−t − e^−z + e^−g < 0: no real value
        { double.NaN, 0.5, 1.0, double.NaN },
        { 0.0, 0.5, double.NaN, double.NaN },
    };

    [Theory, MemberData(nameof(NonFinite))]
    public void NonFiniteInputsFollowTheLimits(double g, double z, double t, double expected)
    {
        double y = TruncatedGumbel.Shift(g, z, t);
        if (double.IsNaN(expected)) Assert.True(double.IsNaN(y), $"{y}");
        else Assert.Equal(expected, y, 1e-15 * Math.Max(1, Math.Abs(expected)));
    }

    [Fact]
    public void AChildOfProbabilityZeroGetsGradientOneInsteadOfNaN()
    {
        var (dg, dz, dt) = TruncatedGumbel.Partials(double.NegativeInfinity, 0.5, 1, double.NegativeInfinity);
        Assert.Equal((1.0, 0.0, 0.0), (dg, dz, dt));
        Assert.Equal((0.0, 0.0, 1.0), TruncatedGumbel.Partials(0.2, 0.5, double.NegativeInfinity, double.NegativeInfinity));
    }

    private static Graph Broadcasting(DType dt, out GraphBuilder b)
    {
        b = new GraphBuilder();
        var g = b.Input("g", dt, 3, 4);
        var z = b.Input("z", dt, 3, 1);
        var t = b.Input("t", dt, 4);
        return b.Build(g.TruncatedGumbel(z, t).Square().Sum());
    }

    private static Dictionary<string, Tensor> BroadcastingInputs(DType dt, double scale = 1)
    {
        var rng = new Random(11);
        double[] z = [.. Enumerable.Range(0, 3).Select(_ => scale * (rng.NextDouble() * 2 - 1))];
        double[] g = [.. Enumerable.Range(0, 12).Select(i => z[i / 4] - rng.NextDouble() * 3 - 0.05)];
        double[] t = [.. Enumerable.Range(0, 4).Select(_ => scale * (rng.NextDouble() * 2 - 1))];
        return new()
        {
            ["g"] = Tensor.FromDoubles(dt, new Shape(3, 4), g),
            ["z"] = Tensor.FromDoubles(dt, new Shape(3, 1), z),
            ["t"] = Tensor.FromDoubles(dt, new Shape(4), t),
        };
    }

    [Fact]
    public void TheOpBroadcastsAndEqualsTheScalarFunctionInF64AndF32()
    {
        foreach (var dt in new[] { DType.F64, DType.F32 })
            foreach (double scale in new[] { 1.0, 1000.0 })
            {
                var x = BroadcastingInputs(dt, scale);
                var b = new GraphBuilder();
                var y = new Tape(b.Build(b.Input("g", dt, 3, 4).TruncatedGumbel(b.Input("z", dt, 3, 1), b.Input("t", dt, 4))), []).Forward(x).ToDoubleArray();
                double[] g = x["g"].ToDoubleArray(), z = x["z"].ToDoubleArray(), t = x["t"].ToDoubleArray();
                for (int i = 0; i < 12; i++)
                {
                    double e = TruncatedGumbel.Shift(g[i], z[i / 4], t[i % 4]);
                    Assert.True(double.IsFinite(y[i]), $"{dt} scale {scale}: element {i} is {y[i]}");
                    Assert.Equal(dt == DType.F64 ? e : (float)e, y[i]);
                }
            }
    }

    [Fact]
    public void GradientMatchesCentralDifferences()
    {
        var r = GradientChecker.Check(Broadcasting(DType.F64, out _), BroadcastingInputs(DType.F64));
        Assert.True(r.Passed, r.ToString());
    }

    [Fact]
    public void SymbolicGradientAgreesWithTheTape()
    {
        var graph = Broadcasting(DType.F64, out var b);
        var x = BroadcastingInputs(DType.F64);
        var tape = new Tape(graph).Run(x).Gradients;
        var symbolic = SymbolicGradient.Of(graph);
        foreach (var name in new[] { "g", "z", "t" })
            Fused.FusedRun.AssertClose(tape[name].ToDoubleArray(), new Tape(b.Build(symbolic[name])).Forward(x).ToDoubleArray(), 1e-12, name);
    }

    [Fact]
    public void FloatPathAgreesWithDoublePath() =>
        Assert.True(GradientChecker.CompareFloatToDouble(Broadcasting(DType.F64, out _), BroadcastingInputs(DType.F64)) < 1e-4);

    [Fact]
    public void ParsesAndPrintsInTheLanguage()
    {
        const string source = "input g: f64[3, 4]\ninput z: f64[3, 1]\ninput t: f64[4]\ny = truncated_gumbel(g, z, t)\noutput y";
        var parsed = Parser.Parse(source);
        Assert.IsType<TruncatedGumbelOp>(parsed.Output.Op);
        Assert.Contains("truncated_gumbel(g, z, t)", Text.TextAssert.RoundTrips(parsed));
    }

    [Fact]
    public void BadOperandsAreShapeErrorsNamingTheOp()
    {
        static Expr Call(int[] gs, DType zt, int[] zs)
        {
            var b = new GraphBuilder();
            return b.Input("g", DType.F64, gs).TruncatedGumbel(b.Input("z", zt, zs), b.Input("t", DType.F64, 4));
        }
        var e = Assert.Throws<ShapeException>(() => Call([3, 4], DType.F64, [2]));
        Assert.Contains("truncated_gumbel", e.Message);
        Assert.Contains("[3, 4]", e.Message);
        e = Assert.Throws<ShapeException>(() => Call([4], DType.F32, [4]));
        Assert.Contains("truncated_gumbel", e.Message);
        e = Assert.Throws<ShapeException>(() => Call([4], DType.I64, [4]));
        Assert.Contains("z must be f32 or f64", e.Message);
    }
}
