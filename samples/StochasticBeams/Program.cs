// Stochastic beam search on a tiny sequence model (3 tokens, length 3, 27 sequences): for k = 1, 2, 3 and 20,000 seeds,
// each sequence's inclusion frequency against its exact inclusion probability under sampling without replacement
// (enumerated over every ordered k-tuple), then the largest binomial z-score and the priority-sampling estimator's check.
//   dotnet run --project samples/StochasticBeams [runs]
using System.Globalization;
using Autodiff.Structured;

const int V = 3, L = 3;
int runs = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 20_000;

// The model: the logits after a prefix are a fixed function of the prefix (through a code unique to it).
static double Logit(ReadOnlySpan<int> prefix, int y)
{
    int code = 1;
    foreach (int x in prefix) code = code * (V + 1) + x + 1;
    return 1.4 * Math.Sin(2.3 * code + 1.7 * y + 0.4) + (y == 0 ? 0.3 : 0);
}

static void Scores(ReadOnlySpan<int> prefixes, int count, Span<double> scores)
{
    int t = prefixes.Length / count;
    for (int r = 0; r < count; r++)
        for (int y = 0; y < V; y++) scores[r * V + y] = Logit(prefixes.Slice(r * t, t), y);
}

static double LogProb(ReadOnlySpan<int> prefix, int y)
{
    var l = new double[V];
    for (int j = 0; j < V; j++) l[j] = Logit(prefix, j);
    double m = l.Max();
    return l[y] - m - Math.Log(l.Sum(x => Math.Exp(x - m)));
}

// The 27 sequences in lexicographic order, and their probabilities.
var sequences = new List<int[]>();
for (int i = 0; i < 27; i++) sequences.Add([i / 9, i / 3 % 3, i % 3]);
var p = sequences.Select(s => Math.Exp(LogProb([], s[0]) + LogProb(s.AsSpan(0, 1), s[1]) + LogProb(s.AsSpan(0, 2), s[2]))).ToArray();
string Key(IEnumerable<int> s) => string.Join(",", s);
var index = sequences.Select((s, i) => (Key(s), i)).ToDictionary(e => e.Item1, e => e.i);

// Exact inclusion probabilities: the sum over ordered k-tuples of Π_j p(i_j) / (1 − Σ_{l<j} p(i_l)).
double[] Inclusion(int k)
{
    var result = new double[p.Length];
    var used = new bool[p.Length];
    var tuple = new List<int>();
    void Extend(double prob, double left)
    {
        if (tuple.Count == k) { foreach (int i in tuple) result[i] += prob; return; }
        for (int i = 0; i < p.Length; i++)
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

// A known expectation for the estimator: f(y) = y₁ + 2·y₂·y₃ − 3·[y₃ = 1].
static double F(int[] y) => y[0] + 2.0 * y[1] * y[2] - (y[2] == 1 ? 3 : 0);
double exactF = sequences.Select((s, i) => p[i] * F(s)).Sum();

double maxZ = 0;
string maxAt = "";
var estimatorLines = new List<string>();
for (int k = 1; k <= 3; k++)
{
    var exact = Inclusion(k);
    var hits = new long[p.Length];
    double sum = 0, sumSq = 0;
    for (int run = 0; run < runs; run++)
    {
        var sample = StochasticBeamSearch.Sample(Scores, V, k, L, seed: 1_000_000L * k + run);
        foreach (var y in sample.Sequences) hits[index[Key(y)]]++;
        double e = sample.Estimate(F);
        sum += e;
        sumSq += e * e;
    }
    for (int i = 0; i < p.Length; i++)
    {
        double observed = hits[i] / (double)runs;
        double z = Math.Abs(hits[i] - runs * exact[i]) / Math.Sqrt(runs * exact[i] * (1 - exact[i]));
        if (z > maxZ) (maxZ, maxAt) = (z, $"k={k} seq={Key(sequences[i])}");
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"k={k} seq={Key(sequences[i])} exact={exact[i]:F6} observed={observed:F4} runs={runs}"));
    }
    double mean = sum / runs, se = Math.Sqrt((sumSq / runs - mean * mean) / (runs - 1));
    estimatorLines.Add(string.Create(CultureInfo.InvariantCulture,
        $"estimator k={k}: mean of sum_i p_i/q_i f(y_i) = {mean:F4} +- {se:F4} (exact E[f] = {exactF:F4}, z = {(mean - exactF) / se:F2})"));
}
Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"largest binomial z-score of observed against exact: {maxZ:F2} at {maxAt} (81 cells; bound 4.5)"));
foreach (var line in estimatorLines) Console.WriteLine(line);
