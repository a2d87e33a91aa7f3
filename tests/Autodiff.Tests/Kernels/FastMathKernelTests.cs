using System.Collections.Concurrent;
using System.Numerics;
using Autodiff.Kernels;

namespace Autodiff.Tests.Kernels;

/// <summary>The vector row passes built on FastMath (every vector width this machine has, against double loops), the
/// allocation-free parallel split, and the tape's gradient-buffer plan (overwrite instead of zero + accumulate).</summary>
public class FastMathKernelTests
{
    private static int[] Widths() => [0, .. FastMath.Has256 ? new[] { 256 } : [], .. FastMath.Has512 ? new[] { 512 } : []];

    public static TheoryData<int, int> WidthsAndLengths()
    {
        var data = new TheoryData<int, int>();
        foreach (int w in Widths())
            foreach (int n in new[] { 1, 3, 7, 8, 15, 16, 17, 33, 64, 65, 100, 1000, 9000 })
                data.Add(w, n);
        return data;
    }

    [Theory]
    [MemberData(nameof(WidthsAndLengths))]
    public void RowPassesMatchDoubleLoops(int width, int n)
    {
        CheckRowPasses<float>(width, n, 1e-6);
        CheckRowPasses<double>(width, n, 1e-14);
    }

    private static void CheckRowPasses<T>(int width, int n, double tol)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var rnd = new Random(n * 31 + width);
        double[] xd = KernelData.Uniform(rnd, n, -30, 5);
        if (n > 2) xd[n / 2] = double.NegativeInfinity;   // a masked logit: exp gives 0
        T[] x = KernelData.To<T>(xd), next = new T[n], d = new T[n], e = new T[n];
        double[] xr = KernelData.ToDouble<T>(x);
        double max = xr.Max(), k = double.CreateTruncating(T.CreateTruncating(0.37)), add = double.CreateTruncating(T.CreateTruncating(-0.01));
        double[] ex = xr.Select(v => Math.Exp(v - max)).ToArray();
        Assert.Equal(max, double.CreateTruncating(RowPasses.Max<T>(x, width)));
        T m = T.CreateTruncating(max), kt = T.CreateTruncating(k), at = T.CreateTruncating(add);
        Assert.Equal(ex.Sum(), RowPasses.SumExp<T>(x, m, next, width), tol * n);
        foreach (bool streaming in new[] { false, true })
        {
            RowPasses.ScaledExp<T>(x, m, kt, at, d, accumulate: false, streaming, width);
            for (int i = 0; i < n; i++) Assert.Equal(ex[i] * k + add, double.CreateTruncating(d[i]), tol);
        }
        RowPasses.ScaledExp<T>(x, m, kt, at, d, accumulate: true, streaming: false, width);
        for (int i = 0; i < n; i++) Assert.Equal(2 * (ex[i] * k + add), double.CreateTruncating(d[i]), 2 * tol);
        Assert.Equal(ex.Sum(), RowPasses.ExpStore<T>(x, m, e, width), tol * n);
        for (int i = 0; i < n; i++) Assert.Equal(ex[i], double.CreateTruncating(e[i]), tol);
        RowPasses.Scale<T>(e, kt, at, width);
        for (int i = 0; i < n; i++) Assert.Equal(ex[i] * k + add, double.CreateTruncating(e[i]), tol);
        Assert.Equal(ex.Sum(), RowPasses.ExpStore<T>(x, m, x, width), tol * n);   // in place
        for (int i = 0; i < n; i++) Assert.Equal(ex[i], double.CreateTruncating(x[i]), tol);
    }

    [Fact]
    public void MaxOfAnEmptyRowIsMinusInfinity()
    {
        foreach (int w in Widths()) Assert.Equal(float.NegativeInfinity, RowPasses.Max<float>([], w));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void OverwritingKernelsEqualAccumulatingIntoZeros(int threads)
    {
        int saved = Parallelism.DegreeOfParallelism;
        try
        {
            Parallelism.DegreeOfParallelism = threads;
            var rnd = new Random(5);
            foreach (var (rows, n) in new[] { (300, 257), (4, 9000), (64, 3) })
            {
                var z = KernelData.To<float>(KernelData.Uniform(rnd, rows * n, -4, 4));
                z[n + 1] = float.NaN;   // a NaN row and an all −inf row take the policy path
                for (int j = 0; j < n; j++) z[(2 * n) + j] = float.NegativeInfinity;
                var t = Enumerable.Range(0, rows).Select(_ => (long)rnd.Next(n)).ToArray();
                t[3] = -100;
                var g = KernelData.To<float>(KernelData.Uniform(rnd, rows, 0.5, 1.5));
                float[] max = new float[rows], loss = new float[rows];
                double[] sum = new double[rows], rest = new double[rows];
                SoftmaxCrossEntropy.SparseForward(z, t, null, -100, 0.1, max, sum, rest, loss, rows, n);
                var acc = new float[rows * n];
                var ovw = Enumerable.Repeat(123f, rows * n).ToArray();   // garbage: every element must be written
                SoftmaxCrossEntropy.SparseBackward(z, t, null, -100, 0.1, max, sum, rest, g, acc, rows, n, accumulate: true);
                SoftmaxCrossEntropy.SparseBackward(z, t, null, -100, 0.1, max, sum, rest, g, ovw, rows, n, accumulate: false);
                Assert.Equal(acc, ovw);
                Array.Fill(ovw, 5f);   // the forward leaves the numerators there, the backward scales them in place
                SoftmaxCrossEntropy.SparseForward(z, t, null, -100, 0.1, max, sum, rest, loss, rows, n, stash: ovw);
                SoftmaxCrossEntropy.SparseBackward(z, t, null, -100, 0.1, max, sum, rest, g, ovw, rows, n, accumulate: false, stashed: true);
                Assert.Equal(acc, ovw);

                float[] lse = new float[rows];
                SoftmaxCrossEntropy.LogSumExpForward(z, rows, n, lse, max, sum);
                Array.Clear(acc);
                Array.Fill(ovw, -7f);
                SoftmaxCrossEntropy.LogSumExpBackward(z, g, max, sum, acc, rows, n, accumulate: true);
                SoftmaxCrossEntropy.LogSumExpBackward(z, g, max, sum, ovw, rows, n, accumulate: false);
                Assert.Equal(acc, ovw);
                Array.Fill(ovw, 5f);
                SoftmaxCrossEntropy.LogSumExpForward(z, rows, n, lse, max, sum, stash: ovw);
                SoftmaxCrossEntropy.LogSumExpBackward(z, g, max, sum, ovw, rows, n, accumulate: false, stashed: true);
                Assert.Equal(acc, ovw);
            }
        }
        finally
        {
            Parallelism.DegreeOfParallelism = saved;
        }
    }

    private struct Recorder : IRangeBody
    {
        public ConcurrentBag<(int, int)> Chunks;
        public int Throw;

        public readonly void Run(int start, int end)
        {
            Chunks.Add((start, end));
            if (start <= Throw && Throw < end) throw new InvalidOperationException($"item {Throw}");
        }
    }

    [Theory]
    [InlineData(0, 100_000, 2)]
    [InlineData(1, 100_000, 2)]
    [InlineData(5, 10, 2)]
    [InlineData(4096, 4000, 2)]
    [InlineData(4096, 4000, 3)]
    [InlineData(100_000, 1, 1)]
    public void StructBodiesCoverTheRangeOnce(int count, long work, int threads)
    {
        int saved = Parallelism.DegreeOfParallelism;
        try
        {
            Parallelism.DegreeOfParallelism = threads;
            var body = new Recorder { Chunks = [], Throw = -1 };
            Parallelism.For(count, work, ref body);
            int next = 0;
            foreach (var (s, e) in body.Chunks.OrderBy(c => c.Item1))
            {
                Assert.Equal(next, s);
                Assert.True(e > s);
                next = e;
            }
            Assert.Equal(count, next);
            if (threads == 1 || count * work < Parallelism.DefaultThreshold) Assert.True(body.Chunks.Count <= 1);
        }
        finally
        {
            Parallelism.DegreeOfParallelism = saved;
        }
    }

    [Fact]
    public void StructBodyExceptionPropagatesAndThePoolRecovers()
    {
        int saved = Parallelism.DegreeOfParallelism;
        try
        {
            Parallelism.DegreeOfParallelism = 2;
            var body = new Recorder { Chunks = [], Throw = 3000 };
            var e = Assert.Throws<InvalidOperationException>(() => Parallelism.For(4096, 4000, ref body));
            Assert.Equal("item 3000", e.Message);
            var ok = new Recorder { Chunks = [], Throw = -1 };
            Parallelism.For(4096, 4000, ref ok);
            Assert.Equal(4096, ok.Chunks.Sum(c => c.Item2 - c.Item1));
        }
        finally
        {
            Parallelism.DegreeOfParallelism = saved;
        }
    }

    /// <summary>z feeds the fused op (first writer of z's gradient: overwrites) and an elementwise op (accumulates after
    /// it); the logits also get a gradient from a second fused op that is not the first writer (accumulates).</summary>
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void GradientBuffersOverwrittenByTheFirstWriterMatchZeroedOnes(DType dt)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", dt, 6, 40);
        var t = b.Input("t", DType.I64, new Shape(6), InputFacts.ClassIndices(40));
        var shared = b.Build(z.SparseSoftmaxCrossEntropy(t, 1).Mean() + (z * z).Sum() * 1e-3 + z.LogSumExp(1).Sum());
        var alone = b.Build(z.SparseSoftmaxCrossEntropy(t, 1).Mean());
        var rnd = new Random(9);
        var inputs = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.RandomNormal(dt, new Shape(6, 40), rnd, 3),
            ["t"] = Tensor.FromArray(Enumerable.Range(0, 6).Select(_ => (long)rnd.Next(40)).ToArray(), 6),
        };
        foreach (var graph in new[] { shared, alone })
        {
            var tape = new Tape(graph);
            var first = tape.Run(inputs).Gradients["z"].ToDoubleArray();
            var again = tape.Backward()["z"].ToDoubleArray();   // a second backward of the same forward
            Assert.Equal(first, again);
            var check = GradientChecker.Check(graph, inputs, ["z"]);
            Assert.True(check.Passed, check.ToString());
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void SteadyStateForwardBackwardOfAFusedLossAllocatesNothing(int threads)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F32, 256, 300);
        var t = b.Input("t", DType.I64, new Shape(256), InputFacts.ClassIndices(300));
        var rnd = new Random(2);
        var inputs = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.RandomNormal(DType.F32, new Shape(256, 300), rnd),
            ["t"] = Tensor.FromArray(Enumerable.Range(0, 256).Select(_ => (long)rnd.Next(300)).ToArray(), 256),
        };
        Assert.Equal(0, SteadyStateBytes(b.Build(z.SparseSoftmaxCrossEntropy(t, 1).Mean()), inputs, threads));
    }

    public static TheoryData<DType, int> TypesAndThreads() => new() { { DType.F32, 1 }, { DType.F32, 2 }, { DType.F64, 1 }, { DType.F64, 2 } };

    /// <summary>64×64 products are above the parallel threshold (11 panels of 6·64·64 multiply-adds), so with 2 threads
    /// the forward and both backward products go through the struct-body split.</summary>
    [Theory]
    [MemberData(nameof(TypesAndThreads))]
    public void SteadyStateForwardBackwardOfAMatMulAllocatesNothing(DType dt, int threads)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", dt, 64, 64);
        var w = b.Input("w", dt, 64, 64);
        var rnd = new Random(3);
        var inputs = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.RandomNormal(dt, new Shape(64, 64), rnd),
            ["w"] = Tensor.RandomNormal(dt, new Shape(64, 64), rnd),
        };
        Assert.Equal(0, SteadyStateBytes(b.Build(z.MatMul(w).Sum()), inputs, threads));
    }

    /// <summary>The naive graph of the cross-entropy (not simplified): exp, a keepdims row sum, a row-broadcast division,
    /// log, a product with one_hot, row sum, mean and negation, on [256, 300] (above the elementwise block of 32768 elements
    /// and the row split's threshold).</summary>
    [Theory]
    [MemberData(nameof(TypesAndThreads))]
    public void SteadyStateForwardBackwardOfTheNaiveCrossEntropyAllocatesNothing(DType dt, int threads)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", dt, 256, 300);
        var t = b.Input("t", DType.I64, new Shape(256), InputFacts.ClassIndices(300));
        var e = z.Exp();
        var loss = -(t.OneHot(300, dt) * (e / e.Sum(1, keepDims: true)).Log()).Sum(1).Mean();
        var rnd = new Random(4);
        var inputs = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.RandomNormal(dt, new Shape(256, 300), rnd),
            ["t"] = Tensor.FromArray(Enumerable.Range(0, 256).Select(_ => (long)rnd.Next(300)).ToArray(), 256),
        };
        Assert.Equal(0, SteadyStateBytes(b.Build(loss), inputs, threads));
    }

    /// <summary>Bytes this thread allocates in 10 forward+backward runs of a tape already run 3 times: the fewest of up to 5
    /// such windows, since a one-off can land in any one of them (the array pool growing when a worker thread first takes a
    /// block concurrently with the caller, a method being recompiled), while a per-run allocation shows in every window.</summary>
    private static long SteadyStateBytes(Graph graph, Dictionary<string, Tensor> inputs, int threads)
    {
        int saved = Parallelism.DegreeOfParallelism;
        try
        {
            Parallelism.DegreeOfParallelism = threads;
            var tape = new Tape(graph);
            for (int i = 0; i < 3; i++) tape.Run(inputs);
            long fewest = long.MaxValue;
            for (int window = 0; window < 5 && fewest > 0; window++)
            {
                long before = GC.GetAllocatedBytesForCurrentThread();
                for (int i = 0; i < 10; i++) tape.Run(inputs);
                fewest = Math.Min(fewest, GC.GetAllocatedBytesForCurrentThread() - before);
            }
            return fewest;
        }
        finally
        {
            Parallelism.DegreeOfParallelism = saved;
        }
    }
}
