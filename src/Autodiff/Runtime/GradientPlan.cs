namespace Autodiff;

/// <summary>The per-node state (from <see cref="Op.CreateState"/>) of an op whose backward can overwrite some operands'
/// gradients (elementwise ops and reductions; the fused row ops extend it with their row statistics): which operands it can overwrite, and which ones the tape planned it to (see
/// <see cref="IGradientPlan"/>).</summary>
/// <param name="overwritable">Bit j set: the op's backward can overwrite operand j's gradient.</param>
internal class GradientPlan(int overwritable) : IGradientPlan
{
    private int _overwrite;

    /// <inheritdoc/>
    public bool CanOverwrite(int operand) => (overwritable >> operand & 1) != 0;

    /// <inheritdoc/>
    public void Overwrite(int operand) => _overwrite |= 1 << operand;

    /// <summary>False when the backward must overwrite operand <paramref name="operand"/>'s gradient rather than add to it.</summary>
    public bool Accumulates(int operand) => (_overwrite >> operand & 1) == 0;

    /// <summary>True when the tape planned the node with state <paramref name="state"/> to overwrite operand
    /// <paramref name="operand"/>'s gradient (never for a node without a <see cref="GradientPlan"/>).</summary>
    public static bool Overwrites(object? state, int operand) => state is GradientPlan p && !p.Accumulates(operand);
}
