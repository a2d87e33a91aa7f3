using System.Numerics;
using Autodiff.Interop;
using Autodiff.Text;

namespace Autodiff;

/// <summary>A named program input with a declared element type, shape and facts.</summary>
public sealed record InputOp(string InputName, DType Type, Shape Shape, InputFacts Facts) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "input";

    /// <summary>None: a program declares its inputs with the <c>input</c> statement, not a function call.</summary>
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [];

    /// <summary>Never called: the graph writer declares the inputs as the model's inputs.</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => InputName;

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs) =>
        Facts.CheckDeclaration(Type, Shape) is { } error ? throw new ShapeException("input", $"'{InputName}': {error}") : (Shape, Type);

    /// <inheritdoc/>
    public override Op WithFloatType(DType dtype) => Type.IsFloat() ? this with { Type = dtype } : this;

    /// <inheritdoc/>
    public override void Forward(OpContext c) => throw new InvalidOperationException("inputs are bound, not computed");

    /// <inheritdoc/>
    public override void Backward(OpContext c) { }

    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [];
}

/// <summary>A scalar constant. Its element type is that of the expression it joins.</summary>
public sealed record ConstantOp(double Value, DType Type) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "constant";

    /// <summary><c>constant(v, dtype=...)</c>: the printer writes it where a bare literal would be given another type by
    /// the weak typing rule (or for i64 constants).</summary>
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
    [
        new("constant", [FunctionParam.Number("value"), FunctionParam.DType("dtype")], c =>
        {
            double v = c.Number("value");
            var t = c.DType("dtype", c.DefaultFloat);
            if (t == DType.I64 && (double.IsNaN(v) || double.IsInfinity(v) || Math.Round(v) != v))
                throw new AutodiffException($"constant: an i64 constant must be an integer, got {Tensor.FormatNumber(v, DType.F64)}");
            return c.Builder.Constant(v, t);
        }),
    ];

    /// <summary>A scalar initializer of the constant's element type.</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Initializer(Value, Type, y);

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs) => (Shape.Scalar, Type);

    /// <inheritdoc/>
    public override Op WithFloatType(DType dtype) => Type.IsFloat() ? this with { Type = dtype } : this;

    /// <inheritdoc/>
    public override void Forward(OpContext c) => c.Output.Fill(Value);

    /// <inheritdoc/>
    public override void Backward(OpContext c) { }

    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [];

    /// <summary>Record equality, but telling 0 from -0 and every NaN equal.</summary>
    public bool Equals(ConstantOp? other) =>
        other is not null && Type == other.Type && BitConverter.DoubleToInt64Bits(Value) == BitConverter.DoubleToInt64Bits(other.Value)
        || other is not null && Type == other.Type && double.IsNaN(Value) && double.IsNaN(other.Value);

    /// <inheritdoc/>
    public override int GetHashCode() => HashCode.Combine(Type, double.IsNaN(Value) ? double.NaN : Value, double.IsNegative(Value));
}
