namespace Autodiff.Rewrite;

/// <summary>The fact analysis the rules' preconditions rely on. Each fact is proved from the graph's structure and the
/// inputs' declared facts, never assumed.</summary>
public static partial class Facts
{
    /// <summary>The value of a scalar constant node, or null.</summary>
    public static double? Constant(Node n) => n.Op is ConstantOp c ? c.Value : null;

    /// <summary>True if <paramref name="n"/> is the scalar constant <paramref name="v"/>.</summary>
    public static bool IsConstant(Node n, double v) => Constant(n) is double c && c == v;

    /// <summary>True if <paramref name="c"/>, broadcast against <paramref name="full"/>, is constant along <paramref name="axes"/>
    /// (its aligned size there is 1 or the axis is missing), so subtracting it does not change a softmax along them.</summary>
    public static bool ConstantAlong(Node c, Shape full, IEnumerable<int> axes)
    {
        int lead = full.Rank - c.Shape.Rank;
        if (lead < 0) return false;
        return axes.All(a => a < lead || c.Shape[a - lead] == 1);
    }

    /// <summary>True when <paramref name="a"/> and <paramref name="b"/> hold the same numbers in row-major order, perhaps in
    /// another layout: one node, a reshape of the other, or the same reduction of one node over the same axes with and
    /// without keepdims (the max shift of a hand-written log-sum-exp, <c>max(x, axis=1) + log(sum(exp(x - max(x, axis=1,
    /// keepdims=true)), axis=1))</c>).</summary>
    public static bool SameValues(Node a, Node b) =>
        ReferenceEquals(a, b)
        || a.Op is ReshapeOp && ReferenceEquals(a.Inputs[0], b)
        || b.Op is ReshapeOp && ReferenceEquals(b.Inputs[0], a)
        || a.Op is ReduceOp ra && b.Op is ReduceOp rb && ra.GetType() == rb.GetType() && ra.Axes.Equals(rb.Axes) && ReferenceEquals(a.Inputs[0], b.Inputs[0]);

    /// <summary>Null if the rows of <paramref name="p"/> along <paramref name="axis"/> are proved to sum to 1; otherwise why not.</summary>
    public static string? SumsToOne(Node p, int axis)
    {
        var s = RowSum(p, axis, p.Shape[axis]);
        return s is double v && Math.Abs(v - 1) <= SumTolerance(p.DType)
            ? null
            : $"targets {Text.Printer.Brief(p)} are not known to sum to 1 along axis {axis}" +
              (s is double w ? $" (they sum to {w:R})" : " (declare the input probs(axis=" + axis + "), or use one_hot, softmax, or a convex combination of those)");
    }

    /// <summary>How far a row sum proved from constants may be from 1: 1e-12 in f64, and in f32 a few ulps per class of
    /// rounding (the constants of an f32 program are f32: 0.9·one_hot + 0.1/5 sums to 0.99999997), 16 ulps of 1. The
    /// fused gradient then differs from the exact q·Σp − p by q·(Σp − 1), below the element type's rounding.</summary>
    public static double SumTolerance(DType t) => t == DType.F32 ? 16 * Math.Pow(2, -23) : 1e-12;

    /// <summary>The proved constant row sum of <paramref name="p"/> along <paramref name="axis"/> of a full shape whose size
    /// there is <paramref name="size"/>; null if unknown. Covers declared <c>probs</c> inputs, one_hot, softmax, x / sum(x),
    /// and sums, differences and constant multiples of those (label smoothing (1−ε)·one_hot + ε/C is one). Iterative and
    /// memoized per node, so a sum of a million terms or a heavily shared expression is one pass over its nodes.</summary>
    public static double? RowSum(Node p, int axis, int size)
    {
        var memo = new Dictionary<Node, double?>(ReferenceEqualityComparer.Instance);
        var missing = new List<Node>();
        var stack = new Stack<Node>();
        stack.Push(p);
        double? Get(Node x)
        {
            if (memo.TryGetValue(x, out var v)) return v;
            missing.Add(x);
            return null;
        }
        while (stack.TryPeek(out var n))
        {
            if (memo.ContainsKey(n)) { stack.Pop(); continue; }
            missing.Clear();
            var v = RowSumStep(n, axis, size, Get);
            if (missing.Count == 0)
            {
                memo[n] = v;
                stack.Pop();
            }
            else foreach (var m in missing) stack.Push(m);   // n is evaluated again once its operands are known
        }
        return memo[p];
    }

    /// <summary>One step of <see cref="RowSum"/>: the row sum of <paramref name="p"/> given its operands' (from
    /// <paramref name="sub"/>, which may answer null for an operand not computed yet and records it).</summary>
    private static double? RowSumStep(Node p, int axis, int size, Func<Node, double?> sub)
    {
        if (p.Shape.Rank <= axis || p.Shape[axis] != size)
            return null;
        switch (p.Op)
        {
            case InputOp i when i.Facts.ProbsAxis is int a && (a < 0 ? a + p.Shape.Rank : a) == axis: return 1;
            case OneHotOp when axis == p.Shape.Rank - 1: return 1;
            case SoftmaxOp s when s.Axis == axis: return 1;
            case StopGradientOp: return sub(p.Inputs[0]);
            case NegOp: return -sub(p.Inputs[0]);
            case DivOp when p.Inputs[1].Op is SumOp { KeepDims: true } s && s.Axes.Count == 1 && s.Axes[0] == axis
                            && ReferenceEquals(p.Inputs[1].Inputs[0], p.Inputs[0]): return 1;
            case DivOp when Constant(p.Inputs[1]) is double d: return sub(p.Inputs[0]) / d;
            case MulOp when Constant(p.Inputs[0]) is double c: return c * sub(p.Inputs[1]);
            case MulOp when Constant(p.Inputs[1]) is double c: return c * sub(p.Inputs[0]);
            case AddOp: return Part(p.Inputs[0], p, size, sub) + Part(p.Inputs[1], p, size, sub);
            case SubOp: return Part(p.Inputs[0], p, size, sub) - Part(p.Inputs[1], p, size, sub);
            default: return null;
        }
    }

    /// <summary>Row sum of one operand of an elementwise op whose result is <paramref name="whole"/>: a scalar constant
    /// broadcast along the row contributes value × size.</summary>
    private static double? Part(Node x, Node whole, int size, Func<Node, double?> sub)
    {
        if (Constant(x) is double c) return c * size;
        int lead = whole.Shape.Rank - x.Shape.Rank;
        return lead == 0 ? sub(x) : null;
    }
}
