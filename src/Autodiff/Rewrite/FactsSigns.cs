using System.Runtime.CompilerServices;

namespace Autodiff.Rewrite;

public static partial class Facts
{
    /// <summary>Null if every entry of <paramref name="x"/> is proved &gt; 0; otherwise why not. Covers <c>positive</c>
    /// inputs, positive constants, exp, softplus, sigmoid, sqrt and abs of positives, and sums, products, quotients,
    /// maxima and reductions (sum, mean, max, min, prod, pnorm) of positives.</summary>
    public static string? Positive(Node x) => SignOf(x).HasFlag(Sign.Positive) ? null : $"{Text.Printer.Brief(x)} is not known to be > 0 (declare the input 'positive')";

    /// <summary>Null if every entry of <paramref name="x"/> is proved &gt;= 0; otherwise why not. Covers what
    /// <see cref="Positive"/> proves, zero constants, declared <c>probs</c> inputs, softmax, one_hot, pnorm, abs, square,
    /// relu, <c>x * x</c>, even integer powers, sqrt, and sums, products, quotients, maxima, minima, reductions, gathers,
    /// where and layout ops of non-negatives.</summary>
    public static string? NonNegative(Node x) => SignOf(x).HasFlag(Sign.NonNegative) ? null : $"{Text.Printer.Brief(x)} is not known to be >= 0";

    /// <summary>Null if no entry of <paramref name="x"/> is proved to be 0; otherwise why not. Covers what
    /// <see cref="Positive"/> proves, nonzero constants, and negations, absolute values, products, quotients and layout
    /// ops of nonzero values.</summary>
    public static string? NonZero(Node x) => SignOf(x).HasFlag(Sign.NonZero) ? null : $"{Text.Printer.Brief(x)} is not known to be nonzero";

    [Flags]
    private enum Sign { None = 0, Positive = 1, NonNegative = 2, NonZero = 4 }

    /// <summary>Sign facts per node. Nodes are immutable, so a node's facts never change and are computed once, whatever
    /// the number of rules that ask (a doubling chain x + x, a + a, … is one pass, not 2^depth calls).</summary>
    private static readonly ConditionalWeakTable<Node, StrongBox<Sign>> Signs = new();

    /// <summary>The proved sign facts of <paramref name="x"/>: iterative over the operands not seen before, so the depth
    /// of a user's program never reaches the call stack.</summary>
    private static Sign SignOf(Node x)
    {
        if (Signs.TryGetValue(x, out var known)) return known.Value;
        var stack = new Stack<Node>();
        stack.Push(x);
        while (stack.TryPeek(out var n))
        {
            if (Signs.TryGetValue(n, out _)) { stack.Pop(); continue; }
            bool ready = true;
            foreach (var i in n.Inputs)
                if (!Signs.TryGetValue(i, out _)) { stack.Push(i); ready = false; }
            if (!ready) continue;
            stack.Pop();
            Signs.AddOrUpdate(n, new StrongBox<Sign>(Step(n)));
        }
        return Signs.TryGetValue(x, out var s) ? s.Value : Sign.None;
    }

    /// <summary>The sign facts of <paramref name="x"/> given its operands' (already computed).</summary>
    private static Sign Step(Node x)
    {
        var ins = x.Inputs;
        Sign Of(Node n) => Signs.TryGetValue(n, out var b) ? b.Value : Sign.None;
        bool All(Sign s) { foreach (var i in ins) if (!Of(i).HasFlag(s)) return false; return true; }
        bool Any(Sign s) { foreach (var i in ins) if (Of(i).HasFlag(s)) return true; return false; }

        bool positive = x.Op switch
        {
            InputOp i => i.Facts.IsPositive,
            ConstantOp c => c.Value > 0,
            ExpOp or SoftplusOp or SigmoidOp => true,   // exp underflows to 0 only for inputs below about −745; the rules using this accept that
            SoftmaxOp => true,
            AddOp => All(Sign.Positive) || Any(Sign.Positive) && All(Sign.NonNegative),
            SqrtOp or AbsOp or StopGradientOp or MulOp or DivOp or SumOp or MeanOp or MaxOp or MinOp
                or ReshapeOp or BroadcastToOp or TransposeOp or ProdOp or PNormOp => All(Sign.Positive),
            MaximumOp => Any(Sign.Positive),
            MinimumOp => All(Sign.Positive),
            _ => false,
        };
        if (positive) return Sign.Positive | Sign.NonNegative | Sign.NonZero;

        bool nonNegative = x.Op switch
        {
            InputOp i => i.Facts.ProbsAxis is not null,
            ConstantOp c => c.Value >= 0,
            AbsOp or SquareOp or ReluOp or OneHotOp or MaskedOneHotOp or SoftmaxOp or PNormOp => true,
            MulOp when ReferenceEquals(ins[0], ins[1]) => true,
            PowOp => Constant(ins[1]) is double p && p % 2 == 0 || Of(ins[0]).HasFlag(Sign.NonNegative),
            WhereOp => Of(ins[1]).HasFlag(Sign.NonNegative) && Of(ins[2]).HasFlag(Sign.NonNegative),
            SqrtOp or StopGradientOp or AddOp or MulOp or DivOp or SumOp or MeanOp or MaxOp or MinOp or MinimumOp
                or ReshapeOp or BroadcastToOp or TransposeOp or ProdOp or TakeOp => All(Sign.NonNegative),
            MaximumOp => Any(Sign.NonNegative),
            _ => false,
        };
        bool nonZero = x.Op switch
        {
            ConstantOp c => c.Value != 0,
            NegOp or AbsOp or StopGradientOp or MulOp or DivOp or SquareOp or ReshapeOp or BroadcastToOp or TransposeOp
                => All(Sign.NonZero),
            _ => false,
        };
        return (nonNegative ? Sign.NonNegative : Sign.None) | (nonZero ? Sign.NonZero : Sign.None);
    }
}
