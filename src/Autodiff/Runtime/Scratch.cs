using System.Buffers;

namespace Autodiff;

/// <summary>A pooled temporary buffer; dispose to return it.</summary>
internal readonly struct Scratch<T> : IDisposable
{
    private readonly T[] _array;
    private readonly int _length;

    private Scratch(int length)
    {
        _array = Pool.Rent<T>(Math.Max(length, 1));
        _length = length;
    }

    public static Scratch<T> Rent(int length) => new(length);

    public Span<T> Span => _array.AsSpan(0, _length);

    public void Dispose() => Pool.Return(_array);
}

/// <summary>
/// The one way the library's kernels rent temporary arrays (<see cref="ArrayPool{T}.Shared"/>), counting the bytes of the
/// arrays out on loan (their actual, rounded-up lengths) and the peak since <see cref="Mark"/>, so that a tape can report
/// the scratch memory of a pass (<see cref="Tape.IntermediateBytes"/>). The counters are process-wide: the peak of a pass
/// also counts what other threads rent meanwhile (exact when one tape runs at a time).
/// </summary>
internal static class Pool
{
    private static long _out, _peak;

    public static T[] Rent<T>(int length)
    {
        var a = ArrayPool<T>.Shared.Rent(length);
        long now = Interlocked.Add(ref _out, Bytes(a));
        long peak;
        while (now > (peak = Volatile.Read(ref _peak)) && Interlocked.CompareExchange(ref _peak, now, peak) != peak) { }
        return a;
    }

    public static void Return<T>(T[] array)
    {
        Interlocked.Add(ref _out, -Bytes(array));
        ArrayPool<T>.Shared.Return(array);
    }

    /// <summary>Starts a measurement: returns the bytes out on loan now and resets the peak to them.</summary>
    public static long Mark()
    {
        long now = Volatile.Read(ref _out);
        Volatile.Write(ref _peak, now);
        return now;
    }

    /// <summary>The peak bytes on loan since <see cref="Mark"/> above its <paramref name="mark"/>.</summary>
    public static long PeakSince(long mark) => Math.Max(0, Volatile.Read(ref _peak) - mark);

    private static long Bytes<T>(T[] a) => (long)a.Length * (typeof(T).IsValueType ? System.Runtime.CompilerServices.Unsafe.SizeOf<T>() : IntPtr.Size);
}
