using Xunit.Abstractions;

namespace Autodiff.Tests.Structured;

/// <summary>What no anchor ships: (1) with log-uniform sampling and subtract_log_q, the sampled softmax loss and its
/// gradient approach the full softmax cross-entropy as S grows (V = 10,000; S = 64, 256, 1,024); (2) the seed's point
/// that NCE-trained unnormalised scores end up nearly self-normalised, log Z ≈ 0. The figures are in docs/sampled.md.</summary>
public class SampledConvergenceTests(ITestOutputHelper output)
{
    private const int V = 10_000, D = 16, B = 32, Draws = 8;

    /// <summary>A model whose softmax is roughly Zipfian (b = log of the log-uniform probabilities, plus ⟨x, w⟩ of
    /// scale 1), labels drawn from that softmax: the regime word models train in.</summary>
    private static Dictionary<string, Tensor> Model(int seed)
    {
        var rng = new Random(seed);
        double N() => Tensor.RandomNormal(DType.F64, Shape.Scalar, rng).GetDouble(0);
        var x = Enumerable.Range(0, B * D).Select(_ => N() / Math.Sqrt(D)).ToArray();
        var w = Enumerable.Range(0, V * D).Select(_ => N()).ToArray();
        var b = Enumerable.Range(0, V).Select(c => Math.Log((Math.Log(c + 2.0) - Math.Log(c + 1.0)) / Math.Log(V + 1.0))).ToArray();
        var labels = new long[B];
        for (int r = 0; r < B; r++)
        {
            var l = Enumerable.Range(0, V).Select(c => b[c] + Enumerable.Range(0, D).Sum(k => x[r * D + k] * w[c * D + k])).ToArray();
            double m = l.Max(), z = l.Sum(v => Math.Exp(v - m)), u = rng.NextDouble() * z;
            int pick = 0;
            for (double acc = Math.Exp(l[0] - m); acc < u && pick < V - 1; acc += Math.Exp(l[++pick] - m)) { }
            labels[r] = pick;
        }
        return new()
        {
            ["x"] = Tensor.FromArray(x, B, D), ["w"] = Tensor.FromArray(w, V, D), ["b"] = Tensor.FromArray(b, V),
            ["labels"] = Tensor.FromArray(labels, B, 1),
        };
    }

    /// <summary>Mean loss and gradient of x of the full softmax cross-entropy.</summary>
    private static (double Loss, double[] Gx) Full(Dictionary<string, Tensor> v)
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DType.F64, B, D);
        var w = g.Input("w", DType.F64, V, D);
        var b = g.Input("b", DType.F64, V);
        var labels = g.Input("labels", DType.I64, B, 1);
        var logits = x.MatMul(w.Transpose()) + b;
        var loss = logits.SparseSoftmaxCrossEntropy(labels.Reshape(B)).Mean();
        var (value, grads) = new Tape(g.Build(loss)).Run(v);
        return (value.GetDouble(0), grads["x"].ToDoubleArray());
    }

    /// <summary>Mean loss and gradient of x of the sampled softmax, averaged over <see cref="Draws"/> steps of a
    /// log-uniform sampler with S samples (unique, as TensorFlow's default).</summary>
    private static (double Loss, double[] Gx) Sampled(Dictionary<string, Tensor> v, int s)
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DType.F64, B, D);
        var w = g.Input("w", DType.F64, V, D);
        var b = g.Input("b", DType.F64, V);
        var labels = g.Input("labels", DType.I64, B, 1);
        var step = g.Input("step", DType.I64);
        var sampling = CandidateSampling.LogUniform(V, s, unique: true, seed: 3);
        var sampled = Expr.CandidateSample(g, sampling, step: step);
        var loss = x.SampledSoftmaxLoss(w, b, labels, sampled, labels.ExpectedCount(sampling, DType.F64, step: step),
            sampled.ExpectedCount(sampling, DType.F64, step: step)).Mean();
        var tape = new Tape(g.Build(loss), ["x"]);
        double total = 0;
        var gx = new double[B * D];
        for (long t = 0; t < Draws; t++)
        {
            var inputs = new Dictionary<string, Tensor>(v) { ["step"] = Tensor.FromArray(new[] { t }, Shape.Scalar) };
            var (value, grads) = tape.Run(inputs);
            total += value.GetDouble(0) / Draws;
            var d = grads["x"].ToDoubleArray();
            for (int i = 0; i < gx.Length; i++) gx[i] += d[i] / Draws;
        }
        return (total, gx);
    }

    private static double Norm(IEnumerable<double> v) => Math.Sqrt(v.Sum(q => q * q));

    [Fact]
    public void SampledSoftmaxApproachesTheFullSoftmaxAsSGrows()
    {
        var v = Model(1);
        var (full, fullGx) = Full(v);
        var gaps = new List<(double Loss, double Grad)>();
        foreach (int s in new[] { 64, 256, 1024 })
        {
            var (loss, gx) = Sampled(v, s);
            double lossGap = Math.Abs(loss - full) / full;
            double gradGap = Norm(gx.Zip(fullGx, (a, b) => a - b)) / Norm(fullGx);
            gaps.Add((lossGap, gradGap));
            output.WriteLine($"V = {V}, S = {s}: full CE {full:F4}, sampled {loss:F4}, loss gap {lossGap:P2}, gradient gap (x) {gradGap:P2}");
        }
        Assert.True(gaps[0].Loss > gaps[1].Loss && gaps[1].Loss > gaps[2].Loss, string.Join(", ", gaps));
        Assert.True(gaps[0].Grad > gaps[1].Grad && gaps[1].Grad > gaps[2].Grad, string.Join(", ", gaps));
        Assert.True(gaps[2].Loss < 0.2 && gaps[2].Grad < 0.02, string.Join(", ", gaps));
    }

    /// <summary>The seed's point: NCE fits unnormalised scores, and at its optimum exp(s(w | c)) is the data distribution
    /// itself, so log Z_c = log Σ_w exp(s(w | c)) ends near 0 although no step ever computes Z. Eight contexts, V = 40
    /// words, true p(w | c) = softmax(1.5·N(0, 1)), noise q = the words' marginal, k = 20 negatives (independent draws, so
    /// the expected count is exactly k·q), SGD with a rate decaying as 1/√t. The context vectors are one-hot (D = contexts), so the scores
    /// ⟨e_c, w⟩ + b are a free table and NCE is convex in it: the model can fit p exactly.</summary>
    [Fact]
    public void NceTrainedScoresEndNearlySelfNormalized()
    {
        const int C = 8, W = 40, Dim = C, Batch = 64, K = 20, Steps = 2000;
        const double Rate = 8;
        var rng = new Random(2);
        double N() => Tensor.RandomNormal(DType.F64, Shape.Scalar, rng).GetDouble(0);
        var p = new double[C][];
        for (int c = 0; c < C; c++)
        {
            var l = Enumerable.Range(0, W).Select(_ => 1.5 * N()).ToArray();
            double m = l.Max(), z = l.Sum(v => Math.Exp(v - m));
            p[c] = [.. l.Select(v => Math.Exp(v - m) / z)];
        }
        var marginal = Enumerable.Range(0, W).Select(w => p.Average(row => row[w])).ToArray();

        var g = new GraphBuilder();
        var e = g.Input("E", DType.F64, C, Dim);
        var wout = g.Input("W", DType.F64, W, Dim);
        var b = g.Input("b", DType.F64, W);
        var cidx = g.Input("cidx", DType.I64, Batch, Dim);
        var labels = g.Input("labels", DType.I64, Batch, 1);
        var q = g.Input("q", DType.F64, W);
        var step = g.Input("step", DType.I64);
        var sampling = CandidateSampling.FixedUnigram(K, unique: false, seed: 4);
        var noise = Expr.CandidateSample(g, sampling, q, step);
        var loss = e.Take(cidx, axis: 0).NceLoss(wout, b, labels, noise, labels.ExpectedCount(sampling, DType.F64, q, step),
            noise.ExpectedCount(sampling, DType.F64, q, step)).Mean();
        var tape = new Tape(g.Build(loss), ["W", "b"]);
        var v = new Dictionary<string, Tensor>
        {
            ["E"] = Tensor.FromDoubles(DType.F64, new Shape(C, Dim), [.. Enumerable.Range(0, C * Dim).Select(i => i / Dim == i % Dim ? 1.0 : 0)]),
            ["W"] = Tensor.Zeros(DType.F64, W, Dim),
            ["b"] = Tensor.Zeros(DType.F64, W), ["q"] = Tensor.FromArray(marginal, W),
        };
        for (long t = 0; t < Steps; t++)
        {
            var ci = new long[Batch * Dim];
            var li = new long[Batch];
            for (int r = 0; r < Batch; r++)
            {
                int c = rng.Next(C);
                Array.Fill(ci, c, r * Dim, Dim);
                double u = rng.NextDouble();
                int w = 0;
                while (w < W - 1 && (u -= p[c][w]) > 0) w++;
                li[r] = w;
            }
            v["cidx"] = Tensor.FromArray(ci, Batch, Dim);
            v["labels"] = Tensor.FromArray(li, Batch, 1);
            v["step"] = Tensor.FromArray(new[] { t }, Shape.Scalar);
            var (_, grads) = tape.Run(v);
            foreach (var name in new[] { "W", "b" })
            {
                var x = v[name].Span<double>();
                var d = grads[name].Span<double>();
                for (int i = 0; i < x.Length; i++) x[i] -= Rate / Math.Sqrt(1 + t / 50.0) * d[i];
            }
        }
        var logZ = new double[C];
        double kl = 0;
        for (int c = 0; c < C; c++)
        {
            var s = Enumerable.Range(0, W).Select(w => v["b"][w] + Enumerable.Range(0, Dim).Sum(k => v["E"][c, k] * v["W"][w, k])).ToArray();
            double m = s.Max();
            logZ[c] = m + Math.Log(s.Sum(x => Math.Exp(x - m)));
            kl += Enumerable.Range(0, W).Sum(w => p[c][w] * (Math.Log(p[c][w]) - (s[w] - logZ[c]))) / C;
        }
        output.WriteLine($"log Z per context after NCE: {string.Join(", ", logZ.Select(z => z.ToString("F3")))}; mean KL(p || model) {kl:F4}");
        Assert.True(logZ.All(z => Math.Abs(z) < 0.25), string.Join(", ", logZ));
        Assert.True(kl < 0.1, $"KL {kl}");
    }
}
