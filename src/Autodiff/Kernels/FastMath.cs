using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Autodiff.Kernels;

/// <summary>
/// Vectorized natural exponential and logarithm for float and double, within 1 ulp of the correctly rounded result on
/// the vector paths (the tests allow 2 ulp against <see cref="Math.Exp"/> and <see cref="Math.Log(double)"/>).
/// </summary>
/// <remarks>
/// <para>exp on 512-bit vectors: x = (16n + j)·ln2/16 + r with |r| ≤ ln2/32 (two-part ln 2, fused multiply-adds),
/// e^x = 2^n·2^(j/16)·e^r with 2^(j/16) from a 16-entry table in registers and e^r − 1 a polynomial (degree 3 for float,
/// 7 for double); 2^n goes into the exponent field with integer operations when every lane's result is normal, else the
/// vector is recomputed with the input clamped and scaled by <c>vscalef</c>. On 256-bit vectors: Cody-Waite reduction
/// with |r| ≤ ln2/2, Cephes' degree-6 polynomial for float (degree 12 for double) and 2^n applied in two steps. Both round
/// subnormal results once; −inf and every x whose exp rounds to 0 give +0, every x whose exp overflows (and +inf) gives
/// +inf, and NaN stays NaN.</para>
/// <para>log: x = m·2^e with m in [√½, √2) (AVX-512 <c>vgetexp</c>/<c>vgetmant</c>, which also normalize subnormals,
/// or bit manipulation after scaling subnormals up on 256-bit vectors), then Cephes' polynomial in m − 1 for float and
/// fdlibm's series in s = f/(2 + f) for double. log(±0) = −inf, log(+inf) = +inf, log of a negative number or NaN is NaN.</para>
/// <para>The span functions use 512-bit vectors when AVX-512F is available, else 256-bit vectors with AVX2 and FMA, else
/// <see cref="Math"/> element by element. A tail shorter than a vector goes through the same vector code (via a padded
/// stack buffer), so every element of a span is computed the same way.</para>
/// </remarks>
internal static class FastMath
{
    // ---- float exp: Cephes expf.
    private const float ExpHiF = 89f;            // n = 128: 2^128·p overflows to +inf for every p ≥ ½
    private const float ExpLoF = -104f;          // exp(−104) < 2^-150: rounds to 0
    private const float Log2EF = 1.44269504088896341f;
    private const float Ln2HiF = 0.693359375f;
    private const float Ln2LoF = -2.12194440e-4f;
    private const float ShiftF = 12582912f;      // 1.5·2^23: adding it rounds to an integer held in the low mantissa bits
    private const float E0 = 1.9875691500e-4f, E1 = 1.3981999507e-3f, E2 = 8.3334519073e-3f, E3 = 4.1665795894e-2f, E4 = 1.6666665459e-1f, E5 = 5.0000001201e-1f;

    // ---- double exp.
    private const double ExpHiD = 710;           // n = 1024: overflows
    private const double ExpLoD = -746;          // exp(−746) < 2^-1075: rounds to 0
    private const double Log2ED = 1.4426950408889634;
    private const double Ln2HiD = 0.693147180559662956511601805686950683593750;
    private const double Ln2LoD = 0.282352905630315771225884481750134360255254120680e-12;
    private const double ShiftD = 6755399441055744.0; // 1.5·2^52
    // 1.5·2^19 and 1.5·2^48: adding one to x·log2(e) rounds to a multiple of 1/16, i.e. t = k/16 (k = 16n + j) with k in
    // the low mantissa bits; the 512-bit exp uses k/16 directly for the reduction and for vscalef (floor(k/16) = n).
    private const float Shift16F = 786432f;
    private const double Shift16D = 422212465065984.0;

    // Taylor coefficients 1/k! for k = 2..12 refined as a minimax fit on [−ln2/2, ln2/2] (SLEEF's xexp).
    private const double D2 = 0.5, D3 = 0.166666666666666851703837, D4 = 0.0416666666666665047591422, D5 = 0.00833333333331652721664984,
        D6 = 0.00138888888889774492207962, D7 = 0.000198412698960509205564975, D8 = 2.4801587159235472998791e-05,
        D9 = 2.75572362911928827629423e-06, D10 = 2.75573911234900471893338e-07, D11 = 2.51112930892876518610661e-08,
        D12 = 2.08860621107283687536341e-09;

    // ---- float log: Cephes logf.
    private const float SqrtHalfF = 0.707106781186547524f;
    private const float L0 = 7.0376836292e-2f, L1 = -1.1514610310e-1f, L2 = 1.1676998740e-1f, L3 = -1.2420140846e-1f, L4 = 1.4249322787e-1f,
        L5 = -1.6668057665e-1f, L6 = 2.0000714765e-1f, L7 = -2.4999993993e-1f, L8 = 3.3333331174e-1f;

    // ---- double log: fdlibm e_log.c.
    private const double SqrtHalfD = 0.70710678118654752440;
    private const double Ln2HiLog = 6.93147180369123816490e-01, Ln2LoLog = 1.90821492927058770002e-10;
    private const double Lg1 = 6.666666666666735130e-01, Lg2 = 3.999999999940941908e-01, Lg3 = 2.857142874366239149e-01,
        Lg4 = 2.222219843214978396e-01, Lg5 = 1.818357216161805012e-01, Lg6 = 1.531383769920937332e-01, Lg7 = 1.479819860511658591e-01;

    /// <summary>True when the 512-bit kernels can run (AVX-512F).</summary>
    internal static bool Has512 => Avx512F.IsSupported;

    /// <summary>True when the 256-bit kernels can run (AVX2 and FMA).</summary>
    internal static bool Has256 => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>The widest vector width in bits the kernels use on this machine: 512, 256 or 0 (scalar).</summary>
    public static int VectorWidth => Has512 ? 512 : Has256 ? 256 : 0;

    /// <summary>y[i] = exp(x[i]). <paramref name="y"/> may be the same span as <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException">The spans have different lengths.</exception>
    public static void Exp(ReadOnlySpan<float> x, Span<float> y) => Exp(x, y, VectorWidth);

    /// <summary>y[i] = exp(x[i]). <paramref name="y"/> may be the same span as <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException">The spans have different lengths.</exception>
    public static void Exp(ReadOnlySpan<double> x, Span<double> y) => Exp(x, y, VectorWidth);

    /// <summary>y[i] = log(x[i]) (natural logarithm). <paramref name="y"/> may be the same span as <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException">The spans have different lengths.</exception>
    public static void Log(ReadOnlySpan<float> x, Span<float> y) => Log(x, y, VectorWidth);

    /// <summary>y[i] = log(x[i]) (natural logarithm). <paramref name="y"/> may be the same span as <paramref name="x"/>.</summary>
    /// <exception cref="ArgumentException">The spans have different lengths.</exception>
    public static void Log(ReadOnlySpan<double> x, Span<double> y) => Log(x, y, VectorWidth);

    /// <summary>y = exp(x) for a float or double span.</summary>
    internal static void Exp<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Exp(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else Exp(MemoryMarshal.Cast<T, double>(x), MemoryMarshal.Cast<T, double>(y));
    }

    /// <summary>y = log(x) for a float or double span.</summary>
    internal static void Log<T>(ReadOnlySpan<T> x, Span<T> y)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float)) Log(MemoryMarshal.Cast<T, float>(x), MemoryMarshal.Cast<T, float>(y));
        else Log(MemoryMarshal.Cast<T, double>(x), MemoryMarshal.Cast<T, double>(y));
    }

    private enum Fn
    {
        Exp,
        Log,
    }

    /// <summary>exp with a given vector width (512, 256 or 0 for scalar); the width must be supported.</summary>
    internal static void Exp(ReadOnlySpan<float> x, Span<float> y, int width) => Map(x, y, width, Fn.Exp);

    /// <summary>exp with a given vector width (512, 256 or 0 for scalar); the width must be supported.</summary>
    internal static void Exp(ReadOnlySpan<double> x, Span<double> y, int width) => Map(x, y, width, Fn.Exp);

    /// <summary>log with a given vector width (512, 256 or 0 for scalar); the width must be supported.</summary>
    internal static void Log(ReadOnlySpan<float> x, Span<float> y, int width) => Map(x, y, width, Fn.Log);

    /// <summary>log with a given vector width (512, 256 or 0 for scalar); the width must be supported.</summary>
    internal static void Log(ReadOnlySpan<double> x, Span<double> y, int width) => Map(x, y, width, Fn.Log);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Map<T>(ReadOnlySpan<T> x, Span<T> y, int width, Fn fn)
        where T : unmanaged
    {
        if (x.Length != y.Length) throw new ArgumentException($"spans of length {x.Length} and {y.Length} differ");
        if ((width == 512 && !Has512) || (width == 256 && !Has256) || width is not (0 or 256 or 512))
            throw new ArgumentOutOfRangeException(nameof(width), $"vector width {width} is not supported on this machine");
        int n = x.Length;
        if (width == 0)
        {
            for (int i = 0; i < n; i++) y[i] = Scalar(x[i], fn);
            return;
        }

        int lanes = width / 8 / sizeof(T);
        fixed (T* px = x, py = y)
        {
            int i = 0;
            for (; i + lanes <= n; i += lanes) Apply(px + i, py + i, width, fn);
            if (i < n)
            {
                T* buf = stackalloc T[lanes];
                for (int j = 0; j < lanes; j++) buf[j] = i + j < n ? px[i + j] : default;
                Apply(buf, buf, width, fn);
                for (int j = i; j < n; j++) py[j] = buf[j - i];
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe void Apply<T>(T* src, T* dst, int width, Fn fn)
        where T : unmanaged
    {
        if (width == 512)
        {
            var v = Vector512.Load(src);
            (fn == Fn.Exp ? Exp(v) : Log(v)).Store(dst);
        }
        else
        {
            var v = Vector256.Load(src);
            (fn == Fn.Exp ? Exp(v) : Log(v)).Store(dst);
        }
    }

    private static T Scalar<T>(T x, Fn fn)
        where T : unmanaged
    {
        if (typeof(T) == typeof(float))
        {
            float f = (float)(object)x;
            return (T)(object)(fn == Fn.Exp ? MathF.Exp(f) : MathF.Log(f));
        }

        double d = (double)(object)x;
        return (T)(object)(fn == Fn.Exp ? Math.Exp(d) : Math.Log(d));
    }

    // ------------------------------------------------------------------ generic dispatch

    /// <summary>exp of each lane of a float or double vector (AVX-512F).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Exp<T>(Vector512<T> x)
        where T : unmanaged =>
        typeof(T) == typeof(float) ? Exp(x.AsSingle()).As<float, T>() : Exp(x.AsDouble()).As<double, T>();

    /// <summary>exp of each lane of a float or double vector (AVX2 and FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<T> Exp<T>(Vector256<T> x)
        where T : unmanaged =>
        typeof(T) == typeof(float) ? Exp(x.AsSingle()).As<float, T>() : Exp(x.AsDouble()).As<double, T>();

    /// <summary>log of each lane of a float or double vector (AVX-512F).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<T> Log<T>(Vector512<T> x)
        where T : unmanaged =>
        typeof(T) == typeof(float) ? Log(x.AsSingle()).As<float, T>() : Log(x.AsDouble()).As<double, T>();

    /// <summary>log of each lane of a float or double vector (AVX2 and FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<T> Log<T>(Vector256<T> x)
        where T : unmanaged =>
        typeof(T) == typeof(float) ? Log(x.AsSingle()).As<float, T>() : Log(x.AsDouble()).As<double, T>();

    // ------------------------------------------------------------------ exp

    /// <summary>2^(j/16), j = 0..15, correctly rounded to float, for the 512-bit exp. Written as literals (not a static
    /// readonly field) so the JIT embeds the vector instead of reading a static that may not be initialized yet.</summary>
    private static Vector512<float> Pow2Sixteenths
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(
            1.0f, 1.0442737340927124f, 1.0905077457427979f, 1.1387885808944702f, 1.1892070770263672f, 1.2418577671051025f, 1.2968395948410034f, 1.3542555570602417f,
            1.4142135381698608f, 1.4768261909484863f, 1.5422108173370361f, 1.610490322113037f, 1.6817928552627563f, 1.7562521696090698f, 1.8340080976486206f, 1.9152065515518188f);
    }

    /// <summary>2^(j/16), j = 0..7, correctly rounded to double.</summary>
    private static Vector512<double> Pow2SixteenthsLo
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(1.0, 1.0442737824274138, 1.0905077326652577, 1.1387886347566916, 1.189207115002721, 1.241857812073484, 1.2968395546510096, 1.3542555469368927);
    }

    /// <summary>2^(j/16), j = 8..15, correctly rounded to double.</summary>
    private static Vector512<double> Pow2SixteenthsHi
    {
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        get => Vector512.Create(1.4142135623730951, 1.4768261459394993, 1.5422108254079407, 1.6104903319492543, 1.681792830507429, 1.7562521603732995, 1.8340080864093424, 1.9152065613971474);
    }

    /// <summary>exp of 16 floats (AVX-512F): x = (16n + j)·ln2/16 + r with |r| ≤ ln2/32, e^x = 2^n · 2^(j/16) · e^r with
    /// 2^(j/16) from a one-register table (<c>vpermps</c>) and e^r − 1 a degree-3 polynomial. When every lane's result is
    /// a normal number, 2^n is added to the exponent field with integer operations; otherwise the vector takes
    /// <see cref="ExpScaled(Vector512{float})"/>, which clamps x and scales with <c>vscalef</c> (subnormals, 0, +inf, NaN).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Exp(Vector512<float> x)
    {
        var t = Avx512F.FusedMultiplyAdd(x, Vector512.Create(Log2EF), Vector512.Create(Shift16F));
        var k = t.AsInt32() - Vector512.Create(Shift16F).AsInt32();          // 16n + j (garbage for NaN and huge x)
        if (!Vector512.LessThanOrEqualAll((k + Vector512.Create(125 * 16)).AsUInt32(), Vector512.Create(250u * 16)))
        {
            return ExpScaled(x);
        }

        var v = ExpCore(x, t);
        return (v.AsInt32() + Avx512F.ShiftLeftLogical(Avx512F.ShiftRightArithmetic(k, 4), 23)).AsSingle();
    }

    /// <summary>2^(j/16)·e^r for x = (16n + j)·ln2/16 + r, given t = x·log2(e) + 1.5·2^19 (whose low mantissa bits hold
    /// 16n + j, and t − 1.5·2^19 = n + j/16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpCore(Vector512<float> x, Vector512<float> t)
    {
        var kq = t - Vector512.Create(Shift16F);
        var r = Avx512F.FusedMultiplyAddNegated(kq, Vector512.Create(Ln2HiF), x);
        r = Avx512F.FusedMultiplyAddNegated(kq, Vector512.Create(Ln2LoF), r);
        var p = Avx512F.FusedMultiplyAdd(r, Vector512.Create(1f / 6), Vector512.Create(0.5f));
        p = Avx512F.FusedMultiplyAdd(p, r * r, r);                             // e^r − 1
        var table = Avx512F.PermuteVar16x32(Pow2Sixteenths, t.AsInt32());     // low 4 bits of t's mantissa: j
        return Avx512F.FusedMultiplyAdd(table, p, table);
    }

    /// <summary>The full-range exp of 16 floats: x clamped so that −inf and deep underflow give 0 and overflow gives +inf
    /// (NaN passes through), then 2^n applied with <c>vscalef</c>, which rounds subnormal results once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpScaled(Vector512<float> x) =>
        ExpClamped(Avx512F.Min(Vector512.Create(ExpHiF), Avx512F.Max(Vector512.Create(ExpLoF), x)));

    /// <summary>exp of lanes that are ≤ 0 or NaN, as x − max(x) is in a softmax row: the full-range path without the
    /// upper clamp and without a test, so each vector costs fewer instructions than <see cref="Exp(Vector512{float})"/>;
    /// the same bits as it for every such lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> ExpNonPositive(Vector512<float> x) => ExpClamped(Avx512F.Max(Vector512.Create(ExpLoF), x));

    /// <summary>exp of 16 floats in [ExpLoF, ExpHiF] or NaN (max/min return their second operand when either is NaN, so
    /// NaN passes through the callers' clamps).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpClamped(Vector512<float> x)
    {
        var t = Avx512F.FusedMultiplyAdd(x, Vector512.Create(Log2EF), Vector512.Create(Shift16F));
        return Avx512F.Scale(ExpCore(x, t), t - Vector512.Create(Shift16F));   // scalef uses floor(n + j/16) = n
    }

    /// <summary>exp of 8 doubles (AVX-512F): as the float version with the 16-entry table in two registers
    /// (<c>vpermt2pd</c>) and a degree-7 polynomial for e^r − 1.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<double> Exp(Vector512<double> x)
    {
        var t = Avx512F.FusedMultiplyAdd(x, Vector512.Create(Log2ED), Vector512.Create(Shift16D));
        var k = t.AsInt64() - Vector512.Create(Shift16D).AsInt64();
        if (!Vector512.LessThanOrEqualAll((k + Vector512.Create(1021L * 16)).AsUInt64(), Vector512.Create(2042UL * 16)))
        {
            return ExpScaled(x);
        }

        var v = ExpCore(x, t);
        return (v.AsInt64() + Avx512F.ShiftLeftLogical(Avx512F.ShiftRightArithmetic(k, 4), 52)).AsDouble();
    }

    /// <summary>The full-range exp of 8 doubles (see <see cref="ExpScaled(Vector512{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> ExpScaled(Vector512<double> x) =>
        ExpClamped(Avx512F.Min(Vector512.Create(ExpHiD), Avx512F.Max(Vector512.Create(ExpLoD), x)));

    /// <summary>exp of lanes that are ≤ 0 or NaN (see <see cref="ExpNonPositive(Vector512{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<double> ExpNonPositive(Vector512<double> x) => ExpClamped(Avx512F.Max(Vector512.Create(ExpLoD), x));

    /// <summary>exp of 8 doubles in [ExpLoD, ExpHiD] or NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> ExpClamped(Vector512<double> x)
    {
        var t = Avx512F.FusedMultiplyAdd(x, Vector512.Create(Log2ED), Vector512.Create(Shift16D));
        return Avx512F.Scale(ExpCore(x, t), t - Vector512.Create(Shift16D));
    }

    /// <summary>2^(j/16)·e^r for x = (16n + j)·ln2/16 + r, given t = x·log2(e) + 1.5·2^48 (t − 1.5·2^48 = n + j/16).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<double> ExpCore(Vector512<double> x, Vector512<double> t)
    {
        var kq = t - Vector512.Create(Shift16D);
        var r = Avx512F.FusedMultiplyAddNegated(kq, Vector512.Create(Ln2HiD), x);
        r = Avx512F.FusedMultiplyAddNegated(kq, Vector512.Create(Ln2LoD), r);
        var q = Avx512F.FusedMultiplyAdd(Vector512.Create(1.0 / 5040), r, Vector512.Create(1.0 / 720));
        q = Avx512F.FusedMultiplyAdd(q, r, Vector512.Create(1.0 / 120));
        q = Avx512F.FusedMultiplyAdd(q, r, Vector512.Create(1.0 / 24));
        q = Avx512F.FusedMultiplyAdd(q, r, Vector512.Create(1.0 / 6));
        q = Avx512F.FusedMultiplyAdd(q, r, Vector512.Create(0.5));
        var p = Avx512F.FusedMultiplyAdd(q, r * r, r);
        var table = Avx512F.PermuteVar8x64x2(Pow2SixteenthsLo, t.AsInt64(), Pow2SixteenthsHi);
        return Avx512F.FusedMultiplyAdd(table, p, table);
    }

    /// <summary>exp of 8 floats (AVX2, FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        x = Avx.Min(Vector256.Create(ExpHiF), Avx.Max(Vector256.Create(ExpLoF), x));
        var t = Fma.MultiplyAdd(x, Vector256.Create(Log2EF), Vector256.Create(ShiftF));
        var n = t - Vector256.Create(ShiftF);
        var r = Fma.MultiplyAddNegated(n, Vector256.Create(Ln2HiF), x);
        r = Fma.MultiplyAddNegated(n, Vector256.Create(Ln2LoF), r);
        var p = Fma.MultiplyAdd(Vector256.Create(E0), r, Vector256.Create(E1));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(E2));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(E3));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(E4));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(E5));
        p = Fma.MultiplyAdd(p, r * r, r) + Vector256<float>.One;

        // 2^n in two steps (each power normal), so a subnormal result is rounded only by the last multiplication.
        var k = t.AsInt32() - Vector256.Create(ShiftF).AsInt32();
        var k1 = Avx2.ShiftRightArithmetic(k, 1);
        var k2 = k - k1;
        var s1 = Avx2.ShiftLeftLogical(k1 + Vector256.Create(127), 23).AsSingle();
        var s2 = Avx2.ShiftLeftLogical(k2 + Vector256.Create(127), 23).AsSingle();
        return p * s1 * s2;
    }

    /// <summary>exp of 4 doubles (AVX2, FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<double> Exp(Vector256<double> x)
    {
        x = Avx.Min(Vector256.Create(ExpHiD), Avx.Max(Vector256.Create(ExpLoD), x));
        var t = Fma.MultiplyAdd(x, Vector256.Create(Log2ED), Vector256.Create(ShiftD));
        var n = t - Vector256.Create(ShiftD);
        var r = Fma.MultiplyAddNegated(n, Vector256.Create(Ln2HiD), x);
        r = Fma.MultiplyAddNegated(n, Vector256.Create(Ln2LoD), r);
        var p = PolyExp(r);
        var k = t.AsInt64() - Vector256.Create(ShiftD).AsInt64();
        var k1 = Avx2.ShiftRightLogical(k + Vector256.Create(1L << 20), 1) - Vector256.Create(1L << 19);   // floor(k / 2)
        var k2 = k - k1;
        var s1 = Avx2.ShiftLeftLogical(k1 + Vector256.Create(1023L), 52).AsDouble();
        var s2 = Avx2.ShiftLeftLogical(k2 + Vector256.Create(1023L), 52).AsDouble();
        return p * s1 * s2;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> PolyExp(Vector256<double> r)
    {
        var r2 = r * r;
        var hi = Fma.MultiplyAdd(Vector256.Create(D12), r2, Vector256.Create(D10));
        var lo = Fma.MultiplyAdd(Vector256.Create(D11), r2, Vector256.Create(D9));
        hi = Fma.MultiplyAdd(hi, r2, Vector256.Create(D8));
        lo = Fma.MultiplyAdd(lo, r2, Vector256.Create(D7));
        hi = Fma.MultiplyAdd(hi, r2, Vector256.Create(D6));
        lo = Fma.MultiplyAdd(lo, r2, Vector256.Create(D5));
        hi = Fma.MultiplyAdd(hi, r2, Vector256.Create(D4));
        lo = Fma.MultiplyAdd(lo, r2, Vector256.Create(D3));
        hi = Fma.MultiplyAdd(hi, r2, Vector256.Create(D2));
        var p = Fma.MultiplyAdd(lo, r, hi);
        return Fma.MultiplyAdd(p, r2, r) + Vector256<double>.One;
    }

    // ------------------------------------------------------------------ log

    /// <summary>log of 16 floats (AVX-512F).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<float> Log(Vector512<float> x)
    {
        var m = Avx512F.GetMantissa(x, 0x00);           // [1, 2), subnormals normalized
        var e = Avx512F.GetExponent(x);
        var big = Vector512.GreaterThan(m, Vector512.Create(1f / SqrtHalfF));
        m = Vector512.ConditionalSelect(big, m * Vector512.Create(0.5f), m);
        e += big.AsSingle() & Vector512<float>.One;
        var f = m - Vector512<float>.One;
        var r = LogPoly(f, e);
        return LogSpecial(x, r);
    }

    /// <summary>log of 8 floats (AVX2, FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Log(Vector256<float> x)
    {
        var tiny = Vector256.LessThan(x, Vector256.Create(1.17549435e-38f));
        var xs = Vector256.ConditionalSelect(tiny, x * Vector256.Create(8388608f), x);     // subnormals ·2^23
        var bits = xs.AsInt32();
        var e = Avx.ConvertToVector256Single(Avx2.ShiftRightLogical(bits, 23) - Vector256.Create(127))
            - (tiny.AsSingle() & Vector256.Create(23f));
        var m = ((bits & Vector256.Create(0x007FFFFF)) | Vector256.Create(0x3F800000)).AsSingle();
        var big = Vector256.GreaterThan(m, Vector256.Create(1f / SqrtHalfF));
        m = Vector256.ConditionalSelect(big, m * Vector256.Create(0.5f), m);
        e += big & Vector256<float>.One;
        var f = m - Vector256<float>.One;
        var r = LogPoly(f, e);
        return LogSpecial(x, r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> LogPoly(Vector512<float> f, Vector512<float> e)
    {
        var z = f * f;
        var y = Avx512F.FusedMultiplyAdd(Vector512.Create(L0), f, Vector512.Create(L1));
        y = Avx512F.FusedMultiplyAdd(y, f, Vector512.Create(L2));
        y = Avx512F.FusedMultiplyAdd(y, f, Vector512.Create(L3));
        y = Avx512F.FusedMultiplyAdd(y, f, Vector512.Create(L4));
        y = Avx512F.FusedMultiplyAdd(y, f, Vector512.Create(L5));
        y = Avx512F.FusedMultiplyAdd(y, f, Vector512.Create(L6));
        y = Avx512F.FusedMultiplyAdd(y, f, Vector512.Create(L7));
        y = Avx512F.FusedMultiplyAdd(y, f, Vector512.Create(L8));
        y = y * f * z;
        y = Avx512F.FusedMultiplyAdd(e, Vector512.Create(Ln2LoF), y);
        y = Avx512F.FusedMultiplyAdd(z, Vector512.Create(-0.5f), y);
        return Avx512F.FusedMultiplyAdd(e, Vector512.Create(Ln2HiF), f + y);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> LogPoly(Vector256<float> f, Vector256<float> e)
    {
        var z = f * f;
        var y = Fma.MultiplyAdd(Vector256.Create(L0), f, Vector256.Create(L1));
        y = Fma.MultiplyAdd(y, f, Vector256.Create(L2));
        y = Fma.MultiplyAdd(y, f, Vector256.Create(L3));
        y = Fma.MultiplyAdd(y, f, Vector256.Create(L4));
        y = Fma.MultiplyAdd(y, f, Vector256.Create(L5));
        y = Fma.MultiplyAdd(y, f, Vector256.Create(L6));
        y = Fma.MultiplyAdd(y, f, Vector256.Create(L7));
        y = Fma.MultiplyAdd(y, f, Vector256.Create(L8));
        y = y * f * z;
        y = Fma.MultiplyAdd(e, Vector256.Create(Ln2LoF), y);
        y = Fma.MultiplyAdd(z, Vector256.Create(-0.5f), y);
        return Fma.MultiplyAdd(e, Vector256.Create(Ln2HiF), f + y);
    }

    /// <summary>log of 8 doubles (AVX-512F).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector512<double> Log(Vector512<double> x)
    {
        var m = Avx512F.GetMantissa(x, 0x00);
        var e = Avx512F.GetExponent(x);
        var big = Vector512.GreaterThan(m, Vector512.Create(1 / SqrtHalfD));
        m = Vector512.ConditionalSelect(big, m * Vector512.Create(0.5), m);
        e += big.AsDouble() & Vector512<double>.One;
        var f = m - Vector512<double>.One;
        var s = f / (Vector512.Create(2.0) + f);
        var z = s * s;
        var w = z * z;
        var t1 = w * Avx512F.FusedMultiplyAdd(Avx512F.FusedMultiplyAdd(Vector512.Create(Lg6), w, Vector512.Create(Lg4)), w, Vector512.Create(Lg2));
        var t2 = z * Avx512F.FusedMultiplyAdd(Avx512F.FusedMultiplyAdd(Avx512F.FusedMultiplyAdd(Vector512.Create(Lg7), w, Vector512.Create(Lg5)), w, Vector512.Create(Lg3)), w, Vector512.Create(Lg1));
        var hfsq = Vector512.Create(0.5) * f * f;
        var inner = Avx512F.FusedMultiplyAdd(s, hfsq + t1 + t2, e * Vector512.Create(Ln2LoLog));
        var r = Avx512F.FusedMultiplyAdd(e, Vector512.Create(Ln2HiLog), f - (hfsq - inner));
        return LogSpecial(x, r);
    }

    /// <summary>log of 4 doubles (AVX2, FMA).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<double> Log(Vector256<double> x)
    {
        var tiny = Vector256.LessThan(x, Vector256.Create(2.2250738585072014e-308));
        var xs = Vector256.ConditionalSelect(tiny, x * Vector256.Create(18014398509481984.0), x);   // subnormals ·2^54
        var bits = xs.AsInt64();
        var ebits = Avx2.ShiftRightLogical(bits, 52) - Vector256.Create(1023L);
        var e = ToDouble(ebits) - (tiny.AsDouble() & Vector256.Create(54.0));
        var m = ((bits & Vector256.Create(0x000FFFFFFFFFFFFFL)) | Vector256.Create(0x3FF0000000000000L)).AsDouble();
        var big = Vector256.GreaterThan(m, Vector256.Create(1 / SqrtHalfD));
        m = Vector256.ConditionalSelect(big, m * Vector256.Create(0.5), m);
        e += big & Vector256<double>.One;
        var f = m - Vector256<double>.One;
        var s = f / (Vector256.Create(2.0) + f);
        var z = s * s;
        var w = z * z;
        var t1 = w * Fma.MultiplyAdd(Fma.MultiplyAdd(Vector256.Create(Lg6), w, Vector256.Create(Lg4)), w, Vector256.Create(Lg2));
        var t2 = z * Fma.MultiplyAdd(Fma.MultiplyAdd(Fma.MultiplyAdd(Vector256.Create(Lg7), w, Vector256.Create(Lg5)), w, Vector256.Create(Lg3)), w, Vector256.Create(Lg1));
        var hfsq = Vector256.Create(0.5) * f * f;
        var inner = Fma.MultiplyAdd(s, hfsq + t1 + t2, e * Vector256.Create(Ln2LoLog));
        var r = Fma.MultiplyAdd(e, Vector256.Create(Ln2HiLog), f - (hfsq - inner));
        return LogSpecial(x, r);
    }

    /// <summary>Small integers (|k| &lt; 2^31) held in 64-bit lanes, converted to double without AVX-512DQ:
    /// (k + 1.5·2^52) read as a double, minus 1.5·2^52.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<double> ToDouble(Vector256<long> k) =>
        (k + Vector256.Create(ShiftD).AsInt64()).AsDouble() - Vector256.Create(ShiftD);

    /// <summary>log(±0) = −inf, log(+inf) = +inf, log(x &lt; 0) = NaN, log(NaN) = NaN; other lanes keep <paramref name="r"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<T> LogSpecial<T>(Vector512<T> x, Vector512<T> r)
        where T : unmanaged
    {
        var zero = Vector512<T>.Zero;
        var inf = Vector512.Create(typeof(T) == typeof(float) ? (T)(object)float.PositiveInfinity : (T)(object)double.PositiveInfinity);
        r = Vector512.ConditionalSelect(Vector512.Equals(x, inf), inf, r);
        r = Vector512.ConditionalSelect(Vector512.Equals(x, zero), -inf, r);
        var bad = ~Vector512.GreaterThanOrEqual(x, zero);   // negative or NaN
        return Vector512.ConditionalSelect(bad, x - x + (inf - inf), r);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<T> LogSpecial<T>(Vector256<T> x, Vector256<T> r)
        where T : unmanaged
    {
        var zero = Vector256<T>.Zero;
        var inf = Vector256.Create(typeof(T) == typeof(float) ? (T)(object)float.PositiveInfinity : (T)(object)double.PositiveInfinity);
        r = Vector256.ConditionalSelect(Vector256.Equals(x, inf), inf, r);
        r = Vector256.ConditionalSelect(Vector256.Equals(x, zero), -inf, r);
        var bad = ~Vector256.GreaterThanOrEqual(x, zero);
        return Vector256.ConditionalSelect(bad, x - x + (inf - inf), r);
    }
}
