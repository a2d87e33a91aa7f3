using System.Numerics;

namespace Autodiff.Tests.Kernels;

/// <summary>Random inputs, naive index helpers and tolerant comparisons shared by the kernel tests.</summary>
internal static class KernelData
{
    public static double[] Uniform(Random rnd, int length, double lo = -1, double hi = 1)
    {
        var x = new double[length];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = lo + ((hi - lo) * rnd.NextDouble());
        }

        return x;
    }

    public static T[] To<T>(double[] x)
        where T : IFloatingPointIeee754<T> => x.Select(T.CreateTruncating).ToArray();

    public static double[] ToDouble<T>(ReadOnlySpan<T> x)
        where T : IFloatingPointIeee754<T>
    {
        var y = new double[x.Length];
        for (int i = 0; i < y.Length; i++)
        {
            y[i] = double.CreateTruncating(x[i]);
        }

        return y;
    }

    /// <summary>Rounds through T so a double reference sees exactly the kernel's inputs.</summary>
    public static double[] RoundTrip<T>(double[] x)
        where T : IFloatingPointIeee754<T> => ToDouble<T>(To<T>(x));

    public static double Epsilon<T>() => typeof(T) == typeof(float) ? 1.2e-7 : 2.3e-16;

    public static int Size(int[] shape) => shape.Aggregate(1, (p, d) => p * d);

    /// <summary>Flat index into a tensor of <paramref name="shape"/> for a multi-index of a (possibly higher-rank) broadcast shape.</summary>
    public static int BroadcastIndex(int[] index, int[] shape)
    {
        int flat = 0, offset = index.Length - shape.Length;
        for (int d = 0; d < shape.Length; d++)
        {
            flat = (flat * shape[d]) + (shape[d] == 1 ? 0 : index[d + offset]);
        }

        return flat;
    }

    public static int[] Unravel(int flat, int[] shape)
    {
        var index = new int[shape.Length];
        for (int d = shape.Length - 1; d >= 0; d--)
        {
            index[d] = flat % shape[d];
            flat /= shape[d];
        }

        return index;
    }

    /// <summary>Asserts |actual - expected| &lt;= tol * scale for each element (NaN matches NaN, infinities must match).</summary>
    public static void AssertClose<T>(double[] expected, ReadOnlySpan<T> actual, double tol, double[]? scale = null)
        where T : IFloatingPointIeee754<T>
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double e = expected[i], a = double.CreateTruncating(actual[i]);
            bool ok = double.IsNaN(e) ? double.IsNaN(a)
                : double.IsInfinity(e) ? e == a
                : Math.Abs(a - e) <= tol * (scale?[i] ?? Math.Max(1, Math.Abs(e)));
            Assert.True(ok, $"element {i}: expected {e:R}, got {a:R}");
        }
    }
}
