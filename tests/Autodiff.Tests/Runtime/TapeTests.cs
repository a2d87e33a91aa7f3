namespace Autodiff.Tests.Runtime;

public class TapeTests
{
    private static Dictionary<string, Tensor> Inputs(params (string, Tensor)[] xs) => xs.ToDictionary(p => p.Item1, p => p.Item2);

    [Fact]
    public void HandWrittenSoftmaxCrossEntropyGradientIsQMinusPOverN()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 8, 5);
        var y = b.Input("y", DType.F64, new Shape(8, 5), InputFacts.Probs(1));
        var e = z.Exp();
        var q = e / e.Sum(1, keepDims: true);
        var loss = -(y * q.Log()).Sum(1).Mean();
        var tape = new Tape(b.Build(loss), ["z"]);
        var rng = new Random(1);
        var zv = Tensor.RandomNormal(DType.F64, z.Shape, rng);
        var yv = Tensor.Zeros(DType.F64, 8, 5);
        for (int r = 0; r < 8; r++)
        {
            var w = Enumerable.Range(0, 5).Select(_ => rng.NextDouble()).ToArray();
            for (int c = 0; c < 5; c++) yv.SetDouble(r * 5 + c, w[c] / w.Sum());
        }
        var (value, grads) = tape.Run(Inputs(("z", zv), ("y", yv)));
        double expectedLoss = 0;
        for (int r = 0; r < 8; r++)
        {
            var row = Enumerable.Range(0, 5).Select(c => zv[r, c]).ToArray();
            double lse = Math.Log(row.Sum(Math.Exp));
            for (int c = 0; c < 5; c++)
            {
                double qv = Math.Exp(row[c] - lse);
                Assert.Equal((qv - yv[r, c]) / 8, grads["z"][r, c], 12);
                expectedLoss -= yv[r, c] * (row[c] - lse) / 8;
            }
        }
        Assert.Equal(expectedLoss, value.GetDouble(0), 12);
    }

    [Fact]
    public void FanOutSumsGradients()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 3);
        var f = (x * x + x.Exp() * x).Sum();   // d/dx = 2x + e^x + x e^x
        var tape = new Tape(b.Build(f));
        var xv = Tensor.FromArray(new[] { 0.5, -1.0, 2.0 }, 3);
        var (_, g) = tape.Run(Inputs(("x", xv)));
        for (int i = 0; i < 3; i++)
        {
            double v = xv.GetDouble(i);
            Assert.Equal(2 * v + Math.Exp(v) + v * Math.Exp(v), g["x"].GetDouble(i), 12);
        }
    }

    [Fact]
    public void HashConsingReturnsTheSameNode()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2, 3);
        Assert.Same(x.Exp().Sum(1).Node, x.Exp().Sum(-1).Node);
        Assert.Same((x + 1).Node, (x + 1).Node);
        Assert.NotSame((x + 1).Node, (x + 2).Node);
    }

    [Fact]
    public void GraphCanBeEvaluatedManyTimesWithNewValues()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 4);
        var tape = new Tape(b.Build((x * x).Sum()));
        for (int k = 1; k <= 3; k++)
        {
            var (v, g) = tape.Run(Inputs(("x", Tensor.Full(DType.F32, new Shape(4), k))));
            Assert.Equal(4.0 * k * k, v.GetDouble(0), 5);
            Assert.All(g["x"].ToDoubleArray(), d => Assert.Equal(2.0 * k, d, 5));
        }
    }

    [Fact]
    public void VectorJacobianProductForNonScalarOutput()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 2, 3);
        var tape = new Tape(b.Build(x.Exp()));
        var xv = Tensor.RandomNormal(DType.F64, x.Shape, new Random(3));
        var cot = Tensor.RandomNormal(DType.F64, x.Shape, new Random(4));
        tape.Forward(Inputs(("x", xv)));
        var g = tape.Backward(cot);
        for (int i = 0; i < 6; i++) Assert.Equal(cot.GetDouble(i) * Math.Exp(xv.GetDouble(i)), g["x"].GetDouble(i), 12);
        Assert.Throws<AutodiffException>(() => tape.Backward());
    }

    [Fact]
    public void SymbolicGradientAgreesWithTape()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 4, 3);
        var e = z.Exp();
        var loss = (e / e.Sum(1, keepDims: true)).Log().Max(1).Mean();
        var graph = b.Build(loss);
        var zv = Tensor.RandomNormal(DType.F64, z.Shape, new Random(5));
        var (_, g) = new Tape(graph).Run(Inputs(("z", zv)));
        var sym = SymbolicGradient.Of(graph)["z"];
        var v = new Tape(graph.WithOutput(sym.Node), []).Forward(Inputs(("z", zv)));
        for (int i = 0; i < v.Size; i++) Assert.Equal(g["z"].GetDouble(i), v.GetDouble(i), 12);
    }

    [Theory]
    [InlineData("matmul")]
    [InlineData("add")]
    [InlineData("sum")]
    [InlineData("reshape")]
    [InlineData("take")]
    [InlineData("input")]
    public void BadInputNamesTheOpAndShapes(string op)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2, 3);
        var t = b.Input("t", DType.I64, 3);
        var before = b.NodeCount;
        Action act = op switch
        {
            "matmul" => () => x.MatMul(x),
            "add" => () => _ = x + b.Input("w", DType.F32, 4),
            "sum" => () => x.Sum(2),
            "reshape" => () => x.Reshape(4, 2),
            "take" => () => x.Take(t, 1),
            _ => () => b.Input("x", DType.F64, 2),
        };
        var ex = Assert.ThrowsAny<AutodiffException>(act);
        Assert.Contains(op == "input" ? "'x'" : op, ex.Message);
        if (op != "add") Assert.Equal(before, b.NodeCount);
        if (op is "matmul" or "reshape" or "take") Assert.Contains("[2, 3]", ex.Message);
    }

    [Fact]
    public void OutOfRangeClassIndexIsAnErrorNamingTheIndex()
    {
        var b = new GraphBuilder();
        var t = b.Input("t", DType.I64, 3);
        var tape = new Tape(b.Build(t.OneHot(4, DType.F64).Sum()), []);
        var ex = Assert.Throws<AutodiffException>(() => tape.Forward(Inputs(("t", Tensor.FromArray(new long[] { 0, 7, 1 }, 3)))));
        Assert.Contains("one_hot: index 7 at position [1] is out of range [0, 4)", ex.Message);
    }

    [Fact]
    public void MixingFloatTypesIsAnError()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2);
        var y = b.Input("y", DType.F64, 2);
        var ex = Assert.Throws<ShapeException>(() => x + y);
        Assert.Contains("add", ex.Message);
        Assert.Equal(DType.F64, (y + 1).DType);
        Assert.Equal(DType.F32, (1 + x).DType);
    }
}
