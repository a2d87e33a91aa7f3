using Autodiff.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Runtime;

/// <summary>Second derivatives against closed forms: logsumexp's H·v = p⊙v − p(p·v) (also at logits of 1000), the
/// cross-entropy Hessian diag(q) − qqᵀ, the Hessian of a product with zeros, xᵀAx (H = A + Aᵀ); Gradient.Of as a
/// simplifiable, evaluable, differentiable graph; the JVP against finite differences.</summary>
public class SecondOrderTests
{
    private static Dictionary<string, Tensor> In(params (string Name, Tensor Value)[] xs) => xs.ToDictionary(p => p.Name, p => p.Value);

    private static Tensor Vec(params double[] v) => Tensor.FromArray(v, v.Length);

    private static double[] Softmax(double[] z)
    {
        double m = z.Max();
        var e = z.Select(v => Math.Exp(v - m)).ToArray();
        return e.Select(v => v / e.Sum()).ToArray();
    }

    [Theory]
    [InlineData(1.0, 2.0, 3.0)]
    [InlineData(1000.0, 1001.0, 999.0)]
    public void LogSumExpHvpIsPTimesVMinusPTimesPDotV(double a, double b, double c)
    {
        double[] z = [a, b, c], v = [0.3, -1.1, 0.7];
        var p = Softmax(z);
        double pv = p.Zip(v, (x, y) => x * y).Sum();
        var want = p.Select((pi, i) => pi * v[i] - pi * pv).ToArray();
        foreach (var program in new[] { "input z: f64[3]\ny = logsumexp(z)", "input z: f64[3]\ny = log(sum(exp(z)))" })
        {
            var g = Simplifier.Simplify(Parser.Parse(program)).After;
            Assert.Contains("logsumexp", g.ToString());
            var hvp = Gradient.Hvp(g);
            foreach (var h in new[] { hvp, hvp.Simplify() })
            {
                var got = h.Evaluate(In(("z", Vec(z))), In(("z", Vec(v))))["hvp_z"].ToDoubleArray();
                for (int i = 0; i < 3; i++) Assert.Equal(want[i], got[i], 1e-12);
            }
        }
    }

    private const string HandWrittenCrossEntropy = """
        input z: f64[1, 2]
        input y: f64[1, 2] probs(axis=1)
        e = exp(z)
        q = e / sum(e, axis=1, keepdims=true)
        loss = -sum(y * log(q))
        """;

    [Fact]
    public void CrossEntropyHessianAtZeroLogitsIsAQuarterTimesTheCentringMatrix()
    {
        var x = In(("z", Tensor.FromArray(new[] { 0.0, 0 }, 1, 2)), ("y", Tensor.FromArray(new[] { 1.0, 0 }, 1, 2)));
        var naive = Parser.Parse(HandWrittenCrossEntropy);
        var simplified = Simplifier.Simplify(naive).After;
        Assert.Contains("softmax_cross_entropy", simplified.ToString());
        foreach (var g in new[] { naive, simplified })
        {
            var h = Hessian.Of(g, x, ["z"]);
            double[,] want = { { 0.25, -0.25 }, { -0.25, 0.25 } };
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) Assert.Equal(want[i, j], h[i, j], 1e-14);
        }
    }

    [Fact]
    public void HvpOfTheSimplifiedHandWrittenCrossEntropyIsFiniteAndCorrectAtLogitsOf1000()
    {
        var g = Simplifier.Simplify(Parser.Parse("""
            input z: f64[2, 4]
            input y: f64[2, 4] probs(axis=1)
            e = exp(z)
            q = e / sum(e, axis=1, keepdims=true)
            loss = -mean(sum(y * log(q), axis=1))
            """)).After;
        double[] z = [1000, 1001, 999, 1002.5, -1000, 1000, 998, 1001], y = [0.1, 0.2, 0.3, 0.4, 1, 0, 0, 0], v = [0.5, -1, 2, 0.25, 1, 1, -3, 0.5];
        var got = Gradient.Hvp(g, ["z"]).Simplify().Evaluate(In(("z", Tensor.FromArray(z, 2, 4)), ("y", Tensor.FromArray(y, 2, 4))),
            In(("z", Tensor.FromArray(v, 2, 4))))["hvp_z"].ToDoubleArray();
        for (int r = 0; r < 2; r++)
        {
            var q = Softmax(z[(4 * r)..(4 * r + 4)]);
            var vr = v[(4 * r)..(4 * r + 4)];
            double qv = q.Zip(vr, (a, b) => a * b).Sum();
            for (int j = 0; j < 4; j++)
            {
                Assert.True(double.IsFinite(got[4 * r + j]));
                Assert.Equal((q[j] * vr[j] - q[j] * qv) / 2, got[4 * r + j], 1e-12);   // mean over 2 rows
            }
        }
    }

    [Theory]
    [InlineData(new[] { 0.0, 2, 3 }, new[] { 0.0, 3, 2, 3, 0, 0, 2, 0, 0 })]
    [InlineData(new[] { 0.0, 0, 3 }, new[] { 0.0, 3, 0, 3, 0, 0, 0, 0, 0 })]
    [InlineData(new[] { 0.0, 0, 0 }, new[] { 0.0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new[] { 1.5, -2, 3 }, new[] { 0.0, 3, -2, 3, 0, 1.5, -2, 1.5, 0 })]
    public void HessianOfAProductWithZerosIsTheProductOfTheOthers(double[] x, double[] want)
    {
        // ∂²/∂x_i∂x_j Π x = Π_{k ≠ i, j} x_k (i ≠ j), 0 on the diagonal: no division by the zero entries
        var g = Parser.Parse("input x: f64[3]\ny = prod(x)");
        var h = Hessian.Of(g, In(("x", Vec(x))));
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
            {
                Assert.True(double.IsFinite(h[i, j]));
                Assert.Equal(want[3 * i + j], h[i, j], 1e-14);
            }
    }

    [Fact]
    public void HessianOfAQuadraticFormIsASymmetrisedMatrix()
    {
        var g = Parser.Parse("input x: f64[3, 1]\ninput A: f64[3, 3]\ny = sum(transpose(x) @ A @ x)");
        double[] a = [1, 2, -3, 0.5, 4, 1, -2, 0, 3];
        var x = In(("x", Tensor.FromArray(new[] { 0.3, -1.0, 2.0 }, 3, 1)), ("A", Tensor.FromArray(a, 3, 3)));
        var h = Hessian.Of(g, x, ["x"]);
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++) Assert.Equal(a[3 * i + j] + a[3 * j + i], h[i, j], 1e-13);
        // the mixed Hessian over (x, A): ∂²/∂x_i∂A_jk = δ_ij x_k + x_j δ_ik
        var full = Hessian.Of(g, x);
        Assert.Equal(12, full.GetLength(0));
        for (int i = 0; i < 3; i++)
            for (int j = 0; j < 3; j++)
                for (int k = 0; k < 3; k++)
                {
                    double want = (i == j ? x["x"].GetDouble(k) : 0) + (i == k ? x["x"].GetDouble(j) : 0);
                    Assert.Equal(want, full[i, 3 + 3 * j + k], 1e-13);
                    Assert.Equal(want, full[3 + 3 * j + k, i], 1e-13);
                }
    }

    [Fact]
    public void GradientOfIsASimplifiableEvaluableGraphWithNamedOutputs()
    {
        // simplify the program, then differentiate it, then simplify the gradient graph
        var g = Simplifier.Simplify(Parser.Parse(HandWrittenCrossEntropy)).After;
        var grad = Gradient.Of(g, ["z"]);
        Assert.Equal(["loss", "grad_z"], grad.Outputs.Select(o => o.Name));
        var simplified = Simplifier.Simplify(grad).After;
        Assert.Equal(["loss", "grad_z"], simplified.Outputs.Select(o => o.Name));
        Assert.Contains("softmax_cross_entropy", simplified.ToString());
        Assert.Contains("softmax(z", simplified.ToString());
        var x = In(("z", Tensor.FromArray(new[] { 1000.0, 1001 }, 1, 2)), ("y", Tensor.FromArray(new[] { 0.25, 0.75 }, 1, 2)));
        var outs = new Tape(simplified, []).Evaluate(x);
        var q = Softmax([1000, 1001]);
        Assert.Equal(q[0] - 0.25, outs["grad_z"].GetDouble(0), 1e-12);
        Assert.Equal(q[1] - 0.75, outs["grad_z"].GetDouble(1), 1e-12);
        Assert.True(double.IsFinite(outs["loss"].GetDouble(0)));
        // the printed gradient graph parses back to the same program
        var text = Printer.Print(simplified);
        Assert.Equal(text, Printer.Print(Parser.Parse(text)));
        Assert.EndsWith("output loss, grad_z", text);
    }

    [Fact]
    public void AGradientGraphCanBeDifferentiatedAgainByOutputName()
    {
        // f = sum(x³): grad = 3x², d/dx of sum(grad) = 6x
        var g = Parser.Parse("input x: f64[3]\ny = sum(x * x * x)");
        var first = Gradient.Of(g);
        var total = first.Builder.Build([("s", first.Outputs[1].Node.Expr.Sum())]);
        var second = Gradient.Of(new Tape(total, []).Graph, output: "s");
        var outs = new Tape(second, []).Evaluate(In(("x", Vec(1, -2, 0.5))));
        Assert.Equal([6, -12, 3], outs["grad_x"].ToDoubleArray());
        var e = Assert.Throws<AutodiffException>(() => Gradient.Of(first, output: "grad_x"));
        Assert.Contains("not a scalar", e.Message);
        e = Assert.Throws<AutodiffException>(() => Gradient.Of(first, output: "nope"));
        Assert.Contains("no output named 'nope'; outputs are y, grad_x", e.Message);
    }

    [Fact]
    public void JvpMatchesCentralDifferencesOfTheOutput()
    {
        var g = Parser.Parse("input a: f64[2, 3]\ninput b: f64[3]\ny = softmax(a * b, axis=1) * tanh(b)");
        var jvp = Gradient.Jvp(g);
        var rng = new Random(3);
        var a = Tensor.RandomNormal(DType.F64, new Shape(2, 3), rng);
        var b = Tensor.RandomNormal(DType.F64, new Shape(3), rng);
        var va = Tensor.RandomNormal(DType.F64, new Shape(2, 3), rng);
        var vb = Tensor.RandomNormal(DType.F64, new Shape(3), rng);
        var got = jvp.Evaluate(In(("a", a), ("b", b)), In(("a", va), ("b", vb)))["jvp"].ToDoubleArray();
        Tensor Shift(Tensor x, Tensor v, double h) => Tensor.FromArray(x.ToDoubleArray().Zip(v.ToDoubleArray(), (p, q) => p + h * q).ToArray(), x.Shape);
        const double H = 1e-6;
        var tape = new Tape(g, []);
        var up = tape.Forward(In(("a", Shift(a, va, H)), ("b", Shift(b, vb, H)))).ToDoubleArray();
        var down = tape.Forward(In(("a", Shift(a, va, -H)), ("b", Shift(b, vb, -H)))).ToDoubleArray();
        for (int i = 0; i < got.Length; i++) Assert.Equal((up[i] - down[i]) / (2 * H), got[i], 1e-8);
    }

    [Fact]
    public void HvpChecksItsTangents()
    {
        var hvp = Gradient.Hvp(Parser.Parse("input x: f64[2]\ninput w: f64[2]\ny = sum(x * x * w)"), ["x"]);
        var x = In(("x", Vec(1, 2)), ("w", Vec(3, 4)));
        Assert.Contains("no tangent for input 'x'", Assert.Throws<AutodiffException>(() => hvp.Evaluate(x, In())).Message);
        Assert.Contains("'w' is not a differentiated input", Assert.Throws<AutodiffException>(() => hvp.Evaluate(x, In(("x", Vec(1, 0)), ("w", Vec(1, 0))))).Message);
        Assert.Equal([6, 0], hvp.Evaluate(x, In(("x", Vec(1, 0))))["hvp_x"].ToDoubleArray());
    }
}
