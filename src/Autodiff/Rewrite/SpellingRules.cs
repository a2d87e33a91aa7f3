namespace Autodiff.Rewrite;

/// <summary>Rules for the spellings of real programs (docs/rules.md, "Stability on real code"): guards that hide a softmax,
/// the ratio or product of two logs' arguments, a numerator and a denominator from different exp nodes, and exp of a
/// log_softmax.</summary>
public static partial class Rules
{
    /// <summary><c>abs(x) => x</c> and <c>relu(x) => x</c> when x is proved &gt; 0 (<see cref="Facts.Positive"/>: softmax,
    /// sigmoid, exp, …): a guard such as <c>log(abs(softmax(z)))</c> then no longer hides the softmax from
    /// <c>log-softmax</c>. Not merely ≥ 0: at an entry that is 0, abs and relu have gradient 0 where x has 1 (the
    /// soundness check finds it). <c>when</c>: an unproved abs is no near miss.</summary>
    public static readonly Rule[] DropNonNegativeGuards =
    [
        P("abs-of-nonnegative", "abs(x) => x when positive(x)"),
        P("relu-of-nonnegative", "relu(x) => x when positive(x)"),
    ];

    /// <summary>The ops whose log a later rule makes stable (<c>log-softmax</c>, <c>log-sigmoid</c>, <c>log-of-exp</c>).</summary>
    private static readonly string[] StableLogs = ["softmax(x, axis=c)", "sigmoid(x)", "exp(x)"];

    /// <summary><c>log(a / b) => log(a) - log(b)</c> when a or b is a softmax, sigmoid or exp (KL written as
    /// <c>p * log(p / q)</c>) and the other is proved ≥ 0 (the softmax, sigmoid or exp is), so the two forms agree
    /// everywhere. The softmax, sigmoid or exp is rebuilt unchanged on the right, so it is not interior.</summary>
    public static readonly Rule[] LogOfQuotient =
    [
        .. StableLogs.SelectMany(s => new[]
        {
            P("log-of-quotient", $"log({s} / b) => log({s}) - log(b) if nonneg(b)"),
            P("log-of-quotient", $"log(a / {s}) => log(a) - log({s}) if nonneg(a)"),
        }),
    ];

    /// <summary><c>log(a * b) => log(a) + log(b)</c> under the same conditions as <see cref="LogOfQuotient"/>: a scaled
    /// probability such as <c>log(0.1 * sigmoid(x))</c> (the sigmoid rule's <c>c / (1 + exp(-x))</c>) then ends as
    /// log(0.1) + log_sigmoid(x), finite where the product underflows. Ordered: the logs keep the factors' order.</summary>
    public static readonly Rule[] LogOfProduct =
    [
        .. StableLogs.SelectMany(s => new[]
        {
            P("log-of-product", $"log({s} * b) => log({s}) + log(b) if nonneg(b)", ordered: true),
            P("log-of-product", $"log(a * {s}) => log(a) + log({s}) if nonneg(a)", ordered: true),
        }),
    ];

    /// <summary><c>exp(a) / sum(exp(b), axis=A) => exp(a - logsumexp(b, axis=A))</c> (keepdims carried over), for the
    /// quotients the <c>softmax</c> rule leaves: a numerator and denominator from different exp nodes (a clipped numerator),
    /// several axes, or keepdims=false. exp(a)/Σexp(b) = exp(a − log Σ exp(b)) exactly, and the right side never computes
    /// inf/inf.</summary>
    public static readonly Rule ExpOverSumExp = P("exp-over-sum-exp",
        "exp(a) / sum(exp(b), axis=A, keepdims=k) => exp(a - logsumexp(b, axis=A, keepdims=k))");

    /// <summary><c>exp(log_softmax(x, axis=a)) => softmax(x, axis=a)</c> (PyTensor's <c>local_exp_log_softmax</c>).</summary>
    public static readonly Rule SoftmaxFromExpLogSoftmax = P("softmax-from-exp-log-softmax", "exp(log_softmax(x, axis=a)) => softmax(x, axis=a)");
}
