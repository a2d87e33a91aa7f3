using Autodiff.Interop;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Autodiff.Tests.Interop;

/// <summary>Runs exported models on ONNX Runtime (CPU) and generates inputs for the sample programs.</summary>
internal static class OnnxRun
{
    /// <summary>The model bytes of <paramref name="graph"/>.</summary>
    public static byte[] Export(Graph graph)
    {
        using var s = new MemoryStream();
        graph.ToOnnx(s);
        return s.ToArray();
    }

    /// <summary>Loads the model in an ONNX Runtime session (which checks it and picks a kernel for every node; an op
    /// without a kernel for the element type fails here) and runs it on <paramref name="inputs"/>: its first output.</summary>
    public static Tensor Run(byte[] model, Graph graph, IReadOnlyDictionary<string, Tensor> inputs) =>
        RunAll(model, graph, inputs).First().Value;

    /// <summary>Every output of the model, by ONNX name, in the model's order; the model's inputs must be exactly the
    /// program's, in order.</summary>
    public static Dictionary<string, Tensor> RunAll(byte[] model, Graph graph, IReadOnlyDictionary<string, Tensor> inputs)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model, options);
        Assert.Equal(graph.Inputs.Select(i => ((InputOp)i.Op).InputName), session.InputNames);
        var feed = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        try
        {
            foreach (var node in graph.Inputs)
            {
                string name = ((InputOp)node.Op).InputName;
                var t = inputs[name];
                long[] shape = t.Shape.Select(d => (long)d).ToArray();
                feed[name] = t.DType switch
                {
                    DType.F32 => OrtValue.CreateTensorValueFromMemory((float[])t.Data, shape),
                    DType.F64 => OrtValue.CreateTensorValueFromMemory((double[])t.Data, shape),
                    _ => OrtValue.CreateTensorValueFromMemory((long[])t.Data, shape),
                };
            }
            using var run = new RunOptions();
            using var results = session.Run(run, feed, session.OutputNames);
            var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            for (int k = 0; k < results.Count; k++)
            {
                var r = results[k];
                var info = r.GetTensorTypeAndShape();
                var dims = info.Shape.Select(s => (int)s).ToArray();
                d[session.OutputNames[k]] = info.ElementDataType switch
                {
                    TensorElementType.Float => Tensor.FromArray(r.GetTensorDataAsSpan<float>().ToArray(), dims),
                    TensorElementType.Double => Tensor.FromArray(r.GetTensorDataAsSpan<double>().ToArray(), dims),
                    _ => Tensor.FromArray(r.GetTensorDataAsSpan<long>().ToArray(), dims),
                };
            }
            return d;
        }
        finally
        {
            foreach (var v in feed.Values) v.Dispose();
        }
    }

    /// <summary>Our value of the graph's output on <paramref name="inputs"/>.</summary>
    public static Tensor Ours(Graph graph, IReadOnlyDictionary<string, Tensor> inputs) =>
        new Tape(graph, []).Forward(inputs).Clone();

    /// <summary>Values for every declared input, as the CLI makes them (<see cref="InputValues.Generate(Graph, int, double)"/>).</summary>
    public static Dictionary<string, Tensor> Inputs(Graph graph, int seed, double scale) => InputValues.Generate(graph, seed, scale);

    /// <summary>The first element that breaks |a − b| ≤ tol·max_j |ours_j| (error relative to the output's largest finite
    /// magnitude; tol alone when that is 0), as a message, or null when all hold; NaN matches NaN and an infinity the same
    /// infinity. Relative to the largest element because an f32 engine rounds at the scale of its operands: a loss of
    /// 3e-5 computed from logits near 1000 carries an absolute error near 1000·6e-8 in any f32 arithmetic.</summary>
    public static string? Mismatch(Tensor actual, Tensor expected, double tol)
    {
        if (actual.Shape != expected.Shape) return $"shape {actual.Shape}, expected {expected.Shape}";
        double scale = 0;
        for (int i = 0; i < expected.Size; i++)
            if (double.IsFinite(expected.GetDouble(i))) scale = Math.Max(scale, Math.Abs(expected.GetDouble(i)));
        if (scale == 0) scale = 1;
        for (int i = 0; i < expected.Size; i++)
        {
            double a = actual.GetDouble(i), b = expected.GetDouble(i);
            if (a.Equals(b)) continue;
            if (!double.IsFinite(a) || !double.IsFinite(b) || Math.Abs(a - b) > tol * scale)
                return $"element {i}: onnx {a:R}, ours {b:R} (difference {Math.Abs(a - b):G3}, tolerance {tol:G3}·{scale:G6})";
        }
        return null;
    }

    private static readonly Lazy<string> root = new(() =>
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Autodiff.sln"))) return dir.FullName;
        throw new InvalidOperationException($"Autodiff.sln not found above {AppContext.BaseDirectory}");
    });

    /// <summary>The sample programs' names (samples/programs/*.ad), sorted.</summary>
    public static IEnumerable<string> SampleNames() =>
        Directory.GetFiles(Path.Combine(root.Value, "samples", "programs"), "*.ad").Select(p => Path.GetFileNameWithoutExtension(p)!)
            .Order(StringComparer.Ordinal);

    /// <summary>A sample program's text.</summary>
    public static string Sample(string name) => File.ReadAllText(Path.Combine(root.Value, "samples", "programs", name + ".ad"));
}
