using Autodiff.Tests.Fused;

namespace Autodiff.Tests.Structured;

/// <summary>A batch in which one sequence has no allowed path (log Z = −inf) and another a forbidden gold path: those two
/// have value −inf and gradient 0 (crf_log_partition: the first; crf_log_likelihood: both), their marginals are 0, and the
/// other sequences' values and gradients, and the transition, start and end gradients shared by the batch, are finite and
/// match brute force — bit for bit the same as for the batch without the two sequences.</summary>
public class CrfImpossibleTests
{
    private static readonly CrfSetup[] Setups =
    [
        new(5, 4, 3),                                                  // lengths 4, 0, 1, 3, 3
        new(3, 3, 2, Start: false, End: false, Lengths: false, Seed: 6),
    ];

    public static TheoryData<int, DType> SetupsByType()
    {
        var d = new TheoryData<int, DType>();
        for (int i = 0; i < Setups.Length; i++)
            foreach (var dt in new[] { DType.F64, DType.F32 }) d.Add(i, dt);
        return d;
    }

    /// <summary>The sequence with no allowed path.</summary>
    private const int NoPath = 0;

    /// <summary>The sequence whose gold path is forbidden (its log Z is finite).</summary>
    private static int ForbiddenGold(CrfSetup c) => c.B - 2;

    /// <summary>The setup's inputs with transitions 0 → 1 and 1 → 0 forbidden; sequence <see cref="NoPath"/> allows only
    /// tag 0 at time 0 and tag 1 at time 1, so it has no allowed path; sequence <see cref="ForbiddenGold"/> has gold tags
    /// 0, 1, ...; the last sequence has gold tags L − 1 throughout (allowed).</summary>
    private static Dictionary<string, Tensor> Inputs(CrfSetup c, DType dt)
    {
        var x = c.Values(dt);
        double ninf = double.NegativeInfinity;
        x["A"].SetDouble(0 * c.L + 1, ninf);
        x["A"].SetDouble(1 * c.L + 0, ninf);
        for (int l = 0; l < c.L; l++)
        {
            if (l != 0) x["e"].SetDouble((NoPath * c.T + 0) * c.L + l, ninf);
            if (l != 1) x["e"].SetDouble((NoPath * c.T + 1) * c.L + l, ninf);
        }
        var tags = x["tags"];
        int f = ForbiddenGold(c);
        for (int t = 0; t < c.Length(f); t++) tags.SetDouble(f * c.T + t, Math.Min(t, c.L - 1));
        for (int t = 0; t < c.Length(c.B - 1); t++) tags.SetDouble((c.B - 1) * c.T + t, c.L - 1);
        return x;
    }

    private static double Tol(DType dt) => dt == DType.F64 ? 1e-10 : 1e-5;

    [Theory, MemberData(nameof(SetupsByType))]
    public void ImpossibleSequencesHaveValueMinusInfAndGradientZero(int setup, DType dt)
    {
        var c = Setups[setup];
        var x = Inputs(c, dt);
        var exact = c.Exact(x);
        Assert.True(double.IsNegativeInfinity(exact[NoPath].LogZ), "the test wants a sequence with no allowed path");
        Assert.True(double.IsNegativeInfinity(exact[ForbiddenGold(c)].Gold) && double.IsFinite(exact[ForbiddenGold(c)].LogZ), "the test wants a forbidden gold path");
        var cot = FusedRun.Cotangent(dt, new Shape(c.B));
        foreach (bool gold in new[] { true, false })
        {
            var (v, grads) = FusedRun.Run(gold ? c.LogLikelihood(dt) : c.LogPartition(dt), x, c.Wrt, cot);
            var want = exact.Select(r => !gold ? r.LogZ : double.IsNegativeInfinity(r.Gold) ? double.NegativeInfinity : r.Gold - r.LogZ).ToArray();
            string what = gold ? "log-likelihood" : "log Z";
            FusedRun.AssertClose(want, v, Tol(dt), $"{c} {what}");
            var expected = CrfTests.ExpectedGradient(c, x, exact, cot.ToDoubleArray(), gold);
            foreach (var w in c.Wrt)
            {
                FusedRun.AssertAllFinite(grads[w], $"{c} {what} d/d{w}");
                FusedRun.AssertClose(expected[w], grads[w], Tol(dt), $"{c} {what} d/d{w}");
            }
            var ge = grads["e"];
            Assert.All(ge.AsSpan(NoPath * c.T * c.L, c.T * c.L).ToArray(), d => Assert.Equal(0.0, d));
            if (gold) Assert.All(ge.AsSpan(ForbiddenGold(c) * c.T * c.L, c.T * c.L).ToArray(), d => Assert.Equal(0.0, d));
        }
    }

    [Theory, MemberData(nameof(SetupsByType))]
    public void MarginalsOfASequenceWithNoAllowedPathAreZero(int setup, DType dt)
    {
        var c = Setups[setup];
        var x = Inputs(c, dt);
        var exact = c.Exact(x);
        foreach (var part in new[] { CrfPart.Nodes, CrfPart.Edges, CrfPart.Start, CrfPart.End })
        {
            var m = new Tape(c.Graph(dt, v => v.E.CrfMarginals(v.A, v.S, v.F, v.N, part)), []).Forward(x).ToDoubleArray();
            var want = exact.SelectMany(r => part switch { CrfPart.Nodes => r.Node, CrfPart.Edges => r.Edges, CrfPart.Start => r.Start, _ => r.End }).ToArray();
            FusedRun.AssertClose(want, m, Tol(dt), $"{c} {part} marginals");
            int size = m.Length / c.B;
            Assert.All(m.AsSpan(NoPath * size, size).ToArray(), d => Assert.Equal(0.0, d));
        }
    }

    /// <summary>The batch without its impossible sequences (for log Z the one with no allowed path, for the
    /// log-likelihood also the one with a forbidden gold path) gives bit-for-bit the same values and gradients for the
    /// others, and the same shared gradients: the impossible sequences add nothing (not even a rounding).</summary>
    [Theory, MemberData(nameof(SetupsByType))]
    public void OtherSequencesAreBitForBitUnaffected(int setup, DType dt)
    {
        var c = Setups[setup];
        var x = Inputs(c, dt);
        var cot = FusedRun.Cotangent(dt, new Shape(c.B));
        int per = c.T * c.L;
        foreach (bool gold in new[] { true, false })
        {
            var keep = Enumerable.Range(0, c.B).Where(b => b != NoPath && (!gold || b != ForbiddenGold(c))).ToArray();
            var sub = c with { B = keep.Length };
            var xs = new Dictionary<string, Tensor>(x) { ["e"] = Rows(x["e"], keep), ["tags"] = Rows(x["tags"], keep) };
            if (c.Lengths) xs["n"] = Rows(x["n"], keep);
            var (v, grads) = FusedRun.Run(gold ? c.LogLikelihood(dt) : c.LogPartition(dt), x, c.Wrt, cot);
            var (sv, sgrads) = FusedRun.Run(gold ? sub.LogLikelihood(dt) : sub.LogPartition(dt), xs, c.Wrt, Rows(cot, keep));
            Assert.Equal(sv, keep.Select(b => v[b]));
            Assert.Equal(sgrads["e"], keep.SelectMany(b => grads["e"].AsSpan(b * per, per).ToArray()));
            foreach (var w in c.Wrt.Where(w => w != "e")) Assert.Equal(sgrads[w], grads[w]);
        }
    }

    /// <summary>The rows <paramref name="keep"/> of <paramref name="t"/> along its first axis.</summary>
    private static Tensor Rows(Tensor t, int[] keep)
    {
        var dims = t.Shape.ToArray();
        int per = t.Size / dims[0];
        dims[0] = keep.Length;
        var r = Tensor.Zeros(t.DType, new Shape(dims));
        for (int i = 0; i < keep.Length; i++)
            for (int j = 0; j < per; j++) r.SetDouble(i * per + j, t.GetDouble(keep[i] * per + j));
        return r;
    }

    /// <summary>The symbolic gradients (crf_log_likelihood's masks g where its value is −inf), seeded with a cotangent
    /// that is nonzero at the impossible sequences, evaluate to the tape's.</summary>
    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void SymbolicGradientAgreesWithTheTape(int setup)
    {
        var c = Setups[setup];
        var x = Inputs(c, DType.F64);
        var cot = FusedRun.Cotangent(DType.F64, new Shape(c.B));
        x["w"] = cot;
        foreach (bool gold in new[] { true, false })
        {
            var (b, e, a, s, f, tags, n) = c.Declare(DType.F64);
            var w = b.Input("w", DType.F64, c.B);
            var graph = b.Build(gold ? e.CrfLogLikelihood(a, tags, s, f, n) : e.CrfLogPartition(a, s, f, n));
            var tape = new Tape(graph, c.Wrt).Run(x, cot).Gradients.ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
            foreach (var (name, grad) in SymbolicGradient.Of(graph, c.Wrt, seed: w))
            {
                var sym = new Tape(b.Build(grad), []).Forward(x).ToDoubleArray();
                FusedRun.AssertAllFinite(sym, $"{c} symbolic d/d{name}");
                FusedRun.AssertClose(tape[name], sym, 1e-12, $"{c} {(gold ? "log-likelihood" : "log Z")} symbolic d/d{name}");
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    public void FiniteEntriesMatchFiniteDifferences(int setup)
    {
        var c = Setups[setup];
        var x = Inputs(c, DType.F64);
        foreach (var graph in new[] { c.LogLikelihood(DType.F64), c.LogPartition(DType.F64) })
        {
            var r = GradientChecker.Check(graph, x, c.Wrt);
            Assert.True(r.Passed, $"{c}: {r}");
        }
    }
}
