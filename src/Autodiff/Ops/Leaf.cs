using System.Numerics;

namespace Autodiff;

/// <summary>A named program input with a declared element type, shape and facts.</summary>
public sealed record InputOp(string InputName, DType Type, Shape Shape, InputFacts Facts) : Op
{
    /// <inheritdoc/>
    public override string Name => "input";

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs) => (Shape, Type);

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
public sealed record ConstantOp(double Value, DType Type) : Op
{
    /// <inheritdoc/>
    public override string Name => "constant";

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
