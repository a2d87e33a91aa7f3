using System.Numerics;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

// Sampled losses over a large output layer (TensorFlow's nce_loss and sampled_softmax_loss): the linear layer
// logits = x·Wᵀ + b is evaluated only at each row's true classes and at one set of sampled classes shared by the batch, so
// a step costs O(B·(num_true + S)·D) instead of O(B·V·D). Derivation and TensorFlow's semantics: docs/sampled.md.

/// <summary>What the two sampled losses share: the operands, the shape rule, the logits' correction and the companion
/// ops that give the logits' gradient as expressions.</summary>
[NotExportable("no decomposition into ONNX operators is written (gathered rows of the output layer, accidental-hit masks)")]
public abstract record SampledLossBase : Op
{
    /// <summary>The operands, in TensorFlow's argument order, then <paramref name="attributes"/>; <paramref name="build"/>
    /// gets the call, x and the other six operands.</summary>
    internal static FunctionSpec Function(string name, FunctionParam[] attributes, Func<CallArgs, Expr, Expr[], Expr> build) =>
        new(name, [.. Roles.Split(", ").Select(r => FunctionParam.Tensor(r)), .. attributes],
            c => build(c, c.Tensor("x"), [c.Tensor("w"), c.Tensor("b"), c.Tensor("labels"), c.Tensor("sampled"), c.Tensor("true_expected"), c.Tensor("sampled_expected")]));

    /// <summary>The two flags every sampled loss function takes.</summary>
    internal static readonly FunctionParam[] Flags = [FunctionParam.Bool("remove_accidental_hits"), FunctionParam.Bool("subtract_log_q")];

    /// <summary>Operand roles, in order.</summary>
    internal const string Roles = "x, w, b, labels, sampled, true_expected, sampled_expected";

    /// <summary>True for the sampled softmax (softmax cross-entropy of each row of logits), false for NCE (a sum of
    /// sigmoid cross-entropies).</summary>
    internal abstract bool Softmax { get; }

    /// <summary>Whether a sampled class equal to one of the row's labels is dropped from that row.</summary>
    internal abstract bool DropsHits { get; }

    /// <summary>Whether log(expected count) is subtracted from each logit.</summary>
    internal abstract bool CorrectsLogQ { get; }

    /// <inheritdoc/>
    public override bool IsFused => true;

    /// <summary>Checks the seven operands; returns (B, num_true, S, V, D).</summary>
    internal static (int B, int T, int S, int V, int D) Check(Op op, IReadOnlyList<Node> inputs)
    {
        FusedShapes.Operands(op, inputs, 7, 7, Roles);
        Node x = inputs[0], w = inputs[1], b = inputs[2], labels = inputs[3], sampled = inputs[4], te = inputs[5], se = inputs[6];
        if (!x.DType.IsFloat()) throw new ShapeException(op.Name, $"x must be f32 or f64, got {x.DType.Name()}{x.Shape}");
        foreach (var (n, role) in new[] { (w, "w"), (b, "b"), (te, "true_expected"), (se, "sampled_expected") })
            if (n.DType != x.DType) throw new ShapeException(op.Name, $"{role} must have x's element type {x.DType.Name()}, got {n.DType.Name()}{n.Shape}");
        foreach (var (n, role) in new[] { (labels, "labels"), (sampled, "sampled") })
            if (n.DType != DType.I64) throw new ShapeException(op.Name, $"{role} must be i64, got {n.DType.Name()}{n.Shape}");
        if (x.Shape.Rank != 2) throw new ShapeException(op.Name, $"x must be [B, D], got {x.Shape}");
        int batch = x.Shape[0], d = x.Shape[1];
        if (w.Shape.Rank != 2 || w.Shape[1] != d) throw new ShapeException(op.Name, $"w must be [V, {d}] (x is {x.Shape}), got {w.Shape}");
        int v = w.Shape[0];
        if (b.Shape.Rank != 1 || b.Shape[0] != v) throw new ShapeException(op.Name, $"b must be [{v}] (w is {w.Shape}), got {b.Shape}");
        if (labels.Shape.Rank != 2 || labels.Shape[0] != batch || labels.Shape[1] < 1)
            throw new ShapeException(op.Name, $"labels must be [{batch}, num_true] with num_true >= 1 (x is {x.Shape}), got {labels.Shape}");
        int t = labels.Shape[1];
        if (sampled.Shape.Rank != 1) throw new ShapeException(op.Name, $"sampled must be [S], got {sampled.Shape}");
        int s = sampled.Shape[0];
        if (te.Shape != labels.Shape) throw new ShapeException(op.Name, $"true_expected must have the labels' shape {labels.Shape}, got {te.Shape}");
        if (se.Shape != sampled.Shape) throw new ShapeException(op.Name, $"sampled_expected must have the samples' shape {sampled.Shape}, got {se.Shape}");
        return (batch, t, s, v, d);
    }

    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => index < 3;

    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node)
    {
        if (DropsHits != Softmax) yield return ("remove_accidental_hits", DropsHits ? "true" : "false");
        if (!CorrectsLogQ) yield return ("subtract_log_q", "false");
    }

    /// <summary>The gradients of x, w and b as expressions: the logits' gradient per unit of g (the companion ops
    /// <c>true_logits_grad</c> and <c>sampled_logits_grad</c>) scaled by g and carried through one-hot gathers of w's
    /// rows (dense: this is the printed backward graph and an oracle, not the tape's kernel); none for the rest.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        var ops = node.Inputs.Select(n => n.Expr).ToArray();
        Expr x = ops[0], w = ops[1], labels = ops[3], sampled = ops[4];
        int batch = x.Shape[0], d = x.Shape[1], v = w.Shape[0], t = labels.Shape[1];
        var dt = x.Apply(new SampledLogitsGradOp(Softmax, DropsHits, CorrectsLogQ, OfSampled: false), ops[1..]);
        var ds = x.Apply(new SampledLogitsGradOp(Softmax, DropsHits, CorrectsLogQ, OfSampled: true), ops[1..]);
        var gt = g.Unsqueeze(1) * dt;                        // [B, T]
        var gs = g.Unsqueeze(1) * ds;                        // [B, S]
        var ohT = labels.OneHot(v, x.DType);                 // [B, T, V]
        var ohS = sampled.OneHot(v, x.DType);                // [S, V]
        var gx = (gt.Unsqueeze(-1) * ohT.MatMul(w)).Sum(1) + gs.MatMul(ohS.MatMul(w));
        var gw = ohT.Reshape(batch * t, v).Transpose().MatMul((gt.Unsqueeze(-1) * x.Unsqueeze(1)).Reshape(batch * t, d))
               + ohS.Transpose().MatMul(gs.Transpose().MatMul(x));
        var gb = (gt.Unsqueeze(-1) * ohT).Sum([0, 1]) + (gs.Sum(0).Unsqueeze(-1) * ohS).Sum(0);
        var grads = new Expr?[node.Inputs.Count];
        grads[0] = gx;
        grads[1] = gw;
        grads[2] = gb;
        return grads;
    }

    /// <inheritdoc/>
    public override object? CreateState(Node node) => new SampledLogits.State();

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c) =>
        SampledLogits.Forward<T>(Name, c, Softmax, DropsHits, CorrectsLogQ, (SampledLogits.State)c.State!);

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c) => SampledLogits.Backward<T>(c, (SampledLogits.State)c.State!);
}

/// <summary><c>nce_loss(x, w, b, labels, sampled, true_expected, sampled_expected, remove_accidental_hits=false,
/// subtract_log_q=true)</c>: TensorFlow's noise-contrastive estimation loss, per row [B]. With l the logits of row r at
/// its num_true labels and at the S sampled classes (shared by the batch),
/// l = ⟨x_r, w[id]⟩ + b[id] − log(expected count of id) (the last term only with <c>subtract_log_q</c>), the loss is
/// Σ_j softplus(l_j) − y_j·l_j with y = 1/num_true at each label and 0 at each sample: sigmoid cross-entropy of every
/// logit, computed as y·softplus(−l) + (1 − y)·softplus(l), finite at any finite logit. With
/// <c>remove_accidental_hits</c> a sample equal to one of the row's labels is dropped from that row (TensorFlow adds
/// −FLT_MAX to its logit, which gives the same zero loss and gradient). The gradient of each logit is σ(l) − y, carried to
/// x, w (scattered into the rows used) and b; labels, samples and expected counts get none. Operand shapes: x [B, D],
/// w [V, D], b [V], labels i64 [B, num_true], sampled i64 [S], true_expected [B, num_true], sampled_expected [S]. An id
/// outside [0, V), or (with <c>subtract_log_q</c>) an expected count that is not positive and finite, is an error naming
/// its position.</summary>
/// <param name="RemoveAccidentalHits">Drop a sample equal to one of the row's labels (default false, as TensorFlow's).</param>
/// <param name="SubtractLogQ">Subtract log(expected count) from each logit (default true).</param>
public sealed record NceLossOp(bool RemoveAccidentalHits = false, bool SubtractLogQ = true) : SampledLossBase, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "nce_loss";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [Function("nce_loss", Flags, (c, x, rest) => x.Apply(new NceLossOp(c.Bool("remove_accidental_hits", false), c.Bool("subtract_log_q", true)), rest))];
    internal override bool Softmax => false;
    internal override bool DropsHits => RemoveAccidentalHits;
    internal override bool CorrectsLogQ => SubtractLogQ;
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs) => (new Shape(Check(this, inputs).B), inputs[0].DType);
}

/// <summary><c>sampled_softmax_loss(x, w, b, labels, sampled, true_expected, sampled_expected, remove_accidental_hits=true,
/// subtract_log_q=true)</c>: TensorFlow's sampled softmax loss, per row [B]: the softmax cross-entropy of each row of
/// logits [l_true | l_sampled] (as in <see cref="NceLossOp"/>) against targets 1/num_true at the labels and 0 at the
/// samples, computed as Σ_t (m − l_t)/num_true + log Σ_j exp(l_j − m) with m the row's largest logit, so finite at any
/// finite logit. An accidental hit (with <c>remove_accidental_hits</c>, the default) is left out of the row's softmax.
/// The gradient of each logit is p − y, carried to x, w and b as for NCE.</summary>
/// <param name="RemoveAccidentalHits">Drop a sample equal to one of the row's labels (default true, as TensorFlow's).</param>
/// <param name="SubtractLogQ">Subtract log(expected count) from each logit (default true).</param>
public sealed record SampledSoftmaxLossOp(bool RemoveAccidentalHits = true, bool SubtractLogQ = true) : SampledLossBase, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "sampled_softmax_loss";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [Function("sampled_softmax_loss", Flags, (c, x, rest) => x.Apply(new SampledSoftmaxLossOp(c.Bool("remove_accidental_hits", true), c.Bool("subtract_log_q", true)), rest))];
    internal override bool Softmax => true;
    internal override bool DropsHits => RemoveAccidentalHits;
    internal override bool CorrectsLogQ => SubtractLogQ;
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs) => (new Shape(Check(this, inputs).B), inputs[0].DType);
}

/// <summary><c>true_logits_grad(...)</c> [B, num_true] and <c>sampled_logits_grad(...)</c> [B, S]: the gradient of a
/// sampled loss (<see cref="NceLossOp"/> with <c>softmax=false</c>, <see cref="SampledSoftmaxLossOp"/> with
/// <c>softmax=true</c>) with respect to its true or its sampled logits, per unit of the row's loss gradient: σ(l) − y or
/// p − y, and 0 at a removed accidental hit. Same operands and attributes as the loss. The symbolic gradient of the losses
/// is built from it. Not differentiable (no gradient flows through it).</summary>
/// <param name="Softmax">Sampled softmax (true) or NCE (false).</param>
/// <param name="RemoveAccidentalHits">As in the loss.</param>
/// <param name="SubtractLogQ">As in the loss.</param>
/// <param name="OfSampled">The sampled logits' gradient [B, S] (true) or the true logits' [B, num_true] (false).</param>
[NotExportable("a gradient companion of the sampled losses, which are not exportable either")]
public sealed record SampledLogitsGradOp(bool Softmax, bool RemoveAccidentalHits, bool SubtractLogQ, bool OfSampled) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => OfSampled ? "sampled_logits_grad" : "true_logits_grad";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => new[] { false, true }.Select(ofSampled =>
        SampledLossBase.Function(new SampledLogitsGradOp(false, false, true, ofSampled).Name, [FunctionParam.Bool("softmax"), .. SampledLossBase.Flags],
            (c, x, rest) => x.Apply(new SampledLogitsGradOp(c.Bool("softmax"), c.Bool("remove_accidental_hits"), c.Bool("subtract_log_q", true), ofSampled), rest)));
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) =>
        [("softmax", Softmax ? "true" : "false"), ("remove_accidental_hits", RemoveAccidentalHits ? "true" : "false"),
         ("subtract_log_q", SubtractLogQ ? "true" : "false")];
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        var (b, t, s, _, _) = SampledLossBase.Check(this, inputs);
        return (new Shape(b, OfSampled ? s : t), inputs[0].DType);
    }
    /// <inheritdoc/>
    public override bool IsDifferentiable(Node node, int index) => false;
    /// <inheritdoc/>
    public override object? CreateState(Node node) => new SampledLogits.State();
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var st = (SampledLogits.State)c.State!;
        var loss = new T[c.Inputs[0].Shape[0]];
        SampledLogits.Compute<T>(Name, c.Inputs, Softmax, RemoveAccidentalHits, SubtractLogQ, st, loss);
        var src = (T[])(OfSampled ? st.DSampled : st.DTrue)!;
        src.AsSpan(0, c.Output.Size).CopyTo(c.Output.Span<T>());
    }
    /// <inheritdoc/>
    public override void Backward(OpContext c) { }
    /// <summary>None: not differentiable.</summary>
    public override Expr?[] Gradient(Node node, Expr g) => new Expr?[node.Inputs.Count];

    /// <inheritdoc/>
    public override string? NotDifferentiableReason(Node node) =>
        "the logit gradients of nce_loss and sampled_softmax_loss come from a kernel with no gradient of its own, so these losses cannot be differentiated twice";
}

public readonly partial struct Expr
{
    /// <summary><c>nce_loss(x, w, b, labels, sampled, true_expected, sampled_expected)</c>, TensorFlow's noise-contrastive
    /// estimation loss per row (see <see cref="NceLossOp"/>); <c>this</c> is x [B, D].</summary>
    public Expr NceLoss(Expr w, Expr b, Expr labels, Expr sampled, Expr trueExpected, Expr sampledExpected,
        bool removeAccidentalHits = false, bool subtractLogQ = true) =>
        Apply(new NceLossOp(removeAccidentalHits, subtractLogQ), w, b, labels, sampled, trueExpected, sampledExpected);

    /// <summary><c>sampled_softmax_loss(x, w, b, labels, sampled, true_expected, sampled_expected)</c>, TensorFlow's sampled
    /// softmax loss per row (see <see cref="SampledSoftmaxLossOp"/>); <c>this</c> is x [B, D].</summary>
    public Expr SampledSoftmaxLoss(Expr w, Expr b, Expr labels, Expr sampled, Expr trueExpected, Expr sampledExpected,
        bool removeAccidentalHits = true, bool subtractLogQ = true) =>
        Apply(new SampledSoftmaxLossOp(removeAccidentalHits, subtractLogQ), w, b, labels, sampled, trueExpected, sampledExpected);
}
