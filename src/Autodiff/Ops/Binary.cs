using System.Numerics;
using System.Numerics.Tensors;
using Autodiff.Interop;
using Autodiff.Kernels;
using Autodiff.Text;

namespace Autodiff;

/// <summary>An elementwise op of two float operands of one element type, with NumPy broadcasting.
/// The backward reduces each operand's gradient back to its own shape.</summary>
public abstract record BinaryOp : Op
{
    /// <summary>The kernel that computes the forward.</summary>
    private protected abstract BinaryKind Kind { get; }

    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (inputs.Count != 2) throw new ShapeException(Name, $"takes 2 operands, got {inputs.Count}");
        RequireFloat(inputs[0], "left operand");
        RequireFloat(inputs[1], "right operand");
        RequireSameDType(inputs);
        return (Shape.Broadcast(inputs[0].Shape, inputs[1].Shape, Name), inputs[0].DType);
    }

    /// <summary>The backward can overwrite the gradient of an operand of the output's shape (whose gradient is not summed
    /// down), unless both operands are one node.</summary>
    internal override bool CanOverwriteGradient(Node node, int operand) =>
        !ReferenceEquals(node.Inputs[0], node.Inputs[1]) && node.Inputs[operand].Shape == node.Shape;

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        Tensor a = c.Inputs[0], b = c.Inputs[1];
        if (RowForm.Of(a, b, c.Output, scalarA: true, scalarB: true) is { } form)
        {
            var body = new RowBlocks<T>(this, c, form, backward: false);
            Kernels.Parallelism.For(form.Rows, form.N, ref body);
            return;
        }
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
        if (RowForm.Of(c.Inputs[0], c.Inputs[1], c.Output, scalarA: ga is null, scalarB: gb is null) is { } form)
        {
            var body = new RowBlocks<T>(this, c, form, backward: true);
            Kernels.Parallelism.For(form.Rows, form.N, ref body);
            return;
        }
        int n = c.Output.Size;
        var shape = c.Output.Shape.ToArray();
        using var ea = Expanded<T>(c.Inputs[0], shape, n);
        using var eb = Expanded<T>(c.Inputs[1], shape, n);
        using var ta = Scratch<T>.Rent(ga is null ? 0 : n);
        using var tb = Scratch<T>.Rent(gb is null ? 0 : n);
        Partials<T>(ea.Span, eb.Span, c.Output.Span<T>(), c.GradOutput.Span<T>(), ta.Span, tb.Span);
        if (ga is not null) Broadcast.ReduceToShape<T>(ta.Span, shape, ga.Span<T>(), ga.Shape.ToArray(), !c.Overwrites(0));
        if (gb is not null) Broadcast.ReduceToShape<T>(tb.Span, shape, gb.Span<T>(), gb.Shape.ToArray(), !c.Overwrites(1));
    }

    private static Scratch<T> Expanded<T>(Tensor x, int[] shape, int n) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var s = Scratch<T>.Rent(n);
        Broadcast.Expand<T>(x.Span<T>(), x.Shape.ToArray(), s.Span, shape);
        return s;
    }

    /// <summary>How an operand spans the output viewed as rows of its last dimension: all of it, one value per row (its
    /// shape is the output's with the last dimension 1), or one value.</summary>
    private enum Span1 { Full, Row, Scalar }

    /// <summary>The common broadcasts the kernels below handle without temporaries of the output's size (and without
    /// allocating): the output as [Rows, N] and each operand full, per row, or scalar.</summary>
    private readonly record struct RowForm(int Rows, int N, Span1 A, Span1 B)
    {
        /// <summary>The form of operands <paramref name="a"/> and <paramref name="b"/>, or null when another broadcast is
        /// involved. A scalar is accepted only where allowed (not for an operand whose gradient is summed up), and not
        /// next to a per-row operand.</summary>
        public static RowForm? Of(Tensor a, Tensor b, Tensor y, bool scalarA, bool scalarB)
        {
            var s = y.Shape;
            if (s.Rank == 0 || s.Size == 0) return null;
            int n = s[^1];
            Span1? Kind(Tensor x, bool scalar)
            {
                if (x.Shape == s) return Span1.Full;
                if (x.Size == 1) return scalar ? Span1.Scalar : null;
                if (x.Shape.Rank != s.Rank || x.Shape[^1] != 1) return null;
                for (int i = 0; i < s.Rank - 1; i++) if (x.Shape[i] != s[i]) return null;
                return Span1.Row;
            }
            if (Kind(a, scalarA) is not { } ka || Kind(b, scalarB) is not { } kb) return null;
            if ((ka == Span1.Row && kb == Span1.Scalar) || (ka == Span1.Scalar && kb == Span1.Row)) return null;
            return new RowForm(s.Size / n, n, ka, kb);
        }
    }

    /// <summary>Forward or backward over blocks of whole rows, in sub-blocks of about <see cref="SubBlock"/> elements
    /// whose temporaries (expanded operands, partials) come from the pool: the same arithmetic as the general path.</summary>
    private readonly struct RowBlocks<T>(BinaryOp op, OpContext c, RowForm form, bool backward) : Kernels.IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public void Run(int start, int end)
        {
            int n = form.N, step = Math.Max(1, SubBlock / n);
            for (int r0 = start; r0 < end; r0 += step)
            {
                int r1 = Math.Min(end, r0 + step);
                if (backward) Backward(r0, r1);
                else Forward(r0, r1);
            }
        }

        private void Forward(int r0, int r1)
        {
            int n = form.N, len = (r1 - r0) * n;
            ReadOnlySpan<T> a = c.Inputs[0].Span<T>(), b = c.Inputs[1].Span<T>();
            var y = c.Output.Span<T>().Slice(r0 * n, len);
            var kind = op.Kind;
            if (form.A != Span1.Row && form.B != Span1.Row)
            {
                if (form.A == Span1.Scalar) Broadcast.Apply(kind, a[0], form.B == Span1.Scalar ? b : b.Slice(r0 * n, len), y);
                else if (form.B == Span1.Scalar) Broadcast.Apply(kind, a.Slice(r0 * n, len), b[0], y);
                else Broadcast.Apply(kind, a.Slice(r0 * n, len), b.Slice(r0 * n, len), y);
                return;
            }
            for (int r = r0; r < r1; r++)
            {
                var yr = y.Slice((r - r0) * n, n);
                if (form.A == Span1.Row) Broadcast.Apply(kind, a[r], b.Slice(r * n, n), yr);
                else Broadcast.Apply(kind, a.Slice(r * n, n), b[r], yr);
            }
        }

        /// <summary>Partials of rows [r0, r1): written straight into an operand's gradient when the tape planned this node to
        /// overwrite it (only a full operand), otherwise into scratch that is then added in.</summary>
        private void Backward(int r0, int r1)
        {
            int n = form.N, len = (r1 - r0) * n;
            Tensor? ga = c.InputGrads[0], gb = c.InputGrads[1];
            bool overA = c.Overwrites(0), overB = c.Overwrites(1);
            using var ea = Operand(c.Inputs[0], form.A, r0, r1);
            using var eb = Operand(c.Inputs[1], form.B, r0, r1);
            using var ta = Scratch<T>.Rent(ga is null || overA ? 0 : len);
            using var tb = Scratch<T>.Rent(gb is null || overB ? 0 : len);
            ReadOnlySpan<T> av = form.A == Span1.Full ? c.Inputs[0].Span<T>().Slice(r0 * n, len) : ea.Span;
            ReadOnlySpan<T> bv = form.B == Span1.Full ? c.Inputs[1].Span<T>().Slice(r0 * n, len) : eb.Span;
            var pa = overA ? ga!.Span<T>().Slice(r0 * n, len) : ta.Span;
            var pb = overB ? gb!.Span<T>().Slice(r0 * n, len) : tb.Span;
            op.Partials<T>(av, bv, c.Output.Span<T>().Slice(r0 * n, len), c.GradOutput.Span<T>().Slice(r0 * n, len), pa, pb);
            if (ga is not null && !overA) Reduce(ta.Span, ga.Span<T>(), form.A, r0, r1);
            if (gb is not null && !overB) Reduce(tb.Span, gb.Span<T>(), form.B, r0, r1);
        }

        /// <summary>A row-broadcast operand expanded over rows [r0, r1) (nothing for a full one).</summary>
        private Scratch<T> Operand(Tensor x, Span1 kind, int r0, int r1)
        {
            int n = form.N;
            var e = Scratch<T>.Rent(kind == Span1.Full ? 0 : (r1 - r0) * n);
            var v = x.Span<T>();
            for (int r = r0; r < r1 && kind != Span1.Full; r++) e.Span.Slice((r - r0) * n, n).Fill(v[kind == Span1.Row ? r : 0]);
            return e;
        }

        /// <summary>Adds partials of rows [r0, r1) into an operand's gradient: elementwise, or each row's sum.</summary>
        private void Reduce(ReadOnlySpan<T> t, Span<T> g, Span1 kind, int r0, int r1)
        {
            int n = form.N;
            if (kind == Span1.Full)
            {
                var d = g.Slice(r0 * n, t.Length);
                TensorPrimitives.Add(d, t, d);
                return;
            }
            for (int r = r0; r < r1; r++) g[r] += TensorPrimitives.Sum(t.Slice((r - r0) * n, n));
        }
    }

    /// <summary>Elements per sub-block of <see cref="RowBlocks{T}"/>.</summary>
    private const int SubBlock = 8192;

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

    /// <summary>True for a constant or a graph input, whose value the tape has before any op's forward runs.</summary>
    private protected static bool Bound(Node n) => n.Op is ConstantOp or InputOp;

    /// <summary>g·∂y/∂a and g·∂y/∂b at the broadcast shape, as expressions.</summary>
    protected abstract (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g);

    /// <summary>The language function <c>name(a, b)</c> that builds the op through <paramref name="build"/> (add, sub,
    /// mul, div and pow print as infix operators, and parse from them too).</summary>
    private protected static FunctionSpec Function(string name, Func<Expr, Expr, Expr> build) =>
        new(name, [FunctionParam.Tensor("a"), FunctionParam.Tensor("b")], c => build(c.Tensor("a"), c.Tensor("b")));
}

/// <summary><c>a + b</c>.</summary>
public sealed record AddOp : BinaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "add";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("add", (p, q) => p + q)];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Add", x, y);
    /// <summary>The backward reads only the output gradient.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) => false;
    /// <inheritdoc/>
    private protected override BinaryKind Kind => BinaryKind.Add;
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
public sealed record SubOp : BinaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "sub";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("sub", (p, q) => p - q)];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Sub", x, y);
    /// <summary>The backward reads only the output gradient.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) => false;
    /// <inheritdoc/>
    private protected override BinaryKind Kind => BinaryKind.Subtract;
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
public sealed record MulOp : BinaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "mul";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("mul", (p, q) => p * q)];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Mul", x, y);
    /// <summary>g·b and g·a read the other operand: only constants and inputs are known before the forward.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) =>
        (gradientNeeded[0] && !Bound(node.Inputs[1])) || (gradientNeeded[1] && !Bound(node.Inputs[0]));
    /// <inheritdoc/>
    private protected override BinaryKind Kind => BinaryKind.Multiply;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
    {
        if (!ga.IsEmpty) TensorPrimitives.Multiply(g, b, ga);
        if (!gb.IsEmpty) TensorPrimitives.Multiply(g, a, gb);
    }
    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g) => (g * b, g * a);
}

/// <summary><c>a / b</c>. The tape computes ∂/∂b as −(g / b)·y with y = a / b, which equals −g·a / b² but does not
/// overflow b² (|b| above about 1e154 in f64, 1e19 in f32) when the true value is representable; the symbolic gradient
/// prints the textbook form.</summary>
public sealed record DivOp : BinaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "div";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("div", (p, q) => p / q)];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Div", x, y);
    /// <summary>g / b reads b; the divisor's gradient reads the output.</summary>
    internal override bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) =>
        gradientNeeded[1] || (gradientNeeded[0] && !Bound(node.Inputs[1]));
    /// <inheritdoc/>
    private protected override BinaryKind Kind => BinaryKind.Divide;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb)
    {
        if (!ga.IsEmpty) TensorPrimitives.Divide(g, b, ga);
        if (!gb.IsEmpty)
        {
            // gb[i] = -(g[i] / b[i]) * y[i], vectorized with the same roundings.
            if (!ga.IsEmpty) TensorPrimitives.Multiply(ga, y, gb);
            else
            {
                TensorPrimitives.Divide(g, b, gb);
                TensorPrimitives.Multiply(gb, y, gb);
            }
            TensorPrimitives.Negate(gb, gb);
        }
    }
    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g) => (g / b, -(g * a) / b.Square());
}

/// <summary><c>maximum(a, b)</c> elementwise; at ties the gradient is split equally; NaN propagates, and its gradient goes
/// to the NaN operand (the symbolic gradient is NaN there instead).</summary>
public sealed record MaximumOp : BinaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "maximum";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("maximum", (p, q) => p.Maximum(q))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Max", x, y);
    /// <inheritdoc/>
    private protected override BinaryKind Kind => BinaryKind.Maximum;
    /// <inheritdoc/>
    protected override void Partials<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb) =>
        Select(a, b, g, ga, gb, greaterWins: true);

    /// <summary>Routes g to the operand that wins, half each at ties. A NaN operand wins (it is the result), so the other
    /// operand, which the NaN result does not depend on, gets 0. The operand that is not selected gets exactly 0 whatever g
    /// is (a selection, not a product: a NaN or ±inf cotangent does not become 0·NaN = NaN there), as max and min do.</summary>
    internal static void Select<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, ReadOnlySpan<T> g, Span<T> ga, Span<T> gb, bool greaterWins)
        where T : IFloatingPointIeee754<T>
    {
        T half = T.One / (T.One + T.One);
        for (int i = 0; i < g.Length; i++)
        {
            bool na = T.IsNaN(a[i]), nb = T.IsNaN(b[i]);
            T wa = na || nb ? (na && nb ? half : na ? T.One : T.Zero)
                : a[i] == b[i] ? half : (a[i] > b[i]) == greaterWins ? T.One : T.Zero;
            if (!ga.IsEmpty) ga[i] = wa == T.Zero ? T.Zero : g[i] * wa;
            if (!gb.IsEmpty) gb[i] = wa == T.One ? T.Zero : g[i] * (T.One - wa);
        }
    }

    /// <inheritdoc/>
    protected override (Expr? A, Expr? B) Local(Expr a, Expr b, Expr y, Expr g)
    {
        var wa = ((a - b).Sign() + 1) * 0.5;
        return (g * wa, g * (1 - wa));
    }
}

/// <summary><c>minimum(a, b)</c> elementwise; at ties the gradient is split equally; NaN propagates, and its gradient goes
/// to the NaN operand (the symbolic gradient is NaN there instead).</summary>
public sealed record MinimumOp : BinaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "minimum";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("minimum", (p, q) => p.Minimum(q))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Min", x, y);
    /// <inheritdoc/>
    private protected override BinaryKind Kind => BinaryKind.Minimum;
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
public sealed record PowOp : BinaryOp, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "pow";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("pow", (p, q) => p.Pow(q))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Emit("Pow", x, y);
    /// <inheritdoc/>
    private protected override BinaryKind Kind => BinaryKind.Power;
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
