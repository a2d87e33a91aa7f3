using Autodiff.Kernels;

namespace Autodiff.Tests.Kernels;

/// <summary>FastMath exp and log against Math.Exp / Math.Log (the float results against the double functions rounded
/// to float) over the whole range, on every vector width this machine supports.</summary>
public class FastMathTests
{
    private const int MaxUlp = 2;

    private static int[] SupportedWidths() => [0, .. FastMath.Has256 ? new[] { 256 } : [], .. FastMath.Has512 ? new[] { 512 } : []];

    public static TheoryData<int> Widths() => new(SupportedWidths());

    /// <summary>Distance in units in the last place; 0 when both are NaN or equal (so +0 and −0 match).</summary>
    private static long Ulp(float a, float b) =>
        (float.IsNaN(a) && float.IsNaN(b)) || a == b ? 0
        : float.IsNaN(a) || float.IsNaN(b) || float.IsInfinity(a) || float.IsInfinity(b) ? long.MaxValue
        : Math.Abs(Ordered(BitConverter.SingleToInt32Bits(a)) - Ordered(BitConverter.SingleToInt32Bits(b)));

    private static long Ulp(double a, double b) =>
        (double.IsNaN(a) && double.IsNaN(b)) || a == b ? 0
        : double.IsNaN(a) || double.IsNaN(b) || double.IsInfinity(a) || double.IsInfinity(b) ? long.MaxValue
        : (long)Math.Min(long.MaxValue, Math.Abs((decimal)Ordered(BitConverter.DoubleToInt64Bits(a)) - Ordered(BitConverter.DoubleToInt64Bits(b))));

    /// <summary>Bit patterns mapped to a line on which adjacent floats differ by 1 across zero.</summary>
    private static long Ordered(int bits) => bits < 0 ? -(long)(bits & int.MaxValue) : bits;

    private static long Ordered(long bits) => bits < 0 ? -(bits & long.MaxValue) : bits;

    /// <summary>Every 251st float bit pattern (all signs and exponents, subnormals, ±inf, NaNs).</summary>
    private static float[] FloatSweep()
    {
        var xs = new List<float>();
        for (long b = 0; b <= uint.MaxValue; b += 1021) xs.Add(BitConverter.Int32BitsToSingle((int)(uint)b));
        return [.. xs];
    }

    /// <summary>Random doubles: uniform in [lo, hi], plus random bit patterns.</summary>
    private static double[] DoubleSweep(double lo, double hi, int count)
    {
        var rnd = new Random(17);
        var xs = new double[count];
        for (int i = 0; i < count; i++)
            xs[i] = i % 2 == 0 ? lo + (hi - lo) * rnd.NextDouble() : BitConverter.Int64BitsToDouble(rnd.NextInt64(long.MinValue, long.MaxValue));
        return xs;
    }

    private static void CheckAll<T>(T[] x, T[] actual, Func<T, T> expected, Func<T, T, long> ulp, string what)
    {
        long worst = 0;
        string at = "";
        for (int i = 0; i < x.Length; i++)
        {
            long u = ulp(actual[i], expected(x[i]));
            if (u > worst) { worst = u; at = $"{what}({x[i]:R}) = {actual[i]:R}, expected {expected(x[i]):R}"; }
        }
        Assert.True(worst <= MaxUlp, $"{worst} ulp at {at}");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void ExpFloatWithinTwoUlpEverywhere(int width)
    {
        var x = FloatSweep();
        var y = new float[x.Length];
        FastMath.Exp(x, y, width);
        CheckAll(x, y, v => (float)Math.Exp(v), Ulp, "exp");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void ExpDoubleWithinTwoUlp(int width)
    {
        foreach (var (lo, hi) in new[] { (-746.0, 710.0), (-1.0, 1.0), (-750.0, -700.0), (700.0, 715.0) })
        {
            var x = DoubleSweep(lo, hi, 400_000);
            var y = new double[x.Length];
            FastMath.Exp(x, y, width);
            CheckAll(x, y, Math.Exp, Ulp, "exp");
        }
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void LogFloatWithinTwoUlpEverywhere(int width)
    {
        var x = FloatSweep();
        var y = new float[x.Length];
        FastMath.Log(x, y, width);
        CheckAll(x, y, v => (float)Math.Log(v), Ulp, "log");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void LogDoubleWithinTwoUlp(int width)
    {
        foreach (var (lo, hi) in new[] { (0.0, 4.0), (0.5, 2.0), (0.0, 1e-300), (1e300, double.MaxValue) })
        {
            var x = DoubleSweep(lo, hi, 400_000);
            var y = new double[x.Length];
            FastMath.Log(x, y, width);
            CheckAll(x, y, Math.Log, Ulp, "log");
        }
    }

    public static TheoryData<int, double, double> ExpSpecials()
    {
        var data = new TheoryData<int, double, double>();
        (double X, double Y)[] cases =
        [
            (0, 1), (-0.0, 1), (1, Math.E), (double.NaN, double.NaN), (double.PositiveInfinity, double.PositiveInfinity),
            (double.NegativeInfinity, 0), (-1e4, 0), (1e4, double.PositiveInfinity), (double.MaxValue, double.PositiveInfinity),
            (double.MinValue, 0), (double.Epsilon, 1), (-double.Epsilon, 1),
        ];
        foreach (int w in SupportedWidths())
            foreach (var (x, y) in cases) data.Add(w, x, y);
        return data;
    }

    [Theory]
    [MemberData(nameof(ExpSpecials))]
    public void ExpSpecialValuesAreExact(int width, double x, double expected)
    {
        var d = new[] { x };
        FastMath.Exp(d, d, width);
        Assert.True(Ulp(d[0], expected) <= (x == 1 ? 1 : 0), $"exp({x}) = {d[0]:R}");
        var f = new[] { (float)x };
        FastMath.Exp(f, f, width);
        Assert.True(Ulp(f[0], (float)expected) <= (x == 1 ? 1 : 0), $"expf({x}) = {f[0]:R}");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void ExpOverflowAndUnderflowBoundaries(int width)
    {
        // Around the largest finite result and the smallest subnormal one, for both types.
        float[] fx = [88.72283f, 88.72284f, 88.7229f, -87.33654f, -103.278f, -103.28f, -103.9721f, -103.9729f, -104f];
        var fy = new float[fx.Length];
        FastMath.Exp(fx, fy, width);
        for (int i = 0; i < fx.Length; i++) Assert.True(Ulp(fy[i], (float)Math.Exp(fx[i])) <= 1, $"expf({fx[i]:R}) = {fy[i]:R}");
        double[] dx = [709.782712893384, 709.7827128933841, 709.79, -708.39641853226408, -744.44007192138126, -745.13321910194110, -745.1332191019412, -745.2];
        var dy = new double[dx.Length];
        FastMath.Exp(dx, dy, width);
        for (int i = 0; i < dx.Length; i++) Assert.True(Ulp(dy[i], Math.Exp(dx[i])) <= 1, $"exp({dx[i]:R}) = {dy[i]:R}");
    }

    public static TheoryData<int, double, double> LogSpecials()
    {
        var data = new TheoryData<int, double, double>();
        (double X, double Y)[] cases =
        [
            (1, 0), (0, double.NegativeInfinity), (-0.0, double.NegativeInfinity), (double.PositiveInfinity, double.PositiveInfinity),
            (double.NegativeInfinity, double.NaN), (-1, double.NaN), (-1e-300, double.NaN), (double.NaN, double.NaN),
        ];
        foreach (int w in SupportedWidths())
            foreach (var (x, y) in cases) data.Add(w, x, y);
        return data;
    }

    [Theory]
    [MemberData(nameof(LogSpecials))]
    public void LogSpecialValuesAreExact(int width, double x, double expected)
    {
        var d = new[] { x };
        FastMath.Log(d, d, width);
        Assert.Equal(expected, d[0]);
        var f = new[] { (float)x };
        FastMath.Log(f, f, width);
        Assert.Equal((float)Math.Log((float)x), f[0]);
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void LogOfSubnormalsAndPowersOfTwo(int width)
    {
        var fx = new List<float> { float.Epsilon, 1.17549435e-38f, 1.17549435e-38f / 3, float.MaxValue };
        var dx = new List<double> { double.Epsilon, 2.2250738585072014e-308, 2.2250738585072014e-308 / 3, double.MaxValue };
        for (int k = -149; k < 128; k++) fx.Add(MathF.ScaleB(1, k));
        for (int k = -1074; k < 1024; k++) dx.Add(Math.ScaleB(1, k));
        var fy = new float[fx.Count];
        FastMath.Log(fx.ToArray(), fy, width);
        CheckAll(fx.ToArray(), fy, v => (float)Math.Log(v), Ulp, "log");
        var dy = new double[dx.Count];
        FastMath.Log(dx.ToArray(), dy, width);
        CheckAll(dx.ToArray(), dy, Math.Log, Ulp, "log");
    }

    [Theory]
    [MemberData(nameof(Widths))]
    public void EveryLengthAndInPlace(int width)
    {
        var rnd = new Random(3);
        for (int n = 0; n <= 40; n++)
        {
            var x = Enumerable.Range(0, n).Select(_ => (float)(rnd.NextDouble() * 20 - 10)).ToArray();
            var y = (float[])x.Clone();
            FastMath.Exp(y, y, width);
            for (int i = 0; i < n; i++) Assert.True(Ulp(y[i], (float)Math.Exp(x[i])) <= MaxUlp);
            var xd = x.Select(v => (double)v + 11).ToArray();
            var yd = new double[n];
            FastMath.Log(xd, yd, width);
            for (int i = 0; i < n; i++) Assert.True(Ulp(yd[i], Math.Log(xd[i])) <= MaxUlp);
        }
    }

    [Fact]
    public void RejectsMismatchedLengthsAndUnsupportedWidths()
    {
        Assert.Throws<ArgumentException>(() => FastMath.Exp(new float[3], new float[2]));
        Assert.Throws<ArgumentOutOfRangeException>(() => FastMath.Exp(new float[3], new float[3], 128));
    }
}
