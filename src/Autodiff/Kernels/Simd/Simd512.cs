using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

/// <summary>512-bit vectors (AVX-512F).</summary>
internal readonly unsafe struct Simd512<T> : ISimd<T, Vector512<T>, Vector512<double>>
    where T : unmanaged
{
    public static int Count => Vector512<T>.Count;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Load(T* p) => Vector512.Load(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> LoadFirst(T* p, int n, T pad) =>
        typeof(T) == typeof(float)
            ? Avx512F.MaskLoad((float*)p, Below(n).AsSingle(), Vector512.Create((float)(object)pad)).As<float, T>()
            : Avx512F.MaskLoad((double*)p, Below(n).AsDouble(), Vector512.Create((double)(object)pad)).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreFirst(T* p, int n, Vector512<T> v)
    {
        if (typeof(T) == typeof(float)) Avx512F.MaskStore((float*)p, Below(n).AsSingle(), v.AsSingle());
        else Avx512F.MaskStore((double*)p, Below(n).AsDouble(), v.AsDouble());
    }

    /// <summary>The mask of the lanes at index &lt; n.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> Below(int n) => ~LanesFrom(n);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(T* p, Vector512<T> v) => v.Store(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreNonTemporal(T* p, Vector512<T> v) => v.StoreAlignedNonTemporal(p);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Splat(T x) => Vector512.Create(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Add(Vector512<T> a, Vector512<T> b) => a + b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Sub(Vector512<T> a, Vector512<T> b) => a - b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Mul(Vector512<T> a, Vector512<T> b) => a * b;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> MulAdd(Vector512<T> a, Vector512<T> b, Vector512<T> c) =>
        typeof(T) == typeof(float)
            ? Avx512F.FusedMultiplyAdd(a.AsSingle(), b.AsSingle(), c.AsSingle()).As<float, T>()
            : Avx512F.FusedMultiplyAdd(a.AsDouble(), b.AsDouble(), c.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Max(Vector512<T> a, Vector512<T> b) =>
        typeof(T) == typeof(float)
            ? Avx512F.Max(a.AsSingle(), b.AsSingle()).As<float, T>()
            : Avx512F.Max(a.AsDouble(), b.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Exp(Vector512<T> x) => FastMath.Exp(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> ExpNonPositive(Vector512<T> x) =>
        typeof(T) == typeof(float)
            ? FastMath.ExpNonPositive(x.AsSingle()).As<float, T>()
            : FastMath.ExpNonPositive(x.AsDouble()).As<double, T>();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T MaxAcross(Vector512<T> v) => Simd256<T>.MaxAcross(Simd256<T>.Max(v.GetLower(), v.GetUpper()));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<double> AddWidened(Vector512<double> acc, Vector512<T> v)
    {
        if (typeof(T) == typeof(double)) return acc + v.AsDouble();
        var (lo, hi) = Vector512.Widen(v.AsSingle());
        return acc + (lo + hi);
    }

    public static double Total(Vector512<double> acc) => Vector512.Sum(acc);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> LanesFrom(int skip) =>
        Vector512.GreaterThanOrEqual(Vector512<T>.Indices, Vector512.Create(typeof(T) == typeof(float) ? (T)(object)(float)skip : (T)(object)(double)skip));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> And(Vector512<T> v, Vector512<T> mask) => v & mask;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<T> Select(Vector512<T> mask, Vector512<T> a, Vector512<T> b) => Vector512.ConditionalSelect(mask, a, b);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Prefetch(void* p) => Sse.Prefetch0(p);
}
