using Autodiff.Interop;

namespace Autodiff.Tests.Interop;

/// <summary>The ONNX serializer lives in its own assembly (package Autodiff.Onnx): the core library declares the ops'
/// lowerings in a protobuf-free form and references no protobuf assembly.</summary>
public class OnnxPackageTests
{
    [Fact]
    public void CoreLibraryReferencesNoProtobuf()
    {
        var core = typeof(Graph).Assembly.GetReferencedAssemblies().Select(a => a.Name).ToArray();
        Assert.DoesNotContain(core, a => a!.StartsWith("Google.Protobuf", StringComparison.Ordinal));
        Assert.DoesNotContain(typeof(Graph).Assembly.GetTypes(), t => t.Namespace == "Autodiff.Interop.Onnx");
    }

    [Fact]
    public void SerializerAssemblyIsTheOnnxPackage()
    {
        var onnx = typeof(OnnxExporter).Assembly;
        Assert.Equal("Autodiff.Onnx", onnx.GetName().Name);
        Assert.Contains(onnx.GetReferencedAssemblies(), a => a.Name == "Google.Protobuf");
        Assert.Equal(OnnxExporter.Opset, OnnxLowering.Opset);
    }
}
