using System.CommandLine;
using Autodiff.Interop;
using Autodiff.Rewrite;
using Autodiff.Testing;
using Autodiff.Text;

namespace Autodiff.Cli;

/// <summary><c>autodiff simplify FILE [--keep-shared | --recompute-shared] [--rules FILE] [--json | --dot | --mermaid | --expect GOLDEN [--trace] [--near-misses] [--update]]</c>:
/// the simplified program with the rewrites and near misses, the graphs before and after as a picture, or a check of the
/// simplified program against a golden file.</summary>
internal static class SimplifyCommand
{
    public static Command Create(CliIO io)
    {
        var file = Cli.FileArgument();
        var json = Cli.JsonOption();
        var dot = new Option<bool>("--dot") { Description = "Print the graphs before and after as one Graphviz DOT document instead." };
        var mermaid = new Option<bool>("--mermaid") { Description = "Print the graphs before and after as one Mermaid flowchart instead." };
        var sharing = new Cli.SharingFlags();
        var expect = new Expect();
        var trace = new Option<bool>("--trace") { Description = "With --expect: the golden text also holds the rewrites (the rewrites (N): section)." };
        var nearMisses = new Option<bool>("--near-misses") { Description = "With --expect: the golden text also holds the near misses (the near misses (N): section)." };
        var cmd = new Command("simplify", "Print the program before and after simplification, the rewrites applied and the near misses, or check the simplified program against a golden file (--expect).")
        {
            file,
            json,
            dot,
            mermaid,
            sharing.Recompute,
            sharing.Keep,
            sharing.Rules,
            trace,
            nearMisses,
        };
        foreach (var o in expect.Options) cmd.Add(o);
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            return Cli.Guard(io, path, () =>
            {
                string? golden = expect.Golden(pr);
                if (new[] { pr.GetValue(json), pr.GetValue(dot), pr.GetValue(mermaid), golden is not null }.Count(b => b) > 1)
                    throw new CliException("--json, --dot, --mermaid and --expect are alternatives: give at most one");
                if (golden is null && (pr.GetValue(trace) || pr.GetValue(nearMisses)))
                    throw new CliException("--trace and --near-misses choose what --expect compares; without --expect the text output has both");
                var graph = ProgramSource.Load(path, io.In).Parse();
                var result = Simplifier.Simplify(graph, sharing.Options(pr));
                if (golden is not null)
                {
                    string command = string.Join(" ", new[] { "simplify", path,
                        pr.GetValue(sharing.Recompute) ? "--recompute-shared" : "", pr.GetValue(sharing.Keep) ? "--keep-shared" : "", pr.GetValue(sharing.Rules) is { } r ? "--rules " + r : "", pr.GetValue(trace) ? "--trace" : "", pr.GetValue(nearMisses) ? "--near-misses" : "" }.Where(a => a.Length > 0));
                    // A golden file saved from the plain text output (`simplify FILE > GOLDEN`) holds the whole report.
                    string text = IsWholeReport(golden) ? ToText(result) : GraphText.Simplified(result, pr.GetValue(trace), pr.GetValue(nearMisses));
                    return expect.Check(io, pr, golden, text, command);
                }
                if (pr.GetValue(dot)) io.Out.Write(GraphPicture.ToDot(result));
                else if (pr.GetValue(mermaid)) io.Out.Write(GraphPicture.ToMermaid(result));
                else io.Out.WriteLine(pr.GetValue(json) ? ToJson(result) : ToText(result));
                return Program.ExitOk;
            });
        });
        return cmd;
    }

    /// <summary>True when the golden file exists and starts with the report's first line, <c>before:</c>.</summary>
    private static bool IsWholeReport(string golden)
    {
        if (!File.Exists(golden)) return false;
        try
        {
            using var reader = new StreamReader(golden);
            return reader.ReadLine()?.TrimEnd() == "before:";
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;   // Golden.Check reports the failure to read it
        }
    }

    /// <summary>The deterministic text report (no timings).</summary>
    internal static string ToText(SimplifyResult r)
    {
        var w = new StringWriter { NewLine = "\n" };
        w.WriteLine("before:");
        w.WriteLine(Printer.Print(r.Before).TrimEnd());
        w.WriteLine();
        w.WriteLine("after:");
        w.WriteLine(Printer.Print(r.After).TrimEnd());
        w.WriteLine();
        w.WriteLine($"fused: {(r.Fused.Count == 0 ? "(none)" : string.Join(", ", r.Fused))}");
        w.WriteLine();
        w.WriteLine(GraphText.Rewrites(r));
        w.WriteLine();
        w.WriteLine(GraphText.NearMisses(r));
        w.WriteLine();
        w.Write($"stopped: {r.StopReasonText} after {r.Iterations} iteration{(r.Iterations == 1 ? "" : "s")}");
        return w.ToString();
    }

    /// <summary>The JSON report.</summary>
    internal static string ToJson(SimplifyResult r) => Json.Write(w =>
    {
        w.WriteStartObject();
        w.WriteString("before", Printer.Print(r.Before));
        w.WriteString("after", Printer.Print(r.After));
        w.WriteStartArray("fused");
        foreach (var f in r.Fused) w.WriteStringValue(f);
        w.WriteEndArray();
        w.WriteStartArray("rewrites");
        foreach (var s in r.Rewrites)
        {
            w.WriteStartObject();
            w.WriteString("rule", s.Rule);
            w.WriteString("phase", s.Phase);
            w.WriteString("before", s.Before);
            w.WriteString("after", s.After);
            if (s.Note is not null) w.WriteString("note", s.Note);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("nearMisses");
        foreach (var m in r.NearMisses)
        {
            w.WriteStartObject();
            w.WriteString("rule", m.Rule);
            w.WriteString("at", m.At);
            w.WriteString("reason", m.Reason);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteString("stopReason", r.StopReasonText);
        w.WriteNumber("iterations", r.Iterations);
        w.WriteEndObject();
    });
}
