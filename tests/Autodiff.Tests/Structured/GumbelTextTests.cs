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
    };

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
    }

    [Theory]
    [InlineData("k = gumbel_max(z, axis=1)", "missing argument 'seed'")]
    [InlineData("k = gumbel_softmax(z, seed=1)", "missing argument 'tau'")]
    [InlineData("k = gumbel_top_k(z, k=4, seed=1)", "k = 4 must be in [1, 3]")]
    [InlineData("k = gumbel_softmax(z, tau=-1, seed=1)", "tau must be positive")]
    [InlineData("k = gumbel_max(z, axis=2, seed=1)", "axis 2 is out of range")]
    public void ReportsBadCalls(string line, string message)
    {
        var ex = Assert.ThrowsAny<Exception>(() => Parser.Parse(Decls + line));
        Assert.Contains(message, ex.Message);
    }
}
