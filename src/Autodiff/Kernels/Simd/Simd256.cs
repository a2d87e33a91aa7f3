using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

/// <summary>256-bit vectors (AVX2 and FMA).</summary>
internal readonly unsafe struct Simd256<T> : ISimd<T, Vector256<T>, Vector256<double>>
    where T : unmanaged
{
    public static int Count => Vector256<T>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Load(T* p) => Vector256.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> LoadFirst(T* p, int n, T pad)
    {
        var below = ~LanesFrom(n);
        var v = typeof(T) == typeof(float)
            ? Avx.MaskLoad((float*)p, below.AsSingle()).As<float, T>()
            : Avx.MaskLoad((double*)p, below.AsDouble()).As<double, T>();
        return Vector256.ConditionalSelect(below, v, Vector256.Create(pad));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreFirst(T* p, int n, Vector256<T> v)
    {
        var below = ~LanesFrom(n);
        if (typeof(T) == typeof(float)) Avx.MaskStore((float*)p, below.AsSingle(), v.AsSingle());
        else Avx.MaskStore((double*)p, below.AsDouble(), v.AsDouble());
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(T* p, Vector256<T> v) => v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreNonTemporal(T* p, Vector256<T> v) => v.StoreAlignedNonTemporal(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Splat(T x) => Vector256.Create(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Add(Vector256<T> a, Vector256<T> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Sub(Vector256<T> a, Vector256<T> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Mul(Vector256<T> a, Vector256<T> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> MulAdd(Vector256<T> a, Vector256<T> b, Vector256<T> c) =>
        typeof(T) == typeof(float)
            ? Fma.MultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Fma.MultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Max(Vector256<T> a, Vector256<T> b) =>
        typeof(T) == typeof(float)
            ? Avx.Max(a.AsSingle(), b.AsSingle()).As<float, T>()
            : Avx.Max(a.AsDouble(), b.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Exp(Vector256<T> x) => FastMath.Exp(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> ExpNonPositive(Vector256<T> x) => FastMath.Exp(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxAcross(Vector256<T> v)
    {
        if (typeof(T) == typeof(float))
        {
            var f = Sse.Max(v.AsSingle().GetLower(), v.AsSingle().GetUpper());
            f = Sse.Max(f, Sse.Shuffle(f, f, 0b_01_00_11_10));
            return (T)(object)Sse.Max(f, Sse.Shuffle(f, f, 0b_10_11_00_01)).ToScalar();
        }

        var d = Sse2.Max(v.AsDouble().GetLower(), v.AsDouble().GetUpper());
        return (T)(object)Sse2.Max(d, Sse2.Shuffle(d, d, 0b01)).ToScalar();
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<double> AddWidened(Vector256<double> acc, Vector256<T> v)
    {
        if (typeof(T) == typeof(double)) return acc + v.AsDouble();
        var (lo, hi) = Vector256.Widen(v.AsSingle());
        return acc + (lo + hi);
    }

    public static double Total(Vector256<double> acc) => Vector256.Sum(acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> LanesFrom(int skip) =>
        Vector256.GreaterThanOrEqual(Vector256<T>.Indices, Vector256.Create(typeof(T) == typeof(float) ? (T)(object)(float)skip : (T)(object)(double)skip));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> And(Vector256<T> v, Vector256<T> mask) => v & mask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<T> Select(Vector256<T> mask, Vector256<T> a, Vector256<T> b) => Vector256.ConditionalSelect(mask, a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(void* p) => Sse.Prefetch0(p);
}
