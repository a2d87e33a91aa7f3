using System.CommandLine;
using Autodiff.Interop;
using Autodiff.Rewrite;

namespace Autodiff.Cli;

/// <summary><c>autodiff export FILE --onnx OUT [--naive] [--gradients [--wrt NAME...]] [--keep-shared | --recompute-shared] [--rules FILE]</c>:
/// the forward graph (simplified unless --naive) as an ONNX model, or with --gradients the training step: outputs the
/// program's output, then <c>grad_x</c> for each differentiated input.</summary>
internal static class ExportCommand
{
    public static Command Create(CliIO io)
    {
        var file = Cli.FileArgument();
        var onnx = new Option<string>("--onnx")
        {
            Description = "Write the forward graph as an ONNX model (opset 18) to this file (written whole or not at all), or to standard output for -.",
            HelpName = "OUT",
            Required = true,
        };
        var naive = new Option<bool>("--naive")
        {
            Description = "Export the program as written instead of the simplified graph.",
        };
        var gradients = new Option<bool>("--gradients")
        {
            Description = "Export the training step: the model's outputs are the program's output, then grad_NAME for each differentiated input (--wrt; default every float input).",
        };
        var wrt = Cli.WrtOption();
        var sharing = new Cli.SharingFlags();
        var cmd = new Command("export", "Write the program's forward graph (simplified unless --naive), or with --gradients its training step, as an ONNX model.")
        {
            file, onnx, naive, gradients, wrt, sharing.Recompute, sharing.Keep, sharing.Rules,
        };
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            return Cli.Guard(io, path, () =>
            {
                var written = ProgramSource.Load(path, io.In).Parse();
                bool asWritten = pr.GetValue(naive);
                var graph = asWritten ? written : Simplifier.Simplify(written, sharing.Options(pr)).After;
                bool withGradients = pr.GetValue(gradients);
                if (!withGradients && pr.GetValue(wrt) is { Length: > 0 })
                    throw new CliException("--wrt: only with --gradients (it names the inputs whose gradients the model outputs)");
                if (withGradients)
                {
                    var targets = GradCommand.Targets(graph, pr.GetValue(wrt));
                    if (graph.Output.Shape.Size != 1)
                        throw new CliException($"--gradients: the output is {graph.Output.DType.Name()}{graph.Output.Shape}, not a scalar; a training step differentiates a scalar loss");
                    graph = Gradient.Of(graph, targets);
                    if (!asWritten) graph = Simplifier.Simplify(graph, sharing.Options(pr)).After;
                }
                string target = pr.GetValue(onnx)!;
                if (string.IsNullOrWhiteSpace(target))
                    throw new CliException("--onnx: the output path is empty; give a file name, or - for standard output");
                // Export first, so an op without a mapping leaves no file behind.
                var model = Export(graph, written, asWritten);
                string summary = $"{(asWritten ? "naive (as written)" : "simplified")} graph{(withGradients ? " with gradients" : "")}, " +
                    $"ONNX opset {OnnxExporter.Opset}, output{(graph.HasSeveralOutputs ? "s" : "")} " +
                    string.Join(", ", graph.Outputs.Select(o => (graph.HasSeveralOutputs ? o.Name + " " : "") + o.Node.DType.Name() + o.Node.Shape));
                if (target == "-")
                {
                    // The model is the output: the summary goes to standard error.
                    var open = io.BinaryOut ?? throw new CliException("--onnx -: this run has no binary standard output");
                    try
                    {
                        using var stdout = open();
                        stdout.Write(model);
                        stdout.Flush();
                    }
                    catch (IOException e)
                    {
                        throw new OutputFailedException(e.Message);
                    }
                    Cli.Report(io, $"wrote the model to standard output: {summary}");
                    return Program.ExitOk;
                }
                Write(target, model);
                io.Out.WriteLine($"wrote {target}: {summary}");
                return Program.ExitOk;
            });
        });
        return cmd;
    }

    /// <summary>The model bytes. When an op of the simplified graph has no ONNX mapping but the program as written
    /// exports, the error says so and suggests <c>--naive</c>.</summary>
    private static byte[] Export(Graph graph, Graph written, bool asWritten)
    {
        using var buffer = new MemoryStream();
        try
        {
            graph.ToOnnx(buffer);
        }
        catch (AutodiffException e) when (!asWritten && ExportsAsWritten(written))
        {
            throw new AutodiffException($"{e.Message} (the simplifier introduced it; the program as written exports: use --naive)", e);
        }
        return buffer.ToArray();
    }

    private static bool ExportsAsWritten(Graph written)
    {
        try
        {
            written.ToOnnx(Stream.Null);
            return true;
        }
        catch (AutodiffException)
        {
            return false;
        }
    }

    /// <summary>Writes the model, naming the output file (not the program) when that fails; through a temporary file, so a
    /// failure (a full disk) leaves no truncated model.</summary>
    private static void Write(string target, byte[] model)
    {
        string? dir = Path.GetDirectoryName(Path.GetFullPath(target));
        if (Directory.Exists(target)) throw new CliException($"{target}: is a directory, not an output file");
        if (dir is not null && !Directory.Exists(dir)) throw new CliException($"{target}: cannot write the ONNX file: the directory {dir} does not exist");
        Cli.WriteAtomically(target, "ONNX file", s => s.Write(model));
    }
}
