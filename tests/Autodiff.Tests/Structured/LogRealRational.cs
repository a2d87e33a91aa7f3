using System.Numerics;

namespace Autodiff.Tests.Structured;

/// <summary>A tiny exact rational (BigInteger numerator over a positive denominator, in lowest terms), the oracle of the
/// <see cref="Autodiff.Structured.LogReal{T}"/> tests. Every finite double converts to it exactly.</summary>
internal readonly record struct Rational
{
    public Rational(BigInteger num, BigInteger den)
    {
        if (den.IsZero) throw new DivideByZeroException();
        if (den.Sign < 0) (num, den) = (-num, -den);
        var g = BigInteger.GreatestCommonDivisor(num, den);
        if (!g.IsOne && !g.IsZero) (num, den) = (num / g, den / g);
        Num = num;
        Den = num.IsZero ? BigInteger.One : den;
    }

    public BigInteger Num { get; }
    public BigInteger Den { get; }

    public static Rational Zero => new(0, 1);

    public int Sign => Num.Sign;

    /// <summary>The exact value of a finite double: its 53-bit significand times a power of two.</summary>
    public static Rational FromDouble(double d)
    {
        if (!double.IsFinite(d)) throw new ArgumentException("not finite", nameof(d));
        long bits = BitConverter.DoubleToInt64Bits(d);
        int exp = (int)((bits >> 52) & 0x7FF);
        long mant = bits & ((1L << 52) - 1);
        if (exp == 0) exp = 1; else mant |= 1L << 52;
        exp -= 1075;
        BigInteger m = d < 0 ? -mant : mant;
        return exp >= 0 ? new(m << exp, 1) : new(m, BigInteger.One << -exp);
    }

    public static Rational operator +(Rational a, Rational b) => new(a.Num * b.Den + b.Num * a.Den, a.Den * b.Den);
    public static Rational operator -(Rational a) => new(-a.Num, a.Den);
    public static Rational operator -(Rational a, Rational b) => a + -b;
    public static Rational operator *(Rational a, Rational b) => new(a.Num * b.Num, a.Den * b.Den);
    public static Rational operator /(Rational a, Rational b) => new(a.Num * b.Den, a.Den * b.Num);

    public Rational Abs() => new(BigInteger.Abs(Num), Den);

    /// <summary>log |r| to about double precision for any magnitude: the quotient scaled to 64 bits and then to [1, 2), whose
    /// log is taken, plus the power of 2 times ln 2.</summary>
    public double LogAbs()
    {
        if (Num.IsZero) return double.NegativeInfinity;
        var n = BigInteger.Abs(Num);
        long k = Den.GetBitLength() - n.GetBitLength() + 64;
        var q = k >= 0 ? (n << (int)k) / Den : n / (Den << (int)-k);
        double m = (double)q;
        int e = Math.ILogB(m);
        return Math.Log(Math.ScaleB(m, -e)) + (e - k) * Math.Log(2);   // log of a number in [1, 2), plus the exact power of 2
    }

    /// <summary>The value as a double (rounded; for values within double's range).</summary>
    public double ToDouble() => Sign == 0 ? 0 : Sign * Math.Exp(LogAbs());
}
