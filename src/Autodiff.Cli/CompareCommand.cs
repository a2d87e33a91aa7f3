using System.CommandLine;
using Autodiff.Rewrite;

namespace Autodiff.Cli;

/// <summary><c>autodiff compare FILE [--recompute-shared] [--rules FILE]</c>: runs the naive and the simplified graph on the same inputs and compares them.</summary>
internal static class CompareCommand
{
    /// <summary>The fewest timed runs after the warm-up (more run while 100 ms have not gone by).</summary>
    internal const int Runs = 5;

    /// <summary>Relative tolerance for f32 results.</summary>
    internal const double TolF32 = 1e-4;

    /// <summary>Relative tolerance for f64 results.</summary>
    internal const double TolF64 = 1e-9;

    /// <summary>Denominator floor of the relative difference.</summary>
    internal const double Tiny = 1e-30;

    public static Command Create(CliIO io)
    {
        var file = Cli.FileArgument();
        var seed = Cli.SeedOption();
        var scale = Cli.ScaleOption();
        var inputs = Cli.InputsOption();
        var json = Cli.JsonOption();
        var recompute = Cli.RecomputeSharedOption();
        var rules = Cli.RulesOption();
        var cmd = new Command("compare", "Evaluate the naive and the simplified graph forward and backward on the same inputs; report values, non-finite counts, times and gradient differences.")
        {
            file, seed, scale, inputs, json, recompute, rules,
        };
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            return Cli.Guard(io, path, () =>
            {
                var s = Session.Open(io, path, pr.GetValue(inputs), pr.GetValue(seed), pr.GetValue(scale));
                var report = Compare(s, Cli.Simplify(pr.GetValue(recompute), pr.GetValue(rules)));
                io.Out.WriteLine(pr.GetValue(json) ? ToJson(report) : ToText(report));
                return Program.ExitOk;
            });
        });
        return cmd;
    }

    internal sealed record Side(double Value, int NonFinite, double Ms, Tensor Output, Dictionary<string, Tensor> Gradients);

    internal sealed record Report(Session Session, SharingPolicy Sharing, Side Naive, Side Simplified, Diff Grad, Diff Value, double Tolerance, bool Agree);

    /// <summary>Largest differences between two sets of tensors and whether they agree within the tolerance.</summary>
    internal sealed record Diff(double MaxAbs, double MaxRel, bool Agree, bool NonFiniteMismatch);

    internal static Report Compare(Session s, SimplifyOptions options)
    {
        var simplified = Simplifier.Simplify(s.Graph, options).After;
        var cot = Runner.Cotangent(s.Graph);
        var naive = Measure(s.Graph, s.Values, cot);
        var simp = Measure(simplified, s.Values, cot);
        double tol = Tolerance(s.Graph.Output.DType);
        var grad = Difference(naive.Gradients.Keys.Order(StringComparer.Ordinal).Select(k => (naive.Gradients[k], simp.Gradients[k])));
        var value = Difference([(naive.Output, simp.Output)]);
        return new Report(s, options.Sharing, naive, simp, grad, value, tol, grad.Agree && value.Agree);
    }

    /// <summary>The relative tolerance for an element type: 1e-4 for f32, 1e-9 for f64.</summary>
    internal static double Tolerance(DType t) => t == DType.F64 ? TolF64 : TolF32;

    private static Side Measure(Graph g, IReadOnlyDictionary<string, Tensor> values, Tensor? cot)
    {
        var tape = new Tape(g);
        var (value, grads) = Runner.Run(tape, values, cot);   // also the warm-up
        double ms = Runner.QuickMedianMs(tape, values, cot, Runs);
        int nonFinite = Runner.NonFinite(value) + grads.Values.Sum(Runner.NonFinite);
        return new Side(Runner.Summary(value), nonFinite, ms, value, grads);
    }

    /// <summary>Element-wise comparison of (naive, simplified) pairs. The relative difference is |a − b| / max(|b|, 1e-30),
    /// b being the simplified value. An element agrees when |a − b| ≤ tol · max(|b|, m), where m is the largest |b| of its
    /// tensor (so entries near zero are judged against the tensor's scale) and tol depends on the element type. Elements
    /// non-finite on both sides are skipped; an element finite on one side only makes both maxima infinite and the
    /// comparison disagree.</summary>
    internal static Diff Difference(IEnumerable<(Tensor A, Tensor B)> pairs)
    {
        double maxAbs = 0, maxRel = 0;
        bool agree = true, mismatch = false;
        foreach (var (a, b) in pairs)
        {
            if (!a.DType.IsFloat()) continue;
            double tol = Tolerance(a.DType);
            double scale = 0;
            for (int i = 0; i < b.Size; i++)
            {
                double y = Math.Abs(b.GetDouble(i));
                if (double.IsFinite(y)) scale = Math.Max(scale, y);
            }
            for (int i = 0; i < a.Size; i++)
            {
                double x = a.GetDouble(i), y = b.GetDouble(i);
                bool fx = double.IsFinite(x), fy = double.IsFinite(y);
                if (!fx && !fy) continue;
                if (fx != fy)
                {
                    mismatch = true;
                    agree = false;
                    maxAbs = maxRel = double.PositiveInfinity;
                    continue;
                }
                double d = Math.Abs(x - y);
                maxAbs = Math.Max(maxAbs, d);
                maxRel = Math.Max(maxRel, d / Math.Max(Math.Abs(y), Tiny));
                if (d > tol * Math.Max(Math.Abs(y), scale)) agree = false;
            }
        }
        return new Diff(maxAbs, maxRel, agree, mismatch);
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
        var tolText = $"rel {Format.Short(r.Tolerance)} ({dtype.Name()}), relative to max(|simplified|, largest |simplified| in the tensor)";
        List<string[]> rows =
        [
            ["max abs grad diff", Format.Short(r.Grad.MaxAbs)],
            ["max rel grad diff", Format.Short(r.Grad.MaxRel)],
            ["max abs value diff", Format.Short(r.Value.MaxAbs)],
            ["tolerance", tolText],
            ["agree", r.Agree ? "yes" : "no" + Why(r)],
        ];
        foreach (var line in Format.Table(rows)) w.WriteLine(line);
        return w.ToString().TrimEnd('\n');
    }

    private static string Why(Report r) =>
        r.Grad.NonFiniteMismatch || r.Value.NonFiniteMismatch ? " (non-finite values on one side only)" : " (differences exceed the tolerance)";

    internal static string ToJson(Report r) => Json.Write(w =>
    {
        var dtype = r.Session.Graph.Output.DType;
        w.WriteStartObject();
        WriteSide(w, "naive", r.Naive, dtype);
        WriteSide(w, "simplified", r.Simplified, dtype);
        Json.Number(w, "maxAbsGradDiff", r.Grad.MaxAbs);
        Json.Number(w, "maxRelGradDiff", r.Grad.MaxRel);
        Json.Number(w, "maxAbsValueDiff", r.Value.MaxAbs);
        Json.Number(w, "tolerance", r.Tolerance);
        w.WriteBoolean("agree", r.Agree);
        Json.WriteShape(w, "shape", r.Session.Graph.Output.Shape);
        w.WriteEndObject();
    });

    private static void WriteSide(System.Text.Json.Utf8JsonWriter w, string name, Side s, DType dtype)
    {
        w.WriteStartObject(name);
        Json.Number(w, "value", s.Value, dtype);
        w.WriteNumber("nonFinite", s.NonFinite);
        Json.Number(w, "ms", Math.Round(s.Ms, 6));
        w.WriteEndObject();
    }
}
