using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Numerics;

/// <summary>The expression language speaks non-finite numbers (<c>inf</c>, <c>nan</c>, <c>-inf</c> by negation): programs
/// using them parse, print back to text that parses to the same graph, and evaluate to the same values before and after
/// printing and simplification. And constants take the element type of the expression they join.</summary>
public class LanguageNumericsTests
{
    public static TheoryData<string, double[], double[]> Programs() => new()
    {
        // program over x: f64[3] = [-1, 0, 2], expected value
        { "y = minimum(x, inf) + maximum(x, -inf)", [-1, 0, 2], [-2, 0, 4] },
        { "y = x * nan", [-1, 0, 2], [double.NaN, double.NaN, double.NaN] },
        { "y = x + -inf", [-1, 0, 2], [double.NegativeInfinity, double.NegativeInfinity, double.NegativeInfinity] },
        { "y = exp(x - inf) + x", [-1, 0, 2], [-1, 0, 2] },
        { "y = where(x, x, -inf)", [-1, 0, 2], [-1, double.NegativeInfinity, 2] },
        { "y = softmax(where(x, x, -inf), axis=0)", [-1, 0, 2], [Math.Exp(-1) / (Math.Exp(-1) + Math.Exp(2)), 0, Math.Exp(2) / (Math.Exp(-1) + Math.Exp(2))] },
        { "y = logsumexp(x * 0 - inf, axis=0, keepdims=true) + x", [-1, 0, 2], [double.NegativeInfinity, double.NegativeInfinity, double.NegativeInfinity] },
        { "y = -(inf) * x", [-1, 0, 2], [double.PositiveInfinity, double.NaN, double.NegativeInfinity] },
        { "c = inf - inf\ny = x + c", [-1, 0, 2], [double.NaN, double.NaN, double.NaN] },
        { "y = x + constant(-inf, dtype=f64) * 0 + constant(nan, dtype=f64)", [-1, 0, 2], [double.NaN, double.NaN, double.NaN] },
    };

    [Theory]
    [MemberData(nameof(Programs))]
    public void NonFiniteLiteralsParsePrintAndEvaluate(string body, double[] x, double[] expected)
    {
        foreach (var dt in new[] { DType.F32, DType.F64 })
        {
            var g = Parser.Parse("input x: f64[3]\n" + body);
            if (dt != DType.F64) g = g.ToDType(dt);
            var text = Printer.Print(g);
            var again = Parser.Parse(text);
            Assert.Equal(text, Printer.Print(again));
            var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.FromDoubles(dt, new Shape(3), x) };
            foreach (var graph in new[] { g, again, Simplifier.Simplify(g).After })
                EdgeRunner.AssertClose(expected, new Tape(graph, []).Forward(inputs).ToDoubleArray(), EdgeRunner.Tol(dt), $"{body} ({dt.Name()})\n{Printer.Print(graph)}");
        }
    }

    [Fact]
    public void NonFiniteConstantsPrintAsLiterals()
    {
        var g = Parser.Parse("input x: f64[3]\ny = maximum(x, -inf) * nan + inf");
        var text = Printer.Print(g);
        Assert.Contains("-inf", text);
        Assert.Contains("nan", text);
        Assert.Contains(" + inf", text);
        var constants = g.Nodes().Where(n => n.Op is ConstantOp).Select(n => ((ConstantOp)n.Op).Value).ToArray();
        Assert.Contains(double.NegativeInfinity, constants);
        Assert.Contains(double.PositiveInfinity, constants);
        Assert.Contains(constants, double.IsNaN);
    }

    /// <summary>Literals and C# scalars take the element type of the expression they join, in either float type, so no
    /// program mixes f32 and f64 silently.</summary>
    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void ConstantsTakeTheTypeOfTheExpressionTheyJoin(DType dt)
    {
        var g = Parser.Parse($"input a: {dt.Name()}[2]\ny = a * 0.1 + 1e-3 - inf * 0 + exp(-a / 3)");
        Assert.All(g.Nodes(), n => Assert.Equal(dt, n.DType));

        var b = new GraphBuilder();
        var a = b.Input("a", dt, 2);
        var e = (a * 0.1 + 1e-3) / 3 - 2.5 * a;
        Assert.All(b.Build(e).Nodes(), n => Assert.Equal(dt, n.DType));

        // A literal's value is rounded to the expression's type: 0.1 in f32 is 0.1f.
        var c = g.Nodes().Select(n => n.Op).OfType<ConstantOp>().Single(k => Math.Abs(k.Value - 0.1) < 1e-6);
        Assert.Equal(dt == DType.F32 ? (double)0.1f : 0.1, c.Value);

        // Converting the program keeps every constant in step with its expression.
        var other = dt == DType.F32 ? DType.F64 : DType.F32;
        Assert.All(g.ToDType(other).Nodes(), n => Assert.Equal(other, n.DType));
    }

    [Fact]
    public void MixingF32AndF64InTheBuilderIsAnErrorNamingTheOp()
    {
        var b = new GraphBuilder();
        var a = b.Input("a", DType.F32, 2);
        var d = b.Input("d", DType.F64, 2);
        Assert.Equal("add: operands have different element types: f32[2] and f64[2]", Assert.Throws<ShapeException>(() => a + d).Message);
        Assert.StartsWith("mul: operands have different element types", Assert.Throws<ShapeException>(() => a * b.Constant(2, DType.F64)).Message);
        Assert.StartsWith("matmul: operands have different element types",
            Assert.Throws<ShapeException>(() => a.Reshape(1, 2).MatMul(d.Reshape(2, 1))).Message);
        Assert.StartsWith("logaddexp: operands have different element types", Assert.Throws<ShapeException>(() => a.LogAddExp(d)).Message);
    }
}
