using CsCheck;

namespace Autodiff.Tests.Structured;

/// <summary>Property tests (CsCheck) of the softmax facts of the lecture, on the fused ops through the tape, in float32
/// and float64: shift invariance of softmax and log_softmax, max ≤ logsumexp ≤ max + log n, ∂ logsumexp = softmax,
/// sigmoid(x) = softmax([x, 0])₀, and softmax(x/τ) → one-hot of the argmax as τ → 0 with the exact bound
/// 1 − softmax(x/τ)_max ≤ (n − 1)·exp(−gap/τ).</summary>
public class SoftmaxFactsTests
{
    /// <summary>Logit vectors of length 1..8, at scale 1 or 1000.</summary>
    private static readonly Gen<double[]> Logits =
        Gen.Select(Gen.Double[-20, 20].Array[1, 8], Gen.OneOf(Gen.Const(1.0), Gen.Const(1000.0)), (v, scale) => v.Select(x => x * scale).ToArray());

    private static double Tol(DType dt) => dt == DType.F32 ? 1e-5 : 1e-12;

    /// <summary>Forward (and, for a scalar output, the gradient) of <paramref name="f"/> on the vector input x.</summary>
    private static (double[] Value, double[] Grad) Run(DType dt, double[] x, Func<Expr, Expr> f)
    {
        var b = new GraphBuilder();
        var xe = b.Input("x", dt, x.Length);
        var y = f(xe);
        var tape = new Tape(b.Build(y), ["x"]);
        var (v, g) = tape.Run(new Dictionary<string, Tensor> { ["x"] = Tensor.FromDoubles(dt, new Shape(x.Length), x) },
            y.Shape.Size == 1 ? null : Tensor.Zeros(dt, y.Shape));
        return (v.ToDoubleArray(), g["x"].ToDoubleArray());
    }

    private static double[] Round(DType dt, double[] x) => Tensor.FromDoubles(dt, new Shape(x.Length), x).ToDoubleArray();

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void SoftmaxAndLogSoftmaxAreShiftInvariant(DType dt)
    {
        Gen.Select(Logits, Gen.Int[-1000, 1000]).Sample((x, c) =>
        {
            // Logits on a grid of 1/64 and an integer shift keep x + c exact in both types (|x + c| < 2^17), so the two
            // inputs differ by exactly c.
            var xs = Round(dt, x.Select(v => Math.Round(v * 64) / 64).ToArray());
            var shifted = xs.Select(v => v + c).ToArray();
            var p = Run(dt, xs, e => e.Softmax()).Value;
            var q = Run(dt, shifted, e => e.Softmax()).Value;
            for (int i = 0; i < p.Length; i++) Assert.Equal(p[i], q[i], Tol(dt));
            var lp = Run(dt, xs, e => e.LogSoftmax()).Value;
            var lq = Run(dt, shifted, e => e.LogSoftmax()).Value;
            for (int i = 0; i < p.Length; i++) Assert.True(Math.Abs(lp[i] - lq[i]) <= Tol(dt) * Math.Max(1, Math.Abs(lp[i])), $"{lp[i]} vs {lq[i]}");
        }, iter: 100, threads: 1);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void LogSumExpIsBetweenMaxAndMaxPlusLogN(DType dt)
    {
        Logits.Sample(x =>
        {
            var xs = Round(dt, x);
            double lse = Run(dt, xs, e => e.LogSumExp()).Value[0], max = xs.Max();
            double slack = Tol(dt) * Math.Max(1, Math.Abs(max));
            Assert.True(max - slack <= lse && lse <= max + Math.Log(xs.Length) + slack, $"max {max}, lse {lse}, n {xs.Length}");
        }, iter: 100, threads: 1);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void GradientOfLogSumExpIsSoftmax(DType dt)
    {
        Logits.Sample(x =>
        {
            var xs = Round(dt, x);
            var grad = Run(dt, xs, e => e.LogSumExp()).Grad;
            var p = Run(dt, xs, e => e.Softmax()).Value;
            for (int i = 0; i < p.Length; i++) Assert.Equal(p[i], grad[i], Tol(dt));
            Assert.Equal(1, grad.Sum(), Tol(dt) * 10);
        }, iter: 100, threads: 1);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void SigmoidIsTheFirstEntryOfSoftmaxOfXAndZero(DType dt)
    {
        Gen.OneOf(Gen.Double[-30, 30], Gen.Double[-1000, 1000]).Sample(x =>
        {
            double xr = Round(dt, [x])[0];
            double sig = Run(dt, [xr], e => e.Sigmoid()).Value[0];
            double soft = Run(dt, [xr, 0], e => e.Softmax()).Value[0];
            double tiny = dt == DType.F32 ? 1e-37 : 1e-300;   // below the normal range both may round differently
            Assert.True(Math.Abs(sig - soft) <= Tol(dt) * sig || Math.Abs(sig - soft) < tiny, $"x {xr}: sigmoid {sig:R}, softmax {soft:R}");
        }, iter: 200, threads: 1);
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.F64)]
    public void SoftmaxOverTauTendsToTheOneHotOfTheArgmax(DType dt)
    {
        Gen.Double[-5, 5].Array[2, 8].Sample(x =>
        {
            var xs = Round(dt, x);
            int arg = Array.IndexOf(xs, xs.Max());
            double gap = xs.Max() - xs.Where((_, i) => i != arg).Max();
            if (gap < 1e-3) return;   // a near tie has no limit worth checking at these temperatures
            double previous = 0;
            foreach (var k in new[] { 0.5, 2, 8, 32 })
            {
                double tau = gap / k;
                var p = Run(dt, xs, e => (e / tau).Softmax()).Value;
                Assert.Equal(arg, Array.IndexOf(p, p.Max()));
                double bound = (xs.Length - 1) * Math.Exp(-k);
                Assert.True(1 - p[arg] <= bound + Tol(dt) * 10, $"tau {tau}: 1 - p_max = {1 - p[arg]:G4} > {bound:G4}");
                Assert.True(p[arg] >= previous - Tol(dt), "the argmax probability must not decrease as tau falls");
                previous = p[arg];
            }
            Assert.True(1 - previous <= 7 * Math.Exp(-32) + Tol(dt) * 10);
        }, iter: 100, threads: 1);
    }
}
