using System.Numerics;
using Autodiff.Kernels;

namespace Autodiff.Tests.Kernels;

public class ReduceTests
{
    public static TheoryData<string, string, int, int, int> Cases()
    {
        var data = new TheoryData<string, string, int, int, int>();
        int[][] dims = [[1, 1, 1], [3, 5, 1], [2, 0, 3], [3, 0, 1], [4, 7, 3], [1, 100, 1], [2, 3, 5000], [1, 50, 3000], [200, 300, 1], [1, 70_000, 1], [5, 1, 9]];
        foreach (string type in new[] { "f32", "f64" })
        {
            foreach (string op in new[] { "sum", "sum+", "max", "min" })
            {
                foreach (int[] d in dims)
                {
                    data.Add(type, op, d[0], d[1], d[2]);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesNaive(string type, string op, int outer, int n, int inner)
    {
        if (type == "f32")
        {
            Check<float>(op, outer, n, inner);
        }
        else
        {
            Check<double>(op, outer, n, inner);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(4)]
    public void MaxAndMinPropagateNaN(int inner)
    {
        const int n = 5;
        var x = new double[2 * n * inner];
        for (int i = 0; i < x.Length; i++)
        {
            x[i] = i % 7;
        }

        x[(n + 2) * inner] = double.NaN; // second outer row, first inner column
        var max = new double[2 * inner];
        var min = new double[2 * inner];
        Reduce.Max<double>(x, 2, n, inner, max);
        Reduce.Min<double>(x, 2, n, inner, min);
        for (int i = 0; i < max.Length; i++)
        {
            Assert.Equal(i == inner, double.IsNaN(max[i]));
            Assert.Equal(i == inner, double.IsNaN(min[i]));
        }
    }

    [Fact]
    public void RejectsWrongLengths()
    {
        Assert.Throws<ArgumentException>(() => Reduce.Sum<float>(new float[6], 2, 3, 2, new float[4]));
        Assert.Throws<ArgumentException>(() => Reduce.Max<float>(new float[12], 2, 3, 2, new float[3]));
    }

    private static void Check<T>(string op, int outer, int n, int inner)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rnd = new Random(outer * 1000 + n + inner);
        double[] x = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, outer * n * inner));
        double[] initial = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, outer * inner));
        var expected = new double[outer * inner];
        var scale = new double[outer * inner];
        for (int o = 0; o < outer; o++)
        {
            for (int i = 0; i < inner; i++)
            {
                double acc = op switch { "max" => double.NegativeInfinity, "min" => double.PositiveInfinity, "sum+" => initial[o * inner + i], _ => 0 };
                double abs = 1 + Math.Abs(acc);
                for (int j = 0; j < n; j++)
                {
                    double v = x[(o * n + j) * inner + i];
                    acc = op == "max" ? Math.Max(acc, v) : op == "min" ? Math.Min(acc, v) : acc + v;
                    abs += Math.Abs(v);
                }

                expected[o * inner + i] = acc;
                scale[o * inner + i] = abs;
            }
        }

        T[] dst = KernelData.To<T>(initial);
        T[] input = KernelData.To<T>(x);
        switch (op)
        {
            case "max": Reduce.Max<T>(input, outer, n, inner, dst); break;
            case "min": Reduce.Min<T>(input, outer, n, inner, dst); break;
            default: Reduce.Sum<T>(input, outer, n, inner, dst, accumulate: op == "sum+"); break;
        }

        KernelData.AssertClose(expected, dst, 4 * KernelData.Epsilon<T>() * Math.Sqrt(n + 1), scale);
    }
}
