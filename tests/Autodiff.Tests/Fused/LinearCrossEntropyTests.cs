using Autodiff.Rewrite;

namespace Autodiff.Tests.Fused;

/// <summary>linear_softmax_cross_entropy against the unfused graph sparse_softmax_cross_entropy(h @ w + b, t) (values and
/// the gradients of h, w and b, through Run and through Forward then Backward), on sizes that span several row blocks;
/// and the rule that finds the pattern in a graph written naively.</summary>
public class LinearCrossEntropyTests
{
    public static TheoryData<DType, int, int, int, bool, int?> Cases() => new()
    {
        { DType.F64, 100, 7, 13, true, null },
        { DType.F64, 100, 7, 13, false, 3 },
        { DType.F32, 70, 16, 33, true, 0 },
        { DType.F64, 3, 5, 2, true, null },
        { DType.F32, 1000, 8, 40, false, null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesTheUnfusedGraph(DType dt, int n, int d, int v, bool bias, int? ignore)
    {
        var rng = new Random(n + d + v);
        var x = new Dictionary<string, Tensor>
        {
            ["h"] = Tensor.RandomNormal(dt, new Shape(n, d), rng),
            ["w"] = Tensor.RandomNormal(dt, new Shape(d, v), rng),
            ["b"] = Tensor.RandomNormal(dt, new Shape(v), rng),
            ["t"] = Tensor.FromArray(Enumerable.Range(0, n).Select(_ => (long)rng.Next(v)).ToArray(), n),
        };
        string[] wrt = bias ? ["h", "w", "b"] : ["h", "w"];
        Graph Build(bool fused)
        {
            var bld = new GraphBuilder();
            Expr h = bld.Input("h", dt, n, d), w = bld.Input("w", dt, d, v), t = bld.Input("t", DType.I64, n);
            Expr? b = bias ? bld.Input("b", dt, v) : (Expr?)null;
            var z = bias ? h.MatMul(w) + b!.Value : h.MatMul(w);
            return bld.Build((fused ? h.LinearSoftmaxCrossEntropy(w, t, b, ignore) : z.SparseSoftmaxCrossEntropy(t, 1, ignore, 0, null)).Mean());
        }
        if (!bias) x.Remove("b");
        var (ev, eg) = new Tape(Build(false), wrt).Run(x);
        double tol = dt == DType.F64 ? 1e-12 : 2e-5;
        var expectedValue = ev.ToDoubleArray();
        var expectedGrads = wrt.ToDictionary(k => k, k => eg[k].ToDoubleArray());
        var fused = Build(true);
        var (v1, g1) = new Tape(fused, wrt).Run(x);
        FusedRun.AssertClose(expectedValue, v1.ToDoubleArray(), tol, "Run value");
        foreach (var k in wrt) FusedRun.AssertClose(expectedGrads[k], g1[k].ToDoubleArray(), tol, $"Run d/d{k}");
        var tape = new Tape(fused, wrt);
        FusedRun.AssertClose(expectedValue, tape.Forward(x).ToDoubleArray(), tol, "Forward value");
        var g2 = tape.Backward();
        foreach (var k in wrt) FusedRun.AssertClose(expectedGrads[k], g2[k].ToDoubleArray(), tol, $"Backward d/d{k}");
    }

    [Fact]
    public void ALabelOutOfRangeIsAnErrorNamingIt()
    {
        var b = new GraphBuilder();
        var g = b.Build(b.Input("h", DType.F64, 2, 3).LinearSoftmaxCrossEntropy(b.Input("w", DType.F64, 3, 4), b.Input("t", DType.I64, 2)).Sum());
        var x = new Dictionary<string, Tensor>
        {
            ["h"] = Tensor.Zeros(DType.F64, 2, 3), ["w"] = Tensor.Zeros(DType.F64, 3, 4), ["t"] = Tensor.FromArray(new long[] { 1, 4 }, 2),
        };
        var e = Assert.Throws<AutodiffException>(() => new Tape(g).Run(x));
        Assert.Contains("linear_softmax_cross_entropy: index 4 at position [1] is out of range [0, 4)", e.Message);
    }

    [Theory]
    [InlineData("loss = mean(sparse_softmax_cross_entropy(h @ w + b, t, axis=1))", "linear_softmax_cross_entropy(h, w, t, bias=b)")]
    [InlineData("loss = sum(sparse_softmax_cross_entropy(b + h @ w, t, axis=1, ignore_index=-100))", "linear_softmax_cross_entropy(h, w, t, bias=b, ignore_index=-100)")]
    [InlineData("loss = mean(sparse_softmax_cross_entropy(h @ w, t, axis=1))", "linear_softmax_cross_entropy(h, w, t)")]
    [InlineData("loss = -mean(take(log_softmax(h @ w + b, axis=1), t, axis=1))", "linear_softmax_cross_entropy(h, w, t, bias=b)")]
    [InlineData("loss = mean(sparse_softmax_cross_entropy(h @ transpose(u), t, axis=1))", "linear_softmax_cross_entropy(h, transpose(u")]
    public void TheRuleFindsTheLinearLayerUnderTheCrossEntropy(string line, string fused)
    {
        var program = $"""
            input h: f64[6, 3]
            input w: f64[3, 5]
            input u: f64[5, 3]
            input b: f64[5]
            input t: i64[6] classes(5)
            {line}
            output loss
            """;
        var r = Simplifier.Simplify(global::Autodiff.Text.Parser.Parse(program));
        Assert.Contains(fused, r.After.ToString());
        Assert.Contains(r.Rewrites, s => s.Rule == "linear-softmax-cross-entropy");
    }

    [Fact]
    public void SharedLogitsAreNotFusedUnderTheDefaultPolicy()
    {
        // the logits are also an output's operand: fusing would compute them twice, so the rule reports a near miss
        var program = """
            input h: f64[6, 3]
            input w: f64[3, 5]
            input t: i64[6] classes(5)
            z = h @ w
            loss = mean(sparse_softmax_cross_entropy(z, t, axis=1)) + sum(z)
            output loss
            """;
        var r = Simplifier.Simplify(global::Autodiff.Text.Parser.Parse(program));
        Assert.DoesNotContain("linear_softmax_cross_entropy", r.After.ToString());
    }
}
