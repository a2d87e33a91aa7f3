using System.Numerics;
using Autodiff.Kernels;

namespace Autodiff.Tests.Kernels;

public class GemmTests
{
    private static readonly int[] Sizes = [1, 3, 17, 65, 130];

    public static TheoryData<string, bool, bool> Transposes()
    {
        var data = new TheoryData<string, bool, bool>();
        foreach (string type in new[] { "f32", "f64" })
        {
            foreach (bool ta in new[] { false, true })
            {
                foreach (bool tb in new[] { false, true })
                {
                    data.Add(type, ta, tb);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void AllOddSizesMatchNaive(string type, bool transA, bool transB)
    {
        int seed = 0;
        foreach (int m in Sizes)
        {
            foreach (int n in Sizes)
            {
                foreach (int k in Sizes)
                {
                    Check(type, transA, transB, m, n, k, accumulate: seed % 2 == 1, seed++);
                }
            }
        }
    }

    [Theory]
    [MemberData(nameof(Transposes))]
    public void LargeBlockedAndParallelMatchNaive(string type, bool transA, bool transB)
    {
        Check(type, transA, transB, 300, 97, 600, accumulate: false, 1); // several k blocks, split by rows
        Check(type, transA, transB, 20, 2100, 70, accumulate: true, 2);  // several column blocks, split by columns
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ZeroDepthClearsOrKeeps(bool accumulate)
    {
        double[] c = [1, 2, 3, 4, 5, 6];
        Gemm.Multiply<double>(false, false, 2, 3, 0, [], [], c, accumulate);
        Assert.Equal(accumulate ? [1, 2, 3, 4, 5, 6] : new double[6], c);
        Gemm.Multiply<double>(false, false, 0, 3, 4, [], new double[12], [], accumulate);
    }

    [Fact]
    public void RejectsWrongLengths()
    {
        Assert.Throws<ArgumentException>(() => Gemm.Multiply<float>(false, false, 2, 3, 4, new float[8], new float[11], new float[6], false));
        Assert.Throws<ArgumentException>(() => Gemm.BatchedMultiply<float>(false, false, 2, 2, 2, 2, new float[8], 4, new float[8], 4, new float[8], 3, false));
        Assert.Throws<ArgumentException>(() => Gemm.BatchedMultiply<float>(false, false, 3, 2, 2, 2, new float[8], 4, new float[8], 0, new float[12], 4, false));
    }

    [Theory]
    [InlineData("f32", 3, 5, 7, 4, false, false, false)]
    [InlineData("f64", 3, 5, 7, 4, true, false, true)]
    [InlineData("f32", 2, 17, 9, 33, false, true, true)]
    [InlineData("f64", 9, 6, 3, 5, true, true, false)]
    [InlineData("f32", 3, 70, 65, 130, false, false, true)]
    [InlineData("f64", 1, 4, 4, 4, false, false, false)]
    public void BatchedMatchesNaive(string type, int batch, int m, int n, int k, bool broadcastA, bool broadcastB, bool transB)
    {
        if (type == "f32")
        {
            CheckBatched<float>(batch, m, n, k, broadcastA, broadcastB, transB);
        }
        else
        {
            CheckBatched<double>(batch, m, n, k, broadcastA, broadcastB, transB);
        }
    }

    private static void Check(string type, bool transA, bool transB, int m, int n, int k, bool accumulate, int seed)
    {
        if (type == "f32")
        {
            Check<float>(transA, transB, m, n, k, accumulate, seed);
        }
        else
        {
            Check<double>(transA, transB, m, n, k, accumulate, seed);
        }
    }

    private static void Check<T>(bool transA, bool transB, int m, int n, int k, bool accumulate, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rnd = new Random(seed);
        double[] a = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, m * k));
        double[] b = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, k * n));
        double[] c = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, m * n));
        var (expected, scale) = Naive(transA, transB, m, n, k, a, 0, b, 0, accumulate ? c : null);
        T[] actual = KernelData.To<T>(c);
        Gemm.Multiply<T>(transA, transB, m, n, k, KernelData.To<T>(a), KernelData.To<T>(b), actual, accumulate);
        KernelData.AssertClose(expected, actual, 2 * (k + 1) * KernelData.Epsilon<T>(), scale);
    }

    private static void CheckBatched<T>(int batch, int m, int n, int k, bool broadcastA, bool broadcastB, bool transB)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rnd = new Random(batch * 100 + m);
        int strideA = broadcastA ? 0 : m * k + 3, strideB = broadcastB ? 0 : k * n, strideC = m * n + 1;
        double[] a = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, (batch - 1) * strideA + m * k));
        double[] b = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, (batch - 1) * strideB + k * n));
        double[] c = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, (batch - 1) * strideC + m * n));
        var expected = (double[])c.Clone();
        var scale = new double[c.Length];
        for (int i = 0; i < batch; i++)
        {
            var (e, s) = Naive(false, transB, m, n, k, a, i * strideA, b, i * strideB, null);
            e.CopyTo(expected, i * strideC);
            s.CopyTo(scale, i * strideC);
        }

        T[] actual = KernelData.To<T>(c);
        Gemm.BatchedMultiply<T>(false, transB, batch, m, n, k, KernelData.To<T>(a), strideA, KernelData.To<T>(b), strideB, actual, strideC, false);
        KernelData.AssertClose(expected, actual, 2 * (k + 1) * KernelData.Epsilon<T>(), scale.Select(s => Math.Max(s, 1)).ToArray());
    }

    /// <summary>Double-precision C = op(A)·op(B) (+ C0), with the sum of |terms| per element as an error scale.</summary>
    private static (double[] C, double[] Scale) Naive(bool transA, bool transB, int m, int n, int k, double[] a, int aOff, double[] b, int bOff, double[]? c0)
    {
        var c = new double[m * n];
        var scale = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double sum = c0?[i * n + j] ?? 0, abs = 1 + Math.Abs(sum);
                for (int p = 0; p < k; p++)
                {
                    double t = a[aOff + (transA ? p * m + i : i * k + p)] * b[bOff + (transB ? j * k + p : p * n + j)];
                    sum += t;
                    abs += Math.Abs(t);
                }

                c[i * n + j] = sum;
                scale[i * n + j] = abs;
            }
        }

        return (c, scale);
    }
}
