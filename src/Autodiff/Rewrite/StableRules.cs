namespace Autodiff.Rewrite;

/// <summary>The stabilize rules for the spellings people write (docs/rules.md, "Stability on real code"): PyTensor's
/// stabilize rewrites onto log1p, expm1, log1mexp, logdiffexp, log1m_softmax and sigmoid.</summary>
public static partial class Rules
{
    /// <summary>The rules onto log1p, expm1, log1mexp, logdiffexp and log1m_softmax, in the order they are tried (the more
    /// specific first: <c>log(1 - exp(x))</c> is log1mexp, not log1p(−exp(x))).</summary>
    public static readonly Rule[] LogOnePlus =
    [
        P("log1m-softmax", "log(1 - softmax(z, axis=a)) => log1m_softmax(z, axis=a)"),
        P("log1m-softmax", "log1p(-softmax(z, axis=a)) => log1m_softmax(z, axis=a)"),
        P("log1mexp", "log(1 - exp(x)) => log1mexp(x)"),
        P("log1mexp", "log(-expm1(x)) => log1mexp(x)"),
        P("log1mexp", "log1p(-exp(x)) => log1mexp(x)"),
        P("softplus", "log1p(exp(x)) => softplus(x)"),
        P("log-sigmoid", "log1p(-sigmoid(x)) => log_sigmoid(-x)"),
        P("logdiffexp", "log(exp(a) - exp(b)) => logdiffexp(a, b)"),
        P("log1p", "log(1 + x) => log1p(x)"),
        P("log1p", "log(1 - x) => log1p(-x)"),
        P("log1p-from-softplus", "softplus(log(x)) => log1p(x)"),
    ];

    /// <summary>The rules onto expm1, sigmoid and exp of a smaller argument. The right sides' <c>-x</c> and <c>-b</c> of an
    /// x that is itself a negation build its operand (see <see cref="PatternRule"/>), so <c>div-by-exp</c> turns
    /// <c>a / exp(-u)</c> into <c>a * exp(u)</c>.</summary>
    public static readonly Rule[] ExpForms =
    [
        P("expm1", "exp(x) - 1 => expm1(x)"),
        P("expm1", "exp(x) + -1 => expm1(x)"),
        P("sqrt-of-exp", "sqrt(exp(x)) => exp(x * 0.5)"),
        P("sigmoid-from-exp-ratio", "exp(x) / (1 + exp(x)) => sigmoid(x)"),
        P("sigmoid-times-exp", "exp(x) * sigmoid(-x) => sigmoid(x)"),
        P("sigmoid-times-exp", "exp(-x) * sigmoid(x) => sigmoid(-x)"),
        P("odds-of-sigmoid", "sigmoid(x) / sigmoid(-x) => exp(x)"),
        P("odds-of-sigmoid", "sigmoid(-x) / sigmoid(x) => exp(-x)"),
        P("div-by-exp", "a / exp(b) => a * exp(-b)"),
    ];

    /// <summary><c>a / (1 + exp(u)) => a * sigmoid(-u)</c> (<c>sigmoid(-u)</c> when a is 1) in every shape earlier rules
    /// leave: <c>1 / (1 + exp(-x))</c> as written, <c>0.1 / (1 + exp(-x))</c> after <c>mul-by-reciprocal</c>,
    /// <c>1 / (1 + exp(u))</c> after <c>double-negation</c>, <c>y / (exp(-x) + 1)</c>. Tried after
    /// <c>sigmoid-from-exp-ratio</c>, which would otherwise become exp(x)·σ(−x) = inf·0.</summary>
    public static readonly Rule[] SigmoidGeneral =
    [
        P("sigmoid", "1 / (1 + exp(u)) => sigmoid(-u)"),
        P("sigmoid", "a / (1 + exp(u)) => a * sigmoid(-u)"),
    ];

    /// <summary><c>sum(x^p, axis=a)^(1/p) => pnorm(x, p, axis=a)</c> for an x proved ≥ 0 (so x^p = |x|^p for any p ≥ 1):
    /// the p-norm after <c>abs-of-nonnegative</c> dropped the abs of <c>abs(softplus(x))^3</c>. A variant of
    /// <c>pnorm-from-naive</c> tried after the abs, square and product forms and before the even power: it matches only
    /// where x is proved ≥ 0 (<c>when</c>), so elsewhere the even-power variant decides.</summary>
    public static readonly Rule PNormOfNonNegative = P("pnorm-from-naive",
        "sum(x ^ constant(p), axis=a, keepdims=k) ^ constant(q) => pnorm(x, p=p, axis=a, keepdims=k) when nonneg(x) if pnorm_power(p) and reciprocal(q, p)");
}
