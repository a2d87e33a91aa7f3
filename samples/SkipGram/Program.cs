// Skip-gram with negative sampling, the seed's word-embedding example ("Checkpoint: NCE for Softmax"), on a corpus this
// program generates: V words in K clusters ("topics"); each sentence picks a topic and draws its words from that topic's
// words (90%) or from the whole vocabulary (10%), word frequencies Zipfian within each topic. Training pairs (center,
// context) come from a window of 2. The model scores s(c | x) = ⟨v_center, u_c⟩ + b_c and is trained with nce_loss
// against negatives from the unigram distribution^0.75 (word2vec's choice), drawn by fixed_unigram_candidate_sampler
// with a step input, so one tape draws new negatives every step. The sample prints the loss falling, then how many of each
// frequent word's nearest neighbours (cosine of the center vectors) share its topic, then the time per step of the
// sampled loss against a full softmax over V as V grows. Run: dotnet run -c Release --project samples/SkipGram
using System.Diagnostics;
using Autodiff;

const int K = 20, D = 32, Batch = 128, Negatives = 16, Window = 2, Steps = 3000;
int vocab = args.Length > 0 ? int.Parse(args[0]) : 2000;
var rng = new Random(11);

// The corpus: word w belongs to topic w % K; within a topic, the j-th word (w / K = j) has weight 1/(j + 1).
(long[] Centers, long[] Contexts, double[] Counts) Corpus(int v, int sentences)
{
    int perTopic = v / K;
    var cdf = new double[perTopic];
    double acc = 0;
    for (int j = 0; j < perTopic; j++) cdf[j] = acc += 1.0 / (j + 1);
    int Word(int topic)
    {
        if (rng.NextDouble() < 0.1) return rng.Next(v);
        int j = Array.BinarySearch(cdf, rng.NextDouble() * acc);
        return (j < 0 ? ~j : j) * K + topic;
    }
    var centers = new List<long>();
    var contexts = new List<long>();
    var counts = new double[v];
    for (int s = 0; s < sentences; s++)
    {
        int topic = rng.Next(K);
        var words = Enumerable.Range(0, 8).Select(_ => Word(topic)).ToArray();
        foreach (var w in words) counts[w]++;
        for (int i = 0; i < words.Length; i++)
            for (int j = Math.Max(0, i - Window); j <= Math.Min(words.Length - 1, i + Window); j++)
                if (j != i) { centers.Add(words[i]); contexts.Add(words[j]); }
    }
    return ([.. centers], [.. contexts], counts);
}

// The skip-gram graph: x = the center words' rows of Win (take along axis 0 by [B, D] indices), nce_loss against Wout.
(Tape Tape, string[] Params) Model(int v, bool sampled)
{
    var g = new GraphBuilder();
    var win = g.Input("Win", DType.F32, v, D);
    var wout = g.Input("Wout", DType.F32, v, D);
    var b = g.Input("b", DType.F32, v);
    var centers = g.Input("centers", DType.I64, Batch, D);
    var contexts = g.Input("contexts", DType.I64, Batch, 1);
    var x = win.Take(centers, axis: 0);
    Expr loss;
    if (sampled)
    {
        var counts = g.Input("counts", DType.F32, v);
        var step = g.Input("step", DType.I64);
        var sampling = CandidateSampling.FixedUnigram(Negatives, unique: true, seed: 5, distortion: 0.75);
        var negatives = Expr.CandidateSample(g, sampling, counts, step);
        loss = x.NceLoss(wout, b, contexts, negatives, contexts.ExpectedCount(sampling, DType.F32, counts, step),
            negatives.ExpectedCount(sampling, DType.F32, counts, step)).Mean();
    }
    else
        loss = (x.MatMul(wout.Transpose()) + b).SparseSoftmaxCrossEntropy(contexts.Reshape(Batch)).Mean();
    string[] ps = ["Win", "Wout", "b"];
    return (new Tape(g.Build(loss), ps), ps);
}

Dictionary<string, Tensor> Init(int v) => new()
{
    ["Win"] = Tensor.RandomNormal(DType.F32, new Shape(v, D), rng, 0.5 / D),
    ["Wout"] = Tensor.Zeros(DType.F32, v, D),
    ["b"] = Tensor.Zeros(DType.F32, v),
};

// One SGD step on the batch starting at `at`; returns the loss.
double Step(Tape tape, Dictionary<string, Tensor> inputs, (long[] Centers, long[] Contexts, double[] Counts) data, int at, long step, double rate)
{
    var c = new long[Batch * D];
    var t = new long[Batch];
    for (int i = 0; i < Batch; i++)
    {
        int k = (at + i) % data.Centers.Length;
        Array.Fill(c, data.Centers[k], i * D, D);
        t[i] = data.Contexts[k];
    }
    inputs["centers"] = Tensor.FromArray(c, Batch, D);
    inputs["contexts"] = Tensor.FromArray(t, Batch, 1);
    inputs["step"] = Tensor.FromArray(new[] { step }, Shape.Scalar);
    var (value, grads) = tape.Run(inputs);
    foreach (var p in new[] { "Win", "Wout", "b" })
    {
        var w = inputs[p].Span<float>();
        var d = grads[p].Span<float>();
        for (int i = 0; i < w.Length; i++) w[i] -= (float)rate * d[i];
    }
    return value.GetDouble(0);
}

// 1. Training.
var data = Corpus(vocab, 40_000);
var order = Enumerable.Range(0, data.Centers.Length).OrderBy(_ => rng.Next()).ToArray();
data = ([.. order.Select(i => data.Centers[i])], [.. order.Select(i => data.Contexts[i])], data.Counts);
Console.WriteLine($"corpus: {vocab} words in {K} topics, {data.Centers.Length} (center, context) pairs; nce_loss with {Negatives} negatives from unigram^0.75");
var (tape, _) = Model(vocab, sampled: true);
var inputs = Init(vocab);
inputs["counts"] = Tensor.FromDoubles(DType.F32, new Shape(vocab), data.Counts);
double running = 0;
for (int s = 0; s < Steps; s++)
{
    double l = Step(tape, inputs, data, s * Batch, s, rate: 1.0);
    if (s == 0) Console.WriteLine($"step     1: NCE loss {l:F4}");
    running += l;
    if ((s + 1) % 500 == 0)
    {
        Console.WriteLine($"step {s + 1,5}: mean NCE loss {running / 500:F4}");
        running = 0;
    }
}

// 2. Nearest neighbours of the 100 most frequent words by cosine similarity of their center vectors.
var win = inputs["Win"].Span<float>().ToArray();
double Cos(int a, int b)
{
    double ab = 0, aa = 0, bb = 0;
    for (int k = 0; k < D; k++) { ab += win[a * D + k] * win[b * D + k]; aa += win[a * D + k] * win[a * D + k]; bb += win[b * D + k] * win[b * D + k]; }
    return ab / Math.Sqrt(aa * bb + 1e-30);
}
var frequent = Enumerable.Range(0, vocab).OrderByDescending(w => data.Counts[w]).Take(100).ToArray();
int same = 0;
foreach (int w in frequent)
    same += Enumerable.Range(0, vocab).Where(o => o != w).OrderByDescending(o => Cos(w, o)).Take(5).Count(o => o % K == w % K);
Console.WriteLine($"top-5 neighbours in the same topic: {same / 5.0:F1}% (chance: {100.0 / K:F1}%)");
foreach (int w in frequent.Take(3))
{
    var near = Enumerable.Range(0, vocab).Where(o => o != w).OrderByDescending(o => Cos(w, o)).Take(5);
    Console.WriteLine($"  word {w} (topic {w % K}): {string.Join(", ", near.Select(o => $"{o} (topic {o % K})"))}");
}

// 3. Time per training step, sampled (nce_loss) against a full softmax over the vocabulary.
Console.WriteLine($"time per step (B = {Batch}, D = {D}, median of 20 after 10 warm-up steps):");
Console.WriteLine("       V   nce_loss (ms)   full softmax (ms)   ratio");
foreach (int v in new[] { 1000, 4000, 16000, 64000 })
{
    var d = Corpus(v, 2000);
    double Time(bool sampled)
    {
        var (t, _) = Model(v, sampled);
        var x = Init(v);
        x["counts"] = Tensor.FromDoubles(DType.F32, new Shape(v), d.Counts);
        var times = new List<double>();
        for (int s = 0; s < 30; s++)
        {
            var sw = Stopwatch.StartNew();
            Step(t, x, d, s * Batch, s, rate: 0.1);
            if (s >= 10) times.Add(sw.Elapsed.TotalMilliseconds);
        }
        times.Sort();
        return times[times.Count / 2];
    }
    double ns = Time(true), fs = Time(false);
    Console.WriteLine($"{v,8}   {ns,13:F2}   {fs,17:F2}   {fs / ns,5:F1}x");
}
