using System.Globalization;
using System.Text;

namespace Autodiff;

/// <summary>A dense, row-major, N-dimensional array of <c>float</c>, <c>double</c> or <c>long</c>.
/// The shape and element type are fixed; the elements are mutable so buffers can be reused across evaluations.</summary>
public sealed class Tensor
{
    private readonly Array _data;

    /// <summary>The shape.</summary>
    public Shape Shape { get; }

    /// <summary>The element type.</summary>
    public DType DType { get; }

    /// <summary>Number of elements.</summary>
    public int Size => Shape.Size;

    private Tensor(Array data, Shape shape, DType dtype)
    {
        if (data.Length != shape.Size)
            throw new AutodiffException($"tensor: {data.Length} elements do not fill shape {shape} ({shape.Size} elements)");
        _data = data;
        Shape = shape;
        DType = dtype;
    }

    /// <summary>Wraps an array (not copied) as a tensor of the given shape. The element type must be <c>float</c> (f32),
    /// <c>double</c> (f64) or <c>long</c> (i64); any other is refused with an <see cref="AutodiffException"/> that lists them.</summary>
    public static Tensor FromArray<T>(T[] data, params int[] shape) where T : unmanaged =>
        new(data, new Shape(shape), ElementType<T>());

    /// <summary>Wraps an array (not copied) as a tensor of the given shape.</summary>
    public static Tensor FromArray<T>(T[] data, Shape shape) where T : unmanaged =>
        new(data, shape, ElementType<T>());

    /// <summary>A matrix from a rectangular array (copied): <c>Tensor.FromArray(new float[,] { { 1, 2 }, { 3, 4 } })</c>
    /// is f32[2, 2].</summary>
    public static Tensor FromArray<T>(T[,] data) where T : unmanaged => FromRectangular<T>(data);

    /// <summary>A rank-3 tensor from a rectangular array (copied).</summary>
    public static Tensor FromArray<T>(T[,,] data) where T : unmanaged => FromRectangular<T>(data);

    private static Tensor FromRectangular<T>(Array data) where T : unmanaged
    {
        ArgumentNullException.ThrowIfNull(data);
        var dtype = ElementType<T>();
        var shape = new Shape(Enumerable.Range(0, data.Rank).Select(data.GetLength).ToArray());
        var flat = new T[data.Length];
        int i = 0;
        foreach (T x in data) flat[i++] = x;   // a rectangular array enumerates in row-major order
        return new Tensor(flat, shape, dtype);
    }

    private static DType ElementType<T>() =>
        typeof(T) == typeof(float) ? DType.F32 :
        typeof(T) == typeof(double) ? DType.F64 :
        typeof(T) == typeof(long) ? DType.I64 :
        throw new AutodiffException($"tensor: elements of type {typeof(T).Name} are not supported; use float (f32), double (f64) or long (i64), e.g. Array.ConvertAll(data, x => (long)x) for class indices");

    /// <summary>The value of a one-element tensor (a scalar, or any shape of size 1) as a double, as PyTorch's
    /// <c>item()</c>: <c>loss.Item()</c>.</summary>
    /// <exception cref="AutodiffException">The tensor has more or fewer than one element.</exception>
    public double Item() => Size == 1 ? GetDouble(0)
        : throw new AutodiffException($"tensor: Item() needs a tensor of one element, not {DType.Name()}{Shape} ({Size} elements)");

    /// <summary>The value of a one-element tensor as <typeparamref name="T"/>, which must match <see cref="DType"/>.</summary>
    public T Item<T>() where T : unmanaged => Size == 1 ? Span<T>()[0]
        : throw new AutodiffException($"tensor: Item() needs a tensor of one element, not {DType.Name()}{Shape} ({Size} elements)");

    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(DType dtype, Shape shape) => dtype switch
    {
        DType.F32 => new Tensor(new float[shape.Size], shape, dtype),
        DType.F64 => new Tensor(new double[shape.Size], shape, dtype),
        DType.I64 => new Tensor(new long[shape.Size], shape, dtype),
        _ => throw new ArgumentOutOfRangeException(nameof(dtype)),
    };

    /// <summary>A tensor of zeros.</summary>
    public static Tensor Zeros(DType dtype, params int[] shape) => Zeros(dtype, new Shape(shape));

    /// <summary>A tensor whose every element is <paramref name="value"/>.</summary>
    public static Tensor Full(DType dtype, Shape shape, double value)
    {
        var t = Zeros(dtype, shape);
        t.Fill(value);
        return t;
    }

    /// <summary>A 0-d tensor.</summary>
    public static Tensor Scalar(double value, DType dtype = DType.F64) => Full(dtype, Shape.Scalar, value);

    /// <summary>A tensor from values given as doubles, converted to <paramref name="dtype"/>.</summary>
    public static Tensor FromDoubles(DType dtype, Shape shape, ReadOnlySpan<double> values)
    {
        var t = Zeros(dtype, shape);
        if (values.Length != shape.Size)
            throw new AutodiffException($"tensor: {values.Length} values do not fill shape {shape} ({shape.Size} elements)");
        for (int i = 0; i < values.Length; i++) t.SetDouble(i, values[i]);
        return t;
    }

    /// <summary>The elements as a span of <typeparamref name="T"/>; <typeparamref name="T"/> must match <see cref="DType"/>.</summary>
    public Span<T> Span<T>() where T : unmanaged =>
        _data is T[] a ? a : throw new AutodiffException($"tensor: elements are {DType.Name()}, not {typeof(T).Name}");

    /// <summary>The underlying array (not copied).</summary>
    public Array Data => _data;

    /// <summary>Reads element <paramref name="i"/> (flat, row-major) as a double.</summary>
    public double GetDouble(int i) => _data switch
    {
        float[] f => f[i],
        double[] d => d[i],
        long[] l => l[i],
        _ => throw new InvalidOperationException(),
    };

    /// <summary>Writes element <paramref name="i"/> (flat, row-major) from a double.</summary>
    public void SetDouble(int i, double v)
    {
        switch (_data)
        {
            case float[] f: f[i] = (float)v; break;
            case double[] d: d[i] = v; break;
            case long[] l: l[i] = (long)v; break;
        }
    }

    /// <summary>Sets every element.</summary>
    public void Fill(double v)
    {
        switch (_data)
        {
            case float[] f: Array.Fill(f, (float)v); break;
            case double[] d: Array.Fill(d, v); break;
            case long[] l: Array.Fill(l, (long)v); break;
        }
    }

    /// <summary>Copies the elements of <paramref name="src"/>, which must have the same shape and element type.</summary>
    public void CopyFrom(Tensor src)
    {
        if (src.DType != DType || src.Shape != Shape)
            throw new AutodiffException($"tensor: cannot copy {src.DType.Name()}{src.Shape} into {DType.Name()}{Shape}");
        Array.Copy(src._data, _data, _data.Length);
    }

    /// <summary>Reads the element at a multi-dimensional index as a double.</summary>
    [System.Runtime.CompilerServices.IndexerName("Element")]   // not "Item": that is the scalar accessor, Item()
    public double this[params int[] index] => GetDouble(Flat(index));

    private int Flat(int[] index)
    {
        if (index.Length != Shape.Rank)
            throw new AutodiffException($"tensor: index of rank {index.Length} for shape {Shape}");
        int f = 0;
        for (int i = 0; i < index.Length; i++)
        {
            if ((uint)index[i] >= (uint)Shape[i]) throw new AutodiffException($"tensor: index {Shape.Format(index)} is out of range for shape {Shape}");
            f = f * Shape[i] + index[i];
        }
        return f;
    }

    /// <summary>All elements as doubles.</summary>
    public double[] ToDoubleArray()
    {
        var r = new double[Size];
        for (int i = 0; i < r.Length; i++) r[i] = GetDouble(i);
        return r;
    }

    /// <summary>A converted copy.</summary>
    public Tensor Cast(DType dtype) => FromDoubles(dtype, Shape, ToDoubleArray());

    /// <summary>A deep copy.</summary>
    public Tensor Clone() => new((Array)_data.Clone(), Shape, DType);

    /// <summary>The same elements viewed with another shape of the same size (shares storage).</summary>
    public Tensor Reshape(Shape shape) => new(_data, shape, DType);

    /// <summary>Standard-normal samples times <paramref name="std"/>, from <paramref name="rng"/>.</summary>
    public static Tensor RandomNormal(DType dtype, Shape shape, Random rng, double std = 1)
    {
        var t = Zeros(dtype, shape);
        for (int i = 0; i < t.Size; i++)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            t.SetDouble(i, std * Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2));
        }
        return t;
    }

    /// <summary>Tensors of more elements than this print summarized (see <see cref="ToString()"/>).</summary>
    public const int SummaryThreshold = 1000;

    /// <summary>Prints the tensor as nested brackets with round-trip numbers (<c>inf</c>, <c>-inf</c>, <c>nan</c> for
    /// non-finite). A tensor of more than <see cref="SummaryThreshold"/> elements prints summarized, as NumPy and PyTorch
    /// do: the first and last 3 items of each dimension with <c>...</c> between, then its type and shape, e.g.
    /// <c>[[0, 1, 2, ..., 997, 998, 999], ..., [...]] f32[1000, 1000]</c>; <see cref="ToFullString"/> prints every
    /// element.</summary>
    public override string ToString() => Size > SummaryThreshold ? Summary(3) : ToFullString();

    /// <summary>Every element, as nested brackets (see <see cref="ToString()"/>).</summary>
    public string ToFullString()
    {
        var sb = new StringBuilder();
        Walk(_ => sb.Append('['), (_, i) => sb.Append(i > 0 ? ", " : ""), pos => sb.Append(FormatNumber(GetDouble(pos), DType)), (_, _) => sb.Append(']'));
        return sb.ToString();
    }

    private string Summary(int edge)
    {
        var sb = new StringBuilder();
        void Dim(int dim, int offset)
        {
            int n = Shape[dim], stride = 1;
            for (int d = dim + 1; d < Shape.Rank; d++) stride *= Shape[d];
            sb.Append('[');
            for (int i = 0; i < n; i++)
            {
                if (n > 2 * edge && i == edge)
                {
                    sb.Append("..., ");
                    i = n - edge - 1;
                    continue;
                }
                if (dim == Shape.Rank - 1) sb.Append(FormatNumber(GetDouble(offset + i), DType));
                else Dim(dim + 1, offset + i * stride);
                if (i < n - 1) sb.Append(", ");
            }
            sb.Append(']');
        }
        Dim(0, 0);
        return sb.Append(' ').Append(DType.Name()).Append(Shape).ToString();
    }

    /// <summary>Visits the tensor as nested arrays in row-major order, without recursion (a tensor of rank 60,000 is one
    /// loop): <paramref name="open"/>(dim) starts an array of dimension dim, <paramref name="before"/>(dim, i) precedes its
    /// item i, <paramref name="element"/>(pos) is the element at flat position pos (in the innermost arrays), and
    /// <paramref name="close"/>(dim, n) ends an array of n items. A 0-d tensor is its one element.</summary>
    public void Walk(Action<int> open, Action<int, int> before, Action<int> element, Action<int, int> close)
    {
        ArgumentNullException.ThrowIfNull(open);
        ArgumentNullException.ThrowIfNull(before);
        ArgumentNullException.ThrowIfNull(element);
        ArgumentNullException.ThrowIfNull(close);
        int rank = Shape.Rank;
        if (rank == 0)
        {
            element(0);
            return;
        }
        var next = new int[rank];
        int dim = 0, pos = 0;
        open(0);
        while (true)
        {
            int n = Shape[dim];
            if (dim == rank - 1)
            {
                for (int i = 0; i < n; i++)
                {
                    before(dim, i);
                    element(pos++);
                }
                next[dim] = n;
            }
            if (next[dim] < n)
            {
                before(dim, next[dim]++);
                next[++dim] = 0;
                open(dim);
                continue;
            }
            close(dim, n);
            if (dim == 0) return;
            dim--;
        }
    }

    /// <summary>Formats one number as the expression language writes it.</summary>
    public static string FormatNumber(double v, DType dtype) =>
        double.IsNaN(v) ? "nan" :
        double.IsPositiveInfinity(v) ? "inf" :
        double.IsNegativeInfinity(v) ? "-inf" :
        dtype == DType.F32 ? ((float)v).ToString("R", CultureInfo.InvariantCulture) :
        v.ToString("R", CultureInfo.InvariantCulture);
}
