using System.Numerics;
using System.Numerics.Tensors;

namespace Autodiff.Training;

/// <summary>Stochastic gradient descent with momentum, Nesterov momentum and weight decay, as PyTorch's
/// <c>torch.optim.SGD</c> documents it. With learning rate γ, momentum μ, dampening τ and weight decay λ, step t does
/// <code>
/// g ← ∇ + λθ
/// b ← g                          (t = 1)
/// b ← μb + (1 − τ)g              (t &gt; 1)
/// g ← g + μb  (Nesterov)   or   g ← b  (momentum μ ≠ 0)
/// θ ← θ − γg
/// </code></summary>
public sealed class Sgd : Optimizer
{
    private readonly Tensor[] _momentum, _scratch;

    /// <summary>Creates the optimizer. Nesterov momentum needs a momentum &gt; 0 and no dampening (as in PyTorch).</summary>
    public Sgd(IEnumerable<Parameter> parameters, double learningRate, double momentum = 0, double weightDecay = 0, bool nesterov = false, double dampening = 0)
        : base(parameters, learningRate)
    {
        Momentum = Check("the momentum", momentum, 0);
        WeightDecay = Check("the weight decay", weightDecay, 0);
        Dampening = Check("the dampening", dampening, 0, 1);
        if (nesterov && (momentum == 0 || dampening != 0))
            throw new AutodiffException($"{Name}: Nesterov momentum needs a momentum > 0 and zero dampening (momentum {momentum}, dampening {dampening})");
        Nesterov = nesterov;
        _momentum = momentum != 0 ? NewState() : [];
        _scratch = weightDecay != 0 ? NewState() : [];
    }

    /// <inheritdoc/>
    public override string Name => "sgd";

    /// <summary>The momentum μ (0: plain gradient descent).</summary>
    public double Momentum { get; }

    /// <summary>The weight decay λ, added to the gradient as λθ (L2 regularization).</summary>
    public double WeightDecay { get; }

    /// <summary>The dampening τ of the momentum.</summary>
    public double Dampening { get; }

    /// <summary>True for Nesterov momentum.</summary>
    public bool Nesterov { get; }

    /// <inheritdoc/>
    protected override void Update<T>(int index, Span<T> value, ReadOnlySpan<T> gradient)
    {
        T lr = T.CreateChecked(LearningRate), mu = T.CreateChecked(Momentum);
        ReadOnlySpan<T> g = gradient;
        if (WeightDecay != 0)
        {
            var s = _scratch[index].Span<T>();
            TensorPrimitives.MultiplyAdd(value, T.CreateChecked(WeightDecay), gradient, s);
            g = s;
        }
        if (Momentum != 0)
        {
            var b = _momentum[index].Span<T>();
            if (StepCount == 1) g.CopyTo(b);
            else
            {
                TensorPrimitives.Multiply(b, mu, b);
                TensorPrimitives.MultiplyAdd(g, T.CreateChecked(1 - Dampening), b, b);
            }
            if (Nesterov)
            {
                // θ ← θ − γ(g + μb), as two fused passes so that g (possibly the gradient itself) is not overwritten.
                TensorPrimitives.MultiplyAdd(g, -lr, value, value);
                TensorPrimitives.MultiplyAdd(b, -lr * mu, value, value);
                return;
            }
            g = b;
        }
        TensorPrimitives.MultiplyAdd(g, -lr, value, value);
    }

    /// <inheritdoc/>
    public override void Reset()
    {
        base.Reset();
        foreach (var t in _momentum) t.Fill(0);
    }
}
