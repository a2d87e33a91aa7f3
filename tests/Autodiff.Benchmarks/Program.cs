using System.Diagnostics;
using System.Globalization;
using Autodiff;
using Autodiff.Benchmarks;
using Autodiff.Kernels;
using Autodiff.Rewrite;
using BenchmarkDotNet.Running;

// Commands (see docs/performance.md):
//   compare N C THREADS [WORKLOADS] [PASSES]
//                                     Stopwatch medians as the peer takes them (warm-up, then 20 timed passes), plus
//                                     the minimum and the managed bytes allocated per pass; WORKLOADS is a comma list of
//                                     Programs.Names (default: all).
//   simplify [WIDE] [CHAIN]           Simplifier time (median of 3) on wide graphs of independent cross-entropies and on
//                                     chains of logsumexp links; comma lists of approximate node counts (default
//                                     10000,100000,200000 for both).
//   anything else                     BenchmarkDotNet (e.g. --filter '*' --job short).
CultureInfo.DefaultThreadCurrentCulture = CultureInfo.InvariantCulture;
CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
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
            var (median, min, bytes) = Compare.Time(new Workload(Programs.Build(name, dt, n, c)), passes);
            Console.WriteLine($"{name,-16} {dt.Name(),-4} N={n} C={c} threads={threads}: median {median:F3} ms (min {min:F3})  alloc {bytes:F0} B/pass");
        }
    return;
}
if (args.Length > 0 && args[0] == "simplify")
{
    int[] Sizes(int i, int[] fallback) => args.Length > i ? args[i].Split(',').Select(int.Parse).ToArray() : fallback;
    var runs = Sizes(1, [10_000, 100_000, 200_000]).Select(n => ("wide CE", Programs.WideCrossEntropy(n / Programs.WideNodesPerLoss)))
        .Concat(Sizes(2, [10_000, 100_000, 200_000]).Select(n => ("lse chain", Programs.ChainLogSumExp(n / Programs.ChainNodesPerLink))));
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
        /// <summary>Median and minimum milliseconds of <paramref name="passes"/> passes after the warm-up, and the managed
        /// bytes allocated per timed pass.</summary>
        public static (double MedianMs, double MinMs, double BytesPerPass) Time(Workload w, int passes = 20)
        {
            // Warm-up: at least 5 passes and 0.5 s, so the JIT has compiled the steady-state code.
            long warm = Stopwatch.GetTimestamp();
            for (int it = 0; it < 5 || Stopwatch.GetElapsedTime(warm).TotalSeconds < 0.5; it++) w.Step();
            var times = new double[passes];
            long before = GC.GetTotalAllocatedBytes(precise: true);
            for (int it = 0; it < passes; it++)
            {
                long start = Stopwatch.GetTimestamp();
                w.Step();
                times[it] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
            }
            double bytes = (GC.GetTotalAllocatedBytes(precise: true) - before) / (double)passes;
            Array.Sort(times);
            return (times[passes / 2], times[0], bytes);
        }
    }
}
