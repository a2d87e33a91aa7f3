using Autodiff.Kernels;
using BenchmarkDotNet.Attributes;

namespace Autodiff.Benchmarks;

/// <summary>Forward+backward of the negative CRF log-likelihood −sum(crf_log_likelihood(e, A, tags, start, end)) for
/// B = 16 full-length sequences, the fused op against the same function written with core ops (a loop over time of
/// <c>logsumexp(alpha[:, :, None] + A, axis=1)</c>, the gold score with <c>take</c> and <c>one_hot</c>), over T and L:
/// the fused op's time grows as O(T·L²). float64, one thread.</summary>
[MemoryDiagnoser]
public class CrfBenchmarks
{
    private Tape _tape = null!;
    private Dictionary<string, Tensor> _inputs = null!;

    /// <summary>Sequence length.</summary>
    [Params(16, 64, 256)]
    public int T { get; set; }

    /// <summary>Number of tags.</summary>
    [Params(8, 32, 128)]
    public int L { get; set; }

    /// <summary><c>fused</c> or <c>naive</c>.</summary>
    [Params("fused", "naive")]
    public string Program { get; set; } = "fused";

    /// <summary>Builds the graph, the tape and the inputs.</summary>
    [GlobalSetup]
    public void Setup()
    {
        Parallelism.DegreeOfParallelism = 1;
        (var graph, _inputs) = CrfPrograms.Build(Program == "naive", 16, T, L);
        _tape = new Tape(graph, ["e", "A", "s", "f"]);
    }

    /// <summary>One forward and backward pass.</summary>
    [Benchmark]
    public double ForwardBackward()
    {
        var (v, _) = _tape.Run(_inputs);
        return v.GetDouble(0);
    }
}

/// <summary>The CRF benchmark programs and their inputs.</summary>
public static class CrfPrograms
{
    /// <summary>−sum of the log-likelihood of B sequences of length T over L tags (float64), fused or naive, with random
    /// scores (standard normal) and tags. The naive graph reads time step t with <c>take(x, pos_t, axis=1)</c>, pos_t
    /// being an i64 input [B, L] (or [B]) filled with t.</summary>
    public static (Graph Graph, Dictionary<string, Tensor> Inputs) Build(bool naive, int b, int t, int l, int seed = 1)
    {
        var rnd = new Random(seed);
        var g = new GraphBuilder();
        var e = g.Input("e", DType.F64, b, t, l);
        var a = g.Input("A", DType.F64, l, l);
        var s = g.Input("s", DType.F64, l);
        var f = g.Input("f", DType.F64, l);
        var tags = g.Input("tags", DType.I64, b, t);
        var inputs = new Dictionary<string, Tensor>
        {
            ["e"] = Tensor.RandomNormal(DType.F64, new Shape(b, t, l), rnd),
            ["A"] = Tensor.RandomNormal(DType.F64, new Shape(l, l), rnd),
            ["s"] = Tensor.RandomNormal(DType.F64, new Shape(l), rnd),
            ["f"] = Tensor.RandomNormal(DType.F64, new Shape(l), rnd),
            ["tags"] = Tensor.FromArray(Enumerable.Range(0, b * t).Select(_ => (long)rnd.Next(l)).ToArray(), b, t),
        };
        if (!naive) return (g.Build(-e.CrfLogLikelihood(a, tags, s, f).Sum()), inputs);

        var pos = new Expr[t];
        for (int k = 0; k < t; k++)
        {
            pos[k] = g.Input($"pos{k}", DType.I64, b, l);
            inputs[$"pos{k}"] = Tensor.Full(DType.I64, new Shape(b, l), k);
        }
        var oh = tags.OneHot(l, DType.F64);
        Expr At(Expr x, int k) => x.Take(pos[k], 1);   // [B, T, L] -> [B, L]
        var alpha = At(e, 0) + s;
        var gold = (At(oh, 0) * s).Sum(1);
        for (int k = 1; k < t; k++)
        {
            alpha = (alpha.Unsqueeze(2) + a).LogSumExp(1) + At(e, k);
            gold = gold + (At(oh, k - 1).MatMul(a) * At(oh, k)).Sum(1);
        }
        var logZ = (alpha + f).LogSumExp(1);
        gold = gold + e.Take(tags, 2).Sum(1) + (At(oh, t - 1) * f).Sum(1);
        return (g.Build(-(gold - logZ).Sum()), inputs);
    }
}
