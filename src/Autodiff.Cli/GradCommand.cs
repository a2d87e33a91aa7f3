using System.CommandLine;
using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Cli;

/// <summary><c>autodiff grad FILE [--wrt NAME...] [--raw] [--keep-shared | --recompute-shared] [--rules FILE] [--expect GOLDEN [--update]]</c>: the backward graphs of the
/// naive and the simplified program, canonicalized unless <c>--raw</c>, printed or checked against a golden file.</summary>
internal static class GradCommand
{
    public static Command Create(CliIO io)
    {
        var file = Cli.FileArgument();
        var wrt = Cli.WrtOption();
        var inputs = Cli.InputsOption();
        inputs.Description = "Accepted for symmetry with the other verbs: the file is checked against the declarations, but the backward graph does not depend on values.";
        var raw = new Option<bool>("--raw")
        {
            Description = "Print the backward graphs as the ops' gradients build them, without the canonicalize phase.",
        };
        var sharing = new Cli.SharingFlags();
        var expect = new Expect();
        var cmd = new Command("grad", "Print the backward graph (grad_<input> = ...) of the naive and of the simplified program in the expression language, canonicalized unless --raw, or check them against a golden file (--expect).")
        {
            file, wrt, inputs, raw, sharing.Recompute, sharing.Keep, sharing.Rules,
        };
        foreach (var o in expect.Options) cmd.Add(o);
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            return Cli.Guard(io, path, () =>
            {
                string? golden = expect.Golden(pr);
                var s = Session.Open(io, path, pr.GetValue(inputs), 0, 1);
                var names = Targets(s.Graph, pr.GetValue(wrt));
                var options = sharing.Options(pr);
                var simplified = Simplifier.Simplify(s.Graph, options).After;
                var w = new StringWriter { NewLine = "\n" };
                if (s.Graph.Output.Shape.Size != 1)
                    w.WriteLine($"# the output is {s.Graph.Output.DType.Name()}{s.Graph.Output.Shape}, not a scalar: the backward graphs are seeded with a cotangent of ones");
                w.WriteLine("# naive backward graph");
                w.WriteLine(Backward(s.Graph, names, pr.GetValue(raw), options.UserRules));
                w.WriteLine();
                w.WriteLine("# simplified backward graph");
                w.Write(Backward(simplified, names, pr.GetValue(raw), options.UserRules));
                if (golden is not null)
                {
                    var given = pr.GetValue(wrt);
                    string command = string.Join(" ", new[] { "grad", path, given is { Length: > 0 } ? "--wrt " + string.Join(" ", given) : "",
                        pr.GetValue(raw) ? "--raw" : "", pr.GetValue(sharing.Recompute) ? "--recompute-shared" : "", pr.GetValue(sharing.Keep) ? "--keep-shared" : "", pr.GetValue(sharing.Rules) is { } r ? "--rules " + r : "" }.Where(a => a.Length > 0));
                    return expect.Check(io, pr, golden, w.ToString(), command);
                }
                io.Out.WriteLine(w.ToString());
                return Program.ExitOk;
            });
        });
        return cmd;
    }

    /// <summary>The inputs to differentiate: the named ones (checked), or every float input.</summary>
    internal static string[] Targets(Graph graph, string[]? wrt)
    {
        if (wrt is null || wrt.Length == 0)
            return graph.Inputs.Where(i => i.DType.IsFloat()).Select(i => ((InputOp)i.Op).InputName).ToArray();
        foreach (var name in wrt)
        {
            var node = graph.Input(name);   // throws, listing the inputs, for an unknown name
            if (!node.DType.IsFloat())
                throw new AutodiffException($"--wrt {name}: input '{name}' is {node.DType.Name()}{node.Shape}, not a float type, so it has no gradient");
        }
        return wrt.Distinct(StringComparer.Ordinal).ToArray();
    }

    /// <summary>The backward graph printed as a program with one result <c>grad_NAME</c> per target; unless
    /// <paramref name="raw"/>, each gradient is first run through the canonicalize phase (<see cref="Rules.BackwardCanonicalize"/>),
    /// whose rules keep the values, with the user's own rules (<c>--rules</c>, <paramref name="userRules"/>) run beside them as
    /// in every phase. The later built-in phases are not run: they would show a stabilized computation that the tape does
    /// not perform for this graph.</summary>
    internal static string Backward(Graph graph, string[] wrt, bool raw, RuleSet? userRules = null)
    {
        if (wrt.Length == 0) return "# (no float inputs: nothing to differentiate)";
        var output = graph.Output;
        Expr? seed = output.Shape.Size == 1 ? (Expr?)null : output.Expr.Const(1).BroadcastTo(output.Shape.ToArray());
        var grads = SymbolicGradient.Of(graph, wrt, seed);
        var names = new Dictionary<Node, string>(graph.Names, ReferenceEqualityComparer.Instance);
        var results = new List<(string, Node)>();
        foreach (var n in wrt)
        {
            var node = grads[n].Node;
            if (!raw)
            {
                var after = Simplifier.Simplify(graph.WithOutput(node, names), new SimplifyOptions(Phases: [Rules.BackwardCanonicalize], UserRules: userRules)).After;
                node = after.Output;
                foreach (var (k, v) in after.Names) names.TryAdd(k, v);
            }
            results.Add(($"grad_{n}", node));
        }
        return Printer.PrintAssignments(graph.Inputs, results, names);
    }
}
