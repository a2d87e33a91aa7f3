using Autodiff.Rewrite;
using Autodiff.Tests.Rewrite;
using Autodiff.Text;

namespace Autodiff.Tests.Numerics;

/// <summary>The rewrite contract of docs/rules.md at edge values (docs/numerics.md): random programs
/// (<see cref="RandomProgram"/> with edges: the grammar of <see cref="DifferentialTests"/> plus maxima, masks,
/// stop_gradient, norms and products) over empty and 0-d tensors, fed ±inf entries, all −inf rows and values of scale 1e3
/// and 1e6. The simplified graph has the naive graph's shapes and element types; where the naive value (or, for a finite
/// value, a gradient element) is finite, the simplified one is finite; where the naive graph also computed without
/// overflow, they are equal (relative 1e-9, f64). And no rule matches across <c>stop_gradient</c>.</summary>
public class RewriteSoundnessTests
{
    [Fact]
    public void SimplifiedGraphKeepsEveryFiniteResultAtEdgeValues()
    {
        // Fixed seeds, so every run checks the same programs; the regression seeds below came from runs with random ones.
        int rewritten = 0, finiteValues = 0, compared = 0;
        foreach (int seed in Enumerable.Range(1, 1000))
        {
            var (rewrote, finite, clean) = Check(seed);
            if (rewrote) rewritten++;
            if (finite) finiteValues++;
            if (finite && clean) compared++;
        }
        Assert.True(rewritten > 600, $"only {rewritten} of 1000 random programs were rewritten at all");
        Assert.True(compared > 230, $"only {compared} of 1000 random programs had a finite naive value computed without overflow ({finiteValues} finite)");
    }

    /// <summary>Programs that once broke the contract: a sum over one class turned into a reshape hid
    /// <c>sqrt(sum(square(x)))</c> and <c>sum(abs(x)^3)^(1/3)</c> from <c>pnorm-from-naive</c>, and the hand-written
    /// chains' gradients at 0 were 0·inf = NaN (docs/rules.md).</summary>
    [Theory]
    [InlineData(1825202122)]
    [InlineData(2134714913)]
    public void RegressionSeedsKeepTheirFiniteGradients(int seed) => Check(seed);

    /// <summary>Checks the program of <paramref name="seed"/>: whether the simplifier rewrote it, whether its naive value is
    /// finite, and whether the naive graph computed without overflow (then values and gradients are compared).</summary>
    private static (bool Rewrote, bool Finite, bool Clean) Check(int seed)
    {
        var prog = new RandomProgram(seed, edges: true);
        var result = Simplifier.Simplify(prog.Graph);
        Assert.Equal(prog.Graph.Output.Shape, result.After.Output.Shape);
        Assert.Equal(prog.Graph.Output.DType, result.After.Output.DType);
        var inputs = prog.Inputs();
        string Where() => $"seed {seed}\n{Printer.Print(prog.Graph)}\nsimplified:\n{Printer.Print(result.After)}\ninputs:\n" +
            string.Join("\n", inputs.Select(kv => $"  {kv.Key} = {kv.Value}"));
        var naive = new Tape(prog.Graph).Run(inputs);
        var simple = new Tape(result.After).Run(inputs);
        bool finite = double.IsFinite(naive.Value.GetDouble(0));
        bool clean = finite && NoOverflow(prog.Graph, inputs);   // only finite values are compared
        RandomProgram.AssertClose(naive.Value, simple.Value, "value", Where, clean);
        if (finite)   // the gradient of a non-finite value is not a finite result to keep
        {
            foreach (var (name, g) in naive.Gradients)
            {
                Assert.Equal(g.Shape, simple.Gradients[name].Shape);
                RandomProgram.AssertClose(g, simple.Gradients[name], "d/d" + name, Where, clean);
            }
        }
        return (result.Rewrites.Count > 0, finite, clean);
    }

    /// <summary>True if the naive graph computed without leaving the range of double: no intermediate value (inputs and
    /// constants aside) holds NaN, +inf or a tiny nonzero magnitude (below 1e-307), and no exp of a finite argument below
    /// −708 (whose result is subnormal or 0). Otherwise the naive result can be finite but wrong — an overflow squashed by a
    /// later saturating op (sigmoid(x − log(sum(exp(x)))) at x = 1e3 gives 0 instead of 1/2), a subnormal exp(−732) with a
    /// few significant bits, an exp(−152359) = 0 whose log, −inf, a later exp turns into a 0 that should have been
    /// exp(246085), or a division by a nonzero magnitude below 1e-30 that magnifies the numerator's rounding past any
    /// relative tolerance (log(1 / (1 + exp(−179))) rounds to 0, where the true −2.6e-78 divided by exp(−246) is −7e31)
    /// — and the simplified graph rightly does not reproduce it. −inf from the inputs (masks, log 0 of an
    /// input) and exact zeros are benign. The probe, one scalar evaluated on the tape, is NaN exactly when one of these
    /// happens: Σ sum(m − m) with m = maximum(v, 0) catches NaN and +inf; Σ sum(minimum(sqrt(|v|·1e300 − 1e-7·sign|v|), 0))
    /// catches 0 &lt; |v| &lt; 1e-307 (the same with 1e23 for a divisor: 0 &lt; |d| &lt; 1e-30); and for each exp(u), Σ sum(where(u − u, 0, sqrt(sign(u + 708) + 0.5))) catches a
    /// finite u &lt; −708 (u − u is NaN, hence a true mask, only for infinite u).</summary>
    private static bool NoOverflow(Graph g, Dictionary<string, Tensor> inputs)
    {
        var zero = g.Output.Expr.Const(0);
        var probe = zero;
        foreach (var n in g.Nodes())
        {
            if (n.Op is InputOp or ConstantOp || !n.DType.IsFloat() || n.Shape.Size == 0) continue;
            var m = n.Expr.Maximum(zero);
            var a = n.Expr.Abs();
            probe = probe + (m - m).Sum() + (a * 1e300 - a.Sign() * 1e-7).Sqrt().Minimum(zero).Sum();
            if (n.Op is DivOp && n.Inputs[1].Shape.Size > 0)
            {
                var d = n.Inputs[1].Expr.Abs();
                probe += (d * 1e23 - d.Sign() * 1e-7).Sqrt().Minimum(zero).Sum();
            }
            if (n.Op is ExpOp)
            {
                Expr u = n.Inputs[0];
                probe += Expr.Where(u - u, zero, ((u + 708).Sign() + 0.5).Sqrt()).Sum();
            }
        }
        return !double.IsNaN(new Tape(g.Builder.Build(probe), []).Forward(inputs).GetDouble(0));
    }

    // ---------------------------------------------------------------- stop_gradient

    /// <summary>Programs where a rule would match if it looked through <c>stop_gradient</c>; the listed op must survive.</summary>
    public static TheoryData<string, string> Blocked() => new()
    {
        { "r = log(stop_gradient(exp(x)))", "exp" },
        { "e = exp(x)\nr = stop_gradient(e) / sum(e, axis=1, keepdims=true)", "div" },
        { "e = exp(x)\nr = e / sum(stop_gradient(e), axis=1, keepdims=true)", "div" },
        { "r = exp(x) / stop_gradient(sum(exp(x), axis=1, keepdims=true))", "div" },
        { "r = log(sum(stop_gradient(exp(x)), axis=1))", "log" },
        { "r = log(stop_gradient(sum(exp(x), axis=1)))", "log" },
        { "r = log(1 + stop_gradient(exp(x)))", "log1p" },
        { "r = 1 / (1 + stop_gradient(exp(-x)))", "div" },
        { "r = -stop_gradient(-x)", "neg" },
        { "r = log(stop_gradient(softmax(x, axis=1)))", "log" },
        { "r = log(stop_gradient(sigmoid(x)))", "log" },
        { "r = log(exp(x) + stop_gradient(exp(y)))", "log" },
        { "r = x - stop_gradient(logsumexp(x, axis=1, keepdims=true))", "sub" },
        { "r = stop_gradient(x) - logsumexp(x, axis=1, keepdims=true)", "sub" },
        { "r = x * stop_gradient(1 / y)", "mul" },
        { "r = stop_gradient(2) * 3 + x", "mul" },
    };

    [Theory]
    [MemberData(nameof(Blocked))]
    public void NoRuleMatchesAcrossStopGradient(string body, string survivor)
    {
        var g = Parser.Parse("input x: f64[4, 3]\ninput y: f64[4, 3]\n" + body);
        var r = Simplifier.Simplify(g);
        var after = r.After.Nodes();
        Assert.Contains(after, n => n.Op is StopGradientOp);
        Assert.Contains(after, n => n.Op.Name == survivor);
        Assert.Equal(g.Nodes().Count(n => n.Op is StopGradientOp), after.Count(n => n.Op is StopGradientOp));
        AssertSameGradients(g, r.After, body);
    }

    /// <summary>Every firing case of the rule table, with <c>stop_gradient</c> put on one operand edge at a time: the
    /// simplified graph has exactly the naive graph's gradients, so no rule looked through it. (A rule may still drop a
    /// stopped subexpression whose gradient is zero anyway: <c>softmax(x - stop_gradient(max(x)))</c> becomes
    /// <c>softmax(x)</c>, softmax being invariant to the shift.)</summary>
    [Fact]
    public void StopGradientOnAnyEdgeOfAFiringRuleIsRespected()
    {
        int variants = 0;
        foreach (var c in RuleTests.Cases.Where(c => c.Fires))
        {
            var g = Parser.Parse(c.Program);
            if (g.Nodes().Any(n => n.DType == DType.F32)) g = g.ToDType(DType.F64);   // compared in double
            foreach (var (node, slot) in g.Nodes().SelectMany(n => n.Inputs.Select((x, j) => (n, j))))
            {
                if (!node.Inputs[slot].DType.IsFloat() || node.Op is StopGradientOp) continue;
                var blocked = WithStopGradient(g, node, slot);
                var r = Simplifier.Simplify(blocked);
                AssertSameGradients(blocked, r.After, $"{c.Name}, stop_gradient on operand {slot} of {node.Op.Name}");
                variants++;
            }
        }
        Assert.True(variants > 150, $"only {variants} variants");
    }

    /// <summary>The graph rebuilt in a new builder with <c>stop_gradient</c> on operand <paramref name="slot"/> of <paramref name="at"/>.</summary>
    private static Graph WithStopGradient(Graph g, Node at, int slot)
    {
        var b = new GraphBuilder();
        var map = new Dictionary<Node, Node>(ReferenceEqualityComparer.Instance);
        foreach (var i in g.Inputs) map[i] = b.Make(i.Op);
        foreach (var n in g.Nodes())
        {
            if (map.ContainsKey(n)) continue;
            var ins = n.Inputs.Select((x, j) => ReferenceEquals(n, at) && j == slot ? b.Make(new StopGradientOp(), map[x]) : map[x]).ToArray();
            map[n] = b.Make(n.Op, ins);
        }
        return b.Build(map[g.Output]);
    }

    /// <summary>Random inputs that respect the declared facts (probability rows, class indices, positivity).</summary>
    private static Dictionary<string, Tensor> FactInputs(Graph g, int seed)
    {
        var rng = new Random(seed);
        var v = new Dictionary<string, Tensor>();
        foreach (var i in g.Inputs)
        {
            var op = (InputOp)i.Op;
            var t = Tensor.Zeros(i.DType, i.Shape);
            if (op.Facts.Classes is int classes) for (int k = 0; k < t.Size; k++) t.SetDouble(k, rng.Next(classes));
            else if (op.Facts.ProbsAxis is int axis)
            {
                int n = i.Shape[axis], inner = i.Shape.Product(axis + 1, i.Shape.Rank);
                for (int k = 0; k < t.Size; k++) t.SetDouble(k, 0.1 + rng.NextDouble());
                for (int k = 0; k < t.Size; k++)
                {
                    if (k / inner % n != 0) continue;
                    double s = 0;
                    for (int j = 0; j < n; j++) s += t.GetDouble(k + j * inner);
                    for (int j = 0; j < n; j++) t.SetDouble(k + j * inner, t.GetDouble(k + j * inner) / s);
                }
            }
            else if (op.Facts.IsPositive) for (int k = 0; k < t.Size; k++) t.SetDouble(k, 0.5 + rng.NextDouble());
            else for (int k = 0; k < t.Size; k++) t.SetDouble(k, RandomProgram.Normal(rng));
            v[op.InputName] = t;
        }
        return v;
    }

    private static void AssertSameGradients(Graph naive, Graph simplified, string what)
    {
        var x = FactInputs(naive, 17);
        var cot = Tensor.RandomNormal(DType.F64, naive.Output.Shape, new Random(3));
        var (v0, g0) = new Tape(naive).Run(x, cot);
        var a = v0.Clone();
        var ga = g0.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
        var (v1, g1) = new Tape(simplified).Run(x, cot);
        RandomProgram.AssertClose(a, v1, "value", () => what);
        foreach (var (name, g) in ga) RandomProgram.AssertClose(g, g1[name], "d/d" + name, () => $"{what}\nsimplified:\n{Printer.Print(simplified)}");
    }
}
