namespace Autodiff;

/// <summary>Gradients as graphs: a program's gradient, Hessian-vector product and Jacobian-vector product built as
/// ordinary nodes of its builder (from each op's <see cref="Op.Gradient"/>), so the result is a <see cref="Graph"/> with
/// several outputs that the simplifier rewrites, a <see cref="Tape"/> evaluates (<see cref="Tape.Evaluate"/>), the
/// printer writes, the ONNX exporter lowers, and that can be differentiated again.
/// <para>Second order is reverse-over-reverse: the Hessian-vector product H·v is the gradient of ⟨∇f, v⟩
/// (docs/second-order.md gives the measurement behind the choice). An op with no gradient of its own on the path
/// (<see cref="Op.NotDifferentiableReason"/>) is an error naming it.</para></summary>
public static class Gradient
{
    /// <summary>The prefix of the gradient outputs: <c>grad_x</c> is the gradient with respect to input <c>x</c>.</summary>
    public const string GradPrefix = "grad_";

    /// <summary>The prefix of the Hessian-vector product outputs (<c>hvp_x</c>) and of the Jacobian-vector product output.</summary>
    public const string HvpPrefix = "hvp_";

    /// <summary>The prefix of the tangent inputs the second-order graphs declare (<c>v_x</c> for input <c>x</c>).</summary>
    public const string TangentPrefix = "v_";

    /// <summary>A graph with the same inputs whose outputs are the differentiated output (its name first), then
    /// <c>grad_x</c> for each input x of <paramref name="wrt"/> (default: every float input), in that order.
    /// <paramref name="output"/> names the output to differentiate (default: the first); it must be a scalar.</summary>
    public static Graph Of(Graph graph, IEnumerable<string>? wrt = null, string? output = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var (name, node) = Select(graph, output);
        var targets = Targets(graph, wrt);
        var grads = SymbolicGradient.Of(graph, node, targets);
        var outputs = new List<(string, Node)> { (name, node) };
        var taken = new HashSet<string>([name], StringComparer.Ordinal);
        foreach (var t in targets) outputs.Add((Unique(GradPrefix + t, taken), grads[t].Node));
        return graph.WithOutputs(outputs);
    }

    /// <summary>The Hessian-vector product as a graph: its inputs are <paramref name="graph"/>'s inputs followed by one
    /// tangent input per differentiated input (<see cref="HessianVectorProduct.Tangents"/>, <c>v_x</c> of x's type and
    /// shape); its outputs are the loss, <c>grad_x</c> for each x, then <c>hvp_x</c> = (H·v)_x, the Hessian of the loss
    /// with respect to all of <paramref name="wrt"/> jointly times the tangents. Reverse-over-reverse: H·v = ∇⟨∇f, v⟩.</summary>
    public static HessianVectorProduct Hvp(Graph graph, IEnumerable<string>? wrt = null, string? output = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var (name, node) = Select(graph, output);
        var targets = Targets(graph, wrt);
        var grads = SymbolicGradient.Of(graph, node, targets);
        var tangents = Tangents(graph, targets);
        Expr? inner = null;
        foreach (var t in targets)
        {
            var term = (grads[t] * tangents[t]).Sum();
            inner = inner is { } acc ? acc + term : term;
        }
        var withTangents = new Graph(graph.Builder, [.. graph.Inputs, .. tangents.Values.Select(v => v.Node)], graph.Output, graph.Names);
        var hv = inner is { } s ? SymbolicGradient.Of(withTangents, s.Node, targets) : new Dictionary<string, Expr>();
        var outputs = new List<(string, Node)> { (name, node) };
        var taken = new HashSet<string>([name], StringComparer.Ordinal);
        foreach (var t in targets) outputs.Add((Unique(GradPrefix + t, taken), grads[t].Node));
        foreach (var t in targets) outputs.Add((Unique(HvpPrefix + t, taken), hv[t].Node));
        var result = withTangents.WithOutputs(outputs);
        return new HessianVectorProduct(result, targets, tangents.ToDictionary(p => p.Key, p => ((InputOp)p.Value.Node.Op).InputName));
    }

    /// <summary>The Jacobian-vector product (forward mode) as a graph, by transposing the vector-Jacobian product twice:
    /// J·v = ∇_u ⟨vjp(u), v⟩, exact because the VJP is linear in its cotangent u. Inputs: the program's inputs, then the
    /// tangents <c>v_x</c>; outputs: the output (its name), then <c>jvp</c>, of the output's shape (any shape).</summary>
    public static HessianVectorProduct Jvp(Graph graph, IEnumerable<string>? wrt = null, string? output = null)
    {
        ArgumentNullException.ThrowIfNull(graph);
        var (name, node) = Select(graph, output, scalar: false);
        var targets = Targets(graph, wrt);
        var tangents = Tangents(graph, targets);
        var u = graph.Builder.Input(FreeName(graph, "u_" + name, node.DType, node.Shape), node.DType, node.Shape);
        var vjp = SymbolicGradient.Of(graph, node, targets, seed: u);
        Expr? inner = null;
        foreach (var t in targets)
        {
            var term = (vjp[t] * tangents[t]).Sum();
            inner = inner is { } acc ? acc + term : term;
        }
        var withU = new Graph(graph.Builder, [.. graph.Inputs, .. tangents.Values.Select(v => v.Node), u.Node], graph.Output, graph.Names);
        var jvp = inner is { } s
            ? SymbolicGradient.Of(withU, s.Node, [((InputOp)u.Node.Op).InputName])[((InputOp)u.Node.Op).InputName]
            : node.Expr.Const(0).BroadcastTo(node.Shape.ToArray());
        var withTangents = new Graph(graph.Builder, [.. graph.Inputs, .. tangents.Values.Select(v => v.Node)], graph.Output, graph.Names);
        var outputs = new List<(string, Node)> { (name, node), (name == "jvp" ? "jvp_" : "jvp", jvp.Node) };
        return new HessianVectorProduct(withTangents.WithOutputs(outputs), targets, tangents.ToDictionary(p => p.Key, p => ((InputOp)p.Value.Node.Op).InputName));
    }

    private static (string Name, Node Node) Select(Graph graph, string? output, bool scalar = true)
    {
        var o = output is null ? graph.Outputs[0]
            : graph.Outputs.FirstOrDefault(x => x.Name == output) is { Node: not null } found ? found
            : throw new AutodiffException($"gradient: no output named '{output}'; outputs are {string.Join(", ", graph.Outputs.Select(x => x.Name))}");
        if (scalar && o.Node.Shape.Size != 1)
            throw new AutodiffException($"gradient: the output '{o.Name}' is {o.Node.DType.Name()}{o.Node.Shape}, not a scalar");
        if (!o.Node.DType.IsFloat())
            throw new AutodiffException($"gradient: the output '{o.Name}' is {o.Node.DType.Name()}, not a float type");
        return o;
    }

    private static string[] Targets(Graph graph, IEnumerable<string>? wrt)
    {
        var names = wrt?.ToArray() ?? [.. graph.Inputs.Where(i => i.DType.IsFloat()).Select(i => ((InputOp)i.Op).InputName)];
        foreach (var n in names)
        {
            var node = graph.Input(n);
            if (!node.DType.IsFloat()) throw new AutodiffException($"gradient: input '{n}' is {node.DType.Name()}, not a float type");
        }
        if (names.Distinct().Count() != names.Length) throw new AutodiffException("gradient: an input is named twice in wrt");
        return names;
    }

    private static Dictionary<string, Expr> Tangents(Graph graph, string[] targets)
    {
        var d = new Dictionary<string, Expr>(StringComparer.Ordinal);
        foreach (var t in targets)
        {
            var x = graph.Input(t);
            d[t] = graph.Builder.Input(FreeName(graph, TangentPrefix + t, x.DType, x.Shape), x.DType, x.Shape);
        }
        return d;
    }

    /// <summary><paramref name="wanted"/>, or it with a numeric suffix, that is not an input of the graph and is either
    /// undeclared in the builder or declared there with this type and shape (a previous second-order graph's tangent).</summary>
    private static string FreeName(Graph graph, string wanted, DType dtype, Shape shape)
    {
        var own = graph.Inputs.Select(i => ((InputOp)i.Op).InputName).ToHashSet(StringComparer.Ordinal);
        var declared = graph.Builder.Inputs.ToDictionary(i => ((InputOp)i.Op).InputName, StringComparer.Ordinal);
        for (int k = 1; ; k++)
        {
            var name = k == 1 ? wanted : wanted + "_" + k;
            if (own.Contains(name)) continue;
            if (!declared.TryGetValue(name, out var d) || d.DType == dtype && d.Shape == shape && ((InputOp)d.Op).Facts == InputFacts.None) return name;
        }
    }

    private static string Unique(string name, HashSet<string> taken)
    {
        var n = name;
        for (int k = 2; !taken.Add(n); k++) n = name + "_" + k;
        return n;
    }
}
