using System.Text.Json;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary>Exit codes and messages for usage and user errors.</summary>
public class ErrorTests
{
    [Fact]
    public void ParseErrorPrintsFileLineColumnAndExits2()
    {
        using var f = new TempFile("input z: f32[4]\ny = exp(z\n");
        var r = Run("simplify", f.Path);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(f.Path)}:\d+:\d+: ", r.Err);
        Assert.Equal("", r.Out);
        Assert.DoesNotContain("   at ", r.Err);   // no stack trace
    }

    [Fact]
    public void ParseErrorOnStdinIsReportedAsStdin()
    {
        var r = RunWithStdin("input z: f32[4]\ny = exp(z) +\n", "simplify", "-");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Matches(@"^<stdin>:\d+:\d+: ", r.Err);
    }

    [Theory]
    [InlineData("input z: f32[4, 3]\ny = sum(z, axis=2)\n", "sum")]
    [InlineData("input a: f32[2, 3]\ninput b: f32[4, 5]\nc = a @ b\n", "matmul")]
    public void ShapeErrorNamesTheOpAndExits2(string program, string op)
    {
        using var f = new TempFile(program);
        foreach (var verb in new[] { "simplify", "compare", "grad", "bench", "eval" })
        {
            var r = Run(verb, f.Path);
            Assert.True(r.Code == 2, r.ToString());
            Assert.StartsWith(f.Path + ":", r.Err);
            Assert.Contains(op, r.Err);
            Assert.DoesNotContain("   at ", r.Err);
        }
    }

    [Fact]
    public void TypeErrorOutsideTheParserIsFileColonMessage()
    {
        var r = Run("eval", Sample("softmax_ce_probs"), "--wrt", "t");
        Assert.True(r.Code == 2, r.ToString());
        Assert.StartsWith(Sample("softmax_ce_probs") + ": ", r.Err);
        Assert.Contains("'t'", r.Err);
    }

    [Fact]
    public void UnknownWrtNameIsAUserError()
    {
        var r = Run("grad", Sample("softmax_ce_probs"), "--wrt", "nope");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("nope", r.Err);
    }

    [Fact]
    public void MissingFileExits2()
    {
        var path = Path.Combine(Path.GetTempPath(), "no-such-autodiff-program.ad");
        var r = Run("simplify", path);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains(path, r.Err);
        Assert.Contains("no such", r.Err);
    }

    [Fact]
    public void UnknownVerbShowsHelpAndFails()
    {
        var r = Run("frobnicate", Sample("logistic"));
        Assert.Equal(2, r.Code);
        Assert.Contains("frobnicate", r.Err);
        Assert.Contains("Usage:", r.Out + r.Err);
    }

    [Fact]
    public void UnknownOptionFails()
    {
        var r = Run("simplify", Sample("logistic"), "--bogus");
        Assert.Equal(2, r.Code);
        Assert.Contains("--bogus", r.Err);
    }

    [Fact]
    public void NoVerbFails()
    {
        var r = Run();
        Assert.Equal(2, r.Code);
        Assert.Contains("Usage:", r.Out + r.Err);
    }

    [Fact]
    public void BadGraphChoiceFails()
    {
        var r = Run("bench", Sample("logistic"), "--graph", "fast");
        Assert.Equal(2, r.Code);
        Assert.Contains("fast", r.Err);
    }

    [Fact]
    public void HelpExits0()
    {
        var r = Run("--help");
        Assert.Equal(0, r.Code);
        foreach (var verb in new[] { "simplify", "compare", "grad", "bench", "eval" }) Assert.Contains(verb, r.Out);
    }

    private static CliRunner.Result EvalWithInputs(string json, string sample = "softmax_ce_probs")
    {
        using var f = new TempFile(json, ".json");
        var r = Run("eval", Sample(sample), "--inputs", f.Path, "--json");
        if (r.Code == 2) Assert.StartsWith(f.Path + ":", r.Err);
        return r;
    }

    [Fact]
    public void InputsWithWrongShapeNameTheInputAndShapes()
    {
        var r = EvalWithInputs("""{"z": [[1, 2], [3, 4]]}""");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("input 'z'", r.Err);
        Assert.Contains("[64, 10]", r.Err);
        Assert.Contains("found [2, 2]", r.Err);
    }

    [Fact]
    public void InputsWithUnknownNameListTheInputs()
    {
        var r = EvalWithInputs("""{"nope": 1}""");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("unknown input 'nope'", r.Err);
        Assert.Contains("'z'", r.Err);
    }

    [Fact]
    public void InputsWithNonNumberNameTheElement()
    {
        var r = EvalWithInputs("""{"w": [[1], [2], ["x"]]}""", "logistic");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("input 'w'", r.Err);
        Assert.Contains("expected a number", r.Err);
        Assert.Contains("[2, 0]", r.Err);
    }

    [Fact]
    public void InputsWithRaggedArraysAreRejected()
    {
        var r = EvalWithInputs("""{"w": [[1], [2, 3], [4]]}""", "logistic");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("ragged", r.Err);
    }

    [Fact]
    public void IntegerInputsRejectFractionsAndOutOfRangeClasses()
    {
        var t = string.Join(", ", Enumerable.Repeat("1", 63));
        var frac = EvalWithInputs($$"""{"t": [{{t}}, 1.5]}""");
        Assert.True(frac.Code == 2, frac.ToString());
        Assert.Contains("expected an integer", frac.Err);
        var range = EvalWithInputs($$"""{"t": [{{t}}, 10]}""");
        Assert.True(range.Code == 2, range.ToString());
        Assert.Contains("classes(10)", range.Err);
    }

    [Fact]
    public void InvalidJsonIsAUserError()
    {
        using var f = new TempFile("{\n  \"z\": [1, 2\n", ".json");
        var r = Run("eval", Sample("softmax_ce_probs"), "--inputs", f.Path);
        Assert.True(r.Code == 2, r.ToString());
        // 1-based line and column, as in program parse errors; System.Text.Json's own 0-based suffix is gone.
        Assert.Matches($@"^{System.Text.RegularExpressions.Regex.Escape(f.Path)}:3:1: invalid JSON: ", r.Err);
        Assert.DoesNotContain("LineNumber", r.Err);
    }

    [Fact]
    public void InputsMustBeAnObject()
    {
        var r = EvalWithInputs("[1, 2]");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("JSON object", r.Err);
    }

    [Fact]
    public void MissingInputsFileExits2()
    {
        var r = Run("compare", Sample("logistic"), "--inputs", "/no/such/values.json");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("/no/such/values.json", r.Err);
    }

    [Fact]
    public void ProgramAndInputsCannotBothComeFromStdin()
    {
        var r = RunWithStdin("input z: f32[2]\ny = sum(z)\n", "eval", "-", "--inputs", "-");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("standard input", r.Err);
    }

    [Fact]
    public void ZeroIterationsIsAUsageError()
    {
        var r = Run("bench", Sample("logistic"), "--iterations", "0");
        Assert.Equal(2, r.Code);   // usage errors exit 2 with the other user errors; 1 is for a check that found a difference
        Assert.Contains("--iterations", r.Err);
    }
}
