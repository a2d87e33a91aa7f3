using System.Buffers;
using System.Numerics;
using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

// Dispatch of the vector row passes to the widest vectors of this machine.
internal static partial class SoftmaxCrossEntropy
{
    // ---------------------------------------------------------------- vector row passes

    /// <summary>The vector row passes on the widest vectors of this machine.</summary>
    internal static unsafe class Fast
    {
        /// <summary>max(x[0..n)); −inf for n = 0. May miss a NaN (callers detect NaN from the sum).</summary>
        public static T Max<T>(T* x, int n)
            where T : unmanaged, IFloatingPointIeee754<T> =>
            FastMath.Has512 ? RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.Max(x, n)
            : FastMath.Has256 ? RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.Max(x, n)
            : RowPass<T, T, double, Simd1<T>>.Max(x, n);

        /// <summary>Σ exp(x − m) in double.</summary>
        public static double SumExp<T>(T* x, int n, T m, T* next)
            where T : unmanaged, IFloatingPointIeee754<T> =>
            FastMath.Has512 ? RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.SumExp(x, n, m, next)
            : FastMath.Has256 ? RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.SumExp(x, n, m, next)
            : RowPass<T, T, double, Simd1<T>>.SumExp(x, n, m, next);

        /// <summary>d (+)= exp(x − m)·k + add.</summary>
        public static void ScaledExp<T>(T* x, int n, T m, T k, T add, T* d, bool accumulate, bool streaming)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (FastMath.Has512) RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.ScaledExp(x, n, m, k, add, d, accumulate, streaming);
            else if (FastMath.Has256) RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.ScaledExp(x, n, m, k, add, d, accumulate, streaming);
            else RowPass<T, T, double, Simd1<T>>.ScaledExp(x, n, m, k, add, d, accumulate, streaming);
        }

        /// <summary>d = d·k + add.</summary>
        public static void Scale<T>(T* d, int n, T k, T add)
            where T : unmanaged, IFloatingPointIeee754<T>
        {
            if (FastMath.Has512) RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.Scale(d, n, k, add);
            else if (FastMath.Has256) RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.Scale(d, n, k, add);
            else RowPass<T, T, double, Simd1<T>>.Scale(d, n, k, add);
        }

        /// <summary>d = exp(x − m); returns Σ d in double.</summary>
        public static double ExpStore<T>(T* x, int n, T m, T* d, T* next = null)
            where T : unmanaged, IFloatingPointIeee754<T> =>
            FastMath.Has512 ? RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.ExpStore(x, n, m, d, next)
            : FastMath.Has256 ? RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.ExpStore(x, n, m, d, next)
            : RowPass<T, T, double, Simd1<T>>.ExpStore(x, n, m, d, next);
    }
}

/// <summary>The row passes on spans with an explicit vector width (512, 256 or 0 for scalar; it must be supported), so
/// that every width can be checked on one machine.</summary>
internal static unsafe class RowPasses
{
    /// <summary>max(x); −inf when empty.</summary>
    public static T Max<T>(ReadOnlySpan<T> x, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x)
        {
            return width switch
            {
                512 => RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.Max(px, x.Length),
                256 => RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.Max(px, x.Length),
                _ => RowPass<T, T, double, Simd1<T>>.Max(px, x.Length),
            };
        }
    }

    /// <summary>Σ exp(x − m) in double, prefetching <paramref name="next"/> (x's length).</summary>
    public static double SumExp<T>(ReadOnlySpan<T> x, T m, ReadOnlySpan<T> next, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x, pn = next)
        {
            return width switch
            {
                512 => RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.SumExp(px, x.Length, m, pn),
                256 => RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.SumExp(px, x.Length, m, pn),
                _ => RowPass<T, T, double, Simd1<T>>.SumExp(px, x.Length, m, pn),
            };
        }
    }

    /// <summary>d (+)= exp(x − m)·k + add.</summary>
    public static void ScaledExp<T>(ReadOnlySpan<T> x, T m, T k, T add, Span<T> d, bool accumulate, bool streaming, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x, pd = d)
        {
            if (width == 512) RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.ScaledExp(px, x.Length, m, k, add, pd, accumulate, streaming);
            else if (width == 256) RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.ScaledExp(px, x.Length, m, k, add, pd, accumulate, streaming);
            else RowPass<T, T, double, Simd1<T>>.ScaledExp(px, x.Length, m, k, add, pd, accumulate, streaming);
        }
    }

    /// <summary>d = d·k + add.</summary>
    public static void Scale<T>(Span<T> d, T k, T add, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* pd = d)
        {
            if (width == 512) RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.Scale(pd, d.Length, k, add);
            else if (width == 256) RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.Scale(pd, d.Length, k, add);
            else RowPass<T, T, double, Simd1<T>>.Scale(pd, d.Length, k, add);
        }
    }

    /// <summary>d = exp(x − m), returning Σ d in double; d may overlap x exactly.</summary>
    public static double ExpStore<T>(ReadOnlySpan<T> x, T m, Span<T> d, int width)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        fixed (T* px = x, pd = d)
        {
            return width switch
            {
                512 => RowPass<T, Vector512<T>, Vector512<double>, Simd512<T>>.ExpStore(px, x.Length, m, pd, null),
                256 => RowPass<T, Vector256<T>, Vector256<double>, Simd256<T>>.ExpStore(px, x.Length, m, pd, null),
                _ => RowPass<T, T, double, Simd1<T>>.ExpStore(px, x.Length, m, pd, null),
            };
        }
    }
}

/// <summary>One row pass written once for any vector type (see <see cref="ISimd{T, TV, TD}"/>): four vectors per step,
/// and a last vector that overlaps the previous ones (masked where it must not count twice). A row shorter than one
/// vector is one masked vector (padded with −inf under an exponential, whose exp is 0), so it gets the vector exp too. Sums add the four vectors in T and accumulate that in double lanes.</summary>
internal static unsafe class RowPass<T, TV, TD, TS>
    where T : unmanaged, IFloatingPointIeee754<T>
    where TV : struct
    where TD : struct
    where TS : ISimd<T, TV, TD>
{
    /// <summary>max(x[0..n)), −inf for n = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static T Max(T* x, int n)
    {
        int w = TS.Count;
        if (n == 0) return T.NegativeInfinity;
        if (n < w)
        {
            return TS.MaxAcross(TS.LoadFirst(x, n, T.NegativeInfinity));
        }

        TV a0 = TS.Load(x), a1 = a0, a2 = a0, a3 = a0;
        int i = Head(x, n);   // the first vector covers the elements before the aligned ones
        for (; i + (4 * w) <= n; i += 4 * w)
        {
            a0 = TS.Max(a0, TS.Load(x + i));
            a1 = TS.Max(a1, TS.Load(x + i + w));
            a2 = TS.Max(a2, TS.Load(x + i + (2 * w)));
            a3 = TS.Max(a3, TS.Load(x + i + (3 * w)));
        }

        for (; i + w <= n; i += w) a0 = TS.Max(a0, TS.Load(x + i));
        if (i < n) a1 = TS.Max(a1, TS.Load(x + n - w));
        return TS.MaxAcross(TS.Max(TS.Max(a0, a1), TS.Max(a2, a3)));
    }

    /// <summary>Σ exp(x − m) in double (float partials of four vectors widened); prefetches <paramref name="next"/>
    /// (a row of n elements, or null) along the way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double SumExp(T* x, int n, T m, T* next)
    {
        int w = TS.Count;
        TV mv = TS.Splat(m);
        if (n < w)
        {
            return TS.Total(TS.AddWidened(default, TS.ExpNonPositive(TS.Sub(TS.LoadFirst(x, n, T.NegativeInfinity), mv))));
        }

        TD s = default;
        int i = 0;   // not aligned: the grouping of the sum must not depend on the row's address
        for (; i + (4 * w) <= n; i += 4 * w)
        {
            if (next != null) Prefetch(next + i, 4 * w);
            TV e0 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv));
            TV e1 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + w), mv));
            TV e2 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (2 * w)), mv));
            TV e3 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (3 * w)), mv));
            s = TS.AddWidened(s, TS.Add(TS.Add(e0, e1), TS.Add(e2, e3)));
        }

        if (next != null) Prefetch(next + i, n - i);
        for (; i + w <= n; i += w) s = TS.AddWidened(s, TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)));
        if (i < n) s = TS.AddWidened(s, TS.And(TS.ExpNonPositive(TS.Sub(TS.Load(x + n - w), mv)), TS.LanesFrom(w - (n - i))));
        return TS.Total(s);
    }

    /// <summary>d = exp(x − m)·k + add, or d += … when <paramref name="accumulate"/>. With <paramref name="streaming"/>
    /// (overwrite only) the aligned part of d is written with non-temporal stores; the caller fences.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ScaledExp(T* x, int n, T m, T k, T add, T* d, bool accumulate, bool streaming)
    {
        int w = TS.Count;
        TV mv = TS.Splat(m), kv = TS.Splat(k), av = TS.Splat(add);
        if (n < w)
        {
            TV e = TS.ExpNonPositive(TS.Sub(TS.LoadFirst(x, n, T.NegativeInfinity), mv));
            TS.StoreFirst(d, n, accumulate ? TS.MulAdd(e, kv, TS.Add(TS.LoadFirst(d, n, T.Zero), av)) : TS.MulAdd(e, kv, av));
            return;
        }

        int i = 0;
        if (accumulate)
        {
            // Every element as d + add + e·k (one rounding order wherever the element falls), so the result does not
            // depend on the row's address.
            i = Head(x, n);
            if (i > 0)
            {
                TV old = TS.Load(d);
                TS.Store(d, TS.Select(TS.LanesFrom(i), old, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x), mv)), kv, TS.Add(old, av))));
            }

            for (; i + (4 * w) <= n; i += 4 * w)
            {
                TS.Store(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, TS.Add(TS.Load(d + i), av)));
                TS.Store(d + i + w, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + w), mv)), kv, TS.Add(TS.Load(d + i + w), av)));
                TS.Store(d + i + (2 * w), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (2 * w)), mv)), kv, TS.Add(TS.Load(d + i + (2 * w)), av)));
                TS.Store(d + i + (3 * w), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (3 * w)), mv)), kv, TS.Add(TS.Load(d + i + (3 * w)), av)));
            }

            for (; i + w <= n; i += w) TS.Store(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, TS.Add(TS.Load(d + i), av)));
            if (i < n)
            {
                T* last = d + n - w;
                TV old = TS.Load(last);
                TS.Store(last, TS.Select(TS.LanesFrom(w - (n - i)), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + n - w), mv)), kv, TS.Add(old, av)), old));
            }

            return;
        }

        if (streaming && w > 1)
        {
            // One unaligned vector, then aligned streaming stores from the first aligned element (the overlap is
            // recomputed identically).
            TS.Store(d, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x), mv)), kv, av));
            i = (int)(((nuint)(-(nint)d) & (nuint)((w * sizeof(T)) - 1)) / (nuint)sizeof(T));
            for (; i + w <= n; i += w) TS.StoreNonTemporal(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, av));
        }
        else
        {
            i = Head(x, n);
            if (i > 0) TS.Store(d, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x), mv)), kv, av));
            for (; i + (4 * w) <= n; i += 4 * w)
            {
                TS.Store(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, av));
                TS.Store(d + i + w, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + w), mv)), kv, av));
                TS.Store(d + i + (2 * w), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (2 * w)), mv)), kv, av));
                TS.Store(d + i + (3 * w), TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (3 * w)), mv)), kv, av));
            }

            for (; i + w <= n; i += w) TS.Store(d + i, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv)), kv, av));
        }

        if (i < n) TS.Store(d + n - w, TS.MulAdd(TS.ExpNonPositive(TS.Sub(TS.Load(x + n - w), mv)), kv, av));
    }

    /// <summary>d = exp(x − m); returns Σ d in double. <paramref name="d"/> may be <paramref name="x"/>.
    /// Prefetches <paramref name="next"/> (a row of n elements, or null) along the way.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double ExpStore(T* x, int n, T m, T* d, T* next)
    {
        int w = TS.Count;
        TV mv = TS.Splat(m);
        if (n < w)
        {
            TV e = TS.ExpNonPositive(TS.Sub(TS.LoadFirst(x, n, T.NegativeInfinity), mv));
            TS.StoreFirst(d, n, e);
            return TS.Total(TS.AddWidened(default, e));
        }

        TD s = default;
        int i = 0;   // not aligned: the grouping of the sum must not depend on the row's address

        for (; i + (4 * w) <= n; i += 4 * w)
        {
            if (next != null) Prefetch(next + i, 4 * w);
            TV e0 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv));
            TV e1 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + w), mv));
            TV e2 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (2 * w)), mv));
            TV e3 = TS.ExpNonPositive(TS.Sub(TS.Load(x + i + (3 * w)), mv));
            TS.Store(d + i, e0);
            TS.Store(d + i + w, e1);
            TS.Store(d + i + (2 * w), e2);
            TS.Store(d + i + (3 * w), e3);
            s = TS.AddWidened(s, TS.Add(TS.Add(e0, e1), TS.Add(e2, e3)));
        }

        if (next != null) Prefetch(next + i, n - i);
        for (; i + w <= n; i += w)
        {
            TV e = TS.ExpNonPositive(TS.Sub(TS.Load(x + i), mv));
            TS.Store(d + i, e);
            s = TS.AddWidened(s, e);
        }

        if (i < n)
        {
            // d may be x: keep the lanes already written.
            TV mask = TS.LanesFrom(w - (n - i));
            TV e = TS.And(TS.ExpNonPositive(TS.Sub(TS.Load(x + n - w), mv)), mask);
            TS.Store(d + n - w, TS.Select(mask, e, TS.Load(d + n - w)));
            s = TS.AddWidened(s, e);
        }

        return TS.Total(s);
    }

    /// <summary>d = d·k + add in place.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Scale(T* d, int n, T k, T add)
    {
        int w = TS.Count;
        TV kv = TS.Splat(k), av = TS.Splat(add);
        if (n < w)
        {
            TS.StoreFirst(d, n, TS.MulAdd(TS.LoadFirst(d, n, T.Zero), kv, av));
            return;
        }

        int i = Head(d, n);
        if (i > 0)
        {
            TV first = TS.Load(d);
            TS.Store(d, TS.Select(TS.LanesFrom(i), first, TS.MulAdd(first, kv, av)));
        }

        for (; i + (4 * w) <= n; i += 4 * w)
        {
            TS.Store(d + i, TS.MulAdd(TS.Load(d + i), kv, av));
            TS.Store(d + i + w, TS.MulAdd(TS.Load(d + i + w), kv, av));
            TS.Store(d + i + (2 * w), TS.MulAdd(TS.Load(d + i + (2 * w)), kv, av));
            TS.Store(d + i + (3 * w), TS.MulAdd(TS.Load(d + i + (3 * w)), kv, av));
        }

        for (; i + w <= n; i += w) TS.Store(d + i, TS.MulAdd(TS.Load(d + i), kv, av));
        if (i < n)
        {
            TV old = TS.Load(d + n - w);
            TS.Store(d + n - w, TS.Select(TS.LanesFrom(w - (n - i)), TS.MulAdd(old, kv, av), old));
        }
    }

    /// <summary>The number of leading elements of x before the first vector-aligned one, when a row of n is long enough
    /// for the main loop to start there (unaligned vector loads that split cache lines cost about twice as much); the
    /// caller handles them with one masked unaligned vector. 0 otherwise.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Head(T* x, int n)
    {
        int w = TS.Count;
        if (w == 1 || n < 2 * w) return 0;
        return (int)(((nuint)(-(nint)x) & (nuint)((w * sizeof(T)) - 1)) / (nuint)sizeof(T));
    }

    /// <summary>Prefetches the cache lines of <paramref name="count"/> elements from <paramref name="p"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Prefetch(T* p, int count)
    {
        byte* b = (byte*)p, end = (byte*)(p + count);
        for (; b < end; b += 64) TS.Prefetch(b);
    }
}
