using Autodiff.Interop;
using Autodiff.Text;

namespace Autodiff.Tests.Interop;

/// <summary>Every exportable op, alone in a small program, exported and run on ONNX Runtime in f32 and f64, at input
/// scale 1 and 1000, against our evaluation: 1e-5 (f32) or 1e-12 (f64) relative to the output's largest magnitude, element by element.</summary>
public class OnnxOpTests
{
    private const string Base = "input x: f32[3, 4]\ninput v: f32[4]\ninput c: f32[3, 1]\ninput p: f32[3, 4] positive\n";
    private const string Cube = "input x3: f32[2, 3, 4]\n";

    /// <summary>(case, program): programs not starting with "input" get the declarations of x, v, c and p first.</summary>
    public static readonly (string Name, string Program)[] Programs =
    [
        ("neg", "-x"), ("exp", "exp(x)"), ("log", "log(p)"), ("sqrt", "sqrt(p)"), ("abs", "abs(x)"), ("sign", "sign(x)"),
        ("square", "square(x)"), ("sigmoid", "sigmoid(x)"), ("tanh", "tanh(x)"), ("relu", "relu(x)"),
        ("softplus", "softplus(x)"), ("erf", "erf(x)"), ("gelu", "gelu(x)"), ("gelu_tanh", "gelu(x, approximate=true)"), ("log_sigmoid", "log_sigmoid(x)"), ("stop_gradient", "stop_gradient(x)"),
        ("add", "x + v"), ("sub", "c - x"), ("mul", "x * c"), ("div", "x / p"), ("pow", "pow(p, x)"),
        ("maximum", "maximum(x, v)"), ("minimum", "minimum(c, x)"), ("logaddexp", "logaddexp(x, c)"),
        ("logaddexp_equal", "logaddexp(x, x)"),
        ("log1p", "log1p(p)"), ("log1p_tiny", "log1p(p * 1e-9)"), ("expm1", "expm1(x)"), ("expm1_tiny", "expm1(x * 1e-9)"),
        ("log1mexp", "log1mexp(-p)"), ("log1mexp_tiny", "log1mexp(-p * 1e-9)"), ("logdiffexp", "logdiffexp(x + p, x)"),
        ("logdiffexp_broadcast", "logdiffexp(abs(c) + 1, -p)"), ("log1m_softmax", Cube + "y = log1m_softmax(x3, axis=1)"), ("truncated_gumbel", "truncated_gumbel(x - p, x, v)"),
        ("truncated_gumbel_argmax_child", "truncated_gumbel(x, x, c)"), ("truncated_gumbel_t_is_z", "truncated_gumbel(x - p, c, c)"), ("constants", "x * 0.5 + 1"),
        ("sum", Cube + "y = sum(x3, axis=(0, 2), keepdims=true)"), ("mean", Cube + "y = mean(x3, axis=1)"),
        ("max", Cube + "y = max(x3, axis=2)"), ("min", Cube + "y = min(x3)"), ("sum_scalar", "sum(sum(x), keepdims=true)"),
        ("logsumexp", Cube + "y = logsumexp(x3, axis=(1, 2))"), ("logsumexp_keepdims", Cube + "y = logsumexp(x3, axis=0, keepdims=true)"),
        ("softmax", Cube + "y = softmax(x3, axis=1)"), ("log_softmax", Cube + "y = log_softmax(x3, axis=0)"),
        ("matmul", "input a: f32[2, 3, 4]\ninput b: f32[4, 5]\ny = a @ b"),
        ("matmul_broadcast", "input a: f32[2, 1, 3, 4]\ninput b: f32[3, 4, 5]\ny = a @ b"),
        ("transpose", Cube + "y = transpose(x3, axes=(2, 0, 1))"), ("reshape", Cube + "y = reshape(x3, shape=(4, 6))"),
        ("broadcast_to", "broadcast_to(c, shape=(2, 3, 4))"),
        ("one_hot", "input t: i64[3, 2] classes(4)\ny = one_hot(t, 4, dtype=f32)"),
        ("one_hot_ignore", "input t: i64[6] classes(4)\ny = one_hot(t, 4, dtype=f32, ignore_index=2)"),
        ("take_along", "input x: f32[3, 4]\ninput t: i64[3, 5] classes(4)\ny = take(x, t, axis=1)"),
        ("take_drop", "input x: f32[3, 4]\ninput t: i64[4] classes(3)\ny = take(x, t, axis=0)"),
        ("where", "where(relu(x), x, v)"),
        ("ce", "input z: f32[5, 4]\ninput q: f32[5, 4] probs(axis=1)\ny = softmax_cross_entropy(z, q, axis=1, normalized=true)"),
        ("ce_axis0_smoothing", "input z: f32[4, 5]\ninput q: f32[4, 5] probs(axis=0)\ny = softmax_cross_entropy(z, q, axis=0, label_smoothing=0.1)"),
        ("ce_weights", "input z: f32[2, 4, 3]\ninput q: f32[2, 4, 3] probs(axis=1)\ninput w: f32[4] positive\ny = softmax_cross_entropy(z, q, weights=w, axis=1, label_smoothing=0.2)"),
        ("sparse_ce", "input z: f32[5, 4]\ninput t: i64[5] classes(4)\ny = sparse_softmax_cross_entropy(z, t, axis=1)"),
        ("sparse_ce_weights_ignore", "input z: f32[8, 4]\ninput t: i64[8] classes(4)\ninput w: f32[4] positive\ny = sparse_softmax_cross_entropy(z, t, weights=w, axis=1, ignore_index=1)"),
        ("sparse_ce_axis0", "input z: f32[4, 3]\ninput t: i64[3] classes(4)\ny = sparse_softmax_cross_entropy(z, t, axis=0)"),
        ("sparse_ce_axis2", "input z: f32[2, 3, 4]\ninput t: i64[2, 3] classes(4)\ny = sparse_softmax_cross_entropy(z, t, axis=2)"),
        ("sparse_ce_rank1", "input z: f32[5]\ninput t: i64[] classes(5)\ny = sparse_softmax_cross_entropy(z, t, axis=0)"),
        ("sparse_ce_smoothing", "input z: f32[6, 4]\ninput t: i64[6] classes(4)\ny = sparse_softmax_cross_entropy(z, t, axis=1, label_smoothing=0.1)"),
        ("sparse_ce_smoothing_ignore", "input z: f32[8, 4]\ninput t: i64[8] classes(4)\ny = sparse_softmax_cross_entropy(z, t, axis=1, ignore_index=3, label_smoothing=0.3)"),
        ("sparse_ce_smoothing_weights_axis0", "input z: f32[4, 6]\ninput t: i64[6] classes(4)\ninput w: f32[4] positive\ny = sparse_softmax_cross_entropy(z, t, weights=w, axis=0, ignore_index=0, label_smoothing=0.1)"),
        ("prod", Cube + "y = prod(x3, axis=1)"),
    ];

    public static TheoryData<string, DType, double> Cases()
    {
        var data = new TheoryData<string, DType, double>();
        foreach (var (name, _) in Programs)
            foreach (var t in new[] { DType.F32, DType.F64 })
                foreach (var scale in new[] { 1.0, 1000.0 })
                    if (t == DType.F32 || !FloatOnly.Contains(name)) data.Add(name, t, scale);
        return data;
    }

    /// <summary>Cases through ONNX's <c>Erf</c>, which ONNX Runtime runs in float only: f64 is refused (see below).</summary>
    private static readonly string[] FloatOnly = ["erf", "gelu"];

    [Theory]
    [InlineData("erf", "erf")]
    [InlineData("gelu", "gelu")]
    public void ErfInF64IsRefusedNamingTheOpAndTheType(string name, string op)
    {
        var e = Assert.Throws<AutodiffException>(() => OnnxRun.Export(Parse(name, DType.F64)));
        Assert.Equal($"onnx export: op '{op}' has no ONNX mapping (f64: ONNX Runtime's CPU Erf runs float only; convert the graph to f32 to export it)", e.Message);
    }

    internal static Graph Parse(string name, DType dtype)
    {
        var text = Programs.Single(c => c.Name == name).Program;
        var graph = Parser.Parse(text.StartsWith("input", StringComparison.Ordinal) ? text : Base + "y = " + text);
        return dtype == DType.F32 ? graph : graph.ToDType(dtype);
    }

    /// <summary>A −inf logit on a class with zero target mass or zero weight contributes nothing, in the kernels and in
    /// the exported model alike (the plain product 0·(−inf) would make the exported loss NaN where ours is finite); with
    /// a positive weight on it, label smoothing makes the loss +inf on both sides.</summary>
    [Theory]
    [InlineData("input z: f64[2, 3]\ninput t: i64[2] classes(3)\ninput w: f64[3]\ny = sparse_softmax_cross_entropy(z, t, weights=w, axis=1, label_smoothing=0.1)", true)]
    [InlineData("input z: f64[2, 3]\ninput t: i64[2] classes(3)\ny = sparse_softmax_cross_entropy(z, t, axis=1)", true)]
    [InlineData("input z: f64[2, 3]\ninput t: i64[2] classes(3)\ny = sparse_softmax_cross_entropy(z, t, axis=1, label_smoothing=0.1)", false)]
    [InlineData("input z: f64[2, 3]\ninput p: f64[2, 3] probs(axis=1)\ny = softmax_cross_entropy(z, p, axis=1)", true)]
    [InlineData("input z: f64[2, 3]\ninput p: f64[2, 3] probs(axis=1)\ninput w: f64[3]\ny = softmax_cross_entropy(z, p, weights=w, axis=1, label_smoothing=0.2)", true)]
    public void MinusInfinityLogitWithZeroMassOrWeightMatches(string program, bool finite)
    {
        var graph = Parser.Parse(program);
        var inputs = new Dictionary<string, Tensor>
        {
            ["z"] = Tensor.FromArray(new[] { 1.0, double.NegativeInfinity, 0.5, -0.5, double.NegativeInfinity, 2.0 }, 2, 3),
            ["t"] = Tensor.FromArray(new[] { 0L, 2L }, 2),
            ["w"] = Tensor.FromArray(new[] { 1.0, 0.0, 2.0 }, 3),
            ["p"] = Tensor.FromArray(new[] { 0.7, 0.0, 0.3, 0.4, 0.0, 0.6 }, 2, 3),
        };
        var used = graph.Inputs.Select(i => ((InputOp)i.Op).InputName).ToHashSet();
        inputs = inputs.Where(kv => used.Contains(kv.Key)).ToDictionary();
        var expected = OnnxRun.Ours(graph, inputs);
        var actual = OnnxRun.Run(OnnxRun.Export(graph), graph, inputs);
        var values = Enumerable.Range(0, expected.Size).Select(expected.GetDouble).ToArray();
        Assert.Equal(finite, values.All(double.IsFinite));
        Assert.DoesNotContain(values, double.IsNaN);
        var mismatch = OnnxRun.Mismatch(actual, expected, 1e-12);
        Assert.True(mismatch is null, mismatch);
    }

    [Theory, MemberData(nameof(Cases))]
    public void MatchesOurEvaluation(string name, DType dtype, double scale)
    {
        var graph = Parse(name, dtype);
        var inputs = OnnxRun.Inputs(graph, 11, scale);
        var expected = OnnxRun.Ours(graph, inputs);
        var actual = OnnxRun.Run(OnnxRun.Export(graph), graph, inputs);
        var mismatch = OnnxRun.Mismatch(actual, expected, dtype == DType.F64 ? 1e-12 : 1e-5);
        Assert.True(mismatch is null, mismatch);
    }
}
