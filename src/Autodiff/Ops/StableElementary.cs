using System.Numerics;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>log1p(x)</c> = log(1 + x), accurate to a few ulps for every x (Kahan's correction of the rounded 1 + x),
/// so log(1 + 1e-10) keeps all its digits where the naive form keeps six. −1 gives −inf; below −1 NaN. The gradient is
/// g / (1 + x).</summary>
public sealed record Log1pOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "log1p";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("log1p", e => e.Log1p())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Log1p(n.DType, x[0], y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = ScalarMath.Log1p(x[i]);
    }
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] += g[i] / (T.One + x[i]);
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g / (1 + x);
}

/// <summary><c>expm1(x)</c> = exp(x) − 1, accurate to a few ulps for every x (Kahan), so exp(1e-10) − 1 keeps all its
/// digits. −inf gives −1. The gradient is g·(y + 1) = g·exp(x).</summary>
public sealed record Expm1Op : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "expm1";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("expm1", e => e.Expm1())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Expm1(n.DType, x[0], y);
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = ScalarMath.Expm1(x[i]);
    }
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] += g[i] * T.Exp(x[i]);
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * x.Exp();
}

/// <summary><c>log1mexp(x)</c> = log(1 − exp(x)) for x ≤ 0 (Mächler's two branches: log(−expm1(x)) for x above −log 2,
/// log1p(−exp(x)) below), accurate to a few ulps: log(1 − exp(−1e-10)) is about −23.03 to every digit where the naive form
/// gives −23.0258... with six. 0 gives −inf, −inf gives 0, x &gt; 0 gives NaN (the logarithm of a negative number). The
/// gradient is −g / expm1(−x), finite for every x &lt; 0.</summary>
public sealed record Log1mexpOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "log1mexp";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("log1mexp", e => e.Log1mexp())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Log1mexp(n.DType, x[0], y);
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
    {
        for (int i = 0; i < x.Length; i++) y[i] = ScalarMath.Log1mexp(x[i]);
    }
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        for (int i = 0; i < x.Length; i++) gx[i] -= g[i] / ScalarMath.Expm1(-x[i]);
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => -(g / (-x).Expm1());
}

/// <summary><c>logdiffexp(a, b)</c> = log(exp(a) − exp(b)) elementwise with NumPy broadcasting, computed as
/// a + log1mexp(b − a), so it never overflows: logdiffexp(1000, 999) = 1000 + log(1 − e^−1). b = −inf gives a (also
/// when a = −inf: log(0 − 0) = −inf); a = b gives −inf; b &gt; a gives NaN (the logarithm of a negative number), as does
/// a = b = +inf. Gradients: −g / expm1(b − a) for a and −g / expm1(a − b) for b (g and 0 when b = −inf).</summary>
public sealed record LogDiffExpOp : BinaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "logdiffexp";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("logdiffexp", (a, b) => a.LogDiffExp(b))];

    /// <summary>a + log1mexp(b − a), and a where b = −inf.</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y)
    {
        var general = o.Emit("Add", [x[0], o.Log1mexp(n.DType, o.Emit("Sub", [x[1], x[0]]), null)]);
        var none = o.Emit("IsInf", [x[1]], null, OnnxAttribute.Of("detect_positive", 0));
        return o.Emit("Where", [none, x[0], general], y);
    }

    /// <inheritdoc/>
    public override bool IsFused => true;

    /// <summary>Not used: logdiffexp has no <see cref="BinaryKind"/>; its forward is its own.</summary>
    private protected override BinaryKind Kind => throw new NotSupportedException("logdiffexp has no broadcast kernel kind");

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c) => LogAddExpOp.ForwardExpanded<T>(c, ScalarMath.LogDiffExp);

    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
    {
        for (int i = 0; i < g.Length; i++)
        {
            bool none = T.IsNegativeInfinity(b[i]);
            if (!ga.IsEmpty) ga[i] = none ? g[i] : -g[i] / ScalarMath.Expm1(b[i] - a[i]);
            if (!gb.IsEmpty) gb[i] = none ? T.Zero : -g[i] / ScalarMath.Expm1(a[i] - b[i]);
        }
    }

    /// <summary><c>-(g / expm1(b - a))</c> and <c>-(g / expm1(a - b))</c> (NaN where a = b = −inf, unlike the tape).</summary>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g) => (-(g / (b - a).Expm1()), -(g / (a - b).Expm1()));
}

public readonly partial struct Expr
{
    /// <summary><c>log1p(x)</c> = log(1 + x), accurate near 0 (see <see cref="Log1pOp"/>).</summary>
    public Expr Log1p() => Apply(new Log1pOp());
    /// <summary><c>expm1(x)</c> = exp(x) − 1, accurate near 0 (see <see cref="Expm1Op"/>).</summary>
    public Expr Expm1() => Apply(new Expm1Op());
    /// <summary><c>log1mexp(x)</c> = log(1 − exp(x)), accurate for every x ≤ 0 (see <see cref="Log1mexpOp"/>).</summary>
    public Expr Log1mexp() => Apply(new Log1mexpOp());
    /// <summary><c>logdiffexp(a, b)</c> = log(exp(a) − exp(b)) elementwise with broadcasting, stable (see <see cref="LogDiffExpOp"/>).</summary>
    public Expr LogDiffExp(Expr other) => Apply(new LogDiffExpOp(), other);
}
