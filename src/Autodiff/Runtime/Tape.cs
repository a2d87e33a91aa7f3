namespace Autodiff;

/// <summary>Reverse-mode evaluation of a <see cref="Graph"/>. Built once per graph: it orders the nodes, allocates a value
/// buffer per node and a gradient buffer per node on a path from a differentiated input to the output, plans which
/// gradient buffers must be zeroed before each backward, and then runs forward and backward any number of times with new
/// input values, reusing every buffer (a forward+backward of a built tape allocates nothing in the tape itself).
/// The forward pass keeps each node's value (and the op's saved state), which is what each op's backward reads;
/// the backward sweep visits the nodes in reverse topological order and accumulates, so fan-out sums correctly.
/// A gradient buffer whose first writer in the sweep is an op that can overwrite it (<see cref="Op.CanOverwriteGradient"/>) is
/// not zeroed: that op writes every element instead of adding. These decisions are a <see cref="TapePlan"/>, made once.
/// <para>Early gradients: the <em>tail</em> of the graph is the set of nodes near the output whose backward reads no forward
/// value (sum, mean, reshape, negation, addition, scaling by a constant ...) and whose consumers are all in the tail. Its
/// gradients are known before the forward runs. A node just below the tail (every consumer in the tail) whose op fuses
/// forward and backward (the fused softmax cross-entropies and logsumexp) is a <em>head</em>: <see cref="Run"/> computes
/// the tail's backward first and then each head's value and gradient in one pass over its operands, while they are in
/// cache, instead of reading them again in the backward. The sweep order is the same for <see cref="Backward"/>: the tail,
/// the heads, then the other nodes in reverse topological order, so both give the same gradients.</para>
/// <para>Threads: a tape belongs to one thread at a time. Its buffers hold one evaluation, and the value and gradients
/// it returns are its own tensors, overwritten by the next call. A <see cref="Run"/>, <see cref="Forward"/> or
/// <see cref="Backward"/> that starts while another is running on the same tape throws
/// <see cref="InvalidOperationException"/>. To evaluate in parallel, give each thread its own tape over the same graph
/// (graphs and <see cref="GraphBuilder"/> are safe to share):
/// <code>
/// Parallel.For(0, batches.Length, () => new Tape(graph), (i, _, tape) => { var (v, g) = tape.Run(batches[i]); Use(v, g); return tape; }, _ => { });
/// </code></para></summary>
public sealed class Tape
{
    private readonly Graph _graph;
    private readonly TapePlan _plan;
    private readonly Tensor?[] _values;
    private readonly Tensor?[] _grads;
    private readonly OpContext?[] _contexts;
    private readonly Tensor[] _zeroBeforeBackward;
    private readonly (OpContext Context, int Operand)[][] _bindings;
    private readonly int[] _inputSlots;
    private readonly int[] _tail, _sweep;
    private readonly Node[] _wrt;
    private readonly bool[] _head;
    private readonly Dictionary<string, Tensor> _result = new();
    private bool _forwardDone;
    private int _busy;
    private long _mark, _scratchPeak;

    /// <summary>Prepares the graph for evaluation. <paramref name="wrt"/> names the inputs to differentiate
    /// (default: every float input). The buffers must fit in <see cref="MemoryBudget.Default"/>.</summary>
    public Tape(Graph graph, IEnumerable<string>? wrt = null) : this(graph, wrt, MemoryBudget.Default) { }

    /// <summary>Prepares the graph for evaluation with its buffers limited to <paramref name="memoryBudget"/> bytes: a graph
    /// whose value and gradient buffers add up to more throws a <see cref="MemoryBudgetException"/> (naming the largest
    /// node, and its position in the program text when the graph was parsed) before anything is allocated.</summary>
    public Tape(Graph graph, IEnumerable<string>? wrt, long memoryBudget)
    {
        ArgumentNullException.ThrowIfNull(graph);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(memoryBudget);
        _graph = graph;
        _plan = TapePlan.Of(graph, wrt);
        var order = _plan.Order;
        var buffers = new List<Node>();
        for (int i = 0; i < order.Count; i++)
        {
            if (_plan.NeedsGradient(i)) buffers.Add(order[i]);
            if (order[i].Op is not InputOp) buffers.Add(order[i]);
        }
        MemoryBudget.Require(graph, buffers, memoryBudget);
        _values = new Tensor?[order.Count];
        _grads = new Tensor?[order.Count];
        _contexts = new OpContext?[order.Count];
        for (int i = 0; i < order.Count; i++)
        {
            var n = order[i];
            if (_plan.NeedsGradient(i)) _grads[i] = Tensor.Zeros(n.DType, n.Shape);
            if (n.Op is not InputOp) _values[i] = Tensor.Zeros(n.DType, n.Shape);
        }
        var bindings = order.Select(_ => new List<(OpContext, int)>()).ToArray();
        for (int i = 0; i < order.Count; i++)
        {
            var n = order[i];
            if (n.Op is InputOp) continue;
            var ins = n.Inputs.Select(x => _values[_plan.SlotOf(x)]!).ToArray();
            var gins = n.Inputs.Select((x, j) => _plan.Write(i, j) == GradientWrite.None ? null : _grads[_plan.SlotOf(x)]).ToArray();
            var c = _contexts[i] = new OpContext(n, ins, _values[i]!, n.Op.CreateState(n), gins, _plan.Writes(i));
            for (int j = 0; j < n.Inputs.Count; j++)
                if (n.Inputs[j].Op is InputOp) bindings[_plan.SlotOf(n.Inputs[j])].Add((c, j));
            if (n.Op is ConstantOp) n.Op.Forward(c);
        }
        _inputSlots = graph.Inputs.Select(_plan.SlotOf).ToArray();
        _bindings = bindings.Select(b => b.ToArray()).ToArray();
        _zeroBeforeBackward = _plan.ZeroBeforeBackward.Select(s => _grads[s]!).ToArray();
        _wrt = [.. _plan.Wrt];
        (_tail, _sweep, _head) = ([.. _plan.Tail], [.. _plan.Sweep], [.. Enumerable.Range(0, order.Count).Select(_plan.IsHead)]);
    }

    /// <summary>Whether <see cref="Forward"/> and <see cref="Run"/> check every input value against the facts declared on
    /// it (<see cref="InputFacts.Check"/>: probs, positive, classes) and throw an <see cref="InputFactException"/> before
    /// computing anything when one is violated. On by default: the simplifier's rewrites rely on those facts (the q − p
    /// gradient on probs, prod on positive), so a violated fact would otherwise give a wrong gradient silently. The check
    /// is one pass over each input that declares a fact (docs/numerics.md gives its measured cost); turn it off in a
    /// speed-critical loop whose inputs are known to be valid.</summary>
    public bool CheckFacts { get; init; } = true;

    /// <summary>Anomaly detection (PyTorch's <c>detect_anomaly</c>, JAX's <c>debug_nans</c>): off by default, at no cost.
    /// With <see cref="NonFiniteCheck.Report"/> or <see cref="NonFiniteCheck.Throw"/>, every pass looks, node by node, for
    /// the first node whose value (forward) or whose operands' gradient contribution (backward) holds NaN or ±inf while
    /// everything it read was finite (its operands' values, and in the backward its own gradient): that node is where the
    /// computation went non-finite. Report records it in <see cref="FirstNonFinite"/>; Throw raises a
    /// <see cref="NonFiniteException"/> there. Either way <see cref="Run"/> then runs the forward and the backward as two
    /// passes (the same results), and each node's output is scanned once, so a checked pass is slower.</summary>
    public NonFiniteCheck DetectNonFinite { get; init; }

    /// <summary>With <see cref="DetectNonFinite"/> on, the first node of the last pass whose value or gradient went
    /// non-finite from finite operands, or null (none, or detection off). Reset by each <see cref="Forward"/> and <see cref="Run"/>.</summary>
    public NonFiniteLocation? FirstNonFinite { get; private set; }

    /// <summary>The heads (see the class remarks): the nodes <see cref="Run"/> evaluates with their backward in one pass.</summary>
    public IReadOnlyList<Node> FusedHeads => [.. _plan.Order.Where((_, i) => _plan.IsHead(i))];

    /// <summary>Bytes of the tape's intermediate buffers: everything but the inputs and their gradients, i.e. the value
    /// and gradient buffers of every other node (the output's too), the arrays the ops keep between passes (row statistics,
    /// saved indices: counted when allocated, so after a pass), and the peak of the scratch arrays rented from the pool
    /// during any pass so far (pooled, per-thread and per-block scratch of the kernels, counted by their rounded-up
    /// lengths; see <c>Pool</c>). The scratch counter is process-wide, so a pass that overlaps another thread's work on
    /// another tape also counts that work's scratch: measure with one tape running.</summary>
    public long IntermediateBytes
    {
        get
        {
            long total = _scratchPeak;
            for (int i = 0; i < _values.Length; i++)
            {
                if (_plan.Order[i].Op is InputOp) continue;
                total += TensorBytes(_values[i]) + TensorBytes(_grads[i]) + StateBytes.Of(_contexts[i]?.State);
            }
            return total;
        }
    }

    private static long TensorBytes(Tensor? t) => t is null ? 0 : (long)t.Size * t.DType.ByteSize();

    /// <summary>The graph being evaluated.</summary>
    public Graph Graph => _graph;

    /// <summary>The output value of the last forward pass.</summary>
    public Tensor Value => _forwardDone ? _values[_plan.OutputSlot]! : throw new InvalidOperationException("call Forward first");

    /// <summary>The value of every output (<see cref="Graph.Outputs"/>) of the last forward pass, by output name; the
    /// tensors are the tape's own (an output that is an input is the tensor that was passed in).</summary>
    public IReadOnlyDictionary<string, Tensor> Outputs
    {
        get
        {
            if (!_forwardDone) throw new InvalidOperationException("call Forward first");
            var d = new Dictionary<string, Tensor>(StringComparer.Ordinal);
            foreach (var (name, node) in _graph.Outputs) d[name] = _values[_plan.SlotOf(node)]!;
            return d;
        }
    }

    /// <summary>Runs the forward pass and returns every output by name (<see cref="Outputs"/>): how a graph with several
    /// outputs, such as one from <see cref="Gradient.Of"/>, is evaluated.</summary>
    public IReadOnlyDictionary<string, Tensor> Evaluate(IReadOnlyDictionary<string, Tensor> inputs)
    {
        Forward(inputs);
        return Outputs;
    }

    /// <summary>Runs the forward pass on the given input values (by input name). Every input the output depends on must be given,
    /// with the declared element type and shape.</summary>
    public Tensor Forward(IReadOnlyDictionary<string, Tensor> inputs)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Enter(nameof(Forward));
        try
        {
            BindInputs(inputs);
            return ForwardPass(fuseHeads: false);
        }
        finally { Leave(); }
    }

    /// <summary>Claims the tape for one call, or throws when another call is running on it: a tape's buffers belong to
    /// one evaluation at a time, and two threads sharing it would silently read each other's values.</summary>
    private void Enter(string call)
    {
        if (Interlocked.CompareExchange(ref _busy, 1, 0) != 0)
            throw new InvalidOperationException(
                $"Tape.{call}: another Run, Forward or Backward is running on this tape. A tape belongs to one thread at a time " +
                "(its buffers hold one evaluation); for parallel evaluation give each thread its own Tape over the same graph.");
        _mark = Pool.Mark();
        _callerDegree = Kernels.Parallelism.DegreeOfParallelism;
        if (_degree > 0) Kernels.Parallelism.DegreeOfParallelism = _degree;
    }

    private void Leave()
    {
        Kernels.Parallelism.DegreeOfParallelism = _callerDegree;
        _scratchPeak = Math.Max(_scratchPeak, Pool.PeakSince(_mark));
        Volatile.Write(ref _busy, 0);
    }

    private int _degree, _callerDegree;

    /// <summary>The most threads a kernel of this tape's passes is split across (the calling thread and persistent
    /// workers): 1 runs every kernel on the calling thread. Defaults to <see cref="Environment.ProcessorCount"/>. It holds
    /// for this tape's <see cref="Run"/>, <see cref="Forward"/> and <see cref="Backward"/> only; there is no global
    /// setting, so tapes on different threads can use different degrees.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The value is less than 1.</exception>
    public int DegreeOfParallelism
    {
        get => _degree > 0 ? _degree : Kernels.Parallelism.DegreeOfParallelism;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
            _degree = value;
        }
    }

    /// <summary>Every node's forward in topological order; with <paramref name="fuseHeads"/> each head's forward and backward
    /// in one pass (its output gradient is complete: the tail's backward has run).</summary>
    private Tensor ForwardPass(bool fuseHeads)
    {
        for (int i = 0; i < _contexts.Length; i++)
        {
            var c = _contexts[i];
            if (c is null || c.Node.Op is ConstantOp) continue;
            if (fuseHeads && _head[i])
            {
                c.GradOutput = _grads[i]!;
                c.Node.Op.ForwardBackward(c);
            }
            else
            {
                c.Node.Op.Forward(c);
                if (DetectNonFinite != NonFiniteCheck.Off && FirstNonFinite is null) CheckForward(c);
            }
        }
        _forwardDone = true;
        return _values[_plan.OutputSlot]!;
    }

    private void BindInputs(IReadOnlyDictionary<string, Tensor> inputs)
    {
        _forwardDone = false;
        FirstNonFinite = null;
        var declared = _graph.Inputs;
        for (int k = 0; k < declared.Count; k++)
        {
            var inNode = declared[k];
            var io = (InputOp)inNode.Op;
            int slot = _inputSlots[k];
            if (!inputs.TryGetValue(io.InputName, out var t))
            {
                if (slot >= 0) throw new AutodiffException($"input '{io.InputName}' ({io.Type.Name()}{io.Shape}) has no value");
                continue;
            }
            if (t.DType != io.Type || t.Shape != io.Shape)
                throw new AutodiffException($"input '{io.InputName}' is declared {io.Type.Name()}{io.Shape}, got {t.DType.Name()}{t.Shape}");
            if (CheckFacts && !ReferenceEquals(io.Facts, InputFacts.None) && io.Facts != InputFacts.None) io.Facts.Check(io.InputName, t);
            if (slot >= 0) Bind(slot, t);
        }
    }

    private void Bind(int slot, Tensor value)
    {
        _values[slot] = value;
        foreach (var (c, j) in _bindings[slot]) c.InputArray[j] = value;
    }

    /// <summary>The reverse sweep. For a scalar output the seed is 1; otherwise <paramref name="cotangent"/> (the output's shape)
    /// is required and the result is the vector-Jacobian product. Returns the gradients by input name; the dictionary and the
    /// tensors are the tape's own, overwritten by the next backward.</summary>
    public IReadOnlyDictionary<string, Tensor> Backward(Tensor? cotangent = null)
    {
        Enter(nameof(Backward));
        try
        {
            return BackwardPass(cotangent);
        }
        finally { Leave(); }
    }

    private IReadOnlyDictionary<string, Tensor> BackwardPass(Tensor? cotangent)
    {
        if (!_forwardDone) throw new InvalidOperationException("call Forward before Backward");
        if (Seed(cotangent))
        {
            foreach (int i in _sweep) BackwardAt(i);
        }
        return Gradients();
    }

    /// <summary>Checks the cotangent; when a gradient flows, writes the seed and zeroes the buffers the plan says to
    /// zero (returns true), otherwise zeroes every gradient (returns false).</summary>
    private bool Seed(Tensor? cotangent)
    {
        var output = _graph.Output;
        if (_grads[_plan.OutputSlot] is not { } seed)
        {
            foreach (var g in _grads) g?.Fill(0);
            return false;
        }

        if (cotangent is null)
        {
            if (output.Shape.Size != 1)
                throw new AutodiffException($"gradient: the output is {output.DType.Name()}{output.Shape}, not a scalar; pass a cotangent of that shape");
        }
        else if (cotangent.Shape != output.Shape)
        {
            throw new AutodiffException($"gradient: cotangent {cotangent.Shape} does not match the output {output.Shape}");
        }

        if (cotangent is null) seed.Fill(1);
        else seed.CopyFrom(cotangent.DType == output.DType ? cotangent : cotangent.Cast(output.DType));
        foreach (var g in _zeroBeforeBackward) g.Fill(0);
        return true;
    }

    private void BackwardAt(int i)
    {
        var c = _contexts[i];
        if (c is null || _grads[i] is null) return;
        c.GradOutput = _grads[i]!;
        c.Node.Op.Backward(c);
        if (DetectNonFinite != NonFiniteCheck.Off && FirstNonFinite is null) CheckBackward(c);
    }

    /// <summary>Records (or throws at) a node whose value is non-finite while its operands are finite.</summary>
    private void CheckForward(OpContext c)
    {
        if (!HasNonFinite(c.Output) || c.Inputs.Any(HasNonFinite)) return;
        Found(c.Node, "forward");
    }

    /// <summary>Records (or throws at) a node whose backward left a non-finite operand gradient while its own gradient,
    /// its operands and its value are finite.</summary>
    private void CheckBackward(OpContext c)
    {
        if (!c.InputGrads.Any(g => g is not null && HasNonFinite(g))) return;
        if (HasNonFinite(c.GradOutput) || HasNonFinite(c.Output) || c.Inputs.Any(HasNonFinite)) return;
        Found(c.Node, "backward");
    }

    private void Found(Node node, string pass)
    {
        var position = node.Builder.PositionOf(node);
        string text = _graph.Names.TryGetValue(node, out var name) ? name : Text.Printer.Brief(node);
        FirstNonFinite = new NonFiniteLocation(node, node.Op.Name, position?.Line, position?.Column, pass, text);
        if (DetectNonFinite == NonFiniteCheck.Throw) throw new NonFiniteException(FirstNonFinite);
    }

    private static bool HasNonFinite(Tensor t)
    {
        switch (t.Data)
        {
            case float[] f:
                foreach (var v in f) if (!float.IsFinite(v)) return true;
                return false;
            case double[] d:
                foreach (var v in d) if (!double.IsFinite(v)) return true;
                return false;
            default:
                return false;
        }
    }

    /// <summary>The gradients by input name (the tape's own dictionary and tensors).</summary>
    private IReadOnlyDictionary<string, Tensor> Gradients()
    {
        foreach (var w in _wrt)
        {
            var name = ((InputOp)w.Op).InputName;
            int s = _plan.SlotOf(w);
            if (s >= 0 && _grads[s] is { } g) _result[name] = g;
            else if (!_result.ContainsKey(name)) _result[name] = Tensor.Zeros(w.DType, w.Shape);
        }
        return _result;
    }

    /// <summary>Forward then backward in one call, with the same results as <see cref="Forward"/> followed by
    /// <see cref="Backward"/>. The value, the gradient dictionary and its tensors are the tape's own buffers, reused: the
    /// next call overwrites them (and returns the same dictionary), which is what keeps a training step from allocating.
    /// Copy what you keep across calls (<see cref="Tensor.Clone"/>, or <c>value.Item()</c> for a scalar loss). When the graph has heads (see the class remarks), the tail's backward runs first and each
    /// head computes its value and its operands' gradients in one pass.</summary>
    public (Tensor Value, IReadOnlyDictionary<string, Tensor> Gradients) Run(IReadOnlyDictionary<string, Tensor> inputs, Tensor? cotangent = null)
    {
        ArgumentNullException.ThrowIfNull(inputs);
        Enter(nameof(Run));
        try
        {
            if (!_plan.Fuses || DetectNonFinite != NonFiniteCheck.Off)
            {
                BindInputs(inputs);
                var v = ForwardPass(fuseHeads: false);
                return (v, BackwardPass(cotangent));
            }

            BindInputs(inputs);
            Seed(cotangent);
            foreach (int i in _tail) BackwardAt(i);
            var value = ForwardPass(fuseHeads: true);
            for (int k = _tail.Length; k < _sweep.Length; k++)
                if (!_head[_sweep[k]]) BackwardAt(_sweep[k]);
            return (value, Gradients());
        }
        finally { Leave(); }
    }
}

/// <summary>What a <see cref="Tape"/> does about non-finite values (see <see cref="Tape.DetectNonFinite"/>).</summary>
public enum NonFiniteCheck
{
    /// <summary>No check (the default; no cost).</summary>
    Off,

    /// <summary>Record the first node that went non-finite in <see cref="Tape.FirstNonFinite"/> and go on.</summary>
    Report,

    /// <summary>Throw a <see cref="NonFiniteException"/> at the first node that went non-finite.</summary>
    Throw,
}

/// <summary>The first node whose value or gradient went non-finite while everything it read was finite.</summary>
/// <param name="Node">The node.</param>
/// <param name="Op">Its op's name in the expression language (<c>exp</c>, <c>log</c>, <c>div</c>, <c>softmax</c>).</param>
/// <param name="Line">The 1-based line of the call that built it in the program text, or null (a graph built in C#).</param>
/// <param name="Column">The 1-based column of that call, or null.</param>
/// <param name="Pass"><c>forward</c> (its value) or <c>backward</c> (the gradient it passed to its operands).</param>
/// <param name="Expression">Its name in the program, or its expression (shortened to 120 characters).</param>
public sealed record NonFiniteLocation(Node Node, string Op, int? Line, int? Column, string Pass, string Expression)
{
    /// <summary>E.g. <c>exp (line 4, column 5), forward pass: e</c>.</summary>
    public override string ToString() =>
        $"{Op}{(Line is int l ? $" (line {l}, column {Column})" : "")}, {Pass} pass: {Expression}";
}

/// <summary>Thrown by a <see cref="Tape"/> with <see cref="NonFiniteCheck.Throw"/> at the first node that went non-finite.</summary>
public sealed class NonFiniteException : AutodiffException
{
    /// <summary>Creates the exception for <paramref name="location"/>.</summary>
    public NonFiniteException(NonFiniteLocation location)
        : base($"{location.Op}{(location.Line is int l ? $" at line {l}, column {location.Column}" : "")} produced a non-finite " +
               $"{(location.Pass == "forward" ? "value" : "gradient")} from finite operands in the {location.Pass} pass ({location.Expression})") =>
        Location = location;

    /// <summary>Where it happened.</summary>
    public NonFiniteLocation Location { get; }
}
