namespace Autodiff.Rewrite;

public static partial class Facts
{
    /// <summary>Null if every entry of <paramref name="x"/> is proved &gt;= 0; otherwise why not. Covers what
    /// <see cref="Positive"/> proves, zero constants, declared <c>probs</c> inputs, softmax, one_hot, pnorm, abs, square,
    /// relu, <c>x * x</c>, even integer powers, sqrt, and sums, products, quotients, maxima, minima, reductions, gathers,
    /// where and layout ops of non-negatives.</summary>
    public static string? NonNegative(Node x) => IsNonNegative(x, 0) ? null : $"{Text.Printer.PrintExpression(x)} is not known to be >= 0";

    private static bool IsNonNegative(Node x, int depth)
    {
        if (depth > 64) return false;
        if (Positive(x) is null) return true;
        bool All() => x.Inputs.All(i => IsNonNegative(i, depth + 1));
        return x.Op switch
        {
            InputOp i => i.Facts.ProbsAxis is not null,
            ConstantOp c => c.Value >= 0,
            AbsOp or SquareOp or ReluOp or OneHotOp or MaskedOneHotOp or SoftmaxOp or PNormOp => true,
            MulOp when ReferenceEquals(x.Inputs[0], x.Inputs[1]) => true,
            PowOp => Constant(x.Inputs[1]) is double p && p % 2 == 0 || IsNonNegative(x.Inputs[0], depth + 1),
            WhereOp => IsNonNegative(x.Inputs[1], depth + 1) && IsNonNegative(x.Inputs[2], depth + 1),
            SqrtOp or StopGradientOp or AddOp or MulOp or DivOp or SumOp or MeanOp or MaxOp or MinOp or MinimumOp
                or ReshapeOp or BroadcastToOp or TransposeOp or ProdOp or TakeOp => All(),
            MaximumOp => x.Inputs.Any(i => IsNonNegative(i, depth + 1)),
            _ => false,
        };
    }

    /// <summary>Null if no entry of <paramref name="x"/> is proved to be 0; otherwise why not. Covers what
    /// <see cref="Positive"/> proves, nonzero constants, and negations, absolute values, products, quotients and layout
    /// ops of nonzero values.</summary>
    public static string? NonZero(Node x) => IsNonZero(x, 0) ? null : $"{Text.Printer.PrintExpression(x)} is not known to be nonzero";

    private static bool IsNonZero(Node x, int depth)
    {
        if (depth > 64) return false;
        if (Positive(x) is null) return true;
        return x.Op switch
        {
            ConstantOp c => c.Value != 0,
            NegOp or AbsOp or StopGradientOp or MulOp or DivOp or SquareOp or ReshapeOp or BroadcastToOp or TransposeOp
                => x.Inputs.All(i => IsNonZero(i, depth + 1)),
            _ => false,
        };
    }
}
