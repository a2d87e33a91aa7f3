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
//   simplify [COUNTS]                 Simplifier time on wide cross-entropy graphs and logsumexp chains (comma list of
//                                     subgraph counts; default 1000,10000,20000 ≈ 12k, 120k, 240k nodes).
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
    var counts = args.Length > 1 ? args[1].Split(',').Select(int.Parse).ToArray() : [1000, 10000, 20000];
    foreach (var (kind, build) in new (string, Func<int, Graph>)[] { ("wide CE", Programs.WideCrossEntropy), ("lse chain", k => Programs.ChainLogSumExp(2 * k)) })
        foreach (int k in counts)
        {
            var g = build(k);
            int nodes = g.Nodes().Count;
            var times = new List<double>();
            int fused = 0;
            for (int rep = 0; rep < 3; rep++)
            {
                var sw = Stopwatch.StartNew();
                var r = Simplifier.Simplify(g);
                times.Add(sw.Elapsed.TotalMilliseconds);
                fused = r.Rewrites.Count;
            }
            times.Sort();
            Console.WriteLine($"{kind,-10} {nodes,8} nodes: simplify median {times[1],9:F1} ms ({fused} rewrites)");
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
