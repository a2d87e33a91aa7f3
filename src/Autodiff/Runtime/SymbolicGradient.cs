namespace Autodiff;

/// <summary>Builds the backward graph as expressions (reverse accumulation over the graph, each op contributing its
/// <see cref="Op.Gradient"/>), so a user can print it and see, for instance, q − p appear. The tape computes the same
/// numbers with kernels; tests use this as an independent check of the tape.</summary>
public static class SymbolicGradient
{
    /// <summary>The gradient of the (scalar) output with respect to each named input (default: all float inputs),
    /// seeded with <paramref name="seed"/> (default: the constant 1).</summary>
    public static IReadOnlyDictionary<string, Expr> Of(Graph graph, IEnumerable<string>? wrt = null, Expr? seed = null)
    {
        var output = graph.Output;
        if (seed is null && output.Shape.Size != 1)
            throw new AutodiffException($"gradient: the output is {output.DType.Name()}{output.Shape}, not a scalar; give a seed of that shape");
        var targets = wrt is null ? graph.Inputs.Where(i => i.DType.IsFloat()).ToArray() : wrt.Select(graph.Input).ToArray();
        var order = graph.Nodes();
        var grads = new Dictionary<Node, Expr>(ReferenceEqualityComparer.Instance)
        {
            [output] = seed ?? output.Expr.Const(1).BroadcastTo(output.Shape.ToArray()),
        };
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var n = order[i];
            if (!grads.TryGetValue(n, out var g) || n.Inputs.Count == 0) continue;
            var parts = n.Op.Gradient(n, g);
            for (int j = 0; j < n.Inputs.Count; j++)
            {
                if (parts[j] is not { } p || !n.Op.IsDifferentiable(n, j)) continue;
                var x = n.Inputs[j];
                grads[x] = grads.TryGetValue(x, out var acc) ? acc + p : p;
            }
        }
        return targets.ToDictionary(t => ((InputOp)t.Op).InputName,
            t => grads.TryGetValue(t, out var g) ? g : t.Expr.Const(0).BroadcastTo(t.Shape.ToArray()));
    }
}
