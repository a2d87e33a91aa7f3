using System.Diagnostics;

namespace Autodiff.Rewrite;

/// <summary>Limits and phases of a simplification run.</summary>
/// <param name="MaxIterations">Most passes over the graph per phase.</param>
/// <param name="MaxNodes">Stop when the graph grows past this many nodes.</param>
/// <param name="Phases">The rule sets, run in order, each to a fixed point (default: <see cref="Rules.Phases"/>).</param>
/// <param name="Sharing">What a fusion does when an interior node it would remove has another consumer (default:
/// <see cref="SharingPolicy.StabilityFirst"/>).</param>
/// <param name="UserRules">Users' own rules (<see cref="RuleSet.Parse"/>), tried in every phase after the built-in ones.</param>
public sealed record SimplifyOptions(int MaxIterations = 100, int MaxNodes = 10_000_000, IReadOnlyList<RuleSet>? Phases = null,
    SharingPolicy Sharing = SharingPolicy.StabilityFirst, RuleSet? UserRules = null);

/// <summary>What a rule does when an interior node of its match (the <c>exp</c> under a softmax, the softmax under a
/// <c>log</c>, …) is also used outside the matched subgraph.</summary>
public enum SharingPolicy
{
    /// <summary>Speed first: do not fire; report a near miss. Fusing would compute the shared node's work twice.</summary>
    Keep,
    /// <summary>Fire anyway: the shared node stays for its other consumers and the fused node recomputes what it needs.
    /// The rewrite's <see cref="RewriteStep.Note"/> says what was recomputed. Choose it for stability over speed.</summary>
    Recompute,
    /// <summary>The default: fire when the rule removes a path to NaN or inf (<see cref="Rule.Stabilizes"/>: the entropy
    /// <c>p * log(p)</c> with p a softmax, KL, binary cross-entropy with a shared sigmoid), recomputing the shared work and
    /// noting it in the trace; otherwise (a fusion that only saves work, such as the cross-entropy ops) behave as
    /// <see cref="Keep"/>.</summary>
    StabilityFirst,
}

/// <summary>Why simplification stopped.</summary>
public enum StopReason
{
    /// <summary>Every phase reached a fixed point: no rule applies anywhere.</summary>
    Saturated,
    /// <summary>A phase used up <see cref="SimplifyOptions.MaxIterations"/> passes while rules still fired.</summary>
    IterationLimit,
    /// <summary>The graph grew past <see cref="SimplifyOptions.MaxNodes"/>.</summary>
    NodeLimit,
}

/// <summary>One rewrite: the rule, its phase, and the subgraph before and after (as nodes, and printed in the expression
/// language on first use, so simplifying a large graph does not pay for printing its trace).</summary>
/// <param name="Rule">The rule's name.</param>
/// <param name="Phase">The phase it fired in.</param>
/// <param name="BeforeNode">The node the pattern matched at.</param>
/// <param name="AfterNode">Its replacement.</param>
/// <param name="Note">Null, or the work the rewrite duplicated: <c>recomputes E, shared with N other consumer(s)</c> for each
/// interior node E that stays in the graph for its other consumers.</param>
public sealed record RewriteStep(string Rule, string Phase, Node BeforeNode, Node AfterNode, string? Note = null)
{
    private string? _before, _after;

    /// <summary>The replaced subgraph as one expression.</summary>
    public string Before => _before ??= Text.Printer.PrintExpression(BeforeNode);

    /// <summary>The replacement as one expression.</summary>
    public string After => _after ??= Text.Printer.PrintExpression(AfterNode);
}

/// <summary>A rule whose pattern matched structurally but whose precondition failed, with the reason.</summary>
public sealed record NearMiss(string Rule, Node AtNode, string Reason)
{
    private string? _at;

    /// <summary>The node where the pattern matched, as one expression.</summary>
    public string At => _at ??= Text.Printer.PrintExpression(AtNode);

    /// <summary>Equality by rule, node and reason (the printed form is derived).</summary>
    public bool Equals(NearMiss? other) => other is not null && Rule == other.Rule && ReferenceEquals(AtNode, other.AtNode) && Reason == other.Reason;

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Rule, AtNode.Id, Reason);
}

/// <summary>The outcome of <see cref="Simplifier.Simplify"/>: the new graph (the input graph is unchanged and still usable),
/// the trace of rewrites, the near misses, and why it stopped.</summary>
public sealed record SimplifyResult(
    Graph Before,
    Graph After,
    IReadOnlyList<RewriteStep> Rewrites,
    IReadOnlyList<NearMiss> NearMisses,
    StopReason StopReason,
    int Iterations)
{
    /// <summary>The stop reason as text: <c>saturated</c>, <c>iteration limit</c> or <c>node limit</c>.</summary>
    public string StopReasonText => StopReason switch
    {
        StopReason.Saturated => "saturated",
        StopReason.IterationLimit => "iteration limit",
        _ => "node limit",
    };

    /// <summary>Names of the fused ops present in the simplified graph, sorted and distinct.</summary>
    public IReadOnlyList<string> Fused => After.Nodes().Where(n => n.Op.IsFused).Select(n => n.Op.Name).Distinct().Order(StringComparer.Ordinal).ToArray();

    /// <summary>A summary: the rewrites by rule (with counts), the fused ops, why and when it stopped, then the simplified
    /// program, e.g. <c>3 rewrites (softmax-ce ×1, ...); fused: softmax_cross_entropy; stopped: saturated after 2
    /// iterations</c> and the program on the lines below.</summary>
    public override string ToString()
    {
        var rules = Rewrites.GroupBy(r => r.Rule).Select(g => $"{g.Key} ×{g.Count()}");
        string fused = Fused.Count == 0 ? "none" : string.Join(", ", Fused);
        return $"{Rewrites.Count} rewrite{(Rewrites.Count == 1 ? "" : "s")}{(Rewrites.Count > 0 ? $" ({string.Join(", ", rules)})" : "")}; fused: {fused}; "
            + $"stopped: {StopReasonText} after {Iterations} iteration{(Iterations == 1 ? "" : "s")}\n{After}";
    }
}

/// <summary>The rewrite engine. It runs on the forward graph before any tape records anything, so fused nodes
/// backpropagate through their closed forms. Each phase makes bottom-up passes over the graph, trying the rules indexed by
/// each node's op type, until a pass changes nothing (a fixed point) or a limit is reached.</summary>
public static class Simplifier
{
    /// <summary>Simplifies <paramref name="graph"/> with the default phases (canonicalize → stabilize → fuse) or those in <paramref name="options"/>.</summary>
    public static SimplifyResult Simplify(Graph graph, SimplifyOptions? options = null)
    {
        var o = options ?? new SimplifyOptions();
        var phases = o.Phases ?? Rules.Phases;
        if (o.UserRules is { } user) phases = [.. phases.Select(p => p with { Rules = [.. p.Rules, .. user.Rules] })];
        var steps = new List<RewriteStep>();
        var misses = new List<(Node At, NearMiss Miss)>();
        var names = new Dictionary<Node, string>(graph.Names, ReferenceEqualityComparer.Instance);
        var outputs = graph.Outputs.Select(o => o.Node).ToArray();
        int iterations = 0;
        var stop = StopReason.Saturated;
        foreach (var phase in phases)
        {
            var index = Index(phase);
            for (int pass = 0; ; pass++)
            {
                if (pass == o.MaxIterations) { stop = StopReason.IterationLimit; break; }
                iterations++;
                var lastMisses = new List<(Node, NearMiss)>();
                outputs = Pass(outputs, phase, index, steps, lastMisses, names, o, out bool changed, out bool tooBig);
                if (tooBig) { stop = StopReason.NodeLimit; break; }
                if (!changed) { misses.AddRange(lastMisses); break; }
            }
            if (stop != StopReason.Saturated) break;
        }
        var reachable = new HashSet<Node>(Graph.TopologicalOrder(outputs), ReferenceEqualityComparer.Instance);
        var kept = misses.Where(m => reachable.Contains(m.At)).Select(m => m.Miss).Distinct().ToArray();
        var after = graph.HasSeveralOutputs
            ? graph.WithOutputs([.. graph.Outputs.Select((x, k) => (x.Name, outputs[k]))], names)
            : graph.WithOutput(outputs[0], names);
        return new SimplifyResult(graph, after, steps, kept, stop, iterations);
    }

    /// <summary>Rules by the op they are rooted at: a pattern rule by the op's language name (<see cref="Rule.RootOp"/>),
    /// a hand-written one by type (rooted at <see cref="Op"/> itself, it applies to every op).</summary>
    private sealed class RuleIndex(RuleSet set)
    {
        private readonly Dictionary<Type, Rule[]> _byType = new();

        public Rule[] For(Op op)
        {
            var t = op.GetType();
            if (!_byType.TryGetValue(t, out var rules))
                _byType[t] = rules = set.Rules.Where(r => r.RootOp is string name ? name == op.Name : r.Root == t || r.Root == typeof(Op)).ToArray();
            return rules;
        }
    }

    private static RuleIndex Index(RuleSet set) => new(set);

    private static Node[] Pass(Node[] outputs, RuleSet phase, RuleIndex index, List<RewriteStep> steps,
        List<(Node, NearMiss)> misses, Dictionary<Node, string> names, SimplifyOptions options, out bool changed, out bool tooBig)
    {
        changed = false;
        var order = Graph.TopologicalOrder(outputs);
        tooBig = order.Count > options.MaxNodes;
        if (tooBig) return outputs;
        var builder = outputs[0].Builder;
        var uses = new UseCounts(order, outputs);
        var map = new NodeTable<Node?>(builder.NodeCount);
        var inputs = new List<Node>();
        foreach (var n in order)
        {
            inputs.Clear();
            bool same = true;
            foreach (var i in n.Inputs)
            {
                var m = map[i]!;
                same &= ReferenceEquals(m, i);
                inputs.Add(m);
            }
            var cur = same ? n : builder.Make(n.Op, inputs.ToArray());
            if (!same)
            {
                uses.Rebuilt(n, cur);
                builder.InheritPosition(cur, n);
            }
            for (int attempt = 0; attempt < 16; attempt++)
            {
                Node? replacement = null;
                HashSet<string>? decided = null;   // the variants of a rule share its name: the first that matches decides
                foreach (var rule in index.For(cur.Op))
                {
                    if (decided is not null && decided.Contains(rule.Name)) continue;
                    var match = rule.Match(cur);
                    if (match is null) continue;
                    var shared = Shared(match, uses);
                    var reason = rule.Precondition(match);
                    if (reason is null && shared is not null && !rule.FiresWhenShared
                        && (options.Sharing == SharingPolicy.Keep || options.Sharing == SharingPolicy.StabilityFirst && !rule.Stabilizes))
                        reason = $"{Text.Printer.Brief(shared[0].Node)} is also used outside the pattern; fusing would compute it twice";
                    if (reason is not null)
                    {
                        misses.Add((cur, new NearMiss(rule.Name, cur, reason)));
                        (decided ??= new(StringComparer.Ordinal)).Add(rule.Name);
                        continue;
                    }
                    var rep = rule.Build(match);
                    if (ReferenceEquals(rep, cur)) continue;
                    if (rep.Shape != cur.Shape || rep.DType != cur.DType)
                        throw new UnreachableException($"rule {rule.Name} replaced {cur} by {rep}: a rewrite must keep shape and element type");
                    var note = shared is null ? null
                        : string.Join("; ", shared.Select(x => $"recomputes {Text.Printer.Brief(x.Node)}, shared with {x.Others} other consumer{(x.Others == 1 ? "" : "s")}"));
                    steps.Add(new RewriteStep(rule.Name, phase.Name, cur, rep, note));
                    uses.Replace(cur, rep);
                    builder.InheritPosition(rep, cur);
                    replacement = rep;
                    break;
                }
                if (replacement is null) break;
                changed = true;
                if (names.TryGetValue(cur, out var name) && !names.ContainsKey(replacement))
                    names[replacement] = name;
                cur = replacement;
            }
            if (!ReferenceEquals(cur, n) && names.TryGetValue(n, out var oldName) && !names.ContainsKey(cur))
                names[cur] = oldName;
            map[n] = cur;
        }
        return [.. outputs.Select(x => map[x]!)];
    }

    /// <summary>The interior nodes with consumers outside the matched subgraph, each with the number of those uses.</summary>
    private static List<(Node Node, int Others)>? Shared(Match m, UseCounts uses)
    {
        List<(Node, int)>? shared = null;
        foreach (var inner in m.InteriorNodes)
        {
            int inside = 0;
            foreach (var k in m.Matched)
                foreach (var i in k.Inputs)
                    if (ReferenceEquals(i, inner)) inside++;
            if (uses[inner] > inside) (shared ??= []).Add((inner, uses[inner] - inside));
        }
        return shared;
    }
}

/// <summary>How many operand slots of the graph a pass is building read each node, kept exact while the pass rewrites, so
/// the sharing check and its notes see the consumers a node has at that moment. A node's own operand reads are counted
/// while it is live: every node of the pass's input graph at the start; a rebuilt node takes over the reads of the node it
/// rebuilds; a replacement is acquired (its new subnodes counted) and the replaced node released (its subnodes that lose
/// their last consumer released in turn).</summary>
internal sealed class UseCounts
{
    private readonly NodeTable<int> _count;
    private readonly NodeTable<bool> _live;

    public UseCounts(IReadOnlyList<Node> order, Node[] outputs)
    {
        _count = new NodeTable<int>(outputs[0].Builder.NodeCount);
        _live = new NodeTable<bool>(outputs[0].Builder.NodeCount);
        foreach (var n in order)
        {
            _live[n] = true;
            foreach (var i in n.Inputs) _count[i]++;
        }
        foreach (var output in outputs) _count[output]++;
    }

    public int this[Node n] => _count[n];

    /// <summary><paramref name="n"/> was rebuilt on rewritten operands as <paramref name="cur"/>: n's consumers and operand
    /// reads (already counted on the rewritten operands) move to cur, unless cur already existed with its own.</summary>
    public void Rebuilt(Node n, Node cur)
    {
        if (_live[cur])
            foreach (var i in cur.Inputs) _count[i]--;
        _live[n] = false;
        _live[cur] = true;
        _count[cur] += _count[n];
        _count[n] = 0;
    }

    /// <summary>The consumers of <paramref name="cur"/> now read <paramref name="rep"/>.</summary>
    public void Replace(Node cur, Node rep)
    {
        Acquire(rep);
        _count[rep] += _count[cur];
        _count[cur] = 0;
        Release(cur);
    }

    private void Acquire(Node root)
    {
        var stack = new Stack<Node>([root]);
        while (stack.TryPop(out var n))
        {
            if (_live[n]) continue;
            _live[n] = true;
            foreach (var i in n.Inputs)
            {
                _count[i]++;
                stack.Push(i);
            }
        }
    }

    private void Release(Node root)
    {
        var stack = new Stack<Node>([root]);
        while (stack.TryPop(out var n))
        {
            if (!_live[n]) continue;
            _live[n] = false;
            foreach (var i in n.Inputs)
                if (--_count[i] == 0) stack.Push(i);
        }
    }
}

/// <summary>Values keyed by the nodes of one builder, stored by their dense <see cref="Node.Id"/> (a dictionary keyed by
/// reference cost most of a pass's time on large graphs). Missing entries read as default.</summary>
internal sealed class NodeTable<T>(int capacity)
{
    private T[] _items = new T[Math.Max(capacity, 16)];

    public ref T this[Node n]
    {
        get
        {
            if (n.Id >= _items.Length) Array.Resize(ref _items, Math.Max(n.Id + 1, _items.Length * 2));
            return ref _items[n.Id];
        }
    }
}
