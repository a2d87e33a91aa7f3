using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;

namespace Autodiff.Kernels;

/// <summary>NumPy-style broadcasting for row-major contiguous tensors.</summary>
internal static class Broadcast
{
    private const int FlatBlock = 16384;

    /// <summary>Returns the shape two shapes broadcast to (dimensions aligned from the right, each pair equal or one of them 1).</summary>
    /// <exception cref="ArgumentException">The shapes are not compatible, e.g. "cannot broadcast [2, 3] with [4]".</exception>
    public static int[] BroadcastShapes(int[] a, int[] b)
    {
        ArgumentNullException.ThrowIfNull(a);
        ArgumentNullException.ThrowIfNull(b);
        var result = new int[Math.Max(a.Length, b.Length)];
        for (int i = 1; i <= result.Length; i++)
        {
            int da = i <= a.Length ? a[^i] : 1;
            int db = i <= b.Length ? b[^i] : 1;
            if (da != db && da != 1 && db != 1)
            {
                throw new ArgumentException($"cannot broadcast {Format(a)} with {Format(b)}");
            }

            result[^i] = da == 1 ? db : da;
        }

        return result;
    }

    /// <summary>
    /// dst = a (op) b with broadcasting. <paramref name="dstShape"/> must equal
    /// <see cref="BroadcastShapes"/>(<paramref name="aShape"/>, <paramref name="bShape"/>) and every span must hold
    /// exactly as many elements as its shape. dst may be the same span as an operand of the same shape, but must not
    /// otherwise overlap the operands.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes or span lengths do not match.</exception>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="kind"/> is not a defined value.</exception>
    public static unsafe void Binary<T>(ReadOnlySpan<T> a, int[] aShape, ReadOnlySpan<T> b, int[] bShape, Span<T> dst, int[] dstShape, BinaryKind kind)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (!Enum.IsDefined(kind))
        {
            throw new ArgumentOutOfRangeException(nameof(kind));
        }

        if (!BroadcastShapes(aShape, bShape).AsSpan().SequenceEqual(dstShape))
        {
            throw new ArgumentException($"destination shape {Format(dstShape)} is not the broadcast of {Format(aShape)} and {Format(bShape)}");
        }

        CheckLength(a.Length, aShape, nameof(a));
        CheckLength(b.Length, bShape, nameof(b));
        int total = CheckLength(dst.Length, dstShape, nameof(dst));
        if (total == 0)
        {
            return;
        }

        bool flat = (a.Length == total || a.Length == 1) && (b.Length == total || b.Length == 1);
        int[] dims = [], sa = [], sb = [];
        if (!flat)
        {
            (dims, sa, sb) = Collapse(dstShape, aShape, bShape);
        }

        int runs = flat ? (total + FlatBlock - 1) / FlatBlock : total / dims[^1];
        fixed (T* pa = a, pb = b, pd = dst)
        {
            var body = new BinaryRuns<T> { A = pa, B = pb, Dst = pd, LengthA = a.Length, LengthB = b.Length, Total = total, Flat = flat, Dims = dims, StridesA = sa, StridesB = sb, Kind = kind };
            Parallelism.For(runs, flat ? FlatBlock : dims[^1], ref body);
        }
    }

    /// <summary>Runs [start, end) of <see cref="Binary{T}"/>: blocks of <see cref="FlatBlock"/> elements when
    /// <see cref="Flat"/>, else rows of the collapsed innermost dimension.</summary>
    private unsafe struct BinaryRuns<T> : IRangeBody
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        public T* A, B, Dst;
        public int LengthA, LengthB, Total;
        public bool Flat;
        public int[] Dims, StridesA, StridesB;
        public BinaryKind Kind;

        public readonly void Run(int start, int end)
        {
            var a = new ReadOnlySpan<T>(A, LengthA);
            var b = new ReadOnlySpan<T>(B, LengthB);
            var dst = new Span<T>(Dst, Total);
            if (Flat)
            {
                FlatBlocks(a, b, dst, Kind, start, end);
            }
            else
            {
                Runs(a, b, dst, Dims, StridesA, StridesB, Kind, start, end);
            }
        }
    }

    /// <summary>
    /// Sums <paramref name="src"/> (shape <paramref name="srcShape"/>) over the broadcast dimensions so that it has
    /// shape <paramref name="dstShape"/>, which must broadcast to <paramref name="srcShape"/> (fewer leading
    /// dimensions and size-1 dimensions allowed). Adds into <paramref name="dst"/> when <paramref name="accumulate"/>,
    /// otherwise overwrites it. This un-broadcasts the gradient of a broadcast operand.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes or span lengths do not match.</exception>
    public static void ReduceToShape<T>(ReadOnlySpan<T> src, int[] srcShape, Span<T> dst, int[] dstShape, bool accumulate)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        CheckBroadcastsTo(dstShape, srcShape);
        CheckLength(src.Length, srcShape, nameof(src));
        if (CheckLength(dst.Length, dstShape, nameof(dst)) == 0)
        {
            return;
        }

        // Group the dimensions of src (size-1 ones dropped) into alternating kept / reduced runs.
        var sizes = new List<int>();
        var reduced = new List<bool>();
        int offset = srcShape.Length - dstShape.Length;
        for (int d = 0; d < srcShape.Length; d++)
        {
            if (srcShape[d] == 1)
            {
                continue;
            }

            bool r = d < offset || dstShape[d - offset] == 1;
            if (reduced.Count > 0 && reduced[^1] == r)
            {
                sizes[^1] *= srcShape[d];
            }
            else
            {
                sizes.Add(srcShape[d]);
                reduced.Add(r);
            }
        }

        int last = reduced.LastIndexOf(true);
        if (last < 0)
        {
            if (accumulate)
            {
                TensorPrimitives.Add(dst, src, dst);
            }
            else
            {
                src.CopyTo(dst);
            }

            return;
        }

        // Sum out the last reduced group until only one is left, then sum that one into dst.
        T[]? rented = null;
        ReadOnlySpan<T> current = src;
        while (true)
        {
            int outer = Product(sizes, 0, last), inner = Product(sizes, last + 1, sizes.Count);
            int next = reduced.LastIndexOf(true, Math.Max(last - 1, 0));
            if (next < 0 || next == last)
            {
                Reduce.Sum(current, outer, sizes[last], inner, dst, accumulate);
                break;
            }

            T[] buffer = Pool.Rent<T>(outer * inner);
            Reduce.Sum(current, outer, sizes[last], inner, buffer.AsSpan(0, outer * inner));
            if (rented != null)
            {
                Pool.Return(rented);
            }

            rented = buffer;
            current = buffer.AsSpan(0, outer * inner);

            // The kept group before `last` absorbs the (kept) groups after it.
            sizes[last - 1] *= inner;
            sizes.RemoveRange(last, sizes.Count - last);
            reduced.RemoveRange(last, reduced.Count - last);
            last = next;
        }

        if (rented != null)
        {
            Pool.Return(rented);
        }
    }

    /// <summary>
    /// Copies <paramref name="src"/> (shape <paramref name="srcShape"/>) into <paramref name="dst"/>, repeating it along
    /// broadcast dimensions so that it fills <paramref name="dstShape"/>.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="srcShape"/> does not broadcast to <paramref name="dstShape"/> or span lengths do not match.</exception>
    public static unsafe void Expand<T>(ReadOnlySpan<T> src, int[] srcShape, Span<T> dst, int[] dstShape)
        where T : unmanaged
    {
        CheckBroadcastsTo(srcShape, dstShape);
        CheckLength(src.Length, srcShape, nameof(src));
        int total = CheckLength(dst.Length, dstShape, nameof(dst));
        if (total == 0)
        {
            return;
        }

        if (src.Length == total)
        {
            src.CopyTo(dst);
            return;
        }

        if (src.Length == 1)
        {
            dst.Fill(src[0]);
            return;
        }

        var (dims, strides, _) = Collapse(dstShape, srcShape, srcShape);
        int runs = total / dims[^1];
        fixed (T* ps = src, pd = dst)
        {
            var body = new ExpandedRuns<T> { Src = ps, Dst = pd, LengthSrc = src.Length, Total = total, Dims = dims, Strides = strides };
            Parallelism.For(runs, dims[^1], ref body);
        }
    }

    /// <summary>Rows [start, end) of the collapsed innermost dimension of <see cref="Expand{T}"/>.</summary>
    private unsafe struct ExpandedRuns<T> : IRangeBody
        where T : unmanaged
    {
        public T* Src, Dst;
        public int LengthSrc, Total;
        public int[] Dims, Strides;

        public readonly void Run(int start, int end) =>
            ExpandRuns(new ReadOnlySpan<T>(Src, LengthSrc), new Span<T>(Dst, Total), Dims, Strides, start, end);
    }

    internal static string Format(int[] shape) => "[" + string.Join(", ", shape) + "]";

    private static int CheckLength(int length, int[] shape, string name)
    {
        ArgumentNullException.ThrowIfNull(shape);
        long size = 1;
        foreach (int d in shape)
        {
            if (d < 0)
            {
                throw new ArgumentException($"negative dimension in shape {Format(shape)}", name);
            }

            size = Math.Min(size * d, long.MaxValue / int.MaxValue);
        }

        if (size != length)
        {
            throw new ArgumentException($"span of length {length} does not match shape {Format(shape)}", name);
        }

        return length;
    }

    private static void CheckBroadcastsTo(int[] from, int[] to)
    {
        ArgumentNullException.ThrowIfNull(from);
        ArgumentNullException.ThrowIfNull(to);
        bool ok = from.Length <= to.Length;
        for (int i = 1; ok && i <= from.Length; i++)
        {
            ok = from[^i] == 1 || from[^i] == to[^i];
        }

        if (!ok)
        {
            throw new ArgumentException($"cannot broadcast {Format(from)} to {Format(to)}");
        }
    }

    private static int Product(List<int> sizes, int start, int end)
    {
        int p = 1;
        for (int i = start; i < end; i++)
        {
            p *= sizes[i];
        }

        return p;
    }

    /// <summary>
    /// Drops size-1 dimensions of <paramref name="dst"/> and merges neighbours that both operands traverse
    /// contiguously. Returns the dimensions and each operand's element strides (0 along broadcast dimensions);
    /// the innermost stride of each operand is then 0 or 1.
    /// </summary>
    private static (int[] Dims, int[] StridesA, int[] StridesB) Collapse(int[] dst, int[] a, int[] b)
    {
        var dims = new List<int>();
        var sa = new List<int>();
        var sb = new List<int>();
        int runA = 1, runB = 1;
        for (int d = dst.Length - 1; d >= 0; d--)
        {
            int da = AlignedDim(a, dst.Length, d), db = AlignedDim(b, dst.Length, d);
            int strideA = da == 1 ? 0 : runA, strideB = db == 1 ? 0 : runB;
            runA *= da;
            runB *= db;
            if (dst[d] == 1)
            {
                continue;
            }

            if (dims.Count > 0 && strideA == sa[^1] * dims[^1] && strideB == sb[^1] * dims[^1])
            {
                dims[^1] *= dst[d];
            }
            else
            {
                dims.Add(dst[d]);
                sa.Add(strideA);
                sb.Add(strideB);
            }
        }

        dims.Reverse();
        sa.Reverse();
        sb.Reverse();
        return ([.. dims], [.. sa], [.. sb]);
    }

    private static int AlignedDim(int[] shape, int rank, int d) => d < rank - shape.Length ? 1 : shape[d - rank + shape.Length];

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void FlatBlocks<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> dst, BinaryKind kind, int start, int end)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        for (int i = start; i < end; i++)
        {
            int offset = i * FlatBlock, length = Math.Min(FlatBlock, dst.Length - offset);
            Span<T> d = dst.Slice(offset, length);
            if (a.Length == 1)
            {
                Apply(kind, a[0], b.Length == 1 ? b : b.Slice(offset, length), d);
            }
            else if (b.Length == 1)
            {
                Apply(kind, a.Slice(offset, length), b[0], d);
            }
            else
            {
                Apply(kind, a.Slice(offset, length), b.Slice(offset, length), d);
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Runs<T>(ReadOnlySpan<T> a, ReadOnlySpan<T> b, Span<T> dst, int[] dims, int[] sa, int[] sb, BinaryKind kind, int start, int end)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        int rank = dims.Length - 1, n = dims[rank];
        Span<int> index = stackalloc int[rank];
        int oa = 0, ob = 0;
        for (int d = rank - 1, rest = start; d >= 0; d--)
        {
            index[d] = rest % dims[d];
            rest /= dims[d];
            oa += index[d] * sa[d];
            ob += index[d] * sb[d];
        }

        for (int r = start; r < end; r++)
        {
            Span<T> d = dst.Slice(r * n, n);
            if (sa[rank] == 0)
            {
                Apply(kind, a[oa], b.Slice(ob, n), d);
            }
            else if (sb[rank] == 0)
            {
                Apply(kind, a.Slice(oa, n), b[ob], d);
            }
            else
            {
                Apply(kind, a.Slice(oa, n), b.Slice(ob, n), d);
            }

            Advance(index, dims, sa, sb, ref oa, ref ob);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ExpandRuns<T>(ReadOnlySpan<T> src, Span<T> dst, int[] dims, int[] strides, int start, int end)
    {
        int rank = dims.Length - 1, n = dims[rank];
        Span<int> index = stackalloc int[rank];
        int offset = 0, unused = 0;
        for (int d = rank - 1, rest = start; d >= 0; d--)
        {
            index[d] = rest % dims[d];
            rest /= dims[d];
            offset += index[d] * strides[d];
        }

        for (int r = start; r < end; r++)
        {
            if (strides[rank] == 0)
            {
                dst.Slice(r * n, n).Fill(src[offset]);
            }
            else
            {
                src.Slice(offset, n).CopyTo(dst.Slice(r * n, n));
            }

            Advance(index, dims, strides, strides, ref offset, ref unused);
        }
    }

    /// <summary>Steps the odometer over all dimensions but the innermost, updating both operand offsets.</summary>
    private static void Advance(Span<int> index, int[] dims, int[] sa, int[] sb, ref int oa, ref int ob)
    {
        for (int d = index.Length - 1; d >= 0; d--)
        {
            oa += sa[d];
            ob += sb[d];
            if (++index[d] < dims[d])
            {
                return;
            }

            oa -= sa[d] * dims[d];
            ob -= sb[d] * dims[d];
            index[d] = 0;
        }
    }

    internal static void Apply<T>(BinaryKind kind, ReadOnlySpan<T> x, ReadOnlySpan<T> y, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case BinaryKind.Add: TensorPrimitives.Add(x, y, d); break;
            case BinaryKind.Subtract: TensorPrimitives.Subtract(x, y, d); break;
            case BinaryKind.Multiply: TensorPrimitives.Multiply(x, y, d); break;
            case BinaryKind.Divide: TensorPrimitives.Divide(x, y, d); break;
            case BinaryKind.Maximum: TensorPrimitives.Max(x, y, d); break;
            case BinaryKind.Minimum: TensorPrimitives.Min(x, y, d); break;
            default: TensorPrimitives.Pow(x, y, d); break;
        }
    }

    internal static void Apply<T>(BinaryKind kind, ReadOnlySpan<T> x, T y, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case BinaryKind.Add: TensorPrimitives.Add(x, y, d); break;
            case BinaryKind.Subtract: TensorPrimitives.Subtract(x, y, d); break;
            case BinaryKind.Multiply: TensorPrimitives.Multiply(x, y, d); break;
            case BinaryKind.Divide: TensorPrimitives.Divide(x, y, d); break;
            case BinaryKind.Maximum: TensorPrimitives.Max(x, y, d); break;
            case BinaryKind.Minimum: TensorPrimitives.Min(x, y, d); break;
            default: TensorPrimitives.Pow(x, y, d); break;
        }
    }

    internal static void Apply<T>(BinaryKind kind, T x, ReadOnlySpan<T> y, Span<T> d)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        switch (kind)
        {
            case BinaryKind.Add: TensorPrimitives.Add(y, x, d); break;
            case BinaryKind.Subtract: TensorPrimitives.Subtract(x, y, d); break;
            case BinaryKind.Multiply: TensorPrimitives.Multiply(y, x, d); break;
            case BinaryKind.Divide: TensorPrimitives.Divide(x, y, d); break;
            case BinaryKind.Maximum: TensorPrimitives.Max(y, x, d); break;
            case BinaryKind.Minimum: TensorPrimitives.Min(y, x, d); break;
            default: TensorPrimitives.Pow(x, y, d); break;
        }
    }
}
