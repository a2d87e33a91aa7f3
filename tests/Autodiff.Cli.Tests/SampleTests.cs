using System.Text.Json;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>Every verb on every sample program exits 0, and its JSON has the documented fields.</summary>
public class SampleTests
{
    public static TheoryData<string> All => Samples();

    [Fact]
    public void SamplesExist() => Assert.NotEmpty(SampleNames());

    private static JsonElement ParseJson(Result r)
    {
        Assert.True(r.Code == 0, r.ToString());
        Assert.Equal("", r.Err);
        using var doc = JsonDocument.Parse(r.Out);
        return doc.RootElement.Clone();
    }

    private static void AssertNumberOrNull(JsonElement e, string name)
    {
        Assert.True(e.TryGetProperty(name, out var v), $"missing '{name}' in {e}");
        Assert.True(v.ValueKind is JsonValueKind.Number or JsonValueKind.Null, $"'{name}' is {v.ValueKind}");
    }

    [Theory, MemberData(nameof(All))]
    public void SimplifyText(string sample)
    {
        var r = Run("simplify", Sample(sample));
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("before:\n", r.Out);
        Assert.Contains("\nafter:\n", r.Out);
        Assert.Contains("\nrewrites (", r.Out);
        Assert.Contains("\nnear misses (", r.Out);
        Assert.Matches(@"\nstopped: .+ after \d+ iterations?\n$", r.Out);
    }

    [Theory, MemberData(nameof(All))]
    public void SimplifyJson(string sample)
    {
        var j = ParseJson(Run("simplify", Sample(sample), "--json"));
        Assert.Equal(JsonValueKind.String, j.GetProperty("before").ValueKind);
        Assert.Equal(JsonValueKind.String, j.GetProperty("after").ValueKind);
        Assert.All(j.GetProperty("fused").EnumerateArray(), f => Assert.Equal(JsonValueKind.String, f.ValueKind));
        foreach (var s in j.GetProperty("rewrites").EnumerateArray())
            foreach (var f in new[] { "rule", "phase", "before", "after" })
                Assert.Equal(JsonValueKind.String, s.GetProperty(f).ValueKind);
        foreach (var m in j.GetProperty("nearMisses").EnumerateArray())
            foreach (var f in new[] { "rule", "at", "reason" })
                Assert.Equal(JsonValueKind.String, m.GetProperty(f).ValueKind);
        Assert.Equal("saturated", j.GetProperty("stopReason").GetString());
    }

    /// <summary>The simplified program printed by <c>simplify --json</c> can be fed back to the tool (Printer and Parser
    /// are inverses, fused ops included).</summary>
    [Theory, MemberData(nameof(All))]
    public void SimplifiedProgramParsesAgain(string sample)
    {
        var j = ParseJson(Run("simplify", Sample(sample), "--json"));
        var again = RunWithStdin(j.GetProperty("after").GetString()!, "simplify", "-", "--json");
        Assert.True(again.Code == 0, again.ToString());
        Assert.Equal(j.GetProperty("after").GetString(), ParseJson(again).GetProperty("after").GetString());
    }

    [Theory, MemberData(nameof(All))]
    public void CompareText(string sample)
    {
        var r = Run("compare", Sample(sample));
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("naive", r.Out);
        Assert.Contains("simplified", r.Out);
        Assert.Contains("agree", r.Out);
    }

    [Theory, MemberData(nameof(All))]
    public void CompareJson(string sample)
    {
        var j = ParseJson(Run("compare", Sample(sample), "--json"));
        foreach (var side in new[] { "naive", "simplified" })
        {
            var s = j.GetProperty(side);
            AssertNumberOrNull(s, "value");
            Assert.True(s.GetProperty("nonFinite").GetInt32() >= 0);
            Assert.True(s.GetProperty("ms").GetDouble() >= 0);
            // At the default scale both graphs are finite.
            Assert.Equal(0, s.GetProperty("nonFinite").GetInt32());
        }
        AssertNumberOrNull(j, "maxAbsGradDiff");
        AssertNumberOrNull(j, "maxRelGradDiff");
        // Simplification must not change the numbers on ordinary inputs.
        Assert.True(j.GetProperty("agree").GetBoolean(), j.ToString());
    }

    [Theory, MemberData(nameof(All))]
    public void Grad(string sample)
    {
        var r = Run("grad", Sample(sample));
        Assert.True(r.Code == 0, r.ToString());
        int naive = r.Out.IndexOf("# naive backward graph\n", StringComparison.Ordinal);
        int simplified = r.Out.IndexOf("# simplified backward graph\n", StringComparison.Ordinal);
        Assert.True(naive >= 0 && simplified > naive, r.Out);
        Assert.Contains("grad_", r.Out);
    }

    [Theory, MemberData(nameof(All))]
    public void BenchJson(string sample)
    {
        var j = ParseJson(Run("bench", Sample(sample), "--iterations", "2", "--threads", "2", "--json"));
        Assert.True(j.GetProperty("naive").GetProperty("medianMs").GetDouble() >= 0);
        Assert.True(j.GetProperty("simplified").GetProperty("medianMs").GetDouble() >= 0);
        Assert.True(j.GetProperty("simplifyMs").GetDouble() >= 0);
        Assert.Equal(2, j.GetProperty("threads").GetInt32());
    }

    [Theory, MemberData(nameof(All))]
    public void BenchText(string sample)
    {
        var r = Run("bench", Sample(sample), "--iterations", "1", "--graph", "simplified");
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("simplified", r.Out);
        Assert.DoesNotContain("\nnaive", r.Out);
    }

    [Theory, MemberData(nameof(All))]
    public void EvalJson(string sample)
    {
        var graph = Autodiff.Text.Parser.Parse(File.ReadAllText(Sample(sample)));
        var floats = graph.Inputs.Where(i => i.DType.IsFloat()).Select(i => ((InputOp)i.Op).InputName).ToArray();
        foreach (var naive in new[] { false, true })
        {
            string[] args = naive ? ["eval", Sample(sample), "--json", "--naive"] : ["eval", Sample(sample), "--json"];
            var j = ParseJson(Run(args));
            var value = j.GetProperty("value");
            Assert.True(value.ValueKind is JsonValueKind.Number or JsonValueKind.Array);
            var grads = j.GetProperty("gradients");
            Assert.Equal(floats.Order(), grads.EnumerateObject().Select(p => p.Name).Order());
            foreach (var p in grads.EnumerateObject())
                Assert.Equal(graph.Input(p.Name).Shape.ToArray(), ShapeOf(p.Value));
        }
    }

    [Theory, MemberData(nameof(All))]
    public void EvalText(string sample)
    {
        var r = Run("eval", Sample(sample));
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("value: ", r.Out);
    }

    internal static int[] ShapeOf(JsonElement e)
    {
        var dims = new List<int>();
        while (e.ValueKind == JsonValueKind.Array)
        {
            dims.Add(e.GetArrayLength());
            if (e.GetArrayLength() == 0) break;
            e = e[0];
        }
        return dims.ToArray();
    }
}
