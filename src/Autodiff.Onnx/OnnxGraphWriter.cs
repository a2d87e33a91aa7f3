using Autodiff.Interop.Onnx;
using Google.Protobuf;
using AttributeType = Autodiff.Interop.Onnx.AttributeProto.Types.AttributeType;
using DataType = Autodiff.Interop.Onnx.TensorProto.Types.DataType;

namespace Autodiff.Interop;

/// <summary>Translates one <see cref="Graph"/> into an ONNX <see cref="GraphProto"/>: each node in topological order is
/// lowered by its op (<see cref="Op.ToOnnx"/>, into an <see cref="OnnxLowering"/>), and the lowering is serialized.
/// ONNX value names: inputs keep their names, named intermediate nodes their names, other nodes the op's name (made unique
/// with a suffix), the unnamed output <c>output</c>, the outputs of a graph with several outputs their output names
/// (<c>loss</c>, <c>grad_z</c>; an Identity node where one is an input, a constant or another output's node); the extra nodes of a decomposition are named after the node they
/// compute (<c>loss.LogSoftmax</c>, …).</summary>
internal sealed class OnnxGraphWriter
{
    private readonly Graph _graph;
    private readonly OnnxLowering _lowering = new();
    private readonly Dictionary<Node, string> _value = new(ReferenceEqualityComparer.Instance);
    private readonly Dictionary<Node, string> _userName = new(ReferenceEqualityComparer.Instance);

    public OnnxGraphWriter(Graph graph) => _graph = graph;

    public GraphProto Write()
    {
        var proto = new GraphProto { Name = "autodiff" };
        foreach (var i in _graph.Inputs)
        {
            string name = ((InputOp)i.Op).InputName;
            _lowering.Reserve(name);
            _value[i] = name;
            proto.Input.Add(ValueInfo(name, i));
        }
        // with several outputs each ONNX output is named after its graph output (loss, grad_z, ...)
        var outputs = _graph.Outputs;
        var claimed = new Dictionary<Node, string>(ReferenceEqualityComparer.Instance);
        var outputNames = new string[outputs.Count];
        if (_graph.HasSeveralOutputs)
            for (int k = 0; k < outputs.Count; k++)
            {
                outputNames[k] = _lowering.Reserve(outputs[k].Name) ? outputs[k].Name : _lowering.Fresh(outputs[k].Name);
                if (outputs[k].Node.Op is not (InputOp or ConstantOp)) claimed.TryAdd(outputs[k].Node, outputNames[k]);
            }
        foreach (var (n, s) in _graph.Names.OrderBy(kv => kv.Key.Id))
            if (n.Op is not InputOp && !claimed.ContainsKey(n) && _lowering.Reserve(s)) _userName[n] = s;

        var output = _graph.Output;
        foreach (var n in _graph.Nodes())
            if (n.Op is not InputOp)
            {
                string y = claimed.TryGetValue(n, out var c) ? c : _userName.TryGetValue(n, out var user) ? user
                    : _lowering.Fresh(n == output && n.Op is not ConstantOp && !_graph.HasSeveralOutputs ? "output" : n.Op.Name);
                _value[n] = _lowering.Lower(n, n.Inputs.Select(i => _value[i]).ToArray(), y);
            }

        var results = new List<(string Name, Node Node)>();
        for (int k = 0; k < outputs.Count; k++)
        {
            var node = outputs[k].Node;
            string result = _value[node];
            string wanted = _graph.HasSeveralOutputs ? outputNames[k] : node.Op is InputOp or ConstantOp ? _lowering.Fresh("output") : result;
            if (result != wanted)
            {
                _lowering.Nodes.Add(new OnnxNode("Identity", [result], wanted, []));
                result = wanted;
            }
            results.Add((result, node));
        }
        proto.Initializer.AddRange(_lowering.Initializers.Select(Initializer));
        proto.Node.AddRange(_lowering.Nodes.Select(Node));
        foreach (var (name, node) in results) proto.Output.Add(ValueInfo(name, node));
        return proto;
    }

    private static NodeProto Node(OnnxNode n)
    {
        var node = new NodeProto { OpType = n.OpType, Output = { n.Output } };
        node.Input.AddRange(n.Inputs);
        node.Attribute.AddRange(n.Attributes.Select(Attribute));
        return node;
    }

    private static AttributeProto Attribute(OnnxAttribute a)
    {
        if (a.Int is long i) return new() { Name = a.Name, Type = AttributeType.Int, I = i };
        if (a.String is { } s) return new() { Name = a.Name, Type = AttributeType.String, S = ByteString.CopyFromUtf8(s) };
        var p = new AttributeProto { Name = a.Name, Type = AttributeType.Ints };
        p.Ints.AddRange(a.Ints ?? []);
        return p;
    }

    private static TensorProto Initializer(OnnxInitializer c)
    {
        var p = new TensorProto { Name = c.Name, DataType = OnnxLowering.Elem(c.Type) };
        switch (c.Type)
        {
            case DType.F32: p.FloatData.AddRange(c.Values.Select(v => (float)v)); break;
            case DType.F64: p.DoubleData.AddRange(c.Values); break;
            default: p.Int64Data.AddRange(c.Values.Select(v => (long)v)); break;
        }
        p.Dims.AddRange(c.Dims.Select(d => (long)d));
        return p;
    }

    private static ValueInfoProto ValueInfo(string name, Node n)
    {
        var shape = new TensorShapeProto();
        foreach (var d in n.Shape) shape.Dim.Add(new TensorShapeProto.Types.Dimension { DimValue = d });
        return new ValueInfoProto { Name = name, Type = new TypeProto { TensorType = new TypeProto.Types.Tensor { ElemType = OnnxLowering.Elem(n.DType), Shape = shape } } };
    }
}
