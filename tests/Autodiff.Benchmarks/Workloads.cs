using Autodiff.Rewrite;

namespace Autodiff.Benchmarks;

/// <summary>A graph with a tape built once and input values bound once; <see cref="Step"/> is one forward+backward pass.</summary>
public sealed class Workload
{
    private readonly Dictionary<string, Tensor> _inputs;

    /// <summary>Builds the tape and random inputs: logits z ~ 3·N(0, 1), labels t uniform in [0, C), weights w ~ N(0, 1/C).</summary>
    public Workload(Graph graph, int seed = 1)
    {
        Graph = graph;
        Tape = new Tape(graph);
        var rnd = new Random(seed);
        _inputs = new Dictionary<string, Tensor>();
        foreach (var input in graph.Inputs)
        {
            var op = (InputOp)input.Op;
            if (op.Type == DType.I64)
            {
                int classes = graph.Inputs[0].Shape[^1];
                var labels = new long[input.Shape.Size];
                for (int i = 0; i < labels.Length; i++) labels[i] = rnd.Next(classes);
                _inputs[op.InputName] = Tensor.FromArray(labels, input.Shape);
            }
            else if (op.Facts.ProbsAxis is not null)
            {
                // rows that sum to 1 (the last axis)
                int classes = input.Shape[^1];
                var p = new double[input.Shape.Size];
                for (int r = 0; r < p.Length / classes; r++)
                {
                    double s = 0;
                    for (int j = 0; j < classes; j++) s += p[(r * classes) + j] = rnd.NextDouble();
                    for (int j = 0; j < classes; j++) p[(r * classes) + j] /= s;
                }
                _inputs[op.InputName] = Tensor.FromDoubles(op.Type, input.Shape, p);
            }
            else
            {
                double std = op.InputName == "w" ? 1 / Math.Sqrt(input.Shape[0]) : 3;
                _inputs[op.InputName] = Tensor.RandomNormal(op.Type, input.Shape, rnd, std);
            }
        }
    }

    /// <summary>The graph.</summary>
    public Graph Graph { get; }

    /// <summary>The tape.</summary>
    public Tape Tape { get; }

    /// <summary>The bound input values.</summary>
    public IReadOnlyDictionary<string, Tensor> Inputs => _inputs;

    /// <summary>One forward and backward pass, as a training step runs it (<see cref="Tape.Run"/>: a fused loss head
    /// computes its value and gradient in one pass); returns the loss (so the work cannot be elided).</summary>
    public double Step() => Tape.Run(_inputs).Value.GetDouble(0);

    /// <summary>One forward and one separate backward call (<see cref="Tape.Forward"/>, then <see cref="Tape.Backward"/>):
    /// every op's backward reads its operands again.</summary>
    public double StepSeparately()
    {
        var v = Tape.Forward(_inputs);
        Tape.Backward();
        return v.GetDouble(0);
    }
}

/// <summary>The benchmarked programs, each a scalar loss of logits z [N, C] (and labels t [N] or weights w [C, C]), built the
/// way a user would write them.</summary>
public static class Programs
{
    /// <summary>The workloads by name, in the order the tables print them.</summary>
    public static readonly string[] Names = ["fused", "naive", "simplified", "logsumexp", "naive_lse", "simplified_lse", "matmul"];

    /// <summary>Builds workload <paramref name="name"/> for element type <paramref name="dt"/> and N×C logits.</summary>
    public static Graph Build(string name, DType dt, int n, int c) => name switch
    {
        "fused" => Fused(dt, n, c),
        "naive" => Naive(dt, n, c),
        "simplified" => Simplifier.Simplify(Naive(dt, n, c)).After,
        "logsumexp" => LogSumExp(dt, n, c),
        "naive_lse" => NaiveLogSumExp(dt, n, c),
        "simplified_lse" => Simplifier.Simplify(NaiveLogSumExp(dt, n, c)).After,
        "matmul" => MatMul(dt, n, c),
        "dense" => Dense(dt, n, c),
        _ => throw new ArgumentException($"unknown workload '{name}'; workloads are {string.Join(", ", Names)}"),
    };

    /// <summary><c>mean(sparse_softmax_cross_entropy(z, t, axis=1))</c>, hand-written with the fused op.</summary>
    public static Graph Fused(DType dt, int n, int c)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", dt, n, c);
        var t = b.Input("t", DType.I64, new Shape(n), InputFacts.ClassIndices(c));
        return b.Build(z.SparseSoftmaxCrossEntropy(t, axis: 1).Mean());
    }

    /// <summary>The naive program (as the peer's naive version): softmax by exp / sum, log, one-hot, mean.</summary>
    public static Graph Naive(DType dt, int n, int c) => Text.Parser.Parse($"""
        input z: {dt.Name()}[{n}, {c}]
        input t: i64[{n}] classes({c})
        e = exp(z)
        q = e / sum(e, axis=1, keepdims=true)
        loss = -mean(sum(one_hot(t, {c}) * log(q), axis=1))
        """);

    /// <summary><c>mean(softmax_cross_entropy(z, p, axis=1, normalized=true))</c> with probability targets p, both
    /// differentiated (not in <see cref="Names"/>: the peer has no counterpart; ask for it by name).</summary>
    public static Graph Dense(DType dt, int n, int c) => Text.Parser.Parse($"""
        input z: {dt.Name()}[{n}, {c}]
        input p: {dt.Name()}[{n}, {c}] probs(axis=1)
        loss = mean(softmax_cross_entropy(z, p, axis=1, normalized=true))
        """);

    /// <summary><c>sum(logsumexp(z, axis=1))</c>.</summary>
    public static Graph LogSumExp(DType dt, int n, int c)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", dt, n, c);
        return b.Build(z.LogSumExp(1).Sum());
    }

    /// <summary><c>sum(log(sum(exp(z), axis=1)))</c>.</summary>
    public static Graph NaiveLogSumExp(DType dt, int n, int c) => Text.Parser.Parse($"""
        input z: {dt.Name()}[{n}, {c}]
        loss = sum(log(sum(exp(z), axis=1)))
        """);

    /// <summary><c>sum(matmul(z, w))</c> with z [N, C] and w [C, C], both differentiated.</summary>
    public static Graph MatMul(DType dt, int n, int c)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", dt, n, c);
        var w = b.Input("w", dt, c, c);
        return b.Build(z.MatMul(w).Sum());
    }

    /// <summary>Nodes per subgraph of <see cref="WideCrossEntropy"/>.</summary>
    public const int WideNodesPerLoss = 11;

    /// <summary>Nodes per subgraph of <see cref="WideStability"/> (about).</summary>
    public const int WideNodesPerStability = 24;

    /// <summary>Nodes per link of <see cref="ChainLogSumExp"/>.</summary>
    public const int ChainNodesPerLink = 6;

    /// <summary>A wide graph of <paramref name="count"/> independent naive cross-entropy subgraphs (each over its own
    /// scaling z·k of a shared [4, 8] input), summed by a balanced tree: about 11 nodes per subgraph, each of which the
    /// simplifier rewrites into a fused sparse cross-entropy.</summary>
    public static Graph WideCrossEntropy(int count)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 4, 8);
        var t = b.Input("t", DType.I64, new Shape(4), InputFacts.ClassIndices(8));
        var oh = t.OneHot(8, DType.F64);
        var losses = new List<Expr>(count);
        for (int k = 0; k < count; k++)
        {
            var e = (z * (1 + k * 1e-3)).Exp();
            var q = e / e.Sum(1, keepDims: true);
            losses.Add(-(oh * q.Log()).Sum(1).Mean());
        }
        while (losses.Count > 1)
        {
            var next = new List<Expr>((losses.Count + 1) / 2);
            for (int i = 0; i + 1 < losses.Count; i += 2) next.Add(losses[i] + losses[i + 1]);
            if (losses.Count % 2 == 1) next.Add(losses[^1]);
            losses = next;
        }
        return b.Build(losses[0]);
    }

    /// <summary>A long chain: x₀ = z, x_{k+1} = log(sum(exp(x_k·c_k), axis=1, keepdims=true)) + x_k, each link a naive
    /// log-sum-exp pattern (fused by the simplifier) feeding the next one; about 6 nodes per link.</summary>
    public static Graph ChainLogSumExp(int links)
    {
        var b = new GraphBuilder();
        var x = b.Input("z", DType.F64, 4, 8);
        for (int k = 0; k < links; k++) x = (x * (1 + k * 1e-3)).Exp().Sum(1, keepDims: true).Log() + x;
        return b.Build(x.Sum());
    }

    /// <summary>A wide graph of <paramref name="count"/> independent subgraphs in the spellings the stability rules target
    /// (each over its own scaling u = z·k of a shared [4, 8] input): log(1 + u²), exp(u) − 1, log(1 − exp(−u² − 0.5)),
    /// sqrt(exp(u)), exp(u) / (1 + exp(u)) and a / exp(u), summed per subgraph and then by a balanced tree; the simplifier
    /// rewrites them onto log1p, expm1, log1mexp, exp, sigmoid and a product.</summary>
    public static Graph WideStability(int count)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 4, 8);
        var a = b.Input("a", DType.F64, 4, 8);
        var terms = new List<Expr>(count);
        for (int k = 0; k < count; k++)
        {
            var u = z * (1 + k * 1e-3);
            var sq = u * u;
            var e = u.Exp();
            terms.Add(((1 + sq).Log() + (e - 1) + (1 - (-sq - 0.5).Exp()).Log() + e.Sqrt() + e / (1 + e) + a / e).Sum());
        }
        while (terms.Count > 1)
        {
            var next = new List<Expr>((terms.Count + 1) / 2);
            for (int i = 0; i + 1 < terms.Count; i += 2) next.Add(terms[i] + terms[i + 1]);
            if (terms.Count % 2 == 1) next.Add(terms[^1]);
            terms = next;
        }
        return b.Build(terms[0]);
    }
}
