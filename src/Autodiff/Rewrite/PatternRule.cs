using Autodiff.Text;

namespace Autodiff.Rewrite;

/// <summary>What a pattern rule does about the sharing policy (<see cref="SharingPolicy"/>).</summary>
public enum RuleSharing
{
    /// <summary>Every matched node below the root (constants aside) is interior: when one has a consumer outside the
    /// match, the policy decides (the default, and the only choice for users' rules).</summary>
    Guard,
    /// <summary>The rule removes no work (a layout or sign change, an inverse pair), so it fires whatever the sharing and
    /// marks nothing.</summary>
    Free,
    /// <summary>Interior nodes are marked, so the trace notes a recompute, but the rule fires under both policies
    /// (<see cref="Rule.FiresWhenShared"/>).</summary>
    FireAndNote,
}

/// <summary>A rewrite rule written in the expression language: <c>LHS => RHS [if PREDICATE(args) and …]</c>. The left side
/// is matched by one generic matcher (node variables, attribute variables, repeated variables as the same node, the
/// commutative operands of <c>+ * maximum minimum logaddexp</c> in either order); the predicates (<see cref="Predicates"/>)
/// are checked in order; the right side is built from the bindings with the language's own function table, and the rule
/// fires only if it has the root's shape and element type.</summary>
public sealed class PatternRule
{
    internal PatternRule(string name, string text, Pat lhs, Pat rhs, Condition[] conditions, string[] nodeVars, string[] attrVars,
        RuleSharing sharing = RuleSharing.Guard, bool ordered = false)
    {
        Sharing = sharing;
        Ordered = ordered;
        Name = name;
        Text = text;
        Lhs = (CallPat)lhs;
        Rhs = rhs;
        Conditions = conditions;
        NodeVars = nodeVars;
        AttrVars = attrVars;
        Kept = KeptSubpatterns(Lhs, rhs);
    }

    /// <summary>The rule's name, as traces and near misses show it.</summary>
    public string Name { get; }

    /// <summary>The rule as written, <c>LHS => RHS [if …]</c>: what the engine runs.</summary>
    public string Text { get; }

    /// <summary>The language name of the op at the root of the left side (the rule is indexed by it).</summary>
    public string RootOp => Lhs.Spec.Name;

    /// <summary>True to match commutative operands only in the order written (the built-in canonical rules that keep
    /// the program's operand order write both orders as separate rules).</summary>
    public bool Ordered { get; }

    /// <summary>How the rule treats the sharing policy.</summary>
    public RuleSharing Sharing { get; }

    internal CallPat Lhs { get; }
    internal Pat Rhs { get; }
    internal Condition[] Conditions { get; }
    internal string[] NodeVars { get; }
    internal string[] AttrVars { get; }

    /// <summary>The calls of the left side (below the root) that the right side rebuilds unchanged, with everything
    /// below them: hash-consing makes them the same nodes again, so the rewrite does not remove them and they are not
    /// interior (<c>log(softmax(x, axis=a) / b) => log(softmax(x, axis=a)) - log(b)</c> keeps the softmax).</summary>
    private HashSet<CallPat> Kept { get; }

    private static HashSet<CallPat> KeptSubpatterns(CallPat lhs, Pat rhs)
    {
        var built = new HashSet<string>(StringComparer.Ordinal);
        Collect(rhs);
        var kept = new HashSet<CallPat>(ReferenceEqualityComparer.Instance);
        foreach (var a in lhs.Args) if (a is Pat p) Visit(p, false);
        return kept;

        void Collect(Pat p)
        {
            if (p is not CallPat c) return;
            built.Add(Key(c));
            foreach (var a in c.Args) if (a is Pat q) Collect(q);
        }

        void Visit(Pat p, bool inside)
        {
            if (p is not CallPat c) return;
            inside |= built.Contains(Key(c));
            if (inside) kept.Add(c);
            foreach (var a in c.Args) if (a is Pat q) Visit(q, inside);
        }
    }

    /// <summary>A pattern's structure as text: equal keys build equal nodes from the same bindings.</summary>
    private static string Key(Pat p) => p switch
    {
        VarPat v => v.Name,
        ConstPat c => Patterns.Text(c.Value),
        CallPat c => c.Spec.Name + "(" + string.Join(",", c.Args.Select(a => a switch
        {
            Pat q => Key(q),
            AttrVar v => "@" + v.Name,
            AttrLit l => "=" + l.Text,
            _ => "_",
        })) + ")",
        _ => "?",
    };

    /// <summary>Reads <c>LHS => RHS [if …]</c> (a <see cref="ParseException"/> locates a mistake within
    /// <paramref name="text"/>, line 1). The rule is not checked for soundness (see <see cref="RuleSoundness"/>).</summary>
    public static PatternRule Parse(string name, string text, RuleSharing sharing = RuleSharing.Guard, bool ordered = false) =>
        RuleFile.ParseBody(name, text, sharing, ordered);

    /// <summary>The rule as the engine runs it.</summary>
    public Rule ToRule() => new(Name, Text, typeof(Op), TryMatch, Check, Build)
    {
        RootOp = RootOp,
        Source = this,
        FiresWhenShared = Sharing == RuleSharing.FireAndNote,
    };

    // ---------------------------------------------------------------- matching

    private sealed class State(PatternRule rule, Node root)
    {
        public readonly Node?[] Nodes = new Node?[rule.NodeVars.Length];
        public readonly (bool Bound, string? Text, Node? Owner)[] Attrs = new (bool, string?, Node?)[rule.AttrVars.Length];
        public readonly List<(bool Attr, int Slot)> Trail = [];
        public readonly List<Node> Interior = [];
        public readonly Node Root = root;

        public void Undo(int trail, int interior)
        {
            for (int i = Trail.Count - 1; i >= trail; i--)
            {
                var (attr, slot) = Trail[i];
                if (attr) Attrs[slot] = default;
                else Nodes[slot] = null;
            }
            Trail.RemoveRange(trail, Trail.Count - trail);
            Interior.RemoveRange(interior, Interior.Count - interior);
        }
    }

    /// <summary>The bindings of the left side at <paramref name="root"/> for which the silent predicates (structural, or
    /// written after <c>when</c>) hold, or null.</summary>
    internal Match? TryMatch(Node root) => TryMatch(root, facts: true);

    /// <summary>As <see cref="TryMatch(Node)"/>; <paramref name="facts"/> false leaves out the silent predicates about
    /// values (<c>when nonneg(x)</c>): the soundness check draws values that satisfy them instead of proving them.</summary>
    internal Match? TryMatch(Node root, bool facts)
    {
        if (!Plausible(Lhs, root, 0)) return null;
        var s = new State(this, root);
        Match? result = null;
        Match(Lhs, root, s, () =>
        {
            var m = new Match(root);
            for (int i = 0; i < NodeVars.Length; i++) m.Bind(NodeVars[i], s.Nodes[i]!);
            for (int i = 0; i < AttrVars.Length; i++) m.BindAttribute(AttrVars[i], s.Attrs[i].Text, s.Attrs[i].Owner!);
            foreach (var c in Conditions)
                if (!c.Reports && (facts || c.Predicate.Domain == ValueDomain.Any) && c.Evaluate(m, this) is not null) return false;
            if (Sharing != RuleSharing.Free) m.Interior([.. s.Interior]);
            result = m;
            return true;
        });
        return result;
    }

    /// <summary>Matches <paramref name="p"/> at <paramref name="n"/>, then runs the continuation <paramref name="k"/> (the
    /// rest of the pattern); on failure every binding made here is undone, so a commutative op can try the other order.</summary>
    private bool Match(Pat p, Node n, State s, Func<bool> k)
    {
        switch (p)
        {
            case VarPat v:
                if (s.Nodes[v.Slot] is { } bound) return ReferenceEquals(bound, n) && k();
                s.Nodes[v.Slot] = n;
                s.Trail.Add((false, v.Slot));
                if (k()) return true;
                s.Undo(s.Trail.Count - 1, s.Interior.Count);
                return false;
            case ConstPat c:
                return n.Op is ConstantOp op && (op.Value == c.Value || double.IsNaN(op.Value) && double.IsNaN(c.Value)) && k();
            case CallPat c:
                return MatchCall(c, n, s, k);
            default:
                return false;
        }
    }

    private bool MatchCall(CallPat c, Node n, State s, Func<bool> k)
    {
        if (n.Op.Name != c.Spec.Name) return false;
        var ps = c.Spec.Parameters;
        string?[]? attrs = n.Op is ConstantOp co ? [Patterns.Text(co.Value), null]
            : c.TensorParams.Length == ps.Count ? NoAttributes(ps.Count) : Patterns.Attributes(n, c.Spec);
        if (attrs is null) return false;
        // The operands, by parameter (an operand the op names is placed by its name, the others in order).
        var operands = new Node?[ps.Count];
        for (int j = 0; j < n.Inputs.Count; j++)
        {
            int i = n.Op.OperandName(j) is string name ? c.Spec.IndexOf(name) : j < c.TensorParams.Length ? c.TensorParams[j] : -1;
            if (i < 0) return false;
            operands[i] = n.Inputs[j];
        }
        int trail = s.Trail.Count, interior = s.Interior.Count;
        var pairs = new List<(Pat, Node)>(2);
        for (int i = 0; i < ps.Count; i++)
        {
            switch (c.Args[i])
            {
                case Pat q when operands[i] is { } o: pairs.Add((q, o)); break;
                case Pat: return Fail();
                case AttrLit lit when !Patterns.Same(lit, attrs[i], ps[i], n): return Fail();
                case AttrVar v:
                    ref var slot = ref s.Attrs[v.Slot];
                    if (slot.Bound)
                    {
                        if (slot.Text != attrs[i]) return Fail();
                    }
                    else
                    {
                        slot = (true, attrs[i], n);
                        s.Trail.Add((true, v.Slot));
                    }
                    break;
                case null when ps[i].Kind == ArgKind.Tensor ? operands[i] is not null : attrs[i] is not (null or "false") && c.Spec.Name != "constant":
                    return Fail();
            }
        }
        if (!ReferenceEquals(n, s.Root) && n.Op is not ConstantOp && !Kept.Contains(c)) s.Interior.Add(n);
        if (Pairs(pairs, 0, s, k)) return true;
        if (c.Commutative && !Ordered && pairs.Count == 2)
        {
            (pairs[0], pairs[1]) = ((pairs[0].Item1, pairs[1].Item2), (pairs[1].Item1, pairs[0].Item2));
            if (Pairs(pairs, 0, s, k)) return true;
        }
        return Fail();

        bool Fail()
        {
            s.Undo(trail, interior);
            return false;
        }
    }

    /// <summary>A quick test on op names and constants alone, without allocating: false only if the pattern cannot match
    /// (most attempts end here, which keeps a pass over a large graph cheap).</summary>
    private bool Plausible(Pat p, Node n, int depth)
    {
        if (p is ConstPat) return n.Op is ConstantOp;
        if (p is not CallPat c) return true;
        if (n.Op.Name != c.Spec.Name) return false;
        if (depth > 8 || c.TensorParams.Length != n.Inputs.Count) return true;
        int given = 0;
        foreach (var i in c.TensorParams) if (c.Args[i] is not null) given++;
        if (given != n.Inputs.Count) return true;   // optional operands: the full match places them by name
        if (c.Commutative && !Ordered && given == 2)
        {
            Pat a = (Pat)c.Args[c.TensorParams[0]]!, b = (Pat)c.Args[c.TensorParams[1]]!;
            return Plausible(a, n.Inputs[0], depth + 1) && Plausible(b, n.Inputs[1], depth + 1)
                || Plausible(a, n.Inputs[1], depth + 1) && Plausible(b, n.Inputs[0], depth + 1);
        }
        for (int j = 0; j < c.TensorParams.Length; j++)
            if (!Plausible((Pat)c.Args[c.TensorParams[j]]!, n.Inputs[j], depth + 1)) return false;
        return true;
    }

    private static readonly string?[][] Empty = [.. Enumerable.Range(0, 9).Select(k => new string?[k])];

    private static string?[] NoAttributes(int count) => count < Empty.Length ? Empty[count] : new string?[count];

    private bool Pairs(List<(Pat P, Node N)> pairs, int i, State s, Func<bool> k) =>
        i == pairs.Count ? k() : Match(pairs[i].P, pairs[i].N, s, () => Pairs(pairs, i + 1, s, k));

    // ---------------------------------------------------------------- preconditions and the right side

    /// <summary>Null if every reporting predicate holds, else the first failure's reason (the silent ones were checked
    /// with the structure).</summary>
    private string? Check(Match m)
    {
        foreach (var c in Conditions)
            if (c.Reports && c.Evaluate(m, this) is string reason) return reason;
        return null;
    }

    /// <summary>The replacement, or the root itself (no rewrite) when the right side cannot be built with the root's shape
    /// and element type.</summary>
    private Node Build(Match m)
    {
        var rep = Instantiate(Rhs, m, m.Root.Builder, m.Root.DType, rightSide: true);
        return rep is not null && rep.Shape == m.Root.Shape && rep.DType == m.Root.DType ? rep : m.Root;
    }

    /// <summary>Builds <paramref name="p"/> from the bindings; null if an op refuses the operands (a shape or type error).
    /// Number literals become constants of <paramref name="literalType"/> (the root's). A reshape or broadcast that
    /// would not change its operand's shape is left out, as <see cref="Expr.Reshape"/> leaves it out; on a right side
    /// (<paramref name="rightSide"/>), so is a negation of a negation (<c>a * exp(-b)</c> with b = −u builds exp(u)).</summary>
    /// <remarks><paramref name="draw"/>, if given, picks a value (printed text) for an attribute variable the match has not bound
    /// yet, from the parameter and the operands built so far (the soundness check builds left sides this way).</remarks>
    internal static Node? Instantiate(Pat p, Match m, GraphBuilder builder, DType literalType,
        Func<FunctionParam, IReadOnlyList<Node>, string?>? draw = null, bool rightSide = false)
    {
        try
        {
            return Build(p);
        }
        catch (Exception e) when (e is AutodiffException or ArgumentException or FormatException or InvalidOperationException)
        {
            return null;
        }

        Node Build(Pat q)
        {
            switch (q)
            {
                case VarPat v: return m[v.Name];
                case ConstPat c: return builder.Constant(c.Value, literalType).Node;
                case CallPat c:
                {
                    var ps = c.Spec.Parameters;
                    var values = new object?[ps.Count];
                    var operands = new List<Node>();
                    for (int i = 0; i < ps.Count; i++)
                        if (c.Args[i] is Pat operand)
                        {
                            var o = Build(operand);
                            operands.Add(o);
                            values[i] = o.Expr;
                        }
                    for (int i = 0; i < ps.Count; i++)
                    {
                        if (c.Args[i] is AttrVar a && draw is not null && !m.HasAttribute(a.Name)) m.BindAttribute(a.Name, draw(ps[i], operands), m.Root);
                        values[i] = c.Args[i] switch
                        {
                            Pat => values[i],
                            AttrLit lit => lit.Value,
                            AttrVar v => m.Attribute(v.Name) is string text ? Patterns.Value(text, ps[i].Kind) : null,
                            _ => null,
                        };
                    }
                    if (rightSide && c.Spec.Name == "neg" && operands is [{ Op: NegOp } inner]) return inner.Inputs[0];
                    var node = c.Spec.Build(new CallArgs(c.Spec, values, builder, literalType)).Node;
                    return node.Op is ReshapeOp or BroadcastToOp && node.Shape == node.Inputs[0].Shape ? node.Inputs[0] : node;
                }
                default: throw new InvalidOperationException("unknown pattern");
            }
        }
    }
}
