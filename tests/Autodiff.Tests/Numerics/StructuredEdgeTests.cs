using Autodiff.Text;

namespace Autodiff.Tests.Numerics;

/// <summary>The softmax-family policies carried into the structured ops: a linear-chain CRF with forbidden (−inf)
/// transitions and scores of 1e3 against brute-force enumeration of every tag path, and gumbel_softmax on −inf, all −inf,
/// NaN and 1e3 rows. (The product and norm policies are rows of <see cref="EdgeCaseTable"/>.)</summary>
public class StructuredEdgeTests
{
    private const double NInf = double.NegativeInfinity;

    /// <summary>log Z, the node marginals (= d log Z / d emissions) and the summed pair marginals (= d Σ_b log Z / d
    /// transitions) of emissions [B, T, L] and transitions [L, L], by enumerating all L^T paths.</summary>
    private static (double[] LogZ, double[] De, double[] Dtr) BruteForce(double[] e, double[] tr, int b, int t, int l)
    {
        var logZ = new double[b];
        var de = new double[e.Length];
        var dtr = new double[tr.Length];
        int paths = (int)Math.Pow(l, t);
        for (int s = 0; s < b; s++)
        {
            var scores = new double[paths];
            for (int p = 0; p < paths; p++)
            {
                var y = Path(p, t, l);
                double sc = 0;
                for (int k = 0; k < t; k++) sc += e[(s * t + k) * l + y[k]] + (k > 0 ? tr[y[k - 1] * l + y[k]] : 0);
                scores[p] = sc;
            }
            double m = scores.Max();
            logZ[s] = double.IsNegativeInfinity(m) ? m : m + Math.Log(scores.Sum(v => Math.Exp(v - m)));
            for (int p = 0; p < paths; p++)
            {
                double w = double.IsNegativeInfinity(logZ[s]) ? 0 : Math.Exp(scores[p] - logZ[s]);
                var y = Path(p, t, l);
                for (int k = 0; k < t; k++)
                {
                    de[(s * t + k) * l + y[k]] += w;
                    if (k > 0) dtr[y[k - 1] * l + y[k]] += w;
                }
            }
        }
        return (logZ, de, dtr);
    }

    private static int[] Path(int p, int t, int l)
    {
        var y = new int[t];
        for (int k = t - 1; k >= 0; k--) { y[k] = p % l; p /= l; }
        return y;
    }

    public static TheoryData<string, DType> CrfCases()
    {
        var d = new TheoryData<string, DType>();
        foreach (var c in new[] { "forbidden transition", "forbidden tags", "scores of 1e3" })
            foreach (var dt in new[] { DType.F32, DType.F64 })
                d.Add(c, dt);
        return d;
    }

    [Theory]
    [MemberData(nameof(CrfCases))]
    public void CrfWithForbiddenTransitionsMatchesEnumeration(string name, DType dt)
    {
        var (e, tr) = name switch
        {
            "forbidden transition" => (new double[] { 0.1, 0.2, -0.3, 0.4, 0.5, -0.6, 1, 2, 0.3, 0.4, 0.5, 0.6 }, new[] { 0, NInf, 0.5, 0.2 }),
            "forbidden tags" => (new double[] { 0.1, NInf, NInf, 0.4, 0.5, -0.6, 1, 2, 0.3, 0.1, NInf, 0.6 }, new[] { 0.3, 1, NInf, 0.2 }),
            _ => (new double[] { 1e3, -1e3, 0.3, -0.4, 999, 0.6, -1e3, 2, 1e3, 1e3, 5, 6 }, new[] { 0.3, 1, NInf, 0.2 }),
        };
        var g = Parser.Parse("input e: f64[2, 3, 2]\ninput tr: f64[2, 2]\ny = crf_log_partition(e, tr)");
        if (dt != DType.F64) g = g.ToDType(dt);
        var x = new Dictionary<string, Tensor> { ["e"] = Tensor.FromDoubles(dt, new Shape(2, 3, 2), e), ["tr"] = Tensor.FromDoubles(dt, new Shape(2, 2), tr) };
        var (v, grads) = new Tape(g).Run(x, Tensor.Full(dt, new Shape(2), 1));
        var (logZ, de, dtr) = BruteForce(e, tr, 2, 3, 2);
        double tol = dt == DType.F32 ? 1e-5 : 1e-12;
        EdgeRunner.AssertClose(logZ, v.ToDoubleArray(), tol, $"{name} log Z");
        EdgeRunner.AssertClose(de, grads["e"].ToDoubleArray(), tol, $"{name} d/de");
        EdgeRunner.AssertClose(dtr, grads["tr"].ToDoubleArray(), tol, $"{name} d/dtr");
        var got = grads["tr"].ToDoubleArray();
        for (int i = 0; i < tr.Length; i++) if (double.IsNegativeInfinity(tr[i])) Assert.Equal(0.0, got[i]);
    }

    /// <summary>A sequence none of whose paths is allowed has log Z = −inf; as for logsumexp of an all −inf row its gradient
    /// is 0, so the other sequences' emission gradients and the shared transition gradient stay finite and exact.</summary>
    [Fact]
    public void CrfSequenceWithNoAllowedPathHasZeroGradient()
    {
        double[] e = [0.1, NInf, NInf, -0.4, 0.5, 0.6, 1, 2, 3, 4, 5, 6];
        double[] tr = [0.3, NInf, NInf, 0.2];
        var g = Parser.Parse("input e: f64[2, 3, 2]\ninput tr: f64[2, 2]\ny = crf_log_partition(e, tr)");
        var x = new Dictionary<string, Tensor> { ["e"] = Tensor.FromArray(e, 2, 3, 2), ["tr"] = Tensor.FromArray(tr, 2, 2) };
        var (v, grads) = new Tape(g).Run(x, Tensor.Full(DType.F64, new Shape(2), 1));
        var (logZ, de, dtr) = BruteForce(e, tr, 2, 3, 2);
        Assert.Equal(NInf, v.GetDouble(0));
        EdgeRunner.AssertClose(logZ, v.ToDoubleArray(), 1e-12, "log Z");
        EdgeRunner.AssertClose(de, grads["e"].ToDoubleArray(), 1e-12, "d/de");
        EdgeRunner.AssertClose(dtr, grads["tr"].ToDoubleArray(), 1e-12, "d/dtr");
    }

    /// <summary>crf_log_likelihood: sequence 0 has no allowed path (log Z = −inf) and sequence 1 a forbidden gold path
    /// (log Z finite); both have log-likelihood −inf (not −inf − (−inf) = NaN) and gradient 0, so the gradients, shared
    /// transitions included, are sequence 2's alone: gold indicators minus its brute-force marginals.</summary>
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void CrfLogLikelihoodOfAnImpossibleGoldPathIsMinusInfWithZeroGradient(DType dt)
    {
        double[] e = [0.1, NInf, NInf, -0.4, 0.5, 0.6, 1, 2, 3, 4, 5, 6, 0.3, -0.2, 0.7, 0.1, -1, 2];
        double[] tr = [0.3, NInf, NInf, 0.2];
        long[] tags = [0, 1, 1, 0, 1, 1, 1, 1, 1];
        var g = Parser.Parse("input e: f64[3, 3, 2]\ninput tr: f64[2, 2]\ninput y: i64[3, 3]\nll = crf_log_likelihood(e, tr, y)");
        if (dt != DType.F64) g = g.ToDType(dt);
        var x = new Dictionary<string, Tensor>
        {
            ["e"] = Tensor.FromDoubles(dt, new Shape(3, 3, 2), e), ["tr"] = Tensor.FromDoubles(dt, new Shape(2, 2), tr), ["y"] = Tensor.FromArray(tags, 3, 3),
        };
        var (v, grads) = new Tape(g).Run(x, Tensor.FromDoubles(dt, new Shape(3), [1, 2, 3]));
        var (logZ, de, dtr) = BruteForce(e[12..], tr, 1, 3, 2);   // sequence 2 alone
        double gold = e[12 + 1] + e[14 + 1] + e[16 + 1] + 2 * tr[3];
        double tol = dt == DType.F32 ? 1e-5 : 1e-12;
        EdgeRunner.AssertClose([NInf, NInf, gold - logZ[0]], v.ToDoubleArray(), tol, "log-likelihood");
        var wantE = new double[18];
        for (int i = 0; i < 6; i++) wantE[12 + i] = 3 * ((i % 2 == 1 ? 1 : 0) - de[i]);
        EdgeRunner.AssertClose(wantE, grads["e"].ToDoubleArray(), tol, "d/de");
        EdgeRunner.AssertClose([-3 * dtr[0], -3 * dtr[1], -3 * dtr[2], 3 * (2 - dtr[3])], grads["tr"].ToDoubleArray(), tol, "d/dtr");
    }

    /// <summary>The rewrite exp(sum(log(x))) => prod(x) must keep a finite result finite: log space has no intermediate
    /// overflow, but a plain running product does (1e200·1e200 = inf before the 1e-300 factors bring it back).</summary>
    [Fact]
    public void ProdFromExpSumLogKeepsFiniteResultsAtTheRangeLimits()
    {
        var g = Parser.Parse("input x: f64[1, 5] positive\ny = exp(sum(log(x), axis=1))");
        var s = Autodiff.Rewrite.Simplifier.Simplify(g).After;
        var x = new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new[] { 1e200, 1e200, 1e200, 1e-300, 1e-300 }, 1, 5) };
        var (naive, gn) = new Tape(g).Run(x);
        double nv = naive.GetDouble(0);
        var ng = gn["x"].ToDoubleArray();
        var (fused, gf) = new Tape(s).Run(x);
        EdgeRunner.AssertClose([nv], [fused.GetDouble(0)], 1e-9, "value");
        EdgeRunner.AssertClose(ng, gf["x"].ToDoubleArray(), 1e-9, "d/dx");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void GumbelSoftmaxFollowsTheSoftmaxPolicy(DType dt)
    {
        var g = Parser.Parse("input x: f64[4, 3]\ny = gumbel_softmax(x, 0.5, axis=1, seed=3)");
        if (dt != DType.F64) g = g.ToDType(dt);
        double[] x = [NInf, 0, 1, NInf, NInf, NInf, double.NaN, 0, 1, 1e3, -1e3, 0];
        var (v, grads) = new Tape(g).Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromDoubles(dt, new Shape(4, 3), x) },
            Tensor.FromDoubles(dt, new Shape(4, 3), [1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3]));
        double[] y = v.ToDoubleArray(), gx = grads["x"].ToDoubleArray();
        Assert.Equal((0.0, 0.0), (y[0], gx[0]));                                    // a −inf logit: probability 0, gradient 0
        Assert.Equal(1.0, y[1] + y[2], dt == DType.F32 ? 1e-6 : 1e-12);
        Assert.Equal([0.0, 0, 0, 0, 0, 0], y[3..6].Concat(gx[3..6]));                // an all −inf row: zeros, gradient 0
        Assert.All(y[6..9].Concat(gx[6..9]), d => Assert.True(double.IsNaN(d)));    // NaN stays in its row
        Assert.All(y[9..].Concat(gx[9..]), d => Assert.True(double.IsFinite(d)));   // 1e3 stays finite
        Assert.Equal(1.0, y[9] + y[10] + y[11], dt == DType.F32 ? 1e-6 : 1e-12);
        Assert.All(y[..3].Concat(gx[..3]), d => Assert.True(double.IsFinite(d)));
    }
}
