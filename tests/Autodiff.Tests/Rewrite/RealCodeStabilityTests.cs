using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Rewrite;

/// <summary>The spellings of issue "Stability on real code", each as a whole program: after simplification (default
/// options, stability first) the value and every gradient are finite at logits of scale 1000, where the program as
/// written is NaN or inf, and at scale 1 they equal the naive graph's (1e-9 relative).</summary>
public class RealCodeStabilityTests
{
    private const string Z = "input z: f64[4, 5]\ninput w: f64[4, 5]\ninput t: i64[4] classes(5)\n";

    public static TheoryData<string, string> Programs() => new()
    {
        { "entropy of softmax", Z + "p = softmax(z, axis=1)\nh = -mean(sum(p * log(p), axis=1))" },
        { "entropy of exp/sum", Z + "e = exp(z)\np = e / sum(e, axis=1, keepdims=true)\nh = -mean(sum(p * log(p), axis=1))" },
        { "KL as a difference of logs", Z + "p = softmax(z, axis=1)\nq = softmax(w, axis=1)\nk = sum(p * (log(p) - log(q)))" },
        { "KL as the log of a ratio", Z + "p = softmax(z, axis=1)\nq = softmax(w, axis=1)\nk = sum(p * log(p / q))" },
        { "KL of exp/sum", Z + "e = exp(z)\np = e / sum(e, axis=1, keepdims=true)\nf = exp(w)\nq = f / sum(f, axis=1, keepdims=true)\nk = sum(p * log(p / q))" },
        { "binary entropy of a sigmoid", Z + "s = sigmoid(z)\nh = -sum(s * log(s) + (1 - s) * log(1 - s))" },
        { "sigmoid scaled by a reciprocal", Z + "r = sum(log(0.1 * (1 / (1 + exp(-z)))))" },
        { "sigmoid after a double negation", Z + "r = sum(log(1 / (1 + exp(-(-z)))))" },
        { "sigmoid over a numerator", Z + "r = sum(log(3 / (exp(-z) + 1)))" },
        { "exp ratio sigmoid", Z + "e = exp(z)\nr = sum(log(e / (1 + e)))" },
        { "logsumexp over non-adjacent axes", "input x: f64[2, 3, 4]\nr = sum(log(sum(exp(x), axis=(0, 2))))" },
        { "clipped numerator over a sum of exp", Z + "q = exp(maximum(minimum(z, 87), -87)) / sum(exp(z), axis=1, keepdims=true)\nr = sum(q * w)" },
        { "log of abs of softmax", Z + "r = -sum(one_hot(t, 5, dtype=f64) * log(abs(softmax(z, axis=1))))" },
        { "log of relu of softmax", Z + "e = exp(z)\np = e / sum(e, axis=1, keepdims=true)\nr = -sum(one_hot(t, 5, dtype=f64) * log(relu(p)))" },
        { "log of one minus softmax", Z + "r = sum(log(1 - softmax(z, axis=1)))" },
        { "log of one minus a shared softmax", Z + "p = softmax(z, axis=1)\nr = sum(p * log(p)) + sum(log(1 - p))" },
        { "epsilon guard", Z + "e = exp(z)\np = e / sum(e, axis=1, keepdims=true)\nr = -sum(one_hot(t, 5, dtype=f64) * log(p + 1e-7))" },
        { "clip guard", Z + "e = exp(z)\np = e / sum(e, axis=1, keepdims=true)\nr = -sum(one_hot(t, 5, dtype=f64) * log(maximum(minimum(p, 1), 1e-10)))" },
        { "log of a difference of exps", Z + "r = sum(log(exp(z + abs(w) + 1) - exp(z)))" },
        { "sqrt of exp", Z + "r = sum(log(sqrt(exp(z))) * w)" },
        { "odds of a sigmoid", Z + "s = sigmoid(z)\nr = sum(log(s / (1 - s)))" },
        { "exp times sigmoid", Z + "r = sum(log(exp(z) * sigmoid(-z)))" },
        { "log of a scaled softmax", Z + "r = -sum(one_hot(t, 5, dtype=f64) * log(0.5 * softmax(z, axis=1)))" },
        { "log1p spelled out", Z + "r = sum(log(1 + exp(z)) - log(1 - exp(-abs(z) - 1)))" },
    };

    private static Dictionary<string, Tensor> Inputs(Graph g, double scale, int seed)
    {
        var rng = new Random(seed);
        var v = new Dictionary<string, Tensor>();
        foreach (var i in g.Inputs)
        {
            var op = (InputOp)i.Op;
            var t = Tensor.Zeros(i.DType, i.Shape);
            for (int k = 0; k < t.Size; k++)
                t.SetDouble(k, op.Facts.Classes is int c ? rng.Next(c) : scale * RandomProgram.Normal(rng));
            v[op.InputName] = t;
        }
        return v;
    }

    [Theory, MemberData(nameof(Programs))]
    public void FiniteAtLogitsOf1000(string name, string program)
    {
        var naive = Parser.Parse(program);
        var simplified = Simplifier.Simplify(naive).After;
        bool naiveBroke = false;
        for (int seed = 1; seed <= 3; seed++)
        {
            var x = Inputs(naive, 1000, seed);
            var (v, g) = new Tape(simplified).Run(x);
            Assert.True(double.IsFinite(v.GetDouble(0)), $"{name}: value {v.GetDouble(0)} at scale 1000\n{Printer.Print(simplified)}");
            foreach (var (input, grad) in g)
                for (int i = 0; i < grad.Size; i++)
                    Assert.True(double.IsFinite(grad.GetDouble(i)), $"{name}: d/d{input}[{i}] = {grad.GetDouble(i)} at scale 1000\n{Printer.Print(simplified)}");
            var (nv, ng) = new Tape(naive).Run(x);
            naiveBroke |= !double.IsFinite(nv.GetDouble(0)) || ng.Values.Any(t => t.ToDoubleArray().Any(d => !double.IsFinite(d)));
        }
        Assert.True(naiveBroke, $"{name}: the program as written is finite at scale 1000, so this case tests nothing");
    }

    [Theory, MemberData(nameof(Programs))]
    public void AgreesWithTheNaiveGraphAtScaleOne(string name, string program)
    {
        var naive = Parser.Parse(program);
        var simplified = Simplifier.Simplify(naive).After;
        var x = Inputs(naive, 1, 7);
        var (v0, g0) = new Tape(naive).Run(x);
        var a = v0.Clone();
        var ga = g0.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        var (v1, g1) = new Tape(simplified).Run(x);
        RandomProgram.AssertClose(a, v1, "value", () => name);
        foreach (var (input, grad) in ga) RandomProgram.AssertClose(grad, g1[input], "d/d" + input, () => $"{name}\n{Printer.Print(simplified)}");
    }

    [Fact]
    public void LabelSmoothingInF32IsFused()
    {
        var g = Parser.Parse("input z: f32[8, 5]\ninput t: i64[8] classes(5)\np = 0.9 * one_hot(t, 5, dtype=f32) + 0.1 / 5\nloss = -mean(sum(p * log(softmax(z, axis=1)), axis=1))");
        var r = Simplifier.Simplify(g);
        Assert.Contains("softmax_cross_entropy", r.Fused);
        // a row sum off by more than a few ulps of f32 is still refused
        var off = Simplifier.Simplify(Parser.Parse("input z: f32[8, 5]\ninput t: i64[8] classes(5)\np = 0.9 * one_hot(t, 5, dtype=f32) + 0.1 / 5.01\nloss = -mean(sum(p * log(softmax(z, axis=1)), axis=1))"));
        Assert.DoesNotContain("softmax_cross_entropy", off.Fused);
    }

    [Fact]
    public void SpeedFirstKeepsTheSharedSoftmaxAndStaysNaN()
    {
        var g = Parser.Parse(Z + "p = softmax(z, axis=1)\nh = -mean(sum(p * log(p), axis=1))");
        var keep = Simplifier.Simplify(g, new SimplifyOptions(Sharing: SharingPolicy.Keep));
        Assert.Contains(keep.NearMisses, m => m.Rule == "log-softmax" && m.Reason.Contains("also used outside the pattern"));
        var stable = Simplifier.Simplify(g);
        Assert.Contains(stable.Rewrites, s => s.Rule == "log-softmax" && s.Note is { } n && n.Contains("recomputes softmax(z, axis=1)"));
    }
}
