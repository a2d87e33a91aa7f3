using Autodiff.Kernels;

namespace Autodiff.Tests.Kernels;

/// <summary>erf and Φ against an independent oracle: the Maclaurin series of erf summed in decimal (28 digits) for
/// |x| &lt; 2.5, and Laplace's continued fraction of erfc in double beyond (where erf's ulp is 1.1e-16 and erfc is below
/// 4.1e-4, so the fraction's relative error of about 1e-15 is far below half an ulp of erf).</summary>
public class ErfTests
{
    private const decimal TwoOverSqrtPi = 1.1283791670955125738961589031m;

    /// <summary>erf(x) by 2/√π·Σ (−1)ⁿ x^(2n+1) / (n!(2n+1)) in decimal, for |x| &lt; 2.5.</summary>
    internal static decimal ErfSeries(double x)
    {
        decimal d = Exact(x), d2 = d * d, term = d, sum = 0;
        for (int n = 0; n < 200; n++)
        {
            decimal t = term / (2 * n + 1);
            sum += t;
            if (t == 0 || Math.Abs(t) < 1e-27m * Math.Abs(sum)) break;
            term = -term * d2 / (n + 1);
        }
        return TwoOverSqrtPi * sum;
    }

    /// <summary>x in decimal to 28 digits (the cast keeps only 15): the 53-bit integer mantissa over a power of two.
    /// For 1e-8 ≤ |x| &lt; 2.5.</summary>
    private static decimal Exact(double x)
    {
        if (x == 0) return 0;
        int shift = 52 - Math.ILogB(x);
        decimal p = 1;
        for (int k = 0; k < shift; k++) p *= 2;
        return (decimal)(long)Math.ScaleB(x, shift) / p;
    }

    /// <summary>erfc(x) for x ≥ 2.5 by the continued fraction exp(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))).</summary>
    internal static double ErfcFraction(double x) => Math.Exp(-x * x) / Math.Sqrt(Math.PI) / Fraction(x);

    private static double Fraction(double x)
    {
        double f = x;
        for (int k = 400; k >= 1; k--) f = x + k / 2.0 / f;
        return f;
    }

    /// <summary>Φ(x) for x ≤ −2.5·√2 from the fraction at z = −x/√2, with exp(−z²) = exp(−x²/2) taken from x² split
    /// exactly (hi + lo), so that the rounding of z does not reach the exponential.</summary>
    internal static double PhiTail(double x)
    {
        double hi = x * x, lo = Math.FusedMultiplyAdd(x, x, -hi);
        return Math.Exp(-hi / 2) * (1 - lo / 2) / Math.Sqrt(Math.PI) / Fraction(-x / Math.Sqrt(2)) / 2;
    }

    /// <summary>erf(x) from the oracle, as the double nearest to it (where it is representable to an ulp).</summary>
    private static double Oracle(double x)
    {
        double a = Math.Abs(x);
        if (a < 1e-8) return x * (double)TwoOverSqrtPi * (1 - x * x / 3);   // the series' first terms, to 1e-17
        if (a < 2.5) return (double)ErfSeries(x);
        return Math.CopySign(1 - ErfcFraction(a), x);
    }

    private static double Ulps(double got, double want) => Math.Abs(got - want) / Math.Max(double.Epsilon, Math.Abs(double.BitIncrement(Math.Abs(want)) - Math.Abs(want)));

    public static IEnumerable<double> Points()
    {
        var rng = new Random(5);
        for (int i = 0; i < 4000; i++) yield return rng.NextDouble() * 14 - 7;
        for (int i = 0; i < 2000; i++) yield return rng.NextDouble() * 2.4 - 1.2;
        for (int i = 0; i < 300; i++) yield return Math.Pow(10, -rng.NextDouble() * 300) * (i % 2 == 0 ? 1 : -1);
        foreach (var b in new[] { 1.0, 3.0, 6.0 })
            foreach (var x in new[] { double.BitDecrement(b), b, double.BitIncrement(b) }) { yield return x; yield return -x; }
        yield return 0.5; yield return 2.5; yield return 5.9; yield return 27; yield return 30;
    }

    [Fact]
    public void DoubleIsWithinTwoUlps()
    {
        var xs = Points().ToArray();
        var y = new double[xs.Length];
        ErfKernel.Erf<double>(xs, y);
        for (int i = 0; i < xs.Length; i++)
        {
            double u = Ulps(y[i], Oracle(xs[i]));
            Assert.True(u <= 2, $"erf({xs[i]:R}) = {y[i]:R}, oracle {Oracle(xs[i]):R}: {u:F2} ulp");
        }
    }

    [Fact]
    public void FloatIsWithinOneUlpOfTheRoundedOracle()
    {
        var xs = Points().Select(v => (float)v).ToArray();
        var y = new float[xs.Length];
        ErfKernel.Erf<float>(xs, y);
        for (int i = 0; i < xs.Length; i++)
        {
            float want = (float)Oracle(xs[i]);
            float ulp = MathF.BitIncrement(MathF.Abs(want)) - MathF.Abs(want);
            Assert.True(MathF.Abs(y[i] - want) <= ulp, $"erf({xs[i]:R}f) = {y[i]:R}, oracle {want:R}");
        }
    }

    [Fact]
    public void EdgeValues()
    {
        double[] xs = [0.0, -0.0, double.PositiveInfinity, double.NegativeInfinity, double.NaN, double.Epsilon, -double.Epsilon, 1e300, -1e300];
        var y = new double[xs.Length];
        ErfKernel.Erf<double>(xs, y);
        // erf(ε) = 2ε/√π rounds to ε for the smallest subnormal
        Assert.Equal([0.0, -0.0, 1, -1, double.NaN, double.Epsilon, -double.Epsilon, 1, -1], y);
        Assert.True(double.IsNegative(y[1]));
        var c = new double[xs.Length];
        ErfKernel.NormalCdf<double>(xs, c);
        Assert.Equal([0.5, 0.5, 1, 0, double.NaN, 0.5, 0.5, 1, 0], c);
    }

    [Fact]
    public void NormalCdfKeepsItsRelativeAccuracyInTheLowerTail()
    {
        // Φ(x) = erfc(−x/√2)/2; for x ≤ −2.5·√2 the fraction is the oracle, relative to Φ itself.
        var xs = Enumerable.Range(0, 400).Select(i => -3.6 - i * 0.085).Append(-37.5).ToArray();
        var y = new double[xs.Length];
        ErfKernel.NormalCdf<double>(xs, y);
        for (int i = 0; i < xs.Length; i++)
        {
            double want = PhiTail(xs[i]);
            Assert.True(Math.Abs(y[i] - want) <= 2e-15 * want, $"Φ({xs[i]}) = {y[i]:R}, oracle {want:R}");
        }
        // and through the middle, from the series
        foreach (var x in new[] { -3.5, -2, -1, -0.1, 0, 0.3, 1, 2, 3.5 })
        {
            double want = (double)(0.5m + ErfSeries(x / Math.Sqrt(2)) / 2), got = ErfKernel.Scalar(x, cdf: true);
            Assert.True(Math.Abs(got - want) <= 2e-15 * want, $"Φ({x}) = {got:R}, oracle {want:R}");   // the oracle rounds x/√2
        }
    }
}
