using System.Text;
using Autodiff.Interop;
using Autodiff.Interop.Onnx;
using Autodiff.Rewrite;
using Autodiff.Text;
using Snapshooter;
using Snapshooter.Xunit;

namespace Autodiff.Tests.Interop;

/// <summary>The written protobuf read back: header, typed inputs and output, nodes in topological order, and the node
/// list of two exported samples as snapshots.</summary>
public class OnnxStructureTests
{
    private static ModelProto ReadBack(Graph graph) => ModelProto.Parser.ParseFrom(OnnxRun.Export(graph));

    public static TheoryData<string, bool> Graphs()
    {
        var data = new TheoryData<string, bool>();
        foreach (var s in OnnxRun.SampleNames())
            foreach (var simplified in new[] { false, true })
                if (OnnxRoundTripTests.Unmapped(s, simplified) is null) data.Add(s, simplified);
        return data;
    }

    private static Graph Load(string sample, bool simplified)
    {
        var graph = Parser.Parse(OnnxRun.Sample(sample));
        return simplified ? Simplifier.Simplify(graph).After : graph;
    }

    [Theory, MemberData(nameof(Graphs))]
    public void ModelIsWellFormed(string sample, bool simplified)
    {
        var graph = Load(sample, simplified);
        var m = ReadBack(graph);
        Assert.Equal(OnnxExporter.IrVersion, m.IrVersion);
        var opset = Assert.Single(m.OpsetImport);
        Assert.Equal(("", 18L), (opset.Domain, opset.Version));

        Assert.Equal(graph.Inputs.Select(i => $"{((InputOp)i.Op).InputName}: {TypeOf(i)}"), m.Graph.Input.Select(Describe));
        var output = Assert.Single(m.Graph.Output);
        Assert.Equal(TypeOf(graph.Output), TypeOf(output));

        // Every node input is a graph input, an initializer or an earlier node's output; every name is defined once.
        var defined = new HashSet<string>(m.Graph.Input.Select(i => i.Name).Concat(m.Graph.Initializer.Select(i => i.Name)), StringComparer.Ordinal);
        Assert.Equal(m.Graph.Input.Count + m.Graph.Initializer.Count, defined.Count);
        foreach (var node in m.Graph.Node)
        {
            Assert.All(node.Input, i => Assert.Contains(i, defined));
            Assert.All(node.Output, o => Assert.True(defined.Add(o), $"{o} is defined twice"));
        }
        Assert.Contains(output.Name, defined);
    }

    [Theory]
    [InlineData("softmax_ce_probs", false)]
    [InlineData("softmax_ce_probs", true)]
    [InlineData("mlp_classifier", true)]
    public void NodeList(string sample, bool simplified)
    {
        var m = ReadBack(Load(sample, simplified));
        var w = new StringBuilder();
        foreach (var i in m.Graph.Input) w.Append("input ").Append(Describe(i)).Append('\n');
        foreach (var t in m.Graph.Initializer) w.Append($"initializer {t.Name}: {(TensorProto.Types.DataType)t.DataType}[{string.Join(", ", t.Dims)}] = [{Values(t)}]\n");
        foreach (var n in m.Graph.Node)
        {
            var attrs = n.Attribute.Select(a => $"{a.Name}={(a.Type == AttributeProto.Types.AttributeType.Ints ? "[" + string.Join(", ", a.Ints) + "]" : a.Type == AttributeProto.Types.AttributeType.String ? a.S.ToStringUtf8() : a.I.ToString())}");
            w.Append($"{string.Join(", ", n.Output)} = {n.OpType}({string.Join(", ", n.Input)}){(n.Attribute.Count == 0 ? "" : " {" + string.Join(", ", attrs) + "}")}\n");
        }
        foreach (var o in m.Graph.Output) w.Append("output ").Append(Describe(o)).Append('\n');
        Snapshot.Match(w.ToString(), SnapshotNameExtension.Create(sample, simplified ? "simplified" : "naive"));
    }

    [Fact]
    public void AnOpWithoutMappingIsNamedInTheError()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F32, 2);
        var e = Assert.Throws<AutodiffException>(() => OnnxRun.Export(b.Build(x.Apply(new Unmapped()))));
        Assert.Equal("onnx export: op 'unmapped' has no ONNX mapping", e.Message);
    }

    [Fact]
    public void AnInputOrConstantOutputGoesThroughIdentity()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 3);
        var m = ReadBack(b.Build(x));
        var node = Assert.Single(m.Graph.Node);
        Assert.Equal(("Identity", "x", "output"), (node.OpType, node.Input.Single(), node.Output.Single()));
        Assert.Equal("output", m.Graph.Output.Single().Name);
    }

    private sealed record Unmapped : Op
    {
        public override string Name => "unmapped";
        public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs) => (inputs[0].Shape, inputs[0].DType);
        public override Expr?[] Gradient(Node node, Expr g) => [g];
    }

    private static string TypeOf(Node n) => $"{(TensorProto.Types.DataType)OnnxLowering.Elem(n.DType)}{n.Shape}";

    private static string TypeOf(ValueInfoProto v) =>
        $"{(TensorProto.Types.DataType)v.Type.TensorType.ElemType}[{string.Join(", ", v.Type.TensorType.Shape.Dim.Select(d => d.DimValue))}]";

    private static string Describe(ValueInfoProto v) => $"{v.Name}: {TypeOf(v)}";

    private static string Values(TensorProto t) => (TensorProto.Types.DataType)t.DataType switch
    {
        TensorProto.Types.DataType.Float => string.Join(", ", t.FloatData.Select(v => v.ToString("R"))),
        TensorProto.Types.DataType.Double => string.Join(", ", t.DoubleData.Select(v => v.ToString("R"))),
        _ => string.Join(", ", t.Int64Data),
    };
}
