using Autodiff.Text;

namespace Autodiff.Tests.Numerics;

/// <summary>The gradient checker (central differences in double, |a − n| ≤ 1e-5 + 1e-3·|n|) at the edge values of the policy
/// table, where the function is differentiable: logits with −inf entries and all −inf rows (only the finite entries are
/// perturbed; non-finite outputs are left out of the objective), rows with +inf or NaN next to ordinary rows, logits of
/// magnitude 1e3, and masked inputs. Every fused op (with gumbel_softmax, crf_log_partition, pnorm and prod) and the core
/// ops that meet these values take part.</summary>
public class EdgeGradientCheckTests
{
    private const double NInf = double.NegativeInfinity, Inf = double.PositiveInfinity, NaN = double.NaN;

    /// <summary>Logits [3, 4]: −inf entries, an all −inf row, and a row of ordinary values.</summary>
    private static readonly double[] Masked = [NInf, 0.3, -1.2, 2, NInf, NInf, NInf, NInf, 0.5, NInf, 1, -0.7];

    /// <summary>Logits [3, 4] around ±1e3.</summary>
    private static readonly double[] Large = [1000, 1000.5, 999, 1001.25, -1000, -999.5, -1001, -998, 1000, -1000, 0.5, 999.5];

    /// <summary>Logits [3, 4]: rows with +inf (one also with −inf) and an ordinary row. (A NaN row has a NaN gradient by
    /// policy, which no finite difference matches; <see cref="NaNIsolationTests"/> checks the rows next to it.)</summary>
    private static readonly double[] NonFinite = [Inf, 0.1, Inf, -0.4, 0.5, -0.25, 1, -0.7, NInf, 2, Inf, 0.3];

    private static double[] Transposed(double[] x)
    {
        var t = new double[12];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) t[c * 3 + r] = x[r * 4 + c];
        return t;
    }

    private static readonly double[] Probs = [0, 0.2, 0.3, 0.5, 0.25, 0.25, 0.25, 0.25, 0.6, 0, 0.4, 0];

    /// <summary>(name, program, inputs, inputs to differentiate (null: all float), finite input elements expected to be checked).</summary>
    public static readonly (string Name, string Program, Dictionary<string, double[]> Inputs, string[]? Wrt)[] Cases = Build();

    private static (string, string, Dictionary<string, double[]>, string[]?)[] Build()
    {
        const string Z = "input z: f64[3, 4]\n";
        const string ZT = "input z: f64[4, 3]\n";
        var list = new List<(string, string, Dictionary<string, double[]>, string[]?)>();
        foreach (var (label, values) in new[] { ("-inf", Masked), ("1e3", Large), ("+inf rows", NonFinite) })
        {
            list.Add(($"softmax {label}", Z + "y = softmax(z, axis=1)", new() { ["z"] = values }, null));
            list.Add(($"softmax axis=0 {label}", ZT + "y = softmax(z, axis=0)", new() { ["z"] = Transposed(values) }, null));
            list.Add(($"log_softmax {label}", Z + "y = log_softmax(z, axis=1)", new() { ["z"] = values }, null));
            list.Add(($"log_softmax axis=0 {label}", ZT + "y = log_softmax(z, axis=0)", new() { ["z"] = Transposed(values) }, null));
            list.Add(($"logsumexp {label}", Z + "y = logsumexp(z, axis=1)", new() { ["z"] = values }, null));
            list.Add(($"logsumexp axis=0 keepdims {label}", ZT + "y = logsumexp(z, axis=0, keepdims=true)", new() { ["z"] = Transposed(values) }, null));
            list.Add(($"sparse cross-entropy {label}", Z + "input t: i64[3]\ny = sparse_softmax_cross_entropy(z, t, axis=1)",
                new() { ["z"] = values, ["t"] = [3, 0, 2] }, null));
            list.Add(($"sparse cross-entropy ignore/smoothing/weights {label}", Z + "input t: i64[3]\ninput w: f64[4]\n" +
                "y = sparse_softmax_cross_entropy(z, t, weights=w, axis=1, ignore_index=-1, label_smoothing=0.1)",
                new() { ["z"] = values, ["t"] = [3, -1, 2], ["w"] = [0.5, 1, 2, 1.5] }, ["z"]));
            list.Add(($"softmax_cross_entropy {label}", Z + "input p: f64[3, 4]\ny = softmax_cross_entropy(z, p, axis=1, normalized=true)",
                new() { ["z"] = values, ["p"] = Probs }, ["z"]));
            list.Add(($"softmax_cross_entropy weights {label}", Z + "input p: f64[3, 4]\ninput w: f64[4]\ny = softmax_cross_entropy(z, p, weights=w, axis=1)",
                new() { ["z"] = values, ["p"] = Probs, ["w"] = [0.5, 1, 2, 1.5] }, ["z"]));
            list.Add(($"logaddexp {label}", Z + "input b: f64[4]\ny = logaddexp(z, b)", new() { ["z"] = values, ["b"] = [NInf, 0.2, -3, 1000] }, null));
            list.Add(($"max and min {label}", Z + "y = sum(max(z, axis=1)) + sum(min(z, axis=0))", new() { ["z"] = values }, null));
            list.Add(($"gumbel_softmax {label}", Z + "y = gumbel_softmax(z, 0.5, axis=1, seed=3)", new() { ["z"] = values }, null));
            list.Add(($"masked softmax via where {label}", Z + "input m: f64[3, 4]\ny = softmax(where(m, z, -inf), axis=1)",
                new() { ["z"] = values.Select(v => double.IsFinite(v) ? v : 0).ToArray(), ["m"] = values.Select(v => double.IsFinite(v) ? 1.0 : 0).ToArray() }, ["z"]));
        }
        list.Add(("crf_log_partition with forbidden transitions and tags", "input e: f64[2, 3, 2]\ninput tr: f64[2, 2]\ny = crf_log_partition(e, tr)",
            new() { ["e"] = [0.1, NInf, 0.3, -0.4, 0.5, 0.6, 1, 2, -3, 0.4, 0.5, NInf], ["tr"] = [0, NInf, 0.5, 0.2] }, null));
        list.Add(("crf_log_partition at scores of 1e3", "input e: f64[2, 3, 2]\ninput tr: f64[2, 2]\ny = crf_log_partition(e, tr)",
            new() { ["e"] = [1000, -1000, 999.5, 1000.25, -1000, 1000, 0.5, 1000, 1000, -999, 998, 1001], ["tr"] = [0.3, 1, NInf, 0.2] }, null));
        // Soft targets that are differentiable: finite logits only (−log q at a zero-probability entry has no derivative).
        list.Add(("softmax_cross_entropy targets 1e3", Z + "input p: f64[3, 4]\ny = softmax_cross_entropy(z, p, axis=1)", new() { ["z"] = Large, ["p"] = Probs }, null));
        // Outputs of very different magnitudes would drown each other in the summed objective, so each case keeps one scale.
        foreach (var f in new[] { "softplus", "log_sigmoid", "sigmoid", "tanh", "relu" })
            list.Add(($"{f} at ±1e3 and ±inf", "input x: f64[8]\ny = " + f + "(x)", new() { ["x"] = [1000, -1000, 999, -999, 998.5, -998.5, Inf, NInf] }, null));
        list.Add(("exp at -1e3 and -inf", "input x: f64[4]\ny = exp(x)", new() { ["x"] = [-1000, -30, 0.5, NInf] }, null));
        list.Add(("pnorm at the zero vector", "input x: f64[2, 3]\ny = pnorm(x, 2, axis=1) + pnorm(x, 1, axis=1) + pnorm(x, 3, axis=1) + pnorm(x, inf, axis=1)",
            new() { ["x"] = [0, 0, 0, 1, -3, 2] }, null));
        list.Add(("pnorm at 1e20", "input x: f64[2, 3]\ny = pnorm(x, 2, axis=1) + pnorm(x, 1, axis=1) + pnorm(x, 3, axis=1)",
            new() { ["x"] = [1e20, -2e20, 3e20, 2e20, 1e20, -0.5e20] }, null));
        list.Add(("prod with zeros, negatives and an empty row", "input x: f64[4, 3]\ninput e: f64[2, 0]\ny = prod(x, axis=1) + sum(prod(e, axis=1))",
            new() { ["x"] = [0, 2, -3, 0, 0, 5, -1, -2, -3, 1.5, -0.5, 2], ["e"] = [] }, null));
        return list.ToArray();
    }

    public static TheoryData<string> Names()
    {
        var d = new TheoryData<string>();
        foreach (var c in Cases) d.Add(c.Name);
        return d;
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void FiniteEntriesMatchCentralDifferences(string name)
    {
        var (_, program, values, wrt) = Cases.Single(c => c.Name == name);
        var g = Parser.Parse(program);
        var x = g.Inputs.ToDictionary(i => ((InputOp)i.Op).InputName, i => Tensor.FromDoubles(i.DType, i.Shape, values[((InputOp)i.Op).InputName]));
        var r = GradientChecker.Check(g, x, wrt);
        Assert.True(r.Passed, $"{name}: {r}");
        int finite = (wrt ?? g.Inputs.Where(i => i.DType.IsFloat()).Select(i => ((InputOp)i.Op).InputName)).Sum(n => values[n].Count(double.IsFinite));
        Assert.Equal(finite, r.Checked);

        // The tape's gradient itself never has NaN at a finite input element unless that element's row holds a NaN.
        var (_, grads) = new Tape(g).Run(x, Tensor.Full(DType.F64, g.Output.Shape, 1));
        foreach (var (input, grad) in grads)
            for (int i = 0; i < grad.Size; i++)
                if (double.IsFinite(values[input][i]) && !RowHasNaN(values[input], i, g.Input(input).Shape))
                    Assert.False(double.IsNaN(grad.GetDouble(i)), $"{name}: d/d{input}[{i}] is NaN");
    }

    /// <summary>True if the element's row (along the last axis) or column (along the first) holds a NaN.</summary>
    private static bool RowHasNaN(double[] v, int i, Shape s)
    {
        if (s.Rank < 2) return v.Any(double.IsNaN);
        int n = s[^1], rows = s.Size / n;
        return Enumerable.Range(0, n).Any(j => double.IsNaN(v[i / n * n + j])) || Enumerable.Range(0, rows).Any(r => double.IsNaN(v[r * n + i % n]));
    }
}
