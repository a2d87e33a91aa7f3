using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Autodiff.Kernels;

/// <summary>
/// Numerically stable log-sum-exp, softmax and log-softmax over contiguous rows of length n
/// (the row maximum is subtracted before exponentiating; float rows accumulate their exponential sums in double).
/// Finite rows take the vector passes of <see cref="SoftmaxCrossEntropy"/> (one read of the row for log-sum-exp and
/// log-softmax statistics, exp written straight into the output for softmax); rows are split across cores in blocks.
/// </summary>
internal static class Softmax
{
    private enum Kind
    {
        LogSumExp,
        Softmax,
        LogSoftmax,
    }

    /// <summary>
    /// lse[r] = log(sum over j of exp(x[r, j])). A row containing NaN gives NaN; otherwise a row containing +infinity
    /// gives +infinity, and a row of only -infinity (or an empty row, n == 0) gives -infinity.
    /// </summary>
    /// <param name="x">The input, exactly rows * n elements.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="n">Row length.</param>
    /// <param name="lse">The result, exactly rows elements.</param>
    /// <exception cref="ArgumentException">A span length does not match the dimensions.</exception>
    public static void LogSumExpRows<T>(ReadOnlySpan<T> x, int rows, int n, Span<T> lse)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Run(x, rows, n, lse, rows, Kind.LogSumExp);

    /// <summary>
    /// y[r, j] = exp(x[r, j] - lse[r]). A row containing NaN gives all NaN. A row of only -infinity gives all 0.
    /// A row containing +infinity gives 1/count at each of its count +infinity entries and 0 elsewhere.
    /// <paramref name="y"/> may be the same span as <paramref name="x"/>.
    /// </summary>
    /// <param name="x">The input, exactly rows * n elements.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="n">Row length.</param>
    /// <param name="y">The result, exactly rows * n elements.</param>
    /// <exception cref="ArgumentException">A span length does not match the dimensions.</exception>
    public static void SoftmaxRows<T>(ReadOnlySpan<T> x, int rows, int n, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Run(x, rows, n, y, rows * n, Kind.Softmax);

    /// <summary>
    /// y[r, j] = x[r, j] - lse[r]. A row containing NaN gives all NaN. A row of only -infinity gives all -infinity.
    /// A row containing +infinity gives -log(count) at each of its count +infinity entries and -infinity elsewhere
    /// (the log of <see cref="SoftmaxRows{T}"/>). <paramref name="y"/> may be the same span as <paramref name="x"/>.
    /// </summary>
    /// <param name="x">The input, exactly rows * n elements.</param>
    /// <param name="rows">Number of rows.</param>
    /// <param name="n">Row length.</param>
    /// <param name="y">The result, exactly rows * n elements.</param>
    /// <exception cref="ArgumentException">A span length does not match the dimensions.</exception>
    public static void LogSoftmaxRows<T>(ReadOnlySpan<T> x, int rows, int n, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Run(x, rows, n, y, rows * n, Kind.LogSoftmax);

    private static unsafe void Run<T>(ReadOnlySpan<T> x, int rows, int n, Span<T> y, int yLength, Kind kind)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(rows);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        if ((long)rows * n != x.Length || yLength != y.Length)
        {
            throw new ArgumentException($"spans of length {x.Length} and {y.Length} do not match {rows} rows of length {n}");
        }

        fixed (T* px = x, py = y)
        {
            var body = new Body<T> { X = px, Y = py, N = n, Rows = rows, Kind = kind };
            Parallelism.For(rows, Math.Max(n, 1) * 4L, ref body);
        }
    }

    private unsafe struct Body<T> : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X;
        public T* Y;
        public int N;
        public int Rows;
        public Kind Kind;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public readonly void Run(int start, int end)
        {
            int n = N;
            for (int r = start; r < end; r++)
            {
                T* row = X + ((nint)r * n);
                if (Kind == Kind.LogSumExp)
                {
                    var (m, s) = SoftmaxCrossEntropy.Stats(row, n, r + 1 < Rows ? row + n : null);
                    Y[r] = T.CreateTruncating(SoftmaxCrossEntropy.LogSumExp(row, n, m, s));
                    continue;
                }

                var yr = new Span<T>(Y + ((nint)r * n), n);
                T max = SoftmaxCrossEntropy.Fast.Max(row, n);
                if (T.IsFinite(max))
                {
                    if (Kind == Kind.Softmax)
                    {
                        double sum = SoftmaxCrossEntropy.Fast.ExpStore(row, n, max, Y + ((nint)r * n), r + 1 < Rows ? row + n : null);
                        if (double.IsFinite(sum))
                        {
                            TensorPrimitives.Multiply(yr, T.CreateTruncating(1 / sum), yr);
                            continue;
                        }

                        yr.Fill(T.NaN);   // the row has a NaN (which the vector max may not see)
                        continue;
                    }

                    double s = SoftmaxCrossEntropy.Fast.SumExp(row, n, max, null);
                    if (double.IsFinite(s))
                    {
                        // log1p of the exact s − 1: the largest entry's −log s does not round to 0 (the tail)
                        T logSum = T.CreateTruncating(ScalarMath.Log1p(SoftmaxCrossEntropy.Rest(row, n, max, s)));
                        var xr = new ReadOnlySpan<T>(row, n);
                        TensorPrimitives.Subtract(xr, max, yr);
                        TensorPrimitives.Subtract(yr, logSum, yr);
                        continue;
                    }
                }

                NonFinite(new ReadOnlySpan<T>(row, n), yr, Kind);
            }
        }
    }

    /// <summary>A row with NaN or ±inf: NaN rows stay NaN; all −inf rows give 0 (softmax) or −inf (log-softmax); +inf
    /// entries share the probability.</summary>
    private static void NonFinite<T>(ReadOnlySpan<T> row, Span<T> yr, Kind kind)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T max = row.Length == 0 ? T.NegativeInfinity : TensorPrimitives.Max(row);
        if (T.IsNaN(max) || T.IsNegativeInfinity(max))
        {
            yr.Fill(T.IsNaN(max) || kind == Kind.LogSoftmax ? max : T.Zero);
            return;
        }

        int count = CountPositiveInfinity(row);
        T share = kind == Kind.Softmax ? T.One / T.CreateTruncating(count) : -T.Log(T.CreateTruncating(count));
        T rest = kind == Kind.Softmax ? T.Zero : T.NegativeInfinity;
        for (int j = 0; j < row.Length; j++)
        {
            yr[j] = T.IsPositiveInfinity(row[j]) ? share : rest;
        }
    }

    private static int CountPositiveInfinity<T>(ReadOnlySpan<T> row)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int count = 0;
        foreach (T v in row)
        {
            count += T.IsPositiveInfinity(v) ? 1 : 0;
        }

        return count;
    }
}
