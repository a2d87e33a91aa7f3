using System.Numerics;
using Autodiff.Kernels;
using Kernel = Autodiff.Kernels.Crf;

namespace Autodiff;

// The run-time side of the CRF ops (Crf.cs): their operands in double, their saved state, and the forward-backward
// kernels of the log-partition and log-likelihood.

/// <summary>A CRF op's operands for one run, with the float ones in double: emissions [B, T, L] (the operand's own array
/// for f64), the transitions with their precomputed forms, start and end [L] (empty when absent), tags and lengths.</summary>
internal sealed class CrfData
{
    private double[]? _e;

    public int B { get; private set; }
    public int T { get; private set; }
    public int L { get; private set; }
    public double[] E { get; private set; } = [];
    public CrfTransitions A { get; } = new();
    public double[] S { get; private set; } = [];
    public double[] F { get; private set; } = [];
    public long[]? Tags { get; private set; }
    public long[]? Lengths { get; private set; }

    /// <summary>The length of sequence <paramref name="b"/>.</summary>
    public int Length(int b) => Lengths is null ? T : (int)Lengths[b];

    /// <summary>The emissions of sequence <paramref name="b"/> up to its length, [n, L].</summary>
    public ReadOnlySpan<double> Emissions(int b) => E.AsSpan(b * T * L, Length(b) * L);

    /// <summary>The tags of sequence <paramref name="b"/> up to its length.</summary>
    public ReadOnlySpan<long> TagsOf(int b) => Tags.AsSpan(b * T, Length(b));

    /// <summary>Reads the operands (indices -1 when absent) and checks lengths and tags.</summary>
    public void Load<TF>(Op op, IReadOnlyList<Tensor> inputs, int tags, int start, int end, int lengths) where TF : unmanaged, IFloatingPointIeee754<TF>
    {
        var e = inputs[0];
        (B, T, L) = (e.Shape[0], e.Shape[1], e.Shape[2]);
        Lengths = lengths >= 0 ? (long[])inputs[lengths].Data : null;
        if (Lengths is not null) CrfChecks.CheckLengths(op.Name, Lengths, T);
        Tags = tags >= 0 ? (long[])inputs[tags].Data : null;
        if (tags >= 0) CrfChecks.CheckTags(op.Name, inputs[tags], Lengths, L);
        E = e.Data as double[] ?? Widen<TF>(e, ref _e);
        A.Set<TF>((TF[])inputs[1].Data, L);
        S = start >= 0 ? Copy<TF>(inputs[start], S) : [];
        F = end >= 0 ? Copy<TF>(inputs[end], F) : [];
    }

    private static double[] Widen<TF>(Tensor t, ref double[]? buffer) where TF : unmanaged, IFloatingPointIeee754<TF>
    {
        var src = (TF[])t.Data;
        if (buffer is null || buffer.Length != src.Length) buffer = new double[src.Length];
        for (int i = 0; i < src.Length; i++) buffer[i] = double.CreateTruncating(src[i]);
        return buffer;
    }

    private static double[] Copy<TF>(Tensor t, double[] reuse) where TF : unmanaged, IFloatingPointIeee754<TF>
    {
        var src = (TF[])t.Data;
        var dst = reuse.Length == src.Length ? reuse : new double[src.Length];
        for (int i = 0; i < src.Length; i++) dst[i] = double.CreateTruncating(src[i]);
        return dst;
    }
}

/// <summary>Per-node state of the CRF ops: the operands in double and, for the log-partition and log-likelihood, the
/// forward variables alpha [B, T, L] and log Z [B] saved for the backward, and the backward's per-sequence node
/// marginals [B, T, L], edge counts [B, L, L] and batch sum [L, L]; <see cref="Impossible"/> marks the sequences whose
/// value is −inf, which get gradient 0. Buffers are reused across runs.</summary>
internal sealed class CrfState
{
    public CrfData Data { get; } = new();
    public double[] Alpha = [];
    public double[] LogZ = [];
    public bool[] Impossible = [];
    public double[] Node = [];
    public double[] Edges = [];
    public double[] Sum = [];

    /// <summary><paramref name="buffer"/>, reallocated if it does not have <paramref name="size"/> elements.</summary>
    public static TB[] Sized<TB>(ref TB[] buffer, int size) => buffer.Length == size ? buffer : buffer = new TB[size];
}

/// <summary>The forward and backward kernels of <see cref="CrfLogPartitionOp"/> and <see cref="CrfLogLikelihoodOp"/>
/// (the latter with <c>gold</c>: output score(tags) − log Z, gradient gold − marginals).</summary>
internal static class CrfPartition
{
    /// <summary>log Z (or the log-likelihood) of every sequence, from the operands loaded into <paramref name="st"/>;
    /// saves alpha and log Z, and marks the sequences whose value is −inf (log Z = −inf: no allowed path; for the
    /// log-likelihood also a forbidden gold path, whose value is −inf even when log Z is −inf too).</summary>
    public static void Forward<T>(CrfState st, OpContext c, bool gold) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = st.Data;
        int B = d.B, TT = d.T, L = d.L;
        var alpha = CrfState.Sized(ref st.Alpha, B * TT * L);
        var logZs = CrfState.Sized(ref st.LogZ, B);
        var impossible = CrfState.Sized(ref st.Impossible, B);
        var y = (T[])c.Output.Data;
        Parallelism.For(B, (long)TT * L * L, (lo, hi) =>
        {
            using var tmp = Scratch<double>.Rent(2 * L);
            for (int b = lo; b < hi; b++)
            {
                int n = d.Length(b);
                double logZ = n == 0 ? 0 : Kernel.Forward(d.Emissions(b), d.A, d.S, d.F, n, L, alpha.AsSpan(b * TT * L, n * L), tmp.Span);
                logZs[b] = logZ;
                double score = gold && n > 0 ? Kernel.PathScore(d.Emissions(b), d.A, d.S, d.F, n, L, d.TagsOf(b)) : 0;
                impossible[b] = double.IsNegativeInfinity(logZ) || (gold && double.IsNegativeInfinity(score));
                double v = impossible[b] ? double.NegativeInfinity : gold ? score - logZ : logZ;
                y[b] = T.CreateTruncating(v);
            }
        });
    }

    /// <summary>Accumulates g·marginals (or g·(gold − marginals)) into the gradients of emissions, transitions and the
    /// start and end operands at <paramref name="startIndex"/> and <paramref name="endIndex"/> (-1 when absent); the
    /// sequences marked impossible by the forward contribute nothing.</summary>
    public static void Backward<T>(CrfState st, OpContext c, bool gold, int startIndex, int endIndex) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = st.Data;
        var ge = c.InputGrads[0] is { } t0 ? (T[])t0.Data : null;
        var ga = c.InputGrads[1] is { } t1 ? (T[])t1.Data : null;
        var gs = startIndex >= 0 && c.InputGrads[startIndex] is { } t2 ? (T[])t2.Data : null;
        var gf = endIndex >= 0 && c.InputGrads[endIndex] is { } t3 ? (T[])t3.Data : null;
        if (ge is null && ga is null && gs is null && gf is null) return;
        int B = d.B, TT = d.T, L = d.L;
        var g = (T[])c.GradOutput.Data;
        // Per-sequence node marginals [B, T, L] and edge counts [B, L, L]; summed over the batch afterwards in a fixed
        // order, so the result does not depend on how the batch was split across threads.
        var node = CrfState.Sized(ref st.Node, B * TT * L);
        var edges = ga is null ? null : CrfState.Sized(ref st.Edges, B * L * L);
        Parallelism.For(B, (long)TT * L * L, (lo, hi) =>
        {
            using var scratch = Scratch<double>.Rent(4 * L);
            for (int b = lo; b < hi; b++)
            {
                int n = d.Length(b);
                if (n == 0 || st.Impossible[b]) continue;
                var nb = node.AsSpan(b * TT * L, n * L);
                var eb = edges is null ? default : edges.AsSpan(b * L * L, L * L);
                Kernel.Marginals(d.Emissions(b), d.A, d.F, n, L, st.Alpha.AsSpan(b * TT * L, n * L), st.LogZ[b], nb, eb, scratch.Span);
                if (ge is null) continue;
                double gb = double.CreateTruncating(g[b]);
                var tags = gold ? d.TagsOf(b) : default;
                for (int t = 0; t < n; t++)
                    for (int l = 0; l < L; l++)
                    {
                        double p = nb[t * L + l];
                        double s = gold ? (tags[t] == l ? 1 : 0) - p : p;
                        ge[(b * TT + t) * L + l] += T.CreateTruncating(gb * s);
                    }
            }
        });
        // ∂/∂(transitions, start, end) = Σ_b g_b·(gold − model) (or g_b·model).
        var acc = CrfState.Sized(ref st.Sum, L * L);
        void Add(T[]? grad, Func<int, int, ReadOnlySpan<double>> model, Action<int, double[], double> goldCounts)
        {
            if (grad is null) return;
            Array.Clear(acc, 0, grad.Length);
            for (int b = 0; b < B; b++)
            {
                int n = d.Length(b);
                if (n == 0 || st.Impossible[b]) continue;
                double gb = double.CreateTruncating(g[b]);
                var m = model(b, n);
                for (int i = 0; i < m.Length; i++) acc[i] += gold ? -gb * m[i] : gb * m[i];
                if (gold) goldCounts(b, acc, gb);
            }
            for (int i = 0; i < grad.Length; i++) grad[i] += T.CreateTruncating(acc[i]);
        }
        Add(ga, (b, n) => edges!.AsSpan(b * L * L, L * L), (b, a, gb) =>
        {
            var y = d.TagsOf(b);
            for (int t = 1; t < y.Length; t++) a[y[t - 1] * L + y[t]] += gb;
        });
        Add(gs, (b, n) => node.AsSpan(b * TT * L, L), (b, a, gb) => a[d.TagsOf(b)[0]] += gb);
        Add(gf, (b, n) => node.AsSpan((b * TT + n - 1) * L, L), (b, a, gb) => a[d.TagsOf(b)[^1]] += gb);
    }
}
