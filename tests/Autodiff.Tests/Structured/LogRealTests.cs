using Autodiff.Structured;
using CsCheck;

namespace Autodiff.Tests.Structured;

/// <summary><see cref="LogReal{T}"/> against exact rational arithmetic (BigInteger ratios) and against double where double is
/// exact: every operation, sign changes, cancellation to exact zero, sums and products of thousands of factors far outside
/// double's range, ordering and equality, printing; plus property tests with CsCheck.</summary>
public class LogRealTests
{
    private const double Eps = 1.1102230246251565e-16;   // 2^-53

    /// <summary>Doubles spread over the whole exponent range, with random signs.</summary>
    private static readonly Gen<double> Wide = Gen.Select(Gen.Bool, Gen.Double[1, 2], Gen.Int[-1000, 1000],
        (neg, m, e) => (neg ? -1 : 1) * Math.ScaleB(m, e));

    /// <summary>Doubles of moderate size and small integers, where cancellation happens often.</summary>
    private static readonly Gen<double> Near = Gen.OneOf(Gen.Int[-20, 20].Select(i => (double)i), Gen.Double[-4, 4]);

    private static LogReal<double> L(double v) => v;

    /// <summary>|log|got| − log|want|| ≤ tol and equal signs (unless tol ≥ 1); exactly zero when the exact result is zero.</summary>
    private static void AssertClose(Rational want, LogReal<double> got, double tol, string what)
    {
        if (want.Sign == 0)
        {
            Assert.True(got.IsZero, $"{what}: want exactly 0, got {got}");
            return;
        }
        if (tol >= 1) return;   // so ill-conditioned that the bound does not fix the sign (the result may even round to 0)
        Assert.Equal(want.Sign, got.Sign);
        double err = Math.Abs(got.Log - want.LogAbs());
        Assert.True(err <= tol, $"{what}: log error {err:G3} > {tol:G3} (got {got}, want log {want.LogAbs():R})");
    }

    /// <summary>Rounding allowance of the log of a result built from operands with logs <paramref name="logs"/>.</summary>
    private static double Tol(params double[] logs) => 16 * Eps * (2 + logs.Sum(Math.Abs));

    /// <summary>(|a| + |b|) / |a + b|: how much a sum amplifies its operands' relative errors.</summary>
    private static double Condition(Rational a, Rational b) =>
        Math.Exp((a.Abs() + b.Abs()).LogAbs() - (a + b).LogAbs());

    [Fact]
    public void ProductsAndQuotientsMatchExactArithmetic() =>
        Gen.Select(Wide, Wide).Sample((a, b) =>
        {
            Rational ra = Rational.FromDouble(a), rb = Rational.FromDouble(b);
            double tol = Tol(Math.Log(Math.Abs(a)), Math.Log(Math.Abs(b)));
            AssertClose(ra * rb, L(a) * L(b), tol, $"{a:R} * {b:R}");
            AssertClose(ra / rb, L(a) / L(b), tol, $"{a:R} / {b:R}");
        }, iter: 2000);

    [Fact]
    public void SumsAndDifferencesMatchExactArithmetic() =>
        Gen.Select(Gen.OneOf(Wide, Near), Gen.OneOf(Wide, Near)).Sample((a, b) =>
        {
            Rational ra = Rational.FromDouble(a), rb = Rational.FromDouble(b);
            double la = Math.Log(Math.Abs(a)), lb = Math.Log(Math.Abs(b));
            if (a != -b) AssertClose(ra + rb, L(a) + L(b), Tol(la, lb) * Condition(ra, rb), $"{a:R} + {b:R}");
            if (a != b) AssertClose(ra - rb, L(a) - L(b), Tol(la, lb) * Condition(ra, -rb), $"{a:R} - {b:R}");
        }, iter: 4000);

    [Theory]
    [InlineData(2.0, 3.0)]
    [InlineData(-2.0, 5.0)]
    [InlineData(7.0, -7.5)]
    [InlineData(1024.0, -0.25)]
    [InlineData(-0.5, -0.125)]
    [InlineData(3.0, 0.0)]
    public void AgreesWithDoubleWhereDoubleIsExact(double a, double b)
    {
        foreach (var (got, want) in new[] { (L(a) + L(b), a + b), (L(a) - L(b), a - b), (L(a) * L(b), a * b), (-L(a), -a) })
        {
            Assert.Equal(Math.Sign(want), got.Sign);
            Assert.Equal(want, (double)got, 32 * Eps * Math.Max(1, Math.Abs(want)));
        }
        if (b != 0) Assert.Equal(a / b, (double)(L(a) / L(b)), 32 * Eps * Math.Abs(a / b));
    }

    [Fact]
    public void SignChanges()
    {
        Assert.True((L(2) - L(5)).IsNegative);
        Assert.Equal(-3, (double)(L(2) - L(5)), 1e-15);
        Assert.Equal(3, (double)(L(-2) - L(-5)), 1e-15);
        Assert.True((L(-1e-300) * L(-1e-300)) > LogReal<double>.Zero);
        Assert.True((L(-1e300) * L(1e300) * L(1e300)).IsNegative);
        Assert.Equal(-1, (L(1e-200) - L(2e-200)).Sign);
        var crossed = L(1e300) * L(1e300) - L(3e300) * L(1e300);   // about 1e600 − 3e600
        Rational a = Rational.FromDouble(1e300), b = Rational.FromDouble(3e300);
        Assert.True(crossed.IsNegative);
        AssertClose(a * a - b * a, crossed, Tol(4 * 690.8), "1e300·1e300 - 3e300·1e300");
    }

    [Fact]
    public void CancellationGivesExactZero()
    {
        foreach (var v in new[] { 1.0, -2.5, 1e-300, 1e300, double.Epsilon })
        {
            Assert.True((L(v) + L(-v)).IsZero);
            Assert.True((L(v) - L(v)).IsZero);
            Assert.Equal(LogReal<double>.Zero, L(v) - L(v));
        }
        var big = L(1e300) * L(1e300);
        Assert.True((big - big).IsZero);
        Assert.True(LogReal<double>.Sum([1e300, -1e300, 1e-300, -1e-300, 0]).IsZero);
        Assert.True(LogReal<double>.Sum([big, -big, L(2), L(-2)]).IsZero);
        Assert.True((LogReal<double>.Zero + LogReal<double>.Zero).IsZero);
    }

    [Fact]
    public void NearCancellationKeepsRelativeAccuracy()
    {
        // (1 + 2^-40) − 1 = 2^-40 exactly; log1mexp keeps the few bits that survive in the log.
        double a = 1 + Math.ScaleB(1, -40);
        AssertClose(new Rational(1, System.Numerics.BigInteger.One << 40), L(a) - L(1), 1e-14, "(1 + 2^-40) - 1");
        // Far apart: 1 − 1e-20 rounds to 1 in double but the log-real keeps it below 1.
        Assert.True(L(1) - L(1e-20) < LogReal<double>.One);
        Assert.Equal(-1e-20, (L(1) - L(1e-20)).Log, 1e-30);
    }

    [Fact]
    public void StableKernelsAreAccurateNearZero()
    {
        Assert.Equal(9.9999999995e-11, ScalarMath.Log1p(1e-10), 1e-25);
        Assert.Equal(-1.00000000005e-10, ScalarMath.Log1p(-1e-10), 1e-25);
        Assert.Equal(1.00000000005e-10, ScalarMath.Expm1(1e-10), 1e-25);
        Assert.Equal(-9.9999999995e-11, ScalarMath.Expm1(-1e-10), 1e-25);
        Assert.Equal(Math.Log(1 - Math.Exp(-3)), LogReal<double>.Log1mexp(3), 1e-15);
        Assert.Equal(Math.Log(1e-12) - 0.5e-12, LogReal<double>.Log1mexp(1e-12), 1e-14);   // log(1 − e^−d) = log d − d/2 + …
        Assert.Equal(double.NegativeInfinity, ScalarMath.Log1p(-1.0));
        Assert.Equal(-1, ScalarMath.Expm1(-800.0));
        Assert.Equal(double.PositiveInfinity, ScalarMath.Expm1(800.0));
    }

    [Fact]
    public void SmallProductsAndSumsMatchExactArithmetic() =>
        Gen.OneOf(Wide, Near).Array[0, 8].Sample(xs =>
        {
            var exactProd = xs.Aggregate(new Rational(1, 1), (p, v) => p * Rational.FromDouble(v));
            var logs = xs.Select(v => Math.Log(Math.Abs(v))).Where(double.IsFinite).ToArray();
            AssertClose(exactProd, LogReal<double>.Prod(xs), Tol(logs), "prod");
            AssertClose(exactProd, LogReal<double>.Prod(xs.Select(L).ToArray()), Tol(logs), "prod of log-reals");

            var exactSum = xs.Aggregate(Rational.Zero, (s, v) => s + Rational.FromDouble(v));
            if (exactSum.Sign == 0) return;
            var absSum = xs.Aggregate(Rational.Zero, (s, v) => s + Rational.FromDouble(Math.Abs(v)));
            double cond = Math.Exp(absSum.LogAbs() - exactSum.LogAbs()), tol = Tol(logs) * cond * (xs.Length + 1);
            AssertClose(exactSum, LogReal<double>.Sum(xs), tol, "sum");
            AssertClose(exactSum, LogReal<double>.Sum(xs.Select(L).ToArray()), tol, "sum of log-reals");
        }, iter: 1000);

    /// <summary>10,000 factors of magnitude 1e-300 and 1e300 (with signs): double underflows to 0 or overflows to inf, the
    /// log-real's log magnitude equals the sum of the logs and the sign is the parity of the negative factors.</summary>
    [Theory]
    [InlineData(1e-300, 0)]
    [InlineData(1e300, 0)]
    [InlineData(1e-300, 3333)]
    [InlineData(1e300, 5001)]
    public void TenThousandFactors(double magnitude, int negatives)
    {
        const int n = 10_000;
        var xs = new double[n];
        for (int i = 0; i < n; i++) xs[i] = (i < negatives ? -1 : 1) * (i % 2 == 0 ? magnitude : 2 * magnitude);
        double naive = 1;
        foreach (var v in xs) naive *= v;
        Assert.True(naive == 0 || double.IsInfinity(naive));

        double want = n / 2 * Math.Log(magnitude) + n / 2 * Math.Log(2 * magnitude);
        foreach (var p in new[] { LogReal<double>.Prod(xs), LogReal<double>.Prod(xs.Select(L).ToArray()) })
        {
            Assert.Equal(negatives % 2 == 1, p.IsNegative);
            Assert.True(Math.Abs(p.Log - want) <= 1e-14 * Math.Abs(want), $"log {p.Log:R}, want {want:R}");
        }
        // Products and quotients of such numbers stay exact in the log: (Π x) / (Π x) = 1, (Π x)·(Π x) has twice the log.
        var prod = LogReal<double>.Prod(xs);
        Assert.Equal(LogReal<double>.One, prod / prod);
        Assert.Equal(2 * prod.Log, (prod * prod).Log, 1e-14 * Math.Abs(want));
    }

    [Fact]
    public void FloatProductsOfTenThousandFactors()
    {
        var xs = Enumerable.Repeat(1e-30f, 10_000).ToArray();
        var p = LogReal<float>.Prod(xs);
        double want = 10_000 * Math.Log(1e-30f);
        Assert.True(Math.Abs(p.Log - want) <= 3e-7 * Math.Abs(want), $"log {p.Log:R}, want {want:R}");
        Assert.Equal(0f, (float)p);
        Assert.True((LogReal<float>)3f - (LogReal<float>)3f == LogReal<float>.Zero);
        Assert.Equal(-1f, (float)((LogReal<float>)2f - (LogReal<float>)3f), 1e-6f);
    }

    [Fact]
    public void SumsFarOutsideTheRange()
    {
        // 1e308 + 1e308 overflows double; the log-real holds 2e308.
        var s = LogReal<double>.Sum([1e308, 1e308]);
        Assert.Equal(Math.Log(2) + Math.Log(1e308), s.Log, 1e-13);
        var tiny = L(1e-300) * L(1e-300);
        var t = LogReal<double>.Sum([tiny, tiny, -tiny, tiny]);
        Assert.Equal(Math.Log(2) + tiny.Log, t.Log, 1e-12);
        Assert.True(LogReal<double>.Sum(ReadOnlySpan<double>.Empty).IsZero);
        Assert.True(LogReal<double>.Sum([1.0, double.NaN]).IsNaN);
        Assert.Equal(double.PositiveInfinity, LogReal<double>.Sum([1.0, double.PositiveInfinity]).Log);
    }

    [Fact]
    public void OrderingMatchesTheReals() =>
        Gen.Select(Gen.OneOf(Wide, Near), Gen.OneOf(Wide, Near)).Sample((a, b) =>
        {
            LogReal<double> la = a, lb = b;
            if (a < b) Assert.True(la <= lb && !(la > lb), $"{a:R} < {b:R}");
            if (a == b) Assert.True(la == lb && la.CompareTo(lb) == 0 && la.GetHashCode() == lb.GetHashCode());
            Assert.Equal(la + lb, lb + la);
            Assert.Equal(la * lb, lb * la);
            Assert.Equal(-(la - lb), lb - la);
        }, iter: 2000);

    [Fact]
    public void ComparisonEqualityAndSpecialValues()
    {
        var values = new[] { -1e300, -2.0, -1e-300, 0, 1e-300, 0.5, 3, 1e300 }.Select(L).ToArray();
        for (int i = 0; i < values.Length; i++)
            for (int j = 0; j < values.Length; j++)
            {
                Assert.Equal(i.CompareTo(j), Math.Sign(values[i].CompareTo(values[j])));
                Assert.Equal(i < j, values[i] < values[j]);
                Assert.Equal(i == j, values[i] == values[j]);
            }
        Assert.Equal(L(0), L(-0.0));
        Assert.Equal(L(0).GetHashCode(), L(-0.0).GetHashCode());
        Assert.True(LogReal<double>.Zero.IsZero && LogReal<double>.Zero.Sign == 0 && !LogReal<double>.Zero.IsNegative);
        Assert.Equal(0, LogReal<double>.One.Log);
        Assert.Equal(1.0, (double)LogReal<double>.One);
        var nan = L(double.NaN);
        var other = nan;
        Assert.True(nan.IsNaN && nan != other && !(nan < L(1)) && !(nan > L(1)) && nan.Equals(nan));
        Assert.True(nan.CompareTo(L(-1e300)) < 0);
        Assert.Equal(1, L(1).CompareTo(null));
        Assert.True((L(1) / L(0)).Log == double.PositiveInfinity);
        Assert.True((L(0) / L(0)).IsNaN);
        Assert.Equal(double.NegativeInfinity, (double)(L(-1e300) * L(1e300)));
        Assert.Equal(-3.5, (double)L(-3.5), 1e-15);
    }

    [Fact]
    public void PrintsFromTheLog()
    {
        Assert.Equal("0", LogReal<double>.Zero.ToString());
        Assert.Equal("nan", L(double.NaN).ToString());
        Assert.Equal("1e+0", LogReal<double>.One.ToString());
        Assert.Equal("-2.5e+0", L(-2.5).ToString());
        Assert.Equal("-1e-4000", LogReal<double>.FromLog(true, -4000 * Math.Log(10)).ToString());
        Assert.Equal("1.5e+600", (L(1.5e300) * L(1e300)).ToString());
        Assert.Equal("inf", L(double.PositiveInfinity).ToString());
        Assert.Equal("1.5e+0", ((LogReal<float>)1.5f).ToString());
    }
}
