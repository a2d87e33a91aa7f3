using System.Numerics;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary>The truncated-Gumbel shift of stochastic beam search (Kool, van Hoof and Welling 2019): a Gumbel
/// <c>g</c> drawn in a set whose maximum is <c>z</c>, moved to the set whose maximum is <c>t</c>,
/// <c>G̃ = −log(e^−t − e^−z + e^−g)</c>. Computed stably (no overflow, no cancellation beyond the inputs' own rounding);
/// derivation and accuracy figures in docs/stochastic.md.</summary>
public static class TruncatedGumbel
{
    /// <summary>−log(e^−t − e^−z + e^−g) without overflow or cancellation. With a = min(t, g) and b = max(t, g),
    /// e^−t + e^−g − e^−z = e^−a·(1 + e^(a−b) − e^(a−z)) and 1 + e^(a−b) = e^s with s = softplus(a − b) ∈ [0, ln 2], so
    /// G̃ = a − s − log1mexp(s + z − a) with log1mexp(d) = log(1 − e^−d) (Mächler's two branches). In the beam search's
    /// domain g ≤ z the result is finite for any finite inputs; g = z gives t exactly and t = z gives g exactly. Outside
    /// it the formula is still evaluated where it is real, and NaN where e^−t − e^−z + e^−g &lt; 0 (near 0 the value is
    /// ill-conditioned there: log1mexp of a difference that cancels).
    /// An infinite operand follows the limit (t = +inf: −log(e^−g − e^−z), the untruncated case; g = −inf: −inf).</summary>
    /// <param name="g">The Gumbel to shift.</param>
    /// <param name="z">The maximum of the set <paramref name="g"/> was drawn in.</param>
    /// <param name="t">The new maximum (the truncation).</param>
    public static double Shift(double g, double z, double t)
    {
        if (g == z) return t;
        if (t == z) return g;
        double a = Math.Min(t, g), b = Math.Max(t, g);
        double s = a == b ? Math.Log(2) : Softplus(a - b);
        return a - s - ScalarMath.Log1mexp(-(s + (z - a)));
    }

    /// <summary>The partial derivatives of <see cref="Shift"/> at (g, z, t) with value y: ∂/∂g = e^(y−g),
    /// ∂/∂z = −e^(y−z), ∂/∂t = e^(y−t) (they sum to 1: shifting all three shifts the result). Where y = −inf because g
    /// or t is −inf, the limits (1 for the infinite one, 0 for the others; ½ each when both are) replace 0·∞.</summary>
    public static (double G, double Z, double T) Partials(double g, double z, double t, double y)
    {
        if (double.IsNegativeInfinity(y) && (double.IsNegativeInfinity(g) || double.IsNegativeInfinity(t)))
        {
            bool both = double.IsNegativeInfinity(g) && double.IsNegativeInfinity(t);
            return both ? (0.5, 0, 0.5) : double.IsNegativeInfinity(g) ? (1, 0, 0) : (0, 0, 1);
        }
        return (Math.Exp(y - g), -Math.Exp(y - z), Math.Exp(y - t));
    }

    /// <summary>The formula as written, −log(e^−t − e^−z + e^−g): overflows for g below about −709, underflows to +inf
    /// for all three above about 745, and loses the correction when g ≈ z and t ≫ z. For comparisons only.</summary>
    public static double Naive(double g, double z, double t) => -Math.Log(Math.Exp(-t) - Math.Exp(-z) + Math.Exp(-g));

    private static double Softplus(double x) => Math.Max(x, 0) + ScalarMath.Log1p(Math.Exp(-Math.Abs(x)));
}

/// <summary><c>truncated_gumbel(g, z, t)</c>: <see cref="TruncatedGumbel.Shift"/> elementwise with NumPy broadcasting,
/// −log(e^−t − e^−z + e^−g) computed stably (in double, rounded to the element type). The Gumbels g of a set whose
/// maximum is z, conditioned to have maximum t: the step of top-down stochastic beam search. Gradients
/// g·e^(y−g), −g·e^(y−z) and g·e^(y−t) (summed back to each operand's shape); the tape takes the limits where an
/// operand is −inf (see <see cref="TruncatedGumbel.Partials"/>), the symbolic gradient gives NaN there.</summary>
public sealed record TruncatedGumbelOp : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "truncated_gumbel";

    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("truncated_gumbel", [FunctionParam.Tensor("g"), FunctionParam.Tensor("z"), FunctionParam.Tensor("t")],
            c => c.Tensor("g").TruncatedGumbel(c.Tensor("z"), c.Tensor("t")))];

    /// <summary>As <see cref="TruncatedGumbel.Shift"/> computes it: with a = min(t, g), b = max(t, g) and
    /// s = softplus(a − b) (ln 2 where a = b), a − s − log1mexp(−(s + z − a)); g where t = z and t where g = z, exactly.</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y)
    {
        string g = x[0], z = x[1], t = x[2];
        string a = o.Emit("Min", [t, g]), b = o.Emit("Max", [t, g]);
        var s = o.Emit("Where", [o.Emit("Equal", [a, b]), o.Scalar("ln2", Math.Log(2), n.DType), o.SoftplusOfMinusAbs(o.Emit("Sub", [a, b]))]);
        var l = o.Log1mexp(n.DType, o.Emit("Neg", [o.Emit("Add", [s, o.Emit("Sub", [z, a])])]), null);
        var general = o.Emit("Sub", [o.Emit("Sub", [a, s]), l]);
        return o.Emit("Where", [o.Emit("Equal", [g, z]), t, o.Emit("Where", [o.Emit("Equal", [t, z]), g, general])], y);
    }

    /// <inheritdoc/>
    public override bool IsFused => true;

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (inputs.Count != 3) throw new ShapeException(Name, $"takes 3 operands (g, z, t), got {inputs.Count}");
        RequireFloat(inputs[0], "g");
        RequireFloat(inputs[1], "z");
        RequireFloat(inputs[2], "t");
        RequireSameDType(inputs);
        var s = Shape.Broadcast(Shape.Broadcast(inputs[0].Shape, inputs[1].Shape, Name), inputs[2].Shape, Name);
        return (s, inputs[0].DType);
    }

    /// <summary>Operand <paramref name="i"/> expanded to the output's shape (the operand itself when it has that shape).</summary>
    private static ReadOnlySpan<T> Expanded<T>(OpContext c, int i, Scratch<T> scratch) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = c.Inputs[i];
        if (x.Shape == c.Output.Shape) return x.Span<T>();
        Broadcast.Expand<T>(x.Span<T>(), x.Shape.ToArray(), scratch.Span, c.Output.Shape.ToArray());
        return scratch.Span;
    }

    private static Scratch<T> ScratchFor<T>(OpContext c, int i) where T : unmanaged, IFloatingPointIeee754<T> =>
        Scratch<T>.Rent(c.Inputs[i].Shape == c.Output.Shape ? 0 : c.Output.Size);

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        using Scratch<T> s0 = ScratchFor<T>(c, 0), s1 = ScratchFor<T>(c, 1), s2 = ScratchFor<T>(c, 2);
        ReadOnlySpan<T> g = Expanded(c, 0, s0), z = Expanded(c, 1, s1), t = Expanded(c, 2, s2);
        var y = c.Output.Span<T>();
        for (int i = 0; i < y.Length; i++)
            y[i] = T.CreateTruncating(TruncatedGumbel.Shift(double.CreateTruncating(g[i]), double.CreateTruncating(z[i]), double.CreateTruncating(t[i])));
    }

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (!c.AnyGradient) return;
        int n = c.Output.Size;
        using Scratch<T> s0 = ScratchFor<T>(c, 0), s1 = ScratchFor<T>(c, 1), s2 = ScratchFor<T>(c, 2);
        ReadOnlySpan<T> g = Expanded(c, 0, s0), z = Expanded(c, 1, s1), t = Expanded(c, 2, s2);
        ReadOnlySpan<T> y = c.Output.Span<T>(), gy = c.GradOutput.Span<T>();
        using Scratch<T> dg = Scratch<T>.Rent(n), dz = Scratch<T>.Rent(n), dt = Scratch<T>.Rent(n);
        for (int i = 0; i < n; i++)
        {
            var p = TruncatedGumbel.Partials(double.CreateTruncating(g[i]), double.CreateTruncating(z[i]), double.CreateTruncating(t[i]), double.CreateTruncating(y[i]));
            double w = double.CreateTruncating(gy[i]);
            dg.Span[i] = T.CreateTruncating(w * p.G);
            dz.Span[i] = T.CreateTruncating(w * p.Z);
            dt.Span[i] = T.CreateTruncating(w * p.T);
        }
        var shape = c.Output.Shape.ToArray();
        Scratch<T>[] parts = [dg, dz, dt];
        for (int k = 0; k < 3; k++)
            if (c.InputGrads[k] is { } gk) Broadcast.ReduceToShape<T>(parts[k].Span, shape, gk.Span<T>(), gk.Shape.ToArray(), accumulate: true);
    }

    /// <summary><c>g * exp(y - g)</c>, <c>-(g * exp(y - z))</c> and <c>g * exp(y - t)</c>, each summed to its operand's shape.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr y = node;
        return [.. node.Inputs.Select((x, i) =>
        {
            var d = g * (y - x).Exp();
            return (Expr?)BinaryOp.SumTo(i == 1 ? -d : d, x.Shape);
        })];
    }
}

public readonly partial struct Expr
{
    /// <summary><c>truncated_gumbel(this, z, t)</c>: the Gumbels <c>this</c> of a set whose maximum is <paramref name="z"/>
    /// shifted to the maximum <paramref name="t"/>, −log(e^−t − e^−z + e^−this), stable (see <see cref="TruncatedGumbelOp"/>).</summary>
    public Expr TruncatedGumbel(Expr z, Expr t) => Apply(new TruncatedGumbelOp(), z, t);
}
