using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Autodiff.Kernels;

/// <summary>
/// Reductions over the middle axis of a row-major tensor viewed as [outer, n, inner]; the result has
/// outer * inner elements laid out as [outer, inner].
/// </summary>
internal static class Reduce
{
    private const int ColumnBlock = 2048;

    private enum Op
    {
        Sum,
        Max,
        Min,
    }

    /// <summary>dst[o, i] (+)= sum over j of x[o, j, i]. An empty axis (n == 0) sums to 0.</summary>
    /// <param name="x">The input, exactly outer * n * inner elements.</param>
    /// <param name="outer">Product of the dimensions before the reduced axis.</param>
    /// <param name="n">Length of the reduced axis.</param>
    /// <param name="inner">Product of the dimensions after the reduced axis.</param>
    /// <param name="dst">The result, exactly outer * inner elements.</param>
    /// <param name="accumulate">Add into <paramref name="dst"/> instead of overwriting it.</param>
    /// <exception cref="ArgumentException">A span length does not match the dimensions.</exception>
    public static void Sum<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst, bool accumulate = false)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Run(x, outer, n, inner, dst, Op.Sum, accumulate);

    /// <summary>dst[o, i] = max over j of x[o, j, i]; NaN if any reduced element is NaN, -infinity when n == 0.</summary>
    /// <param name="x">The input, exactly outer * n * inner elements.</param>
    /// <param name="outer">Product of the dimensions before the reduced axis.</param>
    /// <param name="n">Length of the reduced axis.</param>
    /// <param name="inner">Product of the dimensions after the reduced axis.</param>
    /// <param name="dst">The result, exactly outer * inner elements.</param>
    /// <exception cref="ArgumentException">A span length does not match the dimensions.</exception>
    public static void Max<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Run(x, outer, n, inner, dst, Op.Max, false);

    /// <summary>dst[o, i] = min over j of x[o, j, i]; NaN if any reduced element is NaN, +infinity when n == 0.</summary>
    /// <param name="x">The input, exactly outer * n * inner elements.</param>
    /// <param name="outer">Product of the dimensions before the reduced axis.</param>
    /// <param name="n">Length of the reduced axis.</param>
    /// <param name="inner">Product of the dimensions after the reduced axis.</param>
    /// <param name="dst">The result, exactly outer * inner elements.</param>
    /// <exception cref="ArgumentException">A span length does not match the dimensions.</exception>
    public static void Min<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        Run(x, outer, n, inner, dst, Op.Min, false);

    private static unsafe void Run<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst, Op op, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentOutOfRangeException.ThrowIfNegative(outer);
        ArgumentOutOfRangeException.ThrowIfNegative(n);
        ArgumentOutOfRangeException.ThrowIfNegative(inner);
        if ((long)outer * n * inner != x.Length || (long)outer * inner != dst.Length)
        {
            throw new ArgumentException($"spans of length {x.Length} and {dst.Length} do not match [{outer}, {n}, {inner}]");
        }

        if (dst.Length == 0)
        {
            return;
        }

        // Work units: whole rows when inner == 1, else (outer index, block of inner columns).
        int blocks = inner == 1 ? 1 : (inner + ColumnBlock - 1) / ColumnBlock;
        fixed (T* px = x, pd = dst)
        {
            var body = new Units<T> { X = px, Dst = pd, LengthX = x.Length, LengthDst = dst.Length, N = n, Inner = inner, Blocks = blocks, Op = op, Accumulate = accumulate };
            Parallelism.For(outer * blocks, (long)n * Math.Min(inner, ColumnBlock), ref body);
        }
    }

    /// <summary>Work units [start, end) of <see cref="Run{T}"/>.</summary>
    private unsafe struct Units<T> : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* X, Dst;
        public int LengthX, LengthDst, N, Inner, Blocks;
        public Op Op;
        public bool Accumulate;

        public readonly void Run(int start, int end)
        {
            var x = new ReadOnlySpan<T>(X, LengthX);
            var dst = new Span<T>(Dst, LengthDst);
            if (Inner == 1)
            {
                Rows(x, N, dst, Op, Accumulate, start, end);
            }
            else
            {
                Columns(x, N, Inner, Blocks, dst, Op, Accumulate, start, end);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Rows<T>(ReadOnlySpan<T> x, int n, Span<T> dst, Op op, bool accumulate, int start, int end)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int o = start; o < end; o++)
        {
            ReadOnlySpan<T> row = x.Slice(o * n, n);
            T v = op switch
            {
                Op.Sum => TensorPrimitives.Sum(row),
                _ when n == 0 => Identity<T>(op),
                Op.Max => TensorPrimitives.Max(row),
                _ => TensorPrimitives.Min(row),
            };
            dst[o] = accumulate ? dst[o] + v : v;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Columns<T>(ReadOnlySpan<T> x, int n, int inner, int blocks, Span<T> dst, Op op, bool accumulate, int start, int end)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int u = start; u < end; u++)
        {
            int o = u / blocks, c = u % blocks * ColumnBlock, length = Math.Min(ColumnBlock, inner - c);
            Span<T> d = dst.Slice(o * inner + c, length);
            int j = 0;
            if (!accumulate)
            {
                if (n == 0)
                {
                    d.Fill(Identity<T>(op));
                    continue;
                }

                x.Slice(o * n * inner + c, length).CopyTo(d);
                j = 1;
            }

            for (; j < n; j++)
            {
                ReadOnlySpan<T> row = x.Slice(((o * n) + j) * inner + c, length);
                switch (op)
                {
                    case Op.Sum: TensorPrimitives.Add(d, row, d); break;
                    case Op.Max: TensorPrimitives.Max(d, row, d); break;
                    default: TensorPrimitives.Min(d, row, d); break;
                }
            }
        }
    }

    private static T Identity<T>(Op op)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        op switch
        {
            Op.Sum => T.Zero,
            Op.Max => T.NegativeInfinity,
            _ => T.PositiveInfinity,
        };
}
