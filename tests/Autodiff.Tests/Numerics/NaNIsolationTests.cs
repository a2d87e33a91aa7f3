using Autodiff.Text;

namespace Autodiff.Tests.Numerics;

/// <summary>A NaN stays in its own row: every row-wise op run on a batch where one row of x holds a NaN gives, in every other
/// row, values and gradients bit-for-bit equal to those of the same batch (the same array) with that row finite. Ops along axis 0 are run on
/// transpose(x), so that their rows are x's rows too; large batches take the parallel and packed (non-last axis) paths.</summary>
public class NaNIsolationTests
{
    /// <summary>Program bodies over x [R, C] whose result has R leading rows, row r depending only on row r of x.</summary>
    public static readonly (string Name, string Body)[] Ops =
    [
        ("softmax", "y = softmax(x, axis=1)"),
        ("log_softmax", "y = log_softmax(x, axis=1)"),
        ("logsumexp", "y = logsumexp(x, axis=1, keepdims=true)"),
        ("softmax axis=0", "y = transpose(softmax(transpose(x), axis=0))"),
        ("log_softmax axis=0", "y = transpose(log_softmax(transpose(x), axis=0))"),
        ("logsumexp axis=0", "y = logsumexp(transpose(x), axis=0)"),
        ("exp/sum softmax", "e = exp(x)\ny = e / sum(e, axis=1, keepdims=true)"),
        ("sparse cross-entropy", "y = sparse_softmax_cross_entropy(x, t, axis=1)"),
        ("sparse cross-entropy ignore/smoothing/weights", "y = sparse_softmax_cross_entropy(x, t, weights=w, axis=1, ignore_index=0, label_smoothing=0.1)"),
        ("sparse cross-entropy axis=0", "y = sparse_softmax_cross_entropy(transpose(x), t, axis=0)"),
        ("softmax_cross_entropy", "y = softmax_cross_entropy(x, p, axis=1, normalized=true)"),
        ("softmax_cross_entropy weights/smoothing", "y = softmax_cross_entropy(x, p, weights=w, axis=1, label_smoothing=0.1)"),
        ("sum", "y = sum(x, axis=1)"),
        ("mean", "y = mean(x, axis=1)"),
        ("max", "y = max(x, axis=1)"),
        ("min", "y = min(x, axis=1)"),
        ("pnorm", "y = pnorm(x, 2, axis=1) + pnorm(x, 3, axis=1)"),
        ("prod", "y = prod(x, axis=1)"),
        ("matmul", "y = x @ m"),
        ("logaddexp", "y = logaddexp(x, w)"),
        ("softplus", "y = softplus(x) + log_sigmoid(x) + sigmoid(x) + tanh(x)"),
    ];

    public static TheoryData<string, DType, int, int> Data()
    {
        var d = new TheoryData<string, DType, int, int>();
        foreach (var (name, _) in Ops)
            foreach (var dt in new[] { DType.F32, DType.F64 })
                d.Add(name, dt, 4, 5);
        foreach (var name in new[] { "softmax", "log_softmax axis=0", "logsumexp", "sparse cross-entropy", "softmax_cross_entropy", "max" })
            d.Add(name, DType.F32, 300, 256);
        return d;
    }

    [Theory]
    [MemberData(nameof(Data))]
    public void NaNStaysInItsRow(string op, DType dt, int rows, int cols)
    {
        var body = Ops.Single(o => o.Name == op).Body;
        var g = Parser.Parse($"input x: f64[{rows}, {cols}]\ninput t: i64[{rows}]\ninput p: f64[{rows}, {cols}]\ninput w: f64[{cols}]\ninput m: f64[{cols}, 3]\n{body}");
        if (dt != DType.F64) g = g.ToDType(dt);
        var rng = new Random(rows);
        var x = Tensor.RandomNormal(dt, new Shape(rows, cols), rng, 2);
        var inputs = new Dictionary<string, Tensor>
        {
            ["x"] = x,
            ["t"] = Tensor.FromDoubles(DType.I64, new Shape(rows), Enumerable.Range(0, rows).Select(r => r == rows / 2 ? 1.0 : rng.Next(cols)).ToArray()),
            ["p"] = Probabilities(dt, rows, cols, rng),
            ["w"] = Tensor.FromDoubles(dt, new Shape(cols), Enumerable.Range(0, cols).Select(_ => 0.5 + rng.NextDouble()).ToArray()),
            ["m"] = Tensor.RandomNormal(dt, new Shape(cols, 3), rng),
        };
        var cot = Tensor.RandomNormal(dt, g.Output.Shape, new Random(9));
        var wrt = new[] { "x" };
        var (clean, cleanGrad) = Run(g, inputs, cot, wrt);

        // The NaN goes into the same array (same address), so that only the NaN differs between the two runs.
        int bad = rows / 2;   // its label is 1, not the ignore index 0
        x.SetDouble(bad * cols + cols / 3, double.NaN);
        var (value, grad) = Run(g, inputs, cot, wrt);

        int perRow = value.Length / rows;
        Assert.Contains(value.Skip(bad * perRow).Take(perRow), double.IsNaN);
        for (int i = 0; i < value.Length; i++)
            if (i / perRow != bad) Assert.True(Same(clean[i], value[i]), $"{op}: value[{i}] (row {i / perRow}) is {value[i]:R}, {clean[i]:R} without the NaN in row {bad}");
        for (int i = 0; i < grad.Length; i++)
            if (i / cols != bad) Assert.True(Same(cleanGrad[i], grad[i]), $"{op}: d/dx[{i}] (row {i / cols}) is {grad[i]:R}, {cleanGrad[i]:R} without the NaN in row {bad}");
    }

    /// <summary>The same values at another address give the same results (the vector kernels' summation order must depend on
    /// the element index only, not on the alignment of the array).</summary>
    [Theory]
    [InlineData("y = logsumexp(x, axis=1, keepdims=true)")]
    [InlineData("y = softmax(x, axis=1)")]
    public void ResultsDoNotDependOnWhereTheInputLives(string body)
    {
        var g = Parser.Parse($"input x: f32[300, 256]\n{body}");
        var x = Tensor.RandomNormal(DType.F32, new Shape(300, 256), new Random(300), 2);
        var first = new Tape(g).Forward(new Dictionary<string, Tensor> { ["x"] = x }).ToDoubleArray();
        for (int k = 0; k < 4; k++)
        {
            var again = new Tape(g).Forward(new Dictionary<string, Tensor> { ["x"] = x.Clone() }).ToDoubleArray();
            for (int i = 0; i < first.Length; i++) Assert.True(Same(first[i], again[i]), $"{body}: element {i} is {again[i]:R} for a copy of the input, {first[i]:R} for the original");
        }
    }

    /// <summary>The same row at every 4-byte offset within a cache line: [16, 257] rows holding one row v of 256 values
    /// and a −inf pad (which adds exactly 0 to every sum), so each row starts 4 bytes further from a 64-byte boundary than
    /// the one before. Every row's value, and every row's gradient (the fused forward+backward and the separate backward),
    /// must be the same bits.</summary>
    [Theory]
    [InlineData("y = sum(logsumexp(x, axis=1))", "f32")]
    [InlineData("y = sum(logsumexp(x, axis=1))", "f64")]
    [InlineData("y = sum(logsumexp(x, axis=1)) + 0.5 * sum(x)", "f32")]   // the gradient is added into: exp is recomputed
    [InlineData("y = mean(sparse_softmax_cross_entropy(x, t, axis=1))", "f32")]
    [InlineData("y = mean(sparse_softmax_cross_entropy(x, t, axis=1, label_smoothing=0.2))", "f64")]
    [InlineData("y = sum(softmax(x, axis=1) * x)", "f32")]
    [InlineData("y = sum(log_softmax(x, axis=1) * x)", "f32")]
    [InlineData("y = sum(softmax_cross_entropy(x, x * 0 + 1 / 257, axis=1))", "f32")]
    public void RowsAtEveryOffsetGiveTheSameBits(string body, string type)
    {
        const int rows = 16, n = 257;
        var g = Parser.Parse($"input x: {type}[{rows}, {n}]\ninput t: i64[{rows}] classes({n})\n{body}");
        var dt = g.Input("x").DType;
        var v = Tensor.RandomNormal(DType.F64, new Shape(n - 1), new Random(7), 3).ToDoubleArray();
        var x = Tensor.FromDoubles(dt, new Shape(rows, n), Enumerable.Range(0, rows).SelectMany(_ => v.Append(double.NegativeInfinity)).ToArray());
        var inputs = new Dictionary<string, Tensor> { ["x"] = x, ["t"] = Tensor.FromArray(Enumerable.Repeat(5L, rows).ToArray(), new Shape(rows)) };
        var fused = new Tape(g, ["x"]).Run(inputs).Gradients["x"].ToDoubleArray();
        var separate = new Tape(g, ["x"]);
        separate.Forward(inputs);
        var apart = separate.Backward()["x"].ToDoubleArray();
        foreach (var (grad, how) in new[] { (fused, "Run"), (apart, "Forward then Backward") })
            for (int r = 1; r < rows; r++)
                for (int c = 0; c < n - 1; c++)
                    Assert.True(Same(grad[c], grad[(r * n) + c]), $"{body} ({how}): d/dx[{r}, {c}] is {grad[(r * n) + c]:R}, row 0 has {grad[c]:R}");
        if (body.Contains("logsumexp"))
        {
            var rowValues = new Tape(Parser.Parse($"input x: {type}[{rows}, {n}]\ny = logsumexp(x, axis=1)")).Forward(inputs).ToDoubleArray();
            Assert.All(rowValues, y => Assert.True(Same(rowValues[0], y), $"logsumexp: {y:R} against {rowValues[0]:R}"));
        }
    }

    private static bool Same(double a, double b) => BitConverter.DoubleToInt64Bits(a) == BitConverter.DoubleToInt64Bits(b);

    private static (double[] Value, double[] Grad) Run(Graph g, Dictionary<string, Tensor> inputs, Tensor cot, string[] wrt)
    {
        var (v, grads) = new Tape(g, wrt).Run(inputs, cot);
        return (v.ToDoubleArray(), grads["x"].ToDoubleArray());
    }

    private static Tensor Probabilities(DType dt, int rows, int cols, Random rng)
    {
        var p = new double[rows * cols];
        for (int r = 0; r < rows; r++)
        {
            double s = 0;
            for (int c = 0; c < cols; c++) s += p[r * cols + c] = rng.NextDouble();
            for (int c = 0; c < cols; c++) p[r * cols + c] /= s;
        }
        return Tensor.FromDoubles(dt, new Shape(rows, cols), p);
    }
}
