namespace Autodiff.Kernels;

/// <summary>Elementwise binary operation applied by <see cref="Broadcast.Binary{T}"/>.</summary>
internal enum BinaryKind
{
    /// <summary>a + b.</summary>
    Add,

    /// <summary>a - b.</summary>
    Subtract,

    /// <summary>a * b.</summary>
    Multiply,

    /// <summary>a / b.</summary>
    Divide,

    /// <summary>max(a, b); NaN if either is NaN.</summary>
    Maximum,

    /// <summary>min(a, b); NaN if either is NaN.</summary>
    Minimum,

    /// <summary>a raised to the power b.</summary>
    Power,
}
