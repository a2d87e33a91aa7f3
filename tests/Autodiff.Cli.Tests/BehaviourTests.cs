using System.Text.Json;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>What the verbs compute.</summary>
public class BehaviourTests
{
    private static JsonElement Json(Result r)
    {
        Assert.True(r.Code == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        return doc.RootElement.Clone();
    }

    [Fact]
    public void CompareAtLargeScaleBreaksTheNaiveGraphOnly()
    {
        var j = Json(Run("compare", Sample("softmax_ce_probs"), "--scale", "1000", "--json"));
        Assert.True(j.GetProperty("naive").GetProperty("nonFinite").GetInt32() > 0, j.ToString());
        Assert.Equal(0, j.GetProperty("simplified").GetProperty("nonFinite").GetInt32());
        Assert.Equal(JsonValueKind.Number, j.GetProperty("simplified").GetProperty("value").ValueKind);
        Assert.False(j.GetProperty("agree").GetBoolean());
        Assert.Equal(JsonValueKind.Null, j.GetProperty("maxAbsGradDiff").ValueKind);   // non-finite on one side only
    }

    /// <summary>near_miss_shared keeps its shared exp under --keep-shared, so both graphs overflow at scale 1000; by
    /// default (stability first) and with --recompute-shared the simplified graph is finite, and the text says which
    /// simplifier ran.</summary>
    [Fact]
    public void CompareRecomputeSharedFusesSharedIntermediates()
    {
        string[] args = ["compare", Sample("near_miss_shared"), "--scale", "1000", "--json"];
        var keep = Json(Run([.. args, "--keep-shared"]));
        Assert.True(keep.GetProperty("simplified").GetProperty("nonFinite").GetInt32() > 0, keep.ToString());
        foreach (var stable in new[] { Json(Run(args)), Json(Run([.. args, "--recompute-shared"])) })
        {
            Assert.True(stable.GetProperty("naive").GetProperty("nonFinite").GetInt32() > 0, stable.ToString());
            Assert.Equal(0, stable.GetProperty("simplified").GetProperty("nonFinite").GetInt32());
            Assert.False(stable.GetProperty("agree").GetBoolean());   // the naive graph overflows
        }

        var text = Run("compare", Sample("near_miss_shared"), "--recompute-shared");
        Assert.True(text.Code == 0, text.ToString());
        Assert.Contains("simplified with  --recompute-shared", text.Out);
        Assert.Contains("simplified with  --keep-shared", Run("compare", Sample("near_miss_shared"), "--keep-shared").Out);
        var plain = Run("compare", Sample("near_miss_shared")).Out;
        Assert.DoesNotContain("--recompute-shared", plain);
        Assert.DoesNotContain("--keep-shared", plain);
        var both = Run("compare", Sample("near_miss_shared"), "--keep-shared", "--recompute-shared");
        Assert.Equal(2, both.Code);
        Assert.Contains("--keep-shared and --recompute-shared are alternatives", both.Err);
    }

    /// <summary>Every verb that simplifies takes --keep-shared and --recompute-shared: on near_miss_shared (whose exp is
    /// shared) the speed-first graph differs from the default (stability first) one, which fuses as --recompute-shared
    /// does; the flags never change the naive side.</summary>
    [Theory]
    [InlineData("grad")]
    [InlineData("eval", "--json")]
    [InlineData("eval", "--naive", "--json")]
    public void VerbsThatSimplifyTakeRecomputeShared(string verb, params string[] extra)
    {
        string[] args = [verb, Sample("near_miss_shared"), "--scale", "1000", .. extra];
        if (verb == "grad") args = [verb, Sample("near_miss_shared")];
        var keep = Run([.. args, "--keep-shared"]);
        var stable = Run(args);
        var recompute = Run([.. args, "--recompute-shared"]);
        Assert.True(keep.Code == 0 && stable.Code == 0 && recompute.Code == 0, keep + "\n" + stable + "\n" + recompute);
        if (extra.Contains("--naive")) Assert.Equal(keep.Out, stable.Out);
        else Assert.NotEqual(keep.Out, stable.Out);
        Assert.Equal(stable.Out, recompute.Out);
        if (verb == "eval" && !extra.Contains("--naive")) Assert.DoesNotContain("NaN", stable.Out);
    }

    [Fact]
    public void ExportAndBenchTakeRecomputeShared()
    {
        string onnx = Path.Combine(Path.GetTempPath(), $"autodiff-recompute-{Guid.NewGuid():N}.onnx");
        try
        {
            var export = Run("export", Sample("near_miss_shared"), "--onnx", onnx, "--recompute-shared");
            Assert.True(export.Code == 0 && File.Exists(onnx), export.ToString());
        }
        finally
        {
            File.Delete(onnx);
        }
        var bench = Run("bench", Sample("near_miss_shared"), "--iterations", "2", "--recompute-shared");
        Assert.True(bench.Code == 0, bench.ToString());
        var speed = Run("bench", Sample("near_miss_shared"), "--iterations", "2", "--keep-shared");
        Assert.True(speed.Code == 0, speed.ToString());
    }

    /// <summary>The benchmark workloads as programs (samples/bench, for <c>autodiff bench</c>): each parses, and the naive
    /// ones simplify to the fused op the benchmark project times.</summary>
    [Theory]
    [InlineData("fused_ce", "loss = mean(sparse_softmax_cross_entropy(z, t, axis=1))")]
    [InlineData("naive_ce", "loss = mean(sparse_softmax_cross_entropy(z, t, axis=1))")]
    [InlineData("large_vocab_ce", "loss = mean(sparse_softmax_cross_entropy(z, t, axis=1))")]
    [InlineData("logsumexp", "loss = sum(logsumexp(z, axis=1))")]
    [InlineData("matmul", "loss = sum(z @ w)")]
    public void BenchmarkWorkloadProgramsSimplifyToTheirFusedOps(string name, string simplified)
    {
        var r = Run("simplify", Path.Combine(RepoRoot, "samples", "bench", name + ".ad"), "--json");
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains(simplified, Json(r).GetProperty("after").GetString());
    }

    [Fact]
    public void CompareTextStatesTheCotangentForNonScalarOutputs()
    {
        var r = Run("compare", Sample("logsumexp_naive"));
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("cotangent of ones", r.Out);
        Assert.Contains("value (sum)", r.Out);
    }

    [Fact]
    public void CompareIsDeterministicForASeed()
    {
        var a = Json(Run("compare", Sample("mlp_classifier"), "--seed", "7", "--json"));
        var b = Json(Run("compare", Sample("mlp_classifier"), "--seed", "7", "--json"));
        var c = Json(Run("compare", Sample("mlp_classifier"), "--seed", "8", "--json"));
        Assert.Equal(a.GetProperty("naive").GetProperty("value").GetDouble(), b.GetProperty("naive").GetProperty("value").GetDouble());
        Assert.NotEqual(a.GetProperty("naive").GetProperty("value").GetDouble(), c.GetProperty("naive").GetProperty("value").GetDouble());
    }

    [Fact]
    public void StdinProgramWorksForEveryVerb()
    {
        var text = File.ReadAllText(Sample("softmax_ce_probs"));
        foreach (var args in new[] { new[] { "simplify", "-" }, ["compare", "-"], ["grad", "-"], ["bench", "-", "--iterations", "1"], ["eval", "-"] })
        {
            var r = RunWithStdin(text, args);
            Assert.True(r.Code == 0, string.Join(" ", args) + "\n" + r);
        }
        var s = RunWithStdin(text, "simplify", "-");
        Assert.Equal(Run("simplify", Sample("softmax_ce_probs")).Out, s.Out);
    }

    [Fact]
    public void SimplifyFusesSoftmaxCrossEntropy()
    {
        var j = Json(Run("simplify", Sample("softmax_ce_probs"), "--json"));
        Assert.Contains("softmax_cross_entropy", j.GetProperty("fused").EnumerateArray().Select(e => e.GetString()));
        Assert.NotEmpty(j.GetProperty("rewrites").EnumerateArray());
    }

    [Fact]
    public void SimplifyReportsNearMisses()
    {
        var j = Json(Run("simplify", Sample("near_miss_axis"), "--json"));
        Assert.NotEmpty(j.GetProperty("nearMisses").EnumerateArray());
    }

    [Fact]
    public void EvalReadsValuesFromJson()
    {
        using var f = new TempFile("""{"z": [1, 2.5, "NaN"], "w": 2}""", ".json");
        using var p = new TempFile("input z: f64[3]\ninput w: f64[]\ny = sum(z * w)\n");
        var j = Json(Run("eval", p.Path, "--inputs", f.Path, "--naive", "--json"));
        Assert.Equal(JsonValueKind.Null, j.GetProperty("value").ValueKind);   // NaN is written as null
        var gz = j.GetProperty("gradients").GetProperty("z").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        Assert.Equal([2.0, 2.0, 2.0], gz);
        Assert.Equal(JsonValueKind.Null, j.GetProperty("gradients").GetProperty("w").ValueKind);

        using var g = new TempFile("""{"z": [1, 2.5, 3], "w": 2}""", ".json");
        var k = Json(Run("eval", p.Path, "--inputs", g.Path, "--json", "--wrt", "w"));
        Assert.Equal(13.0, k.GetProperty("value").GetDouble());
        Assert.Equal(6.5, k.GetProperty("gradients").GetProperty("w").GetDouble());
        Assert.False(k.GetProperty("gradients").TryGetProperty("z", out _));
    }

    [Fact]
    public void EvalInputsFromStdin()
    {
        using var p = new TempFile("input z: f32[2]\ny = sum(exp(z))\n");
        var j = Json(RunWithStdin("""{"z": [0, 0]}""", "eval", p.Path, "--inputs", "-", "--json"));
        Assert.Equal(2.0, j.GetProperty("value").GetDouble());
    }

    [Fact]
    public void EvalFillsMissingInputsFromTheSeed()
    {
        var t = string.Join(", ", Enumerable.Range(0, 32).Select(i => i % 5));
        using var f = new TempFile($$"""{"t": [{{t}}]}""", ".json");
        var r = Run("eval", Sample("softmax_ce_index"), "--inputs", f.Path);
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("generated (seed 0, scale 1): z", r.Out);
    }

    [Fact]
    public void GeneratedProbabilitiesSumToOne()
    {
        var graph = Autodiff.Text.Parser.Parse(File.ReadAllText(Sample("softmax_ce_probs")));
        var values = InputValues.Generate(graph, 3, 1000);
        var y = values["y"];
        for (int row = 0; row < 64; row++)
        {
            double s = 0;
            for (int c = 0; c < 10; c++)
            {
                Assert.True(y[row, c] > 0);
                s += y[row, c];
            }
            Assert.Equal(1.0, s, 5);
        }
        var t = values["t"];
        Assert.All(Enumerable.Range(0, 64), i => Assert.InRange(t[i], 0, 9));
        Assert.Contains(Enumerable.Range(0, 64), i => Math.Abs(values["z"][i, 0]) > 10);   // scale 1000
    }

    [Fact]
    public void GradShowsBothBackwardGraphs()
    {
        var r = Run("grad", Sample("softmax_ce_probs"), "--wrt", "z");
        Assert.True(r.Code == 0, r.ToString());
        Assert.Contains("grad_z", r.Out);
        Assert.DoesNotContain("grad_y", r.Out);
        var simplified = r.Out[r.Out.IndexOf("# simplified backward graph", StringComparison.Ordinal)..];
        Assert.Contains("softmax", simplified);
    }

    [Fact]
    public void BenchRunsOnlyTheChosenGraph()
    {
        var j = Json(Run("bench", Sample("logistic"), "--graph", "naive", "--iterations", "2", "--threads", "1", "--json"));
        Assert.True(j.TryGetProperty("naive", out var naive));
        Assert.True(naive.GetProperty("intermediateBytes").GetInt64() > 0);
        Assert.False(j.TryGetProperty("simplified", out _));
        Assert.Equal(1, j.GetProperty("threads").GetInt32());
        Assert.False(string.IsNullOrEmpty(Run("bench", Sample("logistic"), "--iterations", "1").Out));
    }
}
