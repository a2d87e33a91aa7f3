namespace Autodiff.Training;

/// <summary>A learning rate as a function of the step number (0 for the first step). Give one to
/// <see cref="Optimizer.Schedule"/> and the optimizer sets its learning rate before each step.</summary>
public abstract class LearningRateSchedule
{
    /// <summary>The learning rate of step <paramref name="step"/> (0-based).</summary>
    public abstract double At(long step);

    /// <summary>The same rate at every step.</summary>
    public static LearningRateSchedule Constant(double learningRate) => new StepDecay(learningRate, long.MaxValue, 1);

    /// <summary>Step decay (PyTorch's <c>StepLR</c>, counted in optimizer steps): <c>γ₀ · decay^⌊step / every⌋</c>.</summary>
    public static LearningRateSchedule Step(double learningRate, long every, double decay) => new StepDecay(learningRate, every, decay);

    /// <summary>Linear warm-up then cosine decay (the Hugging Face <c>get_cosine_schedule_with_warmup</c> curve, with a
    /// floor): <c>γ₀ · step / warmup</c> for <c>step &lt; warmup</c>, then
    /// <c>γmin + (γ₀ − γmin) · ½(1 + cos(π · (step − warmup) / (total − warmup)))</c>, and <c>γmin</c> from
    /// <paramref name="totalSteps"/> on.</summary>
    public static LearningRateSchedule CosineWithWarmup(double learningRate, long warmupSteps, long totalSteps, double minLearningRate = 0) =>
        new Cosine(learningRate, warmupSteps, totalSteps, minLearningRate);

    private static double Rate(string schedule, double lr) =>
        double.IsFinite(lr) && lr >= 0 ? lr : throw new AutodiffException($"{schedule}: the learning rate must be finite and >= 0, not {lr}");

    private static void NotNegative(long step)
    {
        if (step < 0) throw new AutodiffException($"learning-rate schedule: step {step} is negative");
    }

    private sealed class StepDecay : LearningRateSchedule
    {
        private readonly double _lr, _decay;
        private readonly long _every;

        public StepDecay(double lr, long every, double decay)
        {
            _lr = Rate("step schedule", lr);
            if (every < 1) throw new AutodiffException($"step schedule: the interval must be at least 1 step, not {every}");
            if (!(decay > 0 && decay <= 1)) throw new AutodiffException($"step schedule: the decay must be in (0, 1], not {decay}");
            _every = every;
            _decay = decay;
        }

        public override double At(long step)
        {
            NotNegative(step);
            return _lr * Math.Pow(_decay, step / _every);
        }

        public override string ToString() => _every == long.MaxValue ? $"constant({_lr})" : $"step({_lr}, every={_every}, decay={_decay})";
    }

    private sealed class Cosine : LearningRateSchedule
    {
        private readonly double _lr, _min;
        private readonly long _warmup, _total;

        public Cosine(double lr, long warmup, long total, double min)
        {
            _lr = Rate("cosine schedule", lr);
            _min = Rate("cosine schedule", min);
            if (min > lr) throw new AutodiffException($"cosine schedule: the minimum rate {min} exceeds the rate {lr}");
            if (warmup < 0 || total <= warmup)
                throw new AutodiffException($"cosine schedule: needs 0 <= warm-up steps < total steps, not warm-up {warmup} and total {total}");
            (_warmup, _total) = (warmup, total);
        }

        public override double At(long step)
        {
            NotNegative(step);
            if (step < _warmup) return _lr * step / _warmup;
            if (step >= _total) return _min;
            double progress = (double)(step - _warmup) / (_total - _warmup);
            return _min + (_lr - _min) * 0.5 * (1 + Math.Cos(Math.PI * progress));
        }

        public override string ToString() => $"cosine({_lr}, warmup={_warmup}, total={_total}, min={_min})";
    }
}
