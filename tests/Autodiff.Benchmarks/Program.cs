using System.Diagnostics;
using System.Globalization;
using Autodiff;
using Autodiff.Benchmarks;
using Autodiff.Kernels;
using Autodiff.Rewrite;
using BenchmarkDotNet.Running;

// Commands (see docs/performance.md):
//   compare N C THREADS [WORKLOADS] [PASSES]
//                                     Stopwatch medians of Tape.Run as the peer takes them (warm-up, then 20 timed
//                                     passes), plus the minimum and the managed bytes allocated per pass, and the median
//                                     of Forward then Backward as separate calls; WORKLOADS is a comma list of
//                                     Programs.Names (default: all).
//   phases N C THREADS [WORKLOADS]    Median and minimum of Tape.Run, Forward alone, Forward then Backward, and the
//                                     Forward of a tape that computes no gradient, and the nodes Run evaluates with
//                                     their backward in one pass.
//   simplify [WIDE] [CHAIN] [STABLE]  Simplifier time (median of 3) on wide graphs of independent cross-entropies, on
//                                     chains of logsumexp links and on wide graphs of the stability rules' spellings;
//                                     comma lists of approximate node counts (default 10000,100000,200000 for each).
//   hvp N C THREADS [WORKLOADS]      Stopwatch medians of one forward+backward and of a Hessian-vector product, reverse-
//                                     over-reverse and forward-over-reverse (transpose trick), and their ratios.
//   anything else                     BenchmarkDotNet (e.g. --filter '*' --job short).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
if (args.Length > 0 && args[0] == "hvp")
{
    int n = int.Parse(args[1]), c = int.Parse(args[2]), threads = int.Parse(args[3]);
    var names = args.Length > 4 ? args[4].Split(',') : ["simplified", "simplified_lse", "matmul"];
    Parallelism.DegreeOfParallelism = threads;
    foreach (var dt in new[] { DType.F32, DType.F64 })
        foreach (var name in names)
        {
            var w = new SecondOrderWorkload(Programs.Build(name, dt, n, c));
            var (fb, _, _) = Compare.Time(w.First.Step, 20);
            var (ror, _, _) = Compare.Time(w.ReverseOverReverse, 20);
            var (fr, _, _) = Compare.Time(w.ForwardOverReverse, 20);
            Console.WriteLine($"{name,-16} {dt.Name(),-4} N={n} C={c} threads={threads}: forward+backward {fb:F3} ms, HVP reverse-over-reverse {ror:F3} ms ({ror / fb:F2}x), forward-over-reverse {fr:F3} ms ({fr / fb:F2}x)");
        }
    return;
}
if (args.Length > 0 && args[0] == "compare")
{
    int n = int.Parse(args[1]), c = int.Parse(args[2]), threads = int.Parse(args[3]);
    var names = args.Length > 4 ? args[4].Split(',') : Programs.Names;
    int passes = args.Length > 5 ? int.Parse(args[5]) : 20;
    Parallelism.DegreeOfParallelism = threads;
    foreach (var dt in new[] { DType.F32, DType.F64 })
        foreach (var name in names)
        {
            if (name == "matmul" && c > 4096) continue;
            var w = new Workload(Programs.Build(name, dt, n, c));
            var (median, min, bytes) = Compare.Time(w.Step, passes);
            var (apart, _, _) = Compare.Time(w.StepSeparately, passes);
            Console.WriteLine($"{name,-16} {dt.Name(),-4} N={n} C={c} threads={threads}: median {median:F3} ms (min {min:F3})  alloc {bytes:F0} B/pass  [Forward then Backward: {apart:F3} ms]");
        }
    return;
}
if (args.Length > 0 && args[0] == "phases")
{
    int n = int.Parse(args[1]), c = int.Parse(args[2]);
    Parallelism.DegreeOfParallelism = int.Parse(args[3]);
    foreach (var dt in new[] { DType.F32, DType.F64 })
        foreach (var name in args.Length > 4 ? args[4].Split(',') : Programs.Names)
        {
            var w = new Workload(Programs.Build(name, dt, n, c));
            var run = Compare.Time(w.Step, 40);
            var forward = Compare.Time(() => w.Tape.Forward(w.Inputs).GetDouble(0), 40);
            var separate = Compare.Time(w.StepSeparately, 40);
            var valueOnly = new Tape(w.Graph, []);
            var inference = Compare.Time(() => valueOnly.Forward(w.Inputs).GetDouble(0), 40);
            Console.WriteLine($"{name,-16} {dt.Name(),-4} N={n} C={c}: median (min) ms: Run {run.MedianMs:F3} ({run.MinMs:F3})  Forward {forward.MedianMs:F3} ({forward.MinMs:F3})  Forward then Backward {separate.MedianMs:F3} ({separate.MinMs:F3})  Forward without gradients {inference.MedianMs:F3} ({inference.MinMs:F3})  fused heads: {string.Join(", ", w.Tape.FusedHeads.Select(h => h.Op.Name))}");
        }
    return;
}
if (args.Length > 0 && args[0] == "simplify")
{
    int[] Sizes(int i, int[] fallback) => args.Length > i ? args[i].Split(',').Select(int.Parse).ToArray() : fallback;
    var runs = Sizes(1, [10_000, 100_000, 200_000]).Select(n => ("wide CE", Programs.WideCrossEntropy(n / Programs.WideNodesPerLoss)))
        .Concat(Sizes(2, [10_000, 100_000, 200_000]).Select(n => ("lse chain", Programs.ChainLogSumExp(n / Programs.ChainNodesPerLink))))
        .Concat(Sizes(3, [10_000, 100_000, 200_000]).Select(n => ("stability", Programs.WideStability(n / Programs.WideNodesPerStability))));
    foreach (var (kind, g) in runs)
    {
        int nodes = g.Nodes().Count;
        var times = new List<double>();
        int rewrites = 0;
        for (int rep = 0; rep < 3; rep++)
        {
            long start = Stopwatch.GetTimestamp();
            rewrites = Simplifier.Simplify(g).Rewrites.Count;
            times.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
        }
        times.Sort();
        Console.WriteLine($"{kind,-10} {nodes,8} nodes: simplify median {times[1],9:F1} ms ({rewrites} rewrites)");
    }
    return;
}
BenchmarkSwitcher.FromAssembly(typeof(Workload).Assembly).Run(args);

namespace Autodiff.Benchmarks
{
    /// <summary>Stopwatch timing with the peer's protocol.</summary>
    public static class Compare
    {
        /// <summary>Median and minimum milliseconds of <paramref name="passes"/> calls of <paramref name="step"/> after the warm-up, and the managed
        /// bytes allocated per timed pass.</summary>
        public static (double MedianMs, double MinMs, double BytesPerPass) Time(Func<double> step, int passes = 20)
        {
            // Warm-up: at least 5 passes and 0.5 s, so the JIT has compiled the steady-state code.
            long warm = Stopwatch.GetTimestamp();
            for (int it = 0; it < 5 || Stopwatch.GetElapsedTime(warm).TotalSeconds < 0.5; it++) step();
            var times = new double[passes];
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int it = 0; it < passes; it++)
            {
                long start = Stopwatch.GetTimestamp();
                step();
                times[it] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            double bytes = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)passes;
            Array.Sort(times);
            return (times[passes / 2], times[0], bytes);
        }
    }
}
