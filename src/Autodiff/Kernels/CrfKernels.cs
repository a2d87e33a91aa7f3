using System.Numerics.Tensors;

namespace Autodiff.Kernels;

/// <summary>Linear-chain CRF kernels on one sequence of length n ≥ 1 over L tags, in double precision. Emissions are
/// rows e[t·L + l]; the transitions a[i·L + j] (tag i followed by tag j) come with their precomputed forms in
/// <see cref="CrfTransitions"/>; start and end score vectors are empty spans when absent (score 0). Every sum of
/// exponentials is taken relative to its maxima (with a log-space fallback where it underflows), so scores of magnitude
/// 1e3 (or more) stay finite; a −inf score forbids a tag or a transition. Cost: O(n·L²) time, O(L) scratch beyond the
/// caller's buffers. See <c>docs/structured.md</c>.</summary>
internal static class Crf
{
    /// <summary>log Σ exp(x), max-shifted; overwrites <paramref name="x"/>. A non-finite max is returned as it is
    /// (−inf for an all −inf row, +inf, or NaN when x has a NaN).</summary>
    private static double LogSumExpInPlace(Span<double> x)
    {
        double m = TensorPrimitives.Max<double>(x);
        if (!double.IsFinite(m)) return m;
        TensorPrimitives.Subtract(x, m, x);
        TensorPrimitives.Exp<double>(x, x);
        return m + Math.Log(TensorPrimitives.Sum<double>(x));
    }

    /// <summary>Below this, a scaled sum (see <see cref="Forward"/>) is recomputed in log space: terms lost to underflow
    /// are then below 1e-308, a relative 1e-108 of the sum.</summary>
    private const double Tiny = 1e-200;

    /// <summary>The forward algorithm: alpha[t·L + j] = log Σ over paths y_0..y_t with y_t = j of their partial score
    /// (start, emissions 0..t, transitions), for t &lt; n; returns log Z = log Σ_j exp(alpha[n−1, j] + end_j).
    /// Each step is scaled rather than a log-sum-exp per (i, j): with m = max alpha_{t−1},
    /// alpha_t(j) = e[t, j] + m + cmax_j + log Σ_i exp(alpha_{t−1}(i) − m)·exp(a[i, j] − cmax_j), one vector of L
    /// exponentials and an L×L multiply-add per step; a sum below <see cref="Tiny"/> (underflow, −inf or NaN scores) is
    /// recomputed as a max-shifted log-sum-exp. <paramref name="scratch"/> holds at least 2·L values.</summary>
    public static double Forward(ReadOnlySpan<double> e, CrfTransitions tr, ReadOnlySpan<double> start, ReadOnlySpan<double> end,
        int n, int L, Span<double> alpha, Span<double> scratch)
    {
        Span<double> p = scratch[..L], sum = scratch.Slice(L, L);
        var row = alpha[..L];
        e[..L].CopyTo(row);
        if (!start.IsEmpty) TensorPrimitives.Add(row, start, row);
        for (int t = 1; t < n; t++)
        {
            var prev = alpha.Slice((t - 1) * L, L);
            double m = TensorPrimitives.Max<double>(prev);
            sum.Clear();
            if (double.IsFinite(m))
            {
                TensorPrimitives.Subtract(prev, m, p);
                TensorPrimitives.Exp<double>(p, p);
                for (int i = 0; i < L; i++)
                    if (p[i] != 0) TensorPrimitives.MultiplyAdd(tr.ColumnScaled.Slice(i * L, L), p[i], sum, sum);
            }
            for (int j = 0; j < L; j++)
            {
                if (sum[j] >= Tiny)
                {
                    alpha[t * L + j] = e[t * L + j] + m + tr.ColumnMax[j] + Math.Log(sum[j]);
                    continue;
                }
                TensorPrimitives.Add(prev, tr.Transposed.Slice(j * L, L), p);
                alpha[t * L + j] = e[t * L + j] + LogSumExpInPlace(p);
            }
        }
        var last = alpha.Slice((n - 1) * L, L);
        if (end.IsEmpty) last.CopyTo(p);
        else TensorPrimitives.Add(last, end, p);
        return LogSumExpInPlace(p);
    }

    /// <summary>The backward algorithm, fused with the marginals: from the forward's <paramref name="alpha"/> and
    /// <paramref name="logZ"/>, writes the node marginals P(y_t = l) into <paramref name="node"/>[t·L + l] (n·L values)
    /// and the expected transition counts Σ_t P(y_t = i, y_{t+1} = j) into <paramref name="edges"/>[i·L + j]
    /// (overwritten; an empty span skips them). With v = e[t+1, :] + beta_{t+1} and beta_{n−1} = end:
    /// beta_t(i) = log Σ_j exp(a[i, j] + v_j), scaled like the forward (row maxima of a, max of v; log-sum-exp
    /// fallback); P(y_t = i) = exp(alpha_t(i) + beta_t(i) − log Z); and P(y_t = i, y_{t+1} = j) is P(y_t = i) times the
    /// conditional exp(a[i, j] + v_j − beta_t(i)), formed from the same scaled terms (each at most 1).
    /// A sequence with no allowed path (log Z = −inf) has zero marginals, as softmax of an all −inf row is zeros (the
    /// formulas would give exp(−inf − (−inf)) = NaN). <paramref name="scratch"/> holds at least 4·L values.</summary>
    public static void Marginals(ReadOnlySpan<double> e, CrfTransitions tr, ReadOnlySpan<double> end, int n, int L,
        ReadOnlySpan<double> alpha, double logZ, Span<double> node, Span<double> edges, Span<double> scratch)
    {
        edges.Clear();
        if (double.IsNegativeInfinity(logZ))
        {
            node[..(n * L)].Clear();
            return;
        }
        Span<double> next = scratch[..L], cur = scratch.Slice(L, L), v = scratch.Slice(2 * L, L), tmp = scratch.Slice(3 * L, L);
        if (end.IsEmpty) next.Clear();
        else end.CopyTo(next);
        NodeRow(alpha, next, logZ, n - 1, L, node);
        for (int t = n - 2; t >= 0; t--)
        {
            TensorPrimitives.Add(e.Slice((t + 1) * L, L), next, v);
            double mv = TensorPrimitives.Max<double>(v);
            bool scaled = double.IsFinite(mv);
            if (scaled)
            {
                TensorPrimitives.Subtract(v, mv, next);   // next is free now: it holds exp(v − mv)
                TensorPrimitives.Exp<double>(next, next);
            }
            for (int i = 0; i < L; i++)
            {
                double beta, sum;
                if (scaled && (sum = TensorPrimitives.Dot(tr.RowScaled.Slice(i * L, L), next)) >= Tiny)
                {
                    beta = tr.RowMax[i] + mv + Math.Log(sum);
                    if (!edges.IsEmpty) TensorPrimitives.Multiply(tr.RowScaled.Slice(i * L, L), next, tmp);
                }
                else
                {
                    TensorPrimitives.Add(tr.Scores.Slice(i * L, L), v, tmp);
                    double m = TensorPrimitives.Max<double>(tmp);
                    if (!double.IsFinite(m))
                    {
                        cur[i] = m;
                        node[t * L + i] = Math.Exp(alpha[t * L + i] + m - logZ);
                        continue;
                    }
                    TensorPrimitives.Subtract(tmp, m, tmp);
                    TensorPrimitives.Exp<double>(tmp, tmp);
                    sum = TensorPrimitives.Sum<double>(tmp);
                    beta = m + Math.Log(sum);
                }
                cur[i] = beta;
                double p = Math.Exp(alpha[t * L + i] + beta - logZ);
                node[t * L + i] = p;
                if (edges.IsEmpty || p == 0) continue;
                var erow = edges.Slice(i * L, L);
                TensorPrimitives.MultiplyAdd(tmp, p / sum, erow, erow);
            }
            var swap = next;
            next = cur;
            cur = swap;
        }
    }

    /// <summary>node[t, :] = exp(alpha[t, :] + beta − log Z).</summary>
    private static void NodeRow(ReadOnlySpan<double> alpha, ReadOnlySpan<double> beta, double logZ, int t, int L, Span<double> node)
    {
        var row = node.Slice(t * L, L);
        TensorPrimitives.Add(alpha.Slice(t * L, L), beta, row);
        TensorPrimitives.Subtract(row, logZ, row);
        TensorPrimitives.Exp<double>(row, row);
    }

    /// <summary>The Viterbi algorithm: writes the highest-scoring path into <paramref name="path"/> (n values) and
    /// returns its score. Ties go to the smaller tag index (at every step and at the end); a NaN score wins, so NaN
    /// inputs give a NaN score. <paramref name="back"/> holds n·L back-pointers, <paramref name="scratch"/> 3·L values.</summary>
    public static double Viterbi(ReadOnlySpan<double> e, CrfTransitions tr, ReadOnlySpan<double> start, ReadOnlySpan<double> end,
        int n, int L, Span<long> path, Span<int> back, Span<double> scratch)
    {
        Span<double> prev = scratch[..L], cur = scratch.Slice(L, L), tmp = scratch.Slice(2 * L, L);
        e[..L].CopyTo(prev);
        if (!start.IsEmpty) TensorPrimitives.Add(prev, start, prev);
        for (int t = 1; t < n; t++)
        {
            for (int j = 0; j < L; j++)
            {
                TensorPrimitives.Add(prev, tr.Transposed.Slice(j * L, L), tmp);
                int best = ArgMax(tmp);
                back[t * L + j] = best;
                cur[j] = e[t * L + j] + tmp[best];
            }
            var swap = prev;
            prev = cur;
            cur = swap;
        }
        if (end.IsEmpty) prev.CopyTo(tmp);
        else TensorPrimitives.Add(prev, end, tmp);
        int y = ArgMax(tmp);
        double score = tmp[y];
        for (int t = n - 1; t >= 0; t--)
        {
            path[t] = y;
            if (t > 0) y = back[t * L + y];
        }
        return score;
    }

    /// <summary>The first index of the largest value, or of the first NaN.</summary>
    private static int ArgMax(ReadOnlySpan<double> x)
    {
        int best = 0;
        for (int i = 0; i < x.Length && !double.IsNaN(x[best]); i++)
            if (x[i] > x[best] || double.IsNaN(x[i])) best = i;
        return best;
    }

    /// <summary>The score of the path <paramref name="tags"/> (n tags, already checked to be in [0, L)):
    /// start[y_0] + Σ_t e[t, y_t] + Σ_t a[y_t, y_{t+1}] + end[y_{n−1}].</summary>
    public static double PathScore(ReadOnlySpan<double> e, CrfTransitions tr, ReadOnlySpan<double> start, ReadOnlySpan<double> end,
        int n, int L, ReadOnlySpan<long> tags)
    {
        double s = start.IsEmpty ? 0 : start[(int)tags[0]];
        for (int t = 0; t < n; t++)
        {
            s += e[t * L + (int)tags[t]];
            if (t > 0) s += tr.Scores[(int)tags[t - 1] * L + (int)tags[t]];
        }
        return end.IsEmpty ? s : s + end[(int)tags[n - 1]];
    }
}

/// <summary>A transition matrix a [L, L] in the forms the kernels use: a itself, its transpose, and the scaled
/// exponentials exp(a[i, j] − max_i a[i, j]) (column maxima, for the forward) and exp(a[i, j] − max_j a[i, j]) (row
/// maxima, for the backward), every entry at most 1. A column or row whose maximum is not finite scales to zeros, which
/// sends the kernels to their log-space fallback.</summary>
internal sealed class CrfTransitions
{
    private double[] _a = [], _at = [], _col = [], _colMax = [], _row = [], _rowMax = [];

    /// <summary>a[i·L + j].</summary>
    public ReadOnlySpan<double> Scores => _a;

    /// <summary>a[j·L + i] (the transpose).</summary>
    public ReadOnlySpan<double> Transposed => _at;

    /// <summary>exp(a[i, j] − ColumnMax[j]) at [i·L + j].</summary>
    public ReadOnlySpan<double> ColumnScaled => _col;

    /// <summary>max_i a[i, j].</summary>
    public ReadOnlySpan<double> ColumnMax => _colMax;

    /// <summary>exp(a[i, j] − RowMax[i]) at [i·L + j].</summary>
    public ReadOnlySpan<double> RowScaled => _row;

    /// <summary>max_j a[i, j].</summary>
    public ReadOnlySpan<double> RowMax => _rowMax;

    /// <summary>Fills every form from <paramref name="a"/> (reusing the buffers when L is unchanged).</summary>
    public void Set<T>(ReadOnlySpan<T> a, int L) where T : unmanaged, System.Numerics.INumberBase<T>
    {
        if (_a.Length != L * L)
        {
            (_a, _at, _col, _row) = (new double[L * L], new double[L * L], new double[L * L], new double[L * L]);
            (_colMax, _rowMax) = (new double[L], new double[L]);
        }
        for (int i = 0; i < L * L; i++) _a[i] = double.CreateTruncating(a[i]);
        for (int i = 0; i < L; i++)
            for (int j = 0; j < L; j++) _at[j * L + i] = _a[i * L + j];
        for (int i = 0; i < L; i++)
        {
            _rowMax[i] = TensorPrimitives.Max<double>(_a.AsSpan(i * L, L));
            _colMax[i] = TensorPrimitives.Max<double>(_at.AsSpan(i * L, L));
        }
        for (int i = 0; i < L; i++)
            for (int j = 0; j < L; j++)
            {
                double x = _a[i * L + j];
                _row[i * L + j] = double.IsFinite(_rowMax[i]) ? Math.Exp(x - _rowMax[i]) : 0;
                _col[i * L + j] = double.IsFinite(_colMax[j]) ? Math.Exp(x - _colMax[j]) : 0;
            }
    }
}
