namespace Autodiff.Tests.Fused;

/// <summary>One declared input of a case: labels are i64, everything else takes the case's float type.</summary>
internal sealed record InputSpec(string Name, Shape Shape, bool IsLabels, Func<Random, double[]> Generate);

/// <summary>The expected value and gradients (by input name) of a case, computed in double by scalar loops.</summary>
internal sealed record OracleResult(double[] Value, Dictionary<string, double[]> Grads);

/// <summary>A fused op applied to inputs of fixed shapes, with the naive composite graph of core ops that computes the
/// same function and an independent double-precision oracle (direct loops with the max shift) for its value and its
/// vector-Jacobian product.</summary>
internal abstract record FusedCase(string Name)
{
    public abstract IReadOnlyList<InputSpec> Inputs { get; }

    public abstract Expr Fused(IReadOnlyDictionary<string, Expr> x);

    public abstract Expr Naive(IReadOnlyDictionary<string, Expr> x);

    public abstract OracleResult Oracle(IReadOnlyDictionary<string, double[]> x, double[] g);

    /// <summary>The inputs to differentiate: every float input except class weights (constants).</summary>
    public string[] Wrt => Inputs.Where(i => !i.IsLabels && i.Name != "w").Select(i => i.Name).ToArray();

    public Dictionary<string, Expr> Declare(GraphBuilder b, DType dt) =>
        Inputs.ToDictionary(i => i.Name, i => b.Input(i.Name, i.IsLabels ? DType.I64 : dt, i.Shape));

    public Dictionary<string, Tensor> Values(DType dt, int seed = 1)
    {
        var rng = new Random(seed);
        return Inputs.ToDictionary(i => i.Name, i => Tensor.FromDoubles(i.IsLabels ? DType.I64 : dt, i.Shape, i.Generate(rng)));
    }

    public Graph Graph(DType dt, bool naive = false)
    {
        var b = new GraphBuilder();
        var x = Declare(b, dt);
        return b.Build(naive ? Naive(x) : Fused(x));
    }

    public sealed override string ToString() => Name;
}

/// <summary>Rows of a row-major tensor along the run of axes [from, to): row r = o·Inner + i.</summary>
internal readonly record struct Layout(int Outer, int N, int Inner)
{
    public static Layout Of(Shape s, int from, int to) => new(s.Product(0, from), s.Product(from, to), s.Product(to, s.Rank));

    public int Rows => Outer * Inner;

    public int Index(int row, int j) => (((row / Inner) * N) + j) * Inner + (row % Inner);

    public double Max(double[] x, int r)
    {
        double m = double.NegativeInfinity;
        for (int j = 0; j < N; j++) m = Math.Max(m, x[Index(r, j)]);
        return m;
    }

    /// <summary>Max-shifted statistics of row r: its max m and log Σ exp(x − m).</summary>
    public (double M, double LogS) Stats(double[] x, int r)
    {
        double m = Max(x, r), s = 0;
        for (int j = 0; j < N; j++) s += Math.Exp(x[Index(r, j)] - m);
        return (m, Math.Log(s));
    }

    /// <summary>log Σ exp(x) of row r, max-shifted.</summary>
    public double Lse(double[] x, int r)
    {
        var (m, logS) = Stats(x, r);
        return m + logS;
    }

    /// <summary>log softmax of element j of row r: (x − m) − log s (accurate even when |m| is large).</summary>
    public double LogQ(double[] x, int r, int j, (double M, double LogS) st) => (x[Index(r, j)] - st.M) - st.LogS;
}

internal static class Gen
{
    public static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    public static Func<Random, double[]> Normal(Shape s, double scale = 1.5) =>
        rng => Enumerable.Range(0, s.Size).Select(_ => scale * Normal(rng)).ToArray();

    public static Func<Random, double[]> Uniform(Shape s, double lo, double hi) =>
        rng => Enumerable.Range(0, s.Size).Select(_ => lo + (hi - lo) * rng.NextDouble()).ToArray();

    public static Func<Random, double[]> Const(double[] values) => _ => (double[])values.Clone();

    /// <summary>Probability rows along <paramref name="axis"/> (the first row has an exact zero).</summary>
    public static Func<Random, double[]> ProbRows(Shape s, int axis) => rng =>
    {
        var l = Layout.Of(s, axis, axis + 1);
        var p = new double[s.Size];
        for (int r = 0; r < l.Rows; r++)
        {
            double sum = 0;
            for (int j = 0; j < l.N; j++) sum += p[l.Index(r, j)] = r == 0 && j == 0 && l.N > 1 ? 0 : 0.05 + rng.NextDouble();
            for (int j = 0; j < l.N; j++) p[l.Index(r, j)] /= sum;
        }
        return p;
    };

    /// <summary>Labels in [0, C); with an ignore index, every third row (starting at row 1) gets it.</summary>
    public static Func<Random, double[]> Labels(Shape s, int classes, int? ignore) =>
        rng => Enumerable.Range(0, s.Size).Select(r => ignore is int k && r % 3 == 1 ? k : (double)rng.Next(classes)).ToArray();
}

internal static class Naive
{
    public static Expr LogSoftmax(Expr z, int axis) => z - z.Exp().Sum(axis, keepDims: true).Log();

    /// <summary>A class vector [C] reshaped to broadcast along <paramref name="axis"/> of a rank-<paramref name="rank"/> tensor.</summary>
    public static Expr Along(Expr w, int rank, int axis) => w.Reshape([w.Shape[0], .. Enumerable.Repeat(1, rank - axis - 1)]);

    /// <summary>one_hot(t) with the class axis moved to <paramref name="axis"/>.</summary>
    public static Expr OneHot(Expr t, int classes, DType dt, int axis, int? ignore)
    {
        var oh = ignore is int k ? t.OneHot(classes, dt, k) : t.OneHot(classes, dt);
        int last = oh.Shape.Rank - 1;
        if (axis == last) return oh;
        var perm = Enumerable.Range(0, last).ToList();
        perm.Insert(axis, last);
        return oh.Transpose(perm.ToArray());
    }
}

/// <summary>softmax or log_softmax along one axis.</summary>
internal sealed record SoftmaxCase(Shape S, int Axis, bool Log, Func<Random, double[]>? X = null)
    : FusedCase($"{(Log ? "log_softmax" : "softmax")}{S} axis={Axis}")
{
    public override IReadOnlyList<InputSpec> Inputs => [new("x", S, false, X ?? Gen.Normal(S))];

    public override Expr Fused(IReadOnlyDictionary<string, Expr> x) => Log ? x["x"].LogSoftmax(Axis) : x["x"].Softmax(Axis);

    public override Expr Naive(IReadOnlyDictionary<string, Expr> x)
    {
        var v = x["x"];
        if (Log) return Autodiff.Tests.Fused.Naive.LogSoftmax(v, Axis);
        var e = v.Exp();
        return e / e.Sum(Axis, keepDims: true);
    }

    public override OracleResult Oracle(IReadOnlyDictionary<string, double[]> x, double[] g)
    {
        var xv = x["x"];
        var l = Layout.Of(S, Axis, Axis + 1);
        var y = new double[xv.Length];
        var gx = new double[xv.Length];
        for (int r = 0; r < l.Rows; r++)
        {
            var st = l.Stats(xv, r);
            double dot = 0, sg = 0;
            for (int j = 0; j < l.N; j++)
            {
                int k = l.Index(r, j);
                double lq = l.LogQ(xv, r, j, st), q = Math.Exp(lq);
                y[k] = Log ? lq : q;
                dot += g[k] * q;
                sg += g[k];
            }
            for (int j = 0; j < l.N; j++)
            {
                int k = l.Index(r, j);
                double q = Math.Exp(l.LogQ(xv, r, j, st));
                gx[k] = Log ? g[k] - q * sg : q * (g[k] - dot);
            }
        }
        return new(y, new() { ["x"] = gx });
    }
}

/// <summary>logsumexp over a run of axes.</summary>
internal sealed record LogSumExpCase(Shape S, int[]? Axes, bool KeepDims, Func<Random, double[]>? X = null)
    : FusedCase($"logsumexp{S} axis={(Axes is null ? "all" : string.Join(",", Axes))}{(KeepDims ? " keepdims" : "")}")
{
    public override IReadOnlyList<InputSpec> Inputs => [new("x", S, false, X ?? Gen.Normal(S))];

    public override Expr Fused(IReadOnlyDictionary<string, Expr> x) =>
        Axes is { Length: 1 } a ? x["x"].LogSumExp(a[0], KeepDims) : x["x"].LogSumExp(Axes, KeepDims);

    public override Expr Naive(IReadOnlyDictionary<string, Expr> x) => x["x"].Exp().Sum(Axes, KeepDims).Log();

    private Layout Rows()
    {
        var ax = S.Axes(Axes, "test");
        return ax.Length == 0 ? Layout.Of(S, S.Rank, S.Rank) : Layout.Of(S, ax[0], ax[^1] + 1);
    }

    public override OracleResult Oracle(IReadOnlyDictionary<string, double[]> x, double[] g)
    {
        var xv = x["x"];
        var l = Rows();
        var y = new double[l.Rows];
        var gx = new double[xv.Length];
        for (int r = 0; r < l.Rows; r++)
        {
            var st = l.Stats(xv, r);
            y[r] = st.M + st.LogS;
            for (int j = 0; j < l.N; j++) gx[l.Index(r, j)] = g[r] * Math.Exp(l.LogQ(xv, r, j, st));
        }
        return new(y, new() { ["x"] = gx });
    }
}

/// <summary>softmax_cross_entropy with soft targets, optional smoothing and weights.</summary>
internal sealed record DenseCase(Shape S, int Axis, bool Normalized, double Eps = 0, bool Weights = false)
    : FusedCase($"softmax_cross_entropy{S} axis={Axis}{(Normalized ? " normalized" : "")}{(Eps != 0 ? $" eps={Eps}" : "")}{(Weights ? " weights" : "")}")
{
    public Func<Random, double[]>? Z { get; init; }
    public Func<Random, double[]>? P { get; init; }

    /// <summary>The value the tape uses for −log q where q is exactly 0, in the gradient w.r.t. the targets.</summary>
    public double PCap { get; init; } = double.PositiveInfinity;

    private int C => S[Axis];

    public override IReadOnlyList<InputSpec> Inputs =>
    [
        new("z", S, false, Z ?? Gen.Normal(S)),
        new("p", S, false, P ?? (Normalized ? Gen.ProbRows(S, Axis) : Gen.Uniform(S, 0, 1))),
        .. Weights ? new[] { new InputSpec("w", new Shape(C), false, Gen.Uniform(new Shape(C), 0.5, 2)) } : [],
    ];

    public override Expr Fused(IReadOnlyDictionary<string, Expr> x) =>
        x["z"].SoftmaxCrossEntropy(x["p"], Axis, Normalized, Eps, Weights ? x["w"] : (Expr?)null);

    public override Expr Naive(IReadOnlyDictionary<string, Expr> x)
    {
        Expr z = x["z"], p = x["p"];
        var target = Eps == 0 ? p : p * (1 - Eps) + Eps / C;
        if (Weights) target = target * Autodiff.Tests.Fused.Naive.Along(x["w"], S.Rank, Axis);
        return -(target * Autodiff.Tests.Fused.Naive.LogSoftmax(z, Axis)).Sum(Axis);
    }

    public override OracleResult Oracle(IReadOnlyDictionary<string, double[]> x, double[] g)
    {
        double[] z = x["z"], p = x["p"];
        var w = Weights ? x["w"] : null;
        var l = Layout.Of(S, Axis, Axis + 1);
        var loss = new double[l.Rows];
        var gz = new double[z.Length];
        var gp = new double[z.Length];
        for (int r = 0; r < l.Rows; r++)
        {
            var st = l.Stats(z, r);
            double total = 0;
            for (int j = 0; j < l.N; j++)
            {
                int k = l.Index(r, j);
                double wp = ((1 - Eps) * p[k] + Eps / C) * (w?[j] ?? 1);
                total += wp;
                if (wp != 0) loss[r] -= wp * l.LogQ(z, r, j, st);
            }
            for (int j = 0; j < l.N; j++)
            {
                int k = l.Index(r, j);
                double wp = ((1 - Eps) * p[k] + Eps / C) * (w?[j] ?? 1), nlq = -l.LogQ(z, r, j, st), q = Math.Exp(-nlq);
                gz[k] = g[r] * (q * total - wp);
                gp[k] = g[r] * (w?[j] ?? 1) * (1 - Eps) * (double.IsPositiveInfinity(nlq) ? PCap : nlq);
            }
        }
        return new(loss, new() { ["z"] = gz, ["p"] = gp });
    }
}

/// <summary>sparse_softmax_cross_entropy with integer labels, optional ignore index, smoothing and weights.</summary>
internal sealed record SparseCase(Shape S, int Axis, int? Ignore = null, double Eps = 0, bool Weights = false)
    : FusedCase($"sparse_softmax_cross_entropy{S} axis={Axis}{(Ignore is int k ? $" ignore={k}" : "")}{(Eps != 0 ? $" eps={Eps}" : "")}{(Weights ? " weights" : "")}")
{
    public Func<Random, double[]>? Z { get; init; }
    public Func<Random, double[]>? T { get; init; }

    private int C => S[Axis];

    private Shape RowShape => new(S.Where((_, i) => i != Axis).ToArray());

    public override IReadOnlyList<InputSpec> Inputs =>
    [
        new("z", S, false, Z ?? Gen.Normal(S)),
        new("t", RowShape, true, T ?? Gen.Labels(RowShape, C, Ignore)),
        .. Weights ? new[] { new InputSpec("w", new Shape(C), false, Gen.Uniform(new Shape(C), 0.5, 2)) } : [],
    ];

    public override Expr Fused(IReadOnlyDictionary<string, Expr> x) =>
        x["z"].SparseSoftmaxCrossEntropy(x["t"], Axis, Ignore, Eps, Weights ? x["w"] : (Expr?)null);

    public override Expr Naive(IReadOnlyDictionary<string, Expr> x)
    {
        Expr z = x["z"], t = x["t"];
        var lsm = Autodiff.Tests.Fused.Naive.LogSoftmax(z, Axis);
        if (Ignore is null && !Weights && Eps == 0) return -lsm.Take(t, Axis);
        var oh = Autodiff.Tests.Fused.Naive.OneHot(t, C, z.DType, Axis, Ignore);
        Expr loss;
        if (Weights)
        {
            // PyTorch: each class's smoothing term weighted by its own w_c.
            var target = Eps == 0 ? oh : oh * (1 - Eps) + Eps / C;
            loss = -(target * Autodiff.Tests.Fused.Naive.Along(x["w"], S.Rank, Axis) * lsm).Sum(Axis);
        }
        else
        {
            loss = -(oh * lsm).Sum(Axis);
            if (Eps != 0) loss = loss * (1 - Eps) - lsm.Mean(Axis) * Eps;
        }
        if (Ignore is not null) loss = loss * oh.Sum(Axis);
        return loss;
    }

    public override OracleResult Oracle(IReadOnlyDictionary<string, double[]> x, double[] g)
    {
        double[] z = x["z"], t = x["t"];
        var w = Weights ? x["w"] : null;
        var l = Layout.Of(S, Axis, Axis + 1);
        var loss = new double[l.Rows];
        var gz = new double[z.Length];
        for (int r = 0; r < l.Rows; r++)
        {
            int label = (int)t[r];
            if (label == Ignore) continue;
            // PyTorch's cross_entropy(weight=w, label_smoothing=ε, reduction='none'):
            // (1 − ε)·w_t·(−log q_t) + (ε/C)·Σ_c w_c·(−log q_c); its gradient g·Σ_c w_c·p'_c·(q − e_c).
            var st = l.Stats(z, r);
            double smooth = 0, wt = w?[label] ?? 1, wSum = 0;
            for (int j = 0; j < l.N; j++)
            {
                double wj = w?[j] ?? 1;
                wSum += wj;
                if (wj != 0) smooth -= wj * l.LogQ(z, r, j, st);
            }
            loss[r] = (Eps == 1 || wt == 0 ? 0 : -(1 - Eps) * wt * l.LogQ(z, r, label, st)) + (Eps == 0 ? 0 : Eps / C * smooth);
            for (int j = 0; j < l.N; j++)
            {
                int k = l.Index(r, j);
                double wj = w?[j] ?? 1;
                gz[k] = g[r] * (Math.Exp(l.LogQ(z, r, j, st)) * ((1 - Eps) * wt + Eps / C * wSum) - (j == label ? (1 - Eps) * wt : 0) - Eps / C * wj);
            }
        }
        return new(loss, new() { ["z"] = gz });
    }
}

/// <summary>logaddexp with broadcasting.</summary>
internal sealed record LogAddExpCase(Shape A, Shape B) : FusedCase($"logaddexp{A}{B}")
{
    public Func<Random, double[]>? AValues { get; init; }
    public Func<Random, double[]>? BValues { get; init; }

    public override IReadOnlyList<InputSpec> Inputs => [new("a", A, false, AValues ?? Gen.Normal(A)), new("b", B, false, BValues ?? Gen.Normal(B))];

    public override Expr Fused(IReadOnlyDictionary<string, Expr> x) => x["a"].LogAddExp(x["b"]);

    public override Expr Naive(IReadOnlyDictionary<string, Expr> x) => (x["a"].Exp() + x["b"].Exp()).Log();

    public override OracleResult Oracle(IReadOnlyDictionary<string, double[]> x, double[] g)
    {
        double[] a = x["a"], b = x["b"];
        var s = Shape.Broadcast(A, B, "test");
        var y = new double[s.Size];
        double[] ga = new double[a.Length], gb = new double[b.Length];
        var idx = new int[s.Rank];
        for (int f = 0; f < s.Size; f++)
        {
            for (int d = s.Rank - 1, v = f; d >= 0; d--) { idx[d] = v % s[d]; v /= s[d]; }
            int ia = Map(idx, A), ib = Map(idx, B);
            double m = Math.Max(a[ia], b[ib]);
            y[f] = m + Math.Log(Math.Exp(a[ia] - m) + Math.Exp(b[ib] - m));
            ga[ia] += g[f] * Math.Exp(a[ia] - y[f]);
            gb[ib] += g[f] * Math.Exp(b[ib] - y[f]);
        }
        return new(y, new() { ["a"] = ga, ["b"] = gb });
    }

    private static int Map(int[] idx, Shape s)
    {
        int off = idx.Length - s.Rank, f = 0;
        for (int d = 0; d < s.Rank; d++) f = f * s[d] + (s[d] == 1 ? 0 : idx[d + off]);
        return f;
    }
}

internal static class FusedCatalog
{
    /// <summary>Small cases: every test, including finite-difference gradient checks.</summary>
    public static readonly FusedCase[] Small =
    [
        new SoftmaxCase(new(4, 5), 1, false),
        new SoftmaxCase(new(4, 5), 0, false),
        new SoftmaxCase(new(2, 3, 4), 0, false),
        new SoftmaxCase(new(2, 3, 4), 1, false),
        new SoftmaxCase(new(2, 3, 4), 2, false),
        new SoftmaxCase(new(7), 0, false),
        new SoftmaxCase(new(4, 5), 1, true),
        new SoftmaxCase(new(4, 5), 0, true),
        new SoftmaxCase(new(2, 3, 4), 0, true),
        new SoftmaxCase(new(2, 3, 4), 1, true),
        new SoftmaxCase(new(2, 3, 4), 2, true),
        new SoftmaxCase(new(7), 0, true),
        new LogSumExpCase(new(2, 3, 4), null, false),
        new LogSumExpCase(new(2, 3, 4), [0], false),
        new LogSumExpCase(new(2, 3, 4), [1], true),
        new LogSumExpCase(new(2, 3, 4), [-1], false),
        new LogSumExpCase(new(2, 3, 4), [0, 1], false),
        new LogSumExpCase(new(2, 3, 4), [1, 2], true),
        new LogSumExpCase(new(5), null, true),
        new LogSumExpCase(new(3, 4), [1], false),
        new DenseCase(new(4, 5), 1, Normalized: true),
        new DenseCase(new(4, 5), 1, Normalized: false),
        new DenseCase(new(5, 4), 0, Normalized: true),
        new DenseCase(new(2, 4, 3), 1, Normalized: false, Weights: true),
        new DenseCase(new(2, 4, 3), 1, Normalized: true, Eps: 0.1),
        new DenseCase(new(3, 5), 1, Normalized: false, Eps: 0.2, Weights: true),
        new DenseCase(new(2, 3, 4), 2, Normalized: true, Weights: true),
        new DenseCase(new(3, 2, 4), 0, Normalized: true, Eps: 0.05),
        // rows of 8 classes or more take the vector passes (8 at a time, then a tail)
        new DenseCase(new(3, 21), 1, Normalized: true),
        new DenseCase(new(3, 13), 1, Normalized: false),
        new DenseCase(new(2, 19), 1, Normalized: false, Eps: 0.1, Weights: true),
        new DenseCase(new(17, 2), 0, Normalized: true, Eps: 0.2, Weights: true),
        new SparseCase(new(6, 5), 1),
        new SparseCase(new(2, 5, 3), 1),
        new SparseCase(new(5, 4), 0),
        new SparseCase(new(6, 5), 1, Weights: true),
        new SparseCase(new(6, 5), 1, Eps: 0.1),
        new SparseCase(new(6, 5), 1, Ignore: -100),
        new SparseCase(new(6, 5), 1, Ignore: 2),
        new SparseCase(new(2, 5, 3), 1, Ignore: -1, Eps: 0.1, Weights: true),
        new SparseCase(new(3, 2, 4), 2, Eps: 0.2, Weights: true),
        new LogAddExpCase(new(3, 4), new(3, 4)),
        new LogAddExpCase(new(3, 1), new(4)),
        new LogAddExpCase(new(2, 3, 4), new(3, 1)),
        new LogAddExpCase(Shape.Scalar, new(2, 3)),
        new LogAddExpCase(new(4), Shape.Scalar),
    ];

    /// <summary>Large cases (rows split across cores, packed non-last axes): values against the oracle only.</summary>
    public static readonly FusedCase[] Large =
    [
        new SoftmaxCase(new(256, 300), 1, false),
        new SoftmaxCase(new(300, 2, 128), 0, true),
        new LogSumExpCase(new(64, 300, 3), [1], false),
        new DenseCase(new(40, 2048), 0, Normalized: true),
        new DenseCase(new(2048, 40), 1, Normalized: false, Eps: 0.1, Weights: true),
        new SparseCase(new(4096, 40), 1),
        new SparseCase(new(64, 40, 32), 1, Ignore: -100, Eps: 0.1, Weights: true),
        new LogAddExpCase(new(300, 300), new(300, 1)),
    ];

    private static readonly Dictionary<string, FusedCase> ByName = Small.Concat(Large).ToDictionary(c => c.Name);

    public static FusedCase Get(string name) => ByName[name];

    public static TheoryData<string, DType> SmallData() => Data(Small);

    public static TheoryData<string, DType> LargeData() => Data(Large);

    private static TheoryData<string, DType> Data(IEnumerable<FusedCase> cases)
    {
        var d = new TheoryData<string, DType>();
        foreach (var c in cases)
        {
            d.Add(c.Name, DType.F32);
            d.Add(c.Name, DType.F64);
        }
        return d;
    }
}
