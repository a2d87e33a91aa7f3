using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

// Sparse softmax cross-entropy row kernels (see the class remarks in SoftmaxCrossEntropy.cs).
internal static partial class SoftmaxCrossEntropy
{
    // ---------------------------------------------------------------- sparse softmax cross-entropy

    /// <summary>loss[r] = (1 − ε)·w_t·(−log q_t) + (ε/n)·Σ_c w_c·(−log q_c) (PyTorch's <c>cross_entropy</c> with
    /// <c>weight</c> and <c>label_smoothing</c>, <c>reduction='none'</c>; w = 1 without weights, and a term whose weight is
    /// exactly 0 counts 0), 0 for a row whose label is the ignore index;
    /// one pass per row that stays in L1 (see <see cref="Stats{T}"/>). The labels must already be validated. Saves the
    /// row maxima, sums and, where the label's probability may exceed 1/2, Σ_{c ≠ t} exp(z_c − max) (see <see cref="LabelRest{T}"/>; not for ignored rows), and writes the numerators of finite rows to <paramref name="stash"/>
    /// when it is not null.</summary>
    public static void SparseForward<T>(T[] z, long[] t, T[]? w, long? ignore, double eps, T[] max, double[] sum, double[] rest, T[] loss, int rows, int n, T[]? stash = null)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, SparseFwd<T>>(rows, n, new(z, t, w, MeanWeight(w, n), ignore, eps, max, sum, rest, loss, rows, n, stash, default), scratch: false);

    /// <summary><see cref="SparseForward{T}"/> and <see cref="SparseBackward{T}"/> in one pass per row, for an output
    /// gradient <paramref name="g"/> known before the forward: each row's gradient is written while the row is in cache,
    /// with the same roundings as the two separate passes.</summary>
    public static void SparseForwardBackward<T>(T[] z, long[] t, T[]? w, long? ignore, double eps, T[] max, double[] sum, double[] rest, T[] loss, T[] g, T[] gz, int rows, int n, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForRows<T, SparseFwd<T>>(rows, n, new(z, t, w, MeanWeight(w, n), ignore, eps, max, sum, rest, loss, rows, n, null, new(g, gz, accumulate)), scratch: false);
        Fence();
    }

    /// <summary>(1/n)·Σ_c w_c in double; 1 without weights.</summary>
    private static double MeanWeight<T>(T[]? w, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        w is null || n == 0 ? 1 : SumInDouble<T>(w.AsSpan(0, n)) / n;

    private readonly unsafe struct SparseFwd<T>(T[] z, long[] t, T[]? w, double wMean, long? ignore, double eps, T[] max, double[] sum, double[] rest, T[] loss, int rows, int n, T[]? stash, Fused<T> fused) : IRowKernel<T>
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
                double others = LabelRest(pz + o, n, (int)label, m, s);
                max[r] = m;
                sum[r] = s;
                rest[r] = others;
                loss[r] = Loss(z.AsSpan(r * n, n), label, m, s, others);
                if (fused.G is { } g) SparseBack<T>.Gradient(pz + o, n, label, m, s, others, double.CreateTruncating(g[r]), w, wMean, eps, pd + o, fused.Accumulate, e != null);
            }
        }

        private T Loss(ReadOnlySpan<T> zr, long label, T m, double s, double others)
        {
            if (T.IsNaN(m))
            {
                return m;
            }

            double md = double.CreateTruncating(m), logS = Math.Log(s), keep = 1 - eps;
            double target = NegLogQTarget(md, double.CreateTruncating(zr[(int)label]), s, others);
            if (w is not null) return Of<T>(WeightedLoss(zr, w, label, md, logS, target));
            double l = target;
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
        private double WeightedLoss(ReadOnlySpan<T> zr, T[] weights, long label, double md, double logS, double target)
        {
            double keep = 1 - eps, wt = double.CreateTruncating(weights[(int)label]);
            double l = keep == 0 || wt == 0 ? 0 : keep * wt * target;
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
    public static void SparseBackward<T>(T[] z, long[] t, T[]? w, long? ignore, double eps, T[] max, double[] sum, double[] rest, T[] g, T[] gz, int rows, int n, bool accumulate = true, bool stashed = false)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        ForRows<T, SparseBack<T>>(rows, n, new(z, t, w, MeanWeight(w, n), ignore, eps, max, sum, rest, g, gz, n, accumulate, stashed), scratch: false);
        Fence();
    }

    private readonly unsafe struct SparseBack<T>(T[] z, long[] t, T[]? w, double wMean, long? ignore, double eps, T[] max, double[] sum, double[] rest, T[] g, T[] gz, int n, bool accumulate, bool stashed) : IRowKernel<T>
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
                Gradient(pz + o, n, label, max[r], sum[r], rest[r], double.CreateTruncating(g[r]), w, wMean, eps, pd + o, accumulate, stashed);
            }
        }

        /// <summary>One row's gradient: g·(q − (1 − ε)·onehot(label) − ε/n) without weights; with weights
        /// g·(q·((1 − ε)·w_t + ε·wMean) − (1 − ε)·w_t·onehot(label) − (ε/n)·w). The label's entry is written from
        /// 1 − q_t = rest / s (see <see cref="LabelRest{T}"/>) when rest is not NaN: g·(ε − ε/n − rest/s), with weights
        /// g·(ε·(wMean − w_t/n) − k·rest/s) with k = (1 − ε)·w_t + ε·wMean, so it does not cancel to 0 when q_t rounds to 1.</summary>
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static void Gradient(T* z, int n, long label, T m, double s, double rest, double g, T[]? w, double wMean, double eps, T* d, bool accumulate, bool stashed)
        {
            T old = accumulate ? d[label] : T.Zero;
            bool exact = !double.IsNaN(rest);
            if (w is null)
            {
                ScaledNumerators(z, n, m, Of<T>(g / s), Of<T>(-g * eps / n), d, accumulate, stashed);
                if (exact) d[label] = old + Of<T>(g * ((eps - (eps / n)) - (rest / s)));
                else d[label] -= Of<T>(g * (1 - eps));
                return;
            }

            double wt = double.CreateTruncating(w[(int)label]), k = ((1 - eps) * wt) + (eps * wMean);
            ScaledNumerators(z, n, m, Of<T>(g * k / s), T.Zero, d, accumulate, stashed);
            if (eps != 0)
            {
                double spread = -g * eps / n;
                for (int j = 0; j < n; j++) d[j] += Of<T>(spread * double.CreateTruncating(w[j]));
            }

            // q_t·k − (1 − ε)·w_t − (ε/n)·w_t = ε·wMean − (ε/n)·w_t − k·(1 − q_t), as k − (1 − ε)·w_t = ε·wMean
            if (exact) d[label] = old + Of<T>(g * ((eps * (wMean - (wt / n))) - (k * rest / s)));
            else d[label] -= Of<T>(g * (1 - eps) * wt);
        }
    }
}
