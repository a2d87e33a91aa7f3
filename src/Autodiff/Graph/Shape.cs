using System.Collections;

namespace Autodiff;

/// <summary>An immutable tensor shape: the sizes of the dimensions, outermost first (row-major).</summary>
public sealed class Shape : IEquatable<Shape>, IReadOnlyList<int>
{
    private readonly int[] _dims;

    /// <summary>The 0-d (scalar) shape.</summary>
    public static Shape Scalar { get; } = new();

    /// <summary>Creates a shape from dimension sizes; every size must be non-negative, and the product of the non-zero
    /// sizes at most <see cref="MaxSize"/> (see <see cref="SizeError"/>).</summary>
    public Shape(params int[] dims)
    {
        ArgumentNullException.ThrowIfNull(dims);
        if (SizeError(dims) is { } error) throw new AutodiffException($"shape {Format(dims)} {error}");
        _dims = (int[])dims.Clone();
        long n = 1;
        foreach (var d in _dims) n *= d;
        Size = (int)n;
    }

    /// <summary>The most elements a shape may have: <see cref="Array.MaxLength"/> (2,147,483,591), the largest array .NET
    /// allocates.</summary>
    public static int MaxSize => Array.MaxLength;

    /// <summary>Null if <paramref name="dims"/> make a valid shape; otherwise what is wrong, e.g. <c>has more than
    /// 2147483591 elements</c> (<see cref="MaxSize"/>). The product of the non-zero sizes must fit, even when a size is 0: a zero-element shape is
    /// then accepted or refused whatever the order of its dimensions, so its transposes and reshapes are too, and the
    /// kernels' partial products over a prefix of the dimensions never overflow.</summary>
    public static string? SizeError(ReadOnlySpan<int> dims)
    {
        long n = 1;
        bool empty = false;
        foreach (var d in dims)
        {
            if (d < 0) return "has a negative dimension";
            if (d == 0) { empty = true; continue; }
            n *= d;
            if (n > MaxSize)
                return empty || dims.Contains(0)
                    ? $"has no elements, but its non-zero dimensions multiply to more than {MaxSize}, the most elements a .NET array holds"
                    : $"has more than {MaxSize} elements, the most a .NET array holds";
        }
        return null;
    }

    /// <summary>Number of dimensions.</summary>
    public int Rank => _dims.Length;

    /// <summary>Total number of elements.</summary>
    public int Size { get; }

    /// <summary>Size of dimension <paramref name="i"/>.</summary>
    public int this[int i] => _dims[i];

    /// <inheritdoc/>
    public int Count => _dims.Length;

    /// <summary>A copy of the dimension sizes.</summary>
    public int[] ToArray() => (int[])_dims.Clone();

    internal ReadOnlySpan<int> Dims => _dims;

    /// <summary>Resolves a possibly negative axis against this rank, or throws naming the op.</summary>
    public int Axis(int axis, string op)
    {
        int a = axis < 0 ? axis + Rank : axis;
        if (a < 0 || a >= Rank) throw new ShapeException(op, $"axis {axis} is out of range for shape {this} (rank {Rank})");
        return a;
    }

    /// <summary>Resolves, sorts and de-duplicates axes; an empty list means all axes.</summary>
    public int[] Axes(IReadOnlyList<int>? axes, string op)
    {
        if (axes is null || axes.Count == 0) return Enumerable.Range(0, Rank).ToArray();
        var r = axes.Select(a => Axis(a, op)).Distinct().Order().ToArray();
        if (r.Length != axes.Count) throw new ShapeException(op, $"axes ({string.Join(", ", axes)}) repeat an axis of shape {this}");
        return r;
    }

    /// <summary>Product of the sizes of dimensions [from, to).</summary>
    public int Product(int from, int to)
    {
        int p = 1;
        for (int i = from; i < to; i++) p *= _dims[i];
        return p;
    }

    /// <summary>The multi-index of row-major flat position <paramref name="flat"/>.</summary>
    public int[] Unravel(int flat)
    {
        var idx = new int[Rank];
        for (int d = Rank - 1; d >= 0; d--)
        {
            idx[d] = _dims[d] == 0 ? 0 : flat % _dims[d];
            flat = _dims[d] == 0 ? 0 : flat / _dims[d];
        }
        return idx;
    }

    /// <summary>The element at row-major flat position <paramref name="flat"/> written as an index, e.g. <c>[3, 1]</c>
    /// (empty for a 0-d shape).</summary>
    public string FormatIndex(int flat) => Rank == 0 ? "" : Format(Unravel(flat));

    /// <summary>Row-major element strides.</summary>
    public int[] Strides()
    {
        var s = new int[Rank];
        int acc = 1;
        for (int i = Rank - 1; i >= 0; i--) { s[i] = acc; acc *= _dims[i]; }
        return s;
    }

    /// <summary>Formats dims as <c>[2, 3]</c>.</summary>
    public static string Format(ReadOnlySpan<int> dims) => "[" + string.Join(", ", dims.ToArray()) + "]";

    /// <inheritdoc/>
    public override string ToString() => Format(_dims);

    /// <inheritdoc/>
    public bool Equals(Shape? other) => other is not null && _dims.AsSpan().SequenceEqual(other._dims);

    /// <inheritdoc/>
    public override bool Equals(object? obj) => Equals(obj as Shape);

    /// <inheritdoc/>
    public override int GetHashCode()
    {
        var h = new HashCode();
        foreach (var d in _dims) h.Add(d);
        return h.ToHashCode();
    }

    /// <summary>Structural equality.</summary>
    public static bool operator ==(Shape? a, Shape? b) => a is null ? b is null : a.Equals(b);

    /// <summary>Structural inequality.</summary>
    public static bool operator !=(Shape? a, Shape? b) => !(a == b);

    /// <inheritdoc/>
    public IEnumerator<int> GetEnumerator() => ((IEnumerable<int>)_dims).GetEnumerator();

    IEnumerator IEnumerable.GetEnumerator() => _dims.GetEnumerator();

    /// <summary>NumPy broadcasting of two shapes, or a <see cref="ShapeException"/> naming the op.</summary>
    public static Shape Broadcast(Shape a, Shape b, string op)
    {
        int r = Math.Max(a.Rank, b.Rank);
        var d = new int[r];
        for (int i = 0; i < r; i++)
        {
            int x = i - (r - a.Rank) >= 0 ? a[i - (r - a.Rank)] : 1;
            int y = i - (r - b.Rank) >= 0 ? b[i - (r - b.Rank)] : 1;
            if (x != y && x != 1 && y != 1)
                throw new ShapeException(op, $"shapes {a} and {b} cannot be broadcast together (dimension {i}: {x} vs {y})");
            d[i] = x == 1 ? y : x;
        }
        return new Shape(d);
    }

    /// <summary>True if this shape broadcasts to <paramref name="target"/>.</summary>
    public bool BroadcastsTo(Shape target)
    {
        if (Rank > target.Rank) return false;
        int off = target.Rank - Rank;
        for (int i = 0; i < Rank; i++)
            if (_dims[i] != 1 && _dims[i] != target[i + off]) return false;
        return true;
    }
}
