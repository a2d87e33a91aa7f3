namespace Autodiff.Tests.Fused;

/// <summary>The closed-form backward of softmax_cross_entropy, and the expression form of the symbolic gradients.</summary>
public class CrossEntropyTests
{
    private static readonly Shape S = new(5, 4);

    /// <summary>Runs softmax_cross_entropy(z, p) and returns the gradient w.r.t. z, with the oracle's q, p, cotangent.</summary>
    private static (double[] Gz, double[] Q, double[] P, double[] G) Run(DType dt, bool normalized, double[] p, double eps = 0)
    {
        var b = new GraphBuilder();
        var graph = b.Build(b.Input("z", dt, S).SoftmaxCrossEntropy(b.Input("p", dt, S), 1, normalized, eps));
        var x = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.RandomNormal(dt, S, new Random(3), 2),
            ["p"] = Tensor.FromDoubles(dt, S, p),
        };
        var cot = FusedRun.Cotangent(dt, new Shape(5));
        var (_, grads) = new Tape(graph, ["z"]).Run(x, cot);
        var z = x["z"].ToDoubleArray();
        var l = Layout.Of(S, 1, 2);
        var q = new double[z.Length];
        for (int r = 0; r < 5; r++)
        {
            var st = l.Stats(z, r);
            for (int c = 0; c < 4; c++) q[r * 4 + c] = Math.Exp(l.LogQ(z, r, c, st));
        }
        return (grads["z"].ToDoubleArray(), q, x["p"].ToDoubleArray(), cot.ToDoubleArray());
    }

    private static double[] Unnormalized() => Gen.Uniform(S, 0, 1)(new Random(11));

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void NormalizedTargetsGiveTheClosedFormQMinusP(DType dt)
    {
        var (gz, q, p, g) = Run(dt, normalized: true, Gen.ProbRows(S, 1)(new Random(5)));
        var expected = Enumerable.Range(0, 20).Select(i => g[i / 4] * (q[i] - p[i])).ToArray();
        FusedRun.AssertClose(expected, gz, dt == DType.F64 ? 1e-15 : 1e-6, "d/dz");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void NormalizedWithSmoothingGivesQMinusSmoothedP(DType dt)
    {
        const double eps = 0.2;
        var (gz, q, p, g) = Run(dt, normalized: true, Gen.ProbRows(S, 1)(new Random(5)), eps);
        var expected = Enumerable.Range(0, 20).Select(i => g[i / 4] * (q[i] - ((1 - eps) * p[i] + eps / 4))).ToArray();
        FusedRun.AssertClose(expected, gz, dt == DType.F64 ? 1e-15 : 1e-6, "d/dz");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void UnnormalizedTargetsGiveQTimesRowSumMinusP(DType dt)
    {
        var (gz, q, p, g) = Run(dt, normalized: false, Unnormalized());
        var sums = Enumerable.Range(0, 5).Select(r => p.Skip(r * 4).Take(4).Sum()).ToArray();
        Assert.All(sums, s => Assert.True(Math.Abs(s - 1) > 0.05, $"row sum {s} should not be 1"));
        var expected = Enumerable.Range(0, 20).Select(i => g[i / 4] * (q[i] * sums[i / 4] - p[i])).ToArray();
        FusedRun.AssertClose(expected, gz, dt == DType.F64 ? 1e-14 : 1e-6, "d/dz");
    }

    [Fact]
    public void NormalizedFlagIsAPromiseOnlyFiniteDifferencesOfTheTrueLossAgreeWithoutIt()
    {
        var p = Unnormalized();
        var x = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.RandomNormal(DType.F64, S, new Random(3)),
            ["p"] = Tensor.FromDoubles(DType.F64, S, p),
        };
        GradCheckResult Check(bool normalized)
        {
            var b = new GraphBuilder();
            var graph = b.Build(b.Input("z", DType.F64, S).SoftmaxCrossEntropy(b.Input("p", DType.F64, S), 1, normalized));
            return GradientChecker.Check(graph, x, ["z", "p"]);
        }
        Assert.True(Check(normalized: false).Passed);
        Assert.False(Check(normalized: true).Passed);   // the closed form q − p is used as promised, which is wrong here

        var (closed, q, pv, g) = Run(DType.F64, normalized: true, p);
        var expected = Enumerable.Range(0, 20).Select(i => g[i / 4] * (q[i] - pv[i])).ToArray();
        FusedRun.AssertClose(expected, closed, 1e-15, "closed form");
    }

    [Fact]
    public void SymbolicGradientOfNormalizedCrossEntropyIsGTimesSoftmaxMinusP()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F32, S);
        var p = b.Input("p", DType.F32, S);
        var loss = z.SoftmaxCrossEntropy(p, 1, targetsSumToOne: true);
        var g = b.Input("g", DType.F32, 5);
        var gz = loss.Node.Op.Gradient(loss.Node, g)[0]!.Value;
        Assert.IsType<MulOp>(gz.Node.Op);
        var (gb, diff) = (gz.Node.Inputs[0], gz.Node.Inputs[1]);
        Assert.Same(g.Node, gb.Inputs[0]);
        Assert.Equal(new Shape(5, 1), gb.Shape);
        Assert.IsType<SubOp>(diff.Op);
        Assert.Equal(new SoftmaxOp(1), diff.Inputs[0].Op);
        Assert.Same(z.Node, diff.Inputs[0].Inputs[0]);
        Assert.Same(p.Node, diff.Inputs[1]);
        Assert.Equal(S, gz.Shape);
    }

    [Fact]
    public void SymbolicGradientOfUnnormalizedCrossEntropyScalesSoftmaxByTheTargetSum()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F32, S);
        var p = b.Input("p", DType.F32, S);
        var loss = z.SoftmaxCrossEntropy(p, 1);
        var g = b.Input("g", DType.F32, 5);
        var gz = loss.Node.Op.Gradient(loss.Node, g)[0]!.Value;
        var diff = gz.Node.Inputs[1];
        Assert.IsType<SubOp>(diff.Op);
        var scaled = diff.Inputs[0];
        Assert.IsType<MulOp>(scaled.Op);
        Assert.Equal(new SoftmaxOp(1), scaled.Inputs[0].Op);
        Assert.Equal(new SumOp(new IntList(1), true), scaled.Inputs[1].Op);
        Assert.Same(p.Node, scaled.Inputs[1].Inputs[0]);
        Assert.Same(p.Node, diff.Inputs[1]);
    }

    [Fact]
    public void SymbolicGradientOfSparseCrossEntropyIsGTimesSoftmaxMinusOneHot()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, S);
        var t = b.Input("t", DType.I64, 5);
        var loss = z.SparseSoftmaxCrossEntropy(t);
        var g = b.Input("g", DType.F64, 5);
        var grads = loss.Node.Op.Gradient(loss.Node, g);
        Assert.Null(grads[1]);
        var diff = grads[0]!.Value.Node.Inputs[1];
        Assert.IsType<SubOp>(diff.Op);
        Assert.Equal(new SoftmaxOp(1), diff.Inputs[0].Op);
        Assert.Equal(new OneHotOp(4, DType.F64), diff.Inputs[1].Op);
    }
}
