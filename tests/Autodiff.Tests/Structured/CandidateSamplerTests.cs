using Autodiff.Text;
using static Autodiff.Tests.Structured.GumbelData;

namespace Autodiff.Tests.Structured;

/// <summary>The candidate samplers against their distributions (chi-square at fixed seeds, MathNet's chi-square CDF),
/// TensorFlow's sampling and expected-count formulas written out over the same random bits, the unique sampler's
/// distinctness and the empirical inclusion frequency its approximate expected counts stand for.</summary>
public class CandidateSamplerTests
{
    private const int V = 20;
    private static readonly double[] Counts = [.. Enumerable.Range(0, V).Select(i => (double)((i * 7) % 11 + (i == 11 ? 0 : 1)))];

    /// <summary>The probabilities each sampler should draw from, computed here from the definitions.</summary>
    private static double[] Expected(CandidateDistribution d, double distortion = 0.75) => d switch
    {
        CandidateDistribution.LogUniform => [.. Enumerable.Range(0, V).Select(c => (Math.Log(c + 2.0) - Math.Log(c + 1.0)) / Math.Log(V + 1.0))],
        CandidateDistribution.Uniform => [.. Enumerable.Repeat(1.0 / V, V)],
        _ => Normalize([.. Counts.Select(c => Math.Pow(c, distortion))]),
    };

    private static double[] Normalize(double[] w) => [.. w.Select(x => x / w.Sum())];

    private static CandidateSampling Sampling(CandidateDistribution d, int s, bool unique, int seed = 5, double distortion = 0.75) =>
        new(d, s, d == CandidateDistribution.FixedUnigram ? 0 : V, unique, d == CandidateDistribution.FixedUnigram ? distortion : 1, seed);

    /// <summary>The samples and the expected counts of <paramref name="ids"/> at each step in <paramref name="steps"/>.</summary>
    private static (long[] Sampled, double[] Counts)[] Run(CandidateSampling sampling, long[] ids, IEnumerable<long> steps, DType dt = DType.F64)
    {
        var b = new GraphBuilder();
        var step = b.Input("step", DType.I64);
        var idsIn = b.Input("ids", DType.I64, ids.Length);
        Expr? u = sampling.HasCounts ? b.Input("u", dt, V) : (Expr?)null;
        var sampled = Expr.CandidateSample(b, sampling, u, step);
        var counts = idsIn.ExpectedCount(sampling, dt, u, step);
        var ts = new Tape(b.Build(sampled), []);
        var tc = new Tape(b.Build(counts), []);
        return [.. steps.Select(s =>
        {
            var inputs = new Dictionary<string, Tensor> { ["step"] = Tensor.FromArray(new[] { s }, Shape.Scalar), ["ids"] = Tensor.FromArray(ids, ids.Length) };
            if (u is not null) inputs["u"] = Tensor.FromDoubles(dt, new Shape(V), Counts);
            return (((long[])ts.Forward(inputs).Data).ToArray(), tc.Forward(inputs).ToDoubleArray());
        })];
    }

    public static TheoryData<CandidateDistribution> Distributions() => new(Enum.GetValues<CandidateDistribution>());

    [Theory, MemberData(nameof(Distributions))]
    public void DrawsFollowTheDistribution(CandidateDistribution d)
    {
        var (sampled, _) = Run(Sampling(d, 100_000, unique: false), [0], [3])[0];
        double p = ChiSquarePValue(Histogram(sampled, V), Expected(d));
        Assert.True(p > 1e-3, $"{d}: chi-square p = {p}");
        // and a wrong distribution is rejected by the same test (so it can fail)
        var wrong = Expected(d == CandidateDistribution.Uniform ? CandidateDistribution.LogUniform : CandidateDistribution.Uniform);
        Assert.True(ChiSquarePValue(Histogram(sampled, V), wrong) < 1e-6, d.ToString());
    }

    [Fact]
    public void DistortionChangesTheDistribution()
    {
        foreach (double distortion in new[] { 0.0, 0.5, 1.0 })
        {
            var (sampled, _) = Run(Sampling(CandidateDistribution.FixedUnigram, 50_000, false, distortion: distortion), [0], [1])[0];
            var want = Normalize([.. Counts.Select(c => Math.Pow(c, distortion))]);   // TensorFlow's std::pow: 0^0 = 1
            Assert.True(ChiSquarePValue(Histogram(sampled, V), want) > 1e-3, $"distortion {distortion}");
            if (distortion > 0) Assert.DoesNotContain(11L, sampled);   // a zero count is never drawn (with distortion 0 its weight is 0^0 = 1)
        }
    }

    [Theory, MemberData(nameof(Distributions))]
    public void UniqueSamplesAreDistinctAndTheirFirstDrawFollowsTheDistribution(CandidateDistribution d)
    {
        var runs = Run(Sampling(d, 8, unique: true), [0], Enumerable.Range(0, 4000).Select(i => (long)i));
        Assert.All(runs, r => Assert.Equal(8, r.Sampled.Distinct().Count()));
        double p = ChiSquarePValue(Histogram(runs.Select(r => r.Sampled[0]), V), Expected(d));
        Assert.True(p > 1e-3, $"{d}: chi-square p = {p}");
    }

    /// <summary>TensorFlow's RangeSampler, written out over the same bits: draws ⌊exp(u·log(V + 1))⌋ − 1 (log-uniform),
    /// rejection of repeats counting the tries, then p·S or −expm1(tries·log1p(−p)) for every id.</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void LogUniformMatchesTensorFlowsFormulas(bool unique)
    {
        const int S = 12, Seed = 9;
        long[] ids = [0, 1, 5, 19, 7];
        foreach (long step in new long[] { 0, 1, 77 })
        {
            var (sampled, counts) = Run(Sampling(CandidateDistribution.LogUniform, S, unique, Seed), ids, [step])[0];
            ulong key = GumbelNoise.Key(Seed, step);
            var want = new List<long>();
            long tries = 0;
            while (want.Count < S)
            {
                double u = GumbelNoise.UniformFromBits(GumbelNoise.KeyBits(key, tries++));
                long c = ((long)Math.Exp(u * Math.Log(V + 1.0)) - 1) % V;
                if (!unique || !want.Contains(c)) want.Add(c);
            }
            Assert.Equal(want, sampled);
            for (int i = 0; i < ids.Length; i++)
            {
                double p = (Math.Log(ids[i] + 2.0) - Math.Log(ids[i] + 1.0)) / Math.Log(V + 1.0);
                double e = tries == S ? p * S : 1 - Math.Pow(1 - p, tries);
                Assert.Equal(e, counts[i], 12);
            }
        }
    }

    /// <summary>With unique=true the expected count approximates how often a class is in the sample: checked against the
    /// inclusion frequency over 3000 steps. TensorFlow's approximation treats the number of tries as fixed, while runs that
    /// miss a frequent class need fewer tries, so it overestimates frequent classes (log-uniform class 0 at S = 3, V = 20:
    /// 0.68 for an inclusion frequency of 0.56). Rare classes (expected count below 0.3) are within 15%; none is under.</summary>
    [Theory, MemberData(nameof(Distributions))]
    public void UniqueExpectedCountsApproximateTheInclusionFrequency(CandidateDistribution d)
    {
        long[] ids = [.. Enumerable.Range(0, V).Select(i => (long)i)];
        var runs = Run(Sampling(d, 3, unique: true), ids, Enumerable.Range(0, 3000).Select(i => (long)i));
        for (int c = 0; c < V; c++)
        {
            double freq = runs.Count(r => r.Sampled.Contains(c)) / (double)runs.Length;
            double mean = runs.Average(r => r.Counts[c]);
            Assert.True(freq <= mean + 0.01, $"{d} class {c}: inclusion {freq}, expected count {mean}");
            if (mean < 0.3) Assert.True(Math.Abs(freq - mean) <= 0.15 * mean + 0.01, $"{d} class {c}: inclusion {freq}, expected count {mean}");
        }
        var (_, plain) = Run(Sampling(d, 6, unique: false), ids, [0])[0];
        Assert.Equal(Expected(d).Select(p => p * 6), plain, new ToleranceComparer(1e-12));
    }

    [Fact]
    public void NoGradientFlowsThroughSamplesOrExpectedCounts()
    {
        var b = new GraphBuilder();
        var u = b.Input("u", DType.F64, V);
        var sampling = Sampling(CandidateDistribution.FixedUnigram, 4, true);
        var s = Expr.CandidateSample(b, sampling, u);
        var e = s.ExpectedCount(sampling, DType.F64, u);
        foreach (var n in new[] { s.Node, e.Node })
        {
            Assert.All(Enumerable.Range(0, n.Inputs.Count), i => Assert.False(n.Op.IsDifferentiable(n, i)));
            Assert.All(n.Op.Gradient(n, b.Constant(1, DType.F64)), g => Assert.Null(g));
        }
        var (_, grads) = new Tape(b.Build((e * u.Take(s, 0)).Sum()), ["u"]).Run(new Dictionary<string, Tensor> { ["u"] = Tensor.FromDoubles(DType.F64, new Shape(V), Counts) });
        var gu = grads["u"].ToDoubleArray();
        var e0 = new Tape(b.Build(e), []).Forward(new Dictionary<string, Tensor> { ["u"] = Tensor.FromDoubles(DType.F64, new Shape(V), Counts) }).ToDoubleArray();
        var s0 = ((long[])new Tape(b.Build(s), []).Forward(new Dictionary<string, Tensor> { ["u"] = Tensor.FromDoubles(DType.F64, new Shape(V), Counts) }).Data).ToArray();
        for (int c = 0; c < V; c++) Assert.Equal(Enumerable.Range(0, 4).Where(j => s0[j] == c).Sum(j => e0[j]), gu[c], 12);   // only through take
    }

    /// <summary>The probabilities are kept between runs only while the counts are unchanged: counts changed in place
    /// are seen by the same tape.</summary>
    [Fact]
    public void ChangedCountsAreSeenByTheSameTape()
    {
        var b = new GraphBuilder();
        var u = b.Input("u", DType.F64, 3);
        var s = Expr.CandidateSample(b, CandidateSampling.FixedUnigram(50, unique: false, seed: 1), u);
        var tape = new Tape(b.Build(s), []);
        var counts = Tensor.FromArray(new[] { 1.0, 0, 0 }, 3);
        var inputs = new Dictionary<string, Tensor> { ["u"] = counts };
        Assert.All((long[])tape.Forward(inputs).Data, id => Assert.Equal(0, id));
        counts.Span<double>()[0] = 0;
        counts.Span<double>()[2] = 1;
        Assert.All((long[])tape.Forward(inputs).Data, id => Assert.Equal(2, id));
    }

    [Fact]
    public void StepsDrawNewSamplesAndTheSameStepRepeats()
    {
        var s = Sampling(CandidateDistribution.LogUniform, 10, true);
        var runs = Run(s, [0], [0, 1, 0]);
        Assert.Equal(runs[0].Sampled, runs[2].Sampled);
        Assert.NotEqual(runs[0].Sampled, runs[1].Sampled);
        Assert.Equal(Run(s, [0], [4], DType.F32)[0].Sampled, Run(s, [0], [4])[0].Sampled);
    }

    [Fact]
    public void LanguageRoundTripsAndErrors()
    {
        foreach (var text in new[]
        {
            "input t: i64[]\ns = log_uniform_candidate_sampler(num_sampled=4, range_max=10, unique=true, seed=3, step=t)",
            "input l: i64[2, 1]\ne = uniform_expected_count(l, num_sampled=4, range_max=10, unique=false, seed=3, dtype=f32)",
            "input u: f64[5]\ninput l: i64[3]\ne = fixed_unigram_expected_count(l, u, num_sampled=2, unique=true, distortion=0.75, seed=1, dtype=f64)",
        })
        {
            var g = Parser.Parse(text);
            Assert.Equal(Printer.Print(g), Printer.Print(Parser.Parse(Printer.Print(g))));
            Assert.Contains(text.Split('=', 2)[1].Trim()[..20], Printer.Print(g).Replace(" = ", "="));
        }
        var e = Assert.Throws<ParseException>(() => Parser.Parse("s = uniform_candidate_sampler(num_sampled=11, range_max=10, unique=true, seed=3)"));
        Assert.Contains("unique=true cannot draw num_sampled = 11 distinct classes out of 10", e.Message);
        var g2 = Parser.Parse("input u: f64[3]\ns = fixed_unigram_candidate_sampler(u, num_sampled=2, unique=true, seed=3)");
        var m = Assert.Throws<AutodiffException>(() => new Tape(g2, []).Forward(new Dictionary<string, Tensor> { ["u"] = Tensor.FromArray(new[] { 1.0, 0, 0 }, 3) }));
        Assert.Contains("only 1 have a nonzero probability", m.Message);
        m = Assert.Throws<AutodiffException>(() => new Tape(g2, []).Forward(new Dictionary<string, Tensor> { ["u"] = Tensor.FromArray(new[] { 1.0, -1, 0 }, 3) }));
        Assert.Contains("unigrams at position [1] is -1", m.Message);
    }
}
