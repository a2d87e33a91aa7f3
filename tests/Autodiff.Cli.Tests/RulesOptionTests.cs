using System.Text.Json;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary><c>--rules FILE</c>: users' rules run with the built-in ones on every verb that simplifies; mistakes and
/// unsound rules exit 2 with a located message.</summary>
public class RulesOptionTests
{
    private const string Program = "input x: f64[4, 3]\ninput y: f64[4, 3]\nr = sum(x * x + y)\n";

    [Fact]
    public void UserRuleIsNamedInTheJsonTrace()
    {
        using var rules = new TempFile("# squares\nrule square-self: x * x => square(x)\n", ".rules");
        using var program = new TempFile(Program);
        var r = Run("simplify", program.Path, "--rules", rules.Path, "--json");
        Assert.True(r.Code == 0, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var rewrite = doc.RootElement.GetProperty("rewrites").EnumerateArray().Single(e => e.GetProperty("rule").GetString() == "square-self");
        Assert.Equal("x * x", rewrite.GetProperty("before").GetString());
        Assert.Equal("square(x)", rewrite.GetProperty("after").GetString());
    }

    [Theory]
    [InlineData("simplify")]
    [InlineData("compare")]
    [InlineData("grad")]
    [InlineData("eval")]
    [InlineData("bench")]
    public void EveryVerbThatSimplifiesTakesRules(string verb)
    {
        using var rules = new TempFile("rule square-self: x * x => square(x)\n", ".rules");
        using var program = new TempFile(Program);
        string[] extra = verb == "bench" ? ["--iterations", "1"] : [];
        var r = Run([verb, program.Path, "--rules", rules.Path, .. extra]);
        Assert.True(r.Code == 0, r.ToString());
    }

    [Fact]
    public void GradRunsUserRulesOnTheBackwardGraphs()
    {
        // The backward graph of sum(x * x) is x + x (both factors' gradients); the user's rule runs in its clean-up too.
        using var rules = new TempFile("rule twice: x + x => 2 * x\n", ".rules");
        using var program = new TempFile("input x: f64[4, 3]\nr = sum(x * x)\n");
        var plain = Run("grad", program.Path);
        Assert.True(plain.Code == 0, plain.ToString());
        Assert.Contains("grad_x = x + x\n", plain.Out);
        var r = Run("grad", program.Path, "--rules", rules.Path);
        Assert.True(r.Code == 0, r.ToString());
        Assert.DoesNotContain("x + x", r.Out);
        Assert.Equal(2, r.Out.Split("grad_x = 2 * x\n").Length - 1);   // naive and simplified
    }

    [Fact]
    public void ExportTakesRules()
    {
        using var rules = new TempFile("rule square-self: x * x => square(x)\n", ".rules");
        using var program = new TempFile(Program);
        var onnx = Path.Combine(Path.GetTempPath(), $"autodiff-rules-{Guid.NewGuid():N}.onnx");
        try
        {
            var r = Run("export", program.Path, "--onnx", onnx, "--rules", rules.Path);
            Assert.True(r.Code == 0, r.ToString());
        }
        finally { File.Delete(onnx); }
    }

    [Fact]
    public void UnsoundRuleExits2WithACounterexample()
    {
        using var rules = new TempFile("rule bogus: exp(x) => x + 1\n", ".rules");
        using var program = new TempFile(Program);
        var r = Run("simplify", program.Path, "--rules", rules.Path);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Matches(@$"^{System.Text.RegularExpressions.Regex.Escape(rules.Path)}:1: rule bogus \(exp\(x\) => x \+ 1\) changes the value: at x = \S+ the left side is \S+, the right side \S+\n$", r.Err);
        Assert.Equal("", r.Out);
    }

    [Fact]
    public void SyntaxErrorExits2AtLineAndColumn()
    {
        using var rules = new TempFile("\nrule a: exp(x) => x +\n", ".rules");
        using var program = new TempFile(Program);
        var r = Run("simplify", program.Path, "--rules", rules.Path);
        Assert.True(r.Code == 2, r.ToString());
        Assert.StartsWith($"{rules.Path}:2:22: expected an expression", r.Err);
    }

    [Fact]
    public void MissingRulesFileExits2()
    {
        using var program = new TempFile(Program);
        var r = Run("simplify", program.Path, "--rules", "no-such.rules");
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("no-such.rules: no such rules file", r.Err);
    }
}
