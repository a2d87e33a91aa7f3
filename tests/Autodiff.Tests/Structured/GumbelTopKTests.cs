using static Autodiff.Tests.Structured.GumbelData;

namespace Autodiff.Tests.Structured;

/// <summary><c>gumbel_top_k</c> against sequential sampling without replacement, computed exactly by enumerating every
/// ordered k-tuple: inclusion probabilities within 5 standard errors, and a chi-square test of the ordered tuples.
/// Also: descending perturbed order (checked with gumbel_noise), agreement with gumbel_max, shapes and errors.</summary>
public class GumbelTopKTests
{
    private const int Draws = 100_000;

    /// <summary>The probability of each ordered k-tuple of distinct indices under sequential sampling without
    /// replacement from softmax(logits): Π_j w_{i_j} / (W − Σ_{l&lt;j} w_{i_l}), with w = exp(logits − max).</summary>
    private static Dictionary<string, double> OrderedProbabilities(double[] logits, int k)
    {
        var w = Softmax(logits);
        var result = new Dictionary<string, double>();
        void Extend(List<int> prefix, double p, double left)
        {
            if (prefix.Count == k) { result[string.Join(",", prefix)] = p; return; }
            for (int i = 0; i < w.Length; i++)
            {
                if (prefix.Contains(i) || w[i] == 0) continue;
                prefix.Add(i);
                Extend(prefix, p * w[i] / left, left - w[i]);
                prefix.RemoveAt(prefix.Count - 1);
            }
        }
        Extend([], 1, 1);
        return result;
    }

    private static long[] TopK(double[] logits, int k, int draws, int seed, DType dt = DType.F64)
    {
        var b = new GraphBuilder();
        var z = b.Input("z", dt, logits.Length);
        var g = b.Build(z.BroadcastTo(draws, logits.Length).GumbelTopK(k, seed, axis: 1));
        var t = Eval(g, ("z", Vector(dt, logits)));
        Assert.Equal(new Shape(draws, k), t.Shape);
        return Longs(t);
    }

    public static TheoryData<double[], int, int> Cases => new()
    {
        { [0.3, -0.2, 1.0], 1, 1 },
        { [0.3, -0.2, 1.0], 2, 2 },
        { [1000, 1001, 999, 1000.5], 2, 3 },
        { [2, 0, -1, 1, 0.5], 3, 4 },
        { [0.5, -1, 2, 0, 1, -2], 3, 5 },
        { [0, 0, 0, 0, 0, 0], 2, 6 },
        { [-1000, -998, -999], 3, 7 },
    };

    [Theory, MemberData(nameof(Cases))]
    public void InclusionProbabilitiesMatchSequentialSamplingWithoutReplacement(double[] logits, int k, int seed)
    {
        var exact = OrderedProbabilities(logits, k);
        var draws = TopK(logits, k, Draws, seed);
        var hits = new long[logits.Length];
        int repeats = 0;
        for (int r = 0; r < Draws; r++)
            for (int j = 0; j < k; j++)
            {
                hits[draws[r * k + j]]++;
                for (int l = 0; l < j; l++) if (draws[r * k + l] == draws[r * k + j]) repeats++;
            }
        Assert.Equal(0, repeats);
        for (int i = 0; i < logits.Length; i++)
        {
            double p = exact.Where(kv => kv.Key.Split(',').Contains(i.ToString())).Sum(kv => kv.Value);
            double phat = hits[i] / (double)Draws, tol = 5 * Math.Sqrt(p * (1 - p) / Draws);
            Assert.True(Math.Abs(phat - p) <= tol, $"class {i}: inclusion {phat:G5}, exact {p:G5}, tolerance {tol:G3}");
        }
    }

    [Theory]
    [InlineData(DType.F64, 8)]
    [InlineData(DType.F32, 9)]
    public void OrderedTuplesFollowSequentialSampling(DType dt, int seed)
    {
        double[] logits = [1000, 1001, 999, 1000.5];
        var exact = OrderedProbabilities(logits, 2);
        var keys = exact.Keys.ToArray();
        var draws = TopK(logits, 2, Draws, seed, dt);
        var counts = new long[keys.Length];
        for (int r = 0; r < Draws; r++) counts[Array.IndexOf(keys, $"{draws[2 * r]},{draws[2 * r + 1]}")]++;
        double p = ChiSquarePValue(counts, keys.Select(key => exact[key]).ToArray());
        Assert.True(p > 0.001, $"chi-square p-value {p:G3} over {keys.Length} ordered pairs");
    }

    [Fact]
    public void IndicesAreInDescendingPerturbedOrderAndFirstIsGumbelMax()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 4, 6, 3);
        const int seed = 17;
        var top = z.GumbelTopK(4, seed, axis: 1);
        var first = z.GumbelMax(seed, axis: 1);
        var noise = Expr.GumbelNoise(b, [4, 6, 3], seed, DType.F64);
        var rng = new Random(5);
        var x = Tensor.FromDoubles(DType.F64, new Shape(4, 6, 3), Enumerable.Range(0, 72).Select(_ => rng.NextDouble() * 4).ToArray());
        var t = Eval(b.Build(top), ("z", x));
        var m = Eval(b.Build(first), ("z", x));
        var perturbed = Eval(b.Build(z + noise), ("z", x));
        Assert.Equal(new Shape(4, 4, 3), t.Shape);
        for (int o = 0; o < 4; o++)
            for (int i = 0; i < 3; i++)
            {
                var picked = Enumerable.Range(0, 4).Select(j => (int)t[o, j, i]).ToArray();
                var values = picked.Select(j => perturbed[o, j, i]).ToArray();
                for (int j = 1; j < 4; j++) Assert.True(values[j - 1] > values[j]);
                for (int j = 0; j < 6; j++)
                    if (!picked.Contains(j)) Assert.True(perturbed[o, j, i] < values[^1]);
                Assert.Equal(m[o, i], picked[0]);
            }
    }

    [Fact]
    public void KOfOneIsGumbelMax()
    {
        double[] logits = [0.1, 0.7, -0.4, 1.2];
        Assert.Equal(GumbelMaxDraws(logits, DType.F64, 2000, 31), TopK(logits, 1, 2000, 31));
    }

    [Fact]
    public void MinusInfinityComesLastInUniformOrder()
    {
        var draws = TopK([double.NegativeInfinity, 0.5, 0, double.NegativeInfinity], 3, 20_000, 12);
        var third = new long[4];
        int misplaced = 0;
        for (int r = 0; r < 20_000; r++)
        {
            if (draws[3 * r] + draws[3 * r + 1] != 3 || draws[3 * r] * draws[3 * r + 1] != 2) misplaced++;   // {1, 2} first
            third[draws[3 * r + 2]]++;
        }
        Assert.Equal(0, misplaced);
        Assert.True(ChiSquarePValue(third, [0.5, 0, 0, 0.5]) > 0.001);
    }

    [Fact]
    public void BadArgumentsAreShapeErrors()
    {
        var b = new GraphBuilder();
        var z = b.Input("z", DType.F64, 2, 3);
        Assert.Contains("gumbel_top_k: k = 4 must be in [1, 3]", Assert.Throws<ShapeException>(() => z.GumbelTopK(4, 0)).Message);
        Assert.Contains("k = 0", Assert.Throws<ShapeException>(() => z.GumbelTopK(0, 0, axis: 0)).Message);
        Assert.Equal(new Shape(2, 2), z.GumbelTopK(2, 0).Shape);
        Assert.Equal(new Shape(1, 3), z.GumbelTopK(1, 0, axis: 0).Shape);
    }
}
