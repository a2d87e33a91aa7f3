using System.Numerics;
using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Structured;

/// <summary>An exact dyadic rational M·2^E. Every finite float and double is one, and so are their products and sums, so
/// products of any length are computed exactly and rounded once at the end: the oracle of the range tests.</summary>
internal readonly record struct Dyadic(BigInteger M, long E)
{
    public static Dyadic Of(double d)
    {
        if (!double.IsFinite(d)) throw new ArgumentException($"{d} is not finite", nameof(d));
        long bits = BitConverter.DoubleToInt64Bits(d);
        int exp = (int)((bits >> 52) & 0x7FF);
        long mant = bits & ((1L << 52) - 1);
        if (exp == 0) exp = 1; else mant |= 1L << 52;
        return new(d < 0 ? -mant : mant, exp - 1075);
    }

    public static Dyadic One => new(BigInteger.One, 0);

    public static Dyadic operator *(Dyadic a, Dyadic b) => new(a.M * b.M, a.E + b.E);

    public static Dyadic operator +(Dyadic a, Dyadic b)
    {
        if (a.M.IsZero) return b;
        if (b.M.IsZero) return a;
        long e = Math.Min(a.E, b.E);
        return new((a.M << (int)(a.E - e)) + (b.M << (int)(b.E - e)), e);
    }

    /// <summary>The value in double (the top 64 bits rounded to 53, then scaled: within an ulp of the exact rounding;
    /// ±inf and 0 beyond double's range).</summary>
    public double ToDouble()
    {
        if (M.IsZero) return 0;
        var abs = BigInteger.Abs(M);
        long shift = Math.Max(0, abs.GetBitLength() - 64);
        double top = (double)(ulong)(abs >> (int)shift);
        return M.Sign * Math.ScaleB(top, (int)Math.Clamp(E + shift, int.MinValue, int.MaxValue));
    }

    /// <summary>The product of <paramref name="xs"/> and the leave-one-out products of each entry, exactly.</summary>
    public static (Dyadic All, Dyadic[] Others) Products(double[] xs)
    {
        int n = xs.Length;
        var pre = new Dyadic[n + 1];
        var suf = new Dyadic[n + 1];
        pre[0] = suf[n] = One;
        for (int i = 0; i < n; i++) pre[i + 1] = pre[i] * Of(xs[i]);
        for (int i = n - 1; i >= 0; i--) suf[i] = suf[i + 1] * Of(xs[i]);
        return (pre[n], Enumerable.Range(0, n).Select(i => pre[i] * suf[i + 1]).ToArray());
    }
}

/// <summary><c>prod</c> and <c>prod_others</c> at the ends of the floating-point range: the running, prefix and suffix
/// products are held as a mantissa and a binary exponent, so a product whose partial products leave the range (1e200·1e200
/// before the 1e-200 factors) is finite and exact, and the value and gradient overflow to ±inf or underflow to 0 only
/// where the true result does. Oracle: exact dyadic products (<see cref="Dyadic"/>), float32 and float64; and the rewrite
/// exp(sum(log(x))) → prod keeping every finite naive result finite.</summary>
public class ProductRangeTests
{
    /// <param name="Name">Case name.</param>
    /// <param name="F64">The factors in float64.</param>
    /// <param name="F32">The same pattern at float32's range.</param>
    /// <param name="G">The cotangent.</param>
    public sealed record Case(string Name, double[] F64, double[] F32, double G = 1)
    {
        public override string ToString() => Name;
    }

    public static readonly Case[] Cases =
    [
        new("1e200, 1e200, 1e-200, 1e-200 has product 1", [1e200, 1e200, 1e-200, 1e-200], [1e25f, 1e25f, 1e-25f, 1e-25f]),
        new("running product overflows, then comes back", [1e200, 1e200, 1e200, 1e-300, 1e-300], [1e20f, 1e20f, 1e20f, 1e-30f, 1e-30f]),
        new("running product underflows, then comes back", [1e-300, 1e-300, 1e300, 1e300, 0.5], [1e-30f, 1e-30f, 1e30f, 1e30f, 0.5f]),
        new("signs", [-1e300, 1e300, -1e-300, -1e-300, 3], [-1e30f, 1e30f, -1e-30f, -1e-30f, 3]),
        new("subnormal factor", [double.Epsilon, 1e300, 1e23], [float.Epsilon, 1e30f, 1e14f]),
        new("one zero among extreme factors", [1e300, 0, 1e300, 1e-300, 1e-300], [1e30f, 0, 1e30f, 1e-30f, 1e-30f]),
        new("two zeros among extreme factors", [1e300, 0, 1e300, 0, 1e-300], [1e30f, 0, 1e30f, 0, 1e-30f]),
        new("true overflow: inf value, finite gradient where the cavity is finite", [1e300, 1e300, 2], [1e30f, 1e30f, 2]),
        new("true underflow: zero value, finite gradient", [1e-200, 1e-200, 1e-10], [1e-20f, 1e-20f, 1e-10f]),
        new("subnormal result", [1e-300, 1e-15], [1e-30f, 1e-10f]),
        new("tiny cotangent on a huge cavity", [1e250, 1e250, 1e-250], [1e25f, 1e25f, 1e-25f], 1e-250),
    ];

    private static Dictionary<string, Tensor> X(Tensor x) => new() { ["x"] = x };

    public static TheoryData<Case, DType> CasesByType()
    {
        var d = new TheoryData<Case, DType>();
        foreach (var c in Cases)
            foreach (var dt in new[] { DType.F64, DType.F32 }) d.Add(c, dt);
        return d;
    }

    /// <summary>got equals want: both the same infinity, or both zero, or within <paramref name="rel"/> relative, or (a
    /// subnormal result) within two of the type's smallest subnormals.</summary>
    private static void AssertMatches(double want, double got, DType dt, double rel, string what)
    {
        double tiny = dt == DType.F32 ? float.Epsilon : double.Epsilon;
        bool ok = want == got || Math.Abs(got - want) <= rel * Math.Abs(want) || Math.Abs(got - want) <= 2 * tiny;
        Assert.True(ok, $"{what}: got {got:R}, want {want:R}");
    }

    /// <summary>The exact result rounded to <paramref name="dt"/>.</summary>
    private static double Round(Dyadic d, DType dt) => dt == DType.F32 ? (float)d.ToDouble() : d.ToDouble();

    private static double Rel(DType dt, int n) => (n + 2) * (dt == DType.F32 ? 1.2e-7 : 2.3e-16);

    [Theory, MemberData(nameof(CasesByType))]
    public void ValueAndGradientAreTheExactProductsRounded(Case c, DType dt)
    {
        int n = c.F64.Length;
        var b = new GraphBuilder();
        var g = b.Build(b.Input("x", dt, n).Prod());
        var x = Tensor.FromDoubles(dt, new Shape(n), dt == DType.F32 ? c.F32 : c.F64);
        var cot = Tensor.FromDoubles(dt, new Shape(), [dt == DType.F32 ? (float)c.G : c.G]);
        var (v, grads) = new Tape(g).Run(X(x), cot);
        var xs = x.ToDoubleArray();
        var (all, others) = Dyadic.Products(xs);
        AssertMatches(Round(all, dt), v.GetDouble(0), dt, Rel(dt, n), $"{c.Name} value");
        var gx = grads["x"].ToDoubleArray();
        var gd = Dyadic.Of(cot.GetDouble(0));
        for (int i = 0; i < n; i++) AssertMatches(Round(gd * others[i], dt), gx[i], dt, Rel(dt, n), $"{c.Name} d/dx[{i}]");
    }

    [Fact]
    public void TheExampleHasValueOneAndFiniteExactGradients()
    {
        double[] xs = [1e200, 1e200, 1e-200, 1e-200];
        var b = new GraphBuilder();
        var (v, grads) = new Tape(b.Build(b.Input("x", DType.F64, 4).Prod())).Run(X(Tensor.FromArray(xs, 4)));
        Assert.Equal(1.0, v.GetDouble(0), 1e-15);
        var gx = grads["x"].ToDoubleArray();
        var (_, others) = Dyadic.Products(xs);
        for (int i = 0; i < 4; i++)
        {
            Assert.True(double.IsFinite(gx[i]), $"d/dx[{i}] = {gx[i]:R}");
            AssertMatches(others[i].ToDouble(), gx[i], DType.F64, 1e-15, $"d/dx[{i}]");
        }
    }

    /// <summary>Balanced factors c·10^±p (c in [0.5, 2), random signs, p up to 300 in f64 and 30 in f32) whose product is
    /// representable although the partial products reach 10^(±p·n/2): <paramref name="order"/> puts all the large factors
    /// first ("blocks"), alternates them, or shuffles them.</summary>
    private static double[] Row(int n, double maxPower, string order, Random rng)
    {
        var big = new List<double>();
        var small = new List<double>();
        for (int i = 0; i < n / 2; i++)
        {
            double p = maxPower * (0.5 + 0.5 * rng.NextDouble());
            double sign() => rng.Next(2) == 0 ? -1 : 1;
            big.Add(sign() * (0.5 + 1.5 * rng.NextDouble()) * Math.Pow(10, p));
            small.Add(sign() * (0.5 + 1.5 * rng.NextDouble()) * Math.Pow(10, -p));
        }
        return order switch
        {
            "blocks" => [.. big, .. small],
            "alternating" => big.Zip(small, (u, w) => new[] { w, u }).SelectMany(p => p).ToArray(),
            _ => big.Concat(small).OrderBy(_ => rng.Next()).ToArray(),
        };
    }

    /// <summary>Rows of 240 factors of magnitude up to 1e±300 (1e±30 in f32) over one axis and over the non-adjacent axes
    /// (0, 2), whose partial products are far outside the range: value and gradient equal the exact products, rounded.</summary>
    [Theory]
    [InlineData(DType.F64, false)]
    [InlineData(DType.F32, false)]
    [InlineData(DType.F64, true)]
    [InlineData(DType.F32, true)]
    public void LongRowsOfExtremeFactorsMatchExactProducts(DType dt, bool nonAdjacent)
    {
        const int n = 240;
        var rng = new Random(nonAdjacent ? 12 : 11);
        double power = dt == DType.F32 ? 30 : 300;
        var rows = new[] { "blocks", "alternating", "shuffled" }.Select(o => Row(n, power, o, rng)).ToArray();
        // Either x [3, 240] over axis 1, or x [6, 3, 40] over axes (0, 2), where row r holds x[i, r, j] at i·40 + j.
        int[] shape = nonAdjacent ? [6, 3, 40] : [3, n];
        int[] axes = nonAdjacent ? [0, 2] : [1];
        int Flat(int r, int k) => nonAdjacent ? ((k / 40) * 3 + r) * 40 + k % 40 : r * n + k;
        var values = new double[3 * n];
        for (int r = 0; r < 3; r++)
            for (int k = 0; k < n; k++) values[Flat(r, k)] = rows[r][k];
        var x = Tensor.FromDoubles(dt, new Shape(shape), values);
        var cot = Tensor.FromDoubles(dt, new Shape(3), [0.5, -2, 3]);
        var b = new GraphBuilder();
        var (v, grads) = new Tape(b.Build(b.Input("x", dt, shape).Prod(axes))).Run(X(x), cot);
        var xd = x.ToDoubleArray();
        var gx = grads["x"].ToDoubleArray();
        for (int r = 0; r < 3; r++)
        {
            var row = Enumerable.Range(0, n).Select(k => xd[Flat(r, k)]).ToArray();
            var (all, others) = Dyadic.Products(row);
            double want = Round(all, dt);
            Assert.True(double.IsFinite(want) && want != 0, $"row {r}: the test wants a representable product, got {want:R}");
            AssertMatches(want, v.GetDouble(r), dt, Rel(dt, n), $"row {r} value");
            var gd = Dyadic.Of(cot.GetDouble(r));
            for (int k = 0; k < n; k++) AssertMatches(Round(gd * others[k], dt), gx[Flat(r, k)], dt, Rel(dt, n), $"row {r} d/dx[{k}]");
        }
    }

    /// <summary>prod_others with a tangent (the second-order family) at the range limits equals the exact
    /// Σ_{j≠k} t_j·Π_{i∉{j,k}} x_i.</summary>
    [Fact]
    public void ProdOthersWithATangentAtTheRangeLimits()
    {
        double[] xs = [1e300, -1e300, 1e-300, 1e-300, 3];
        double[] ts = [1e-300, 2, 1e300, -1e-300, 1];
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 5);
        var t = b.Input("t", DType.F64, 5);
        var v = new Tape(b.Build(x.ProdOthers(null, t)), []).Forward(new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(xs, 5), ["t"] = Tensor.FromArray(ts, 5) }).ToDoubleArray();
        for (int k = 0; k < 5; k++)
        {
            var want = new Dyadic(BigInteger.Zero, 0);
            for (int j = 0; j < 5; j++)
            {
                if (j == k) continue;
                var term = Dyadic.Of(ts[j]);
                for (int i = 0; i < 5; i++) if (i != j && i != k) term *= Dyadic.Of(xs[i]);
                want += term;
            }
            AssertMatches(want.ToDouble(), v[k], DType.F64, 1e-14, $"prod_others(x, t)[{k}]");
        }
    }

    /// <summary>exp(sum(log(x))) and the prod it is rewritten into, on positive rows of four factors of magnitude up to
    /// 1e±300 (1e±30 in f32) in random order, some of whose products are out of range: where the naive value or gradient
    /// is finite the simplified one is finite, and where the true result is a normal number they agree within 1e-12
    /// relative (2e-5 in f32); the simplified one is also the exact product rounded. Many rows have a running product that
    /// leaves the range, which is what the plain product got wrong.</summary>
    [Theory]
    [InlineData(DType.F64)]
    [InlineData(DType.F32)]
    public void RewriteToProdKeepsFiniteResultsFinite(DType dt)
    {
        const int rows = 200, n = 4;
        var rng = new Random(21);
        double power = dt == DType.F32 ? 30 : 300, limit = dt == DType.F32 ? 1e-37 : 1e-307;
        var values = new double[rows * n];
        for (int r = 0; r < rows; r++)
        {
            var p = new double[n];
            for (int i = 0; i < n - 1; i++) p[i] = power * (2 * rng.NextDouble() - 1);
            p[n - 1] = Math.Clamp(-p[..(n - 1)].Sum() + 1.2 * power * (2 * rng.NextDouble() - 1), -power, power);
            for (int i = 0; i < n; i++) values[r * n + i] = (0.5 + 1.5 * rng.NextDouble()) * Math.Pow(10, p[i]);
        }
        var g = Parser.Parse($"input x: f64[{rows}, {n}] positive\ny = exp(sum(log(x), axis=1))");
        if (dt != DType.F64) g = g.ToDType(dt);
        var s = Simplifier.Simplify(g);
        Assert.Contains(s.Rewrites, w => w.Rule == "prod-from-exp-sum-log");
        var x = new Dictionary<string, Tensor> { ["x"] = Tensor.FromDoubles(dt, new Shape(rows, n), values) };
        var cot = Tensor.FromDoubles(dt, new Shape(rows), Enumerable.Range(0, rows).Select(i => 1 + 0.01 * i).ToArray());
        var (nv, ng) = new Tape(g).Run(x, cot);
        var (sv, sg) = new Tape(s.After).Run(x, cot);
        double tol = dt == DType.F32 ? 2e-5 : 1e-12;
        var xd = x["x"].ToDoubleArray();
        double[] ngx = ng["x"].ToDoubleArray(), sgx = sg["x"].ToDoubleArray();
        int outOfRange = 0, compared = 0;
        for (int r = 0; r < rows; r++)
        {
            var row = xd.AsSpan(r * n, n).ToArray();
            double running = 1;
            foreach (var f in row) { running *= f; if (!double.IsFinite(dt == DType.F32 ? (float)running : running) || Math.Abs(running) < limit) outOfRange++; }
            var (all, others) = Dyadic.Products(row);
            double want = Round(all, dt);
            AssertMatches(want, sv.GetDouble(r), dt, Rel(dt, n), $"row {r}: prod vs exact");
            bool valueInRange = Normal(want);
            Check(valueInRange, nv.GetDouble(r), sv.GetDouble(r), $"row {r} value");
            var gd = Dyadic.Of(cot.GetDouble(r));
            for (int i = 0; i < n; i++)
            {
                double wg = Round(gd * others[i], dt);
                AssertMatches(wg, sgx[r * n + i], dt, Rel(dt, n), $"row {r} d/dx[{i}]: prod vs exact");
                Check(valueInRange && Normal(wg), ngx[r * n + i], sgx[r * n + i], $"row {r} d/dx[{i}]");
            }
        }
        Assert.True(outOfRange > rows / 4, $"only {outOfRange} partial products left the range");
        Assert.True(compared > rows * (n + 1) / 2, $"only {compared} results were compared");

        // The naive graph computes within range when the product and the result are normal numbers (else its exp over- or
        // underflows and its result, even if finite, is not the true one).
        bool Normal(double exact) => double.IsFinite(exact) && Math.Abs(exact) >= limit;

        void Check(bool inRange, double naive, double simplified, string what)
        {
            if (double.IsFinite(naive)) Assert.True(double.IsFinite(simplified), $"{what}: naive {naive:R} is finite, simplified {simplified:R} is not");
            if (!inRange) return;
            compared++;
            Assert.True(Math.Abs(naive - simplified) <= tol * Math.Abs(simplified), $"{what}: naive {naive:R}, simplified {simplified:R}");
        }
    }
}
