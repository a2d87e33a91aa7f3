namespace Autodiff;

/// <summary>A second-order (or forward-mode) graph from <see cref="Gradient.Hvp"/> or <see cref="Gradient.Jvp"/>: the
/// graph, the differentiated inputs and the tangent input declared for each, and a tape that evaluates it.</summary>
public sealed class HessianVectorProduct
{
    private Tape? _tape;

    internal HessianVectorProduct(Graph graph, IReadOnlyList<string> wrt, IReadOnlyDictionary<string, string> tangents)
    {
        Graph = graph;
        Wrt = wrt;
        Tangents = tangents;
    }

    /// <summary>The graph: the program's inputs and the tangents in; the outputs described by the method that built it.</summary>
    public Graph Graph { get; }

    /// <summary>The differentiated inputs, in order.</summary>
    public IReadOnlyList<string> Wrt { get; }

    /// <summary>For each differentiated input, the name of its tangent input in <see cref="Graph"/> (usually <c>v_x</c>).</summary>
    public IReadOnlyDictionary<string, string> Tangents { get; }

    /// <summary>This object with its graph simplified (canonicalize, stabilize, fuse; <see cref="Rewrite.Simplifier"/>).</summary>
    public HessianVectorProduct Simplify(Rewrite.SimplifyOptions? options = null) =>
        new(Rewrite.Simplifier.Simplify(Graph, options).After, Wrt, Tangents);

    /// <summary>Evaluates the graph at <paramref name="inputs"/> with tangents <paramref name="v"/> (by differentiated input
    /// name: each must be given, with that input's type and shape) and returns every output by name (the tape's own
    /// tensors, overwritten by the next call).</summary>
    public IReadOnlyDictionary<string, Tensor> Evaluate(IReadOnlyDictionary<string, Tensor> inputs, IReadOnlyDictionary<string, Tensor> v)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(v);
        foreach (var name in v.Keys)
            if (!Tangents.ContainsKey(name))
                throw new AutodiffException($"hvp: '{name}' is not a differentiated input; the tangents are for {string.Join(", ", Wrt)}");
        var all = new Dictionary<string, Tensor>(inputs, StringComparer.Ordinal);
        foreach (var x in Wrt)
        {
            if (!v.TryGetValue(x, out var t)) throw new AutodiffException($"hvp: no tangent for input '{x}'; give one for each of {string.Join(", ", Wrt)}");
            all[Tangents[x]] = t;
        }
        _tape ??= new Tape(Graph, []);
        return _tape.Evaluate(all);
    }
}

/// <summary>Full Hessians of small programs, one Hessian-vector product per column.</summary>
public static class Hessian
{
    /// <summary>The largest number of differentiated elements <see cref="Of"/> accepts (the Hessian has its square).</summary>
    public const int MaxElements = 4096;

    /// <summary>The Hessian of <paramref name="graph"/>'s scalar output with respect to the inputs <paramref name="wrt"/>
    /// (default: every float input) jointly, at <paramref name="inputs"/>, in double: element [i, j] is
    /// ∂²f / ∂θ_i ∂θ_j where θ is the differentiated inputs' elements, flattened row-major and concatenated in
    /// <paramref name="wrt"/> order. n Hessian-vector products for n elements (at most <see cref="MaxElements"/>).</summary>
    public static double[,] Of(Graph graph, IReadOnlyDictionary<string, Tensor> inputs, IEnumerable<string>? wrt = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(inputs);
        var hvp = Gradient.Hvp(graph, wrt).Simplify();
        var nodes = hvp.Wrt.Select(graph.Input).ToArray();
        int n = nodes.Sum(x => x.Shape.Size);
        if (n > MaxElements)
            throw new AutodiffException($"hessian: {n} differentiated elements, more than {MaxElements}; use Gradient.Hvp for Hessian-vector products");
        var v = nodes.ToDictionary(x => ((InputOp)x.Op).InputName, x => Tensor.Zeros(x.DType, x.Shape), StringComparer.Ordinal);
        var h = new double[n, n];
        int col = 0;
        for (int k = 0; k < nodes.Length; k++)
            for (int e = 0; e < nodes[k].Shape.Size; e++, col++)
            {
                var name = hvp.Wrt[k];
                v[name].SetDouble(e, 1);
                var outputs = hvp.Evaluate(inputs, v);
                v[name].SetDouble(e, 0);
                int row = 0;
                foreach (var w in hvp.Wrt)
                {
                    var t = outputs[hvp.Graph.Outputs[1 + hvp.Wrt.Count + hvp.Wrt.ToList().IndexOf(w)].Name];
                    for (int i = 0; i < t.Size; i++) h[row++, col] = t.GetDouble(i);
                }
            }
        return h;
    }
}
