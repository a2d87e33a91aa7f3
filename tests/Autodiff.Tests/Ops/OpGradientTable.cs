namespace Autodiff.Tests.Ops;

/// <summary>The gradient-check table: every op the builder exposes, on random shapes with broadcasting and reductions
/// over each axis, checked against central differences in double (atol 1e-5, rtol 1e-3) and float32 against float64.</summary>
public class OpGradientTable
{
    /// <summary>How to draw an input: a distribution that keeps the op away from its kinks and poles.</summary>
    public enum Dist { Normal, Positive, AwayFromZero, Classes3, Classes4, Mask }

    public sealed record Case(string Name, (string Name, DType Type, int[] Shape, Dist Dist)[] Inputs, Func<Expr[], Expr> Build)
    {
        public override string ToString() => Name;
    }

    private static (string, DType, int[], Dist) F(string n, Dist d, params int[] s) => (n, DType.F64, s, d);
    private static (string, DType, int[], Dist) I(string n, Dist d, params int[] s) => (n, DType.I64, s, d);

    public static readonly Case[] Cases =
    [
        new("neg", [F("x", Dist.Normal, 3, 4)], x => -x[0]),
        new("exp", [F("x", Dist.Normal, 3, 4)], x => x[0].Exp()),
        new("log", [F("x", Dist.Positive, 3, 4)], x => x[0].Log()),
        new("sqrt", [F("x", Dist.Positive, 5)], x => x[0].Sqrt()),
        new("abs", [F("x", Dist.AwayFromZero, 2, 3)], x => x[0].Abs()),
        new("sign", [F("x", Dist.AwayFromZero, 2, 3)], x => x[0].Sign() * x[0]),
        new("square", [F("x", Dist.Normal, 2, 3)], x => x[0].Square()),
        new("sigmoid", [F("x", Dist.Normal, 2, 3)], x => x[0].Sigmoid()),
        new("tanh", [F("x", Dist.Normal, 2, 3)], x => x[0].Tanh()),
        new("relu", [F("x", Dist.AwayFromZero, 2, 3)], x => x[0].Relu()),
        new("softplus", [F("x", Dist.Normal, 2, 3)], x => (x[0] * 10).Softplus()),
        new("erf", [F("x", Dist.Normal, 3, 4)], x => (x[0] * 1.5).Erf()),
        new("gelu", [F("x", Dist.Normal, 3, 4)], x => (x[0] * 3).Gelu()),
        new("gelu approximate", [F("x", Dist.Normal, 3, 4)], x => (x[0] * 3).Gelu(approximate: true)),
        new("erf second derivative", [F("x", Dist.Normal, 5)], x => SymbolicGradient.Of(x[0].Builder.Build(x[0].Erf().Sum()))["x"]),
        new("log_sigmoid", [F("x", Dist.Normal, 2, 3)], x => (x[0] * 10).LogSigmoid()),
        new("log1p", [F("x", Dist.Positive, 2, 3)], x => (x[0] - 1.4).Log1p()),
        new("expm1", [F("x", Dist.Normal, 2, 3)], x => x[0].Expm1()),
        new("log1mexp", [F("x", Dist.Positive, 2, 3)], x => (-x[0]).Log1mexp()),
        new("logdiffexp", [F("a", Dist.Positive, 2, 3), F("b", Dist.Normal, 3)], x => (x[0] + x[1]).LogDiffExp(x[1])),
        new("logsumexp axes (0, 2)", [F("x", Dist.Normal, 2, 3, 4)], x => x[0].LogSumExp([0, 2])),
        new("logsumexp axes (0, 2) keepdims", [F("x", Dist.Normal, 2, 3, 4)], x => x[0].LogSumExp([0, 2], keepDims: true)),
        new("log1m_softmax axis 1", [F("x", Dist.Normal, 3, 4)], x => (x[0] * 3).Log1mSoftmax(1)),
        new("log1m_softmax axis 0", [F("x", Dist.Normal, 3, 4, 2)], x => (x[0] * 3).Log1mSoftmax(0)),
        new("add", [F("a", Dist.Normal, 2, 3, 4), F("b", Dist.Normal, 3, 1)], x => x[0] + x[1]),
        new("add scalar", [F("a", Dist.Normal), F("b", Dist.Normal, 2, 2)], x => x[0] + x[1]),
        new("sub", [F("a", Dist.Normal, 4), F("b", Dist.Normal, 3, 1)], x => x[0] - x[1]),
        new("mul", [F("a", Dist.Normal, 2, 1, 4), F("b", Dist.Normal, 1, 3, 1)], x => x[0] * x[1]),
        new("div", [F("a", Dist.Normal, 3, 4), F("b", Dist.AwayFromZero, 4)], x => x[0] / x[1]),
        new("maximum", [F("a", Dist.Normal, 3, 4), F("b", Dist.Normal, 3, 1)], x => x[0].Maximum(x[1])),
        new("minimum", [F("a", Dist.Normal, 3, 4), F("b", Dist.Normal, 4)], x => x[0].Minimum(x[1])),
        new("pow", [F("a", Dist.Positive, 3, 4), F("b", Dist.Normal, 4)], x => x[0].Pow(x[1])),
        new("sum axis 0", [F("x", Dist.Normal, 3, 4, 5)], x => x[0].Sum(0)),
        new("sum axis 1 keepdims", [F("x", Dist.Normal, 3, 4, 5)], x => x[0].Sum(1, keepDims: true)),
        new("sum axis 2", [F("x", Dist.Normal, 3, 4, 5)], x => x[0].Sum(2)),
        new("sum axes (0, 2)", [F("x", Dist.Normal, 3, 4, 5)], x => x[0].Sum([0, 2])),
        new("sum all", [F("x", Dist.Normal, 3, 4)], x => x[0].Sum()),
        new("mean axis 1", [F("x", Dist.Normal, 3, 4, 5)], x => x[0].Mean(1)),
        new("mean axes (0, 1) keepdims", [F("x", Dist.Normal, 3, 4, 5)], x => x[0].Mean([0, 1], keepDims: true)),
        new("max axis 0", [F("x", Dist.Normal, 3, 4)], x => x[0].Max(0)),
        new("max axis -1 keepdims", [F("x", Dist.Normal, 3, 4)], x => x[0].Max(-1, keepDims: true)),
        new("max axes (0, 2)", [F("x", Dist.Normal, 2, 3, 4)], x => x[0].Max([0, 2])),
        new("min axis 1", [F("x", Dist.Normal, 3, 4, 2)], x => x[0].Min(1)),
        new("matmul 2-D", [F("a", Dist.Normal, 3, 4), F("b", Dist.Normal, 4, 5)], x => x[0].MatMul(x[1])),
        new("matmul batched", [F("a", Dist.Normal, 2, 3, 4), F("b", Dist.Normal, 2, 4, 2)], x => x[0].MatMul(x[1])),
        new("matmul broadcast batch", [F("a", Dist.Normal, 2, 1, 3, 4), F("b", Dist.Normal, 3, 4, 2)], x => x[0].MatMul(x[1])),
        new("transpose", [F("x", Dist.Normal, 2, 3, 4)], x => x[0].Transpose(2, 0, 1)),
        new("transpose default", [F("x", Dist.Normal, 3, 4)], x => x[0].Transpose()),
        new("reshape", [F("x", Dist.Normal, 2, 6)], x => x[0].Reshape(3, -1)),
        new("broadcast_to", [F("x", Dist.Normal, 3, 1)], x => x[0].BroadcastTo(2, 3, 4)),
        new("squeeze", [F("x", Dist.Normal, 3, 1, 2)], x => x[0].Squeeze(1)),
        new("unsqueeze", [F("x", Dist.Normal, 3, 2)], x => x[0].Unsqueeze(0)),
        new("one_hot", [F("z", Dist.Normal, 5, 3), I("t", Dist.Classes3, 5)], x => x[1].OneHot(3, DType.F64) * x[0]),
        new("linear_softmax_cross_entropy", [F("h", Dist.Normal, 5, 3), F("w", Dist.Normal, 3, 4), I("t", Dist.Classes4, 5), F("b", Dist.Normal, 4)], x => x[0].LinearSoftmaxCrossEntropy(x[1], x[2], x[3])),
        new("linear_softmax_cross_entropy ignore_index", [F("h", Dist.Normal, 5, 3), F("w", Dist.Normal, 3, 4), I("t", Dist.Classes4, 5)], x => x[0].LinearSoftmaxCrossEntropy(x[1], x[2], ignoreIndex: 2)),
        new("take last axis", [F("z", Dist.Normal, 5, 3), I("t", Dist.Classes3, 5)], x => x[0].Take(x[1], 1)),
        new("take axis 0", [F("z", Dist.Normal, 3, 4), I("t", Dist.Classes3, 4)], x => x[0].Take(x[1], 0)),
        new("take along axis", [F("z", Dist.Normal, 4, 3), I("t", Dist.Classes3, 4, 2)], x => x[0].Take(x[1], 1)),
        new("where", [F("m", Dist.Mask, 3, 1), F("a", Dist.Normal, 3, 4), F("b", Dist.Normal, 4)], x => Expr.Where(x[0], x[1], x[2])),
        // g below z (the beam search's domain): z = softplus(·) + 2 and g = 0.3·N(0, 1)
        new("truncated_gumbel", [F("g", Dist.Normal, 3, 4), F("z", Dist.Normal, 3, 1), F("t", Dist.Normal, 4)], x => (x[0] * 0.3).TruncatedGumbel(x[1].Softplus() + 2, x[2])),
    ];

    public static TheoryData<Case> All() { var d = new TheoryData<Case>(); foreach (var c in Cases) d.Add(c); return d; }

    public static (Graph Graph, Dictionary<string, Tensor> Inputs) Instantiate(Case c, int seed)
    {
        var b = new GraphBuilder();
        var rng = new Random(seed);
        var exprs = new Expr[c.Inputs.Length];
        var values = new Dictionary<string, Tensor>();
        for (int i = 0; i < c.Inputs.Length; i++)
        {
            var (name, type, shape, dist) = c.Inputs[i];
            exprs[i] = b.Input(name, type, shape);
            var t = Tensor.Zeros(type, shape);
            for (int k = 0; k < t.Size; k++)
            {
                double n = Tensor.RandomNormal(DType.F64, Shape.Scalar, rng).GetDouble(0);
                t.SetDouble(k, dist switch
                {
                    Dist.Positive => 0.5 + rng.NextDouble() * 1.5,
                    Dist.AwayFromZero => (n >= 0 ? 0.2 : -0.2) + n,
                    Dist.Classes3 => rng.Next(3),
                    Dist.Classes4 => rng.Next(4),
                    Dist.Mask => rng.Next(2),
                    _ => n,
                });
            }
            values[name] = t;
        }
        return (b.Build(c.Build(exprs)), values);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void TapeGradientMatchesFiniteDifferences(Case c)
    {
        for (int seed = 0; seed < 3; seed++)
        {
            var (g, x) = Instantiate(c, seed);
            var r = GradientChecker.Check(g, x);
            Assert.True(r.Passed, $"{c.Name} (seed {seed}): {r}");
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void SymbolicGradientMatchesTape(Case c)
    {
        var (g, x) = Instantiate(c, 7);
        var cot = g.Output.Shape.Size == 1 ? null : Tensor.RandomNormal(DType.F64, g.Output.Shape, new Random(1));
        var (_, grads) = new Tape(g).Run(x, cot);
        var seed = cot is null ? (Expr?)null : g.Builder.Input("seed_cotangent", DType.F64, g.Output.Shape.ToArray());
        var sym = SymbolicGradient.Of(g, seed: seed);
        if (cot is not null) x["seed_cotangent"] = cot;
        foreach (var (name, expr) in sym)
        {
            var v = new Tape(g.Builder.Build(expr), []).Forward(x);
            var want = grads[name];
            Assert.Equal(want.Shape, v.Shape);
            for (int i = 0; i < v.Size; i++) Assert.Equal(want.GetDouble(i), v.GetDouble(i), 10);
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void FloatPathAgreesWithDoublePath(Case c)
    {
        var (g, x) = Instantiate(c, 11);
        Assert.True(GradientChecker.CompareFloatToDouble(g, x) < 1e-4, c.Name);
    }

    [Fact]
    public void StopGradientBlocksTheGradient()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 3);
        var xv = Tensor.FromArray(new[] { 1.0, -2.0, 3.0 }, 3);
        var (v, g) = new Tape(b.Build((x.StopGradient() * x).Sum())).Run(new Dictionary<string, Tensor> { ["x"] = xv });
        Assert.Equal(14, v.GetDouble(0), 12);
        Assert.Equal(xv.ToDoubleArray(), g["x"].ToDoubleArray());   // d/dx (c·x) with c = x held constant
    }
}
