using Autodiff.Text;

namespace Autodiff.Tests.Structured;

/// <summary><c>nce_loss</c> and <c>sampled_softmax_loss</c> against an independent oracle that follows TensorFlow's
/// <c>_compute_sampled_logits</c> literally (the logits as dot products, −FLT_MAX added at accidental hits, log of the
/// expected counts subtracted, then sigmoid cross-entropy max(l, 0) − l·y + log(1 + exp(−|l|)) or softmax cross-entropy),
/// hand-computed values, finite differences in double, the symbolic gradient, and float32 against float64.</summary>
public class SampledLossTests
{
    internal const double FltMax = 3.4028234663852886e38;

    /// <summary>Random operands: x [B, D], w [V, D], b [V], labels [B, T] (distinct per row), sampled [S] with repeats and
    /// with some labels among them (so accidental hits occur), positive expected counts.</summary>
    internal sealed record Case(int B, int D, int V, int T, int S, int Seed, double Scale = 1)
    {
        public override string ToString() => $"B{B} D{D} V{V} T{T} S{S} seed{Seed} scale{Scale}";

        public Dictionary<string, Tensor> Inputs(DType dt = DType.F64)
        {
            var rng = new Random(Seed);
            double[] R(int n, double scale) => [.. Enumerable.Range(0, n).Select(_ => (rng.NextDouble() * 2 - 1) * scale)];
            var labels = new long[B * T];
            for (int r = 0; r < B; r++)
            {
                var ids = Enumerable.Range(0, V).OrderBy(_ => rng.Next()).Take(T).ToArray();
                for (int t = 0; t < T; t++) labels[r * T + t] = ids[t];
            }
            var sampled = new long[S];
            for (int j = 0; j < S; j++) sampled[j] = j % 3 == 0 && B > 0 ? labels[rng.Next(B * T)] : rng.Next(V);
            return new()
            {
                ["x"] = Tensor.FromDoubles(dt, new Shape(B, D), R(B * D, Scale)),
                ["w"] = Tensor.FromDoubles(dt, new Shape(V, D), R(V * D, 1)),
                ["b"] = Tensor.FromDoubles(dt, new Shape(V), R(V, 0.5)),
                ["labels"] = Tensor.FromArray(labels, B, T),
                ["sampled"] = Tensor.FromArray(sampled, S),
                ["te"] = Tensor.FromDoubles(dt, new Shape(B, T), [.. Enumerable.Range(0, B * T).Select(_ => 0.05 + rng.NextDouble())]),
                ["se"] = Tensor.FromDoubles(dt, new Shape(S), [.. Enumerable.Range(0, S).Select(_ => 0.05 + rng.NextDouble())]),
            };
        }

        public Graph Graph(bool softmax, bool remove, bool subtract, DType dt = DType.F64)
        {
            var g = new GraphBuilder();
            var x = g.Input("x", dt, B, D);
            var w = g.Input("w", dt, V, D);
            var b = g.Input("b", dt, V);
            var labels = g.Input("labels", DType.I64, B, T);
            var sampled = g.Input("sampled", DType.I64, S);
            var te = g.Input("te", dt, B, T);
            var se = g.Input("se", dt, S);
            var loss = softmax ? x.SampledSoftmaxLoss(w, b, labels, sampled, te, se, remove, subtract)
                               : x.NceLoss(w, b, labels, sampled, te, se, remove, subtract);
            return g.Build(loss);
        }
    }

    /// <summary>TensorFlow's computation, written out: the per-row losses.</summary>
    internal static double[] Oracle(Dictionary<string, Tensor> v, bool softmax, bool remove, bool subtract)
    {
        var x = v["x"]; var w = v["w"]; var bias = v["b"]; var labels = v["labels"]; var sampled = v["sampled"];
        int batch = x.Shape[0], d = x.Shape[1], nt = labels.Shape[1], s = sampled.Shape[0];
        double Logit(int r, long id) => Enumerable.Range(0, d).Sum(k => x[r, k] * w[(int)id, k]) + bias[(int)id];
        var loss = new double[batch];
        for (int r = 0; r < batch; r++)
        {
            var logits = new double[nt + s];
            var y = new double[nt + s];
            for (int t = 0; t < nt; t++)
            {
                logits[t] = Logit(r, (long)labels[r, t]) - (subtract ? Math.Log(v["te"][r, t]) : 0);
                y[t] = 1.0 / nt;
            }
            for (int j = 0; j < s; j++)
            {
                long id = (long)sampled[j];
                logits[nt + j] = Logit(r, id);
                if (remove && Enumerable.Range(0, nt).Any(t => (long)labels[r, t] == id)) logits[nt + j] += -FltMax;
                if (subtract) logits[nt + j] -= Math.Log(v["se"][j]);
            }
            if (softmax)
            {
                double m = logits.Max();
                double lse = m + Math.Log(logits.Sum(l => Math.Exp(l - m)));
                loss[r] = Enumerable.Range(0, nt + s).Sum(j => -y[j] * (logits[j] - lse));
            }
            else
                loss[r] = Enumerable.Range(0, nt + s).Sum(j => Math.Max(logits[j], 0) - logits[j] * y[j] + Math.Log(1 + Math.Exp(-Math.Abs(logits[j]))));
        }
        return loss;
    }

    public static TheoryData<bool, bool, bool> Variants()
    {
        var data = new TheoryData<bool, bool, bool>();
        foreach (bool softmax in new[] { false, true })
            foreach (bool remove in new[] { false, true })
                foreach (bool subtract in new[] { false, true }) data.Add(softmax, remove, subtract);
        return data;
    }

    internal static readonly Case[] Cases = [new(4, 3, 11, 1, 6, 1), new(3, 5, 9, 2, 7, 2), new(5, 2, 7, 3, 4, 3), new(2, 4, 13, 1, 1, 4)];

    [Theory, MemberData(nameof(Variants))]
    public void ValuesMatchTensorFlowsComputation(bool softmax, bool remove, bool subtract)
    {
        foreach (var c in Cases)
        {
            var v = c.Inputs();
            var got = new Tape(c.Graph(softmax, remove, subtract)).Forward(v).ToDoubleArray();
            var want = Oracle(v, softmax, remove, subtract);
            for (int r = 0; r < c.B; r++) Assert.True(Math.Abs(got[r] - want[r]) <= 1e-12 * (1 + Math.Abs(want[r])), $"{c} row {r}: {got[r]} vs {want[r]}");
        }
    }

    [Theory, MemberData(nameof(Variants))]
    public void GradientsMatchFiniteDifferencesAndTheSymbolicGradient(bool softmax, bool remove, bool subtract)
    {
        foreach (var c in Cases)
        {
            var graph = c.Graph(softmax, remove, subtract);
            var v = c.Inputs();
            var r = GradientChecker.Check(graph, v, ["x", "w", "b"]);
            Assert.True(r.Passed, $"{c}: {r}");
            Assert.True(GradientChecker.CompareFloatToDouble(graph, v, ["x", "w", "b"]) < 1e-4, c.ToString());

            var cot = Tensor.RandomNormal(DType.F64, graph.Output.Shape, new Random(c.Seed));
            var (_, grads) = new Tape(graph).Run(v, cot);
            var seed = graph.Builder.Input("seed_cotangent", DType.F64, graph.Output.Shape.ToArray());
            var inputs = new Dictionary<string, Tensor>(v) { ["seed_cotangent"] = cot };
            foreach (var (name, expr) in SymbolicGradient.Of(graph, seed: seed))
            {
                var sym = new Tape(graph.Builder.Build(expr), []).Forward(inputs).ToDoubleArray();
                var tape = grads[name].ToDoubleArray();
                for (int i = 0; i < sym.Length; i++) Assert.Equal(tape[i], sym[i], 10);
            }
        }
    }

    /// <summary>Worked by hand: x = [1], w = [1; 2; 0], b = 0, label 0, samples [1, 2], no log q: logits [1 | 2, 0].
    /// and sample 0 an accidental hit: NCE = softplus(−1) + softplus(2) + softplus(0) + softplus(1), or without the last term
    /// when hits are removed; sampled softmax (hits removed) = log(e + e² + 1) − 1, or log(e + e² + 1 + e) − 1 kept.</summary>
    [Fact]
    public void HandComputedValuesAndGradients()
    {
        var g = new GraphBuilder();
        var x = g.Input("x", DType.F64, 1, 1);
        var w = g.Input("w", DType.F64, 3, 1);
        var b = g.Input("b", DType.F64, 3);
        var labels = g.Input("labels", DType.I64, 1, 1);
        var sampled = g.Input("sampled", DType.I64, 3);
        var te = g.Input("te", DType.F64, 1, 1);
        var se = g.Input("se", DType.F64, 3);
        var v = new Dictionary<string, Tensor>
        {
            ["x"] = Tensor.FromArray(new[] { 1.0 }, 1, 1), ["w"] = Tensor.FromArray(new[] { 1.0, 2, 0 }, 3, 1),
            ["b"] = Tensor.FromArray(new[] { 0.0, 0, 0 }, 3), ["labels"] = Tensor.FromArray(new[] { 0L }, 1, 1),
            ["sampled"] = Tensor.FromArray(new[] { 1L, 2, 0 }, 3), ["te"] = Tensor.FromArray(new[] { 1.0 }, 1, 1),
            ["se"] = Tensor.FromArray(new[] { 1.0, 1, 1 }, 3),
        };
        double Sp(double z) => Math.Log(1 + Math.Exp(z));
        double S(double z) => 1 / (1 + Math.Exp(-z));
        double e = Math.E;

        var (nce, gn) = new Tape(g.Build(x.NceLoss(w, b, labels, sampled, te, se).Sum())).Run(v);
        Assert.Equal(Sp(-1) + Sp(2) + Sp(0) + Sp(1), nce.GetDouble(0), 14);
        // dx = (σ(1) − 1)·1 + σ(2)·2 + σ(0)·0 + σ(1)·1; dw[0] = (σ(1) − 1) + σ(1) (label and sample); db likewise
        Assert.Equal(S(1) - 1 + 2 * S(2) + S(1), gn["x"].GetDouble(0), 14);
        Assert.Equal([S(1) - 1 + S(1), S(2), S(0)], gn["w"].ToDoubleArray(), new ToleranceComparer(1e-14));
        Assert.Equal([S(1) - 1 + S(1), S(2), S(0)], gn["b"].ToDoubleArray(), new ToleranceComparer(1e-14));

        var (nceHit, _) = new Tape(g.Build(x.NceLoss(w, b, labels, sampled, te, se, removeAccidentalHits: true).Sum())).Run(v);
        Assert.Equal(Sp(-1) + Sp(2) + Sp(0), nceHit.GetDouble(0), 14);

        var (ssm, gs) = new Tape(g.Build(x.SampledSoftmaxLoss(w, b, labels, sampled, te, se).Sum())).Run(v);
        double z = e + e * e + 1;
        Assert.Equal(Math.Log(z) - 1, ssm.GetDouble(0), 14);
        // p = [e | e², 1, (removed)] / z: dx = (p0 − 1)·1 + p1·2 + p2·0, dw = [p0 − 1, p1, p2]
        Assert.Equal(e / z - 1 + 2 * e * e / z, gs["x"].GetDouble(0), 14);
        Assert.Equal([e / z - 1, e * e / z, 1 / z], gs["w"].ToDoubleArray(), new ToleranceComparer(1e-14));

        var (ssmAll, _) = new Tape(g.Build(x.SampledSoftmaxLoss(w, b, labels, sampled, te, se, removeAccidentalHits: false).Sum())).Run(v);
        Assert.Equal(Math.Log(z + e) - 1, ssmAll.GetDouble(0), 14);

        v["te"] = Tensor.FromArray(new[] { 0.5 }, 1, 1);
        v["se"] = Tensor.FromArray(new[] { 2.0, 0.25, 1 }, 3);
        var (ssmQ, _) = new Tape(g.Build(x.SampledSoftmaxLoss(w, b, labels, sampled, te, se).Sum())).Run(v);
        double t1 = 1 - Math.Log(0.5), s1 = 2 - Math.Log(2), s2 = 0 - Math.Log(0.25);
        Assert.Equal(Math.Log(Math.Exp(t1) + Math.Exp(s1) + Math.Exp(s2)) - t1, ssmQ.GetDouble(0), 14);
    }

    [Theory]
    [InlineData(1e3)]
    [InlineData(1e30)]
    public void FiniteAtAnyLogitScale(double scale)
    {
        foreach (bool softmax in new[] { false, true })
        {
            var c = new Case(4, 3, 11, 2, 6, 7, scale);
            var v = c.Inputs();
            var graph = c.Graph(softmax, true, true);
            var (value, grads) = new Tape(graph.Builder.Build(graph.Output.Expr.Sum())).Run(v);
            Assert.True(double.IsFinite(value.GetDouble(0)), $"{scale}: {value}");
            foreach (var name in new[] { "x", "w", "b" })
                Assert.All(grads[name].ToDoubleArray(), q => Assert.True(double.IsFinite(q)));
            var want = Oracle(v, softmax, true, true);
            var got = new Tape(graph).Forward(v).ToDoubleArray();
            for (int r = 0; r < c.B; r++) Assert.True(Math.Abs(got[r] - want[r]) <= 1e-9 * (1 + Math.Abs(want[r])), $"{got[r]} vs {want[r]}");
        }
    }

    [Fact]
    public void LanguageRoundTripsAndDefaultsFollowTensorFlow()
    {
        const string head = "input x: f64[2, 3]\ninput w: f64[5, 3]\ninput b: f64[5]\ninput l: i64[2, 1]\ninput s: i64[4]\ninput te: f64[2, 1]\ninput se: f64[4]\n";
        var nce = Parser.Parse(head + "y = nce_loss(x, w, b, l, s, te, se)");
        Assert.Equal(new NceLossOp(false, true), nce.Output.Op);
        var ssm = Parser.Parse(head + "y = sampled_softmax_loss(x, w, b, l, s, te, se)");
        Assert.Equal(new SampledSoftmaxLossOp(true, true), ssm.Output.Op);
        foreach (var text in new[]
        {
            "y = nce_loss(x, w, b, l, s, te, se, remove_accidental_hits=true, subtract_log_q=false)",
            "y = sampled_softmax_loss(x, w, b, l, s, te, se, remove_accidental_hits=false)",
            "y = sampled_logits_grad(x, w, b, l, s, te, se, softmax=true, remove_accidental_hits=false, subtract_log_q=true)",
        })
        {
            var g = Parser.Parse(head + text);
            Assert.Contains(text[4..], Printer.Print(g));
            Assert.Equal(Printer.Print(g), Printer.Print(Parser.Parse(Printer.Print(g))));
        }
    }

    [Fact]
    public void BadOperandsAreNamed()
    {
        var c = new Case(2, 3, 5, 1, 3, 1);
        var g = new GraphBuilder();
        var x = g.Input("x", DType.F64, 2, 3);
        var w = g.Input("w", DType.F64, 5, 4);
        var b = g.Input("b", DType.F64, 5);
        var l = g.Input("l", DType.I64, 2, 1);
        var s = g.Input("s", DType.I64, 3);
        var te = g.Input("te", DType.F64, 2, 1);
        var se = g.Input("se", DType.F64, 3);
        var e = Assert.Throws<ShapeException>(() => x.NceLoss(w, b, l, s, te, se));
        Assert.Contains("nce_loss", e.Message);
        Assert.Contains("w must be [V, 3]", e.Message);
        e = Assert.Throws<ShapeException>(() => x.SampledSoftmaxLoss(g.Input("w2", DType.F64, 5, 3), b, l, s, g.Input("te2", DType.F64, 2, 2), se));
        Assert.Contains("true_expected must have the labels' shape [2, 1]", e.Message);

        var v = c.Inputs();
        v["sampled"] = Tensor.FromArray(new[] { 1L, 5, 0 }, 3);
        var m = Assert.Throws<AutodiffException>(() => new Tape(c.Graph(false, false, true)).Forward(v));
        Assert.Contains("index 5 at position [1] is out of range [0, 5)", m.Message);
        v = c.Inputs();
        v["se"] = Tensor.FromArray(new[] { 1.0, 0, 1 }, 3);
        m = Assert.Throws<AutodiffException>(() => new Tape(c.Graph(true, true, true)).Forward(v));
        Assert.Contains("sampled_expected at position [1] is 0", m.Message);
        Assert.All(new Tape(c.Graph(true, true, false)).Forward(v).ToDoubleArray(), q => Assert.True(double.IsFinite(q)));   // no log q: unused
    }
}

internal sealed class ToleranceComparer(double tol) : IEqualityComparer<double>
{
    public bool Equals(double a, double b) => Math.Abs(a - b) <= tol * (1 + Math.Abs(b));
    public int GetHashCode(double v) => 0;
}
