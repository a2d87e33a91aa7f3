using System.Numerics;

namespace Autodiff;

/// <summary>An operation of the graph. One subclass per op holds, in one place, the op's attributes (which take part
/// in hash-consing through record equality), its shape rule (<see cref="Infer"/>), its forward kernel call, its
/// vector-Jacobian product for the tape, its symbolic gradient (for printing backward graphs) and its printed form.</summary>
public abstract record Op
{
    /// <summary>The op's name in the expression language, e.g. <c>exp</c> or <c>softmax_cross_entropy</c>.</summary>
    public abstract string Name { get; }

    /// <summary>True for ops the simplifier introduces as fused replacements of subgraphs.</summary>
    public virtual bool IsFused => false;

    /// <summary>Checks the operands and returns the result's shape and element type, or throws a
    /// <see cref="ShapeException"/> that names this op and the shapes.</summary>
    public abstract (Shape Shape, DType DType) Infer(IReadOnlyList<Node> inputs);

    /// <summary>Extra arguments in printing order, after the operands: (null, value) for a positional one,
    /// (name, value) for a named one, each value as the language writes it.</summary>
    public virtual IEnumerable<(string? Name, string Value)> Attributes(Node node) => [];

    /// <summary>The language name of operand <paramref name="index"/> when the printer writes it as a named argument
    /// (<c>name=operand</c>), for optional operands that do not directly follow the required ones; null (the default)
    /// for an operand written positionally.</summary>
    public virtual string? OperandName(int index) => null;

    /// <summary>This op with its float element type attributes (if any) changed to <paramref name="dtype"/>.</summary>
    public virtual Op WithFloatType(DType dtype) => this;

    /// <summary>Per-node scratch state the tape creates once per compiled graph (for example saved row statistics).</summary>
    public virtual object? CreateState(Node node) => null;

    /// <summary>Computes the node's value into <see cref="OpContext.Output"/> (preallocated, to be overwritten).</summary>
    public virtual void Forward(OpContext c)
    {
        switch (FloatType(c.Node))
        {
            case DType.F32: Forward<float>(c); break;
            case DType.F64: Forward<double>(c); break;
            default: throw new NotSupportedException($"{Name}: no forward kernel for {c.Node.DType.Name()}");
        }
    }

    /// <summary>Accumulates (adds) the vector-Jacobian product into each non-null <see cref="OpContext.InputGrads"/> entry.</summary>
    public virtual void Backward(OpContext c)
    {
        switch (FloatType(c.Node))
        {
            case DType.F32: Backward<float>(c); break;
            case DType.F64: Backward<double>(c); break;
            default: throw new NotSupportedException($"{Name}: no backward kernel for {c.Node.DType.Name()}");
        }
    }

    /// <summary>Typed forward kernel; the float type is the node's own, or its first float operand's.</summary>
    protected virtual void Forward<T>(OpContext c) where T : unmanaged, IFloatingPointIeee754<T> =>
        throw new NotSupportedException($"{Name}: no forward kernel");

    /// <summary>Typed backward kernel.</summary>
    protected virtual void Backward<T>(OpContext c) where T : unmanaged, IFloatingPointIeee754<T> =>
        throw new NotSupportedException($"{Name}: no backward kernel");

    /// <summary>The gradient with respect to each operand as graph expressions, given the gradient <paramref name="g"/>
    /// of the output; null for operands that are not differentiable (integers, masks).
    /// Used to print backward graphs and as an oracle for the tape.</summary>
    public abstract Expr?[] Gradient(Node node, Expr g);

    /// <summary>False when the node's backward reads no value computed by the forward: only <see cref="OpContext.GradOutput"/>,
    /// the shapes, and the values of constants and graph inputs (bound before any op runs). The tape can then run this
    /// node's backward before the forward reaches it (see <see cref="FusesForwardBackward"/>). True by default.</summary>
    internal virtual bool BackwardReadsForwardValues(Node node, IReadOnlyList<bool> gradientNeeded) => true;

    /// <summary>True when this op's backward can overwrite operand <paramref name="operand"/>'s gradient buffer (write
    /// every element) instead of adding into it; the <see cref="TapePlan"/> then lets the first writer of a buffer in the
    /// sweep overwrite it, and the op reads the planned mode from <see cref="OpContext.Overwrites"/>. False by default.</summary>
    internal virtual bool CanOverwriteGradient(Node node, int operand) => false;

    /// <summary>True for an op whose <see cref="ForwardBackward"/> computes the value and the gradients in one pass over
    /// its operands, cheaper than <see cref="Forward(OpContext)"/> followed by <see cref="Backward(OpContext)"/>. The tape
    /// uses it in <see cref="Tape.Run"/> when the node's output gradient is known before its forward (every consumer's
    /// backward reads no forward values, e.g. a loss reduced by <c>mean</c>).</summary>
    internal virtual bool FusesForwardBackward => false;

    /// <summary>The forward, then the backward with <see cref="OpContext.GradOutput"/> already complete; leaves the
    /// node's value and saved state as <see cref="Forward(OpContext)"/> would. One pass (<see cref="ForwardBackward{T}"/>)
    /// when the op <see cref="FusesForwardBackward"/> and some operand needs a gradient.</summary>
    internal void ForwardBackward(OpContext c)
    {
        if (!FusesForwardBackward || !c.AnyGradient)
        {
            Forward(c);
            Backward(c);
            return;
        }

        switch (FloatType(c.Node))
        {
            case DType.F32: ForwardBackward<float>(c); break;
            case DType.F64: ForwardBackward<double>(c); break;
            default: throw new NotSupportedException($"{Name}: no forward+backward kernel for {c.Node.DType.Name()}");
        }
    }

    /// <summary>Typed one-pass forward and backward, for an op that <see cref="FusesForwardBackward"/>.</summary>
    private protected virtual void ForwardBackward<T>(OpContext c)
        where T : unmanaged, IFloatingPointIeee754<T> =>
        throw new NotSupportedException($"{Name}: no forward+backward kernel");

    /// <summary>Lowers node <paramref name="n"/> to ONNX: writes its value, computed from the operand values
    /// <paramref name="x"/>, to <paramref name="y"/> through <paramref name="onnx"/> (in opset
    /// <see cref="Interop.OnnxLowering.Opset"/>) and returns <paramref name="y"/>. The default throws: an op ONNX
    /// cannot express says why with a <see cref="NotExportableAttribute"/>; a lowering that refuses some cases (an
    /// element type) throws <see cref="Interop.OnnxLowering.NotExportable"/> with the reason.</summary>
    internal virtual string ToOnnx(Interop.OnnxLowering onnx, Node n, string[] x, string y) =>
        throw Interop.OnnxLowering.NotExportable(this, OpRegistry.NotExportableReason(GetType()));

    /// <summary>Why a gradient that reaches this node cannot be passed on to operands that depend on the differentiated
    /// inputs, or null (the default: <see cref="Gradient"/> is the derivative, or <see cref="IsDifferentiable"/> says on
    /// purpose that none flows). Set on ops that only ever appear inside another op's gradient and have no gradient of
    /// their own (the CRF marginals, the sampled losses' logit gradients) and on ops whose value is not differentiated
    /// (the Viterbi score): <see cref="SymbolicGradient"/>, and so <see cref="Gradient.Of"/> and the second-order
    /// functions, throw an error naming the op instead of returning a gradient that silently misses its part.</summary>
    public virtual string? NotDifferentiableReason(Node node) => null;

    /// <summary>True where operand <paramref name="index"/> can carry a gradient.</summary>
    public virtual bool IsDifferentiable(Node node, int index) => node.Inputs[index].DType.IsFloat();

    /// <summary>The float type the typed kernels run in: the node's own, or its first float operand's.</summary>
    private static DType FloatType(Node n)
    {
        if (n.DType.IsFloat()) return n.DType;
        foreach (var i in n.Inputs) if (i.DType.IsFloat()) return i.DType;
        return n.DType;
    }

    /// <summary>Throws unless <paramref name="n"/> has a float element type.</summary>
    protected void RequireFloat(Node n, string role = "operand")
    {
        if (!n.DType.IsFloat()) throw new ShapeException(Name, $"{role} must be f32 or f64, got {n.DType.Name()}{n.Shape}");
    }

    /// <summary>Throws unless all operands share one element type.</summary>
    protected void RequireSameDType(IReadOnlyList<Node> inputs)
    {
        for (int i = 1; i < inputs.Count; i++)
            if (inputs[i].DType != inputs[0].DType)
                throw new ShapeException(Name, $"operands have different element types: {string.Join(" and ", inputs.Select(x => x.DType.Name() + x.Shape))}");
    }
}

/// <summary>What an op's forward and backward kernels see for one node during a tape run. Read-only for the op: the tape
/// binds input values and sets the output gradient.</summary>
public sealed class OpContext
{
    private readonly IReadOnlyList<GradientWrite> _writes;

    internal OpContext(Node node, Tensor[] inputs, Tensor output, object? state, Tensor?[] inputGrads, IReadOnlyList<GradientWrite> writes)
    {
        Node = node;
        InputArray = inputs;
        Output = output;
        State = state;
        InputGrads = inputGrads;
        _writes = writes;
        AnyGradient = Array.Exists(inputGrads, g => g is not null);
    }

    /// <summary>The operand values, rebound by the tape when new input values are given.</summary>
    internal Tensor[] InputArray { get; }

    /// <summary>The node being evaluated.</summary>
    public Node Node { get; }

    /// <summary>The operands' values.</summary>
    public IReadOnlyList<Tensor> Inputs => InputArray;

    /// <summary>The node's value (written by forward, read by backward).</summary>
    public Tensor Output { get; }

    /// <summary>The state from <see cref="Op.CreateState"/>.</summary>
    public object? State { get; }

    /// <summary>The gradient of the output (set during backward).</summary>
    public Tensor GradOutput { get; internal set; } = null!;

    /// <summary>Gradient buffers of the operands; null where no gradient is needed.</summary>
    public IReadOnlyList<Tensor?> InputGrads { get; }

    /// <summary>True when some operand needs a gradient.</summary>
    internal bool AnyGradient { get; }

    /// <summary>True when the tape planned this node's backward to overwrite operand <paramref name="operand"/>'s gradient
    /// (write every element; the buffer was not zeroed), false when it must add into it (see <see cref="TapePlan"/>).</summary>
    public bool Overwrites(int operand) => _writes[operand] == GradientWrite.Overwrite;
}
