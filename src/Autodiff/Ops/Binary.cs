using System.Numerics;
using System.Numerics.Tensors;
using Autodiff.Kernels;

namespace Autodiff;

/// <summary>An elementwise op of two float operands of one element type, with NumPy broadcasting.
/// The backward reduces each operand's gradient back to its own shape.</summary>
public abstract record BinaryOp : Op
{
    /// <summary>The kernel that computes the forward.</summary>
    protected abstract BinaryKind Kind { get; }

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (inputs.Count != 2) throw new ShapeException(Name, $"takes 2 operands, got {inputs.Count}");
        RequireFloat(inputs[0], "left operand");
        RequireFloat(inputs[1], "right operand");
        RequireSameDType(inputs);
        return (Shape.Broadcast(inputs[0].Shape, inputs[1].Shape, Name), inputs[0].DType);
    }

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        Tensor a = c.Inputs[0], b = c.Inputs[1];
        Broadcast.Binary(a.Span<T>(), a.Shape.ToArray(), b.Span<T>(), b.Shape.ToArray(), c.Output.Span<T>(), c.Output.Shape.ToArray(), Kind);
    }

    /// <summary>Writes g·∂y/∂a into <paramref name="ga"/> and g·∂y/∂b into <paramref name="gb"/> (either may be empty when
    /// not needed), with a, b already expanded to the output's shape.</summary>
    protected abstract void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        Tensor? ga = c.InputGrads[0], gb = c.InputGrads[1];
        if (ga is null && gb is null) return;
        int n = c.Output.Size;
        var shape = c.Output.Shape.ToArray();
        using var ea = Expanded<T>(c.Inputs[0], shape, n);
        using var eb = Expanded<T>(c.Inputs[1], shape, n);
        using var ta = Scratch<T>.Rent(ga is null ? 0 : n);
        using var tb = Scratch<T>.Rent(gb is null ? 0 : n);
        Partials<T>(ea.Span, eb.Span, c.Output.Span<T>(), c.GradOutput.Span<T>(), ta.Span, tb.Span);
        if (ga is not null) Broadcast.ReduceToShape<T>(ta.Span, shape, ga.Span<T>(), ga.Shape.ToArray(), accumulate: true);
        if (gb is not null) Broadcast.ReduceToShape<T>(tb.Span, shape, gb.Span<T>(), gb.Shape.ToArray(), accumulate: true);
    }

    private static Scratch<T> Expanded<T>(Tensor x, int[] shape, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = Scratch<T>.Rent(n);
        Broadcast.Expand<T>(x.Span<T>(), x.Shape.ToArray(), s.Span, shape);
        return s;
    }

    /// <summary>Sums a gradient of the broadcast result shape down to <paramref name="shape"/> (symbolically).</summary>
    internal static Expr SumTo(Expr g, Shape shape)
    {
        if (g.Shape == shape) return g;
        int lead = g.Shape.Rank - shape.Rank;
        var axes = new List<int>();
        for (int i = 0; i < g.Shape.Rank; i++)
            if (i < lead || (shape[i - lead] == 1 && g.Shape[i] != 1)) axes.Add(i);
        var s = axes.Count > 0 ? g.Sum(axes.ToArray(), keepDims: true) : g;
        return s.Shape == shape ? s : s.Reshape(shape.ToArray());
    }

    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        var (da, db) = Local(node.Inputs[0], node.Inputs[1], node, g);
        Expr? ga = da is { } x ? SumTo(x, node.Inputs[0].Shape) : (Expr?)null;
        Expr? gb = db is { } y ? SumTo(y, node.Inputs[1].Shape) : (Expr?)null;
        return [ga, gb];
    }

    /// <summary>g·∂y/∂a and g·∂y/∂b at the broadcast shape, as expressions.</summary>
    protected abstract (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g);
}

/// <summary><c>a + b</c>.</summary>
public sealed record AddOp : BinaryOp
{
    /// <inheritdoc/>
    public override string Name => "add";
    /// <inheritdoc/>
    protected override BinaryKind Kind => BinaryKind.Add;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
    {
        if (!ga.IsEmpty) g.CopyTo(ga);
        if (!gb.IsEmpty) g.CopyTo(gb);
    }
    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g) => (g, g);
}

/// <summary><c>a - b</c>.</summary>
public sealed record SubOp : BinaryOp
{
    /// <inheritdoc/>
    public override string Name => "sub";
    /// <inheritdoc/>
    protected override BinaryKind Kind => BinaryKind.Subtract;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
    {
        if (!ga.IsEmpty) g.CopyTo(ga);
        if (!gb.IsEmpty) TensorPrimitives.Negate(g, gb);
    }
    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g) => (g, -g);
}

/// <summary><c>a * b</c>.</summary>
public sealed record MulOp : BinaryOp
{
    /// <inheritdoc/>
    public override string Name => "mul";
    /// <inheritdoc/>
    protected override BinaryKind Kind => BinaryKind.Multiply;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
    {
        if (!ga.IsEmpty) TensorPrimitives.Multiply(g, b, ga);
        if (!gb.IsEmpty) TensorPrimitives.Multiply(g, a, gb);
    }
    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g) => (g * b, g * a);
}

/// <summary><c>a / b</c>.</summary>
public sealed record DivOp : BinaryOp
{
    /// <inheritdoc/>
    public override string Name => "div";
    /// <inheritdoc/>
    protected override BinaryKind Kind => BinaryKind.Divide;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
    {
        if (!ga.IsEmpty) TensorPrimitives.Divide(g, b, ga);
        if (!gb.IsEmpty) for (int i = 0; i < g.Length; i++) gb[i] = -(g[i] * a[i]) / (b[i] * b[i]);
    }
    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g) => (g / b, -(g * a) / b.Square());
}

/// <summary><c>maximum(a, b)</c> elementwise; at ties the gradient is split equally; NaN propagates.</summary>
public sealed record MaximumOp : BinaryOp
{
    /// <inheritdoc/>
    public override string Name => "maximum";
    /// <inheritdoc/>
    protected override BinaryKind Kind => BinaryKind.Maximum;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb) =>
        Select(a, b, g, ga, gb, greaterWins: true);

    internal static void Select<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb, bool greaterWins)
        where T : IFloatingPointIeee754<T>
    {
        T half = T.One / (T.One + T.One);
        for (int i = 0; i < g.Length; i++)
        {
            T wa = a[i] == b[i] ? half : (a[i] > b[i]) == greaterWins ? T.One : T.Zero;
            if (!ga.IsEmpty) ga[i] = g[i] * wa;
            if (!gb.IsEmpty) gb[i] = g[i] * (T.One - wa);
        }
    }

    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g)
    {
        var wa = ((a - b).Sign() + 1) * 0.5;
        return (g * wa, g * (1 - wa));
    }
}

/// <summary><c>minimum(a, b)</c> elementwise; at ties the gradient is split equally; NaN propagates.</summary>
public sealed record MinimumOp : BinaryOp
{
    /// <inheritdoc/>
    public override string Name => "minimum";
    /// <inheritdoc/>
    protected override BinaryKind Kind => BinaryKind.Minimum;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb) =>
        MaximumOp.Select(a, b, g, ga, gb, greaterWins: false);
    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g)
    {
        var wa = ((b - a).Sign() + 1) * 0.5;
        return (g * wa, g * (1 - wa));
    }
}

/// <summary><c>pow(a, b)</c> = a^b. ∂/∂a = b·a^(b−1); ∂/∂b = a^b·log a, taken as 0 where a^b = 0.</summary>
public sealed record PowOp : BinaryOp
{
    /// <inheritdoc/>
    public override string Name => "pow";
    /// <inheritdoc/>
    protected override BinaryKind Kind => BinaryKind.Power;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
    {
        for (int i = 0; i < g.Length; i++)
        {
            if (!ga.IsEmpty) ga[i] = b[i] == T.Zero ? T.Zero : g[i] * b[i] * T.Pow(a[i], b[i] - T.One);
            if (!gb.IsEmpty) gb[i] = y[i] == T.Zero ? T.Zero : g[i] * y[i] * T.Log(a[i]);
        }
    }
    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g) =>
        (g * b * a.Pow(b - 1), g * y * a.Log());
}

public readonly partial struct Expr
{
    /// <summary>Elementwise <c>maximum(a, b)</c>.</summary>
    public Expr Maximum(Expr other) => Apply(new MaximumOp(), other);
    /// <summary>Elementwise <c>minimum(a, b)</c>.</summary>
    public Expr Minimum(Expr other) => Apply(new MinimumOp(), other);
    /// <summary>Elementwise <c>pow(a, b)</c>.</summary>
    public Expr Pow(Expr exponent) => Apply(new PowOp(), exponent);
    /// <summary>Elementwise <c>pow(a, p)</c> with a constant exponent.</summary>
    public Expr Pow(double exponent) => Apply(new PowOp(), Const(exponent));
}
