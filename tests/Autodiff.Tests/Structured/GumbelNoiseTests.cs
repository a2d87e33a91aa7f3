using static Autodiff.Tests.Structured.GumbelData;

namespace Autodiff.Tests.Structured;

/// <summary>The counter-based Gumbel(0, 1) generator and the <c>gumbel_noise</c> op: reproducible, keyed by (seed, index),
/// finite and accurate at the extreme uniforms, and Gumbel distributed (chi-square on equiprobable bins of the CDF).</summary>
public class GumbelNoiseTests
{
    [Fact]
    public void ExtremeUniformsGiveFiniteAccurateValues()
    {
        // k = 0: u = 2^-54, g = -log(-log u) = -log(54 ln 2).
        Assert.Equal(-Math.Log(54 * Math.Log(2)), GumbelNoise.FromBits(0), 14);
        // k = 2^53 - 1: 1 - u = 2^-54, -log u = 2^-54 (1 + 2^-55 + ...), so g = 54 ln 2 to double precision
        // (the naive -log(-log u) with u rounded to 1 would be +inf).
        Assert.Equal(54 * Math.Log(2), GumbelNoise.FromBits(ulong.MaxValue), 12);
        // Second largest k: 1 - u = 3·2^-54.
        Assert.Equal(54 * Math.Log(2) - Math.Log(3), GumbelNoise.FromBits(ulong.MaxValue - (1UL << 11)), 12);
    }

    [Fact]
    public void ValueIncreasesWithTheBitsAcrossTheLog1pSwitch()
    {
        // k = 2^52 (u = 1/2 + 2^-54) is where the formula switches to log1p; 16 steps of k change g by about 5e-15.
        ulong half = 1UL << 63, step = 16UL << 11;
        double below = GumbelNoise.FromBits(half - step), at = GumbelNoise.FromBits(half), above = GumbelNoise.FromBits(half + step);
        Assert.True(below < at && at < above, $"{below:R} {at:R} {above:R}");
        Assert.Equal(-Math.Log(Math.Log(2)), at, 14);
        Assert.True(at - below < 1e-13 && above - at < 1e-13);
    }

    [Fact]
    public void UniformsAreInTheOpenInterval()
    {
        Assert.Equal(Math.Pow(2, -53), GumbelNoise.UniformFromBits(0));
        Assert.Equal(1 - Math.Pow(2, -53), GumbelNoise.UniformFromBits(ulong.MaxValue));
        for (long i = 0; i < 10_000; i++)
        {
            double u = GumbelNoise.Uniform(5, i);
            Assert.True(u > 0 && u < 1);
        }
    }

    [Fact]
    public void NoiseIsGumbelDistributed()
    {
        // 20 equiprobable bins of the Gumbel CDF F(g) = exp(-exp(-g)): bin = floor(20·F(g)).
        const int n = 200_000, bins = 20;
        var counts = new long[bins];
        for (long i = 0; i < n; i++) counts[Math.Min(bins - 1, (int)(bins * Math.Exp(-Math.Exp(-GumbelNoise.Sample(42, i)))))]++;
        double p = ChiSquarePValue(counts, Enumerable.Repeat(1.0 / bins, bins).ToArray());
        Assert.True(p > 0.001, $"chi-square p-value {p:G3}, counts {string.Join(", ", counts)}");
        // Mean: the Euler–Mascheroni constant; variance π²/6 (standard errors about 0.003 and 0.01).
        var g = Enumerable.Range(0, n).Select(i => GumbelNoise.Sample(42, i)).ToArray();
        double mean = g.Average(), variance = g.Select(x => (x - mean) * (x - mean)).Sum() / (n - 1);
        Assert.InRange(mean, 0.5772156649 - 0.015, 0.5772156649 + 0.015);
        Assert.InRange(variance, Math.PI * Math.PI / 6 - 0.05, Math.PI * Math.PI / 6 + 0.05);
    }

    [Fact]
    public void StreamsOfDifferentSeedsAreUncorrelated()
    {
        const int n = 100_000;
        double[] a = Enumerable.Range(0, n).Select(i => GumbelNoise.Sample(1, i)).ToArray();
        double[] b = Enumerable.Range(0, n).Select(i => GumbelNoise.Sample(2, i)).ToArray();
        double[] shifted = Enumerable.Range(1, n).Select(i => GumbelNoise.Sample(1, i)).ToArray();
        // |correlation| of independent samples is about 1/sqrt(n) = 0.003.
        Assert.InRange(MathNet.Numerics.Statistics.Correlation.Pearson(a, b), -0.015, 0.015);
        Assert.InRange(MathNet.Numerics.Statistics.Correlation.Pearson(a, shifted), -0.015, 0.015);
    }

    private static Tensor Noise(int[] shape, int seed, DType dt)
    {
        var b = new GraphBuilder();
        return Eval(b.Build(Expr.GumbelNoise(b, shape, seed, dt)));
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void OpIsKeyedBySeedAndFlatIndexAndReproducible(DType dt)
    {
        var b = new GraphBuilder();
        var e = Expr.GumbelNoise(b, [3, 4, 5], seed: 9, dt);
        Assert.Equal(e, Expr.GumbelNoise(b, [3, 4, 5], seed: 9, dt));   // one node: the same noise
        var tape = new Tape(b.Build(e), []);
        var first = tape.Forward(new Dictionary<string, Tensor>()).Clone();
        Assert.Equal(first.ToDoubleArray(), tape.Forward(new Dictionary<string, Tensor>()).ToDoubleArray());
        Assert.Equal(first.ToDoubleArray(), Noise([3, 4, 5], 9, dt).ToDoubleArray());
        for (int i = 0; i < first.Size; i++)
            Assert.Equal(dt == DType.F32 ? (float)GumbelNoise.Sample(9, i) : GumbelNoise.Sample(9, i), first.GetDouble(i));
        // The shape only lays the stream out: a prefix of the flat stream is the same for any shape.
        Assert.Equal(first.ToDoubleArray()[..7], Noise([7], 9, dt).ToDoubleArray());
        Assert.NotEqual(first.ToDoubleArray(), Noise([3, 4, 5], 10, dt).ToDoubleArray());
    }

    [Fact]
    public void OpChecksItsAttributes()
    {
        var b = new GraphBuilder();
        var ex = Assert.Throws<ShapeException>(() => Expr.GumbelNoise(b, [2, -1], 0, DType.F64));
        Assert.Contains("gumbel_noise", ex.Message);
        Assert.Contains("negative", ex.Message);
        Assert.Contains("f32 or f64", Assert.Throws<ShapeException>(() => Expr.GumbelNoise(b, [2], 0, DType.I64)).Message);
    }
}
