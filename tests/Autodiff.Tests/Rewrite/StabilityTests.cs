using Autodiff.Rewrite;

namespace Autodiff.Tests.Rewrite;

/// <summary>With logits of magnitude 1e3–1e4, rows like [1000, 1001] and one −inf per row, the simplified graph gives finite
/// values and gradients equal to a stable double-precision oracle, while the naive graph overflows.</summary>
public class StabilityTests
{
    public static TheoryData<string, double[]> Rows() => new()
    {
        { "1000, 1001", [1000, 1001, 1000.5] },
        { "1e3 spread", [1e3, -1e3, 5e2] },
        { "1e4", [1e4, 1e4 - 3, -1e4] },
        { "one -inf", [3, double.NegativeInfinity, 1001] },
        { "large with -inf", [1e4, double.NegativeInfinity, 1e4 + 1] },
    };

    private static (double[] Q, double Lse) Oracle(double[] row)
    {
        double m = row.Max();
        double s = row.Sum(v => Math.Exp(v - m));
        double lse = m + Math.Log(s);
        return (row.Select(v => Math.Exp(v - lse)).ToArray(), lse);
    }

    /// <summary>Rounding of z − lse costs about one ulp of the largest logit: the tolerance scales with it.</summary>
    private static double Tol(double[] row, DType dt) =>
        8 * (dt == DType.F32 ? Math.Pow(2, -23) : Math.Pow(2, -52)) * Math.Max(1, row.Where(double.IsFinite).Max(Math.Abs));

    private static Tensor Logits(double[] row, int rows, DType dt)
    {
        var t = Tensor.Zeros(dt, rows, row.Length);
        for (int r = 0; r < rows; r++)
            for (int c = 0; c < row.Length; c++) t.SetDouble(r * row.Length + c, row[(c + r) % row.Length]);
        return t;
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void CrossEntropyHoldsWhereTheNaiveGraphOverflows(string name, double[] row)
    {
        foreach (var dt in new[] { DType.F32, DType.F64 })
        {
            int n = 4, c = row.Length;
            var b = new GraphBuilder();
            var z = b.Input("z", dt, n, c);
            var t = b.Input("t", DType.I64, new Shape(n), InputFacts.ClassIndices(c));
            var e = z.Exp();
            var q = e / e.Sum(1, keepDims: true);
            var naive = b.Build(-(t.OneHot(c, dt) * q.Log()).Sum(1).Mean());
            var simplified = Simplifier.Simplify(naive).After;
            Assert.Contains(simplified.Nodes(), x => x.Op is SparseSoftmaxCrossEntropyOp);

            var zv = Logits(row, n, dt);
            var tv = Tensor.FromArray(new long[] { 0, 1, 2, 0 }, n);
            var inputs = new Dictionary<string, Tensor> { ["z"] = zv, ["t"] = tv };
            var (value, grads) = new Tape(simplified).Run(inputs);
            double loss = 0;
            for (int r = 0; r < n; r++)
            {
                var zr = Enumerable.Range(0, c).Select(k => zv.GetDouble(r * c + k)).ToArray();
                var (qr, lse) = Oracle(zr);
                int target = (int)tv.GetDouble(r);
                loss += (lse - zr[target]) / n;
                for (int k = 0; k < c; k++)
                {
                    double want = (qr[k] - (k == target ? 1 : 0)) / n;
                    double got = grads["z"].GetDouble(r * c + k);
                    Assert.True(double.IsFinite(got), $"{name} {dt}: gradient [{r},{k}] is {got}");
                    Assert.True(Math.Abs(got - want) <= Tol(row, dt), $"{name} {dt}: gradient [{r},{k}] {got:R} vs {want:R}");
                }
            }
            // the loss is +inf exactly when a target sits on a −inf logit (the true value); otherwise finite and accurate
            if (double.IsFinite(loss)) Assert.Equal(loss, value.GetDouble(0), dt == DType.F32 ? 1e-2 * Math.Max(1, Math.Abs(loss)) : 1e-9 * Math.Max(1, Math.Abs(loss)));
            else Assert.Equal(double.PositiveInfinity, value.GetDouble(0));

            if (row.Max() > 700)
            {
                var (nv, ng) = new Tape(naive).Run(inputs);
                Assert.True(!double.IsFinite(nv.GetDouble(0)) || ng["z"].ToDoubleArray().Any(v => !double.IsFinite(v)),
                    $"{name} {dt}: expected the naive graph to overflow");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Rows))]
    public void LogSumExpHoldsWhereTheNaiveGraphOverflows(string name, double[] row)
    {
        int n = 3, c = row.Length;
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, n, c);
        var naive = b.Build(z.Exp().Sum(1).Log().Sum());
        var simplified = Simplifier.Simplify(naive).After;
        Assert.True(simplified.Nodes().Any(x => x.Op is LogSumExpOp), name);
        var zv = Logits(row, n, DType.F64);
        var (value, grads) = new Tape(simplified).Run(new Dictionary<string, Tensor> { ["z"] = zv });
        double total = 0;
        for (int r = 0; r < n; r++)
        {
            var zr = Enumerable.Range(0, c).Select(k => zv.GetDouble(r * c + k)).ToArray();
            var (qr, lse) = Oracle(zr);
            total += lse;
            for (int k = 0; k < c; k++) Assert.Equal(qr[k], grads["z"].GetDouble(r * c + k), Tol(row, DType.F64));
        }
        Assert.Equal(total, value.GetDouble(0), 1e-12 * Math.Abs(total));
    }
}
