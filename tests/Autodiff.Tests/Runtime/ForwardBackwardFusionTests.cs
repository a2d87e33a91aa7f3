using Autodiff.Text;

namespace Autodiff.Tests.Runtime;

/// <summary><see cref="Tape.Run"/> evaluates a loss head (a fused op whose consumers' backward reads no forward values)
/// with its backward in one pass. Oracle: the same tape's <see cref="Tape.Forward"/> then <see cref="Tape.Backward"/>,
/// which must give bit-identical values and gradients, and a second tape that never fuses (double precision central
/// differences are covered by the fused ops' own gradient checks).</summary>
public class ForwardBackwardFusionTests
{
    /// <summary>Program body (after the inputs), the element type, rows, classes, and the ops expected as heads.</summary>
    public static TheoryData<string, string, int, int, string> Programs => new()
    {
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1))", "f32", 64, 1000, "sparse_softmax_cross_entropy" },
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1))", "f64", 64, 1000, "sparse_softmax_cross_entropy" },
        { "sum(logsumexp(z, axis=1))", "f32", 64, 1000, "logsumexp" },
        { "sum(logsumexp(z, axis=1))", "f64", 32, 300, "logsumexp" },
        { "mean(logsumexp(z, axis=0))", "f32", 40, 30, "logsumexp" },
        { "-mean(sparse_softmax_cross_entropy(z, t, axis=1)) * 0.5", "f32", 16, 10, "sparse_softmax_cross_entropy" },
        { "sum(sparse_softmax_cross_entropy(z, t, axis=1)) / 16", "f64", 16, 10, "sparse_softmax_cross_entropy" },
        { "mean(reshape(sparse_softmax_cross_entropy(z, t, axis=1), shape=(4, 4)))", "f32", 16, 10, "sparse_softmax_cross_entropy" },
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1, label_smoothing=0.1))", "f32", 33, 77, "sparse_softmax_cross_entropy" },
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1, ignore_index=3))", "f32", 50, 7, "sparse_softmax_cross_entropy" },
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1, weights=w))", "f64", 20, 9, "sparse_softmax_cross_entropy" },
        // dense targets (differentiable: both operands get a gradient in the fused pass)
        { "mean(softmax_cross_entropy(z, p, axis=1, normalized=true))", "f32", 32, 100, "softmax_cross_entropy" },
        { "mean(softmax_cross_entropy(z, p, axis=1))", "f64", 32, 100, "softmax_cross_entropy" },
        { "sum(softmax_cross_entropy(z, p, w, axis=1, label_smoothing=0.1))", "f64", 16, 30, "softmax_cross_entropy" },
        { "mean(softmax_cross_entropy(z, stop_gradient(p), axis=1, normalized=true))", "f32", 16, 30, "softmax_cross_entropy" },
        // long rows: no stash (12 KB f32), streaming stores (40 KB f32)
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1))", "f32", 6, 3000, "sparse_softmax_cross_entropy" },
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1))", "f32", 5, 10000, "sparse_softmax_cross_entropy" },
        { "sum(logsumexp(z, axis=1))", "f64", 5, 5000, "logsumexp" },
        // z has another consumer: the head adds into a gradient another op also writes
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1)) + 0.01 * sum(z * z)", "f32", 16, 100, "sparse_softmax_cross_entropy" },
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1)) + sum(logsumexp(z, axis=1))", "f64", 16, 100, "sparse_softmax_cross_entropy logsumexp" },
        // the head's operand is computed: its gradient flows on through the rest of the sweep
        { "mean(sparse_softmax_cross_entropy(tanh(z) * 4, t, axis=1))", "f32", 16, 100, "sparse_softmax_cross_entropy" },
        // the consumer reads forward values: no head
        { "mean(sparse_softmax_cross_entropy(z, t, axis=1)) * sum(exp(z))", "f64", 8, 10, "" },
        { "mean(exp(sparse_softmax_cross_entropy(z, t, axis=1)))", "f64", 8, 10, "" },
    };

    [Theory]
    [MemberData(nameof(Programs))]
    public void RunEqualsForwardThenBackwardBitForBit(string body, string type, int rows, int classes, string heads)
    {
        var g = Parse(body, type, rows, classes);
        var fused = new Tape(g);
        var separate = new Tape(g);
        Assert.Equal(heads, string.Join(" ", fused.FusedHeads.Select(n => n.Op.Name)));
        for (int seed = 1; seed <= 3; seed++)   // new inputs each time: stale or un-zeroed buffers would show
        {
            var inputs = Inputs(g, rows, classes, new Random(seed), extremes: seed == 3);
            var (value, grads) = fused.Run(inputs);
            var expected = separate.Forward(inputs).ToDoubleArray();
            var expectedGrads = separate.Backward();
            AssertSame(expected, value.ToDoubleArray(), $"{body}, inputs {seed}: value");
            foreach (var (name, grad) in expectedGrads) AssertSame(grad.ToDoubleArray(), grads[name].ToDoubleArray(), $"{body}, inputs {seed}: gradient of {name}");
        }
    }

    [Fact]
    public void BackwardAfterRunRecomputesFromTheSavedStatistics()
    {
        var g = Parse("sum(logsumexp(z, axis=1))", "f32", 8, 50);
        var tape = new Tape(g);
        var inputs = Inputs(g, 8, 50, new Random(5), extremes: false);
        var first = tape.Run(inputs).Gradients["z"].ToDoubleArray();
        var again = tape.Backward(Tensor.FromArray(new[] { 2f }, new Shape())).ToDictionary(p => p.Key, p => p.Value.ToDoubleArray());
        for (int i = 0; i < first.Length; i++) Assert.Equal(2 * first[i], again["z"][i], 6);
    }

    [Fact]
    public void ANonScalarHeadTakesTheCotangent()
    {
        var g = Parse("sparse_softmax_cross_entropy(z, t, axis=1)", "f64", 6, 5);
        var fused = new Tape(g);
        var separate = new Tape(g);
        Assert.Single(fused.FusedHeads);
        var inputs = Inputs(g, 6, 5, new Random(2), extremes: false);
        var cot = Tensor.FromArray(new[] { 1.0, -2, 0.5, 0, 3, 1 }, new Shape(6));
        var (_, grads) = fused.Run(inputs, cot);
        separate.Forward(inputs);
        AssertSame(separate.Backward(cot)["z"].ToDoubleArray(), grads["z"].ToDoubleArray(), "cotangent");
    }

    private static Graph Parse(string body, string type, int rows, int classes) =>
        Parser.Parse($"""
            input z: {type}[{rows}, {classes}]
            input t: i64[{rows}] classes({classes})
            input w: {type}[{classes}]
            input p: {type}[{rows}, {classes}] probs(axis=1)
            loss = {body}
            """);

    /// <summary>Logits ~ 3·N(0, 1) (with <paramref name="extremes"/>: one row with NaN, one with −inf entries, one with
    /// +inf, one all −inf), labels uniform (some equal to 3, the ignore index of one program), positive weights, target
    /// rows that sum to 1.</summary>
    private static Dictionary<string, Tensor> Inputs(Graph g, int rows, int classes, Random rng, bool extremes)
    {
        var dt = g.Input("z").DType;
        var z = Tensor.RandomNormal(dt, new Shape(rows, classes), rng, 3);
        if (extremes && rows >= 4)
        {
            z.SetDouble(1, double.NaN);
            z.SetDouble(classes + 2, double.NegativeInfinity);
            z.SetDouble((2 * classes) + 1, double.PositiveInfinity);
            for (int c = 0; c < classes; c++) z.SetDouble((3 * classes) + c, double.NegativeInfinity);
        }
        var t = Enumerable.Range(0, rows).Select(_ => (long)rng.Next(classes)).ToArray();
        var w = Tensor.FromDoubles(dt, new Shape(classes), Enumerable.Range(0, classes).Select(_ => 0.5 + rng.NextDouble()).ToArray());
        var p = new double[rows * classes];
        for (int r = 0; r < rows; r++)
        {
            var u = Enumerable.Range(0, classes).Select(_ => rng.NextDouble()).ToArray();
            for (int c = 0; c < classes; c++) p[(r * classes) + c] = u[c] / u.Sum();
        }
        return new() { ["z"] = z, ["t"] = Tensor.FromArray(t, new Shape(rows)), ["w"] = w, ["p"] = Tensor.FromDoubles(dt, new Shape(rows, classes), p) };
    }

    private static void AssertSame(double[] expected, double[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
            Assert.True(BitConverter.DoubleToInt64Bits(expected[i]) == BitConverter.DoubleToInt64Bits(actual[i]), $"{what}: element {i} is {actual[i]:R}, Forward then Backward gave {expected[i]:R}");
    }
}
