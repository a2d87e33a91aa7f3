namespace Autodiff.Rewrite;

/// <summary>Rules for the spellings of real programs (docs/rules.md, "Spellings"): guards that hide a softmax, the ratio of
/// two logs' arguments, a numerator and a denominator from different exp nodes, and exp of a log_softmax.</summary>
public static partial class Rules
{
    /// <summary><c>abs(x) => x</c> and <c>relu(x) => x</c> when x is proved ≥ 0 (<see cref="Facts.NonNegative"/>): a guard
    /// such as <c>log(abs(softmax(z)))</c> then no longer hides the softmax from <c>log-softmax</c>. Matches only when
    /// proved, so an unproved abs reports no near miss.</summary>
    public static readonly Rule[] DropNonNegativeGuards =
    [
        new("abs-of-nonnegative", "abs(x) => x   if x >= 0", typeof(AbsOp),
            n => (Facts.NonNegative(n.Inputs[0]) is null) ? M(n)!.Bind("x", n.Inputs[0]) : null,
            m => m["x"]) { Stabilizes = true },
        new("relu-of-nonnegative", "relu(x) => x   if x >= 0", typeof(ReluOp),
            n => (Facts.NonNegative(n.Inputs[0]) is null) ? M(n)!.Bind("x", n.Inputs[0]) : null,
            m => m["x"]) { Stabilizes = true },
    ];

    /// <summary><c>log(a / b) => log(a) - log(b)</c> when a or b is a softmax, sigmoid or exp (whose log a later rule makes
    /// stable: KL written as <c>p * log(p / q)</c>) and both are proved ≥ 0, so the two forms agree everywhere.</summary>
    public static readonly Rule LogOfQuotient = new("log-of-quotient", "log(a / b) => log(a) - log(b)   if a, b >= 0 and a or b is softmax, sigmoid or exp", typeof(LogOp),
        n => n.Inputs[0].Op is DivOp && n.Inputs[0].Inputs.Any(i => i.Op is SoftmaxOp or SigmoidOp or ExpOp) && n.Inputs[0].Inputs.All(i => i.Shape == n.Shape || i.Shape.Size == 1)
            ? M(n)!.Bind("a", n.Inputs[0].Inputs[0]).Bind("b", n.Inputs[0].Inputs[1]).Interior(n.Inputs[0]) : null,
        m => (Facts.NonNegative(m["a"]) is null) && (Facts.NonNegative(m["b"]) is null) ? null
            : $"{Text.Printer.Brief((Facts.NonNegative(m["a"]) is null) ? m["b"] : m["a"])} is not known to be >= 0, so log(a) - log(b) could be NaN where log(a / b) is not",
        m => (m["a"].Expr.Log() - m["b"].Expr.Log()).Node) { Stabilizes = true };

    /// <summary><c>log(a * b) => log(a) + log(b)</c> under the same conditions as <see cref="LogOfQuotient"/>: a scaled
    /// probability such as <c>log(0.1 * sigmoid(x))</c> (the sigmoid rule's <c>c / (1 + exp(-x))</c>) then ends as
    /// log(0.1) + log_sigmoid(x), finite where the product underflows.</summary>
    public static readonly Rule LogOfProduct = new("log-of-product", "log(a * b) => log(a) + log(b)   if a, b >= 0 and a or b is softmax, sigmoid or exp", typeof(LogOp),
        n => n.Inputs[0].Op is MulOp && n.Inputs[0].Inputs.Any(i => i.Op is SoftmaxOp or SigmoidOp or ExpOp) && n.Inputs[0].Inputs.All(i => i.Shape == n.Shape || i.Shape.Size == 1)
            ? M(n)!.Bind("a", n.Inputs[0].Inputs[0]).Bind("b", n.Inputs[0].Inputs[1]).Interior(n.Inputs[0]) : null,
        m => (Facts.NonNegative(m["a"]) is null) && (Facts.NonNegative(m["b"]) is null) ? null
            : $"{Text.Printer.Brief((Facts.NonNegative(m["a"]) is null) ? m["b"] : m["a"])} is not known to be >= 0, so log(a) + log(b) could be NaN where log(a * b) is not",
        m => (m["a"].Expr.Log() + m["b"].Expr.Log()).Node) { Stabilizes = true };

    /// <summary><c>exp(a) / sum(exp(b), axis=A) => exp(a - logsumexp(b, axis=A))</c> (keepdims carried over), for the
    /// quotients the <c>softmax</c> rule leaves: a numerator and denominator from different exp nodes (a clipped numerator),
    /// several axes, or keepdims=false. exp(a)/Σexp(b) = exp(a − log Σ exp(b)) exactly, and the right side never computes
    /// inf/inf.</summary>
    public static readonly Rule ExpOverSumExp = new("exp-over-sum-exp", "exp(a) / sum(exp(b), axis=A) => exp(a - logsumexp(b, axis=A))", typeof(DivOp),
        n => n.Inputs[0].Op is ExpOp && n.Inputs[1].Op is SumOp && n.Inputs[1].Inputs[0].Op is ExpOp
            ? M(n)!.Bind("a", n.Inputs[0].Inputs[0]).Bind("b", n.Inputs[1].Inputs[0].Inputs[0]).Bind("s", n.Inputs[1])
                .Interior(n.Inputs[0], n.Inputs[1], n.Inputs[1].Inputs[0]) : null,
        m =>
        {
            var s = (SumOp)m["s"].Op;
            return (m["a"].Expr - m["b"].Expr.LogSumExp(s.Axes.ToArray(), s.KeepDims)).Exp().Node;
        }) { Stabilizes = true };

    /// <summary><c>exp(log_softmax(x, axis=a)) => softmax(x, axis=a)</c> (PyTensor's <c>local_exp_log_softmax</c>).</summary>
    public static readonly Rule SoftmaxFromExpLogSoftmax = new("softmax-from-exp-log-softmax", "exp(log_softmax(x, axis=a)) => softmax(x, axis=a)", typeof(ExpOp),
        n => n.Inputs[0].Op is LogSoftmaxOp l ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Bind("a", l.Axis).Interior(n.Inputs[0]) : null,
        m => m["x"].Expr.Softmax(m.Int("a")).Node) { Stabilizes = true };
}
