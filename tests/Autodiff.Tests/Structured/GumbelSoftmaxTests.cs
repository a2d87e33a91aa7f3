using static Autodiff.Tests.Structured.GumbelData;

namespace Autodiff.Tests.Structured;

/// <summary><c>gumbel_softmax</c>: gradient checks with the noise fixed by the seed (central differences in double),
/// agreement with softmax((z + gumbel_noise)/τ) in value and gradient, the symbolic gradient, float32 against float64,
/// the straight-through variant (exact one-hot rows of the gumbel_max sample, relaxed gradient), stability at τ = 0.01
/// with logits of magnitude 1e3, and errors.</summary>
public class GumbelSoftmaxTests
{
    public sealed record Case(string Name, int[] Shape, int Axis, double Tau, int Seed)
    {
        public override string ToString() => Name;

        public Tensor Logits(DType dt, double scale = 1)
        {
            var rng = new Random(Seed);
            var v = Enumerable.Range(0, new Shape(Shape).Size).Select(_ => scale * (rng.NextDouble() * 4 - 2)).ToArray();
            return Tensor.FromDoubles(dt, new Shape(Shape), v);
        }
    }

    public static TheoryData<Case> Cases => new()
    {
        new("rows, tau 0.5", [3, 4], 1, 0.5, 1),
        new("columns, tau 1", [3, 4], 0, 1.0, 2),
        new("middle axis, tau 0.7", [2, 5, 3], 1, 0.7, 3),
        new("vector, tau 2", [6], 0, 2.0, 4),
        new("first of three axes, tau 0.3", [4, 2, 2], 0, 0.3, 5),
    };

    private static Graph Build(Case c, DType dt, bool hard, out Expr z)
    {
        var b = new GraphBuilder();
        z = b.Input("z", dt, c.Shape);
        return b.Build(z.GumbelSoftmax(c.Tau, c.Seed, c.Axis, hard));
    }

    private static Dictionary<string, Tensor> X(Case c, DType dt) => new() { ["z"] = c.Logits(dt) };

    [Theory, MemberData(nameof(Cases))]
    public void PassesGradientCheckWithFixedNoise(Case c)
    {
        var r = GradientChecker.Check(Build(c, DType.F64, hard: false, out _), X(c, DType.F64));
        Assert.True(r.Passed, r.ToString());
    }

    [Theory, MemberData(nameof(Cases))]
    public void PassesGradientCheckInsideALoss(Case c)
    {
        // loss = Σ w ⊙ gumbel_softmax(z): gradients to z through the relaxation and to w.
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, c.Shape);
        var w = b.Input("w", DType.F64, c.Shape);
        var g = b.Build((z.GumbelSoftmax(c.Tau, c.Seed, c.Axis) * w).Sum());
        var x = X(c, DType.F64);
        x["w"] = Tensor.RandomNormal(DType.F64, new Shape(c.Shape), new Random(c.Seed + 100));
        var r = GradientChecker.Check(g, x);
        Assert.True(r.Passed, r.ToString());
    }

    [Theory, MemberData(nameof(Cases))]
    public void EqualsSoftmaxOfPerturbedLogitsOverTau(Case c)
    {
        var dt = DType.F64;
        var b = new GraphBuilder();
        var z = b.Input("z", dt, c.Shape);
        var fused = b.Build(z.GumbelSoftmax(c.Tau, c.Seed, c.Axis));
        var composite = b.Build(((z + Expr.GumbelNoise(b, c.Shape, c.Seed, dt)) / c.Tau).Softmax(c.Axis));
        var cot = Tensor.RandomNormal(dt, new Shape(c.Shape), new Random(9));
        var a = new Tape(fused).Run(X(c, dt), cot);
        var av = a.Value.Clone();
        var ag = a.Gradients["z"].Clone();
        var e = new Tape(composite).Run(X(c, dt), cot);
        Fused.FusedRun.AssertClose(e.Value.ToDoubleArray(), av.ToDoubleArray(), 1e-12, "value");
        Fused.FusedRun.AssertClose(e.Gradients["z"].ToDoubleArray(), ag.ToDoubleArray(), 1e-12, "d/dz");
    }

    [Theory, MemberData(nameof(Cases))]
    public void SymbolicGradientAgreesWithTheTape(Case c)
    {
        foreach (var hard in new[] { false, true })
        {
            var g = Build(c, DType.F64, hard, out var z);
            var b = z.Builder;
            var loss = (g.Output.Expr * Expr.GumbelNoise(b, c.Shape, 99, DType.F64)).Sum();   // a fixed random cotangent
            var lg = b.Build(loss);
            var tape = new Tape(lg).Run(X(c, DType.F64)).Gradients["z"].ToDoubleArray();
            var symbolic = new Tape(b.Build(SymbolicGradient.Of(lg)["z"])).Forward(X(c, DType.F64)).ToDoubleArray();
            Fused.FusedRun.AssertClose(tape, symbolic, 1e-12, $"hard={hard}");
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void FloatPathAgreesWithDoublePath(Case c) =>
        Assert.True(GradientChecker.CompareFloatToDouble(Build(c, DType.F64, false, out _), X(c, DType.F64)) < 1e-4);

    [Theory, MemberData(nameof(Cases))]
    public void HardReturnsExactOneHotRowsOfTheGumbelMaxSampleWithTheRelaxedGradient(Case c)
    {
        foreach (var dt in new[] { DType.F32, DType.F64 })
        {
            var b = new GraphBuilder();
            var z = b.Input("z", dt, c.Shape);
            var hard = z.GumbelSoftmax(c.Tau, c.Seed, c.Axis, hard: true);
            var soft = z.GumbelSoftmax(c.Tau, c.Seed, c.Axis);
            var oneHot = z.GumbelMax(c.Seed, c.Axis).OneHot(c.Shape[c.Axis], dt);
            var h = Eval(b.Build(hard), ("z", c.Logits(dt)));
            // one_hot appends the class axis last; move it to c.Axis.
            var perm = Enumerable.Range(0, c.Shape.Length - 1).ToList();
            perm.Insert(c.Axis, c.Shape.Length - 1);
            var expected = Eval(b.Build(oneHot.Transpose(perm.ToArray())), ("z", c.Logits(dt)));
            Assert.Equal(expected.ToDoubleArray(), h.ToDoubleArray());
            Assert.All(h.ToDoubleArray(), v => Assert.True(v == 0 || v == 1));
            Assert.Equal(expected.ToDoubleArray().Sum(), new Shape(c.Shape).Size / c.Shape[c.Axis]);

            // Straight-through: the gradient is exactly the relaxed one.
            var cot = Tensor.RandomNormal(dt, new Shape(c.Shape), new Random(4));
            var gh = new Tape(b.Build(hard)).Run(new Dictionary<string, Tensor> { ["z"] = c.Logits(dt) }, cot).Gradients["z"].ToDoubleArray();
            var gs = new Tape(b.Build(soft)).Run(new Dictionary<string, Tensor> { ["z"] = c.Logits(dt) }, cot).Gradients["z"].ToDoubleArray();
            Assert.Equal(gs, gh);
        }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void StableAtSmallTauAndLargeLogits(DType dt)
    {
        // τ = 0.01 and logits of magnitude 1e3: (z + G)/τ spans 2e5. Oracle: the same formula in double, max-shifted.
        double[] logits = [1000, -1000, 999.9, 1000.05, 1001, -999, 0, 1000.02];
        const double tau = 0.01;
        const int seed = 3;
        var b = new GraphBuilder();
        var z = b.Input("z", dt, 2, 4);
        var y = z.GumbelSoftmax(tau, seed);
        var x = Tensor.FromDoubles(dt, new Shape(2, 4), logits);
        var cot = Tensor.FromDoubles(dt, new Shape(2, 4), [1, -2, 0.5, 3, -1, 2, 0.25, 1.5]);
        var (value, grads) = new Tape(b.Build(y)).Run(new Dictionary<string, Tensor> { ["z"] = x }, cot);
        var v = value.ToDoubleArray();
        var gz = grads["z"].ToDoubleArray();
        var xs = x.ToDoubleArray();
        for (int r = 0; r < 2; r++)
        {
            var s = Enumerable.Range(0, 4).Select(j => (xs[4 * r + j] + GumbelNoise.Sample(seed, 4 * r + j)) / tau).ToArray();
            var q = Softmax(s);
            var gr = cot.ToDoubleArray().AsSpan(4 * r, 4).ToArray();
            double dot = q.Zip(gr, (a, c) => a * c).Sum();
            for (int j = 0; j < 4; j++)
            {
                Assert.Equal(q[j], v[4 * r + j], dt == DType.F32 ? 1e-5 : 1e-9);
                Assert.Equal(q[j] * (gr[j] - dot) / tau, gz[4 * r + j], dt == DType.F32 ? 1e-3 : 1e-7);
            }
            Assert.Equal(1, v.AsSpan(4 * r, 4).ToArray().Sum(), 1e-6);
        }
        Assert.All(gz, d => Assert.True(double.IsFinite(d)));
    }

    [Fact]
    public void SmallTauApproachesTheHardSample()
    {
        // As τ → 0 the relaxed sample tends to the one-hot of argmax(z + G): the hard sample.
        var c = new Case("limit", [5, 6], 1, 1, 8);
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, c.Shape);
        var hard = Eval(b.Build(z.GumbelSoftmax(1, c.Seed, hard: true)), ("z", c.Logits(DType.F64))).ToDoubleArray();
        double previous = double.PositiveInfinity;
        foreach (var tau in new[] { 1.0, 0.3, 0.1, 0.03, 0.01, 0.001 })
        {
            var soft = Eval(b.Build(z.GumbelSoftmax(tau, c.Seed)), ("z", c.Logits(DType.F64))).ToDoubleArray();
            double dist = soft.Zip(hard, (a, h) => Math.Abs(a - h)).Max();
            Assert.True(dist <= previous, $"tau {tau}: distance {dist} grew from {previous}");
            previous = dist;
        }
        Assert.True(previous < 1e-6, $"distance at tau 0.001: {previous}");
    }

    [Fact]
    public void NonFiniteLogits()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 3, 3);
        var x = Tensor.FromArray([0, double.NegativeInfinity, 1, double.NaN, 0, 1, double.PositiveInfinity, 0, 2.0], 3, 3);
        var soft = Eval(b.Build(z.GumbelSoftmax(0.5, 1)), ("z", x));
        var hard = Eval(b.Build(z.GumbelSoftmax(0.5, 1, hard: true)), ("z", x));
        Assert.Equal(0, soft[0, 1]);                       // −inf: probability 0
        Assert.Equal(0, hard[0, 1]);
        Assert.All(new[] { soft[1, 0], soft[1, 1], soft[1, 2], hard[1, 0], hard[1, 1], hard[1, 2] }, v => Assert.True(double.IsNaN(v)));
        Assert.Equal([1.0, 0, 0], new[] { soft[2, 0], soft[2, 1], soft[2, 2] });   // +inf takes everything
        Assert.Equal([1.0, 0, 0], new[] { hard[2, 0], hard[2, 1], hard[2, 2] });
    }

    [Fact]
    public void ReproducibleAcrossEvaluations()
    {
        var c = new Case("repeat", [50, 7], 1, 0.4, 6);
        var g = Build(c, DType.F32, false, out _);
        var tape = new Tape(g, []);
        var first = tape.Forward(X(c, DType.F32)).ToDoubleArray();
        Assert.Equal(first, tape.Forward(X(c, DType.F32)).ToDoubleArray());
        Assert.Equal(first, Eval(Build(c, DType.F32, false, out _), ("z", c.Logits(DType.F32))).ToDoubleArray());
    }

    [Fact]
    public void BadArgumentsAreShapeErrors()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 2, 3);
        Assert.Contains("gumbel_softmax: tau must be positive and finite, got 0", Assert.Throws<ShapeException>(() => z.GumbelSoftmax(0, 1)).Message);
        Assert.Contains("tau must be positive", Assert.Throws<ShapeException>(() => z.GumbelSoftmax(double.NaN, 1)).Message);
        Assert.Contains("axis -3 is out of range", Assert.Throws<ShapeException>(() => z.GumbelSoftmax(1, 1, axis: -3)).Message);
        var t = b.Input("t", DType.I64, 2, 3);
        Assert.Contains("logits must be f32 or f64", Assert.Throws<ShapeException>(() => t.GumbelSoftmax(1, 1)).Message);
    }
}
