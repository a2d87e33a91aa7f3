using Autodiff.Interop;
using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Graphs;   // not ...Tests.Graph: a namespace called Graph would hide the Graph type in every test namespace

/// <summary>Graphs whose depth the user controls (million-node chains, sums of 100,000+ terms, tensors of rank 60,000) go
/// through every walk of the library without recursion: a recursive walk overflows the stack of a test thread long before
/// these sizes, which kills the whole test run.</summary>
public class ScaleTests
{
    private const int Million = 1_000_000;

    /// <summary>x, tanh(x), tanh(tanh(x)), … : <paramref name="depth"/> nested calls on an f64[2] input.</summary>
    private static (Graph Graph, Expr X) TanhChain(int depth)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 2);
        var s = x;
        for (int i = 0; i < depth; i++) s = s.Tanh();
        return (b.Build(s.Sum()), x);
    }

    [Fact]
    public void MillionNodeChainSortsPrintsParsesAndExports()
    {
        var (g, _) = TanhChain(Million);
        var order = g.Nodes();
        Assert.Equal(Million + 2, order.Count);   // x, the chain, sum; the root last
        Assert.Same(g.Output, order[^1]);

        var text = Printer.Print(g);
        var back = Parser.Parse(text);
        Assert.Equal(order.Count, back.Nodes().Count);
        Assert.Equal(text, Printer.Print(back));

        var model = OnnxExporter.Model(g);
        Assert.Equal(Million + 1, model.Graph.Node.Count);   // Tanh × 10⁶ and ReduceSum
        Assert.Equal(Million + 1, model.Graph.Node.Select(n => n.Output[0]).Distinct().Count());
    }

    /// <summary>The tape, the symbolic gradient and the simplifier on a 100,000-deep chain, against iterating tanh in
    /// double (value) and the product of its derivatives (gradient).</summary>
    [Fact]
    public void DeepChainEvaluatesAndDifferentiates()
    {
        const int depth = 100_000;
        var (g, _) = TanhChain(depth);
        var xv = new[] { 0.5, -2.0 };
        var expectedGrad = new double[2];
        double expectedValue = 0;
        for (int k = 0; k < 2; k++)
        {
            double t = xv[k], d = 1;
            for (int i = 0; i < depth; i++)
            {
                t = Math.Tanh(t);
                d *= 1 - t * t;
            }
            expectedValue += t;
            expectedGrad[k] = d;
        }
        var inputs = new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(xv, 2) };
        var (value, grads) = new Tape(g).Run(inputs);
        Assert.Equal(expectedValue, value.GetDouble(0), 1e-9);
        for (int k = 0; k < 2; k++) Assert.Equal(expectedGrad[k], grads["x"].GetDouble(k), 1e-9);

        var simplified = Simplifier.Simplify(g).After;
        Assert.Equal(g.Nodes().Count, simplified.Nodes().Count);
        var symbolic = SymbolicGradient.Of(g)["x"];
        var gradOfGrad = new Tape(g.WithOutput(symbolic.Node)).Forward(inputs);
        for (int k = 0; k < 2; k++) Assert.Equal(expectedGrad[k], gradOfGrad.GetDouble(k), 1e-9);
    }

    /// <summary>Targets written as y + y − y + y − … (a million terms) still sum to 1 along the class axis, so the fusion
    /// to the closed-form gradient fires (the fact analysis walked this recursively and overflowed at about 10,000).</summary>
    [Fact]
    public void RowSumOfAMillionTermSumIsProved()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 2, 3);
        var y = b.Input("y", DType.F64, new Shape(2, 3), InputFacts.Probs(1));
        var p = y;
        for (int i = 0; i < Million; i++) p = i % 2 == 0 ? p + y : p - y;
        Assert.Equal(1.0, Facts.RowSum(p.Node, 1, 3));
        Assert.Null(Facts.SumsToOne(p.Node, 1));
        var twice = p + p;   // shared operands are visited once: 2, not an exponential number of walks
        Assert.Equal(2.0, Facts.RowSum((twice + twice).Node, 1, 3) / 2);
    }

    /// <summary>Doubling a node 60 times (p₂ = p₁ + p₁, …) makes a tree of 2⁶⁰ leaves over 61 nodes: the fact analysis
    /// is linear in the nodes, not the leaves.</summary>
    [Fact]
    public void RowSumOfAHeavilySharedSumIsLinearInTheNodes()
    {
        var b = new GraphBuilder();
        var y = b.Input("y", DType.F64, new Shape(2, 3), InputFacts.Probs(1));
        var p = y;
        for (int i = 0; i < 60; i++) p = p + p;
        Assert.Equal(Math.Pow(2, 60), Facts.RowSum(p.Node, 1, 3));
    }

    /// <summary>negative-factor flips the leftmost constant of a 200,000-factor product in a backward graph: the
    /// rewrite walked the chain recursively, and the match walked it again under every sum.</summary>
    [Fact]
    public void NegativeFactorFlipsALongProduct()
    {
        const int factors = 200_000;
        var b = new GraphBuilder();
        var a = b.Input("a", DType.F64, 2);
        var x = b.Input("x", DType.F64, 2);
        var t = b.Constant(-0.5, DType.F64) * x;
        for (int i = 1; i < factors; i++) t = t * x;
        var g = b.Build(a - t);
        var after = Simplifier.Simplify(g, new SimplifyOptions(Phases: [Rules.BackwardCanonicalize]));
        Assert.Contains(after.Rewrites, r => r.Rule == "negative-factor");
        var root = after.After.Output;
        Assert.IsType<AddOp>(root.Op);
        var leaf = root.Inputs[1];
        int depth = 0;
        for (; leaf.Op is MulOp; leaf = leaf.Inputs[0]) depth++;
        Assert.Equal(factors, depth);
        Assert.Equal(0.5, Facts.Constant(leaf));
    }

    /// <summary>A tensor of rank 60,000 (all sizes 1) prints, and <see cref="Tensor.Walk"/> visits its brackets and its
    /// one element, without recursion.</summary>
    [Fact]
    public void TensorOfHugeRankPrints()
    {
        const int rank = 60_000;
        var t = Tensor.Full(DType.F32, new Shape(Enumerable.Repeat(1, rank).ToArray()), 2.5);
        var s = t.ToString();
        Assert.Equal(new string('[', rank) + "2.5" + new string(']', rank), s);
    }

    /// <summary><see cref="Tensor.Walk"/> against the recursive definition on small shapes, zero sizes included.</summary>
    [Theory]
    [InlineData(new int[0], "7")]
    [InlineData(new[] { 3 }, "[7, 8, 9]")]
    [InlineData(new[] { 2, 2 }, "[[7, 8], [9, 10]]")]
    [InlineData(new[] { 2, 0 }, "[[], []]")]
    [InlineData(new[] { 0, 2 }, "[]")]
    [InlineData(new[] { 2, 1, 2 }, "[[[7, 8]], [[9, 10]]]")]
    public void WalkMatchesNestedBrackets(int[] dims, string expected)
    {
        var shape = new Shape(dims);
        var t = Tensor.FromDoubles(DType.F64, shape, Enumerable.Range(7, shape.Size).Select(i => (double)i).ToArray());
        Assert.Equal(expected, t.ToString());
    }

    /// <summary>The product of the non-zero sizes must fit whatever the order of the dimensions, so a zero-element shape is
    /// accepted or refused the same way as its transposes.</summary>
    [Theory]
    [InlineData(new[] { 0, 100_000, 100_000, 100_000 })]
    [InlineData(new[] { 100_000, 100_000, 100_000, 0 })]
    [InlineData(new[] { 65_536, 0, 65_536 })]
    public void ZeroElementShapesAreRefusedInAnyOrderWhenTheRestOverflows(int[] dims)
    {
        var e = Assert.Throws<AutodiffException>(() => new Shape(dims));
        Assert.Contains("no elements, but its non-zero dimensions multiply to more than 2147483591", e.Message);
    }

    [Fact]
    public void ZeroElementShapesThatFitTransposeBothWays()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 0, 40_000, 40_000);
        Assert.Equal(0, x.Shape.Size);
        var t = x.Transpose(2, 1, 0);
        Assert.Equal(new Shape(40_000, 40_000, 0), t.Shape);
        Assert.Equal(new Shape(0, 40_000, 40_000), t.Transpose(2, 1, 0).Shape);
    }

    /// <summary>a₀ = x − 1, aₖ = aₖ₋₁ + aₖ₋₁ (60 doublings, 62 nodes, an expression tree of 2⁶⁰ leaves) under
    /// exp(sum(log(·))): the sign facts the product rule asks for are proved once per node (asked recursively, each level
    /// asked its operands up to four times: 4⁶⁰ calls, a hang), and the lint's messages name the program's own node.</summary>
    [Fact]
    public void SignFactsOfADoublingChainAreOnePass()
    {
        var text = "input x: f64[3]\na0 = x - 1\n" + string.Concat(Enumerable.Range(1, 60).Select(k => $"a{k} = a{k - 1} + a{k - 1}\n"))
            + "y = exp(sum(log(a60)))\noutput y\n";
        var g = Parser.Parse(text);
        Assert.NotNull(Facts.Positive(g.Output.Inputs[0].Inputs[0].Inputs[0]));   // log's operand: x − 1 is not proved > 0
        var result = Simplifier.Simplify(g);
        Assert.DoesNotContain(result.After.Nodes(), n => n.Op is ProdOp);         // so exp(sum(log)) is not a product
        var finding = Assert.Single(Lint.Check(result));
        Assert.Equal((63, 13), (finding.Line, finding.Column));
        Assert.StartsWith("log of a60, which is not proved > 0", finding.Message);

        var positive = Parser.Parse(text.Replace("input x: f64[3]", "input x: f64[3] positive").Replace("a0 = x - 1", "a0 = x + 1"));
        Assert.Contains(Simplifier.Simplify(positive).After.Nodes(), n => n.Op is ProdOp);
        Assert.Null(Facts.Positive(positive.Output.Inputs[0].Inputs[0].Inputs[0]));
    }

    /// <summary>A message about one node of a huge expression shows it briefly (its name in the program, or op(…)), so a
    /// rule's near miss at each of 100,000 nodes does not print 100,000 expressions of growing size.</summary>
    [Fact]
    public void MessagesAboutHugeExpressionsAreBrief()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 3);
        var s = x;
        for (int i = 0; i < 100_000; i++) s = s + x;
        Assert.Equal("add(…)", Printer.Brief(s.Node));
        Assert.Equal("x + x", Printer.Brief((x + x).Node));
        Assert.StartsWith("add(…) is not known to be > 0", Facts.Positive(s.Node));
    }
}
