namespace Autodiff.Structured;

/// <summary>A Monte Carlo gradient estimate: the mean of <see cref="Samples"/> single-sample estimates and their sample
/// variance (with the S − 1 divisor), per gradient component.</summary>
/// <param name="Mean">The estimate of the gradient.</param>
/// <param name="Variance">The variance of one single-sample estimate, per component.</param>
/// <param name="Samples">The number of samples S.</param>
public sealed record GradientEstimate(double[] Mean, double[] Variance, int Samples)
{
    /// <summary>The standard error of <see cref="Mean"/>[i]: sqrt(Variance[i] / S).</summary>
    public double StandardError(int i) => Math.Sqrt(Variance[i] / Samples);
}

/// <summary>Score-function (REINFORCE) and reparameterization estimators of ∇_θ E_{x∼p_θ}[f(x)], for a categorical
/// distribution with logits θ and for a Gaussian N(μ, σ²) with θ = (μ, σ), plus the exact gradients they estimate.
/// Every estimator draws its randomness from a seed through <see cref="GumbelNoise"/>'s counter-based stream (sample s
/// uses only the elements with its own indices), so a call is reproducible and independent of anything else.
/// Derivations and variances: docs/stochastic.md.</summary>
public static class Estimators
{
    // ---------------------------------------------------------------- categorical

    /// <summary>softmax(θ), max-shifted.</summary>
    public static double[] Softmax(IReadOnlyList<double> logits)
    {
        double m = logits.Max();
        var p = logits.Select(t => Math.Exp(t - m)).ToArray();
        double s = p.Sum();
        for (int i = 0; i < p.Length; i++) p[i] /= s;
        return p;
    }

    /// <summary>The category drawn for sample <paramref name="s"/>: argmax_j θ_j + G(seed, s·n + j), the same draw as
    /// <c>gumbel_max</c> with this seed on the logits broadcast to [S, n].</summary>
    public static int SampleCategorical(IReadOnlyList<double> logits, long seed, int s)
    {
        int n = logits.Count, best = 0;
        double bestValue = double.NegativeInfinity;
        for (int j = 0; j < n; j++)
        {
            double v = logits[j] + GumbelNoise.Sample(seed, (long)s * n + j);
            if (v > bestValue) { best = j; bestValue = v; }
        }
        return best;
    }

    /// <summary>The exact gradient ∇_θ Σ_k softmax(θ)_k f(k) = p ⊙ (f − Σ_k p_k f(k)).</summary>
    public static double[] CategoricalExact(IReadOnlyList<double> logits, Func<int, double> f)
    {
        var p = Softmax(logits);
        var fk = Enumerable.Range(0, p.Length).Select(f).ToArray();
        double mean = p.Zip(fk, (a, b) => a * b).Sum();
        return p.Select((pk, k) => pk * (fk[k] - mean)).ToArray();
    }

    /// <summary>REINFORCE: the single-sample estimate (f(k) − b)·∇_θ log softmax(θ)_k = (f(k) − b)(e_k − p) with
    /// k ∼ softmax(θ) (<see cref="SampleCategorical"/>). Unbiased for any constant baseline b, because E[e_k − p] = 0;
    /// a baseline near E[f] lowers the variance.</summary>
    public static GradientEstimate CategoricalScoreFunction(IReadOnlyList<double> logits, Func<int, double> f, int samples, long seed, double baseline = 0)
    {
        var p = Softmax(logits);
        var m = new Moments(p.Length, samples);
        var est = new double[p.Length];
        for (int s = 0; s < samples; s++)
        {
            int k = SampleCategorical(logits, seed, s);
            double w = f(k) - baseline;
            for (int j = 0; j < p.Length; j++) est[j] = w * ((j == k ? 1 : 0) - p[j]);
            m.Add(est);
        }
        return m.Result();
    }

    /// <summary>The Gumbel-softmax (concrete) reparameterization estimate for f extended linearly to the simplex,
    /// f(y) = Σ_k y_k f(k): with y = softmax((θ + G)/τ) the single-sample estimate is ∇_θ f(y) = (1/τ)·y ⊙ (f − Σ_k y_k f(k)),
    /// the noise G being that of <see cref="SampleCategorical"/>. Biased: it estimates ∇_θ E[f(y)], not ∇_θ E[f(k)]; the
    /// bias vanishes as τ → 0 while the variance grows like 1/τ.</summary>
    public static GradientEstimate CategoricalGumbelSoftmax(IReadOnlyList<double> logits, Func<int, double> f, double tau, int samples, long seed)
    {
        if (!(tau > 0 && double.IsFinite(tau))) throw new AutodiffException($"CategoricalGumbelSoftmax: tau must be positive and finite, got {tau}");
        int n = logits.Count;
        var fk = Enumerable.Range(0, n).Select(f).ToArray();
        var m = new Moments(n, samples);
        var z = new double[n];
        for (int s = 0; s < samples; s++)
        {
            for (int j = 0; j < n; j++) z[j] = (logits[j] + GumbelNoise.Sample(seed, (long)s * n + j)) / tau;
            var y = Softmax(z);
            double fy = y.Zip(fk, (a, b) => a * b).Sum();
            for (int j = 0; j < n; j++) z[j] = y[j] * (fk[j] - fy) / tau;
            m.Add(z);
        }
        return m.Result();
    }

    // ---------------------------------------------------------------- Gaussian

    /// <summary>A standard normal sample (Box–Muller on the uniforms <see cref="GumbelNoise.Uniform"/>(seed, 2s) and
    /// (seed, 2s + 1), both in the open interval (0, 1), so it is always finite).</summary>
    public static double StandardNormal(long seed, long s) =>
        Math.Sqrt(-2 * Math.Log(GumbelNoise.Uniform(seed, 2 * s))) * Math.Cos(2 * Math.PI * GumbelNoise.Uniform(seed, 2 * s + 1));

    /// <summary>REINFORCE for x ∼ N(μ, σ²), gradient with respect to (μ, σ): the single-sample estimate is
    /// (f(x) − b)·((x − μ)/σ², ((x − μ)² − σ²)/σ³), the score of the Gaussian density, with x = μ + σ·ε and
    /// ε = <see cref="StandardNormal"/>(seed, s). Unbiased for any constant baseline b.</summary>
    public static GradientEstimate GaussianScoreFunction(double mu, double sigma, Func<double, double> f, int samples, long seed, double baseline = 0)
    {
        RequireSigma(sigma);
        var m = new Moments(2, samples);
        var est = new double[2];
        for (int s = 0; s < samples; s++)
        {
            double eps = StandardNormal(seed, s), w = f(mu + sigma * eps) - baseline;
            est[0] = w * eps / sigma;
            est[1] = w * (eps * eps - 1) / sigma;
            m.Add(est);
        }
        return m.Result();
    }

    /// <summary>The reparameterization estimator for x = μ + σ·ε, ε ∼ N(0, 1), gradient with respect to (μ, σ): the
    /// single-sample estimate is (f′(x), f′(x)·ε), with ε = <see cref="StandardNormal"/>(seed, s) (the same draws as
    /// <see cref="GaussianScoreFunction"/> with that seed). <paramref name="df"/> is ∂f/∂x.</summary>
    public static GradientEstimate GaussianReparameterization(double mu, double sigma, Func<double, double> df, int samples, long seed)
    {
        RequireSigma(sigma);
        var m = new Moments(2, samples);
        var est = new double[2];
        for (int s = 0; s < samples; s++)
        {
            double eps = StandardNormal(seed, s), d = df(mu + sigma * eps);
            est[0] = d;
            est[1] = d * eps;
            m.Add(est);
        }
        return m.Result();
    }

    /// <summary>The reparameterization estimator with f written as a graph: <paramref name="f"/> builds an elementwise
    /// function of its argument, and ∂f/∂x at all S points x_s = μ + σ·ε_s comes from one tape pass (the gradient of
    /// Σ_s f(x_s) with respect to the vector x). Same draws and result as <see cref="GaussianReparameterization"/> with df = f′.</summary>
    public static GradientEstimate GaussianReparameterizationViaGraph(double mu, double sigma, Func<Expr, Expr> f, int samples, long seed)
    {
        RequireSigma(sigma);
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, samples);
        var fx = f(x);
        if (fx.Shape != x.Shape) throw new AutodiffException($"GaussianReparameterizationViaGraph: f must be elementwise, but maps f64{x.Shape} to {fx.DType.Name()}{fx.Shape}");
        var eps = new double[samples];
        for (int s = 0; s < samples; s++) eps[s] = StandardNormal(seed, s);
        var xs = Tensor.FromArray(eps.Select(e => mu + sigma * e).ToArray(), samples);
        var d = new Tape(b.Build(fx.Sum()), ["x"]).Run(new Dictionary<string, Tensor> { ["x"] = xs }).Gradients["x"];
        var m = new Moments(2, samples);
        var est = new double[2];
        for (int s = 0; s < samples; s++)
        {
            est[0] = d.GetDouble(s);
            est[1] = est[0] * eps[s];
            m.Add(est);
        }
        return m.Result();
    }

    private static void RequireSigma(double sigma)
    {
        if (!(sigma > 0 && double.IsFinite(sigma))) throw new AutodiffException($"Gaussian estimator: sigma must be positive and finite, got {sigma}");
    }

    /// <summary>Running mean and variance per component (Welford's update, in double).</summary>
    private sealed class Moments
    {
        private readonly double[] _mean;
        private readonly double[] _m2;
        private int _count;

        public Moments(int dim, int samples)
        {
            if (samples < 2) throw new AutodiffException($"gradient estimator: need at least 2 samples for a variance, got {samples}");
            _mean = new double[dim];
            _m2 = new double[dim];
        }

        public void Add(double[] x)
        {
            _count++;
            for (int i = 0; i < _mean.Length; i++)
            {
                double delta = x[i] - _mean[i];
                _mean[i] += delta / _count;
                _m2[i] += delta * (x[i] - _mean[i]);
            }
        }

        public GradientEstimate Result() => new(_mean, _m2.Select(v => v / (_count - 1)).ToArray(), _count);
    }
}
