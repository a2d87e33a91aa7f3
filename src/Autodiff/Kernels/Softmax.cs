using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Autodiff.Kernels;

/// <summary>
/// Numerically stable log-sum-exp, softmax and log-softmax over contiguous rows of length n
/// (the row maximum is subtracted before exponentiating; float rows accumulate their exponential sums in double).
/// </summary>
public static class Softmax
{
    private const int Chunk = 256;

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
            nint xx = (nint)px, xy = (nint)py;
            int lx = x.Length, ly = y.Length;
            Parallelism.For(rows, Math.Max(n, 1) * 4L, (s, e) =>
                Rows(new ReadOnlySpan<T>((T*)xx, lx), n, new Span<T>((T*)xy, ly), kind, s, e));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<T>(ReadOnlySpan<T> x, int n, Span<T> y, Kind kind, int start, int end)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Span<T> scratch = stackalloc T[Chunk];
        for (int r = start; r < end; r++)
        {
            ReadOnlySpan<T> row = x.Slice(r * n, n);
            T max = n == 0 ? T.NegativeInfinity : TensorPrimitives.Max(row);
            if (kind == Kind.LogSumExp)
            {
                y[r] = T.IsFinite(max) ? T.CreateTruncating(double.CreateTruncating(max) + Math.Log(SumExp(row, max, scratch))) : max;
                continue;
            }

            Span<T> yr = y.Slice(r * n, n);
            if (T.IsNaN(max) || T.IsNegativeInfinity(max))
            {
                // NaN rows stay NaN; all -infinity rows give 0 (softmax) or -infinity (log-softmax).
                yr.Fill(T.IsNaN(max) || kind == Kind.LogSoftmax ? max : T.Zero);
            }
            else if (T.IsPositiveInfinity(max))
            {
                int count = CountPositiveInfinity(row);
                T share = kind == Kind.Softmax ? T.One / T.CreateTruncating(count) : -T.Log(T.CreateTruncating(count));
                T rest = kind == Kind.Softmax ? T.Zero : T.NegativeInfinity;
                for (int j = 0; j < n; j++)
                {
                    yr[j] = T.IsPositiveInfinity(row[j]) ? share : rest;
                }
            }
            else if (kind == Kind.Softmax)
            {
                TensorPrimitives.Subtract(row, max, yr);
                TensorPrimitives.Exp(yr, yr);
                TensorPrimitives.Divide(yr, T.CreateTruncating(SumInDouble(yr)), yr);
            }
            else
            {
                T logSum = T.CreateTruncating(Math.Log(SumExp(row, max, scratch)));
                TensorPrimitives.Subtract(row, max, yr);
                TensorPrimitives.Subtract(yr, logSum, yr);
            }
        }
    }

    /// <summary>Sum over j of exp(x[j] - shift), accumulated in double over chunks of <see cref="Chunk"/>.</summary>
    private static double SumExp<T>(ReadOnlySpan<T> x, T shift, Span<T> scratch)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i += Chunk)
        {
            ReadOnlySpan<T> part = x.Slice(i, Math.Min(Chunk, x.Length - i));
            Span<T> tmp = scratch[..part.Length];
            TensorPrimitives.Subtract(part, shift, tmp);
            TensorPrimitives.Exp(tmp, tmp);
            sum += double.CreateTruncating(TensorPrimitives.Sum(tmp));
        }

        return sum;
    }

    private static double SumInDouble<T>(ReadOnlySpan<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double sum = 0;
        for (int i = 0; i < x.Length; i += Chunk)
        {
            sum += double.CreateTruncating(TensorPrimitives.Sum(x.Slice(i, Math.Min(Chunk, x.Length - i))));
        }

        return sum;
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
