namespace Autodiff;

/// <summary>Facts a user declares about an input, which the simplifier may rely on:
/// <c>probs(axis=a)</c> (entries ≥ 0 and rows along <c>a</c> sum to 1), <c>classes(C)</c> (integers in [0, C)),
/// <c>positive</c> (every entry &gt; 0). A class count below 1 is refused here; what depends on the input's type and shape
/// (the axis in range, probs only on float inputs, classes only on i64 ones) when the input is declared.</summary>
public sealed record InputFacts(int? ProbsAxis = null, int? Classes = null, bool IsPositive = false)
{
    /// <summary>The number of classes of <c>classes(C)</c>, at least 1.</summary>
    public int? Classes { get; init; } = Classes is < 1
        ? throw new AutodiffException($"classes({Classes}): the number of classes must be at least 1")
        : Classes;

    /// <summary>Null if these facts can describe an input of <paramref name="type"/> and <paramref name="shape"/>;
    /// otherwise why not.</summary>
    public string? CheckDeclaration(DType type, Shape shape)
    {
        ArgumentNullException.ThrowIfNull(shape);
        if (ProbsAxis is int a)
        {
            if (!type.IsFloat()) return $"probs(axis={a}) needs a float input, not {type.Name()}{shape}";
            if (a < -shape.Rank || a >= shape.Rank) return $"probs(axis={a}) is out of range for {type.Name()}{shape} (rank {shape.Rank})";
        }
        if (Classes is int c && type != DType.I64) return $"classes({c}) needs an i64 input, not {type.Name()}{shape}";
        return null;
    }

    /// <summary>No facts.</summary>
    public static InputFacts None { get; } = new();

    /// <summary>Rows along <paramref name="axis"/> are probability vectors.</summary>
    public static InputFacts Probs(int axis) => new(ProbsAxis: axis);

    /// <summary>Every entry is &gt; 0 (<c>positive</c> in the language).</summary>
    public static InputFacts Positive() => new(IsPositive: true);

    /// <summary>Integer class indices in [0, <paramref name="count"/>).</summary>
    public static InputFacts ClassIndices(int count) => new(Classes: count);

    /// <summary>Throws an <see cref="InputFactException"/> naming <paramref name="input"/>, the fact and where it fails when
    /// <paramref name="value"/> contradicts these facts: <c>probs(axis=a)</c>, an entry below 0 or NaN, or a row along a
    /// whose sum (in double) is not 1 within 1e-4 + n·2⁻²⁴ (f32) or 1e-9 + n·2⁻⁵³ (f64) for rows of n entries;
    /// <c>positive</c>, an entry not &gt; 0 (NaN included); <c>classes(C)</c>, an entry outside [0, C). One pass over the
    /// value (vectorized for the common cases). <see cref="Tape"/> calls it for every input unless
    /// <see cref="Tape.CheckFacts"/> is off.</summary>
    public void Check(string input, Tensor value) => FactCheck.Check(this, input, value);

    /// <summary>The facts as the language writes them after the type, e.g. <c>probs(axis=1)</c>; empty if none.</summary>
    public override string ToString()
    {
        var parts = new List<string>();
        if (ProbsAxis is int a) parts.Add($"probs(axis={a})");
        if (Classes is int c) parts.Add($"classes({c})");
        if (IsPositive) parts.Add("positive");
        return string.Join(" ", parts);
    }
}
