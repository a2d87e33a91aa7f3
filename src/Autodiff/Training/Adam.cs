using System.Numerics;
using System.Numerics.Tensors;

namespace Autodiff.Training;

/// <summary>Adam (Kingma and Ba, 2015), as PyTorch's <c>torch.optim.Adam</c> documents it. With learning rate γ, moment
/// decays β₁ and β₂, ε and weight decay λ, step t does
/// <code>
/// g ← ∇ + λθ
/// m ← β₁m + (1 − β₁)g
/// v ← β₂v + (1 − β₂)g²
/// θ ← θ − (γ / (1 − β₁ᵗ)) · m / (√v / √(1 − β₂ᵗ) + ε)
/// </code>
/// Weight decay here is L2 regularization added to the gradient, which the moment estimates then rescale;
/// <see cref="AdamW"/> decouples it.</summary>
public class Adam : Optimizer
{
    private readonly Tensor[] _m, _v, _scratch;

    /// <summary>Creates the optimizer with PyTorch's defaults.</summary>
    public Adam(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0)
        : this(parameters, learningRate, beta1, beta2, epsilon, weightDecay, decoupled: false) { }

    private protected Adam(IEnumerable<Parameter> parameters, double learningRate, double beta1, double beta2, double epsilon, double weightDecay, bool decoupled)
        : base(parameters, learningRate)
    {
        Beta1 = Check("beta1", beta1, 0, 1, maxExclusive: true);
        Beta2 = Check("beta2", beta2, 0, 1, maxExclusive: true);
        Epsilon = Check("epsilon", epsilon, 0);
        WeightDecay = Check("the weight decay", weightDecay, 0);
        Decoupled = decoupled;
        _m = NewState();
        _v = NewState();
        _scratch = NewState();
    }

    /// <inheritdoc/>
    public override string Name => "adam";

    /// <summary>β₁, the decay of the first-moment estimate.</summary>
    public double Beta1 { get; }

    /// <summary>β₂, the decay of the second-moment estimate.</summary>
    public double Beta2 { get; }

    /// <summary>ε, added to the denominator.</summary>
    public double Epsilon { get; }

    /// <summary>The weight decay λ.</summary>
    public double WeightDecay { get; }

    /// <summary>True when the weight decay is decoupled from the gradient (<see cref="AdamW"/>).</summary>
    protected bool Decoupled { get; }

    /// <inheritdoc/>
    protected override void Update<T>(int index, Span<T> value, ReadOnlySpan<T> gradient)
    {
        var m = _m[index].Span<T>();
        var v = _v[index].Span<T>();
        var s = _scratch[index].Span<T>();
        ReadOnlySpan<T> g = gradient;
        if (WeightDecay != 0)
        {
            if (Decoupled) TensorPrimitives.Multiply(value, T.CreateChecked(1 - LearningRate * WeightDecay), value);
            else
            {
                TensorPrimitives.MultiplyAdd(value, T.CreateChecked(WeightDecay), gradient, s);
                g = s;
            }
        }
        T b1 = T.CreateChecked(Beta1), b2 = T.CreateChecked(Beta2);
        TensorPrimitives.Multiply(m, b1, m);
        TensorPrimitives.MultiplyAdd(g, T.One - b1, m, m);
        TensorPrimitives.Multiply(v, b2, v);
        TensorPrimitives.Multiply(g, g, s);                      // g may be s: it is not read after this
        TensorPrimitives.MultiplyAdd(s, T.One - b2, v, v);
        double t = StepCount;
        double correction1 = 1 - Math.Pow(Beta1, t), correction2 = Math.Sqrt(1 - Math.Pow(Beta2, t));
        TensorPrimitives.Sqrt<T>(v, s);
        TensorPrimitives.Divide(s, T.CreateChecked(correction2), s);
        TensorPrimitives.Add(s, T.CreateChecked(Epsilon), s);
        TensorPrimitives.Divide(m, s, s);
        TensorPrimitives.MultiplyAdd(s, T.CreateChecked(-LearningRate / correction1), value, value);
    }

    /// <inheritdoc/>
    public override void Reset()
    {
        base.Reset();
        foreach (var t in _m) t.Fill(0);
        foreach (var t in _v) t.Fill(0);
    }
}

/// <summary>AdamW (Loshchilov and Hutter, 2019), as PyTorch's <c>torch.optim.AdamW</c> documents it: Adam whose weight
/// decay is decoupled from the gradient. Step t first shrinks the parameter, <c>θ ← θ(1 − γλ)</c>, then takes the Adam
/// step with the plain gradient (see <see cref="Adam"/>). PyTorch's default λ is 0.01.</summary>
public sealed class AdamW : Adam
{
    /// <summary>Creates the optimizer with PyTorch's defaults.</summary>
    public AdamW(IEnumerable<Parameter> parameters, double learningRate = 1e-3, double beta1 = 0.9, double beta2 = 0.999, double epsilon = 1e-8, double weightDecay = 0.01)
        : base(parameters, learningRate, beta1, beta2, epsilon, weightDecay, decoupled: true) { }

    /// <inheritdoc/>
    public override string Name => "adamw";
}
