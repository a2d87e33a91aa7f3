using System.Numerics;
using Autodiff.Interop;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>erf(x)</c> = 2/√π ∫₀ˣ exp(−t²) dt, vectorized and within 1 ulp (<see cref="Kernels.ErfKernel"/>); ±1 beyond
/// |x| ≈ 6, NaN stays NaN. The gradient is g·2/√π·exp(−x²), whose own gradient (erf's second derivative) the symbolic
/// form gives through <c>exp</c> and <c>square</c>. ONNX: <c>Erf</c> in f32; f64 is refused, since ONNX Runtime's CPU
/// <c>Erf</c> runs float only.</summary>
public sealed record ErfOp : UnaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "erf";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("erf", e => e.Erf())];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit(OnnxErf(this, n.DType), x, y);

    /// <summary>The ONNX operator <c>Erf</c>, or the refusal naming <paramref name="op"/> and the element type where
    /// ONNX Runtime has no kernel for it.</summary>
    internal static string OnnxErf(Op op, DType t) => t == DType.F32 ? "Erf"
        : throw OnnxLowering.NotExportable(op, $"{t.Name()}: ONNX Runtime's CPU Erf runs float only; convert the graph to f32 to export it");

    /// <summary>2/√π.</summary>
    internal const double TwoOverSqrtPi = 1.1283791670955125739;

    /// <inheritdoc/>
    protected override void Apply<T>(ReadOnlySpan<T> x, Span<T> y) => Kernels.ErfKernel.Erf(x, y);
    /// <inheritdoc/>
    protected override void Vjp<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
    {
        T c = T.CreateTruncating(TwoOverSqrtPi);
        for (int i = 0; i < x.Length; i++) gx[i] += g[i] * c * T.Exp(-(x[i] * x[i]));
    }
    /// <inheritdoc/>
    protected override Expr? Local(Expr x, Expr y, Expr g) => g * ((-x.Square()).Exp() * TwoOverSqrtPi);
}

public readonly partial struct Expr
{
    /// <summary><c>erf(x)</c>, the error function.</summary>
    public Expr Erf() => Apply(new ErfOp());
}
