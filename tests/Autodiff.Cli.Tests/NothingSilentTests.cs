using System.Text.Json;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>Declared facts checked on input values, compare's verdict, the first non-finite node, and the messages and
/// exit codes of issue 15.</summary>
public class NothingSilentTests
{
    private const string ProbsProgram = "input z: f64[2, 3]\ninput y: f64[2, 3] probs(axis=1)\nloss = -mean(sum(y * log_softmax(z, axis=1), axis=1))\n";

    private static CliRunner.Result WithInputs(string program, string json, params string[] verbAndOptions)
    {
        using var p = new TempFile(program);
        using var v = new TempFile(json, ".json");
        var r = Run([verbAndOptions[0], p.Path, "--inputs", v.Path, .. verbAndOptions.Skip(1)]);
        return r with { Err = r.Err.Replace(v.Path, "values.json") };
    }

    public static TheoryData<string, string, string> Violations() => new()
    {
        { ProbsProgram, """{"y": [[0.5, 0.5, 0.5], [-1, 2, 0]]}""", "values.json: input 'y' is declared probs(axis=1), but row 0 sums to 1.5 (allowed: 1 ± 1e-09)" },
        { ProbsProgram, """{"y": [[0.2, 0.3, 0.5], [-1, 2, 0]]}""", "values.json: input 'y' is declared probs(axis=1), but y[1, 0] = -1 is negative" },
        { ProbsProgram, """{"y": [[0.2, 0.3, 0.5], [0.2, 0.3, "NaN"]]}""", "values.json: input 'y' is declared probs(axis=1), but y[1, 2] = nan is NaN" },
        { "input z: f32[3, 2]\ninput y: f32[3, 2] probs(axis=0)\nloss = sum(softmax_cross_entropy(z, y, axis=0))\n", """{"y": [[0.5, 0.5], [0.25, 0.25], [0.25, 0.5]]}""",
            "values.json: input 'y' is declared probs(axis=0), but row [:, 1] sums to 1.25 (allowed: 1 ± 1e-04)" },
        { "input x: f64[3] positive\ny = exp(sum(log(x)))\n", """{"x": [-1, 2, 3]}""", "values.json: input 'x' is declared positive, but x[0] = -1 is not > 0" },
        { "input x: f64[3] positive\ny = exp(sum(log(x)))\n", """{"x": [1, 0, 3]}""", "values.json: input 'x' is declared positive, but x[1] = 0 is not > 0" },
    };

    [Theory]
    [MemberData(nameof(Violations))]
    public void AViolatedFactIsExit2NamingTheInputTheFactAndWhere(string program, string json, string message)
    {
        foreach (var verb in new[] { "eval", "compare", "grad", "bench" })
        {
            var r = WithInputs(program, json, verb);
            Assert.True(r.Code == 2, r.ToString());
            Assert.Equal(message + "\n", r.Err);
            Assert.Equal("", r.Out);   // no value, no gradient
        }
    }

    [Fact]
    public void ValuesThatKeepTheFactsRun()
    {
        var r = WithInputs(ProbsProgram, """{"y": [[0.2, 0.3, 0.5], [1, 0, 0]]}""", "eval", "--json");
        Assert.True(r.Code == 0, r.ToString());
        var f32 = WithInputs("input z: f32[1, 3]\ninput y: f32[1, 3] probs(axis=1)\nloss = sum(softmax_cross_entropy(z, y, axis=1))\n",
            """{"y": [[0.1, 0.2, 0.7]]}""", "eval");
        Assert.True(f32.Code == 0, f32.ToString());
    }

    [Fact]
    public void EmptyArrayIsAcceptedForAnyShapeWithoutElements()
    {
        var r = WithInputs("input z: f32[0, 3]\ny = sum(z)\n", """{"z": []}""", "eval", "--json");
        Assert.True(r.Code == 0, r.ToString());
        Assert.Equal(0, JsonDocument.Parse(r.Out).RootElement.GetProperty("value").GetDouble());
        var wrong = WithInputs("input z: f32[2, 3]\ny = sum(z)\n", """{"z": []}""", "eval");
        Assert.True(wrong.Code == 2, wrong.ToString());
        Assert.Contains("expected shape [2, 3]", wrong.Err);
    }

    [Fact]
    public void AStringWhereArraysAreExpectedIsNamed()
    {
        var r = WithInputs(ProbsProgram, """{"z": "hello"}""", "eval");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Equal("values.json: input 'z': expected nested arrays of shape [2, 3] (f64[2, 3]), found the string \"hello\"\n", r.Err);
    }

    [Fact]
    public void ExportToAMissingDirectoryBlamesTheOutputFile()
    {
        string target = Path.Combine(Path.GetTempPath(), "no-such-autodiff-dir", "x.onnx");
        var r = Run("export", Sample("mlp_classifier"), "--onnx", target);
        Assert.True(r.Code == 2, r.ToString());
        Assert.StartsWith(target + ": cannot write the ONNX file: the directory ", r.Err);
        Assert.DoesNotContain(Sample("mlp_classifier"), r.Err);
    }

    [Fact]
    public void ExportOfAnOpTheSimplifierIntroducedSuggestsNaive()
    {
        using var f = new TempFile("input x: f64[3, 4]\ny = sum(sqrt(sum(square(x), axis=1)))\n");
        string target = f.Path + ".onnx";
        var r = Run("export", f.Path, "--onnx", target);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("'pnorm'", r.Err);
        Assert.Contains("--naive", r.Err);
        Assert.False(File.Exists(target));
        var naive = Run("export", f.Path, "--onnx", target, "--naive");
        Assert.True(naive.Code == 0, naive.ToString());
        File.Delete(target);
    }

    [Fact]
    public void UsageErrorsExit2()
    {
        Assert.Equal(2, Run("simplify", Sample("logistic"), "--dot", "--json").Code);
        Assert.Equal(2, Run("compare", Sample("logistic"), "--seed", "x").Code);
    }

    private static JsonElement CompareJson(params string[] args)
    {
        var r = Run(["compare", .. args, "--json"]);
        Assert.True(r.Code == 0, r.ToString());
        return JsonDocument.Parse(r.Out).RootElement;
    }

    [Fact]
    public void TheMainJobIsASimplificationThatFixesTheNaiveGraph()
    {
        var j = CompareJson(Sample("softmax_ce_probs"), "--scale", "1000");
        Assert.Equal("simplified-fixes-naive", j.GetProperty("verdict").GetString());
        Assert.False(j.GetProperty("agree").GetBoolean());
        var first = j.GetProperty("naive").GetProperty("firstNonFinite");
        Assert.Equal("exp", first.GetProperty("op").GetString());
        Assert.Equal("forward", first.GetProperty("pass").GetString());
        var lines = File.ReadAllLines(Sample("softmax_ce_probs"));
        int line = first.GetProperty("line").GetInt32(), column = first.GetProperty("column").GetInt32();
        Assert.StartsWith("exp(", lines[line - 1][(column - 1)..]);
        Assert.Equal(JsonValueKind.Null, j.GetProperty("simplified").GetProperty("firstNonFinite").ValueKind);

        var text = Run("compare", Sample("softmax_ce_probs"), "--scale", "1000");
        Assert.Contains($"The naive graph went non-finite first at exp (line {line}, column {column}) in the forward pass", text.Out);
        Assert.Contains("this is what the rewrite is for", text.Out);
        Assert.Contains("softmax_cross_entropy(z, y, axis=1, normalized=true)", text.Out);   // the simplified program
    }

    [Fact]
    public void NaNOnBothSidesIsNeverAgreement()
    {
        using var f = new TempFile("input z: f32[4, 3]\ny = sum(sqrt(z - 10))\n");
        var j = CompareJson(f.Path);
        Assert.Equal("both-non-finite", j.GetProperty("verdict").GetString());
        Assert.False(j.GetProperty("agree").GetBoolean());
        Assert.Equal("sqrt", j.GetProperty("naive").GetProperty("firstNonFinite").GetProperty("op").GetString());
    }

    /// <summary><c>--check</c> gates on the verdict: exit 1 (report still printed) unless the graphs agree or the
    /// simplified graph fixes the naive one; exit 0 otherwise; without it, exit 0 whatever the verdict.</summary>
    [Fact]
    public void CheckGatesOnTheVerdict()
    {
        using var nan = new TempFile("input z: f32[4, 3]\ny = sum(sqrt(z - 10))\n");
        var both = Run("compare", nan.Path, "--check");
        Assert.Equal(1, both.Code);
        Assert.Contains("verdict", both.Out);
        Assert.EndsWith("compare --check: verdict both-non-finite", both.Err.Trim());
        Assert.Equal(0, Run("compare", nan.Path).Code);

        Assert.Equal(0, Run("compare", Sample("softmax_ce_probs"), "--scale", "1000", "--check").Code);   // simplified-fixes-naive
        Assert.Equal(0, Run("compare", Sample("softmax_ce_probs"), "--check").Code);                      // agree
    }

    [Fact]
    public void InfinitiesAtTheSamePlacesAgree()
    {
        using var p = new TempFile("input x: f64[3]\ny = sum(exp(x))\n");
        using var v = new TempFile("""{"x": [1000, 0, 1]}""", ".json");
        var j = CompareJson(p.Path, "--inputs", v.Path);
        Assert.Equal("agree", j.GetProperty("verdict").GetString());
        Assert.True(j.GetProperty("agree").GetBoolean());
    }

    [Theory]
    [InlineData("softmax_max_shift", "1000")]
    [InlineData("softmax_ce_probs", "1")]
    [InlineData("mlp_classifier", "1")]
    public void NoFalseAlarms(string sample, string scale)
    {
        var j = CompareJson(Sample(sample), "--scale", scale);
        Assert.Equal("agree", j.GetProperty("verdict").GetString());
        Assert.True(j.GetProperty("agree").GetBoolean());
    }

    [Fact]
    public void TheVerdictOrdersTheCases()
    {
        Agreement A(int both = 0, int simplifiedOnly = 0, int naiveOnly = 0, int exceeding = 0) =>
            new(Tolerance.F64, 1, 1e-9, 10, 10, 0, 0, both, simplifiedOnly, naiveOnly, exceeding, null);
        Assert.Equal(CompareCommand.Verdict.Agree, CompareCommand.Judge(A(), A()));
        Assert.Equal(CompareCommand.Verdict.SimplifiedFixesNaive, CompareCommand.Judge(A(naiveOnly: 3), A(naiveOnly: 1)));
        Assert.Equal(CompareCommand.Verdict.Disagree, CompareCommand.Judge(A(naiveOnly: 3, exceeding: 1), A()));
        Assert.Equal(CompareCommand.Verdict.BothNonFinite, CompareCommand.Judge(A(both: 1, naiveOnly: 2), A()));
        Assert.Equal(CompareCommand.Verdict.SimplifiedNonFinite, CompareCommand.Judge(A(both: 1, simplifiedOnly: 1), A()));
        Assert.Equal(CompareCommand.Verdict.Disagree, CompareCommand.Judge(A(), A(exceeding: 1)));
    }

    [Fact]
    public void EvalNamesTheFirstNonFiniteNodeInEitherPass()
    {
        using var fwd = new TempFile("input x: f64[3]\ny = sum(log(x))\n");
        using var bwd = new TempFile("input x: f64[2]\ny = sum(sqrt(x))\n");
        using var v3 = new TempFile("""{"x": [1, 0, 2]}""", ".json");
        using var v2 = new TempFile("""{"x": [0, 1]}""", ".json");
        var f = Run("eval", fwd.Path, "--inputs", v3.Path, "--json", "--naive");
        var first = JsonDocument.Parse(f.Out).RootElement.GetProperty("firstNonFinite");
        Assert.Equal(("log", 2, 9, "forward"), (first.GetProperty("op").GetString(), first.GetProperty("line").GetInt32(), first.GetProperty("column").GetInt32(), first.GetProperty("pass").GetString()));
        var b = Run("eval", bwd.Path, "--inputs", v2.Path, "--json", "--naive");
        first = JsonDocument.Parse(b.Out).RootElement.GetProperty("firstNonFinite");
        Assert.Equal(("sqrt", 2, 9, "backward"), (first.GetProperty("op").GetString(), first.GetProperty("line").GetInt32(), first.GetProperty("column").GetInt32(), first.GetProperty("pass").GetString()));
        var ok = Run("eval", Sample("logistic"), "--json");
        Assert.Equal(JsonValueKind.Null, JsonDocument.Parse(ok.Out).RootElement.GetProperty("firstNonFinite").ValueKind);
        var text = Run("eval", fwd.Path, "--inputs", v3.Path);
        Assert.Contains("first non-finite  log (line 2, column 9) in the forward pass", text.Out);
    }
}
