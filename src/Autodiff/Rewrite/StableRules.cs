namespace Autodiff.Rewrite;

/// <summary>The stabilize rules for the spellings people write (docs/rules.md, "Stable elementary rewrites" and "Spellings"):
/// PyTensor's stabilize rewrites onto log1p, expm1, log1mexp, logdiffexp and sigmoid, and the rules that keep entropy, KL,
/// guards and hand-written normalisations stable.</summary>
public static partial class Rules
{
    private static bool SameShapeAs(Node inner, Node outer) => inner.Shape == outer.Shape;

    /// <summary>u where <paramref name="n"/> is <c>-u</c>.</summary>
    private static Node? Negated(Node n) => n.Op is NegOp ? n.Inputs[0] : null;

    /// <summary>−x, without a double negation.</summary>
    private static Expr Minus(Node x) => x.Op is NegOp ? x.Inputs[0].Expr : -x.Expr;

    /// <summary>x where <paramref name="n"/> is <c>1 - x</c> with x of n's shape.</summary>
    private static Node? OneMinus(Node n) =>
        n.Op is SubOp && Facts.IsConstant(n.Inputs[0], 1) && SameShapeAs(n.Inputs[1], n) ? n.Inputs[1] : null;

    /// <summary>x where <paramref name="n"/> is <c>1 + x</c> or <c>x + 1</c> with x of n's shape.</summary>
    private static Node? OnePlus(Node n)
    {
        if (n.Op is not AddOp) return null;
        for (int i = 0; i < 2; i++)
            if (Facts.IsConstant(n.Inputs[1 - i], 1) && SameShapeAs(n.Inputs[i], n)) return n.Inputs[i];
        return null;
    }

    /// <summary>The rules onto log1p, expm1, log1mexp, logdiffexp and log1m_softmax, in the order they are tried (the more
    /// specific first: <c>log(1 - exp(x))</c> is log1mexp, not log1p(−exp(x))).</summary>
    public static readonly Rule[] LogOnePlus =
    [
        new("log1m-softmax", "log(1 - softmax(z, axis=a)) => log1m_softmax(z, axis=a)", typeof(LogOp),
            n => OneMinus(n.Inputs[0]) is { Op: SoftmaxOp s } q ? M(n)!.Bind("z", q.Inputs[0]).Bind("a", s.Axis).Interior(n.Inputs[0], q) : null,
            m => m["z"].Expr.Log1mSoftmax(m.Int("a")).Node) { Stabilizes = true },
        new("log1m-softmax", "log1p(-softmax(z, axis=a)) => log1m_softmax(z, axis=a)", typeof(Log1pOp),
            n => Negated(n.Inputs[0]) is { Op: SoftmaxOp s } q ? M(n)!.Bind("z", q.Inputs[0]).Bind("a", s.Axis).Interior(n.Inputs[0], q) : null,
            m => m["z"].Expr.Log1mSoftmax(m.Int("a")).Node) { Stabilizes = true },
        new("log1mexp", "log(1 - exp(x)) => log1mexp(x)", typeof(LogOp),
            n => OneMinus(n.Inputs[0]) is { Op: ExpOp } e ? M(n)!.Bind("x", e.Inputs[0]).Interior(n.Inputs[0], e) : null,
            m => m["x"].Expr.Log1mexp().Node) { Stabilizes = true },
        new("log1mexp", "log(-expm1(x)) => log1mexp(x)", typeof(LogOp),
            n => Negated(n.Inputs[0]) is { Op: Expm1Op } e ? M(n)!.Bind("x", e.Inputs[0]).Interior(n.Inputs[0], e) : null,
            m => m["x"].Expr.Log1mexp().Node) { Stabilizes = true },
        new("log1mexp", "log1p(-exp(x)) => log1mexp(x)", typeof(Log1pOp),
            n => Negated(n.Inputs[0]) is { Op: ExpOp } e ? M(n)!.Bind("x", e.Inputs[0]).Interior(n.Inputs[0], e) : null,
            m => m["x"].Expr.Log1mexp().Node) { Stabilizes = true },
        new("softplus", "log1p(exp(x)) => softplus(x)", typeof(Log1pOp),
            n => n.Inputs[0].Op is ExpOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Interior(n.Inputs[0]) : null,
            m => m["x"].Expr.Softplus().Node) { Stabilizes = true },
        new("log-sigmoid", "log1p(-sigmoid(x)) => log_sigmoid(-x)", typeof(Log1pOp),
            n => Negated(n.Inputs[0]) is { Op: SigmoidOp } s ? M(n)!.Bind("x", s.Inputs[0]).Interior(n.Inputs[0], s) : null,
            m => Minus(m["x"]).LogSigmoid().Node) { Stabilizes = true },
        new("logdiffexp", "log(exp(a) - exp(b)) => logdiffexp(a, b)", typeof(LogOp),
            n => n.Inputs[0].Op is SubOp && n.Inputs[0].Inputs.All(i => i.Op is ExpOp)
                ? M(n)!.Bind("a", n.Inputs[0].Inputs[0].Inputs[0]).Bind("b", n.Inputs[0].Inputs[1].Inputs[0]).Interior(n.Inputs[0], n.Inputs[0].Inputs[0], n.Inputs[0].Inputs[1]) : null,
            m => m["a"].Expr.LogDiffExp(m["b"].Expr).Node) { Stabilizes = true },
        new("log1p", "log(1 + x) => log1p(x), log(1 - x) => log1p(-x)", typeof(LogOp),
            n => OnePlus(n.Inputs[0]) is { } x ? M(n)!.Bind("x", x).Interior(n.Inputs[0])
               : OneMinus(n.Inputs[0]) is { } y ? M(n)!.Bind("y", y).Interior(n.Inputs[0]) : null,
            m => (m.Root.Inputs[0].Op is AddOp ? m["x"].Expr : Minus(m["y"])).Log1p().Node) { Stabilizes = true },
        new("log1p-from-softplus", "softplus(log(x)) => log1p(x)", typeof(SoftplusOp),
            n => n.Inputs[0].Op is LogOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Interior(n.Inputs[0]) : null,
            m => m["x"].Expr.Log1p().Node) { Stabilizes = true },
    ];

    /// <summary>The rules onto expm1, sigmoid and exp of a smaller argument.</summary>
    public static readonly Rule[] ExpForms =
    [
        new("expm1", "exp(x) - 1 => expm1(x), exp(x) + (-1) => expm1(x)", typeof(SubOp),
            n => n.Inputs[0].Op is ExpOp && Facts.IsConstant(n.Inputs[1], 1) && SameShapeAs(n.Inputs[0], n)
                ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Interior(n.Inputs[0]) : null,
            m => m["x"].Expr.Expm1().Node) { Stabilizes = true },
        new("expm1", "exp(x) - 1 => expm1(x), exp(x) + (-1) => expm1(x)", typeof(AddOp),
            n => Enumerable.Range(0, 2).Where(i => n.Inputs[i].Op is ExpOp && Facts.IsConstant(n.Inputs[1 - i], -1) && SameShapeAs(n.Inputs[i], n))
                .Select(i => M(n)!.Bind("x", n.Inputs[i].Inputs[0]).Interior(n.Inputs[i])).FirstOrDefault(),
            m => m["x"].Expr.Expm1().Node) { Stabilizes = true },
        new("sqrt-of-exp", "sqrt(exp(x)) => exp(0.5 * x)", typeof(SqrtOp),
            n => n.Inputs[0].Op is ExpOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Interior(n.Inputs[0]) : null,
            m => (m["x"].Expr * 0.5).Exp().Node) { Stabilizes = true },
        new("sigmoid-from-exp-ratio", "exp(x) / (1 + exp(x)) => sigmoid(x)", typeof(DivOp),
            n => n.Inputs[0].Op is ExpOp && OnePlus(n.Inputs[1]) is { } e && ReferenceEquals(e, n.Inputs[0]) && SameShapeAs(e, n)
                ? M(n)!.Bind("x", e.Inputs[0]).Interior(n.Inputs[0], n.Inputs[1]) : null,
            m => m["x"].Expr.Sigmoid().Node) { Stabilizes = true },
        new("sigmoid-times-exp", "exp(x) * sigmoid(-x) => sigmoid(x)", typeof(MulOp),
            n => Enumerable.Range(0, 2).Where(i => n.Inputs[i].Op is ExpOp && n.Inputs[1 - i].Op is SigmoidOp && SameShapeAs(n.Inputs[i], n)
                    && Opposite(n.Inputs[i].Inputs[0], n.Inputs[1 - i].Inputs[0]))
                .Select(i => M(n)!.Bind("x", n.Inputs[i].Inputs[0]).Interior(n.Inputs[0], n.Inputs[1])).FirstOrDefault(),
            m => m["x"].Expr.Sigmoid().Node) { Stabilizes = true },
        new("odds-of-sigmoid", "sigmoid(x) / sigmoid(-x) => exp(x)   (1 - sigmoid(x) is sigmoid(-x) by then)", typeof(DivOp),
            n => n.Inputs[0].Op is SigmoidOp && n.Inputs[1].Op is SigmoidOp && Opposite(n.Inputs[0].Inputs[0], n.Inputs[1].Inputs[0]) && SameShapeAs(n.Inputs[0], n)
                ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Interior(n.Inputs[0], n.Inputs[1]) : null,
            m => m["x"].Expr.Exp().Node) { Stabilizes = true },
        new("div-by-exp", "a / exp(b) => a * exp(-b)", typeof(DivOp),
            n => n.Inputs[1].Op is ExpOp ? M(n)!.Bind("a", n.Inputs[0]).Bind("b", n.Inputs[1].Inputs[0]).Interior(n.Inputs[1]) : null,
            m => (m["a"].Expr * Minus(m["b"]).Exp()).Node) { Stabilizes = true },
    ];

    /// <summary><c>a / (1 + exp(u)) => a * sigmoid(-u)</c> (<c>sigmoid(-u)</c> when a is 1) in every shape earlier rules
    /// leave: <c>0.1 / (1 + exp(-x))</c> after <c>mul-by-reciprocal</c>, <c>1 / (1 + exp(u))</c> after
    /// <c>double-negation</c>, <c>y / (exp(-x) + 1)</c>. Tried after <c>sigmoid-from-exp-ratio</c>, which would otherwise
    /// become exp(x)·σ(−x) = inf·0.</summary>
    public static readonly Rule SigmoidGeneral = new("sigmoid", "a / (1 + exp(u)) => a * sigmoid(-u)   (1 / (1 + exp(-x)) => sigmoid(x))", typeof(DivOp),
        n => OnePlus(n.Inputs[1]) is { Op: ExpOp } e && e.Shape == n.Shape ? M(n)!.Bind("a", n.Inputs[0]).Bind("u", e.Inputs[0]).Interior(n.Inputs[1]) : null,
        m =>
        {
            var s = Minus(m["u"]).Sigmoid();
            return (Facts.IsConstant(m["a"], 1) ? s : m["a"].Expr * s).Node;
        }) { Stabilizes = true };

    /// <summary><c>sum(x^p, axis=a)^q => pnorm(x, p, axis=a)</c> for an x proved ≥ 0 (so x^p = |x|^p for any p ≥ 1) and
    /// q = 1/p: the p-norm after <c>abs-of-nonnegative</c> dropped the abs of <c>abs(softplus(x))^3</c>. Hand-written and
    /// first among the <c>pnorm-from-naive</c> variants: it matches only when proved, so it does not decide for them.</summary>
    public static readonly Rule PNormOfNonNegative = new("pnorm-from-naive", "sum(x^p, axis=a)^(1/p) => pnorm(x, p, axis=a)   if x >= 0", typeof(PowOp),
        n =>
        {
            if (Facts.Constant(n.Inputs[1]) is not double q || n.Inputs[0].Op is not SumOp || n.Shape != n.Inputs[0].Shape) return null;
            var e = n.Inputs[0].Inputs[0];
            if (e.Op is not PowOp || Facts.Constant(e.Inputs[1]) is not double p || !(p >= 1) || e.Shape != e.Inputs[0].Shape) return null;
            double tol = n.DType == DType.F32 ? 2.5e-7 : 1e-12;
            return Math.Abs(q * p - 1) <= tol && e.Inputs[0].Op is not AbsOp && Facts.NonNegative(e.Inputs[0]) is null
                ? M(n)!.Bind("x", e.Inputs[0]).Interior(n.Inputs[0], e) : null;
        },
        m =>
        {
            var s = (SumOp)m.Root.Inputs[0].Op;
            return m.Root.Builder.Make(new PNormOp(Facts.Constant(m.Root.Inputs[0].Inputs[0].Inputs[1])!.Value, s.Axes, s.KeepDims), m["x"]);
        }) { Stabilizes = true };

    /// <summary>True when one of <paramref name="a"/> and <paramref name="b"/> is the negation of the other.</summary>
    private static bool Opposite(Node a, Node b) => ReferenceEquals(Negated(a), b) || ReferenceEquals(Negated(b), a);
}
