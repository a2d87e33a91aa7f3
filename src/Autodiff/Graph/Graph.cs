namespace Autodiff;

/// <summary>An immutable program: declared inputs, one or more named outputs, and the names given to intermediate nodes
/// (used only for printing). The first output is <see cref="Output"/>, the one a <see cref="Tape"/> differentiates;
/// a graph from <see cref="Gradient.Of"/> has the loss first, then one gradient per differentiated input.
/// Rewriting returns a new <see cref="Graph"/> and leaves this one usable.</summary>
public sealed class Graph
{
    internal Graph(GraphBuilder builder, IReadOnlyList<Node> inputs, Node output, IReadOnlyDictionary<Node, string> names,
        IReadOnlyList<(string Name, Node Node)>? outputs = null)
    {
        Builder = builder;
        Inputs = inputs;
        Output = output;
        Names = names;
        if (outputs is not null)
        {
            if (outputs.Count == 0) throw new ArgumentException("a graph needs an output", nameof(outputs));
            if (!ReferenceEquals(outputs[0].Node, output)) throw new ArgumentException("the first output must be the graph's output", nameof(outputs));
            _outputs = outputs;
        }
    }

    private readonly IReadOnlyList<(string Name, Node Node)>? _outputs;

    /// <summary>The outputs by name, <see cref="Output"/> first. A graph with one output names it by its name in
    /// <see cref="Names"/> (<c>out</c> when it has none); a graph with several keeps the names it was built with (the
    /// language's <c>output a, b</c>, <see cref="GraphBuilder.Build(IReadOnlyList{ValueTuple{string, Expr}}, IReadOnlyDictionary{Node, string})"/>).</summary>
    public IReadOnlyList<(string Name, Node Node)> Outputs =>
        _outputs ?? [(Names.TryGetValue(Output, out var n) && Text.Syntax.IsName(n) ? n : "out", Output)];

    /// <summary>True when the graph has more than one output.</summary>
    public bool HasSeveralOutputs => _outputs is { Count: > 1 };

    /// <summary>The outputs as built with explicit names, or null (one output named by <see cref="Names"/>).</summary>
    internal IReadOnlyList<(string Name, Node Node)>? ExplicitOutputs => _outputs;

    /// <summary>The builder that owns the nodes.</summary>
    public GraphBuilder Builder { get; }

    /// <summary>The declared inputs, in declaration order (including ones the output does not use).</summary>
    public IReadOnlyList<Node> Inputs { get; }

    /// <summary>The result node.</summary>
    public Node Output { get; }

    /// <summary>Names of intermediate nodes, for printing.</summary>
    public IReadOnlyDictionary<Node, string> Names { get; }

    /// <summary>The input with the given name, or an error listing the inputs.</summary>
    public Node Input(string name) =>
        Inputs.FirstOrDefault(i => ((InputOp)i.Op).InputName == name)
        ?? throw new AutodiffException($"no input named '{name}'; inputs are {string.Join(", ", Inputs.Select(i => ((InputOp)i.Op).InputName))}");

    /// <summary>The nodes the outputs depend on, each after its operands, in a deterministic order.</summary>
    public List<Node> Nodes() => _outputs is null ? TopologicalOrder([Output]) : TopologicalOrder(_outputs.Select(o => o.Node));

    /// <summary>Deterministic post-order (operands first, in operand order) of everything reachable from <paramref name="roots"/>. Iterative, so deep graphs do not overflow the stack.</summary>
    public static List<Node> TopologicalOrder(IEnumerable<Node> roots)
    {
        var order = new List<Node>();
        var seen = new Visited();
        var stack = new Stack<(Node Node, int Next)>();
        foreach (var root in roots)
        {
            if (!seen.Add(root)) continue;
            stack.Push((root, 0));
            while (stack.Count > 0)
            {
                var (n, next) = stack.Pop();
                if (next < n.Inputs.Count)
                {
                    stack.Push((n, next + 1));
                    var c = n.Inputs[next];
                    if (seen.Add(c)) stack.Push((c, 0));
                }
                else order.Add(n);
            }
        }
        return order;
    }

    /// <summary>Marks visited nodes: in a hash set while the walk is small, then by their dense id per builder (a
    /// reference-keyed set was most of a large sort's cost, and an array the size of the builder for every small walk, such
    /// as printing one rewrite of a large graph, made those walks cost the whole builder each).</summary>
    private sealed class Visited
    {
        private readonly Dictionary<GraphBuilder, bool[]> _marks = new(ReferenceEqualityComparer.Instance);
        private HashSet<Node>? _small = new(ReferenceEqualityComparer.Instance);
        private int _limit = -1;

        public bool Add(Node n)
        {
            if (_small is not null)
            {
                if (_limit < 0) _limit = Math.Max(256, n.Builder.NodeCount / 16);
                if (_small.Count < _limit) return _small.Add(n);
                foreach (var m in _small) Mark(m);
                _small = null;
            }
            return Mark(n);
        }

        private bool Mark(Node n)
        {
            if (!_marks.TryGetValue(n.Builder, out var m) || n.Id >= m.Length)
            {
                var bigger = new bool[Math.Max(n.Builder.NodeCount, n.Id + 1)];
                m?.CopyTo(bigger, 0);
                _marks[n.Builder] = m = bigger;
            }
            if (m[n.Id]) return false;
            m[n.Id] = true;
            return true;
        }
    }

    /// <summary>A graph with another output in the same builder, keeping the inputs and the names of nodes still reachable.</summary>
    public Graph WithOutput(Node output, IReadOnlyDictionary<Node, string>? extraNames = null) =>
        WithOutputs([(Outputs[0].Name, output)], extraNames);

    /// <summary>A graph with other named outputs in the same builder (the first is <see cref="Output"/>), keeping the inputs
    /// and the names of nodes still reachable.</summary>
    public Graph WithOutputs(IReadOnlyList<(string Name, Node Node)> outputs, IReadOnlyDictionary<Node, string>? extraNames = null)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        if (outputs.Count == 0) throw new AutodiffException("a graph needs at least one output");
        var output = outputs[0].Node;
        var reach = new HashSet<Node>(TopologicalOrder(outputs.Select(o => o.Node)), ReferenceEqualityComparer.Instance);
        var names = new Dictionary<Node, string>(ReferenceEqualityComparer.Instance);
        foreach (var (n, s) in Names) if (reach.Contains(n)) names[n] = s;
        if (extraNames is not null)
        {
            var taken = new HashSet<string>(names.Values, StringComparer.Ordinal);
            foreach (var (n, s) in extraNames)
                if (reach.Contains(n) && !taken.Contains(s) && names.TryAdd(n, s)) taken.Add(s);
        }
        return new Graph(Builder, Inputs, output, names, outputs.Count > 1 ? outputs : null);
    }

    /// <summary>The same program with every float element type changed to <paramref name="dtype"/> (built in a new builder),
    /// e.g. to check a float32 program against float64.</summary>
    public Graph ToDType(DType dtype)
    {
        if (!dtype.IsFloat()) throw new AutodiffException($"ToDType: {dtype.Name()} is not a float type");
        var b = new GraphBuilder();
        var map = new Dictionary<Node, Node>(ReferenceEqualityComparer.Instance);
        foreach (var i in Inputs) map[i] = b.Make(i.Op.WithFloatType(dtype));
        foreach (var n in Nodes())
            if (!map.ContainsKey(n)) map[n] = b.Make(n.Op.WithFloatType(dtype), n.Inputs.Select(x => map[x]).ToArray());
        var names = new Dictionary<Node, string>(ReferenceEqualityComparer.Instance);
        foreach (var (n, s) in Names) if (map.TryGetValue(n, out var m)) names[m] = s;
        foreach (var (n, m) in map) b.CopyPosition(m, n);
        return new Graph(b, Inputs.Select(i => map[i]).ToArray(), map[Output], names, _outputs?.Select(o => (o.Name, map[o.Node])).ToArray());
    }

    /// <summary>The program in the expression language.</summary>
    public override string ToString() => Text.Printer.Print(this);
}
