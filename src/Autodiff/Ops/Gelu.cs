using System.Numerics;
using System.Numerics.Tensors;
using Autodiff.Interop;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>gelu(x)</c> = x·Φ(x), Φ the standard normal distribution function, computed as x·erfc(−x/√2)/2
/// (<see cref="Kernels.ErfKernel.NormalCdf{T}"/>) so the lower tail keeps its relative accuracy: gelu(−10) = −7.6e-23, not
/// the 0 of x·(1 + erf(x/√2))/2. With <c>approximate=true</c>, the tanh approximation
/// x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))/2, evaluated as x·σ(2u) with u the tanh argument (the same function, with no
/// cancellation for negative x). Gradients: g·(Φ(x) + x·φ(x)) with φ the normal density, and for the approximation
/// g·(s + x·s·(1 − s)·2u′) with s = σ(2u). ONNX (opset 18 has no Gelu): exact through <c>Erf</c> (f32 only, see
/// <see cref="ErfOp"/>), the approximation through <c>Sigmoid</c> (f32 and f64).</summary>
/// <param name="Approximate">The tanh approximation instead of the exact x·Φ(x).</param>
public sealed record GeluOp(bool Approximate = false) : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "gelu";

    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("gelu", [FunctionParam.Tensor("x"), FunctionParam.Bool("approximate")], c => c.Tensor("x").Gelu(c.Bool("approximate")))];

    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) => Approximate ? [("approximate", "true")] : [];

    /// <summary>x·(1 + Erf(x/√2))/2, or x·Sigmoid(2√(2/π)·(x + 0.044715·x³)).</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y)
    {
        var t = n.DType;
        if (Approximate)
        {
            var cube = o.Emit("Mul", [x[0], o.Emit("Mul", [x[0], x[0]])]);
            var inner = o.Emit("Add", [x[0], o.Emit("Mul", [cube, o.Scalar("c", C, t)])]);
            return o.Emit("Mul", [x[0], o.Emit("Sigmoid", [o.Emit("Mul", [inner, o.Scalar("two_k", 2 * K, t)])])], y);
        }
        var erf = o.Emit(ErfOp.OnnxErf(this, t), [o.Emit("Mul", [x[0], o.Scalar("inv_sqrt2", InvSqrt2, t)])]);
        var cdf = o.Emit("Mul", [o.Emit("Add", [erf, o.Scalar("one", 1, t)]), o.Scalar("half", 0.5, t)]);
        return o.Emit("Mul", [x[0], cdf], y);
    }

    private const double C = 0.044715, K = 0.79788456080286535588, InvSqrt2 = 0.70710678118654752440, InvSqrt2Pi = 0.39894228040143267794;

    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y)
    {
        if (Approximate) Sigmoid2U(x, y);
        else Kernels.ErfKernel.NormalCdf(x, y);
        TensorPrimitives.Multiply(x, y, y);
    }

    /// <summary>s = σ(2u), u = √(2/π)·(x + 0.044715·x³).</summary>
    private static void Sigmoid2U<T>(ReadOnlySpan<T> x, Span<T> s) where T : unmanaged, IFloatingPointIeee754<T>
    {
        T c = T.CreateTruncating(C), k2 = T.CreateTruncating(2 * K);
        for (int i = 0; i < x.Length; i++) s[i] = k2 * (x[i] + c * x[i] * x[i] * x[i]);
        TensorPrimitives.Sigmoid(s, s);
    }

    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        Span<T> p = stackalloc T[256];
        T c3 = T.CreateTruncating(3 * C), k2 = T.CreateTruncating(2 * K), d = T.CreateTruncating(InvSqrt2Pi), half = T.CreateTruncating(0.5);
        for (int start = 0; start < x.Length; start += p.Length)
        {
            int n = Math.Min(p.Length, x.Length - start);
            var xs = x.Slice(start, n);
            var ps = p[..n];
            if (Approximate)
            {
                Sigmoid2U(xs, ps);
                for (int i = 0; i < n; i++)
                {
                    T xi = xs[i], s = ps[i];
                    gx[start + i] += g[start + i] * (s + xi * s * (T.One - s) * k2 * (T.One + c3 * xi * xi));
                }
            }
            else
            {
                Kernels.ErfKernel.NormalCdf(xs, ps);
                for (int i = 0; i < n; i++)
                {
                    T xi = xs[i];
                    gx[start + i] += g[start + i] * (ps[i] + xi * d * T.Exp(-(xi * xi) * half));
                }
            }
        }
    }

    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g)
    {
        if (Approximate)
        {
            var s = ((x + x * x.Square() * C) * (2 * K)).Sigmoid();
            return g * (s + x * s * (1 - s) * (2 * K) * (1 + x.Square() * (3 * C)));
        }
        var cdf = ((x * InvSqrt2).Erf() + 1) * 0.5;
        return g * (cdf + x * ((x.Square() * -0.5).Exp() * InvSqrt2Pi));
    }
}

public readonly partial struct Expr
{
    /// <summary><c>gelu(x)</c> = x·Φ(x); with <paramref name="approximate"/>, the tanh approximation.</summary>
    public Expr Gelu(bool approximate = false) => Apply(new GeluOp(approximate));
}
