using Autodiff.Training;
using MathNet.Numerics.Distributions;

namespace Autodiff.Tests.Training;

/// <summary>The initializers' distributions against the formulas of torch.nn.init: bounds, variance within a few
/// standard errors, and a Kolmogorov–Smirnov distance to the exact distribution (MathNet's CDFs) below its 0.1% critical
/// value; seeded reproducibility.</summary>
public class InitTests
{
    private const int FanIn = 300, FanOut = 200;

    public static TheoryData<string, string, double> Cases() => new()
    {
        // name, distribution, scale (the uniform bound or the normal standard deviation)
        { "glorot-uniform", "uniform", Math.Sqrt(6.0 / (FanIn + FanOut)) },
        { "glorot-normal", "normal", Math.Sqrt(2.0 / (FanIn + FanOut)) },
        { "he-uniform", "uniform", Math.Sqrt(6.0 / FanIn) },
        { "he-normal", "normal", Math.Sqrt(2.0 / FanIn) },
    };

    private static Tensor Make(string name, DType dtype, int seed) => name switch
    {
        "glorot-uniform" => Init.GlorotUniform(dtype, new Shape(FanIn, FanOut), new Random(seed)),
        "glorot-normal" => Init.GlorotNormal(dtype, new Shape(FanIn, FanOut), new Random(seed)),
        "he-uniform" => Init.HeUniform(dtype, new Shape(FanIn, FanOut), new Random(seed)),
        _ => Init.HeNormal(dtype, new Shape(FanIn, FanOut), new Random(seed)),
    };

    [Theory, MemberData(nameof(Cases))]
    public void DrawsFromThePublishedDistribution(string name, string distribution, double scale)
    {
        foreach (var dtype in new[] { DType.F32, DType.F64 })
        {
            var t = Make(name, dtype, seed: 11);
            Assert.Equal(dtype, t.DType);
            var x = t.ToDoubleArray();
            Array.Sort(x);
            int n = x.Length;
            double variance = x.Select(v => v * v).Average();     // the mean is 0
            double expectedVariance = distribution == "uniform" ? scale * scale / 3 : scale * scale;
            // Var of x² over n draws: (E x⁴ − σ⁴)/n, with E x⁴ = a⁴/5 (uniform) or 3σ⁴ (normal).
            double fourth = distribution == "uniform" ? Math.Pow(scale, 4) / 5 : 3 * Math.Pow(scale, 4);
            double se = Math.Sqrt((fourth - expectedVariance * expectedVariance) / n);
            Assert.True(Math.Abs(variance - expectedVariance) < 5 * se, $"{name}: variance {variance} vs {expectedVariance} (se {se})");
            Assert.True(Math.Abs(x.Average()) < 5 * Math.Sqrt(expectedVariance / n), $"{name}: mean {x.Average()}");
            Func<double, double> cdf = distribution == "uniform" ? v => ContinuousUniform.CDF(-scale, scale, v) : v => Normal.CDF(0, scale, v);
            double d = 0;
            for (int i = 0; i < n; i++) d = Math.Max(d, Math.Max(cdf(x[i]) - (double)i / n, (double)(i + 1) / n - cdf(x[i])));
            Assert.True(d < 1.95 / Math.Sqrt(n), $"{name}: Kolmogorov–Smirnov distance {d}");
            if (distribution == "uniform")
            {
                Assert.True(x[0] >= -scale && x[^1] <= scale, $"{name}: range [{x[0]}, {x[^1]}] outside ±{scale}");
                Assert.True(x[0] < -0.99 * scale && x[^1] > 0.99 * scale, $"{name}: range [{x[0]}, {x[^1]}] does not reach ±{scale}");
            }
        }
    }

    [Theory, MemberData(nameof(Cases))]
    public void TheSeedFixesTheValues(string name, string distribution, double scale)
    {
        _ = (distribution, scale);
        Assert.Equal(Make(name, DType.F64, 5).ToDoubleArray(), Make(name, DType.F64, 5).ToDoubleArray());
        Assert.NotEqual(Make(name, DType.F64, 5).ToDoubleArray(), Make(name, DType.F64, 6).ToDoubleArray());
    }

    [Fact]
    public void FansFollowTheMatMulLayout()
    {
        Assert.Equal((3, 5), Init.Fans(new Shape(3, 5)));
        Assert.Equal((2 * 4 * 3, 2 * 4 * 5), Init.Fans(new Shape(2, 4, 3, 5)));
        Assert.Contains("has no fan-in and fan-out (rank 1 < 2)", Assert.Throws<AutodiffException>(() => Init.Fans(new Shape(3))).Message);
        Assert.Contains("weights must be f32 or f64, not i64", Assert.Throws<AutodiffException>(() => Init.HeNormal(DType.I64, new Shape(2, 2), new Random(1))).Message);
        var gain = Init.GlorotUniform(DType.F64, new Shape(10, 10), new Random(1), gain: 2).ToDoubleArray();
        Assert.True(gain.Max(Math.Abs) <= 2 * Math.Sqrt(6.0 / 20));
    }
}
