namespace Autodiff.Tests.Fused;

/// <summary>Large logits, −inf entries and non-finite rows: the fused ops stay finite and equal the stable oracle, and the
/// documented policies for ±inf and NaN rows hold.</summary>
public class StabilityTests
{
    private const double NegInf = double.NegativeInfinity;
    private const double PosInf = double.PositiveInfinity;

    private static readonly Shape Rows = new(4, 6);

    /// <summary>Rows of magnitude <paramref name="scale"/>, each with exactly one −inf: [s, s+1, ...] (the [1000, 1001]
    /// kind), [−s, ...], a row spread over [−s, s], and a near-tie row.</summary>
    private static double[] Logits(double scale) =>
    [
        scale, scale + 1, scale + 0.5, scale - 2, scale + 3, NegInf,
        -scale + 0.25, NegInf, -scale, -scale + 1, -scale - 1, -scale + 2,
        scale, -scale, 0.5 * scale, NegInf, 0, scale - 1,
        scale, scale + 1, NegInf, scale, scale - 3, scale + 0.5,
    ];

    /// <summary>The same values with the rows along axis 0 (shape [6, 4]).</summary>
    private static double[] Transposed(double[] x)
    {
        var t = new double[x.Length];
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 6; c++)
                t[c * 4 + r] = x[r * 6 + c];
        return t;
    }

    /// <summary>Probability rows that are 0 exactly where the logits are −inf.</summary>
    private static double[] Targets(double[] z)
    {
        var p = new double[z.Length];
        for (int r = 0; r < 4; r++)
        {
            double s = 0;
            for (int c = 0; c < 6; c++) s += p[r * 6 + c] = double.IsNegativeInfinity(z[r * 6 + c]) ? 0 : 1 + ((r + 2 * c) % 5);
            for (int c = 0; c < 6; c++) p[r * 6 + c] /= s;
        }
        return p;
    }

    private static double Cap(DType dt) => -Math.Log(dt == DType.F32 ? float.Epsilon : double.Epsilon);

    private static FusedCase Case(string op, DType dt, double scale)
    {
        var z = Logits(scale);
        return op switch
        {
            "softmax" => new SoftmaxCase(Rows, 1, false, Gen.Const(z)),
            "softmax axis=0" => new SoftmaxCase(new(6, 4), 0, false, Gen.Const(Transposed(z))),
            "log_softmax" => new SoftmaxCase(Rows, 1, true, Gen.Const(z)),
            "log_softmax axis=0" => new SoftmaxCase(new(6, 4), 0, true, Gen.Const(Transposed(z))),
            "logsumexp" => new LogSumExpCase(Rows, [1], false, Gen.Const(z)),
            "logsumexp axis=0" => new LogSumExpCase(new(6, 4), [0], true, Gen.Const(Transposed(z))),
            "softmax_cross_entropy" => new DenseCase(Rows, 1, Normalized: true) { Z = Gen.Const(z), P = Gen.Const(Targets(z)), PCap = Cap(dt) },
            "softmax_cross_entropy weights" => new DenseCase(Rows, 1, Normalized: false, Weights: true) { Z = Gen.Const(z), P = Gen.Const(Targets(z)), PCap = Cap(dt) },
            "softmax_cross_entropy axis=0" => new DenseCase(new(6, 4), 0, Normalized: true) { Z = Gen.Const(Transposed(z)), P = Gen.Const(Transposed(Targets(z))), PCap = Cap(dt) },
            "sparse_softmax_cross_entropy" => new SparseCase(Rows, 1) { Z = Gen.Const(z), T = Gen.Const([1, 0, 4, 5]) },
            "sparse_softmax_cross_entropy weights" => new SparseCase(Rows, 1, Ignore: -100, Weights: true) { Z = Gen.Const(z), T = Gen.Const([4, -100, 0, 1]) },
            "sparse_softmax_cross_entropy axis=0" => new SparseCase(new(6, 4), 0) { Z = Gen.Const(Transposed(z)), T = Gen.Const([1, 0, 4, 5]) },
            "logaddexp" => new LogAddExpCase(Rows, Rows) { AValues = Gen.Const(z), BValues = Gen.Const(z.Reverse().ToArray()) },
            _ => throw new ArgumentException(op),
        };
    }

    public static TheoryData<string, DType, double> Data()
    {
        var d = new TheoryData<string, DType, double>();
        string[] ops =
        [
            "softmax", "softmax axis=0", "log_softmax", "log_softmax axis=0", "logsumexp", "logsumexp axis=0",
            "softmax_cross_entropy", "softmax_cross_entropy weights", "softmax_cross_entropy axis=0",
            "sparse_softmax_cross_entropy", "sparse_softmax_cross_entropy weights", "sparse_softmax_cross_entropy axis=0", "logaddexp",
        ];
        foreach (var op in ops)
            foreach (var dt in new[] { DType.F32, DType.F64 })
                foreach (var scale in new[] { 1e3, 1e4 })
                    d.Add(op, dt, scale);
        return d;
    }

    [Theory]
    [MemberData(nameof(Data))]
    public void LargeLogitsAndNegativeInfinityMatchTheStableOracle(string op, DType dt, double scale)
    {
        var c = Case(op, dt, scale);
        var x = c.Values(dt);
        var graph = c.Graph(dt);
        var cot = FusedRun.Cotangent(dt, graph.Output.Shape);
        var (value, grads) = FusedRun.Run(graph, x, c.Wrt, cot);
        var expected = c.Oracle(FusedRun.AsDoubles(x), cot.ToDoubleArray());
        if (!op.StartsWith("log_softmax", StringComparison.Ordinal)) FusedRun.AssertAllFinite(value, $"{op} value");
        FusedRun.AssertClose(expected.Value, value, FusedRun.Tol(dt), $"{op} value");
        foreach (var w in c.Wrt)
        {
            FusedRun.AssertAllFinite(grads[w], $"{op} d/d{w}");
            FusedRun.AssertClose(expected.Grads[w], grads[w], FusedRun.Tol(dt), $"{op} d/d{w}");
        }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void NaiveSoftmaxOverflowsWhereTheFusedOneDoesNot(DType dt)
    {
        var c = new SoftmaxCase(new(1, 2), 1, false, Gen.Const([1000, 1001]));
        var x = c.Values(dt);
        var naive = new Tape(c.Graph(dt, naive: true)).Forward(x).ToDoubleArray();
        var fused = new Tape(c.Graph(dt)).Forward(x).ToDoubleArray();
        Assert.All(naive, v => Assert.True(double.IsNaN(v)));
        FusedRun.AssertClose([1 / (1 + Math.E), Math.E / (1 + Math.E)], fused, FusedRun.Tol(dt), "softmax");
    }

    private static (double[] Value, double[] Grad) RunUnary(Func<Expr, Expr> f, DType dt, Shape s, double[] x, double[] g)
    {
        var b = new GraphBuilder();
        var graph = b.Build(f(b.Input("x", dt, s)));
        var (v, grads) = new Tape(graph).Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromDoubles(dt, s, x) },
            Tensor.FromDoubles(dt, graph.Output.Shape, g));
        return (v.ToDoubleArray(), grads["x"].ToDoubleArray());
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void AllNegativeInfinityRows(DType dt)
    {
        var s = new Shape(2, 3);
        double[] x = [NegInf, NegInf, NegInf, 0, 1, 2];
        double[] g6 = [0.5, -1, 2, 1, 1, 1];

        var (lse, glse) = RunUnary(v => v.LogSumExp(1), dt, s, x, [3, 1]);
        Assert.Equal(NegInf, lse[0]);
        Assert.Equal([0, 0, 0], glse[..3]);
        FusedRun.AssertAllFinite(glse, "logsumexp gradient");

        var (all, gall) = RunUnary(v => v.LogSumExp(), dt, new(3), [NegInf, NegInf, NegInf], [1]);
        Assert.Equal(NegInf, all[0]);
        Assert.Equal([0, 0, 0], gall);

        var (sm, gsm) = RunUnary(v => v.Softmax(1), dt, s, x, g6);
        Assert.Equal([0, 0, 0], sm[..3]);
        Assert.Equal([0, 0, 0], gsm[..3]);

        // log_softmax of an all −inf row is −inf; its gradient takes softmax as 0 there, so it is g (documented).
        var (lsm, glsm) = RunUnary(v => v.LogSoftmax(1), dt, s, x, g6);
        Assert.Equal([NegInf, NegInf, NegInf], lsm[..3]);
        Assert.Equal(g6[..3], glsm[..3]);

        // Along a non-last axis too.
        var (lse0, glse0) = RunUnary(v => v.LogSumExp(0), dt, new(3, 2), [NegInf, 0, NegInf, 1, NegInf, 2], [3, 1]);
        Assert.Equal(NegInf, lse0[0]);
        Assert.Equal([0, 0, 0], new[] { glse0[0], glse0[2], glse0[4] });
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void PositiveInfinityRowSharesTheGradientAmongItsInfiniteEntries(DType dt)
    {
        var s = new Shape(2, 3);
        double[] x = [PosInf, 0, PosInf, 0, 1, 2];
        var (lse, g) = RunUnary(v => v.LogSumExp(1), dt, s, x, [4, 1]);
        Assert.Equal(PosInf, lse[0]);
        Assert.Equal([2, 0, 2], g[..3]);
        var (sm, _) = RunUnary(v => v.Softmax(1), dt, s, x, [1, 1, 1, 1, 1, 1]);
        Assert.Equal([0.5, 0, 0.5], sm[..3]);
        var (lsm, _) = RunUnary(v => v.LogSoftmax(1), dt, s, x, [1, 1, 1, 1, 1, 1]);
        FusedRun.AssertClose([-Math.Log(2), NegInf, -Math.Log(2)], lsm[..3], FusedRun.Tol(dt), "log_softmax");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void NaNStaysInItsRow(DType dt)
    {
        var s = new Shape(2, 3);
        double[] x = [double.NaN, 0, 1, 0, 1, 2];
        var oracle = new LogSumExpCase(s, [1], false, Gen.Const(x)).Oracle(new Dictionary<string, double[]> { ["x"] = x }, [1, 2]);
        var ops = new (Func<Expr, Expr> F, double[] G)[]
        {
            (v => v.LogSumExp(1), [1, 2]),
            (v => v.Softmax(1), [1, 1, 1, 2, 2, 2]),
            (v => v.LogSoftmax(1), [1, 1, 1, 2, 2, 2]),
        };
        foreach (var (f, cot) in ops)
        {
            var (y, g) = RunUnary(f, dt, s, x, cot);
            Assert.True(double.IsNaN(y[0]));
            Assert.All(g[..3], v => Assert.True(double.IsNaN(v)));
            FusedRun.AssertAllFinite(y[^(y.Length / 2)..], "second row");
            FusedRun.AssertAllFinite(g[3..], "second row gradient");
        }
        var (lse, glse) = RunUnary(v => v.LogSumExp(1), dt, s, x, [1, 2]);
        FusedRun.AssertClose(oracle.Value[1..], lse[1..], FusedRun.Tol(dt), "logsumexp");
        FusedRun.AssertClose(oracle.Grads["x"][3..], glse[3..], FusedRun.Tol(dt), "logsumexp gradient");

        var b = new GraphBuilder();
        var z = b.Input("z", dt, s);
        var t = b.Input("t", DType.I64, 2);
        var (loss, gz) = new Tape(b.Build(z.SparseSoftmaxCrossEntropy(t).Sum())).Run(new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.FromDoubles(dt, s, x),
            ["t"] = Tensor.FromArray(new long[] { 1, 2 }, 2),
        });
        Assert.True(double.IsNaN(loss.GetDouble(0)));
        Assert.All(gz["z"].ToDoubleArray()[3..], v => Assert.True(double.IsFinite(v)));
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void LogAddExpSpecialValues(DType dt)
    {
        double[] a = [NegInf, PosInf, PosInf, NegInf, double.NaN, 1e4, 1e3, 3];
        double[] b = [NegInf, PosInf, 3, 3, 1, 1e4 + 1, -1e3, 3];
        var s = new Shape(a.Length);
        var g = Enumerable.Repeat(2.0, a.Length).ToArray();
        var bld = new GraphBuilder();
        var graph = bld.Build(bld.Input("a", dt, s).LogAddExp(bld.Input("b", dt, s)));
        var (y, grads) = new Tape(graph).Run(new Dictionary<string, Tensor> { ["a"] = Tensor.FromDoubles(dt, s, a), ["b"] = Tensor.FromDoubles(dt, s, b) },
            Tensor.FromDoubles(dt, s, g));
        var yv = y.ToDoubleArray();
        double[] ga = grads["a"].ToDoubleArray(), gb = grads["b"].ToDoubleArray();
        Assert.Equal(NegInf, yv[0]);
        Assert.Equal((0.0, 0.0), (ga[0], gb[0]));
        Assert.Equal(PosInf, yv[1]);
        Assert.Equal((1.0, 1.0), (ga[1], gb[1]));
        Assert.Equal(PosInf, yv[2]);
        Assert.Equal((2.0, 0.0), (ga[2], gb[2]));
        Assert.Equal(3.0, yv[3]);
        Assert.Equal((0.0, 2.0), (ga[3], gb[3]));
        Assert.True(double.IsNaN(yv[4]) && double.IsNaN(ga[4]) && double.IsNaN(gb[4]));
        double tol = FusedRun.Tol(dt);
        FusedRun.AssertClose([1e4 + 1 + double.LogP1(Math.Exp(-1)), 1e3, 3 + Math.Log(2)], yv[5..], tol, "logaddexp");
        FusedRun.AssertClose([2 / (1 + Math.E), 2, 1], ga[5..], tol, "d/da");
        FusedRun.AssertClose([2 * Math.E / (1 + Math.E), 0, 1], gb[5..], tol, "d/db");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void ZeroTargetOnNegativeInfinityLogitIsZeroTimesLogZero(DType dt)
    {
        var s = new Shape(2, 3);
        double[] z = [NegInf, 1, 2, 0.5, NegInf, -1];
        double[] p = [0, 0.25, 0.75, 1, 0, 0];
        var b = new GraphBuilder();
        var zi = b.Input("z", dt, s);
        var pi = b.Input("p", dt, s);
        var graph = b.Build(zi.SoftmaxCrossEntropy(pi, targetsSumToOne: true));
        var (loss, grads) = new Tape(graph).Run(new Dictionary<string, Tensor> { ["z"] = Tensor.FromDoubles(dt, s, z), ["p"] = Tensor.FromDoubles(dt, s, p) },
            Tensor.FromDoubles(dt, new Shape(2), [1, 1]));
        double lse0 = Math.Log(Math.Exp(1) + Math.Exp(2)), lse1 = Math.Log(Math.Exp(0.5) + Math.Exp(-1));
        FusedRun.AssertClose([lse0 - 0.25 - 1.5, lse1 - 0.5], loss.ToDoubleArray(), FusedRun.Tol(dt), "loss");
        var gz = grads["z"].ToDoubleArray();
        FusedRun.AssertAllFinite(gz, "d/dz");
        Assert.Equal(0.0, gz[0]);
        var gp = grads["p"].ToDoubleArray();
        FusedRun.AssertAllFinite(gp, "d/dp");
        FusedRun.AssertClose([Cap(dt), lse0 - 1, lse0 - 2, lse1 - 0.5, Cap(dt), lse1 + 1], gp, FusedRun.Tol(dt), "d/dp");

        // A positive target on a class of probability 0 costs +inf.
        var inf = new Tape(graph, []).Forward(new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.FromDoubles(dt, s, z),
            ["p"] = Tensor.FromDoubles(dt, s, [0.5, 0.5, 0, 1, 0, 0]),
        });
        Assert.Equal(PosInf, inf.GetDouble(0));
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void DistillationThroughMaskedClassesHasNoNaN(DType dt)
    {
        // p = softmax(teacher) with a masked (−inf) class that the student masks too: p_c = 0 exactly and the capped
        // d/dp_c times p_c = 0 keeps the teacher's gradient finite.
        var s = new Shape(2, 4);
        double[] teacher = [1, NegInf, 0.5, 2, NegInf, 0, 1, -1];
        double[] student = [0.3, NegInf, -0.2, 1, NegInf, 2, 0, 0.1];
        var b = new GraphBuilder();
        var tch = b.Input("teacher", dt, s);
        var stu = b.Input("student", dt, s);
        var graph = b.Build(stu.SoftmaxCrossEntropy(tch.Softmax(), targetsSumToOne: true).Mean());
        var (loss, grads) = new Tape(graph).Run(new Dictionary<string, Tensor>
        {
            ["teacher"] = Tensor.FromDoubles(dt, s, teacher),
            ["student"] = Tensor.FromDoubles(dt, s, student),
        });
        Assert.True(double.IsFinite(loss.GetDouble(0)));
        FusedRun.AssertAllFinite(grads["teacher"].ToDoubleArray(), "d/dteacher");
        FusedRun.AssertAllFinite(grads["student"].ToDoubleArray(), "d/dstudent");
        Assert.Equal(0.0, grads["teacher"].ToDoubleArray()[1]);
        Assert.Equal(0.0, grads["student"].ToDoubleArray()[1]);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void SparseLabelOnImpossibleClassCostsInfinity(DType dt)
    {
        var s = new Shape(2, 3);
        double[] z = [NegInf, 1, 2, 0, 1, NegInf];
        foreach (var (eps, expected) in new[] { (0.0, new[] { PosInf, Math.Log(1 + Math.E) - 1 }), (0.1, new[] { PosInf, PosInf }) })
        {
            var b = new GraphBuilder();
            var graph = b.Build(b.Input("z", dt, s).SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, 2), labelSmoothing: eps));
            var loss = new Tape(graph, []).Forward(new Dictionary<string, Tensor>
            {
                ["z"] = Tensor.FromDoubles(dt, s, z),
                ["t"] = Tensor.FromArray(new long[] { 0, 1 }, 2),
            });
            FusedRun.AssertClose(expected, loss.ToDoubleArray(), FusedRun.Tol(dt), $"eps={eps}");
        }
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void IgnoredRowsGiveZeroLossAndGradientWhateverTheirLogits(DType dt)
    {
        var s = new Shape(3, 3);
        double[] z = [double.NaN, PosInf, NegInf, 0, 1, 2, 1e30, -1e30, 0];
        var b = new GraphBuilder();
        var graph = b.Build(b.Input("z", dt, s).SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, 3), ignoreIndex: -100));
        var (loss, grads) = new Tape(graph, ["z"]).Run(new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.FromDoubles(dt, s, z),
            ["t"] = Tensor.FromArray(new long[] { -100, 2, -100 }, 3),
        }, Tensor.FromDoubles(dt, new Shape(3), [1, 1, 1]));
        var l = loss.ToDoubleArray();
        Assert.Equal(0.0, l[0]);
        Assert.Equal(0.0, l[2]);
        var g = grads["z"].ToDoubleArray();
        Assert.Equal([0, 0, 0], g[..3]);
        Assert.Equal([0, 0, 0], g[6..]);
        FusedRun.AssertClose([Math.Log(1 + Math.E + Math.E * Math.E) - 2], [l[1]], FusedRun.Tol(dt), "loss");
    }
}
