using Autodiff.Text;

namespace Autodiff.Rewrite;

/// <summary>One op of a simplified program that can still turn finite inputs into NaN or ±inf.</summary>
/// <param name="Line">1-based line of the op in the source (of the expression the simplified node came from); 0 for a
/// graph built in C#.</param>
/// <param name="Column">1-based column there; 0 for a graph built in C#.</param>
/// <param name="Op">The op as the language's function name (<c>log</c>, <c>div</c>, <c>sqrt</c>, <c>pow</c>, <c>exp</c>, …).</param>
/// <param name="Message">Why: which value is not proved safe, and what it gives there.</param>
public sealed record LintFinding(int Line, int Column, string Op, string Message);

/// <summary>The check for what no rewrite can fix: after simplification, every op whose operand is not proved to lie in
/// its domain (log, log1p, log1mexp, sqrt and pow of values not proved positive, division by a value not proved nonzero,
/// exp of a value not bounded above feeding a reduction). Positivity is proved as computed in floating point (exp,
/// sigmoid and softmax underflow to 0, so <c>log(softmax(z))</c> left as written is a finding); non-negativity by
/// <see cref="Facts.NonNegative"/>. <c>x + 1e-7</c> proves x + 1e-7 &gt; 0 only when x is proved ≥ 0.</summary>
public static class Lint
{
    /// <summary>Parses and simplifies <paramref name="program"/> (default options: stability first) and checks the result;
    /// positions are in the program's text.</summary>
    public static IReadOnlyList<LintFinding> Check(string program, SimplifyOptions? options = null)
    {
        return Check(Simplifier.Simplify(Parser.Parse(program), options));
    }

    /// <summary>Simplifies a graph built in C# and checks the result (positions 0:0).</summary>
    public static IReadOnlyList<LintFinding> Check(Graph graph, SimplifyOptions? options = null) =>
        Check(Simplifier.Simplify(graph, options));

    /// <summary>Checks a simplified graph, placing each finding at the source position of the expression its node came
    /// from (<see cref="GraphBuilder.PositionOf"/>: a rewrite's nodes inherit the position of the node it replaced), or of
    /// its nearest consumer that has one.</summary>
    public static IReadOnlyList<LintFinding> Check(SimplifyResult result)
    {
        var order = result.After.Nodes();
        var consumers = new Dictionary<Node, List<Node>>(ReferenceEqualityComparer.Instance);
        foreach (var n in order)
            foreach (var i in n.Inputs)
            {
                if (!consumers.TryGetValue(i, out var list)) consumers[i] = list = [];
                list.Add(n);
            }
        var at = new Dictionary<Node, (int Line, int Column)>(ReferenceEqualityComparer.Instance);
        for (int k = order.Count - 1; k >= 0; k--)
        {
            var n = order[k];
            var own = n.Builder.PositionOf(n) is { } sp ? (sp.Line, sp.Column) : ((int, int)?)null;
            if (own is { } p) at[n] = p;
            else if (consumers.TryGetValue(n, out var cs) && cs.Select(c => at.GetValueOrDefault(c)).FirstOrDefault(q => q.Line > 0) is { Line: > 0 } q)
                at[n] = q;
        }
        var proofs = new Proofs(order, result.After.Names);
        var findings = new List<LintFinding>();
        foreach (var n in order)
            if (Hazard(n, consumers.GetValueOrDefault(n), proofs) is { } message)
            {
                var (line, column) = at.GetValueOrDefault(n);
                findings.Add(new LintFinding(line, column, n.Op.Name, message));
            }
        return findings.OrderBy(f => f.Line).ThenBy(f => f.Column).ToArray();
    }

    /// <summary>Why <paramref name="n"/> can turn finite inputs into NaN or ±inf, or null when its operands are proved safe.</summary>
    private static string? Hazard(Node n, List<Node>? consumers, Proofs proofs)
    {
        switch (n.Op)
        {
            case LogOp:
            {
                var x = n.Inputs[0];
                if (proofs.Positive(x)) return null;
                return PlusEpsilon(x, proofs) is { } why ? $"log of {proofs.Show(x)}: {why}"
                    : $"log of {proofs.Show(x)}, which is not proved > 0: -inf at 0, NaN below 0";
            }
            case SqrtOp:
            {
                var x = n.Inputs[0];
                if (proofs.Positive(x)) return null;
                return (Facts.NonNegative(x) is null) ? $"sqrt of {proofs.Show(x)}, which can be 0: its gradient is inf there"
                    : $"sqrt of {proofs.Show(x)}, which is not proved >= 0: NaN below 0";
            }
            case PowOp:
            {
                Node b = n.Inputs[0], p = n.Inputs[1];
                if (proofs.Positive(b)) return null;
                if (Facts.Constant(p) is double c)
                {
                    if (c >= 0 && c == Math.Floor(c)) return null;
                    if (c >= 1 && (Facts.NonNegative(b) is null)) return null;
                    return c < 0 ? $"pow of {proofs.Show(b)}, which is not proved > 0, to the power {Tensor.FormatNumber(c, DType.F64)}: inf at 0" + ((Facts.NonNegative(b) is null) ? "" : ", NaN below 0")
                        : (Facts.NonNegative(b) is null) ? $"pow of {proofs.Show(b)}, which can be 0, to the power {Tensor.FormatNumber(c, DType.F64)}: its gradient is inf there"
                        : $"pow of {proofs.Show(b)}, which is not proved >= 0, to the non-integer power {Tensor.FormatNumber(c, DType.F64)}: NaN below 0";
                }
                return $"pow of {proofs.Show(b)}, which is not proved > 0, to the power {proofs.Show(p)}: NaN for a negative base and a non-integer power, inf at 0 for a negative one";
            }
            case DivOp:
            {
                var d = n.Inputs[1];
                if (proofs.NonZero(d)) return null;
                return PlusEpsilon(d, proofs) is { } why ? $"division by {proofs.Show(d)}: {why}"
                    : $"division by {proofs.Show(d)}, which is not proved nonzero: ±inf or NaN at 0";
            }
            case Log1pOp:
            {
                var x = n.Inputs[0];
                return (Facts.NonNegative(x) is null) ? null : $"log1p of {proofs.Show(x)}, which is not proved > -1: -inf at -1, NaN below";
            }
            case Log1mexpOp:
            {
                var x = n.Inputs[0];
                return x.Op is NegOp && proofs.Positive(x.Inputs[0]) ? null : $"log1mexp of {proofs.Show(x)}, which is not proved < 0: -inf at 0, NaN above";
            }
            case ExpOp:
            {
                var r = consumers?.FirstOrDefault(c => c.Op is SumOp or MeanOp or ProdOp);
                if (r is null || proofs.BoundedAbove(n.Inputs[0])) return null;
                return $"exp of {proofs.Show(n.Inputs[0])}, which is not bounded above, feeds {r.Op.Name}: it overflows to inf above about "
                    + (n.DType == DType.F32 ? "88" : "709") + " (write logsumexp, softmax or log_softmax)";
            }
            default:
                return null;
        }
    }

    /// <summary>Why a positive constant added to an unproved value proves nothing; null when <paramref name="x"/> is not
    /// such a sum.</summary>
    private static string? PlusEpsilon(Node x, Proofs proofs)
    {
        if (x.Op is not AddOp) return null;
        for (int i = 0; i < 2; i++)
            if (Facts.Constant(x.Inputs[i]) is double c && c > 0 && Facts.NonNegative(x.Inputs[1 - i]) is not null)
                return $"adding {Tensor.FormatNumber(c, x.DType)} proves nothing, because {proofs.Show(x.Inputs[1 - i])} is not proved >= 0 and can be -{Tensor.FormatNumber(c, x.DType)} or below";
        return null;
    }

    /// <summary>What the lint proves per node of one graph, computed once in topological order (no recursion, so a deep or
    /// heavily shared program costs one pass).</summary>
    private sealed class Proofs
    {
        private readonly Dictionary<Node, bool> _positive = new(ReferenceEqualityComparer.Instance);
        private readonly Dictionary<Node, bool> _bounded = new(ReferenceEqualityComparer.Instance);

        private readonly IReadOnlyDictionary<Node, string> _names;

        public Proofs(IReadOnlyList<Node> order, IReadOnlyDictionary<Node, string> names)
        {
            _names = names;
            foreach (var n in order)
            {
                _positive[n] = PositiveStep(n);
                _bounded[n] = BoundedAboveStep(n);
            }
        }

        /// <summary><paramref name="n"/> in a message: its name in the program, else its expression if short.</summary>
        public string Show(Node n) => _names.TryGetValue(n, out var name) ? name : Printer.Brief(n);

        /// <summary>True when every entry of <paramref name="x"/> is proved &gt; 0 as computed in floating point: stricter
        /// than <see cref="Facts.Positive"/>, which counts exp, sigmoid, softplus and softmax as positive although they
        /// underflow to 0 (log(softmax(z)) is −inf where the softmax underflows). Declared <c>positive</c> inputs, positive
        /// constants, a positive value plus non-negative ones (x² + 1e-8), maxima with a positive value, and products,
        /// quotients, square roots, powers, reductions and layout ops of such values.</summary>
        public bool Positive(Node x) => _positive.TryGetValue(x, out var p) ? p : PositiveStep(x);

        /// <summary>True when no entry of <paramref name="d"/> can be 0.</summary>
        public bool NonZero(Node d)
        {
            while (d.Op is NegOp) d = d.Inputs[0];
            return Positive(d) || Facts.Constant(d) is double c && c != 0;
        }

        /// <summary>True when every entry of <paramref name="x"/> is proved to be at most a modest bound, so exp(x) cannot
        /// overflow: constants, log-probabilities, bounded functions, the negation of a non-negative value, x − max(x),
        /// and minima, sums and layout ops of those.</summary>
        public bool BoundedAbove(Node x) => _bounded.TryGetValue(x, out var b) ? b : BoundedAboveStep(x);

        private bool PositiveStep(Node x) => x.Op switch
        {
            InputOp i => i.Facts.IsPositive,
            ConstantOp c => c.Value > 0,
            AddOp => x.Inputs.Any(Positive) && x.Inputs.All(NonNegative),
            MaximumOp => x.Inputs.Any(Positive),
            PowOp => Positive(x.Inputs[0]),
            MinimumOp or MulOp or DivOp or SqrtOp or StopGradientOp or ReshapeOp or BroadcastToOp or TransposeOp or TakeOp
                or SumOp or MeanOp or MaxOp or MinOp => x.Inputs.All(Positive),
            _ => false,
        };

        private bool BoundedAboveStep(Node x) => x.Op switch
        {
            ConstantOp => true,
            LogSoftmaxOp or LogSigmoidOp or Log1mexpOp or Log1mSoftmaxOp or SigmoidOp or TanhOp or SoftmaxOp => true,
            NegOp => NonNegative(x.Inputs[0]),
            MinimumOp => x.Inputs.Any(BoundedAbove),
            MaximumOp or AddOp => x.Inputs.All(BoundedAbove),
            SubOp => BoundedAbove(x.Inputs[0]) && NonNegative(x.Inputs[1]) || IsMaxOf(x.Inputs[1], x.Inputs[0]),
            ReshapeOp or BroadcastToOp or TransposeOp or StopGradientOp or TakeOp => BoundedAbove(x.Inputs[0]),
            _ => false,
        };
    }

    private static bool NonNegative(Node x) => Facts.NonNegative(x) is null;

    /// <summary>True when <paramref name="m"/> is max(x) over some axes (possibly under stop_gradient).</summary>
    private static bool IsMaxOf(Node m, Node x)
    {
        if (m.Op is StopGradientOp) m = m.Inputs[0];
        return m.Op is MaxOp && ReferenceEquals(m.Inputs[0], x);
    }
}
