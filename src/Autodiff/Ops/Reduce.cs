using System.Numerics;
using System.Numerics.Tensors;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary>A reduction over one or several axes (all axes when none are given), optionally keeping reduced axes as size 1.
/// The axes are stored resolved (non-negative, sorted), so <c>axis=-1</c> and <c>axis=1</c> build the same node.</summary>
public abstract record ReduceOp(IntList Axes, bool KeepDims) : Op
{
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node)
    {
        if (Axes.Count != node.Inputs[0].Shape.Rank) yield return ("axis", Axes.ToString());
        if (KeepDims) yield return ("keepdims", "true");
    }

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (inputs.Count != 1) throw new ShapeException(Name, $"takes 1 operand, got {inputs.Count}");
        RequireFloat(inputs[0]);
        var x = inputs[0].Shape;
        foreach (var a in Axes)
            if (a < 0 || a >= x.Rank) throw new ShapeException(Name, $"axis {a} is out of range for shape {x} (rank {x.Rank})");
        return (ReducedShape(x, Axes, KeepDims), inputs[0].DType);
    }

    /// <summary>The shape after reducing <paramref name="axes"/> of <paramref name="x"/>.</summary>
    public static Shape ReducedShape(Shape x, IntList axes, bool keepDims)
    {
        var d = new List<int>();
        for (int i = 0; i < x.Rank; i++)
            if (!axes.Contains(i)) d.Add(x[i]);
            else if (keepDims) d.Add(1);
        return new Shape(d.ToArray());
    }

    /// <summary>Number of elements reduced into each output element.</summary>
    public int Count(Shape x) => Axes.Aggregate(1, (p, a) => p * x[a]);

    /// <summary>The kernel applied to one [outer, n, inner] block.</summary>
    protected abstract void Kernel<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        if (this is SumOp or MeanOp && TrailingRows(c.Inputs[0].Shape) is var (rows, n))
        {
            var body = new Rows<T>((T[])c.Inputs[0].Data, (T[])c.Output.Data, n, this is MeanOp, Back: false, Overwrite: false);
            Kernels.Parallelism.For(rows, n, ref body);
            return;
        }
        ReduceAll<T>(c.Inputs[0].Span<T>(), c.Inputs[0].Shape, c.Output.Span<T>());
    }

    /// <summary>The input as [rows, n] when the reduced axes are one run that ends with the last axis (so each output
    /// element reduces one contiguous row), or null.</summary>
    private protected (int Rows, int N)? TrailingRows(Shape x)
    {
        if (Axes.Count == 0 || x.Size == 0 || Axes[Axes.Count - 1] != x.Rank - 1) return null;
        for (int i = 1; i < Axes.Count; i++) if (Axes[i] != Axes[0] + i) return null;
        int rows = x.Product(0, Axes[0]);
        return (rows, x.Size / rows);
    }

    /// <summary>Allocation-free row kernels of sum and mean over [rows, n] (the arithmetic of the general path):
    /// forward y[r] = Σ x[r, :] (÷ n for the mean); backward (<paramref name="Back"/>) gx[r, :] += g[r] (g[r] ÷ n), or
    /// gx[r, :] = … when <paramref name="Overwrite"/>.</summary>
    private protected readonly record struct Rows<T>(T[] X, T[] Y, int N, bool Mean, bool Back, bool Overwrite) : Kernels.IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                var row = X.AsSpan(r * N, N);
                if (!Back)
                {
                    Y[r] = Mean ? TensorPrimitives.Sum(row) / T.CreateTruncating(N) : TensorPrimitives.Sum(row);
                    continue;
                }
                T g = Mean ? Y[r] / T.CreateTruncating(N) : Y[r];
                if (Overwrite) row.Fill(g);
                else TensorPrimitives.Add(row, g, row);
            }
        }
    }

    /// <summary>The backward of sum and mean: gx += g broadcast back over the reduced axes (÷ their size for the mean), or
    /// gx = … when the tape planned this node to overwrite gx.</summary>
    private protected void BroadcastBack<T>(OpContext c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (c.InputGrads[0] is not { } gx) return;
        bool mean = this is MeanOp, overwrite = c.Overwrites(0);
        if (TrailingRows(gx.Shape) is var (rows, n))
        {
            var body = new Rows<T>((T[])gx.Data, (T[])c.GradOutput.Data, n, mean, Back: true, overwrite);
            Kernels.Parallelism.For(rows, n, ref body);
            return;
        }
        var xs = gx.Shape.ToArray();
        var kept = KeptShape(gx.Shape).ToArray();
        using var s = Scratch<T>.Rent(mean ? c.GradOutput.Size : 0);
        ReadOnlySpan<T> g = c.GradOutput.Span<T>();
        if (mean)
        {
            TensorPrimitives.Divide(g, T.CreateTruncating(Count(gx.Shape)), s.Span);
            g = s.Span;
        }
        if (overwrite) Broadcast.Expand(g, kept, gx.Span<T>(), xs);
        else Broadcast.Binary(gx.Span<T>(), xs, g, kept, gx.Span<T>(), xs, BinaryKind.Add);
    }

    /// <summary>Reduces every axis group (maximal runs of adjacent axes), innermost group first.</summary>
    internal void ReduceAll<T>(ReadOnlySpan<T> x, Shape shape, Span<T> dst) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var dims = shape.ToArray();
        var groups = new List<(int From, int To)>();
        foreach (var a in Axes)
            if (groups.Count > 0 && groups[^1].To == a) groups[^1] = (groups[^1].From, a + 1);
            else groups.Add((a, a + 1));
        if (groups.Count == 0) { Kernel(x, x.Length, 1, 1, dst); return; }   // each element is its own row (pnorm gives |x|)
        // Intermediates hold the values after the inner groups are reduced; reducing an empty axis can make one larger
        // than x itself (x [3, 4, 0] over axes (0, 2) passes through [3, 4, 1]).
        int scratch = 0;
        var after = (int[])dims.Clone();
        for (int gi = groups.Count - 1; gi > 0; gi--)
        {
            for (int i = groups[gi].From; i < groups[gi].To; i++) after[i] = 1;
            scratch = Math.Max(scratch, Prod(after, 0, after.Length));
        }
        using var ping = Scratch<T>.Rent(groups.Count > 1 ? scratch : 0);
        using var pong = Scratch<T>.Rent(groups.Count > 2 ? scratch : 0);
        ReadOnlySpan<T> current = x;
        for (int gi = groups.Count - 1; gi >= 0; gi--)
        {
            var (from, to) = groups[gi];
            int outer = Prod(dims, 0, from), n = Prod(dims, from, to), inner = Prod(dims, to, dims.Length);
            var target = gi == 0 ? dst : ((groups.Count - 1 - gi) % 2 == 0 ? ping.Span : pong.Span).Slice(0, outer * inner);
            Kernel(current, outer, n, inner, target);
            current = target;
            for (int i = from; i < to; i++) dims[i] = 1;
        }
    }

    private static int Prod(int[] d, int from, int to)
    {
        int p = 1;
        for (int i = from; i < to; i++) p *= d[i];
        return p;
    }

    /// <summary>The output shape with reduced axes kept as size 1.</summary>
    protected Shape KeptShape(Shape x) => ReducedShape(x, Axes, keepDims: true);

    /// <summary>The gradient <paramref name="g"/> reshaped to the kept shape and broadcast back to <paramref name="x"/>'s shape.</summary>
    protected Expr ExpandBack(Expr g, Shape x) => g.Reshape(KeptShape(x).ToArray()).BroadcastTo(x.ToArray());

    /// <summary>The language function <c>name(x, axis?, keepdims?)</c> of a reduction (no axis: all axes).</summary>
    internal static FunctionSpec Function(string name, Func<Expr, int[]?, bool, Expr> build) =>
        new(name, [FunctionParam.Tensor("x"), FunctionParam.Ints("axis", optional: true), FunctionParam.Bool("keepdims")],
            c => build(c.Tensor("x"), c.Ints("axis"), c.Bool("keepdims")));
}

/// <summary><c>sum(x, axis=..., keepdims=...)</c>.</summary>
public sealed record SumOp(IntList Axes, bool KeepDims) : ReduceOp(Axes, KeepDims), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "sum";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("sum", (x, axes, keep) => x.Sum(axes, keep))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Reduce("ReduceSum", Axes, KeepDims, x[0], y);
    /// <summary>The backward reads only the output gradient.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) => false;
    /// <inheritdoc/>
    protected override void Kernel<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst) => Reduce.Sum(x, outer, n, inner, dst);
    /// <summary>The backward can overwrite the operand's gradient.</summary>
    internal override bool CanOverwriteGradient(Node node, int operand) => true;
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c) => BroadcastBack<T>(c);
    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [ExpandBack(g, node.Inputs[0].Shape)];
}

/// <summary><c>mean(x, axis=..., keepdims=...)</c>; the mean over zero elements is NaN.</summary>
public sealed record MeanOp(IntList Axes, bool KeepDims) : ReduceOp(Axes, KeepDims), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "mean";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("mean", (x, axes, keep) => x.Mean(axes, keep))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Reduce("ReduceMean", Axes, KeepDims, x[0], y);
    /// <summary>The backward reads only the output gradient.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) => false;
    /// <inheritdoc/>
    protected override void Kernel<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst)
    {
        Reduce.Sum(x, outer, n, inner, dst);
        TensorPrimitives.Divide(dst, T.CreateTruncating(n), dst);
    }
    /// <summary>The backward can overwrite the operand's gradient.</summary>
    internal override bool CanOverwriteGradient(Node node, int operand) => true;
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c) => BroadcastBack<T>(c);
    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g) => [ExpandBack(g, node.Inputs[0].Shape) / Count(node.Inputs[0].Shape)];
}

/// <summary>Max or min reduction; the gradient is shared equally among the entries that attain the extreme. In a row with
/// NaN the extreme is NaN and the NaN entries attain it: they share the gradient, the others get 0 (the symbolic gradient
/// is NaN in that row instead).</summary>
public abstract record ExtremumOp(IntList Axes, bool KeepDims) : ReduceOp(Axes, KeepDims)
{
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        var x = c.Inputs[0];
        var xs = x.Shape.ToArray();
        var kept = KeptShape(x.Shape).ToArray();
        int n = x.Size;
        using var mask = Scratch<T>.Rent(n);
        using var counts = Scratch<T>.Rent(c.Output.Size);
        Broadcast.Expand<T>(c.Output.Span<T>(), kept, mask.Span, xs);
        var xv = x.Span<T>();
        var m = mask.Span;
        for (int i = 0; i < n; i++) m[i] = xv[i] == m[i] || T.IsNaN(xv[i]) && T.IsNaN(m[i]) ? T.One : T.Zero;
        new SumOp(Axes, true).ReduceAll<T>(m, x.Shape, counts.Span);
        TensorPrimitives.Divide(c.GradOutput.Span<T>(), counts.Span, counts.Span);
        using var share = Scratch<T>.Rent(n);
        Broadcast.Expand<T>(counts.Span, kept, share.Span, xs);
        var gv = gx.Span<T>();
        var sv = share.Span;
        for (int i = 0; i < n; i++) if (m[i] != T.Zero) gv[i] += sv[i];
    }

    /// <inheritdoc/>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        var x = node.Inputs[0].Expr;
        var y = ExpandBack(node.Expr, x.Shape);
        var hit = 1 - (x - y).Abs().Sign();
        var count = hit.Sum(Axes.ToArray(), keepDims: true);
        return [ExpandBack(g, x.Shape) * hit / count];
    }
}

/// <summary><c>max(x, axis=..., keepdims=...)</c>; NaN propagates; the max over zero elements is −inf.</summary>
public sealed record MaxOp(IntList Axes, bool KeepDims) : ExtremumOp(Axes, KeepDims), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "max";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("max", (x, axes, keep) => x.Max(axes, keep))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Reduce("ReduceMax", Axes, KeepDims, x[0], y);
    /// <inheritdoc/>
    protected override void Kernel<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst) => Reduce.Max(x, outer, n, inner, dst);
}

/// <summary><c>min(x, axis=..., keepdims=...)</c>; NaN propagates; the min over zero elements is +inf.</summary>
public sealed record MinOp(IntList Axes, bool KeepDims) : ExtremumOp(Axes, KeepDims), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "min";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("min", (x, axes, keep) => x.Min(axes, keep))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Reduce("ReduceMin", Axes, KeepDims, x[0], y);
    /// <inheritdoc/>
    protected override void Kernel<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst) => Reduce.Min(x, outer, n, inner, dst);
}

public readonly partial struct Expr
{
    internal IntList ResolveAxes(int[]? axes, string op) => new(Shape.Axes(axes, op));

    /// <summary>Sum over <paramref name="axes"/> (all axes if none).</summary>
    public Expr Sum(int[]? axes = null, bool keepDims = false) => Apply(new SumOp(ResolveAxes(axes, "sum"), keepDims));
    /// <summary>Sum over one axis.</summary>
    public Expr Sum(int axis, bool keepDims = false) => Sum([axis], keepDims);
    /// <summary>Mean over <paramref name="axes"/> (all axes if none).</summary>
    public Expr Mean(int[]? axes = null, bool keepDims = false) => Apply(new MeanOp(ResolveAxes(axes, "mean"), keepDims));
    /// <summary>Mean over one axis.</summary>
    public Expr Mean(int axis, bool keepDims = false) => Mean([axis], keepDims);
    /// <summary>Max over <paramref name="axes"/> (all axes if none).</summary>
    public Expr Max(int[]? axes = null, bool keepDims = false) => Apply(new MaxOp(ResolveAxes(axes, "max"), keepDims));
    /// <summary>Max over one axis.</summary>
    public Expr Max(int axis, bool keepDims = false) => Max([axis], keepDims);
    /// <summary>Min over <paramref name="axes"/> (all axes if none).</summary>
    public Expr Min(int[]? axes = null, bool keepDims = false) => Apply(new MinOp(ResolveAxes(axes, "min"), keepDims));
    /// <summary>Min over one axis.</summary>
    public Expr Min(int axis, bool keepDims = false) => Min([axis], keepDims);
}
