using System.Text;

namespace Autodiff.Text;

/// <summary>Prints graphs in the expression language (the inverse of <see cref="Parser.Parse(string)"/>):
/// <c>Parser.Parse(Printer.Print(g))</c> rebuilds the same ops, attributes, shapes, element types and names.
/// <para>A program lists the declared inputs, then one assignment per node that has a name, is used more than once
/// (auto-named <c>t1</c>, <c>t2</c>, ...), is a result, or would otherwise make an expression nest more than
/// <see cref="MaxInlineDepth"/> levels; everything else is written inline. <c>add sub mul div matmul pow</c> print as
/// <c>+ - * / @ ^</c> and <c>neg</c> as a prefix <c>-</c>, with the fewest parentheses that parse back to the same tree.
/// Constants print as number literals; where the parser's weak typing would give a literal another element type, as
/// <c>constant(v, dtype=f64)</c>. All walks are iterative, so very deep graphs print without overflowing the stack.</para></summary>
public static class Printer
{
    /// <summary>Deepest expression tree written inline on one line; deeper chains are cut by naming intermediates
    /// (keeps printed programs well within <see cref="Parser.MaxNesting"/>).</summary>
    public const int MaxInlineDepth = 100;

    /// <summary>Above this many nodes once fully expanded, <see cref="PrintExpression"/> names shared subexpressions.</summary>
    internal const long MaxExpandedNodes = 20_000;

    /// <summary>The program text of <paramref name="graph"/>: every declared input in order, the assignments in
    /// topological order, and <c>output NAME</c> (the output's name, or <c>out</c> when it has none), or
    /// <c>output a, b, ...</c> for a graph with several outputs. Lines are separated
    /// by <c>\n</c>, with no trailing newline.</summary>
    public static string Print(Graph graph)
    {
        ArgumentNullException.ThrowIfNull(graph);
        if (graph.ExplicitOutputs is { } outputs)
            return new ProgramWriter(graph.Inputs, outputs, graph.Names, outputLine: true).Write();
        if (!graph.Names.TryGetValue(graph.Output, out var name) || !Syntax.IsName(name))
        {
            var taken = new HashSet<string>(graph.Names.Values, StringComparer.Ordinal);
            foreach (var i in graph.Inputs) taken.Add(((InputOp)i.Op).InputName);
            name = "out";
            for (int k = 2; taken.Contains(name); k++) name = "out" + k;
        }
        return PrintAssignments(graph.Inputs, [(name, graph.Output)], graph.Names);
    }

    /// <summary>Like <see cref="Print"/> for several named results (e.g. a backward graph: <c>grad_z = ...</c>):
    /// input declarations (<paramref name="inputs"/>, then any other input the results use), one assignment per named,
    /// shared or result node, and an <c>output</c> line only when there is exactly one result. A result that is an
    /// input, or the same node as an earlier result, is written as an alias line (<c>grad_b = grad_a</c>) at the end.
    /// Result names win over <paramref name="names"/>; names that are not valid or clash are made unique.</summary>
    public static string PrintAssignments(IEnumerable<Node> inputs, IReadOnlyList<(string Name, Node Node)> results,
        IReadOnlyDictionary<Node, string>? names = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        ArgumentNullException.ThrowIfNull(results);
        return new ProgramWriter(inputs, results, names).Write();
    }

    /// <summary>One fully inlined expression (inputs by name), e.g. <c>-mean(sum(y * log(exp(z) / ...), axis=1))</c>,
    /// to show the before and after of a rewrite. If the fully expanded tree would exceed a size limit (heavily shared
    /// graphs grow exponentially), shared subexpressions are named instead, as <c>t1 = ...</c> lines before the
    /// expression.</summary>
    public static string PrintExpression(Node root)
    {
        ArgumentNullException.ThrowIfNull(root);
        return ProgramWriter.WriteExpression(root);
    }

    /// <summary>The expression of <paramref name="root"/> as <see cref="PrintExpression"/> writes it when its subgraph has at
    /// most <paramref name="maxNodes"/> nodes and it fits on one line of at most 200 characters; otherwise its op applied
    /// to an ellipsis, e.g. <c>log(…)</c>. Costs at most <paramref name="maxNodes"/> steps before printing, so a message
    /// about one node of a huge graph stays short and cheap.</summary>
    public static string Brief(Node root, int maxNodes = 64)
    {
        ArgumentNullException.ThrowIfNull(root);
        var seen = new HashSet<Node>(ReferenceEqualityComparer.Instance) { root };
        var stack = new Stack<Node>();
        stack.Push(root);
        while (stack.TryPop(out var n))
            foreach (var i in n.Inputs)
                if (seen.Add(i))
                {
                    if (seen.Count > maxNodes) return $"{root.Op.Name}(…)";
                    stack.Push(i);
                }
        var text = PrintExpression(root);
        return text.Length <= 200 && !text.Contains('\n') ? text : $"{root.Op.Name}(…)";
    }

    /// <summary>Writes one program or expression; see <see cref="Printer"/>.</summary>
    private sealed class ProgramWriter
    {
        private const int Add = 1, Mul = 2, Unary = 3, Pow = 4, Atom = 5;

        private readonly List<Node> _inputs = [];
        private readonly List<Node> _order;
        private readonly Dictionary<Node, string> _line = new(ReferenceEqualityComparer.Instance);
        private readonly HashSet<string> _used = new(Syntax.Reserved, StringComparer.Ordinal);
        private readonly HashSet<(Node Parent, int Slot)> _typed = [];
        private readonly List<(string Name, Node Node)> _aliases = [];
        private readonly List<string> _resultNames = [];
        private readonly DType _default;
        private readonly Node? _root;
        private readonly bool _outputLine;
        private int _auto;

        /// <summary>Program mode; with <paramref name="outputLine"/> an <c>output</c> line lists every result.</summary>
        public ProgramWriter(IEnumerable<Node> inputs, IReadOnlyList<(string Name, Node Node)> results, IReadOnlyDictionary<Node, string>? names,
            bool outputLine = false)
        {
            _outputLine = outputLine;
            _order = Graph.TopologicalOrder(results.Select(r => r.Node));
            AddInputs(inputs);
            foreach (var (name, node) in results)
            {
                var claimed = Claim(name);
                _resultNames.Add(claimed);
                if (node.Op is InputOp || _line.ContainsKey(node)) _aliases.Add((claimed, node));
                else _line[node] = claimed;
            }
            if (names is not null)
                foreach (var n in _order)
                    if (n.Op is not InputOp && !_line.ContainsKey(n) && names.TryGetValue(n, out var s)) _line[n] = Claim(s);
            NameSharedAndDeep(_order);
            _default = DefaultFloat(_inputs);
            ResolveConstantTypes();
        }

        /// <summary>Expression mode: nothing is named (unless the expansion is too large).</summary>
        private ProgramWriter(Node root)
        {
            _root = root;
            _order = Graph.TopologicalOrder([root]);
            AddInputs([]);
            if (ExpandedSize() > MaxExpandedNodes) NameSharedAndDeep(_order, depthLimit: false);
            _line.Remove(root);
            _default = root.Builder.DefaultFloat;
            ResolveConstantTypes();
        }

        public static string WriteExpression(Node root)
        {
            var w = new ProgramWriter(root);
            var sb = new StringBuilder();
            foreach (var n in w._order)
                if (w._line.TryGetValue(n, out var name)) sb.Append(name).Append(" = ").Append(w.Expand(n)).Append('\n');
            return sb.Append(w.Expand(root)).ToString();
        }

        public string Write()
        {
            var lines = new List<string>();
            foreach (var i in _inputs)
            {
                var op = (InputOp)i.Op;
                var facts = op.Facts.ToString();
                lines.Add($"input {op.InputName}: {op.Type.Name()}{op.Shape}{(facts.Length > 0 ? " " + facts : "")}");
            }
            foreach (var n in _order)
                if (_line.TryGetValue(n, out var name)) lines.Add($"{name} = {Expand(n)}");
            foreach (var (name, node) in _aliases) lines.Add($"{name} = {Ref(node)}");
            if (_resultNames.Count == 1 || _outputLine) lines.Add($"output {string.Join(", ", _resultNames)}");
            return string.Join("\n", lines);
        }

        private void AddInputs(IEnumerable<Node> declared)
        {
            var seen = new HashSet<Node>(ReferenceEqualityComparer.Instance);
            foreach (var i in declared.Concat(_order.Where(n => n.Op is InputOp)))
                if (i.Op is InputOp op && seen.Add(i))
                {
                    _inputs.Add(i);
                    _used.Add(op.InputName);
                }
        }

        private static DType DefaultFloat(IEnumerable<Node> inputs) =>
            inputs.Select(i => i.DType).Where(t => t.IsFloat()).DefaultIfEmpty(DType.F32).First();

        /// <summary>A usable, unused name close to <paramref name="wanted"/>, marked as used.</summary>
        private string Claim(string wanted)
        {
            var sb = new StringBuilder();
            foreach (var c in wanted ?? "") sb.Append(char.IsAsciiLetterOrDigit(c) || c == '_' ? c : '_');
            if (sb.Length == 0 || char.IsAsciiDigit(sb[0])) sb.Insert(0, '_');
            var name = sb.ToString();
            if (Syntax.Reserved.Contains(name)) name += "_";
            var unique = name;
            for (int k = 2; _used.Contains(unique); k++) unique = name + k;
            _used.Add(unique);
            return unique;
        }

        private string AutoName()
        {
            string name;
            do name = "t" + ++_auto; while (_used.Contains(name));
            _used.Add(name);
            return name;
        }

        /// <summary>Names every node used more than once and, with <paramref name="depthLimit"/>, every node whose inline
        /// expression would nest deeper than <see cref="MaxInlineDepth"/>.</summary>
        private void NameSharedAndDeep(List<Node> order, bool depthLimit = true)
        {
            var uses = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
            foreach (var n in order)
                foreach (var i in n.Inputs) uses[i] = uses.GetValueOrDefault(i) + 1;
            var depth = new Dictionary<Node, int>(ReferenceEqualityComparer.Instance);
            foreach (var n in order)
            {
                if (n.Op is InputOp or ConstantOp || _line.ContainsKey(n)) { depth[n] = 0; continue; }
                if (uses.GetValueOrDefault(n) >= 2) { _line[n] = AutoName(); depth[n] = 0; continue; }
                int d = 1;
                foreach (var i in n.Inputs) d = Math.Max(d, depth[i] + 1);
                if (depthLimit && d > MaxInlineDepth) { _line[n] = AutoName(); d = 0; }
                depth[n] = d;
            }
        }

        private long ExpandedSize()
        {
            var size = new Dictionary<Node, long>(ReferenceEqualityComparer.Instance);
            foreach (var n in _order)
            {
                long s = 1;
                foreach (var i in n.Inputs) s = Math.Min(s + size[i], long.MaxValue / 4);
                size[n] = s;
            }
            return size[_order[^1]];
        }

        private bool IsRef(Node n) => n.Op is InputOp || (_line.ContainsKey(n) && !ReferenceEquals(n, _root));

        private string Ref(Node n) => n.Op is InputOp op ? op.InputName : _line[n];

        // ---- weak typing of literals ----

        /// <summary>True if the constant operand <paramref name="slot"/> of <paramref name="parent"/> (slot -1: the constant
        /// <paramref name="parent"/> itself, as a line's whole expression) is written as <c>constant(v, dtype=...)</c>.</summary>
        private bool Typed(Node parent, int slot)
        {
            var c = slot < 0 ? parent : parent.Inputs[slot];
            return c.Op is ConstantOp { Type: DType.I64 } || _typed.Contains((parent, slot));
        }

        /// <summary>Decides which constant occurrences must be written as <c>constant(v, dtype=...)</c>: those where the
        /// parser's weak typing (a literal-only subexpression takes the type of the first non-literal float operand next to
        /// it, or the default float type) would give another element type. Repeats until stable, since writing a constant
        /// explicitly changes the contexts around it.</summary>
        private void ResolveConstantTypes()
        {
            while (true)
            {
                var weak = new Dictionary<Node, bool>(ReferenceEqualityComparer.Instance);
                bool WeakOperand(Node parent, int slot)
                {
                    var o = parent.Inputs[slot];
                    return o.Op is not InputOp && !IsRef(o) && (o.Op is ConstantOp ? !Typed(parent, slot) : weak[o]);
                }
                foreach (var n in _order)
                {
                    bool w = n.Op is not (InputOp or ConstantOp) && n.Inputs.Count > 0;
                    for (int i = 0; w && i < n.Inputs.Count; i++) w = WeakOperand(n, i);
                    weak[n] = n.Op is ConstantOp ? !Typed(n, -1) : w;
                }

                // The context type of each weak inline node (null: conflicting contexts, when a shared node is expanded twice).
                var context = new Dictionary<Node, DType?>(ReferenceEqualityComparer.Instance);
                bool changed = false;
                void Mismatch(Node parent, int slot)
                {
                    if (_typed.Add((parent, slot))) changed = true;
                }
                void Give(Node parent, int slot, DType? type)
                {
                    var o = parent.Inputs[slot];
                    if (o.Op is ConstantOp) { if (type != o.DType) Mismatch(parent, slot); }
                    else context[o] = context.TryGetValue(o, out var had) && had != type ? null : type;
                }

                for (int k = _order.Count - 1; k >= 0; k--)
                {
                    var n = _order[k];
                    if (n.Op is InputOp) continue;
                    DType? type = null;
                    bool has = false;
                    if (IsRef(n) || ReferenceEquals(n, _root))
                    {
                        if (weak[n]) { type = _default; has = true; }
                    }
                    else if (n.Op is ConstantOp) continue;   // inline constants are checked per occurrence, by their parent
                    else has = context.TryGetValue(n, out type);

                    if (n.Op is ConstantOp)
                    {
                        if (has && type != n.DType) Mismatch(n, -1);
                        continue;
                    }
                    if (weak[n])
                    {
                        for (int i = 0; i < n.Inputs.Count; i++) Give(n, i, has ? type : null);
                    }
                    else
                    {
                        DType around = _default;
                        for (int i = 0; i < n.Inputs.Count; i++)
                            if (!WeakOperand(n, i) && n.Inputs[i].DType.IsFloat()) { around = n.Inputs[i].DType; break; }
                        for (int i = 0; i < n.Inputs.Count; i++)
                            if (WeakOperand(n, i)) Give(n, i, around);
                    }
                }
                if (!changed) return;
            }
        }

        // ---- expressions ----

        private string Literal(Node parent, int slot)
        {
            var c = slot < 0 ? parent : parent.Inputs[slot];
            var op = (ConstantOp)c.Op;
            // The builder rounds f32 constants to float, so the shortest float text parses back to the same constant.
            var text = Tensor.FormatNumber(op.Value, op.Type);
            return Typed(parent, slot) ? $"constant({text}, dtype={op.Type.Name()})" : text;
        }

        private static (string Symbol, int Level)? Infix(Node n) => n.Inputs.Count != 2 ? null : n.Op switch
        {
            AddOp => (" + ", Add),
            SubOp => (" - ", Add),
            MulOp => (" * ", Mul),
            DivOp => (" / ", Mul),
            MatMulOp => (" @ ", Mul),
            PowOp => ("^", Pow),
            _ => null,
        };

        /// <summary>The precedence of operand <paramref name="slot"/> of <paramref name="parent"/> as written.</summary>
        private int Precedence(Node parent, int slot)
        {
            var n = parent.Inputs[slot];
            if (IsRef(n)) return Atom;
            if (n.Op is ConstantOp c) return !Typed(parent, slot) && !double.IsNaN(c.Value) && double.IsNegative(c.Value) ? Unary : Atom;
            if (n.Op is NegOp && n.Inputs.Count == 1) return Unary;
            return Infix(n)?.Level ?? Atom;
        }

        private bool IsBareLiteral(Node parent, int slot)
        {
            var n = parent.Inputs[slot];
            return n.Op is ConstantOp && !IsRef(n) && !Typed(parent, slot);
        }

        /// <summary>A piece of output: literal text, or node <c>Parent.Inputs[Slot]</c> (Slot -1: Parent itself, defined).</summary>
        private readonly record struct Item(string? Text, Node? Parent, int Slot, bool Parens);

        private static Item Text(string s) => new(s, null, 0, false);

        /// <summary>The definition of <paramref name="root"/> as one expression; operands that are inputs or have their
        /// own line are written by name. Uses an explicit stack.</summary>
        private string Expand(Node root)
        {
            var sb = new StringBuilder();
            var stack = new Stack<Item>();
            stack.Push(new Item(null, root, -1, false));
            while (stack.Count > 0)
            {
                var (text, parent, slot, parens) = stack.Pop();
                if (text is not null) { sb.Append(text); continue; }
                var n = slot < 0 ? parent! : parent!.Inputs[slot];
                if (n.Op is InputOp input) { sb.Append(input.InputName); continue; }
                if (slot >= 0 && IsRef(n)) { sb.Append(Ref(n)); continue; }
                if (parens) { sb.Append('('); stack.Push(Text(")")); }
                if (n.Op is ConstantOp) { sb.Append(Literal(parent!, slot)); continue; }
                var parts = Parts(n);
                for (int i = parts.Count - 1; i >= 0; i--) stack.Push(parts[i]);
            }
            return sb.ToString();
        }

        private List<Item> Parts(Node n)
        {
            if (n.Op is NegOp && n.Inputs.Count == 1)
            {
                // -(a + b), -(-x), -(1): parenthesize sums, products, prefix minus and bare literals (which would fold).
                return [Text("-"), new(null, n, 0, Precedence(n, 0) <= Unary || IsBareLiteral(n, 0))];
            }
            if (Infix(n) is var (symbol, level))
            {
                bool pa, pb;
                if (level == Pow)
                {
                    pa = Precedence(n, 0) < Atom;   // (-x)^2, (a^b)^c, (-1)^x
                    pb = Precedence(n, 1) < Unary;  // a^(b * c); a^-b and a^b^c need none
                }
                else
                {
                    pa = Precedence(n, 0) < level;   // (a + b) * c
                    pb = Precedence(n, 1) <= level;  // a - (b - c), a / (b * c)
                }
                return [new(null, n, 0, pa), Text(symbol), new(null, n, 1, pb)];
            }
            var items = new List<Item> { Text(n.Op.Name + "(") };
            bool comma = false;
            for (int i = 0; i < n.Inputs.Count; i++)
            {
                if (comma) items.Add(Text(", "));
                if (n.Op.OperandName(i) is { } operandName) items.Add(Text(operandName + "="));
                items.Add(new(null, n, i, false));
                comma = true;
            }
            foreach (var (name, value) in n.Op.Attributes(n))
            {
                items.Add(Text((comma ? ", " : "") + (name is null ? value : $"{name}={value}")));
                comma = true;
            }
            items.Add(Text(")"));
            return items;
        }
    }
}
