using Autodiff.Tests.Text;
using Autodiff.Text;

namespace Autodiff.Tests.Structured;

/// <summary>The Gumbel functions in the expression language: they build the same ops as the C# builders, print and parse
/// back to the same graph, and report missing or bad arguments.</summary>
public class GumbelTextTests
{
    private const string Decls = "input z: f32[4, 3]\ninput w: f64[2, 5, 3]\n";

    public static TheoryData<string> Programs => new()
    {
        Decls + "k = gumbel_max(z, axis=1, seed=3)",
        Decls + "k = gumbel_max(z, seed=-7)\nl = gumbel_max(w, axis=1, seed=0)",
        Decls + "y = gumbel_softmax(z, tau=0.5, axis=1, seed=2)\nh = gumbel_softmax(z, tau=0.25, axis=0, hard=true, seed=2)\nr = sum(y * h)",
        Decls + "y = gumbel_softmax(w, 0.1, -2, false, 4)",
        Decls + "t = gumbel_top_k(z, k=2, axis=1, seed=5)\nu = gumbel_top_k(w, k=5, axis=1, seed=5)",
        Decls + "g = gumbel_noise(shape=(4, 3), seed=1, dtype=f32)\ny = softmax((z + g) / 0.5, axis=1)\nn = gumbel_noise(shape=(), seed=2, dtype=f64)",
        Decls + "k = gumbel_max(z, axis=1, seed=3)\nloss = -sum(take(log_softmax(z, axis=1), k, axis=1))",
        Decls + StepDecl + "k = gumbel_max(z, step=s, axis=1, seed=3)\nl = gumbel_max(z, axis=1, seed=3)",
        Decls + StepDecl + "y = gumbel_softmax(w, 0.1, -2, false, 4, s)\nh = gumbel_softmax(z, tau=0.25, hard=true, seed=2, step=s)\nr = sum(h)",
        Decls + StepDecl + "t = gumbel_top_k(z, step=s, k=2, seed=5)",
        Decls + StepDecl + "g = gumbel_noise(step=s, shape=(4, 3), seed=1, dtype=f32)\ny = softmax((z + g) / 0.5, axis=1)",
        Decls + StepDecl + "g = gumbel_noise(shape=(2,), seed=1, step=constant(7, dtype=i64))",
        Decls + "k = gumbel_max(z, axis=1, seed=3, step=7)\nl = gumbel_top_k(z, k=2, seed=5, step=-2)",
    };

    private const string StepDecl = "input s: i64[]\n";

    [Theory, MemberData(nameof(Programs))]
    public void RoundTrips(string source) => TextAssert.RoundTrips(Parser.Parse(source));

    [Fact]
    public void BuildsTheSameOpsAsTheCSharpBuilders()
    {
        Op Parsed(string expr) => Parser.Parse(Decls + "a = " + expr).Output.Op;
        Assert.Equal(new GumbelMaxOp(1, 3), Parsed("gumbel_max(z, axis=-1, seed=3)"));
        Assert.Equal(new GumbelSoftmaxOp(0.5, 1, true, 4), Parsed("gumbel_softmax(w, tau=0.5, axis=1, hard=true, seed=4)"));
        Assert.Equal(new GumbelTopKOp(2, 1, 5), Parsed("gumbel_top_k(z, k=2, seed=5)"));
        Assert.Equal(new GumbelNoiseOp(new IntList(2, 2), 6, DType.F32), Parsed("gumbel_noise(shape=(2, 2), seed=6)"));   // the default float type
        // With a step: the same op, the step as the last operand, in the same node as the C# builder makes.
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F32, 4, 3);
        var s = b.Input("s", DType.I64);
        TextAssert.SameStructure(b.Build(z.GumbelMax(3, axis: 1, step: s)), Parser.Parse("input z: f32[4, 3]\n" + StepDecl + "k = gumbel_max(z, axis=1, seed=3, step=s)"));
        // A whole-number literal step is the i64 constant.
        TextAssert.SameStructure(
            Parser.Parse(Decls + "k = gumbel_max(z, axis=1, seed=3, step=constant(7, dtype=i64))"),
            Parser.Parse(Decls + "k = gumbel_max(z, axis=1, seed=3, step=7)"));
        var n = new GraphBuilder();
        TextAssert.SameStructure(n.Build(Expr.GumbelNoise(n, [2], 1, DType.F32, n.Input("s", DType.I64))), Parser.Parse(StepDecl + "k = gumbel_noise(shape=2, seed=1, step=s)"));
    }

    [Fact]
    public void PrintsEveryAttribute()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 2, 3);
        var text = Printer.Print(b.Build(z.GumbelSoftmax(0.1, 9, hard: true).Sum() + z.GumbelSoftmax(2, 9, axis: 0).Sum()));
        Assert.Contains("gumbel_softmax(z, tau=0.1, axis=1, hard=true, seed=9)", text);
        Assert.Contains("gumbel_softmax(z, tau=2, axis=0, seed=9)", text);
        Assert.Contains("gumbel_top_k(z, k=2, axis=0, seed=1)", Printer.Print(b.Build(z.GumbelTopK(2, 1, axis: 0))));
        // The step operand prints as a named argument after the logits.
        var s = b.Input("step", DType.I64);
        Assert.Contains("gumbel_max(z, step=step, axis=1, seed=3)", Printer.Print(b.Build(z.GumbelMax(3, step: s))));
        Assert.Contains("gumbel_softmax(z, step=step, tau=0.5, axis=1, hard=true, seed=2)", Printer.Print(b.Build(z.GumbelSoftmax(0.5, 2, hard: true, step: s))));
        Assert.Contains("gumbel_top_k(z, step=step, k=2, axis=1, seed=1)", Printer.Print(b.Build(z.GumbelTopK(2, 1, step: s))));
        Assert.Contains("gumbel_noise(step=step, shape=(2, 3), seed=4, dtype=f64)", Printer.Print(b.Build(Expr.GumbelNoise(b, [2, 3], 4, DType.F64, s))));
    }

    [Theory]
    [InlineData("k = gumbel_max(z, axis=1)", "missing argument 'seed'")]
    [InlineData("k = gumbel_softmax(z, seed=1)", "missing argument 'tau'")]
    [InlineData("k = gumbel_top_k(z, k=4, seed=1)", "k = 4 must be in [1, 3]")]
    [InlineData("k = gumbel_softmax(z, tau=-1, seed=1)", "tau must be positive")]
    [InlineData("k = gumbel_max(z, axis=2, seed=1)", "axis 2 is out of range")]
    [InlineData("k = gumbel_max(z, seed=1, step=3.5)", "5:5: gumbel_max: step must be an i64 scalar (shape []), got f32[]")]
    [InlineData("k = gumbel_softmax(z, tau=1, seed=1, step=t)", "5:5: gumbel_softmax: step must be an i64 scalar (shape []), got i64[2]")]
    [InlineData("k = gumbel_top_k(z, k=1, seed=1, step=z)", "gumbel_top_k: step must be an i64 scalar (shape []), got f32[4, 3]")]
    [InlineData("k = gumbel_noise(shape=2, seed=1, step=constant(1, dtype=f64))", "gumbel_noise: step must be an i64 scalar (shape []), got f64[]")]
    [InlineData("k = gumbel_max(z, seed=1, stpe=s)", "'gumbel_max' has no argument 'stpe'")]
    public void ReportsBadCalls(string line, string message)
    {
        var ex = Assert.ThrowsAny<Exception>(() => Parser.Parse(Decls + "input t: i64[2]\n" + StepDecl + line));
        Assert.Contains(message, ex.Message);
    }
}
