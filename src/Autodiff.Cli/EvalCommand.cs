using System.CommandLine;
using System.Text;
using Autodiff.Rewrite;

namespace Autodiff.Cli;

/// <summary><c>autodiff eval FILE [--naive] [--hvp V.json] [--keep-shared | --recompute-shared] [--rules FILE]</c>: the output,
/// the gradients and optionally the Hessian-vector product on given or generated inputs.</summary>
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
        var hvp = new Option<string?>("--hvp")
        {
            Description = "Also print the Hessian-vector product H·v, with v read from this JSON file (the format of --inputs: one tensor for each differentiated input, exactly those; - reads standard input).",
            HelpName = "V.json",
        };
        var sharing = new Cli.SharingFlags();
        var cmd = new Command("eval", "Evaluate the program (simplified unless --naive) and print the output, the gradients and optionally a Hessian-vector product.")
        {
            file, inputs, seed, scale, wrt, naive, json, hvp, sharing.Recompute, sharing.Keep, sharing.Rules,
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
                var v = pr.GetValue(hvp) is { } vPath ? ReadTangents(io, vPath, s.Graph, targets) : null;
                var (value, grads) = Runner.Run(tape, s.Values, Runner.Cotangent(graph));
                var hv = v is null ? null : Hvp(graph, targets, asWritten, s.Values, v);
                io.Out.WriteLine(pr.GetValue(json)
                    ? ToJson(value, targets, grads, tape.FirstNonFinite, hv)
                    : ToText(s, asWritten, value, targets, grads, tape.FirstNonFinite, hv));
                return Program.ExitOk;
            });
        });
        return cmd;
    }

    /// <summary>The tangents of <c>--hvp</c>: the JSON file read against the program's inputs (types and shapes, no
    /// facts: a tangent of a probs input need not be one), holding exactly the differentiated inputs.</summary>
    internal static Dictionary<string, Tensor> ReadTangents(CliIO io, string path, Graph program, string[] targets)
    {
        string display = path == "-" ? Cli.StdinName : path;
        long cap = Inputs.MaxInputsChars(program);
        string text = path == "-" ? Cli.ReadCapped(io.In, display, "tangents", cap) : Cli.ReadFile(path, "tangents", cap);
        var b = new GraphBuilder();
        foreach (var i in program.Inputs)
        {
            var op = (InputOp)i.Op;
            b.Input(op.InputName, op.Type, op.Shape);
        }
        var v = Json.ReadInputs(text, display, b.Build(b.Constant(0)));
        foreach (var name in v.Keys)
            if (!targets.Contains(name))
                throw new CliException($"{display}: '{name}' is not a differentiated input; --hvp gives one tensor for each of {string.Join(", ", targets.Select(t => $"'{t}'"))} (--wrt)");
        foreach (var t in targets)
            if (!v.ContainsKey(t))
                throw new CliException($"{display}: no tangent for input '{t}'; --hvp gives one tensor for each of {string.Join(", ", targets.Select(t => $"'{t}'"))} (--wrt)");
        return v;
    }

    /// <summary>H·v by reverse-over-reverse (<see cref="Gradient.Hvp"/>), the second-order graph simplified unless
    /// <paramref name="asWritten"/>; copies by input name.</summary>
    internal static Dictionary<string, Tensor> Hvp(Graph graph, string[] targets, bool asWritten, IReadOnlyDictionary<string, Tensor> values, IReadOnlyDictionary<string, Tensor> v)
    {
        var h = Gradient.Hvp(graph, targets);
        if (!asWritten) h = h.Simplify();
        var outs = h.Evaluate(values, v);
        int first = 1 + targets.Length;
        return targets.Select((t, k) => (t, outs[h.Graph.Outputs[first + k].Name].Clone())).ToDictionary(p => p.t, p => p.Item2, StringComparer.Ordinal);
    }

    internal static string ToJson(Tensor value, string[] targets, IReadOnlyDictionary<string, Tensor> grads, NonFiniteLocation? first,
        IReadOnlyDictionary<string, Tensor>? hvp = null) => Json.Write(w =>
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
        if (hvp is not null)
        {
            w.WriteStartObject("hvp");
            foreach (var name in targets)
            {
                w.WritePropertyName(name);
                Json.WriteTensor(w, hvp[name]);
            }
            w.WriteEndObject();
        }
        w.WritePropertyName("firstNonFinite");
        Json.WriteLocation(w, first);
        w.WriteEndObject();
    });

    internal static string ToText(Session s, bool asWritten, Tensor value, string[] targets, IReadOnlyDictionary<string, Tensor> grads, NonFiniteLocation? first,
        IReadOnlyDictionary<string, Tensor>? hvp = null)
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
        foreach (var name in hvp is null ? Array.Empty<string>() : targets)
        {
            var h = hvp![name];
            lines.Add("");
            lines.Add($"hvp_{name}: {h.DType.Name()}{h.Shape}   (Hessian times v, reverse-over-reverse)");
            lines.Add(Pretty(h));
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
