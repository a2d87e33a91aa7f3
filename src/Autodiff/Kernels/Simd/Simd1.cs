using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

/// <summary>One lane: plain scalar code (exp from <see cref="Math"/>), for machines without AVX2.</summary>
internal readonly unsafe struct Simd1<T> : ISimd<T, T, double>
    where T : unmanaged, IFloatingPointIeee754<T>
{
    public static int Count => 1;

    public static T Load(T* p) => *p;

    public static T LoadFirst(T* p, int n, T pad) => n > 0 ? *p : pad;

    public static void StoreFirst(T* p, int n, T v)
    {
        if (n > 0) *p = v;
    }

    public static void Store(T* p, T v) => *p = v;

    public static void StoreNonTemporal(T* p, T v) => *p = v;

    public static T Splat(T x) => x;

    public static T Add(T a, T b) => a + b;

    public static T Sub(T a, T b) => a - b;

    public static T Mul(T a, T b) => a * b;

    public static T MulAdd(T a, T b, T c) => T.FusedMultiplyAdd(a, b, c);

    public static T Max(T a, T b) => a > b ? a : b;

    public static T Exp(T x) => T.Exp(x);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static T ExpNonPositive(T x) => T.Exp(x);

    public static T MaxAcross(T v) => v;

    public static double AddWidened(double acc, T v) => acc + double.CreateTruncating(v);

    public static double Total(double acc) => acc;

    public static T LanesFrom(int skip) => skip <= 0 ? T.One : T.Zero;

    public static T And(T v, T mask) => mask == T.Zero ? T.Zero : v;

    public static T Select(T mask, T a, T b) => mask == T.Zero ? b : a;

    public static void Prefetch(void* p)
    {
    }
}
