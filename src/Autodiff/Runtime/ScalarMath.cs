using System.Numerics;

namespace Autodiff;

/// <summary>Scalar functions that .NET's generic math computes inaccurately: <c>T.LogP1(x)</c> and <c>T.ExpM1(x)</c> are
/// evaluated as log(1 + x) and exp(x) − 1, which lose all relative accuracy for tiny x (softplus(−40) came out as 0).</summary>
internal static class ScalarMath
{
    /// <summary>log(1 + x), accurate near 0 (Kahan): with u = 1 ⊕ x, log(u)·x/(u − 1) corrects the rounding of u.</summary>
    public static T Log1p<T>(T x) where T : IFloatingPointIeee754<T>
    {
        T u = T.One + x;
        if (u == T.One) return x;
        if (T.IsInfinity(u)) return u;
        return T.Log(u) * (x / (u - T.One));
    }

    /// <summary>e^x − 1, accurate near 0 (Kahan): with u = e^x, (u − 1)·x/log(u).</summary>
    public static T Expm1<T>(T x) where T : IFloatingPointIeee754<T>
    {
        T u = T.Exp(x);
        if (u == T.One) return x;
        T um1 = u - T.One;
        if (um1 == -T.One || T.IsInfinity(u)) return um1;
        return um1 * (x / T.Log(u));
    }

    /// <summary>log(1 − e^x) for x ≤ 0, accurate to a few ulps (Mächler 2012): log(−expm1(x)) for x &gt; −log 2, where
    /// 1 − e^x cancels, and log1p(−e^x) below, where e^x is small. 0 gives −inf, −inf gives 0, x &gt; 0 NaN.</summary>
    public static T Log1mexp<T>(T x) where T : IFloatingPointIeee754<T> =>
        x > -T.CreateTruncating(0.69314718055994530942) ? T.Log(-Expm1(x)) : Log1p(-T.Exp(x));

    /// <summary>log(e^a − e^b) as a + log1mexp(b − a): b = −inf gives a, a = b gives −inf, b &gt; a NaN.</summary>
    public static T LogDiffExp<T>(T a, T b) where T : IFloatingPointIeee754<T> =>
        T.IsNegativeInfinity(b) ? a : a == b && !T.IsPositiveInfinity(a) ? T.NegativeInfinity : a + Log1mexp(b - a);
}
