namespace Autodiff;

/// <summary>When two sets of results agree: the one tolerance that <c>autodiff compare</c>, the rewrite soundness checks
/// and graph assertions use, in the spirit of NumPy's <c>allclose</c> and PyTorch's gradcheck (a relative part plus an
/// absolute floor), with the floor taken from the scale of everything compared together.
/// <para>Given pairs (expected, actual) of tensors compared as one set (all the gradients of a program, say), with S the
/// largest finite |expected| over every element of every pair, an element agrees when</para>
/// <list type="bullet">
/// <item>both are finite and |actual − expected| ≤ <see cref="Floor"/>·S + <see cref="Relative"/>·max(|actual|, |expected|);</item>
/// <item>or both are the same infinity (same sign).</item>
/// </list>
/// <para>A NaN never agrees, not even with a NaN, and neither do opposite infinities (<see cref="Agreement.BothNonFinite"/>
/// counts those); an element finite on one side only is counted by side (<see cref="Agreement.ExpectedOnlyNonFinite"/>,
/// <see cref="Agreement.ActualOnlyNonFinite"/>). The floor keeps
/// entries whose true value is 0 or tiny (a bias gradient of 1e-8 computed as 1e-7 beside gradients of order 1) from
/// failing an otherwise exact match, which a per-element relative test reports as a huge relative error; taking S over the
/// whole set (not per tensor) means a tensor that is all near-zero is judged against the other tensors' scale.</para></summary>
/// <param name="Relative">The relative tolerance (rtol).</param>
/// <param name="Floor">The absolute tolerance as a fraction of the set's scale S (atol = Floor·S).</param>
public sealed record Tolerance(double Relative, double Floor)
{
    /// <summary>For float32 results: rtol 1e-4, atol 1e-4·S (about 800 units in the last place; float32 kernels that
    /// sum in a different order or fuse differently stay well inside it).</summary>
    public static Tolerance F32 { get; } = new(1e-4, 1e-4);

    /// <summary>For float64 results: rtol 1e-9, atol 1e-9·S.</summary>
    public static Tolerance F64 { get; } = new(1e-9, 1e-9);

    /// <summary>The tolerance of an element type (<see cref="F32"/> or <see cref="F64"/>; integers compare like f64, i.e.
    /// in effect exactly).</summary>
    public static Tolerance For(DType dtype) => dtype == DType.F32 ? F32 : F64;

    /// <summary>The loosest tolerance among the element types of <paramref name="types"/> (<see cref="F64"/> if none).</summary>
    public static Tolerance For(IEnumerable<DType> types) => types.Any(t => t == DType.F32) ? F32 : F64;

    /// <summary>Compares one pair.</summary>
    public Agreement Compare(Tensor expected, Tensor actual) => Compare([(expected, actual)]);

    /// <summary>Compares pairs (expected, actual) of same-shaped tensors as one set (see the class remarks). The
    /// difference maxima are over the elements finite on both sides.</summary>
    public Agreement Compare(IEnumerable<(Tensor Expected, Tensor Actual)> pairs)
    {
        var list = pairs.ToList();
        for (int k = 0; k < list.Count; k++)
            if (list[k].Expected.Shape != list[k].Actual.Shape)
                throw new AutodiffException($"compare: pair {k} has shapes {list[k].Expected.Shape} and {list[k].Actual.Shape}");
        double scale = 0;
        foreach (var (e, _) in list)
            for (int i = 0; i < e.Size; i++)
            {
                double v = Math.Abs(e.GetDouble(i));
                if (double.IsFinite(v) && v > scale) scale = v;
            }
        double atol = Floor * scale;
        double maxAbs = 0, maxRel = 0, worstExcess = 0;
        int compared = 0, finite = 0, both = 0, expectedOnly = 0, actualOnly = 0, exceeding = 0;
        Element? firstMismatch = null, firstBoth = null, worst = null;
        for (int k = 0; k < list.Count; k++)
        {
            var (e, a) = list[k];
            for (int i = 0; i < e.Size; i++)
            {
                double x = e.GetDouble(i), y = a.GetDouble(i);
                compared++;
                bool fx = double.IsFinite(x), fy = double.IsFinite(y);
                if (!fx || !fy)
                {
                    if (x == y) continue;   // the same infinity
                    if (!fx && !fy)
                    {
                        both++;
                        firstBoth ??= new Element(k, i, x, y);
                    }
                    else
                    {
                        if (fx) actualOnly++;
                        else expectedOnly++;
                        firstMismatch ??= new Element(k, i, x, y);
                    }
                    continue;
                }
                finite++;
                double d = Math.Abs(x - y), m = Math.Max(Math.Abs(x), Math.Abs(y));
                maxAbs = Math.Max(maxAbs, d);
                maxRel = Math.Max(maxRel, d / Math.Max(Math.Abs(x), 1e-30));
                double allowed = atol + (Relative * m);
                if (d > allowed)
                {
                    exceeding++;
                    double excess = allowed > 0 ? d / allowed : double.MaxValue;
                    if (excess > worstExcess)
                    {
                        worstExcess = excess;
                        worst = new Element(k, i, x, y);
                    }
                }
            }
        }
        return new Agreement(this, scale, atol, compared, finite, maxAbs, maxRel, both, expectedOnly, actualOnly, exceeding, firstMismatch ?? worst ?? firstBoth);
    }

    /// <summary>An element of a compared pair.</summary>
    /// <param name="Pair">The index of the pair.</param>
    /// <param name="Index">The flat (row-major) index of the element in the pair's tensors.</param>
    /// <param name="Expected">The expected value.</param>
    /// <param name="Actual">The actual value.</param>
    public sealed record Element(int Pair, int Index, double Expected, double Actual);
}

/// <summary>The outcome of <see cref="Tolerance.Compare(IEnumerable{ValueTuple{Tensor, Tensor}})"/>.</summary>
/// <param name="Tolerance">The tolerance used.</param>
/// <param name="Scale">S, the largest finite |expected| of the set (0 if none).</param>
/// <param name="AbsoluteTolerance">The absolute floor, <see cref="Tolerance.Floor"/>·S.</param>
/// <param name="Compared">Number of elements compared.</param>
/// <param name="BothFinite">Number of elements finite on both sides (those the difference maxima are over).</param>
/// <param name="MaxAbsDiff">Largest |actual − expected| over elements finite on both sides.</param>
/// <param name="MaxRelDiff">Largest |actual − expected| / max(|expected|, 1e-30) over elements finite on both sides (for information:
/// near-zero entries make it large without failing the floor).</param>
/// <param name="BothNonFinite">Elements non-finite on both sides but not the same infinity: NaN on either side (a NaN never
/// agrees, not even with a NaN), or +inf against −inf.</param>
/// <param name="ExpectedOnlyNonFinite">Elements non-finite in the expected tensor and finite in the actual one.</param>
/// <param name="ActualOnlyNonFinite">Elements finite in the expected tensor and non-finite in the actual one.</param>
/// <param name="Exceeding">Elements finite on both sides whose difference exceeds the tolerance.</param>
/// <param name="Worst">The element to show for a failure: the first element finite on one side only, else the element
/// furthest beyond the tolerance, else the first element non-finite on both sides; null when everything agrees.</param>
public sealed record Agreement(Tolerance Tolerance, double Scale, double AbsoluteTolerance, int Compared, int BothFinite, double MaxAbsDiff, double MaxRelDiff,
    int BothNonFinite, int ExpectedOnlyNonFinite, int ActualOnlyNonFinite, int Exceeding, Tolerance.Element? Worst)
{
    /// <summary>True when every element agrees (nothing non-finite but the same infinities on both sides, nothing beyond
    /// the tolerance).</summary>
    public bool Agree => BothNonFinite == 0 && ExpectedOnlyNonFinite == 0 && ActualOnlyNonFinite == 0 && Exceeding == 0;

    /// <summary>Elements finite on one side only.</summary>
    public int NonFiniteMismatches => ExpectedOnlyNonFinite + ActualOnlyNonFinite;

    /// <summary>One line: whether the set agrees and, if not, why.</summary>
    public override string ToString()
    {
        if (Agree) return $"agree: {Compared} elements within rtol {Tolerance.Relative:G3} + atol {AbsoluteTolerance:G3} (max abs diff {MaxAbsDiff:G3})";
        var parts = new List<string>();
        if (ExpectedOnlyNonFinite > 0) parts.Add($"{ExpectedOnlyNonFinite} non-finite only in the expected");
        if (ActualOnlyNonFinite > 0) parts.Add($"{ActualOnlyNonFinite} non-finite only in the actual");
        if (BothNonFinite > 0) parts.Add($"{BothNonFinite} non-finite on both sides (NaN, or opposite infinities)");
        if (Exceeding > 0) parts.Add($"{Exceeding} beyond rtol {Tolerance.Relative:G3} + atol {AbsoluteTolerance:G3}");
        string at = Worst is { } w ? $"; worst: pair {w.Pair} element {w.Index}, expected {w.Expected:R}, actual {w.Actual:R}" : "";
        return $"disagree: {string.Join(", ", parts)} of {Compared} elements{at}";
    }
}
