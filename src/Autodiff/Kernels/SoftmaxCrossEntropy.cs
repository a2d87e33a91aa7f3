using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;

namespace Autodiff.Kernels;

/// <summary>
/// Row kernels of the fused softmax-family ops (logsumexp, softmax / log-softmax backward, dense and sparse softmax
/// cross-entropy). Every kernel works on contiguous rows [rows, n]; <see cref="Pack{T}"/> and <see cref="Unpack{T}"/>
/// move a reduced axis that is not the last one to the end and back. Rows are split across cores with
/// <see cref="Parallelism.For(int, long, Action{int, int})"/>.
/// </summary>
/// <remarks>
/// <para>Row statistics: for a row x, <c>m = max(x)</c> and the numerators <c>e = exp(x − m)</c> are computed in T, their
/// sum <c>s</c> is accumulated in double. Then <c>lse = m + log s</c> and <c>q = e / s</c>, which is stable for every
/// finite row. Non-finite rows follow <see cref="Softmax"/>'s policy, encoded so that the same two formulas still hold:
/// a row with NaN has e = NaN and s = 1; a row of only −inf (or an empty row) has e = 0 and s = 1 (so lse = −inf, q = 0);
/// a row with +inf has e = 1 at each of its <c>count</c> +inf entries and 0 elsewhere, and s = count (so lse = +inf and
/// q shares 1 among the +inf entries).</para>
/// <para>Cross-entropy terms use −log q<sub>c</sub> = (m − x<sub>c</sub>) + log s in double (see <see cref="NegLogQ"/>),
/// never lse·Σp − Σp·x, so nothing cancels for large logits, and a term whose weight is exactly 0 is skipped
/// (0·log 0 := 0).</para>
/// </remarks>
internal static class SoftmaxCrossEntropy
{
    /// <summary>Work per row element used to decide on parallelism (a few passes over each row).</summary>
    private const int Passes = 4;

    // ---------------------------------------------------------------- layout

    /// <summary>Tile edge of the blocked transposes in <see cref="Pack{T}"/> and <see cref="Unpack{T}"/>.</summary>
    private const int Tile = 32;

    /// <summary>dst[(o·inner + i)·n + j] = src[(o·n + j)·inner + i]: moves the middle axis of [outer, n, inner] last.
    /// A cache-blocked transpose of each [n, inner] slab, split across cores by (o, block of i) so each worker writes
    /// whole rows of dst.</summary>
    public static void Pack<T>(T[] src, int outer, int n, int inner, T[] dst)
        where T : unmanaged
    {
        int blocks = (inner + Tile - 1) / Tile;
        Parallelism.For(outer * blocks, (long)n * Math.Min(inner, Tile), (s, e) =>
        {
            for (int u = s; u < e; u++)
            {
                int o = u / blocks, i0 = u % blocks * Tile, i1 = Math.Min(inner, i0 + Tile);
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
        });
    }

    /// <summary>The inverse of <see cref="Pack{T}"/> (blocked the same way, split by (o, block of j)); adds into
    /// <paramref name="dst"/> when <paramref name="accumulate"/>.</summary>
    public static void Unpack<T>(T[] rows, int outer, int n, int inner, T[] dst, bool accumulate)
        where T : unmanaged, INumberBase<T>
    {
        int blocks = (n + Tile - 1) / Tile;
        Parallelism.For(outer * blocks, (long)inner * Math.Min(n, Tile), (s, e) =>
        {
            for (int u = s; u < e; u++)
            {
                int o = u / blocks, j0 = u % blocks * Tile, j1 = Math.Min(n, j0 + Tile);
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
        });
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
            TensorPrimitives.Exp(e, e);
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

    /// <summary>Σ x accumulated in double.</summary>
    public static double SumInDouble<T>(ReadOnlySpan<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(double))
        {
            return TensorPrimitives.Sum(MemoryMarshal.Cast<T, double>(x));
        }

        double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        int i = 0;
        for (; i + 4 <= x.Length; i += 4)
        {
            s0 += double.CreateTruncating(x[i]);
            s1 += double.CreateTruncating(x[i + 1]);
            s2 += double.CreateTruncating(x[i + 2]);
            s3 += double.CreateTruncating(x[i + 3]);
        }

        for (; i < x.Length; i++)
        {
            s0 += double.CreateTruncating(x[i]);
        }

        return (s0 + s1) + (s2 + s3);
    }

    /// <summary>Σ a·b accumulated in double.</summary>
    private static double DotInDouble<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (typeof(T) == typeof(double))
        {
            return TensorPrimitives.Dot(MemoryMarshal.Cast<T, double>(a), MemoryMarshal.Cast<T, double>(b));
        }

        double s0 = 0, s1 = 0;
        int i = 0;
        for (; i + 2 <= a.Length; i += 2)
        {
            s0 += double.CreateTruncating(a[i]) * double.CreateTruncating(b[i]);
            s1 += double.CreateTruncating(a[i + 1]) * double.CreateTruncating(b[i + 1]);
        }

        for (; i < a.Length; i++)
        {
            s0 += double.CreateTruncating(a[i]) * double.CreateTruncating(b[i]);
        }

        return s0 + s1;
    }

    private static T Of<T>(double v)
        where T : unmanaged, IFloatingPointIeee754<T> => T.CreateTruncating(v);

    /// <summary>Runs <paramref name="body"/>(row, scratch) for every row, in parallel above the threshold, with a scratch
    /// span of n elements per worker.</summary>
    private static void ForRows<T>(int rows, int n, RowBody<T> body)
        where T : unmanaged
    {
        Parallelism.For(rows, (long)Math.Max(n, 1) * Passes, (s, e) =>
        {
            var scratch = ArrayPool<T>.Shared.Rent(Math.Max(n, 1));
            try
            {
                for (int r = s; r < e; r++)
                {
                    body(r, scratch.AsSpan(0, n));
                }
            }
            finally
            {
                ArrayPool<T>.Shared.Return(scratch);
            }
        });
    }

    private delegate void RowBody<T>(int row, Span<T> scratch);

    // ---------------------------------------------------------------- softmax / log_softmax backward

    /// <summary>gx += y ⊙ (g − Σ g⊙y) per row, y being the softmax output.</summary>
    public static void SoftmaxBackward<T>(T[] y, T[] g, T[] gx, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T>(rows, n, (r, tmp) =>
        {
            ReadOnlySpan<T> yr = y.AsSpan(r * n, n), gr = g.AsSpan(r * n, n);
            Span<T> d = gx.AsSpan(r * n, n);
            TensorPrimitives.Subtract(gr, Of<T>(DotInDouble(gr, yr)), tmp);
            TensorPrimitives.FusedMultiplyAdd(tmp, yr, d, d);
        });

    /// <summary>gx += g − exp(y)·Σ g per row, y being the log-softmax output (exp(−inf) = 0, so an entry whose probability is
    /// 0 gets g).</summary>
    public static void LogSoftmaxBackward<T>(T[] y, T[] g, T[] gx, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T>(rows, n, (r, tmp) =>
        {
            ReadOnlySpan<T> yr = y.AsSpan(r * n, n), gr = g.AsSpan(r * n, n);
            Span<T> d = gx.AsSpan(r * n, n);
            TensorPrimitives.Exp(yr, tmp);
            TensorPrimitives.MultiplyAdd(tmp, Of<T>(-SumInDouble(gr)), gr, tmp);
            TensorPrimitives.Add(d, tmp, d);
        });

    // ---------------------------------------------------------------- logsumexp

    /// <summary>lse[r] = max[r] + log sum[r], saving the row maxima and sums for <see cref="LogSumExpBackward{T}"/>.</summary>
    public static void LogSumExpForward<T>(T[] x, int rows, int n, T[] lse, T[] max, double[] sum)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T>(rows, n, (r, tmp) =>
        {
            ReadOnlySpan<T> xr = x.AsSpan(r * n, n);
            T m = RowMax(xr);
            double s = Numerators(xr, m, tmp);
            max[r] = m;
            sum[r] = s;
            lse[r] = Of<T>(double.CreateTruncating(m) + Math.Log(s));
        });

    /// <summary>gx += g[r]·q with q = exp(x − max[r]) / sum[r] recomputed from the saved statistics (0 for an all −inf row,
    /// shared among the +inf entries of a row with +inf, NaN for a NaN row).</summary>
    public static void LogSumExpBackward<T>(T[] x, T[] g, T[] max, double[] sum, T[] gx, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T>(rows, n, (r, tmp) =>
        {
            Numerators<T>(x.AsSpan(r * n, n), max[r], tmp);
            Span<T> d = gx.AsSpan(r * n, n);
            TensorPrimitives.MultiplyAdd(tmp, Of<T>(double.CreateTruncating(g[r]) / sum[r]), d, d);
        });

    // ---------------------------------------------------------------- dense softmax cross-entropy

    /// <summary>loss[r] = Σ_c w_c·p'_c·(−log q_c) with p' = (1 − ε)p + ε/n, skipping terms whose weight w_c·p'_c is 0.
    /// Saves the row maxima and sums (the numerators are recomputed by the backward).</summary>
    public static void DenseForward<T>(T[] z, T[] p, T[]? w, double eps, T[] max, double[] sum, T[] loss, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T>(rows, n, (r, tmp) =>
        {
            ReadOnlySpan<T> zr = z.AsSpan(r * n, n), pr = p.AsSpan(r * n, n);
            T m = RowMax(zr);
            double s = Numerators(zr, m, tmp);
            max[r] = m;
            sum[r] = s;
            if (T.IsNaN(m))
            {
                loss[r] = m;
                return;
            }

            double md = double.CreateTruncating(m), logS = Math.Log(s), keep = 1 - eps, spread = eps / n, acc = 0;
            for (int c = 0; c < n; c++)
            {
                double wp = Target(pr[c], w, c, keep, spread);
                if (wp != 0)
                {
                    acc += wp * NegLogQ(md, double.CreateTruncating(zr[c]), logS);
                }
            }

            loss[r] = Of<T>(acc);
        });

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
    /// gz += g·(q − p'). q = exp(z − max) / sum is recomputed from the saved row statistics.</summary>
    public static void DenseBackwardLogits<T>(T[] z, T[] p, T[]? w, double eps, bool normalized, T[] max, double[] sum, T[] g, T[] gz, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T>(rows, n, (r, e) =>
        {
            ReadOnlySpan<T> pr = p.AsSpan(r * n, n);
            Span<T> d = gz.AsSpan(r * n, n);
            Numerators<T>(z.AsSpan(r * n, n), max[r], e);
            double gr = double.CreateTruncating(g[r]), s = sum[r], keep = 1 - eps, spread = eps / n;
            if (normalized && w is null)
            {
                // g·(q − p') with p' = (1 − ε)p + ε/n.
                TensorPrimitives.MultiplyAdd(e, Of<T>(gr / s), d, d);
                TensorPrimitives.MultiplyAdd(pr, Of<T>(-gr * keep), d, d);
                if (spread != 0)
                {
                    TensorPrimitives.Subtract(d, Of<T>(gr * spread), d);
                }

                return;
            }

            double total = 0;
            for (int c = 0; c < n; c++)
            {
                total += Target(pr[c], w, c, keep, spread);
            }

            double scale = gr * total / s;
            for (int c = 0; c < n; c++)
            {
                d[c] += Of<T>((double.CreateTruncating(e[c]) * scale) - (gr * Target(pr[c], w, c, keep, spread)));
            }
        });

    /// <summary>gp += g·(1 − ε)·w⊙(−log q). Where q_c is exactly 0 (−log q_c = +inf) the finite <paramref name="cap"/>
    /// is used instead.</summary>
    public static void DenseBackwardTargets<T>(T[] z, T[]? w, double eps, T[] max, double[] sum, double cap, T[] g, T[] gp, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T>(rows, n, (r, _) =>
        {
            ReadOnlySpan<T> zr = z.AsSpan(r * n, n);
            Span<T> d = gp.AsSpan(r * n, n);
            double coef = double.CreateTruncating(g[r]) * (1 - eps), md = double.CreateTruncating(max[r]), logS = Math.Log(sum[r]);
            for (int c = 0; c < n; c++)
            {
                double nlq = NegLogQ(md, double.CreateTruncating(zr[c]), logS);
                if (double.IsPositiveInfinity(nlq))
                {
                    nlq = cap;
                }

                d[c] += Of<T>(coef * nlq * (w is null ? 1 : double.CreateTruncating(w[c])));
            }
        });

    // ---------------------------------------------------------------- sparse softmax cross-entropy

    /// <summary>loss[r] = w_t·((1 − ε)(−log q_t) + ε·mean_c(−log q_c)), 0 for a row whose label is the ignore index;
    /// one pass per row (max, then exp into scratch with the sum accumulated in double). The labels must already be
    /// validated. Saves the row maxima and sums (not for ignored rows).</summary>
    public static void SparseForward<T>(T[] z, long[] t, T[]? w, long? ignore, double eps, T[] max, double[] sum, T[] loss, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T>(rows, n, (r, tmp) =>
        {
            long label = t[r];
            if (label == ignore)
            {
                loss[r] = T.Zero;
                return;
            }

            ReadOnlySpan<T> zr = z.AsSpan(r * n, n);
            T m = RowMax(zr);
            double s = Numerators(zr, m, tmp);
            max[r] = m;
            sum[r] = s;
            if (T.IsNaN(m))
            {
                loss[r] = m;
                return;
            }

            double md = double.CreateTruncating(m), logS = Math.Log(s), keep = 1 - eps;
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

            loss[r] = Of<T>(w is null ? l : l * double.CreateTruncating(w[(int)label]));
        });

    /// <summary>gz += g·w_t·(q − (1 − ε)·onehot(t) − ε/n), with exp(z − max) recomputed into scratch from the saved row
    /// statistics; nothing for ignored rows.</summary>
    public static void SparseBackward<T>(T[] z, long[] t, T[]? w, long? ignore, double eps, T[] max, double[] sum, T[] g, T[] gz, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T>(rows, n, (r, e) =>
        {
            long label = t[r];
            if (label == ignore)
            {
                return;
            }

            double coef = double.CreateTruncating(g[r]) * (w is null ? 1 : double.CreateTruncating(w[(int)label]));
            Span<T> d = gz.AsSpan(r * n, n);
            Numerators<T>(z.AsSpan(r * n, n), max[r], e);
            TensorPrimitives.MultiplyAdd(e, Of<T>(coef / sum[r]), d, d);
            if (eps != 0)
            {
                TensorPrimitives.Subtract(d, Of<T>(coef * eps / n), d);
            }

            d[(int)label] -= Of<T>(coef * (1 - eps));
        });
}
