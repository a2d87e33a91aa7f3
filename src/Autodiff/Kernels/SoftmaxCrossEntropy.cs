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
internal static partial class SoftmaxCrossEntropy
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
        T[] tmp = Pool.Rent<T>(Math.Max(n, 1));
        double sum = Numerators(row, m, tmp.AsSpan(0, n));
        Pool.Return(tmp);
        return (m, sum);
    }

    /// <summary>s − 1 = Σ_{j ≠ a} exp(x_j − m) for a row with finite maximum m (at its first index a, where exp(0) = 1) and
    /// sum s, exact to rounding: 1 − q_a = rest / s and log s = log1p(rest) without the cancellation of s − 1 once s rounds
    /// to 1 (the tail: at logits [37.43, 0], rest = 5.55e−17 while s = 1 in double; in f32 the row pass's float partials
    /// already round the small terms against the 1). Only when s &lt; 2 (q_a &gt; 1/2) and <paramref name="needed"/> is
    /// the sum taken again without a (<see cref="SumExcept{T}"/>, one more exp pass over the row); otherwise s − 1.</summary>
    public static unsafe double Rest<T>(T* x, int n, T m, double s, bool needed = true)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!(s < 2) || !needed) return s - 1;
        int a = new ReadOnlySpan<T>(x, n).IndexOf(m);
        return a < 0 ? s - 1 : SumExcept(x, n, a, m);
    }

    /// <summary>1 − q_t times s, i.e. Σ_{j ≠ t} exp(x_j − m), for the label t of a row with maximum m and sum s, when it is
    /// needed: only when x_t = m and s &lt; 2 can q_t exceed 1/2, so that q_t − 1 and log q_t cancel in the plain formulas
    /// (then one more exp pass, <see cref="SumExcept{T}"/>); NaN otherwise (the plain formulas are exact to rounding).</summary>
    public static unsafe double LabelRest<T>(T* x, int n, int t, T m, double s)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        T.IsFinite(m) && s < 2 && x[t] == m ? SumExcept(x, n, t, m) : double.NaN;

    /// <summary>Σ_{j ≠ t} exp(x_j − m) in double: [0, b0) and [b1, n) keep the row pass's vector grouping (b0, b1 the
    /// multiples of the vector width around t), the block between them is summed without t by two short masked calls, so
    /// no small term is rounded against exp(x_t − m) in a float partial.</summary>
    public static unsafe double SumExcept<T>(T* x, int n, int t, T m)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int w = FastMath.Has512 ? 64 / sizeof(T) : FastMath.Has256 ? 32 / sizeof(T) : 1;
        int b0 = t - (t % w), b1 = Math.Min(n, b0 + w);
        return Part(x, 0, b0, m) + Part(x, b0, t, m) + Part(x, t + 1, b1, m) + Part(x, b1, n, m);
    }

    /// <summary>Σ exp(x_j − m) over j in [from, to).</summary>
    private static unsafe double Part<T>(T* x, int from, int to, T m)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        to <= from ? 0 : Fast.SumExp(x + from, to - from, m, null);

    /// <summary>−log q_t for the label's entry x_t of a row with maximum m, sum s and rest from <see cref="LabelRest{T}"/>:
    /// log1p(rest / e_t) (exact where (m − x_t) + log s rounds to 0), or <see cref="NegLogQ"/> when rest is NaN.</summary>
    public static double NegLogQTarget(double m, double x, double s, double rest)
    {
        if (double.IsNaN(rest)) return NegLogQ(m, x, Math.Log(s));
        double et = Math.Exp(x - m);
        return et >= rest ? ScalarMath.Log1p(rest / et) : (m - x) + Math.Log(s);
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

        T[] tmp = Pool.Rent<T>(Math.Max(n, 1));
        var e = tmp.AsSpan(0, n);
        Numerators(new ReadOnlySpan<T>(x, n), m, e);
        var dst = new Span<T>(d, n);
        if (!accumulate) dst.Clear();
        for (int j = 0; j < n; j++) dst[j] += (e[j] * k) + add;
        Pool.Return(tmp);
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
            T[]? tmp = Scratch ? Pool.Rent<T>(Math.Max(N, 1)) : null;
            for (int r = start; r < end; r++)
            {
                Kernel.Row(r, tmp is null ? default : tmp.AsSpan(0, N));
            }

            if (tmp is not null)
            {
                Pool.Return(tmp);
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
}
