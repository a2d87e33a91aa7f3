using System.Buffers;
using System.Globalization;
using System.Numerics;
using Autodiff.Interop;
using Autodiff.Text;
using Rows = Autodiff.Kernels.SoftmaxCrossEntropy;

namespace Autodiff;

// The fused softmax family: softmax, log_softmax and logsumexp (this file), softmax_cross_entropy and
// sparse_softmax_cross_entropy (FusedCrossEntropy.cs), logaddexp (FusedLogAddExp.cs). The simplifier introduces them in
// place of naive exp / sum / div / log graphs; each has a max-shifted forward kernel, a closed-form backward and a
// symbolic gradient in terms of other ops.

/// <summary>A tensor viewed as rows along one run of adjacent axes: [Outer, N, Inner], a row being the N elements at one
/// (outer, inner) position. Row r = o·Inner + i, which is also the row-major order of the shape with the run removed.</summary>
internal readonly record struct RowLayout(int Outer, int N, int Inner)
{
    /// <summary>Number of rows.</summary>
    public int Rows => Outer * Inner;

    /// <summary>Number of elements.</summary>
    public int Size => Outer * N * Inner;

    /// <summary>Rows along axes [from, to) of <paramref name="s"/>.</summary>
    public static RowLayout Of(Shape s, int from, int to) => new(s.Product(0, from), s.Product(from, to), s.Product(to, s.Rank));

    /// <summary>Rows along one axis.</summary>
    public static RowLayout Of(Shape s, int axis) => Of(s, axis, axis + 1);
}

/// <summary>A tensor's elements as contiguous rows: the tensor's own array when the rows already are contiguous
/// (Inner = 1), otherwise a pooled packed copy or scratch that <see cref="Store"/> moves back. Dispose to return it.</summary>
internal readonly struct RowBuffer<T> : IDisposable
    where T : unmanaged, INumberBase<T>
{
    private readonly bool _rented;

    private RowBuffer(T[] array, bool rented)
    {
        Array = array;
        _rented = rented;
    }

    /// <summary>The rows (a rented array may be longer than the tensor).</summary>
    public T[] Array { get; }

    /// <summary>True when <see cref="Array"/> is pooled scratch rather than the tensor's own array.</summary>
    public bool Rented => _rented;

    /// <summary>The tensor's values as rows (read only: may be the tensor's own array).</summary>
    public static RowBuffer<T> Read(Tensor t, RowLayout l)
    {
        var data = (T[])t.Data;
        if (l.Inner == 1) return new(data, false);
        var b = Rent(l.Size, clear: false);
        Rows.Pack(data, l.Outer, l.N, l.Inner, b.Array);
        return b;
    }

    /// <summary>Rows to be written into <paramref name="t"/>: its own array when contiguous, else scratch (zeroed when
    /// <paramref name="clear"/>, for kernels that accumulate). Call <see cref="Store"/> afterwards.</summary>
    public static RowBuffer<T> Target(Tensor t, RowLayout l, bool clear) => l.Inner == 1 ? new((T[])t.Data, false) : Rent(l.Size, clear);

    /// <summary>Moves scratch rows into <paramref name="t"/> (nothing to do when the rows are the tensor's own array).</summary>
    public void Store(Tensor t, RowLayout l, bool accumulate)
    {
        if (_rented) Rows.Unpack(Array, l.Outer, l.N, l.Inner, (T[])t.Data, accumulate);
    }

    private static RowBuffer<T> Rent(int n, bool clear)
    {
        var a = Pool.Rent<T>(Math.Max(n, 1));
        if (clear) a.AsSpan(0, n).Clear();
        return new(a, true);
    }

    /// <inheritdoc/>
    public void Dispose()
    {
        if (_rented) Pool.Return(Array);
    }
}

/// <summary>Per-node saved row statistics of the fused ops (created by <see cref="Op.CreateState"/>, filled by the forward,
/// read by the backward): the row maxima and the row sums of exp(x − max), accumulated in double. From them the backward
/// recomputes q = exp(x − max) / sum exactly as the forward had it, without keeping a buffer of the input's size.
/// The write mode of each operand gradient is the tape's plan, read from the context (<see cref="OpContext.Overwrites"/>).</summary>
internal sealed class RowState
{
    private Array? _max;
    private double[]? _sum;
    private double[]? _rest;

    /// <summary>Set by a forward that wrote the numerators exp(x − max) of the finite rows into operand 0's gradient buffer;
    /// the next backward scales them in place instead of computing exp again, and clears it (so a second backward of the
    /// same forward recomputes them).</summary>
    public bool Stashed { get; set; }

    /// <summary>The array a forward writes the numerators into: operand 0's gradient when the backward overwrites it, the
    /// rows are its own contiguous rows and short enough for the stash to pay (<see cref="Kernels.SoftmaxCrossEntropy.Stashes{T}"/>);
    /// otherwise null.</summary>
    public T[]? Stash<T>(OpContext c, RowLayout l)
        where T : unmanaged =>
        c.Overwrites(0) && l.Inner == 1 && Rows.Stashes<T>(l.N) && c.InputGrads[0] is { } g ? (T[])g.Data : null;
    /// <summary>Whether a gradient kernel writing operand <paramref name="operand"/>'s gradient rows into
    /// <paramref name="d"/> (from <see cref="RowBuffer{T}.Target"/> with <c>clear: false</c>) must add into them: only
    /// when d is the gradient's own array and the tape accumulates (pooled scratch is overwritten, then stored with
    /// the planned mode).</summary>
    public static bool KernelAccumulates<T>(OpContext c, int operand, RowBuffer<T> d)
        where T : unmanaged, INumberBase<T> => !c.Overwrites(operand) && !d.Rented;

    /// <summary>Row maxima.</summary>
    public T[] Max<T>(int rows) => Get<T>(ref _max, rows);

    /// <summary>Row sums of exp(x − max).</summary>
    public double[] Sum(int rows) => _sum is { } s && s.Length == rows ? s : _sum = new double[rows];

    /// <summary>Row sums of exp(x − max) without one entry (the label's, or the maximum's), exact where the full sum
    /// rounds to that entry's numerator (see <see cref="Kernels.SoftmaxCrossEntropy.Rest{T}"/>).</summary>
    public double[] Rest(int rows) => _rest is { } s && s.Length == rows ? s : _rest = new double[rows];

    private static T[] Get<T>(ref Array? slot, int n)
    {
        if (slot is T[] a && a.Length == n) return a;
        var r = new T[n];
        slot = r;
        return r;
    }
}

/// <summary>Shape checks and small expression helpers shared by the fused ops.</summary>
internal static class FusedShapes
{
    public static string Text(int v) => v.ToString(CultureInfo.InvariantCulture);

    public static string Text(double v) => Tensor.FormatNumber(v, DType.F64);

    public static void Operands(Op op, IReadOnlyList<Node> inputs, int min, int max, string roles)
    {
        if (inputs.Count < min || inputs.Count > max)
            throw new ShapeException(op.Name, $"takes {(min == max ? Text(min) : $"{min} or {max}")} operands ({roles}), got {inputs.Count}");
    }

    public static void Axis(Op op, int axis, Shape x)
    {
        if (axis < 0 || axis >= x.Rank) throw new ShapeException(op.Name, $"axis {axis} is out of range for shape {x} (rank {x.Rank})");
    }

    public static void Smoothing(Op op, double eps)
    {
        if (!(eps >= 0 && eps <= 1)) throw new ShapeException(op.Name, $"label_smoothing must be in [0, 1], got {Text(eps)}");
    }

    /// <summary>The shape without <paramref name="axis"/>.</summary>
    public static Shape Without(Shape x, int axis) => new(x.Where((_, i) => i != axis).ToArray());

    /// <summary>Checks optional class weights: one float vector of length C, of the logits' element type.</summary>
    public static void Weights(Op op, Node z, Node w, int axis)
    {
        if (w.DType != z.DType) throw new ShapeException(op.Name, $"weights must have the logits' element type {z.DType.Name()}, got {w.DType.Name()}{w.Shape}");
        if (w.Shape.Rank != 1 || w.Shape[0] != z.Shape[axis])
            throw new ShapeException(op.Name, $"weights must have shape [{z.Shape[axis]}] (the classes along axis {axis} of {z.Shape}), got {w.Shape}");
    }

    /// <summary>A per-class vector [C] shaped to broadcast along <paramref name="axis"/> of a rank-<paramref name="rank"/> tensor.</summary>
    public static Expr AlongAxis(Expr v, int rank, int axis) =>
        axis == rank - 1 ? v : v.Reshape([v.Shape[0], .. Enumerable.Repeat(1, rank - axis - 1)]);

    /// <summary>A per-row gradient (shape without the class axis) with a size-1 axis inserted at <paramref name="axis"/>,
    /// so that it broadcasts over the classes.</summary>
    public static Expr OverAxis(Expr g, int axis) => g.Unsqueeze(axis);
}

/// <summary>An op normalising along one axis row by row (softmax, log_softmax): the shared shape rule, row layout, saved
/// state and gradient-buffer plan; subclasses give the row kernels.</summary>
/// <param name="Axis">The axis, resolved (non-negative).</param>
public abstract record RowwiseOp(int Axis) : Op
{
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node) => [("axis", FusedShapes.Text(Axis))];
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        FusedShapes.Operands(this, inputs, 1, 1, "x");
        RequireFloat(inputs[0]);
        FusedShapes.Axis(this, Axis, inputs[0].Shape);
        return (inputs[0].Shape, inputs[0].DType);
    }

    /// <summary>The forward row kernel: y from x, for <paramref name="rows"/> contiguous rows of length <paramref name="n"/>.</summary>
    protected abstract void RowsForward<T>(ReadOnlySpan<T> x, int rows, int n, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>The backward row kernel: gx (+)= the vector-Jacobian product from y and g.</summary>
    protected abstract void RowsBackward<T>(T[] y, T[] g, T[] gx, int rows, int n, bool accumulate) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        using var x = RowBuffer<T>.Read(c.Inputs[0], l);
        using var y = RowBuffer<T>.Target(c.Output, l, clear: false);
        RowsForward<T>(x.Array.AsSpan(0, l.Size), l.Rows, l.N, y.Array.AsSpan(0, l.Size));
        y.Store(c.Output, l, accumulate: false);
    }
    /// <inheritdoc/>
    public override object? CreateState(Node node) => new RowState();
    /// <summary>The backward can overwrite the operand's gradient.</summary>
    internal override bool CanOverwriteGradient(Node node, int operand) => operand == 0;
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        var l = RowLayout.Of(gx.Shape, Axis);
        var st = (RowState)c.State!;
        using var y = RowBuffer<T>.Read(c.Output, l);
        using var g = RowBuffer<T>.Read(c.GradOutput, l);
        using var d = RowBuffer<T>.Target(gx, l, clear: false);
        RowsBackward(y.Array, g.Array, d.Array, l.Rows, l.N, RowState.KernelAccumulates(c, 0, d));
        d.Store(gx, l, !c.Overwrites(0));
    }
}

/// <summary><c>softmax(x, axis=a)</c>: exp(x − max) / Σ exp(x − max) along one axis, stable for every finite input.
/// A row with NaN gives NaN; a row of only −inf gives zeros; a row with +inf gives 1/count at each of its count +inf
/// entries and 0 elsewhere (the <see cref="Kernels.Softmax"/> policy). The backward is gx += y ⊙ (g − Σ g⊙y).</summary>
/// <param name="Axis">The softmax axis, resolved (non-negative).</param>
public sealed record SoftmaxOp(int Axis) : RowwiseOp(Axis), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "softmax";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("softmax", [FunctionParam.Tensor("x"), FunctionParam.Int("axis", optional: true)], c => c.Tensor("x").Softmax(c.Int("axis", -1)))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Softmax", x, y, OnnxAttribute.Of("axis", Axis));
    /// <inheritdoc/>
    protected override void RowsForward<T>(ReadOnlySpan<T> x, int rows, int n, Span<T> y) => Kernels.Softmax.SoftmaxRows(x, rows, n, y);
    /// <inheritdoc/>
    protected override void RowsBackward<T>(T[] y, T[] g, T[] gx, int rows, int n, bool accumulate) => Rows.SoftmaxBackward(y, g, gx, rows, n, accumulate);
    /// <summary><c>y * (g - sum(g * y, axis, keepdims=true))</c>.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr y = node;
        return [y * (g - (g * y).Sum(Axis, keepDims: true))];
    }
}

/// <summary><c>log_softmax(x, axis=a)</c>: x − logsumexp(x) along one axis, computed as (x − max) − log Σ exp(x − max),
/// stable for every finite input. A row with NaN gives NaN; a row of only −inf gives −inf; a row with +inf gives
/// −log(count) at its +inf entries and −inf elsewhere. The backward is gx += g − softmax(x) ⊙ Σ g, with softmax(x) taken
/// as exp(y); so an entry whose probability is 0 (including every entry of an all −inf row) gets gx += g.</summary>
/// <param name="Axis">The axis, resolved (non-negative).</param>
public sealed record LogSoftmaxOp(int Axis) : RowwiseOp(Axis), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "log_softmax";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("log_softmax", [FunctionParam.Tensor("x"), FunctionParam.Int("axis", optional: true)], c => c.Tensor("x").LogSoftmax(c.Int("axis", -1)))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("LogSoftmax", x, y, OnnxAttribute.Of("axis", Axis));
    /// <inheritdoc/>
    protected override void RowsForward<T>(ReadOnlySpan<T> x, int rows, int n, Span<T> y) => Kernels.Softmax.LogSoftmaxRows(x, rows, n, y);
    /// <inheritdoc/>
    protected override void RowsBackward<T>(T[] y, T[] g, T[] gx, int rows, int n, bool accumulate) => Rows.LogSoftmaxBackward(y, g, gx, rows, n, accumulate);
    /// <summary><c>g - softmax(x, axis) * sum(g, axis, keepdims=true)</c>.</summary>
    public override Expr?[] Gradient(Node node, Expr g) =>
        [g - node.Inputs[0].Expr.Softmax(Axis) * g.Sum(Axis, keepDims: true)];
}

/// <summary><c>logsumexp(x, axis=..., keepdims=...)</c>: log Σ exp(x) over any set of axes (all axes when none are
/// given; axes that are not one adjacent run are gathered into rows on a copy, like <c>sum</c> accepts them), computed as max + log Σ exp(x − max) with the sum accumulated in double, so it is stable for every finite
/// input. The backward is gx += g ⊙ exp(x − lse), evaluated from the saved row max and sum (or, when the tape planned
/// this node to overwrite x's gradient and rows are short, by scaling the exp(x − max) the forward left there).
/// Non-finite policy: a row with NaN gives NaN and a NaN gradient in that row only; a row of only −inf (or an empty row)
/// gives −inf with gradient 0 (not NaN); a row with +inf gives +inf and its gradient g is shared equally among the
/// row's +inf entries (0 elsewhere), the limit of the softmax as those entries grow together.</summary>
/// <param name="Axes">The reduced axes: resolved, sorted and distinct.</param>
/// <param name="KeepDims">Keep the reduced axes as size 1.</param>
public sealed record LogSumExpOp(IntList Axes, bool KeepDims) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "logsumexp";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [ReduceOp.Function("logsumexp", (x, axes, keep) => x.LogSumExp(axes, keep))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Reduce("ReduceLogSumExp", Axes, KeepDims, x[0], y);
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node)
    {
        if (Axes.Count != node.Inputs[0].Shape.Rank) yield return ("axis", Axes.ToString());
        if (KeepDims) yield return ("keepdims", "true");
    }
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        FusedShapes.Operands(this, inputs, 1, 1, "x");
        RequireFloat(inputs[0]);
        var x = inputs[0].Shape;
        foreach (var a in Axes) FusedShapes.Axis(this, a, x);
        for (int i = 1; i < Axes.Count; i++)
            if (Axes[i] <= Axes[i - 1]) throw new ShapeException(Name, $"axes {Axes} must be sorted and distinct (shape {x})");
        return (ReduceOp.ReducedShape(x, Axes, KeepDims), inputs[0].DType);
    }

    /// <summary>True when the reduced axes are one run of adjacent axes, so the rows are read in place (or packed);
    /// otherwise the kernels run on a copy with the kept axes first and the reduced axes last.</summary>
    private bool Adjacent => Axes.Count < 2 || Axes[^1] - Axes[0] == Axes.Count - 1;

    private RowLayout Layout(Shape x)
    {
        if (!Adjacent)
        {
            int n = Axes.Aggregate(1, (p, a) => p * x[a]);
            return new RowLayout(n == 0 ? 0 : x.Size / n, n, 1);
        }
        int from = Axes.Count > 0 ? Axes[0] : x.Rank;
        return RowLayout.Of(x, from, from + Axes.Count);
    }

    /// <summary>The kept axes in order, then the reduced axes.</summary>
    private IntList Gather(int rank) => new([.. Enumerable.Range(0, rank).Where(a => !Axes.Contains(a)), .. Axes]);

    /// <summary>x as [rows, N] rows over non-adjacent axes: a pooled copy with the reduced axes moved last.</summary>
    private T[] Gathered<T>(Tensor x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var a = Pool.Rent<T>(Math.Max(1, x.Size));
        TransposeOp.Permute<T>(x.Span<T>(), x.Shape, Gather(x.Shape.Rank), a.AsSpan(0, x.Size), accumulate: false);
        return a;
    }

    private void ForwardGathered<T>(OpContext c, RowLayout l, RowState st) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = Gathered<T>(c.Inputs[0]);
        Rows.LogSumExpForward(x, l.Rows, l.N, (T[])c.Output.Data, st.Max<T>(l.Rows), st.Sum(l.Rows));
        Pool.Return(x);
        st.Stashed = false;
    }

    private void BackwardGathered<T>(OpContext c, Tensor gx, RowLayout l, RowState st) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var x = Gathered<T>(c.Inputs[0]);
        var d = Pool.Rent<T>(Math.Max(1, gx.Size));
        Rows.LogSumExpBackward(x, (T[])c.GradOutput.Data, st.Max<T>(l.Rows), st.Sum(l.Rows), d, l.Rows, l.N, accumulate: false);
        var gather = Gather(gx.Shape.Rank);
        var inverse = new int[gather.Count];
        for (int i = 0; i < inverse.Length; i++) inverse[gather[i]] = i;
        var gatheredShape = new Shape(gather.Select(a => gx.Shape[a]).ToArray());
        TransposeOp.Permute<T>(d.AsSpan(0, gx.Size), gatheredShape, new IntList(inverse), gx.Span<T>(), !c.Overwrites(0));
        Pool.Return(x);
        Pool.Return(d);
    }

    /// <inheritdoc/>
    public override object? CreateState(Node node) => new RowState();
    /// <summary>The backward can overwrite the operand's gradient.</summary>
    internal override bool CanOverwriteGradient(Node node, int operand) => operand == 0;
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var l = Layout(c.Inputs[0].Shape);
        var st = (RowState)c.State!;
        if (!Adjacent) { ForwardGathered<T>(c, l, st); return; }
        using var x = RowBuffer<T>.Read(c.Inputs[0], l);
        var stash = st.Stash<T>(c, l);
        Rows.LogSumExpForward(x.Array, l.Rows, l.N, (T[])c.Output.Data, st.Max<T>(l.Rows), st.Sum(l.Rows), stash);
        st.Stashed = stash is not null;
    }
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        var l = Layout(gx.Shape);
        var st = (RowState)c.State!;
        if (!Adjacent) { BackwardGathered<T>(c, gx, l, st); return; }
        using var x = RowBuffer<T>.Read(c.Inputs[0], l);
        using var d = RowBuffer<T>.Target(gx, l, clear: false);
        Rows.LogSumExpBackward(x.Array, (T[])c.GradOutput.Data, st.Max<T>(l.Rows), st.Sum(l.Rows), d.Array, l.Rows, l.N, RowState.KernelAccumulates(c, 0, d), st.Stashed);
        st.Stashed = false;
        d.Store(gx, l, !c.Overwrites(0));
    }

    /// <inheritdoc/>
    internal override bool FusesForwardBackward => true;

    /// <summary>The forward and the backward in one pass per row: each row's gradient is written while the row is in cache.</summary>
    private protected override void ForwardBackward<T>(OpContext c)
    {
        var gx = c.InputGrads[0]!;
        if (!Adjacent)
        {
            Forward<T>(c);
            Backward<T>(c);
            return;
        }
        var l = Layout(gx.Shape);
        var st = (RowState)c.State!;
        using var x = RowBuffer<T>.Read(c.Inputs[0], l);
        using var d = RowBuffer<T>.Target(gx, l, clear: false);
        Rows.LogSumExpForwardBackward(x.Array, l.Rows, l.N, (T[])c.Output.Data, st.Max<T>(l.Rows), st.Sum(l.Rows), (T[])c.GradOutput.Data, d.Array, RowState.KernelAccumulates(c, 0, d));
        st.Stashed = false;
        d.Store(gx, l, !c.Overwrites(0));
    }
    /// <summary><c>reshape(g, kept) * exp(x - reshape(y, kept))</c>, kept being the shape with the reduced axes as size 1.
    /// (Unlike the tape, this expression is NaN rather than 0 on an all −inf row.)</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr x = node.Inputs[0];
        var kept = ReduceOp.ReducedShape(x.Shape, Axes, keepDims: true).ToArray();
        return [g.Reshape(kept) * (x - node.Expr.Reshape(kept)).Exp()];
    }
}

public readonly partial struct Expr
{
    /// <summary><c>softmax(x, axis)</c>: stable softmax along one axis (see <see cref="SoftmaxOp"/>).</summary>
    public Expr Softmax(int axis = -1) => Apply(new SoftmaxOp(Shape.Axis(axis, "softmax")));

    /// <summary><c>log_softmax(x, axis)</c>: stable log-softmax along one axis (see <see cref="LogSoftmaxOp"/>).</summary>
    public Expr LogSoftmax(int axis = -1) => Apply(new LogSoftmaxOp(Shape.Axis(axis, "log_softmax")));

    /// <summary><c>logsumexp(x, axis=..., keepdims=...)</c> over any axes (all axes if none);
    /// see <see cref="LogSumExpOp"/>.</summary>
    public Expr LogSumExp(int[]? axes = null, bool keepDims = false) => Apply(new LogSumExpOp(ResolveAxes(axes, "logsumexp"), keepDims));

    /// <summary><c>logsumexp(x, axis=a, keepdims=...)</c> over one axis.</summary>
    public Expr LogSumExp(int axis, bool keepDims = false) => LogSumExp([axis], keepDims);
}
