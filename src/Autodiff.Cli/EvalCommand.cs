using System.CommandLine;
using System.Text;
using Autodiff.Rewrite;

namespace Autodiff.Cli;

/// <summary><c>autodiff eval FILE [--naive] [--keep-shared | --recompute-shared] [--rules FILE]</c>: the output and the gradients on given or generated inputs.</summary>
internal static class EvalCommand
{
    public static Command Create(CliIO io)
    {
        var file = Cli.FileArgument();
        var inputs = Cli.InputsOption();
        var seed = Cli.SeedOption();
        var scale = Cli.ScaleOption();
        var wrt = Cli.WrtOption();
        var naive = new Option<bool>("--naive")
        {
            Description = "Evaluate the program as written instead of the simplified graph.",
        };
        var json = Cli.JsonOption();
        var sharing = new Cli.SharingFlags();
        var cmd = new Command("eval", "Evaluate the program (simplified unless --naive) and print the output and the gradients.")
        {
            file, inputs, seed, scale, wrt, naive, json, sharing.Recompute, sharing.Keep, sharing.Rules,
        };
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            return Cli.Guard(io, path, () =>
            {
                var s = Session.Open(io, path, pr.GetValue(inputs), pr.GetValue(seed), pr.GetValue(scale));
                var targets = GradCommand.Targets(s.Graph, pr.GetValue(wrt));
                bool asWritten = pr.GetValue(naive);
                var graph = asWritten ? s.Graph : Simplifier.Simplify(s.Graph, sharing.Options(pr)).After;
                var tape = new Tape(graph, targets) { DetectNonFinite = NonFiniteCheck.Report };
                var (value, grads) = Runner.Run(tape, s.Values, Runner.Cotangent(graph));
                io.Out.WriteLine(pr.GetValue(json)
                    ? ToJson(value, targets, grads, tape.FirstNonFinite)
                    : ToText(s, asWritten, value, targets, grads, tape.FirstNonFinite));
                return Program.ExitOk;
            });
        });
        return cmd;
    }

    internal static string ToJson(Tensor value, string[] targets, IReadOnlyDictionary<string, Tensor> grads, NonFiniteLocation? first) => Json.Write(w =>
    {
        w.WriteStartObject();
        w.WritePropertyName("value");
        Json.WriteTensor(w, value);
        w.WriteStartObject("gradients");
        foreach (var name in targets)
        {
            w.WritePropertyName(name);
            Json.WriteTensor(w, grads[name]);
        }
        w.WriteEndObject();
        w.WritePropertyName("firstNonFinite");
        Json.WriteLocation(w, first);
        w.WriteEndObject();
    });

    internal static string ToText(Session s, bool asWritten, Tensor value, string[] targets, IReadOnlyDictionary<string, Tensor> grads, NonFiniteLocation? first)
    {
        List<string[]> about =
        [
            ["program", s.Source.Display],
            ["graph", asWritten ? "naive (as written)" : "simplified"],
            ["inputs", s.InputsDescription],
            ["output", s.OutputDescription()],
        ];
        if (first is not null) about.Add(["first non-finite", $"{CompareCommand.Where(first)}: {first.Expression}"]);
        var lines = Format.Table(about).ToList();
        lines.Add("");
        lines.Add($"value: {value.DType.Name()}{value.Shape}");
        lines.Add(Pretty(value));
        foreach (var name in targets)
        {
            var g = grads[name];
            lines.Add("");
            lines.Add($"grad_{name}: {g.DType.Name()}{g.Shape}");
            lines.Add(Pretty(g));
        }
        return string.Join("\n", lines);
    }

    /// <summary>Nested brackets with the innermost dimension on one line, like NumPy.</summary>
    internal static string Pretty(Tensor t)
    {
        var sb = new StringBuilder();
        int rank = t.Shape.Rank;
        t.Walk(_ => sb.Append('['),
            (dim, i) =>
            {
                if (i == 0) return;
                sb.Append(',');
                if (dim == rank - 1) sb.Append(' ');
                else sb.Append('\n', rank - dim - 1).Append(' ', dim + 1);
            },
            pos => sb.Append(Format.Number(t.GetDouble(pos), t.DType)),
            (_, _) => sb.Append(']'));
        return sb.ToString();
    }
}
