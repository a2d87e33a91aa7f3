using static Autodiff.Tests.Structured.GumbelData;

namespace Autodiff.Tests.Structured;

/// <summary><c>gumbel_max</c>: chi-square goodness of fit of 100,000 seeded draws against softmax(logits) (logits up to
/// magnitude 1e3, float32 and float64, last and inner axes), agreement with argmax(logits + gumbel_noise) computed
/// independently, non-finite logits, shapes and errors.</summary>
public class GumbelMaxTests
{
    private const int Draws = 100_000;

    public static TheoryData<double[], DType, int> Logits => new()
    {
        { [0, 0, 0], DType.F64, 1 },
        { [1, 2, 3], DType.F64, 2 },
        { [1000, 1001, 999], DType.F64, 3 },
        { [1000, 1001, 999], DType.F32, 4 },
        { [-1000, -999, -1001.5, -998], DType.F64, 5 },
        { [0.5, -1, 2, 0, 1, -2], DType.F32, 6 },
        { [0.5, -1, 2, 0, 1, -2], DType.F64, 7 },
        { [3, -2], DType.F64, 8 },
    };

    [Theory, MemberData(nameof(Logits))]
    public void DrawsFollowSoftmaxOfTheLogits(double[] logits, DType dt, int seed)
    {
        var counts = Histogram(GumbelMaxDraws(logits, dt, Draws, seed), logits.Length);
        double p = ChiSquarePValue(counts, Softmax(logits));
        Assert.True(p > 0.001, $"chi-square p-value {p:G3}: counts {string.Join(", ", counts)} vs softmax {string.Join(", ", Softmax(logits).Select(q => q.ToString("G4")))}");
    }

    [Fact]
    public void DrawsAlongAnInnerAxisFollowSoftmax()
    {
        // logits [4] laid along axis 1 of [100, 4, 1000]: 100,000 draws, the rows being strided in memory.
        double[] logits = [1000.5, 999, 1001, 1000];
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 4);
        var g = b.Build(z.Reshape(1, 4, 1).BroadcastTo(100, 4, 1000).GumbelMax(seed: 11, axis: 1));
        var draws = Eval(g, ("z", Vector(DType.F64, logits)));
        Assert.Equal(new Shape(100, 1000), draws.Shape);
        double p = ChiSquarePValue(Histogram(Longs(draws), 4), Softmax(logits));
        Assert.True(p > 0.001, $"chi-square p-value {p:G3}");
    }

    [Theory]
    [InlineData(DType.F32, 0)]
    [InlineData(DType.F64, 1)]
    [InlineData(DType.F64, 2)]
    public void EqualsArgmaxOfLogitsPlusNoise(DType dt, int axis)
    {
        // Oracle: a plain loop over the logits with GumbelNoise.Sample(seed, flat index), in double.
        int[] shape = [3, 5, 4];
        var rng = new Random(3);
        var x = Enumerable.Range(0, 60).Select(_ => rng.NextDouble() * 6 - 3).ToArray();
        var b = new GraphBuilder();
        var z = b.Input("z", dt, shape);
        var got = Longs(Eval(b.Build(z.GumbelMax(seed: 21, axis: axis)), ("z", Tensor.FromDoubles(dt, new Shape(shape), x))));
        var xs = Tensor.FromDoubles(dt, new Shape(shape), x).ToDoubleArray();
        var strides = new Shape(shape).Strides();
        int r = 0;
        for (int i0 = 0; i0 < (axis == 0 ? 1 : shape[0]); i0++)
            for (int i1 = 0; i1 < (axis == 1 ? 1 : shape[1]); i1++)
                for (int i2 = 0; i2 < (axis == 2 ? 1 : shape[2]); i2++, r++)
                {
                    int best = -1;
                    double bestValue = double.NegativeInfinity;
                    for (int j = 0; j < shape[axis]; j++)
                    {
                        int f = i0 * strides[0] + i1 * strides[1] + i2 * strides[2] + j * strides[axis];
                        double v = xs[f] + GumbelNoise.Sample(21, f);
                        if (v > bestValue) { best = j; bestValue = v; }
                    }
                    Assert.Equal(best, got[r]);
                }
        Assert.Equal(got.Length, r);
    }

    [Fact]
    public void FloatAndDoubleLogitsGiveTheSameSamples()
    {
        double[] logits = [0.25, -1.5, 3, 0, 2.75];   // exact in float32
        Assert.Equal(GumbelMaxDraws(logits, DType.F64, 5000, 13), GumbelMaxDraws(logits, DType.F32, 5000, 13));
    }

    [Fact]
    public void ReproducibleAndSeedDependent()
    {
        double[] logits = [0, 1, 2];
        Assert.Equal(GumbelMaxDraws(logits, DType.F64, 1000, 5), GumbelMaxDraws(logits, DType.F64, 1000, 5));
        Assert.NotEqual(GumbelMaxDraws(logits, DType.F64, 1000, 5), GumbelMaxDraws(logits, DType.F64, 1000, 6));
    }

    [Fact]
    public void MinusInfinityIsNeverDrawnAndPlusInfinityAlwaysIs()
    {
        var masked = Histogram(GumbelMaxDraws([1, double.NegativeInfinity, 1.5, double.NegativeInfinity], DType.F64, 20_000, 1), 4);
        Assert.Equal(0, masked[1]);
        Assert.Equal(0, masked[3]);
        Assert.True(ChiSquarePValue(masked, Softmax([1, double.NegativeInfinity, 1.5, double.NegativeInfinity])) > 0.001);
        // Several +inf logits: the limit of equal logits growing together, a uniform choice among them.
        var inf = Histogram(GumbelMaxDraws([double.PositiveInfinity, 5, double.PositiveInfinity], DType.F64, 20_000, 2), 3);
        Assert.Equal(0, inf[1]);
        Assert.True(ChiSquarePValue(inf, [0.5, 0, 0.5]) > 0.001);
    }

    [Fact]
    public void HugeLogitGapsAreExact()
    {
        // softmax([0, 50]) puts 1.9e-22 on class 0: never drawn in 10,000 draws; the comparison never overflows.
        Assert.Equal(10_000, GumbelMaxDraws([0, 50], DType.F64, 10_000, 3).Count(k => k == 1));
        Assert.All(GumbelMaxDraws([1e30, -1e30, 1e30 - 1e20], DType.F64, 100, 3), k => Assert.Equal(0, k));
    }

    [Fact]
    public void NaNLogitIsAnErrorNamingThePosition()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 2, 3);
        var g = b.Build(z.GumbelMax(seed: 1));
        var ex = Assert.Throws<AutodiffException>(() => Eval(g, ("z", Tensor.FromArray([0, 1, 2, 3, double.NaN, 5.0], 2, 3))));
        Assert.Contains("gumbel_max", ex.Message);
        Assert.Contains("[1, 1]", ex.Message);
    }

    [Fact]
    public void ShapeTypeAndGradient()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F32, 2, 3, 4);
        var k = z.GumbelMax(seed: 0, axis: -2);
        Assert.Equal(new Shape(2, 4), k.Shape);
        Assert.Equal(DType.I64, k.DType);
        Assert.Equal(new GumbelMaxOp(1, 0), k.Node.Op);
        Assert.Null(Assert.Single(k.Node.Op.Gradient(k.Node, k)));
        // Used through take(log_softmax(z), k): the sample carries no gradient, the log-probability does.
        var logp = z.LogSoftmax(1).Take(k, axis: 1).Sum();
        var grads = new Tape(b.Build(logp)).Run(new Dictionary<string, Tensor> { ["z"] = Tensor.Zeros(DType.F32, 2, 3, 4) }).Gradients["z"];
        Assert.All(grads.ToDoubleArray(), v => Assert.True(double.IsFinite(v)));
    }

    [Fact]
    public void BadOperandsAreShapeErrors()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 2, 3);
        Assert.Contains("gumbel_max: axis 2 is out of range for shape [2, 3]", Assert.Throws<ShapeException>(() => z.GumbelMax(0, axis: 2)).Message);
        var t = b.Input("t", DType.I64, 2, 3);
        Assert.Contains("logits must be f32 or f64, got i64[2, 3]", Assert.Throws<ShapeException>(() => t.GumbelMax(0)).Message);
        var empty = b.Input("e", DType.F64, 2, 0);
        Assert.Contains("empty", Assert.Throws<ShapeException>(() => empty.GumbelMax(0)).Message);
    }
}
