using System.Globalization;
using System.Runtime.CompilerServices;
using Autodiff.Rewrite;
using Autodiff.Text;
using Xunit.Abstractions;

namespace Autodiff.Tests.Numerics;

/// <summary>Herbie-style accuracy of the stabilize rules: for each rule, the naive spelling and the simplified graph are
/// evaluated in f32 and f64 on inputs sampled uniformly over the type's bit patterns in the rule's domain, against exact
/// values computed with mpmath at 2400 bits (<c>scripts/accuracy_reference.py</c>, output committed as
/// <c>Data/accuracy_reference.csv</c>). Error is measured in bits, log2(1 + the number of floating-point values between the
/// computed and the correctly rounded exact result), as Herbie does; NaN counts as every bit wrong. The table this test
/// prints is the one in docs/rules.md ("Measured accuracy").</summary>
public class AccuracyTests(ITestOutputHelper output)
{
    /// <summary>The naive spelling of each rule's left side, over inputs a (and b).</summary>
    public static readonly Dictionary<string, string> Naive = new()
    {
        ["log1p"] = "r = log(1 + a)",
        ["expm1"] = "r = exp(a) - 1",
        ["log1mexp"] = "r = log(1 - exp(a))",
        ["logdiffexp"] = "r = log(exp(a) - exp(b))",
        ["logaddexp"] = "r = log(exp(a) + exp(b))",
        ["softplus"] = "r = log(1 + exp(a))",
        ["sigmoid"] = "r = 1 / (1 + exp(-a))",
        ["log-sigmoid"] = "r = log(1 / (1 + exp(-a)))",
        ["sqrt-of-exp"] = "r = sqrt(exp(a))",
        ["odds-of-sigmoid"] = "s = sigmoid(a)\nr = s / (1 - s)",
    };

    /// <summary>The most bits the rewritten formula may lose at any sampled point (its kernels are accurate to a few ulps).</summary>
    private const double MaxRewrittenBits = 4;

    internal sealed record Point(double A, double B, double Exact);

    private static Dictionary<(string Rule, string DType), List<Point>> Load([CallerFilePath] string here = "")
    {
        var path = Path.Combine(Path.GetDirectoryName(here)!, "Data", "accuracy_reference.csv");
        var data = new Dictionary<(string, string), List<Point>>();
        foreach (var line in File.ReadLines(path).Skip(1))
        {
            var f = line.Split(',');
            var key = (f[0], f[1]);
            if (!data.TryGetValue(key, out var list)) data[key] = list = [];
            list.Add(new Point(Hex(f[2]), Hex(f[3]), Hex(f[4])));
        }
        return data;
    }

    /// <summary>Parses Python's float.hex(): [-]0xH.HHHHpE.</summary>
    internal static double Hex(string s)
    {
        bool neg = s.StartsWith('-');
        if (neg) s = s[1..];
        if (s is "inf" or "nan") return s == "nan" ? double.NaN : neg ? double.NegativeInfinity : double.PositiveInfinity;
        int p = s.IndexOf('p');
        var mant = s[2..p];
        int exp = int.Parse(s[(p + 1)..], CultureInfo.InvariantCulture);
        int dot = mant.IndexOf('.');
        string digits = dot < 0 ? mant : mant.Remove(dot, 1);
        int frac = dot < 0 ? 0 : mant.Length - dot - 1;
        long m = long.Parse(digits, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        double v = Math.ScaleB(m, exp - 4 * frac);
        return neg ? -v : v;
    }

    /// <summary>Bits of error between <paramref name="got"/> and the exact value rounded to the element type.</summary>
    internal static double Bits(double got, double exact, DType t)
    {
        if (t == DType.F32)
        {
            float g = (float)got, e = (float)exact;
            if (float.IsNaN(g)) return 32;
            static long Ord(float x) { int b = BitConverter.SingleToInt32Bits(x); return b < 0 ? int.MinValue - (long)b : b; }
            return Math.Log2(1 + Math.Abs((double)(Ord(g) - Ord(e))));
        }
        if (double.IsNaN(got)) return 64;
        static Int128 Ord64(double x) { long b = BitConverter.DoubleToInt64Bits(x); return b < 0 ? (Int128)long.MinValue - b : b; }
        return Math.Log2(1 + (double)Int128.Abs(Ord64(got) - Ord64(exact)));
    }

    /// <summary>(mean, max) bits of error of the naive and the simplified graph of <paramref name="rule"/>.</summary>
    internal static (double NaiveMean, double NaiveMax, double RewrittenMean, double RewrittenMax, string Rewritten) Measure(string rule, DType t, List<Point> points)
    {
        int n = points.Count;
        string type = t == DType.F32 ? "f32" : "f64";
        var naive = Parser.Parse($"input a: {type}[{n}]\ninput b: {type}[{n}]\n{Naive[rule]}\noutput r");
        var simplified = Simplifier.Simplify(naive).After;
        var inputs = new Dictionary<string, Tensor>
        {
            ["a"] = Tensor.FromDoubles(t, new Shape(n), points.Select(p => p.A).ToArray()),
            ["b"] = Tensor.FromDoubles(t, new Shape(n), points.Select(p => p.B).ToArray()),
        };
        var y0 = new Tape(naive).Forward(inputs).ToDoubleArray();
        var y1 = new Tape(simplified).Forward(inputs).ToDoubleArray();
        var b0 = points.Select((p, i) => Bits(y0[i], p.Exact, t)).ToArray();
        var b1 = points.Select((p, i) => Bits(y1[i], p.Exact, t)).ToArray();
        var body = Printer.Print(simplified).Split('\n').First(l => l.StartsWith("r = ", StringComparison.Ordinal));
        return (b0.Average(), b0.Max(), b1.Average(), b1.Max(), body);
    }

    public static TheoryData<string> Rules() { var d = new TheoryData<string>(); foreach (var r in Naive.Keys) d.Add(r); return d; }

    [Theory, MemberData(nameof(Rules))]
    public void RewrittenFormulaIsAccurateWhereTheNaiveOneIsNot(string rule)
    {
        var data = Load();
        foreach (var t in new[] { DType.F32, DType.F64 })
        {
            var points = data[(rule, t == DType.F32 ? "f32" : "f64")];
            var (nm, nx, rm, rx, body) = Measure(rule, t, points);
            output.WriteLine($"| `{rule}` | {(t == DType.F32 ? "f32" : "f64")} | {points.Count} | {nm:F2} | {nx:F1} | {rm:F2} | {rx:F1} |");
            Assert.True(rx <= MaxRewrittenBits, $"{rule} {t}: the rewritten graph loses up to {rx:F1} bits ({body})");
            Assert.True(rm <= nm + 0.1, $"{rule} {t}: rewritten mean {rm:F2} bits > naive {nm:F2}");
        }
    }
}
