namespace Autodiff;

/// <summary>Builds the backward graph as expressions (reverse accumulation over the graph, each op contributing its
/// <see cref="Op.Gradient"/>), so a user can print it and see, for instance, q − p appear. The tape computes the same
/// numbers with kernels; tests use this as an independent check of the tape. The expressions are ordinary nodes of the
/// same builder, so they can be simplified, evaluated and differentiated again (<see cref="Gradient"/>).</summary>
public static class SymbolicGradient
{
    /// <summary>The gradient of the (scalar) output with respect to each named input (default: all float inputs),
    /// seeded with <paramref name="seed"/> (default: the constant 1). Throws an <see cref="AutodiffException"/> naming the
    /// op when the gradient would have to pass through an op that has none (<see cref="Op.NotDifferentiableReason"/>).</summary>
    public static IReadOnlyDictionary<string, Expr> Of(Graph graph, IEnumerable<string>? wrt = null, Expr? seed = null) =>
        Of(graph, graph.Output, wrt, seed);

    /// <summary>The gradient of <paramref name="output"/> (a node of <paramref name="graph"/>'s builder; scalar unless a
    /// <paramref name="seed"/> of its shape is given) with respect to each named input of <paramref name="graph"/>.</summary>
    public static IReadOnlyDictionary<string, Expr> Of(Graph graph, Node output, IEnumerable<string>? wrt = null, Expr? seed = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentNullException.ThrowIfNull(output);
        if (seed is null && output.Shape.Size != 1)
            throw new AutodiffException($"gradient: the output is {output.DType.Name()}{output.Shape}, not a scalar; give a seed of that shape");
        if (seed is { } s && s.Shape != output.Shape)
            throw new AutodiffException($"gradient: the seed is {s.DType.Name()}{s.Shape}, the output {output.DType.Name()}{output.Shape}");
        var targets = wrt is null ? graph.Inputs.Where(i => i.DType.IsFloat()).ToArray() : wrt.Select(graph.Input).ToArray();
        foreach (var t in targets)
            if (!t.DType.IsFloat()) throw new AutodiffException($"gradient: input '{((InputOp)t.Op).InputName}' is {t.DType.Name()}, not a float type");
        var order = Graph.TopologicalOrder([output]);
        var depends = DependsOn(order, targets);
        var grads = new Dictionary<Node, Expr>(ReferenceEqualityComparer.Instance)
        {
            [output] = seed ?? output.Expr.Const(1).BroadcastTo(output.Shape.ToArray()),
        };
        for (int i = order.Count - 1; i >= 0; i--)
        {
            var n = order[i];
            if (!depends.Contains(n) || !grads.TryGetValue(n, out var g) || n.Inputs.Count == 0) continue;
            if (n.Op.NotDifferentiableReason(n) is { } reason)
                throw new AutodiffException($"{n.Op.Name}: cannot be differentiated: {reason}");
            var parts = n.Op.Gradient(n, g);
            for (int j = 0; j < n.Inputs.Count; j++)
            {
                var x = n.Inputs[j];
                if (parts[j] is not { } p || !n.Op.IsDifferentiable(n, j) || !depends.Contains(x)) continue;
                grads[x] = grads.TryGetValue(x, out var acc) ? acc + p : p;
            }
        }
        return targets.ToDictionary(t => ((InputOp)t.Op).InputName,
            t => grads.TryGetValue(t, out var g) ? g : t.Expr.Const(0).BroadcastTo(t.Shape.ToArray()));
    }

    /// <summary>The nodes of <paramref name="order"/> whose value depends on a target through a differentiable operand
    /// (or through an op that has no gradient, so that reaching it is reported).</summary>
    private static HashSet<Node> DependsOn(List<Node> order, Node[] targets)
    {
        var depends = new HashSet<Node>(targets, ReferenceEqualityComparer.Instance);
        foreach (var n in order)
        {
            if (depends.Contains(n)) continue;
            for (int j = 0; j < n.Inputs.Count; j++)
                if (depends.Contains(n.Inputs[j]) && (n.Op.IsDifferentiable(n, j) || n.Op.NotDifferentiableReason(n) is not null && n.Inputs[j].DType.IsFloat()))
                {
                    depends.Add(n);
                    break;
                }
        }
        return depends;
    }
}
