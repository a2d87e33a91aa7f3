using System.Buffers;

namespace Autodiff;

/// <summary>A pooled temporary buffer; dispose to return it.</summary>
internal readonly struct Scratch<T> : IDisposable
{
    private readonly T[] _array;
    private readonly int _length;

    private Scratch(int length)
    {
        _array = ArrayPool<T>.Shared.Rent(Math.Max(length, 1));
        _length = length;
    }

    public static Scratch<T> Rent(int length) => new(length);

    public Span<T> Span => _array.AsSpan(0, _length);

    public void Dispose() => ArrayPool<T>.Shared.Return(_array);
}
