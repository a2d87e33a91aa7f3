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
        var onnx = OnnxRun.RunAll(model.ToArray(), program, x);
        var targets = program.Inputs.Where(i => i.DType.IsFloat()).Select(i => ((InputOp)i.Op).InputName).ToArray();
        Assert.Equal([program.Outputs[0].Name, .. targets.Select(t => "grad_" + t)], onnx.Keys);
        double tol = program.Output.DType == DType.F32 ? 1e-4 : 1e-10;
        Assert.Null(OnnxRun.Mismatch(onnx[program.Outputs[0].Name], value, tol));
        foreach (var t in targets) Assert.True(OnnxRun.Mismatch(onnx["grad_" + t], grads[t], tol) is null, $"{sample} grad_{t}: {OnnxRun.Mismatch(onnx["grad_" + t], grads[t], tol)}");
    }
}
