using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

/// <summary>The vector operations the row kernels are written in, for one vector type TV of T lanes and a vector TD of
/// double accumulators, so that one kernel body runs on 512-bit vectors (<see cref="Simd512{T}"/>), 256-bit vectors
/// (<see cref="Simd256{T}"/>) or scalars (<see cref="Simd1{T}"/>). Masks are vectors whose lanes are all ones or all
/// zeros; default(TD) is a zero accumulator.</summary>
internal unsafe interface ISimd<T, TV, TD>
    where T : unmanaged
    where TV : struct
    where TD : struct
{
    /// <summary>Lanes per vector.</summary>
    static abstract int Count { get; }

    static abstract TV Load(T* p);

    /// <summary>The first <paramref name="n"/> (less than <see cref="Count"/>) elements at p, then <paramref name="pad"/>;
    /// reads no element past the n-th (a masked load).</summary>
    static abstract TV LoadFirst(T* p, int n, T pad);

    /// <summary>Stores the first <paramref name="n"/> (less than <see cref="Count"/>) lanes of v at p and nothing else.</summary>
    static abstract void StoreFirst(T* p, int n, TV v);

    static abstract void Store(T* p, TV v);

    /// <summary>A store that bypasses the caches; <paramref name="p"/> is aligned to the vector size.</summary>
    static abstract void StoreNonTemporal(T* p, TV v);

    static abstract TV Splat(T x);

    static abstract TV Add(TV a, TV b);

    static abstract TV Sub(TV a, TV b);

    static abstract TV Mul(TV a, TV b);

    /// <summary>a·b + c with one rounding.</summary>
    static abstract TV MulAdd(TV a, TV b, TV c);

    /// <summary>The larger lane (no NaN guarantee: the kernels detect NaN from the sum of exponentials).</summary>
    static abstract TV Max(TV a, TV b);

    static abstract TV Exp(TV x);

    /// <summary>exp of lanes that are ≤ 0 or NaN (x − max(x)): cheaper where the width has a variant for it.</summary>
    static abstract TV ExpNonPositive(TV x);

    /// <summary>The largest lane.</summary>
    static abstract T MaxAcross(TV v);

    /// <summary>acc + the lanes of v widened to double (a float vector adds into two halves' worth of lanes).</summary>
    static abstract TD AddWidened(TD acc, TV v);

    /// <summary>The sum of the accumulator's lanes.</summary>
    static abstract double Total(TD acc);

    /// <summary>The mask of the lanes at index ≥ <paramref name="skip"/>.</summary>
    static abstract TV LanesFrom(int skip);

    /// <summary>Lanes of v where the mask is set, else 0.</summary>
    static abstract TV And(TV v, TV mask);

    /// <summary>Lanes of a where the mask is set, else lanes of b.</summary>
    static abstract TV Select(TV mask, TV a, TV b);

    /// <summary>Fetches the cache line at <paramref name="p"/> into all cache levels.</summary>
    static abstract void Prefetch(void* p);
}
