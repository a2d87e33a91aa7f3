using System.Buffers;
using System.Numerics;
using Autodiff.Interop;
using Autodiff.Text;

namespace Autodiff;

// Products along axes (prod) and leave-one-out products (prod_others). Their gradients are leave-one-out products, computed
// by prefix and suffix products (the forward-backward recursion) in O(n) per row, exactly, whatever the number of zeros and
// without any division. Every product is held as a mantissa and a separate binary exponent (Scaled<T>), so no partial
// product overflows or underflows: only the final result is rounded to T. See docs/rules.md, "Products, log-reals and
// p-norms", and docs/numerics.md.

/// <summary>A real number M·2^E with its binary exponent held apart (E a 64-bit integer), so that products of any number
/// of factors neither overflow nor underflow on the way. M is 0, ±inf, NaN, or of magnitude within the band
/// [2^−h, 2^h], h = ⌊ILogB(largest finite T)/2⌋ − 1 (510 for double, 62 for float): the product of two such mantissas is a
/// normal number, so it is rounded exactly as the true product, and M is renormalised to [1, 2) with
/// <c>ILogB</c>/<c>ScaleB</c> only when a product leaves the band (which gives the same result as renormalising after
/// every factor, since scaling by a power of 2 is exact). Only <see cref="Value"/> rounds to T's range, giving ±inf or
/// ±0 exactly when the true result is out of it. Zeros, infinities and NaN behave as in IEEE arithmetic (0·inf = NaN).</summary>
internal readonly record struct Scaled<T>(T M, long E) where T : IFloatingPointIeee754<T>
{
    private static readonly int H = T.ILogB(T.BitDecrement(T.PositiveInfinity)) / 2 - 1;   // ILogB of the largest finite value
    private static readonly T Low = T.ScaleB(T.One, -H), High = T.ScaleB(T.One, H);

    /// <summary>1.</summary>
    public static Scaled<T> One => new(T.One, 0);

    /// <summary>0.</summary>
    public static Scaled<T> Zero => new(T.Zero, 0);

    /// <summary>x, exactly.</summary>
    public static Scaled<T> Of(T x) => Banded(x, 0);

    /// <summary>m·2^e, renormalised if m is outside the band (0, ±inf and NaN are kept as they are, with exponent 0).</summary>
    private static Scaled<T> Banded(T m, long e)
    {
        if (T.Abs(m) >= Low && T.Abs(m) <= High) return new(m, e);
        if (T.IsZero(m) || !T.IsFinite(m)) return new(m, 0);
        int k = T.ILogB(m);
        return new(T.ScaleB(m, -k), e + k);
    }

    /// <summary>The product: one rounding of the mantissas' product, a normal number.</summary>
    public static Scaled<T> operator *(Scaled<T> a, Scaled<T> b) => Banded(a.M * b.M, a.E + b.E);

    /// <summary>The product with a factor of T: M·x directly when that stays in the band (then it did not overflow or
    /// underflow), else with x's exponent taken out first.</summary>
    public static Scaled<T> operator *(Scaled<T> a, T x)
    {
        T m = a.M * x;
        return T.Abs(m) >= Low && T.Abs(m) <= High ? new(m, a.E) : a * Of(x);
    }

    /// <summary>The sum, both renormalised to [1, 2) and aligned to the larger exponent.</summary>
    public static Scaled<T> operator +(Scaled<T> a, Scaled<T> b)
    {
        if (!T.IsFinite(a.M) || !T.IsFinite(b.M) || (T.IsZero(a.M) && T.IsZero(b.M))) return new(a.M + b.M, 0);
        if (T.IsZero(a.M)) return b;
        if (T.IsZero(b.M)) return a;
        int ka = T.ILogB(a.M), kb = T.ILogB(b.M);
        long ea = a.E + ka, eb = b.E + kb, e = Math.Max(ea, eb);
        return Banded(T.ScaleB(T.ScaleB(a.M, -ka), Exponent(ea - e)) + T.ScaleB(T.ScaleB(b.M, -kb), Exponent(eb - e)), e);
    }

    /// <summary>The value rounded to T.</summary>
    public T Value => E == 0 ? M : T.ScaleB(M, Exponent(E));

    private static int Exponent(long e) => (int)Math.Clamp(e, int.MinValue, int.MaxValue);
}

/// <summary>A tensor viewed as rows along a set of reduced axes: row r holds the elements whose kept-axis index is r
/// (row-major over the kept axes, which is also the element order of a reduction's output), and element j of a row has
/// reduced-axes index j (row-major over the reduced axes). When the reduced axes are the trailing ones the rows are already
/// contiguous in the tensor; otherwise an index table, built once per node, maps each packed position to its element.</summary>
internal sealed class AxisRows
{
    private readonly int[]? _index;

    public AxisRows(Shape shape, IntList axes)
    {
        int rank = shape.Rank;
        var kept = Enumerable.Range(0, rank).Where(a => !axes.Contains(a)).ToArray();
        Rows = kept.Aggregate(1, (p, a) => p * shape[a]);
        N = axes.Aggregate(1, (p, a) => p * shape[a]);
        if (axes.Select((a, i) => a == rank - axes.Count + i).All(t => t)) return;
        var strides = shape.Strides();
        var rowStart = Offsets(shape, strides, kept);
        var within = Offsets(shape, strides, axes.ToArray());
        _index = new int[Rows * N];
        for (int r = 0; r < Rows; r++)
            for (int j = 0; j < N; j++) _index[r * N + j] = rowStart[r] + within[j];
    }

    /// <summary>Number of rows (the size of the reduction's output).</summary>
    public int Rows { get; }

    /// <summary>Elements per row.</summary>
    public int N { get; }

    /// <summary>True when the rows are contiguous in the tensor (the reduced axes are the trailing ones).</summary>
    public bool Contiguous => _index is null;

    /// <summary>Flat offsets of the elements indexed by <paramref name="axes"/> (the other indices 0), row-major.</summary>
    private static int[] Offsets(Shape shape, int[] strides, int[] axes)
    {
        int count = axes.Aggregate(1, (p, a) => p * shape[a]);
        var off = new int[count];
        var idx = new int[axes.Length];
        int cur = 0;
        for (int k = 0; k < count; k++)
        {
            off[k] = cur;
            for (int d = axes.Length - 1; d >= 0; d--)
            {
                int a = axes[d];
                cur += strides[a];
                if (++idx[d] < shape[a]) break;
                cur -= strides[a] * shape[a];
                idx[d] = 0;
            }
        }
        return off;
    }

    /// <summary>The rows of <paramref name="src"/>: the array itself when contiguous, else a packed copy in a rented array.</summary>
    public T[] Read<T>(T[] src)
    {
        if (_index is null) return src;
        var packed = Pool.Rent<T>(Math.Max(_index.Length, 1));
        for (int p = 0; p < _index.Length; p++) packed[p] = src[_index[p]];
        return packed;
    }

    /// <summary>Returns an array from <see cref="Read{T}"/> to the pool unless it is the tensor's own.</summary>
    public static void Release<T>(T[] rows, T[] src)
    {
        if (!ReferenceEquals(rows, src)) Pool.Return(rows);
    }

    /// <summary>Writes (or adds, when <paramref name="accumulate"/>) packed rows into the tensor <paramref name="dst"/>
    /// (for a layout that is not <see cref="Contiguous"/>).</summary>
    public void Store<T>(ReadOnlySpan<T> packed, Span<T> dst, bool accumulate) where T : INumberBase<T>
    {
        var index = _index ?? throw new InvalidOperationException("contiguous rows are written in place");
        if (accumulate) for (int p = 0; p < index.Length; p++) dst[index[p]] += packed[p];
        else for (int p = 0; p < index.Length; p++) dst[index[p]] = packed[p];
    }
}

/// <summary>Leave-one-out ("cavity") products by prefix and suffix products: O(n) per row, no division, exact with zeros;
/// the prefix and suffix products are <see cref="Scaled{T}"/>, so they neither overflow nor underflow.</summary>
internal static class Cavity
{
    /// <summary>dst[k] (+)= scale[row] · [ε₁⋯ε_m] Π_{j≠k} (x_j + Σ_r ε_r t_r[j]) along each row, where ε_r² = 0 and m is the
    /// number of tangents (<paramref name="inputs"/> is x followed by t₁ … t_m, every one a full tensor of x's shape).
    /// With no tangents this is the leave-one-out product Π_{j≠k} x_j. <paramref name="scale"/> holds one factor per row
    /// (null: 1). Contiguous rows are written straight into <paramref name="dst"/>; others go through packed scratch.</summary>
    public static void Compute<T>(AxisRows rows, T[][] inputs, T[] dst, T[]? scale, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int n = rows.N, m = inputs.Length - 1, k = 1 << m, size = rows.Rows * n;
        var packed = inputs.Select(rows.Read).ToArray();
        bool direct = rows.Contiguous;
        var target = direct ? dst : Pool.Rent<T>(Math.Max(size, 1));
        bool add = direct && accumulate;
        try
        {
            Kernels.Parallelism.For(rows.Rows, (long)n * k * (m + 1), (start, end) =>
            {
                var pre = Pool.Rent<Scaled<T>>(Math.Max(n * k, 1));
                var suffix = new Scaled<T>[k];
                var next = new Scaled<T>[k];
                for (int r = start; r < end; r++)
                {
                    var row = target.AsSpan(r * n, n);
                    T f = scale is null ? T.One : scale[r];
                    if (m == 0) LeaveOneOut<T>(packed[0].AsSpan(r * n, n), pre, row, f, add);
                    else Mixed(packed, r * n, n, m, pre, suffix, next, row, f, add);
                }
                Pool.Return(pre);
            });
            if (!direct) rows.Store<T>(target.AsSpan(0, size), dst, accumulate);
        }
        finally
        {
            if (!direct) Pool.Return(target);
            for (int i = 0; i < inputs.Length; i++) AxisRows.Release(packed[i], inputs[i]);
        }
    }

    /// <summary>dst[j] (+)= scale · Π_{k&lt;j} x_k · Π_{k&gt;j} x_k: the prefix products left to right (into
    /// <paramref name="pre"/>), then the suffix products right to left.</summary>
    private static void LeaveOneOut<T>(ReadOnlySpan<T> x, Span<Scaled<T>> pre, Span<T> dst, T scale, bool add) where T : IFloatingPointIeee754<T>
    {
        var p = Scaled<T>.One;
        for (int j = 0; j < x.Length; j++)
        {
            pre[j] = p;
            p *= x[j];
        }
        var s = Scaled<T>.Of(scale);
        for (int j = x.Length - 1; j >= 0; j--)
        {
            T v = (pre[j] * s).Value;
            dst[j] = add ? dst[j] + v : v;
            s *= x[j];
        }
    }

    /// <summary>The same prefix/suffix recursion over multilinear numbers in ε₁ … ε_m (ε_r² = 0), each held as its 2^m
    /// coefficients indexed by the subset of ε's (a bit mask); the result is the coefficient of ε₁⋯ε_m.</summary>
    private static void Mixed<T>(T[][] rows, int offset, int n, int m, Scaled<T>[] pre, Scaled<T>[] suffix, Scaled<T>[] next,
        Span<T> dst, T scale, bool add) where T : IFloatingPointIeee754<T>
    {
        int k = 1 << m, full = k - 1;
        if (n == 0) return;
        Array.Fill(pre, Scaled<T>.Zero, 0, k);
        pre[0] = Scaled<T>.One;
        for (int j = 1; j < n; j++) Times(rows, offset + j - 1, m, pre.AsSpan((j - 1) * k, k), pre.AsSpan(j * k, k));
        Array.Fill(suffix, Scaled<T>.Zero);
        suffix[0] = Scaled<T>.Of(scale);
        for (int j = n - 1; j >= 0; j--)
        {
            var p = pre.AsSpan(j * k, k);
            var top = Scaled<T>.Zero;
            for (int a = 0; a < k; a++) top += p[a] * suffix[full ^ a];
            dst[j] = add ? dst[j] + top.Value : top.Value;
            Times(rows, offset + j, m, suffix, next);
            next.CopyTo(suffix, 0);
        }
    }

    /// <summary>result = a · (x_j + Σ_r ε_r t_r[j]).</summary>
    private static void Times<T>(T[][] rows, int j, int m, ReadOnlySpan<Scaled<T>> a, Span<Scaled<T>> result) where T : IFloatingPointIeee754<T>
    {
        T x = rows[0][j];
        for (int s = 0; s < a.Length; s++)
        {
            var v = a[s] * x;
            for (int r = 0; r < m; r++)
                if ((s & (1 << r)) != 0) v += a[s ^ (1 << r)] * rows[r + 1][j];
            result[s] = v;
        }
    }
}

/// <summary><c>prod(x, axis=..., keepdims=...)</c>: the product over one or several axes (all axes when none are given);
/// the product over an empty axis is 1. The gradient is the leave-one-out product g · Π_{j≠i} x_j, computed by prefix and
/// suffix products in O(n) per reduced row, exactly and without division: with one zero in a row only that entry's gradient
/// is nonzero (the product of the others), with two or more zeros the row's gradient is 0; signs need no special care.
/// The running, prefix and suffix products are <see cref="Scaled{T}"/> (a mantissa and a binary exponent), so the value and
/// the gradient are finite whenever the true ones are: [1e200, 1e200, 1e-200, 1e-200] has product 1, not inf or NaN.</summary>
public sealed record ProdOp(IntList Axes, bool KeepDims) : ReduceOp(Axes, KeepDims), IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "prod";
    static IEnumerable<FunctionSpec> IOpFunctions.Functions => [Function("prod", (x, axes, keep) => x.Prod(axes, keep))];
    internal override string ToOnnx(OnnxLowering o, Node n, string[] x, string y) => o.Reduce("ReduceProd", Axes, KeepDims, x[0], y);
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override object? CreateState(Node node) => new AxisRows(node.Inputs[0].Shape, Axes);
    /// <inheritdoc/>
    protected override void Kernel<T>(ReadOnlySpan<T> x, int outer, int n, int inner, Span<T> dst)
    {
        for (int o = 0; o < outer; o++)
            for (int i = 0; i < inner; i++)
            {
                var p = Scaled<T>.One;
                for (int j = 0; j < n; j++) p *= x[(o * n + j) * inner + i];
                dst[o * inner + i] = p.Value;
            }
    }
    /// <summary>Each output element is the product of one row of <see cref="AxisRows"/> (packed once when the axes are not
    /// trailing), so products over several axes are also held scaled to the end, never rounded between axis groups.</summary>
    protected override void Forward<T>(OpContext c)
    {
        var rows = (AxisRows)c.State!;
        var x = (T[])c.Inputs[0].Data;
        var y = (T[])c.Output.Data;
        var packed = rows.Read(x);
        int n = rows.N;
        try
        {
            Kernels.Parallelism.For(rows.Rows, n, (start, end) =>
                Kernel<T>(packed.AsSpan(start * n, (end - start) * n), end - start, n, 1, y.AsSpan(start, end - start)));
        }
        finally
        {
            AxisRows.Release(packed, x);
        }
    }
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        if (c.InputGrads[0] is not { } gx) return;
        Cavity.Compute((AxisRows)c.State!, [(T[])c.Inputs[0].Data], (T[])gx.Data, (T[])c.GradOutput.Data, accumulate: true);
    }
    /// <summary><c>broadcast_to(reshape(g, kept), shape(x)) * prod_others(x, axis=...)</c>.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        Expr x = node.Inputs[0];
        return [ExpandBack(g, x.Shape) * x.Apply(new ProdOthersOp(Axes))];
    }
}

/// <summary><c>prod_others(x, t1, …, tm, axis=...)</c>: for each entry, the product of the other entries of its row along the
/// axes (all axes when none are given): the leave-one-out products that are the gradient of <c>prod</c>. With tangent operands
/// t_r (each of x's shape and type) it is the coefficient of ε₁⋯ε_m in Π_{j≠k} (x_j + Σ_r ε_r t_r[j]) with every ε_r² = 0,
/// which makes the family closed under differentiation: the gradient with respect to x is
/// <c>prod_others(x, t1, …, tm, g)</c> and with respect to t_r it is the same op with t_r replaced by g. Every member is
/// computed by prefix and suffix products in O(2^m·m·n) per row, exactly with zeros and without division.</summary>
/// <param name="Axes">The axes that form the rows, resolved and sorted.</param>
[NotExportable("no decomposition into ONNX operators is written (prefix and suffix products along an axis)")]
public sealed record ProdOthersOp(IntList Axes) : Op, IOpFunctions
{
    /// <inheritdoc/>
    public override string Name => "prod_others";

    /// <summary><c>prod_others(x, t1?, …, t8?, axis?)</c>: up to 8 tangents in the language (each derivative order of a
    /// product adds one).</summary>
    static IEnumerable<FunctionSpec> IOpFunctions.Functions =>
        [new("prod_others", [FunctionParam.Tensor("x"), .. Tangents.Select(t => FunctionParam.Tensor(t, optional: true)), FunctionParam.Ints("axis", optional: true)],
            c => c.Tensor("x").ProdOthers(c.Ints("axis"), [.. Tangents.Where(c.Has).Select(c.Tensor)]))];

    private static readonly string[] Tangents = ["t1", "t2", "t3", "t4", "t5", "t6", "t7", "t8"];
    /// <inheritdoc/>
    public override bool IsFused => true;
    /// <inheritdoc/>
    public override IEnumerable<(string? Name, string Value)> Attributes(Node node)
    {
        if (Axes.Count != node.Inputs[0].Shape.Rank) yield return ("axis", Axes.ToString());
    }
    /// <inheritdoc/>
    public override (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs)
    {
        if (inputs.Count < 1) throw new ShapeException(Name, "takes x and optional tangents, got no operands");
        var x = inputs[0];
        RequireFloat(x);
        for (int r = 1; r < inputs.Count; r++)
            if (inputs[r].DType != x.DType || inputs[r].Shape != x.Shape)
                throw new ShapeException(Name, $"tangent {r} must have the shape and type of x {x.DType.Name()}{x.Shape}, got {inputs[r].DType.Name()}{inputs[r].Shape}");
        foreach (var a in Axes)
            if (a < 0 || a >= x.Shape.Rank) throw new ShapeException(Name, $"axis {a} is out of range for shape {x.Shape} (rank {x.Shape.Rank})");
        return (x.Shape, x.DType);
    }
    /// <inheritdoc/>
    public override object? CreateState(Node node) => new AxisRows(node.Inputs[0].Shape, Axes);
    /// <inheritdoc/>
    protected override void Forward<T>(OpContext c) =>
        Cavity.Compute((AxisRows)c.State!, c.Inputs.Select(t => (T[])t.Data).ToArray(), (T[])c.Output.Data, null, accumulate: false);
    /// <inheritdoc/>
    protected override void Backward<T>(OpContext c)
    {
        var rows = (AxisRows)c.State!;
        var ins = c.Inputs.Select(t => (T[])t.Data).ToArray();
        var g = (T[])c.GradOutput.Data;
        if (c.InputGrads[0] is { } gx) Cavity.Compute(rows, [.. ins, g], (T[])gx.Data, null, accumulate: true);
        for (int r = 1; r < ins.Length; r++)
        {
            if (c.InputGrads[r] is not { } gt) continue;
            var swapped = (T[][])ins.Clone();
            swapped[r] = g;
            Cavity.Compute(rows, swapped, (T[])gt.Data, null, accumulate: true);
        }
    }
    /// <summary><c>prod_others(x, t1, …, tm, g)</c> for x and <c>prod_others(x, …, g, …)</c> (g in place of t_r) for t_r.</summary>
    public override Expr?[] Gradient(Node node, Expr g)
    {
        var ins = node.Inputs.Select(i => i.Expr).ToArray();
        var result = new Expr?[ins.Length];
        result[0] = ins[0].Apply(this, [.. ins[1..], g]);
        for (int r = 1; r < ins.Length; r++)
        {
            var swapped = (Expr[])ins.Clone();
            swapped[r] = g;
            result[r] = ins[0].Apply(this, swapped[1..]);
        }
        return result;
    }
}

public readonly partial struct Expr
{
    /// <summary><c>prod(x, axis=..., keepdims=...)</c>: product over <paramref name="axes"/> (all axes if none); see <see cref="ProdOp"/>.</summary>
    public Expr Prod(int[]? axes = null, bool keepDims = false) => Apply(new ProdOp(ResolveAxes(axes, "prod"), keepDims));

    /// <summary>Product over one axis.</summary>
    public Expr Prod(int axis, bool keepDims = false) => Prod([axis], keepDims);

    /// <summary><c>prod_others(x, t..., axis=...)</c>: leave-one-out products along <paramref name="axes"/> (all axes if none),
    /// with optional tangents; see <see cref="ProdOthersOp"/>.</summary>
    public Expr ProdOthers(int[]? axes = null, params Expr[] tangents) => Apply(new ProdOthersOp(ResolveAxes(axes, "prod_others")), tangents);

    /// <summary>Leave-one-out products along one axis.</summary>
    public Expr ProdOthers(int axis) => ProdOthers([axis]);
}
