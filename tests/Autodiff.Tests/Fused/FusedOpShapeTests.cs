namespace Autodiff.Tests.Fused;

/// <summary>Shape rules, error messages, attributes and hash-consing of the fused ops.</summary>
public class FusedOpShapeTests
{
    private static Dictionary<string, Tensor> Inputs(params (string, Tensor)[] xs) => xs.ToDictionary(p => p.Item1, p => p.Item2);

    [Theory]
    [InlineData("softmax-axis", "softmax", "[2, 3, 4]")]
    [InlineData("log_softmax-axis", "log_softmax", "[2, 3, 4]")]
    [InlineData("logsumexp-axis", "logsumexp", "[2, 3, 4]")]
    [InlineData("sce-targets-shape", "softmax_cross_entropy", "[2, 3, 4]")]
    [InlineData("sce-targets-dtype", "softmax_cross_entropy", "f64")]
    [InlineData("sce-weights-shape", "softmax_cross_entropy", "[3]")]
    [InlineData("sce-smoothing", "softmax_cross_entropy", "label_smoothing")]
    [InlineData("sce-axis", "softmax_cross_entropy", "[2, 3, 4]")]
    [InlineData("sparse-labels-shape", "sparse_softmax_cross_entropy", "[2, 3, 4]")]
    [InlineData("sparse-labels-dtype", "sparse_softmax_cross_entropy", "i64")]
    [InlineData("sparse-weights-shape", "sparse_softmax_cross_entropy", "[4]")]
    [InlineData("sparse-smoothing", "sparse_softmax_cross_entropy", "label_smoothing")]
    [InlineData("logaddexp-broadcast", "logaddexp", "[2, 3, 4]")]
    [InlineData("logaddexp-dtype", "logaddexp", "f64")]
    public void BadOperandsNameTheOpAndShapes(string which, string op, string mention)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2, 3, 4);
        var p = b.Input("p", DType.F32, 2, 3, 4);
        var before = b.NodeCount;
        Action act = which switch
        {
            "softmax-axis" => () => x.Softmax(3),
            "log_softmax-axis" => () => x.LogSoftmax(-4),
            "logsumexp-axis" => () => x.LogSumExp(5),
            "sce-targets-shape" => () => x.SoftmaxCrossEntropy(b.Input("q", DType.F32, 2, 3)),
            "sce-targets-dtype" => () => x.SoftmaxCrossEntropy(b.Input("q", DType.F64, 2, 3, 4)),
            "sce-weights-shape" => () => x.SoftmaxCrossEntropy(p, weights: b.Input("w", DType.F32, 3)),
            "sce-smoothing" => () => x.SoftmaxCrossEntropy(p, labelSmoothing: 1.5),
            "sce-axis" => () => x.SoftmaxCrossEntropy(p, axis: 3),
            "sparse-labels-shape" => () => x.SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, 2, 4)),
            "sparse-labels-dtype" => () => x.SparseSoftmaxCrossEntropy(b.Input("t", DType.F32, 2, 3)),
            "sparse-weights-shape" => () => x.SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, 2, 3), weights: b.Input("w", DType.F32, 3)),
            "sparse-smoothing" => () => x.SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, 2, 3), labelSmoothing: -0.1),
            "logaddexp-broadcast" => () => x.LogAddExp(b.Input("y", DType.F32, 2, 4)),
            _ => () => x.LogAddExp(b.Input("y", DType.F64, 2, 3, 4)),
        };
        int inputsMade = which is "softmax-axis" or "log_softmax-axis" or "logsumexp-axis" or "sce-smoothing" or "sce-axis" ? 0
            : which.StartsWith("sparse-weights", StringComparison.Ordinal) ? 2 : 1;
        var ex = Assert.ThrowsAny<AutodiffException>(act);
        Assert.Contains(op, ex.Message);
        Assert.Contains(mention, ex.Message);
        Assert.Equal(before + inputsMade, b.NodeCount);
    }

    [Fact]
    public void NonContiguousLogSumExpAxesAreAcceptedLikeSum()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 2, 3, 4);
        Assert.Equal(new Shape(3), x.LogSumExp([2, 0]).Shape);
        Assert.Equal(new Shape(1, 3, 1), x.LogSumExp([0, 2], keepDims: true).Shape);
        Assert.Equal(new Shape(2), x.LogSumExp([2, 1]).Shape);
        Assert.Equal(Shape.Scalar, x.LogSumExp().Shape);
        Assert.Throws<ShapeException>(() => b.Make(new LogSumExpOp(new IntList(2, 1), false), x.Node));
        // against log(sum(exp(x))) over the same axes, value and gradient, at a scale where exp does not overflow
        var values = Tensor.RandomNormal(DType.F64, new Shape(2, 3, 4), new Random(4));
        var cot = Tensor.RandomNormal(DType.F64, new Shape(1, 3, 1), new Random(5));
        var (v1, g1) = new Tape(b.Build(x.LogSumExp([0, 2], keepDims: true))).Run(new Dictionary<string, Tensor> { ["x"] = values }, cot);
        var y1 = v1.ToDoubleArray();
        var gx1 = g1["x"].ToDoubleArray();
        var (v2, g2) = new Tape(b.Build(x.Exp().Sum([0, 2], keepDims: true).Log())).Run(new Dictionary<string, Tensor> { ["x"] = values }, cot);
        for (int i = 0; i < y1.Length; i++) Assert.Equal(v2.GetDouble(i), y1[i], 12);
        for (int i = 0; i < gx1.Length; i++) Assert.Equal(g2["x"].GetDouble(i), gx1[i], 12);
    }

    [Theory]
    [InlineData(1, new long[] { 0, 7, 1 }, "index 7 at position [1] is out of range [0, 5)", new[] { 3, 5 }, 1)]
    [InlineData(-100, new long[] { -100, 4, -1 }, "index -1 at position [2] is out of range [0, 5)", new[] { 3, 5 }, 1)]
    [InlineData(1, new long[] { 0, 1, 2, 3, 4, 5 }, "index 5 at position [1, 2] is out of range [0, 5)", new[] { 5, 2, 3 }, 0)]
    public void OutOfRangeLabelIsAnErrorNamingTheIndexAndPosition(int ignore, long[] labels, string message, int[] shape, int axis)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F32, shape);
        var rows = shape.Where((_, i) => i != axis).ToArray();
        var t = b.Input("t", DType.I64, rows);
        var tape = new Tape(b.Build(z.SparseSoftmaxCrossEntropy(t, axis, ignore == 1 ? null : ignore).Sum()));
        var ex = Assert.Throws<AutodiffException>(() => tape.Forward(Inputs(
            ("z", Tensor.Zeros(DType.F32, shape)),
            ("t", Tensor.FromArray(labels, rows)))));
        Assert.Equal($"sparse_softmax_cross_entropy: {message}", ex.Message);
    }

    [Fact]
    public void IgnoreIndexInsideTheClassRangeIgnoresThatClass()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 3, 4);
        var t = b.Input("t", DType.I64, 3);
        var tape = new Tape(b.Build(z.SparseSoftmaxCrossEntropy(t, ignoreIndex: 2)), ["z"]);
        var (loss, g) = tape.Run(Inputs(("z", Tensor.RandomNormal(DType.F64, new(3, 4), new Random(1))), ("t", Tensor.FromArray(new long[] { 2, 0, 2 }, 3))),
            Tensor.FromDoubles(DType.F64, new Shape(3), [1, 1, 1]));
        Assert.Equal(0.0, loss.GetDouble(0));
        Assert.True(loss.GetDouble(1) > 0);
        Assert.Equal(0.0, loss.GetDouble(2));
        Assert.All(g["z"].ToDoubleArray().Take(4).Concat(g["z"].ToDoubleArray().Skip(8)), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void AxesAreStoredResolvedSoNegativeAndPositiveAxesShareANode()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2, 3);
        var p = b.Input("p", DType.F32, 2, 3);
        var t = b.Input("t", DType.I64, 2);
        Assert.Same(x.Softmax().Node, x.Softmax(1).Node);
        Assert.Same(x.LogSoftmax(-2).Node, x.LogSoftmax(0).Node);
        Assert.Same(x.LogSumExp(-1).Node, x.LogSumExp([1]).Node);
        Assert.Same(x.LogSumExp().Node, x.LogSumExp([1, 0]).Node);
        Assert.Same(x.SoftmaxCrossEntropy(p).Node, x.SoftmaxCrossEntropy(p, 1).Node);
        Assert.Same(x.SparseSoftmaxCrossEntropy(t).Node, x.SparseSoftmaxCrossEntropy(t, 1).Node);
        Assert.NotSame(x.SoftmaxCrossEntropy(p).Node, x.SoftmaxCrossEntropy(p, targetsSumToOne: true).Node);
        Assert.NotSame(x.SparseSoftmaxCrossEntropy(t).Node, x.SparseSoftmaxCrossEntropy(t, ignoreIndex: -100).Node);
        Assert.Equal(new SoftmaxCrossEntropyOp(1), x.SoftmaxCrossEntropy(p).Node.Op);
        Assert.Equal(new SparseSoftmaxCrossEntropyOp(1, -100, 0.1), x.SparseSoftmaxCrossEntropy(t, -1, -100, 0.1).Node.Op);
    }

    [Fact]
    public void EveryFusedOpIsMarkedFusedAndPrintsItsAttributes()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2, 3, 4);
        var p = b.Input("p", DType.F32, 2, 3, 4);
        var w = b.Input("w", DType.F32, 3);
        var t = b.Input("t", DType.I64, 2, 4);
        (string, string?)[] Attrs(Expr e) => e.Node.Op.Attributes(e.Node).Select(a => (a.Value, a.Name)).ToArray();
        void Is(Expr e, string name, params (string Value, string? Name)[] attrs)
        {
            Assert.True(e.Node.Op.IsFused, name);
            Assert.Equal(name, e.Node.Op.Name);
            Assert.Equal(attrs, Attrs(e));
        }
        Is(x.Softmax(), "softmax", ("2", "axis"));
        Is(x.LogSoftmax(0), "log_softmax", ("0", "axis"));
        Is(x.LogSumExp(), "logsumexp");
        Is(x.LogSumExp([1, 2], keepDims: true), "logsumexp", ("(1, 2)", "axis"), ("true", "keepdims"));
        Is(x.SoftmaxCrossEntropy(p, 1), "softmax_cross_entropy", ("1", "axis"));
        Is(x.SoftmaxCrossEntropy(p, 1, true, 0.1, w), "softmax_cross_entropy", ("1", "axis"), ("true", "normalized"), ("0.1", "label_smoothing"));
        Is(x.SparseSoftmaxCrossEntropy(t, 1), "sparse_softmax_cross_entropy", ("1", "axis"));
        Is(x.SparseSoftmaxCrossEntropy(t, 1, -100, 0.25, w), "sparse_softmax_cross_entropy", ("1", "axis"), ("-100", "ignore_index"), ("0.25", "label_smoothing"));
        Is(x.LogAddExp(p), "logaddexp");
        Assert.Equal("weights", ((SoftmaxCrossEntropyOp)x.SoftmaxCrossEntropy(p, 1, weights: w).Node.Op).OperandName(2));
        Assert.Null(((SparseSoftmaxCrossEntropyOp)x.SparseSoftmaxCrossEntropy(t, 1).Node.Op).OperandName(1));
        var oh = t.OneHot(3, DType.F64, -100);
        Assert.False(oh.Node.Op.IsFused);
        Assert.Equal([("3", (string?)null), ("f64", "dtype"), ("-100", "ignore_index")], Attrs(oh));
        Assert.Equal(new Shape(2, 4), x.SoftmaxCrossEntropy(p, 1, weights: w).Shape);
        Assert.Equal(new Shape(2, 3), x.SoftmaxCrossEntropy(p).Shape);
        Assert.Equal(new Shape(2, 4), x.SparseSoftmaxCrossEntropy(t, 1).Shape);
    }

    [Fact]
    public void WeightsAndLabelsCarryNoGradient()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 4, 3);
        var p = b.Input("p", DType.F64, 4, 3);
        var w = b.Input("w", DType.F64, 3);
        var t = b.Input("t", DType.I64, 4);
        var dense = z.SoftmaxCrossEntropy(p, weights: w).Node;
        var sparse = z.SparseSoftmaxCrossEntropy(t, weights: w).Node;
        Assert.Equal([true, true, false], Enumerable.Range(0, 3).Select(i => dense.Op.IsDifferentiable(dense, i)));
        Assert.Equal([true, false, false], Enumerable.Range(0, 3).Select(i => sparse.Op.IsDifferentiable(sparse, i)));
        var tape = new Tape(b.Build((z.SoftmaxCrossEntropy(p, weights: w) + z.SparseSoftmaxCrossEntropy(t, weights: w)).Sum()));
        var (_, g) = tape.Run(Inputs(
            ("z", Tensor.RandomNormal(DType.F64, new(4, 3), new Random(1))),
            ("p", Tensor.Full(DType.F64, new(4, 3), 0.3)),
            ("w", Tensor.Full(DType.F64, new(3), 2)),
            ("t", Tensor.FromArray(new long[] { 0, 1, 2, 1 }, 4))));
        Assert.All(g["w"].ToDoubleArray(), v => Assert.Equal(0.0, v));
    }

    [Fact]
    public void ToDTypeKeepsTheFusedOps()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F32, 4, 3);
        var t = b.Input("t", DType.I64, 4);
        var g = b.Build(z.SparseSoftmaxCrossEntropy(t, ignoreIndex: -1, labelSmoothing: 0.1).Mean() + z.LogSumExp().LogAddExp(z.Softmax(0).Sum()));
        var g64 = g.ToDType(DType.F64);
        Assert.Equal(DType.F64, g64.Output.DType);
        Assert.Equal(g.Nodes().Count(n => n.Op.IsFused), g64.Nodes().Count(n => n.Op.IsFused));
        Assert.Contains(g64.Nodes(), n => n.Op == new SparseSoftmaxCrossEntropyOp(1, -1, 0.1));
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(1, 70, 33)]
    [InlineData(3, 5, 64)]
    [InlineData(2, 33, 1)]
    [InlineData(4, 1, 7)]
    [InlineData(1, 300, 130)]
    public void PackMovesTheMiddleAxisLastAndUnpackInvertsIt(int outer, int n, int inner)
    {
        int size = outer * n * inner;
        var src = Enumerable.Range(0, size).Select(i => (double)i).ToArray();
        var packed = new double[size];
        Autodiff.Kernels.SoftmaxCrossEntropy.Pack(src, outer, n, inner, packed);
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < n; j++)
                for (int i = 0; i < inner; i++)
                    Assert.Equal(src[(o * n + j) * inner + i], packed[(o * inner + i) * n + j]);
        var back = new double[size];
        Autodiff.Kernels.SoftmaxCrossEntropy.Unpack(packed, outer, n, inner, back, accumulate: false);
        Assert.Equal(src, back);
        Autodiff.Kernels.SoftmaxCrossEntropy.Unpack(packed, outer, n, inner, back, accumulate: true);
        Assert.Equal(src.Select(v => 2 * v), back);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void LogSumExpOfAScalarIsTheScalarWithGradientOne(DType dt)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", dt);
        var y = x.LogSumExp();
        Assert.Equal(Shape.Scalar, y.Shape);
        var (v, g) = new Tape(b.Build(y)).Run(Inputs(("x", Tensor.Scalar(2.5, dt))));
        Assert.Equal(2.5, v.GetDouble(0));
        Assert.Equal(1.0, g["x"].GetDouble(0));
        Assert.Throws<ShapeException>(() => x.Softmax());
    }

    [Fact]
    public void MaskedOneHotGivesZeroRowsForTheIgnoredLabelAndRejectsOthersOutOfRange()
    {
        var b = new GraphBuilder();
        var t = b.Input("t", DType.I64, 2, 2);
        var tape = new Tape(b.Build(t.OneHot(3, DType.F64, -100)), []);
        var y = tape.Forward(Inputs(("t", Tensor.FromArray(new long[] { 2, -100, 0, 1 }, 2, 2))));
        Assert.Equal(new Shape(2, 2, 3), y.Shape);
        Assert.Equal([0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0], y.ToDoubleArray());
        var ex = Assert.Throws<AutodiffException>(() => tape.Forward(Inputs(("t", Tensor.FromArray(new long[] { 2, -100, 3, 1 }, 2, 2)))));
        Assert.Equal("one_hot: index 3 at position [1, 0] is out of range [0, 3)", ex.Message);
        Assert.Same(t.OneHot(3, DType.F64, -100).Node, t.OneHot(3, DType.F64, -100).Node);
        Assert.Equal(DType.F32, b.Build(t.OneHot(3, DType.F64, -100)).ToDType(DType.F32).Output.DType);
    }
}
