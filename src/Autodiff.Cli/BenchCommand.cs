using System.CommandLine;
using System.Diagnostics;
using Autodiff.Rewrite;

namespace Autodiff.Cli;

/// <summary><c>autodiff bench FILE</c>: median forward+backward time of the naive and/or simplified graph.</summary>
internal static class BenchCommand
{
    /// <summary>The most timed passes <c>--iterations</c> accepts.</summary>
    internal const int MaxIterations = 1_000_000;

    public static Command Create(CliIO io)
    {
        var file = Cli.FileArgument();
        var graphOpt = new Option<string>("--graph")
        {
            Description = "Which graph to time.",
            DefaultValueFactory = _ => "both",
        };
        graphOpt.AcceptOnlyFromAmong("naive", "simplified", "both");
        var threads = new Option<int>("--threads")
        {
            Description = "Kernel parallelism (Tape.DegreeOfParallelism); default: the number of processors.",
            DefaultValueFactory = _ => Environment.ProcessorCount,
            HelpName = "T",
        };
        threads.Validators.Add(r =>
        {
            if (r.GetValueOrDefault<int>() < 1) r.AddError("--threads must be at least 1");
        });
        var iterations = new Option<int>("--iterations")
        {
            Description = "Timed forward+backward passes per graph, after a warm-up of at least 3 passes and 500 ms.",
            DefaultValueFactory = _ => 20,
            HelpName = "K",
        };
        iterations.Validators.Add(r =>
        {
            int k = r.GetValueOrDefault<int>();
            if (k < 1) r.AddError("--iterations must be at least 1");
            else if (k > MaxIterations) r.AddError($"--iterations must be at most {MaxIterations:N0} (the timings are kept to take their median)");
        });
        var inputs = Cli.InputsOption();
        var seed = Cli.SeedOption();
        var scale = Cli.ScaleOption();
        var json = Cli.JsonOption();
        var sharing = new Cli.SharingFlags();
        var cmd = new Command("bench", "Time forward+backward passes (median over the iterations, after a warm-up) of the naive and/or simplified graph, and the simplification itself.")
        {
            file, graphOpt, threads, iterations, inputs, seed, scale, json, sharing.Recompute, sharing.Keep, sharing.Rules,
        };
        cmd.SetAction(pr =>
        {
            string path = pr.GetValue(file)!;
            return Cli.Guard(io, path, () =>
            {
                int t = pr.GetValue(threads);
                var s = Session.Open(io, path, pr.GetValue(inputs), pr.GetValue(seed), pr.GetValue(scale));
                var report = Bench(io, s, pr.GetValue(graphOpt)!, pr.GetValue(iterations), t, sharing.Options(pr));
                io.Out.WriteLine(pr.GetValue(json) ? ToJson(report) : ToText(report));
                return Program.ExitOk;
            });
        });
        return cmd;
    }

    /// <summary>One graph's timing: the median of forward+backward and the tape's <see cref="Tape.IntermediateBytes"/>.</summary>
    internal sealed record Timing(double MedianMs, long IntermediateBytes);

    internal sealed record Report(Session Session, Timing? Naive, Timing? Simplified, double SimplifyMs, int Threads, int Iterations)
    {
        public double? NaiveMs => Naive?.MedianMs;
        public double? SimplifiedMs => Simplified?.MedianMs;
    }

    internal static Report Bench(CliIO io, Session s, string which, int iterations, int threads, SimplifyOptions? options = null)
    {
        long start = Stopwatch.GetTimestamp();
        var simplified = Simplifier.Simplify(s.Graph, options).After;
        double simplifyMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        var cot = Runner.Cotangent(s.Graph);
        var naive = which is "naive" or "both" ? Time(io, "naive", s.Graph, s.Values, cot, iterations, threads) : null;
        var simp = which is "simplified" or "both" ? Time(io, "simplified", simplified, s.Values, cot, iterations, threads) : null;
        return new Report(s, naive, simp, simplifyMs, threads, iterations);
    }

    private static Timing Time(CliIO io, string label, Graph g, IReadOnlyDictionary<string, Tensor> values, Tensor? cot, int iterations, int threads)
    {
        var tape = new Tape(g) { DegreeOfParallelism = threads };
        var (report, clear) = Runner.Progress(io, $"bench {label}:", iterations);
        try
        {
            Runner.WarmUp(tape, values, cot);
            double ms = Runner.MedianMs(tape, values, cot, iterations, report);
            return new Timing(ms, tape.IntermediateBytes);
        }
        finally
        {
            clear();
        }
    }

    internal static string ToText(Report r)
    {
        List<string[]> rows =
        [
            ["program", r.Session.Source.Display],
            ["inputs", r.Session.InputsDescription],
            ["threads", r.Threads.ToString()],
            ["iterations", $"{r.Iterations} (after a 500 ms warm-up)"],
        ];
        var lines = Format.Table(rows).ToList();
        lines.Add("");
        List<string[]> times = [["", "median ms (forward+backward)"]];
        if (r.NaiveMs is double n) times.Add(["naive", Format.Ms(n)]);
        if (r.SimplifiedMs is double m) times.Add(["simplified", Format.Ms(m)]);
        if (r.NaiveMs is double a && r.SimplifiedMs is double b && b > 0)
            times.Add(["speed-up", (a / b).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture) + "x"]);
        times.Add(["simplify", Format.Ms(r.SimplifyMs) + " (once, not included above)"]);
        lines.AddRange(Format.Table(times));
        return string.Join("\n", lines);
    }

    internal static string ToJson(Report r) => Json.Write(w =>
    {
        w.WriteStartObject();
        if (r.NaiveMs is double n)
        {
            w.WriteStartObject("naive");
            Json.Number(w, "medianMs", Math.Round(n, 6));
            w.WriteNumber("intermediateBytes", r.Naive!.IntermediateBytes);
            w.WriteEndObject();
        }
        if (r.SimplifiedMs is double m)
        {
            w.WriteStartObject("simplified");
            Json.Number(w, "medianMs", Math.Round(m, 6));
            w.WriteNumber("intermediateBytes", r.Simplified!.IntermediateBytes);
            w.WriteEndObject();
        }
        Json.Number(w, "simplifyMs", Math.Round(r.SimplifyMs, 6));
        w.WriteNumber("threads", r.Threads);
        w.WriteNumber("iterations", r.Iterations);
        w.WriteEndObject();
    });
}
