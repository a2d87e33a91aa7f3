using System.Numerics;
using System.Numerics.Tensors;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>reshape(x, shape=(...))</c>: the same elements in row-major order with another shape of equal size.</summary>
public sealed record ReshapeOp(IntList NewShape) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "reshape";

    /// <summary><c>reshape</c> builds the op as written (even when it does not change the shape), so that printing and
    /// parsing are exact inverses; a -1 is inferred. <c>squeeze</c> and <c>unsqueeze</c> are reshapes too.</summary>
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
    [
        new("reshape", [FunctionParam.Tensor("x"), FunctionParam.Ints("shape")], c =>
        {
            var e = c.Tensor("x");
            var s = c.Ints("shape")!;
            if (!s.Contains(-1)) return e.Apply(new ReshapeOp(new IntList(s)));
            var r = e.Reshape(s);   // infers the -1 (and returns e itself when the shape does not change)
            return r == e ? e.Apply(new ReshapeOp(new IntList(e.Shape.ToArray()))) : r;
        }),
        new("squeeze", [FunctionParam.Tensor("x"), FunctionParam.Ints("axis", optional: true)], c => c.Tensor("x").Squeeze(c.Ints("axis") ?? [])),
        new("unsqueeze", [FunctionParam.Tensor("x"), FunctionParam.Int("axis")], c => c.Tensor("x").Unsqueeze(c.Int("axis"))),
    ];

    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Reshape(x[0], NewShape, y);
    /// <summary>The backward reads only the output gradient.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) => false;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) => [("shape", NewShape.ToString())];
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        var s = new Shape(NewShape.ToArray());
        if (s.Size != inputs[0].Shape.Size)
            throw new ShapeException(Name, $"cannot reshape {inputs[0].Shape} ({inputs[0].Shape.Size} elements) to {s} ({s.Size} elements)");
        return (s, inputs[0].DType);
    }
    /// <inheritdoc/>
    public override void Forward(OpContext c) => Array.Copy(c.Inputs[0].Data, c.Output.Data, c.Output.Size);
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is { } gx) TensorPrimitives.Add(gx.Span<T>(), c.GradOutput.Span<T>(), gx.Span<T>());
    }
    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [g.Reshape(node.Inputs[0].Shape.ToArray())];
}

/// <summary><c>broadcast_to(x, shape=(...))</c>: NumPy broadcasting of x to a larger shape; the gradient sums back.</summary>
public sealed record BroadcastToOp(IntList NewShape) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "broadcast_to";

    /// <summary>Built as written, like <c>reshape</c>; <c>expand</c> (PyTorch's name) is an alias.</summary>
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => new[] { "broadcast_to", "expand" }.Select(name =>
        new FunctionSpec(name, [FunctionParam.Tensor("x"), FunctionParam.Ints("shape")], c => c.Tensor("x").Apply(new BroadcastToOp(new IntList(c.Ints("shape")!)))));

    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Expand", [x[0], o.Longs("shape", NewShape)], y);
    /// <summary>The backward reads only the output gradient.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) => false;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) => [("shape", NewShape.ToString())];
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        var s = new Shape(NewShape.ToArray());
        if (!inputs[0].Shape.BroadcastsTo(s)) throw new ShapeException(Name, $"cannot broadcast {inputs[0].Shape} to {s}");
        RequireFloat(inputs[0]);
        return (s, inputs[0].DType);
    }
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c) =>
        Broadcast.Expand<T>(c.Inputs[0].Span<T>(), c.Inputs[0].Shape.ToArray(), c.Output.Span<T>(), c.Output.Shape.ToArray());
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is { } gx)
            Broadcast.ReduceToShape<T>(c.GradOutput.Span<T>(), c.Output.Shape.ToArray(), gx.Span<T>(), gx.Shape.ToArray(), accumulate: true);
    }
    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [BinaryOp.SumTo(g, node.Inputs[0].Shape)];
}

/// <summary><c>transpose(x, axes=(...))</c>: permutes the axes; output axis i is input axis <c>axes[i]</c>.</summary>
public sealed record TransposeOp(IntList Perm) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "transpose";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("transpose", [FunctionParam.Tensor("x"), FunctionParam.Ints("axes", optional: true)], c => c.Tensor("x").Transpose(c.Ints("axes") ?? []))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Transpose", x, y, OnnxAttribute.Of("perm", Perm));
    /// <summary>The backward reads only the output gradient.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) => false;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) => [("axes", Perm.ToString())];
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        var x = inputs[0].Shape;
        if (Perm.Count != x.Rank || !Perm.Order().SequenceEqual(Enumerable.Range(0, x.Rank)))
            throw new ShapeException(Name, $"axes {Perm} are not a permutation of the {x.Rank} axes of {x}");
        return (new Shape(Perm.Select(p => x[p]).ToArray()), inputs[0].DType);
    }
    /// <inheritdoc/>
    public override void Forward(OpContext c)
    {
        switch (c.Output.DType)
        {
            case DType.F32: Permute<float>(c.Inputs[0].Span<float>(), c.Inputs[0].Shape, Perm, c.Output.Span<float>(), false); break;
            case DType.F64: Permute<double>(c.Inputs[0].Span<double>(), c.Inputs[0].Shape, Perm, c.Output.Span<double>(), false); break;
            default: Permute<long>(c.Inputs[0].Span<long>(), c.Inputs[0].Shape, Perm, c.Output.Span<long>(), false); break;
        }
    }
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        Permute<T>(c.GradOutput.Span<T>(), c.Output.Shape, Inverse(Perm), gx.Span<T>(), true);
    }

    private static IntList Inverse(IntList p)
    {
        var inv = new int[p.Count];
        for (int i = 0; i < p.Count; i++) inv[p[i]] = i;
        return new IntList(inv);
    }

    /// <summary>dst[i0..] = src[permuted index] (or += when <paramref name="accumulate"/>).</summary>
    internal static void Permute<T>(ReadOnlySpan<T> src, Shape srcShape, IntList perm, Span<T> dst, bool accumulate) where T : unmanaged, INumberBase<T>
    {
        int r = perm.Count;
        var srcStrides = srcShape.Strides();
        var outDims = perm.Select(p => srcShape[p]).ToArray();
        var stride = perm.Select(p => srcStrides[p]).ToArray();
        var idx = new int[r];
        int n = dst.Length;
        if (n == 0) return;
        int off = 0;
        for (int i = 0; i < n; i++)
        {
            if (accumulate) dst[i] += src[off]; else dst[i] = src[off];
            for (int d = r - 1; d >= 0; d--)
            {
                idx[d]++;
                off += stride[d];
                if (idx[d] < outDims[d]) break;
                off -= stride[d] * outDims[d];
                idx[d] = 0;
            }
        }
    }

    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [g.Transpose(Inverse(Perm).ToArray())];
}

public readonly partial struct Expr
{
    /// <summary>Reshapes to <paramref name="shape"/>; one entry may be -1 to be inferred.</summary>
    public Expr Reshape(params int[] shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (shape.Count(d => d == -1) > 1)
            throw new ShapeException("reshape", $"shape {Autodiff.Shape.Format(shape)} has more than one -1; only one dimension can be inferred");
        if (shape.Any(d => d < -1))
            throw new ShapeException("reshape", $"shape {Autodiff.Shape.Format(shape)} has a negative dimension (only -1, for one inferred dimension, is allowed)");
        int neg = Array.IndexOf(shape, -1);
        if (neg >= 0)
        {
            int known = shape.Where((d, i) => i != neg).Aggregate(1, (p, d) => p * d);
            if (known == 0 || Shape.Size % known != 0) throw new ShapeException("reshape", $"cannot reshape {Shape} to {Autodiff.Shape.Format(shape)}");
            shape = (int[])shape.Clone();
            shape[neg] = Shape.Size / known;
        }
        return Shape.Dims.SequenceEqual(shape) ? this : Apply(new ReshapeOp(new IntList(shape)));
    }
    /// <summary>Broadcasts to <paramref name="shape"/> (NumPy rules).</summary>
    public Expr BroadcastTo(params int[] shape) => Shape.Dims.SequenceEqual(shape) ? this : Apply(new BroadcastToOp(new IntList(shape)));
    /// <summary>Permutes axes; with no argument, reverses them (NumPy).</summary>
    public Expr Transpose(params int[] axes)
    {
        var s = Shape;
        return Apply(new TransposeOp(new IntList(axes.Length == 0 ? Enumerable.Range(0, s.Rank).Reverse().ToArray() : axes.Select(a => s.Axis(a, "transpose")).ToArray())));
    }
    /// <summary>Removes size-1 axes (all of them if none given), as a reshape.</summary>
    public Expr Squeeze(params int[] axes)
    {
        var s = Shape;
        var drop = axes.Length == 0 ? Enumerable.Range(0, s.Rank).Where(i => s[i] == 1).ToArray() : axes.Select(a => s.Axis(a, "squeeze")).ToArray();
        foreach (var a in drop) if (s[a] != 1) throw new ShapeException("squeeze", $"axis {a} of {s} has size {s[a]}, not 1");
        return Reshape(Enumerable.Range(0, s.Rank).Where(i => !drop.Contains(i)).Select(i => s[i]).ToArray());
    }
    /// <summary>Inserts a size-1 axis at <paramref name="axis"/>, as a reshape.</summary>
    public Expr Unsqueeze(int axis)
    {
        int r = Shape.Rank + 1;
        int a = axis < 0 ? axis + r : axis;
        if (a < 0 || a >= r) throw new ShapeException("unsqueeze", $"axis {axis} is out of range for shape {Shape} (result rank {r})");
        var d = Shape.ToList();
        d.Insert(a, 1);
        return Reshape(d.ToArray());
    }
}
