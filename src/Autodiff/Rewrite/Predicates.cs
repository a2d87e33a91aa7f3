using Autodiff.Text;

namespace Autodiff.Rewrite;

/// <summary>The values a predicate asks of a variable; the soundness check draws its inputs from this set.</summary>
internal enum ValueDomain { Any, Positive, NonNegative, NonZero, Probs }

/// <summary>A named precondition a rule may state after <c>if</c>.</summary>
/// <param name="Name">The name used in rules.</param>
/// <param name="Params">Its parameters: node variables, and attribute variables or number literals (written
/// positionally or as <c>name=value</c>).</param>
/// <param name="Reports">True if a failure is reported as a near miss with the reason; false for a structural condition
/// whose failure means the pattern simply does not apply.</param>
/// <param name="Domain">What the predicate asks of the values of its first (node) argument.</param>
/// <param name="Description">One line for the catalogue.</param>
/// <param name="Check">Null when it holds, else the reason.</param>
internal sealed record Predicate(string Name, (string Name, bool Node)[] Params, bool Reports, ValueDomain Domain, string Description,
    Func<PredicateArgs, string?> Check)
{
    /// <summary>True if it holds when its two node arguments are one node, and rarely on independent inputs (the soundness
    /// check then builds them as one).</summary>
    public bool Unifies => Name is "same_exponent" or "same_values";

    public string Signature => $"{Name}({string.Join(", ", Params.Select((p, i) => i == 0 || p.Node ? p.Name : $"{p.Name}=…"))})";
}

/// <summary>The arguments of one predicate call, resolved against a match.</summary>
internal sealed class PredicateArgs(Match match, PatternRule rule, Condition condition)
{
    public Match Match { get; } = match;
    public PatternRule Rule { get; } = rule;

    public Node Node(int i) => Match[condition.Args[i].Var!];

    /// <summary>An attribute argument's printed text (null if the op left it out), or a literal's text.</summary>
    public string? Text(int i) => condition.Args[i].Literal is double v ? Patterns.Text(v) : Match.Attribute(condition.Args[i].Var!);

    public Node? Owner(int i) => condition.Args[i].Var is string v ? Match.AttributeOwner(v) : null;

    public double Number(int i) => Patterns.Value(Text(i)!, ArgKind.Number) is double d ? d : double.NaN;

    /// <summary>The axes an attribute argument names; all axes of the owner's first operand when it was left out.</summary>
    public int[] Axes(int i) => Text(i) is string t ? (int[])Patterns.Value(t, ArgKind.Ints)
        : Owner(i) is { Inputs.Count: > 0 } o ? Enumerable.Range(0, o.Inputs[0].Shape.Rank).ToArray() : [];

    /// <summary>The axes the op that bound attribute argument <paramref name="i"/> reduces over.</summary>
    public int[] OwnerAxes(int i) => Owner(i)?.Op switch
    {
        ReduceOp r => [.. r.Axes],
        LogSumExpOp l => [.. l.Axes],
        _ => [],
    };

    /// <summary>"the sum" for a plain reduction, else the op's name (<c>logsumexp</c>, …), as messages name it.</summary>
    public string The(int i) => Owner(i)?.Op is SumOp or MeanOp or ExtremumOp ? "the " + Owner(i)!.Op.Name : Owner(i)?.Op.Name ?? "the op";
}

/// <summary>One predicate call in a rule: the predicate and its arguments (variable names or number literals).</summary>
/// <param name="Predicate">The predicate.</param>
/// <param name="Args">Its arguments: a variable name, or a number literal.</param>
/// <param name="Col">The column of its name in the rule's line.</param>
/// <param name="Quiet">True for a predicate written after <c>when</c>: its failure means the rule does not match, with no
/// near miss, whatever the predicate (<c>abs(x) => x when nonneg(x)</c> would otherwise report every abs it leaves).</param>
internal sealed record Condition(Predicate Predicate, (string? Var, double? Literal)[] Args, int Col, bool Quiet = false)
{
    /// <summary>True if a failure is reported as a near miss (after <c>if</c>, for a predicate that reports).</summary>
    public bool Reports => Predicate.Reports && !Quiet;

    public string? Evaluate(Match m, PatternRule rule) => Predicate.Check(new PredicateArgs(m, rule, this));
}

/// <summary>The named predicates rules may use: facts proved by <see cref="Facts"/> (positive, nonneg, nonzero, probs),
/// structural conditions (same_shape, one_element, constant_along, same_values, size_one, indexes), and the checks the built-in rules report as
/// near misses (one_axis, keepdims, adjacent, same_exponent, gathers_along, pnorm_power, even_power, reciprocal).</summary>
internal static class Predicates
{
    private static string P(Node n) => Printer.Brief(n);
    private static string N(double v) => Tensor.FormatNumber(v, DType.F64);
    private static string Axes(int[] a) => new IntList(a).ToString();

    public static readonly IReadOnlyList<Predicate> All =
    [
        new("positive", [("x", true)], true, ValueDomain.Positive, "every entry of x is proved > 0", a => Facts.Positive(a.Node(0))),
        new("nonneg", [("x", true)], true, ValueDomain.NonNegative, "every entry of x is proved >= 0", a => Facts.NonNegative(a.Node(0))),
        new("nonzero", [("x", true)], true, ValueDomain.NonZero, "every entry of x is proved != 0", a => Facts.NonZero(a.Node(0))),
        new("probs", [("y", true), ("axis", false)], true, ValueDomain.Probs, "the rows of y along the axis are proved to sum to 1",
            a => a.Axes(1) is [int axis] ? Facts.SumsToOne(a.Node(0), axis) : $"probs: the axis {a.Text(1) ?? "(all)"} is not one axis"),
        new("same_shape", [("x", true), ("y", true)], false, ValueDomain.Any, "x and y have the same shape and element type",
            a => a.Node(0).Shape == a.Node(1).Shape && a.Node(0).DType == a.Node(1).DType ? null : "different shapes"),
        new("one_element", [("c", true)], false, ValueDomain.Any, "c has exactly one element",
            a => a.Node(0).Shape.Size == 1 ? null : "more than one element"),
        new("constant_along", [("c", true), ("x", true), ("axis", false)], false, ValueDomain.Any,
            "c, broadcast against x, is constant along the axes (size 1 there, or missing)",
            a => Facts.ConstantAlong(a.Node(0), a.Node(1).Shape, a.Axes(2)) ? null : "not constant along the axes"),
        new("same_values", [("m", true), ("c", true)], false, ValueDomain.Any,
            "m and c hold the same numbers, perhaps in another layout: one node, a reshape of the other, or one reduction of one node with and without keepdims",
            a => Facts.SameValues(a.Node(0), a.Node(1)) ? null : "different values"),
        new("size_one", [("x", true), ("axis", false)], false, ValueDomain.Any, "every axis of x in the axis attribute has size 1 (every axis, when it is left out)",
            a => a.Axes(1).All(i => i < a.Node(0).Shape.Rank && a.Node(0).Shape[i] == 1) ? null : "an axis has more than one entry"),
        new("indexes", [("t", true), ("x", true)], false, ValueDomain.Any, "t has one axis fewer than x (an index per row)",
            a => a.Node(0).Shape.Rank == a.Node(1).Shape.Rank - 1 ? null : "ranks do not fit"),
        new("linear", [("h", true), ("w", true)], false, ValueDomain.Any, "h is [N, D] and w is [D, V] (a linear layer's input and weight)",
            a => a.Node(0).Shape.Rank == 2 && a.Node(1).Shape.Rank == 2 ? null : "not a 2-D linear layer"),
        new("linear_bias", [("h", true), ("w", true), ("b", true)], false, ValueDomain.Any, "h is [N, D], w is [D, V] and b is [V] (a linear layer)",
            a => a.Node(0).Shape.Rank == 2 && a.Node(1).Shape.Rank == 2 && a.Node(2).Shape == new Shape(a.Node(1).Shape[^1]) && a.Node(2).DType == a.Node(1).DType
                ? null : "not a 2-D linear layer with a bias over the classes"),
        new("one_axis", [("axis", false)], true, ValueDomain.Any, "the reduction binding the axis runs over exactly one axis",
            a => a.Axes(0).Length == 1 ? null : $"{a.The(0)} runs over axes {Axes(a.Axes(0))}; {((CallPat)a.Rule.Rhs).Spec.Name} normalises along one axis"),
        new("keepdims", [("k", false)], true, ValueDomain.Any, "the reduction binding k keeps the reduced axes",
            a => a.Text(0) == "true" ? null
                : $"{a.The(0)} over axis {Axes(a.OwnerAxes(0) is { Length: > 0 } ax ? [ax[0]] : [])} has keepdims=false, so it broadcasts along the wrong axis"
                  + (a.Owner(0)?.Op is SumOp ? "; write keepdims=true" : "")),
        new("adjacent", [("axis", false)], true, ValueDomain.Any, "the axes are adjacent",
            a => a.Axes(0).Zip(a.Axes(0).Skip(1)).All(p => p.Second == p.First + 1) ? null : $"{a.The(0)} runs over axes {Axes(a.Axes(0))}, which are not adjacent"),
        new("same_exponent", [("x", true), ("y", true)], true, ValueDomain.Any, "x and y are the same node (numerator and denominator exponentiate the same value)",
            a => ReferenceEquals(a.Node(0), a.Node(1)) ? null
                : $"numerator {P(a.Match.Root.Inputs[0])} and denominator {P(a.Match.Root.Inputs[1])} exponentiate different values"),
        new("gathers_along", [("b", false), ("a", false)], true, ValueDomain.Any, "the gather's axis b is the normalising axis a",
            a => a.Text(0) == a.Text(1) ? null : $"{a.Owner(0)!.Op.Name} gathers along axis {a.Text(0)} but {a.Owner(1)!.Op.Name} normalises along axis {a.Text(1)}"),
        new("pnorm_power", [("p", false)], true, ValueDomain.Any, "the power p is at least 1",
            a => a.Number(0) >= 1 ? null : $"the power p = {N(a.Number(0))} is below 1; pnorm needs p >= 1"),
        new("even_power", [("p", false)], true, ValueDomain.Any, "p is an even integer, so x^p is |x|^p",
            a => a.Number(0) % 2 == 0 && !double.IsInfinity(a.Number(0)) ? null
                : $"x^{N(a.Number(0))} without abs(x) is not |x|^p (p = {N(a.Number(0))} is not an even integer); write abs(x)^{N(a.Number(0))}"),
        new("reciprocal", [("q", false), ("p", false)], true, ValueDomain.Any,
            "q = 1/p to within 1e-12 relative (2.5e-7 in an f32 program, whose constants are rounded to f32)",
            a => Math.Abs(a.Number(0) * a.Number(1) - 1) <= (a.Match.Root.DType == DType.F32 ? 2.5e-7 : 1e-12) ? null
                : $"the outer power {N(a.Number(0))} is not 1/p = {N(1 / a.Number(1))} for p = {N(a.Number(1))}"),
    ];

    private static readonly Dictionary<string, Predicate> ByName = All.ToDictionary(p => p.Name, StringComparer.Ordinal);

    public static bool TryGet(string name, out Predicate predicate) => ByName.TryGetValue(name, out predicate!);
}
