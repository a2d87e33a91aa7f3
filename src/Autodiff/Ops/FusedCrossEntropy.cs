using System.Numerics;
using Autodiff.Interop;
using Autodiff.Text;
using Rows = Autodiff.Kernels.SoftmaxCrossEntropy;

namespace Autodiff;

/// <summary><c>softmax_cross_entropy(z, p, axis=a, normalized=true, label_smoothing=ε, weights=w)</c>: the per-row loss
/// −Σ_c w_c·p'_c·log_softmax(z)_c along axis a, with smoothed targets p' = (1 − ε)·p + ε/C (p' = p when ε = 0) and
/// optional class weights w of shape [C] (w = 1 without them). The result has z's shape without axis a.
/// <para>Forward: computed term by term as Σ_c w_c p'_c·((max − z_c) + log Σ exp(z − max)) in double, i.e.
/// lse·Σ w p' − Σ w p'⊙z without cancellation, stable for every finite input. A term whose weight w_c·p'_c is exactly 0
/// contributes 0 even when z_c = −inf (0·log 0 := 0); a positive weight on an entry of probability 0 gives +inf; a row of z
/// with NaN gives NaN; softmax's policy is used for rows with ±inf.</para>
/// <para>Backward w.r.t. z: g·(q·Σ_c w_c p'_c − w⊙p') with q = softmax(z); when <see cref="TargetsSumToOne"/> holds and
/// there are no weights, exactly the closed form g·(q − p').</para>
/// <para>Backward w.r.t. p (targets may be differentiable, e.g. distillation): −g·(1 − ε)·w⊙log_softmax(z). Where
/// log_softmax(z)_c = −inf (q_c is exactly 0, e.g. a masked −inf logit) the true derivative is +inf; the tape uses instead
/// the finite log of the smallest positive value of the element type (−log ε_min ≈ 103.28 for f32, 744.44 for f64), so
/// that a zero target computed upstream (p = softmax(teacher) with p_c = 0) propagates 0·finite = 0 rather than NaN.
/// The symbolic <see cref="Gradient"/> is the plain formula (−inf there).</para>
/// <para>Class weights are constants: they get no gradient (as in PyTorch).</para></summary>
/// <param name="Axis">The class axis of z (and p), resolved (non-negative).</param>
/// <param name="TargetsSumToOne">Set (by the simplifier) only when it proved that every row of p along the axis sums to 1;
/// printed <c>normalized=true</c>. It selects the closed-form backward g·(q − p'), which is the true gradient only then.</param>
/// <param name="LabelSmoothing">ε in [0, 1]: the targets become (1 − ε)·p + ε/C.</param>
public sealed record SoftmaxCrossEntropyOp(int Axis, bool TargetsSumToOne = false, double LabelSmoothing = 0) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "softmax_cross_entropy";

    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
    [
        new("softmax_cross_entropy",
            [FunctionParam.Tensor("logits"), FunctionParam.Tensor("targets"), FunctionParam.Tensor("weights", optional: true),
             FunctionParam.Int("axis", optional: true), FunctionParam.Bool("normalized"), FunctionParam.Number("label_smoothing", optional: true)],
            c => c.Tensor("logits").SoftmaxCrossEntropy(c.Tensor("targets"), c.Int("axis", -1), c.Bool("normalized"),
                c.Has("label_smoothing") ? c.Number("label_smoothing") : 0, c.OptionalTensor("weights"))),
    ];

    /// <summary>−Σ_c w_c·p'_c·LogSoftmax(z)_c along the class axis, p' = (1 − ε)·p + ε/C.</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y)
    {
        var z = n.Inputs[0];
        int rank = z.Shape.Rank, classes = z.Shape[Axis];
        double eps = LabelSmoothing;
        string target = x[1];
        if (eps != 0) target = o.Emit("Add", [o.Emit("Mul", [target, o.Scalar("keep", 1 - eps, z.DType)]), o.Scalar("spread", eps / classes, z.DType)]);
        if (x.Length > 2) target = o.Emit("Mul", [target, o.AlongAxis(x[2], classes, Axis, rank)]);
        var logq = o.Emit("LogSoftmax", [x[0]], null, OnnxAttribute.Of("axis", Axis));
        return o.Emit("Neg", [o.SumAlong(o.TimesLog(target, logq, z.DType), Axis)], y);
    }
    /// <inheritdoc/>
    public override bool IsFused => true;

    /// <summary>The language name of operand <paramref name="index"/> when it is written as a named argument:
    /// <c>weights</c> for the third (class weights); null for the positional logits and targets.</summary>
    public override string? OperandName(int index) => index == 2 ? "weights" : null;

    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node)
    {
        yield return ("axis", FusedShapes.Text(Axis));
        if (TargetsSumToOne) yield return ("normalized", "true");
        if (LabelSmoothing != 0) yield return ("label_smoothing", FusedShapes.Text(LabelSmoothing));
    }

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        FusedShapes.Operands(this, inputs, 2, 3, "logits, targets[, weights]");
        Node z = inputs[0], p = inputs[1];
        RequireFloat(z, "logits");
        RequireFloat(p, "targets");
        if (p.DType != z.DType) throw new ShapeException(Name, $"targets {p.DType.Name()}{p.Shape} must have the logits' element type {z.DType.Name()}");
        if (p.Shape != z.Shape) throw new ShapeException(Name, $"targets {p.Shape} must have the logits' shape {z.Shape}");
        FusedShapes.Axis(this, Axis, z.Shape);
        if (inputs.Count > 2) FusedShapes.Weights(this, z, inputs[2], Axis);
        FusedShapes.Smoothing(this, LabelSmoothing);
        return (FusedShapes.Without(z.Shape, Axis), z.DType);
    }

    /// <summary>Logits and targets carry gradients; class weights do not.</summary>
    public override bool IsDifferentiable(Node node, int index) => index < 2 && base.IsDifferentiable(node, index);

    /// <inheritdoc/>
    public override object? CreateState(Node node) => new RowState();
    /// <summary>The backward can overwrite the logits' and the targets' gradients.</summary>
    internal override bool CanOverwriteGradient(Node node, int operand) => operand < 2;

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        var st = (RowState)c.State!;
        using var z = RowBuffer<T>.Read(c.Inputs[0], l);
        using var p = RowBuffer<T>.Read(c.Inputs[1], l);
        var w = c.Inputs.Count > 2 ? (T[])c.Inputs[2].Data : null;
        Rows.DenseForward(z.Array, p.Array, w, LabelSmoothing, st.Max<T>(l.Rows), st.Sum(l.Rows), st.Rest(l.Rows), (T[])c.Output.Data, l.Rows, l.N);
    }

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        var st = (RowState)c.State!;
        var w = c.Inputs.Count > 2 ? (T[])c.Inputs[2].Data : null;
        var g = (T[])c.GradOutput.Data;
        if (c.InputGrads[0] is null && c.InputGrads[1] is null) return;
        using var z = RowBuffer<T>.Read(c.Inputs[0], l);
        if (c.InputGrads[0] is { } gz)
        {
            using var p = RowBuffer<T>.Read(c.Inputs[1], l);
            using var d = RowBuffer<T>.Target(gz, l, clear: false);
            Rows.DenseBackwardLogits(z.Array, p.Array, w, LabelSmoothing, TargetsSumToOne, st.Max<T>(l.Rows), st.Sum(l.Rows), st.Rest(l.Rows), g, d.Array, l.Rows, l.N, RowState.KernelAccumulates(c, 0, d));
            d.Store(gz, l, !c.Overwrites(0));
        }
        if (c.InputGrads[1] is { } gp)
        {
            using var d = RowBuffer<T>.Target(gp, l, clear: false);
            double cap = -Math.Log(double.CreateTruncating(T.Epsilon));
            Rows.DenseBackwardTargets(z.Array, w, LabelSmoothing, st.Max<T>(l.Rows), st.Rest(l.Rows), cap, g, d.Array, l.Rows, l.N, RowState.KernelAccumulates(c, 1, d));
            d.Store(gp, l, !c.Overwrites(1));
        }
    }

    /// <inheritdoc/>
    internal override bool FusesForwardBackward => true;

    /// <summary>The forward and the backward row by row: each row's gradients are written while its logits and targets
    /// are in cache.</summary>
    private protected override void ForwardBackward<T>(OpContext c)
    {
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        var st = (RowState)c.State!;
        var w = c.Inputs.Count > 2 ? (T[])c.Inputs[2].Data : null;
        using var z = RowBuffer<T>.Read(c.Inputs[0], l);
        using var p = RowBuffer<T>.Read(c.Inputs[1], l);
        Tensor? gz = c.InputGrads[0], gp = c.InputGrads[1];
        using var dz = gz is null ? default : RowBuffer<T>.Target(gz, l, clear: false);   // default: no rows, nothing rented
        using var dp = gp is null ? default : RowBuffer<T>.Target(gp, l, clear: false);
        double cap = -Math.Log(double.CreateTruncating(T.Epsilon));
        Rows.DenseForwardBackward(
            z.Array, p.Array, w, LabelSmoothing, TargetsSumToOne, cap, st.Max<T>(l.Rows), st.Sum(l.Rows), st.Rest(l.Rows), (T[])c.Output.Data, (T[])c.GradOutput.Data,
            gz is null ? null : dz.Array, RowState.KernelAccumulates(c, 0, dz), gp is null ? null : dp.Array, RowState.KernelAccumulates(c, 1, dp), l.Rows, l.N);
        if (gz is not null) dz.Store(gz, l, !c.Overwrites(0));
        if (gp is not null) dp.Store(gp, l, !c.Overwrites(1));
    }

    /// <summary>With g' = g with a size-1 axis inserted at the class axis (so it broadcasts over the classes) and
    /// p' the smoothed targets: for z, <c>g' * (softmax(z) - p')</c> when normalized and unweighted, else
    /// <c>g' * (softmax(z) * sum(w * p', axis, keepdims=true) - w * p')</c>; for p, <c>-(g' * log_softmax(z) * w * (1 - ε))</c>;
    /// none for the weights.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr z = node.Inputs[0], p = node.Inputs[1];
        int rank = z.Shape.Rank, classes = z.Shape[Axis];
        Expr? w = node.Inputs.Count > 2 ? FusedShapes.AlongAxis(node.Inputs[2], rank, Axis) : (Expr?)null;
        var gb = FusedShapes.OverAxis(g, Axis);
        double eps = LabelSmoothing;
        var target = eps == 0 ? p : p * (1 - eps) + eps / classes;
        var weighted = w is { } wv ? target * wv : target;
        var gz = TargetsSumToOne && w is null
            ? gb * (z.Softmax(Axis) - target)
            : gb * (z.Softmax(Axis) * weighted.Sum(Axis, keepDims: true) - weighted);
        var gp = gb * z.LogSoftmax(Axis);
        if (w is { } wp) gp = gp * wp;
        if (eps != 0) gp = gp * (1 - eps);
        return node.Inputs.Count > 2 ? new Expr?[] { gz, -gp, null } : new Expr?[] { gz, -gp };
    }
}

/// <summary><c>sparse_softmax_cross_entropy(z, t, axis=a, ignore_index=k, label_smoothing=ε, weights=w)</c>: the per-row
/// loss for integer class labels t (i64, z's shape without axis a):
/// (1 − ε)·w_t·(lse − z_t) + (ε/C)·Σ_c w_c·(lse − z_c) with lse = logsumexp(z) along a (w = 1 without weights), i.e. the
/// dense cross-entropy with targets (1 − ε)·one_hot(t) + ε/C and the same weights. Without weights and smoothing it is lse − z_t.
/// <para>Rows whose label equals <see cref="IgnoreIndex"/> give loss 0 and zero gradient. Any other label outside [0, C)
/// is an <see cref="AutodiffException"/> naming the label and its position in t.</para>
/// <para>With weights this is PyTorch's <c>cross_entropy(z, t, weight=w, label_smoothing=ε, reduction='none')</c>: the
/// label's term is weighted by w_t and each class's smoothing term by its own w_c (docs/numerics.md). A term whose
/// weight is exactly 0 counts 0. Class weights get no gradient.</para>
/// <para>Forward: one pass per row that stays in L1 (row max, exp(z − max) summed in double, lse = max + log sum); the
/// row max and sum are saved. When the tape planned this node to overwrite the logits' gradient (it is the first to
/// write it) and rows are at most 8 KB, the forward also leaves exp(z − max) in that gradient buffer and the backward
/// scales it in place; otherwise the backward recomputes it from the saved statistics. Rows are split across cores above
/// a size threshold. Backward: g·(q·((1 − ε)·w_t + (ε/C)·Σ_c w_c) − (1 − ε)·w_t·onehot(t) − (ε/C)·w). Non-finite rows follow softmax's policy (NaN rows
/// give NaN; −inf at the label gives +inf).</para></summary>
/// <param name="Axis">The class axis of z, resolved (non-negative).</param>
/// <param name="IgnoreIndex">The label value whose rows are ignored; null when no label is ignored.</param>
/// <param name="LabelSmoothing">ε in [0, 1].</param>
public sealed record SparseSoftmaxCrossEntropyOp(int Axis, int? IgnoreIndex = null, double LabelSmoothing = 0) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "sparse_softmax_cross_entropy";

    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
    [
        new("sparse_softmax_cross_entropy",
            [FunctionParam.Tensor("logits"), FunctionParam.Tensor("labels"), FunctionParam.Tensor("weights", optional: true),
             FunctionParam.Int("axis", optional: true), FunctionParam.Int("ignore_index", optional: true), FunctionParam.Number("label_smoothing", optional: true)],
            c => c.Tensor("logits").SparseSoftmaxCrossEntropy(c.Tensor("labels"), c.Int("axis", -1),
                c.Has("ignore_index") ? c.Int("ignore_index") : null, c.Has("label_smoothing") ? c.Number("label_smoothing") : 0, c.OptionalTensor("weights"))),
    ];

    /// <summary>ONNX's SoftmaxCrossEntropyLoss (reduction none) with the class axis moved to 1, without label smoothing
    /// (which ONNX's op does not have); with it, PyTorch's (1 − ε)·w_t·(−log q_t) + (ε/C)·Σ_c w_c·(−log q_c) (w = 1
    /// without weights) from LogSoftmax and a class mask, the row mask zeroing ignored rows.</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y)
    {
        var z = n.Inputs[0];
        int rank = z.Shape.Rank, classes = z.Shape[Axis], axis = Axis;
        double eps = LabelSmoothing;
        if (eps == 0)
        {
            string scores = x[0], labels = x[1];
            if (rank == 1)
            {
                scores = o.Emit("Unsqueeze", [scores, o.Longs("axes", [0])]);
                labels = o.Emit("Unsqueeze", [labels, o.Longs("axes", [0])]);
            }
            else if (axis != 1)
            {
                var perm = Enumerable.Range(0, rank).Where(i => i != axis).ToList();
                perm.Insert(1, axis);
                scores = o.Emit("Transpose", [scores], null, OnnxAttribute.Of("perm", perm));
            }
            OnnxAttribute[] attributes = IgnoreIndex is int k
                ? [OnnxAttribute.Of("reduction", "none"), OnnxAttribute.Of("ignore_index", k)]
                : [OnnxAttribute.Of("reduction", "none")];
            string[] operands = [scores, labels, .. x.Skip(2)];
            return rank == 1
                ? o.Emit("Squeeze", [o.Emit("SoftmaxCrossEntropyLoss", operands, null, attributes), o.Longs("axes", [0])], y)
                : o.Emit("SoftmaxCrossEntropyLoss", operands, y, attributes);
        }

        var logq = o.Emit("LogSoftmax", [x[0]], null, OnnxAttribute.Of("axis", axis));
        var match = o.ClassMask(x[1], classes, axis, rank, IgnoreIndex);
        var mask = o.Emit("Cast", [match], null, OnnxAttribute.Of("to", OnnxLowering.Elem(z.DType)));
        // With weights, each class's log q is weighted by its own w_c in both terms (0 for a zero weight, even at log q = −inf).
        var weighted = x.Length > 2 ? o.TimesLog(o.AlongAxis(x[2], classes, axis, rank), logq, z.DType) : logq;
        var picked = o.Emit("Neg", [o.SumAlong(o.Emit("Where", [match, weighted, o.Scalar("zero", 0, z.DType)]), axis)]);
        var uniform = o.Emit("Neg", [o.SumAlong(weighted, axis)]);
        string? rowMask = IgnoreIndex is not null ? o.SumAlong(mask, axis) : null;
        string[] terms = [o.Emit("Mul", [picked, o.Scalar("keep", 1 - eps, z.DType)]), o.Emit("Mul", [uniform, o.Scalar("spread", eps / classes, z.DType)])];
        return rowMask is null ? o.Emit("Add", terms, y) : o.Emit("Mul", [o.Emit("Add", terms), rowMask], y);
    }
    /// <inheritdoc/>
    public override bool IsFused => true;

    /// <summary>The language name of operand <paramref name="index"/> when it is written as a named argument:
    /// <c>weights</c> for the third (class weights); null for the positional logits and labels.</summary>
    public override string? OperandName(int index) => index == 2 ? "weights" : null;

    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node)
    {
        yield return ("axis", FusedShapes.Text(Axis));
        if (IgnoreIndex is int k) yield return ("ignore_index", FusedShapes.Text(k));
        if (LabelSmoothing != 0) yield return ("label_smoothing", FusedShapes.Text(LabelSmoothing));
    }

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        FusedShapes.Operands(this, inputs, 2, 3, "logits, labels[, weights]");
        Node z = inputs[0], t = inputs[1];
        RequireFloat(z, "logits");
        FusedShapes.Axis(this, Axis, z.Shape);
        if (t.DType != DType.I64) throw new ShapeException(Name, $"labels must be i64, got {t.DType.Name()}{t.Shape}");
        var rows = FusedShapes.Without(z.Shape, Axis);
        if (t.Shape != rows) throw new ShapeException(Name, $"labels {t.Shape} must have the logits' shape {z.Shape} without axis {Axis}, {rows}");
        if (inputs.Count > 2) FusedShapes.Weights(this, z, inputs[2], Axis);
        FusedShapes.Smoothing(this, LabelSmoothing);
        return (rows, z.DType);
    }

    /// <summary>Only the logits carry a gradient.</summary>
    public override bool IsDifferentiable(Node node, int index) => index == 0;

    /// <inheritdoc/>
    public override object? CreateState(Node node) => new RowState();

    /// <summary>The backward can overwrite the logits' gradient.</summary>
    internal override bool CanOverwriteGradient(Node node, int operand) => operand == 0;

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        var st = (RowState)c.State!;
        var t = Labels(c, l);
        using var z = RowBuffer<T>.Read(c.Inputs[0], l);
        var w = c.Inputs.Count > 2 ? (T[])c.Inputs[2].Data : null;
        var stash = st.Stash<T>(c, l);
        Rows.SparseForward(z.Array, t, w, IgnoreIndex, LabelSmoothing, st.Max<T>(l.Rows), st.Sum(l.Rows), st.Rest(l.Rows), (T[])c.Output.Data, l.Rows, l.N, stash);
        st.Stashed = stash is not null;
    }

    /// <summary>The labels, each checked to be a class index (or the ignore index).</summary>
    private long[] Labels(OpContext c, RowLayout l)
    {
        var labels = c.Inputs[1];
        var t = (long[])labels.Data;
        for (int r = 0; r < t.Length; r++)
            if (t[r] != IgnoreIndex) IndexCheck.Check(Name, labels, r, t[r], l.N);
        return t;
    }

    /// <inheritdoc/>
    internal override bool FusesForwardBackward => true;

    /// <summary>The forward and the backward in one pass per row: each row's gradient is written while the row is in cache.</summary>
    private protected override void ForwardBackward<T>(OpContext c)
    {
        var gz = c.InputGrads[0]!;
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        var st = (RowState)c.State!;
        var t = Labels(c, l);
        var w = c.Inputs.Count > 2 ? (T[])c.Inputs[2].Data : null;
        using var z = RowBuffer<T>.Read(c.Inputs[0], l);
        using var d = RowBuffer<T>.Target(gz, l, clear: false);
        Rows.SparseForwardBackward(z.Array, t, w, IgnoreIndex, LabelSmoothing, st.Max<T>(l.Rows), st.Sum(l.Rows), st.Rest(l.Rows), (T[])c.Output.Data, (T[])c.GradOutput.Data, d.Array, l.Rows, l.N, RowState.KernelAccumulates(c, 0, d));
        st.Stashed = false;
        d.Store(gz, l, !c.Overwrites(0));
    }

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gz) return;
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        var st = (RowState)c.State!;
        var w = c.Inputs.Count > 2 ? (T[])c.Inputs[2].Data : null;
        using var z = RowBuffer<T>.Read(c.Inputs[0], l);
        using var d = RowBuffer<T>.Target(gz, l, clear: false);
        Rows.SparseBackward(z.Array, (long[])c.Inputs[1].Data, w, IgnoreIndex, LabelSmoothing, st.Max<T>(l.Rows), st.Sum(l.Rows), st.Rest(l.Rows), (T[])c.GradOutput.Data, d.Array, l.Rows, l.N, RowState.KernelAccumulates(c, 0, d), st.Stashed);
        st.Stashed = false;
        d.Store(gz, l, !c.Overwrites(0));
    }

    /// <summary>With g' = g with a size-1 axis at the class axis, h = one_hot(t) moved to that axis (zero rows for
    /// ignored labels) and p' = h·(1 − ε) + ε/C (p' = h when ε = 0): <c>g' * (softmax(z) - p')</c> without weights, and
    /// with weights w the dense form <c>g' * (softmax(z) * sum(w * p', axis, keepdims=true) - w * p')</c>; with an ignore
    /// index g' is multiplied by the row mask <c>sum(h, axis, keepdims=true)</c>.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr z = node.Inputs[0], t = node.Inputs[1];
        int rank = z.Shape.Rank, classes = z.Shape[Axis];
        var oh = OneHotAlong(t, classes, z.DType, Axis, IgnoreIndex);
        var coef = FusedShapes.OverAxis(g, Axis);
        if (IgnoreIndex is not null) coef = coef * oh.Sum(Axis, keepDims: true);
        double eps = LabelSmoothing;
        var target = eps == 0 ? oh : oh * (1 - eps) + eps / classes;
        Expr gz;
        if (node.Inputs.Count > 2)
        {
            var weighted = target * FusedShapes.AlongAxis(node.Inputs[2], rank, Axis);
            gz = coef * (z.Softmax(Axis) * weighted.Sum(Axis, keepDims: true) - weighted);
        }
        else
        {
            gz = coef * (z.Softmax(Axis) - target);
        }
        return node.Inputs.Count > 2 ? new Expr?[] { gz, null, null } : new Expr?[] { gz, null };
    }

    /// <summary>one_hot(t, C) with the class axis moved to <paramref name="axis"/>.</summary>
    internal static Expr OneHotAlong(Expr t, int classes, DType dtype, int axis, int? ignoreIndex)
    {
        var oh = ignoreIndex is int k ? t.OneHot(classes, dtype, k) : t.OneHot(classes, dtype);
        int last = oh.Shape.Rank - 1;
        if (axis == last) return oh;
        var perm = Enumerable.Range(0, last).ToList();
        perm.Insert(axis, last);
        return oh.Transpose(perm.ToArray());
    }
}

/// <summary><c>one_hot(t, C, dtype=..., ignore_index=k)</c>: like <see cref="OneHotOp"/>, but a label equal to k gives an
/// all-zero row instead of an error (used by the symbolic gradient of <see cref="SparseSoftmaxCrossEntropyOp"/>).
/// Any other label outside [0, C) is an error naming the label and its position.</summary>
/// <param name="Classes">C.</param>
/// <param name="Type">The float element type of the result.</param>
/// <param name="IgnoreIndex">The label that gives a zero row.</param>
public sealed record MaskedOneHotOp(int Classes, DType Type, int IgnoreIndex) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "one_hot";
    /// <summary>None of its own: <see cref="OneHotOp"/>'s <c>one_hot</c> builds it when given <c>ignore_index</c>.</summary>
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) =>
        o.Emit("Cast", [o.ClassMask(x[0], Classes, n.Shape.Rank - 1, n.Shape.Rank, IgnoreIndex)], y, OnnxAttribute.Of("to", OnnxLowering.Elem(Type)));
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) =>
        [(null, FusedShapes.Text(Classes)), ("dtype", Type.Name()), ("ignore_index", FusedShapes.Text(IgnoreIndex))];
    /// <inheritdoc/>
    public override Op WithFloatType(DType dtype) => this with { Type = dtype };
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        FusedShapes.Operands(this, inputs, 1, 1, "labels");
        return OneHotOp.InferOneHot(Name, inputs[0], Classes, Type);
    }
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c) => OneHotOp.Fill<T>(Name, c.Inputs[0], Classes, IgnoreIndex, c.Output);
    /// <inheritdoc/>
    public override void Backward(OpContext c) { }
    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => false;
    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [null];
}

public readonly partial struct Expr
{
    /// <summary><c>softmax_cross_entropy(this, targets, axis=a, ...)</c>: the per-row cross-entropy of soft targets against
    /// the softmax of these logits along <paramref name="axis"/> (see <see cref="SoftmaxCrossEntropyOp"/>).</summary>
    /// <param name="targets">Target distribution p, the logits' shape and element type.</param>
    /// <param name="axis">The class axis.</param>
    /// <param name="targetsSumToOne">Promise that every row of p sums to 1 (enables the closed-form backward q − p).</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <param name="weights">Optional class weights of shape [C].</param>
    public Expr SoftmaxCrossEntropy(Expr targets, int axis = -1, bool targetsSumToOne = false, double labelSmoothing = 0, Expr? weights = null)
    {
        var op = new SoftmaxCrossEntropyOp(Shape.Axis(axis, "softmax_cross_entropy"), targetsSumToOne, labelSmoothing == 0 ? 0 : labelSmoothing);
        return weights is { } w ? Apply(op, targets, w) : Apply(op, targets);
    }

    /// <summary><c>sparse_softmax_cross_entropy(this, labels, axis=a, ...)</c>: the per-row cross-entropy of integer labels
    /// against the softmax of these logits along <paramref name="axis"/> (see <see cref="SparseSoftmaxCrossEntropyOp"/>).</summary>
    /// <param name="labels">i64 class indices, the logits' shape without <paramref name="axis"/>.</param>
    /// <param name="axis">The class axis.</param>
    /// <param name="ignoreIndex">Label value whose rows give loss 0 and no gradient.</param>
    /// <param name="labelSmoothing">ε in [0, 1].</param>
    /// <param name="weights">Optional class weights of shape [C]; each row's loss is scaled by the weight of its label.</param>
    public Expr SparseSoftmaxCrossEntropy(Expr labels, int axis = -1, int? ignoreIndex = null, double labelSmoothing = 0, Expr? weights = null)
    {
        var op = new SparseSoftmaxCrossEntropyOp(Shape.Axis(axis, "sparse_softmax_cross_entropy"), ignoreIndex, labelSmoothing == 0 ? 0 : labelSmoothing);
        return weights is { } w ? Apply(op, labels, w) : Apply(op, labels);
    }

    /// <summary><c>one_hot(this, classes, dtype=..., ignore_index=k)</c>: one-hot rows, all zero where the label is
    /// <paramref name="ignoreIndex"/> (see <see cref="MaskedOneHotOp"/>).</summary>
    public Expr OneHot(int classes, DType dtype, int ignoreIndex) => Apply(new MaskedOneHotOp(classes, dtype, ignoreIndex));
}
