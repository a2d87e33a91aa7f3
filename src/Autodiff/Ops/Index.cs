using System.Numerics;
using System.Numerics.Tensors;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>one_hot(t, C)</c>: integer class indices of shape S to a float tensor of shape [S..., C].
/// An index outside [0, C) is an error that names the index and its position.</summary>
public sealed record OneHotOp(int Classes, DType Type) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "one_hot";

    /// <summary><c>one_hot(t, classes, dtype?, ignore_index?)</c>; with <c>ignore_index</c> it builds a
    /// <see cref="MaskedOneHotOp"/>, which prints under the same name.</summary>
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
    [
        new("one_hot", [FunctionParam.Tensor("t"), FunctionParam.Int("classes"), FunctionParam.DType("dtype"), FunctionParam.Int("ignore_index", optional: true)],
            c => c.Has("ignore_index") ? c.Tensor("t").OneHot(c.Int("classes"), c.DType("dtype", c.DefaultFloat), c.Int("ignore_index"))
                                       : c.Tensor("t").OneHot(c.Int("classes"), c.DType("dtype", c.DefaultFloat))),
    ];

    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) =>
        o.Emit("Cast", [o.ClassMask(x[0], Classes, n.Shape.Rank - 1, n.Shape.Rank, null)], y, OnnxAttribute.Of("to", OnnxLowering.Elem(Type)));
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) => [(null, Classes.ToString()), ("dtype", Type.Name())];
    /// <inheritdoc/>
    public override Op WithFloatType(DType dtype) => this with { Type = dtype };
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs) => InferOneHot(Name, inputs[0], Classes, Type);
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c) => Fill<T>(Name, c.Inputs[0], Classes, ignoreIndex: null, c.Output);

    /// <summary>The shape rule shared by both one-hot ops: i64 indices of shape S give a float [S..., classes].</summary>
    internal static (Shape Shape, DType DType) InferOneHot(string op, Node indices, int classes, DType type)
    {
        if (indices.DType != DType.I64) throw new ShapeException(op, $"indices must be i64, got {indices.DType.Name()}{indices.Shape}");
        if (classes < 0) throw new ShapeException(op, $"number of classes must be non-negative, got {classes}");
        if (!type.IsFloat()) throw new ShapeException(op, $"result type must be f32 or f64, got {type.Name()}");
        return (new Shape([.. indices.Shape, classes]), type);
    }

    /// <summary>Writes the one-hot rows of <paramref name="indices"/> into <paramref name="output"/>; a row whose index is
    /// <paramref name="ignoreIndex"/> stays all zero; any other index outside [0, classes) is an error naming it.</summary>
    internal static void Fill<T>(string op, Tensor indices, int classes, int? ignoreIndex, Tensor output) where T : unmanaged, INumberBase<T>
    {
        var t = indices.Span<long>();
        var y = output.Span<T>();
        y.Clear();
        for (int i = 0; i < t.Length; i++)
            if (t[i] != ignoreIndex) y[i * classes + (int)IndexCheck.Check(op, indices, i, t[i], classes)] = T.One;
    }
    /// <inheritdoc/>
    public override void Backward(OpContext c) { }
    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [null];
}

internal static class IndexCheck
{
    public static long Check(string op, Tensor indices, int flat, long value, int bound)
    {
        if ((ulong)value < (ulong)bound) return value;
        var pos = new int[indices.Shape.Rank];
        for (int d = pos.Length - 1, f = flat; d >= 0; d--) { pos[d] = f % indices.Shape[d]; f /= indices.Shape[d]; }
        throw new AutodiffException($"{op}: index {value} at position {Shape.Format(pos)} is out of range [0, {bound})");
    }
}

/// <summary><c>take(x, t, axis=a)</c>: gathers along axis a by integer indices. With t of x's shape minus axis a,
/// out[i.., j..] = x[i.., t[i.., j..], j..] (the axis is dropped: gather by class index); with t of x's rank and any
/// size k along a, the result has t's shape (NumPy take_along_axis). The gradient scatters back.</summary>
public sealed record TakeOp(int Axis) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "take";

    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("take", [FunctionParam.Tensor("x"), FunctionParam.Tensor("t"), FunctionParam.Int("axis", optional: true)], c => c.Tensor("x").Take(c.Tensor("t"), c.Int("axis", -1)))];

    /// <summary><c>GatherElements</c>, around an inserted axis when the indices drop it.</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y)
    {
        var axis = OnnxAttribute.Of("axis", Axis);
        if (n.Inputs[1].Shape.Rank == n.Inputs[0].Shape.Rank) return o.Emit("GatherElements", x, y, axis);
        var g = o.Emit("GatherElements", [x[0], o.Emit("Unsqueeze", [x[1], o.Longs("axes", [Axis])])], null, axis);
        return o.Emit("Squeeze", [g, o.Longs("axes", [Axis])], y);
    }
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) => [("axis", Axis.ToString())];
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        Shape x = inputs[0].Shape, t = inputs[1].Shape;
        RequireFloat(inputs[0]);
        if (inputs[1].DType != DType.I64) throw new ShapeException(Name, $"indices must be i64, got {inputs[1].DType.Name()}{t}");
        if (Axis < 0 || Axis >= x.Rank) throw new ShapeException(Name, $"axis {Axis} is out of range for shape {x} (rank {x.Rank})");
        bool drop = t.Rank == x.Rank - 1 && Enumerable.Range(0, t.Rank).All(i => t[i] == x[i < Axis ? i : i + 1]);
        bool along = t.Rank == x.Rank && Enumerable.Range(0, t.Rank).All(i => i == Axis || t[i] == x[i]);
        if (!drop && !along)
            throw new ShapeException(Name, $"indices {t} do not fit values {x} along axis {Axis}: expected {new Shape(x.Where((_, i) => i != Axis).ToArray())} or {x} with any size along axis {Axis}");
        return (t, inputs[0].DType);
    }

    private (int Outer, int N, int K, int Inner) Dims(Shape x, Shape t) =>
        (x.Product(0, Axis), x[Axis], t.Rank == x.Rank ? t[Axis] : 1, x.Product(Axis + 1, x.Rank));

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var (outer, n, k, inner) = Dims(c.Inputs[0].Shape, c.Inputs[1].Shape);
        var x = c.Inputs[0].Span<T>();
        var t = c.Inputs[1].Span<long>();
        var y = c.Output.Span<T>();
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < k; j++)
                for (int i = 0; i < inner; i++)
                {
                    int ti = (o * k + j) * inner + i;
                    y[ti] = x[(o * n + (int)IndexCheck.Check(Name, c.Inputs[1], ti, t[ti], n)) * inner + i];
                }
    }
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        var (outer, n, k, inner) = Dims(c.Inputs[0].Shape, c.Inputs[1].Shape);
        var g = c.GradOutput.Span<T>();
        var t = c.Inputs[1].Span<long>();
        var d = gx.Span<T>();
        for (int o = 0; o < outer; o++)
            for (int j = 0; j < k; j++)
                for (int i = 0; i < inner; i++)
                {
                    int ti = (o * k + j) * inner + i;
                    d[(o * n + (int)t[ti]) * inner + i] += g[ti];
                }
    }
    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => index == 0;
    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr x = node.Inputs[0], t = node.Inputs[1];
        if (t.Shape.Rank < x.Shape.Rank) { t = t.Unsqueeze(Axis); g = g.Unsqueeze(Axis); }
        // one_hot(t) has t's shape plus a trailing class axis; sum the k picks, then move the class axis to Axis.
        var s = (t.OneHot(x.Shape[Axis], x.DType) * g.Unsqueeze(-1)).Sum(Axis);
        int last = s.Shape.Rank - 1;
        if (Axis == last) return [s, null];
        var perm = Enumerable.Range(0, last).ToList();
        perm.Insert(Axis, last);
        return [s.Transpose(perm.ToArray()), null];
    }
}

/// <summary><c>where(mask, a, b)</c>: a where the mask is nonzero, else b, with broadcasting of all three.
/// The mask carries no gradient; a and b get the gradient where they were selected.</summary>
public sealed record WhereOp : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "where";

    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("where", [FunctionParam.Tensor("mask"), FunctionParam.Tensor("a"), FunctionParam.Tensor("b")], c => Expr.Where(c.Tensor("mask"), c.Tensor("a"), c.Tensor("b")))];

    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) =>
        o.Emit("Where", [o.Emit("Cast", [x[0]], null, OnnxAttribute.Of("to", OnnxLowering.Bool)), x[1], x[2]], y);
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (inputs.Count != 3) throw new ShapeException(Name, $"takes 3 operands (mask, a, b), got {inputs.Count}");
        RequireFloat(inputs[1], "a");
        RequireFloat(inputs[2], "b");
        if (inputs[1].DType != inputs[2].DType) throw new ShapeException(Name, $"a and b have different element types: {inputs[1].DType.Name()} and {inputs[2].DType.Name()}");
        var s = Shape.Broadcast(Shape.Broadcast(inputs[0].Shape, inputs[1].Shape, Name), inputs[2].Shape, Name);
        return (s, inputs[1].DType);
    }
    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => index > 0;

    private static void Mask<T>(Tensor mask, int[] shape, Span<T> dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        using var m = Scratch<T>.Rent(mask.Size);
        for (int i = 0; i < mask.Size; i++) m.Span[i] = mask.GetDouble(i) != 0 ? T.One : T.Zero;
        Broadcast.Expand<T>(m.Span, mask.Shape.ToArray(), dst, shape);
    }
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var shape = c.Output.Shape.ToArray();
        int n = c.Output.Size;
        using var m = Scratch<T>.Rent(n);
        using var b = Scratch<T>.Rent(n);
        Mask(c.Inputs[0], shape, m.Span);
        var y = c.Output.Span<T>();
        Broadcast.Expand<T>(c.Inputs[1].Span<T>(), c.Inputs[1].Shape.ToArray(), y, shape);
        Broadcast.Expand<T>(c.Inputs[2].Span<T>(), c.Inputs[2].Shape.ToArray(), b.Span, shape);
        for (int i = 0; i < n; i++) if (m.Span[i] == T.Zero) y[i] = b.Span[i];
    }
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        var shape = c.Output.Shape.ToArray();
        int n = c.Output.Size;
        using var m = Scratch<T>.Rent(n);
        using var t = Scratch<T>.Rent(n);
        Mask(c.Inputs[0], shape, m.Span);
        var g = c.GradOutput.Span<T>();
        for (int side = 1; side <= 2; side++)
        {
            if (c.InputGrads[side] is not { } gs) continue;
            for (int i = 0; i < n; i++) t.Span[i] = (m.Span[i] != T.Zero) == (side == 1) ? g[i] : T.Zero;
            Broadcast.ReduceToShape<T>(t.Span, shape, gs.Span<T>(), gs.Shape.ToArray(), accumulate: true);
        }
    }
    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr mask = node.Inputs[0], a = node.Inputs[1], b = node.Inputs[2];
        var zero = g.Const(0);
        return [null, BinaryOp.SumTo(Expr.Where(mask, g, zero), a.Shape), BinaryOp.SumTo(Expr.Where(mask, zero, g), b.Shape)];
    }
}

public readonly partial struct Expr
{
    /// <summary><c>one_hot(this, classes)</c> for integer indices: rows of <paramref name="dtype"/>, by default
    /// <see cref="GraphBuilder.DefaultFloat"/> (the type of the graph's first float input, as in the expression language).</summary>
    public Expr OneHot(int classes, DType? dtype = null) => Apply(new OneHotOp(classes, dtype ?? Builder.DefaultFloat));
    /// <summary>Gathers along <paramref name="axis"/> by the integer <paramref name="indices"/> (see <see cref="TakeOp"/>).</summary>
    public Expr Take(Expr indices, int axis = -1) => Apply(new TakeOp(Shape.Axis(axis, "take")), indices);
    /// <summary><c>where(mask, a, b)</c>.</summary>
    public static Expr Where(Expr mask, Expr a, Expr b) => mask.Apply(new WhereOp(), a, b);
}
