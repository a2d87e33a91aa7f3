using Autodiff.Structured;
using Xunit.Abstractions;
using static Autodiff.Tests.Structured.GumbelData;

namespace Autodiff.Tests.Structured;

/// <summary>Score-function and reparameterization estimators against exact gradients (closed forms): unbiased within 4
/// standard errors for fixed seeds, the variances reported, the reparameterization's lower variance on the lecture's
/// example, the effect of a baseline, the Gumbel-softmax estimator's agreement with the gumbel_softmax op, and the
/// categorical draws' agreement with gumbel_max.</summary>
public class EstimatorTests(ITestOutputHelper output)
{
    private const int S = 20_000;

    private void Report(string name, double[] exact, GradientEstimate e)
    {
        for (int i = 0; i < exact.Length; i++)
            output.WriteLine($"{name}[{i}]: exact {exact[i],10:F5}  mean {e.Mean[i],10:F5}  se {e.StandardError(i),8:F5}  variance {e.Variance[i],12:F4}");
    }

    private void AssertUnbiased(string name, double[] exact, GradientEstimate e)
    {
        Report(name, exact, e);
        Assert.Equal(S, e.Samples);
        for (int i = 0; i < exact.Length; i++)
            Assert.True(Math.Abs(e.Mean[i] - exact[i]) <= 4 * e.StandardError(i) + 1e-12,
                $"{name}[{i}]: mean {e.Mean[i]:G6}, exact {exact[i]:G6}, standard error {e.StandardError(i):G3}");
    }

    private static readonly double[] Theta = [0.5, -1, 2, 0];
    private static double F(int k) => new[] { 3.0, -1, 10, 0.5 }[k];

    [Fact]
    public void CategoricalExactGradientMatchesFiniteDifferences()
    {
        double Expectation(double[] t) => Softmax(t).Select((p, k) => p * F(k)).Sum();
        var exact = Estimators.CategoricalExact(Theta, F);
        for (int i = 0; i < Theta.Length; i++)
        {
            double[] up = (double[])Theta.Clone(), down = (double[])Theta.Clone();
            up[i] += 1e-6;
            down[i] -= 1e-6;
            Assert.Equal((Expectation(up) - Expectation(down)) / 2e-6, exact[i], 1e-7);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void CategoricalScoreFunctionIsUnbiased(int seed)
    {
        var exact = Estimators.CategoricalExact(Theta, F);
        AssertUnbiased("reinforce", exact, Estimators.CategoricalScoreFunction(Theta, F, S, seed));
        AssertUnbiased("reinforce, baseline 5", exact, Estimators.CategoricalScoreFunction(Theta, F, S, seed, baseline: 5));
    }

    [Fact]
    public void BaselineNearTheMeanCutsTheVarianceOfAShiftedReward()
    {
        // f + 100 has the same gradient; without a baseline the 100 dominates the variance.
        double Shifted(int k) => F(k) + 100;
        double mean = Softmax(Theta).Select((p, k) => p * Shifted(k)).Sum();
        var exact = Estimators.CategoricalExact(Theta, Shifted);
        var plain = Estimators.CategoricalScoreFunction(Theta, Shifted, S, 3);
        var based = Estimators.CategoricalScoreFunction(Theta, Shifted, S, 3, baseline: mean);
        AssertUnbiased("no baseline", exact, plain);
        AssertUnbiased("baseline E[f]", exact, based);
        for (int i = 0; i < Theta.Length; i++) Assert.True(plain.Variance[i] > 20 * based.Variance[i]);
    }

    [Fact]
    public void CategoricalDrawsAreGumbelMaxDraws()
    {
        var draws = GumbelMaxDraws(Theta, DType.F64, 1000, 7);
        for (int s = 0; s < 1000; s++) Assert.Equal(draws[s], Estimators.SampleCategorical(Theta, 7, s));
    }

    [Fact]
    public void ScoreFunctionEstimatorIsTheGradientOfTheSurrogateGraph()
    {
        // mean_s (f(k_s) − b)·log softmax(θ)_{k_s} with k = gumbel_max(θ broadcast to [S, n]): its tape gradient is the
        // REINFORCE mean, draw for draw.
        const int n = 4, samples = 3000;
        const double baseline = 2;
        var est = Estimators.CategoricalScoreFunction(Theta, F, samples, 5, baseline);
        var b = new GraphBuilder();
        var theta = b.Input("theta", DType.F64, n);
        var f = b.Input("f", DType.F64, n);
        var batch = theta.BroadcastTo(samples, n);
        var k = batch.GumbelMax(5, axis: 1);
        var surrogate = ((f.BroadcastTo(samples, n).Take(k, axis: 1) - baseline) * batch.LogSoftmax(1).Take(k, axis: 1)).Mean();
        var grad = new Tape(b.Build(surrogate), ["theta"]).Run(new Dictionary<string, Tensor>
        {
            ["theta"] = Vector(DType.F64, Theta),
            ["f"] = Vector(DType.F64, Enumerable.Range(0, n).Select(F).ToArray()),
        }).Gradients["theta"].ToDoubleArray();
        for (int i = 0; i < n; i++) Assert.Equal(est.Mean[i], grad[i], 1e-12);
    }

    [Fact]
    public void GumbelSoftmaxEstimatorIsTheGradientOfTheGumbelSoftmaxOp()
    {
        // mean over s of ∇θ Σ_k y_sk f(k), y = gumbel_softmax(broadcast θ to [S, n]) with the same noise: one tape pass.
        const int n = 4, samples = 2000;
        const double tau = 0.5;
        var est = Estimators.CategoricalGumbelSoftmax(Theta, F, tau, samples, 9);
        var b = new GraphBuilder();
        var theta = b.Input("theta", DType.F64, n);
        var f = b.Input("f", DType.F64, n);
        var y = theta.BroadcastTo(samples, n).GumbelSoftmax(tau, 9, axis: 1);
        var loss = (y * f).Sum() / samples;
        var grad = new Tape(b.Build(loss), ["theta"]).Run(new Dictionary<string, Tensor>
        {
            ["theta"] = Vector(DType.F64, Theta),
            ["f"] = Vector(DType.F64, Enumerable.Range(0, n).Select(F).ToArray()),
        }).Gradients["theta"].ToDoubleArray();
        for (int i = 0; i < n; i++) Assert.Equal(grad[i], est.Mean[i], 1e-12);
    }

    [Fact]
    public void GumbelSoftmaxEstimatorIsBiasedButTheBiasShrinksWithTau()
    {
        var exact = Estimators.CategoricalExact(Theta, F);
        double Bias(double tau)
        {
            var e = Estimators.CategoricalGumbelSoftmax(Theta, F, tau, S, 4);
            Report($"gumbel-softmax tau {tau}", exact, e);
            return e.Mean.Zip(exact, (m, x) => Math.Abs(m - x)).Max();
        }
        double atOne = Bias(1), atTenth = Bias(0.1);
        Assert.True(atOne > 0.1, $"bias at tau 1: {atOne}");   // far more than its standard error (about 0.01)
        Assert.True(atTenth < atOne / 3, $"bias at tau 0.1: {atTenth}, at 1: {atOne}");
    }

    // The lecture's example: z ~ N(μ(θ), 1) with μ(θ) = aθ + b, a = 2, b = 3, and f(z) = z²; E[f] = μ² + σ², so
    // ∇_(μ, σ) = (2μ, 2σ) and dE/dθ = a·2μ.
    private const double A = 2, B = 3, ThetaG = 0.5, Mu = A * ThetaG + B, Sigma = 1;

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void GaussianEstimatorsAreUnbiasedAndReparameterizationHasLowerVariance(int seed)
    {
        double[] exact = [2 * Mu, 2 * Sigma];
        var score = Estimators.GaussianScoreFunction(Mu, Sigma, x => x * x, S, seed);
        var reparam = Estimators.GaussianReparameterization(Mu, Sigma, x => 2 * x, S, seed);
        AssertUnbiased("score", exact, score);
        AssertUnbiased("reparameterization", exact, reparam);
        output.WriteLine($"dE/dtheta exact {A * exact[0]:F4}, score {A * score.Mean[0]:F4}, reparameterization {A * reparam.Mean[0]:F4}");
        // Closed forms of the single-sample variances in μ: reparameterization Var[2x] = 4σ² = 4; score function
        // Var[x²(x − μ)] = E[(μ + ε)⁴ε²] − (2μ)² = μ⁴ + 14μ² + 15 = 495 at μ = 4, σ = 1.
        Assert.InRange(reparam.Variance[0], 4 * 0.95, 4 * 1.05);
        Assert.InRange(score.Variance[0], 495 * 0.85, 495 * 1.15);
    }

    [Fact]
    public void GaussianEstimatorsAreUnbiasedForASine()
    {
        // E[sin x] = sin μ · e^(−σ²/2): ∂μ = cos μ · e^(−σ²/2), ∂σ = −σ sin μ · e^(−σ²/2).
        const double mu = 0.7, sigma = 1.3;
        double damp = Math.Exp(-sigma * sigma / 2);
        double[] exact = [Math.Cos(mu) * damp, -sigma * Math.Sin(mu) * damp];
        AssertUnbiased("score, sin", exact, Estimators.GaussianScoreFunction(mu, sigma, Math.Sin, S, 5));
        AssertUnbiased("score, sin, baseline", exact, Estimators.GaussianScoreFunction(mu, sigma, Math.Sin, S, 5, baseline: Math.Sin(mu) * damp));
        AssertUnbiased("reparameterization, sin", exact, Estimators.GaussianReparameterization(mu, sigma, Math.Cos, S, 5));
    }

    [Fact]
    public void GraphDerivativeGivesTheSameEstimateAsTheDelegate()
    {
        // f(x) = x tanh x, f'(x) = tanh x + x (1 − tanh² x).
        var viaDelegate = Estimators.GaussianReparameterization(0.3, 0.8, x => Math.Tanh(x) + x * (1 - Math.Tanh(x) * Math.Tanh(x)), 5000, 8);
        var viaGraph = Estimators.GaussianReparameterizationViaGraph(0.3, 0.8, x => x * x.Tanh(), 5000, 8);
        for (int i = 0; i < 2; i++)
        {
            Assert.Equal(viaDelegate.Mean[i], viaGraph.Mean[i], 1e-12);
            Assert.Equal(viaDelegate.Variance[i], viaGraph.Variance[i], 1e-10);
        }
    }

    [Fact]
    public void NormalDrawsAreStandardNormal()
    {
        var e = Enumerable.Range(0, 100_000).Select(s => Estimators.StandardNormal(3, s)).ToArray();
        double mean = e.Average(), variance = e.Select(x => (x - mean) * (x - mean)).Sum() / (e.Length - 1);
        Assert.InRange(mean, -0.015, 0.015);
        Assert.InRange(variance, 0.98, 1.02);
        var counts = new long[10];
        foreach (var x in e) counts[Math.Min(9, (int)(10 * MathNet.Numerics.Distributions.Normal.CDF(0, 1, x)))]++;
        Assert.True(ChiSquarePValue(counts, Enumerable.Repeat(0.1, 10).ToArray()) > 0.001);
    }

    [Fact]
    public void BadArgumentsAreErrors()
    {
        Assert.Contains("sigma", Assert.Throws<AutodiffException>(() => Estimators.GaussianScoreFunction(0, 0, x => x, 10, 1)).Message);
        Assert.Contains("tau", Assert.Throws<AutodiffException>(() => Estimators.CategoricalGumbelSoftmax(Theta, F, 0, 10, 1)).Message);
        Assert.Contains("2 samples", Assert.Throws<AutodiffException>(() => Estimators.CategoricalScoreFunction(Theta, F, 1, 1)).Message);
        Assert.Contains("elementwise", Assert.Throws<AutodiffException>(() => Estimators.GaussianReparameterizationViaGraph(0, 1, x => x.Sum(), 10, 1)).Message);
    }
}
