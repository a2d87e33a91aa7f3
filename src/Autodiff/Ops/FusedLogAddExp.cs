using System.Numerics;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>logaddexp(a, b)</c> = log(exp(a) + exp(b)) elementwise with NumPy broadcasting, computed as
/// max(a, b) + log1p(exp(−|a − b|)) so it never overflows. Equal arguments give a + log 2, so −inf with −inf gives −inf
/// and +inf with +inf gives +inf; NaN propagates. Gradients: g·σ(a − b) for a and g·σ(b − a) for b (each summed back to
/// its operand's shape); for a = b = −inf both are 0, for a = b = +inf each gets g/2.</summary>
public sealed record LogAddExpOp : BinaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "logaddexp";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("logaddexp", (a, b) => a.LogAddExp(b))];

    /// <summary>max(a, b) + softplus(−|a − b|) (= log(1 + exp(−|a − b|)), with no overflow), and a + log 2 where
    /// a = b (so that equal infinities give that infinity, not NaN).</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y)
    {
        string a = x[0], b = x[1];
        var general = o.Emit("Add", [o.Emit("Max", [a, b]), o.SoftplusOfMinusAbs(o.Emit("Sub", [a, b]))]);
        var equal = o.Emit("Add", [a, o.Scalar("ln2", Math.Log(2), n.DType)]);
        return o.Emit("Where", [o.Emit("Equal", [a, b]), equal, general], y);
    }

    /// <inheritdoc/>
    public override bool IsFused => true;

    /// <summary>Not used: logaddexp has no <see cref="BinaryKind"/>; its forward is its own.</summary>
    private protected override BinaryKind Kind => throw new NotSupportedException("logaddexp has no broadcast kernel kind");

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c) => ForwardExpanded<T>(c, LogAddExp);

    /// <summary>y = f(a, b) elementwise, with a expanded into the output buffer and b (when broadcast) into scratch: the
    /// forward of the binary ops that have no <see cref="BinaryKind"/> (logaddexp, logdiffexp).</summary>
    internal static void ForwardExpanded<T>(OpContext c, Func<T, T, T> f)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        Tensor a = c.Inputs[0], b = c.Inputs[1];
        var shape = c.Output.Shape.ToArray();
        int n = c.Output.Size;
        var y = (T[])c.Output.Data;
        Broadcast.Expand<T>(a.Span<T>(), a.Shape.ToArray(), y, shape);
        bool same = b.Shape == c.Output.Shape;
        using var expanded = Scratch<T>.Rent(same ? 0 : n);
        if (!same) Broadcast.Expand<T>(b.Span<T>(), b.Shape.ToArray(), expanded.Span, shape);
        var scratch = expanded;
        var bv = same ? (T[])b.Data : null;
        Elementwise.Run(n, (s, len) =>
        {
            var ya = y.AsSpan(s, len);
            var bs = bv is null ? scratch.Span.Slice(s, len) : bv.AsSpan(s, len);
            for (int i = 0; i < ya.Length; i++) ya[i] = f(ya[i], bs[i]);
        });
    }

    internal static T LogAddExp<T>(T a, T b)
        where T : IFloatingPointIeee754<T> =>
        a == b ? a + ScalarMath.Log1p(T.One) : T.Max(a, b) + ScalarMath.Log1p(T.Exp(-T.Abs(a - b)));

    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
    {
        T half = T.One / (T.One + T.One);
        for (int i = 0; i < g.Length; i++)
        {
            T wa, wb;
            if (a[i] == b[i])
            {
                wa = wb = T.IsNegativeInfinity(a[i]) ? T.Zero : half;
            }
            else
            {
                wa = SoftplusOp.Sigmoid(a[i] - b[i]);
                wb = SoftplusOp.Sigmoid(b[i] - a[i]);
            }
            if (!ga.IsEmpty) ga[i] = g[i] * wa;
            if (!gb.IsEmpty) gb[i] = g[i] * wb;
        }
    }

    /// <summary><c>g * sigmoid(a - b)</c> and <c>g * sigmoid(b - a)</c> (NaN where a = b = ±inf, unlike the tape).</summary>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g) => (g * (a - b).Sigmoid(), g * (b - a).Sigmoid());
}

public readonly partial struct Expr
{
    /// <summary><c>logaddexp(a, b)</c> = log(exp(a) + exp(b)) elementwise with broadcasting, stable (see <see cref="LogAddExpOp"/>).</summary>
    public Expr LogAddExp(Expr other) => Apply(new LogAddExpOp(), other);
}
