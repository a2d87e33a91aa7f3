using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

// Dense softmax cross-entropy row kernels (see the class remarks in SoftmaxCrossEntropy.cs).
internal static partial class SoftmaxCrossEntropy
{
    // ---------------------------------------------------------------- dense softmax cross-entropy

    /// <summary>loss[r] = Σ_c w_c·p'_c·(−log q_c) with p' = (1 − ε)p + ε/n, skipping terms whose weight w_c·p'_c is 0.
    /// Saves the row maxima, sums and rests s − 1 (exact where s rounds to 1, see <see cref="Rest{T}"/>; log s is
    /// log1p(rest)); the numerators are recomputed by the backward.</summary>
    public static void DenseForward<T>(T[] z, T[] p, T[]? w, double eps, T[] max, double[] sum, double[] rest, T[] loss, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, DenseFwd<T>>(rows, n, new(z, p, w, eps, max, sum, rest, loss, n), scratch: false);

    private readonly unsafe struct DenseFwd<T>(T[] z, T[] p, T[]? w, double eps, T[] max, double[] sum, double[] rest, T[] loss, int n) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            ReadOnlySpan<T> zr = z.AsSpan(r * n, n), pr = p.AsSpan(r * n, n);
            T m;
            double s, others;
            fixed (T* pz = zr)
            {
                (m, s) = Stats(pz, n, null);
                others = T.IsFinite(m) ? Rest(pz, n, m, s) : s - 1;
            }

            max[r] = m;
            sum[r] = s;
            rest[r] = others;
            if (T.IsNaN(m))
            {
                loss[r] = m;
                return;
            }

            double md = double.CreateTruncating(m), logS = ScalarMath.Log1p(others), keep = 1 - eps, spread = eps / n;
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
    public static void DenseForwardBackward<T>(T[] z, T[] p, T[]? w, double eps, bool normalized, double cap, T[] max, double[] sum, double[] rest, T[] loss, T[] g, T[]? gz, bool accumulateZ, T[]? gp, bool accumulateP, int rows, int n)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, DenseFused<T>>(
            rows,
            n,
            new(new(z, p, w, eps, max, sum, rest, loss, n), new(z, p, w, eps, normalized, max, sum, rest, g, gz ?? [], n, accumulateZ), gz is not null, new(z, w, eps, max, rest, cap, g, gp ?? [], n, accumulateP), gp is not null),
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
    /// gz += g·(q − p'). q = exp(z − max) / sum is recomputed from the saved row statistics; where the maximum's q_a
    /// exceeds 1/2, its entry is written from 1 − q_a = rest / s (see <see cref="Rest{T}"/>) so that it does not cancel
    /// when q_a rounds to 1. Overwrites when not <paramref name="accumulate"/>.</summary>
    public static void DenseBackwardLogits<T>(T[] z, T[] p, T[]? w, double eps, bool normalized, T[] max, double[] sum, double[] rest, T[] g, T[] gz, int rows, int n, bool accumulate = true)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, DenseBackZ<T>>(rows, n, new(z, p, w, eps, normalized, max, sum, rest, g, gz, n, accumulate), scratch: true);

    private readonly unsafe struct DenseBackZ<T>(T[] z, T[] p, T[]? w, double eps, bool normalized, T[] max, double[] sum, double[] rest, T[] g, T[] gz, int n, bool accumulate) : IRowKernel<T>
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
            T m = max[r];
            int a = T.IsFinite(m) && sum[r] < 2 ? z.AsSpan(r * n, n).IndexOf(m) : -1;
            T old = a >= 0 && accumulate ? d[a] : T.Zero;
            fixed (T* pz = z, pd = d)
            {
                // no streaming stores: the row is read again right below
                ScaledNumerators(pz + ((nint)r * n), n, max[r], Of<T>(gr * total / sum[r]), w is null ? Of<T>(-gr * spread) : T.Zero, pd, accumulate, stashed: false, stream: false);
            }

            if (w is null)
            {
                TensorPrimitives.MultiplyAdd(pr, Of<T>(-gr * keep), d, d);
            }
            else
            {
                Span<T> t = tmp[..n];
                TensorPrimitives.Multiply(pr, Of<T>(keep), t);
                TensorPrimitives.Add(t, Of<T>(spread), t);
                TensorPrimitives.Multiply(t, w, t);
                TensorPrimitives.MultiplyAdd(t, Of<T>(-gr), d, d);
            }

            if (a < 0) return;

            // q_a·total − w_a·p'_a = (total − w_a·p'_a) − total·(1 − q_a) with 1 − q_a = rest / s; normalized and
            // unweighted, total − p'_a = (1 − ε)·(1 − p_a) + ε − ε/n without rounding p'_a first.
            double pa = double.CreateTruncating(pr[a]), wa = w is null ? 1 : double.CreateTruncating(w[a]);
            double others = normalized && w is null ? (keep * (1 - pa)) + (eps - spread) : total - (wa * ((keep * pa) + spread));
            d[a] = old + Of<T>(gr * (others - (total * rest[r] / sum[r])));
        }
    }

    /// <summary>gp += g·(1 − ε)·w⊙(−log q). Where q_c is exactly 0 (−log q_c = +inf) the finite <paramref name="cap"/>
    /// is used instead. Overwrites when not <paramref name="accumulate"/>.</summary>
    public static void DenseBackwardTargets<T>(T[] z, T[]? w, double eps, T[] max, double[] rest, double cap, T[] g, T[] gp, int rows, int n, bool accumulate = true)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        ForRows<T, DenseBackP<T>>(rows, n, new(z, w, eps, max, rest, cap, g, gp, n, accumulate), scratch: false);

    private readonly struct DenseBackP<T>(T[] z, T[]? w, double eps, T[] max, double[] rest, double cap, T[] g, T[] gp, int n, bool accumulate) : IRowKernel<T>
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        public void Row(int r, Span<T> tmp)
        {
            ReadOnlySpan<T> zr = z.AsSpan(r * n, n);
            Span<T> d = gp.AsSpan(r * n, n);
            double coef = double.CreateTruncating(g[r]) * (1 - eps), md = double.CreateTruncating(max[r]), logS = ScalarMath.Log1p(rest[r]);
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
}
