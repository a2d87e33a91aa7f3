using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>linear_softmax_cross_entropy(h, w, t, bias=b, ignore_index=k)</c>: the per-row sparse softmax cross-entropy
/// of the logits z = h·w (+ b) against integer labels t, i.e. <c>sparse_softmax_cross_entropy(matmul(h, w) + b, t)</c>,
/// without materializing the N×V logits: h is [N, D], w [D, V], t i64 [N], b [V]; the result is [N].
/// <para>The kernel (<see cref="LinearCrossEntropy"/>) computes the logits of a block of rows at a time into a scratch
/// tile (a few percent of N·V), takes the loss with the fused cross-entropy row kernel and, in <see cref="Tape.Run"/>, turns
/// the tile into the gradient g·(q − onehot(t)) in the same pass and multiplies it into dh, dw and db; a backward called
/// after a separate forward recomputes the tiles. Rows labelled k give loss 0 and no gradient; any other label outside
/// [0, V) is an error naming it. The labels get no gradient.</para>
/// <para>The simplifier's rule <c>linear-softmax-cross-entropy</c> finds the pattern in a graph written naively.</para></summary>
/// <param name="IgnoreIndex">The label value whose rows are ignored; null when no label is ignored.</param>
public sealed record LinearSoftmaxCrossEntropyOp(int? IgnoreIndex = null) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "linear_softmax_cross_entropy";

    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
    [
        new("linear_softmax_cross_entropy",
            [FunctionParam.Tensor("hidden"), FunctionParam.Tensor("weight"), FunctionParam.Tensor("labels"), FunctionParam.Tensor("bias", optional: true),
             FunctionParam.Int("ignore_index", optional: true)],
            c => c.Tensor("hidden").LinearSoftmaxCrossEntropy(c.Tensor("weight"), c.Tensor("labels"), c.OptionalTensor("bias"),
                c.Has("ignore_index") ? c.Int("ignore_index") : null)),
    ];

    /// <inheritdoc/>
    public override bool IsFused => true;

    /// <summary><c>bias</c> for the fourth operand; null for the positional hidden states, weight and labels.</summary>
    public override string? OperandName(int index) => index == 3 ? "bias" : null;

    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node)
    {
        if (IgnoreIndex is int k) yield return ("ignore_index", FusedShapes.Text(k));
    }

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        FusedShapes.Operands(this, inputs, 3, 4, "hidden, weight, labels[, bias]");
        Node h = inputs[0], w = inputs[1], t = inputs[2];
        RequireFloat(h, "hidden");
        if (h.Shape.Rank != 2) throw new ShapeException(Name, $"hidden must be [N, D], got {h.Shape}");
        if (w.DType != h.DType || w.Shape.Rank != 2 || w.Shape[0] != h.Shape[1])
            throw new ShapeException(Name, $"weight {w.DType.Name()}{w.Shape} must be {h.DType.Name()}[{h.Shape[1]}, V] for hidden {h.Shape}");
        if (t.DType != DType.I64 || t.Shape != new Shape(h.Shape[0]))
            throw new ShapeException(Name, $"labels must be i64[{h.Shape[0]}], got {t.DType.Name()}{t.Shape}");
        if (inputs.Count > 3 && (inputs[3].DType != h.DType || inputs[3].Shape != new Shape(w.Shape[1])))
            throw new ShapeException(Name, $"bias {inputs[3].DType.Name()}{inputs[3].Shape} must be {h.DType.Name()}[{w.Shape[1]}]");
        return (new Shape(h.Shape[0]), h.DType);
    }

    /// <summary>Hidden states, weight and bias carry gradients; the labels do not.</summary>
    public override bool IsDifferentiable(Node node, int index) => index != 2 && base.IsDifferentiable(node, index);

    /// <summary>MatMul (+ Add), then ONNX's SoftmaxCrossEntropyLoss with reduction none (and the ignore index).</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y)
    {
        string z = o.Emit("MatMul", [x[0], x[1]]);
        if (x.Length > 3) z = o.Emit("Add", [z, x[3]]);
        OnnxAttribute[] attributes = IgnoreIndex is int k
            ? [OnnxAttribute.Of("reduction", "none"), OnnxAttribute.Of("ignore_index", k)]
            : [OnnxAttribute.Of("reduction", "none")];
        return o.Emit("SoftmaxCrossEntropyLoss", [z, x[2]], y, attributes);
    }

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c) => Kernel<T>(c, (T[])c.Output.Data, null);

    /// <summary>Recomputes each block's logits from h, w and b (no logits are kept between the passes).</summary>
    protected override void Backward<T>(OpContext c) => Kernel<T>(c, null, (T[])c.GradOutput.Data);

    /// <inheritdoc/>
    internal override bool FusesForwardBackward => true;

    /// <summary>The loss and the gradients in one pass over the blocks: each block's logits are computed once.</summary>
    private protected override void ForwardBackward<T>(OpContext c) => Kernel<T>(c, (T[])c.Output.Data, (T[])c.GradOutput.Data);

    private void Kernel<T>(OpContext c, T[]? loss, T[]? g) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        Tensor h = c.Inputs[0], w = c.Inputs[1], labels = c.Inputs[2];
        int n = h.Shape[0], d = h.Shape[1], v = w.Shape[1];
        var t = (long[])labels.Data;
        for (int r = 0; r < t.Length; r++)
            if (t[r] != IgnoreIndex) IndexCheck.Check(Name, labels, r, t[r], v);
        var b = c.Inputs.Count > 3 ? (T[])c.Inputs[3].Data : null;
        T[]? Grad(int i) => c.InputGrads.Count > i && c.InputGrads[i] is { } gi ? (T[])gi.Data : null;
        LinearCrossEntropy.Run(
            (T[])h.Data, (T[])w.Data, b, t, IgnoreIndex, n, d, v, loss, g,
            g is null ? null : Grad(0), g is null ? null : Grad(1), g is null ? null : Grad(3));
    }

    /// <summary>With z = h @ w (+ b) and gz the gradient of <c>sparse_softmax_cross_entropy(z, t)</c> (see
    /// <see cref="SparseSoftmaxCrossEntropyOp.Gradient"/>): <c>gz @ transpose(w)</c> for h, <c>transpose(h) @ gz</c> for w,
    /// <c>sum(gz, axis=0)</c> for b, none for the labels.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr h = node.Inputs[0], w = node.Inputs[1], t = node.Inputs[2];
        var z = h.MatMul(w);
        if (node.Inputs.Count > 3) z = z + (Expr)node.Inputs[3];
        var ce = z.SparseSoftmaxCrossEntropy(t, 1, IgnoreIndex).Node;
        var gz = ce.Op.Gradient(ce, g)[0]!.Value;
        var dh = gz.MatMul(w.Transpose([1, 0]));
        var dw = h.Transpose([1, 0]).MatMul(gz);
        return node.Inputs.Count > 3 ? [dh, dw, null, gz.Sum(0)] : [dh, dw, null];
    }
}

public readonly partial struct Expr
{
    /// <summary><c>linear_softmax_cross_entropy(this, weight, labels, bias=b, ignore_index=k)</c>: the per-row cross-entropy of
    /// integer labels against the softmax of this @ weight (+ bias), without the logits (see
    /// <see cref="LinearSoftmaxCrossEntropyOp"/>).</summary>
    /// <param name="weight">[D, V].</param>
    /// <param name="labels">i64 [N].</param>
    /// <param name="bias">Optional [V].</param>
    /// <param name="ignoreIndex">Label value whose rows give loss 0 and no gradient.</param>
    public Expr LinearSoftmaxCrossEntropy(Expr weight, Expr labels, Expr? bias = null, int? ignoreIndex = null)
    {
        var op = new LinearSoftmaxCrossEntropyOp(ignoreIndex);
        return bias is { } b ? Apply(op, weight, labels, b) : Apply(op, weight, labels);
    }
}
