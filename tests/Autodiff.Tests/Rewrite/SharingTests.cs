using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Rewrite;

/// <summary>The sharing policy. For every rule that reports a "shared" near miss, a program whose interior node has another
/// consumer: <see cref="SharingPolicy.Keep"/> refuses with that near miss, <see cref="SharingPolicy.Recompute"/> fires and
/// notes the recompute, and the Recompute graph computes the value and gradients of the program as written (tape, f64,
/// random inputs); on large inputs where the program as written overflows, the Recompute graph is finite and agrees with
/// a stable closed form evaluated in double (gradients by central differences of it).</summary>
public class SharingTests
{
    /// <param name="Name">Case name.</param>
    /// <param name="Rule">The rule under test.</param>
    /// <param name="Program">A program where the rule's interior node has another consumer.</param>
    /// <param name="Oracle">The program's value in closed form, stable for any finite input, or null when no large input
    /// makes the program as written overflow.</param>
    /// <param name="Scale">Standard deviation of the large float inputs.</param>
    /// <param name="Shift">Mean of the large float inputs.</param>
    /// <param name="KeepFires">True for the one rule that fires under both policies (one-minus-sigmoid).</param>
    public sealed record Case(string Name, string Rule, string Program, Func<Values, double>? Oracle = null,
        double Scale = 1000, double Shift = 0, bool KeepFires = false)
    {
        public override string ToString() => Name;
    }

    /// <summary>Input values by name, row-major [4, 3] (or [4] for class indices).</summary>
    public sealed class Values(Dictionary<string, double[]> v)
    {
        public double this[string name, int r, int c] => v[name][r * C + c];

        public double this[string name, int i] => v[name][i];
    }

    private const int R = 4, C = 3;
    private const string X = "input x: f64[4, 3]\ninput y: f64[4, 3]\n";
    private const string Zp = "input z: f64[4, 3]\ninput p: f64[4, 3] probs(axis=1)\n";

    private static double[] Row(Values v, string name, int r) => Enumerable.Range(0, C).Select(c => v[name, r, c]).ToArray();

    private static double Lse(double[] row)
    {
        double m = row.Max();
        return m + Math.Log(row.Sum(a => Math.Exp(a - m)));
    }

    private static double Softplus(double a) => Math.Max(a, 0) + Math.Log(1 + Math.Exp(-Math.Abs(a)));

    private static double Sigmoid(double a) => a >= 0 ? 1 / (1 + Math.Exp(-a)) : Math.Exp(a) / (1 + Math.Exp(a));

    /// <summary>Σ over all entries of f(row, r, c, lse of row r of <paramref name="name"/>).</summary>
    private static double Entries(Values v, string name, Func<int, int, double, double> f)
    {
        double s = 0;
        for (int r = 0; r < R; r++)
        {
            double lse = Lse(Row(v, name, r));
            for (int c = 0; c < C; c++) s += f(r, c, lse);
        }
        return s;
    }

    /// <summary>Σ over all entries of f(row, column).</summary>
    private static double Entries(Func<int, int, double> f)
    {
        double s = 0;
        for (int r = 0; r < R; r++)
            for (int c = 0; c < C; c++) s += f(r, c);
        return s;
    }

    public static readonly Case[] Cases =
    [
        new("mul-by-reciprocal", "mul-by-reciprocal", "input x: f64[4, 3]\ninput y: f64[4, 3] positive\nd = 1 / y\nr = sum(x * d) + sum(d)"),
        new("softmax", "softmax", X + "e = exp(x)\ns = sum(e, axis=1, keepdims=true)\nr = sum(y * (e / s)) + sum(log(s))",
            v => Entries(v, "x", (r, c, l) => v["y", r, c] * Math.Exp(v["x", r, c] - l) + l / C)),
        new("logsumexp", "logsumexp", X + "e = exp(x)\ns = sum(e, axis=1, keepdims=true)\nr = sum(log(s)) + sum(y * (e / s))",
            v => Entries(v, "x", (r, c, l) => v["y", r, c] * Math.Exp(v["x", r, c] - l) + l / C)),
        new("log-softmax", "log-softmax", X + "q = softmax(x, axis=1)\nr = sum(y * log(q)) + sum(y * q)",
            v => Entries(v, "x", (r, c, l) => v["y", r, c] * (v["x", r, c] - l + Math.Exp(v["x", r, c] - l)))),
        new("log-softmax-from-logsumexp", "log-softmax-from-logsumexp", X + "l = log(sum(exp(x), axis=1, keepdims=true))\nr = sum(y * (x - l)) + sum(l)",
            v => Entries(v, "x", (r, c, l) => v["y", r, c] * (v["x", r, c] - l) + l / C)),
        new("softplus", "softplus", X + "t = 1 + exp(-x)\np = 1 / t\nr = sum(y * log(t)) + sum(p)",
            v => Entries((r, c) => v["y", r, c] * Softplus(-v["x", r, c]) + Sigmoid(v["x", r, c]))),
        new("sigmoid", "sigmoid", X + "t = 1 + exp(-x)\np = 1 / t\nr = sum(p) + sum(y * log(t))",
            v => Entries((r, c) => v["y", r, c] * Softplus(-v["x", r, c]) + Sigmoid(v["x", r, c]))),
        new("log-sigmoid", "log-sigmoid", X + "p = sigmoid(x)\nr = sum(y * log(p)) + sum(y * p)",
            v => Entries((r, c) => v["y", r, c] * (-Softplus(-v["x", r, c]) + Sigmoid(v["x", r, c])))),
        new("one-minus-sigmoid", "one-minus-sigmoid", X + "p = sigmoid(x)\nr = sum(p) + sum(y * log(1 - p))",
            v => Entries((r, c) => Sigmoid(v["x", r, c]) - v["y", r, c] * Softplus(v["x", r, c])), KeepFires: true),
        // all exps underflow: log(0) = -inf as written
        new("logaddexp", "logaddexp", X + "s = exp(x) + exp(y)\nr = sum(log(s)) + sum(s)",
            v => Entries((r, c) =>
            {
                double a = v["x", r, c], b = v["y", r, c];
                return Math.Max(a, b) + Math.Log(1 + Math.Exp(-Math.Abs(a - b))) + Math.Exp(a) + Math.Exp(b);
            }), Scale: 10, Shift: -1000),
        new("prod-from-exp-sum-log", "prod-from-exp-sum-log", "input x: f64[4, 3] positive\nl = log(x)\nr = sum(exp(sum(l, axis=1))) + sum(l)"),
        // sqrt(s) and s^0.5 are two naive 2-norms of one sum of squares, which overflows at 1e200
        new("pnorm-from-naive", "pnorm-from-naive", "input x: f64[4, 3]\ns = sum(x * x, axis=1)\nr = sum(sqrt(s)) + sum(s^0.5)",
            v => 2 * Enumerable.Range(0, R).Sum(r =>
            {
                var row = Row(v, "x", r);
                double m = row.Max(Math.Abs);
                return m * Math.Sqrt(row.Sum(a => a / m * (a / m)));
            }), Scale: 1e200),
        new("softmax-cross-entropy", "softmax-cross-entropy", Zp + "l = log(softmax(z, axis=1))\nr = -sum(p * l) + sum(l)",
            v => Entries(v, "z", (r, c, l) => (1 - v["p", r, c]) * (v["z", r, c] - l))),
        new("softmax-cross-entropy-mean", "softmax-cross-entropy-mean", Zp + "l = log(softmax(z, axis=1))\nr = -mean(p * l) + sum(l)",
            v => Entries(v, "z", (r, c, l) => (1 - v["p", r, c] / (R * C)) * (v["z", r, c] - l))),
        new("sparse-softmax-cross-entropy", "sparse-softmax-cross-entropy", Zp + "input t: i64[4] classes(3)\nl = log(softmax(z, axis=1))\nr = -mean(take(l, t, axis=1)) + sum(l)",
            v => Entries(v, "z", (r, c, l) => (1 - (c == (int)v["t", r] ? 1.0 / R : 0)) * (v["z", r, c] - l))),
    ];

    public static TheoryData<Case> All() { var d = new TheoryData<Case>(); foreach (var c in Cases) d.Add(c); return d; }

    private static SimplifyResult Simplify(Graph g, SharingPolicy sharing) => Simplifier.Simplify(g, new SimplifyOptions(Sharing: sharing));

    private static bool IsSharedMiss(NearMiss m) => m.Reason.Contains("also used outside the pattern");

    [Theory]
    [MemberData(nameof(All))]
    public void KeepRefusesAndRecomputeFires(Case c)
    {
        var g = Parser.Parse(c.Program);
        var keep = Simplify(g, SharingPolicy.Keep);
        Assert.True(keep.Rewrites.Any(s => s.Rule == c.Rule) == c.KeepFires, RuleTests.Report(keep));
        if (!c.KeepFires)
            Assert.Contains(keep.NearMisses, m => m.Rule == c.Rule && IsSharedMiss(m));

        var recompute = Simplify(g, SharingPolicy.Recompute);
        Assert.Equal(StopReason.Saturated, recompute.StopReason);
        Assert.Contains(recompute.Rewrites, s => s.Rule == c.Rule);
        Assert.DoesNotContain(recompute.NearMisses, IsSharedMiss);
        // the first rewrite that removed the shared node says so; where two rules share it, the second finds it unshared
        Assert.Contains(recompute.Rewrites, s => s.Note is { } n && n.StartsWith("recomputes ") && n.Contains("shared with 1 other consumer"));
    }

    [Theory]
    [MemberData(nameof(All))]
    public void RecomputeKeepsValueAndGradients(Case c)
    {
        var g = Parser.Parse(c.Program);
        var after = Simplify(g, SharingPolicy.Recompute).After;
        for (int seed = 0; seed < 5; seed++)
        {
            var inputs = Inputs(g, new Random(seed), 1, 0);
            var (v0, g0) = new Tape(g).Run(inputs);
            var (v1, g1) = new Tape(after).Run(inputs);
            AssertClose(v0.GetDouble(0), v1.GetDouble(0), 1e-10, $"{c.Name} seed {seed}: value");
            foreach (var (name, want) in g0)
            {
                double scale = want.ToDoubleArray().Max(Math.Abs);
                var got = g1[name].ToDoubleArray();
                for (int i = 0; i < got.Length; i++)
                    AssertClose(want.GetDouble(i), got[i], 1e-10 * Math.Max(1, scale), $"{c.Name} seed {seed}: d/d{name}[{i}]", absolute: true);
            }
        }
    }

    public static TheoryData<Case> WithOracle() { var d = new TheoryData<Case>(); foreach (var c in Cases.Where(c => c.Oracle is not null)) d.Add(c); return d; }

    [Theory]
    [MemberData(nameof(WithOracle))]
    public void RecomputeIsFiniteWhereTheProgramOverflows(Case c)
    {
        var g = Parser.Parse(c.Program);
        var after = Simplify(g, SharingPolicy.Recompute).After;
        var inputs = Inputs(g, new Random(42), c.Scale, c.Shift);

        var (v0, g0) = new Tape(g).Run(inputs);
        Assert.True(!double.IsFinite(v0.GetDouble(0)) || g0.Values.Any(t => t.ToDoubleArray().Any(x => !double.IsFinite(x))),
            $"{c.Name}: the program as written should overflow at scale {c.Scale}");

        var (v1, g1) = new Tape(after).Run(inputs);
        var values = inputs.ToDictionary(kv => kv.Key, kv => kv.Value.ToDoubleArray());
        double want = c.Oracle!(new Values(values));
        AssertClose(want, v1.GetDouble(0), 1e-12 * Math.Max(1, Math.Abs(want)), $"{c.Name}: value", absolute: true);
        foreach (var (name, grad) in g1)
        {
            var got = grad.ToDoubleArray();
            var fd = new double[got.Length];
            for (int i = 0; i < got.Length; i++)
            {
                var x = values[name];
                double keep = x[i], h = 1e-6 * Math.Max(1, Math.Abs(keep));
                x[i] = keep + h;
                double up = c.Oracle(new Values(values));
                x[i] = keep - h;
                double down = c.Oracle(new Values(values));
                x[i] = keep;
                fd[i] = (up - down) / (2 * h);
            }
            double scale = fd.Max(Math.Abs);
            for (int i = 0; i < got.Length; i++)
            {
                Assert.True(double.IsFinite(got[i]), $"{c.Name}: d/d{name}[{i}] = {got[i]}");
                AssertClose(fd[i], got[i], 1e-5 * Math.Max(1, scale), $"{c.Name}: d/d{name}[{i}]", absolute: true);
            }
        }
    }

    /// <summary>one-minus-sigmoid in binary cross-entropy: under both policies both logs end as log_sigmoid and sigmoid(z)
    /// is gone; Keep notes the recompute on one-minus-sigmoid (log(sigmoid(z)) meets the shared sigmoid first and waits a
    /// pass), Recompute on log-sigmoid.</summary>
    [Theory]
    [InlineData(SharingPolicy.Keep, "one-minus-sigmoid")]
    [InlineData(SharingPolicy.Recompute, "log-sigmoid")]
    public void BinaryCrossEntropyEndsUnsharedUnderBothPolicies(SharingPolicy sharing, string noted)
    {
        var g = Parser.Parse("input z: f64[4]\ninput y: f64[4]\np = sigmoid(z)\nr = -mean(y * log(p) + (1 - y) * log(1 - p))");
        var r = Simplify(g, sharing);
        Assert.Equal("-mean(y * log_sigmoid(z) + (1 - y) * log_sigmoid(-z))", Printer.PrintExpression(r.After.Output));
        Assert.Empty(r.NearMisses);
        var step = Assert.Single(r.Rewrites, s => s.Note is not null);
        Assert.Equal(noted, step.Rule);
        Assert.Equal("recomputes sigmoid(z), shared with 1 other consumer", step.Note);
    }

    [Fact]
    public void NoteCountsEveryOtherConsumer()
    {
        var g = Parser.Parse(X + "e = exp(x)\nq = e / sum(e, axis=1, keepdims=true)\nr = sum(q) + sum(e * y) + sum(sqrt(e))");
        var step = Assert.Single(Simplify(g, SharingPolicy.Recompute).Rewrites, s => s.Rule == "softmax");
        Assert.Equal("recomputes exp(x), shared with 2 other consumers", step.Note);
        Assert.DoesNotContain(Simplify(g, SharingPolicy.Keep).Rewrites, s => s.Rule == "softmax");
    }

    /// <summary>The softmax that replaces exp(e) / sum(exp(e)) reads e, so e = exp(x) is shared when logsumexp meets it
    /// later in the same pass.</summary>
    [Fact]
    public void AReplacementIsCountedAsAConsumer()
    {
        var g = Parser.Parse(X + "e = exp(x)\nq = exp(e) / sum(exp(e), axis=1, keepdims=true)\nr = sum(q) + sum(log(sum(e, axis=1)))");
        var keep = Simplify(g, SharingPolicy.Keep);
        Assert.Contains(keep.Rewrites, s => s.Rule == "softmax");
        Assert.DoesNotContain(keep.Rewrites, s => s.Rule == "logsumexp");
        Assert.Contains(keep.NearMisses, m => m.Rule == "logsumexp" && m.Reason.StartsWith("exp(x) is also used"));
        var step = Assert.Single(Simplify(g, SharingPolicy.Recompute).Rewrites, s => s.Rule == "logsumexp");
        Assert.Equal("recomputes exp(x), shared with 1 other consumer", step.Note);
    }

    private static void AssertClose(double want, double got, double tol, string what, bool absolute = false)
    {
        double bound = absolute ? tol : tol * Math.Max(1, Math.Abs(want));
        Assert.True(Math.Abs(want - got) <= bound, $"{what}: {got:R}, expected {want:R} (tolerance {bound:R})");
    }

    /// <summary>Float inputs normal(shift, scale), <c>positive</c> ones uniform in [0.5, 2], <c>probs</c> rows positive and
    /// normalised, class indices uniform.</summary>
    private static Dictionary<string, Tensor> Inputs(Graph g, Random rng, double scale, double shift)
    {
        var d = new Dictionary<string, Tensor>();
        foreach (var node in g.Inputs)
        {
            var op = (InputOp)node.Op;
            int n = op.Shape.Size;
            double[] v;
            if (op.Facts.Classes is int k) v = Enumerable.Range(0, n).Select(_ => (double)rng.Next(k)).ToArray();
            else if (op.Facts.IsPositive) v = Enumerable.Range(0, n).Select(_ => 0.5 + 1.5 * rng.NextDouble()).ToArray();
            else if (op.Facts.ProbsAxis is not null)
            {
                v = Enumerable.Range(0, n).Select(_ => 0.1 + rng.NextDouble()).ToArray();
                for (int r = 0; r < R; r++)
                {
                    double s = v.Skip(r * C).Take(C).Sum();
                    for (int c = 0; c < C; c++) v[r * C + c] /= s;
                }
            }
            else v = Enumerable.Range(0, n).Select(_ => shift + scale * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble())).ToArray();
            d[op.InputName] = Tensor.FromDoubles(op.Type, op.Shape, v);
        }
        return d;
    }
}
