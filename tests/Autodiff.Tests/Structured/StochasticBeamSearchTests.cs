using Autodiff.Structured;
using MathNet.Numerics.Distributions;
using Xunit.Abstractions;

namespace Autodiff.Tests.Structured;

/// <summary>Stochastic beam search against enumeration: on a sequence model of 3 tokens and length 3 (27 sequences), for
/// k = 1, 2, 3 and 20,000 seeds, every sequence's inclusion frequency lies within 4.5 binomial standard deviations of its
/// exact inclusion probability under sequential sampling without replacement (enumerated over all ordered k-tuples), and
/// the ordered k-tuples pass a chi-square test; k = 1 is ancestral sampling draw for draw; the priority-sampling estimator
/// is unbiased for a known expectation; an end token (sequences of different lengths), logits of ±1000, fewer sequences
/// than k, reproducibility, nesting across k, and errors.</summary>
public class StochasticBeamSearchTests(ITestOutputHelper output)
{
    private const int Runs = 20_000;

    /// <summary>A fixed sequence model: the logits after a prefix are a function of the prefix (through a code unique to
    /// it), scaled by <see cref="Scale"/>; with an end token, that token's logit is lowered so sequences of every length
    /// occur.</summary>
    private sealed record Model(int V, int L, int End = -1, double Scale = 1)
    {
        public double Logit(ReadOnlySpan<int> prefix, int y)
        {
            int code = 1;
            foreach (int x in prefix) code = code * (V + 1) + x + 1;
            return Scale * (1.4 * Math.Sin(2.3 * code + 1.7 * y + 0.4) + (y == 0 ? 0.3 : 0) - (y == End ? 0.8 : 0));
        }

        public int Calls { get; private set; }

        public int MaxBatch { get; private set; }

        public void Scores(ReadOnlySpan<int> prefixes, int count, Span<double> scores)
        {
            Calls++;
            MaxBatch = Math.Max(MaxBatch, count);
            int t = prefixes.Length / count;
            for (int r = 0; r < count; r++)
                for (int y = 0; y < V; y++) scores[r * V + y] = Logit(prefixes.Slice(r * t, t), y);
        }

        /// <summary>log p(y | prefix) by its own log-softmax.</summary>
        public double LogProb(ReadOnlySpan<int> prefix, int y)
        {
            var l = new double[V];
            for (int j = 0; j < V; j++) l[j] = Logit(prefix, j);
            double m = l.Max();
            return l[y] - m - Math.Log(l.Sum(x => Math.Exp(x - m)));
        }

        /// <summary>Every complete sequence (ended by the end token, or of length L) and its probability.</summary>
        public Dictionary<string, double> Sequences()
        {
            var result = new Dictionary<string, double>();
            void Walk(List<int> prefix, double logp)
            {
                if (prefix.Count == L || (prefix.Count > 0 && prefix[^1] == End)) { result[string.Join(",", prefix)] = Math.Exp(logp); return; }
                for (int y = 0; y < V; y++)
                {
                    double lp = LogProb(prefix.ToArray(), y);
                    prefix.Add(y);
                    Walk(prefix, logp + lp);
                    prefix.RemoveAt(prefix.Count - 1);
                }
            }
            Walk([], 0);
            return result;
        }
    }

    /// <summary>P(ordered k-tuple) under sequential sampling without replacement from <paramref name="p"/>.</summary>
    private static Dictionary<string, double> OrderedTuples(IReadOnlyList<double> p, int k)
    {
        var result = new Dictionary<string, double>();
        var used = new bool[p.Count];
        var tuple = new List<int>();
        void Extend(double prob, double left)
        {
            if (tuple.Count == k) { result[string.Join(" ", tuple)] = prob; return; }
            for (int i = 0; i < p.Count; i++)
            {
                if (used[i]) continue;
                used[i] = true;
                tuple.Add(i);
                Extend(prob * p[i] / left, left - p[i]);
                tuple.RemoveAt(tuple.Count - 1);
                used[i] = false;
            }
        }
        Extend(1, 1);
        return result;
    }

    /// <summary>Inclusion counts over <see cref="Runs"/> seeds against the exact inclusion probabilities: the largest
    /// |z| = |count − N·π| / sqrt(N·π(1 − π)) (each count is binomial whatever the dependence between sequences), and the
    /// chi-square p-value of the ordered tuples (cells of expectation below 5 pooled).</summary>
    private (double MaxZ, double TuplesP) Check(Model model, int k, int seedBase)
    {
        var seqs = model.Sequences();
        var names = seqs.Keys.ToList();
        var p = names.Select(n => seqs[n]).ToArray();
        var tuples = OrderedTuples(p, Math.Min(k, names.Count));
        var inclusion = new double[names.Count];
        foreach (var (key, prob) in tuples) foreach (var i in key.Split(' ')) inclusion[int.Parse(i)] += prob;

        var hits = new long[names.Count];
        var tupleCounts = new Dictionary<string, long>();
        for (int run = 0; run < Runs; run++)
        {
            var s = StochasticBeamSearch.Sample(model.Scores, model.V, k, model.L, seedBase + run, model.End);
            var index = s.Sequences.Select(y => names.IndexOf(string.Join(",", y))).ToArray();
            Assert.DoesNotContain(-1, index);
            Assert.Equal(index.Length, index.Distinct().Count());
            foreach (int i in index) hits[i]++;
            string key = string.Join(" ", index);
            tupleCounts[key] = tupleCounts.GetValueOrDefault(key) + 1;
        }
        double maxZ = 0;
        for (int i = 0; i < names.Count; i++)
        {
            double e = Runs * inclusion[i], sd = Math.Sqrt(Runs * inclusion[i] * (1 - inclusion[i]));
            double z = sd == 0 ? (hits[i] == e ? 0 : double.PositiveInfinity) : Math.Abs(hits[i] - e) / sd;
            maxZ = Math.Max(maxZ, z);
            Assert.True(z <= 4.5, $"k = {k}, sequence {names[i]}: {hits[i]} inclusions in {Runs}, expected {e:F1} (sd {sd:F1}), z = {z:F2}");
        }
        // chi-square over ordered tuples, cells of expectation < 5 pooled into one
        double stat = 0, pooledE = 0, pooledO = 0;
        int cells = 0;
        foreach (var (key, prob) in tuples)
        {
            double e = Runs * prob, o = tupleCounts.GetValueOrDefault(key);
            if (e < 5) { pooledE += e; pooledO += o; continue; }
            stat += (o - e) * (o - e) / e;
            cells++;
        }
        if (pooledE > 0) { stat += (pooledO - pooledE) * (pooledO - pooledE) / pooledE; cells++; }
        double pValue = cells > 1 ? 1 - ChiSquared.CDF(cells - 1, stat) : 1;
        output.WriteLine($"k = {k}: {names.Count} sequences, largest |z| {maxZ:F2}; {tuples.Count} ordered tuples in {cells} cells, chi-square p = {pValue:F3}");
        return (maxZ, pValue);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 100_000)]
    [InlineData(3, 200_000)]
    public void InclusionFrequenciesMatchSamplingWithoutReplacement(int k, int seedBase)
    {
        var (maxZ, tuplesP) = Check(new Model(3, 3), k, seedBase);
        Assert.True(maxZ <= 4.5);
        Assert.True(tuplesP > 1e-4, $"ordered {k}-tuples: chi-square p = {tuplesP}");
    }

    [Fact]
    public void SequencesOfDifferentLengthsWithAnEndToken()
    {
        var model = new Model(4, 3, End: 3);
        Assert.Equal(1 + 3 + 9 + 27, model.Sequences().Count);   // [3], [y,3], [y,y,3], [y,y,y] for y ≠ 3
        var (maxZ, tuplesP) = Check(model, 3, 300_000);
        Assert.True(maxZ <= 4.5);
        Assert.True(tuplesP > 1e-4, $"chi-square p = {tuplesP}");
        var s = StochasticBeamSearch.Sample(model.Scores, 4, 10, 3, 5, endToken: 3);
        foreach (var y in s.Sequences) Assert.True(y.Length == 3 || y[^1] == 3, string.Join(",", y));
        Assert.Contains(s.Sequences, y => y.Length < 3);
    }

    /// <summary>k = 1 follows the Gumbel-max choice at every step: argmax_y log p(y | prefix) + G(key_prefix, y).</summary>
    [Fact]
    public void KEqualsOneIsAncestralSamplingDrawForDraw()
    {
        var model = new Model(3, 3);
        for (int seed = 0; seed < 500; seed++)
        {
            var prefix = new List<int>();
            ulong key = GumbelNoise.Key(seed);
            double logp = 0;
            for (int t = 0; t < 3; t++)
            {
                int best = Enumerable.Range(0, 3).MaxBy(y => model.LogProb(prefix.ToArray(), y) + GumbelNoise.KeySample(key, y));
                logp += model.LogProb(prefix.ToArray(), best);
                prefix.Add(best);
                key = GumbelNoise.Key((long)key, best);
            }
            var s = StochasticBeamSearch.Sample(model.Scores, 3, 1, 3, seed);
            Assert.Equal(prefix, s.Sequences[0]);
            Assert.Equal(logp, s.LogProbabilities[0], 1e-12);
        }
    }

    /// <summary>E[Σ p_i/q_i f(y_i)] = E_p[f] for a known f, and for f = 1 (the weights sum to 1 on average), within 4.5
    /// standard errors of the 20,000-run mean; with k = 27 (every sequence) the estimate is exact.</summary>
    [Theory]
    [InlineData(1, 400_000)]
    [InlineData(2, 500_000)]
    [InlineData(3, 600_000)]
    public void PrioritySamplingEstimatorIsUnbiased(int k, int seedBase)
    {
        var model = new Model(3, 3);
        var seqs = model.Sequences();
        static double F(int[] y) => y[0] + 2.0 * y[1] * y[2] - (y[2] == 1 ? 3 : 0);
        double exact = seqs.Sum(kv => kv.Value * F([.. kv.Key.Split(',').Select(int.Parse)]));
        foreach (var (name, f, truth) in new (string, Func<int[], double>, double)[] { ("f", F, exact), ("1", _ => 1.0, 1.0) })
        {
            double sum = 0, sumSq = 0;
            for (int run = 0; run < Runs; run++)
            {
                double e = StochasticBeamSearch.Sample(model.Scores, 3, k, 3, seedBase + run).Estimate(f);
                sum += e;
                sumSq += e * e;
            }
            double mean = sum / Runs, se = Math.Sqrt((sumSq / Runs - mean * mean) / (Runs - 1));
            output.WriteLine($"k = {k}, {name}: mean {mean:F5} ± {se:F5}, exact {truth:F5}, z = {(mean - truth) / se:F2}");
            Assert.True(Math.Abs(mean - truth) <= 4.5 * se, $"k = {k}, {name}: mean {mean} ± {se}, exact {truth}");
        }
        var all = StochasticBeamSearch.Sample(model.Scores, 3, 27, 3, 1);
        Assert.Equal(double.NegativeInfinity, all.Threshold);
        Assert.Equal(exact, all.Estimate(F), 1e-12);
    }

    [Fact]
    public void TheSampleForKIsTheFirstKOfTheSampleForKPlusOneAndSeedsReproduce()
    {
        var model = new Model(3, 3);
        for (int seed = 0; seed < 200; seed++)
        {
            var big = StochasticBeamSearch.Sample(model.Scores, 3, 4, 3, seed);
            for (int k = 1; k <= 3; k++)
            {
                var s = StochasticBeamSearch.Sample(model.Scores, 3, k, 3, seed);
                for (int i = 0; i < k; i++)
                {
                    Assert.Equal(big.Sequences[i], s.Sequences[i]);
                    Assert.Equal(big.Keys[i], s.Keys[i]);
                }
                Assert.Equal(big.Keys[k], s.Threshold);
            }
            var again = StochasticBeamSearch.Sample(model.Scores, 3, 4, 3, seed);
            Assert.Equal(big.Sequences, again.Sequences);
            Assert.Equal(big.Keys, again.Keys);
            for (int i = 1; i < big.Keys.Count; i++) Assert.True(big.Keys[i - 1] > big.Keys[i]);
            Assert.True(big.Threshold < big.Keys[^1]);
        }
        Assert.NotEqual(StochasticBeamSearch.Sample(model.Scores, 3, 3, 3, 1).Keys, StochasticBeamSearch.Sample(model.Scores, 3, 3, 3, 2).Keys);
    }

    [Fact]
    public void OneModelCallPerStepOnTheWholeBeam()
    {
        var model = new Model(3, 5);
        StochasticBeamSearch.Sample(model.Scores, 3, 4, 5, 9);
        Assert.Equal(5, model.Calls);
        Assert.Equal(5, model.MaxBatch);   // k + 1 prefixes
    }

    /// <summary>Logits of magnitude 1000: log-probabilities near −2000 and keys far apart; everything stays finite and the
    /// log-probabilities are the model's (the formula for the keys as written would give ±inf or NaN here).</summary>
    [Fact]
    public void LogitsOfMagnitudeThousandStayFiniteAndExact()
    {
        var model = new Model(3, 3, Scale: 1000);
        for (int seed = 0; seed < 50; seed++)
        {
            var s = StochasticBeamSearch.Sample(model.Scores, 3, 3, 3, seed);
            Assert.Equal(3, s.Sequences.Count);
            Assert.True(double.IsFinite(s.Threshold));
            for (int i = 0; i < 3; i++)
            {
                Assert.True(double.IsFinite(s.Keys[i]) && double.IsFinite(s.LogProbabilities[i]), $"seed {seed}: key {s.Keys[i]}, φ {s.LogProbabilities[i]}");
                double phi = 0;
                var y = s.Sequences[i];
                for (int t = 0; t < y.Length; t++) phi += model.LogProb(y.AsSpan(0, t), y[t]);
                Assert.Equal(phi, s.LogProbabilities[i], 1e-9 * Math.Max(1, Math.Abs(phi)));
            }
            Assert.True(s.LogProbabilities.Skip(1).Any(phi => phi < -500), "a sequence far below the mode is sampled");
            Assert.True(double.IsFinite(s.Estimate(_ => 1)));
        }
    }

    [Fact]
    public void FewerSequencesThanKComeBackAllWithAnExactEstimate()
    {
        var model = new Model(2, 2);
        var s = StochasticBeamSearch.Sample(model.Scores, 2, 10, 2, 3);
        Assert.Equal(4, s.Sequences.Count);
        Assert.Equal(double.NegativeInfinity, s.Threshold);
        Assert.Equal(1, s.Estimate(_ => 1), 1e-12);
        // a token of probability 0 is never sampled
        NextTokenScores masked = (prefixes, count, scores) =>
        {
            for (int r = 0; r < count; r++) { scores[r * 3] = 0.5; scores[r * 3 + 1] = double.NegativeInfinity; scores[r * 3 + 2] = -1; }
        };
        var m = StochasticBeamSearch.Sample(masked, 3, 5, 2, 4);
        Assert.Equal(4, m.Sequences.Count);
        Assert.DoesNotContain(m.Sequences, y => y.Contains(1));
    }

    [Fact]
    public void BadArgumentsAndBadScoresAreClearErrors()
    {
        var model = new Model(3, 3);
        Assert.Contains("k = 0", Assert.Throws<AutodiffException>(() => StochasticBeamSearch.Sample(model.Scores, 3, 0, 3, 1)).Message);
        Assert.Contains("maxLength = 0", Assert.Throws<AutodiffException>(() => StochasticBeamSearch.Sample(model.Scores, 3, 2, 0, 1)).Message);
        Assert.Contains("end token 3", Assert.Throws<AutodiffException>(() => StochasticBeamSearch.Sample(model.Scores, 3, 2, 3, 1, endToken: 3)).Message);
        NextTokenScores nan = (prefixes, count, scores) => { scores.Fill(0); if (prefixes.Length > 0) scores[count * 3 - 1] = double.NaN; };
        var e = Assert.Throws<AutodiffException>(() => StochasticBeamSearch.Sample(nan, 3, 2, 3, 1));
        Assert.StartsWith("stochastic beam search: the score of token 2 after prefix [", e.Message);
        Assert.Contains("at step 1) is NaN", e.Message);
        NextTokenScores none = (prefixes, count, scores) => scores.Fill(double.NegativeInfinity);
        Assert.Contains("every token after prefix [] (row 0 of 1 at step 0) has score −inf",
            Assert.Throws<AutodiffException>(() => StochasticBeamSearch.Sample(none, 3, 2, 3, 1)).Message);
        NextTokenScores unwritten = (prefixes, count, scores) => { };
        Assert.Contains("is NaN", Assert.Throws<AutodiffException>(() => StochasticBeamSearch.Sample(unwritten, 3, 2, 3, 1)).Message);
    }
}
