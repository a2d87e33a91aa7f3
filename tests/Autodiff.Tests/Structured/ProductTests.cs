using Autodiff.Rewrite;
using Autodiff.Structured;
using Autodiff.Text;

namespace Autodiff.Tests.Structured;

/// <summary><c>prod</c> and <c>prod_others</c>: gradients against finite differences and against brute-force leave-one-out
/// products with 0, 1, 2 and more zeros and random signs, over one or several (also non-adjacent) axes; the symbolic gradient
/// against the tape; float against double; and the naive graphs (log trick, division trick) failing where prod does not.</summary>
public class ProductTests
{
    /// <param name="Name">Case name.</param>
    /// <param name="Shape">Shape of x.</param>
    /// <param name="Axes">Reduced axes (null: all).</param>
    /// <param name="KeepDims">keepdims.</param>
    /// <param name="Zeros">Flat indices of x set to 0.</param>
    public sealed record Case(string Name, int[] Shape, int[]? Axes, bool KeepDims, int[] Zeros)
    {
        public override string ToString() => Name;

        public Tensor Values(int seed = 1)
        {
            var rng = new Random(seed);
            var t = Tensor.Zeros(DType.F64, new Shape(Shape));
            for (int i = 0; i < t.Size; i++) t.SetDouble(i, (rng.Next(2) == 0 ? -1 : 1) * (0.5 + rng.NextDouble()));
            foreach (var z in Zeros) t.SetDouble(z, 0);
            return t;
        }

        public Graph Graph(DType dt = DType.F64)
        {
            var b = new GraphBuilder();
            return b.Build(b.Input("x", dt, Shape).Prod(Axes, KeepDims));
        }
    }

    public static readonly Case[] Cases =
    [
        new("no zeros", [6], null, false, []),
        new("one zero", [6], null, false, [2]),
        new("two zeros", [6], null, false, [0, 4]),
        new("three zeros", [7], null, false, [1, 3, 6]),
        new("all zeros", [4], null, false, [0, 1, 2, 3]),
        new("rows with 0, 1, 2, 3 zeros", [4, 5], [1], false, [5, 10, 12, 15, 16, 19]),
        new("axis 0 (strided rows)", [5, 3], [0], false, [3, 4, 7]),
        new("axis 1 of 3-D keepdims", [2, 4, 3], [1], true, [0, 3, 13]),
        new("non-adjacent axes (0, 2)", [3, 2, 4], [0, 2], false, [1, 9, 17, 4]),
        new("axes (1, 2)", [2, 3, 2], [1, 2], false, [6]),
        new("length-1 axis", [3, 1], [1], false, [1]),
        new("scalar", [], null, false, []),
    ];

    public static TheoryData<Case> All() { var d = new TheoryData<Case>(); foreach (var c in Cases) d.Add(c); return d; }

    private static Dictionary<string, Tensor> X(Tensor x) => new() { ["x"] = x };

    /// <summary>The row layout of a case, independently of the op: for each output element, the flat indices of its row.</summary>
    private static List<int>[] RowsOf(Case c)
    {
        var shape = new Shape(c.Shape);
        var axes = shape.Axes(c.Axes, "test");
        var strides = shape.Strides();
        var groups = new Dictionary<string, List<int>>();
        var order = new List<string>();
        for (int i = 0; i < shape.Size; i++)
        {
            var key = string.Join(",", Enumerable.Range(0, shape.Rank).Where(a => !axes.Contains(a)).Select(a => i / strides[a] % shape[a]));
            if (!groups.TryGetValue(key, out var list)) { groups[key] = list = []; order.Add(key); }
            list.Add(i);
        }
        return order.Select(k => groups[k]).ToArray();
    }

    [Theory]
    [MemberData(nameof(All))]
    public void GradientMatchesFiniteDifferences(Case c)
    {
        var r = GradientChecker.Check(c.Graph(), X(c.Values()), options: new GradCheckOptions(Atol: 1e-9, Rtol: 1e-7));
        Assert.True(r.Passed, r.ToString());
    }

    [Theory]
    [MemberData(nameof(All))]
    public void ValueAndGradientMatchBruteForceLeaveOneOut(Case c)
    {
        var x = c.Values();
        var g = c.Graph();
        var cot = Tensor.RandomNormal(DType.F64, g.Output.Shape, new Random(3));
        var (v, grads) = new Tape(g).Run(X(x), cot);
        var gx = grads["x"];
        var rows = RowsOf(c);
        Assert.Equal(rows.Length, v.Size);
        for (int r = 0; r < rows.Length; r++)
        {
            var row = rows[r];
            double all = 1;
            foreach (var i in row) all *= x.GetDouble(i);
            Assert.Equal(all, v.GetDouble(r), 1e-12);
            foreach (var i in row)
            {
                double others = 1;
                foreach (var j in row) if (j != i) others *= x.GetDouble(j);
                double want = cot.GetDouble(r) * others;
                Assert.True(Math.Abs(gx.GetDouble(i) - want) <= 1e-12 * Math.Max(1, Math.Abs(want)), $"{c.Name}: d/dx[{i}] = {gx.GetDouble(i):R}, want {want:R}");
            }
        }
    }

    [Fact]
    public void ZeroCasesFollowTheCountOfZeros()
    {
        // One zero: only that entry's gradient is nonzero (the product of the others); two or more: all zero.
        var (_, one) = Run([2, -3, 0, 0.5], DType.F64);
        Assert.Equal(new double[] { 0, 0, -3, 0 }, one);
        var (_, two) = Run([2, 0, -3, 0], DType.F64);
        Assert.All(two, v => Assert.Equal(0, v));
        var (value, none) = Run([2, -3, 4, -0.5], DType.F64);
        Assert.Equal(12, value);
        Assert.Equal(new double[] { 6, -4, 3, -24 }, none);
    }

    private static (double Value, double[] Grad) Run(double[] x, DType dt)
    {
        var b = new GraphBuilder();
        var g = b.Build(b.Input("x", dt, x.Length).Prod());
        var (v, grads) = new Tape(g).Run(X(Tensor.FromDoubles(dt, new Shape(x.Length), x)));
        return (v.GetDouble(0), grads["x"].ToDoubleArray());
    }

    [Fact]
    public void EmptyAxisHasProductOne()
    {
        var b = new GraphBuilder();
        var g = b.Build(b.Input("x", DType.F64, 3, 0).Prod(1));
        var (v, grads) = new Tape(g).Run(X(Tensor.Zeros(DType.F64, 3, 0)), Tensor.Full(DType.F64, new Shape(3), 1));
        Assert.Equal(new double[] { 1, 1, 1 }, v.ToDoubleArray());
        Assert.Equal(0, grads["x"].Size);
    }

    [Theory]
    [MemberData(nameof(All))]
    public void SymbolicGradientMatchesTape(Case c) => AssertSymbolicMatchesTape(c.Graph(), X(c.Values()));

    internal static void AssertSymbolicMatchesTape(Graph g, Dictionary<string, Tensor> x, double tol = 1e-12)
    {
        var cot = g.Output.Shape.Size == 1 ? null : Tensor.RandomNormal(DType.F64, g.Output.Shape, new Random(5));
        var (_, grads) = new Tape(g).Run(x, cot);
        var seed = cot is null ? (Expr?)null : g.Builder.Input("seed_cotangent", DType.F64, g.Output.Shape.ToArray());
        var values = new Dictionary<string, Tensor>(x);
        if (cot is not null) values["seed_cotangent"] = cot;
        foreach (var (name, expr) in SymbolicGradient.Of(g, wrt: x.Keys, seed: seed))
        {
            var v = new Tape(g.Builder.Build(expr), []).Forward(values);
            var want = grads[name];
            for (int i = 0; i < v.Size; i++)
                Assert.True(Math.Abs(v.GetDouble(i) - want.GetDouble(i)) <= tol * Math.Max(1, Math.Abs(want.GetDouble(i))),
                    $"d/d{name}[{i}]: symbolic {v.GetDouble(i):R}, tape {want.GetDouble(i):R}");
        }
    }

    [Theory]
    [MemberData(nameof(All))]
    public void FloatPathMatchesDoublePath(Case c) =>
        Assert.True(GradientChecker.CompareFloatToDouble(c.Graph(DType.F32), X(c.Values())) < 1e-6);

    /// <summary>prod_others with 0, 1 and 2 tangents: values against brute force, gradients against finite differences and the
    /// symbolic gradient (the next member of the family) against the tape.</summary>
    [Theory]
    [InlineData(0, new[] { 6 }, null, new int[0])]
    [InlineData(0, new[] { 3, 4 }, new[] { 1 }, new[] { 1, 6, 7 })]
    [InlineData(1, new[] { 5 }, null, new[] { 3 })]
    [InlineData(1, new[] { 3, 2, 4 }, new[] { 0, 2 }, new[] { 0, 9, 10 })]
    [InlineData(2, new[] { 4, 3 }, new[] { 0 }, new[] { 2, 4 })]
    [InlineData(2, new[] { 6 }, null, new[] { 0, 1, 5 })]
    public void ProdOthersFamily(int tangents, int[] shape, int[]? axes, int[] zeros)
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, shape);
        var ts = Enumerable.Range(1, tangents).Select(r => b.Input($"t{r}", DType.F64, shape)).ToArray();
        var g = b.Build(x.ProdOthers(axes, ts));
        var c = new Case("prod_others", shape, axes, false, zeros);
        var values = X(c.Values());
        for (int r = 1; r <= tangents; r++) values[$"t{r}"] = new Case("t", shape, axes, false, []).Values(10 + r);

        var v = new Tape(g, []).Forward(values);
        foreach (var row in RowsOf(c))
            foreach (var k in row)
                Assert.Equal(MixedBruteForce(row, k, values, tangents), v.GetDouble(k), 1e-12);

        var fd = GradientChecker.Check(g, values, options: new GradCheckOptions(Atol: 1e-9, Rtol: 1e-7));
        Assert.True(fd.Passed, fd.ToString());
        AssertSymbolicMatchesTape(g, values);
    }

    /// <summary>[ε₁⋯ε_m] Π_{j≠k}(x_j + Σ ε_r t_r[j]) = Σ over injective choices of m distinct rows j ≠ k, one per tangent, of
    /// Π t_r[j_r] · Π over the remaining j of x_j.</summary>
    private static double MixedBruteForce(List<int> row, int k, Dictionary<string, Tensor> v, int m)
    {
        var others = row.Where(j => j != k).ToArray();
        double Rec(int r, HashSet<int> used)
        {
            if (r > m)
            {
                double p = 1;
                foreach (var j in others) if (!used.Contains(j)) p *= v["x"].GetDouble(j);
                return p;
            }
            double s = 0;
            foreach (var j in others)
            {
                if (!used.Add(j)) continue;
                s += v[$"t{r}"].GetDouble(j) * Rec(r + 1, used);
                used.Remove(j);
            }
            return s;
        }
        return Rec(1, []);
    }

    [Fact]
    public void ProdOthersRejectsMismatchedTangents()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 3, 4);
        var t = b.Input("t", DType.F64, 4);
        var e = Assert.Throws<ShapeException>(() => x.ProdOthers([1], t));
        Assert.Contains("prod_others", e.Message);
        Assert.Contains("[3, 4]", e.Message);
    }

    /// <summary>The naive reverse-mode graphs fail on zeros: exp(sum(log(x))) gives NaN (log of 0 and of negatives), and the
    /// division trick prod(x)/x·g gives NaN at the zero and loses the one nonzero gradient; prod gives the exact answer.</summary>
    [Fact]
    public void NaiveGraphsFailOnZerosWhereProdDoesNot()
    {
        double[] xs = [1.5, 0, 2, 4];   // d/dx = [0, 12, 0, 0]
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 4);
        var values = X(Tensor.FromArray(xs, 4));

        var (pv, pg) = new Tape(b.Build(x.Prod())).Run(values);
        Assert.Equal(0, pv.GetDouble(0));
        Assert.Equal(new double[] { 0, 12, 0, 0 }, pg["x"].ToDoubleArray());

        var (lv, lg) = new Tape(b.Build(x.Log().Sum().Exp())).Run(values);
        Assert.Equal(0, lv.GetDouble(0));   // exp(-inf)
        Assert.Contains(lg["x"].ToDoubleArray(), double.IsNaN);   // (1/x)·exp(−inf) at x = 0 is inf·0

        // The division trick as a graph: the gradient written as prod(x) / x (what a tape gets from dividing out x_i).
        var division = new Tape(b.Build(x.Prod() / x), []).Forward(values).ToDoubleArray();
        Assert.True(double.IsNaN(division[1]), "0/0 at the zero entry");
        Assert.NotEqual(12, division[1]);

        // Negative entries: the log trick is NaN even without zeros, prod is exact.
        var neg = X(Tensor.FromArray(new[] { -1.5, 2, -4, 0.5 }, 4));
        Assert.True(double.IsNaN(new Tape(b.Build(x.Log().Sum().Exp())).Run(neg).Value.GetDouble(0)));
        Assert.Equal(6, new Tape(b.Build(x.Prod())).Run(neg).Value.GetDouble(0));
    }

    /// <summary>One row of 100,000 factors near 1 with signs and no zeros: the gradient equals the leave-one-out product
    /// computed in the log domain (an O(n) oracle independent of prefix products), to rounding of n products.</summary>
    [Fact]
    public void LongRowMatchesLogDomainOracle()
    {
        const int n = 100_000;
        var rng = new Random(9);
        var xs = new double[n];
        for (int i = 0; i < n; i++) xs[i] = (rng.Next(2) == 0 ? -1 : 1) * Math.Exp(0.01 * (rng.NextDouble() - 0.5));
        var b = new GraphBuilder();
        var (_, grads) = new Tape(b.Build(b.Input("x", DType.F64, n).Prod())).Run(X(Tensor.FromArray(xs, n)));
        var all = LogReal<double>.Prod(xs);
        var gx = grads["x"].ToDoubleArray();
        for (int i = 0; i < n; i++)
        {
            var want = (double)(all / xs[i]);
            Assert.True(Math.Abs(gx[i] - want) <= 1e-10 * Math.Abs(want), $"d/dx[{i}] = {gx[i]:R}, want {want:R}");
        }
    }

    [Theory]
    [InlineData("input x: f64[3, 4]\nr = prod(x, axis=1, keepdims=true)\n")]
    [InlineData("input x: f64[3, 4]\nr = prod(x)\n")]
    [InlineData("input x: f64[3, 4]\ninput t: f64[3, 4]\nr = prod_others(x, t, axis=0)\n")]
    [InlineData("input x: f64[3, 4]\nr = prod_others(x)\n")]
    public void PrintsAndParsesBack(string program) => Assert.StartsWith(program, Tests.Text.TextAssert.RoundTrips(Parser.Parse(program)));

    [Fact]
    public void ExpSumLogOfPositivesBecomesProd()
    {
        var r = Simplifier.Simplify(Parser.Parse("input x: f64[3, 5] positive\nr = exp(sum(log(x), axis=1))"));
        Assert.Contains(r.Rewrites, s => s.Rule == "prod-from-exp-sum-log");
        Assert.IsType<ProdOp>(r.After.Output.Op);
        var x = Tensor.FromDoubles(DType.F64, new Shape(3, 5), Enumerable.Range(1, 15).Select(i => 0.25 * i).ToArray());
        var cot = Tensor.RandomNormal(DType.F64, new Shape(3), new Random(2));
        var (nv, ng) = new Tape(r.Before).Run(X(x), cot);
        var (sv, sg) = new Tape(r.After).Run(X(x), cot);
        for (int i = 0; i < 3; i++) Assert.Equal(nv.GetDouble(i), sv.GetDouble(i), 1e-12 * Math.Abs(nv.GetDouble(i)));
        for (int i = 0; i < 15; i++) Assert.Equal(ng["x"].GetDouble(i), sg["x"].GetDouble(i), 1e-12 * Math.Abs(ng["x"].GetDouble(i)));
    }
}
