using Autodiff.Interop;
using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Interop;

/// <summary>Every sample program (samples/programs/*.ad), naive and simplified, exported to ONNX and run on ONNX Runtime
/// against <see cref="Tape.Forward"/>: 1e-5 (f32 programs) or 1e-12 (f64 programs) relative to the output's largest
/// magnitude, at input scale 1, and for the simplified graph also at scale 1000 (large logits).</summary>
public class OnnxRoundTripTests
{
    /// <summary>The sample graphs that cannot be exported, as sample → the op without an ONNX mapping in the naive graph
    /// and in the simplified graph (null where that graph exports). The CRF ops have no ONNX counterpart (a forward
    /// algorithm would need a Loop); the Gumbel ops draw noise from a seed by our own generator, which no ONNX op
    /// reproduces; pnorm (which the simplifier introduces) is not mapped.</summary>
    public static readonly IReadOnlyDictionary<string, (string? Naive, string? Simplified)> NotExportable =
        new Dictionary<string, (string?, string?)>
        {
            ["crf_log_likelihood"] = ("crf_log_likelihood", "crf_log_likelihood"),
            ["crf_log_partition"] = ("crf_log_partition", "crf_log_partition"),
            ["gumbel_max_reinforce"] = ("gumbel_max", "gumbel_max"),
            ["gumbel_max_step"] = ("gumbel_max", "gumbel_max"),
            ["gumbel_softmax"] = ("gumbel_softmax", "gumbel_softmax"),
            ["gumbel_straight_through"] = ("gumbel_softmax", "gumbel_softmax"),
            ["gumbel_top_k"] = ("gumbel_top_k", "gumbel_top_k"),
            ["pnorm_naive"] = (null, "pnorm"),
        };

    /// <summary>The op that keeps a sample graph from exporting, or null.</summary>
    public static string? Unmapped(string sample, bool simplified) =>
        NotExportable.TryGetValue(sample, out var ops) ? (simplified ? ops.Simplified : ops.Naive) : null;

    public static TheoryData<string> Samples() => new(OnnxRun.SampleNames());

    public static TheoryData<string, bool, double> Exportable()
    {
        var data = new TheoryData<string, bool, double>();
        foreach (var s in OnnxRun.SampleNames())
        {
            if (Unmapped(s, false) is null) data.Add(s, false, 1);
            if (Unmapped(s, true) is not null) continue;
            data.Add(s, true, 1);
            data.Add(s, true, 1000);
        }
        return data;
    }

    private static Graph Load(string sample, bool simplified)
    {
        var graph = Parser.Parse(OnnxRun.Sample(sample));
        return simplified ? Simplifier.Simplify(graph).After : graph;
    }

    [Theory, MemberData(nameof(Exportable))]
    public void OnnxRuntimeMatchesOurEvaluation(string sample, bool simplified, double scale)
    {
        var graph = Load(sample, simplified);
        var inputs = OnnxRun.Inputs(graph, 7, scale);
        var expected = OnnxRun.Ours(graph, inputs);
        var actual = OnnxRun.Run(OnnxRun.Export(graph), graph, inputs);
        var mismatch = OnnxRun.Mismatch(actual, expected, graph.Output.DType == DType.F64 ? 1e-12 : 1e-5);
        Assert.True(mismatch is null, mismatch);
    }

    [Theory, MemberData(nameof(Samples))]
    public void ExportFailsExactlyForTheListedSamplesWithTheirReason(string sample)
    {
        foreach (var simplified in new[] { false, true })
        {
            var graph = Load(sample, simplified);
            if (Unmapped(sample, simplified) is { } op)
                Assert.StartsWith($"onnx export: op '{op}' has no ONNX mapping (", Assert.Throws<AutodiffException>(() => OnnxRun.Export(graph)).Message);
            else
                Assert.NotEmpty(OnnxRun.Export(graph));
        }
    }
}
