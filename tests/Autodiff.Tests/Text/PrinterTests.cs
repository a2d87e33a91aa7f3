using Autodiff.Text;

namespace Autodiff.Tests.Text;

public class PrinterTests
{
    private static (GraphBuilder B, Expr A, Expr Bv, Expr C) Abc(DType t = DType.F32)
    {
        var b = new GraphBuilder();
        return (b, b.Input("a", t, 2, 2), b.Input("b", t, 2, 2), b.Input("c", t, 2, 2));
    }

    private static string Expr1(Expr e) => Printer.PrintExpression(e.Node);

    [Fact]
    public void Infix_operators_get_minimal_parentheses()
    {
        var (_, a, b, c) = Abc();
        Assert.Equal("a - (b - c)", Expr1(a - (b - c)));
        Assert.Equal("a - b - c", Expr1(a - b - c));
        Assert.Equal("a + (b + c)", Expr1(a + (b + c)));
        Assert.Equal("(a + b) * c", Expr1((a + b) * c));
        Assert.Equal("a + b * c", Expr1(a + b * c));
        Assert.Equal("a / (b * c)", Expr1(a / (b * c)));
        Assert.Equal("a * b / c", Expr1(a * b / c));
        Assert.Equal("-(a + b)", Expr1(-(a + b)));
        Assert.Equal("-(a * b)", Expr1(-(a * b)));
        Assert.Equal("-a * b", Expr1(-a * b));
        Assert.Equal("a * -b", Expr1(a * -b));
        Assert.Equal("a - -b", Expr1(a - -b));
        Assert.Equal("(-a)^2", Expr1((-a).Pow(2)));
        Assert.Equal("-a^2", Expr1(-a.Pow(2)));
        Assert.Equal("-(-a)", Expr1(-(-a)));
        Assert.Equal("a^b^c", Expr1(a.Pow(b.Pow(c))));
        Assert.Equal("(a^b)^c", Expr1(a.Pow(b).Pow(c)));
        Assert.Equal("a^(b * c)", Expr1(a.Pow(b * c)));
        Assert.Equal("a^-b", Expr1(a.Pow(-b)));
        Assert.Equal("a @ b @ c", Expr1(a.MatMul(b).MatMul(c)));
        Assert.Equal("a @ (b @ c)", Expr1(a.MatMul(b.MatMul(c))));
        Assert.Equal("(a + b) @ c", Expr1((a + b).MatMul(c)));
        Assert.Equal("exp(a + b) * c", Expr1((a + b).Exp() * c));
        Assert.Equal("maximum(a - b, -c)", Expr1((a - b).Maximum(-c)));
    }

    [Fact]
    public void Constants_print_as_literals()
    {
        var (bld, a, _, _) = Abc();
        Assert.Equal("a + 1", Expr1(a + 1));
        Assert.Equal("a * 0.5", Expr1(a * 0.5));
        Assert.Equal("a + -1", Expr1(a + -1));
        Assert.Equal("a - -1", Expr1(a - -1));
        Assert.Equal("(-1)^a", Expr1(a.Const(-1).Pow(a)));
        Assert.Equal("2^a", Expr1(a.Const(2).Pow(a)));
        Assert.Equal("a^-1", Expr1(a.Pow(-1)));
        Assert.Equal("-(1)", Expr1(-a.Const(1)));
        Assert.Equal("-(-1)", Expr1(-a.Const(-1)));
        Assert.Equal("-(inf)", Expr1(-a.Const(double.PositiveInfinity)));
        Assert.Equal("a * inf + -inf", Expr1(a * double.PositiveInfinity + double.NegativeInfinity));
        Assert.Equal("a * nan", Expr1(a * double.NaN));
        Assert.Equal("a * 1E-07", Expr1(a * 1e-7));
        Assert.Equal("a + -0", Expr1(a + -0.0));
        Assert.Equal("1", Printer.PrintExpression(bld.Constant(1).Node));
        // f32 constants are rounded to float when built, and print in float precision.
        Assert.Equal("a * 0.1", Expr1(a * 0.1));
        Assert.Equal("a * 0.1", Expr1(a * 0.1f));
        TextAssert.RoundTrips(bld.Build(a * 0.1f + 1e-50));
    }

    [Fact]
    public void Calls_print_attributes_from_the_op()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 3, 4);
        var t = b.Input("t", DType.I64, 3);
        Assert.Equal("sum(x, axis=1, keepdims=true)", Expr1(x.Sum(1, keepDims: true)));
        Assert.Equal("mean(x)", Expr1(x.Mean()));
        Assert.Equal("max(x, keepdims=true)", Expr1(x.Max([0, 1], keepDims: true)));
        Assert.Equal("min(reshape(x, shape=(1, 3, 4)), axis=(1, 2))", Expr1(x.Reshape(1, 3, 4).Min([1, -1])));
        Assert.Equal("transpose(x, axes=(1, 0))", Expr1(x.Transpose()));
        Assert.Equal("reshape(x, shape=(2, 6))", Expr1(x.Reshape(2, 6)));
        Assert.Equal("reshape(x, shape=12)", Expr1(x.Reshape(12)));
        Assert.Equal("one_hot(t, 4, dtype=f32)", Expr1(t.OneHot(4)));
        Assert.Equal("take(x, t, axis=1)", Expr1(x.Take(t)));
        Assert.Equal("where(x, x, 0)", Expr1(Expr.Where(x, x, x.Const(0))));
    }

    [Fact]
    public void Shared_nodes_are_named_and_the_output_is_out()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2);
        var e = x.Exp();
        var g = b.Build(e * e + e.Log());
        Assert.Equal("input x: f32[2]\nt1 = exp(x)\nout = t1 * t1 + log(t1)\noutput out", Printer.Print(g));
        TextAssert.RoundTrips(g);
    }

    [Fact]
    public void Auto_names_skip_names_in_use()
    {
        var b = new GraphBuilder();
        var t1 = b.Input("t1", DType.F32, 2);
        var e = t1.Exp();
        var l = t1.Log();
        var names = new Dictionary<Node, string> { [l.Node] = "t2" };
        var g = b.Build(e * e + l * l, names);
        Assert.Equal("input t1: f32[2]\nt3 = exp(t1)\nt2 = log(t1)\nout = t3 * t3 + t2 * t2\noutput out", Printer.Print(g));
        TextAssert.RoundTrips(g);
    }

    [Fact]
    public void Output_that_is_an_input_or_constant_gets_a_line()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2);
        Assert.Equal("input x: f32[2]\nout = x\noutput out", Printer.Print(b.Build(x)));
        Assert.Equal("input x: f32[2]\nout = 2\noutput out", Printer.Print(b.Build(b.Constant(2))));
        TextAssert.RoundTrips(b.Build(x));
        TextAssert.RoundTrips(b.Build(b.Constant(2)));
    }

    [Fact]
    public void Invalid_or_clashing_names_are_made_usable()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2);
        var e = x.Exp();
        var l = e.Log();
        var g = b.Build(l + e.Sqrt(), new Dictionary<Node, string> { [e.Node] = "x", [l.Node] = "my name" });
        Assert.Equal("input x: f32[2]\nx2 = exp(x)\nmy_name = log(x2)\nout = my_name + sqrt(x2)\noutput out", Printer.Print(g));
        var h = b.Build(l, new Dictionary<Node, string> { [l.Node] = "inf" });
        Assert.Equal("input x: f32[2]\nout = log(exp(x))\noutput out", Printer.Print(h));
    }

    [Fact]
    public void Constants_whose_type_differs_from_the_context_are_explicit()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2);
        var y = b.Input("y", DType.F64, 2);
        var c64 = b.Constant(2, DType.F64);
        var c32 = b.Constant(3, DType.F32);
        var i = b.Constant(1, DType.I64);
        var k = c64 * b.Constant(3, DType.F64);
        var g = b.Build(y * 2 + k, new Dictionary<Node, string> { [k.Node] = "k" });
        // The default float type is f32 (the first float input), so a line made only of f64 literals spells their type.
        Assert.Equal("input x: f32[2]\ninput y: f64[2]\nk = constant(2, dtype=f64) * constant(3, dtype=f64)\nout = y * 2 + k\noutput out", Printer.Print(g));
        TextAssert.RoundTrips(g);
        TextAssert.RoundTrips(b.Build(c64));
        TextAssert.RoundTrips(b.Build(c32 * x));
        TextAssert.RoundTrips(b.Build(Expr.Where(i, y, c64 - c64)));
        Assert.Equal("constant(1, dtype=i64)", Printer.PrintExpression(i.Node));
    }

    [Fact]
    public void PrintAssignments_prints_several_results()
    {
        var g = Parser.Parse(ParserTests.Sample);
        var z = g.Input("z");
        var y = g.Input("y");
        var e = z.Expr.Exp();
        var grad = e * 2;
        string text = Printer.PrintAssignments(g.Inputs, [("grad_z", grad.Node), ("grad_y", y), ("again", grad.Node)], g.Names);
        Assert.Equal("""
            input z: f32[64, 10]
            input y: f32[64, 10] probs(axis=1)
            input t: i64[64] classes(10)
            e = exp(z)
            grad_z = e * 2
            grad_y = y
            again = grad_z
            """, text);
        var single = Printer.PrintAssignments([z], [("grad_z", grad.Node)]);
        Assert.Equal("input z: f32[64, 10]\ngrad_z = exp(z) * 2\noutput grad_z", single);
        // Inputs used by a result but not listed are declared too.
        Assert.Equal("input z: f32[64, 10]\nr = z\noutput r", Printer.PrintAssignments([], [("r", z)]));
    }

    [Fact]
    public void PrintExpression_inlines_everything()
    {
        var g = Parser.Parse(ParserTests.Sample);
        Assert.Equal("-mean(sum(y * log(exp(z) / sum(exp(z), axis=1, keepdims=true)), axis=1))", Printer.PrintExpression(g.Output));
        Assert.Equal("z", Printer.PrintExpression(g.Input("z")));
    }

    [Fact]
    public void PrintExpression_names_shared_nodes_when_the_expansion_explodes()
    {
        var b = new GraphBuilder();
        Expr x = b.Input("x", DType.F32, 2);
        for (int i = 0; i < 40; i++) x = x * x;
        var text = Printer.PrintExpression(x.Node);
        Assert.StartsWith("t1 = x * x\nt2 = t1 * t1\n", text);
        Assert.EndsWith("\nt39 * t39", text);
    }

    [Fact]
    public void Printing_a_graph_with_symbolic_gradients_round_trips()
    {
        var g = Parser.Parse(ParserTests.Sample);
        var grads = SymbolicGradient.Of(g);
        var results = grads.Select(kv => ("grad_" + kv.Key, kv.Value.Node)).ToList();
        var text = Printer.PrintAssignments(g.Inputs, results, g.Names);
        Assert.Contains("grad_z = ", text);
        foreach (var (name, node) in results)
        {
            var single = g.Builder.Build(node, g.Names);
            TextAssert.RoundTrips(single);
        }
    }
}
