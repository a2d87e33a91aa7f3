namespace Autodiff;

/// <summary>A position in the program text: 1-based <paramref name="Line"/> and <paramref name="Column"/> of the call or
/// operator, and <paramref name="Function"/>, its name in the expression language (<c>exp</c>, <c>div</c>, <c>softmax</c>).</summary>
public sealed record SourcePosition(int Line, int Column, string Function);

/// <summary>Creates and interns (hash-conses) nodes: building the same op on the same operands twice yields one node.
/// Rewrites build their replacements in the same builder, so unchanged subgraphs are shared and the original graph
/// stays usable. Thread-safe.</summary>
public sealed class GraphBuilder
{
    private readonly Dictionary<Key, Node> _table = new();
    private readonly List<Node> _inputs = new();
    private readonly Dictionary<string, Node> _inputsByName = new();
    private readonly Lock _lock = new();

    private readonly Dictionary<Node, SourcePosition> _positions = new(ReferenceEqualityComparer.Instance);

    /// <summary>Where a node comes from in the program text, when the graph was parsed from the expression language: the
    /// position and function name of the call (or operator) that built it. A node the simplifier built in place of
    /// another has the position of the expression it replaced. Null for nodes built in C#.</summary>
    public SourcePosition? PositionOf(Node node)
    {
        lock (_lock) return _positions.Count == 0 ? null : _positions.GetValueOrDefault(node);
    }

    /// <summary>Gives <paramref name="position"/> to <paramref name="root"/> and to every node below it that has none yet
    /// (not descending into nodes that have one; inputs and constants below the root keep none, since they are shared).</summary>
    internal void MarkPosition(Node root, SourcePosition position)
    {
        lock (_lock)
        {
            if (!_positions.TryAdd(root, position)) return;
            var stack = new Stack<Node>(root.Inputs);
            while (stack.Count > 0)
            {
                var n = stack.Pop();
                if (n.Op is InputOp or ConstantOp || _positions.ContainsKey(n)) continue;
                _positions[n] = position;
                foreach (var i in n.Inputs) stack.Push(i);
            }
        }
    }

    /// <summary>Gives <paramref name="to"/> (of this builder) the position <paramref name="from"/> has in its own builder.</summary>
    internal void CopyPosition(Node to, Node from)
    {
        if (from.Builder.PositionOf(from) is { } p) lock (_lock) _positions.TryAdd(to, p);
    }

    /// <summary>A node built to replace <paramref name="original"/> (a rewrite, or a rebuild on new operands) takes its
    /// position, as do the new nodes below it.</summary>
    internal void InheritPosition(Node replacement, Node original)
    {
        SourcePosition? p;
        lock (_lock)
        {
            if (_positions.Count == 0 || !_positions.TryGetValue(original, out var found)) return;
            p = found;
        }
        MarkPosition(replacement, p);
    }

    /// <summary>Number of distinct nodes built so far.</summary>
    public int NodeCount { get { lock (_lock) return _table.Count; } }

    /// <summary>The element type of the first declared float input (f32 when there is none): the type a bare number
    /// literal takes in the expression language.</summary>
    public DType DefaultFloat { get; private set; } = DType.F32;

    /// <summary>The declared inputs, in declaration order.</summary>
    public IReadOnlyList<Node> Inputs { get { lock (_lock) return _inputs.ToArray(); } }

    /// <summary>Declares a named input. Declaring the same name again with the same type, shape and facts returns the same node.</summary>
    public Expr Input(string name, DType dtype, Shape shape, InputFacts? facts = null)
    {
        if (!IsIdentifier(name)) throw new AutodiffException($"input: '{name}' is not a valid name");
        return Make(new InputOp(name, dtype, shape, facts ?? InputFacts.None)).Expr;
    }

    /// <summary>True if <paramref name="s"/> is a valid name in the expression language (a letter or '_', then letters, digits or '_'; not a reserved word).</summary>
    public static bool IsIdentifier(string s) =>
        s.Length > 0 && (char.IsAsciiLetter(s[0]) || s[0] == '_') && s.All(c => char.IsAsciiLetterOrDigit(c) || c == '_')
        && s is not ("inf" or "nan" or "true" or "false" or "input" or "output");

    /// <summary>Declares a named input.</summary>
    public Expr Input(string name, DType dtype, params int[] shape) => Input(name, dtype, new Shape(shape));

    /// <summary>Declares a named input with facts: <c>b.Input("x", DType.F64, InputFacts.Positive(), 2, 3)</c>.</summary>
    public Expr Input(string name, DType dtype, InputFacts facts, params int[] shape) => Input(name, dtype, new Shape(shape), facts);

    /// <summary>A scalar constant of <paramref name="dtype"/>; without one, of <see cref="DefaultFloat"/> (the type of the
    /// graph's first float input, as a number literal in the expression language).</summary>
    public Expr Constant(double value, DType? dtype = null)
    {
        var t = dtype ?? DefaultFloat;
        return Make(new ConstantOp(t == DType.F32 ? (float)value : value, t), []).Expr;
    }

    /// <summary>Wraps a result node into a <see cref="Graph"/> whose inputs are this builder's declared inputs. The output
    /// and every named node must come from this builder (a node of another builder is refused, naming both).</summary>
    public Graph Build(Expr output, IReadOnlyDictionary<Node, string>? names = null)
    {
        CheckOwn(output, "the output");
        if (names is not null)
            foreach (var (n, name) in names)
                if (n.Builder != this)
                    throw new AutodiffException($"Build: the node named '{name}' ({n}) was built by another GraphBuilder ({Describe(n.Builder)}) than this one ({Describe(this)}); build a graph and all its nodes with one builder");
        return new(this, Inputs, output.Node, names ?? new Dictionary<Node, string>());
    }

    /// <summary>Wraps several named results into one <see cref="Graph"/> (the first is <see cref="Graph.Output"/>, the one a
    /// <see cref="Tape"/> differentiates). Names must be valid identifiers and distinct; two names may denote the same node.</summary>
    public Graph Build(IReadOnlyList<(string Name, Expr Value)> outputs, IReadOnlyDictionary<Node, string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(outputs);
        if (outputs.Count == 0) throw new AutodiffException("Build: a graph needs at least one output");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, value) in outputs)
        {
            if (!IsIdentifier(name)) throw new AutodiffException($"Build: output name '{name}' is not a valid name");
            if (!seen.Add(name)) throw new AutodiffException($"Build: output name '{name}' is given twice");
            CheckOwn(value, $"the output '{name}'");
        }
        var g = Build(outputs[0].Value, names);
        return new Graph(this, g.Inputs, g.Output, g.Names, outputs.Select(o => (o.Name, o.Value.Node)).ToArray());
    }

    private void CheckOwn(Expr output, string what)
    {
        ArgumentNullException.ThrowIfNull(output.Node, nameof(output));
        if (output.Node.Builder != this)
            throw new AutodiffException($"Build: {what} ({output.Node}) was built by another GraphBuilder ({Describe(output.Node.Builder)}) than this one ({Describe(this)}); build a graph and all its nodes with one builder");
    }

    private static string Describe(GraphBuilder b)
    {
        var inputs = b.Inputs;
        return inputs.Count == 0 ? "no inputs" : "inputs " + string.Join(", ", inputs.Select(i => ((InputOp)i.Op).InputName));
    }

    /// <summary>Interns <paramref name="op"/> applied to <paramref name="inputs"/>; the shape rule runs first, so an
    /// invalid node is never created.</summary>
    public Node Make(Op op, params Node[] inputs)
    {
        foreach (var i in inputs)
            if (i.Builder != this) throw new AutodiffException($"{op.Name}: operand {i} belongs to another graph builder");
        var key = new Key(op, inputs);
        lock (_lock)
        {
            if (_table.TryGetValue(key, out var found)) return found;
            if (op is InputOp io && _inputsByName.TryGetValue(io.InputName, out var clash))
                throw new AutodiffException($"input: '{io.InputName}' is already declared as {clash.DType.Name()}{clash.Shape}");
            var (shape, dtype) = op.Infer(inputs);
            var node = new Node(this, op, (Node[])inputs.Clone(), shape, dtype, _table.Count);
            _table.Add(key, node);
            if (op is InputOp added)
            {
                if (dtype.IsFloat() && !_inputs.Any(i => i.DType.IsFloat())) DefaultFloat = dtype;
                _inputs.Add(node);
                _inputsByName.Add(added.InputName, node);
            }
            return node;
        }
    }

    private readonly struct Key(Op op, Node[] inputs) : IEquatable<Key>
    {
        private readonly int _hash = Hash(op, inputs);
        public Op Op { get; } = op;
        public Node[] Inputs { get; } = inputs;

        private static int Hash(Op op, Node[] inputs)
        {
            var h = new HashCode();
            h.Add(op);
            foreach (var i in inputs) h.Add(i.Id);
            return h.ToHashCode();
        }

        public bool Equals(Key other)
        {
            if (_hash != other._hash || Inputs.Length != other.Inputs.Length) return false;
            for (int i = 0; i < Inputs.Length; i++) if (!ReferenceEquals(Inputs[i], other.Inputs[i])) return false;
            return Op.Equals(other.Op);
        }

        public override bool Equals(object? obj) => obj is Key k && Equals(k);
        public override int GetHashCode() => _hash;
    }
}
