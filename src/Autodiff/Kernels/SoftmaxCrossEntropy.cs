using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

/// <summary>
/// Row kernels of the fused softmax-family ops (logsumexp, softmax / log-softmax backward, dense and sparse softmax
/// cross-entropy). Every kernel works on contiguous rows [rows, n]; <see cref="Pack{T}"/> and <see cref="Unpack{T}"/>
/// move a reduced axis that is not the last one to the end and back. Rows are split across cores in blocks with
/// <see cref="Parallelism.For{TBody}(int, long, ref TBody)"/>, without allocating.
/// </summary>
/// <remarks>
/// <para>Row statistics: for a row x, <c>m = max(x)</c> and the numerators <c>e = exp(x − m)</c> are computed in T, their
/// sum <c>s</c> is accumulated in double. Then <c>lse = m + log s</c> and <c>q = e / s</c>, which is stable for every
/// finite row. Non-finite rows follow <see cref="Softmax"/>'s policy, encoded so that the same two formulas still hold:
/// a row with NaN has e = NaN and s = 1; a row of only −inf (or an empty row) has e = 0 and s = 1 (so lse = −inf, q = 0);
/// a row with +inf has e = 1 at each of its <c>count</c> +inf entries and 0 elsewhere, and s = count (so lse = +inf and
/// q shares 1 among the +inf entries).</para>
/// <para>Fast path: a finite row is read in one pass that stays in L1 — the maximum with four vector accumulators, then
/// <see cref="FastMath"/>'s exp of x − m summed in double (float partials of four vectors widened), while the next row is
/// prefetched. Only m and s are saved; the backward recomputes exp(x − m) and writes the gradient in a second pass
/// (with streaming stores when it overwrites a long row). Rows with NaN or ±inf take the scalar policy path.</para>
/// <para>Gradient kernels take <c>accumulate</c>: true adds into the gradient buffer (the op contract), false overwrites
/// every element of it (used when the tape planned this node as the buffer's first writer, so it was not zeroed).</para>
/// <para>Cross-entropy terms use −log q<sub>c</sub> = (m − x<sub>c</sub>) + log s in double (see <see cref="NegLogQ"/>),
/// never lse·Σp − Σp·x, so nothing cancels for large logits, and a term whose weight is exactly 0 is skipped
/// (0·log 0 := 0).</para>
/// </remarks>
internal static class SoftmaxCrossEntropy
{
    /// <summary>Work per row element used to decide on parallelism (a few passes over each row).</summary>
    private const int Passes = 4;

    /// <summary>Rows at least this many bytes long are overwritten with streaming (non-temporal) stores.</summary>
    private const int StreamingBytes = 32 * 1024;

    /// <summary>Rows at most this many bytes long keep the forward's numerators in the gradient buffer (see
    /// <see cref="Stashes{T}"/>): the row, its numerators and the prefetched next row then fit in L1 together.</summary>
    private const int StashBytes = 8 * 1024;

    /// <summary>Whether a forward should write the numerators exp(x − max) of rows of length n into the (overwritten)
    /// gradient buffer, so the backward only scales them in place instead of computing exp again. Measured on AVX-512
    /// (Zen 4): at 4096×1000 f32 the stash wins (one exp pass saved), from 3000 f32 classes (12 KB rows, which no longer
    /// fit in L1 three at a time) the recomputation wins, with streaming stores from 32 KB rows.</summary>
    public static bool Stashes<T>(int n)
        where T : unmanaged => (long)n * Unsafe.SizeOf<T>() <= StashBytes;

    // ---------------------------------------------------------------- layout

    /// <summary>Tile edge of the blocked transposes in <see cref="Pack{T}"/> and <see cref="Unpack{T}"/>.</summary>
    private const int Tile = 32;

    /// <summary>dst[(o·inner + i)·n + j] = src[(o·n + j)·inner + i]: moves the middle axis of [outer, n, inner] last.
    /// A cache-blocked transpose of each [n, inner] slab, split across cores by (o, block of i) so each worker writes
    /// whole rows of dst.</summary>
    public static void Pack<T>(T[] src, int outer, int n, int inner, T[] dst)
        where T : unmanaged
    {
        var body = new PackBlocks<T>(src, n, inner, dst);
        Parallelism.For(outer * body.Blocks, (long)n * Math.Min(inner, Tile), ref body);
    }

    /// <summary>The inverse of <see cref="Pack{T}"/> (blocked the same way, split by (o, block of j)); adds into
    /// <paramref name="dst"/> when <paramref name="accumulate"/>.</summary>
    public static void Unpack<T>(T[] rows, int outer, int n, int inner, T[] dst, bool accumulate)
        where T : unmanaged, INumberBase<T>
    {
        var body = new UnpackBlocks<T>(rows, n, inner, dst, accumulate);
        Parallelism.For(outer * body.Blocks, (long)inner * Math.Min(n, Tile), ref body);
    }

    /// <summary>Units (o, block of i) [start, end) of <see cref="Pack{T}"/>.</summary>
    private readonly struct PackBlocks<T>(T[] src, int n, int inner, T[] dst) : IRangeBody
    {
        public int Blocks { get; } = (inner + Tile - 1) / Tile;

        public void Run(int start, int end)
        {
            for (int u = start; u < end; u++)
            {
                int o = u / Blocks, i0 = u % Blocks * Tile, i1 = Math.Min(inner, i0 + Tile);
                for (int j0 = 0; j0 < n; j0 += Tile)
                {
                    int j1 = Math.Min(n, j0 + Tile);
                    for (int i = i0; i < i1; i++)
                    {
                        int di = ((o * inner) + i) * n, si = (o * n * inner) + i;
                        for (int j = j0; j < j1; j++)
                        {
                            dst[di + j] = src[si + (j * inner)];
                        }
                    }
                }
            }
        }
    }

    /// <summary>Units (o, block of j) [start, end) of <see cref="Unpack{T}"/>.</summary>
    private readonly struct UnpackBlocks<T>(T[] rows, int n, int inner, T[] dst, bool accumulate) : IRangeBody
        where T : INumberBase<T>
    {
        public int Blocks { get; } = (n + Tile - 1) / Tile;

        public void Run(int start, int end)
        {
            for (int u = start; u < end; u++)
            {
                int o = u / Blocks, j0 = u % Blocks * Tile, j1 = Math.Min(n, j0 + Tile);
                for (int i0 = 0; i0 < inner; i0 += Tile)
                {
                    int i1 = Math.Min(inner, i0 + Tile);
                    for (int j = j0; j < j1; j++)
                    {
                        int di = ((o * n) + j) * inner, si = (o * inner * n) + j;
                        for (int i = i0; i < i1; i++)
                        {
                            T v = rows[si + (i * n)];
                            dst[di + i] = accumulate ? dst[di + i] + v : v;
                        }
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------- row statistics

    /// <summary>The row maximum; NaN if the row has a NaN; −inf for an empty row.</summary>
    public static T RowMax<T>(ReadOnlySpan<T> row)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        row.Length == 0 ? T.NegativeInfinity : TensorPrimitives.Max(row);

    /// <summary>Writes the numerators e of the row's softmax given its maximum and returns their sum s (see the class remarks
    /// for non-finite rows), so that q = e / s and lse = m + log s.</summary>
    public static double Numerators<T>(ReadOnlySpan<T> row, T max, Span<T> e)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (T.IsFinite(max))
        {
            TensorPrimitives.Subtract(row, max, e);
            FastMath.Exp<T>(e, e);
            return SumInDouble<T>(e);
        }

        if (T.IsNaN(max))
        {
            e.Fill(max);
            return 1;
        }

        if (T.IsNegativeInfinity(max))
        {
            e.Clear();
            return 1;
        }

        int count = 0;
        for (int j = 0; j < row.Length; j++)
        {
            bool inf = T.IsPositiveInfinity(row[j]);
            e[j] = inf ? T.One : T.Zero;
            count += inf ? 1 : 0;
        }

        return count;
    }

    /// <summary>The row maximum and the sum of exp(x − max) (see the class remarks): the vector pass for a finite row,
    /// the policy of <see cref="Numerators{T}"/> otherwise. <paramref name="next"/> (or null) is prefetched meanwhile.
    /// When <paramref name="e"/> is not null and the returned maximum is finite, e holds the numerators exp(x − max).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe (T Max, double Sum) Stats<T>(T* x, int n, T* next, T* e = null)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        T m = Fast.Max(x, n);
        if (T.IsFinite(m))
        {
            double s = e == null ? Fast.SumExp(x, n, m, next) : Fast.ExpStore(x, n, m, e, next);
            if (double.IsFinite(s))
            {
                return (m, s);
            }
        }

        var row = new ReadOnlySpan<T>(x, n);
        m = RowMax(row);
        T[] tmp = ArrayPool<T>.Shared.Rent(Math.Max(n, 1));
        double sum = Numerators(row, m, tmp.AsSpan(0, n));
        ArrayPool<T>.Shared.Return(tmp);
        return (m, sum);
    }

    /// <summary>d = e·k + add where e = exp(x − m) are the numerators of a row with saved statistics (m, s) (adds into d when
    /// <paramref name="accumulate"/>). The vector pass when m is finite, the policy of <see cref="Numerators{T}"/> otherwise.
    /// (Unlike the forward, prefetching the next row here measured slower: the hardware prefetcher keeps up with the two
    /// streams.)
    /// With <paramref name="stashed"/> (overwrite only) d already holds e for a finite m (see <see cref="Stats{T}"/>) and
    /// is scaled in place. Long overwritten rows are written with streaming stores unless <paramref name="stream"/> is
    /// false (for a caller that reads the row again at once).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static unsafe void ScaledNumerators<T>(T* x, int n, T m, T k, T add, T* d, bool accumulate, bool stashed, bool stream = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (T.IsFinite(m))
        {
            if (stashed) Fast.Scale(d, n, k, add);
            else Fast.ScaledExp(x, n, m, k, add, d, accumulate, stream && !accumulate && (long)n * sizeof(T) >= StreamingBytes);
            return;
        }

        T[] tmp = ArrayPool<T>.Shared.Rent(Math.Max(n, 1));
        var e = tmp.AsSpan(0, n);
        Numerators(new ReadOnlySpan<T>(x, n), m, e);
        var dst = new Span<T>(d, n);
        if (!accumulate) dst.Clear();
        for (int j = 0; j < n; j++) dst[j] += (e[j] * k) + add;
        ArrayPool<T>.Shared.Return(tmp);
    }

    /// <summary>−log q for an entry x of a row with maximum m and log-sum log s (all in double), following the policy of
    /// <see cref="Numerators{T}"/>: +inf for an entry whose probability is exactly 0, NaN for a NaN row.</summary>
    public static double NegLogQ(double m, double x, double logS)
    {
        if (double.IsFinite(m))
        {
            return (m - x) + logS;
        }

        if (double.IsNaN(m))
        {
            return m;
        }

        return m > 0 && double.IsPositiveInfinity(x) ? logS : double.PositiveInfinity;
    }

    /// <summary>Σ x accumulated in double (float elements widened exactly; lanes by position, so the result does not
    /// depend on the array's address).</summary>
    public static double SumInDouble<T>(ReadOnlySpan<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var acc = Vector256<double>.Zero;
        int i = 0;
        for (; i + 8 <= x.Length; i += 8)
        {
            var (lo, hi) = Wide.Load(x, i);
            acc += lo + hi;
        }

        double total = Vector256.Sum(acc);
        for (; i < x.Length; i++) total += double.CreateTruncating(x[i]);
        return total;
    }

    /// <summary>Σ a·b accumulated in double.</summary>
    private static double DotInDouble<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        var acc = Vector256<double>.Zero;
        int i = 0;
        for (; i + 8 <= a.Length; i += 8)
        {
            var (a0, a1) = Wide.Load(a, i);
            var (b0, b1) = Wide.Load(b, i);
            acc += (a0 * b0) + (a1 * b1);
        }

        double total = Vector256.Sum(acc);
        for (; i < a.Length; i++) total += double.CreateTruncating(a[i]) * double.CreateTruncating(b[i]);
        return total;
    }

    /// <summary>Eight elements of a float or double row as two vectors of doubles (exact for float), and back.</summary>
    private static class Wide
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static (Vector256<double> Lo, Vector256<double> Hi) Load<T>(ReadOnlySpan<T> x, int i)
            where T : unmanaged
        {
            if (typeof(T) == typeof(float)) return Vector256.Widen(Vector256.Create(MemoryMarshal.Cast<T, float>(x).Slice(i, 8)));
            var d = MemoryMarshal.Cast<T, double>(x).Slice(i, 8);
            return (Vector256.Create(d[..4]), Vector256.Create(d[4..]));
        }

        /// <summary>Writes lo, hi (rounded to T) to x[i..i + 8).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Store<T>(Span<T> x, int i, Vector256<double> lo, Vector256<double> hi)
            where T : unmanaged
        {
            if (typeof(T) == typeof(float))
            {
                Vector256.Narrow(lo, hi).CopyTo(MemoryMarshal.Cast<T, float>(x).Slice(i, 8));
                return;
            }

            var d = MemoryMarshal.Cast<T, double>(x).Slice(i, 8);
            lo.CopyTo(d[..4]);
            hi.CopyTo(d[4..]);
        }
    }

    private static T Of<T>(double v)
        where T : unmanaged, IFloatingPointIeee754<T> => T.CreateTruncating(v);

    /// <summary>One row of a row kernel; <c>scratch</c> holds n elements for the kernels that ask for it.</summary>
    private interface IRowKernel<T>
    {
        void Row(int row, Span<T> scratch);
    }

    /// <summary>Runs a row kernel over a block of rows, with a pooled scratch row per block.</summary>
    private struct RowRunner<T, TK> : IRangeBody
        where TK : struct, IRowKernel<T>
    {
        public TK Kernel;
        public int N;
        public bool Scratch;

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Run(int start, int end)
        {
            T[]? tmp = Scratch ? ArrayPool<T>.Shared.Rent(Math.Max(N, 1)) : null;
            for (int r = start; r < end; r++)
            {
                Kernel.Row(r, tmp is null ? default : tmp.AsSpan(0, N));
            }

            if (tmp is not null)
            {
                ArrayPool<T>.Shared.Return(tmp);
            }
        }
    }

    /// <summary>Runs <paramref name="kernel"/> on every row, in parallel blocks above the threshold.</summary>
    private static void ForRows<T, TK>(int rows, int n, TK kernel, bool scratch)
        where TK : struct, IRowKernel<T>
    {
        var runner = new RowRunner<T, TK> { Kernel = kernel, N = n, Scratch = scratch };
        Parallelism.For(rows, (long)Math.Max(n, 1) * Passes, ref runner);
    }

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
    /// 0 gets g); gx = … when not <paramref name="accumulate"/>.</summary>
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
            TensorPrimitives.MultiplyAdd(t, Of<T>(-SumInDouble(gr)), gr, t);
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
                lse[r] = Of<T>(double.CreateTruncating(m) + Math.Log(s));
                if (fused.G is { } g) LseBackward<T>.Gradient(px + o, n, m, s, g[r], pd + o, fused.Accumulate, e != null);
            }
        }
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

    // ---------------------------------------------------------------- dense softmax cross-entropy

    /// <summary>loss[r] = Σ_c w_c·p'_c·(−log q_c) with p' = (1 − ε)p + ε/n, skipping terms whose weight w_c·p'_c is 0.
    /// Saves the row maxima and sums (the numerators are recomputed by the backward).</summary>
    public static void DenseForward<T>(T[] z, T[] p, T[]? w, double eps, T[] max, double[] sum, T[] loss, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, DenseFwd<T>>(rows, n, new(z, p, w, eps, max, sum, loss, n), scratch: false);

    private readonly unsafe struct DenseFwd<T>(T[] z, T[] p, T[]? w, double eps, T[] max, double[] sum, T[] loss, int n) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            ReadOnlySpan<T> zr = z.AsSpan(r * n, n), pr = p.AsSpan(r * n, n);
            T m;
            double s;
            fixed (T* pz = zr)
            {
                (m, s) = Stats(pz, n, null);
            }

            max[r] = m;
            sum[r] = s;
            if (T.IsNaN(m))
            {
                loss[r] = m;
                return;
            }

            double md = double.CreateTruncating(m), logS = Math.Log(s), keep = 1 - eps, spread = eps / n;
            loss[r] = Of<T>(T.IsFinite(m) ? FiniteLoss(zr, pr, md, logS, keep, spread) : PolicyLoss(zr, pr, md, logS, keep, spread));
        }

        /// <summary>Σ_c w_c p'_c·((m − z_c) + log s) over the terms whose weight is not 0, as Σ w p'·(m − z) + log s·Σ w p'
        /// (every m − z_c ≥ 0: nothing cancels), in double, eight classes at a time.</summary>
        private double FiniteLoss(ReadOnlySpan<T> zr, ReadOnlySpan<T> pr, double md, double logS, double keep, double spread)
        {
            Vector256<double> acc = Vector256<double>.Zero, weight = Vector256<double>.Zero, mv = Vector256.Create(md);
            int c = 0;
            for (; c + 8 <= n; c += 8)
            {
                var (z0, z1) = Wide.Load(zr, c);
                var (p0, p1) = Wide.Load(pr, c);
                if (spread != 0)
                {
                    p0 = (p0 * keep) + Vector256.Create(spread);
                    p1 = (p1 * keep) + Vector256.Create(spread);
                }

                if (w is not null)
                {
                    var (w0, w1) = Wide.Load<T>(w, c);
                    p0 *= w0;
                    p1 *= w1;
                }

                // 0·(m − z) := 0, also where z = −inf
                acc += Vector256.ConditionalSelect(Vector256.Equals(p0, Vector256<double>.Zero), Vector256<double>.Zero, p0 * (mv - z0));
                acc += Vector256.ConditionalSelect(Vector256.Equals(p1, Vector256<double>.Zero), Vector256<double>.Zero, p1 * (mv - z1));
                weight += p0 + p1;
            }

            double total = Vector256.Sum(acc), mass = Vector256.Sum(weight);
            for (; c < n; c++)
            {
                double wp = Target(pr[c], w, c, keep, spread);
                if (wp != 0) total += wp * (md - double.CreateTruncating(zr[c]));
                mass += wp;
            }

            return total + (logS * mass);
        }

        /// <summary>The loss of a row with ±inf (see <see cref="NegLogQ"/>), term by term.</summary>
        private double PolicyLoss(ReadOnlySpan<T> zr, ReadOnlySpan<T> pr, double md, double logS, double keep, double spread)
        {
            double acc = 0;
            for (int c = 0; c < n; c++)
            {
                double wp = Target(pr[c], w, c, keep, spread);
                if (wp != 0)
                {
                    acc += wp * NegLogQ(md, double.CreateTruncating(zr[c]), logS);
                }
            }

            return acc;
        }
    }

    /// <summary><see cref="DenseForward{T}"/>, <see cref="DenseBackwardLogits{T}"/> (when <paramref name="gz"/> is not
    /// null) and <see cref="DenseBackwardTargets{T}"/> (when <paramref name="gp"/> is not null) row by row, for an output
    /// gradient <paramref name="g"/> known before the forward: each row's gradients are written while its logits and
    /// targets are in cache, with the same roundings as the separate passes.</summary>
    public static void DenseForwardBackward<T>(T[] z, T[] p, T[]? w, double eps, bool normalized, double cap, T[] max, double[] sum, T[] loss, T[] g, T[]? gz, bool accumulateZ, T[]? gp, bool accumulateP, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, DenseFused<T>>(
            rows,
            n,
            new(new(z, p, w, eps, max, sum, loss, n), new(z, p, w, eps, normalized, max, sum, g, gz ?? [], n, accumulateZ), gz is not null, new(z, w, eps, max, sum, cap, g, gp ?? [], n, accumulateP), gp is not null),
            scratch: true);

    private readonly struct DenseFused<T>(DenseFwd<T> forward, DenseBackZ<T> logits, bool hasLogits, DenseBackP<T> targets, bool hasTargets) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            forward.Row(r, tmp);
            if (hasLogits) logits.Row(r, tmp);
            if (hasTargets) targets.Row(r, tmp);
        }
    }

    private static double Target<T>(T p, T[]? w, int c, double keep, double spread)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double t = double.CreateTruncating(p);
        if (spread != 0)
        {
            t = (keep * t) + spread;
        }

        return w is null ? t : t * double.CreateTruncating(w[c]);
    }

    /// <summary>gz += g·(q·Σ_c w_c p'_c − w⊙p'); when <paramref name="normalized"/> and unweighted, the closed form
    /// gz += g·(q − p'). q = exp(z − max) / sum is recomputed from the saved row statistics. Overwrites when not
    /// <paramref name="accumulate"/>.</summary>
    public static void DenseBackwardLogits<T>(T[] z, T[] p, T[]? w, double eps, bool normalized, T[] max, double[] sum, T[] g, T[] gz, int rows, int n, bool accumulate = true)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, DenseBackZ<T>>(rows, n, new(z, p, w, eps, normalized, max, sum, g, gz, n, accumulate), scratch: true);

    private readonly unsafe struct DenseBackZ<T>(T[] z, T[] p, T[]? w, double eps, bool normalized, T[] max, double[] sum, T[] g, T[] gz, int n, bool accumulate) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        /// <summary>g·(q·Σ w p' − w⊙p') with p' = (1 − ε)p + ε/n: the row pass d (+)= e·(g·Σ w p'/s) − g·ε/n (the last term
        /// only without weights), then d −= g(1 − ε)·p, or with weights d −= g·w⊙p' through the scratch row.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            ReadOnlySpan<T> pr = p.AsSpan(r * n, n);
            Span<T> d = gz.AsSpan(r * n, n);
            double gr = double.CreateTruncating(g[r]), keep = 1 - eps, spread = eps / n;
            double total = normalized && w is null ? 1
                : w is null ? (keep * SumInDouble(pr)) + (spread * n)
                : (keep * DotInDouble<T>(w, pr)) + (spread * SumInDouble<T>(w));
            fixed (T* pz = z, pd = d)
            {
                // no streaming stores: the row is read again right below
                ScaledNumerators(pz + ((nint)r * n), n, max[r], Of<T>(gr * total / sum[r]), w is null ? Of<T>(-gr * spread) : T.Zero, pd, accumulate, stashed: false, stream: false);
            }

            if (w is null)
            {
                TensorPrimitives.MultiplyAdd(pr, Of<T>(-gr * keep), d, d);
                return;
            }

            Span<T> t = tmp[..n];
            TensorPrimitives.Multiply(pr, Of<T>(keep), t);
            TensorPrimitives.Add(t, Of<T>(spread), t);
            TensorPrimitives.Multiply(t, w, t);
            TensorPrimitives.MultiplyAdd(t, Of<T>(-gr), d, d);
        }
    }

    /// <summary>gp += g·(1 − ε)·w⊙(−log q). Where q_c is exactly 0 (−log q_c = +inf) the finite <paramref name="cap"/>
    /// is used instead. Overwrites when not <paramref name="accumulate"/>.</summary>
    public static void DenseBackwardTargets<T>(T[] z, T[]? w, double eps, T[] max, double[] sum, double cap, T[] g, T[] gp, int rows, int n, bool accumulate = true)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, DenseBackP<T>>(rows, n, new(z, w, eps, max, sum, cap, g, gp, n, accumulate), scratch: false);

    private readonly struct DenseBackP<T>(T[] z, T[]? w, double eps, T[] max, double[] sum, double cap, T[] g, T[] gp, int n, bool accumulate) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            ReadOnlySpan<T> zr = z.AsSpan(r * n, n);
            Span<T> d = gp.AsSpan(r * n, n);
            double coef = double.CreateTruncating(g[r]) * (1 - eps), md = double.CreateTruncating(max[r]), logS = Math.Log(sum[r]);
            int c = 0;
            if (T.IsFinite(max[r]))
            {
                // coef·w·((m − z) + log s) in double, eight classes at a time; −log q = +inf (z = −inf) takes the cap.
                Vector256<double> mv = Vector256.Create(md), lv = Vector256.Create(logS), cv = Vector256.Create(cap), inf = Vector256.Create(double.PositiveInfinity);
                for (; c + 8 <= n; c += 8)
                {
                    var (z0, z1) = Wide.Load(zr, c);
                    var q0 = (mv - z0) + lv;
                    var q1 = (mv - z1) + lv;
                    q0 = Vector256.ConditionalSelect(Vector256.Equals(q0, inf), cv, q0) * coef;
                    q1 = Vector256.ConditionalSelect(Vector256.Equals(q1, inf), cv, q1) * coef;
                    if (w is not null)
                    {
                        var (w0, w1) = Wide.Load<T>(w, c);
                        q0 *= w0;
                        q1 *= w1;
                    }

                    if (accumulate)
                    {
                        var (d0, d1) = Wide.Load<T>(d, c);
                        Wide.Store(d, c, d0 + q0, d1 + q1);
                    }
                    else
                    {
                        Wide.Store(d, c, q0, q1);
                    }
                }
            }

            if (!accumulate) d[c..].Clear();
            for (; c < n; c++)
            {
                double nlq = NegLogQ(md, double.CreateTruncating(zr[c]), logS);
                if (double.IsPositiveInfinity(nlq))
                {
                    nlq = cap;
                }

                d[c] += Of<T>(coef * nlq * (w is null ? 1 : double.CreateTruncating(w[c])));
            }
        }
    }

    // ---------------------------------------------------------------- sparse softmax cross-entropy

    /// <summary>loss[r] = (1 − ε)·w_t·(−log q_t) + (ε/n)·Σ_c w_c·(−log q_c) (PyTorch's <c>cross_entropy</c> with
    /// <c>weight</c> and <c>label_smoothing</c>, <c>reduction='none'</c>; w = 1 without weights, and a term whose weight is
    /// exactly 0 counts 0), 0 for a row whose label is the ignore index;
    /// one pass per row that stays in L1 (see <see cref="Stats{T}"/>). The labels must already be validated. Saves the
    /// row maxima and sums (not for ignored rows), and writes the numerators of finite rows to <paramref name="stash"/>
    /// when it is not null.</summary>
    public static void SparseForward<T>(T[] z, long[] t, T[]? w, long? ignore, double eps, T[] max, double[] sum, T[] loss, int rows, int n, T[]? stash = null)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, SparseFwd<T>>(rows, n, new(z, t, w, MeanWeight(w, n), ignore, eps, max, sum, loss, rows, n, stash, default), scratch: false);

    /// <summary><see cref="SparseForward{T}"/> and <see cref="SparseBackward{T}"/> in one pass per row, for an output
    /// gradient <paramref name="g"/> known before the forward: each row's gradient is written while the row is in cache,
    /// with the same roundings as the two separate passes.</summary>
    public static void SparseForwardBackward<T>(T[] z, long[] t, T[]? w, long? ignore, double eps, T[] max, double[] sum, T[] loss, T[] g, T[] gz, int rows, int n, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForRows<T, SparseFwd<T>>(rows, n, new(z, t, w, MeanWeight(w, n), ignore, eps, max, sum, loss, rows, n, null, new(g, gz, accumulate)), scratch: false);
        Fence();
    }

    /// <summary>(1/n)·Σ_c w_c in double; 1 without weights.</summary>
    private static double MeanWeight<T>(T[]? w, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        w is null || n == 0 ? 1 : SumInDouble<T>(w.AsSpan(0, n)) / n;

    private readonly unsafe struct SparseFwd<T>(T[] z, long[] t, T[]? w, double wMean, long? ignore, double eps, T[] max, double[] sum, T[] loss, int rows, int n, T[]? stash, Fused<T> fused) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            long label = t[r];
            if (label == ignore)
            {
                loss[r] = T.Zero;
                if (fused.G is not null && !fused.Accumulate) fused.Grad.AsSpan(r * n, n).Clear();
                return;
            }

            fixed (T* pz = z, pe = stash, pd = fused.Grad)
            {
                nint o = (nint)r * n;
                T* e = fused.Numerators(pd + o, pe == null ? null : pe + o, n);
                var (m, s) = Stats(pz + o, n, r + 1 < rows ? pz + o + n : null, e);
                max[r] = m;
                sum[r] = s;
                loss[r] = Loss(z.AsSpan(r * n, n), label, m, s);
                if (fused.G is { } g) SparseBack<T>.Gradient(pz + o, n, label, m, s, double.CreateTruncating(g[r]), w, wMean, eps, pd + o, fused.Accumulate, e != null);
            }
        }

        private T Loss(ReadOnlySpan<T> zr, long label, T m, double s)
        {
            if (T.IsNaN(m))
            {
                return m;
            }

            double md = double.CreateTruncating(m), logS = Math.Log(s), keep = 1 - eps;
            if (w is not null) return Of<T>(WeightedLoss(zr, w, label, md, logS));
            double l = NegLogQ(md, double.CreateTruncating(zr[(int)label]), logS);
            if (eps != 0)
            {
                double mean;
                if (T.IsFinite(m))
                {
                    mean = md + logS - (SumInDouble(zr) / n);
                }
                else
                {
                    mean = 0;
                    for (int c = 0; c < n; c++)
                    {
                        mean += NegLogQ(md, double.CreateTruncating(zr[c]), logS);
                    }

                    mean /= n;
                }

                l = (keep == 0 ? 0 : keep * l) + (eps * mean);
            }

            return Of<T>(l);
        }

        /// <summary>(1 − ε)·w_t·(−log q_t) + (ε/n)·Σ_c w_c·(−log q_c), skipping terms whose weight is exactly 0 (so a
        /// zero-weight class at a −inf logit costs 0, not 0·inf = NaN, as in the dense kernel).</summary>
        private double WeightedLoss(ReadOnlySpan<T> zr, T[] weights, long label, double md, double logS)
        {
            double keep = 1 - eps, wt = double.CreateTruncating(weights[(int)label]);
            double l = keep == 0 || wt == 0 ? 0 : keep * wt * NegLogQ(md, double.CreateTruncating(zr[(int)label]), logS);
            if (eps == 0) return l;
            double smooth = 0;
            for (int c = 0; c < n; c++)
            {
                double wc = double.CreateTruncating(weights[c]);
                if (wc != 0) smooth += wc * NegLogQ(md, double.CreateTruncating(zr[c]), logS);
            }
            return l + (eps / n * smooth);
        }
    }

    /// <summary>gz += g·(q·((1 − ε)·w_t + ε·mean_c w_c) − (1 − ε)·w_t·onehot(t) − (ε/n)·w) (g·(q − (1 − ε)·onehot(t) − ε/n)
    /// without weights), the gradient of <see cref="SparseForward{T}"/>'s loss, with exp(z − max) recomputed from the saved row statistics;
    /// nothing for ignored rows. Overwrites (zeros for ignored rows) when not <paramref name="accumulate"/>; with
    /// <paramref name="stashed"/> (overwrite only) gz holds the numerators from the forward's stash.</summary>
    public static void SparseBackward<T>(T[] z, long[] t, T[]? w, long? ignore, double eps, T[] max, double[] sum, T[] g, T[] gz, int rows, int n, bool accumulate = true, bool stashed = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForRows<T, SparseBack<T>>(rows, n, new(z, t, w, MeanWeight(w, n), ignore, eps, max, sum, g, gz, n, accumulate, stashed), scratch: false);
        Fence();
    }

    private readonly unsafe struct SparseBack<T>(T[] z, long[] t, T[]? w, double wMean, long? ignore, double eps, T[] max, double[] sum, T[] g, T[] gz, int n, bool accumulate, bool stashed) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            long label = t[r];
            if (label == ignore)
            {
                if (!accumulate) gz.AsSpan(r * n, n).Clear();
                return;
            }

            fixed (T* pz = z, pd = gz)
            {
                nint o = (nint)r * n;
                Gradient(pz + o, n, label, max[r], sum[r], double.CreateTruncating(g[r]), w, wMean, eps, pd + o, accumulate, stashed);
            }
        }

        /// <summary>One row's gradient: g·(q − (1 − ε)·onehot(label) − ε/n) without weights; with weights
        /// g·(q·((1 − ε)·w_t + ε·wMean) − (1 − ε)·w_t·onehot(label) − (ε/n)·w).</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Gradient(T* z, int n, long label, T m, double s, double g, T[]? w, double wMean, double eps, T* d, bool accumulate, bool stashed)
        {
            if (w is null)
            {
                ScaledNumerators(z, n, m, Of<T>(g / s), Of<T>(-g * eps / n), d, accumulate, stashed);
                d[label] -= Of<T>(g * (1 - eps));
                return;
            }

            double wt = double.CreateTruncating(w[(int)label]);
            ScaledNumerators(z, n, m, Of<T>(g * (((1 - eps) * wt) + (eps * wMean)) / s), T.Zero, d, accumulate, stashed);
            if (eps != 0)
            {
                double spread = -g * eps / n;
                for (int j = 0; j < n; j++) d[j] += Of<T>(spread * double.CreateTruncating(w[j]));
            }

            d[label] -= Of<T>(g * (1 - eps) * wt);
        }
    }

    // ---------------------------------------------------------------- vector row passes

    /// <summary>The vector row passes on the widest vectors of this machine.</summary>
    internal static unsafe class Fast
    {
        /// <summary>max(x[0..n)); −inf for n = 0. May miss a NaN (callers detect NaN from the sum).</summary>
        public static T Max<T>(T* x, int n)
            where T : unmanaged, IFloatingPointIeee754<T> =>
            FastMath.Has512 ? RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.Max(x, n)
            : FastMath.Has256 ? RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.Max(x, n)
            : RowPass<T, T, double, Simd1<T>>.Max(x, n);

        /// <summary>Σ exp(x − m) in double.</summary>
        public static double SumExp<T>(T* x, int n, T m, T* next)
            where T : unmanaged, IFloatingPointIeee754<T> =>
            FastMath.Has512 ? RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.SumExp(x, n, m, next)
            : FastMath.Has256 ? RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.SumExp(x, n, m, next)
            : RowPass<T, T, double, Simd1<T>>.SumExp(x, n, m, next);

        /// <summary>d (+)= exp(x − m)·k + add.</summary>
        public static void ScaledExp<T>(T* x, int n, T m, T k, T add, T* d, bool accumulate, bool streaming)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (FastMath.Has512) RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.ScaledExp(x, n, m, k, add, d, accumulate, streaming);
            else if (FastMath.Has256) RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.ScaledExp(x, n, m, k, add, d, accumulate, streaming);
            else RowPass<T, T, double, Simd1<T>>.ScaledExp(x, n, m, k, add, d, accumulate, streaming);
        }

        /// <summary>d = d·k + add.</summary>
        public static void Scale<T>(T* d, int n, T k, T add)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (FastMath.Has512) RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.Scale(d, n, k, add);
            else if (FastMath.Has256) RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.Scale(d, n, k, add);
            else RowPass<T, T, double, Simd1<T>>.Scale(d, n, k, add);
        }

        /// <summary>d = exp(x − m); returns Σ d in double.</summary>
        public static double ExpStore<T>(T* x, int n, T m, T* d, T* next = null)
            where T : unmanaged, IFloatingPointIeee754<T> =>
            FastMath.Has512 ? RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.ExpStore(x, n, m, d, next)
            : FastMath.Has256 ? RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.ExpStore(x, n, m, d, next)
            : RowPass<T, T, double, Simd1<T>>.ExpStore(x, n, m, d, next);
    }
}

/// <summary>The row passes on spans with an explicit vector width (512, 256 or 0 for scalar; it must be supported), so
/// that every width can be checked on one machine.</summary>
internal static unsafe class RowPasses
{
    /// <summary>max(x); −inf when empty.</summary>
    public static T Max<T>(ReadOnlySpan<T> x, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x)
        {
            return width switch
            {
                512 => RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.Max(px, x.Length),
                256 => RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.Max(px, x.Length),
                _ => RowPass<T, T, double, Simd1<T>>.Max(px, x.Length),
            };
        }
    }

    /// <summary>Σ exp(x − m) in double, prefetching <paramref name="next"/> (x's length).</summary>
    public static double SumExp<T>(ReadOnlySpan<T> x, T m, ReadOnlySpan<T> next, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x, pn = next)
        {
            return width switch
            {
                512 => RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.SumExp(px, x.Length, m, pn),
                256 => RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.SumExp(px, x.Length, m, pn),
                _ => RowPass<T, T, double, Simd1<T>>.SumExp(px, x.Length, m, pn),
            };
        }
    }

    /// <summary>d (+)= exp(x − m)·k + add.</summary>
    public static void ScaledExp<T>(ReadOnlySpan<T> x, T m, T k, T add, Span<T> d, bool accumulate, bool streaming, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x, pd = d)
        {
            if (width == 512) RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.ScaledExp(px, x.Length, m, k, add, pd, accumulate, streaming);
            else if (width == 256) RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.ScaledExp(px, x.Length, m, k, add, pd, accumulate, streaming);
            else RowPass<T, T, double, Simd1<T>>.ScaledExp(px, x.Length, m, k, add, pd, accumulate, streaming);
        }
    }

    /// <summary>d = d·k + add.</summary>
    public static void Scale<T>(Span<T> d, T k, T add, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* pd = d)
        {
            if (width == 512) RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.Scale(pd, d.Length, k, add);
            else if (width == 256) RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.Scale(pd, d.Length, k, add);
            else RowPass<T, T, double, Simd1<T>>.Scale(pd, d.Length, k, add);
        }
    }

    /// <summary>d = exp(x − m), returning Σ d in double; d may overlap x exactly.</summary>
    public static double ExpStore<T>(ReadOnlySpan<T> x, T m, Span<T> d, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x, pd = d)
        {
            return width switch
            {
                512 => RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.ExpStore(px, x.Length, m, pd, null),
                256 => RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.ExpStore(px, x.Length, m, pd, null),
                _ => RowPass<T, T, double, Simd1<T>>.ExpStore(px, x.Length, m, pd, null),
            };
        }
    }
}

/// <summary>One row pass written once for any vector type (see <see cref="ISimd{T, TV, TD}"/>): four vectors per step,
/// and a last vector that overlaps the previous ones (masked where it must not count twice). A row shorter than one
/// vector is one masked vector (padded with −inf under an exponential, whose exp is 0), so it gets the vector exp too. Sums add the four vectors in T and accumulate that in double lanes.</summary>
internal static unsafe class RowPass<T, TV, TD, TS>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TV : struct
    where TD : struct
    where TS : ISimd<T, TV, TD>
{
    /// <summary>max(x[0..n)), −inf for n = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static T Max(T* x, int n)
    {
        int w = TS.Count;
        if (n == 0) return T.NegativeInfinity;
        if (n < w)
        {
            return TS.MaxAcross(TS.LoadFirst(x, n, T.NegativeInfinity));
        }

        TV a0 = TS.Load(x), a1 = a0, a2 = a0, a3 = a0;
        int i = Head(x, n);   // the first vector covers the elements before the aligned ones
        for (; i + (4 * w) <= n; i += 4 * w)
        {
            a0 = TS.Max(a0, TS.Load(x + i));
            a1 = TS.Max(a1, TS.Load(x + i + w));
            a2 = TS.Max(a2, TS.Load(x + i + (2 * w)));
            a3 = TS.Max(a3, TS.Load(x + i + (3 * w)));
        }

        for (; i + w <= n; i += w) a0 = TS.Max(a0, TS.Load(x + i));
        if (i < n) a1 = TS.Max(a1, TS.Load(x + n - w));
        return TS.MaxAcross(TS.Max(TS.Max(a0, a1), TS.Max(a2, a3)));
    }

    /// <summary>Σ exp(x − m) in double (float partials of four vectors widened); prefetches <paramref name="next"/>
    /// (a row of n elements, or null) along the way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double SumExp(T* x, int n, T m, T* next)
    {
        int w = TS.Count;
        TV mv = TS.Splat(m);
        if (n < w)
        {
            return TS.Total(TS.AddWidened(default, TS.ExpNonPositive(TS.Sub(TS.LoadFirst(x, n, T.NegativeInfinity), mv))));
        }

        TD s = default;
        int i = 0;   // not aligned: the grouping of the sum must not depend on the row's address
        for (; i + (4 * w) <= n; i += 4 * w)
        {
            if (next != null) Prefetch(next + i, 4 * w);
            TV e0 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv));
            TV e1 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + w), mv));
            TV e2 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (2 * w)), mv));
            TV e3 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (3 * w)), mv));
            s = TS.AddWidened(s, TS.Add(TS.Add(e0, e1), TS.Add(e2, e3)));
        }

        if (next != null) Prefetch(next + i, n - i);
        for (; i + w <= n; i += w) s = TS.AddWidened(s, TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)));
        if (i < n) s = TS.AddWidened(s, TS.And(TS.ExpNonPositive(TS.Sub(TS.Load(x + n - w), mv)), TS.LanesFrom(w - (n - i))));
        return TS.Total(s);
    }

    /// <summary>d = exp(x − m)·k + add, or d += … when <paramref name="accumulate"/>. With <paramref name="streaming"/>
    /// (overwrite only) the aligned part of d is written with non-temporal stores; the caller fences.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScaledExp(T* x, int n, T m, T k, T add, T* d, bool accumulate, bool streaming)
    {
        int w = TS.Count;
        TV mv = TS.Splat(m), kv = TS.Splat(k), av = TS.Splat(add);
        if (n < w)
        {
            TV e = TS.ExpNonPositive(TS.Sub(TS.LoadFirst(x, n, T.NegativeInfinity), mv));
            TS.StoreFirst(d, n, accumulate ? TS.MulAdd(e, kv, TS.Add(TS.LoadFirst(d, n, T.Zero), av)) : TS.MulAdd(e, kv, av));
            return;
        }

        int i = 0;
        if (accumulate)
        {
            // Every element as d + add + e·k (one rounding order wherever the element falls), so the result does not
            // depend on the row's address.
            i = Head(x, n);
            if (i > 0)
            {
                TV old = TS.Load(d);
                TS.Store(d, TS.Select(TS.LanesFrom(i), old, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x), mv)), kv, TS.Add(old, av))));
            }

            for (; i + (4 * w) <= n; i += 4 * w)
            {
                TS.Store(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, TS.Add(TS.Load(d + i), av)));
                TS.Store(d + i + w, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + w), mv)), kv, TS.Add(TS.Load(d + i + w), av)));
                TS.Store(d + i + (2 * w), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (2 * w)), mv)), kv, TS.Add(TS.Load(d + i + (2 * w)), av)));
                TS.Store(d + i + (3 * w), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (3 * w)), mv)), kv, TS.Add(TS.Load(d + i + (3 * w)), av)));
            }

            for (; i + w <= n; i += w) TS.Store(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, TS.Add(TS.Load(d + i), av)));
            if (i < n)
            {
                T* last = d + n - w;
                TV old = TS.Load(last);
                TS.Store(last, TS.Select(TS.LanesFrom(w - (n - i)), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + n - w), mv)), kv, TS.Add(old, av)), old));
            }

            return;
        }

        if (streaming && w > 1)
        {
            // One unaligned vector, then aligned streaming stores from the first aligned element (the overlap is
            // recomputed identically).
            TS.Store(d, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x), mv)), kv, av));
            i = (int)(((nuint)(-(nint)d) & (nuint)((w * sizeof(T)) - 1)) / (nuint)sizeof(T));
            for (; i + w <= n; i += w) TS.StoreNonTemporal(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, av));
        }
        else
        {
            i = Head(x, n);
            if (i > 0) TS.Store(d, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x), mv)), kv, av));
            for (; i + (4 * w) <= n; i += 4 * w)
            {
                TS.Store(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, av));
                TS.Store(d + i + w, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + w), mv)), kv, av));
                TS.Store(d + i + (2 * w), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (2 * w)), mv)), kv, av));
                TS.Store(d + i + (3 * w), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (3 * w)), mv)), kv, av));
            }

            for (; i + w <= n; i += w) TS.Store(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, av));
        }

        if (i < n) TS.Store(d + n - w, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + n - w), mv)), kv, av));
    }

    /// <summary>d = exp(x − m); returns Σ d in double. <paramref name="d"/> may be <paramref name="x"/>.
    /// Prefetches <paramref name="next"/> (a row of n elements, or null) along the way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double ExpStore(T* x, int n, T m, T* d, T* next)
    {
        int w = TS.Count;
        TV mv = TS.Splat(m);
        if (n < w)
        {
            TV e = TS.ExpNonPositive(TS.Sub(TS.LoadFirst(x, n, T.NegativeInfinity), mv));
            TS.StoreFirst(d, n, e);
            return TS.Total(TS.AddWidened(default, e));
        }

        TD s = default;
        int i = 0;   // not aligned: the grouping of the sum must not depend on the row's address

        for (; i + (4 * w) <= n; i += 4 * w)
        {
            if (next != null) Prefetch(next + i, 4 * w);
            TV e0 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv));
            TV e1 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + w), mv));
            TV e2 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (2 * w)), mv));
            TV e3 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (3 * w)), mv));
            TS.Store(d + i, e0);
            TS.Store(d + i + w, e1);
            TS.Store(d + i + (2 * w), e2);
            TS.Store(d + i + (3 * w), e3);
            s = TS.AddWidened(s, TS.Add(TS.Add(e0, e1), TS.Add(e2, e3)));
        }

        if (next != null) Prefetch(next + i, n - i);
        for (; i + w <= n; i += w)
        {
            TV e = TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv));
            TS.Store(d + i, e);
            s = TS.AddWidened(s, e);
        }

        if (i < n)
        {
            // d may be x: keep the lanes already written.
            TV mask = TS.LanesFrom(w - (n - i));
            TV e = TS.And(TS.ExpNonPositive(TS.Sub(TS.Load(x + n - w), mv)), mask);
            TS.Store(d + n - w, TS.Select(mask, e, TS.Load(d + n - w)));
            s = TS.AddWidened(s, e);
        }

        return TS.Total(s);
    }

    /// <summary>d = d·k + add in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scale(T* d, int n, T k, T add)
    {
        int w = TS.Count;
        TV kv = TS.Splat(k), av = TS.Splat(add);
        if (n < w)
        {
            TS.StoreFirst(d, n, TS.MulAdd(TS.LoadFirst(d, n, T.Zero), kv, av));
            return;
        }

        int i = Head(d, n);
        if (i > 0)
        {
            TV first = TS.Load(d);
            TS.Store(d, TS.Select(TS.LanesFrom(i), first, TS.MulAdd(first, kv, av)));
        }

        for (; i + (4 * w) <= n; i += 4 * w)
        {
            TS.Store(d + i, TS.MulAdd(TS.Load(d + i), kv, av));
            TS.Store(d + i + w, TS.MulAdd(TS.Load(d + i + w), kv, av));
            TS.Store(d + i + (2 * w), TS.MulAdd(TS.Load(d + i + (2 * w)), kv, av));
            TS.Store(d + i + (3 * w), TS.MulAdd(TS.Load(d + i + (3 * w)), kv, av));
        }

        for (; i + w <= n; i += w) TS.Store(d + i, TS.MulAdd(TS.Load(d + i), kv, av));
        if (i < n)
        {
            TV old = TS.Load(d + n - w);
            TS.Store(d + n - w, TS.Select(TS.LanesFrom(w - (n - i)), TS.MulAdd(old, kv, av), old));
        }
    }

    /// <summary>The number of leading elements of x before the first vector-aligned one, when a row of n is long enough
    /// for the main loop to start there (unaligned vector loads that split cache lines cost about twice as much); the
    /// caller handles them with one masked unaligned vector. 0 otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Head(T* x, int n)
    {
        int w = TS.Count;
        if (w == 1 || n < 2 * w) return 0;
        return (int)(((nuint)(-(nint)x) & (nuint)((w * sizeof(T)) - 1)) / (nuint)sizeof(T));
    }

    /// <summary>Prefetches the cache lines of <paramref name="count"/> elements from <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(T* p, int count)
    {
        byte* b = (byte*)p, end = (byte*)(p + count);
        for (; b < end; b += 64) TS.Prefetch(b);
    }
}
