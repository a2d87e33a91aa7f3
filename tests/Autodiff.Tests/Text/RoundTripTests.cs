using Autodiff.Text;

namespace Autodiff.Tests.Text;

public class RoundTripTests
{
    private const string Decls = """
        input x: f32[3, 4]
        input w: f32[4, 5]
        input m: f32[3, 4]
        input t: i64[3] classes(4)
        input s: f32[]
        """;

    private static readonly string[] ProgramList =
    [
        ParserTests.Sample,
        // every unary function
        Decls + "\na = neg(exp(x)) + log(x) + sqrt(x) + abs(x) + sign(x) + square(x)\nb = sigmoid(x) * tanh(x) * relu(x) * softplus(x) * log_sigmoid(x) * stop_gradient(x)\nc = a - b",
        Decls + "\na = log1p(x) + expm1(x) + log1mexp(x) + logdiffexp(x, m) + log1m_softmax(x, axis=1)",
        Decls + "\na = truncated_gumbel(x - 1, x, m) + truncated_gumbel(x, m, s)",
        // every binary function, as calls and as operators
        Decls + "\na = maximum(x, m) + minimum(x, m) + pow(x, m) + add(x, m) + sub(x, m) + mul(x, m) + div(x, m)\nb = matmul(x, w) + x @ w",
        Decls + "\na = x + m - x * m / x ^ m\nb = (x + m) * (x - m)\nc = x - (m - x)\nd = x / (m / x)\ne = x - (m + x)\nf = x / (m * x)",
        // reductions
        Decls + "\na = sum(x) + sum(mean(x, axis=0)) + mean(max(x, axis=1)) + min(x, axis=(0, 1))\nb = sum(x, axis=-1, keepdims=true) * mean(x, axis=(0, 1), keepdims=true)\nc = sum(x, axis=()) + max(s)",
        // shape functions
        Decls + "\na = transpose(w) @ transpose(x, axes=(1, 0))\nb = reshape(x, shape=(2, 6)) + reshape(x, (2, 6)) + reshape(x, shape=(2, -1))\nc = broadcast_to(s, shape=(3, 4)) + expand(sum(x, axis=1, keepdims=true), shape=(3, 4))\nd = squeeze(unsqueeze(x, axis=0), axis=0) + unsqueeze(s, axis=0)\ne = reshape(x, shape=12)\nf = reshape(s, shape=())\ng = reshape(x, shape=(3, 4))",
        // indexing
        Decls + "\na = one_hot(t, 4) * x + one_hot(t, 4, dtype=f32)\nb = take(x, t) + take(x, t, axis=1) + take(transpose(x), t, axis=0)\nc = where(m, x, 0) + where(x, 1, m)\nd = where(t, s, 2)",
        // precedence and unary minus
        Decls + "\na = -x^2 + (-x)^2 + -(-x) + -(x + m) + -(x * m) + -x * m + x * -m + x - -m\nb = 2^3^2 + (2^3)^2 + x^-1 + x^-m^2 + x^(m * 2)\nc = -(1) + -(-1) + (-1)^x + -2^x",
        // constants: negative, inf, nan, exponents, integers, -0
        Decls + "\na = x * -1 + x * 0.5 + x * 1e-3 + x * .25 + x * 1E+20 + x * 1.5e-07\nb = maximum(x, -inf) + minimum(x, inf) + x * nan + x * -0 + x * 3",
        Decls + "\nc = 1 + 2\nd = -inf\ne = nan\nf = -(1)\ng = x * c",
        // facts and 0-d inputs
        "input p: f32[2, 3] probs(axis=1) positive\ninput q: f64[2, 3] probs(0)\ninput k: i64[2] classes(3) positive\ninput u: f64[]\nr = p * 2\nr2 = q * u",
        // mixed float types: literals follow their context; explicit constants where they cannot
        "input a: f32[2]\ninput b: f64[2]\nx = a * 2 + 1\ny = b * 2 + (1 + 2) * b\nz = constant(2, dtype=f64) * 3\nw = b + z\nv = constant(1, dtype=i64)\nu = where(v, b, 1)",
        // sharing: unnamed shared nodes get auto names
        "input a: f32[2]\nr = exp(a) * exp(a) + log(exp(a)) + sum(exp(a))",
        // output that is not the last assignment, and reassignment of the same node under another name
        "input a: f32[2]\nb = exp(a)\nc = exp(a)\nd = log(b)\noutput b",
        // no float inputs
        "input t: i64[3]\na = one_hot(t, 5) * 2\nb = sum(a, axis=1) + 1",
        // no inputs at all
        "a = 1 + 2 * 3\nb = -a^2",
    ];

    public static TheoryData<string> Programs => new(ProgramList);

    [Theory]
    [MemberData(nameof(Programs))]
    public void Print_parse_print_is_stable(string source)
    {
        var g = Parser.Parse(source);
        var text = Printer.Print(g);
        var again = Parser.Parse(text);
        Assert.Equal(text, Printer.Print(again));
        Assert.Equal(g.Nodes().Count, again.Nodes().Count);
        TextAssert.SameStructure(g, again);
        Assert.Equal(text, Printer.Print(Parser.Parse(Printer.Print(again))));

        // Every assignment, not only the output.
        foreach (var node in g.Names.Keys) TextAssert.RoundTrips(g.WithOutput(node));
        var all = Printer.PrintAssignments(g.Inputs, g.Names.Select(kv => (kv.Value, kv.Key)).ToList(), g.Names);
        foreach (var name in g.Names.Values) Assert.Contains($"\n{name} = ", "\n" + all);
    }

    [Fact]
    public void Every_builtin_function_is_covered()
    {
        var all = string.Join("\n", ProgramList);
        foreach (var f in FunctionTableTests.Builtins) Assert.Contains(f + "(", all);
    }

    [Fact]
    public void Graphs_built_in_csharp_round_trip()
    {
        var b = new GraphBuilder();
        var x = b.Input("x", DType.F64, 8, 3);
        var w = b.Input("w", DType.F64, 3, 2);
        var t = b.Input("t", DType.I64, 8);
        var h = (x.MatMul(w) + 0.1).Tanh();
        var lse = h.Max(1, keepDims: true) + (h - h.Max(1, keepDims: true)).Exp().Sum(1, keepDims: true).Log();
        var loss = ((lse - h) * t.OneHot(2, DType.F64)).Sum(1).Mean();
        TextAssert.RoundTrips(b.Build(loss));
        TextAssert.RoundTrips(b.Build(loss, new Dictionary<Node, string> { [h.Node] = "h", [lse.Node] = "lse", [loss.Node] = "loss" }));
        foreach (var (name, grad) in SymbolicGradient.Of(b.Build(loss)))
            TextAssert.RoundTrips(b.Build(grad));
    }
}
