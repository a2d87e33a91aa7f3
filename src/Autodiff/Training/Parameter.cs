namespace Autodiff.Training;

/// <summary>A trainable tensor with a name: the name of the graph input it feeds (so the gradient <see cref="Tape.Run"/>
/// returns for it is found under the same name) and of its entry in a checkpoint. The value is updated in place by an
/// <see cref="Optimizer"/>, so the tensor given to the tape as an input stays the same object across steps.</summary>
public sealed class Parameter
{
    /// <summary>Wraps <paramref name="value"/> (not copied) as the parameter <paramref name="name"/>.</summary>
    /// <exception cref="AutodiffException">The name is empty or the value is not a float tensor.</exception>
    public Parameter(string name, Tensor value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        if (name.Length == 0) throw new AutodiffException("parameter: the name is empty");
        if (!value.DType.IsFloat())
            throw new AutodiffException($"parameter '{name}': a parameter must be f32 or f64, not {value.DType.Name()}{value.Shape}");
        Name = name;
        Value = value;
    }

    /// <summary>The name: the graph input it feeds and its key in a checkpoint.</summary>
    public string Name { get; }

    /// <summary>The current value, updated in place by the optimizer.</summary>
    public Tensor Value { get; }

    /// <summary>The element type of <see cref="Value"/>.</summary>
    public DType DType => Value.DType;

    /// <summary>The shape of <see cref="Value"/>.</summary>
    public Shape Shape => Value.Shape;

    /// <summary>The name, element type and shape, e.g. <c>w1: f32[64, 32]</c>.</summary>
    public override string ToString() => $"{Name}: {DType.Name()}{Shape}";
}
