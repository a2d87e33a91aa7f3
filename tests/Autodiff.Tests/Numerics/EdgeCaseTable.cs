namespace Autodiff.Tests.Numerics;

/// <summary>Closed forms in double for the expected values of the table (max-shifted, so exact for the small rows used).</summary>
internal static class Closed
{
    public static double Lse(params double[] x)
    {
        double m = x.Max();
        return m + Math.Log(x.Sum(v => Math.Exp(v - m)));
    }

    public static double[] Softmax(params double[] x)
    {
        double l = Lse(x);
        return x.Select(v => Math.Exp(v - l)).ToArray();
    }

    public static double[] LogSoftmax(params double[] x)
    {
        double l = Lse(x);
        return x.Select(v => v - l).ToArray();
    }

    /// <summary>y ⊙ (g − Σ g⊙y), y = softmax(x).</summary>
    public static double[] SoftmaxVjp(double[] x, double[] g)
    {
        var y = Softmax(x);
        double dot = y.Zip(g, (a, b) => a * b).Sum();
        return y.Zip(g, (a, b) => a * (b - dot)).ToArray();
    }

    /// <summary>g − softmax(x)·Σ g.</summary>
    public static double[] LogSoftmaxVjp(double[] x, double[] g)
    {
        var y = Softmax(x);
        double s = g.Sum();
        return y.Zip(g, (a, b) => b - a * s).ToArray();
    }

    public static double[] Scale(double k, double[] v) => v.Select(x => k * x).ToArray();

    public static double[] Minus(double[] a, double[] b) => a.Zip(b, (x, y) => x - y).ToArray();

    public static double[] OneHot(int c, int n) => Enumerable.Range(0, n).Select(i => i == c ? 1.0 : 0).ToArray();

    public static double[] Cat(params double[][] parts) => parts.SelectMany(p => p).ToArray();

    public static double[] Fill(int n, double v) => Enumerable.Repeat(v, n).ToArray();
}

/// <summary>The edge-case table: every numerical policy of docs/numerics.md is a row, run through the expression language on
/// the naive graph and the simplified graph, in float32 and float64. Row names are what docs/numerics.md cites.</summary>
public class EdgeCaseTable
{
    private const double Inf = double.PositiveInfinity, NInf = double.NegativeInfinity, NaN = double.NaN;

    private static readonly double[] R012 = [0, 1, 2];
    private static readonly double[] G123 = [1, 2, 3];

    private static string F(string decls, string body) => decls + "\n" + body;

    public static readonly EdgeCase[] Rows = Build();

    private static EdgeCase[] Build()
    {
        const string X23 = "input x: f64[2, 3]";
        var rows = new List<EdgeCase>
        {
            // ---- softmax / log_softmax / logsumexp: non-finite rows
            new("softmax all -inf row is zero", F(X23, "y = softmax(x, axis=1)"))
            {
                Inputs = { ["x"] = [NInf, NInf, NInf, 0, 1, 2] }, Cotangent = [1, 2, 3, 1, 2, 3],
                Value = Closed.Cat([0, 0, 0], Closed.Softmax(R012)),
                Grads = { ["x"] = Closed.Cat([0, 0, 0], Closed.SoftmaxVjp(R012, G123)) },
            },
            new("softmax all -inf row, exp/sum spelling", F(X23, "e = exp(x)\ny = e / sum(e, axis=1, keepdims=true)"))
            {
                On = On.Simplified, NaiveValue = Closed.Cat([NaN, NaN, NaN], Closed.Softmax(R012)),
                Inputs = { ["x"] = [NInf, NInf, NInf, 0, 1, 2] }, Cotangent = [1, 2, 3, 1, 2, 3],
                Value = Closed.Cat([0, 0, 0], Closed.Softmax(R012)),
                Grads = { ["x"] = Closed.Cat([0, 0, 0], Closed.SoftmaxVjp(R012, G123)) },
            },
            new("log_softmax all -inf row is -inf", F(X23, "y = log_softmax(x, axis=1)"))
            {
                Inputs = { ["x"] = [NInf, NInf, NInf, 0, 1, 2] }, Cotangent = [1, 2, 3, 1, 2, 3],
                Value = Closed.Cat([NInf, NInf, NInf], Closed.LogSoftmax(R012)),
                Grads = { ["x"] = Closed.Cat(G123, Closed.LogSoftmaxVjp(R012, G123)) },
            },
            new("log_softmax all -inf row, x - logsumexp spelling", F(X23, "y = x - log(sum(exp(x), axis=1, keepdims=true))"))
            {
                On = On.Simplified, NaiveValue = Closed.Cat([NaN, NaN, NaN], Closed.LogSoftmax(R012)),
                Inputs = { ["x"] = [NInf, NInf, NInf, 0, 1, 2] }, Cotangent = [1, 2, 3, 1, 2, 3],
                Value = Closed.Cat([NInf, NInf, NInf], Closed.LogSoftmax(R012)),
                Grads = { ["x"] = Closed.Cat(G123, Closed.LogSoftmaxVjp(R012, G123)) },
            },
            new("softmax +inf entries share the mass", F(X23, "y = softmax(x, axis=1)"))
            {
                Inputs = { ["x"] = [Inf, 0, Inf, 0, 1, 2] }, Cotangent = [1, 2, 3, 1, 2, 3],
                Value = Closed.Cat([0.5, 0, 0.5], Closed.Softmax(R012)),
                Grads = { ["x"] = Closed.Cat([-0.5, 0, 0.5], Closed.SoftmaxVjp(R012, G123)) },
            },
            new("log_softmax +inf entries", F(X23, "y = log_softmax(x, axis=1)"))
            {
                Inputs = { ["x"] = [Inf, 0, Inf, 0, 1, 2] }, Cotangent = [1, 2, 3, 1, 2, 3],
                Value = Closed.Cat([-Math.Log(2), NInf, -Math.Log(2)], Closed.LogSoftmax(R012)),
                Grads = { ["x"] = Closed.Cat([-2, 2, 0], Closed.LogSoftmaxVjp(R012, G123)) },
            },
            new("logsumexp +inf entries", F(X23, "y = logsumexp(x, axis=1)"))
            {
                Inputs = { ["x"] = [Inf, 0, Inf, 0, 1, 2] }, Cotangent = [4, 1],
                Value = [Inf, Closed.Lse(R012)],
                Grads = { ["x"] = Closed.Cat([2, 0, 2], Closed.Softmax(R012)) },
            },
            new("logsumexp +inf beside -inf", F("input x: f64[2]", "y = logsumexp(x)"))
            {
                Inputs = { ["x"] = [Inf, NInf] }, Value = [Inf], Grads = { ["x"] = [1, 0] },
            },
            new("logsumexp all -inf row is -inf with zero gradient", F(X23, "y = logsumexp(x, axis=1)"))
            {
                Inputs = { ["x"] = [NInf, NInf, NInf, 0, 1, 2] }, Cotangent = [3, 1],
                Value = [NInf, Closed.Lse(R012)],
                Grads = { ["x"] = Closed.Cat([0, 0, 0], Closed.Softmax(R012)) },
            },
            new("logsumexp all -inf row, log/sum/exp spelling", F(X23, "y = log(sum(exp(x), axis=1))"))
            {
                On = On.Simplified, NaiveValue = [NInf, Closed.Lse(R012)],
                Inputs = { ["x"] = [NInf, NInf, NInf, 0, 1, 2] }, Cotangent = [3, 1],
                Value = [NInf, Closed.Lse(R012)],
                Grads = { ["x"] = Closed.Cat([0, 0, 0], Closed.Softmax(R012)) },
            },
            new("logsumexp all -inf over every axis", F("input x: f64[2, 2]", "y = logsumexp(x)"))
            {
                Inputs = { ["x"] = [NInf, NInf, NInf, NInf] }, Value = [NInf], Grads = { ["x"] = [0, 0, 0, 0] },
            },
            new("logsumexp empty axis is -inf", F("input x: f64[2, 0]", "y = logsumexp(x, axis=1)"))
            {
                Inputs = { ["x"] = [] }, Value = [NInf, NInf], Grads = { ["x"] = [] },
            },
            new("logsumexp of a 0-d tensor is the tensor", F("input x: f64[]", "y = logsumexp(x)"))
            {
                Inputs = { ["x"] = [1.5] }, Value = [1.5], Grads = { ["x"] = [1] },
            },
            new("logsumexp -inf shift by a literal", F("input x: f64[3]", "y = logsumexp(x - inf, axis=0)"))
            {
                Inputs = { ["x"] = [1, 2, 3] }, Value = [NInf], Grads = { ["x"] = [0, 0, 0] },
            },

            // ---- NaN stays in its own row
            new("softmax NaN stays in its row", F(X23, "y = softmax(x, axis=1)"))
            {
                Inputs = { ["x"] = [NaN, 0, 1, 0, 1, 2] }, Cotangent = [1, 2, 3, 1, 2, 3],
                Value = Closed.Cat([NaN, NaN, NaN], Closed.Softmax(R012)),
                Grads = { ["x"] = Closed.Cat([NaN, NaN, NaN], Closed.SoftmaxVjp(R012, G123)) },
            },
            new("log_softmax NaN stays in its row", F(X23, "y = log_softmax(x, axis=1)"))
            {
                Inputs = { ["x"] = [NaN, 0, 1, 0, 1, 2] }, Cotangent = [1, 2, 3, 1, 2, 3],
                Value = Closed.Cat([NaN, NaN, NaN], Closed.LogSoftmax(R012)),
                Grads = { ["x"] = Closed.Cat([NaN, NaN, NaN], Closed.LogSoftmaxVjp(R012, G123)) },
            },
            new("logsumexp NaN stays in its row", F(X23, "y = logsumexp(x, axis=1)"))
            {
                Inputs = { ["x"] = [NaN, 0, 1, 0, 1, 2] }, Cotangent = [1, 2],
                Value = [NaN, Closed.Lse(R012)],
                Grads = { ["x"] = Closed.Cat([NaN, NaN, NaN], Closed.Scale(2, Closed.Softmax(R012))) },
            },
            new("softmax axis=0 NaN stays in its column", F("input x: f64[3, 2]", "y = softmax(x, axis=0)"))
            {
                Inputs = { ["x"] = [NaN, 0, 0, 1, 1, 2] },
                Value = [NaN, Closed.Softmax(R012)[0], NaN, Closed.Softmax(R012)[1], NaN, Closed.Softmax(R012)[2]],
            },
            new("sparse cross-entropy NaN stays in its row", F(X23 + "\ninput t: i64[2]", "y = sparse_softmax_cross_entropy(x, t, axis=1)"))
            {
                Inputs = { ["x"] = [NaN, 0, 1, 0, 1, 2], ["t"] = [1, 2] },
                Value = [NaN, Closed.Lse(R012) - 2],
                Grads = { ["x"] = Closed.Cat([NaN, NaN, NaN], Closed.Minus(Closed.Softmax(R012), Closed.OneHot(2, 3))) },
            },
            new("softmax_cross_entropy NaN stays in its row", F(X23 + "\ninput p: f64[2, 3]", "y = softmax_cross_entropy(x, p, axis=1, normalized=true)"))
            {
                Inputs = { ["x"] = [NaN, 0, 1, 0, 1, 2], ["p"] = [0.2, 0.3, 0.5, 0.2, 0.3, 0.5] },
                Value = [NaN, 0.2 * Closed.Lse(R012) + 0.3 * (Closed.Lse(R012) - 1) + 0.5 * (Closed.Lse(R012) - 2)],
                Grads = { ["x"] = Closed.Cat([NaN, NaN, NaN], Closed.Minus(Closed.Softmax(R012), [0.2, 0.3, 0.5])) },
            },

            new("max of a row with NaN is NaN, gradient on the NaN entry", F(X23, "y = max(x, axis=1)"))
            {
                Inputs = { ["x"] = [NaN, 1, 2, 0, 1, 2] }, Value = [NaN, 2], Grads = { ["x"] = [1, 0, 0, 0, 0, 1] },
            },
            new("min of a row with NaN is NaN, gradient on the NaN entry", F(X23, "y = min(x, axis=1)"))
            {
                Inputs = { ["x"] = [NaN, 1, 2, 0, 1, 2] }, Value = [NaN, 0], Grads = { ["x"] = [1, 0, 0, 1, 0, 0] },
            },
            new("maximum with a NaN operand routes the gradient to it", F("input a: f64[3]\ninput b: f64[3]", "y = maximum(a, b) + minimum(a, b)"))
            {
                Inputs = { ["a"] = [NaN, 1, NaN], ["b"] = [1, NaN, NaN] }, Value = [NaN, NaN, NaN],
                Grads = { ["a"] = [2, 0, 1], ["b"] = [0, 2, 1] },
            },
            new("maximum and minimum give exactly 0 to the operand not selected, even under a NaN or inf cotangent",
                F("input a: f64[4]\ninput b: f64[4]", "y = sqrt(maximum(a, b)) + 1 / minimum(a, b)"))
            {
                // maximum picks a = −1 (sqrt(−1) = NaN, so its cotangent is NaN) and minimum picks b = −2; at the last
                // entry minimum picks a = 0, whose cotangent −1/0² is −inf. b of the first entries and a of the last get 0.
                Inputs = { ["a"] = [-1, -1, 4, 0], ["b"] = [-2, -2, 9, 1] }, Value = [NaN, NaN, 3 + 0.25, Inf],
                Grads = { ["a"] = [NaN, NaN, -1.0 / 16, double.NegativeInfinity], ["b"] = [-0.25, -0.25, 1.0 / 6, 0.5] },
            },
            new("max gives exactly 0 to the entries not selected, even under a NaN cotangent", F("input x: f64[3]", "y = sqrt(max(x))"))
            {
                Inputs = { ["x"] = [-1, -2, -3] }, Value = [NaN],
                Grads = { ["x"] = [NaN, 0, 0] },
            },

            // ---- -inf logits next to finite ones: zero gradient there
            new("softmax -inf entry gets zero gradient", F("input x: f64[1, 3]", "y = softmax(x, axis=1)"))
            {
                Inputs = { ["x"] = [NInf, 0, 1] }, Cotangent = G123,
                Value = Closed.Cat([0], Closed.Softmax(0, 1)),
                Grads = { ["x"] = Closed.Cat([0], Closed.SoftmaxVjp([0, 1], [2, 3])) },
            },
            new("log_softmax -inf entry gets gradient g", F("input x: f64[1, 3]", "y = log_softmax(x, axis=1)"))
            {
                Inputs = { ["x"] = [NInf, 0, 1] }, Cotangent = G123,
                Value = Closed.Cat([NInf], Closed.LogSoftmax(0, 1)),
                Grads = { ["x"] = Closed.Cat([1], Closed.Minus([2, 3], Closed.Scale(6, Closed.Softmax(0, 1)))) },
            },
            new("logsumexp -inf entry gets zero gradient", F("input x: f64[2]", "y = logsumexp(x)"))
            {
                Inputs = { ["x"] = [NInf, 0] }, Value = [0], Grads = { ["x"] = [0, 1] },
            },
            new("logaddexp -inf argument gets zero gradient", F("input a: f64[2]\ninput b: f64[2]", "y = logaddexp(a, b)"))
            {
                Inputs = { ["a"] = [NInf, NInf], ["b"] = [1, NInf] },
                Value = [1, NInf], Grads = { ["a"] = [0, 0], ["b"] = [1, 0] },
            },
            new("max -inf entries get zero gradient", F("input x: f64[3]", "y = max(x)"))
            {
                Inputs = { ["x"] = [NInf, 1, NInf] }, Value = [1], Grads = { ["x"] = [0, 1, 0] },
            },
            new("sparse cross-entropy -inf logits get zero gradient", F("input z: f64[1, 4]\ninput t: i64[1]", "y = sparse_softmax_cross_entropy(z, t, axis=1)"))
            {
                Inputs = { ["z"] = [NInf, 0, 1, 2], ["t"] = [2] },
                Value = [Closed.Lse(R012) - 1],
                Grads = { ["z"] = Closed.Cat([0], Closed.Minus(Closed.Softmax(R012), Closed.OneHot(1, 3))) },
            },
            new("softmax_cross_entropy zero target on -inf logit (0 log 0 = 0)", F("input z: f64[1, 4]\ninput p: f64[1, 4]", "y = softmax_cross_entropy(z, p, axis=1, normalized=true)"))
            {
                Inputs = { ["z"] = [NInf, 0, 1, 2], ["p"] = [0, 0.2, 0.3, 0.5] },
                Value = [0.2 * Closed.Lse(R012) + 0.3 * (Closed.Lse(R012) - 1) + 0.5 * (Closed.Lse(R012) - 2)],
                Grads = { ["z"] = Closed.Cat([0], Closed.Minus(Closed.Softmax(R012), [0.2, 0.3, 0.5])) },
            },
            new("softmax_cross_entropy 0 log 0, -sum(p * log(q)) spelling", F("input z: f64[1, 4]\ninput p: f64[1, 4] probs(axis=1)",
                "e = exp(z)\nq = e / sum(e, axis=1, keepdims=true)\ny = -sum(p * log(q), axis=1)"))
            {
                On = On.Simplified, NaiveValue = [NaN],
                Inputs = { ["z"] = [NInf, 0, 1, 2], ["p"] = [0, 0.2, 0.3, 0.5] },
                Value = [0.2 * Closed.Lse(R012) + 0.3 * (Closed.Lse(R012) - 1) + 0.5 * (Closed.Lse(R012) - 2)],
                Grads = { ["z"] = Closed.Cat([0], Closed.Minus(Closed.Softmax(R012), [0.2, 0.3, 0.5])) },
            },
            new("masked softmax via where(mask, x, -inf)", F(X23 + "\ninput m: f64[2, 3]", "y = softmax(where(m, x, -inf), axis=1)"))
            {
                Inputs = { ["x"] = [5, 6, 7, 0, 9, 2], ["m"] = [0, 0, 0, 1, 0, 1] }, Cotangent = [1, 2, 3, 1, 2, 3],
                Value = Closed.Cat([0, 0, 0], [Closed.Softmax(0, 2)[0], 0, Closed.Softmax(0, 2)[1]]),
                Grads = { ["x"] = Closed.Cat([0, 0, 0], [Closed.SoftmaxVjp([0, 2], [1, 3])[0], 0, Closed.SoftmaxVjp([0, 2], [1, 3])[1]]) },
            },

            // ---- cross-entropy: ignore_index, smoothing, weights, bad labels, empty batch
            new("sparse cross-entropy ignored rows", F("input z: f64[3, 3]\ninput t: i64[3]", "y = sparse_softmax_cross_entropy(z, t, axis=1, ignore_index=-100)"))
            {
                Inputs = { ["z"] = [NaN, Inf, NInf, 0, 1, 2, 3, 3, 3], ["t"] = [-100, 2, -100] },
                Value = [0, Closed.Lse(R012) - 2, 0],
                Grads = { ["z"] = Closed.Cat([0, 0, 0], Closed.Minus(Closed.Softmax(R012), Closed.OneHot(2, 3)), [0, 0, 0]) },
            },
            new("sparse cross-entropy ignored rows, one_hot(ignore_index) spelling", F("input z: f64[3, 3]\ninput t: i64[3]",
                "y = -sum(one_hot(t, 3, dtype=f64, ignore_index=-100) * log_softmax(z, axis=1), axis=1)"))
            {
                Inputs = { ["z"] = [5, 1, -2, 0, 1, 2, 3, 3, 3], ["t"] = [-100, 2, -100] },
                Value = [0, Closed.Lse(R012) - 2, 0],
                Grads = { ["z"] = Closed.Cat([0, 0, 0], Closed.Minus(Closed.Softmax(R012), Closed.OneHot(2, 3)), [0, 0, 0]) },
            },
            new("sparse cross-entropy all rows ignored", F("input z: f64[2, 3]\ninput t: i64[2]", "y = mean(sparse_softmax_cross_entropy(z, t, axis=1, ignore_index=-100))"))
            {
                Inputs = { ["z"] = [0, 1, 2, 3, 4, 5], ["t"] = [-100, -100] },
                Value = [0], Grads = { ["z"] = Closed.Fill(6, 0) },
            },
            new("sparse cross-entropy label smoothing with ignored rows", F("input z: f64[2, 3]\ninput t: i64[2]",
                "y = sparse_softmax_cross_entropy(z, t, axis=1, ignore_index=-100, label_smoothing=0.1)"))
            {
                Inputs = { ["z"] = [1, 2, 3, 0, 1, 2], ["t"] = [-100, 1] },
                Value = [0, 0.9 * (Closed.Lse(R012) - 1) + 0.1 * (Closed.Lse(R012) - 1)],
                Grads = { ["z"] = Closed.Cat([0, 0, 0], Closed.Minus(Closed.Softmax(R012), [0.1 / 3, 0.9 + 0.1 / 3, 0.1 / 3])) },
            },
            new("sparse cross-entropy label smoothing with -inf logits", F("input z: f64[1, 3]\ninput t: i64[1]",
                "y = sparse_softmax_cross_entropy(z, t, axis=1, label_smoothing=0.1)"))
            {
                Inputs = { ["z"] = [NInf, 1, 2], ["t"] = [1] },
                Value = [Inf],
                Grads = { ["z"] = Closed.Minus(Closed.Cat([0], Closed.Softmax(1, 2)), [0.1 / 3, 0.9 + 0.1 / 3, 0.1 / 3]) },
            },
            new("sparse cross-entropy class weights", F("input z: f64[2, 3]\ninput t: i64[2]\ninput w: f64[3]",
                "y = sparse_softmax_cross_entropy(z, t, weights=w, axis=1)"))
            {
                Inputs = { ["z"] = [0, 1, 2, 2, 1, 0], ["t"] = [0, 2], ["w"] = [1, 2, 0.5] },
                Value = [Closed.Lse(R012), 0.5 * Closed.Lse(R012)],
                Grads =
                {
                    ["z"] = Closed.Cat(Closed.Minus(Closed.Softmax(R012), Closed.OneHot(0, 3)), Closed.Scale(0.5, Closed.Minus(Closed.Softmax(2, 1, 0), Closed.OneHot(2, 3)))),
                    ["w"] = [0, 0, 0],
                },
            },
            new("softmax_cross_entropy class weights", F("input z: f64[1, 3]\ninput p: f64[1, 3]\ninput w: f64[3]",
                "y = softmax_cross_entropy(z, p, weights=w, axis=1)"))
            {
                Inputs = { ["z"] = [0, 1, 2], ["p"] = [0.2, 0.3, 0.5], ["w"] = [1, 2, 0.5] },
                Value = [0.2 * Closed.Lse(R012) + 0.6 * (Closed.Lse(R012) - 1) + 0.25 * (Closed.Lse(R012) - 2)],
                Grads = { ["z"] = Closed.Minus(Closed.Scale(1.05, Closed.Softmax(R012)), [0.2, 0.6, 0.25]), ["w"] = [0, 0, 0] },
            },
            new("sparse cross-entropy out-of-range label is an error", F("input z: f64[2, 3]\ninput t: i64[2]", "y = sparse_softmax_cross_entropy(z, t, axis=1)"))
            {
                Inputs = { ["z"] = [0, 1, 2, 3, 4, 5], ["t"] = [0, 3] }, Error = "index 3 at position [1] is out of range [0, 3)",
            },
            new("take(log_softmax) out-of-range label is an error", F("input z: f64[2, 3]\ninput t: i64[2]", "y = -take(log_softmax(z, axis=1), t, axis=1)"))
            {
                Inputs = { ["z"] = [0, 1, 2, 3, 4, 5], ["t"] = [0, 3] }, Error = "index 3 at position [1] is out of range [0, 3)",
            },
            new("sparse cross-entropy negative label other than ignore_index is an error", F("input z: f64[2, 3]\ninput t: i64[2]",
                "y = sparse_softmax_cross_entropy(z, t, axis=1, ignore_index=-100)"))
            {
                Inputs = { ["z"] = [0, 1, 2, 3, 4, 5], ["t"] = [-1, 0] }, Error = "index -1 at position [0] is out of range [0, 3)",
            },
            new("one_hot out-of-range label is an error", F("input z: f64[2, 3]\ninput t: i64[2]", "y = sum(one_hot(t, 3, dtype=f64) * z)"))
            {
                Inputs = { ["z"] = [0, 1, 2, 3, 4, 5], ["t"] = [5, 0] }, Error = "one_hot: index 5 at position [0] is out of range [0, 3)",
            },
            new("sparse cross-entropy empty batch sums to 0", F("input z: f64[0, 3]\ninput t: i64[0]", "y = sum(sparse_softmax_cross_entropy(z, t, axis=1))"))
            {
                Inputs = { ["z"] = [], ["t"] = [] }, Value = [0], Grads = { ["z"] = [] },
            },
            new("sparse cross-entropy empty batch mean is NaN", F("input z: f64[0, 3]\ninput t: i64[0]", "y = mean(sparse_softmax_cross_entropy(z, t, axis=1))"))
            {
                Inputs = { ["z"] = [], ["t"] = [] }, Value = [NaN], Grads = { ["z"] = [] },
            },
            new("softmax_cross_entropy empty batch sums to 0", F("input z: f64[0, 3]\ninput p: f64[0, 3]", "y = sum(softmax_cross_entropy(z, p, axis=1))"))
            {
                Inputs = { ["z"] = [], ["p"] = [] }, Value = [0], Grads = { ["z"] = [], ["p"] = [] },
            },

            // ---- reductions over empty axes
            new("sum over an empty axis is 0", F("input e: f64[2, 0]\ninput a: f64[2]", "y = a + sum(e, axis=1)"))
            {
                Inputs = { ["e"] = [], ["a"] = [1, 2] }, Value = [1, 2], Grads = { ["a"] = [1, 1], ["e"] = [] },
            },
            new("mean over an empty axis is NaN", F("input e: f64[2, 0]\ninput a: f64[2]", "y = a + mean(e, axis=1)"))
            {
                Inputs = { ["e"] = [], ["a"] = [1, 2] }, Value = [NaN, NaN], Grads = { ["a"] = [1, 1], ["e"] = [] },
            },
            new("max over an empty axis is -inf", F("input e: f64[2, 0]\ninput a: f64[2]", "y = a + max(e, axis=1)"))
            {
                Inputs = { ["e"] = [], ["a"] = [1, 2] }, Value = [NInf, NInf], Grads = { ["a"] = [1, 1], ["e"] = [] },
            },
            new("min over an empty axis is +inf", F("input e: f64[2, 0]\ninput a: f64[2]", "y = a + min(e, axis=1)"))
            {
                Inputs = { ["e"] = [], ["a"] = [1, 2] }, Value = [Inf, Inf], Grads = { ["a"] = [1, 1], ["e"] = [] },
            },
            new("reductions of an empty vector", F("input e: f64[0]", "y = sum(e) + 2 * mean(e) + max(e) + min(e)"))
            {
                Inputs = { ["e"] = [] }, Value = [NaN], Grads = { ["e"] = [] },
            },
            new("sum over the non-empty axis of an empty matrix", F("input e: f64[0, 3]", "y = sum(e, axis=0)"))
            {
                Inputs = { ["e"] = [] }, Value = [0, 0, 0], Grads = { ["e"] = [] },
            },
            new("max of an empty vector", F("input e: f64[0]", "y = max(e)"))
            {
                Inputs = { ["e"] = [] }, Value = [NInf], Grads = { ["e"] = [] },
            },
            new("min of an empty vector", F("input e: f64[0]", "y = min(e)"))
            {
                Inputs = { ["e"] = [] }, Value = [Inf], Grads = { ["e"] = [] },
            },
            new("matmul with an empty inner dimension is zeros", F("input a: f64[2, 0]\ninput b: f64[0, 3]", "y = a @ b"))
            {
                Inputs = { ["a"] = [], ["b"] = [] }, Value = Closed.Fill(6, 0), Grads = { ["a"] = [], ["b"] = [] },
            },

            new("sum over non-adjacent axes of an empty tensor", F("input x: f64[3, 4, 0]", "y = sum(x, axis=(0, 2))"))
            {
                Inputs = { ["x"] = [] }, Value = [0, 0, 0, 0], Grads = { ["x"] = [] },
            },
            new("max over non-adjacent axes of an empty tensor", F("input x: f64[3, 4, 0]", "y = max(x, axis=(0, 2))"))
            {
                Inputs = { ["x"] = [] }, Value = [NInf, NInf, NInf, NInf], Grads = { ["x"] = [] },
            },
            new("sigmoid of an empty tensor", F("input x: f64[0, 3]", "y = sum(sigmoid(x)) + sum(1 / (1 + exp(-x)))"))
            {
                Inputs = { ["x"] = [] }, Value = [0], Grads = { ["x"] = [] },
            },

            // ---- products and norms
            new("prod over an empty axis is 1", F("input x: f64[2, 0]", "y = prod(x, axis=1)"))
            {
                Inputs = { ["x"] = [] }, Value = [1, 1], Grads = { ["x"] = [] },
            },
            new("prod with negative values is sign-correct", F("input x: f64[3]", "y = prod(x)"))
            {
                Inputs = { ["x"] = [-2, 3, -0.5] }, Value = [3], Grads = { ["x"] = [-1.5, 1, -6] },
            },
            new("prod with one zero", F("input x: f64[3]", "y = prod(x)"))
            {
                Inputs = { ["x"] = [0, 2, -3] }, Value = [0], Grads = { ["x"] = [-6, 0, 0] },
            },
            new("prod with two zeros", F("input x: f64[3]", "y = prod(x)"))
            {
                Inputs = { ["x"] = [0, 2, 0] }, Value = [0], Grads = { ["x"] = [0, 0, 0] },
            },
            new("prod of a 0-d tensor", F("input x: f64[]", "y = prod(x)"))
            {
                Inputs = { ["x"] = [-3] }, Value = [-3], Grads = { ["x"] = [1] },
            },
            new("pnorm at the zero vector has gradient 0", F("input x: f64[3]", "y = pnorm(x, 2) + pnorm(x, 1) + pnorm(x, 3) + pnorm(x, inf)"))
            {
                Inputs = { ["x"] = [0, 0, 0] }, Value = [0], Grads = { ["x"] = [0, 0, 0] },
            },
            new("sqrt(sum(square(x))) at the zero vector becomes pnorm", F("input x: f64[3]", "y = sqrt(sum(square(x)))"))
            {
                On = On.Simplified, NaiveValue = [0],
                Inputs = { ["x"] = [0, 0, 0] }, Value = [0], Grads = { ["x"] = [0, 0, 0] },
            },
            new("pnorm does not overflow at 1e20 in float32", F("input x: f64[2]", "y = pnorm(x, 2)"))
            {
                Inputs = { ["x"] = [3e20, -4e20] }, Value = [5e20], Grads = { ["x"] = [0.6, -0.8] },
            },
            new("pnorm does not underflow at 1e-20 in float32", F("input x: f64[2]", "y = pnorm(x, 2) + pnorm(x, 3)"))
            {
                Inputs = { ["x"] = [3e-20, -4e-20] }, Value = [5e-20 + Math.Cbrt(91) * 1e-20],
                Grads = { ["x"] = [0.6 + 9 / Math.Pow(91, 2.0 / 3), -0.8 - 16 / Math.Pow(91, 2.0 / 3)] },
            },
            new("sqrt(sum(square(x))) at 1e20 becomes pnorm", F("input x: f64[2]", "y = sqrt(sum(square(x)))"))
            {
                On = On.Simplified,   // the naive value overflows to +inf in f32 (and is exact in f64)
                Inputs = { ["x"] = [3e20, -4e20] }, Value = [5e20], Grads = { ["x"] = [0.6, -0.8] },
            },
            new("pnorm of an empty row is 0", F("input x: f64[2, 0]", "y = pnorm(x, 2, axis=1)"))
            {
                Inputs = { ["x"] = [] }, Value = [0, 0], Grads = { ["x"] = [] },
            },
            new("pnorm of a 0-d tensor is its magnitude", F("input x: f64[]", "y = pnorm(x) + pnorm(x, 1)"))
            {
                Inputs = { ["x"] = [-2] }, Value = [4], Grads = { ["x"] = [-2] },
            },
            new("exp(sum(log(x))) becomes prod for positive x", F("input x: f64[1, 3] positive", "y = exp(sum(log(x), axis=1))"))
            {
                Inputs = { ["x"] = [0.5, 4, 3] }, Value = [6], Grads = { ["x"] = [12, 1.5, 2] },
            },

            // ---- 0-d tensors and size-1 broadcasting in the backward
            new("0-d operand broadcast in mul", F("input s: f64[]\ninput m: f64[2, 2]", "y = s * m"))
            {
                Inputs = { ["s"] = [2], ["m"] = [1, 2, 3, 4] }, Value = [2, 4, 6, 8], Grads = { ["s"] = [10], ["m"] = [2, 2, 2, 2] },
            },
            new("size-1 broadcast in sub", F("input a: f64[1, 3]\ninput b: f64[2, 1]", "y = a - b"))
            {
                Inputs = { ["a"] = [1, 2, 3], ["b"] = [10, 20] }, Value = [-9, -8, -7, -19, -18, -17], Grads = { ["a"] = [2, 2, 2], ["b"] = [-3, -3] },
            },
            new("0-d through unary ops and reductions", F("input x: f64[]", "y = mean(exp(x) * x) + max(x) - min(x, keepdims=true)"))
            {
                Inputs = { ["x"] = [0.5] }, Value = [Math.Exp(0.5) * 0.5], Grads = { ["x"] = [1.5 * Math.Exp(0.5)] },
            },
            new("softmax of a 0-d tensor is an error naming the axis", F("input x: f64[]", "y = softmax(x)"))
            {
                Inputs = { ["x"] = [1] }, Error = "softmax: axis -1 is out of range for shape [] (rank 0)",
            },

            // ---- element types: no silent f32/f64 mixing
            new("f32 + f64 is an error naming the op", F("input a: f32[2]\ninput b: f64[2]", "y = a + b"))
            {
                F64Only = true, Error = "add: operands have different element types: f32[2] and f64[2]",
            },
            new("f32 @ f64 is an error naming the op", F("input a: f32[2, 2]\ninput b: f64[2, 2]", "y = a @ b"))
            {
                F64Only = true, Error = "matmul: operands have different element types",
            },
            new("logaddexp of f32 and f64 is an error", F("input a: f32[2]\ninput b: f64[2]", "y = logaddexp(a, b)"))
            {
                F64Only = true, Error = "logaddexp: operands have different element types",
            },
            new("where of f32 and f64 is an error", F("input m: f32[2]\ninput a: f32[2]\ninput b: f64[2]", "y = where(m, a, b)"))
            {
                F64Only = true, Error = "where: a and b have different element types",
            },
            new("softmax_cross_entropy of f32 logits and f64 targets is an error", F("input z: f32[2, 3]\ninput p: f64[2, 3]", "y = softmax_cross_entropy(z, p)"))
            {
                F64Only = true, Error = "softmax_cross_entropy: targets f64[2, 3] must have the logits' element type f32",
            },
            new("f64 class weights with f32 logits is an error", F("input z: f32[2, 3]\ninput t: i64[2]\ninput w: f64[3]", "y = sparse_softmax_cross_entropy(z, t, weights=w)"))
            {
                F64Only = true, Error = "sparse_softmax_cross_entropy: weights must have the logits' element type f32",
            },
            new("an explicit f64 constant joining f32 is an error", F("input a: f32[2]", "y = a + constant(1, dtype=f64)"))
            {
                F64Only = true, Error = "add: operands have different element types",
            },

            // ---- the language speaks non-finite numbers
            new("inf literals in minimum and maximum", F("input x: f64[3]", "y = minimum(x, inf) + maximum(x, -inf)"))
            {
                Inputs = { ["x"] = [-1, 0, 2] }, Value = [-2, 0, 4], Grads = { ["x"] = [2, 2, 2] },
            },
            new("nan literal propagates", F("input x: f64[2]", "y = x * nan"))
            {
                Inputs = { ["x"] = [1, 2] }, Value = [NaN, NaN], Grads = { ["x"] = [NaN, NaN] },
            },
            new("-inf literal in exp", F("input x: f64[2]", "y = exp(x + -inf) + 1"))
            {
                Inputs = { ["x"] = [1, NInf] }, Value = [1, 1], Grads = { ["x"] = [0, 0] },
            },

            // ---- inverse folds and stabilisations follow the rewrite contract
            new("division by a huge denominator keeps its gradient", F("input a: f64[1]\ninput b: f64[1]", "y = a / b"))
            {
                Inputs = { ["a"] = [1e30], ["b"] = [1e30] }, Value = [1], Grads = { ["a"] = [1e-30], ["b"] = [-1e-30] },
            },
            new("log(1 / (1 + exp(-x))) keeps its gradient at -600", F("input x: f64[1]", "y = log(1 / (1 + exp(-x)))"))
            {
                F64Only = true, Inputs = { ["x"] = [-600] }, Value = [-600], Grads = { ["x"] = [1] },
            },


            new("log(exp(x)) folds to x", F("input x: f64[3]", "y = log(exp(x))"))
            {
                On = On.Simplified, NaiveValue = [Inf, NInf, 1],
                Inputs = { ["x"] = [1000, -1000, 1] }, Value = [1000, -1000, 1], Grads = { ["x"] = [1, 1, 1] },
            },
            new("log(1 + exp(x)) becomes softplus at 1e3", F("input x: f64[2]", "y = log(1 + exp(x))"))
            {
                On = On.Simplified, NaiveValue = [Inf, 0],
                Inputs = { ["x"] = [1000, -1000] }, Value = [1000, 0], Grads = { ["x"] = [1, 0] },
            },
            new("1 / (1 + exp(-x)) becomes sigmoid at 1e3", F("input x: f64[2]", "y = 1 / (1 + exp(-x))"))
            {
                On = On.Simplified, NaiveValue = [1, 0],
                Inputs = { ["x"] = [1000, -1000] }, Value = [1, 0], Grads = { ["x"] = [0, 0] },
            },
            new("log(exp(a) + exp(b)) becomes logaddexp at 1e3", F("input a: f64[1]\ninput b: f64[1]", "y = log(exp(a) + exp(b))"))
            {
                On = On.Simplified, NaiveValue = [Inf],
                Inputs = { ["a"] = [1000], ["b"] = [999] }, Value = [1000 + Math.Log(1 + Math.Exp(-1))],
                Grads = { ["a"] = [1 / (1 + Math.Exp(-1))], ["b"] = [Math.Exp(-1) / (1 + Math.Exp(-1))] },
            },
            new("sparse cross-entropy at logits 1e6", F("input z: f64[1, 3]\ninput t: i64[1]", "y = -take(log_softmax(z, axis=1), t, axis=1)"))
            {
                Inputs = { ["z"] = [1e6, 1e6 + 1, -1e6], ["t"] = [0] }, Value = [Math.Log(1 + Math.E)],
                Grads = { ["z"] = [1 / (1 + Math.E) - 1, Math.E / (1 + Math.E), 0] },
            },
        };
        return rows.ToArray();
    }

    public static TheoryData<string, DType, bool> Data()
    {
        var d = new TheoryData<string, DType, bool>();
        foreach (var r in Rows)
            foreach (var dt in r.F64Only ? new[] { DType.F64 } : [DType.F32, DType.F64])
                foreach (var simplified in r.Error is not null && r.F64Only ? new[] { false } : [false, true])
                    d.Add(r.Name, dt, simplified);
        return d;
    }

    [Theory]
    [MemberData(nameof(Data))]
    public void Policy(string row, DType dt, bool simplified) => EdgeRunner.Check(Rows.Single(r => r.Name == row), dt, simplified);

    [Fact]
    public void RowNamesAreDistinct() => Assert.Equal(Rows.Length, Rows.Select(r => r.Name).Distinct().Count());

    /// <summary>docs/numerics.md cites the table's rows by name; every cited name must be a row, and every row must be cited.</summary>
    [Fact]
    public void EveryRowIsDocumentedAndEveryCitedRowExists()
    {
        var doc = File.ReadAllText(DocPath());
        // A citation is `EdgeCaseTable.Policy` followed by quoted row names, up to the next code span or table cell.
        var cited = System.Text.RegularExpressions.Regex.Matches(doc, "`EdgeCaseTable\\.Policy`([^|`]*)")
            .SelectMany(m => System.Text.RegularExpressions.Regex.Matches(m.Groups[1].Value, "\"([^\"]+)\"")).Select(m => m.Groups[1].Value).ToHashSet();
        var names = Rows.Select(r => r.Name).ToHashSet();
        Assert.Empty(cited.Except(names));
        Assert.Empty(names.Except(cited));
    }

    internal static string DocPath()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "docs", "numerics.md"))) dir = dir.Parent;
        return Path.Combine(dir?.FullName ?? throw new FileNotFoundException("docs/numerics.md not found above the test directory"), "docs", "numerics.md");
    }
}
