using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Structured;

/// <summary><c>pnorm</c>: gradients against finite differences for p ∈ {1, 1.5, 2, 3, 7.5, 1000, inf}, values and gradients
/// against a direct double oracle, the symbolic gradient against the tape, float against double, the zero vector, ties at
/// p = inf, and inputs near 1e±300 (f64) and 1e±20 (f32) where the naive graph overflows or underflows.</summary>
public class PNormTests
{
    public static readonly double[] Ps = [1, 1.5, 2, 3, 7.5, 1000, double.PositiveInfinity];

    /// <param name="Shape">Shape of x.</param>
    /// <param name="Axes">Reduced axes (null: all).</param>
    /// <param name="KeepDims">keepdims.</param>
    public sealed record Layout(string Name, int[] Shape, int[]? Axes, bool KeepDims)
    {
        public override string ToString() => Name;
    }

    public static readonly Layout[] Layouts =
    [
        new("rows", [3, 5], [1], false),
        new("columns keepdims", [4, 3], [0], true),
        new("all", [6], null, false),
        new("non-adjacent (0, 2)", [2, 3, 4], [0, 2], false),
    ];

    public static TheoryData<double, Layout> Cases()
    {
        var d = new TheoryData<double, Layout>();
        foreach (var p in Ps) foreach (var l in Layouts) d.Add(p, l);
        return d;
    }

    /// <summary>Entries with |x| in [0.3, 1.5], distinct magnitudes (no ties at the max), random signs.</summary>
    private static Tensor Values(int[] shape, int seed, double scale = 1, DType dt = DType.F64)
    {
        var rng = new Random(seed);
        var s = new Shape(shape);
        var perm = Enumerable.Range(0, s.Size).OrderBy(_ => rng.Next()).ToArray();
        var v = new double[s.Size];
        for (int i = 0; i < v.Length; i++) v[i] = (rng.Next(2) == 0 ? -1 : 1) * (0.3 + 1.2 * (perm[i] + rng.NextDouble() * 0.5) / v.Length) * scale;
        return Tensor.FromDoubles(dt, s, v);
    }

    private static Graph Norm(double p, Layout l, DType dt = DType.F64)
    {
        var b = new GraphBuilder();
        return b.Build(b.Input("x", dt, l.Shape).PNorm(p, l.Axes, l.KeepDims));
    }

    private static Dictionary<string, Tensor> X(Tensor x) => new() { ["x"] = x };

    [Theory]
    [MemberData(nameof(Cases))]
    public void GradientMatchesFiniteDifferences(double p, Layout l)
    {
        var r = GradientChecker.Check(Norm(p, l), X(Values(l.Shape, 1)), options: new GradCheckOptions(Atol: 1e-6, Rtol: 1e-5, Step: 1e-7));
        Assert.True(r.Passed, r.ToString());
    }

    /// <summary>Value (Σ|x|^p)^(1/p) (max |x| for inf) and gradient sign(x)·(|x|/‖x‖)^(p−1) (for inf: sign(x) at the max) computed
    /// directly in double, per row found by brute force over the indices.</summary>
    [Theory]
    [MemberData(nameof(Cases))]
    public void ValueAndGradientMatchDirectOracle(double p, Layout l)
    {
        var g = Norm(p, l);
        var x = Values(l.Shape, 2);
        var cot = Tensor.RandomNormal(DType.F64, g.Output.Shape, new Random(4));
        var (v, grads) = new Tape(g).Run(X(x), cot);
        var shape = new Shape(l.Shape);
        var axes = shape.Axes(l.Axes, "test");
        var strides = shape.Strides();
        var rows = Enumerable.Range(0, shape.Size)
            .GroupBy(i => string.Join(",", Enumerable.Range(0, shape.Rank).Where(a => !axes.Contains(a)).Select(a => i / strides[a] % shape[a])))
            .Select(grp => grp.ToArray()).ToArray();
        for (int r = 0; r < rows.Length; r++)
        {
            var row = rows[r];
            double norm = double.IsInfinity(p) ? row.Max(i => Math.Abs(x.GetDouble(i))) : Math.Pow(row.Sum(i => Math.Pow(Math.Abs(x.GetDouble(i)), p)), 1 / p);
            Assert.True(Math.Abs(v.GetDouble(r) - norm) <= 1e-13 * norm, $"row {r}: {v.GetDouble(r):R} vs {norm:R}");
            foreach (var i in row)
            {
                double xi = x.GetDouble(i);
                double d = double.IsInfinity(p) ? (Math.Abs(xi) == norm ? Math.Sign(xi) : 0) : Math.Sign(xi) * Math.Pow(Math.Abs(xi) / norm, p - 1);
                double want = cot.GetDouble(r) * d;
                Assert.True(Math.Abs(grads["x"].GetDouble(i) - want) <= 1e-12 * Math.Max(1, Math.Abs(want)), $"d/dx[{i}]: {grads["x"].GetDouble(i):R} vs {want:R}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SymbolicGradientMatchesTape(double p, Layout l) =>
        ProductTests.AssertSymbolicMatchesTape(Norm(p, l), X(Values(l.Shape, 3)), 1e-11);

    [Theory]
    [MemberData(nameof(Cases))]
    public void FloatPathMatchesDoublePath(double p, Layout l) =>
        Assert.True(GradientChecker.CompareFloatToDouble(Norm(p, l, DType.F32), X(Values(l.Shape, 5))) < 2e-5);

    [Fact]
    public void TiesAtInfinityShareTheGradient()
    {
        var b = new GraphBuilder();
        var g = b.Build(b.Input("x", DType.F64, 4).PNorm(double.PositiveInfinity));
        var (v, grads) = new Tape(g).Run(X(Tensor.FromArray(new[] { 3.0, -3, 1, -2 }, 4)));
        Assert.Equal(3, v.GetDouble(0));
        Assert.Equal(new[] { 0.5, -0.5, 0, 0 }, grads["x"].ToDoubleArray());
    }

    /// <summary>At the zero vector the norm is 0 and the (sub)gradient is taken as 0, on the tape and symbolically.</summary>
    [Theory]
    [InlineData(1.0)]
    [InlineData(2.0)]
    [InlineData(3.0)]
    [InlineData(double.PositiveInfinity)]
    public void ZeroVectorHasZeroGradient(double p)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 2, 3);
        var y = b.Input("y", DType.F64, 2, 3);
        var g = b.Build((x.PNorm(p, 1) * y.Sum(1)).Sum());
        var values = new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(new[] { 0.0, 0, 0, 1, -2, 2 }, 2, 3), ["y"] = Values([2, 3], 1) };
        var (v, grads) = new Tape(g).Run(values);
        Assert.True(double.IsFinite(v.GetDouble(0)));
        Assert.Equal(new double[] { 0, 0, 0 }, grads["x"].ToDoubleArray()[..3]);
        Assert.All(grads["x"].ToDoubleArray(), d => Assert.True(double.IsFinite(d)));
        ProductTests.AssertSymbolicMatchesTape(g, values);
    }

    [Fact]
    public void EmptyRowHasNormZero()
    {
        var b = new GraphBuilder();
        var (v, _) = new Tape(b.Build(b.Input("x", DType.F64, 2, 0).PNorm(3, 1))).Run(X(Tensor.Zeros(DType.F64, 2, 0)), Tensor.Full(DType.F64, new Shape(2), 1));
        Assert.Equal(new double[] { 0, 0 }, v.ToDoubleArray());
    }

    /// <summary>Inputs of magnitude 1e300 and 1e-300 (f64) and 1e20 and 1e-20 (f32), p up to 1000: the naive graph overflows or
    /// underflows, the simplified graph (which is pnorm) equals the scaled double oracle and has the scale-free gradient.</summary>
    [Theory]
    [InlineData(DType.F64, 1e300, 2.0)]
    [InlineData(DType.F64, 1e-300, 2.0)]
    [InlineData(DType.F64, 1e300, 1000.0)]
    [InlineData(DType.F64, 1e-300, 7.5)]
    [InlineData(DType.F64, 1e-300, 1000.0)]
    [InlineData(DType.F32, 1e20, 2.0)]
    [InlineData(DType.F32, 1e-20, 3.0)]
    [InlineData(DType.F32, 1e20, 7.5)]
    public void ExtremeMagnitudes(DType dt, double scale, double p)
    {
        string type = dt == DType.F32 ? "f32" : "f64";
        var program = Parser.Parse($"input x: {type}[2, 5]\nr = sum(abs(x)^{p.ToString(System.Globalization.CultureInfo.InvariantCulture)}, axis=1)^(1/{p.ToString(System.Globalization.CultureInfo.InvariantCulture)})");
        var s = Simplifier.Simplify(program);
        Assert.Contains(s.Rewrites, r => r.Rule == "pnorm-from-naive");
        var x = Values([2, 5], 6, scale, dt);
        var cot = Tensor.Full(dt, new Shape(2), 1);
        var naive = new Tape(s.Before).Run(X(x), cot).Value.ToDoubleArray();
        Assert.All(naive, v => Assert.True(v == 0 || double.IsInfinity(v) || double.IsNaN(v), $"naive gave {v:R}"));

        var (value, grads) = new Tape(s.After).Run(X(x), cot);
        var gx = grads["x"].ToDoubleArray();
        // The oracle on the rescaled values, where nothing overflows: ‖x‖ = scale·‖x/scale‖, gradient independent of scale.
        var unit = x.ToDoubleArray().Select(v => v / scale).ToArray();
        double tol = dt == DType.F32 ? 1e-5 : 1e-12;
        for (int r = 0; r < 2; r++)
        {
            var row = unit[(r * 5)..(r * 5 + 5)];
            double norm = Math.Pow(row.Sum(v => Math.Pow(Math.Abs(v), p)), 1 / p);
            Assert.True(Math.Abs(value.GetDouble(r) / scale - norm) <= tol * norm, $"row {r}: {value.GetDouble(r):R} vs {norm * scale:R}");
            for (int j = 0; j < 5; j++)
            {
                double want = Math.Sign(row[j]) * Math.Pow(Math.Abs(row[j]) / norm, p - 1);
                Assert.True(Math.Abs(gx[r * 5 + j] - want) <= tol * Math.Max(1, Math.Abs(want)), $"d/dx[{r}, {j}]: {gx[r * 5 + j]:R} vs {want:R}");
            }
        }
    }

    [Theory]
    [InlineData(0.5)]
    [InlineData(-1.0)]
    [InlineData(double.NaN)]
    public void PBelowOneIsRejected(double p)
    {
        var b = new GraphBuilder();
        var e = Assert.Throws<ShapeException>(() => b.Input("x", DType.F64, 3, 4).PNorm(p, 1));
        Assert.StartsWith("pnorm: p must be >= 1 or inf, got p = ", e.Message);
        Assert.Contains("f64[3, 4]", e.Message);
    }

    [Fact]
    public void PBelowOneIsRejectedInTheLanguage()
    {
        var e = Assert.ThrowsAny<AutodiffException>(() => Parser.Parse("input x: f64[3, 4]\nr = pnorm(x, p=0.5, axis=1)"));
        Assert.Contains("pnorm: p must be >= 1 or inf, got p = 0.5", e.Message);
    }

    [Theory]
    [InlineData("input x: f64[3, 4]\nr = pnorm(x, p=inf, axis=1)\n")]
    [InlineData("input x: f64[2, 3, 4]\nr = pnorm(x, p=2.5, axis=(0, 1), keepdims=true)\n")]
    [InlineData("input x: f32[3, 4]\nr = pnorm(x, p=1)\n")]
    public void PrintsAndParsesBack(string program) => Assert.StartsWith(program, Tests.Text.TextAssert.RoundTrips(Parser.Parse(program)));

    [Fact]
    public void PDefaultsToTwoInTheLanguage()
    {
        var g = Parser.Parse("input x: f64[3, 4]\nr = pnorm(x, axis=1)");
        Assert.Equal(new PNormOp(2, new IntList(1), false), g.Output.Op);
    }
}
