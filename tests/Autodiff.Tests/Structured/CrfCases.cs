namespace Autodiff.Tests.Structured;

/// <summary>The brute-force answer for one sequence: every one of the L^n tag paths enumerated and scored in double.</summary>
internal sealed record CrfExact(double LogZ, double Gold, double[] Node, double[] Edges, double[] Start, double[] End, long[] Best, double BestScore);

/// <summary>A CRF problem of fixed sizes: B sequences of up to T steps over L tags, with or without start and end
/// scores and lengths. Lengths (when present) cycle through T, 0, 1, T − 1, ... so that one batch mixes full, empty,
/// single-step and partial sequences; tags at padding positions are garbage (out of range) unless asked otherwise.</summary>
internal sealed record CrfSetup(int B, int T, int L, bool Start = true, bool End = true, bool Lengths = true, double Scale = 1, int Seed = 1)
{
    public override string ToString() =>
        $"B={B} T={T} L={L}{(Start ? " start" : "")}{(End ? " end" : "")}{(Lengths ? " lengths" : "")}{(Scale != 1 ? $" scale={Scale}" : "")}";

    public string[] Wrt => new[] { "e", "A" }.Concat(Start ? ["s"] : []).Concat(End ? ["f"] : []).ToArray();

    public int Length(int b) => !Lengths ? T : new[] { T, 0, 1, T - 1, T / 2 + 1 }[b % 5];

    /// <summary>Input values in <paramref name="dt"/>; <paramref name="validPadding"/> puts in-range tags at padding
    /// positions (for the naive graph, which reads every tag).</summary>
    public Dictionary<string, Tensor> Values(DType dt, bool validPadding = false)
    {
        var rng = new Random(Seed);
        var x = new Dictionary<string, Tensor>
        {
            ["e"] = Tensor.RandomNormal(dt, new Shape(B, T, L), rng, Scale),
            ["A"] = Tensor.RandomNormal(dt, new Shape(L, L), rng, Scale),
        };
        if (Start) x["s"] = Tensor.RandomNormal(dt, new Shape(L), rng, Scale);
        if (End) x["f"] = Tensor.RandomNormal(dt, new Shape(L), rng, Scale);
        var tags = new long[B * T];
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) tags[b * T + t] = t < Length(b) || validPadding ? rng.Next(L) : 1000 + t;
        x["tags"] = Tensor.FromArray(tags, B, T);
        if (Lengths) x["n"] = Tensor.FromArray(Enumerable.Range(0, B).Select(b => (long)Length(b)).ToArray(), B);
        return x;
    }

    /// <summary>Declares the inputs e, A, s, f, tags, n in a new builder.</summary>
    public (GraphBuilder B, Expr E, Expr A, Expr? S, Expr? F, Expr Tags, Expr? N) Declare(DType dt)
    {
        var g = new GraphBuilder();
        var e = g.Input("e", dt, B, T, L);
        var a = g.Input("A", dt, L, L);
        Expr? s = Start ? g.Input("s", dt, L) : (Expr?)null;
        Expr? f = End ? g.Input("f", dt, L) : (Expr?)null;
        var tags = g.Input("tags", DType.I64, B, T);
        Expr? n = Lengths ? g.Input("n", DType.I64, B) : (Expr?)null;
        return (g, e, a, s, f, tags, n);
    }

    /// <summary>A graph of one CRF op on the declared inputs.</summary>
    public Graph Graph(DType dt, Func<(Expr E, Expr A, Expr? S, Expr? F, Expr Tags, Expr? N), Expr> op)
    {
        var (g, e, a, s, f, tags, n) = Declare(dt);
        return g.Build(op((e, a, s, f, tags, n)));
    }

    public Graph LogLikelihood(DType dt) => Graph(dt, x => x.E.CrfLogLikelihood(x.A, x.Tags, x.S, x.F, x.N));

    public Graph LogPartition(DType dt) => Graph(dt, x => x.E.CrfLogPartition(x.A, x.S, x.F, x.N));

    /// <summary>Brute force over all paths of every sequence, on the given (possibly rounded) input values.</summary>
    public CrfExact[] Exact(IReadOnlyDictionary<string, Tensor> x)
    {
        var e = x["e"].ToDoubleArray();
        var a = x["A"].ToDoubleArray();
        var s = Start ? x["s"].ToDoubleArray() : new double[L];
        var f = End ? x["f"].ToDoubleArray() : new double[L];
        var tags = (long[])x["tags"].Data;
        return Enumerable.Range(0, B).Select(b => Sequence(e.AsSpan(b * T * L).ToArray(), a, s, f, tags.AsSpan(b * T, Length(b)).ToArray())).ToArray();
    }

    private CrfExact Sequence(double[] e, double[] a, double[] s, double[] f, long[] gold)
    {
        int n = gold.Length;
        var node = new double[T * L];
        var edges = new double[L * L];
        double[] start = new double[L], end = new double[L];
        if (n == 0) return new(0, 0, node, edges, start, end, Enumerable.Repeat(-1L, T).ToArray(), 0);
        double Score(long[] y)
        {
            double v = s[y[0]] + f[y[n - 1]];
            for (int t = 0; t < n; t++) v += e[t * L + y[t]] + (t > 0 ? a[y[t - 1] * L + y[t]] : 0);
            return v;
        }
        var paths = new List<(long[] Path, double Score)>();
        var p = new long[n];
        for (long k = 0; k < (long)Math.Pow(L, n); k++)
        {
            for (long r = k, t = n - 1; t >= 0; t--, r /= L) p[t] = r % L;
            paths.Add(((long[])p.Clone(), Score(p)));
        }
        double max = paths.Max(q => q.Score);
        double logZ = double.IsNegativeInfinity(max) ? max : max + Math.Log(paths.Sum(q => Math.Exp(q.Score - max)));
        foreach (var (y, sc) in paths)
        {
            double w = double.IsNegativeInfinity(logZ) ? 0 : Math.Exp(sc - logZ);   // no allowed path: zero marginals
            for (int t = 0; t < n; t++) node[t * L + y[t]] += w;
            for (int t = 1; t < n; t++) edges[y[t - 1] * L + y[t]] += w;
            start[y[0]] += w;
            end[y[n - 1]] += w;
        }
        var best = paths.First(q => q.Score == max).Path;
        return new(logZ, Score(gold), node, edges, start, end, [.. best, .. Enumerable.Repeat(-1L, T - n)], max);
    }

    /// <summary>The same log-likelihood built naively from core ops: a loop over time of
    /// <c>logsumexp(alpha[:, :, None] + A, axis=1) + e_t</c> (kept where t &lt; length), and the gold score from
    /// <c>take</c> and <c>one_hot</c>. Position t is selected by multiplying with one_hot(t) along the time axis and
    /// summing. Needs the float inputs <c>mask</c> [B, T] (1 where t &lt; length) and <c>last</c> [B, T] (1 at
    /// t = length − 1), see <see cref="NaiveInputs"/>, and valid tags at padding positions.</summary>
    public Graph Naive(DType dt)
    {
        var (g, e, a, s, f, tags, _) = Declare(dt);
        var mask = g.Input("mask", dt, B, T);
        var last = g.Input("last", dt, B, T);
        Expr Select(int t) => g.Constant(t, DType.I64).OneHot(T, dt);
        Expr At(Expr x3, int t) => (x3 * Select(t).Reshape(1, T, 1)).Sum(1);           // [B, T, L] -> [B, L]
        Expr Col(Expr x2, int t) => (x2 * Select(t).Reshape(1, T)).Sum(1, keepDims: true); // [B, T] -> [B, 1]

        var alpha = At(e, 0);
        if (s is { } sv) alpha = alpha + sv;
        for (int t = 1; t < T; t++)
        {
            var next = (alpha.Unsqueeze(2) + a).LogSumExp(1) + At(e, t);
            var m = Col(mask, t);
            alpha = m * next + (1 - m) * alpha;
        }
        var final = f is { } fv ? alpha + fv : alpha;
        var logZ = final.LogSumExp(1) * Col(mask, 0).Reshape(B);

        var oh = tags.OneHot(L, dt);
        var gold = (e.Take(tags, 2) * mask).Sum(1);
        for (int t = 1; t < T; t++)
            gold = gold + (At(oh, t - 1).MatMul(a) * At(oh, t)).Sum(1) * Col(mask, t).Reshape(B);
        if (s is { } s2) gold = gold + (At(oh, 0) * s2).Sum(1) * Col(mask, 0).Reshape(B);
        if (f is { } f2) gold = gold + ((oh * last.Unsqueeze(2)).Sum(1) * f2).Sum(1);
        return g.Build(gold - logZ);
    }

    /// <summary>The inputs of <see cref="Naive"/>: <see cref="Values"/> with valid padding tags, plus mask and last.</summary>
    public Dictionary<string, Tensor> NaiveInputs(DType dt)
    {
        var x = Values(dt, validPadding: true);
        var mask = new double[B * T];
        var last = new double[B * T];
        for (int b = 0; b < B; b++)
        {
            int n = Length(b);
            for (int t = 0; t < n; t++) mask[b * T + t] = 1;
            if (n > 0) last[b * T + n - 1] = 1;
        }
        x["mask"] = Tensor.FromDoubles(dt, new Shape(B, T), mask);
        x["last"] = Tensor.FromDoubles(dt, new Shape(B, T), last);
        return x;
    }
}
