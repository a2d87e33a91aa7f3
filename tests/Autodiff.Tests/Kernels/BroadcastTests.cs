using System.Numerics;
using Autodiff.Kernels;

namespace Autodiff.Tests.Kernels;

public class BroadcastTests
{
    private static readonly (int[] A, int[] B)[] BinaryShapes =
    [
        ([2, 3, 4], [3, 1]),
        ([1], [5, 1]),
        ([], [2, 2]),
        ([0, 3], [3]),
        ([2, 3], [2, 3]),
        ([3], []),
        ([], []),
        ([4, 1, 3], [1, 5, 1]),
        ([2, 1, 3, 1], [4, 1, 5]),
        ([1, 1, 7], [7]),
        ([300, 200], [200]),      // parallel over runs
        ([8, 1, 300], [1, 50, 300]),
        ([70_000], [70_000]),      // parallel, same shape
        ([], [70_000]),            // parallel, scalar left
    ];

    private static readonly (int[] Big, int[] Small)[] ReducePairs =
    [
        ([2, 3, 4], [3, 1]),
        ([2, 3, 4], [4]),
        ([2, 3, 4], [2, 1, 4]),
        ([2, 3, 4], []),
        ([5, 1], [1]),
        ([5, 1], [5, 1]),
        ([2, 3], [2, 3]),
        ([0, 3], [3]),
        ([0, 3], [1, 1]),
        ([3, 0], [3, 1]),
        ([4, 5, 6, 7], [5, 1, 7]),
        ([4, 5, 6, 7], [4, 1, 6, 1]),
        ([2, 1, 3], [1, 1, 1]),
        ([300, 400], [400]),
        ([40, 3, 700], [40, 1, 1]),
    ];

    // Kinds by name: BinaryKind is internal, and a public theory cannot take it as a parameter.
    public static TheoryData<string, int, string> BinaryCases()
    {
        var data = new TheoryData<string, int, string>();
        foreach (string type in new[] { "f32", "f64" })
        {
            for (int i = 0; i < BinaryShapes.Length; i++)
            {
                foreach (BinaryKind kind in Enum.GetValues<BinaryKind>())
                {
                    data.Add(type, i, kind.ToString());
                }
            }
        }

        return data;
    }

    public static TheoryData<string, int, bool> ReduceCases()
    {
        var data = new TheoryData<string, int, bool>();
        foreach (string type in new[] { "f32", "f64" })
        {
            for (int i = 0; i < ReducePairs.Length; i++)
            {
                data.Add(type, i, false);
                data.Add(type, i, true);
            }
        }

        return data;
    }

    [Theory]
    [InlineData(new[] { 2, 3, 4 }, new[] { 3, 1 }, new[] { 2, 3, 4 })]
    [InlineData(new[] { 1 }, new[] { 5, 1 }, new[] { 5, 1 })]
    [InlineData(new int[0], new[] { 2, 2 }, new[] { 2, 2 })]
    [InlineData(new[] { 0, 3 }, new[] { 3 }, new[] { 0, 3 })]
    [InlineData(new[] { 0 }, new[] { 1 }, new[] { 0 })]
    [InlineData(new[] { 4, 1, 3 }, new[] { 1, 5, 1 }, new[] { 4, 5, 3 })]
    public void BroadcastShapesFollowsNumPy(int[] a, int[] b, int[] expected)
    {
        Assert.Equal(expected, Broadcast.BroadcastShapes(a, b));
        Assert.Equal(expected, Broadcast.BroadcastShapes(b, a));
    }

    [Theory]
    [InlineData(new[] { 2, 3 }, new[] { 4 }, "cannot broadcast [2, 3] with [4]")]
    [InlineData(new[] { 0 }, new[] { 2 }, "cannot broadcast [0] with [2]")]
    [InlineData(new[] { 2, 1 }, new[] { 3, 4, 3 }, "cannot broadcast [2, 1] with [3, 4, 3]")]
    public void BroadcastShapesRejectsIncompatible(int[] a, int[] b, string message)
    {
        var ex = Assert.Throws<ArgumentException>(() => Broadcast.BroadcastShapes(a, b));
        Assert.Equal(message, ex.Message);
    }

    [Theory]
    [MemberData(nameof(BinaryCases))]
    public void BinaryMatchesNaive(string type, int shapes, string kindName)
    {
        var kind = Enum.Parse<BinaryKind>(kindName);
        if (type == "f32")
        {
            CheckBinary<float>(shapes, kind);
        }
        else
        {
            CheckBinary<double>(shapes, kind);
        }
    }

    [Theory]
    [InlineData(nameof(BinaryKind.Maximum))]
    [InlineData(nameof(BinaryKind.Minimum))]
    public void MaximumAndMinimumPropagateNaN(string kindName)
    {
        var kind = Enum.Parse<BinaryKind>(kindName);
        float[] a = [1, float.NaN, -3, 4];
        float[] dst = new float[4];
        Broadcast.Binary<float>(a, [4], [float.NaN], [1], dst, [4], kind);
        Assert.All(dst, v => Assert.True(float.IsNaN(v)));

        Broadcast.Binary<float>([2f], [], a, [4], dst, [4], kind);
        Assert.Equal(new[] { false, true, false, false }, dst.Select(float.IsNaN));

        double[] x = [double.NaN, 1, 2, 3, 4, 5];
        double[] y = [0, double.NaN, 0];
        double[] z = new double[6];
        Broadcast.Binary<double>(x, [2, 3], y, [3], z, [2, 3], kind);
        Assert.Equal(new[] { true, true, false, false, true, false }, z.Select(double.IsNaN));
    }

    [Fact]
    public void BinaryWorksInPlace()
    {
        double[] a = [1, 2, 3, 4, 5, 6];
        Broadcast.Binary<double>(a, [2, 3], [10, 20, 30], [3], a, [2, 3], BinaryKind.Add);
        Assert.Equal([11, 22, 33, 14, 25, 36], a);
    }

    [Fact]
    public void BinaryRejectsWrongDestination()
    {
        var dst = new double[6];
        Assert.Throws<ArgumentException>(() => Broadcast.Binary<double>(new double[6], [2, 3], new double[3], [3], dst, [6], BinaryKind.Add));
        Assert.Throws<ArgumentException>(() => Broadcast.Binary<double>(new double[5], [2, 3], new double[3], [3], dst, [2, 3], BinaryKind.Add));
        Assert.Throws<ArgumentException>(() => Broadcast.Binary<double>(new double[6], [2, 3], new double[2], [2], dst, [2, 3], BinaryKind.Add));
    }

    [Theory]
    [MemberData(nameof(ReduceCases))]
    public void ReduceToShapeMatchesNaive(string type, int pair, bool accumulate)
    {
        if (type == "f32")
        {
            CheckReduceToShape<float>(pair, accumulate);
        }
        else
        {
            CheckReduceToShape<double>(pair, accumulate);
        }
    }

    [Theory]
    [InlineData("f32")]
    [InlineData("f64")]
    public void ExpandMatchesNaive(string type)
    {
        for (int i = 0; i < ReducePairs.Length; i++)
        {
            if (type == "f32")
            {
                CheckExpand<float>(ReducePairs[i].Small, ReducePairs[i].Big, i);
            }
            else
            {
                CheckExpand<double>(ReducePairs[i].Small, ReducePairs[i].Big, i);
            }
        }

        CheckExpand<float>([], [2, 2], 0);
        CheckExpand<double>([1], [5, 1], 1);
        CheckExpand<double>([3, 1], [2, 3, 70_000], 2);
    }

    [Fact]
    public void ExpandRejectsIncompatibleShapes()
    {
        Assert.Throws<ArgumentException>(() => Broadcast.Expand<double>(new double[2], [2], new double[3], [3]));
        Assert.Throws<ArgumentException>(() => Broadcast.Expand<double>(new double[6], [2, 3], new double[3], [3]));
    }

    private static void CheckBinary<T>(int shapes, BinaryKind kind)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (aShape, bShape) = BinaryShapes[shapes];
        var rnd = new Random(shapes * 31 + (int)kind);
        int[] shape = Broadcast.BroadcastShapes(aShape, bShape);

        // a in [0.5, 2] (valid Pow base), b in +-[0.5, 2] (safe divisor).
        double[] a = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, KernelData.Size(aShape), 0.5, 2));
        double[] b = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, KernelData.Size(bShape), 0.5, 2).Select(v => rnd.Next(2) == 0 ? v : -v).ToArray());
        var expected = new double[KernelData.Size(shape)];
        for (int i = 0; i < expected.Length; i++)
        {
            int[] index = KernelData.Unravel(i, shape);
            double x = a[KernelData.BroadcastIndex(index, aShape)], y = b[KernelData.BroadcastIndex(index, bShape)];
            expected[i] = kind switch
            {
                BinaryKind.Add => x + y,
                BinaryKind.Subtract => x - y,
                BinaryKind.Multiply => x * y,
                BinaryKind.Divide => x / y,
                BinaryKind.Maximum => Math.Max(x, y),
                BinaryKind.Minimum => Math.Min(x, y),
                _ => Math.Pow(x, y),
            };
        }

        var dst = new T[expected.Length];
        Broadcast.Binary<T>(KernelData.To<T>(a), aShape, KernelData.To<T>(b), bShape, dst, shape, kind);
        KernelData.AssertClose(expected, dst, 8 * KernelData.Epsilon<T>());
    }

    private static void CheckReduceToShape<T>(int pair, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var (srcShape, dstShape) = ReducePairs[pair];
        var rnd = new Random(pair);
        double[] src = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, KernelData.Size(srcShape)));
        double[] initial = KernelData.RoundTrip<T>(KernelData.Uniform(rnd, KernelData.Size(dstShape)));
        var expected = accumulate ? (double[])initial.Clone() : new double[initial.Length];
        var scale = new double[initial.Length];
        Array.Fill(scale, 1.0);
        for (int i = 0; i < src.Length; i++)
        {
            int j = KernelData.BroadcastIndex(KernelData.Unravel(i, srcShape), dstShape);
            expected[j] += src[i];
            scale[j] += Math.Abs(src[i]);
        }

        T[] dst = KernelData.To<T>(initial);
        Broadcast.ReduceToShape<T>(KernelData.To<T>(src), srcShape, dst, dstShape, accumulate);
        KernelData.AssertClose(expected, dst, 4 * KernelData.Epsilon<T>() * Math.Sqrt(src.Length + 1), scale);
    }

    private static void CheckExpand<T>(int[] srcShape, int[] dstShape, int seed)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double[] src = KernelData.RoundTrip<T>(KernelData.Uniform(new Random(seed), KernelData.Size(srcShape)));
        var expected = new double[KernelData.Size(dstShape)];
        for (int i = 0; i < expected.Length; i++)
        {
            expected[i] = src[KernelData.BroadcastIndex(KernelData.Unravel(i, dstShape), srcShape)];
        }

        var dst = new T[expected.Length];
        Broadcast.Expand<T>(KernelData.To<T>(src), srcShape, dst, dstShape);
        KernelData.AssertClose(expected, dst, 0);
    }
}
