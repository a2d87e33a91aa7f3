using Autodiff.Tests.Ops;
using Autodiff.Tests.Fused;
using Autodiff.Text;

namespace Autodiff.Tests.Runtime;

/// <summary>gradgradcheck for every op (PyTorch's <c>gradgradcheck</c>): the symbolic second derivative (a Hessian-vector
/// product per input element, evaluated by the tape) against central differences of the tape's gradient in double,
/// entry by entry. The rows are the first-order tables' (<see cref="OpGradientTable"/>, <see cref="FusedCatalog.Small"/>)
/// plus the structured ops; the ops that cannot be differentiated twice are checked to refuse with their name.</summary>
public class GradGradTable
{
    private static readonly GradCheckOptions Tolerance = new(Atol: 1e-5, Rtol: 1e-3, Step: 1e-5);

    public static TheoryData<string> CoreCases()
    {
        var d = new TheoryData<string>();
        foreach (var c in OpGradientTable.Cases) d.Add(c.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(CoreCases))]
    public void CoreOpPassesGradGradCheck(string name)
    {
        var c = OpGradientTable.Cases.Single(x => x.Name == name);
        var wrt = c.Inputs.Where(i => i.Type.IsFloat() && i.Dist != OpGradientTable.Dist.Mask).Select(i => i.Name).ToArray();
        for (int seed = 0; seed < 2; seed++)
        {
            var (g, x) = OpGradientTable.Instantiate(c, seed);
            var r = GradientChecker.GradGradCheck(g, x, wrt, Tolerance);
            Assert.True(r.Passed, $"{name} (seed {seed}): {r}");
            Assert.True(r.Checked > 0);
        }
    }

    public static TheoryData<int> FusedCases()
    {
        var d = new TheoryData<int>();
        for (int i = 0; i < FusedCatalog.Small.Length; i++) d.Add(i);
        return d;
    }

    [Theory]
    [MemberData(nameof(FusedCases))]
    public void FusedOpPassesGradGradCheck(int index)
    {
        var c = FusedCatalog.Small[index];
        // normalized=true promises that the targets' rows sum to 1 and its gradient q − p relies on it: moving p alone
        // leaves that promise, so the mixed second derivatives are checked along z only (first order checks p)
        var wrt = c is DenseCase { Normalized: true } ? c.Wrt.Where(w => w != "p").ToArray() : c.Wrt;
        var r = GradientChecker.GradGradCheck(c.Graph(DType.F64), c.Values(DType.F64), wrt, Tolerance);
        Assert.True(r.Passed, $"{c.Name}: {r}");
    }

    /// <summary>Ops outside the two tables, as programs: p-norms, the zero-safe product (with zeros), the soft and hard
    /// Gumbel-softmax (the hard one's gradient is the soft one's, so is its second derivative, as in PyTorch),
    /// truncated Gumbel, log1m_softmax.</summary>
    public static readonly (string Name, string Program, double[] X)[] Structured =
    [
        ("pnorm p=2", "input x: f64[2, 3]\ny = pnorm(x, 2, axis=1)", [0.5, -1.2, 2, 1, 0.3, -0.7]),
        ("pnorm p=3", "input x: f64[2, 3]\ny = pnorm(x, 3, axis=1)", [0.5, -1.2, 2, 1, 0.3, -0.7]),
        ("pnorm p=1.5 all axes", "input x: f64[2, 3]\ny = pnorm(x, 1.5)", [0.5, -1.2, 2, 1, 0.3, -0.7]),
        ("pnorm p=1", "input x: f64[2, 3]\ny = pnorm(x, 1, axis=1)", [0.5, -1.2, 2, 1, 0.3, -0.7]),
        ("pnorm p=inf", "input x: f64[2, 3]\ny = pnorm(x, inf, axis=1)", [0.5, -1.2, 2, 1, 0.3, -0.7]),
        ("prod no zeros", "input x: f64[2, 3]\ny = prod(x, axis=1)", [0.5, -1.2, 2, 1, 0.3, -0.7]),
        ("prod one zero", "input x: f64[2, 3]\ny = prod(x, axis=1)", [0, -1.2, 2, 1, 0.3, -0.7]),
        ("prod two zeros", "input x: f64[2, 3]\ny = prod(x, axis=1)", [0, 0, 2, 1, 0, -0.7]),
        ("prod all axes with a zero", "input x: f64[2, 3]\ny = prod(x)", [0.5, -1.2, 0, 1, 0.3, -0.7]),
        ("gumbel_softmax soft", "input x: f64[2, 3]\ny = gumbel_softmax(x, 0.7, axis=1, seed=5)", [0.5, -1.2, 2, 1, 0.3, -0.7]),
        ("gumbel_softmax hard", "input x: f64[2, 3]\ny = gumbel_softmax(x, 0.7, axis=1, hard=true, seed=5)", [0.5, -1.2, 2, 1, 0.3, -0.7]),
        ("softmax_cross_entropy of the hand-written form, simplified", "input x: f64[2, 3]\ny = logsumexp(x, axis=1) - sum(x * softmax(x * 0.5, axis=1), axis=1)", [0.5, -1.2, 2, 1, 0.3, -0.7]),
    ];

    public static TheoryData<string> StructuredCases()
    {
        var d = new TheoryData<string>();
        foreach (var c in Structured) d.Add(c.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(StructuredCases))]
    public void StructuredOpPassesGradGradCheck(string name)
    {
        var (_, program, values) = Structured.Single(c => c.Name == name);
        var g = Parser.Parse(program);
        var x = new Dictionary<string, Tensor> { ["x"] = Tensor.FromArray(values, g.Input("x").Shape) };
        var r = GradientChecker.GradGradCheck(g, x, options: Tolerance);
        Assert.True(r.Passed, $"{name}: {r}");
    }

    /// <summary>The ops listed in docs/second-order.md as not twice differentiable refuse with an error naming the op.</summary>
    [Theory]
    [InlineData("input e: f64[2, 3, 2]\ninput tr: f64[2, 2]\ny = sum(crf_log_partition(e, tr))", "crf_marginals")]
    [InlineData("input e: f64[2, 3, 2]\ninput tr: f64[2, 2]\ninput t: i64[2, 3]\ny = sum(crf_log_likelihood(e, tr, t))", "crf_marginals")]
    [InlineData("input e: f64[2, 3, 2]\ninput tr: f64[2, 2]\ny = sum(crf_viterbi_score(e, tr))", "crf_viterbi_score")]
    public void NotTwiceDifferentiableOpsRefuseByName(string program, string op)
    {
        var g = Parser.Parse(program);
        var e = Assert.Throws<AutodiffException>(() => Gradient.Hvp(g, ["e"]));
        Assert.StartsWith(op + ": cannot be differentiated", e.Message);
    }
}
