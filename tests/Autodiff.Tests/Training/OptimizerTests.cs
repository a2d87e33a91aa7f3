using Autodiff.Training;

namespace Autodiff.Tests.Training;

/// <summary>The optimizers against their published update rules (PyTorch's documented algorithms): hand-computed steps,
/// and several steps on random values against a scalar transcription of the pseudo-code in double.</summary>
public class OptimizerTests
{
    private static Dictionary<string, Tensor> Grads(params (string Name, Tensor Value)[] g) => g.ToDictionary(x => x.Name, x => x.Value);

    [Fact]
    public void SgdMomentumByHand()
    {
        // θ0 = 1, constant gradient 1, γ = 0.1, μ = 0.9: b = 1, 1.9, 2.71; θ = 0.9, 0.71, 0.439.
        var p = new Parameter("w", Tensor.FromArray(new[] { 1.0 }, 1));
        var opt = new Sgd([p], 0.1, momentum: 0.9);
        var g = Grads(("w", Tensor.FromArray(new[] { 1.0 }, 1)));
        foreach (double expected in new[] { 0.9, 0.71, 0.439 })
        {
            opt.Step(g);
            Assert.Equal(expected, p.Value.GetDouble(0), 12);
        }
    }

    [Fact]
    public void SgdNesterovByHand()
    {
        // step 1: b = 1, g + μb = 1.9, θ = 1 − 0.19 = 0.81; step 2: b = 1.9, g + μb = 2.71, θ = 0.81 − 0.271 = 0.539.
        var p = new Parameter("w", Tensor.FromArray(new[] { 1f }, 1));
        var opt = new Sgd([p], 0.1, momentum: 0.9, nesterov: true);
        var g = Grads(("w", Tensor.FromArray(new[] { 1f }, 1)));
        opt.Step(g);
        Assert.Equal(0.81, p.Value.GetDouble(0), 6);
        opt.Step(g);
        Assert.Equal(0.539, p.Value.GetDouble(0), 6);
    }

    [Fact]
    public void SgdWeightDecayByHand()
    {
        // zero gradient, λ = 0.5, γ = 0.1: θ ← θ − 0.1·0.5·θ = 0.95θ.
        var p = new Parameter("w", Tensor.FromArray(new[] { 2.0, -4.0 }, 2));
        new Sgd([p], 0.1, weightDecay: 0.5).Step(Grads(("w", Tensor.FromArray(new[] { 0.0, 0.0 }, 2))));
        Assert.Equal([1.9, -3.8], p.Value.ToDoubleArray());
    }

    [Fact]
    public void AdamByHand()
    {
        // Step 1: m̂ = g, v̂ = g², so θ moves by γ·g/(|g| + ε) ≈ γ·sign(g).
        // Step 2 (g2 = 1 after g1 = 3): m = 0.9·0.3 + 0.1 = 0.37, m̂ = 0.37/0.19; v = 0.999·0.009 + 0.001 = 0.009991,
        // v̂ = 0.009991/0.001999; θ2 = θ1 − 0.1·m̂/(√v̂ + 1e-8).
        var p = new Parameter("w", Tensor.FromArray(new[] { 1.0 }, 1));
        var opt = new Adam([p], learningRate: 0.1);
        opt.Step(Grads(("w", Tensor.FromArray(new[] { 3.0 }, 1))));
        double theta1 = 1 - 0.1 * 3 / (3 + 1e-8);
        Assert.Equal(theta1, p.Value.GetDouble(0), 14);
        opt.Step(Grads(("w", Tensor.FromArray(new[] { 1.0 }, 1))));
        double mhat = 0.37 / (1 - 0.81), vhat = 0.009991 / (1 - 0.999 * 0.999);
        Assert.Equal(theta1 - 0.1 * mhat / (Math.Sqrt(vhat) + 1e-8), p.Value.GetDouble(0), 12);
    }

    [Fact]
    public void AdamWDecouplesTheDecay()
    {
        // AdamW: θ ← θ(1 − γλ), then the Adam step with the plain gradient; Adam with decay adds λθ to the gradient instead.
        var p = new Parameter("w", Tensor.FromArray(new[] { 2.0 }, 1));
        new AdamW([p], learningRate: 0.1, weightDecay: 0.5).Step(Grads(("w", Tensor.FromArray(new[] { -1.0 }, 1))));
        Assert.Equal(2 * (1 - 0.05) + 0.1 * 1 / (1 + 1e-8), p.Value.GetDouble(0), 12);
        var q = new Parameter("w", Tensor.FromArray(new[] { 2.0 }, 1));
        new Adam([q], learningRate: 0.1, weightDecay: 0.5).Step(Grads(("w", Tensor.FromArray(new[] { -1.0 }, 1))));
        Assert.Equal(2 - 0.1 * 0.0 / (0 + 1e-8), q.Value.GetDouble(0), 12);   // g + λθ = −1 + 1 = 0: no move
    }

    public static TheoryData<string> Configs() => new() { "sgd", "sgd-momentum", "sgd-dampening-wd", "sgd-nesterov-wd", "adam", "adam-wd", "adamw" };

    private static Optimizer Make(string config, IEnumerable<Parameter> ps) => config switch
    {
        "sgd" => new Sgd(ps, 0.05),
        "sgd-momentum" => new Sgd(ps, 0.05, momentum: 0.9),
        "sgd-dampening-wd" => new Sgd(ps, 0.05, momentum: 0.8, weightDecay: 0.1, dampening: 0.3),
        "sgd-nesterov-wd" => new Sgd(ps, 0.05, momentum: 0.9, weightDecay: 0.01, nesterov: true),
        "adam" => new Adam(ps, 0.01, beta1: 0.8, beta2: 0.95, epsilon: 1e-6),
        "adam-wd" => new Adam(ps, 0.01, weightDecay: 0.1),
        "adamw" => new AdamW(ps, 0.01, weightDecay: 0.1),
        _ => throw new ArgumentException(config),
    };

    /// <summary>The pseudo-code of torch.optim.SGD / Adam / AdamW, one scalar at a time, in double.</summary>
    private sealed class Reference(string config)
    {
        private readonly Dictionary<int, double> _b = new(), _m = new(), _v = new();
        public int T;

        public double Step(int i, double theta, double grad)
        {
            double g = grad;
            switch (config)
            {
                case "sgd": return theta - 0.05 * g;
                case "sgd-momentum": return Sgd(i, theta, g, 0.05, 0.9, 0, 0, false);
                case "sgd-dampening-wd": return Sgd(i, theta, g, 0.05, 0.8, 0.1, 0.3, false);
                case "sgd-nesterov-wd": return Sgd(i, theta, g, 0.05, 0.9, 0.01, 0, true);
                case "adam": return Adam(i, theta, g, 0.01, 0.8, 0.95, 1e-6, 0, false);
                case "adam-wd": return Adam(i, theta, g, 0.01, 0.9, 0.999, 1e-8, 0.1, false);
                default: return Adam(i, theta, g, 0.01, 0.9, 0.999, 1e-8, 0.1, true);
            }
        }

        private double Sgd(int i, double theta, double g, double lr, double mu, double wd, double tau, bool nesterov)
        {
            g += wd * theta;
            double b = T == 1 ? g : mu * _b[i] + (1 - tau) * g;
            _b[i] = b;
            g = nesterov ? g + mu * b : b;
            return theta - lr * g;
        }

        private double Adam(int i, double theta, double g, double lr, double b1, double b2, double eps, double wd, bool decoupled)
        {
            if (decoupled) theta *= 1 - lr * wd;
            else g += wd * theta;
            double m = _m[i] = b1 * _m.GetValueOrDefault(i) + (1 - b1) * g;
            double v = _v[i] = b2 * _v.GetValueOrDefault(i) + (1 - b2) * g * g;
            double mhat = m / (1 - Math.Pow(b1, T)), vhat = v / (1 - Math.Pow(b2, T));
            return theta - lr * mhat / (Math.Sqrt(vhat) + eps);
        }
    }

    [Theory, MemberData(nameof(Configs))]
    public void SeveralStepsMatchThePublishedRule(string config)
    {
        foreach (var dtype in new[] { DType.F64, DType.F32 })
        {
            var rng = new Random(7);
            // 37 elements: longer than a vector, not a multiple of one, so the kernels' tails run too.
            var ps = new[] { new Parameter("a", Tensor.Zeros(dtype, 37)), new Parameter("b", Tensor.Zeros(dtype, 3, 2)) };
            foreach (var p in ps) for (int i = 0; i < p.Value.Size; i++) p.Value.SetDouble(i, rng.NextDouble() * 4 - 2);
            var opt = Make(config, ps);
            var reference = new Reference(config);
            var expected = ps.Select(p => p.Value.ToDoubleArray()).ToArray();
            for (int step = 1; step <= 6; step++)
            {
                var grads = ps.ToDictionary(p => p.Name, p => Tensor.Zeros(dtype, p.Shape));
                foreach (var g in grads.Values) for (int i = 0; i < g.Size; i++) g.SetDouble(i, rng.NextDouble() * 2 - 1);
                opt.Step(grads);
                reference.T = step;
                for (int k = 0; k < ps.Length; k++)
                    for (int i = 0; i < expected[k].Length; i++)
                    {
                        expected[k][i] = reference.Step(k * 1000 + i, expected[k][i], grads[ps[k].Name].GetDouble(i));
                        double tol = dtype == DType.F64 ? 1e-12 : 2e-5;
                        Assert.True(Math.Abs(expected[k][i] - ps[k].Value.GetDouble(i)) <= tol * (1 + Math.Abs(expected[k][i])),
                            $"{config} {dtype.Name()} step {step} {ps[k].Name}[{i}]: {ps[k].Value.GetDouble(i)} vs {expected[k][i]}");
                        if (dtype == DType.F32) expected[k][i] = ps[k].Value.GetDouble(i);   // follow the f32 path, rounding included
                    }
            }
        }
    }

    [Theory, MemberData(nameof(Configs))]
    public void AStepAllocatesNothing(string config)
    {
        foreach (var dtype in new[] { DType.F32, DType.F64 })
        {
            var ps = new[] { new Parameter("a", Tensor.Full(dtype, new Shape(1000), 0.5)), new Parameter("b", Tensor.Full(dtype, new Shape(10, 3), -1)) };
            var opt = Make(config, ps);
            opt.Schedule = LearningRateSchedule.CosineWithWarmup(0.01, 2, 100);
            IReadOnlyDictionary<string, Tensor> grads = ps.ToDictionary(p => p.Name, p => Tensor.Full(dtype, p.Shape, 0.25));
            opt.Step(grads);   // warm up (JIT)
            opt.ClipGradientNorm(grads, 1.0);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 20; i++)
            {
                opt.ClipGradientNorm(grads, 1.0);
                opt.Step(grads);
            }
            Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        }
    }

    [Fact]
    public void ClipByGlobalNormByHand()
    {
        // ‖(3, 4)‖ = 5 > 1: both scaled by 1/(5 + 1e-6); under the limit nothing changes.
        var ps = new[] { new Parameter("a", Tensor.Zeros(DType.F64, 1)), new Parameter("b", Tensor.Zeros(DType.F32, 1)) };
        var opt = new Sgd(ps, 0.1);
        var grads = Grads(("a", Tensor.FromArray(new[] { 3.0 }, 1)), ("b", Tensor.FromArray(new[] { 4f }, 1)));
        Assert.Equal(5, opt.ClipGradientNorm(grads, 1.0), 6);
        Assert.Equal(3 / (5 + 1e-6), grads["a"].GetDouble(0), 12);
        Assert.Equal(4 / (5 + 1e-6), grads["b"].GetDouble(0), 6);
        Assert.Equal(1, opt.ClipGradientNorm(grads, 2.0), 5);
        Assert.Equal(3 / (5 + 1e-6), grads["a"].GetDouble(0), 12);
        grads["b"].SetDouble(0, double.NaN);
        Assert.Contains("'b' has a non-finite norm", Assert.Throws<AutodiffException>(() => opt.ClipGradientNorm(grads, 1)).Message);
    }

    [Fact]
    public void SchedulesByHand()
    {
        var step = LearningRateSchedule.Step(0.1, every: 10, decay: 0.5);
        Assert.Equal([0.1, 0.1, 0.05, 0.025], new long[] { 0, 9, 10, 25 }.Select(step.At));
        var cos = LearningRateSchedule.CosineWithWarmup(1.0, warmupSteps: 4, totalSteps: 12, minLearningRate: 0.2);
        Assert.Equal(0, cos.At(0));
        Assert.Equal(0.5, cos.At(2));
        Assert.Equal(1.0, cos.At(4));
        Assert.Equal(0.2 + 0.8 * 0.5 * (1 + Math.Cos(Math.PI / 4)), cos.At(6), 14);
        Assert.Equal(0.6, cos.At(8), 14);
        Assert.Equal(0.2, cos.At(12));
        Assert.Equal(0.2, cos.At(100));
        Assert.Equal(0.3, LearningRateSchedule.Constant(0.3).At(1_000_000));
    }

    [Fact]
    public void TheScheduleSetsTheRateOfEachStep()
    {
        var p = new Parameter("w", Tensor.FromArray(new[] { 0.0 }, 1));
        var opt = new Sgd([p], 1) { Schedule = LearningRateSchedule.Step(1, every: 1, decay: 0.5) };
        var g = Grads(("w", Tensor.FromArray(new[] { -1.0 }, 1)));
        opt.Step(g);
        opt.Step(g);
        opt.Step(g);
        Assert.Equal(1 + 0.5 + 0.25, p.Value.GetDouble(0));
        Assert.Equal(0.25, opt.LearningRate);
        Assert.Equal(3, opt.StepCount);
    }

    public static TheoryData<string, string> BadUses() => new()
    {
        { "missing", "adam: no gradient for parameter 'w'" },
        { "shape", "adam: the gradient of 'w' is f64[3], but the parameter is f64[2]" },
        { "dtype", "adam: the gradient of 'w' is f32[2], but the parameter is f64[2]" },
        { "nesterov", "sgd: Nesterov momentum needs a momentum > 0 and zero dampening" },
        { "beta", "adam: beta2 must be in [0, 1), not 1" },
        { "lr", "sgd: the learning rate must be finite and >= 0, not NaN" },
        { "twice", "adam: parameter 'w' is given twice" },
        { "int", "parameter 'w': a parameter must be f32 or f64, not i64[2]" },
        { "cosine", "cosine schedule: needs 0 <= warm-up steps < total steps, not warm-up 10 and total 10" },
    };

    [Theory, MemberData(nameof(BadUses))]
    public void BadUseSaysWhat(string what, string message)
    {
        var p = new Parameter("w", Tensor.Zeros(DType.F64, 2));
        Action act = what switch
        {
            "missing" => () => new Adam([p]).Step(Grads(("v", Tensor.Zeros(DType.F64, 2)))),
            "shape" => () => new Adam([p]).Step(Grads(("w", Tensor.Zeros(DType.F64, 3)))),
            "dtype" => () => new Adam([p]).Step(Grads(("w", Tensor.Zeros(DType.F32, 2)))),
            "nesterov" => () => _ = new Sgd([p], 0.1, nesterov: true),
            "beta" => () => _ = new Adam([p], beta2: 1),
            "lr" => () => _ = new Sgd([p], double.NaN),
            "twice" => () => _ = new Adam([p, p]),
            "int" => () => _ = new Parameter("w", Tensor.Zeros(DType.I64, 2)),
            _ => () => LearningRateSchedule.CosineWithWarmup(1, 10, 10),
        };
        Assert.StartsWith(message, Assert.Throws<AutodiffException>(act).Message);
        Assert.Equal(0, p.Value.GetDouble(0));
    }

    [Fact]
    public void ResetForgetsTheMomentum()
    {
        var p = new Parameter("w", Tensor.FromArray(new[] { 1.0 }, 1));
        var opt = new Sgd([p], 0.1, momentum: 0.9);
        var g = Grads(("w", Tensor.FromArray(new[] { 1.0 }, 1)));
        opt.Step(g);
        opt.Reset();
        p.Value.Fill(1);
        opt.Step(g);
        Assert.Equal(0.9, p.Value.GetDouble(0), 12);
    }
}
