using Autodiff.Kernels;
using Autodiff.Rewrite;
using BenchmarkDotNet.Attributes;

namespace Autodiff.Benchmarks;

/// <summary>Forward+backward of the cross-entropy and logsumexp programs of <see cref="Programs"/> on an already built tape
/// (the steady state: no graph building, no tape construction), 1 and 2 threads, float32 and float64.</summary>
[MemoryDiagnoser]
public class CrossEntropyBenchmarks
{
    private Workload _w = null!;

    /// <summary>N×C of the logits.</summary>
    [Params("4096x1000", "256x50000")]
    public string Size { get; set; } = "4096x1000";

    /// <summary>Element type.</summary>
    [Params(DType.F32, DType.F64)]
    public DType Type { get; set; }

    /// <summary><see cref="Parallelism.DegreeOfParallelism"/>.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>The program (see <see cref="Programs.Names"/>).</summary>
    [Params("fused", "naive", "simplified", "logsumexp", "naive_lse", "simplified_lse")]
    public string Program { get; set; } = "fused";

    /// <summary>Builds the graph and tape.</summary>
    [GlobalSetup]
    public void Setup()
    {
        Parallelism.DegreeOfParallelism = Threads;
        var nc = Size.Split('x');
        _w = new Workload(Programs.Build(Program, Type, int.Parse(nc[0]), int.Parse(nc[1])));
    }

    /// <summary>One forward and backward pass.</summary>
    [Benchmark]
    public double ForwardBackward() => _w.Step();
}

/// <summary>Forward+backward of <c>sum(matmul(z, w))</c> with z [N, C] and w [C, C], N = C.</summary>
[MemoryDiagnoser]
public class MatMulBenchmarks
{
    private Workload _w = null!;

    /// <summary>N = C.</summary>
    [Params(512, 1024)]
    public int Size { get; set; }

    /// <summary>Element type.</summary>
    [Params(DType.F32, DType.F64)]
    public DType Type { get; set; }

    /// <summary><see cref="Parallelism.DegreeOfParallelism"/>.</summary>
    [Params(1, 2)]
    public int Threads { get; set; }

    /// <summary>Builds the graph and tape.</summary>
    [GlobalSetup]
    public void Setup()
    {
        Parallelism.DegreeOfParallelism = Threads;
        _w = new Workload(Programs.MatMul(Type, Size, Size));
    }

    /// <summary>One forward and backward pass.</summary>
    [Benchmark]
    public double ForwardBackward() => _w.Step();
}

/// <summary>The simplifier on 10k, 100k and 200k nodes: wide graphs of independent naive cross-entropy subgraphs (about
/// 11 nodes each, summed by a balanced tree), long chains of dependent naive logsumexp links (about 6 nodes each), and wide
/// graphs of the stability rules' spellings (<see cref="Programs.WideStability"/>).</summary>
[MemoryDiagnoser]
public class SimplifierBenchmarks
{
    private Graph _g = null!;

    /// <summary>Approximate node count.</summary>
    [Params(10_000, 100_000, 200_000)]
    public int Nodes { get; set; }

    /// <summary>"wide", "chain" or "stability" (<see cref="Programs.WideStability"/>).</summary>
    [Params("wide", "chain", "stability")]
    public string Shape { get; set; } = "wide";

    /// <summary>Builds the graph.</summary>
    [GlobalSetup]
    public void Setup() => _g = Shape switch
    {
        "wide" => Programs.WideCrossEntropy(Nodes / Programs.WideNodesPerLoss),
        "stability" => Programs.WideStability(Nodes / Programs.WideNodesPerStability),
        _ => Programs.ChainLogSumExp(Nodes / Programs.ChainNodesPerLink),
    };

    /// <summary>One simplification (the input graph is left unchanged, so every run does the same work).</summary>
    [Benchmark]
    public int Simplify() => Simplifier.Simplify(_g).Rewrites.Count;
}
