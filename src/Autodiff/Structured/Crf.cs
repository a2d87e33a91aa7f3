using System.Numerics;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;
using Kernel = Autodiff.Kernels.Crf;

namespace Autodiff;

// Linear-chain conditional random fields ("structured softmax"): a softmax over all L^T tag paths of a sequence, whose
// score is a sum of node (emission) and edge (transition) scores. The log-partition's gradient is the model's expected
// sufficient statistics (node and edge marginals), computed by forward-backward in log space; see docs/structured.md.

/// <summary>Which sufficient statistic of a tag path a marginals op returns, per sequence of the batch.</summary>
public enum CrfPart
{
    /// <summary>Node indicators [B, T, L]: whether y_t = l (0 at padding positions).</summary>
    Nodes,
    /// <summary>Transition counts [B, L, L]: the number of positions t with y_t = i and y_{t+1} = j.</summary>
    Edges,
    /// <summary>First-tag indicators [B, L]: whether y_0 = l (a zero row for an empty sequence).</summary>
    Start,
    /// <summary>Last-tag indicators [B, L]: whether y_{n−1} = l for a sequence of length n (a zero row when n = 0).</summary>
    End,
}

/// <summary>The shared shape of the linear-chain CRF ops. Operands, in order: <c>emissions</c> [B, T, L] (float node
/// scores), <c>transitions</c> [L, L] (<c>transitions[i, j]</c> scores tag i followed by tag j), then <c>tags</c> [B, T]
/// (i64, only for ops that score a given path), then the optional <c>start</c> [L] and <c>end</c> [L] score vectors
/// (added at the first and the last position) and <c>lengths</c> [B] (i64). Which optional operands are present is part
/// of the op (<see cref="HasStart"/>, <see cref="HasEnd"/>, <see cref="HasLengths"/>); they print as named arguments,
/// <c>start=s, end=e, lengths=n</c>.
/// <para>Padding: positions t ≥ lengths[b] are ignored (their scores get zero gradient, their tags are not read);
/// a sequence of length 0 has the empty path only (log Z = 0, score 0). Without lengths every sequence has length T.
/// A length outside [0, T] or a tag outside [0, L) at a non-padding position is an <see cref="AutodiffException"/> naming
/// the sequence and position.</para>
/// <para>All kernels compute in double (float32 operands are widened), each step scaled by its maxima with a
/// max-shifted log-sum-exp wherever a scaled sum underflows, so scores of magnitude 1e3 give finite, accurate results. A −inf score forbids a tag or a transition; if every path of a sequence is
/// forbidden its log Z is −inf and its marginals are 0 (as softmax of an all −inf row), so it contributes nothing to the
/// gradients, also not to the transition, start and end gradients shared by the batch. NaN scores give NaN.</para></summary>
/// <param name="HasStart">A start score vector is an operand.</param>
/// <param name="HasEnd">An end score vector is an operand.</param>
/// <param name="HasLengths">A lengths vector is an operand.</param>
[NotExportable("ONNX has no operator for the forward-backward or Viterbi recursions over tag paths")]
public abstract record CrfOp(bool HasStart, bool HasEnd, bool HasLengths) : Op
{
    /// <summary>The function <c>name(emissions, transitions, tags?, start=?, end=?, lengths=?)</c>, with a tags operand
    /// when <paramref name="tags"/>; <paramref name="build"/> gets the call, the emissions, the transitions and the optional
    /// start, end and lengths operands (which print as named arguments).</summary>
    private protected static FunctionSpec Function(string name, bool tags, Func<CallArgs, Expr, Expr, Expr?, Expr?, Expr?, Expr> build) =>
        new(name, [FunctionParam.Tensor("emissions"), FunctionParam.Tensor("transitions"), .. tags ? [FunctionParam.Tensor("tags")] : Array.Empty<FunctionParam>(),
                   FunctionParam.Tensor("start", optional: true), FunctionParam.Tensor("end", optional: true), FunctionParam.Tensor("lengths", optional: true)],
            c => build(c, c.Tensor("emissions"), c.Tensor("transitions"), c.OptionalTensor("start"), c.OptionalTensor("end"), c.OptionalTensor("lengths")));

    /// <inheritdoc/>
    public override bool IsFused => true;

    /// <summary>True for ops with a <c>tags</c> operand after the transitions.</summary>
    private protected abstract bool HasTags { get; }

    private int Required => HasTags ? 3 : 2;

    /// <summary>The operand index of the start scores, or -1.</summary>
    internal int StartIndex => HasStart ? Required : -1;

    /// <summary>The operand index of the end scores, or -1.</summary>
    internal int EndIndex => HasEnd ? Required + (HasStart ? 1 : 0) : -1;

    /// <summary>The operand index of the lengths, or -1.</summary>
    internal int LengthsIndex => HasLengths ? Required + (HasStart ? 1 : 0) + (HasEnd ? 1 : 0) : -1;

    /// <summary><c>start</c>, <c>end</c> and <c>lengths</c> for the optional operands; null for the positional ones.</summary>
    public override string? OperandName(int index) =>
        index == StartIndex ? "start" : index == EndIndex ? "end" : index == LengthsIndex ? "lengths" : null;

    /// <summary>The result's shape and element type for emissions [B, T, L] of element type <paramref name="type"/>.</summary>
    private protected abstract (Shape Shape, DType DType) Result(int b, int t, int l, DType type);

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        int count = Required + (HasStart ? 1 : 0) + (HasEnd ? 1 : 0) + (HasLengths ? 1 : 0);
        if (inputs.Count != count)
            throw new ShapeException(Name, $"takes {count} operands (emissions, transitions{(HasTags ? ", tags" : "")}{(HasStart ? ", start" : "")}{(HasEnd ? ", end" : "")}{(HasLengths ? ", lengths" : "")}), got {inputs.Count}");
        var e = inputs[0];
        RequireFloat(e, "emissions");
        if (e.Shape.Rank != 3) throw new ShapeException(Name, $"emissions must have shape [batch, time, tags], got {e.DType.Name()}{e.Shape}");
        int b = e.Shape[0], t = e.Shape[1], l = e.Shape[2];
        if (l < 1) throw new ShapeException(Name, $"emissions {e.Shape} must have at least one tag");
        void Float(Node x, string role, params int[] shape)
        {
            if (x.DType != e.DType || x.Shape != new Shape(shape))
                throw new ShapeException(Name, $"{role} must be {e.DType.Name()}{Shape.Format(shape)} to match emissions {e.DType.Name()}{e.Shape}, got {x.DType.Name()}{x.Shape}");
        }
        Float(inputs[1], "transitions", l, l);
        if (HasTags) CrfChecks.Tags(this, inputs[2], b, t, $"emissions {e.Shape}");
        if (HasStart) Float(inputs[StartIndex], "start", l);
        if (HasEnd) Float(inputs[EndIndex], "end", l);
        if (HasLengths) CrfChecks.Lengths(this, inputs[LengthsIndex], b, $"emissions {e.Shape}");
        return Result(b, t, l, e.DType);
    }

    /// <inheritdoc/>
    public override object? CreateState(Node node) => new CrfState();

    /// <summary>Reads (and checks) the operands into the state's double buffers and returns them.</summary>
    private protected CrfData Load<T>(OpContext c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var d = ((CrfState)c.State!).Data;
        d.Load<T>(this, c.Inputs, HasTags ? 2 : -1, StartIndex, EndIndex, LengthsIndex);
        return d;
    }

    /// <summary>The statistic <paramref name="part"/> of the model distribution, as an expression on this node's operands.</summary>
    private protected Expr Model(Node node, CrfPart part)
    {
        var operands = node.Inputs.Where((_, i) => !HasTags || i != 2).ToArray();
        return node.Builder.Make(new CrfMarginalsOp(part, HasStart, HasEnd, HasLengths), operands).Expr;
    }

    /// <summary>The symbolic gradient g·Σ_b (gold − model) of each float operand when <paramref name="gold"/>, else g·model:
    /// <c>reshape(g, (B, 1, 1)) * (crf_path_marginals(tags, ...) - crf_marginals(...))</c> for the emissions, the same
    /// with the edge statistics summed over the batch for the transitions, and with the start and end statistics for
    /// start and end.</summary>
    private protected Expr?[] StatisticsGradient(Node node, Expr g, bool gold)
    {
        var e = node.Inputs[0];
        int b = e.Shape[0], l = e.Shape[2];
        var g3 = g.Reshape(b, 1, 1);
        var g2 = g.Reshape(b, 1);
        Expr Diff(CrfPart part)
        {
            var model = Model(node, part);
            if (!gold) return model;
            Node[] path = HasLengths ? [node.Inputs[2], node.Inputs[LengthsIndex]] : [node.Inputs[2]];
            return node.Builder.Make(new CrfPathMarginalsOp(part, l, e.DType, HasLengths), path).Expr - model;
        }
        var r = new Expr?[node.Inputs.Count];
        r[0] = g3 * Diff(CrfPart.Nodes);
        r[1] = (g3 * Diff(CrfPart.Edges)).Sum(0);
        if (HasStart) r[StartIndex] = (g2 * Diff(CrfPart.Start)).Sum(0);
        if (HasEnd) r[EndIndex] = (g2 * Diff(CrfPart.End)).Sum(0);
        return r;
    }

    /// <summary>Applies <paramref name="op"/> to the required operands and the given optional ones, in operand order.</summary>
    internal static Expr Apply(Op op, Expr emissions, Expr[] required, Expr? start, Expr? end, Expr? lengths)
    {
        var rest = new List<Expr>(required);
        foreach (var x in new[] { start, end, lengths }) if (x is { } v) rest.Add(v);
        return emissions.Apply(op, [.. rest]);
    }
}

/// <summary><c>crf_log_likelihood(emissions, transitions, tags, start=s, end=e, lengths=n)</c>: the per-sequence
/// log-likelihood [B] of the gold tag paths, score(tags) − log Z, where log Z is the log-sum-exp of the scores of all
/// L^n paths, computed by the forward algorithm in O(n·L²). See <see cref="CrfOp"/> for operands and padding.
/// <para>Backward (closed form from forward-backward, not differentiated through the recursion): by the model
/// marginals theorem, ∂/∂emissions[b, t, l] = g_b·(1[tags[b, t] = l] − P(y_t = l)),
/// ∂/∂transitions[i, j] = Σ_b g_b·(gold count of (i, j) − Σ_t P(y_t = i, y_{t+1} = j)), and for start and end the
/// first and last tag indicators minus their marginals. Padding positions and empty sequences get zero gradient.
/// The forward saves the forward variables (B·T·L doubles); the backward runs the backward recursion.</para>
/// <para>A sequence whose gold path is forbidden (score −inf), in particular one with no allowed path at all (log Z = −inf,
/// where score − log Z would be −inf − (−inf) = NaN), has log-likelihood −inf and gradient 0: its loss is +inf under
/// every finite change of the scores, so no direction improves it, and its g·(gold − marginals) must not reach the
/// parameters shared with the other sequences (as PyTorch's <c>ctc_loss(zero_infinity=True)</c> zeroes the gradients of
/// impossible alignments).</para></summary>
/// <param name="HasStart">A start score vector is an operand.</param>
/// <param name="HasEnd">An end score vector is an operand.</param>
/// <param name="HasLengths">A lengths vector is an operand.</param>
public sealed record CrfLogLikelihoodOp(bool HasStart = false, bool HasEnd = false, bool HasLengths = false) : CrfOp(HasStart, HasEnd, HasLengths), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "crf_log_likelihood";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("crf_log_likelihood", true, (c, e, t, s, n, l) => e.CrfLogLikelihood(t, c.Tensor("tags"), s, n, l))];
    private protected override bool HasTags => true;
    private protected override (Shape Shape, DType DType) Result(int b, int t, int l, DType type) => (new Shape(b), type);

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        Load<T>(c);
        CrfPartition.Forward<T>((CrfState)c.State!, c, gold: true);
    }

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c) => CrfPartition.Backward<T>((CrfState)c.State!, c, gold: true, StartIndex, EndIndex);

    /// <summary><c>reshape(g, (B, 1, 1)) * (crf_path_marginals(tags, lengths=n, classes=L) - crf_marginals(emissions,
    /// transitions, ...))</c> for the emissions, <c>sum(reshape(g, (B, 1, 1)) * (crf_path_edge_marginals(...) -
    /// crf_edge_marginals(...)), axis=0)</c> for the transitions, likewise with the start and end marginals; none for
    /// tags and lengths. g is first replaced by <c>where(1 / ll, g, 0)</c> (ll this node's value): 1 / ll is ±0 exactly
    /// where ll = −inf, so a sequence whose gold path is forbidden gets gradient 0, as in the backward.</summary>
    public override Expr?[] Gradient(Node node, Expr g) => StatisticsGradient(node, Expr.Where(1 / node.Expr, g, g.Const(0)), gold: true);
}

/// <summary><c>crf_log_partition(emissions, transitions, start=s, end=e, lengths=n)</c>: log Z [B], the log-sum-exp of
/// the scores of all tag paths of each sequence (0 for an empty one), by the forward algorithm in log space. Its
/// gradient is the expected sufficient statistics: g_b·P(y_t = l) for the emissions, Σ_b g_b·Σ_t P(y_t = i, y_{t+1} = j)
/// for the transitions, g_b·P(y_0 = l) and g_b·P(y_{n−1} = l) for start and end. A sequence with no allowed path has
/// log Z = −inf and gradient 0, as logsumexp of an all −inf row. See <see cref="CrfOp"/>.</summary>
/// <param name="HasStart">A start score vector is an operand.</param>
/// <param name="HasEnd">An end score vector is an operand.</param>
/// <param name="HasLengths">A lengths vector is an operand.</param>
public sealed record CrfLogPartitionOp(bool HasStart = false, bool HasEnd = false, bool HasLengths = false) : CrfOp(HasStart, HasEnd, HasLengths), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "crf_log_partition";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("crf_log_partition", false, (c, e, t, s, n, l) => e.CrfLogPartition(t, s, n, l))];
    private protected override bool HasTags => false;
    private protected override (Shape Shape, DType DType) Result(int b, int t, int l, DType type) => (new Shape(b), type);

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        Load<T>(c);
        CrfPartition.Forward<T>((CrfState)c.State!, c, gold: false);
    }

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c) => CrfPartition.Backward<T>((CrfState)c.State!, c, gold: false, StartIndex, EndIndex);

    /// <summary><c>reshape(g, (B, 1, 1)) * crf_marginals(emissions, transitions, ...)</c> for the emissions,
    /// <c>sum(reshape(g, (B, 1, 1)) * crf_edge_marginals(...), axis=0)</c> for the transitions, likewise with
    /// <c>crf_start_marginals</c> and <c>crf_end_marginals</c>; none for the lengths.</summary>
    public override Expr?[] Gradient(Node node, Expr g) => StatisticsGradient(node, g, gold: false);
}

/// <summary>The model's expected sufficient statistics of one <see cref="CrfPart"/>, by forward-backward in log space:
/// <c>crf_marginals</c> gives the node marginals P(y_t = l) [B, T, L]; <c>crf_edge_marginals</c> the expected transition
/// counts Σ_t P(y_t = i, y_{t+1} = j) [B, L, L] (the pairwise marginals summed over positions, which is what the shared
/// transition matrix needs); <c>crf_start_marginals</c> and <c>crf_end_marginals</c> P(y_0 = l) and P(y_{n−1} = l)
/// [B, L]. Padding positions and empty sequences give zeros. Operands as for <see cref="CrfLogPartitionOp"/>.
/// <para>Not differentiable (no gradient flows through the marginals; the log-partition's gradient is their use).</para></summary>
/// <param name="Part">Which statistic.</param>
/// <param name="HasStart">A start score vector is an operand.</param>
/// <param name="HasEnd">An end score vector is an operand.</param>
/// <param name="HasLengths">A lengths vector is an operand.</param>
public sealed record CrfMarginalsOp(CrfPart Part, bool HasStart = false, bool HasEnd = false, bool HasLengths = false) : CrfOp(HasStart, HasEnd, HasLengths), IOpFunctions
{
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => Enum.GetValues<CrfPart>().Select(part =>
        Function(new CrfMarginalsOp(part).Name, false, (c, e, t, s, n, l) => e.CrfMarginals(t, s, n, l, part)));
    /// <inheritdoc/>
    public override string Name => Part switch
    {
        CrfPart.Edges => "crf_edge_marginals",
        CrfPart.Start => "crf_start_marginals",
        CrfPart.End => "crf_end_marginals",
        _ => "crf_marginals",
    };
    private protected override bool HasTags => false;
    private protected override (Shape Shape, DType DType) Result(int b, int t, int l, DType type) => (CrfChecks.PartShape(Part, b, t, l), type);

    /// <summary>No operand carries a gradient.</summary>
    public override bool IsDifferentiable(Node node, int index) => false;

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var d = Load<T>(c);
        var y = (T[])c.Output.Data;
        Array.Clear(y);
        int L = d.L, steps = d.T;
        Parallelism.For(d.B, (long)steps * L * L, (lo, hi) =>
        {
            using var alpha = Scratch<double>.Rent(steps * L);
            using var node = Scratch<double>.Rent(steps * L);
            using var edges = Scratch<double>.Rent(Part == CrfPart.Edges ? L * L : 0);
            using var scratch = Scratch<double>.Rent(4 * L);
            for (int b = lo; b < hi; b++)
            {
                int n = d.Length(b);
                if (n == 0) continue;
                double logZ = Kernel.Forward(d.Emissions(b), d.A, d.S, d.F, n, L, alpha.Span, scratch.Span);
                Kernel.Marginals(d.Emissions(b), d.A, d.F, n, L, alpha.Span, logZ, node.Span, Part == CrfPart.Edges ? edges.Span : default, scratch.Span);
                var (from, count, at) = Part switch
                {
                    CrfPart.Nodes => (0, n * L, b * steps * L),
                    CrfPart.Edges => (0, L * L, b * L * L),
                    CrfPart.Start => (0, L, b * L),
                    _ => ((n - 1) * L, L, b * L),
                };
                var src = Part == CrfPart.Edges ? edges.Span : node.Span;
                for (int i = 0; i < count; i++) y[at + i] = T.CreateTruncating(src[from + i]);
            }
        });
    }

    /// <summary>None: the marginals are not differentiated.</summary>
    public override Expr?[] Gradient(Node node, Expr g) => new Expr?[node.Inputs.Count];

    /// <inheritdoc/>
    public override string? NotDifferentiableReason(Node node) =>
        "the CRF marginals have no gradient of their own, so a CRF log-likelihood or log-partition cannot be differentiated twice";
}

/// <summary><c>crf_viterbi(emissions, transitions, start=s, end=e, lengths=n)</c>: the highest-scoring tag path of each
/// sequence [B, T] (i64), with −1 at padding positions (so <c>one_hot(path, L, ignore_index=-1)</c> and
/// <c>crf_path_marginals(path, lengths=n, classes=L)</c> accept it); <c>crf_viterbi_score(...)</c>: its score [B]
/// (0 for an empty sequence), which equals the max over paths of the score (the max-product counterpart of log Z).
/// Ties go to the smaller tag index. O(n·L²) time, n·L back-pointers per sequence. Not differentiable.</summary>
/// <param name="Score">Return the best path's score instead of the path.</param>
/// <param name="HasStart">A start score vector is an operand.</param>
/// <param name="HasEnd">An end score vector is an operand.</param>
/// <param name="HasLengths">A lengths vector is an operand.</param>
public sealed record CrfViterbiOp(bool Score, bool HasStart = false, bool HasEnd = false, bool HasLengths = false) : CrfOp(HasStart, HasEnd, HasLengths), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => Score ? "crf_viterbi_score" : "crf_viterbi";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [Function("crf_viterbi", false, (c, e, t, s, n, l) => e.CrfViterbi(t, s, n, l)), Function("crf_viterbi_score", false, (c, e, t, s, n, l) => e.CrfViterbiScore(t, s, n, l))];
    private protected override bool HasTags => false;
    private protected override (Shape Shape, DType DType) Result(int b, int t, int l, DType type) =>
        Score ? (new Shape(b), type) : (new Shape(b, t), DType.I64);

    /// <summary>No operand carries a gradient.</summary>
    public override bool IsDifferentiable(Node node, int index) => false;

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var d = Load<T>(c);
        var scores = Score ? (T[])c.Output.Data : null;
        var paths = Score ? null : (long[])c.Output.Data;
        int L = d.L, steps = d.T;
        Parallelism.For(d.B, (long)steps * L * L, (lo, hi) =>
        {
            using var back = Scratch<int>.Rent(steps * L);
            using var path = Scratch<long>.Rent(steps);
            using var scratch = Scratch<double>.Rent(3 * L);
            for (int b = lo; b < hi; b++)
            {
                int n = d.Length(b);
                path.Span.Fill(-1);
                double s = n == 0 ? 0 : Kernel.Viterbi(d.Emissions(b), d.A, d.S, d.F, n, L, path.Span, back.Span, scratch.Span);
                if (scores is not null) scores[b] = T.CreateTruncating(s);
                else path.Span.CopyTo(paths.AsSpan(b * steps, steps));
            }
        });
    }

    /// <summary>None: the Viterbi path and score are not differentiated.</summary>
    public override Expr?[] Gradient(Node node, Expr g) => new Expr?[node.Inputs.Count];

    /// <inheritdoc/>
    public override string? NotDifferentiableReason(Node node) =>
        "the Viterbi path and score (a max over paths) are not differentiated; differentiate crf_log_partition or crf_log_likelihood instead";
}

/// <summary>The sufficient statistics of given tag paths, i.e. the marginals of the distribution that puts all its mass
/// on the path: <c>crf_path_marginals(tags, lengths=n, classes=L, dtype=...)</c> gives the node indicators [B, T, L],
/// <c>crf_path_edge_marginals</c> the transition counts [B, L, L], <c>crf_path_start_marginals</c> and
/// <c>crf_path_end_marginals</c> the first and last tag indicators [B, L]. Padding positions (at or past the sequence's
/// length) are ignored and give zeros. They are the "gold" half of the CRF gradient (gold minus model marginals), and
/// with a Viterbi path give the statistics of the best path (structured perceptron).
/// <para>Operands: tags [B, T] (i64) and optional lengths [B] (i64, printed <c>lengths=</c>). A length outside [0, T]
/// or a tag outside [0, L) at a non-padding position is an error naming the sequence and position.</para></summary>
/// <param name="Part">Which statistic.</param>
/// <param name="Classes">L, the number of tags.</param>
/// <param name="Type">The float element type of the result.</param>
/// <param name="HasLengths">A lengths vector is an operand.</param>
[NotExportable("the path statistics of tags are exported nowhere yet: no decomposition written")]
public sealed record CrfPathMarginalsOp(CrfPart Part, int Classes, DType Type, bool HasLengths = false) : Op, IOpFunctions
{
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => Enum.GetValues<CrfPart>().Select(part =>
        new FunctionSpec(new CrfPathMarginalsOp(part, 1, DType.F32).Name,
            [FunctionParam.Tensor("tags"), FunctionParam.Tensor("lengths", optional: true), FunctionParam.Int("classes"), FunctionParam.DType("dtype")],
            c => c.Tensor("tags").CrfPathMarginals(c.Int("classes"), c.DType("dtype", c.DefaultFloat), c.OptionalTensor("lengths"), part)));
    /// <inheritdoc/>
    public override string Name => Part switch
    {
        CrfPart.Edges => "crf_path_edge_marginals",
        CrfPart.Start => "crf_path_start_marginals",
        CrfPart.End => "crf_path_end_marginals",
        _ => "crf_path_marginals",
    };

    /// <inheritdoc/>
    public override bool IsFused => true;

    /// <summary><c>lengths</c> for the second operand.</summary>
    public override string? OperandName(int index) => index == 1 ? "lengths" : null;

    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) =>
        [("classes", FusedShapes.Text(Classes)), ("dtype", Type.Name())];

    /// <inheritdoc/>
    public override Op WithFloatType(DType dtype) => this with { Type = dtype };

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        FusedShapes.Operands(this, inputs, HasLengths ? 2 : 1, HasLengths ? 2 : 1, HasLengths ? "tags, lengths" : "tags");
        var t = inputs[0];
        if (t.DType != DType.I64 || t.Shape.Rank != 2) throw new ShapeException(Name, $"tags must be i64[batch, time], got {t.DType.Name()}{t.Shape}");
        if (Classes < 1) throw new ShapeException(Name, $"classes must be at least 1, got {Classes}");
        if (!Type.IsFloat()) throw new ShapeException(Name, $"result type must be f32 or f64, got {Type.Name()}");
        if (HasLengths) CrfChecks.Lengths(this, inputs[1], t.Shape[0], $"tags {t.Shape}");
        return (CrfChecks.PartShape(Part, t.Shape[0], t.Shape[1], Classes), Type);
    }

    /// <summary>No operand carries a gradient.</summary>
    public override bool IsDifferentiable(Node node, int index) => false;

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var tags = c.Inputs[0];
        int B = tags.Shape[0], steps = tags.Shape[1], L = Classes;
        var lengths = HasLengths ? (long[])c.Inputs[1].Data : null;
        if (lengths is not null) CrfChecks.CheckLengths(Name, lengths, steps);
        CrfChecks.CheckTags(Name, tags, lengths, L);
        var t = (long[])tags.Data;
        var y = (T[])c.Output.Data;
        Array.Clear(y);
        for (int b = 0; b < B; b++)
        {
            int n = lengths is null ? steps : (int)lengths[b];
            var path = t.AsSpan(b * steps, n);
            if (n == 0) continue;
            switch (Part)
            {
                case CrfPart.Nodes:
                    for (int i = 0; i < n; i++) y[(b * steps + i) * L + (int)path[i]] = T.One;
                    break;
                case CrfPart.Edges:
                    for (int i = 1; i < n; i++) y[(b * L + (int)path[i - 1]) * L + (int)path[i]] += T.One;
                    break;
                case CrfPart.Start:
                    y[b * L + (int)path[0]] = T.One;
                    break;
                default:
                    y[b * L + (int)path[^1]] = T.One;
                    break;
            }
        }
    }

    /// <summary>None: indicators of integer paths are constants.</summary>
    public override Expr?[] Gradient(Node node, Expr g) => new Expr?[node.Inputs.Count];
}

/// <summary>Shape and value checks shared by the CRF ops.</summary>
internal static class CrfChecks
{
    /// <summary>The shape of a <see cref="CrfPart"/> statistic.</summary>
    public static Shape PartShape(CrfPart part, int b, int t, int l) => part switch
    {
        CrfPart.Nodes => new Shape(b, t, l),
        CrfPart.Edges => new Shape(b, l, l),
        _ => new Shape(b, l),
    };

    public static void Tags(Op op, Node tags, int b, int t, string against)
    {
        if (tags.DType != DType.I64 || tags.Shape != new Shape(b, t))
            throw new ShapeException(op.Name, $"tags must be i64[{b}, {t}] to match {against}, got {tags.DType.Name()}{tags.Shape}");
    }

    public static void Lengths(Op op, Node lengths, int b, string against)
    {
        if (lengths.DType != DType.I64 || lengths.Shape != new Shape(b))
            throw new ShapeException(op.Name, $"lengths must be i64[{b}] to match {against}, got {lengths.DType.Name()}{lengths.Shape}");
    }

    /// <summary>Every length in [0, T].</summary>
    public static void CheckLengths(string op, long[] lengths, int T)
    {
        for (int b = 0; b < lengths.Length; b++)
            if ((ulong)lengths[b] > (ulong)T)
                throw new AutodiffException($"{op}: length {lengths[b]} of sequence {b} (lengths[{b}]) is outside [0, {T}]");
    }

    /// <summary>Every tag at a non-padding position in [0, L) (lengths already checked).</summary>
    public static void CheckTags(string op, Tensor tags, long[]? lengths, int L)
    {
        int T = tags.Shape[1];
        var t = (long[])tags.Data;
        for (int b = 0; b < tags.Shape[0]; b++)
        {
            long n = lengths?[b] ?? T;
            for (int i = 0; i < n; i++)
                if ((ulong)t[b * T + i] >= (ulong)L)
                    throw new AutodiffException($"{op}: tag {t[b * T + i]} at position [{b}, {i}] (sequence {b}, time {i}) is out of range [0, {L})");
        }
    }
}

public readonly partial struct Expr
{
    /// <summary><c>crf_log_likelihood(emissions, transitions, tags, start=s, end=e, lengths=n)</c> on these emissions
    /// [B, T, L]: the log-likelihood [B] of the gold paths under a linear-chain CRF (see <see cref="CrfLogLikelihoodOp"/>).</summary>
    /// <param name="transitions">[L, L] scores of tag i followed by tag j.</param>
    /// <param name="tags">i64 [B, T] gold tags.</param>
    /// <param name="start">Optional [L] scores of the first tag.</param>
    /// <param name="end">Optional [L] scores of the last tag.</param>
    /// <param name="lengths">Optional i64 [B] sequence lengths (positions at or past a length are padding).</param>
    public Expr CrfLogLikelihood(Expr transitions, Expr tags, Expr? start = null, Expr? end = null, Expr? lengths = null) =>
        CrfOp.Apply(new CrfLogLikelihoodOp(start is not null, end is not null, lengths is not null), this, [transitions, tags], start, end, lengths);

    /// <summary><c>crf_log_partition(emissions, transitions, start=s, end=e, lengths=n)</c>: log Z [B] of a linear-chain
    /// CRF with these emissions (see <see cref="CrfLogPartitionOp"/>).</summary>
    /// <param name="transitions">[L, L] scores of tag i followed by tag j.</param>
    /// <param name="start">Optional [L] scores of the first tag.</param>
    /// <param name="end">Optional [L] scores of the last tag.</param>
    /// <param name="lengths">Optional i64 [B] sequence lengths.</param>
    public Expr CrfLogPartition(Expr transitions, Expr? start = null, Expr? end = null, Expr? lengths = null) =>
        CrfOp.Apply(new CrfLogPartitionOp(start is not null, end is not null, lengths is not null), this, [transitions], start, end, lengths);

    /// <summary>The model marginals of a linear-chain CRF with these emissions: by default <c>crf_marginals</c>, the node
    /// marginals [B, T, L]; <paramref name="part"/> selects <c>crf_edge_marginals</c> (expected transition counts
    /// [B, L, L]), <c>crf_start_marginals</c> or <c>crf_end_marginals</c> ([B, L]). See <see cref="CrfMarginalsOp"/>.</summary>
    /// <param name="transitions">[L, L] scores of tag i followed by tag j.</param>
    /// <param name="start">Optional [L] scores of the first tag.</param>
    /// <param name="end">Optional [L] scores of the last tag.</param>
    /// <param name="lengths">Optional i64 [B] sequence lengths.</param>
    /// <param name="part">Which statistic.</param>
    public Expr CrfMarginals(Expr transitions, Expr? start = null, Expr? end = null, Expr? lengths = null, CrfPart part = CrfPart.Nodes) =>
        CrfOp.Apply(new CrfMarginalsOp(part, start is not null, end is not null, lengths is not null), this, [transitions], start, end, lengths);

    /// <summary><c>crf_viterbi(emissions, transitions, start=s, end=e, lengths=n)</c>: the best tag path [B, T] (i64,
    /// −1 at padding) of a linear-chain CRF with these emissions (see <see cref="CrfViterbiOp"/>).</summary>
    /// <param name="transitions">[L, L] scores of tag i followed by tag j.</param>
    /// <param name="start">Optional [L] scores of the first tag.</param>
    /// <param name="end">Optional [L] scores of the last tag.</param>
    /// <param name="lengths">Optional i64 [B] sequence lengths.</param>
    public Expr CrfViterbi(Expr transitions, Expr? start = null, Expr? end = null, Expr? lengths = null) =>
        CrfOp.Apply(new CrfViterbiOp(false, start is not null, end is not null, lengths is not null), this, [transitions], start, end, lengths);

    /// <summary><c>crf_viterbi_score(emissions, transitions, start=s, end=e, lengths=n)</c>: the score [B] of the best
    /// tag path (see <see cref="CrfViterbiOp"/>).</summary>
    /// <param name="transitions">[L, L] scores of tag i followed by tag j.</param>
    /// <param name="start">Optional [L] scores of the first tag.</param>
    /// <param name="end">Optional [L] scores of the last tag.</param>
    /// <param name="lengths">Optional i64 [B] sequence lengths.</param>
    public Expr CrfViterbiScore(Expr transitions, Expr? start = null, Expr? end = null, Expr? lengths = null) =>
        CrfOp.Apply(new CrfViterbiOp(true, start is not null, end is not null, lengths is not null), this, [transitions], start, end, lengths);

    /// <summary>The sufficient statistics of these i64 tag paths [B, T]: by default <c>crf_path_marginals</c>, the node
    /// indicators [B, T, L]; <paramref name="part"/> selects the transition counts or the first or last tag indicators
    /// (see <see cref="CrfPathMarginalsOp"/>).</summary>
    /// <param name="classes">L, the number of tags.</param>
    /// <param name="dtype">The float element type of the result.</param>
    /// <param name="lengths">Optional i64 [B] sequence lengths.</param>
    /// <param name="part">Which statistic.</param>
    public Expr CrfPathMarginals(int classes, DType dtype = DType.F32, Expr? lengths = null, CrfPart part = CrfPart.Nodes)
    {
        var op = new CrfPathMarginalsOp(part, classes, dtype, lengths is not null);
        return lengths is { } n ? Apply(op, n) : Apply(op);
    }
}
