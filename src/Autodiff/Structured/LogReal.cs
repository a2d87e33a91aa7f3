using System.Globalization;
using System.Numerics;

namespace Autodiff.Structured;

/// <summary>A real number held as a sign and the logarithm of its magnitude (Li and Eisner's signed log-domain numbers), so
/// products and quotients of huge or tiny factors neither overflow nor underflow and negative values are allowed: the
/// log-domain trick extended from a semiring to a ring. Zero has log magnitude −inf; a NaN log magnitude is NaN.
/// <para>Multiplication adds logs; addition of equal signs is log-add-exp, max + log1p(e^−|a−b|); addition of opposite signs
/// is a + log1mexp(a − b) for a ≥ b with log1mexp(d) = log(1 − e^−d), computed as log(−expm1(−d)) for d &lt; ln 2 and
/// log1p(−e^−d) otherwise, so it is accurate to a few ulps of the log even when the operands nearly cancel; exact
/// cancellation gives <see cref="Zero"/>. log1p and expm1 are evaluated with Kahan's compensated forms, because the
/// runtime's <c>T.LogP1</c>/<c>T.ExpM1</c> compute log(1 + x) and exp(x) − 1 literally and lose all accuracy near 0.</para></summary>
/// <typeparam name="T">float or double (any IEEE 754 binary floating-point type).</typeparam>
public readonly struct LogReal<T> :
    IEquatable<LogReal<T>>, IComparable<LogReal<T>>, IComparable,
    IComparisonOperators<LogReal<T>, LogReal<T>, bool>,
    IAdditionOperators<LogReal<T>, LogReal<T>, LogReal<T>>, ISubtractionOperators<LogReal<T>, LogReal<T>, LogReal<T>>,
    IMultiplyOperators<LogReal<T>, LogReal<T>, LogReal<T>>, IDivisionOperators<LogReal<T>, LogReal<T>, LogReal<T>>,
    IUnaryNegationOperators<LogReal<T>, LogReal<T>>,
    IAdditiveIdentity<LogReal<T>, LogReal<T>>, IMultiplicativeIdentity<LogReal<T>, LogReal<T>>
    where T : IFloatingPointIeee754<T>
{
    private static readonly T Ln2 = T.Log(T.One + T.One);

    /// <summary>Significant digits <see cref="ToString"/> shows: a few fewer than T carries, since the log is rounded.</summary>
    private static readonly int Digits = (int)(-Math.Log10(double.CreateTruncating(T.One - T.BitDecrement(T.One)))) - 2;

    private LogReal(bool negative, T log)
    {
        IsNegative = negative && !T.IsNegativeInfinity(log) && !T.IsNaN(log);
        Log = log;
    }

    /// <summary>The number with the given sign and log magnitude: (−1)^negative · e^log.</summary>
    public static LogReal<T> FromLog(bool negative, T log) => new(negative, log);

    /// <summary>True if the number is below zero (never for zero or NaN).</summary>
    public bool IsNegative { get; }

    /// <summary>The natural logarithm of the magnitude, log |x|: −inf for zero.</summary>
    public T Log { get; }

    /// <summary>0 (log magnitude −inf).</summary>
    public static LogReal<T> Zero => new(false, T.NegativeInfinity);

    /// <summary>1 (log magnitude 0).</summary>
    public static LogReal<T> One => new(false, T.Zero);

    /// <summary>Not a number.</summary>
    public static LogReal<T> NaN => new(false, T.NaN);

    /// <inheritdoc/>
    public static LogReal<T> AdditiveIdentity => Zero;

    /// <inheritdoc/>
    public static LogReal<T> MultiplicativeIdentity => One;

    /// <summary>True for zero.</summary>
    public bool IsZero => T.IsNegativeInfinity(Log);

    /// <summary>True if the number is NaN.</summary>
    public bool IsNaN => T.IsNaN(Log);

    /// <summary>−1, 0 or 1 (0 for NaN as well).</summary>
    public int Sign => IsZero || IsNaN ? 0 : IsNegative ? -1 : 1;

    /// <summary>Converts a value (exact for 0, ±inf and NaN; otherwise rounded once, in the log).</summary>
    public static implicit operator LogReal<T>(T value) => new(T.IsNegative(value), T.Log(T.Abs(value)));

    /// <summary>Converts back: ±e^log, which overflows to ±inf or underflows to ±0 outside T's range.</summary>
    public static explicit operator T(LogReal<T> value)
    {
        var m = T.Exp(value.Log);
        return value.IsNegative ? -m : m;
    }

    /// <summary>Negation.</summary>
    public static LogReal<T> operator -(LogReal<T> a) => new(!a.IsNegative, a.Log);

    /// <summary>Product: the signs multiply and the logs add.</summary>
    public static LogReal<T> operator *(LogReal<T> a, LogReal<T> b) => new(a.IsNegative != b.IsNegative, a.Log + b.Log);

    /// <summary>Quotient: the signs multiply and the logs subtract (x/0 is ±inf, 0/0 NaN).</summary>
    public static LogReal<T> operator /(LogReal<T> a, LogReal<T> b) => new(a.IsNegative != b.IsNegative, a.Log - b.Log);

    /// <summary>Sum, stable for any magnitudes and signs (see the type's remarks); exact cancellation gives zero.</summary>
    public static LogReal<T> operator +(LogReal<T> a, LogReal<T> b)
    {
        if (a.IsNaN || b.IsNaN) return NaN;
        if (a.IsZero) return b;
        if (b.IsZero) return a;
        if (b.Log > a.Log) (a, b) = (b, a);   // now |a| ≥ |b|
        if (a.IsNegative == b.IsNegative)
            return a.Log == b.Log ? new(a.IsNegative, a.Log + Ln2) : new(a.IsNegative, a.Log + ScalarMath.Log1p(T.Exp(b.Log - a.Log)));
        if (a.Log == b.Log) return T.IsInfinity(a.Log) ? NaN : Zero;
        return new(a.IsNegative, a.Log + Log1mexp(a.Log - b.Log));
    }

    /// <summary>Difference: a + (−b).</summary>
    public static LogReal<T> operator -(LogReal<T> a, LogReal<T> b) => a + -b;

    /// <summary>log(1 − e^−d) for d &gt; 0.</summary>
    internal static T Log1mexp(T d) => d < Ln2 ? T.Log(-ScalarMath.Expm1(-d)) : ScalarMath.Log1p(-T.Exp(-d));

    /// <summary>The product of <paramref name="values"/> (1 when empty), without overflow or underflow: the signs multiply
    /// and the logs of the magnitudes add, with Neumaier's compensated summation, so the log is as accurate as T can hold it
    /// even for many thousands of factors.</summary>
    public static LogReal<T> Prod(ReadOnlySpan<T> values)
    {
        T sum = T.Zero, carry = T.Zero;
        bool negative = false;
        foreach (var v in values)
        {
            Neumaier(ref sum, ref carry, T.Log(T.Abs(v)));
            negative ^= T.IsNegative(v);
        }
        return new(negative, sum + carry);
    }

    /// <summary>The product of <paramref name="values"/> (1 when empty), the logs added as in <see cref="Prod(ReadOnlySpan{T})"/>.</summary>
    public static LogReal<T> Prod(ReadOnlySpan<LogReal<T>> values)
    {
        T sum = T.Zero, carry = T.Zero;
        bool negative = false;
        foreach (var v in values)
        {
            Neumaier(ref sum, ref carry, v.Log);
            negative ^= v.IsNegative;
        }
        return new(negative, sum + carry);
    }

    /// <summary>sum + carry += term, keeping in carry the low-order part that the rounding of sum loses.</summary>
    private static void Neumaier(ref T sum, ref T carry, T term)
    {
        T t = sum + term;
        if (T.IsFinite(t)) carry += T.Abs(sum) >= T.Abs(term) ? (sum - t) + term : (term - t) + sum;
        sum = t;
    }

    /// <summary>The sum of <paramref name="values"/> (0 when empty), which may lie far outside T's range: the positive and the
    /// negative terms are each summed scaled by their largest magnitude, then the two totals are combined once.</summary>
    public static LogReal<T> Sum(ReadOnlySpan<T> values)
    {
        T maxPos = T.Zero, maxNeg = T.Zero;
        foreach (var v in values)
        {
            if (T.IsNaN(v)) return NaN;
            if (T.IsNegative(v)) maxNeg = T.Max(maxNeg, -v);
            else maxPos = T.Max(maxPos, v);
        }
        T pos = T.Zero, neg = T.Zero;
        foreach (var v in values)
        {
            if (v == T.Zero) continue;
            if (T.IsNegative(v)) neg += -v / maxNeg;
            else pos += v / maxPos;
        }
        return Scaled(false, maxPos, pos) + Scaled(true, maxNeg, neg);
    }

    /// <summary>scale · total as a log-real, for a total of terms each at most 1 (an infinite scale stays infinite).</summary>
    private static LogReal<T> Scaled(bool negative, T scale, T total) =>
        scale == T.Zero ? Zero : T.IsInfinity(scale) ? new(negative, scale) : new(negative, T.Log(scale) + T.Log(total));

    /// <summary>The sum of <paramref name="values"/> (0 when empty): the positive and the negative terms are each summed by
    /// log-sum-exp around their largest log magnitude, then the two totals are combined once.</summary>
    public static LogReal<T> Sum(ReadOnlySpan<LogReal<T>> values)
    {
        T maxPos = T.NegativeInfinity, maxNeg = T.NegativeInfinity;
        foreach (var v in values)
        {
            if (v.IsNaN) return NaN;
            if (v.IsNegative) maxNeg = T.Max(maxNeg, v.Log);
            else maxPos = T.Max(maxPos, v.Log);
        }
        T pos = T.Zero, neg = T.Zero;
        foreach (var v in values)
        {
            if (v.IsZero) continue;
            if (v.IsNegative) neg += T.IsInfinity(maxNeg) ? T.One : T.Exp(v.Log - maxNeg);
            else pos += T.IsInfinity(maxPos) ? T.One : T.Exp(v.Log - maxPos);
        }
        return Shifted(false, maxPos, pos) + Shifted(true, maxNeg, neg);
    }

    /// <summary>e^shift · total as a log-real.</summary>
    private static LogReal<T> Shifted(bool negative, T shift, T total) =>
        T.IsNegativeInfinity(shift) ? Zero : T.IsInfinity(shift) ? new(negative, shift) : new(negative, shift + T.Log(total));

    /// <summary>Equal values; every zero is equal to every other and, as with <see cref="double.Equals(double)"/>, NaN equals NaN.</summary>
    public bool Equals(LogReal<T> other) =>
        IsNaN ? other.IsNaN : IsZero ? other.IsZero : IsNegative == other.IsNegative && Log == other.Log;

    /// <inheritdoc/>
    public override bool Equals(object? obj) => obj is LogReal<T> o && Equals(o);

    /// <inheritdoc/>
    public override int GetHashCode() => IsNaN ? 1 : IsZero ? 0 : HashCode.Combine(IsNegative, Log);

    /// <summary>Orders as the real numbers do, with NaN first (as <see cref="double.CompareTo(double)"/> does).</summary>
    public int CompareTo(LogReal<T> other)
    {
        if (IsNaN) return other.IsNaN ? 0 : -1;
        if (other.IsNaN) return 1;
        if (Sign != other.Sign) return Sign.CompareTo(other.Sign);
        int byLog = Log.CompareTo(other.Log);
        return IsNegative ? -byLog : byLog;
    }

    /// <inheritdoc/>
    public int CompareTo(object? obj) => obj switch
    {
        null => 1,
        LogReal<T> o => CompareTo(o),
        _ => throw new ArgumentException($"cannot compare a {nameof(LogReal<T>)} with a {obj.GetType().Name}", nameof(obj)),
    };

    /// <summary>Equal (false if either is NaN).</summary>
    public static bool operator ==(LogReal<T> a, LogReal<T> b) => !a.IsNaN && a.Equals(b);

    /// <summary>Not equal (true if either is NaN).</summary>
    public static bool operator !=(LogReal<T> a, LogReal<T> b) => !(a == b);

    /// <summary>Less than (false if either is NaN).</summary>
    public static bool operator <(LogReal<T> a, LogReal<T> b) => !a.IsNaN && !b.IsNaN && a.CompareTo(b) < 0;

    /// <summary>Greater than (false if either is NaN).</summary>
    public static bool operator >(LogReal<T> a, LogReal<T> b) => !a.IsNaN && !b.IsNaN && a.CompareTo(b) > 0;

    /// <summary>Less than or equal (false if either is NaN).</summary>
    public static bool operator <=(LogReal<T> a, LogReal<T> b) => !a.IsNaN && !b.IsNaN && a.CompareTo(b) <= 0;

    /// <summary>Greater than or equal (false if either is NaN).</summary>
    public static bool operator >=(LogReal<T> a, LogReal<T> b) => !a.IsNaN && !b.IsNaN && a.CompareTo(b) >= 0;

    /// <summary>Decimal scientific notation computed from the log, so it works far outside T's range, e.g.
    /// <c>-3.14159265358979e-4000</c>; <c>0</c>, <c>inf</c>, <c>-inf</c>, <c>nan</c> for the special values.</summary>
    public override string ToString()
    {
        if (IsNaN) return "nan";
        if (IsZero) return "0";
        string sign = IsNegative ? "-" : "";
        double log10 = double.CreateTruncating(Log) / Math.Log(10);
        if (double.IsInfinity(log10)) return sign + "inf";
        double exponent = Math.Floor(log10);
        // The log's absolute error grows with its size, so a large exponent leaves fewer reliable mantissa digits.
        int digits = Math.Max(1, Digits - (int)Math.Ceiling(Math.Log10(Math.Max(1, Math.Abs(log10)))));
        double mantissa = Math.Round(Math.Pow(10, log10 - exponent), digits - 1);
        if (mantissa >= 10) { mantissa /= 10; exponent++; }
        return string.Create(CultureInfo.InvariantCulture, $"{sign}{mantissa:R}e{exponent:+0;-0}");
    }
}
