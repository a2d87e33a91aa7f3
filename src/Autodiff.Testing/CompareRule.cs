namespace Autodiff.Testing;

/// <summary>The largest differences between two sets of tensors and whether they agree within the tolerance
/// (<see cref="CompareRule"/>).</summary>
/// <param name="MaxAbs">Largest |a − b| over the finite pairs (infinite when an element is finite on one side only).</param>
/// <param name="MaxRel">Largest |a − b| / max(|b|, 1e-30) (infinite likewise).</param>
/// <param name="Agree">True when every element is within the tolerance and no element is finite on one side only.</param>
/// <param name="NonFiniteMismatch">True when some element is finite on one side and not on the other.</param>
internal sealed record AgreementResult(double MaxAbs, double MaxRel, bool Agree, bool NonFiniteMismatch);

/// <summary>How <c>autodiff compare</c> (and <c>Autodiff.Testing.GraphAssert</c>) decides that the naive and the
/// simplified graph agree: element by element, with <c>a</c> the naive and <c>b</c> the simplified value, an element
/// agrees when |a − b| ≤ tol · max(|b|, m), where m is the largest finite |b| of its tensor and tol is
/// <see cref="Tolerance"/> of the tensor's element type. Elements non-finite on both sides are skipped; an element finite
/// on one side only makes the comparison disagree. docs/cli.md documents this rule; this is the CLI's comparison
/// (CompareCommand.Difference), kept here until the library has the one agreement rule that both use.</summary>
internal static class CompareRule
{
    /// <summary>Relative tolerance for f32 results.</summary>
    public const double TolF32 = 1e-4;

    /// <summary>Relative tolerance for f64 results.</summary>
    public const double TolF64 = 1e-9;

    /// <summary>Denominator floor of the relative difference.</summary>
    private const double Tiny = 1e-30;

    /// <summary>The relative tolerance for an element type: 1e-4 for f32, 1e-9 for f64.</summary>
    public static double Tolerance(DType t) => t == DType.F64 ? TolF64 : TolF32;

    /// <summary>Compares (naive, simplified) pairs of tensors of equal shapes; integer tensors are skipped.</summary>
    public static AgreementResult Compare(IEnumerable<(Tensor Naive, Tensor Simplified)> pairs)
    {
        ArgumentNullException.ThrowIfNull(pairs);
        double maxAbs = 0, maxRel = 0;
        bool agree = true, mismatch = false;
        foreach (var (a, b) in pairs)
        {
            if (!a.DType.IsFloat()) continue;
            if (a.Shape != b.Shape) throw new ArgumentException($"cannot compare a tensor of shape {a.Shape} with one of shape {b.Shape}", nameof(pairs));
            double tol = Tolerance(a.DType);
            double scale = 0;
            for (int i = 0; i < b.Size; i++)
            {
                double y = Math.Abs(b.GetDouble(i));
                if (double.IsFinite(y)) scale = Math.Max(scale, y);
            }
            for (int i = 0; i < a.Size; i++)
            {
                double x = a.GetDouble(i), y = b.GetDouble(i);
                bool fx = double.IsFinite(x), fy = double.IsFinite(y);
                if (!fx && !fy) continue;
                if (fx != fy)
                {
                    mismatch = true;
                    agree = false;
                    maxAbs = maxRel = double.PositiveInfinity;
                    continue;
                }
                double d = Math.Abs(x - y);
                maxAbs = Math.Max(maxAbs, d);
                maxRel = Math.Max(maxRel, d / Math.Max(Math.Abs(y), Tiny));
                if (d > tol * Math.Max(Math.Abs(y), scale)) agree = false;
            }
        }
        return new AgreementResult(maxAbs, maxRel, agree, mismatch);
    }
}
