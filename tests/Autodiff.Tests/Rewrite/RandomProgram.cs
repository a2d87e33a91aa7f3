namespace Autodiff.Tests.Rewrite;

/// <summary>A random program over the core ops and the patterns the rules look for (the stability rules' spellings among
/// them: log1p, expm1, log1mexp, logdiffexp and log1m_softmax forms, entropy, KL and binary entropy with a shared softmax
/// or sigmoid, guards and epsilons), and inputs for it, from one seed
/// (used by <see cref="DifferentialTests"/> and <see cref="Numerics.RewriteSoundnessTests"/>). With <c>edges</c> the
/// grammar adds maxima, minima, masks, stop_gradient, norms and products, shapes may be empty or 0-d, and the inputs
/// hold ±inf entries, all −inf rows and values of scale 1e3 and 1e6. The plain grammar is the edge grammar without its
/// extra cases.</summary>
public sealed class RandomProgram
{
    private readonly Random _rng;
    private readonly GraphBuilder _b = new();
    private readonly Expr _x, _y, _p, _w;
    private readonly Expr? _q, _t;
    private readonly int _n, _c;
    private readonly bool _edges, _scalar;
    private readonly double _scale;

    /// <summary>The program of <paramref name="seed"/>; <paramref name="edges"/> selects the edge grammar and edge values.</summary>
    public RandomProgram(int seed, bool edges = false)
    {
        _rng = new Random(seed);
        _edges = edges;
        if (edges)
        {
            int mode = _rng.Next(6);
            _scalar = mode == 0;
            _n = mode == 1 ? 0 : _rng.Next(1, 4);
            _c = mode == 2 ? 0 : _rng.Next(1, 5);
            _scale = new[] { 1.0, 1e3, 1e6 }[_rng.Next(3)];
        }
        else
        {
            _n = _rng.Next(1, 5);
            _c = _rng.Next(1, 6);
            _scale = seed % 3 == 0 ? 3 : 1;
        }
        int[] s = _scalar ? [] : [_n, _c];
        _x = _b.Input("x", DType.F64, s);
        _y = _b.Input("y", DType.F64, s);
        _w = _b.Input("w", DType.F64, _scalar ? [] : [_c]);
        _p = _b.Input("p", DType.F64, new Shape(s), _scalar ? InputFacts.None : InputFacts.Probs(1));
        if (edges) _q = _b.Input("q", DType.F64, new Shape(s), new InputFacts(IsPositive: true));
        if (!_scalar && (_c > 0 || _n == 0)) _t = _b.Input("t", DType.I64, new Shape(_n), InputFacts.ClassIndices(_c));
        Graph = _b.Build(_scalar ? Scalar(3) : (Matrix(3) * _x).Sum() + Row(2).Sum());
    }

    /// <summary>The program; its output is a scalar.</summary>
    public Graph Graph { get; }

    private int Pick(int n) => _rng.Next(n);

    /// <summary>A case number of a grammar with <paramref name="plain"/> cases, or <paramref name="edge"/> with edges; the
    /// last case is the same default in both, the edge grammar's extra cases sit just before it.</summary>
    private int Case(int plain, int edge)
    {
        int k = Pick(_edges ? edge : plain);
        return !_edges && k == plain - 1 ? edge - 1 : k;
    }

    private Expr Leaf() => Pick(_edges ? 5 : 4) switch { 0 => _x, 1 => _y, 2 => _x * _w, 3 => _x - _y, _ => _x.StopGradient() + _y };

    /// <summary>A 0-d expression (edge grammar only).</summary>
    private Expr Scalar(int depth)
    {
        if (depth == 0) return Leaf();
        var a = Scalar(depth - 1);
        return Pick(12) switch
        {
            0 => a.Exp().Log(),
            1 => (1 + a.Exp()).Log(),
            2 => 1 / (1 + (-a).Exp()),
            3 => (a.Exp() + Scalar(depth - 1).Exp()).Log(),
            4 => a.Exp().Sum().Log(),
            5 => a.Max() + (a - a.Max(keepDims: true)).Exp().Sum().Log(),
            6 => SoftmaxOfOne(a),
            7 => a.Maximum(Scalar(depth - 1)) + a.Mean(),
            8 => (1 / (1 + (-a).Exp())).Log(),
            9 => 1 - 1 / (1 + (-a).Exp()),
            10 => a.Square().Sum().Sqrt() + _q!.Value.Log().Sum().Exp(),
            _ => a.Tanh() * Scalar(depth - 1),
        };
    }

    /// <summary>The exp/sum spelling of a softmax over a size-1 axis, of a 0-d value reshaped to [1, 1] and back.</summary>
    private static Expr SoftmaxOfOne(Expr a)
    {
        var e = a.Reshape(1, 1).Exp();
        return (e / e.Sum(1, keepDims: true)).Reshape();
    }

    /// <summary>An [n, c] expression.</summary>
    private Expr Matrix(int depth)
    {
        if (depth == 0) return Leaf();
        var a = Matrix(depth - 1);
        int axis = Pick(2);
        Expr Softmax(Expr v) { var e = v.Exp(); return e / e.Sum(axis, keepDims: true); }
        Expr Sigmoid(Expr v) => 1 / (1 + (-v).Exp());
        return Case(27, 31) switch
        {
            0 => Softmax(a),
            1 => Softmax(a - a.Max(axis, keepDims: true)),
            2 => Softmax(a).Log(),
            3 => a - a.Exp().Sum(axis, keepDims: true).Log(),
            4 => (1 + a.Exp()).Log(),
            5 => Sigmoid(a),
            6 => (a.Exp() + Matrix(depth - 1).Exp()).Log(),
            7 => a * (1 / (1 + a.Square())),
            8 => -(-a),
            9 => a * 1 + Matrix(depth - 1),
            10 => a.Tanh() * Matrix(depth - 1),
            11 => a + Row(depth - 1).Unsqueeze(1),
            12 => a.Exp().Log(),
            // The spellings the stability rules (docs/rules.md, "Stability on real code") and PyTensor's stabilize set target.
            13 => Pick(2) == 0 ? a.Exp() - 1 : -1 + a.Exp(),
            14 => Pick(2) == 0 ? (1 + a.Square()).Log() : (1 - Sigmoid(a)).Log(),
            15 => Pick(3) switch
            {
                0 => (1 - (-a.Square()).Exp()).Log(),
                1 => (-(-a.Square()).Expm1()).Log(),
                _ => (-(-a.Square()).Exp()).Log1p(),
            },
            16 => (a.Exp() - (a - 1 - Matrix(depth - 1).Square()).Exp()).Log(),
            17 => Pick(2) == 0 ? (1 - Softmax(a)).Log() : (-Softmax(a)).Log1p(),
            18 => a.Exp().Sqrt(),
            19 => a.Exp() / (1 + a.Exp()),
            20 => Sigmoid(a) / (1 - Sigmoid(a)),
            21 => a / Matrix(depth - 1).Exp(),
            22 => Pick(2) == 0 ? (a.Square() + 0.5).Log().Softplus() : a.Exp().Log1p(),
            23 => Pick(2) == 0 ? (0.1 * (1 / (1 + (-a).Exp()))).Log() : a.Exp() * (-a).Sigmoid(),
            24 => Pick(2) == 0 ? Softmax(a).Abs().Log() : Softmax(a).Relu().Log(),
            25 => Pick(2) == 0 ? (Softmax(a) + 1e-7).Log() : Softmax(a).Minimum(a.Const(1)).Maximum(a.Const(1e-10)).Log(),
            26 => Softmax(Expr.Where(_p, a, a.Const(double.NegativeInfinity))),
            27 => a - a.Min(axis, keepDims: true) + a.Max(axis, keepDims: true),
            28 => Softmax(a.StopGradient()) * a,
            29 => 1 - Sigmoid(a),
            _ => Sigmoid(a).Log(),
        };
    }

    /// <summary>An [n] expression.</summary>
    private Expr Row(int depth)
    {
        var a = Matrix(depth);
        Expr Q(Expr v) { var e = v.Exp(); return e / e.Sum(1, keepDims: true); }
        Expr Targets() => (Pick(5), _t) switch
        {
            (1, { } t) => t.OneHot(_c, DType.F64),
            (2, _) => Q(_y),
            (3, { } t) => 0.8 * t.OneHot(_c, DType.F64) + 0.2 / Math.Max(_c, 1),
            (4, _) => _y,   // not proved to sum to 1: must not fuse into softmax_cross_entropy
            _ => _p,
        };
        Expr Sigmoid(Expr v) => 1 / (1 + (-v).Exp());
        return (Case(12, 16), _t) switch
        {
            (0, _) => a.Exp().Sum(1).Log(),
            (1, _) => a.Max(1) + (a - a.Max(1, keepDims: true)).Exp().Sum(1).Log(),
            (2, _) => -(Targets() * Q(a).Log()).Sum(1),
            (3, { } t) => -a.Take(t, 1) + Q(a).Log().Take(t, 1) * -1,
            (4, _) => (-(Targets() * Q(a).Log())).Sum(1),
            (5, { } t) => -(t.OneHot(_c, DType.F64) * (a - a.Exp().Sum(1, keepDims: true).Log())).Sum(1),
            // Entropy, KL and binary entropy with a shared softmax or sigmoid, and a clipped numerator over another exp.
            (6, _) => -(Q(a) * Q(a).Log()).Sum(1),
            (7, _) => Pick(2) == 0 ? (Q(a) * (Q(a).Log() - Q(_y).Log())).Sum(1) : (Q(a) * (Q(a) / Q(_y)).Log()).Sum(1),
            (8, _) => -(Sigmoid(a) * Sigmoid(a).Log() + (1 - Sigmoid(a)) * (1 - Sigmoid(a)).Log()).Sum(1),
            (9, _) => (a.Minimum(a.Const(87)).Maximum(a.Const(-87)).Exp() / a.Exp().Sum(1, keepDims: true) * _y).Sum(1),
            (10, _) => (1 + (a - a.Max(1, keepDims: true)).Exp().Sum(1)).Log(),
            (11, _) => a.Min(1) - a.Mean(1),
            (12, _) => a.Square().Sum(1).Sqrt(),
            (13, _) => a.Abs().Pow(3).Sum(1).Pow(1.0 / 3),
            (14, _) => _q!.Value.Log().Sum(1).Exp(),
            _ => a.Sum(1) * 0.5,
        };
    }

    /// <summary>Inputs that respect the declared facts: plain normal values (scale 3 for every third seed, else 1), or with
    /// edges, edge values (<see cref="Edge"/>) for x and y and positive values at both ends of the range for q.</summary>
    public Dictionary<string, Tensor> Inputs() => _edges ? EdgeInputs() : PlainInputs();

    private Dictionary<string, Tensor> PlainInputs()
    {
        var v = new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.RandomNormal(DType.F64, new Shape(_n, _c), _rng, _scale),
            ["y"] = Tensor.RandomNormal(DType.F64, new Shape(_n, _c), _rng, _scale),
            ["w"] = Tensor.RandomNormal(DType.F64, new Shape(_c), _rng),
        };
        var p = Tensor.Zeros(DType.F64, _n, _c);
        var t = Tensor.Zeros(DType.I64, _n);
        for (int i = 0; i < _n; i++)
        {
            var row = Enumerable.Range(0, _c).Select(_ => _rng.NextDouble() + 1e-3).ToArray();
            for (int j = 0; j < _c; j++) p.SetDouble(i * _c + j, row[j] / row.Sum());
            t.SetDouble(i, _rng.Next(_c));
        }
        v["p"] = p;
        v["t"] = t;
        return v;
    }

    private Dictionary<string, Tensor> EdgeInputs()
    {
        var v = new Dictionary<string, Tensor>();
        foreach (var i in Graph.Inputs)
        {
            var name = ((InputOp)i.Op).InputName;
            if (name == "t")
            {
                v[name] = Tensor.FromDoubles(DType.I64, i.Shape, Enumerable.Range(0, i.Shape.Size).Select(_ => (double)Pick(_c)).ToArray());
                continue;
            }
            if (name == "p" && !_scalar)
            {
                var p = Tensor.Zeros(DType.F64, i.Shape);
                for (int r = 0; r < _n; r++)
                {
                    var row = Enumerable.Range(0, _c).Select(_ => Pick(3) == 0 ? 0 : _rng.NextDouble() + 1e-3).ToArray();
                    if (_c > 0 && row.Sum() == 0) row[0] = 1;
                    for (int j = 0; j < _c; j++) p.SetDouble(r * _c + j, row[j] / row.Sum());
                }
                v[name] = p;
                continue;
            }
            if (name == "q")
            {
                // Positive, as declared: the program's scale, +inf, and values at both ends of the range.
                var q = Tensor.Zeros(DType.F64, i.Shape);
                for (int k = 0; k < q.Size; k++) q.SetDouble(k, Pick(10) switch { 0 => double.PositiveInfinity, 1 => 1e-300, 2 => 1e300, _ => _scale * (0.01 + _rng.NextDouble()) });
                v[name] = q;
                continue;
            }
            v[name] = name == "w" ? Tensor.RandomNormal(DType.F64, i.Shape, _rng) : Edge(i.Shape);
        }
        return v;
    }

    /// <summary>Edge values: ordinary ones at the program's scale, −inf and +inf entries, and whole −inf rows.</summary>
    private double Value(bool negInfRow)
    {
        if (negInfRow) return double.NegativeInfinity;
        int k = Pick(20);
        return k switch
        {
            0 or 1 => double.NegativeInfinity,
            2 => double.PositiveInfinity,
            _ => _scale * Normal(_rng),
        };
    }

    private Tensor Edge(Shape s)
    {
        var t = Tensor.Zeros(DType.F64, s);
        int n = s.Rank == 0 ? 1 : s[^1];
        for (int r = 0; r * Math.Max(n, 1) < t.Size; r++)
        {
            bool row = Pick(5) == 0;
            for (int j = 0; j < n && r * n + j < t.Size; j++) t.SetDouble(r * n + j, Value(row));
        }
        return t;
    }

    /// <summary>A standard normal draw (Box–Muller).</summary>
    public static double Normal(Random rng) => Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    /// <summary>The simplified graph's result agrees with the naive one: where the naive element is finite, the simplified
    /// one is finite too and (with <paramref name="equal"/>) within 1e-9 relative; a non-finite naive element is not
    /// compared (stabilising may make it finite).</summary>
    public static void AssertClose(Tensor naive, Tensor simple, string what, Func<string> where, bool equal = true)
    {
        Assert.Equal(naive.Shape, simple.Shape);
        Assert.Equal(naive.DType, simple.DType);
        for (int i = 0; i < naive.Size; i++)
        {
            double a = naive.GetDouble(i), b = simple.GetDouble(i);
            if (!double.IsFinite(a)) continue;
            Assert.True(double.IsFinite(b), $"{what}[{i}]: naive {a:R} is finite but simplified gives {b:R}\n{where()}");
            if (equal) Assert.True(Math.Abs(a - b) <= 1e-9 * Math.Max(1, Math.Abs(a)), $"{what}[{i}]: naive {a:R} vs simplified {b:R}\n{where()}");
        }
    }
}
