namespace Autodiff;

/// <summary>How a node's backward writes one operand's gradient buffer.</summary>
internal enum GradientWrite
{
    /// <summary>No gradient flows to the operand.</summary>
    None,
    /// <summary>Add into the buffer (it was zeroed before the backward, or an earlier node of the sweep wrote it).</summary>
    Accumulate,
    /// <summary>Write every element: this node is the first writer in the sweep and the buffer is not zeroed.</summary>
    Overwrite,
}

/// <summary>Everything a <see cref="Tape"/> decides once, from the graph and the ops' declarations alone (no kernel runs,
/// no buffer is allocated): the topological order; the nodes that need a gradient; the <em>tail</em> (nodes near the
/// output whose backward reads no forward value and whose consumers are all in the tail), the <em>heads</em> (nodes just
/// below the tail whose op fuses forward and backward) and the backward sweep (tail, heads, then the rest in reverse
/// topological order); each gradient edge's write mode; and the gradient buffers to zero before a backward (those not
/// overwritten by their first writer). See <see cref="Tape"/> for how it is run.</summary>
internal sealed class TapePlan
{
    private readonly Dictionary<Node, int> _slot = new(ReferenceEqualityComparer.Instance);
    private readonly bool[] _needs;
    private readonly GradientWrite[][] _writes;
    private readonly bool[] _head;

    private TapePlan(Graph graph, IEnumerable<string>? wrt)
    {
        Order = graph.Nodes();
        var declared = new HashSet<Node>(graph.Inputs, ReferenceEqualityComparer.Instance);
        foreach (var n in Order)
            if (n.Op is InputOp io && !declared.Contains(n))
                throw new AutodiffException($"input '{io.InputName}' is used by the output but is not an input of this graph; build the graph after declaring it");
        for (int i = 0; i < Order.Count; i++) _slot[Order[i]] = i;
        Wrt = wrt is null ? graph.Inputs.Where(i => i.DType.IsFloat()).ToArray() : wrt.Select(graph.Input).ToArray();
        foreach (var w in Wrt)
            if (!w.DType.IsFloat()) throw new AutodiffException($"gradient: input '{((InputOp)w.Op).InputName}' is {w.DType.Name()}, not a float type");

        int count = Order.Count;
        var wrtSet = new HashSet<Node>(Wrt, ReferenceEqualityComparer.Instance);
        _needs = new bool[count];
        _writes = new GradientWrite[count][];
        // with several outputs only the first is differentiated: the nodes only the others read need no gradient
        var differentiated = graph.HasSeveralOutputs ? new HashSet<Node>(Graph.TopologicalOrder([graph.Output]), ReferenceEqualityComparer.Instance) : null;
        for (int i = 0; i < count; i++)
        {
            var n = Order[i];
            _writes[i] = new GradientWrite[n.Inputs.Count];
            _needs[i] = (differentiated is null || differentiated.Contains(n))
                && (wrtSet.Contains(n) || n.Inputs.Select((x, j) => (x, j)).Any(p => _needs[_slot[p.x]] && n.Op.IsDifferentiable(n, p.j)));
            if (n.Op is InputOp) continue;
            for (int j = 0; j < n.Inputs.Count; j++)
                if (_needs[_slot[n.Inputs[j]]] && n.Op.IsDifferentiable(n, j)) _writes[i][j] = GradientWrite.Accumulate;
        }
        OutputSlot = _slot[graph.Output];
        (Tail, _head, Sweep) = PlanSweep();
        Fuses = _head.Contains(true) && _needs[OutputSlot];
        ZeroBeforeBackward = PlanWrites();
    }

    /// <summary>Plans <paramref name="graph"/>, differentiating the inputs named <paramref name="wrt"/> (default: every
    /// float input).</summary>
    public static TapePlan Of(Graph graph, IEnumerable<string>? wrt = null) => new(graph, wrt);

    /// <summary>The nodes in topological order; a node's index in it is its slot.</summary>
    public IReadOnlyList<Node> Order { get; }

    /// <summary>The inputs to differentiate.</summary>
    public IReadOnlyList<Node> Wrt { get; }

    /// <summary>The output's slot.</summary>
    public int OutputSlot { get; }

    /// <summary>The slot of <paramref name="n"/>, or -1 when the output does not depend on it.</summary>
    public int SlotOf(Node n) => _slot.TryGetValue(n, out int s) ? s : -1;

    /// <summary>True for a node on a path from a differentiated input to the output: it has a gradient buffer.</summary>
    public bool NeedsGradient(int slot) => _needs[slot];

    /// <summary>How node <paramref name="slot"/>'s backward writes operand <paramref name="operand"/>'s gradient.</summary>
    public GradientWrite Write(int slot, int operand) => _writes[slot][operand];

    /// <summary>The write modes of node <paramref name="slot"/>'s operands.</summary>
    public IReadOnlyList<GradientWrite> Writes(int slot) => _writes[slot];

    /// <summary>The tail, in reverse topological order (see the class remarks).</summary>
    public IReadOnlyList<int> Tail { get; }

    /// <summary>True for a head (see the class remarks).</summary>
    public bool IsHead(int slot) => _head[slot];

    /// <summary>The backward sweep: the tail, the heads, then every other node in reverse topological order.</summary>
    public IReadOnlyList<int> Sweep { get; }

    /// <summary>True when <see cref="Tape.Run"/> fuses: there are heads and a gradient flows from the output.</summary>
    public bool Fuses { get; }

    /// <summary>The slots whose gradient buffer is zeroed before each backward.</summary>
    public IReadOnlyList<int> ZeroBeforeBackward { get; }

    /// <summary>True when node <paramref name="slot"/>'s backward runs in the sweep: it has a gradient and is computed.</summary>
    private bool Backpropagates(int slot) => _needs[slot] && Order[slot].Op is not InputOp;

    private (int[] Tail, bool[] Head, int[] Sweep) PlanSweep()
    {
        int count = Order.Count;
        var consumers = new List<int>[count];
        for (int i = 0; i < count; i++) consumers[i] = [];
        for (int i = 0; i < count; i++)
        {
            if (!Backpropagates(i)) continue;
            for (int j = 0; j < _writes[i].Length; j++)
                if (_writes[i][j] != GradientWrite.None) consumers[_slot[Order[i].Inputs[j]]].Add(i);
        }
        var inTail = new bool[count];
        var head = new bool[count];
        var tail = new List<int>();
        for (int i = count - 1; i >= 0; i--)
        {
            var n = Order[i];
            if (!Backpropagates(i) || n.Op is ConstantOp) continue;
            bool below = consumers[i].TrueForAll(k => inTail[k]);
            var needed = _writes[i].Select(w => w != GradientWrite.None).ToArray();
            if (below && !n.Op.BackwardReadsForwardValues(n, needed))
            {
                inTail[i] = true;
                tail.Add(i);
            }
            else if (below && n.Op.FusesForwardBackward)
            {
                head[i] = true;
            }
        }
        if (!head.Contains(true)) return ([], head, [.. Enumerable.Range(0, count).Reverse()]);
        var sweep = new List<int>(tail);
        for (int i = 0; i < count; i++)
            if (head[i]) sweep.Add(i);
        for (int i = count - 1; i >= 0; i--)
            if (!inTail[i] && !head[i]) sweep.Add(i);
        return ([.. tail], head, [.. sweep]);
    }

    /// <summary>For each gradient buffer, its first writer in the sweep (the seed for the output): when that node's op
    /// can overwrite the operand (and the operand occurs once among its operands), its edge is planned
    /// <see cref="GradientWrite.Overwrite"/> and the buffer is not zeroed; otherwise the buffer is zeroed before each
    /// backward. Returns the slots to zero.</summary>
    private int[] PlanWrites()
    {
        var written = new bool[Order.Count];
        var zero = new List<int>();
        written[OutputSlot] = true;
        foreach (int i in Sweep)
        {
            if (!Backpropagates(i)) continue;
            var n = Order[i];
            for (int j = 0; j < _writes[i].Length; j++)
            {
                if (_writes[i][j] == GradientWrite.None) continue;
                int s = _slot[n.Inputs[j]];
                if (written[s]) continue;
                written[s] = true;
                bool once = Enumerable.Range(0, n.Inputs.Count).Count(k => _writes[i][k] != GradientWrite.None && ReferenceEquals(n.Inputs[k], n.Inputs[j])) == 1;
                if (once && n.Op.CanOverwriteGradient(n, j)) _writes[i][j] = GradientWrite.Overwrite;
                else zero.Add(s);
            }
        }
        for (int s = 0; s < Order.Count; s++)
            if (_needs[s] && !written[s]) zero.Add(s);
        return [.. zero];
    }
}
