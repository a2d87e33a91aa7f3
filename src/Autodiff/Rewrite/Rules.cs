namespace Autodiff.Rewrite;

/// <summary>The rule catalogue (see docs/rules.md for each rule's derivation), grouped into the phases
/// canonicalize → stabilize → fuse. Rules are patterns in the expression language (<see cref="PatternRule"/>), run by one
/// generic matcher; the few that a pattern cannot express keep a hand-written matcher, with the reason beside it. The small
/// algebra of <see cref="Canonical"/> runs in every phase, so the patterns of later phases see canonical forms (negations
/// pulled out of products and reductions, reciprocals turned into divisions, redundant reshapes and broadcasts dropped).</summary>
public static partial class Rules
{
    private const RuleSharing Free = RuleSharing.Free;

    /// <summary>A rule written as a pattern. <paramref name="sharing"/>: <see cref="RuleSharing.Free"/> for a rule that
    /// removes no work; <paramref name="ordered"/>: match commutative operands only as written, so the replacement keeps
    /// the program's operand order (such rules list both orders).</summary>
    private static Rule P(string name, string text, RuleSharing sharing = RuleSharing.Guard, bool ordered = false) =>
        PatternRule.Parse(name, text, sharing, ordered).ToRule();

    private static Match? M(Node root) => new(root);

    private static readonly string[] Binary = ["+", "-", "*", "/"];

    private static IEnumerable<Rule> ForOperators(string name, string[] ops, Func<string, string> text) =>
        ops.Select(op => P(name, text(op), Free, ordered: true));

    /// <summary>Rules for the binary ops <c>+ - * /</c> written infix, and <c>maximum minimum</c> as calls, and <c>^</c>.</summary>
    private static string Apply(string op, string a, string b) => op.Length == 1 ? $"{a} {op} {b}" : $"{op}({a}, {b})";

    // ---------------------------------------------------------------- canonicalize

    /// <summary>Scalar subexpressions of constants become one constant (never across stop_gradient). Hand-written: it
    /// applies to every elementwise op whatever its arity, and a pattern names one op.</summary>
    public static readonly Rule FoldConstants = new("fold-constants", "op(c1, c2, ...) => c   (scalar constants)", typeof(Op),
        n => n.Inputs.Count > 0 && n.Shape.Rank == 0 && n.DType.IsFloat() && n.Op is (UnaryOp or BinaryOp) and not StopGradientOp
             && n.Inputs.All(i => i.Op is ConstantOp) ? M(n) : null,
        m =>
        {
            // The op's own forward kernel on the constants (not a tape over a graph of the builder: that cost the size of
            // the builder's input list and of its node table for every fold).
            var n = m.Root;
            var operands = n.Inputs.Select(i => Tensor.Scalar(((ConstantOp)i.Op).Value, i.DType)).ToArray();
            var value = Tensor.Zeros(n.DType, n.Shape);
            n.Op.Forward(new OpContext(n, operands, value, n.Op.CreateState(n), new Tensor?[operands.Length], new GradientWrite[operands.Length]));
            return n.Builder.Constant(value.GetDouble(0), n.DType).Node;
        });

    /// <summary>The small algebra: signs, identities, keepdims, implicit broadcasting and layout. Each gives the same values
    /// bit for bit (but <c>mul-by-reciprocal</c>, rounded once instead of twice).</summary>
    public static readonly Rule[] Algebra =
    [
        P("double-negation", "-(-x) => x", Free),
        P("mul-by-one", "x * 1 => x", Free),
        P("div-by-one", "x / 1 => x", Free),
        P("add-negation", "a + (-b) => a - b", Free),
        P("mul-by-reciprocal", "a * (1 / b) => a / b"),
        P("neg-out-of-mul", "(-a) * b => -(a * b)", Free, ordered: true),
        P("neg-out-of-mul", "a * (-b) => -(a * b)", Free, ordered: true),
        P("neg-out-of-div", "(-a) / b => -(a / b)", Free),
        P("neg-out-of-reduction", "sum(-x, axis=a, keepdims=k) => -sum(x, axis=a, keepdims=k)", Free),
        P("neg-out-of-reduction", "mean(-x, axis=a, keepdims=k) => -mean(x, axis=a, keepdims=k)", Free),
        P("neg-out-of-take", "take(-x, t, axis=a) => -take(x, t, axis=a)", Free),
        .. new[] { "sum", "mean", "max", "min", "prod", "logsumexp" }.Select(r =>
            P("keepdims-from-reshape", $"reshape({r}(x, axis=a), shape=s) => {r}(x, axis=a, keepdims=true)", Free)),
        P("keepdims-from-reshape", "reshape(pnorm(x, p=p, axis=a), shape=s) => pnorm(x, p=p, axis=a, keepdims=true)", Free),
        .. ForOperators("implicit-broadcast", [.. Binary, "maximum", "minimum", "^"], op => $"{Apply(op, "broadcast_to(a, shape=s)", "b")} => {Apply(op, "a", "b")}"),
        .. ForOperators("implicit-broadcast", [.. Binary, "maximum", "minimum", "^"], op => $"{Apply(op, "a", "broadcast_to(b, shape=s)")} => {Apply(op, "a", "b")}"),
        P("reshape-of-reshape", "reshape(reshape(x, shape=s), shape=t) => reshape(x, shape=t)", Free),
        P("broadcast-of-broadcast", "broadcast_to(broadcast_to(x, shape=s), shape=t) => broadcast_to(x, shape=t)", Free),
        P("broadcast-one-element", "reshape(broadcast_to(c, shape=s), shape=t) => broadcast_to(c, shape=t) if one_element(c)", Free),
        P("broadcast-one-element", "broadcast_to(reshape(c, shape=s), shape=t) => broadcast_to(c, shape=t) if one_element(c)", Free),
        // Broadcasts move outward past cheap exact elementwise ops, so a backward graph's seed
        // (broadcast_to(reshape(-1, shape=1), shape=n) / n) becomes one broadcast constant that implicit-broadcast folds.
        .. ForOperators("broadcast-out-of-arithmetic", Binary, op => $"broadcast_to(x, shape=s) {op} b => broadcast_to(x {op} b, shape=s)"),
        .. ForOperators("broadcast-out-of-arithmetic", Binary, op => $"a {op} broadcast_to(y, shape=s) => broadcast_to(a {op} y, shape=s)"),
        P("broadcast-out-of-arithmetic", "-broadcast_to(x, shape=s) => broadcast_to(-x, shape=s)", Free),
    ];

    /// <summary><c>a - c·t => a + (-c)·t</c> and <c>a + c·t => a - (-c)·t</c> where the right operand is a product or
    /// quotient chain whose leftmost factor is a negative scalar constant c (a backward graph's <c>x - -0.1 * y / p</c>
    /// becomes <c>x + 0.1 * y / p</c>). Exact: negating c negates the chain's value bit for bit, and a − y is a + (−y).
    /// Backward graphs only (<see cref="BackwardCanonicalize"/>), like <see cref="ReduceOverSizeOne"/>.</summary>
    /// <remarks>Hand-written: the chain of * and / is variadic, and a pattern has a fixed depth.</remarks>
    public static readonly Rule[] NegativeFactor =
    [
        .. new[] { typeof(AddOp), typeof(SubOp) }.Select(t => new Rule("negative-factor",
            "a - c * t => a + (-c) * t, a + c * t => a - (-c) * t   (c a negative scalar constant, leftmost in a chain of * and /)", t,
            n => NegativeLeftmost(n.Inputs[1]) ? M(n)!.Bind("a", n.Inputs[0]).Bind("t", n.Inputs[1]) : null,
            m =>
            {
                var flipped = Flip(m["t"]);
                return (m.Root.Op is SubOp ? m["a"].Expr + flipped : m["a"].Expr - flipped).Node;
            })),
    ];

    /// <summary>True when the leftmost leaf of a chain of * and / is a scalar constant below 0.</summary>
    private static bool NegativeLeftmost(Node n)
    {
        n = LeftmostFactor(n);
        return n.Op is ConstantOp { Value: < 0 } && n.Shape.Size == 1;
    }

    /// <summary>The leftmost leaf below <paramref name="n"/> through * and /, memoized per node: every sum of a backward graph
    /// asks about its right operand, and a long product chain under many sums would otherwise be walked once per sum.</summary>
    private static Node LeftmostFactor(Node n)
    {
        if (n.Op is not (MulOp or DivOp)) return n;
        if (LeftmostFactors.TryGetValue(n, out var known)) return known;
        var chain = new List<Node>();
        var leaf = n;
        while (leaf.Op is MulOp or DivOp && !LeftmostFactors.TryGetValue(leaf, out known))
        {
            chain.Add(leaf);
            leaf = leaf.Inputs[0];
        }
        leaf = known ?? leaf;
        foreach (var link in chain) LeftmostFactors.AddOrUpdate(link, leaf);
        return leaf;
    }

    private static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Node, Node> LeftmostFactors = new();

    /// <summary>The chain with its leftmost constant c replaced by −c (iterative: a product of a million factors is one walk).</summary>
    private static Expr Flip(Node n)
    {
        var chain = new Stack<Node>();
        for (; n.Op is MulOp or DivOp; n = n.Inputs[0]) chain.Push(n);
        var c = (ConstantOp)n.Op;
        var flipped = n.Builder.Constant(-c.Value, c.Type).Node;
        while (chain.TryPop(out var link)) flipped = n.Builder.Make(link.Op, flipped, link.Inputs[1]);
        return flipped.Expr;
    }

    /// <summary>Sums and means over size-1 axes become reshapes (<c>squeeze</c> is a reshape). Only for backward graphs
    /// (<see cref="BackwardCanonicalize"/>): in a forward graph it would hide <c>sqrt(sum(square(x), axis=a))</c> and
    /// <c>sum(abs(x)^p, axis=a)^(1/p)</c> over a single class from <c>pnorm-from-naive</c>, whose gradient at the zero vector
    /// is 0 where the hand-written chain's is 0·inf = NaN. The same values bit for bit, except that it keeps a −0 that the
    /// sum kernel turns into +0.</summary>
    public static readonly Rule[] ReduceOverSizeOne =
    [
        .. new[] { "sum", "mean" }.SelectMany(r => new[]
        {
            P("reduce-over-size-one", $"{r}(x, axis=a) => squeeze(x, axis=a) when size_one(x, a)", Free),
            P("reduce-over-size-one", $"{r}(x, axis=a, keepdims=true) => x when size_one(x, a)", Free),
        }),
    ];

    /// <summary>The small algebra that runs in every phase.</summary>
    public static IReadOnlyList<Rule> Canonical { get; } = [FoldConstants, .. Algebra];

    /// <summary>The first phase: the small algebra of <see cref="Canonical"/> alone.</summary>
    public static RuleSet Canonicalize { get; } = new("canonicalize", Canonical);

    /// <summary>What <c>autodiff grad</c> runs on backward graphs: <see cref="Canonical"/>, <see cref="ReduceOverSizeOne"/>
    /// and <see cref="NegativeFactor"/>.</summary>
    public static RuleSet BackwardCanonicalize { get; } = new("canonicalize", [.. Canonical, .. ReduceOverSizeOne, .. NegativeFactor]);

    // ---------------------------------------------------------------- stabilize

    /// <summary>Softmax, log-softmax and log-sum-exp recognised in their hand-written forms.</summary>
    public static readonly Rule[] Normalizers =
    [
        P("softmax", "exp(x) / sum(exp(y), axis=a, keepdims=k) => softmax(x, axis=a) if same_exponent(x, y) and one_axis(a) and keepdims(k)"),
        P("softmax-shift", "softmax(x - c, axis=a) => softmax(x, axis=a) if constant_along(c, x, a)", Free),
        P("logsumexp", "log(sum(exp(x), axis=a, keepdims=k)) => logsumexp(x, axis=a, keepdims=k)"),
    ];

    /// <summary><c>m + logsumexp(x - c, axis=a) => logsumexp(x, axis=a)</c> when c is constant along a and m holds c's
    /// numbers (the hand-written max shift <c>m + log(sum(exp(x - m)))</c>, with m as c itself, a reshape of it, or the same
    /// reduction without keepdims: <see cref="Facts.SameValues"/>).</summary>
    public static readonly Rule LogSumExpShift = P("logsumexp-shift",
        "m + logsumexp(x - c, axis=a, keepdims=k) => logsumexp(x, axis=a, keepdims=k) when constant_along(c, x, a) and same_values(m, c)");

    /// <summary>Log-softmax from its naive forms, and the shift it ignores.</summary>
    public static readonly Rule[] LogSoftmax =
    [
        P("log-softmax", "log(softmax(x, axis=a)) => log_softmax(x, axis=a)"),
        P("log-softmax-from-logsumexp", "x - logsumexp(x, axis=a, keepdims=k) => log_softmax(x, axis=a) if one_axis(a) and keepdims(k)"),
        P("log-softmax-shift", "log_softmax(x - c, axis=a) => log_softmax(x, axis=a) if constant_along(c, x, a)", Free),
    ];

    /// <summary>The elementwise stabilisations.</summary>
    public static readonly Rule[] Elementwise =
    [
        P("log-of-exp", "log(exp(x)) => x", Free),
        P("softplus", "log(1 + exp(x)) => softplus(x)"),
        P("log-sigmoid", "log(sigmoid(x)) => log_sigmoid(x)"),
        // Stabilises the cancellation of 1 - sigmoid(x) (0 for x above ~37 in f64), and un-shares sigmoid(x) in binary
        // cross-entropy so both logs become log_sigmoid: so it fires under both sharing policies, noting the recompute.
        P("one-minus-sigmoid", "1 - sigmoid(x) => sigmoid(-x)", RuleSharing.FireAndNote),
        // The NCE posteriors in the seed's spelling, u/(u + k·q) and k·q/(u + k·q) with u = exp(s): the ratio overflows to
        // inf/inf = NaN once s passes ~709 (f64) and underflows to log(0) below ~−745; log σ(s − log(k·q)) is finite.
        P("nce-posterior", "log(exp(s) / (exp(s) + c)) => log_sigmoid(s - log(c)) if positive(c)"),
        P("nce-noise-posterior", "log(c / (exp(s) + c)) => log_sigmoid(log(c) - s) if positive(c)"),
        P("logaddexp", "log(exp(a) + exp(b)) => logaddexp(a, b)"),
        // The truncated Gumbel of stochastic beam search as written (docs/stochastic.md); + is commutative in the matcher,
        // so the two groupings cover every order of the three terms.
        P("truncated-gumbel", "log(exp(-t) - exp(-z) + exp(-g)) => -truncated_gumbel(g, z, t)"),
        P("truncated-gumbel", "log(exp(-t) + exp(-g) - exp(-z)) => -truncated_gumbel(g, z, t)"),
    ];

    /// <summary><c>exp(sum(log(x), axis=a)) => prod(x, axis=a)</c> where x is proved &gt; 0: the log trick undone, so the
    /// gradient is the exact leave-one-out product instead of exp(·)/x, and no log or exp is computed. The naive p-norm
    /// <c>sum(abs(x)^p, axis=a)^(1/p) => pnorm(x, p, axis=a)</c> for a constant p &gt;= 1, also <c>x^p</c> for an even p
    /// and <c>square(x)</c> or <c>x * x</c> under <c>sqrt</c> or a power. The variants of one rule share its name: the first
    /// whose pattern matches decides (its near miss is the rule's).</summary>
    public static readonly Rule[] Products =
    [
        P("prod-from-exp-sum-log", "exp(sum(log(x), axis=a, keepdims=k)) => prod(x, axis=a, keepdims=k) if positive(x)"),
        .. new[] { "^ constant(q)", "sqrt" }.SelectMany(outer => new[]
        {
            ("abs(x) ^ constant(p)", "p", "pnorm_power(p) and "),
            ("square(x)", "2", ""),
            ("x * x", "2", ""),
            ("x ^ constant(p)", "p", "pnorm_power(p) and even_power(p) and "),
        }.Select(inner =>
        {
            string sum = $"sum({inner.Item1}, axis=a, keepdims=k)";
            string lhs = outer == "sqrt" ? $"sqrt({sum})" : $"{sum} {outer}";
            string check = inner.Item3 + (outer == "sqrt" ? $"reciprocal(0.5, {inner.Item2})" : $"reciprocal(q, {inner.Item2})");
            return P("pnorm-from-naive", $"{lhs} => pnorm(x, p={inner.Item2}, axis=a, keepdims=k) if {check}".Replace(" if reciprocal(0.5, 2)", ""));
        })),
    ];

    // ---------------------------------------------------------------- fuse

    /// <summary><c>sum(p * log_softmax(z, axis=a), axis=a) => -softmax_cross_entropy(z, p, axis=a)</c> (after the negation
    /// is pulled out, this is how <c>-sum(p * log(q), axis=a)</c> arrives); reductions over more axes keep the rest.
    /// Precondition: p's rows along a are proved to sum to 1, so the fused gradient q − p is exact.</summary>
    /// <remarks>Hand-written: the right side reduces the sum's other axes, re-indexed after removing a, which a pattern
    /// cannot compute.</remarks>
    public static readonly Rule CrossEntropy = new("softmax-cross-entropy", "-sum(p * log_softmax(z, axis=a), axis=a) => softmax_cross_entropy(z, p, axis=a)   if rows of p sum to 1", typeof(SumOp),
        n => CrossEntropyMatch(n),
        CrossEntropyPrecondition,
        m =>
        {
            var (z, p, a) = (m["z"].Expr, m["p"].Expr, m.Int("a"));
            var ce = z.SoftmaxCrossEntropy(p, a, targetsSumToOne: true);
            return (-ReduceRest(ce, (ReduceOp)m.Root.Op, a, false)).Node;
        });

    /// <summary><c>mean(p * log_softmax(z, axis=a), axes ∋ a) => -mean(softmax_cross_entropy(z, p, axis=a), rest) / C</c>.</summary>
    public static readonly Rule CrossEntropyMean = CrossEntropy with
    {
        Name = "softmax-cross-entropy-mean",
        Pattern = "mean(p * log_softmax(z, axis=a), axis=(a, ...)) => -mean(softmax_cross_entropy(z, p, axis=a), ...) / C   if rows of p sum to 1",
        Root = typeof(MeanOp),
        Build = m =>
        {
            var (z, p, a) = (m["z"].Expr, m["p"].Expr, m.Int("a"));
            var ce = z.SoftmaxCrossEntropy(p, a, targetsSumToOne: true);
            return (-ReduceRest(ce, (ReduceOp)m.Root.Op, a, true) / z.Shape[a]).Node;
        },
    };

    private static Match? CrossEntropyMatch(Node n)
    {
        var prod = n.Inputs[0];
        if (prod.Op is not MulOp) return null;
        for (int i = 0; i < 2; i++)
        {
            Node ls = prod.Inputs[i], p = prod.Inputs[1 - i];
            if (ls.Op is LogSoftmaxOp l && p.Shape == ls.Shape && prod.Shape == ls.Shape)
                return M(n)!.Bind("z", ls.Inputs[0]).Bind("p", p).Bind("a", l.Axis).Interior(prod, ls);
        }
        return null;
    }

    private static string? CrossEntropyPrecondition(Match m)
    {
        var r = (ReduceOp)m.Root.Op;
        int a = m.Int("a");
        if (!r.Axes.Contains(a)) return $"the {m.Root.Op.Name} runs over axis {r.Axes} but log_softmax normalises along axis {a}";
        return Facts.SumsToOne(m["p"], a);
    }

    /// <summary>Applies the reduction's other axes (re-indexed after removing <paramref name="a"/>) to the per-row loss.</summary>
    private static Expr ReduceRest(Expr perRow, ReduceOp r, int a, bool mean)
    {
        var rest = r.Axes.Where(x => x != a).Select(x => x > a ? x - 1 : x).ToArray();
        var y = rest.Length == 0 ? perRow : mean ? perRow.Mean(rest, r.KeepDims) : perRow.Sum(rest, r.KeepDims);
        return r.KeepDims ? y.Unsqueeze(a) : y;
    }

    /// <summary>Cross-entropy from a gathered log-softmax, and the one-hot form turned sparse.</summary>
    public static readonly Rule[] Sparse =
    [
        P("sparse-softmax-cross-entropy", "take(log_softmax(z, axis=a), t, axis=b) => -sparse_softmax_cross_entropy(z, t, axis=a) if indexes(t, z) and gathers_along(b, a)"),
        P("sparse-from-one-hot", "softmax_cross_entropy(z, one_hot(t, c, dtype=d), axis=-1, normalized=n) => sparse_softmax_cross_entropy(z, t)", Free),
        P("linear-softmax-cross-entropy", "sparse_softmax_cross_entropy(matmul(h, w) + b, t, axis=1) => linear_softmax_cross_entropy(h, w, t, bias=b) if linear_bias(h, w, b)"),
        P("linear-softmax-cross-entropy", "sparse_softmax_cross_entropy(matmul(h, w) + b, t, axis=1, ignore_index=k) => linear_softmax_cross_entropy(h, w, t, bias=b, ignore_index=k) if linear_bias(h, w, b)"),
        P("linear-softmax-cross-entropy", "sparse_softmax_cross_entropy(matmul(h, w), t, axis=1) => linear_softmax_cross_entropy(h, w, t) if linear(h, w)"),
        P("linear-softmax-cross-entropy", "sparse_softmax_cross_entropy(matmul(h, w), t, axis=1, ignore_index=k) => linear_softmax_cross_entropy(h, w, t, ignore_index=k) if linear(h, w)"),
    ];

    private static IReadOnlyList<RuleSet>? _phases;

    /// <summary>The stabilize rules that only save work: under <see cref="SharingPolicy.StabilityFirst"/> they do not fuse
    /// through a shared node; every other stabilize rule removes a path to NaN or inf (<see cref="Rule.Stabilizes"/>).</summary>
    private static readonly HashSet<string> SavesWorkOnly = ["log-softmax-from-logsumexp", "prod-from-exp-sum-log"];

    private static IEnumerable<Rule> Stabilizing(IEnumerable<Rule> rules) =>
        rules.Select(r => SavesWorkOnly.Contains(r.Name) || r.Stabilizes ? r : r with { Stabilizes = true });

    /// <summary>The phases, in order (built on first use: the rules live in several files of this partial class, whose
    /// static fields initialise in no fixed order).</summary>
    public static IReadOnlyList<RuleSet> Phases => _phases ??=
    [
        Canonicalize,
        new("stabilize", [.. Canonical, .. Stabilizing([.. DropNonNegativeGuards, .. Normalizers.Take(1), ExpOverSumExp, .. Normalizers.Skip(1), SoftmaxFromExpLogSoftmax,
            LogSumExpShift, .. LogSoftmax, .. ExpForms, .. Elementwise.Take(2), .. SigmoidGeneral, .. Elementwise.Skip(2), .. LogOnePlus, .. LogOfQuotient, .. LogOfProduct,
            .. Products.Take(4), PNormOfNonNegative, .. Products.Skip(4)])]),
        new("fuse", [.. Canonical, CrossEntropy, CrossEntropyMean, .. Sparse]),
    ];

    /// <summary>Every distinct rule name in the catalogue.</summary>
    public static IEnumerable<string> Names => Phases.Append(BackwardCanonicalize).SelectMany(p => p.Rules).Select(r => r.Name).Distinct();

    /// <summary>Every rule of the catalogue once (a rule in several phases counted once).</summary>
    public static IEnumerable<Rule> All => Phases.Append(BackwardCanonicalize).SelectMany(p => p.Rules).Distinct();
}
