namespace Autodiff;

/// <summary>Facts a user declares about an input, which the simplifier may rely on:
/// <c>probs(axis=a)</c> (entries ≥ 0 and rows along <c>a</c> sum to 1), <c>classes(C)</c> (integers in [0, C)),
/// <c>positive</c> (every entry &gt; 0).</summary>
public sealed record InputFacts(int? ProbsAxis = null, int? Classes = null, bool Positive = false)
{
    /// <summary>No facts.</summary>
    public static InputFacts None { get; } = new();

    /// <summary>Rows along <paramref name="axis"/> are probability vectors.</summary>
    public static InputFacts Probs(int axis) => new(ProbsAxis: axis);

    /// <summary>Integer class indices in [0, <paramref name="count"/>).</summary>
    public static InputFacts ClassIndices(int count) => new(Classes: count);

    /// <summary>The facts as the language writes them after the type, e.g. <c>probs(axis=1)</c>; empty if none.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (ProbsAxis is int a) parts.Add($"probs(axis={a})");
        if (Classes is int c) parts.Add($"classes({c})");
        if (Positive) parts.Add("positive");
        return string.Join(" ", parts);
    }
}
