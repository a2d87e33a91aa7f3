namespace Autodiff.Tests.Fused;

/// <summary>Class weights with label smoothing follow PyTorch's <c>cross_entropy(z, t, weight=w, label_smoothing=ε,
/// reduction='none')</c>. The oracle is written the way ATen computes it (LossNLL.cpp,
/// <c>cross_entropy_loss_label_smoothing</c>): <c>logq = log_softmax(z)</c>, <c>nll = −w_t·logq_t</c>,
/// <c>smooth = −Σ_c w_c·logq_c</c> (both 0 on ignored rows), loss = (1 − ε)·nll + (ε/C)·smooth, in double; its gradient
/// is central differences of that oracle, not a closed form, so the test does not share a derivation with the kernel.</summary>
public class PyTorchCrossEntropyTests
{
    /// <summary>ATen's formula for one row (reduction 'none').</summary>
    private static double Reference(double[] z, long t, double[]? w, double eps, long? ignore)
    {
        if (t == ignore) return 0;
        int c = z.Length;
        double m = z.Max(), lse = m + Math.Log(z.Sum(v => Math.Exp(v - m)));
        double W(int k) => w?[k] ?? 1;
        double nll = -W((int)t) * (z[t] - lse);
        double smooth = 0;
        for (int k = 0; k < c; k++) smooth -= W(k) * (z[k] - lse);
        return (1 - eps) * nll + eps / c * smooth;
    }

    [Fact]
    public void HandExampleHasPyTorchsNumbers()
    {
        // z = [[0, 1, 2], [2, 1, 0]], t = [0, 2], w = [1, 2, 0.5], ε = 0.1. PyTorch weights each class's smoothing term
        // by its own w_c: row 0 is 0.9·1·(lse − 0) + (0.1/3)·(1·lse + 2·(lse − 1) + 0.5·(lse − 2)) = 2.34773273...
        // (scaling the whole smoothed row by w_t, as this op did before, gives 2.30760596).
        var b = new GraphBuilder();
        var g = b.Build(b.Input("z", DType.F64, 2, 3).SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, 2), 1, null, 0.1, b.Input("w", DType.F64, 3)));
        var v = new Tape(g, ["z"]).Forward(new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.FromArray(new[] { 0.0, 1, 2, 2, 1, 0 }, 2, 3),
            ["t"] = Tensor.FromArray(new long[] { 0, 2 }, 2),
            ["w"] = Tensor.FromArray(new[] { 1.0, 2, 0.5 }, 3),
        }).ToDoubleArray();
        Assert.Equal(2.3477327305184534, v[0], 1e-14);
        Assert.Equal(1.230976713185149, v[1], 1e-14);
    }

    public static TheoryData<DType, double, int?, bool> Cases() => new()
    {
        { DType.F64, 0.1, null, true },
        { DType.F64, 0.3, -100, true },
        { DType.F64, 1.0, null, true },
        { DType.F64, 0.0, 2, true },
        { DType.F64, 0.2, -1, false },
        { DType.F32, 0.1, null, true },
        { DType.F32, 0.25, 1, true },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void ValuesAndGradientsMatchATensFormula(DType dt, double eps, int? ignore, bool weighted)
    {
        const int rows = 7, classes = 5;
        var rng = new Random(42);
        var z = Enumerable.Range(0, rows * classes).Select(_ => 3 * (rng.NextDouble() * 2 - 1)).ToArray();
        var labels = Enumerable.Range(0, rows).Select(r => ignore is int k && r % 3 == 1 ? k : (long)rng.Next(classes)).ToArray();
        var w = weighted ? Enumerable.Range(0, classes).Select(_ => 0.25 + 2 * rng.NextDouble()).ToArray() : null;
        var cot = Enumerable.Range(0, rows).Select(_ => rng.NextDouble() + 0.5).ToArray();
        if (dt == DType.F32)
        {
            z = z.Select(x => (double)(float)x).ToArray();
            w = w?.Select(x => (double)(float)x).ToArray();
            cot = cot.Select(x => (double)(float)x).ToArray();
        }

        var b = new GraphBuilder();
        var wIn = weighted ? b.Input("w", dt, classes) : (Expr?)null;
        var g = b.Build(b.Input("z", dt, rows, classes).SparseSoftmaxCrossEntropy(b.Input("t", DType.I64, rows), 1, ignore, eps, wIn));
        var inputs = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.FromDoubles(dt, new Shape(rows, classes), z),
            ["t"] = Tensor.FromArray(labels, rows),
        };
        if (w is not null) inputs["w"] = Tensor.FromDoubles(dt, new Shape(classes), w);
        var cotangent = Tensor.FromDoubles(dt, new Shape(rows), cot);

        double Row(double[] zz, int r) => Reference(zz.Skip(r * classes).Take(classes).ToArray(), labels[r], w, eps, ignore);
        double Objective(double[] zz) => Enumerable.Range(0, rows).Sum(r => cot[r] * Row(zz, r));
        double tol = dt == DType.F64 ? 1e-9 : 2e-5;

        foreach (bool fused in new[] { false, true })
        {
            var tape = new Tape(g, ["z"]);
            Tensor value;
            IReadOnlyDictionary<string, Tensor> grads;
            if (fused) (value, grads) = tape.Run(inputs, cotangent);
            else
            {
                value = tape.Forward(inputs);
                grads = tape.Backward(cotangent);
            }
            var v = value.ToDoubleArray();
            for (int r = 0; r < rows; r++)
                Assert.True(Math.Abs(v[r] - Row(z, r)) <= tol * Math.Max(1, Math.Abs(Row(z, r))), $"row {r}: {v[r]} vs ATen's {Row(z, r)}");
            var gz = grads["z"].ToDoubleArray();
            for (int i = 0; i < z.Length; i++)
            {
                double h = 1e-6, save = z[i];
                z[i] = save + h;
                double up = Objective(z);
                z[i] = save - h;
                double down = Objective(z);
                z[i] = save;
                double numeric = (up - down) / (2 * h);
                Assert.True(Math.Abs(gz[i] - numeric) <= 1e-6 + (dt == DType.F64 ? 1e-6 : 1e-4) * Math.Abs(numeric),
                    $"dz[{i}] ({(fused ? "Run" : "Forward+Backward")}): {gz[i]} vs central difference {numeric}");
            }
        }
    }
}
