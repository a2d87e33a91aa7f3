using Autodiff.Interop;
using Autodiff.Rewrite;
using Autodiff.Text;
using static Autodiff.Cli.Tests.CliRunner;

namespace Autodiff.Cli.Tests;

/// <summary><c>simplify --dot/--mermaid</c> and <c>export --onnx</c>.</summary>
public class InteropCliTests
{
    [Fact]
    public void SimplifyDotAndMermaidPrintTheLibraryPictures()
    {
        var result = Simplifier.Simplify(Parser.Parse(File.ReadAllText(Sample("softmax_ce_probs"))));
        var dot = Run("simplify", Sample("softmax_ce_probs"), "--dot");
        Assert.True(dot.Code == 0, dot.ToString());
        Assert.Equal(GraphPicture.ToDot(result), dot.Out);
        var mermaid = Run("simplify", Sample("softmax_ce_probs"), "--mermaid");
        Assert.True(mermaid.Code == 0, mermaid.ToString());
        Assert.Equal(GraphPicture.ToMermaid(result), mermaid.Out);
    }

    [Theory]
    [InlineData("--dot", "--mermaid")]
    [InlineData("--dot", "--json")]
    public void PictureOptionsAreAlternatives(string a, string b)
    {
        var r = Run("simplify", Sample("softmax_ce_probs"), a, b);
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("at most one", r.Err);
        Assert.Equal("", r.Out);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void ExportWritesAnOnnxModel(bool naive)
    {
        string path = Path.Combine(Path.GetTempPath(), $"autodiff-cli-{Guid.NewGuid():N}.onnx");
        try
        {
            var r = naive ? Run("export", Sample("mlp_classifier"), "--onnx", path, "--naive") : Run("export", Sample("mlp_classifier"), "--onnx", path);
            Assert.True(r.Code == 0, r.ToString());
            Assert.Equal($"wrote {path}: {(naive ? "naive (as written)" : "simplified")} graph, ONNX opset 18, output f32[]\n", r.Out);
            var graph = Parser.Parse(File.ReadAllText(Sample("mlp_classifier")));
            if (!naive) graph = Simplifier.Simplify(graph).After;
            using var expected = new MemoryStream();
            graph.ToOnnx(expected);
            Assert.Equal(expected.ToArray(), File.ReadAllBytes(path));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void ExportOfAnOpWithoutMappingIsAUserErrorAndWritesNothing()
    {
        using var f = new TempFile("input x: f64[3, 4]\ny = pnorm(x, p=3, axis=1)\n");
        string path = f.Path + ".onnx";
        var r = Run("export", f.Path, "--onnx", path);
        Assert.True(r.Code == 2, r.ToString());
        Assert.StartsWith($"{f.Path}: onnx export: op 'pnorm' has no ONNX mapping (no scaled decomposition", r.Err);
        Assert.False(File.Exists(path));
    }

    [Fact]
    public void ExportNeedsAnOutputFile()
    {
        var r = Run("export", Sample("mlp_classifier"));
        Assert.True(r.Code == 2, r.ToString());
        Assert.Contains("--onnx", r.Err);
    }
}
