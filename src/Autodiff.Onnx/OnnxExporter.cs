using Autodiff.Interop.Onnx;
using Google.Protobuf;

namespace Autodiff.Interop;

/// <summary>Writes the forward graph of a program as an ONNX model (<see cref="Opset">opset 18</see> of the default
/// domain), to run it on another engine. Each declared input becomes a graph input with its element type and static shape,
/// the output node the single graph output; scalar constants become initializers of their element type. Core ops map to
/// the ONNX op of the same meaning, fused ops to ONNX's own fused op where there is one (<c>Softmax</c>,
/// <c>LogSoftmax</c>, <c>ReduceLogSumExp</c>, <c>Softplus</c>, <c>SoftmaxCrossEntropyLoss</c>) and otherwise to a stable
/// decomposition; <c>docs/interop.md</c> has the table. Ops without a mapping make the export throw an
/// <see cref="AutodiffException"/> naming the op. Only forward values are exported: an ONNX model has no gradients.</summary>
public static class OnnxExporter
{
    /// <summary>The version of the default ONNX operator set the models import.</summary>
    public const int Opset = OnnxLowering.Opset;

    /// <summary>The ONNX IR version written (8, the first that allows opset 18).</summary>
    public const int IrVersion = 8;

    /// <summary>Writes <paramref name="graph"/> as a binary ONNX model to <paramref name="output"/>.</summary>
    /// <exception cref="AutodiffException">An op of the graph has no ONNX mapping
    /// (<c>onnx export: op 'NAME' has no ONNX mapping</c>).</exception>
    public static void ToOnnx(this Graph graph, Stream output) => Model(graph).WriteTo(output);

    /// <summary>The model as protobuf messages (for tests that read the structure back).</summary>
    internal static ModelProto Model(Graph graph) => new()
    {
        IrVersion = IrVersion,
        ProducerName = "Autodiff",
        ProducerVersion = typeof(OnnxExporter).Assembly.GetName().Version?.ToString() ?? "",
        OpsetImport = { new OperatorSetIdProto { Domain = "", Version = Opset } },
        Graph = new OnnxGraphWriter(graph).Write(),
    };
}
