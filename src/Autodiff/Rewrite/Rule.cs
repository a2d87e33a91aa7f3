namespace Autodiff.Rewrite;

/// <summary>A rewrite rule as data: a name, the pattern it stands for (<c>lhs => rhs</c>, for the catalogue and traces),
/// the root op it is indexed by, a structural <see cref="Match"/>, a <see cref="Precondition"/> in code beside it, and a
/// <see cref="Build"/>er of the replacement.</summary>
/// <param name="Name">Stable name, used in traces and tests (e.g. <c>softmax-from-exp-sum-div</c>).</param>
/// <param name="Pattern">The rewrite in the expression language, e.g. <c>exp(x) / sum(exp(x), axis=a, keepdims=true) => softmax(x, axis=a)</c>.</param>
/// <param name="Root">The op type of the node the pattern is rooted at; rules are indexed by it.</param>
/// <param name="Match">Structural match: the bindings, or null when the pattern does not apply at all.</param>
/// <param name="Precondition">Null when the rule may fire; otherwise the reason it must not (reported as a near miss).</param>
/// <param name="Build">Builds the replacement, which must have the root's shape and element type.</param>
public sealed record Rule(
    string Name,
    string Pattern,
    Type Root,
    Func<Node, Match?> Match,
    Func<Match, string?> Precondition,
    Func<Match, Node> Build)
{
    /// <summary>A rule whose precondition always holds.</summary>
    public Rule(string name, string pattern, Type root, Func<Node, Match?> match, Func<Match, Node> build)
        : this(name, pattern, root, match, _ => null, build) { }

    /// <summary>The language name of the op the rule is rooted at (<c>log</c>, <c>add</c>, …) for a rule written as a
    /// pattern; the engine then indexes it by that name instead of by <see cref="Root"/>.</summary>
    public string? RootOp { get; init; }

    /// <summary>The pattern the rule was compiled from, or null for a rule matched by hand-written code.</summary>
    public PatternRule? Source { get; init; }

    /// <summary>True for a rule that fires even when an interior node has other consumers, under every
    /// <see cref="SharingPolicy"/> (its trace still notes the recompute). Only <c>one-minus-sigmoid</c>: see docs/rules.md.</summary>
    public bool FiresWhenShared { get; init; }

    /// <summary>True for a rule that removes a path to NaN or inf (an overflowing exp, a log of an underflowed value, a
    /// cancellation to 0 under a log or a division). Under the default <see cref="SharingPolicy.StabilityFirst"/> such a
    /// rule fires even when an interior node has other consumers, and its trace notes the recompute.</summary>
    public bool Stabilizes { get; init; }
}

/// <summary>The bindings of a structural match: named nodes, named integers (axes), and the interior nodes the rewrite
/// removes. When an interior node has a consumer outside the match, fusing would compute that node's work twice: the engine
/// then refuses to fire and reports a near miss (<see cref="SharingPolicy.Keep"/>), or fires and notes the recompute in the
/// trace (<see cref="SharingPolicy.Recompute"/>).</summary>
public sealed class Match
{
    private readonly Dictionary<string, Node> _nodes = new();
    private readonly Dictionary<string, int> _ints = new();
    private readonly Dictionary<string, (string? Text, Node Owner)> _attributes = new();
    private readonly List<Node> _interior = new();
    private readonly HashSet<Node> _matched = new(ReferenceEqualityComparer.Instance);

    /// <summary>Starts a match at <paramref name="root"/>.</summary>
    public Match(Node root)
    {
        Root = root;
        _matched.Add(root);
    }

    /// <summary>The node the pattern is rooted at.</summary>
    public Node Root { get; }

    /// <summary>A bound node.</summary>
    public Node this[string name] => _nodes[name];

    /// <summary>A bound integer (or an attribute bound by a pattern, read as an integer).</summary>
    public int Int(string name) => _ints.TryGetValue(name, out int v) ? v : int.Parse(_attributes[name].Text!, System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>True if <paramref name="name"/> is a bound node.</summary>
    public bool HasNode(string name) => _nodes.ContainsKey(name);

    /// <summary>An attribute bound by a pattern, as the printer writes it (null where the matched op leaves it out, as
    /// a reduction over all axes leaves out <c>axis</c>).</summary>
    public string? Attribute(string name) => _attributes[name].Text;

    /// <summary>True if <paramref name="name"/> is a bound attribute.</summary>
    public bool HasAttribute(string name) => _attributes.ContainsKey(name);

    /// <summary>The matched node whose attribute <paramref name="name"/> was bound.</summary>
    public Node AttributeOwner(string name) => _attributes[name].Owner;

    /// <summary>Binds an attribute (as printed text) read from <paramref name="owner"/>.</summary>
    public Match BindAttribute(string name, string? text, Node owner)
    {
        _attributes[name] = (text, owner);
        return this;
    }

    /// <summary>Binds a node.</summary>
    public Match Bind(string name, Node node)
    {
        _nodes[name] = node;
        return this;
    }

    /// <summary>Binds an integer.</summary>
    public Match Bind(string name, int value)
    {
        _ints[name] = value;
        return this;
    }

    /// <summary>Marks nodes as part of the matched subgraph that the replacement removes.</summary>
    public Match Interior(params Node[] nodes)
    {
        foreach (var n in nodes)
            if (_matched.Add(n)) _interior.Add(n);
        return this;
    }

    /// <summary>The removed intermediates.</summary>
    public IReadOnlyList<Node> InteriorNodes => _interior;

    /// <summary>The root and the interior nodes.</summary>
    public IReadOnlySet<Node> Matched => _matched;
}

/// <summary>A named group of rules run together to a fixed point, as one phase of simplification.</summary>
/// <param name="Name">The phase name (canonicalize, stabilize, fuse).</param>
/// <param name="Rules">The rules, tried in order at each node.</param>
public sealed record RuleSet(string Name, IReadOnlyList<Rule> Rules)
{
    /// <summary>Reads a rules file: one <c>rule NAME: LHS => RHS [if PREDICATE(args) [and …]]</c> a line, <c># comments</c>
    /// and blank lines ignored (see docs/rules.md, "Your own rules"). Each rule is checked for soundness as it is loaded
    /// (<see cref="RuleSoundness"/>). Errors are <see cref="RuleException"/>s located as <c>file:line:column</c>
    /// (<paramref name="file"/> defaults to <c>rules</c>).</summary>
    /// <param name="text">The rules.</param>
    /// <param name="file">The name used in messages.</param>
    /// <param name="checkSoundness">False to skip the soundness check (for rules already checked).</param>
    public static RuleSet Parse(string text, string file = "rules", bool checkSoundness = true) => RuleFile.Parse(text, file, checkSoundness);
}
