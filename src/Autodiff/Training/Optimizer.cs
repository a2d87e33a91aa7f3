using System.Numerics;
using System.Numerics.Tensors;

namespace Autodiff.Training;

/// <summary>Updates a fixed list of <see cref="Parameter"/>s in place from their gradients, as PyTorch's
/// <c>torch.optim</c> optimizers do. The state (momentum, moment estimates) is allocated once, in the constructor, with
/// each parameter's element type; <see cref="Step"/> allocates nothing and runs vectorized kernels
/// (<see cref="TensorPrimitives"/>) over <c>float</c> or <c>double</c> elements through one generic implementation.
/// <para>A training step: <c>var (loss, grads) = tape.Run(inputs); optimizer.Step(grads);</c>. The gradients are looked
/// up by parameter name, which is the name of the graph input the parameter feeds.</para></summary>
public abstract class Optimizer
{
    private readonly Parameter[] _parameters;
    private double _learningRate;

    /// <summary>Takes the parameters (at least one; names distinct) and the base learning rate.</summary>
    protected Optimizer(IEnumerable<Parameter> parameters, double learningRate)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        _parameters = parameters.ToArray();
        if (_parameters.Length == 0) throw new AutodiffException($"{Name}: no parameters to optimize");
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var p in _parameters)
            if (!seen.Add(p.Name)) throw new AutodiffException($"{Name}: parameter '{p.Name}' is given twice");
        LearningRate = learningRate;
    }

    /// <summary>The optimizer's name in messages (<c>sgd</c>, <c>adam</c>, <c>adamw</c>).</summary>
    public abstract string Name { get; }

    /// <summary>The parameters, in the order given.</summary>
    public IReadOnlyList<Parameter> Parameters => _parameters;

    /// <summary>The learning rate of the next step (set by <see cref="Schedule"/> before each step when there is one).</summary>
    public double LearningRate
    {
        get => _learningRate;
        set => _learningRate = double.IsFinite(value) && value >= 0 ? value
            : throw new AutodiffException($"{Name}: the learning rate must be finite and >= 0, not {value}");
    }

    /// <summary>When set, each <see cref="Step"/> first sets <see cref="LearningRate"/> to
    /// <c>Schedule.At(StepCount)</c> (0 for the first step).</summary>
    public LearningRateSchedule? Schedule { get; set; }

    /// <summary>Steps taken so far.</summary>
    public long StepCount { get; private set; }

    /// <summary>Updates every parameter in place from <paramref name="gradients"/> (by parameter name; what
    /// <see cref="Tape.Run"/> returns). Allocates nothing.</summary>
    /// <exception cref="AutodiffException">A parameter has no gradient, or one of another element type or shape.</exception>
    public void Step(IReadOnlyDictionary<string, Tensor> gradients)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        foreach (var p in _parameters) GradientOf(p, gradients);
        if (Schedule is { } s) LearningRate = s.At(StepCount);
        StepCount++;
        for (int i = 0; i < _parameters.Length; i++)
        {
            var p = _parameters[i];
            var g = GradientOf(p, gradients);
            if (p.DType == DType.F32) Update(i, p.Value.Span<float>(), g.Span<float>());
            else Update(i, p.Value.Span<double>(), g.Span<double>());
        }
    }

    /// <summary>Applies the update rule to parameter <paramref name="index"/> (the <see cref="StepCount"/>-th step, counted
    /// from 1) with gradient <paramref name="gradient"/>, writing <paramref name="value"/> in place.</summary>
    protected abstract void Update<T>(int index, Span<T> value, ReadOnlySpan<T> gradient) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>Clears the state (momentum, moments) and the step count, as if the optimizer were new.</summary>
    public virtual void Reset() => StepCount = 0;

    /// <summary>Clipping by global norm (PyTorch's <c>clip_grad_norm_</c>): the 2-norm of all the parameters' gradients
    /// together, <c>n</c>, is computed and, when <c>n &gt; maxNorm</c>, every gradient is scaled in place by
    /// <c>maxNorm / (n + 1e-6)</c>. Returns <c>n</c>, the norm before clipping. Allocates nothing.</summary>
    /// <exception cref="AutodiffException">The norm is not finite (naming the first parameter whose gradient is not), or a
    /// gradient is missing.</exception>
    public double ClipGradientNorm(IReadOnlyDictionary<string, Tensor> gradients, double maxNorm)
    {
        ArgumentNullException.ThrowIfNull(gradients);
        if (!(maxNorm > 0) || double.IsPositiveInfinity(maxNorm)) throw new AutodiffException($"{Name}: clip: the maximum norm must be finite and > 0, not {maxNorm}");
        double sum = 0;
        foreach (var p in _parameters)
        {
            var g = GradientOf(p, gradients);
            double n = g.DType == DType.F32 ? TensorPrimitives.Norm<float>(g.Span<float>()) : TensorPrimitives.Norm<double>(g.Span<double>());
            if (!double.IsFinite(n))
                throw new AutodiffException($"{Name}: clip: the gradient of '{p.Name}' has a non-finite norm ({n}); the step would spread it to every parameter");
            sum += n * n;
        }
        double total = Math.Sqrt(sum);
        if (total <= maxNorm) return total;
        double scale = maxNorm / (total + 1e-6);
        foreach (var p in _parameters)
        {
            var g = GradientOf(p, gradients);
            if (g.DType == DType.F32) TensorPrimitives.Multiply(g.Span<float>(), (float)scale, g.Span<float>());
            else TensorPrimitives.Multiply(g.Span<double>(), scale, g.Span<double>());
        }
        return total;
    }

    /// <summary>A zero tensor per parameter, of its element type and shape: optimizer state.</summary>
    protected Tensor[] NewState() => Array.ConvertAll(_parameters, p => Tensor.Zeros(p.DType, p.Shape));

    /// <summary>Throws unless <paramref name="value"/> is finite and in [<paramref name="min"/>, <paramref name="max"/>]
    /// (or [min, max) when <paramref name="maxExclusive"/>).</summary>
    protected double Check(string what, double value, double min, double max = double.PositiveInfinity, bool maxExclusive = false)
    {
        bool ok = !double.IsNaN(value) && value >= min && (maxExclusive ? value < max : value <= max) && !double.IsInfinity(value);
        if (!ok) throw new AutodiffException($"{Name}: {what} must be in [{min}, {max}{(maxExclusive ? ")" : "]")}, not {value}");
        return value;
    }

    private Tensor GradientOf(Parameter p, IReadOnlyDictionary<string, Tensor> gradients)
    {
        if (!gradients.TryGetValue(p.Name, out var g) || g is null)
            throw new AutodiffException($"{Name}: no gradient for parameter '{p.Name}'; differentiate the graph with respect to it (the Tape's wrt) and feed it under that name");
        if (g.DType != p.DType || g.Shape != p.Shape)
            throw new AutodiffException($"{Name}: the gradient of '{p.Name}' is {g.DType.Name()}{g.Shape}, but the parameter is {p.DType.Name()}{p.Shape}");
        return g;
    }
}
