using Autodiff.Rewrite;

namespace Autodiff.Tests.Training;

/// <summary>The everyday API: scalar access, factories from rectangular arrays, readable ToString of tensors, expressions
/// and simplify results, dtype defaults that follow the graph, fact factories and error messages that list what works.</summary>
public class ApiPolishTests
{
    [Fact]
    public void ItemReadsAOneElementTensor()
    {
        Assert.Equal(2.5, Tensor.Scalar(2.5).Item());
        Assert.Equal(3f, Tensor.FromArray(new[] { 3f }, 1, 1).Item<float>());
        Assert.Equal("tensor: Item() needs a tensor of one element, not f64[2] (2 elements)", Assert.Throws<AutodiffException>(() => Tensor.Zeros(DType.F64, 2).Item()).Message);
    }

    [Fact]
    public void FactoriesFromRectangularArraysKeepRowMajorOrder()
    {
        var t = Tensor.FromArray(new float[,] { { 1, 2, 3 }, { 4, 5, 6 } });
        Assert.Equal((DType.F32, new Shape(2, 3)), (t.DType, t.Shape));
        Assert.Equal(6, t[1, 2]);
        Assert.Equal(2, t[0, 1]);
        var d = Tensor.FromArray(new double[,,] { { { 1, 2 } }, { { 3, 4 } } });
        Assert.Equal((DType.F64, new Shape(2, 1, 2)), (d.DType, d.Shape));
        Assert.Equal([1.0, 2, 3, 4], d.ToDoubleArray());
    }

    [Fact]
    public void UnsupportedElementTypesAreListed()
    {
        var e = Assert.Throws<AutodiffException>(() => Tensor.FromArray(new[] { 1, 2, 3 }, 3));
        Assert.Equal("tensor: elements of type Int32 are not supported; use float (f32), double (f64) or long (i64), e.g. Array.ConvertAll(data, x => (long)x) for class indices", e.Message);
    }

    [Fact]
    public void BigTensorsPrintSummarized()
    {
        var big = Tensor.Zeros(DType.F32, 1000, 1000);
        for (int i = 0; i < big.Size; i++) big.Span<float>()[i] = i % 1000;
        string s = big.ToString();
        Assert.Equal("[[0, 1, 2, ..., 997, 998, 999], [0, 1, 2, ..., 997, 998, 999], [0, 1, 2, ..., 997, 998, 999], ..., [0, 1, 2, ..., 997, 998, 999], [0, 1, 2, ..., 997, 998, 999], [0, 1, 2, ..., 997, 998, 999]] f32[1000, 1000]", s);
        var small = Tensor.FromArray(new[] { 1.0, 2, 3, 4 }, 2, 2);
        Assert.Equal("[[1, 2], [3, 4]]", small.ToString());
        Assert.Equal(small.ToString(), small.ToFullString());
    }

    [Fact]
    public void ExprPrintsTheExpressionAndResultsSummarize()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 1, 3);
        Assert.Equal("exp(z)", z.Exp().ToString());
        Assert.Equal("exp: f64[1, 3]", z.Exp().Node.ToString());
        var e = z.Exp();
        var r = Simplifier.Simplify(b.Build((e / e.Sum(1, keepDims: true)).Log().Sum()));
        string text = r.ToString();
        Assert.StartsWith($"{r.Rewrites.Count} rewrites (", text);
        Assert.Contains("; fused: log_softmax; stopped: saturated after", text);
        Assert.EndsWith(r.After.ToString(), text);
    }

    [Fact]
    public void DefaultsFollowTheGraphsFloatType()
    {
        var b = new GraphBuilder();
        b.Input("x", DType.F64, 2);
        var t = b.Input("t", DType.I64, new Shape(2), InputFacts.ClassIndices(3));
        Assert.Equal(DType.F64, t.OneHot(3).DType);
        Assert.Equal(DType.F32, t.OneHot(3, DType.F32).DType);
        Assert.Equal(DType.F64, b.Constant(1.5).DType);
        Assert.Equal(DType.F32, new GraphBuilder().Constant(1.5).DType);   // no float input: f32, as a literal in the language
        Assert.Equal(DType.F64, Tensor.Scalar(1.5).DType);                  // no graph: a C# double
    }

    [Fact]
    public void PositiveFactAndInputOverload()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, InputFacts.Positive(), 2, 3);
        Assert.Equal(new Shape(2, 3), x.Shape);
        Assert.True(((InputOp)x.Node.Op).Facts.IsPositive);
        Assert.Equal("positive", InputFacts.Positive().ToString());
        Assert.Null(Facts.Positive(x.Node));
    }
}
