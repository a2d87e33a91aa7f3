using Autodiff.Interop;
using Autodiff.Rewrite;
using Autodiff.Text;
using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;

namespace Autodiff.Tests.Interop;

/// <summary>The training step exported to ONNX (<c>export --gradients</c>: Gradient.Of, simplified, as a model with the
/// program's inputs and outputs loss, grad_x, ...) runs on ONNX Runtime and gives the tape's value and gradients.</summary>
public class OnnxGradientTests
{
    public static TheoryData<string> Samples() => ["softmax_ce_probs", "softmax_ce_index", "softmax_ce_onehot", "mlp_classifier", "logistic", "sigmoid_bce", "label_smoothing", "log_softmax"];

    private static string SamplePath(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            var p = Path.Combine(dir.FullName, "samples", "programs", name + ".ad");
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException(name);
    }

    [Theory]
    [MemberData(nameof(Samples))]
    public void ExportedTrainingStepGivesTheTapesGradientsOnOnnxRuntime(string sample)
    {
        var program = Simplifier.Simplify(Parser.Parse(File.ReadAllText(SamplePath(sample)))).After;
        var step = Simplifier.Simplify(Gradient.Of(program)).After;
        using var model = new MemoryStream();
        step.ToOnnx(model);
        var x = InputValues.Generate(program, 3, 1);
        var (value, grads) = new Tape(program).Run(x);
        var onnx = RunAll(model.ToArray(), program, x);
        var targets = program.Inputs.Where(i => i.DType.IsFloat()).Select(i => ((InputOp)i.Op).InputName).ToArray();
        Assert.Equal([program.Outputs[0].Name, .. targets.Select(t => "grad_" + t)], onnx.Keys);
        double tol = program.Output.DType == DType.F32 ? 1e-4 : 1e-10;
        Assert.Null(OnnxRun.Mismatch(onnx[program.Outputs[0].Name], value, tol));
        foreach (var t in targets) Assert.True(OnnxRun.Mismatch(onnx["grad_" + t], grads[t], tol) is null, $"{sample} grad_{t}: {OnnxRun.Mismatch(onnx["grad_" + t], grads[t], tol)}");
    }

    /// <summary>Every output of the model, by ONNX name, in the model's order.</summary>
    internal static Dictionary<string, Tensor> RunAll(byte[] model, Graph program, IReadOnlyDictionary<string, Tensor> inputs)
    {
        using var options = new SessionOptions { LogSeverityLevel = OrtLoggingLevel.ORT_LOGGING_LEVEL_ERROR };
        using var session = new InferenceSession(model, options);
        Assert.Equal(program.Inputs.Select(i => ((InputOp)i.Op).InputName), session.InputNames);
        var feed = new Dictionary<string, OrtValue>(StringComparer.Ordinal);
        try
        {
            foreach (var node in program.Inputs)
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
                d[session.OutputNames[k]] = info.ElementDataType == TensorElementType.Float
                    ? Tensor.FromArray(r.GetTensorDataAsSpan<float>().ToArray(), dims)
                    : Tensor.FromArray(r.GetTensorDataAsSpan<double>().ToArray(), dims);
            }
            return d;
        }
        finally
        {
            foreach (var v in feed.Values) v.Dispose();
        }
    }
}
