using System.Numerics;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>pnorm(x, p=..., axis=..., keepdims=...)</c>: the p-norm (Σ|x_i|^p)^(1/p) over one or several axes (all axes when
/// none are given), for p ≥ 1 or p = inf (max |x_i|). Each row is scaled by its largest magnitude a = max|x_i| before
/// powering, ‖x‖_p = a·(Σ(|x_i|/a)^p)^(1/p), so no power exceeds 1: finite for inputs near 1e±300 and for p up to 1000 and
/// beyond (the sum is accumulated in double, also for f32). Over several axes the norm is the norm of the per-axis-group
/// norms, which is the same number. The gradient is sign(x_i)·(|x_i|/‖x‖_p)^(p−1), whose base is at most 1; for p = inf the
/// gradient is shared equally among the entries attaining max |x| (with their signs). At the zero vector the (sub)gradient
/// is taken as 0. An empty row has norm 0. A row with NaN gives NaN; a row with ±inf gives inf.</summary>
/// <param name="P">The order, ≥ 1 or +inf.</param>
/// <param name="Axes">The reduced axes, resolved and sorted.</param>
/// <param name="KeepDims">Keep the reduced axes as size 1.</param>
[NotExportable("no scaled decomposition into ONNX operators is written (ReduceL1/ReduceL2 cover p = 1 and 2 only, unscaled)")]
public sealed record PNormOp(double P, IntList Axes, bool KeepDims) : ReduceOp(Axes, KeepDims), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "pnorm";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("pnorm", [FunctionParam.Tensor("x"), FunctionParam.Number("p", optional: true), FunctionParam.Ints("axis", optional: true), FunctionParam.Bool("keepdims")],
            c => c.Tensor("x").PNorm(c.Has("p") ? c.Number("p") : 2, c.Ints("axis"), c.Bool("keepdims")))];
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) =>
        [("p", Tensor.FormatNumber(P, DType.F64)), .. base.Attributes(node)];
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (!(P >= 1))
            throw new ShapeException(Name, $"p must be >= 1 or inf, got p = {Tensor.FormatNumber(P, DType.F64)}" +
                (inputs.Count > 0 ? $" (x {inputs[0].DType.Name()}{inputs[0].Shape})" : ""));
        return base.Infer(inputs);
    }
    /// <inheritdoc/>
    protected override void Kernel<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst)
    {
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
                dst[o * inner + i] = T.CreateTruncating(Norm(x, o * n * inner + i, n, inner));
    }

    /// <summary>The norm of the strided row x[start + j·stride], j &lt; n, in double.</summary>
    private double Norm<T>(ReadOnlySpan<T> x, int start, int n, int stride) where T : IFloatingPointIeee754<T>
    {
        double a = 0;
        for (int j = 0; j < n; j++)
        {
            double v = Math.Abs(double.CreateTruncating(x[start + j * stride]));
            if (double.IsNaN(v)) return double.NaN;
            a = Math.Max(a, v);
        }
        if (a == 0 || double.IsPositiveInfinity(a) || double.IsPositiveInfinity(P)) return a;
        double s = 0;
        for (int j = 0; j < n; j++)
        {
            double r = Math.Abs(double.CreateTruncating(x[start + j * stride])) / a;
            s += P == 1 ? r : P == 2 ? r * r : Math.Pow(r, P);
        }
        return P == 1 ? a * s : P == 2 ? a * Math.Sqrt(s) : a * Math.Pow(s, 1 / P);
    }

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        var x = c.Inputs[0];
        var xs = x.Shape.ToArray();
        var kept = KeptShape(x.Shape).ToArray();
        int n = x.Size;
        using var y = Scratch<T>.Rent(n);
        using var g = Scratch<T>.Rent(n);
        Broadcast.Expand<T>(c.Output.Span<T>(), kept, y.Span, xs);
        Broadcast.Expand<T>(c.GradOutput.Span<T>(), kept, g.Span, xs);
        var xv = x.Span<T>();
        var yv = y.Span;
        var gv = gx.Span<T>();
        if (double.IsPositiveInfinity(P))
        {
            // Share g among the entries that attain max |x|: count them per row, then give each sign(x)·g/count.
            using var hit = Scratch<T>.Rent(n);
            using var count = Scratch<T>.Rent(c.Output.Size);
            for (int i = 0; i < n; i++) hit.Span[i] = T.Abs(xv[i]) == yv[i] ? T.One : T.Zero;
            new SumOp(Axes, true).ReduceAll<T>(hit.Span, x.Shape, count.Span);
            Broadcast.Expand<T>(count.Span, kept, yv, xs);
            for (int i = 0; i < n; i++)
                if (hit.Span[i] != T.Zero && xv[i] != T.Zero) gv[i] += xv[i] > T.Zero ? g.Span[i] / yv[i] : -g.Span[i] / yv[i];
            return;
        }
        for (int i = 0; i < n; i++)
        {
            if (yv[i] == T.Zero || xv[i] == T.Zero) continue;
            double r = Math.Abs(double.CreateTruncating(xv[i])) / double.CreateTruncating(yv[i]);
            double d = P == 1 ? 1 : P == 2 ? r : Math.Pow(r, P - 1);
            gv[i] += g.Span[i] * T.CopySign(T.CreateTruncating(d), xv[i]);
        }
    }

    /// <summary>For finite p, <c>where(y, g' * sign(x) * (abs(x) / y)^(p - 1), 0)</c> with g' and y the gradient and the norm
    /// broadcast back to x's shape; for p = inf, <c>where(y, g' * sign(x) * hit / sum(hit, axis, keepdims=true), 0)</c> with
    /// hit = <c>1 - sign(abs(abs(x) - y))</c> marking the entries that attain the max. The <c>where</c> gives the zero vector
    /// gradient 0, as the tape does.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr x = node.Inputs[0];
        var y = ExpandBack(node.Expr, x.Shape);
        var gb = ExpandBack(g, x.Shape);
        Expr d;
        if (double.IsPositiveInfinity(P))
        {
            var hit = 1 - (x.Abs() - y).Abs().Sign();
            d = x.Sign() * hit / hit.Sum(Axes.ToArray(), keepDims: true);
        }
        else d = P == 1 ? x.Sign() : x.Sign() * (x.Abs() / y).Pow(P - 1);
        return [Expr.Where(y, gb * d, g.Const(0))];
    }
}

public readonly partial struct Expr
{
    /// <summary><c>pnorm(x, p, axis=..., keepdims=...)</c>: the overflow-safe p-norm over <paramref name="axes"/> (all axes if
    /// none), p ≥ 1 or <see cref="double.PositiveInfinity"/>; see <see cref="PNormOp"/>.</summary>
    public Expr PNorm(double p, int[]? axes = null, bool keepDims = false) => Apply(new PNormOp(p, ResolveAxes(axes, "pnorm"), keepDims));

    /// <summary>The p-norm over one axis.</summary>
    public Expr PNorm(double p, int axis, bool keepDims = false) => PNorm(p, [axis], keepDims);
}
