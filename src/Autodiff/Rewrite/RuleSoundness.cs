using System.Globalization;
using System.Text;
using Autodiff.Text;

namespace Autodiff.Rewrite;

/// <summary>Checks a pattern rule before it is used: both sides are built on f64 inputs of several shapes (a scalar first,
/// then vectors, matrices and a rank-3 tensor, with operands broadcast against each other), with attribute variables
/// drawn from the values that make sense for them (axes, keepdims, shapes of the same size, powers), and values that
/// satisfy the rule's predicates (positive, nonneg, nonzero, rows summing to 1), mixed with edge values (0, ±1, ±1e-3,
/// ±10). Wherever the left side matches, its precondition holds and both the left side and its gradient are finite, the
/// right side and its gradient (a random cotangent pulled back to every operand) must agree by the library's one agreement
/// rule, <see cref="Tolerance"/> for f64 (what <c>autodiff compare</c> uses): the value as one set, the gradients with
/// respect to every operand as another, the right side taken as the expected result. The first disagreement is the
/// counterexample.</summary>
public static class RuleSoundness
{
    private static readonly int[][] Shapes = [[], [3], [2, 3], [3, 2], [2, 3, 2]];

    /// <summary>With a square matrix too, for rules with a <c>matmul</c> of two node variables (which no other base shape
    /// lets match); other rules keep <see cref="Shapes"/> and their draws.</summary>
    private static readonly int[][] ShapesWithSquare = [.. Shapes, [3, 3]];
    private static readonly double[] Edges = [0, 0.5, -0.5, 1, -1, 2, -2, 1e-3, -1e-3, 10, -10];
    private const int Wanted = 24, Attempts = 600;

    /// <summary>Null if the rule passed, else what it changes, with the counterexample (<c>changes the value: at x = 0.5
    /// the left side is 1.6487, the right side 1.5</c>), or why it could not be checked.</summary>
    public static string? Check(PatternRule rule, int seed = 20261204)
    {
        var rng = new Random(seed);
        var unified = rule.Conditions.Where(c => c.Predicate.Unifies).ToDictionary(c => c.Args[1].Var!, c => c.Args[0].Var!);
        var integer = IntegerVariables(rule.Lhs);
        int checkedCount = 0;
        string? shapeMismatch = null;
        for (int attempt = 0; attempt < Attempts && checkedCount < Wanted; attempt++)
        {
            var shapes = rule.Text.Contains("matmul(", StringComparison.Ordinal) ? ShapesWithSquare : Shapes;
            var b = shapes[attempt % shapes.Length];
            var builder = new GraphBuilder();
            var dummy = builder.Constant(0, DType.F64).Node;
            var binding = new Match(dummy);
            foreach (var v in rule.NodeVars)
            {
                if (unified.TryGetValue(v, out var same) && binding.HasNode(same)) { binding.Bind(v, binding[same]); continue; }
                var shape = integer.Contains(v) ? Drop(b, rng) : attempt < 3 * Shapes.Length ? b : Vary(b, rng);
                binding.Bind(v, builder.Input(v, integer.Contains(v) ? DType.I64 : DType.F64, new Shape(shape)).Node);
            }
            var lhs = PatternRule.Instantiate(rule.Lhs, binding, builder, DType.F64, (p, operands) => Draw(p, b, operands, rng));
            if (lhs is null || rule.TryMatch(lhs, facts: false) is not { } m) continue;
            if (rule.Conditions.Any(c => c.Predicate.Domain == ValueDomain.Any && c.Reports && c.Evaluate(m, rule) is not null)) continue;
            var rhs = PatternRule.Instantiate(rule.Rhs, m, builder, lhs.DType, rightSide: true);
            if (rhs is null || rhs.Shape != lhs.Shape || rhs.DType != lhs.DType)
            {
                shapeMismatch ??= rhs is null ? $"the right side cannot be built where the left side is {Type(lhs)}"
                    : $"the right side is {Type(rhs)} where the left side is {Type(lhs)}";
                continue;
            }
            var values = Values(rule, m, integer, rng);
            string? failure;
            try
            {
                failure = Compare(rule, m, lhs, rhs, values, builder, rng);
            }
            catch (AutodiffException)
            {
                continue;   // an input the ops refuse (an index out of range): not an instance
            }
            if (failure is not null) return failure;
            checkedCount++;
        }
        if (checkedCount > 0) return null;
        return shapeMismatch is not null
            ? $"cannot be checked: {shapeMismatch} (a rewrite must keep the shape and element type)"
            : "cannot be checked: no inputs of the shapes tried (scalars, vectors, matrices, rank 3) match the left side and satisfy the precondition";
    }

    private static string Type(Node n) => $"{n.DType.Name()}{n.Shape}";

    /// <summary>Node variables in an integer operand position (indices, labels, tags, lengths, steps).</summary>
    private static HashSet<string> IntegerVariables(CallPat lhs)
    {
        var result = new HashSet<string>(StringComparer.Ordinal);
        Walk(lhs);
        return result;

        void Walk(Pat p)
        {
            if (p is not CallPat c) return;
            for (int i = 0; i < c.Args.Length; i++)
            {
                if (c.Args[i] is VarPat v && (c.Spec.Parameters[i].Name is "t" or "labels" or "tags" or "lengths" or "step"
                                              || c.Spec.Parameters[i].IntegerLiterals)) result.Add(v.Name);
                if (c.Args[i] is Pat q) Walk(q);
            }
        }
    }

    private static int[] Drop(int[] b, Random rng)
    {
        if (b.Length == 0) return b;
        int k = rng.Next(b.Length);
        return rng.Next(3) == 0 ? b : b.Where((_, i) => i != k).ToArray();
    }

    /// <summary>The base shape, or one broadcast into it: a size-1 axis, a missing leading axis, a scalar.</summary>
    private static int[] Vary(int[] b, Random rng)
    {
        switch (rng.Next(6))
        {
            case 0 when b.Length > 0:
            {
                var s = (int[])b.Clone();
                s[rng.Next(s.Length)] = 1;
                return s;
            }
            case 1 when b.Length > 0: return b[1..];
            case 2: return [];
            default: return b;
        }
    }

    /// <summary>A value for an attribute variable, as printed text (null: left out): an axis of the base shape, a shape of
    /// the operand's size (often with a size-1 axis inserted, as a reduction's keepdims shape has) or one it broadcasts to, a
    /// permutation, a power.</summary>
    private static string? Draw(FunctionParam p, int[] b, IReadOnlyList<Node> operands, Random rng)
    {
        int rank = operands.Count > 0 ? operands[0].Shape.Rank : b.Length;
        int[] o = operands.Count > 0 ? operands[0].Shape.ToArray() : b;
        int size = o.Aggregate(1, (x, y) => x * y);
        switch (p.Kind)
        {
            case ArgKind.Int when p.Name == "classes": return Patterns.Text(rank == 0 ? 2 : b[^1]);
            case ArgKind.Int: return Patterns.Text(rank == 0 ? 0 : rng.Next(rank));
            case ArgKind.Bool: return rng.Next(2) == 0 ? "false" : "true";
            case ArgKind.DType: return "f64";
            case ArgKind.Number: return Patterns.Text(new[] { 0.5, 1, 2, 3, 4, 1.0 / 3, 0.25, -1 }[rng.Next(8)]);
            case ArgKind.Ints when p.Name == "shape":
            {
                int at = rng.Next(o.Length + 1);
                int[][] shapes = [[.. o[..at], 1, .. o[at..]], [.. o[..at], 1, .. o[at..]], [size], [.. o.Reverse()], [2, .. o],
                    [.. o.Select(d => d == 1 ? 3 : d)]];
                return Patterns.Text(shapes[rng.Next(shapes.Length)]);
            }
            case ArgKind.Ints when p.Name == "axes":
                return Patterns.Text(Enumerable.Range(0, rank).OrderBy(_ => rng.Next()).ToArray());
            case ArgKind.Ints:
                return rng.Next(4) switch
                {
                    0 => null,
                    1 when rank >= 2 => Patterns.Text(new[] { 0, 1 }),
                    _ => rank == 0 ? null : Patterns.Text(rng.Next(rank)),
                };
            default: return null;
        }
    }

    /// <summary>Input values: each variable from the domain its predicates ask for, mixed with edge values.</summary>
    private static Dictionary<string, Tensor> Values(PatternRule rule, Match m, HashSet<string> integer, Random rng)
    {
        var values = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var v in rule.NodeVars)
        {
            var n = m[v];
            var data = new double[n.Shape.Size];
            var domain = rule.Conditions.FirstOrDefault(c => c.Predicate.Domain != ValueDomain.Any && c.Args[0].Var == v);
            for (int i = 0; i < data.Length; i++)
            {
                double x = rng.Next(2) == 0 ? Edges[rng.Next(Edges.Length)] : Math.Round(rng.NextDouble() * 6 - 3, 2);
                data[i] = integer.Contains(v) ? rng.Next(IndexBound(rule, m, integer))
                    : domain?.Predicate.Domain switch
                    {
                        ValueDomain.Positive => Math.Abs(x) is var a && a > 0 ? a : 0.25,
                        ValueDomain.NonNegative => Math.Abs(x),
                        ValueDomain.NonZero => x != 0 ? x : -0.75,
                        ValueDomain.Probs => Math.Exp(x / 2),
                        _ => x,
                    };
            }
            if (domain?.Predicate.Domain == ValueDomain.Probs && new PredicateArgs(m, rule, domain).Axes(1) is [int axis] && axis < n.Shape.Rank)
                Normalize(data, n.Shape, axis);
            values[v] = Tensor.FromDoubles(n.DType, n.Shape, data);
        }
        return values;
    }

    /// <summary>Indices below the smallest axis of the float variables, so that every gather is in range.</summary>
    private static int IndexBound(PatternRule rule, Match m, HashSet<string> integer) =>
        Math.Max(1, rule.NodeVars.Where(v => !integer.Contains(v)).SelectMany(v => m[v].Shape.ToArray()).DefaultIfEmpty(1).Min());

    private static void Normalize(double[] data, Shape shape, int axis)
    {
        int inner = 1;
        for (int d = axis + 1; d < shape.Rank; d++) inner *= shape[d];
        int len = shape[axis], outer = data.Length / Math.Max(1, len * inner);
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                double s = 0;
                for (int k = 0; k < len; k++) s += data[(o * len + k) * inner + i];
                for (int k = 0; k < len; k++) data[(o * len + k) * inner + i] /= s;
            }
    }

    private static string? Compare(PatternRule rule, Match m, Node lhs, Node rhs, Dictionary<string, Tensor> values, GraphBuilder builder, Random rng)
    {
        var wrt = rule.NodeVars.Where(v => m[v].DType.IsFloat()).ToArray();
        var cot = new double[lhs.Shape.Size];
        for (int i = 0; i < cot.Length; i++) cot[i] = cot.Length == 1 ? 1 : Math.Round(rng.NextDouble() * 2 - 1, 2);
        var seed = Tensor.FromDoubles(lhs.DType, lhs.Shape, cot);
        var (lv, lg) = Run(builder.Build(lhs.Expr), values, wrt, seed);
        var (rv, rg) = Run(builder.Build(rhs.Expr), values, wrt, seed);
        string At() => "at " + string.Join(", ", rule.NodeVars.Select(v => $"{v} = {Show(values[v].ToDoubleArray(), values[v].Shape)}")
            .Concat(rule.AttrVars.Select(a => $"{a} = {m.Attribute(a) ?? "(left out)"}")));
        if (!lv.All(double.IsFinite)) return null;
        var tolerance = Tolerance.For(DType.F64);
        if (!tolerance.Compare(Tensor.FromDoubles(DType.F64, lhs.Shape, rv), Tensor.FromDoubles(DType.F64, lhs.Shape, lv)).Agree)
            return $"changes the value: {At()} the left side is {Show(lv, lhs.Shape)}, the right side {Show(rv, lhs.Shape)}";
        // The gradients as one set (a gradient that is all but zero is judged against the others' scale), leaving out a
        // variable where the left side's own gradient is not finite (the naive form's overflow, not a disagreement).
        var finite = wrt.Where(v => lg[v].All(double.IsFinite)).ToArray();
        var grads = tolerance.Compare(finite.Select(v => (Tensor.FromDoubles(DType.F64, m[v].Shape, rg[v]), Tensor.FromDoubles(DType.F64, m[v].Shape, lg[v]))));
        if (grads.Agree) return null;
        var w = finite[grads.Worst!.Pair];
        return $"changes the gradient with respect to {w}: {At()} the left side's is {Show(lg[w], m[w].Shape)}, the right side's {Show(rg[w], m[w].Shape)}"
               + (lhs.Shape.Size == 1 ? "" : $" (for the cotangent {Show(cot, lhs.Shape)})");
    }

    private static (double[] Value, Dictionary<string, double[]> Grads) Run(Graph g, Dictionary<string, Tensor> values, string[] wrt, Tensor seed)
    {
        var present = wrt.Where(v => g.Nodes().Any(n => n.Op is InputOp io && io.InputName == v)).ToArray();
        var tape = new Tape(g, present);
        var (value, grads) = tape.Run(values, seed);
        var result = wrt.ToDictionary(v => v, v => grads.TryGetValue(v, out var t) ? t.ToDoubleArray() : new double[values[v].Size], StringComparer.Ordinal);
        return (value.ToDoubleArray(), result);
    }

    /// <summary>A value for a message: a number to 5 significant digits, or nested brackets.</summary>
    private static string Show(double[] data, Shape shape)
    {
        var sb = new StringBuilder();
        int pos = 0;
        Write(0);
        return sb.ToString();

        void Write(int dim)
        {
            if (dim == shape.Rank)
            {
                sb.Append(data[pos++].ToString("G5", CultureInfo.InvariantCulture));
                return;
            }
            sb.Append('[');
            for (int i = 0; i < shape[dim]; i++)
            {
                if (i > 0) sb.Append(", ");
                Write(dim + 1);
            }
            sb.Append(']');
        }
    }
}
