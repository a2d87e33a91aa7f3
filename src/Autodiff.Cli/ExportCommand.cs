using System.CommandLine;
using Autodiff.Interop;
using Autodiff.Rewrite;

namespace Autodiff.Cli;

/// <summary><c>autodiff export FILE --onnx OUT [--naive] [--recompute-shared] [--rules FILE]</c>: the forward graph (simplified unless --naive) as an ONNX model.</summary>
internal static class ExportCommand
{
    public static Command Create(CliIO io)
    {
        var file = Cli.FileArgument();
        var onnx = new Option<string>("--onnx")
        {
            Description = "Write the forward graph as an ONNX model (opset 18) to this file.",
            HelpName = "OUT",
            Required = true,
        };
        var naive = new Option<bool>("--naive")
        {
            Description = "Export the program as written instead of the simplified graph.",
        };
        var recompute = Cli.RecomputeSharedOption();
        var rules = Cli.RulesOption();
        var cmd = new Command("export", "Write the program's forward graph (simplified unless --naive) as an ONNX model.")
        {
            file, onnx, naive, recompute, rules,
        };
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            return Cli.Guard(io, path, () =>
            {
                var graph = ProgramSource.Load(path, io.In).Parse();
                bool asWritten = pr.GetValue(naive);
                if (!asWritten) graph = Simplifier.Simplify(graph, Cli.Simplify(pr.GetValue(recompute), pr.GetValue(rules))).After;
                string target = pr.GetValue(onnx)!;
                using (var buffer = new MemoryStream())
                {
                    // Export first, so an op without a mapping leaves no file behind.
                    graph.ToOnnx(buffer);
                    File.WriteAllBytes(target, buffer.ToArray());
                }
                io.Out.WriteLine($"wrote {target}: {(asWritten ? "naive (as written)" : "simplified")} graph, " +
                    $"ONNX opset {OnnxExporter.Opset}, output {graph.Output.DType.Name()}{graph.Output.Shape}");
                return Program.ExitOk;
            });
        });
        return cmd;
    }
}
