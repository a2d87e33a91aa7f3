using System.CommandLine;
using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Cli;

/// <summary><c>autodiff compare FILE [--keep-shared | --recompute-shared] [--rules FILE]</c>: runs the naive and the simplified graph on the same inputs and compares them.</summary>
internal static class CompareCommand
{
    /// <summary>The fewest timed runs after the warm-up (more run while 100 ms have not gone by).</summary>
    internal const int Runs = 5;

    public static Command Create(CliIO io)
    {
        var file = Cli.FileArgument();
        var seed = Cli.SeedOption();
        var scale = Cli.ScaleOption();
        var inputs = Cli.InputsOption();
        var json = Cli.JsonOption();
        var sharing = new Cli.SharingFlags();
        var check = new Option<bool>("--check")
        {
            Description = "Exit 1 unless the verdict is agree or simplified-fixes-naive (a gate for scripts and CI); the report is printed either way.",
        };
        var cmd = new Command("compare", "Evaluate the naive and the simplified graph forward and backward on the same inputs; report values, where each went non-finite, times, gradient differences and a verdict in words.")
        {
            file, seed, scale, inputs, json, check, sharing.Recompute, sharing.Keep, sharing.Rules,
        };
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            return Cli.Guard(io, path, () =>
            {
                var s = Session.Open(io, path, pr.GetValue(inputs), pr.GetValue(seed), pr.GetValue(scale));
                var report = Compare(s, sharing.Options(pr));
                io.Out.WriteLine(pr.GetValue(json) ? ToJson(report) : ToText(report));
                if (pr.GetValue(check) && !Passes(report.Verdict))
                {
                    io.Err.WriteLine($"{path}: compare --check: verdict {Name(report.Verdict)}");
                    return Expect.ExitDifferent;
                }
                return Program.ExitOk;
            });
        });
        return cmd;
    }

    internal sealed record Side(double Value, int NonFinite, double Ms, Tensor Output, Dictionary<string, Tensor> Gradients, NonFiniteLocation? FirstNonFinite);

    /// <summary>The outcome of a comparison, in <c>verdict</c>'s words.</summary>
    internal enum Verdict { Agree, SimplifiedFixesNaive, BothNonFinite, SimplifiedNonFinite, Disagree }

    internal sealed record Report(Session Session, SharingPolicy Sharing, SimplifyResult Simplification, Side Naive, Side Simplified,
        string[] GradNames, Agreement Grad, Agreement Value, Verdict Verdict)
    {
        /// <summary>True only when the verdict is <see cref="Verdict.Agree"/>.</summary>
        public bool Agree => Verdict == Verdict.Agree;
    }

    internal static Report Compare(Session s, SimplifyOptions options)
    {
        var simplification = Simplifier.Simplify(s.Graph, options);
        var simplified = simplification.After;
        var cot = Runner.Cotangent(s.Graph);
        var naive = Measure(s.Graph, s.Values, cot);
        var simp = Measure(simplified, s.Values, cot);
        var names = naive.Gradients.Keys.Order(StringComparer.Ordinal).ToArray();
        // The simplified graph is the reference: its scale sets the tolerance's floor (see Tolerance).
        var grad = Tolerance.For(names.Select(n => naive.Gradients[n].DType)).Compare(names.Select(n => (simp.Gradients[n], naive.Gradients[n])));
        var value = Tolerance.For(s.Graph.Output.DType).Compare(simp.Output, naive.Output);
        return new Report(s, options.Sharing, simplification, naive, simp, names, grad, value, Judge(grad, value));
    }

    /// <summary>The verdict from the comparisons of the gradients and of the outputs (expected = simplified, actual =
    /// naive): an element non-finite in the simplified graph only is the worst news, then NaN (or opposite infinities) on
    /// both sides, then the naive graph non-finite where the simplified one is finite (a fix, provided the rest agrees),
    /// then differences beyond the tolerance. Infinities at the same places with the same signs agree.</summary>
    internal static Verdict Judge(params Agreement[] parts)
    {
        if (parts.Any(a => a.ExpectedOnlyNonFinite > 0)) return Verdict.SimplifiedNonFinite;
        if (parts.Any(a => a.BothNonFinite > 0)) return Verdict.BothNonFinite;
        bool exceeding = parts.Any(a => a.Exceeding > 0);
        if (parts.Any(a => a.ActualOnlyNonFinite > 0)) return exceeding ? Verdict.Disagree : Verdict.SimplifiedFixesNaive;
        return exceeding ? Verdict.Disagree : Verdict.Agree;
    }

    /// <summary>The verdict as JSON writes it.</summary>
    /// <summary>What <c>--check</c> accepts: the graphs agree, or the simplified graph is finite where the naive one is not.</summary>
    internal static bool Passes(Verdict v) => v is Verdict.Agree or Verdict.SimplifiedFixesNaive;

    internal static string Name(Verdict v) => v switch
    {
        Verdict.Agree => "agree",
        Verdict.SimplifiedFixesNaive => "simplified-fixes-naive",
        Verdict.BothNonFinite => "both-non-finite",
        Verdict.SimplifiedNonFinite => "simplified-non-finite",
        _ => "disagree",
    };

    /// <summary>The relative tolerance for an element type (<see cref="Tolerance.For(DType)"/>).</summary>
    internal static double RelativeTolerance(DType t) => Tolerance.For(t).Relative;

    private static Side Measure(Graph g, IReadOnlyDictionary<string, Tensor> values, Tensor? cot)
    {
        // The compared run looks for the first non-finite node; the timed runs use a tape without the check.
        var checkedTape = new Tape(g) { DetectNonFinite = NonFiniteCheck.Report };
        var (value, grads) = Runner.Run(checkedTape, values, cot);
        var first = checkedTape.FirstNonFinite;
        var tape = new Tape(g);
        double ms = Runner.QuickMedianMs(tape, values, cot, Runs);
        int nonFinite = Runner.NonFinite(value) + grads.Values.Sum(Runner.NonFinite);
        return new Side(Runner.Summary(value), nonFinite, ms, value, grads, first);
    }

    /// <summary>Where a graph first went non-finite, in words.</summary>
    internal static string Where(NonFiniteLocation l) =>
        $"{l.Op}{(l.Line is int line ? $" (line {line}, column {l.Column})" : "")} in the {l.Pass} pass";

    /// <summary>What happened, in words (one or two sentences).</summary>
    internal static string Explain(Report r)
    {
        string NaiveAt() => r.Naive.FirstNonFinite is { } l ? $" first at {Where(l)}" : " (from non-finite inputs)";
        string SimplifiedAt() => r.Simplified.FirstNonFinite is { } l ? $" first at {Where(l)}" : " (from non-finite inputs)";
        switch (r.Verdict)
        {
            case Verdict.Agree:
                bool inf = r.Naive.NonFinite > 0;
                return "The naive and the simplified graph agree within the tolerance on the output and on every gradient" +
                       (inf ? " (their infinities are at the same places, with the same signs)." : ".");
            case Verdict.SimplifiedFixesNaive:
                return $"The naive graph went non-finite{NaiveAt()} ({r.Naive.NonFinite} non-finite values); the simplified graph " +
                       "is finite there and agrees with the naive one everywhere else: this is what the rewrite is for.";
            case Verdict.BothNonFinite:
                return $"Both graphs are non-finite (NaN, or infinities of opposite signs) at the same entries: the naive graph{NaiveAt()}, " +
                       $"the simplified graph{SimplifiedAt()}. Neither result is usable; the program itself is undefined at these inputs " +
                       "or the rewrite could not help.";
            case Verdict.SimplifiedNonFinite:
                return $"The simplified graph is non-finite where the naive graph is finite ({SimplifiedAt().Trim()}): the rewrite " +
                       "lost range or precision here, which it must not do. Please report it with these inputs.";
            default:
                return $"The graphs disagree beyond the tolerance: {Worst(r)}.";
        }
    }

    /// <summary>The entry that disagrees most, e.g. <c>grad_z[3, 1]: naive 0.25, simplified 0.5</c>.</summary>
    private static string Worst(Report r)
    {
        var (a, what) = r.Grad.Worst is not null ? (r.Grad, "gradient") : (r.Value, "output");
        if (a.Worst is not { } w) return "no entry differs";
        var dtype = r.Session.Graph.Output.DType;
        string count = $"{a.Exceeding + a.NonFiniteMismatches} {what} entr{(a.Exceeding + a.NonFiniteMismatches == 1 ? "y differs" : "ies differ")}";
        var shape = what == "gradient" ? r.Naive.Gradients[r.GradNames[w.Pair]].Shape : r.Naive.Output.Shape;
        string name = what == "gradient" ? $"grad_{r.GradNames[w.Pair]}" : "output";
        return $"{count}; the worst is {name}{shape.FormatIndex(w.Index)}: naive {Format.Number(w.Actual, dtype)}, simplified {Format.Number(w.Expected, dtype)}";
    }

    internal static string ToText(Report r)
    {
        var s = r.Session;
        var dtype = s.Graph.Output.DType;
        var w = new StringWriter { NewLine = "\n" };
        var grads = s.FloatInputs();
        List<string[]> about =
        [
            ["program", s.Source.Display],
            ["inputs", s.InputsDescription],
            ["output", s.OutputDescription()],
            ["gradients", grads.Length == 0 ? "(none: no float inputs)" : "w.r.t. " + string.Join(", ", grads)],
        ];
        if (r.Sharing == SharingPolicy.Recompute)
            about.Add(["simplified with", "--recompute-shared (fusions recompute shared intermediates)"]);
        else if (r.Sharing == SharingPolicy.Keep)
            about.Add(["simplified with", "--keep-shared (no fusion through shared intermediates)"]);
        foreach (var line in Format.Table(about))
            w.WriteLine(line);
        w.WriteLine();
        string valueHeader = s.Graph.Output.Shape.Size == 1 ? "value" : "value (sum)";
        foreach (var line in Format.Table(
        [
            ["", valueHeader, "non-finite", $"ms (median, >= {Runs} runs after a warm-up)"],
            ["naive", Format.Number(r.Naive.Value, dtype), r.Naive.NonFinite.ToString(), Format.Ms(r.Naive.Ms)],
            ["simplified", Format.Number(r.Simplified.Value, dtype), r.Simplified.NonFinite.ToString(), Format.Ms(r.Simplified.Ms)],
        ]))
            w.WriteLine(line);
        w.WriteLine();
        List<string[]> rows =
        [
            ["max abs grad diff", Diff(r.Grad.MaxAbsDiff, r.Grad)],
            ["max rel grad diff", Diff(r.Grad.MaxRelDiff, r.Grad)],
            ["max abs value diff", Diff(r.Value.MaxAbsDiff, r.Value)],
            ["tolerance", $"|naive - simplified| <= {Format.Short(r.Grad.Tolerance.Relative)} * max(|naive|, |simplified|) + {Format.Short(r.Grad.AbsoluteTolerance)} " +
                          $"({Format.Short(r.Grad.Tolerance.Floor)} x the largest |simplified gradient|, {Format.Short(r.Grad.Scale)})"],
        ];
        if (r.Naive.FirstNonFinite is { } n) rows.Add(["naive first non-finite", $"{Where(n)}: {n.Expression}"]);
        if (r.Simplified.FirstNonFinite is { } m) rows.Add(["simplified first non-finite", $"{Where(m)}: {m.Expression}"]);
        rows.Add(["verdict", Name(r.Verdict)]);
        rows.Add(["agree", r.Agree ? "yes" : "no"]);
        foreach (var line in Format.Table(rows)) w.WriteLine(line);
        w.WriteLine();
        w.WriteLine(Explain(r));
        w.WriteLine();
        w.WriteLine($"simplified program (fused: {(r.Simplification.Fused.Count == 0 ? "none" : string.Join(", ", r.Simplification.Fused))}):");
        w.WriteLine(Printer.Print(r.Simplification.After).TrimEnd());
        return w.ToString().TrimEnd('\n');
    }

    /// <summary>A difference maximum, or <c>n/a</c> when no entry is finite on both sides.</summary>
    private static string Diff(double v, Agreement a) => a.BothFinite == 0 && a.Compared > 0 ? "n/a (no entry finite on both sides)" : Format.Short(v);

    internal static string ToJson(Report r) => Json.Write(w =>
    {
        var dtype = r.Session.Graph.Output.DType;
        w.WriteStartObject();
        WriteSide(w, "naive", r.Naive, dtype);
        WriteSide(w, "simplified", r.Simplified, dtype);
        w.WriteString("verdict", Name(r.Verdict));
        w.WriteBoolean("agree", r.Agree);
        w.WriteString("explanation", Explain(r));
        Json.Number(w, "maxAbsGradDiff", r.Grad.BothFinite == 0 && r.Grad.Compared > 0 ? double.NaN : r.Grad.MaxAbsDiff);
        Json.Number(w, "maxRelGradDiff", r.Grad.BothFinite == 0 && r.Grad.Compared > 0 ? double.NaN : r.Grad.MaxRelDiff);
        Json.Number(w, "maxAbsValueDiff", r.Value.BothFinite == 0 ? double.NaN : r.Value.MaxAbsDiff);
        Json.Number(w, "tolerance", r.Grad.Tolerance.Relative);
        Json.Number(w, "absoluteTolerance", r.Grad.AbsoluteTolerance);
        Json.WriteShape(w, "shape", r.Session.Graph.Output.Shape);
        w.WriteString("after", Printer.Print(r.Simplification.After));
        w.WriteStartArray("fused");
        foreach (var f in r.Simplification.Fused) w.WriteStringValue(f);
        w.WriteEndArray();
        w.WriteEndObject();
    });

    private static void WriteSide(System.Text.Json.Utf8JsonWriter w, string name, Side s, DType dtype)
    {
        w.WriteStartObject(name);
        Json.Number(w, "value", s.Value, dtype);
        w.WriteNumber("nonFinite", s.NonFinite);
        Json.Number(w, "ms", Math.Round(s.Ms, 6));
        w.WritePropertyName("firstNonFinite");
        Json.WriteLocation(w, s.FirstNonFinite);
        w.WriteEndObject();
    }
}
