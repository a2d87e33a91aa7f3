namespace Autodiff;

/// <summary>Tolerances of a gradient check: an element passes when |analytic − numeric| ≤ Atol + Rtol·|numeric|
/// (the rule of PyTorch's gradcheck). <see cref="Step"/> is the central-difference step, scaled by max(1, |x|).</summary>
public sealed record GradCheckOptions(double Atol = 1e-5, double Rtol = 1e-3, double Step = 1e-6);

/// <summary>The outcome of a gradient check.</summary>
/// <param name="Passed">True if every element is within tolerance.</param>
/// <param name="Checked">Number of gradient elements compared.</param>
/// <param name="MaxAbsError">Largest |analytic − numeric|.</param>
/// <param name="MaxRelError">Largest |analytic − numeric| / max(|numeric|, tiny).</param>
/// <param name="Failures">The first few failing elements, as text.</param>
public sealed record GradCheckResult(bool Passed, int Checked, double MaxAbsError, double MaxRelError, IReadOnlyList<string> Failures)
{
    /// <inheritdoc/>
    public override string ToString() =>
        $"{(Passed ? "passed" : "FAILED")}: {Checked} elements, max abs error {MaxAbsError:G3}, max rel error {MaxRelError:G3}" +
        (Failures.Count > 0 ? Environment.NewLine + string.Join(Environment.NewLine, Failures) : "");
}

/// <summary>Checks the tape's gradients against central finite differences computed in double precision, and the float
/// path against the double path.</summary>
public static class GradientChecker
{
    /// <summary>Converts the graph and inputs to float64, computes the tape's gradient of Σ(output · cotangent)
    /// (cotangent = 1 for a scalar output, else a fixed pseudo-random tensor) and compares each element with the central difference.
    /// At edge values only the finite part is compared: input elements that are not finite (±inf, NaN) are not perturbed,
    /// and output elements that are not finite at the given inputs get cotangent 0 (they are left out of the objective), so
    /// logits with −inf entries or a batch with one NaN row check the derivatives of the finite entries.</summary>
    public static GradCheckResult Check(Graph graph, IReadOnlyDictionary<string, Tensor> inputs, IEnumerable<string>? wrt = null, GradCheckOptions? options = null)
    {
        var (o, g64, x64, names) = InFloat64(graph, inputs, wrt, options);
        var cot = g64.Output.Shape.Size == 1 ? Tensor.Full(DType.F64, g64.Output.Shape, 1) : Tensor.RandomNormal(DType.F64, g64.Output.Shape, new Random(12345));
        var tape = new Tape(g64, names);
        var y0 = tape.Forward(x64);
        for (int i = 0; i < y0.Size; i++) if (!double.IsFinite(y0.GetDouble(i))) cot.SetDouble(i, 0);
        var analytic = tape.Backward(cot).ToDictionary(kv => kv.Key, kv => kv.Value.Clone());

        double Objective()
        {
            var y = tape.Forward(x64);
            double s = 0;
            for (int i = 0; i < y.Size; i++) if (cot.GetDouble(i) != 0) s += y.GetDouble(i) * cot.GetDouble(i);
            return s;
        }

        var tally = new Tally(o);
        foreach (var name in names)
        {
            var x = x64[name] = x64[name].Clone();
            var a = analytic[name];
            for (int i = 0; i < x.Size; i++)
            {
                double v = x.GetDouble(i), h = o.Step * Math.Max(1, Math.Abs(v));
                if (!double.IsFinite(v)) continue;
                x.SetDouble(i, v + h);
                double up = Objective();
                x.SetDouble(i, v - h);
                double down = Objective();
                x.SetDouble(i, v);
                tally.Add(a.GetDouble(i), (up - down) / (2 * h), () => $"d/d{name}[{i}]");
            }
        }
        return tally.Result();
    }

    /// <summary>Second-order check, like PyTorch's <c>gradgradcheck</c>: converts the graph and inputs to float64, and for
    /// each element i of the differentiated inputs compares the Hessian-vector product along the unit vector e_i
    /// (<see cref="Gradient.Hvp"/>, the symbolic second derivative evaluated by the tape) with the central difference of
    /// the tape's gradient, (∇f(x + h·e_i) − ∇f(x − h·e_i)) / 2h, entry by entry (all n² second derivatives). A
    /// non-scalar output is contracted with a fixed pseudo-random cotangent first. Input elements that are not finite
    /// are not perturbed.</summary>
    public static GradCheckResult GradGradCheck(Graph graph, IReadOnlyDictionary<string, Tensor> inputs, IEnumerable<string>? wrt = null, GradCheckOptions? options = null)
    {
        var (o, g64, x64, names) = InFloat64(graph, inputs, wrt, options);
        var scalar = g64;
        if (g64.Output.Shape.Size != 1)
        {
            var taken = g64.Inputs.Select(i => ((InputOp)i.Op).InputName).ToHashSet();
            var cname = "cotangent";
            for (int k = 2; taken.Contains(cname); k++) cname = "cotangent" + k;
            var c = g64.Builder.Input(cname, DType.F64, g64.Output.Shape);
            x64[cname] = Tensor.RandomNormal(DType.F64, g64.Output.Shape, new Random(12345));
            scalar = new Graph(g64.Builder, [.. g64.Inputs, c.Node], (g64.Output.Expr * c).Sum().Node, g64.Names);
        }
        var hvp = Gradient.Hvp(scalar, names);
        var tape = new Tape(scalar, names);
        var v = names.ToDictionary(n => n, n => Tensor.Zeros(DType.F64, scalar.Input(n).Shape));
        var tally = new Tally(o);
        foreach (var name in names)
        {
            var x = x64[name] = x64[name].Clone();
            for (int i = 0; i < x.Size; i++)
            {
                double xi = x.GetDouble(i), h = o.Step * Math.Max(1, Math.Abs(xi));
                if (!double.IsFinite(xi)) continue;
                v[name].SetDouble(i, 1);
                var outs = hvp.Evaluate(x64, v);
                var analytic = names.ToDictionary(n => n, n => outs[hvp.Graph.Outputs[1 + names.Length + Array.IndexOf(names, n)].Name].Clone());
                v[name].SetDouble(i, 0);
                x.SetDouble(i, xi + h);
                var up = tape.Run(x64).Gradients.ToDictionary(kv => kv.Key, kv => kv.Value.Clone());
                x.SetDouble(i, xi - h);
                var down = tape.Run(x64).Gradients;
                x.SetDouble(i, xi);
                foreach (var other in names)
                    for (int j = 0; j < analytic[other].Size; j++)
                        tally.Add(analytic[other].GetDouble(j), (up[other].GetDouble(j) - down[other].GetDouble(j)) / (2 * h), () => $"d²/d{other}[{j}]d{name}[{i}]");
            }
        }
        return tally.Result();
    }

    /// <summary>The options (defaults if null), the graph and the inputs in float64, and the inputs to differentiate
    /// (<paramref name="wrt"/>, or every float input).</summary>
    private static (GradCheckOptions Options, Graph Graph, Dictionary<string, Tensor> Inputs, string[] Wrt) InFloat64(
        Graph graph, IReadOnlyDictionary<string, Tensor> inputs, IEnumerable<string>? wrt, GradCheckOptions? options)
    {
        var g64 = graph.ToDType(DType.F64);
        var x64 = inputs.ToDictionary(kv => kv.Key, kv => kv.Value.DType.IsFloat() ? kv.Value.Cast(DType.F64) : kv.Value);
        var names = (wrt ?? g64.Inputs.Where(i => i.DType.IsFloat()).Select(i => ((InputOp)i.Op).InputName)).ToArray();
        return (options ?? new GradCheckOptions(), g64, x64, names);
    }

    /// <summary>The element-by-element comparison of analytic and numeric derivatives, with PyTorch's rule
    /// |analytic − numeric| ≤ Atol + Rtol·|numeric| (NaN on both sides counts as equal), keeping the first 10 failures.</summary>
    private sealed class Tally(GradCheckOptions o)
    {
        private readonly List<string> _failures = [];
        private int _count;
        private double _maxAbs, _maxRel;

        public void Add(double ana, double num, Func<string> what)
        {
            double err = Math.Abs(ana - num);
            if (double.IsNaN(num) && double.IsNaN(ana)) err = 0;
            _count++;
            _maxAbs = Math.Max(_maxAbs, err);
            _maxRel = Math.Max(_maxRel, err / Math.Max(Math.Abs(num), 1e-300));
            if (!(err <= o.Atol + o.Rtol * Math.Abs(num)) && _failures.Count < 10)
                _failures.Add($"  {what()}: analytic {ana:R}, numeric {num:R}");
        }

        public GradCheckResult Result() => new(_failures.Count == 0, _count, _maxAbs, _maxRel, _failures);
    }

    /// <summary>Runs the graph in float32 and float64 on the same inputs and returns the largest relative difference of the
    /// output and the gradients, relative to each tensor's largest float64 magnitude.</summary>
    public static double CompareFloatToDouble(Graph graph, IReadOnlyDictionary<string, Tensor> inputs, IEnumerable<string>? wrt = null)
    {
        double worst = 0;
        var runs = new[] { DType.F32, DType.F64 }.Select(dt =>
        {
            var g = graph.ToDType(dt);
            var x = inputs.ToDictionary(kv => kv.Key, kv => kv.Value.DType.IsFloat() ? kv.Value.Cast(dt) : kv.Value);
            var cot = g.Output.Shape.Size == 1 ? null : Tensor.RandomNormal(dt, g.Output.Shape, new Random(12345));
            var tape = new Tape(g, wrt);
            var (v, grads) = tape.Run(x, cot);
            return (Value: v.Clone(), Grads: grads.ToDictionary(kv => kv.Key, kv => kv.Value.Clone()));
        }).ToArray();
        worst = Math.Max(worst, RelDiff(runs[0].Value, runs[1].Value));
        foreach (var (k, v) in runs[1].Grads) worst = Math.Max(worst, RelDiff(runs[0].Grads[k], v));
        return worst;
    }

    private static double RelDiff(Tensor a, Tensor b)
    {
        double scale = 0, diff = 0;
        for (int i = 0; i < b.Size; i++) if (double.IsFinite(b.GetDouble(i))) scale = Math.Max(scale, Math.Abs(b.GetDouble(i)));
        for (int i = 0; i < b.Size; i++)
        {
            double x = a.GetDouble(i), y = b.GetDouble(i);
            if (x.Equals(y)) continue;
            diff = Math.Max(diff, double.IsFinite(x) && double.IsFinite(y) ? Math.Abs(x - y) : double.PositiveInfinity);
        }
        return diff == 0 ? 0 : diff / Math.Max(scale, 1e-300);
    }
}
