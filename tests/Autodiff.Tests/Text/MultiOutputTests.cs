using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Text;

/// <summary>Graphs with several named outputs: the language's <c>output a, b</c>, C#'s <c>Build([(name, expr), ...])</c>,
/// printing and parsing back, the simplifier, and the tape evaluating them all.</summary>
public class MultiOutputTests
{
    private const string Program = """
        input z: f64[2, 3]
        e = exp(z)
        s = sum(e, axis=1, keepdims=true)
        q = e / s
        lse = sum(log(s))
        output lse, q, z
        """;

    [Fact]
    public void ParsesPrintsAndParsesBack()
    {
        var g = Parser.Parse(Program);
        Assert.True(g.HasSeveralOutputs);
        Assert.Equal(["lse", "q", "z"], g.Outputs.Select(o => o.Name));
        Assert.Same(g.Output, g.Outputs[0].Node);
        var text = Printer.Print(g);
        Assert.EndsWith("output lse, q, z", text.Replace("z2", "z"));
        var again = Parser.Parse(text);
        Assert.Equal(text, Printer.Print(again));
        Assert.Equal(g.Outputs.Select(o => o.Node.Shape), again.Outputs.Select(o => o.Node.Shape));
    }

    [Fact]
    public void TheTapeEvaluatesEveryOutputAndDifferentiatesTheFirst()
    {
        var g = Parser.Parse(Program);
        var z = Tensor.FromArray(new[] { 1.0, 2, 3, -1, 0, 1 }, 2, 3);
        var tape = new Tape(g);
        var outs = tape.Evaluate(new Dictionary<string, Tensor> { ["z"] = z });
        double lse0 = Math.Log(Math.Exp(1) + Math.Exp(2) + Math.Exp(3)), lse1 = Math.Log(Math.Exp(-1) + 1 + Math.Exp(1));
        Assert.Equal(lse0 + lse1, outs["lse"].GetDouble(0), 1e-12);
        Assert.Equal(Math.Exp(2 - lse0), outs["q"][0, 1], 1e-12);
        Assert.Same(z, outs["z"]);
        var grads = tape.Backward();
        Assert.Equal(Math.Exp(2 - lse0), grads["z"][0, 1], 1e-12);   // d lse / dz = softmax
    }

    [Fact]
    public void BuiltInCSharpAndSimplifiedKeepingEveryOutput()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 2, 3);
        var e = z.Exp();
        var q = e / e.Sum(1, keepDims: true);
        var g = b.Build([("loss", q.Log().Sum()), ("probs", q)]);
        var r = Simplifier.Simplify(g);
        Assert.Equal(["loss", "probs"], r.After.Outputs.Select(o => o.Name));
        Assert.Contains("log_softmax", r.After.ToString());
        Assert.Contains("probs = softmax(z, axis=1)", r.After.ToString());
        Assert.EndsWith("output loss, probs", r.After.ToString());
    }

    [Theory]
    [InlineData("input x: f32[2]\na = exp(x)\noutput a, a", "3:11: 'a' is already in the output list")]
    [InlineData("input x: f32[2]\na = exp(x)\noutput a, b", "3:11: unknown name 'b'")]
    [InlineData("input x: f32[2]\na = exp(x)\noutput a,", "3:10: expected a name after ',' in the output list")]
    public void BadOutputListsAreLocatedErrors(string program, string message)
    {
        var e = Assert.Throws<ParseException>(() => Parser.Parse(program));
        Assert.StartsWith(message, e.Message);
    }

    [Fact]
    public void BuildRefusesBadOutputNames()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2);
        Assert.Contains("given twice", Assert.Throws<AutodiffException>(() => b.Build([("a", x.Exp()), ("a", x)])).Message);
        Assert.Contains("not a valid name", Assert.Throws<AutodiffException>(() => b.Build([("1a", x.Exp())])).Message);
    }
}
