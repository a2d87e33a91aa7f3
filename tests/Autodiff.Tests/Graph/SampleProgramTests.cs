using Autodiff.Rewrite;
using Autodiff.Text;
using Snapshooter.Xunit;

namespace Autodiff.Tests.Graphs;   // not ...Tests.Graph: a namespace called Graph would hide the Graph type in every test namespace

/// <summary>The program of the core issue: it parses, prints back identically (snapshot), evaluates, and its gradient with
/// respect to z matches finite differences and the closed form (q − y)/64; simplified, it becomes one softmax_cross_entropy
/// node with the q − p gradient, and the trace names every rule that fired.</summary>
public class SampleProgramTests
{
    public const string Program = """
        # softmax cross-entropy, written out by hand
        input z: f32[64, 10]
        input y: f32[64, 10] probs(axis=1)      # fact: y >= 0 and rows sum to 1
        input t: i64[64] classes(10)            # class indices in [0, 10)
        e = exp(z)
        q = e / sum(e, axis=1, keepdims=true)
        loss = -mean(sum(y * log(q), axis=1))
        output loss                             # optional: default is the last assignment
        """;

    private static Dictionary<string, Tensor> Inputs(DType dt, int seed = 1)
    {
        var rng = new Random(seed);
        var y = Tensor.Zeros(dt, 64, 10);
        for (int r = 0; r < 64; r++)
        {
            var w = Enumerable.Range(0, 10).Select(_ => rng.NextDouble()).ToArray();
            for (int c = 0; c < 10; c++) y.SetDouble(r * 10 + c, w[c] / w.Sum());
        }
        var t = Tensor.Zeros(DType.I64, 64);
        for (int r = 0; r < 64; r++) t.SetDouble(r, rng.Next(10));
        return new() { ["z"] = Tensor.RandomNormal(dt, new Shape(64, 10), rng, 2), ["y"] = y, ["t"] = t };
    }

    [Fact]
    public void ParsesAndPrintsBackIdentically()
    {
        var printed = Printer.Print(Parser.Parse(Program));
        Assert.Equal(printed, Printer.Print(Parser.Parse(printed)));
        Snapshot.Match(printed);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void GradientIsQMinusYOver64(bool simplified)
    {
        var graph = Parser.Parse(Program);
        if (simplified) graph = Simplifier.Simplify(graph).After;
        var x = Inputs(DType.F32);
        var (_, grads) = new Tape(graph, ["z"]).Run(x);
        for (int r = 0; r < 64; r++)
        {
            var row = Enumerable.Range(0, 10).Select(c => x["z"][r, c]).ToArray();
            double m = row.Max(), s = row.Sum(v => Math.Exp(v - m));
            for (int c = 0; c < 10; c++)
            {
                double q = Math.Exp(row[c] - m) / s;
                Assert.Equal((q - x["y"][r, c]) / 64, grads["z"][r, c], 1e-7);
            }
        }
        var check = GradientChecker.Check(graph, Inputs(DType.F64, 2), ["z"]);
        Assert.True(check.Passed, check.ToString());
    }

    [Fact]
    public void SimplifiesToOneCrossEntropyNodeWithQMinusPGradient()
    {
        var result = Simplifier.Simplify(Parser.Parse(Program));
        var ce = Assert.Single(result.After.Nodes(), n => n.Op is SoftmaxCrossEntropyOp);
        Assert.True(((SoftmaxCrossEntropyOp)ce.Op).TargetsSumToOne);
        Assert.DoesNotContain(result.After.Nodes(), n => n.Op is ExpOp or LogOp or DivOp);
        Assert.Equal(["double-negation", "log-softmax", "neg-out-of-reduction", "softmax", "softmax-cross-entropy"],
            result.Rewrites.Select(s => s.Rule).Distinct().Order(StringComparer.Ordinal).ToArray());
        var grad = SymbolicGradient.Of(result.After, ["z"])["z"];
        var text = Printer.PrintExpression(grad.Node);
        Assert.Contains("softmax(z, axis=1) - y", text);
    }
}
