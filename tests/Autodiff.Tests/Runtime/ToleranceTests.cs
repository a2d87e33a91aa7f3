namespace Autodiff.Tests.Runtime;

/// <summary>The shared agreement rule (<see cref="Tolerance"/>): each row is a set of (expected, actual) vectors, the
/// element type, and the expected verdict with the counts that explain it.</summary>
public class ToleranceTests
{
    private const double NaN = double.NaN, Inf = double.PositiveInfinity;

    public sealed record Row(string Name, DType Type, (double[] Expected, double[] Actual)[] Pairs, bool Agree, int Both = 0, int ExpectedOnly = 0, int ActualOnly = 0, int Exceeding = 0)
    {
        public override string ToString() => Name;
    }

    private static readonly Row[] Rows =
    [
        new("identical", DType.F32, [([1, -2, 3], [1, -2, 3])], true),
        new("a bias whose true gradient is 0: rounding noise 1e-7 against 1e-8 beside gradients of order 1", DType.F32,
            [([0.8, -1.2, 0.3], [0.8, -1.2, 0.3]), ([1e-8], [1e-7])], true),
        new("the same near-zero tensor alone has no scale to lean on", DType.F32, [([1e-8], [1e-7])], false, Exceeding: 1),
        new("f32 logits of 1000: absolute difference 1e-5 on gradients of order 1", DType.F32,
            [([0.5, -0.25, 1e-9], [0.50001, -0.25001, 1.2e-5])], true),
        new("a relative difference of 2.6e-24 in f64", DType.F64, [([1.0, 2.6e-24], [1.0, 0])], true),
        new("a real difference of 1e-3 in f32", DType.F32, [([1, 2, 3], [1, 2.002, 3])], false, Exceeding: 1),
        new("a real difference of 1e-6 in f64", DType.F64, [([1, 2, 3], [1, 2.000002, 3])], false, Exceeding: 1),
        new("f64 rounding (1 ulp) agrees", DType.F64, [([0.1 + 0.2, 1], [0.3, 1])], true),
        new("NaN on both sides never agrees", DType.F64, [([NaN, 1], [NaN, 1])], false, Both: 1),
        new("the same infinity agrees", DType.F32, [([Inf, -Inf, 2], [Inf, -Inf, 2])], true),
        new("infinities of different sign", DType.F32, [([Inf, 2], [-Inf, 2])], false, Both: 1),
        new("finite only in the expected", DType.F32, [([1, 2], [Inf, 2])], false, ActualOnly: 1),
        new("NaN only in the actual", DType.F64, [([1, 2], [1, NaN])], false, ActualOnly: 1),
        new("NaN only in the expected, next to a difference within tolerance", DType.F64, [([NaN, 2], [1, 2 + 1e-12])], false, ExpectedOnly: 1),
        new("NaN against infinity", DType.F64, [([Inf], [NaN])], false, Both: 1),
        new("all zeros", DType.F64, [([0, 0], [0, 0])], true),
        new("zero against a tiny nonzero with no scale", DType.F64, [([0], [1e-300])], false, Exceeding: 1),
        new("empty tensors", DType.F32, [([], [])], true),
    ];

    public static TheoryData<Row> Table() => new(Rows);

    [Theory]
    [MemberData(nameof(Table))]
    public void Verdicts(Row row)
    {
        var pairs = row.Pairs.Select(p => (Tensor.FromDoubles(row.Type, new Shape(p.Expected.Length), p.Expected),
            Tensor.FromDoubles(row.Type, new Shape(p.Actual.Length), p.Actual))).ToArray();
        var a = Tolerance.For(row.Type).Compare(pairs);
        Assert.Equal(row.Agree, a.Agree);
        Assert.Equal(row.Both, a.BothNonFinite);
        Assert.Equal(row.ExpectedOnly, a.ExpectedOnlyNonFinite);
        Assert.Equal(row.ActualOnly, a.ActualOnlyNonFinite);
        Assert.Equal(row.Exceeding, a.Exceeding);
        Assert.Equal(row.Agree, a.Worst is null);
        Assert.StartsWith(row.Agree ? "agree" : "disagree", a.ToString());
        Assert.Equal(pairs.Sum(p => p.Item1.Size), a.Compared);
    }

    [Fact]
    public void TheFloorComesFromTheWholeSetAndTheRelativePartFromEachElement()
    {
        var t = Tolerance.F64;
        var a = t.Compare([(Tensor.FromArray(new[] { 4.0, -8 }, 2), Tensor.FromArray(new[] { 4.0, -8 }, 2)), (Tensor.FromArray(new[] { 0.0 }, 1), Tensor.FromArray(new[] { 0.0 }, 1))]);
        Assert.Equal(8, a.Scale);
        Assert.Equal(8e-9, a.AbsoluteTolerance, 1e-24);
        // |d| ≤ atol + rtol·max(|a|, |b|) with atol = 1e-9·S, S = 1000: the allowance is 2e-6 at 1000 and 1.008e-6 at 8.
        var expected = Tensor.FromArray(new[] { 8.0, 1000 }, 2);
        Assert.True(t.Compare(expected, Tensor.FromArray(new[] { 8.0, 1000 + 1.9e-6 }, 2)).Agree);
        Assert.False(t.Compare(expected, Tensor.FromArray(new[] { 8.0, 1000 + 2.1e-6 }, 2)).Agree);
        Assert.True(t.Compare(expected, Tensor.FromArray(new[] { 8 + 1.0e-6, 1000 }, 2)).Agree);
        Assert.False(t.Compare(expected, Tensor.FromArray(new[] { 8 + 1.1e-6, 1000 }, 2)).Agree);
    }

    [Fact]
    public void ShapesMustMatch() =>
        Assert.Throws<AutodiffException>(() => Tolerance.F32.Compare(Tensor.Zeros(DType.F32, new Shape(2)), Tensor.Zeros(DType.F32, new Shape(3))));

    [Fact]
    public void TheLoosestTypeWins()
    {
        Assert.Same(Tolerance.F32, Tolerance.For([DType.F64, DType.F32]));
        Assert.Same(Tolerance.F64, Tolerance.For([DType.F64, DType.I64]));
        Assert.Same(Tolerance.F64, Tolerance.For([]));
    }
}
