using System.Numerics;
using Autodiff.Interop;
using Autodiff.Text;

namespace Autodiff;

/// <summary><c>log1m_softmax(x, axis=a)</c> = log(1 − softmax(x)) along one axis, stable for every finite input. With
/// m the row maximum at its first position k, S = Σ exp(x − m) and lse = m + log S: every entry but k has probability
/// q ≤ 1/2 and is log1p(−q); entry k is logsumexp of the others minus lse, the others' sum taken directly (shifted by their own maximum), so it is
/// finite where q_k rounds to 1 (log(1 − softmax) at logits 0 and 1000 is −1000, not −inf). Sums run in double. A row of
/// one entry gives −inf with gradient 0 (its softmax is the constant 1); a row of only −inf gives 0 with gradient 0; a row with NaN gives NaN.
/// With r_i = q_i / (1 − q_i) the backward is gx_l += q_l·(Σ_{i≠l} g_i r_i − g_l), evaluated with r_k and q_l·r_k in the
/// log domain so that it stays finite when q_k rounds to 1.</summary>
/// <param name="Axis">The axis, resolved (non-negative).</param>
public sealed record Log1mSoftmaxOp(int Axis) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "log1m_softmax";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("log1m_softmax", [FunctionParam.Tensor("x"), FunctionParam.Int("axis", optional: true)], c => c.Tensor("x").Log1mSoftmax(c.Int("axis", -1)))];

    /// <summary>log1p(−exp(x − lse)) except at the first row maximum, which is the others' logsumexp (shifted by their
    /// own maximum) minus lse.</summary>
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y)
    {
        var t = n.DType;
        int classes = n.Shape[Axis];
        OnnxAttribute Keep() => OnnxAttribute.Of("keepdims", 1);
        var m = o.Emit("ReduceMax", [x[0], o.Longs("axes", [Axis])], null, Keep());
        var e = o.Emit("Exp", [o.Emit("Sub", [x[0], m])]);
        var s = o.Emit("ReduceSum", [e, o.Longs("axes", [Axis])], null, Keep());
        var lse = o.Emit("Add", [m, o.Emit("Log", [s])]);
        var general = o.Log1p(t, o.Emit("Neg", [o.Emit("Exp", [o.Emit("Sub", [x[0], lse])])]), null);
        var k = o.Emit("ArgMax", [x[0]], null, OnnxAttribute.Of("axis", Axis), OnnxAttribute.Of("keepdims", 0));
        var mask = o.ClassMask(k, classes, Axis, n.Shape.Rank, null);
        var rest = o.Emit("Where", [mask, o.Scalar("minus_inf", double.NegativeInfinity, t), x[0]]);
        var m2 = o.Emit("ReduceMax", [rest, o.Longs("axes", [Axis])], null, Keep());
        m2 = o.Emit("Where", [o.Emit("IsInf", [m2], null, OnnxAttribute.Of("detect_positive", 0)), m, m2]);
        var others = o.Emit("ReduceSum", [o.Emit("Exp", [o.Emit("Sub", [rest, m2])]), o.Longs("axes", [Axis])], null, Keep());
        var atMax = o.Emit("Sub", [o.Emit("Add", [m2, o.Emit("Log", [others])]), lse]);
        return o.Emit("Where", [mask, atMax, general], y);
    }
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

    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c)
    {
        var l = RowLayout.Of(c.Inputs[0].Shape, Axis);
        using var x = RowBuffer<T>.Read(c.Inputs[0], l);
        using var y = RowBuffer<T>.Target(c.Output, l, clear: false);
        int n = l.N;
        Kernels.Parallelism.For(l.Rows, n, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++) Row<T>(x.Array.AsSpan(r * n, n), y.Array.AsSpan(r * n, n));
        });
        y.Store(c.Output, l, accumulate: false);
    }

    /// <summary>The row maximum, its first position, and lse = max + log Σ exp(x − max) in double.</summary>
    private static (double Max, int K, double Lse, double S) Stats<T>(ReadOnlySpan<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        double m = double.NegativeInfinity;
        int k = 0;
        for (int i = 0; i < x.Length; i++)
        {
            double v = double.CreateTruncating(x[i]);
            if (v > m || double.IsNaN(v) && !double.IsNaN(m)) { m = v; k = i; }
        }
        double s = 0;
        foreach (var t in x) s += Math.Exp(double.CreateTruncating(t) - m);
        return (m, k, m + Math.Log(s), s);
    }

    private static void Row<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Length == 0) return;
        var (m, k, lse, _) = Stats(x);
        if (double.IsNegativeInfinity(m)) { y.Clear(); return; }
        double m2 = double.NegativeInfinity;
        for (int i = 0; i < x.Length; i++)
        {
            if (i == k) continue;
            double v = double.CreateTruncating(x[i]);
            m2 = Math.Max(m2, v);
            y[i] = T.CreateTruncating(ScalarMath.Log1p(-Math.Exp(v - lse)));
        }
        double others = 0;
        if (!double.IsNegativeInfinity(m2))
            for (int i = 0; i < x.Length; i++)
                if (i != k) others += Math.Exp(double.CreateTruncating(x[i]) - m2);
        y[k] = T.CreateTruncating(double.IsNegativeInfinity(m2) ? m2 : m2 + Math.Log(others) - lse);
    }

    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        var l = RowLayout.Of(gx.Shape, Axis);
        using var x = RowBuffer<T>.Read(c.Inputs[0], l);
        using var y = RowBuffer<T>.Read(c.Output, l);
        using var g = RowBuffer<T>.Read(c.GradOutput, l);
        using var d = RowBuffer<T>.Target(gx, l, clear: true);
        int n = l.N;
        Kernels.Parallelism.For(l.Rows, n, (r0, r1) =>
        {
            for (int r = r0; r < r1; r++)
                RowBackward<T>(x.Array.AsSpan(r * n, n), y.Array.AsSpan(r * n, n), g.Array.AsSpan(r * n, n), d.Array.AsSpan(r * n, n));
        });
        d.Store(gx, l, accumulate: true);
    }

    private static void RowBackward<T>(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> g, Span<T> gx)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (x.Length <= 1) return;   // a row of one: softmax is the constant 1, so y = −inf has gradient 0
        var (m, k, lse, _) = Stats(x);
        if (double.IsNegativeInfinity(m)) return;
        double D(ReadOnlySpan<T> v, int i) => double.CreateTruncating(v[i]);
        double logrk = D(x, k) - lse - D(y, k);
        double a = 0;
        for (int i = 0; i < x.Length; i++)
            if (i != k) a += D(g, i) * Math.Exp(D(x, i) - lse - D(y, i));
        double gk = D(g, k);
        for (int i = 0; i < x.Length; i++)
        {
            double logq = D(x, i) - lse, q = Math.Exp(logq);
            double v;
            if (i == k) v = q * (a - gk);
            else
            {
                double gi = D(g, i), ri = Math.Exp(logq - D(y, i));
                v = q * (a - gi * ri - gi) + (double.IsNegativeInfinity(logq) ? 0 : gk * Math.Exp(logq + logrk));
            }
            gx[i] += T.CreateTruncating(v);
        }
    }

    /// <summary><c>q * (sum(g * r, axis, keepdims=true) - g * r) - g * q</c> with q = softmax(x) and
    /// r = exp(log_softmax(x) - y) (r overflows where q rounds to 1, unlike the tape).</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr x = node.Inputs[0], y = node;
        if (x.Shape[Axis] == 1) return [g * 0];
        var q = x.Softmax(Axis);
        var r = (x.LogSoftmax(Axis) - y).Exp();
        return [q * ((g * r).Sum(Axis, keepDims: true) - g * r) - g * q];
    }
}

public readonly partial struct Expr
{
    /// <summary><c>log1m_softmax(x, axis)</c> = log(1 − softmax(x, axis)), stable (see <see cref="Log1mSoftmaxOp"/>).</summary>
    public Expr Log1mSoftmax(int axis = -1) => Apply(new Log1mSoftmaxOp(Shape.Axis(axis, "log1m_softmax")));
}
