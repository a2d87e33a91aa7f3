using Autodiff.Interop;
using Autodiff.Rewrite;
using Autodiff.Text;
using Snapshooter;
using Snapshooter.Xunit;

namespace Autodiff.Tests.Interop;

/// <summary>DOT and Mermaid pictures: snapshots of the before/after documents and of single graphs, and properties
/// checked against the graphs themselves (one box per node and one edge per operand, fused nodes filled, the rewritten
/// region exactly the after-graph nodes that are not in the before graph, determinism).</summary>
public class GraphPictureTests
{
    private static SimplifyResult Simplified(string sample) => Simplifier.Simplify(Parser.Parse(OnnxRun.Sample(sample)));

    [Fact]
    public void DotBeforeAndAfterSnapshot() =>
        Snapshot.Match(GraphPicture.ToDot(Simplified("softmax_ce_probs")), SnapshotNameExtension.Create("softmax_ce_probs"));

    [Fact]
    public void MermaidBeforeAndAfterSnapshot() =>
        Snapshot.Match(GraphPicture.ToMermaid(Simplified("softmax_ce_probs")), SnapshotNameExtension.Create("softmax_ce_probs"));

    [Fact]
    public void DotSingleGraphSnapshot() =>
        Snapshot.Match(GraphPicture.ToDot(Parser.Parse(OnnxRun.Sample("sigmoid_bce"))), SnapshotNameExtension.Create("sigmoid_bce"));

    [Fact]
    public void MermaidSingleGraphSnapshot() =>
        Snapshot.Match(GraphPicture.ToMermaid(Parser.Parse(OnnxRun.Sample("sigmoid_bce"))), SnapshotNameExtension.Create("sigmoid_bce"));

    public static TheoryData<string> Samples() => new(OnnxRun.SampleNames());

    private static List<Node> Drawn(Graph g) => Graph.TopologicalOrder([.. g.Inputs, g.Output]);

    [Theory, MemberData(nameof(Samples))]
    public void DotMarksFusedAndRewrittenNodes(string sample)
    {
        var r = Simplified(sample);
        var dot = GraphPicture.ToDot(r);
        var lines = dot.Split('\n');
        List<Node> before = Drawn(r.Before), after = Drawn(r.After);
        var inBefore = new HashSet<Node>(before, ReferenceEqualityComparer.Instance);
        var inAfter = new HashSet<Node>(after, ReferenceEqualityComparer.Instance);
        string Box(string id) => Assert.Single(lines, l => l.StartsWith($"    {id} [", StringComparison.Ordinal));
        for (int i = 0; i < after.Count; i++)
        {
            var box = Box($"a{i}");
            Assert.Equal(after[i].Op.IsFused, box.Contains("#ffd8a8", StringComparison.Ordinal));
            Assert.Equal(!inBefore.Contains(after[i]), box.Contains("color=\"#c92a2a\"", StringComparison.Ordinal));
            Assert.Equal(after[i] == r.After.Output, box.Contains("peripheries=2", StringComparison.Ordinal));
        }
        for (int i = 0; i < before.Count; i++)
            Assert.Equal(!inAfter.Contains(before[i]), Box($"b{i}").Contains("dashed", StringComparison.Ordinal));
        Assert.Equal(before.Sum(n => n.Inputs.Count) + after.Sum(n => n.Inputs.Count), lines.Count(l => l.Contains(" -> ", StringComparison.Ordinal)));
        Assert.Equal(dot, GraphPicture.ToDot(Simplified(sample)));
    }

    [Theory, MemberData(nameof(Samples))]
    public void MermaidMarksFusedAndRewrittenNodes(string sample)
    {
        var r = Simplified(sample);
        var text = GraphPicture.ToMermaid(r);
        List<Node> before = Drawn(r.Before), after = Drawn(r.After);
        var inBefore = new HashSet<Node>(before, ReferenceEqualityComparer.Instance);
        string[] Class(string name) =>
            text.Split('\n').SingleOrDefault(l => l.StartsWith("  class ", StringComparison.Ordinal) && l.EndsWith(" " + name, StringComparison.Ordinal))
                ?.Split(' ')[3].Split(',') ?? [];
        var fused = before.Select((n, i) => (n, $"b{i}")).Concat(after.Select((n, i) => (n, $"a{i}"))).Where(p => p.n.Op.IsFused).Select(p => p.Item2);
        Assert.Equal(fused, Class("fused"));
        Assert.Equal(after.Select((n, i) => (n, i)).Where(p => !inBefore.Contains(p.n)).Select(p => $"a{p.i}"), Class("rewritten"));
        Assert.Equal(before.Sum(n => n.Inputs.Count) + after.Sum(n => n.Inputs.Count), text.Split('\n').Count(l => l.Contains(" -->", StringComparison.Ordinal)));
        Assert.Equal(text, GraphPicture.ToMermaid(Simplified(sample)));
    }

    [Fact]
    public void LabelsAreEscaped()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2);
        var g = b.Build(x.Exp(), new Dictionary<Node, string> { [x.Exp().Node] = "a\"b<c>&" });
        Assert.Contains("a\\\"b<c>&", GraphPicture.ToDot(g), StringComparison.Ordinal);
        Assert.Contains("a#quot;b#lt;c#gt;#amp;", GraphPicture.ToMermaid(g), StringComparison.Ordinal);
    }
}
