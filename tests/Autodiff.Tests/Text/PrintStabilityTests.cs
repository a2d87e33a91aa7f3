using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Text;

/// <summary>The printed form is a function of the graph alone (docs/testing.md, "What the printed form promises"): two
/// builders that make the same graph in different ways, with different node ids, and the parser print it identically,
/// before and after simplification. (Another process printing the same text: Autodiff.Cli.Tests.ExpectTests.)</summary>
public class PrintStabilityTests
{
    private const string Expected = """
        input z: f64[8, 5]
        input y: f64[8, 5] probs(axis=1)
        input w: f64[5, 5]
        h = z @ w
        t1 = exp(h)
        q = t1 / sum(t1, axis=1, keepdims=true)
        loss = -mean(sum(y * log(q), axis=1)) + 0.001 * sum(square(w))
        output loss
        """;

    /// <summary>The same loss, with the operations created in another order and unrelated nodes made first when
    /// <paramref name="scrambled"/>.</summary>
    private static Graph Build(bool scrambled)
    {
        var b = new GraphBuilder();
        if (scrambled)
        {
            _ = (b.Constant(3, DType.F64) * b.Constant(2, DType.F64)).Exp();   // nodes the output does not use: every later id shifts
        }
        var z = b.Input("z", DType.F64, 8, 5);
        var y = b.Input("y", DType.F64, new Shape(8, 5), InputFacts.Probs(axis: 1));
        var w = b.Input("w", DType.F64, 5, 5);
        Expr penalty = default, h;
        if (scrambled) penalty = 0.001 * w.Square().Sum();   // built before the rest
        h = z.MatMul(w);
        var e = h.Exp();
        var q = e / e.Sum(1, keepDims: true);
        var ce = -(y * q.Log()).Sum(1).Mean();
        if (!scrambled) penalty = 0.001 * w.Square().Sum();
        var loss = ce + penalty;
        return b.Build(loss, new Dictionary<Node, string> { [h.Node] = "h", [q.Node] = "q", [loss.Node] = "loss" });
    }

    [Fact]
    public void TwoBuildersAndTheParserPrintTheSameProgram()
    {
        var a = Build(scrambled: false);
        var b = Build(scrambled: true);
        var parsed = Parser.Parse(Expected);
        Assert.Equal(Expected, Printer.Print(a));
        Assert.Equal(Expected, Printer.Print(b));
        Assert.Equal(Expected, Printer.Print(parsed));

        string after = Printer.Print(Simplifier.Simplify(a).After);
        Assert.Equal(after, Printer.Print(Simplifier.Simplify(b).After));
        Assert.Equal(after, Printer.Print(Simplifier.Simplify(parsed).After));
        Assert.Contains("softmax_cross_entropy(h, y, axis=1, normalized=true)", after);
    }

    [Fact]
    public void PrintingTwiceAndReparsingGiveTheSameText()
    {
        foreach (var name in Interop.OnnxRun.SampleNames())
        {
            var g = Parser.Parse(Interop.OnnxRun.Sample(name));
            string once = Printer.Print(g);
            Assert.Equal(once, Printer.Print(g));
            Assert.Equal(once, Printer.Print(Parser.Parse(once)));
            var s = Simplifier.Simplify(g).After;
            Assert.Equal(Printer.Print(s), Printer.Print(Parser.Parse(Printer.Print(s))));
        }
    }
}
