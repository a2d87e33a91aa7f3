namespace Autodiff.Rewrite;

/// <summary>The rule catalogue (see docs/rules.md for each rule's derivation), grouped into the phases
/// canonicalize → stabilize → fuse. The small algebra of <see cref="Canonical"/> runs in every phase, so the
/// patterns of later phases see canonical forms (negations pulled out of products and reductions, reciprocals turned
/// into divisions, redundant reshapes and broadcasts dropped).</summary>
public static class Rules
{
    private static bool Is<T>(Node n, out T op) where T : Op
    {
        if (n.Op is T t) { op = t; return true; }
        op = null!;
        return false;
    }

    private static bool SameShape(Node a, Node b) => a.Shape == b.Shape && a.DType == b.DType;

    private static Match? M(Node root) => new(root);

    // ---------------------------------------------------------------- canonicalize

    /// <summary>Scalar subexpressions of constants become one constant (never across stop_gradient).</summary>
    public static readonly Rule FoldConstants = new("fold-constants", "op(c1, c2, ...) => c   (scalar constants)", typeof(Op),
        n => n.Inputs.Count > 0 && n.Shape.Rank == 0 && n.DType.IsFloat() && n.Op is (UnaryOp or BinaryOp) and not StopGradientOp
             && n.Inputs.All(i => i.Op is ConstantOp) ? M(n) : null,
        m =>
        {
            var g = m.Root.Builder.Build(m.Root.Expr);
            var v = new Tape(g, []).Forward(new Dictionary<string, Tensor>()).GetDouble(0);
            return m.Root.Builder.Constant(v, m.Root.DType).Node;
        });

    /// <summary><c>-(-x) => x</c>.</summary>
    public static readonly Rule DoubleNegation = new("double-negation", "-(-x) => x", typeof(NegOp),
        n => n.Inputs[0].Op is NegOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]) : null,
        m => m["x"]);

    /// <summary><c>x * 1 => x</c>, <c>1 * x => x</c>, <c>x / 1 => x</c> when the shape is unchanged.</summary>
    public static readonly Rule[] Identities =
    [
        new("mul-by-one", "x * 1 => x", typeof(MulOp),
            n => Facts.IsConstant(n.Inputs[1], 1) && SameShape(n, n.Inputs[0]) ? M(n)!.Bind("x", n.Inputs[0])
               : Facts.IsConstant(n.Inputs[0], 1) && SameShape(n, n.Inputs[1]) ? M(n)!.Bind("x", n.Inputs[1]) : null,
            m => m["x"]),
        new("div-by-one", "x / 1 => x", typeof(DivOp),
            n => Facts.IsConstant(n.Inputs[1], 1) && SameShape(n, n.Inputs[0]) ? M(n)!.Bind("x", n.Inputs[0]) : null,
            m => m["x"]),
    ];

    /// <summary><c>a + (-b) => a - b</c> and <c>(-a) + b => b - a</c> (IEEE subtraction is addition of the negation).</summary>
    public static readonly Rule AddNegation = new("add-negation", "a + (-b) => a - b", typeof(AddOp),
        n => n.Inputs[1].Op is NegOp ? M(n)!.Bind("a", n.Inputs[0]).Bind("b", n.Inputs[1].Inputs[0])
           : n.Inputs[0].Op is NegOp ? M(n)!.Bind("a", n.Inputs[1]).Bind("b", n.Inputs[0].Inputs[0]) : null,
        m => (m["a"].Expr - m["b"].Expr).Node);

    /// <summary><c>a * (1 / b) => a / b</c> (either order).</summary>
    public static readonly Rule MulByReciprocal = new("mul-by-reciprocal", "a * (1 / b) => a / b", typeof(MulOp),
        n => Recip(n.Inputs[1]) is { } b1 ? M(n)!.Bind("a", n.Inputs[0]).Bind("b", b1).Interior(n.Inputs[1])
           : Recip(n.Inputs[0]) is { } b0 ? M(n)!.Bind("a", n.Inputs[1]).Bind("b", b0).Interior(n.Inputs[0]) : null,
        m => (m["a"].Expr / m["b"].Expr).Node);

    private static Node? Recip(Node n) => n.Op is DivOp && Facts.IsConstant(n.Inputs[0], 1) ? n.Inputs[1] : null;

    /// <summary>Negation moves out of products, quotients, reductions and gathers, so a pattern needs to look for it in one place.</summary>
    public static readonly Rule[] PullNegation =
    [
        new("neg-out-of-mul", "(-a) * b => -(a * b)", typeof(MulOp),
            n => n.Inputs[0].Op is NegOp ? M(n)!.Bind("a", n.Inputs[0].Inputs[0]).Bind("b", n.Inputs[1])
               : n.Inputs[1].Op is NegOp ? M(n)!.Bind("a", n.Inputs[0]).Bind("b", n.Inputs[1].Inputs[0]) : null,
            m => (-(m["a"].Expr * m["b"].Expr)).Node),
        new("neg-out-of-div", "(-a) / b => -(a / b)", typeof(DivOp),
            n => n.Inputs[0].Op is NegOp ? M(n)!.Bind("a", n.Inputs[0].Inputs[0]).Bind("b", n.Inputs[1]) : null,
            m => (-(m["a"].Expr / m["b"].Expr)).Node),
        new("neg-out-of-reduction", "sum(-x) => -sum(x), mean(-x) => -mean(x)", typeof(SumOp),
            n => n.Inputs[0].Op is NegOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]) : null,
            m => (-m.Root.Builder.Make(m.Root.Op, m["x"]).Expr).Node),
        new("neg-out-of-reduction", "sum(-x) => -sum(x), mean(-x) => -mean(x)", typeof(MeanOp),
            n => n.Inputs[0].Op is NegOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]) : null,
            m => (-m.Root.Builder.Make(m.Root.Op, m["x"]).Expr).Node),
        new("neg-out-of-take", "take(-x, t) => -take(x, t)", typeof(TakeOp),
            n => n.Inputs[0].Op is NegOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Bind("t", n.Inputs[1]) : null,
            m => (-m.Root.Builder.Make(m.Root.Op, m["x"], m["t"]).Expr).Node),
    ];

    /// <summary><c>reshape(r(x, axes, keepdims=false), kept shape) => r(x, axes, keepdims=true)</c> for every reduction r.</summary>
    public static readonly Rule KeepDimsReshape = new("keepdims-from-reshape", "reshape(sum(x, axis=a), kept) => sum(x, axis=a, keepdims=true)", typeof(ReshapeOp),
        n => n.Inputs[0].Op is ReduceOp { KeepDims: false } r
             && ReduceOp.ReducedShape(n.Inputs[0].Inputs[0].Shape, r.Axes, true) == n.Shape
             ? M(n)!.Bind("r", n.Inputs[0]) : n.Inputs[0].Op is LogSumExpOp { KeepDims: false } l
             && ReduceOp.ReducedShape(n.Inputs[0].Inputs[0].Shape, l.Axes, true) == n.Shape ? M(n)!.Bind("r", n.Inputs[0]) : null,
        m =>
        {
            var r = m["r"];
            Op kept = r.Op switch
            {
                ReduceOp red => red with { KeepDims = true },
                LogSumExpOp l => l with { KeepDims = true },
                _ => throw new InvalidOperationException(),
            };
            return r.Builder.Make(kept, r.Inputs[0]);
        });

    /// <summary><c>a ∘ broadcast_to(b, S) => a ∘ b</c> when the implicit broadcast gives the same shape S.</summary>
    public static readonly Rule DropBroadcast = new("implicit-broadcast", "a / broadcast_to(b, shape(a)) => a / b", typeof(BinaryOp),
        n => n.Op is BinaryOp && (n.Inputs[1].Op is BroadcastToOp && Broadcasts(n.Inputs[0], n.Inputs[1].Inputs[0], n.Shape)
                               || n.Inputs[0].Op is BroadcastToOp && Broadcasts(n.Inputs[0].Inputs[0], n.Inputs[1], n.Shape)) ? M(n) : null,
        m =>
        {
            var n = m.Root;
            var a = n.Inputs[0].Op is BroadcastToOp && Broadcasts(n.Inputs[0].Inputs[0], n.Inputs[1], n.Shape) ? n.Inputs[0].Inputs[0] : n.Inputs[0];
            var b = n.Inputs[1].Op is BroadcastToOp && Broadcasts(a, n.Inputs[1].Inputs[0], n.Shape) ? n.Inputs[1].Inputs[0] : n.Inputs[1];
            return n.Builder.Make(n.Op, a, b);
        });

    private static bool Broadcasts(Node a, Node b, Shape result)
    {
        try { return Shape.Broadcast(a.Shape, b.Shape, "") == result; }
        catch (ShapeException) { return false; }
    }

    /// <summary>Chains of layout ops collapse, and broadcasts move outward past cheap exact elementwise ops, so a backward
    /// graph's seed (<c>broadcast_to(reshape(-1, shape=1), shape=n) / n</c>) becomes one broadcast constant that
    /// <see cref="DropBroadcast"/> then folds into its use. Each rewrite gives the same values bit for bit.</summary>
    public static readonly Rule[] Layout =
    [
        new("reshape-of-reshape", "reshape(reshape(x, s1), s2) => reshape(x, s2)", typeof(ReshapeOp),
            n => n.Inputs[0].Op is ReshapeOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]) : null,
            m => m["x"].Expr.Reshape(m.Root.Shape.ToArray()).Node),
        new("broadcast-of-broadcast", "broadcast_to(broadcast_to(x, s1), s2) => broadcast_to(x, s2)", typeof(BroadcastToOp),
            n => n.Inputs[0].Op is BroadcastToOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]) : null,
            m => m["x"].Expr.BroadcastTo(m.Root.Shape.ToArray()).Node),
        .. new[] { typeof(ReshapeOp), typeof(BroadcastToOp) }.Select(t => new Rule("broadcast-one-element",
            "reshape(broadcast_to(c, s1), s2) => broadcast_to(c, s2), broadcast_to(reshape(c, s1), s2) => broadcast_to(c, s2)   (c has one element)", t,
            n => n.Inputs[0].Op is ReshapeOp or BroadcastToOp && OneElement(n.Inputs[0].Inputs[0], n.Shape)
                ? M(n)!.Bind("c", n.Inputs[0].Inputs[0]) : null,
            m => m["c"].Expr.BroadcastTo(m.Root.Shape.ToArray()).Node)),
        .. new[] { typeof(AddOp), typeof(SubOp), typeof(MulOp), typeof(DivOp) }.Select(t => new Rule("broadcast-out-of-arithmetic",
            BroadcastOutPattern, t,
            n => n.Inputs[0].Op is BroadcastToOp || n.Inputs[1].Op is BroadcastToOp ? M(n) : null,
            m =>
            {
                var n = m.Root;
                var (a, b) = n.Inputs[0].Op is BroadcastToOp ? (n.Inputs[0].Inputs[0], n.Inputs[1]) : (n.Inputs[0], n.Inputs[1].Inputs[0]);
                return n.Builder.Make(n.Op, a, b).Expr.BroadcastTo(n.Shape.ToArray()).Node;
            })),
        new("broadcast-out-of-arithmetic", BroadcastOutPattern, typeof(NegOp),
            n => n.Inputs[0].Op is BroadcastToOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]) : null,
            m => (-m["x"].Expr).BroadcastTo(m.Root.Shape.ToArray()).Node),
    ];

    /// <summary><c>a - c·t => a + (-c)·t</c> and <c>a + c·t => a - (-c)·t</c> where the right operand is a product or
    /// quotient chain whose leftmost factor is a negative scalar constant c (a backward graph's <c>x - -0.1 * y / p</c>
    /// becomes <c>x + 0.1 * y / p</c>). Exact: negating c negates the chain's value bit for bit, and a − y is a + (−y).
    /// Backward graphs only (<see cref="BackwardCanonicalize"/>), like <see cref="ReduceOverSizeOne"/>.</summary>
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
        while (n.Op is MulOp or DivOp) n = n.Inputs[0];
        return n.Op is ConstantOp { Value: < 0 } && n.Shape.Size == 1;
    }

    /// <summary>The chain with its leftmost constant c replaced by −c.</summary>
    private static Expr Flip(Node n)
    {
        if (n.Op is MulOp or DivOp) return n.Builder.Make(n.Op, Flip(n.Inputs[0]).Node, n.Inputs[1]).Expr;
        var c = (ConstantOp)n.Op;
        return n.Builder.Constant(-c.Value, c.Type);
    }

    /// <summary>Sums and means over size-1 axes become reshapes. Only for backward graphs (<see cref="BackwardCanonicalize"/>):
    /// in a forward graph it would hide <c>sqrt(sum(square(x), axis=a))</c> and <c>sum(abs(x)^p, axis=a)^(1/p)</c> over a
    /// single class from <c>pnorm-from-naive</c>, whose gradient at the zero vector is 0 where the hand-written chain's is
    /// 0·inf = NaN. The same values bit for bit, except that it keeps a −0 that the sum kernel turns into +0.</summary>
    public static readonly Rule[] ReduceOverSizeOne =
    [
        .. new[] { typeof(SumOp), typeof(MeanOp) }.Select(t => new Rule("reduce-over-size-one",
            "sum(x, axis=a) => reshape(x, ...), mean(x, axis=a) => reshape(x, ...)   (every reduced axis has size 1)", t,
            n => ((ReduceOp)n.Op).Axes.All(a => n.Inputs[0].Shape[a] == 1) ? M(n)!.Bind("x", n.Inputs[0]) : null,
            m => m["x"].Expr.Reshape(m.Root.Shape.ToArray()).Node)),
    ];

    private const string BroadcastOutPattern = "broadcast_to(x, s) / b => broadcast_to(x / b, s), -broadcast_to(x, s) => broadcast_to(-x, s)   (+ - * /)";

    /// <summary>True if <paramref name="c"/> has one element and broadcasts to <paramref name="shape"/>.</summary>
    private static bool OneElement(Node c, Shape shape) => c.Shape.Size == 1 && c.Shape.Rank <= shape.Rank;

    /// <summary>The small algebra that runs in every phase.</summary>
    public static IReadOnlyList<Rule> Canonical { get; } =
        [FoldConstants, DoubleNegation, .. Identities, AddNegation, MulByReciprocal, .. PullNegation, KeepDimsReshape, .. Binaries(DropBroadcast), .. Layout];

    /// <summary>The first phase: the small algebra of <see cref="Canonical"/> alone.</summary>
    public static RuleSet Canonicalize { get; } = new("canonicalize", Canonical);

    /// <summary>What <c>autodiff grad</c> runs on backward graphs: <see cref="Canonical"/>, <see cref="ReduceOverSizeOne"/>
    /// and <see cref="NegativeFactor"/>.</summary>
    public static RuleSet BackwardCanonicalize { get; } = new("canonicalize", [.. Canonical, .. ReduceOverSizeOne, .. NegativeFactor]);

    private static IEnumerable<Rule> Binaries(Rule r) =>
        new[] { typeof(AddOp), typeof(SubOp), typeof(MulOp), typeof(DivOp), typeof(MaximumOp), typeof(MinimumOp), typeof(PowOp) }
            .Select(t => r with { Root = t });

    // ---------------------------------------------------------------- stabilize

    /// <summary><c>exp(x) / sum(exp(x), axis=a, keepdims=true) => softmax(x, axis=a)</c>.</summary>
    public static readonly Rule SoftmaxFromExpSumDiv = new("softmax", "exp(x) / sum(exp(x), axis=a, keepdims=true) => softmax(x, axis=a)", typeof(DivOp),
        n => Is<ExpOp>(n.Inputs[0], out _) && Is<SumOp>(n.Inputs[1], out var s) && n.Inputs[1].Inputs[0].Op is ExpOp
            ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Bind("e", n.Inputs[0]).Bind("s", n.Inputs[1]).Interior(n.Inputs[0], n.Inputs[1], n.Inputs[1].Inputs[0])
            : null,
        m =>
        {
            var s = (SumOp)m["s"].Op;
            if (!ReferenceEquals(m["s"].Inputs[0], m["e"]))
                return $"numerator {Text.Printer.PrintExpression(m["e"])} and denominator {Text.Printer.PrintExpression(m["s"])} exponentiate different values";
            if (s.Axes.Count != 1) return $"the sum runs over axes {s.Axes}; softmax normalises along one axis";
            if (!s.KeepDims) return $"the sum over axis {s.Axes[0]} has keepdims=false, so it broadcasts along the wrong axis; write keepdims=true";
            return null;
        },
        m => m["x"].Expr.Softmax(((SumOp)m["s"].Op).Axes[0]).Node);

    /// <summary><c>softmax(x - c, axis=a) => softmax(x, axis=a)</c> when c is constant along a (the max shift, for one).</summary>
    public static readonly Rule SoftmaxShift = new("softmax-shift", "softmax(x - c, axis=a) => softmax(x, axis=a)   if c is constant along a", typeof(SoftmaxOp),
        n => n.Inputs[0].Op is SubOp && Facts.ConstantAlong(n.Inputs[0].Inputs[1], n.Shape, [((SoftmaxOp)n.Op).Axis])
             && n.Inputs[0].Inputs[0].Shape == n.Shape ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]) : null,
        m => m["x"].Expr.Softmax(((SoftmaxOp)m.Root.Op).Axis).Node);

    /// <summary><c>log_softmax(x - c, axis=a) => log_softmax(x, axis=a)</c> when c is constant along a.</summary>
    public static readonly Rule LogSoftmaxShift = new("log-softmax-shift", "log_softmax(x - c, axis=a) => log_softmax(x, axis=a)   if c is constant along a", typeof(LogSoftmaxOp),
        n => n.Inputs[0].Op is SubOp && Facts.ConstantAlong(n.Inputs[0].Inputs[1], n.Shape, [((LogSoftmaxOp)n.Op).Axis])
             && n.Inputs[0].Inputs[0].Shape == n.Shape ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]) : null,
        m => m["x"].Expr.LogSoftmax(((LogSoftmaxOp)m.Root.Op).Axis).Node);

    /// <summary><c>log(sum(exp(x), axis=a)) => logsumexp(x, axis=a)</c> (keepdims carried over).</summary>
    public static readonly Rule LogSumExp = new("logsumexp", "log(sum(exp(x), axis=a)) => logsumexp(x, axis=a)", typeof(LogOp),
        n => n.Inputs[0].Op is SumOp && n.Inputs[0].Inputs[0].Op is ExpOp
            ? M(n)!.Bind("s", n.Inputs[0]).Bind("x", n.Inputs[0].Inputs[0].Inputs[0]).Interior(n.Inputs[0], n.Inputs[0].Inputs[0]) : null,
        m =>
        {
            var s = (SumOp)m["s"].Op;
            return s.Axes.Zip(s.Axes.Skip(1)).All(p => p.Second == p.First + 1) ? null : $"the sum runs over axes {s.Axes}, which are not adjacent";
        },
        m =>
        {
            var s = (SumOp)m["s"].Op;
            return m["x"].Expr.LogSumExp(s.Axes.ToArray(), s.KeepDims).Node;
        });

    /// <summary><c>c' + logsumexp(x - c, axis=a) => logsumexp(x, axis=a)</c> when c is constant along a and c' is c
    /// reduced the same way (the hand-written max shift <c>m + log(sum(exp(x - m)))</c>).</summary>
    public static readonly Rule LogSumExpShift = new("logsumexp-shift", "m + logsumexp(x - m, axis=a) => logsumexp(x, axis=a)   if m is constant along a", typeof(AddOp),
        n => LseShift(n, 0, 1) ?? LseShift(n, 1, 0),
        m => null,
        m => m["x"].Expr.LogSumExp(((LogSumExpOp)m["lse"].Op).Axes.ToArray(), ((LogSumExpOp)m["lse"].Op).KeepDims).Node);

    private static Match? LseShift(Node n, int ci, int li)
    {
        Node outer = n.Inputs[ci], lse = n.Inputs[li];
        if (lse.Op is not LogSumExpOp l || lse.Inputs[0].Op is not SubOp) return null;
        Node x = lse.Inputs[0].Inputs[0], c = lse.Inputs[0].Inputs[1];
        if (x.Shape != lse.Inputs[0].Shape || !Facts.ConstantAlong(c, x.Shape, l.Axes)) return null;
        bool same = ReferenceEquals(outer, c) && outer.Shape == lse.Shape
            || outer.Op is ReshapeOp && ReferenceEquals(outer.Inputs[0], c)
            || c.Op is ReshapeOp && ReferenceEquals(c.Inputs[0], outer)
            || outer.Op is ReduceOp ro && c.Op is ReduceOp rc && ro.GetType() == rc.GetType() && ro.Axes.Equals(rc.Axes) && ReferenceEquals(outer.Inputs[0], c.Inputs[0]);
        return same && n.Shape == lse.Shape ? M(n)!.Bind("x", x).Bind("lse", lse) : null;
    }

    /// <summary><c>log(softmax(x, axis=a)) => log_softmax(x, axis=a)</c>.</summary>
    public static readonly Rule LogSoftmax = new("log-softmax", "log(softmax(x, axis=a)) => log_softmax(x, axis=a)", typeof(LogOp),
        n => n.Inputs[0].Op is SoftmaxOp s ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Bind("a", s.Axis).Interior(n.Inputs[0]) : null,
        m => m["x"].Expr.LogSoftmax(m.Int("a")).Node);

    /// <summary><c>x - logsumexp(x, axis=a, keepdims=true) => log_softmax(x, axis=a)</c>.</summary>
    public static readonly Rule LogSoftmaxFromLse = new("log-softmax-from-logsumexp", "x - logsumexp(x, axis=a, keepdims=true) => log_softmax(x, axis=a)", typeof(SubOp),
        n => n.Inputs[1].Op is LogSumExpOp && ReferenceEquals(n.Inputs[1].Inputs[0], n.Inputs[0])
            ? M(n)!.Bind("x", n.Inputs[0]).Bind("lse", n.Inputs[1]).Interior(n.Inputs[1]) : null,
        m =>
        {
            var l = (LogSumExpOp)m["lse"].Op;
            if (l.Axes.Count != 1) return $"logsumexp runs over axes {l.Axes}; log_softmax normalises along one axis";
            if (!l.KeepDims) return $"logsumexp over axis {l.Axes[0]} has keepdims=false, so it broadcasts along the wrong axis";
            return null;
        },
        m => m["x"].Expr.LogSoftmax(((LogSumExpOp)m["lse"].Op).Axes[0]).Node);

    /// <summary>The elementwise stabilisations.</summary>
    public static readonly Rule[] Elementwise =
    [
        new("log-of-exp", "log(exp(x)) => x", typeof(LogOp),
            n => n.Inputs[0].Op is ExpOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]) : null,
            m => m["x"]),
        new("softplus", "log(1 + exp(x)) => softplus(x)", typeof(LogOp),
            n => OnePlusExp(n.Inputs[0]) is { } x ? M(n)!.Bind("x", x).Interior(n.Inputs[0]) : null,
            m => m["x"].Expr.Softplus().Node),
        new("sigmoid", "1 / (1 + exp(-x)) => sigmoid(x)", typeof(DivOp),
            n => Facts.IsConstant(n.Inputs[0], 1) && OnePlusExp(n.Inputs[1]) is { Op: NegOp } nx && nx.Shape == n.Shape
                ? M(n)!.Bind("x", nx.Inputs[0]).Interior(n.Inputs[1]) : null,
            m => m["x"].Expr.Sigmoid().Node),
        new("log-sigmoid", "log(sigmoid(x)) => log_sigmoid(x)", typeof(LogOp),
            n => n.Inputs[0].Op is SigmoidOp ? M(n)!.Bind("x", n.Inputs[0].Inputs[0]).Interior(n.Inputs[0]) : null,
            m => m["x"].Expr.LogSigmoid().Node),
        // Stabilises the cancellation of 1 - sigmoid(x) (0 for x above ~37 in f64), and un-shares sigmoid(x) in binary
        // cross-entropy so both logs become log_sigmoid: so it fires under both sharing policies, noting the recompute.
        new("one-minus-sigmoid", "1 - sigmoid(x) => sigmoid(-x)", typeof(SubOp),
            n => Facts.IsConstant(n.Inputs[0], 1) && n.Inputs[1].Op is SigmoidOp && n.Inputs[1].Shape == n.Shape
                ? M(n)!.Bind("x", n.Inputs[1].Inputs[0]).Interior(n.Inputs[1]) : null,
            m => (-m["x"].Expr).Sigmoid().Node) { FiresWhenShared = true },
        // The NCE posteriors in the seed's spelling, u/(u + k·q) and k·q/(u + k·q) with u = exp(s): the ratio overflows to
        // inf/inf = NaN once s passes ~709 (f64) and underflows to log(0) below ~−745; log σ(s − log(k·q)) is finite.
        PatternRule.Parse("nce-posterior", "log(exp(s) / (exp(s) + c)) => log_sigmoid(s - log(c)) if positive(c)").ToRule(),
        PatternRule.Parse("nce-noise-posterior", "log(c / (exp(s) + c)) => log_sigmoid(log(c) - s) if positive(c)").ToRule(),
        new("logaddexp", "log(exp(a) + exp(b)) => logaddexp(a, b)", typeof(LogOp),
            n => n.Inputs[0].Op is AddOp && n.Inputs[0].Inputs.All(i => i.Op is ExpOp)
                ? M(n)!.Bind("a", n.Inputs[0].Inputs[0].Inputs[0]).Bind("b", n.Inputs[0].Inputs[1].Inputs[0]).Interior(n.Inputs[0]) : null,
            m => m["a"].Expr.LogAddExp(m["b"].Expr).Node),
    ];

    /// <summary>x when <paramref name="n"/> is <c>1 + exp(x)</c> or <c>exp(x) + 1</c> with exp(x) of n's shape.</summary>
    private static Node? OnePlusExp(Node n)
    {
        if (n.Op is not AddOp) return null;
        for (int i = 0; i < 2; i++)
            if (Facts.IsConstant(n.Inputs[1 - i], 1) && n.Inputs[i].Op is ExpOp && n.Inputs[i].Shape == n.Shape)
                return n.Inputs[i].Inputs[0];
        return null;
    }

    /// <summary><c>exp(sum(log(x), axis=a)) => prod(x, axis=a)</c> (keepdims carried over) where x is proved &gt; 0: the
    /// log trick undone, so the gradient is the exact leave-one-out product instead of exp(·)/x, and no log or exp is computed.</summary>
    public static readonly Rule ProdFromExpSumLog = new("prod-from-exp-sum-log", "exp(sum(log(x), axis=a)) => prod(x, axis=a)   if x > 0", typeof(ExpOp),
        n => n.Inputs[0].Op is SumOp && n.Inputs[0].Inputs[0].Op is LogOp
            ? M(n)!.Bind("s", n.Inputs[0]).Bind("x", n.Inputs[0].Inputs[0].Inputs[0]).Interior(n.Inputs[0], n.Inputs[0].Inputs[0]) : null,
        m => Facts.Positive(m["x"]),
        m =>
        {
            var s = (SumOp)m["s"].Op;
            return m.Root.Builder.Make(new ProdOp(s.Axes, s.KeepDims), m["x"]);
        });

    /// <summary><c>sum(abs(x)^p, axis=a)^(1/p) => pnorm(x, p, axis=a)</c> for a constant p &gt;= 1 (keepdims carried over); also
    /// <c>x^p</c> for an even integer p, and <c>square(x)</c> or <c>x * x</c> under <c>sqrt</c> (or <c>^0.5</c>) for p = 2. The
    /// outer exponent must be 1/p to within 1e-12 relative (within f32 rounding in an f32 program, whose constants are f32).</summary>
    public static readonly Rule[] PNormFromNaive =
    [
        new("pnorm-from-naive", "sum(abs(x)^p, axis=a)^(1/p) => pnorm(x, p, axis=a)", typeof(PowOp), PNormMatch, PNormPrecondition, PNormBuild),
        new("pnorm-from-naive", "sqrt(sum(square(x), axis=a)) => pnorm(x, 2, axis=a)", typeof(SqrtOp), PNormMatch, PNormPrecondition, PNormBuild),
    ];

    /// <summary>The parts of a naive p-norm rooted at <paramref name="n"/>: x, the sum, the power p, whether |x| is taken, and
    /// the outer exponent; null if the structure does not match.</summary>
    private static (Node X, Node Sum, Node Power, double P, bool Abs, double Outer)? PNormParts(Node n)
    {
        double outer;
        if (n.Op is SqrtOp) outer = 0.5;
        else if (n.Op is PowOp && Facts.Constant(n.Inputs[1]) is double c && n.Shape == n.Inputs[0].Shape) outer = c;
        else return null;
        var s = n.Inputs[0];
        if (s.Op is not SumOp) return null;
        var e = s.Inputs[0];
        if (e.Op is SquareOp || e.Op is MulOp && ReferenceEquals(e.Inputs[0], e.Inputs[1])) return (e.Inputs[0], s, e, 2, false, outer);
        if (e.Op is not PowOp || Facts.Constant(e.Inputs[1]) is not double p || e.Shape != e.Inputs[0].Shape) return null;
        var b = e.Inputs[0];
        return b.Op is AbsOp ? (b.Inputs[0], s, e, p, true, outer) : (b, s, e, p, false, outer);
    }

    private static Match? PNormMatch(Node n)
    {
        if (PNormParts(n) is not { } q) return null;
        var m = M(n)!.Bind("x", q.X).Interior(q.Sum, q.Power);
        return q.Abs ? m.Interior(q.Power.Inputs[0]) : m;
    }

    private static string? PNormPrecondition(Match m)
    {
        var q = PNormParts(m.Root)!.Value;
        string P(double v) => Tensor.FormatNumber(v, DType.F64);
        if (!(q.P >= 1)) return $"the power p = {P(q.P)} is below 1; pnorm needs p >= 1";
        if (!q.Abs && (q.P % 2 != 0 || double.IsInfinity(q.P)))
            return $"x^{P(q.P)} without abs(x) is not |x|^p (p = {P(q.P)} is not an even integer); write abs(x)^{P(q.P)}";
        double tol = m.Root.DType == DType.F32 ? 2.5e-7 : 1e-12;
        return Math.Abs(q.Outer * q.P - 1) <= tol ? null : $"the outer power {P(q.Outer)} is not 1/p = {P(1 / q.P)} for p = {P(q.P)}";
    }

    private static Node PNormBuild(Match m)
    {
        var q = PNormParts(m.Root)!.Value;
        var s = (SumOp)q.Sum.Op;
        return m.Root.Builder.Make(new PNormOp(q.P, s.Axes, s.KeepDims), q.X);
    }

    // ---------------------------------------------------------------- fuse

    /// <summary><c>sum(p * log_softmax(z, axis=a), axis=a) => -softmax_cross_entropy(z, p, axis=a)</c> (after the negation
    /// is pulled out, this is how <c>-sum(p * log(q), axis=a)</c> arrives); reductions over more axes keep the rest.
    /// Precondition: p's rows along a are proved to sum to 1, so the fused gradient q − p is exact.</summary>
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

    /// <summary><c>take(log_softmax(z, axis=a), t, axis=a) => -sparse_softmax_cross_entropy(z, t, axis=a)</c>.</summary>
    public static readonly Rule SparseFromTake = new("sparse-softmax-cross-entropy", "-take(log_softmax(z, axis=a), t, axis=a) => sparse_softmax_cross_entropy(z, t, axis=a)", typeof(TakeOp),
        n => n.Inputs[0].Op is LogSoftmaxOp l && n.Inputs[1].Shape.Rank == n.Inputs[0].Shape.Rank - 1
            ? M(n)!.Bind("z", n.Inputs[0].Inputs[0]).Bind("t", n.Inputs[1]).Bind("a", l.Axis).Interior(n.Inputs[0]) : null,
        m => ((TakeOp)m.Root.Op).Axis == m.Int("a") ? null : $"take gathers along axis {((TakeOp)m.Root.Op).Axis} but log_softmax normalises along axis {m.Int("a")}",
        m => (-m["z"].Expr.SparseSoftmaxCrossEntropy(m["t"].Expr, m.Int("a"))).Node);

    /// <summary><c>softmax_cross_entropy(z, one_hot(t, C), axis=-1) => sparse_softmax_cross_entropy(z, t)</c>.</summary>
    public static readonly Rule SparseFromOneHot = new("sparse-from-one-hot", "softmax_cross_entropy(z, one_hot(t, C), axis=-1) => sparse_softmax_cross_entropy(z, t)", typeof(SoftmaxCrossEntropyOp),
        n => n.Inputs.Count == 2 && n.Inputs[1].Op is OneHotOp && n.Op is SoftmaxCrossEntropyOp { LabelSmoothing: 0 } s && s.Axis == n.Inputs[0].Shape.Rank - 1
            ? M(n)!.Bind("z", n.Inputs[0]).Bind("t", n.Inputs[1].Inputs[0]) : null,
        m => m["z"].Expr.SparseSoftmaxCrossEntropy(m["t"].Expr, -1).Node);

    /// <summary>The phases, in order.</summary>
    public static IReadOnlyList<RuleSet> Phases { get; } =
    [
        Canonicalize,
        new("stabilize", [.. Canonical, SoftmaxFromExpSumDiv, SoftmaxShift, LogSumExp, LogSumExpShift, LogSoftmax, LogSoftmaxFromLse, LogSoftmaxShift, .. Elementwise, ProdFromExpSumLog, .. PNormFromNaive]),
        new("fuse", [.. Canonical, CrossEntropy, CrossEntropyMean, SparseFromTake, SparseFromOneHot]),
    ];

    /// <summary>Every distinct rule name in the catalogue.</summary>
    public static IEnumerable<string> Names => Phases.Append(BackwardCanonicalize).SelectMany(p => p.Rules).Select(r => r.Name).Distinct();
}
