using Autodiff.Text;

namespace Autodiff.Tests.Text;

public class ParserTests
{
    internal const string Sample = """
        # softmax cross-entropy, written out by hand
        input z: f32[64, 10]
        input y: f32[64, 10] probs(axis=1)      # fact: y >= 0 and rows sum to 1
        input t: i64[64] classes(10)            # class indices in [0, 10)
        e = exp(z)
        q = e / sum(e, axis=1, keepdims=true)
        loss = -mean(sum(y * log(q), axis=1))
        output loss                             # optional: default is the last assignment
        """;

    internal const string Canonical = """
        input z: f32[64, 10]
        input y: f32[64, 10] probs(axis=1)
        input t: i64[64] classes(10)
        e = exp(z)
        q = e / sum(e, axis=1, keepdims=true)
        loss = -mean(sum(y * log(q), axis=1))
        output loss
        """;

    [Fact]
    public void Sample_builds_the_expected_nodes()
    {
        var g = Parser.Parse(Sample);
        Assert.Equal(3, g.Inputs.Count);
        var z = g.Input("z");
        var y = g.Input("y");
        var t = g.Input("t");
        Assert.Equal(new Shape(64, 10), z.Shape);
        Assert.Equal(InputFacts.Probs(1), ((InputOp)y.Op).Facts);
        Assert.Equal(DType.I64, t.DType);
        Assert.Equal(InputFacts.ClassIndices(10), ((InputOp)t.Op).Facts);

        var loss = g.Output;
        Assert.IsType<NegOp>(loss.Op);
        Assert.Equal(Shape.Scalar, loss.Shape);
        Assert.Equal(DType.F32, loss.DType);
        var mean = loss.Inputs[0];
        Assert.Equal(new MeanOp(new IntList(0), false), mean.Op);
        var sum = mean.Inputs[0];
        Assert.Equal(new SumOp(new IntList(1), false), sum.Op);
        Assert.Equal(new Shape(64), sum.Shape);
        var mul = sum.Inputs[0];
        Assert.IsType<MulOp>(mul.Op);
        Assert.Same(y, mul.Inputs[0]);
        var q = mul.Inputs[1].Inputs[0];
        Assert.IsType<DivOp>(q.Op);
        var e = q.Inputs[0];
        Assert.IsType<ExpOp>(e.Op);
        Assert.Same(z, e.Inputs[0]);
        Assert.Equal(new SumOp(new IntList(1), true), q.Inputs[1].Op);
        Assert.Equal(new Shape(64, 1), q.Inputs[1].Shape);
        Assert.Equal("e", g.Names[e]);
        Assert.Equal("q", g.Names[q]);
        Assert.Equal("loss", g.Names[loss]);
        Assert.Equal(10, g.Nodes().Count);
    }

    [Fact]
    public void Sample_prints_canonically()
    {
        var g = Parser.Parse(Sample);
        Assert.Equal(Canonical, Printer.Print(g));
        Assert.Equal(Canonical, g.ToString());
        Assert.Equal(Canonical, TextAssert.RoundTrips(g));
    }

    [Fact]
    public void Output_defaults_to_the_last_assignment()
    {
        var g = Parser.Parse("input x: f32[2]\na = exp(x)\nb = log(x)\n");
        Assert.IsType<LogOp>(g.Output.Op);
        var h = Parser.Parse("input x: f32[2]\na = exp(x)\noutput a\nb = log(x)");
        Assert.IsType<ExpOp>(h.Output.Op);
    }

    [Fact]
    public void First_name_wins_and_inputs_keep_their_names()
    {
        var g = Parser.Parse("input x: f32[2]\na = exp(x)\nb = exp(x)\nc = x\nd = a + b");
        var a = g.Output.Inputs[0];
        Assert.Same(a, g.Output.Inputs[1]);
        Assert.Equal("a", g.Names[a]);
        Assert.False(g.Names.ContainsKey(g.Input("x")));
        Assert.Equal("input x: f32[2]\na = exp(x)\nd = a + a\noutput d", Printer.Print(g));
    }

    [Fact]
    public void Literals_take_the_type_of_their_context()
    {
        var g = Parser.Parse("input x: f64[2]\ninput y: f32[2]\na = y * 2 + (1 + 2)\nb = 3\nc = x * -1");
        // In 'a' the constants are f32 (from y); 'b' and the -1 next to x take f64 (the default is the first float input).
        var nodes = g.WithOutput(g.Names.First(kv => kv.Value == "a").Key).Nodes();
        Assert.All(nodes.Where(n => n.Op is ConstantOp), n => Assert.Equal(DType.F32, n.DType));
        var b = g.Names.First(kv => kv.Value == "b").Key;
        Assert.Equal(new ConstantOp(3, DType.F64), b.Op);
        Assert.Contains(g.Nodes(), n => n.Op.Equals(new ConstantOp(-1, DType.F64)));
    }

    [Fact]
    public void Default_float_type_is_f32_without_float_inputs()
    {
        var g = Parser.Parse("input t: i64[3]\na = one_hot(t, 4) * 2\nb = 1 + 2");
        Assert.Equal(DType.F32, g.Output.DType);
        Assert.Equal(new OneHotOp(4, DType.F32), g.Names.First(kv => kv.Value == "a").Key.Inputs[0].Op);
    }

    [Theory]
    [InlineData("-1", -1.0)]
    [InlineData("-inf", double.NegativeInfinity)]
    [InlineData("inf", double.PositiveInfinity)]
    [InlineData("1e-3", 0.001)]
    [InlineData(".5", 0.5)]
    [InlineData("2.", 2.0)]
    [InlineData("1E+2", 100.0)]
    [InlineData("-0", -0.0)]
    public void Negative_literals_fold_into_constants(string literal, double value)
    {
        var g = Parser.Parse($"input x: f64[]\na = {literal}");
        Assert.Equal(new ConstantOp(value, DType.F64), g.Output.Op);
    }

    [Fact]
    public void Parenthesized_literal_under_minus_stays_a_negation()
    {
        var g = Parser.Parse("a = -(1)");
        Assert.IsType<NegOp>(g.Output.Op);
        Assert.Equal(new ConstantOp(1, DType.F32), g.Output.Inputs[0].Op);
        Assert.True(double.IsNaN(((ConstantOp)Parser.Parse("a = nan").Output.Op).Value));
    }

    [Theory]
    [InlineData("-x^2", "neg(pow(x, 2))")]
    [InlineData("2^3^2", "pow(2, pow(3, 2))")]
    [InlineData("a - b - c", "sub(sub(a, b), c)")]
    [InlineData("a - (b - c)", "sub(a, sub(b, c))")]
    [InlineData("a + b * c", "add(a, mul(b, c))")]
    [InlineData("(a + b) * c", "mul(add(a, b), c)")]
    [InlineData("a / b * c", "mul(div(a, b), c)")]
    [InlineData("-a * b", "mul(neg(a), b)")]
    [InlineData("a * -b", "mul(a, neg(b))")]
    [InlineData("x^-1", "pow(x, -1)")]
    [InlineData("-2^2", "neg(pow(2, 2))")]
    [InlineData("(-2)^2", "pow(-2, 2)")]
    [InlineData("-(-x)", "neg(neg(x))")]
    [InlineData("a @ b + c", "add(matmul(a, b), c)")]
    [InlineData("a ^ b * c", "mul(pow(a, b), c)")]
    [InlineData("x^-y^2", "pow(x, neg(pow(y, 2)))")]
    public void Operators_follow_precedence_and_associativity(string expr, string tree)
    {
        var g = Parser.Parse($"input a: f32[2, 2]\ninput b: f32[2, 2]\ninput c: f32[2, 2]\ninput x: f32[2, 2]\ninput y: f32[2, 2]\nr = {expr}");
        Assert.Equal(tree, Tree(g.Output));
    }

    /// <summary>Writes a node as nested calls (inputs by name, constants as numbers) — small trees only.</summary>
    internal static string Tree(Node n) => n.Op switch
    {
        InputOp i => i.InputName,
        ConstantOp c => Tensor.FormatNumber(c.Value, c.Type),
        _ => $"{n.Op.Name}({string.Join(", ", n.Inputs.Select(Tree))})",
    };

    [Fact]
    public void Functions_accept_ints_tuples_positional_and_named_arguments()
    {
        var g = Parser.Parse("""
            input x: f32[2, 5]
            input t: i64[2]
            a = reshape(x, (5, 2))
            b = reshape(x, shape=10)
            c = reshape(x, shape=(-1, 1))
            c2 = reshape(x, shape=(2, -1))
            d = sum(x, (0, 1))
            e = sum(x, axis=())
            f = transpose(x)
            g = squeeze(unsqueeze(x, axis=0), axis=0)
            h = take(x, t)
            i = take(x=x, axis=-1, t=t) + 0
            j = one_hot(t, classes=5, dtype=f64)
            k = expand(sum(x, axis=1, keepdims=true), shape=(2, 5))
            """);
        Node N(string s) => g.Names.First(kv => kv.Value == s).Key;
        Assert.Equal(new Shape(5, 2), N("a").Shape);
        Assert.Equal(new Shape(10), N("b").Shape);
        Assert.Equal(new Shape(10, 1), N("c").Shape);
        Assert.Equal(new ReshapeOp(new IntList(2, 5)), N("c2").Op);
        Assert.Equal(new SumOp(new IntList(0, 1), false), N("d").Op);
        Assert.DoesNotContain("e", g.Names.Values);   // same node as d: the first name wins
        Assert.Equal(new TransposeOp(new IntList(1, 0)), N("f").Op);
        Assert.Same(g.Input("x"), N("g").Inputs[0].Inputs[0]);
        Assert.Same(N("h"), N("i").Inputs[0]);
        Assert.Equal(new OneHotOp(5, DType.F64), N("j").Op);
        Assert.Equal(new BroadcastToOp(new IntList(2, 5)), N("k").Op);
    }

    [Fact]
    public void Blank_lines_comments_and_crlf_are_ignored()
    {
        var g = Parser.Parse("\r\n# only a comment\r\n\r\ninput x: f32[2]   # trailing\r\n\r\n  y = exp( x )\t\r\n");
        Assert.Equal("input x: f32[2]\ny = exp(x)\noutput y", Printer.Print(g));
    }

    [Fact]
    public void Facts_parse_in_every_spelling()
    {
        var g = Parser.Parse("input p: f32[3, 4] probs(1) positive\ninput q: f64[3, 4] probs(axis=-1)\ninput t: i64[3] classes(4) positive\nr = p");
        Assert.Equal(new InputFacts(1, null, true), ((InputOp)g.Input("p").Op).Facts);
        Assert.Equal(InputFacts.Probs(1), ((InputOp)g.Input("q").Op).Facts);
        Assert.Equal(new InputFacts(null, 4, true), ((InputOp)g.Input("t").Op).Facts);
        Assert.StartsWith("input p: f32[3, 4] probs(axis=1) positive\ninput q: f64[3, 4] probs(axis=1)\ninput t: i64[3] classes(4) positive\n", Printer.Print(g));
    }
}
