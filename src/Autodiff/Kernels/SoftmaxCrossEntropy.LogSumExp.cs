using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

// Softmax / log-softmax backward and logsumexp row kernels (see the class remarks in SoftmaxCrossEntropy.cs).
internal static partial class SoftmaxCrossEntropy
{
    // ---------------------------------------------------------------- softmax / log_softmax backward

    /// <summary>gx += y ⊙ (g − Σ g⊙y) per row, y being the softmax output (gx = … when not <paramref name="accumulate"/>).</summary>
    public static void SoftmaxBackward<T>(T[] y, T[] g, T[] gx, int rows, int n, bool accumulate = true)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, SoftmaxBack<T>>(rows, n, new(y, g, gx, n, accumulate), scratch: true);

    private readonly struct SoftmaxBack<T>(T[] y, T[] g, T[] gx, int n, bool accumulate) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            ReadOnlySpan<T> yr = y.AsSpan(r * n, n), gr = g.AsSpan(r * n, n);
            Span<T> d = gx.AsSpan(r * n, n);
            TensorPrimitives.Subtract(gr, Of<T>(DotInDouble(gr, yr)), tmp);
            if (accumulate) TensorPrimitives.FusedMultiplyAdd(tmp, yr, d, d);
            else TensorPrimitives.Multiply(tmp, yr, d);
        }
    }

    /// <summary>gx += g − exp(y)·Σ g per row, y being the log-softmax output (exp(−inf) = 0, so an entry whose probability is
    /// 0 gets g); gx = … when not <paramref name="accumulate"/>. The entry of largest y, when y &gt; −log 2, is written as
    /// −g·expm1(y) − exp(y)·(Σ g − g) so that g·(1 − q) does not cancel when q rounds to 1.</summary>
    public static void LogSoftmaxBackward<T>(T[] y, T[] g, T[] gx, int rows, int n, bool accumulate = true)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, LogSoftmaxBack<T>>(rows, n, new(y, g, gx, n, accumulate), scratch: accumulate);

    private readonly struct LogSoftmaxBack<T>(T[] y, T[] g, T[] gx, int n, bool accumulate) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            ReadOnlySpan<T> yr = y.AsSpan(r * n, n), gr = g.AsSpan(r * n, n);
            Span<T> d = gx.AsSpan(r * n, n);
            Span<T> t = accumulate ? tmp : d;
            FastMath.Exp(yr, t);
            double total = SumInDouble(gr);
            TensorPrimitives.MultiplyAdd(t, Of<T>(-total), gr, t);
            int a = n == 0 ? -1 : TensorPrimitives.IndexOfMax(yr);
            if (a >= 0 && double.CreateTruncating(yr[a]) > -Math.Log(2))
            {
                double ya = double.CreateTruncating(yr[a]), ga = double.CreateTruncating(gr[a]);
                t[a] = Of<T>((-ga * ScalarMath.Expm1(ya)) - (Math.Exp(ya) * (total - ga)));
            }

            if (accumulate) TensorPrimitives.Add(d, t, d);
        }
    }

    // ---------------------------------------------------------------- logsumexp

    /// <summary>lse[r] = max[r] + log sum[r], saving the row maxima and sums for <see cref="LogSumExpBackward{T}"/>; the
    /// numerators exp(x − max) of finite rows are also written to <paramref name="stash"/> when it is not null.</summary>
    public static void LogSumExpForward<T>(T[] x, int rows, int n, T[] lse, T[] max, double[] sum, T[]? stash = null)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, LseForward<T>>(rows, n, new(x, n, rows, lse, max, sum, stash, default), scratch: false);

    /// <summary><see cref="LogSumExpForward{T}"/> and <see cref="LogSumExpBackward{T}"/> in one pass per row, for an output
    /// gradient <paramref name="g"/> known before the forward: each row's gradient is written while the row is in
    /// cache, and with the same roundings as the two separate passes.</summary>
    public static void LogSumExpForwardBackward<T>(T[] x, int rows, int n, T[] lse, T[] max, double[] sum, T[] g, T[] gx, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForRows<T, LseForward<T>>(rows, n, new(x, n, rows, lse, max, sum, null, new(g, gx, accumulate)), scratch: false);
        Fence();
    }

    /// <summary>The gradient a forward row kernel also writes when the output gradient <see cref="G"/> is known before the
    /// forward (null <see cref="G"/>: the forward only).</summary>
    /// <param name="G">The output gradient, one per row.</param>
    /// <param name="Grad">The operand's gradient rows.</param>
    /// <param name="Accumulate">Add into <paramref name="Grad"/> instead of overwriting it.</param>
    /// <remarks>Measured at 4096×1000 f32: computing each row in an L1 scratch row and streaming it to the gradient
    /// (no read for ownership) was slower than writing the gradient row in place.</remarks>
    private readonly record struct Fused<T>(T[]? G, T[]? Grad, bool Accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>Where a row's numerators go: the gradient row itself when it is overwritten and short enough for the
        /// stash to pay (see <see cref="Stashes{T}"/>), so that the gradient is a scaling in place; else the forward's
        /// stash (null when fused).</summary>
        public unsafe T* Numerators(T* row, T* stash, int n) =>
            G is null ? stash : !Accumulate && Stashes<T>(n) ? row : null;
    }

    private readonly unsafe struct LseForward<T>(T[] x, int n, int rows, T[] lse, T[] max, double[] sum, T[]? stash, Fused<T> fused) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            fixed (T* px = x, pe = stash, pd = fused.Grad)
            {
                nint o = (nint)r * n;
                T* e = fused.Numerators(pd + o, pe == null ? null : pe + o, n);
                var (m, s) = Stats(px + o, n, r + 1 < rows ? px + o + n : null, e);
                max[r] = m;
                sum[r] = s;
                lse[r] = Of<T>(LogSumExp(px + o, n, m, s));
                if (fused.G is { } g) LseBackward<T>.Gradient(px + o, n, m, s, g[r], pd + o, fused.Accumulate, e != null);
            }
        }
    }

    /// <summary>m + log s for a row with maximum m and sum s; log s = log1p(s − 1) with s − 1 exact (see <see cref="Rest{T}"/>)
    /// when |m| &lt; 1, where the rounding of log s would show in the result (logsumexp([0, −40]) = 4.2e−18, not 0).</summary>
    public static unsafe double LogSumExp<T>(T* x, int n, T m, double s)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double md = double.CreateTruncating(m);
        return T.IsFinite(m) ? md + ScalarMath.Log1p(Rest(x, n, m, s, Math.Abs(md) < 1)) : md + Math.Log(s);
    }

    /// <summary>gx += g[r]·q with q = exp(x − max[r]) / sum[r] recomputed from the saved statistics (0 for an all −inf row,
    /// shared among the +inf entries of a row with +inf, NaN for a NaN row); gx = … when not <paramref name="accumulate"/>.
    /// With <paramref name="stashed"/> (overwrite only), gx holds the numerators from the forward's stash.</summary>
    public static void LogSumExpBackward<T>(T[] x, T[] g, T[] max, double[] sum, T[] gx, int rows, int n, bool accumulate = true, bool stashed = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForRows<T, LseBackward<T>>(rows, n, new(x, g, max, sum, gx, n, accumulate, stashed), scratch: false);
        Fence();
    }

    private readonly unsafe struct LseBackward<T>(T[] x, T[] g, T[] max, double[] sum, T[] gx, int n, bool accumulate, bool stashed) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            fixed (T* px = x, pd = gx)
            {
                nint o = (nint)r * n;
                Gradient(px + o, n, max[r], sum[r], g[r], pd + o, accumulate, stashed);
            }
        }

        /// <summary>One row's gradient g·exp(x − m)/s.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Gradient(T* x, int n, T m, double s, T g, T* d, bool accumulate, bool stashed) =>
            ScaledNumerators(x, n, m, Of<T>(double.CreateTruncating(g) / s), T.Zero, d, accumulate, stashed);
    }

    /// <summary>Orders streaming stores before the gradient is read by the next kernel.</summary>
    private static void Fence()
    {
        if (Sse.IsSupported) Sse.StoreFence();
    }
}
