using System.Text.Json;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary><c>eval --hvp V.json</c> against the closed form of logsumexp's Hessian, its errors, and
/// <c>export --gradients</c> (the model itself runs on ONNX Runtime in Autodiff.Tests' OnnxGradientTests).</summary>
public class SecondOrderCliTests
{
    private const string Lse = "input z: f64[3]\ninput w: f64[]\ny = log(sum(exp(z))) * w\n";

    [Fact]
    public void EvalHvpMatchesTheClosedFormAtLogitsOf1000()
    {
        using var p = new TempFile(Lse);
        using var x = new TempFile("""{"z": [1000, 1001, 999], "w": 1}""", ".json");
        using var v = new TempFile("""{"z": [0.3, -1.1, 0.7]}""", ".json");
        var r = Run("eval", p.Path, "--inputs", x.Path, "--wrt", "z", "--hvp", v.Path, "--json");
        Assert.True(r.Code == 0, r.ToString());
        var j = JsonDocument.Parse(r.Out).RootElement;
        var got = j.GetProperty("hvp").GetProperty("z").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double[] z = [1000, 1001, 999], vv = [0.3, -1.1, 0.7];
        var e = z.Select(a => Math.Exp(a - 1001)).ToArray();
        var q = e.Select(a => a / e.Sum()).ToArray();
        double qv = q.Zip(vv, (a, b) => a * b).Sum();
        for (int i = 0; i < 3; i++) Assert.Equal(q[i] * vv[i] - q[i] * qv, got[i], 1e-12);

        var text = Run("eval", p.Path, "--inputs", x.Path, "--wrt", "z", "--hvp", v.Path);
        Assert.True(text.Code == 0, text.ToString());
        Assert.Contains("hvp_z: f64[3]", text.Out);
    }

    [Fact]
    public void EvalHvpOverEveryFloatInputByDefault()
    {
        // f = w·lse(z): the mixed block ∂²f/∂w∂z = softmax(z)
        using var p = new TempFile(Lse);
        using var x = new TempFile("""{"z": [1, 2, 3], "w": 2}""", ".json");
        using var v = new TempFile("""{"z": [0, 0, 0], "w": 1}""", ".json");
        var r = Run("eval", p.Path, "--inputs", x.Path, "--hvp", v.Path, "--json");
        Assert.True(r.Code == 0, r.ToString());
        var h = JsonDocument.Parse(r.Out).RootElement.GetProperty("hvp");
        var got = h.GetProperty("z").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double s = Math.Exp(1) + Math.Exp(2) + Math.Exp(3);
        for (int i = 0; i < 3; i++) Assert.Equal(Math.Exp(i + 1) / s, got[i], 1e-12);
        Assert.Equal(0, h.GetProperty("w").GetDouble());
    }

    [Theory]
    [InlineData("""{"z": [1, 2, 3]}""", "no tangent for input 'w'")]
    [InlineData("""{"z": [1, 2, 3], "w": 1, "q": 2}""", "unknown input 'q'")]
    [InlineData("""{"z": [1, 2], "w": 1}""", "input 'z'")]
    [InlineData("""{"z": [1, 2, 3], "w": 1""", "")]
    public void BadTangentsAreLocatedUserErrors(string tangents, string message)
    {
        using var p = new TempFile(Lse);
        using var v = new TempFile(tangents, ".json");
        var r = Run("eval", p.Path, "--hvp", v.Path);
        Assert.Equal(2, r.Code);
        Assert.Contains(v.Path, r.Err);
        Assert.Contains(message, r.Err);
        Assert.DoesNotContain("   at ", r.Err);
    }

    [Fact]
    public void TangentsNameExactlyTheWrtInputs()
    {
        using var p = new TempFile(Lse);
        using var v = new TempFile("""{"z": [1, 2, 3], "w": 1}""", ".json");
        var r = Run("eval", p.Path, "--wrt", "z", "--hvp", v.Path);
        Assert.Equal(2, r.Code);
        Assert.Contains("'w' is not a differentiated input; --hvp gives one tensor for each of 'z' (--wrt)", r.Err);
    }

    [Fact]
    public void ExportGradientsWritesTheTrainingStep()
    {
        string path = Path.Combine(Path.GetTempPath(), $"autodiff-cli-{Guid.NewGuid():N}.onnx");
        try
        {
            var r = Run("export", Sample("mlp_classifier"), "--onnx", path, "--gradients");
            Assert.True(r.Code == 0, r.ToString());
            Assert.StartsWith($"wrote {path}: simplified graph with gradients, ONNX opset 18, outputs loss f32[], grad_", r.Out);
            Assert.True(new FileInfo(path).Length > 0);
            var wrong = Run("export", Sample("mlp_classifier"), "--onnx", path, "--wrt", "x");
            Assert.Equal(2, wrong.Code);
            Assert.Contains("--wrt: only with --gradients", wrong.Err);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
