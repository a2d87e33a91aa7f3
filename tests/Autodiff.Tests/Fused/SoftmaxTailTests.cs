namespace Autodiff.Tests.Fused;

/// <summary>
/// The tails of the fused softmax family, tested like TensorFlow's softmax tail tests: where the winning class's
/// probability q rounds to 1, its gradient g·(q − 1), the loss −log q, logsumexp's m + log s and log_softmax's −log s are
/// of the order of the other classes' probabilities (1e−17 at logits [37.43, 0]) and must come out exact to a relative
/// 1e−14 in f64 (f32: its own rounding), with the right sign, not 0. The oracle is closed form in double from the very
/// (rounded) logits: with r = Σ_{j ≠ a} exp(z_j − z_a) (positive terms, nothing cancels), −log q_a = log1p(r) by its
/// series, 1 − q_a = r / (1 + r), q_j = exp(z_j − z_a) / (1 + r).
/// </summary>
public class SoftmaxTailTests
{
    /// <summary>log1p for tiny positive r by its series (independent of the library's log1p).</summary>
    private static double Log1pOracle(double r) => r < 1e-4 ? r - (r * r / 2) + (r * r * r / 3) - (r * r * r * r / 4) : Math.Log(1 + r);

    /// <summary>Rows whose class <c>t</c> wins by a margin: the row's other logits are the given offsets below it.</summary>
    public static TheoryData<DType, double, int, int> Cases()
    {
        var data = new TheoryData<DType, double, int, int>();
        foreach (var (dt, margins) in new[] { (DType.F64, new[] { 37.43, 40.0, 100.0, 700.0 }), (DType.F32, new[] { 17.0, 37.43, 80.0 }) })
            foreach (double m in margins)
                foreach (var (n, t) in new[] { (2, 0), (2, 1), (37, 0), (37, 18), (37, 36), (1000, 517) })
                    data.Add(dt, m, n, t);
        return data;
    }

    /// <summary>Logits of one row: class t at <paramref name="margin"/>, the others at fixed values in (−2.75, 0], rounded to
    /// the element type.</summary>
    private static double[] Row(DType dt, int n, int t, double margin)
    {
        var z = new double[n];
        for (int j = 0; j < n; j++) z[j] = j == t ? margin : -((j * 7) % 11) * 0.25;
        if (n == 2) z[1 - t] = 0;
        return dt == DType.F32 ? z.Select(v => (double)(float)v).ToArray() : z;
    }

    private static (double Loss, double[] Grad) Oracle(double[] z, int t)
    {
        double r = 0;
        for (int j = 0; j < z.Length; j++) if (j != t) r += Math.Exp(z[j] - z[t]);
        var grad = z.Select((v, j) => j == t ? -r / (1 + r) : Math.Exp(v - z[t]) / (1 + r)).ToArray();
        return (Log1pOracle(r), grad);
    }

    private static double Tol(DType dt) => dt == DType.F64 ? 1e-14 : 1e-6;

    /// <summary>Relative error within tolerance, and the same sign (strictly negative where the oracle is).</summary>
    private static void AssertTail(double expected, double actual, DType dt, string what)
    {
        Assert.True(Math.Sign(actual) == Math.Sign(expected), $"{what}: expected {expected:R}, got {actual:R} (wrong sign or 0)");
        Assert.True(Math.Abs(actual - expected) <= Tol(dt) * Math.Abs(expected), $"{what}: expected {expected:R}, got {actual:R}");
    }

    private static IEnumerable<(string How, double[] Loss, double[] Grad)> Evaluate(Graph g, Dictionary<string, Tensor> x, string wrt, DType dt, int rows)
    {
        var cot = Tensor.Full(dt, new Shape(rows), 1);
        var (v, grads) = new Tape(g, [wrt]).Run(x, cot);
        yield return ("Run", v.ToDoubleArray(), grads[wrt].ToDoubleArray());
        var tape = new Tape(g, [wrt]);
        var value = tape.Forward(x).ToDoubleArray();
        yield return ("Forward+Backward", value, tape.Backward(cot)[wrt].ToDoubleArray());
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void SparseCrossEntropyTailIsExact(DType dt, double margin, int n, int t)
    {
        var z = Row(dt, n, t, margin);
        var (loss, grad) = Oracle(z, t);
        var b = new GraphBuilder();
        var g = b.Build(b.Input("z", dt, 1, n).SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, 1), 1));
        var x = new Dictionary<string, Tensor> { ["z"] = Tensor.FromDoubles(dt, new Shape(1, n), z), ["t"] = Tensor.FromArray(new long[] { t }, 1) };
        foreach (var (how, l, d) in Evaluate(g, x, "z", dt, 1))
        {
            AssertTail(loss, l[0], dt, $"{how} loss");
            AssertTail(grad[t], d[t], dt, $"{how} d/dz[target]");
            for (int j = 0; j < n; j++) if (grad[j] > (dt == DType.F32 ? 1e-37 : 1e-300)) AssertTail(grad[j], d[j], dt, $"{how} d/dz[{j}]");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void DenseOneHotCrossEntropyTailIsExact(DType dt, double margin, int n, int t)
    {
        var z = Row(dt, n, t, margin);
        var (loss, grad) = Oracle(z, t);
        foreach (bool normalized in new[] { true, false })
        {
            var b = new GraphBuilder();
            var g = b.Build(b.Input("z", dt, 1, n).SoftmaxCrossEntropy(b.Input("p", dt, 1, n), 1, normalized));
            var p = new double[n];
            p[t] = 1;
            var x = new Dictionary<string, Tensor> { ["z"] = Tensor.FromDoubles(dt, new Shape(1, n), z), ["p"] = Tensor.FromDoubles(dt, new Shape(1, n), p) };
            foreach (var (how, l, d) in Evaluate(g, x, "z", dt, 1))
            {
                AssertTail(loss, l[0], dt, $"{how} normalized={normalized} loss");
                AssertTail(grad[t], d[t], dt, $"{how} normalized={normalized} d/dz[target]");
            }
        }
    }

    [Theory]
    [InlineData(DType.F64, 40.0)]
    [InlineData(DType.F64, 37.43)]
    [InlineData(DType.F32, 37.43)]
    public void LogSumExpAndLogSoftmaxTailsAreExact(DType dt, double margin)
    {
        var row = Row(dt, 5, 2, margin);
        var z = row.Select(v => v - row[2]).Select(v => dt == DType.F32 ? (double)(float)v : v).ToArray();   // the winner at 0
        var (loss, grad) = Oracle(z, 2);
        var b = new GraphBuilder();
        var zi = b.Input("z", dt, 1, 5);
        var x = new Dictionary<string, Tensor> { ["z"] = Tensor.FromDoubles(dt, new Shape(1, 5), z) };

        var lse = new Tape(b.Build(zi.LogSumExp(1))).Forward(x).ToDoubleArray();
        AssertTail(loss, lse[0], dt, "logsumexp");   // logsumexp = 0 + log1p(r)

        var tape = new Tape(b.Build(zi.LogSoftmax(1)), ["z"]);
        var y = tape.Forward(x).ToDoubleArray();
        AssertTail(-loss, y[2], dt, "log_softmax[winner]");
        var oneHot = new double[5];
        oneHot[2] = 1;
        var gx = tape.Backward(Tensor.FromDoubles(dt, new Shape(1, 5), oneHot))["z"].ToDoubleArray();
        AssertTail(-grad[2], gx[2], dt, "log_softmax backward [winner]");   // 1 − q = r/(1 + r) > 0
        AssertTail(-grad[0], gx[0], dt, "log_softmax backward [other]");
    }

    [Theory]
    [InlineData(DType.F64)]
    [InlineData(DType.F32)]
    public void SmoothedAndWeightedSparseGradientsMatchTheClosedForm(DType dt)
    {
        // not a tail (ε keeps the target's gradient away from 0), but the label's entry is now written by its own formula
        const int n = 37;
        const double eps = 0.1;
        var z = Row(dt, n, 5, 30);
        var w = Enumerable.Range(0, n).Select(j => dt == DType.F32 ? (double)(float)(0.5 + (j % 5) * 0.3) : 0.5 + (j % 5) * 0.3).ToArray();
        double m = z.Max(), s = z.Sum(v => Math.Exp(v - m)), wMean = w.Average(), k = ((1 - eps) * w[5]) + (eps * wMean);
        var expected = z.Select((v, j) => (k * Math.Exp(v - m) / s) - (eps / n * w[j]) - (j == 5 ? (1 - eps) * w[5] : 0)).ToArray();
        var b = new GraphBuilder();
        var g = b.Build(b.Input("z", dt, 1, n).SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, 1), 1, null, eps, b.Input("w", dt, n)));
        var x = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.FromDoubles(dt, new Shape(1, n), z), ["t"] = Tensor.FromArray(new long[] { 5 }, 1), ["w"] = Tensor.FromDoubles(dt, new Shape(n), w),
        };
        foreach (var (how, _, d) in Evaluate(g, x, "z", dt, 1))
            FusedRun.AssertClose(expected, d, dt == DType.F64 ? 1e-14 : 1e-6, how);
    }
}
