using System.Text.Json;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary><c>autodiff lint</c>: findings as FILE:LINE:COLUMN: OP: MESSAGE or JSON, exit code 1 when there is one.</summary>
public class LintCommandTests
{
    private const string Guarded = "input x: f64[4, 3]\ninput y: f64[4, 3]\nr = sum(log(x + 1e-7)) + sum(y / (x - 1))\n";

    [Fact]
    public void FindingsAreListedWithTheirPositions()
    {
        var r = RunWithStdin(Guarded, "lint", "-");
        Assert.True(r.Code == 1, r.ToString());
        var lines = r.Out.TrimEnd().Split('\n');
        Assert.Equal(2, lines.Length);
        Assert.StartsWith("<stdin>:3:9: log: log of x + 1e-07: adding 1e-07 proves nothing", lines[0].Replace("1E-07", "1e-07"));
        Assert.StartsWith("<stdin>:3:32: div: division by x - 1", lines[1]);
    }

    [Fact]
    public void JsonHasLineColumnOpAndMessage()
    {
        var r = RunWithStdin(Guarded, "lint", "-", "--json");
        Assert.True(r.Code == 1, r.ToString());
        using var doc = JsonDocument.Parse(r.Out);
        var findings = doc.RootElement.GetProperty("findings").EnumerateArray().ToArray();
        Assert.Equal(2, findings.Length);
        Assert.Equal(["line", "column", "op", "message"], findings[0].EnumerateObject().Select(p => p.Name).ToArray());
        Assert.Equal((3, 9, "log"), (findings[0].GetProperty("line").GetInt32(), findings[0].GetProperty("column").GetInt32(), findings[0].GetProperty("op").GetString()));
        Assert.Equal((3, 32, "div"), (findings[1].GetProperty("line").GetInt32(), findings[1].GetProperty("column").GetInt32(), findings[1].GetProperty("op").GetString()));
    }

    [Theory]
    [InlineData("softmax_ce_probs")]
    [InlineData("softmax_ce_index")]
    public void AFusedCrossEntropyHasNoFindings(string sample)
    {
        var r = Run("lint", Sample(sample), "--json");
        Assert.True(r.Code == 0, r.ToString());
        Assert.Equal("{\"findings\":[]}", r.Out.Trim().Replace(" ", "").Replace("\n", ""));
        Assert.Contains("no findings", Run("lint", Sample(sample)).Out);
    }

    [Fact]
    public void ASpeedFirstEntropyKeepsItsLog()
    {
        const string entropy = "input z: f64[4, 5]\np = softmax(z, axis=1)\nh = -mean(sum(p * log(p), axis=1))\n";
        Assert.Equal(0, RunWithStdin(entropy, "lint", "-").Code);
        var keep = RunWithStdin(entropy, "lint", "-", "--keep-shared");
        Assert.Equal(1, keep.Code);
        Assert.StartsWith("<stdin>:3:19: log: log of p, which is not proved > 0", keep.Out);
    }
}
