using System.Text;
using System.Text.Json;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>Programs whose size or depth the user controls, through every verb: each gives a result or one located line with
/// exit 2, never a stack overflow (which would kill the test run) or a hang.</summary>
public class ScaleTests
{
    /// <summary><c>sum(x + x + … + x)</c> with <paramref name="terms"/> terms: a left-deep chain of that many additions.</summary>
    private static string LongSum(int terms) =>
        "input x: f32[4]\np = sum(" + string.Join(" + ", Enumerable.Repeat("x", terms)) + ")\noutput p\n";

    public static TheoryData<string[]> Verbs() => new()
    {
        new[] { "simplify" },
        new[] { "grad" },
        new[] { "eval" },
        new[] { "eval", "--json", "--naive" },
        new[] { "compare" },
        new[] { "bench", "--iterations", "1", "--graph", "simplified" },
        new[] { "export", "--onnx" },
    };

    /// <summary>100,000 terms through each verb. The gradient of x is 100,000 · 4 ones (the oracle: the derivative of
    /// sum(100000 x)), where the verb computes one.</summary>
    [Theory]
    [MemberData(nameof(Verbs))]
    public void HundredThousandTermSumThroughEveryVerb(string[] verb)
    {
        using var program = new TempFile(LongSum(100_000));
        using var onnx = new TempFile("", ".onnx");
        string[] args = verb[0] == "export" ? [.. verb, onnx.Path, program.Path] : [.. verb, program.Path];
        var r = Run(args);
        Assert.True(r.Code == 0, r.ToString()[..Math.Min(2000, r.ToString().Length)]);
        if (verb is ["eval", "--json", ..])
        {
            using var doc = JsonDocument.Parse(r.Out);
            var g = doc.RootElement.GetProperty("gradients").GetProperty("x");
            Assert.All(g.EnumerateArray(), e => Assert.Equal(100_000, e.GetDouble()));
        }
        if (verb[0] == "export") Assert.True(new FileInfo(onnx.Path).Length > 100_000);
    }

    /// <summary>Cross-entropy targets written as a sum of 20,001 probability inputs with alternating signs still sum to 1,
    /// so simplify fuses with the closed-form gradient (the fact analysis recursed once per term).</summary>
    [Fact]
    public void LongTargetSumIsProvedToSumToOne()
    {
        var p = new StringBuilder("y");
        for (int i = 0; i < 20_000; i++) p.Append(i % 2 == 0 ? " + y" : " - y");
        using var program = new TempFile($"input z: f32[2, 3]\ninput y: f32[2, 3] probs(axis=1)\np = {p}\nloss = -sum(p * log(softmax(z, axis=1)))\noutput loss\n");
        var r = Run("simplify", program.Path);
        Assert.True(r.Code == 0, r.ToString()[..Math.Min(2000, r.ToString().Length)]);
        Assert.Contains("softmax_cross_entropy", r.Out);
        Assert.Contains("normalized=true", r.Out);
    }

    /// <summary>An input of rank 70 (beyond System.Text.Json's default depth of 64) is read from an inputs file and written
    /// back by <c>eval --json</c>; the verb used to blame the user's file for its own output ("invalid JSON").</summary>
    [Fact]
    public void RankSeventyRoundTripsThroughJson()
    {
        const int rank = 70;
        using var program = new TempFile($"input x: f32[{string.Join(", ", Enumerable.Repeat("1", rank))}]\ny = 2 * x\noutput y\n");
        using var values = new TempFile($$"""{"x": {{new string('[', rank)}}1.5{{new string(']', rank)}}}""", ".json");
        var r = Run("eval", program.Path, "--inputs", values.Path, "--json", "--naive");
        Assert.True(r.Code == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out, new JsonDocumentOptions { MaxDepth = 200 });
        var v = doc.RootElement.GetProperty("value");
        for (int i = 0; i < rank; i++) v = v[0];
        Assert.Equal(3.0, v.GetDouble());

        var text = Run("eval", program.Path, "--inputs", values.Path, "--naive");
        Assert.True(text.Code == 0, text.ToString());
        Assert.Contains(new string('[', rank) + "3" + new string(']', rank), text.Out);
    }

    /// <summary>Rank 60,000: the text printer walked one stack frame per dimension.</summary>
    [Fact]
    public void RankSixtyThousandPrints()
    {
        const int rank = 60_000;
        using var program = new TempFile($"input x: f32[{string.Join(", ", Enumerable.Repeat("1", rank))}]\ny = exp(x)\noutput y\n");
        var text = Run("eval", program.Path, "--naive");
        Assert.True(text.Code == 0, text.ToString()[..Math.Min(2000, text.ToString().Length)]);
        Assert.Contains(new string('[', rank), text.Out);
        var json = Run("eval", program.Path, "--naive", "--json");
        Assert.True(json.Code == 0, json.ToString()[..Math.Min(2000, json.ToString().Length)]);
        Assert.True(json.Out.Length < 10 * rank, "a tensor of high rank is written on one line, not indented per level");
    }
}
