using System.Numerics.Tensors;

namespace Autodiff.Structured;

/// <summary>The next-token scores of a batch of prefixes, for <see cref="StochasticBeamSearch"/>. The prefixes are
/// <paramref name="count"/> rows of equal length t = prefixes.Length / count (t = 0 at the first step), row-major; the
/// function writes <paramref name="count"/> rows of V scores (V the vocabulary) into <paramref name="scores"/>, row-major.
/// Scores are logits or log-probabilities (either works: each row is normalized by a log-softmax); −inf marks a token of
/// probability 0.</summary>
public delegate void NextTokenScores(ReadOnlySpan<int> prefixes, int count, Span<double> scores);

/// <summary>Stochastic beam search (Kool, van Hoof and Welling 2019): k distinct sequences sampled without replacement
/// from a sequence model p(y) = Π_t p(y_t | y_&lt;t), exactly, in one beam pass of at most <c>maxLength</c> calls of the
/// model, each on the whole beam at once. Every partial sequence S carries its log-probability φ_S and a perturbed key
/// G̃_S; the root's key is a standard Gumbel, and a prefix's children get φ_S′ = φ_S + log p(y | S), independent Gumbels
/// G_S′ ∼ Gumbel(φ_S′) with maximum Z, and keys G̃_S′ = <see cref="TruncatedGumbel.Shift"/>(G_S′, Z, G̃_S): Gumbels
/// conditioned on their maximum being the parent's key. The beam keeps the k + 1 children with the largest keys (an
/// ended sequence is its own only child, with its key unchanged). A sequence's key then has the law of a Gumbel(φ_y)
/// perturbation of its log-probability, independently over all sequences, and the beam holds the sequences with the
/// largest keys: the first k, in descending key order, are distributed as sequential sampling without replacement from p
/// (the Gumbel-top-k trick at the level of sequences), and the (k + 1)-th key is the threshold κ of the priority-sampling
/// estimator (<see cref="StochasticBeamSample.Estimate"/>).
/// <para>Noise: the Gumbel of child y of prefix S is <see cref="GumbelNoise.KeySample"/>(key_S, y), where key_root =
/// <see cref="GumbelNoise.Key(long)"/>(seed) and key_{S·y} = <see cref="GumbelNoise.Key(long, long)"/>(key_S, y); the
/// root's Gumbel is element V of the root's stream. So every key is a fixed function of (seed, sequence): the same seed
/// gives the same sample, and the sample for k is the first k sequences of the sample for k + 1.</para>
/// <para>A sequence ends when it emits the end token (it is kept, end token included) or reaches the maximum length.
/// Fewer than k sequences come back when the model gives fewer than k sequences positive probability.</para></summary>
public static class StochasticBeamSearch
{
    /// <summary>Samples <paramref name="k"/> sequences without replacement (see <see cref="StochasticBeamSearch"/>).</summary>
    /// <param name="scores">The model: next-token scores for a batch of prefixes.</param>
    /// <param name="vocabulary">The number of tokens V; tokens are 0 … V − 1.</param>
    /// <param name="k">The number of sequences, at least 1.</param>
    /// <param name="maxLength">The maximum length of a sequence, at least 1.</param>
    /// <param name="seed">The noise stream.</param>
    /// <param name="endToken">The token that ends a sequence, or −1 for none (every sequence then has length
    /// <paramref name="maxLength"/>).</param>
    public static StochasticBeamSample Sample(NextTokenScores scores, int vocabulary, int k, int maxLength, long seed, int endToken = -1)
    {
        ArgumentNullException.ThrowIfNull(scores);
        if (vocabulary < 1) throw new AutodiffException($"stochastic beam search: the vocabulary has {vocabulary} tokens; it needs at least 1");
        if (k < 1) throw new AutodiffException($"stochastic beam search: k = {k}; it must be at least 1");
        if (maxLength < 1) throw new AutodiffException($"stochastic beam search: maxLength = {maxLength}; it must be at least 1");
        if (endToken < -1 || endToken >= vocabulary)
            throw new AutodiffException($"stochastic beam search: end token {endToken} is not a token of the vocabulary [0, {vocabulary}) (−1 for none)");
        if ((long)(k + 1) * vocabulary > Array.MaxLength)
            throw new AutodiffException($"stochastic beam search: (k + 1)·V = {(long)(k + 1) * vocabulary} candidates per step exceed the largest array");

        int width = k + 1;   // one more than asked: the (k + 1)-th key is the estimator's threshold
        ulong root = GumbelNoise.Key(seed);
        var beam = new List<Entry> { new([], 0, GumbelNoise.KeySample(root, vocabulary), root, false) };
        var lp = new double[width * vocabulary];
        var candidates = new List<Entry>(width * vocabulary);
        var raw = new double[vocabulary];
        for (int t = 0; t < maxLength && beam.Exists(e => !e.Ended); t++)
        {
            var active = beam.Where(e => !e.Ended).ToArray();
            int count = active.Length;
            var prefixes = new int[count * t];
            for (int r = 0; r < count; r++) active[r].Tokens.CopyTo(prefixes, r * t);
            var rows = lp.AsSpan(0, count * vocabulary);
            rows.Fill(double.NaN);
            scores(prefixes, count, rows);
            for (int r = 0; r < count; r++) LogSoftmax(rows.Slice(r * vocabulary, vocabulary), active[r].Tokens, t, count, r);

            candidates.Clear();
            foreach (var e in beam) if (e.Ended) candidates.Add(e);
            for (int r = 0; r < count; r++)
            {
                var parent = active[r];
                var row = rows.Slice(r * vocabulary, vocabulary);
                TensorPrimitives.Add(row, parent.Phi, row);                      // φ_S′ = φ_S + log p(y | S)
                for (int y = 0; y < vocabulary; y++) raw[y] = row[y] + GumbelNoise.KeySample(parent.Stream, y);
                double z = TensorPrimitives.Max(raw);                            // finite: some token has p > 0
                for (int y = 0; y < vocabulary; y++)
                {
                    if (double.IsNegativeInfinity(row[y])) continue;             // probability 0: never sampled
                    int[] tokens = [.. parent.Tokens, y];
                    candidates.Add(new(tokens, row[y], TruncatedGumbel.Shift(raw[y], z, parent.Key),
                        GumbelNoise.Key((long)parent.Stream, y), y == endToken));
                }
            }
            // the k + 1 largest keys; ties (probability 0) go to the earlier candidate
            var order = Enumerable.Range(0, candidates.Count).OrderByDescending(i => candidates[i].Key).ThenBy(i => i);
            beam = [.. order.Take(width).Select(i => candidates[i])];
        }
        var top = beam.OrderByDescending(e => e.Key).ToArray();
        var kept = top.Take(k).ToArray();
        return new StochasticBeamSample(
            [.. kept.Select(e => e.Tokens)], [.. kept.Select(e => e.Phi)], [.. kept.Select(e => e.Key)],
            top.Length > k ? top[k].Key : double.NegativeInfinity);
    }

    /// <summary>Normalizes one row of scores in place to log-probabilities, with a clear error for a row the model left
    /// unwritten or gave NaN, +inf, or no token of positive probability.</summary>
    private static void LogSoftmax(Span<double> row, int[] prefix, int t, int count, int r)
    {
        for (int y = 0; y < row.Length; y++)
            if (double.IsNaN(row[y]) || double.IsPositiveInfinity(row[y]))
                throw new AutodiffException($"stochastic beam search: the score of token {y} after prefix [{string.Join(", ", prefix)}] " +
                    $"(row {r} of {count} at step {t}) is {row[y]}; scores must be finite or −inf");
        double m = TensorPrimitives.Max(row);
        if (double.IsNegativeInfinity(m))
            throw new AutodiffException($"stochastic beam search: every token after prefix [{string.Join(", ", prefix)}] (row {r} of {count} at step {t}) has score −inf");
        double s = 0;
        foreach (double x in row) s += Math.Exp(x - m);
        TensorPrimitives.Subtract(row, m + Math.Log(s), row);
    }

    private sealed record Entry(int[] Tokens, double Phi, double Key, ulong Stream, bool Ended);
}

/// <summary>The result of <see cref="StochasticBeamSearch.Sample"/>: k sequences in descending key order (the order of
/// sequential sampling without replacement), their log-probabilities φ and keys G̃, and the threshold κ, the (k + 1)-th
/// largest key (−inf when the model has at most k sequences of positive probability).
/// <para><b>The estimator</b> (priority sampling, Kool et al. 2019 §4; Duffield, Lund and Thorup 2007): with
/// q_i = P(G_{φ_i} &gt; κ) = 1 − exp(−exp(φ_i − κ)), Σ_i p_i/q_i · f(y_i) is an unbiased estimate of E_{y∼p}[f(y)]
/// for any f. Conditioned on every other key, sequence i is in the sample exactly when its own key exceeds the k-th largest
/// of the others, which is then κ: the probability of that is q_i, so each term is an inverse-probability weight.</para></summary>
public sealed class StochasticBeamSample
{
    internal StochasticBeamSample(int[][] sequences, double[] logProbabilities, double[] keys, double threshold)
    {
        Sequences = sequences;
        LogProbabilities = logProbabilities;
        Keys = keys;
        Threshold = threshold;
        LogWeights = [.. logProbabilities.Select(phi => phi - LogInclusionProbability(phi, threshold))];
    }

    /// <summary>The sampled sequences, in descending key order (end token included where a sequence ended).</summary>
    public IReadOnlyList<int[]> Sequences { get; }

    /// <summary>φ_i = log p(y_i).</summary>
    public IReadOnlyList<double> LogProbabilities { get; }

    /// <summary>The perturbed keys G̃_i (Gumbel(φ_i) perturbations), descending.</summary>
    public IReadOnlyList<double> Keys { get; }

    /// <summary>κ, the (k + 1)-th largest key; −inf when there is none.</summary>
    public double Threshold { get; }

    /// <summary>log(p_i / q_i), the estimator's log-weights.</summary>
    public IReadOnlyList<double> LogWeights { get; }

    /// <summary>q_i = 1 − exp(−exp(φ_i − κ)), the probability that a Gumbel(φ_i) exceeds κ (1 when κ = −inf).</summary>
    public double InclusionProbability(int i) => Math.Exp(LogInclusionProbability(LogProbabilities[i], Threshold));

    /// <summary>The unbiased estimate Σ_i (p_i / q_i)·f(y_i) of E_{y∼p}[f(y)].</summary>
    public double Estimate(Func<int[], double> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        double sum = 0;
        for (int i = 0; i < Sequences.Count; i++) sum += Math.Exp(LogWeights[i]) * f(Sequences[i]);
        return sum;
    }

    /// <summary>Σ w_i f(y_i) / Σ w_i with w_i = p_i / q_i: biased (consistent), usually of lower variance; exact for a
    /// constant f.</summary>
    public double NormalizedEstimate(Func<int[], double> f)
    {
        ArgumentNullException.ThrowIfNull(f);
        double m = LogWeights.Max(), num = 0, den = 0;
        for (int i = 0; i < Sequences.Count; i++)
        {
            double w = Math.Exp(LogWeights[i] - m);
            num += w * f(Sequences[i]);
            den += w;
        }
        return num / den;
    }

    /// <summary>log q = log(1 − exp(−exp(φ − κ))) = log(−expm1(−e^(φ−κ))); 0 for κ = −inf.</summary>
    private static double LogInclusionProbability(double phi, double threshold) =>
        double.IsNegativeInfinity(threshold) ? 0 : Math.Log(-ScalarMath.Expm1(-Math.Exp(phi - threshold)));
}
