using System.Numerics;
using Autodiff.Kernels;

namespace Autodiff.Tests.Kernels;

public class SoftmaxTests
{
    private const double Inf = double.PositiveInfinity;

    public static TheoryData<string, int, int, double> RandomCases()
    {
        var data = new TheoryData<string, int, int, double>();
        foreach (string type in new[] { "f32", "f64" })
        {
            data.Add(type, 1, 1, 1);
            data.Add(type, 4, 0, 1);
            data.Add(type, 3, 7, 5);
            data.Add(type, 5, 33, 30);
            data.Add(type, 2, 1000, 3);
            data.Add(type, 200, 300, 10);   // parallel over rows
            data.Add(type, 3, 50, 1e3);
            data.Add(type, 3, 50, 1e4);
        }

        return data;
    }

    public static TheoryData<string, double[]> EdgeRows()
    {
        var data = new TheoryData<string, double[]>();
        double[][] rows =
        [
            [-Inf, -Inf, -Inf],
            [-Inf],
            [1, Inf, 2],
            [Inf, -Inf, Inf, 0],
            [1, double.NaN, 2],
            [Inf, double.NaN],
            [-Inf, 3, -Inf, 4],
            [1e4, 1e4 - 1, -1e4],
            [-1e4, -1e4 - 2, -1e4 + 3],
            [1000, 999, 998.5],
        ];
        foreach (string type in new[] { "f32", "f64" })
        {
            foreach (double[] row in rows)
            {
                data.Add(type, row);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(RandomCases))]
    public void RandomRowsMatchNaive(string type, int rows, int n, double spread)
    {
        var rnd = new Random(rows * 7 + n);
        double[] x = KernelData.Uniform(rnd, rows * n, -spread, spread);
        if (spread >= 1e3)
        {
            x = x.Select(v => spread + v / spread).ToArray(); // large values close together: naive exp overflows
        }

        if (type == "f32")
        {
            Check<float>(x, rows, n);
        }
        else
        {
            Check<double>(x, rows, n);
        }
    }

    [Theory]
    [MemberData(nameof(EdgeRows))]
    public void EdgeRowsFollowPolicy(string type, double[] row)
    {
        // Surround the edge row with ordinary rows so row offsets are exercised.
        double[] before = Enumerable.Range(0, row.Length).Select(j => (0.5 * j) - 1).ToArray();
        double[] x = [.. before, .. row, .. Enumerable.Repeat(-0.5, row.Length)];
        if (type == "f32")
        {
            Check<float>(x, 3, row.Length);
        }
        else
        {
            Check<double>(x, 3, row.Length);
        }
    }

    [Fact]
    public void RejectsWrongLengths()
    {
        Assert.Throws<ArgumentException>(() => Softmax.SoftmaxRows<float>(new float[6], 2, 3, new float[5]));
        Assert.Throws<ArgumentException>(() => Softmax.LogSumExpRows<float>(new float[6], 2, 3, new float[3]));
    }

    [Fact]
    public void SoftmaxWorksInPlace()
    {
        double[] x = [1, 2, 3, 0, 0, 0];
        Softmax.SoftmaxRows<double>(x, 2, 3, x);
        KernelData.AssertClose([0.09003057317038046, 0.24472847105479767, 0.6652409557748219, 1 / 3.0, 1 / 3.0, 1 / 3.0], x, 1e-15);
    }

    private static void Check<T>(double[] input, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        // Double reference with the documented policies, shifted by the row max so large inputs do not overflow.
        double[] x = KernelData.RoundTrip<T>(input);
        var lse = new double[rows];
        var softmax = new double[rows * n];
        var logSoftmax = new double[rows * n];
        for (int r = 0; r < rows; r++)
        {
            double[] row = x[(r * n)..((r + 1) * n)];
            double max = row.Length == 0 ? -Inf : row.Max(), sum = row.Sum(v => Math.Exp(v - max));
            int infinities = row.Count(double.IsPositiveInfinity);
            bool nan = row.Any(double.IsNaN);
            lse[r] = nan ? double.NaN : double.IsInfinity(max) ? max : max + Math.Log(sum);
            for (int j = 0; j < n; j++)
            {
                double v = row[j];
                (softmax[r * n + j], logSoftmax[r * n + j]) = nan ? (double.NaN, double.NaN)
                    : double.IsNegativeInfinity(max) ? (0, -Inf)
                    : double.IsPositiveInfinity(max) ? (double.IsPositiveInfinity(v) ? (1.0 / infinities, -Math.Log(infinities)) : (0, -Inf))
                    : (Math.Exp(v - max) / sum, v - max - Math.Log(sum));
            }
        }

        T[] xt = KernelData.To<T>(x);
        var actualLse = new T[rows];
        var actualSoftmax = new T[rows * n];
        var actualLogSoftmax = new T[rows * n];
        Softmax.LogSumExpRows<T>(xt, rows, n, actualLse);
        Softmax.SoftmaxRows<T>(xt, rows, n, actualSoftmax);
        Softmax.LogSoftmaxRows<T>(xt, rows, n, actualLogSoftmax);

        double tol = 16 * KernelData.Epsilon<T>();
        KernelData.AssertClose(lse, actualLse, tol);
        // exp(y) has relative error about |y| * eps from rounding y.
        double[] scale = softmax.Select((p, i) => Math.Max(p, 1e-30) * (1 + Math.Abs(logSoftmax[i]))).ToArray();
        KernelData.AssertClose(softmax, actualSoftmax, tol, scale);
        KernelData.AssertClose(logSoftmax, actualLogSoftmax, tol);
    }
}
