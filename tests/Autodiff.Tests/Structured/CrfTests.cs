using Autodiff.Tests.Fused;

namespace Autodiff.Tests.Structured;

/// <summary>The CRF ops against brute-force enumeration of all L^T paths (double, 1e-10), finite differences, the naive
/// core-op graph, and float32 against float64.</summary>
public class CrfTests
{
    internal static readonly CrfSetup[] Setups =
    [
        new(5, 6, 4),
        new(5, 6, 3, Start: false, End: false),
        new(3, 5, 4, Start: true, End: false, Lengths: false),
        new(4, 4, 2, Start: false, End: true, Lengths: false, Seed: 2),
        new(5, 3, 1, Seed: 3),
        new(6, 1, 4, Seed: 4),
    ];

    public static TheoryData<int, DType> SetupsByType()
    {
        var d = new TheoryData<int, DType>();
        for (int i = 0; i < Setups.Length; i++)
        {
            d.Add(i, DType.F64);
            d.Add(i, DType.F32);
        }
        return d;
    }

    private static double Tol(DType dt) => dt == DType.F64 ? 1e-10 : 1e-5;

    private static double[] Run(Graph g, IReadOnlyDictionary<string, Tensor> x) => new Tape(g, []).Forward(x).ToDoubleArray();

    private static double[] Concat(IEnumerable<double[]> parts) => parts.SelectMany(p => p).ToArray();

    [Theory, MemberData(nameof(SetupsByType))]
    public void ValuesMatchBruteForce(int setup, DType dt)
    {
        var c = Setups[setup];
        var x = c.Values(dt);
        var exact = c.Exact(x);
        double tol = Tol(dt);
        FusedRun.AssertClose(exact.Select(r => r.LogZ).ToArray(), Run(c.LogPartition(dt), x), tol, $"{c} log Z");
        FusedRun.AssertClose(exact.Select(r => r.Gold - r.LogZ).ToArray(), Run(c.LogLikelihood(dt), x), tol, $"{c} log-likelihood");
        Graph Part(CrfPart p) => c.Graph(dt, v => v.E.CrfMarginals(v.A, v.S, v.F, v.N, p));
        FusedRun.AssertClose(Concat(exact.Select(r => r.Node)), Run(Part(CrfPart.Nodes), x), tol, $"{c} node marginals");
        FusedRun.AssertClose(Concat(exact.Select(r => r.Edges)), Run(Part(CrfPart.Edges), x), tol, $"{c} edge marginals");
        FusedRun.AssertClose(Concat(exact.Select(r => r.Start)), Run(Part(CrfPart.Start), x), tol, $"{c} start marginals");
        FusedRun.AssertClose(Concat(exact.Select(r => r.End)), Run(Part(CrfPart.End), x), tol, $"{c} end marginals");
    }

    [Theory, MemberData(nameof(SetupsByType))]
    public void ViterbiMatchesBruteForce(int setup, DType dt)
    {
        var c = Setups[setup];
        var x = c.Values(dt);
        var exact = c.Exact(x);
        var path = Run(c.Graph(dt, v => v.E.CrfViterbi(v.A, v.S, v.F, v.N)), x);
        Assert.Equal(exact.SelectMany(r => r.Best).Select(v => (double)v), path);
        FusedRun.AssertClose(exact.Select(r => r.BestScore).ToArray(), Run(c.Graph(dt, v => v.E.CrfViterbiScore(v.A, v.S, v.F, v.N)), x), Tol(dt), $"{c} Viterbi score");
    }

    /// <summary>The vector-Jacobian product with cotangent g: g·(gold − marginals) for the log-likelihood and
    /// g·marginals for log Z, by input name, from brute force; 0 for a sequence whose value is −inf (no allowed path, or
    /// for the log-likelihood a forbidden gold path).</summary>
    internal static Dictionary<string, double[]> ExpectedGradient(CrfSetup c, IReadOnlyDictionary<string, Tensor> x, CrfExact[] exact, double[] g, bool gold)
    {
        var tags = (long[])x["tags"].Data;
        double sign = gold ? -1 : 1;
        var ge = new double[c.B * c.T * c.L];
        var ga = new double[c.L * c.L];
        double[] gs = new double[c.L], gf = new double[c.L];
        for (int b = 0; b < c.B; b++)
        {
            int n = c.Length(b);
            var r = exact[b];
            if (double.IsNegativeInfinity(r.LogZ) || (gold && double.IsNegativeInfinity(r.Gold))) continue;
            for (int i = 0; i < n * c.L; i++) ge[b * c.T * c.L + i] = sign * g[b] * r.Node[i];
            for (int i = 0; i < c.L * c.L; i++) ga[i] += sign * g[b] * r.Edges[i];
            for (int i = 0; i < c.L; i++) { gs[i] += sign * g[b] * r.Start[i]; gf[i] += sign * g[b] * r.End[i]; }
            if (!gold || n == 0) continue;
            for (int t = 0; t < n; t++) ge[(b * c.T + t) * c.L + tags[b * c.T + t]] += g[b];
            for (int t = 1; t < n; t++) ga[tags[b * c.T + t - 1] * c.L + tags[b * c.T + t]] += g[b];
            gs[tags[b * c.T]] += g[b];
            gf[tags[b * c.T + n - 1]] += g[b];
        }
        return new() { ["e"] = ge, ["A"] = ga, ["s"] = gs, ["f"] = gf };
    }

    /// <summary>The tape's vector-Jacobian product is g·(gold − marginals) for the log-likelihood and g·marginals for
    /// log Z, with the marginals from brute force.</summary>
    [Theory, MemberData(nameof(SetupsByType))]
    public void GradientIsMarginalsMinusGold(int setup, DType dt)
    {
        var c = Setups[setup];
        var x = c.Values(dt);
        var exact = c.Exact(x);
        var cot = FusedRun.Cotangent(dt, new Shape(c.B));
        foreach (bool gold in new[] { true, false })
        {
            var (_, grads) = FusedRun.Run(gold ? c.LogLikelihood(dt) : c.LogPartition(dt), x, c.Wrt, cot);
            var expected = ExpectedGradient(c, x, exact, cot.ToDoubleArray(), gold);
            foreach (var w in c.Wrt) FusedRun.AssertClose(expected[w], grads[w], Tol(dt), $"{c} {(gold ? "log-likelihood" : "log Z")} d/d{w}");
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void GradientCheckAgainstFiniteDifferences(int setup)
    {
        var c = Setups[setup];
        var x = c.Values(DType.F64);
        foreach (var graph in new[] { c.LogLikelihood(DType.F64), c.LogPartition(DType.F64) })
        {
            var r = GradientChecker.Check(graph, x, c.Wrt);
            Assert.True(r.Passed, $"{c}: {r}");
        }
    }

    /// <summary>The fused op and the naive loop of logsumexp over time steps agree in value and gradient.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    public void NaiveCoreOpGraphGivesTheSameValueAndGradient(int setup)
    {
        var c = Setups[setup];
        var x = c.NaiveInputs(DType.F64);
        var cot = FusedRun.Cotangent(DType.F64, new Shape(c.B));
        var (fv, fg) = FusedRun.Run(c.LogLikelihood(DType.F64), x, c.Wrt, cot);
        var (nv, ng) = FusedRun.Run(c.Naive(DType.F64), x, c.Wrt, cot);
        FusedRun.AssertClose(nv, fv, 1e-10, $"{c} value");
        foreach (var w in c.Wrt) FusedRun.AssertClose(ng[w], fg[w], 1e-10, $"{c} d/d{w}");
    }

    /// <summary>The symbolic gradient (path marginals minus model marginals, as graph expressions) evaluates to the
    /// tape's gradient.</summary>
    [Theory]
    [InlineData(0, true)]
    [InlineData(0, false)]
    [InlineData(2, true)]
    [InlineData(3, false)]
    public void SymbolicGradientAgreesWithTheTape(int setup, bool gold)
    {
        var c = Setups[setup];
        var (b, e, a, s, f, tags, n) = c.Declare(DType.F64);
        var w = b.Input("w", DType.F64, c.B);
        var y = gold ? e.CrfLogLikelihood(a, tags, s, f, n) : e.CrfLogPartition(a, s, f, n);
        var graph = b.Build((y * w).Sum());
        var x = c.Values(DType.F64);
        x["w"] = FusedRun.Cotangent(DType.F64, new Shape(c.B));
        var tape = new Tape(graph, c.Wrt).Run(x).Gradients.ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        foreach (var (name, grad) in SymbolicGradient.Of(graph, c.Wrt))
            FusedRun.AssertClose(tape[name], Run(b.Build(grad), x), 1e-12, $"{c} symbolic d/d{name}");
    }

    [Theory]
    [InlineData(0)]
    [InlineData(2)]
    [InlineData(3)]
    public void Float32AgreesWithFloat64(int setup)
    {
        var c = Setups[setup];
        var x = c.Values(DType.F64);
        foreach (var graph in new[] { c.LogLikelihood(DType.F64), c.LogPartition(DType.F64) })
        {
            double d = GradientChecker.CompareFloatToDouble(graph, x, c.Wrt);
            Assert.True(d < 1e-5, $"{c}: float32 differs from float64 by {d:G3}");
        }
    }

    /// <summary>Scores of magnitude 1e3 (where many steps of the scaled forward and backward recursions underflow and
    /// fall back to log-sum-exps): finite values, marginals and gradients that match brute force.</summary>
    [Theory]
    [InlineData(DType.F64)]
    [InlineData(DType.F32)]
    public void LargeScoresStayFiniteAndExact(DType dt)
    {
        var c = new CrfSetup(5, 6, 4, Scale: 1000, Seed: 9);
        var x = c.Values(dt);
        var exact = c.Exact(x);
        var cot = FusedRun.Cotangent(dt, new Shape(c.B));
        double tol = dt == DType.F64 ? 1e-10 : 1e-5;
        foreach (bool gold in new[] { true, false })
        {
            var (v, grads) = FusedRun.Run(gold ? c.LogLikelihood(dt) : c.LogPartition(dt), x, c.Wrt, cot);
            FusedRun.AssertAllFinite(v, "value");
            var expected = ExpectedGradient(c, x, exact, cot.ToDoubleArray(), gold);
            foreach (var w in c.Wrt)
            {
                FusedRun.AssertAllFinite(grads[w], $"d/d{w}");
                FusedRun.AssertClose(expected[w], grads[w], tol, $"scale 1e3 d/d{w}");
            }
            FusedRun.AssertClose(exact.Select(r => gold ? r.Gold - r.LogZ : r.LogZ).ToArray(), v, tol, $"scale 1e3 {(gold ? "log-likelihood" : "log Z")}");
        }
        var edges = Run(c.Graph(dt, v => v.E.CrfMarginals(v.A, v.S, v.F, v.N, CrfPart.Edges)), x);
        FusedRun.AssertClose(Concat(exact.Select(r => r.Edges)), edges, tol, "scale 1e3 edge marginals");
    }

    /// <summary>−inf transition scores forbid transitions: the marginals of forbidden pairs are exactly 0 and everything
    /// else still matches brute force.</summary>
    [Fact]
    public void ForbiddenTransitionsGetZeroMarginals()
    {
        var c = new CrfSetup(5, 5, 3, Seed: 5);
        var x = c.Values(DType.F64);
        var a = x["A"];
        a.SetDouble(0 * 3 + 1, double.NegativeInfinity);
        a.SetDouble(2 * 3 + 2, double.NegativeInfinity);
        var exact = c.Exact(x);
        FusedRun.AssertClose(exact.Select(r => r.LogZ).ToArray(), Run(c.LogPartition(DType.F64), x), 1e-10, "log Z");
        var edges = Run(c.Graph(DType.F64, v => v.E.CrfMarginals(v.A, v.S, v.F, v.N, CrfPart.Edges)), x);
        FusedRun.AssertClose(Concat(exact.Select(r => r.Edges)), edges, 1e-10, "edge marginals");
        for (int b = 0; b < c.B; b++) Assert.Equal(0.0, edges[b * 9 + 1]);
        var (_, grads) = FusedRun.Run(c.LogPartition(DType.F64), x, c.Wrt, FusedRun.Cotangent(DType.F64, new Shape(c.B)));
        foreach (var w in c.Wrt) FusedRun.AssertAllFinite(grads[w], $"d/d{w}");
    }

    [Fact]
    public void EmptySequencesGiveZeroAndZeroGradient()
    {
        var c = new CrfSetup(2, 4, 3);
        var x = c.Values(DType.F64);
        x["n"] = Tensor.FromArray(new long[] { 0, 0 }, 2);
        var (v, grads) = FusedRun.Run(c.LogLikelihood(DType.F64), x, c.Wrt, Tensor.FromArray(new[] { 1.0, -2.0 }, 2));
        Assert.Equal([0.0, 0.0], v);
        foreach (var w in c.Wrt) Assert.All(grads[w], d => Assert.Equal(0.0, d));
        Assert.All(Run(c.Graph(DType.F64, e => e.E.CrfViterbi(e.A, e.S, e.F, e.N)), x), p => Assert.Equal(-1.0, p));
    }

    /// <summary>The path statistics of the Viterbi path match brute force's best path; the node indicators of a path
    /// sum to the lengths.</summary>
    [Fact]
    public void PathMarginalsOfTheViterbiPath()
    {
        var c = Setups[0];
        var x = c.Values(DType.F64);
        var exact = c.Exact(x);
        var graph = c.Graph(DType.F64, v => v.E.CrfViterbi(v.A, v.S, v.F, v.N).CrfPathMarginals(c.L, DType.F64, v.N, CrfPart.Edges));
        var counts = Run(graph, x);
        for (int b = 0; b < c.B; b++)
        {
            var expected = new double[c.L * c.L];
            var best = exact[b].Best;
            for (int t = 1; t < c.Length(b); t++) expected[best[t - 1] * c.L + best[t]]++;
            Assert.Equal(expected, counts.AsSpan(b * c.L * c.L, c.L * c.L).ToArray());
        }
        var nodes = Run(c.Graph(DType.F64, v => v.Tags.CrfPathMarginals(c.L, DType.F64, v.N).Sum([1, 2])), x);
        Assert.Equal(Enumerable.Range(0, c.B).Select(b => (double)c.Length(b)), nodes);
    }
}
